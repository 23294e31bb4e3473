//! Bounded CBOR decoding on top of ciborium.
//!
//! Everything CBOR in a response is attacker-controlled. ciborium reads byte and text strings in
//! chunks (a declared 2^32-byte string on a short input fails at end of input, it is not
//! allocated), and the recursion limit here stops deeply nested input. What ciborium does not do is
//! tell how many bytes an item used, or refuse duplicate map keys; these helpers add both.

use ciborium::value::Value;

/// Deepest nesting accepted anywhere in a response (attestation statements nest three levels).
pub(crate) const MAX_DEPTH: usize = 16;

/// A CBOR item could not be decoded within the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CborError;

/// Decodes one CBOR item from the front of `bytes`; returns it and the number of bytes it used.
pub(crate) fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), CborError> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
        .map_err(|_| CborError)?;
    Ok((value, bytes.len() - rest.len()))
}

/// Decodes exactly one CBOR item that fills `bytes`.
pub(crate) fn decode_exact(bytes: &[u8]) -> Result<Value, CborError> {
    let (value, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(CborError);
    }
    Ok(value)
}

/// Whether `bytes` is the CTAP2 canonical encoding of `value`: definite lengths, shortest integer
/// and length forms (ciborium always encodes that way, so re-encoding must give the same bytes),
/// and map keys unique and sorted by their encoding, shorter first (CTAP2 §8 canonical CBOR).
pub(crate) fn is_canonical(value: &Value, bytes: &[u8]) -> bool {
    let mut out = Vec::with_capacity(bytes.len());
    ciborium::ser::into_writer(value, &mut out).is_ok() && out == bytes && maps_sorted(value)
}

fn encoded(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec only fails for values ciborium cannot encode, which a decoded value is not.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

/// The canonical sort key of an integer map key: major type, then encoded length, then value,
/// which is the order of the encodings by (length, bytes) without encoding anything.
fn integer_sort_key(value: &Value) -> Option<(usize, u8, u64)> {
    let i = i128::from(value.as_integer()?);
    let (major, argument) = if i >= 0 {
        (0u8, u64::try_from(i).ok()?)
    } else {
        (1u8, u64::try_from(-1 - i).ok()?)
    };
    let len = match argument {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    };
    Some((len, major, argument))
}

/// Keys strictly increasing by (encoded length, encoded bytes), at every depth.
fn maps_sorted(value: &Value) -> bool {
    match value {
        Value::Map(entries) => {
            let sorted = match entries
                .iter()
                .map(|(k, _)| integer_sort_key(k))
                .collect::<Option<Vec<_>>>()
            {
                // All-integer keys (COSE keys): compare without encoding.
                Some(keys) => keys.windows(2).all(|w| w[0] < w[1]),
                None => {
                    let keys: Vec<Vec<u8>> = entries.iter().map(|(k, _)| encoded(k)).collect();
                    keys.windows(2)
                        .all(|w| (w[0].len(), &w[0]) < (w[1].len(), &w[1]))
                }
            };
            sorted
                && entries
                    .iter()
                    .all(|(k, v)| maps_sorted(k) && maps_sorted(v))
        }
        Value::Array(items) => items.iter().all(maps_sorted),
        Value::Tag(_, inner) => maps_sorted(inner),
        _ => true,
    }
}

/// Whether any map, at any depth, has two equal keys.
pub(crate) fn has_duplicate_keys_deep(value: &Value) -> bool {
    match value {
        Value::Map(entries) => {
            has_duplicate_keys(entries)
                || entries
                    .iter()
                    .any(|(k, v)| has_duplicate_keys_deep(k) || has_duplicate_keys_deep(v))
        }
        Value::Array(items) => items.iter().any(has_duplicate_keys_deep),
        Value::Tag(_, inner) => has_duplicate_keys_deep(inner),
        _ => false,
    }
}

/// Whether a map has two equal keys.
pub(crate) fn has_duplicate_keys(entries: &[(Value, Value)]) -> bool {
    entries
        .iter()
        .enumerate()
        .any(|(i, (k, _))| entries[..i].iter().any(|(other, _)| other == k))
}

/// Looks a text key up in a CBOR map.
pub(crate) fn map_get<'v>(entries: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
    entries
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_reports_length() {
        // {1: 2} followed by junk.
        let (value, used) = decode_prefix(&[0xa1, 0x01, 0x02, 0xff, 0xff]).unwrap();
        assert_eq!(used, 3);
        assert!(value.is_map());
        assert!(decode_exact(&[0xa1, 0x01, 0x02, 0x00]).is_err());
    }

    #[test]
    fn hostile_inputs_fail_without_allocating() {
        // Byte string declaring 2^32 bytes, with 3 present.
        assert!(decode_prefix(&[0x5a, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]).is_err());
        // Array declaring 2^63 items.
        assert!(decode_prefix(&[0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        // 100 nested arrays.
        let mut deep = vec![0x81; 100];
        deep.push(0x00);
        assert!(decode_prefix(&deep).is_err());
        assert!(decode_prefix(&[]).is_err());
    }

    #[test]
    fn canonical_form() {
        let canonical = [0xa1, 0x01, 0x02];
        assert!(is_canonical(&decode_exact(&canonical).unwrap(), &canonical));
        // The integer 2 encoded in two bytes.
        let long_int = [0xa1, 0x01, 0x18, 0x02];
        assert!(!is_canonical(&decode_exact(&long_int).unwrap(), &long_int));
        // An indefinite-length map.
        let indefinite = [0xbf, 0x01, 0x02, 0xff];
        assert!(!is_canonical(
            &decode_exact(&indefinite).unwrap(),
            &indefinite
        ));
    }

    #[test]
    fn canonical_map_order() {
        // {1: 2, 3: -7} sorted; {3: -7, 1: 2} not; {1: 0, -1: 0}: 0x01 < 0x20, sorted.
        for (bytes, canonical) in [
            (&[0xa2, 0x01, 0x02, 0x03, 0x26][..], true),
            (&[0xa2, 0x03, 0x26, 0x01, 0x02][..], false),
            (&[0xa2, 0x01, 0x00, 0x20, 0x00][..], true),
            (&[0xa2, 0x20, 0x00, 0x01, 0x00][..], false),
            // A one-byte key before a two-byte key: {-1: 0, -25: 0}.
            (&[0xa2, 0x20, 0x00, 0x38, 0x18, 0x00][..], true),
        ] {
            assert_eq!(
                is_canonical(&decode_exact(bytes).unwrap(), bytes),
                canonical,
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn duplicate_keys_at_depth() {
        // {1: {2: 0, 2: 1}}
        let nested = decode_exact(&[0xa1, 0x01, 0xa2, 0x02, 0x00, 0x02, 0x01]).unwrap();
        assert!(has_duplicate_keys_deep(&nested));
        assert!(!has_duplicate_keys_deep(
            &decode_exact(&[0xa1, 0x01, 0x02]).unwrap()
        ));
    }

    #[test]
    fn duplicate_keys() {
        let Value::Map(entries) = decode_exact(&[0xa2, 0x01, 0x02, 0x01, 0x03]).unwrap() else {
            panic!("not a map")
        };
        assert!(has_duplicate_keys(&entries));
    }
}
