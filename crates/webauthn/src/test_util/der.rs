//! Just enough DER to write certificates and read an RSA public key.

use super::NameAttribute;
use crate::trust::UnixTime;

pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

pub(super) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian bytes.
pub(super) fn uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    let mut content = Vec::new();
    if bytes.get(start).is_none_or(|b| *b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&bytes[start.min(bytes.len())..]);
    tlv(0x02, &content)
}

pub(super) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut content = Vec::new();
    let mut push = |mut arc: u64| {
        let mut chunk = vec![(arc & 0x7f) as u8];
        arc >>= 7;
        while arc > 0 {
            chunk.push(0x80 | (arc & 0x7f) as u8);
            arc >>= 7;
        }
        chunk.reverse();
        content.extend(chunk);
    };
    push(arcs[0] * 40 + arcs[1]);
    for arc in &arcs[2..] {
        push(*arc);
    }
    tlv(0x06, &content)
}

pub(super) fn time(t: UnixTime) -> Vec<u8> {
    let t =
        time::OffsetDateTime::from_unix_timestamp(t.0).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if (1950..2050).contains(&t.year()) {
        tlv(0x17, format!("{:02}{rest}", t.year() % 100).as_bytes())
    } else {
        tlv(0x18, format!("{:04}{rest}", t.year()).as_bytes())
    }
}

pub(super) fn name(attributes: &[(NameAttribute, String)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(attribute, value)| {
            let (arc, tag) = match attribute {
                NameAttribute::CommonName => (3, 0x0c),
                NameAttribute::Country => (6, 0x13),
                NameAttribute::Organization => (10, 0x0c),
                NameAttribute::OrganizationalUnit => (11, 0x0c),
            };
            let pair = seq(&[&oid(&[2, 5, 4, arc]), &tlv(tag, value.as_bytes())]);
            tlv(0x31, &pair)
        })
        .collect();
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    seq(&refs)
}

pub(super) fn extension(arcs: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let id = oid(arcs);
    let octets = tlv(0x04, value);
    if critical {
        seq(&[&id, &tlv(0x01, &[0xff]), &octets])
    } else {
        seq(&[&id, &octets])
    }
}

/// Splits one TLV (short or long definite length) off the front.
fn read(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n > rest.len() || n > 4 {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (len <= rest.len()).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` → (n, e) without
/// leading zeros.
pub(super) fn rsa_public_key(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (0x30, body, _) = read(bytes)? else {
        return None;
    };
    let (0x02, n, rest) = read(body)? else {
        return None;
    };
    let (0x02, e, _) = read(rest)? else {
        return None;
    };
    let strip = |v: &[u8]| v[v.iter().take_while(|b| **b == 0).count()..].to_vec();
    Some((strip(n), strip(e)))
}
