//! The two TPM 2.0 structures of a `tpm` statement, `pubArea` (TPMT_PUBLIC) and `certInfo`
//! (TPMS_ATTEST), from arbitrary bytes, inside an otherwise valid TPM registration, through
//! `verify_registration`.
//!
//! The low two bits of the first input byte pick a mode; the rest of the input is the structure.
//!
//! - 0, 1: `pubArea` in the W3C ES256 vector (an ECC key) or a Dell one (an RSA key). The parser
//!   runs before anything else is authenticated. Oracle: only the original verifies, because
//!   certInfo certifies the pubArea's Name, a hash of its bytes.
//! - 2: `certInfo` in the W3C vector, signed by a fuzz-only AIK (below), so that the input gets
//!   past the signature check (L3 §8.3 step 4) to the parser and the certInfo checks (step 5).
//!   Oracle: what verifies contains the original `extraData` and `name`.
//! - 3: `certInfo` in the Dell vector with its real signature. Oracle: only the original
//!   verifies.
#![no_main]

use std::sync::OnceLock;

use ciborium::value::Value;
use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::case::Case;
use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use passkeyd_webauthn_fuzz::NOW;

const W3C_ES256: &str =
    include_str!("../../crates/webauthn/tests/vectors/w3c_spec_vectors/reg_tpm_es256.json");
const DELL_RSA: &str =
    include_str!("../../crates/webauthn/tests/vectors/py_webauthn/tpm_rs256_dell_xps13_ntc.json");

/// An AIK certificate that meets L3 §8.3.1 (empty subject, critical SAN with the three TPM
/// attributes, tcg-kp-AIKCertificate, CA=false; valid 2020-2099) for the P-256 key whose private
/// key is 1, so the target can sign any certInfo without a crypto library (see [`sign`]).
/// Issued by a throwaway CA; the fuzz run does not anchor chains in mode 2.
const FUZZ_AIK: &str = "MIIBhTCCASugAwIBAgIBATAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRwYXNza2V5ZCBmdXp6IEFJSyBDQTAgFw0yMDAxMDEwMDAwMDBaGA8yMDk5MTIzMTAwMDAwMFowADBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfWjdTBzMAwGA1UdEwEB_wQCMAAwUQYDVR0RAQH_BEcwRaRDMEExFjAUBgVngQUCAQwLaWQ6RkZGRkYxRDAxDzANBgVngQUCAgwEZnV6ejEWMBQGBWeBBQIDDAtpZDowMDAwMDAwMTAQBgNVHSUECTAHBgVngQUIAzAKBggqhkjOPQQDAgNIADBFAiEAtVbrwOuzAaN1H7j5edyMS0KNphBh9haBf-pWPRrfhUECIGA7VUWy6tB_1uT_c9xepEtAW3FQlwEhvnURY4_F-Zrb";

/// A base case and its decoded attestation object.
struct Base {
    case: Case,
    attestation_object: Vec<(Value, Value)>,
}

fn base(json: &str) -> Base {
    let case = Case::from_json(json.as_bytes()).expect("a corpus case parses");
    let encoded = case.response["response"]["attestationObject"]
        .as_str()
        .expect("the case has an attestation object");
    let bytes = base64url_decode(encoded).expect("base64url");
    let value: Value = ciborium::de::from_reader(bytes.as_slice()).expect("CBOR");
    let Value::Map(attestation_object) = value else {
        panic!("the attestation object is a map");
    };
    Base {
        case,
        attestation_object,
    }
}

fn bases() -> &'static [Base; 2] {
    static BASES: OnceLock<[Base; 2]> = OnceLock::new();
    BASES.get_or_init(|| [base(W3C_ES256), base(DELL_RSA)])
}

/// `attStmt[field]`, which must exist.
fn member<'v>(object: &'v mut [(Value, Value)], field: &str) -> &'v mut Value {
    let att_stmt = object
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("attStmt"))
        .and_then(|(_, v)| match v {
            Value::Map(m) => Some(m),
            _ => None,
        })
        .expect("attStmt is a map");
    att_stmt
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(field))
        .map(|(_, v)| v)
        .expect("the statement has the field")
}

/// Replaces the byte string `attStmt[field]`; returns the original.
fn replace(object: &mut [(Value, Value)], field: &str, bytes: &[u8]) -> Vec<u8> {
    match std::mem::replace(member(object, field), Value::Bytes(bytes.to_vec())) {
        Value::Bytes(original) => original,
        _ => panic!("{field} is a byte string"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, structure)) = data.split_first() else {
        return;
    };
    let mode = selector & 3;
    let base = &bases()[usize::from(mode & 1)];
    let field = if mode < 2 { "pubArea" } else { "certInfo" };
    let mut object = base.attestation_object.clone();
    let original = replace(&mut object, field, structure);
    let mut case = base.case.clone();
    if mode == 2 {
        let Some(sig) = sign(structure) else {
            return;
        };
        *member(&mut object, "sig") = Value::Bytes(sig);
        let aik = base64url_decode(FUZZ_AIK).expect("base64url");
        *member(&mut object, "x5c") = Value::Array(vec![Value::Bytes(aik)]);
        // The vector's own verify_at (year 2524) is past the fuzz AIK's validity.
        case.verify_at = None;
    }
    let mut encoded = Vec::new();
    ciborium::ser::into_writer(&Value::Map(object), &mut encoded).expect("CBOR encodes");
    case.response["response"]["attestationObject"] =
        serde_json::Value::String(base64url_encode(&encoded));
    let report = case.run(NOW).expect("the case parameters are valid");

    if structure == original.as_slice() {
        assert!(report.ok, "the unchanged base case must verify: {report:?}");
    } else if mode == 2 {
        // W3C certInfo: extraData at 10..42, attested.name at 69..103.
        let contains = |part: &[u8]| structure.windows(part.len()).any(|w| w == part);
        assert!(
            !report.ok || (contains(&original[10..42]) && contains(&original[69..103])),
            "a certInfo without the original extraData and name verified"
        );
    } else {
        assert!(!report.ok, "a changed {field} verified: {report:?}");
    }
});

/// The order of P-256.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// The x coordinate of the P-256 base point G (smaller than N).
const GX: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];

/// An ES256 signature (DER) by the private key 1 with nonce 1: R = 1·G, so r = Gx and
/// s = (z + r·1) / 1 = z + r mod n, where z is SHA-256 of the message. Only 256-bit addition is
/// needed. `None` in the negligible case s = 0.
fn sign(message: &[u8]) -> Option<Vec<u8>> {
    let z = sha256(message);
    // s = z + r, reduced mod n: z < 2^256 < 2n and r < n, so at most two subtractions.
    let (mut s, carry) = add(&z, &GX);
    let mut high = carry;
    // Big-endian arrays compare as the numbers they hold.
    while high || s >= N {
        let (diff, borrow) = sub(&s, &N);
        s = diff;
        high = high && !borrow;
    }
    if s == [0; 32] {
        return None;
    }
    let int = |v: &[u8; 32]| {
        let first = v.iter().position(|b| *b != 0).unwrap_or(31);
        let mut out = Vec::with_capacity(33);
        if v[first] & 0x80 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&v[first..]);
        [vec![0x02, out.len() as u8], out].concat()
    };
    let body = [int(&GX), int(&s)].concat();
    Some([vec![0x30, body.len() as u8], body].concat())
}

fn add(a: &[u8; 32], b: &[u8; 32]) -> ([u8; 32], bool) {
    let mut out = [0; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    (out, carry != 0)
}

fn sub(a: &[u8; 32], b: &[u8; 32]) -> ([u8; 32], bool) {
    let mut out = [0; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut diff = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(diff < 0);
        if diff < 0 {
            diff += 256;
        }
        out[i] = diff as u8;
    }
    (out, borrow != 0)
}

/// SHA-256 (FIPS 180-4), for the signature above.
fn sha256(message: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut padded = message.to_vec();
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    padded.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    for block in padded.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}
