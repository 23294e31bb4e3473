//! The Android Keystore key description (the `1.3.6.1.4.1.11129.2.1.17` extension of an
//! `android-key` leaf certificate) from arbitrary bytes, inside an otherwise valid Pixel 8a
//! registration, through `verify_registration`.
//!
//! The input becomes the extension's value: the leaf certificate is re-encoded around it, lengths
//! fixed up, everything else kept, so the attestation signature (made with the leaf's key, which
//! does not change) still verifies and the key description parser is what the input reaches. The
//! first input byte picks the policy (bit 0: `android_key_require_tee`).
//!
//! Oracle: the registration verifies only when the key description is the original one. Any
//! other value changes the leaf certificate, whose issuer signature then no longer verifies.
#![no_main]

use std::sync::OnceLock;

use ciborium::value::Value;
use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::case::{parse_instant, Case};
use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use passkeyd_webauthn::{
    verify_registration, AttestationPolicy, CoseAlgorithm, ExpectedRegistration,
    RegistrationResponseJson, RelyingParty,
};

const BASE: &str =
    include_str!("../../crates/webauthn/tests/vectors/py_webauthn/android_key_pixel8a_2025.json");

/// The DER of `OBJECT IDENTIFIER 1.3.6.1.4.1.11129.2.1.17`.
const KEY_DESCRIPTION_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x01, 0x11,
];

/// The base case, its attestation object, and where the key description sits in the leaf.
struct Base {
    case: Case,
    attestation_object: Vec<(Value, Value)>,
    leaf: Vec<u8>,
    /// The byte range of the extension value (the OCTET STRING's content) in `leaf`.
    value: std::ops::Range<usize>,
}

/// The base case, parsed once.
fn base() -> &'static Base {
    static BASE_PARSED: OnceLock<Base> = OnceLock::new();
    BASE_PARSED.get_or_init(|| {
        let case = Case::from_json(BASE.as_bytes()).expect("a corpus case parses");
        let encoded = case.response["response"]["attestationObject"]
            .as_str()
            .expect("the case has an attestation object");
        let bytes = base64url_decode(encoded).expect("base64url");
        let value: Value = ciborium::de::from_reader(bytes.as_slice()).expect("CBOR");
        let Value::Map(attestation_object) = value else {
            panic!("the attestation object is a map");
        };
        let leaf = x5c(&attestation_object)[0]
            .as_bytes()
            .expect("a certificate")
            .clone();
        let oid_at = leaf
            .windows(KEY_DESCRIPTION_OID.len())
            .position(|w| w == KEY_DESCRIPTION_OID)
            .expect("the leaf has a key description");
        // extnID is followed by extnValue (the extension is not critical).
        let (header, len) =
            header(&leaf[oid_at + KEY_DESCRIPTION_OID.len()..]).expect("an OCTET STRING");
        let start = oid_at + KEY_DESCRIPTION_OID.len() + header;
        Base {
            case,
            attestation_object,
            leaf,
            value: start..start + len,
        }
    })
}

/// The `x5c` array of an attestation object.
fn x5c(object: &[(Value, Value)]) -> &Vec<Value> {
    object
        .iter()
        .find(|(k, _)| k.as_text() == Some("attStmt"))
        .and_then(|(_, v)| v.as_map())
        .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("x5c")))
        .and_then(|(_, v)| v.as_array())
        .expect("attStmt.x5c")
}

/// The header length and content length of the DER element at the start of `der`.
fn header(der: &[u8]) -> Option<(usize, usize)> {
    let mut i = 1;
    if der.first()? & 0x1f == 0x1f {
        while der.get(i)? & 0x80 != 0 {
            i += 1;
        }
        i += 1;
    }
    let first = *der.get(i)?;
    i += 1;
    if first < 0x80 {
        return Some((i, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    let mut len = 0usize;
    for _ in 0..count {
        len = (len << 8) | usize::from(*der.get(i)?);
        i += 1;
    }
    Some((i, len))
}

/// A DER length.
fn encode_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let mut out = vec![0x80 | (bytes.len() - start) as u8];
    out.extend_from_slice(&bytes[start..]);
    out
}

/// `der` (one element starting at offset `at` of the original) with the content range `target`
/// replaced by `replacement`, every enclosing length fixed.
fn splice(der: &[u8], at: usize, target: &std::ops::Range<usize>, replacement: &[u8]) -> Vec<u8> {
    let (header_len, len) = header(der).expect("valid DER in the base case");
    // Identifier octets: one, or the high-tag form's first octet and its base-128 groups.
    let tag_len = if der[0] & 0x1f == 0x1f {
        2 + der[1..]
            .iter()
            .position(|b| b & 0x80 == 0)
            .expect("tag end")
    } else {
        1
    };
    let content_start = at + header_len;
    let content = &der[header_len..header_len + len];
    let new_content = if content_start == target.start && content.len() == target.len() {
        replacement.to_vec()
    } else {
        // A constructed element holding the target: rebuild the child that contains it.
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < content.len() {
            let child = &content[offset..];
            let (child_header, child_len) = header(child).expect("valid DER");
            let child = &child[..child_header + child_len];
            let child_at = content_start + offset;
            if child_at <= target.start && target.end <= child_at + child.len() {
                out.extend(splice(child, child_at, target, replacement));
            } else {
                out.extend_from_slice(child);
            }
            offset += child.len();
        }
        out
    };
    let mut out = der[..tag_len].to_vec();
    out.extend(encode_length(new_content.len()));
    out.extend(new_content);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, description)) = data.split_first() else {
        return;
    };
    let base = base();
    let leaf = splice(&base.leaf, 0, &base.value, description);
    let mut object = base.attestation_object.clone();
    for (key, value) in &mut object {
        if key.as_text() != Some("attStmt") {
            continue;
        }
        let Value::Map(statement) = value else {
            continue;
        };
        for (key, value) in statement {
            if key.as_text() == Some("x5c") {
                if let Value::Array(chain) = value {
                    chain[0] = Value::Bytes(leaf.clone());
                }
            }
        }
    }
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&Value::Map(object), &mut bytes).expect("CBOR encodes");
    let mut json = base.case.response.clone();
    json["response"]["attestationObject"] = base64url_encode(&bytes).into();
    let response = RegistrationResponseJson::from_json(&serde_json::to_vec(&json).expect("JSON"))
        .expect("the base response is well formed");

    let case = &base.case;
    let origins: Vec<String> = case.origin.iter().chain(&case.origins).cloned().collect();
    let rp = RelyingParty::new(case.rp_id.clone(), origins);
    let challenge = base64url_decode(&case.challenge).expect("challenge");
    let policy = AttestationPolicy {
        android_key_require_tee: selector & 1 == 1,
        ..AttestationPolicy::default()
    };
    let expected = ExpectedRegistration {
        user_verification: case.user_verification,
        algorithms: &CoseAlgorithm::ALL,
        ..ExpectedRegistration::new(&rp, &challenge, &policy)
    };
    let now = parse_instant(case.verify_at.as_deref().expect("verify_at")).expect("instant");
    let original = &base.leaf[base.value.clone()];
    let verified = verify_registration(&response, &expected, now);
    assert_eq!(
        verified.is_ok(),
        description == original,
        "only the original key description verifies: {verified:?}"
    );
});
