//! Signature checks against hostile signatures (SECURITY.md §6 cases 38, 39, 42), with positive
//! controls. Keys are generated with aws-lc-rs and go through `CredentialPublicKey::from_cose`,
//! the path every stored credential takes.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, KeyPair as _};
use ciborium::value::Value;
use x509_parser::prelude::FromDer;

use super::*;
use crate::cose_key::CredentialPublicKey;

const MESSAGE: &[u8] = b"authenticatorData || SHA-256(clientDataJSON)";

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

// Group orders (SEC 2), big-endian.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
                      581a0db248b0a77aecec196accc52973";
const P521_N: &str = "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
                      fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";
/// The Ed25519 group order L, little-endian.
const ED25519_L_LE: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

fn cose(entries: Vec<(i64, Value)>) -> Vec<u8> {
    let map = Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Integer(k.into()), v))
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::ser::into_writer(&map, &mut out).unwrap();
    out
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

struct Ecdsa {
    pair: sig::EcdsaKeyPair,
    key: CredentialPublicKey,
    n: Vec<u8>,
}

fn ecdsa(alg: CoseAlgorithm) -> Ecdsa {
    let (signing, crv, n) = match alg {
        CoseAlgorithm::Es256 => (&sig::ECDSA_P256_SHA256_ASN1_SIGNING, 1, P256_N),
        CoseAlgorithm::Es384 => (&sig::ECDSA_P384_SHA384_ASN1_SIGNING, 2, P384_N),
        CoseAlgorithm::Es512 => (&sig::ECDSA_P521_SHA512_ASN1_SIGNING, 3, P521_N),
        other => panic!("not ECDSA: {other}"),
    };
    let pair = sig::EcdsaKeyPair::generate(signing).unwrap();
    let point = pair.public_key().as_ref();
    let len = (point.len() - 1) / 2;
    let key = CredentialPublicKey::from_cose(&cose(vec![
        (1, int(2)),
        (3, int(alg.to_i64())),
        (-1, int(crv)),
        (-2, Value::Bytes(point[1..=len].to_vec())),
        (-3, Value::Bytes(point[1 + len..].to_vec())),
    ]))
    .unwrap();
    Ecdsa {
        pair,
        key,
        n: hex(n),
    }
}

impl Ecdsa {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .unwrap()
            .as_ref()
            .to_vec()
    }
}

fn ed25519() -> (sig::Ed25519KeyPair, CredentialPublicKey) {
    let pair = sig::Ed25519KeyPair::generate().unwrap();
    let key = CredentialPublicKey::from_cose(&cose(vec![
        (1, int(1)),
        (3, int(-8)),
        (-1, int(6)),
        (-2, Value::Bytes(pair.public_key().as_ref().to_vec())),
    ]))
    .unwrap();
    (pair, key)
}

/// One RSA key pair, with its COSE key under each of the given algorithms.
fn rsa(algs: &[CoseAlgorithm]) -> (sig::RsaKeyPair, Vec<CredentialPublicKey>) {
    let pair = sig::RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let spki = pair.public_key().as_der().unwrap();
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki.as_ref()).unwrap();
    let KeyMaterial::Rsa { n, e } = KeyMaterial::from_spki(&spki).unwrap() else {
        panic!("not RSA")
    };
    let keys = algs
        .iter()
        .map(|alg| {
            CredentialPublicKey::from_cose(&cose(vec![
                (1, int(3)),
                (3, int(alg.to_i64())),
                (-1, Value::Bytes(n.clone())),
                (-2, Value::Bytes(e.clone())),
            ]))
            .unwrap()
        })
        .collect();
    (pair, keys)
}

fn rsa_sign(pair: &sig::RsaKeyPair, encoding: &'static dyn sig::RsaEncoding) -> Vec<u8> {
    let mut out = vec![0; pair.public_modulus_len()];
    pair.sign(encoding, &SystemRandom::new(), MESSAGE, &mut out)
        .unwrap();
    out
}

// --- DER helpers -----------------------------------------------------------------------------

fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..=127 => vec![len as u8],
        128..=255 => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// The minimal DER INTEGER content for an unsigned big-endian value.
fn der_uint(value: &[u8]) -> Vec<u8> {
    let first = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    let mut content = value[first..].to_vec();
    if content.first().is_none_or(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    content
}

/// An ECDSA-Sig-Value from raw INTEGER contents (not necessarily minimal).
fn der_sig_raw(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut body = der_tlv(0x02, r);
    body.extend(der_tlv(0x02, s));
    der_tlv(0x30, &body)
}

fn der_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
    der_sig_raw(&der_uint(r), &der_uint(s))
}

/// (r, s) as unsigned big-endian values without leading zeros, from a DER signature.
fn parse_der_sig(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn read(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            n if n < 0x80 => (usize::from(n), 2),
            0x81 => (usize::from(input[2]), 3),
            other => panic!("unexpected length form {other:#x}"),
        };
        (tag, &input[header..header + len], &input[header + len..])
    }
    let (tag, body, rest) = read(der);
    assert_eq!((tag, rest.len()), (0x30, 0));
    let (_, r, rest) = read(body);
    let (_, s, rest) = read(rest);
    assert!(rest.is_empty());
    let strip = |v: &[u8]| v[v.iter().position(|b| *b != 0).unwrap_or(v.len())..].to_vec();
    (strip(r), strip(s))
}

/// Big-endian a + b.
fn add(a: &[u8], b: &[u8]) -> Vec<u8> {
    let len = a.len().max(b.len()) + 1;
    let pad = |v: &[u8]| {
        let mut out = vec![0; len - v.len()];
        out.extend_from_slice(v);
        out
    };
    let (a, b) = (pad(a), pad(b));
    let mut out = vec![0; len];
    let mut carry = 0u16;
    for i in (0..len).rev() {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

// --- ECDSA -----------------------------------------------------------------------------------

const ECDSA_ALGS: [CoseAlgorithm; 3] = [
    CoseAlgorithm::Es256,
    CoseAlgorithm::Es384,
    CoseAlgorithm::Es512,
];

#[test]
fn ecdsa_positive_control() {
    for alg in ECDSA_ALGS {
        let k = ecdsa(alg);
        let signature = k.sign(MESSAGE);
        assert!(k.key.verify(MESSAGE, &signature), "{alg}");
        assert!(k.key.material().verify(alg, MESSAGE, &signature).is_ok());
        assert!(!k.key.verify(b"authenticatorData || other hash", &signature));
        // Re-encoding the parsed (r, s) gives a signature that still verifies: the helpers are
        // sound, so the rejections below are about the mutation and nothing else.
        let (r, s) = parse_der_sig(&signature);
        assert_eq!(der_sig(&r, &s), signature);
    }
}

#[test]
fn psychic_signatures_are_refused() {
    // CVE-2022-21449: r = s = 0 in DER.
    let zero_zero = hex("3006020100020100");
    for alg in ECDSA_ALGS {
        let k = ecdsa(alg);
        let signature = k.sign(MESSAGE);
        let (r, s) = parse_der_sig(&signature);
        let field = k.n.len();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("r = s = 0", zero_zero.clone()),
            ("r = 0", der_sig(&[0], &s)),
            ("s = 0", der_sig(&r, &[0])),
            ("r = s = n", der_sig(&k.n, &k.n)),
            ("r = n", der_sig(&k.n, &s)),
            ("s = n", der_sig(&r, &k.n)),
            // Congruent to the valid values mod n: an implementation that reduces instead of
            // range-checking would accept these.
            ("r + n", der_sig(&add(&r, &k.n), &s)),
            ("s + n", der_sig(&r, &add(&s, &k.n))),
            ("r = 1, s = 1", der_sig(&[1], &[1])),
            ("all-zero 64 bytes", vec![0; 64]),
            ("all-zero raw r||s", vec![0; 2 * field]),
            ("all-zero DER length", vec![0; signature.len()]),
            ("empty", Vec::new()),
        ];
        for (name, bad) in cases {
            assert!(!k.key.verify(MESSAGE, &bad), "{alg}: {name} verified");
            assert_eq!(
                k.key.material().verify(alg, MESSAGE, &bad),
                Err(CryptoError::BadSignature),
                "{alg}: {name}"
            );
        }
    }
}

#[test]
fn non_der_encodings_of_a_valid_signature_are_refused() {
    for alg in ECDSA_ALGS {
        let k = ecdsa(alg);
        let signature = k.sign(MESSAGE);
        let (r, s) = parse_der_sig(&signature);
        let (r_min, s_min) = (der_uint(&r), der_uint(&s));
        let field = k.n.len();
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();

        // Trailing bytes after the SEQUENCE, and inside it.
        let mut trailing = signature.clone();
        trailing.push(0x00);
        cases.push(("trailing byte", trailing));
        let mut trailing = signature.clone();
        trailing.extend_from_slice(&signature);
        cases.push(("signature twice", trailing));
        let mut body = der_tlv(0x02, &r_min);
        body.extend(der_tlv(0x02, &s_min));
        body.push(0x00);
        cases.push(("byte inside the SEQUENCE", der_tlv(0x30, &body)));

        // r or s with an extra leading zero byte (not minimal), and both.
        let mut r_long = vec![0];
        r_long.extend_from_slice(&r_min);
        let mut s_long = vec![0];
        s_long.extend_from_slice(&s_min);
        cases.push(("r with a leading zero", der_sig_raw(&r_long, &s_min)));
        cases.push(("s with a leading zero", der_sig_raw(&r_min, &s_long)));
        cases.push(("both with leading zeros", der_sig_raw(&r_long, &s_long)));

        // r and s as negative integers (their high bit set without the 0x00 sign byte).
        if r_min[0] == 0 {
            cases.push(("negative r", der_sig_raw(&r_min[1..], &s_min)));
        }
        if s_min[0] == 0 {
            cases.push(("negative s", der_sig_raw(&r_min, &s_min[1..])));
        }

        // BER, not DER: a long-form length where the short form fits.
        if signature[1] < 0x80 {
            let mut long_form = vec![0x30, 0x81];
            long_form.extend_from_slice(&signature[1..]);
            cases.push(("long-form SEQUENCE length", long_form));
        }
        // Wrong outer tag, and r/s swapped.
        let mut wrong_tag = signature.clone();
        wrong_tag[0] = 0x31;
        cases.push(("SET instead of SEQUENCE", wrong_tag));
        cases.push(("r and s swapped", der_sig(&s, &r)));

        // The same (r, s) in the fixed-width r||s form: WebAuthn requires ASN.1 DER.
        let mut raw = vec![0; field - r.len()];
        raw.extend_from_slice(&r);
        raw.extend(std::iter::repeat_n(0, field - s.len()));
        raw.extend_from_slice(&s);
        cases.push(("raw r||s", raw));

        // Truncated: one byte short, half, only the header.
        cases.push(("one byte short", signature[..signature.len() - 1].to_vec()));
        cases.push(("half", signature[..signature.len() / 2].to_vec()));
        cases.push(("header only", signature[..2].to_vec()));

        for (name, bad) in cases {
            assert!(!k.key.verify(MESSAGE, &bad), "{alg}: {name} verified");
        }
        // The untouched signature still verifies (the key was not consumed or poisoned).
        assert!(k.key.verify(MESSAGE, &signature));
    }
}

#[test]
fn every_single_byte_change_is_refused() {
    let k = ecdsa(CoseAlgorithm::Es256);
    let signature = k.sign(MESSAGE);
    for i in 0..signature.len() {
        for xor in [0x01, 0x80, 0xff] {
            let mut bad = signature.clone();
            bad[i] ^= xor;
            assert!(!k.key.verify(MESSAGE, &bad), "byte {i} ^ {xor:#x} verified");
        }
    }
}

#[test]
fn a_signature_from_another_key_or_hash_is_refused() {
    for alg in ECDSA_ALGS {
        let k = ecdsa(alg);
        let other = ecdsa(alg);
        let signature = other.sign(MESSAGE);
        assert!(other.key.verify(MESSAGE, &signature));
        assert!(!k.key.verify(MESSAGE, &signature), "{alg}");
    }
    // The right key over the pre-hashed message: a signature over SHA-256(message) is not a
    // signature over the message.
    let k = ecdsa(CoseAlgorithm::Es256);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, MESSAGE);
    let signature = k.sign(digest.as_ref());
    assert!(k.key.verify(digest.as_ref(), &signature));
    assert!(!k.key.verify(MESSAGE, &signature));
}

// --- algorithm confusion (case 39) ------------------------------------------------------------

#[test]
fn algorithm_confusion_is_refused() {
    let es256 = ecdsa(CoseAlgorithm::Es256);
    let es384 = ecdsa(CoseAlgorithm::Es384);
    let (ed_pair, ed_key) = ed25519();
    let (rsa_pair, rsa_keys) = rsa(&[CoseAlgorithm::Rs256, CoseAlgorithm::Ps256]);
    let (rs256, ps256) = (&rsa_keys[0], &rsa_keys[1]);

    let rs256_sig = rsa_sign(&rsa_pair, &sig::RSA_PKCS1_SHA256);
    let ps256_sig = rsa_sign(&rsa_pair, &sig::RSA_PSS_SHA256);
    let es256_sig = es256.sign(MESSAGE);
    let es384_sig = es384.sign(MESSAGE);
    let ed_sig = ed_pair.sign(MESSAGE).as_ref().to_vec();

    // Positive controls.
    assert!(rs256.verify(MESSAGE, &rs256_sig));
    assert!(ps256.verify(MESSAGE, &ps256_sig));
    assert!(ed_key.verify(MESSAGE, &ed_sig));

    // An RS256 signature against an ES256 key, and every other cross pairing.
    assert!(!es256.key.verify(MESSAGE, &rs256_sig));
    assert!(!es256.key.verify(MESSAGE, &ed_sig));
    assert!(!es256.key.verify(MESSAGE, &es384_sig));
    assert!(!es384.key.verify(MESSAGE, &es256_sig));
    assert!(!rs256.verify(MESSAGE, &es256_sig));
    assert!(!rs256.verify(MESSAGE, &ed_sig));
    assert!(!ed_key.verify(MESSAGE, &es256_sig));
    assert!(!ed_key.verify(MESSAGE, &rs256_sig[..64]));
    // Same RSA key, other padding: PKCS#1 v1.5 and PSS signatures are not interchangeable.
    assert!(!ps256.verify(MESSAGE, &rs256_sig));
    assert!(!rs256.verify(MESSAGE, &ps256_sig));

    // A stored key is only ever used with an algorithm that fits it.
    let material = es256.key.material();
    for alg in [
        CoseAlgorithm::Es384,
        CoseAlgorithm::Es512,
        CoseAlgorithm::EdDsa,
        CoseAlgorithm::Rs256,
        CoseAlgorithm::Ps256,
        CoseAlgorithm::MlDsa44,
    ] {
        assert!(
            matches!(
                material.verify(alg, MESSAGE, &es256_sig),
                Err(CryptoError::KeyMismatch(_))
            ),
            "P-256 key used with {alg}"
        );
    }
    for alg in [
        CoseAlgorithm::Es256,
        CoseAlgorithm::EdDsa,
        CoseAlgorithm::MlDsa65,
    ] {
        assert!(matches!(
            rs256.material().verify(alg, MESSAGE, &rs256_sig),
            Err(CryptoError::KeyMismatch(_))
        ));
    }
    assert!(matches!(
        ed_key
            .material()
            .verify(CoseAlgorithm::Es256, MESSAGE, &ed_sig),
        Err(CryptoError::KeyMismatch(_))
    ));
}

// --- EdDSA, RSA, ML-DSA ----------------------------------------------------------------------

#[test]
fn ed25519_signatures_of_the_wrong_length_or_shape_are_refused() {
    let (pair, key) = ed25519();
    let signature = pair.sign(MESSAGE).as_ref().to_vec();
    assert_eq!(signature.len(), 64);
    assert!(key.verify(MESSAGE, &signature));

    let mut long = signature.clone();
    long.push(0);
    let mut long_front = vec![0];
    long_front.extend_from_slice(&signature);
    // S + L: the same S modulo the group order, but not canonical (RFC 8032 §5.1.7).
    let s_plus_l = {
        let mut s_be: Vec<u8> = signature[32..].iter().rev().copied().collect();
        let l_be: Vec<u8> = hex(ED25519_L_LE).into_iter().rev().collect();
        s_be = add(&s_be, &l_be);
        assert_eq!(s_be[0], 0);
        let mut out = signature[..32].to_vec();
        out.extend(s_be[1..].iter().rev());
        out
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("63 bytes", signature[..63].to_vec()),
        ("65 bytes", long),
        ("65 bytes, zero first", long_front),
        ("32 bytes", signature[..32].to_vec()),
        ("128 bytes", [signature.clone(), signature.clone()].concat()),
        ("all zero", vec![0; 64]),
        ("S + L", s_plus_l),
    ];
    for (name, bad) in cases {
        assert!(!key.verify(MESSAGE, &bad), "Ed25519: {name} verified");
    }
}

#[test]
fn rsa_signatures_must_be_exact() {
    let (pair, keys) = rsa(&[CoseAlgorithm::Rs256, CoseAlgorithm::Ps256]);
    for (key, encoding) in keys.iter().zip([
        &sig::RSA_PKCS1_SHA256 as &'static dyn sig::RsaEncoding,
        &sig::RSA_PSS_SHA256,
    ]) {
        let signature = rsa_sign(&pair, encoding);
        assert!(key.verify(MESSAGE, &signature));
        let mut leading_zero = vec![0];
        leading_zero.extend_from_slice(&signature);
        let mut trailing = signature.clone();
        trailing.push(0);
        let mut flipped = signature.clone();
        flipped[100] ^= 0x10;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("zero", vec![0; 256]),
            ("one", [vec![0; 255], vec![1]].concat()),
            ("half", signature[..128].to_vec()),
            ("one byte short", signature[1..].to_vec()),
            ("leading zero byte", leading_zero),
            ("trailing byte", trailing),
            ("bit flip", flipped),
        ];
        for (name, bad) in cases {
            assert!(
                !key.verify(MESSAGE, &bad),
                "{}: {name} verified",
                key.algorithm()
            );
        }
    }
}

#[test]
fn ml_dsa_signatures_must_be_exact() {
    let pair = sig::PqdsaKeyPair::generate(&sig::ML_DSA_44_SIGNING).unwrap();
    let key = CredentialPublicKey::from_cose(&cose(vec![
        (1, int(7)),
        (3, int(-48)),
        (-1, Value::Bytes(pair.public_key().as_ref().to_vec())),
    ]))
    .unwrap();
    let mut signature = vec![0; sig::ML_DSA_44_SIGNING.signature_len()];
    let used = pair.sign(MESSAGE, &mut signature).unwrap();
    signature.truncate(used);
    assert!(key.verify(MESSAGE, &signature));
    let mut trailing = signature.clone();
    trailing.push(0);
    let mut flipped = signature.clone();
    flipped[10] ^= 1;
    for bad in [
        Vec::new(),
        vec![0; signature.len()],
        signature[..signature.len() - 1].to_vec(),
        trailing,
        flipped,
    ] {
        assert!(!key.verify(MESSAGE, &bad));
    }
}

// --- keys read from certificates --------------------------------------------------------------

#[test]
fn spki_points_must_be_uncompressed() {
    let k = ecdsa(CoseAlgorithm::Es256);
    let der = k.pair.public_key().as_der().unwrap();
    let der = der.as_ref().to_vec();
    let (_, spki) = SubjectPublicKeyInfo::from_der(&der).unwrap();
    assert_eq!(&KeyMaterial::from_spki(&spki).unwrap(), k.key.material());

    // The same SPKI with the point in compressed form (0x02/0x03 || x).
    let point = k.pair.public_key().as_ref();
    let mut compressed = vec![0x02 | (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    // SEQUENCE { AlgorithmIdentifier, BIT STRING (03 42 00 || point) }, all short-form lengths.
    let algorithm = &der[2..der.len() - point.len() - 3];
    let mut bit_string = vec![0];
    bit_string.extend_from_slice(&compressed);
    let mut body = algorithm.to_vec();
    body.extend(der_tlv(0x03, &bit_string));
    let spki_der = der_tlv(0x30, &body);
    let (rest, spki) = SubjectPublicKeyInfo::from_der(&spki_der).unwrap();
    assert!(rest.is_empty());
    assert!(KeyMaterial::from_spki(&spki).is_err());
}
