use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, KeyPair as _};
use proptest::prelude::*;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::*;
use crate::error::VerifyError;

#[test]
fn algorithm_ids_round_trip() {
    for alg in CoseAlgorithm::ALL {
        assert_eq!(CoseAlgorithm::from_i64(alg.to_i64()), Some(alg));
    }
    assert_eq!(CoseAlgorithm::from_i64(-65536), None);
    assert!(!CoseAlgorithm::DEFAULT.contains(&CoseAlgorithm::Rs1));
}

// ---------------------------------------------------------------------------------------------
// Building COSE_Key bytes by hand.

// COSE key types and curves (RFC 9053, draft-ietf-cose-dilithium).
const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const KTY_SYMMETRIC: i64 = 4;
const KTY_AKP: i64 = 7;
const CRV_P256: i64 = 1;
const CRV_P384: i64 = 2;
const CRV_P521: i64 = 3;
const CRV_X25519: i64 = 4;
const CRV_ED25519: i64 = 6;
const CRV_ED448: i64 = 7;

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

/// A COSE_Key map with integer labels, in the given order.
fn cose(entries: Vec<(i64, Value)>) -> Vec<u8> {
    cbor(&Value::Map(
        entries.into_iter().map(|(k, v)| (int(k), v)).collect(),
    ))
}

fn ec2(alg: i64, crv: i64, x: &[u8], y: Value) -> Vec<u8> {
    cose(vec![
        (1, int(KTY_EC2)),
        (3, int(alg)),
        (-1, int(crv)),
        (-2, bytes(x)),
        (-3, y),
    ])
}

fn okp(alg: i64, crv: i64, x: &[u8]) -> Vec<u8> {
    cose(vec![
        (1, int(KTY_OKP)),
        (3, int(alg)),
        (-1, int(crv)),
        (-2, bytes(x)),
    ])
}

fn rsa(alg: i64, n: &[u8], e: &[u8]) -> Vec<u8> {
    cose(vec![
        (1, int(KTY_RSA)),
        (3, int(alg)),
        (-1, bytes(n)),
        (-2, bytes(e)),
    ])
}

fn akp(alg: i64, public: &[u8]) -> Vec<u8> {
    cose(vec![(1, int(KTY_AKP)), (3, int(alg)), (-1, bytes(public))])
}

/// Splits an uncompressed SEC1 point into (x, y).
fn split_point(point: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(point[0], 0x04);
    let len = (point.len() - 1) / 2;
    (point[1..=len].to_vec(), point[1 + len..].to_vec())
}

fn p256_key() -> (sig::EcdsaKeyPair, Vec<u8>) {
    let pair = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let (x, y) = split_point(pair.public_key().as_ref());
    let cose = ec2(-7, CRV_P256, &x, bytes(&y));
    (pair, cose)
}

/// (n, e) of an aws-lc-rs RSA key, read back through its SubjectPublicKeyInfo.
fn rsa_components(pair: &sig::RsaKeyPair) -> (Vec<u8>, Vec<u8>) {
    let spki = pair.public_key().as_der().unwrap();
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki.as_ref()).unwrap();
    match KeyMaterial::from_spki(&spki).unwrap() {
        KeyMaterial::Rsa { n, e } => (n, e),
        other => panic!("not an RSA key: {other:?}"),
    }
}

const MESSAGE: &[u8] = b"authenticatorData || SHA-256(clientDataJSON)";

/// The key parses, has `alg`, verifies `signature` over MESSAGE and nothing else.
fn assert_round_trip(cose: &[u8], alg: CoseAlgorithm, signature: Option<&[u8]>) {
    let key = CredentialPublicKey::from_cose(cose)
        .unwrap_or_else(|e| panic!("{alg}: valid key refused: {e}"));
    assert_eq!(key.algorithm(), alg);
    if let Some(signature) = signature {
        assert!(key.verify(MESSAGE, signature), "{alg}: positive control");
        assert!(!key.verify(b"another message", signature), "{alg}");
    }
    // Parsing is deterministic.
    let again = CredentialPublicKey::from_cose(cose).unwrap();
    assert_eq!(again.material(), key.material());
}

// ---------------------------------------------------------------------------------------------
// Real keys of every algorithm round-trip.

#[test]
fn ecdsa_keys_round_trip() {
    let rng = SystemRandom::new();
    let cases: [(&sig::EcdsaSigningAlgorithm, CoseAlgorithm, i64, Curve); 3] = [
        (
            &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            CoseAlgorithm::Es256,
            CRV_P256,
            Curve::P256,
        ),
        (
            &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
            CoseAlgorithm::Es384,
            CRV_P384,
            Curve::P384,
        ),
        (
            &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
            CoseAlgorithm::Es512,
            CRV_P521,
            Curve::P521,
        ),
    ];
    for (signing, alg, crv, curve) in cases {
        let pair = sig::EcdsaKeyPair::generate(signing).unwrap();
        let (x, y) = split_point(pair.public_key().as_ref());
        assert_eq!(x.len(), curve.coordinate_len());
        let cose = ec2(alg.to_i64(), crv, &x, bytes(&y));
        let signature = pair.sign(&rng, MESSAGE).unwrap();
        assert_round_trip(&cose, alg, Some(signature.as_ref()));
        let key = CredentialPublicKey::from_cose(&cose).unwrap();
        assert_eq!(key.material(), &KeyMaterial::Ec2 { curve, x, y });
    }
}

#[test]
fn ed25519_key_round_trips() {
    let pair = sig::Ed25519KeyPair::generate().unwrap();
    let x = pair.public_key().as_ref().to_vec();
    let cose = okp(-8, CRV_ED25519, &x);
    let signature = pair.sign(MESSAGE);
    assert_round_trip(&cose, CoseAlgorithm::EdDsa, Some(signature.as_ref()));
    let key = CredentialPublicKey::from_cose(&cose).unwrap();
    assert_eq!(key.material(), &KeyMaterial::Ed25519(x));
}

#[test]
fn rsa_keys_round_trip_for_every_rsa_algorithm() {
    let rng = SystemRandom::new();
    let pair = sig::RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let (n, e) = rsa_components(&pair);
    assert_eq!(n.len(), 256);
    let encodings: [(CoseAlgorithm, Option<&'static dyn sig::RsaEncoding>); 7] = [
        (CoseAlgorithm::Rs256, Some(&sig::RSA_PKCS1_SHA256)),
        (CoseAlgorithm::Rs384, Some(&sig::RSA_PKCS1_SHA384)),
        (CoseAlgorithm::Rs512, Some(&sig::RSA_PKCS1_SHA512)),
        (CoseAlgorithm::Ps256, Some(&sig::RSA_PSS_SHA256)),
        (CoseAlgorithm::Ps384, Some(&sig::RSA_PSS_SHA384)),
        (CoseAlgorithm::Ps512, Some(&sig::RSA_PSS_SHA512)),
        // aws-lc-rs has no SHA-1 signing encoding: RS1 is checked for parsing only.
        (CoseAlgorithm::Rs1, None),
    ];
    for (alg, encoding) in encodings {
        let cose = rsa(alg.to_i64(), &n, &e);
        let signature = encoding.map(|encoding| {
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(encoding, &rng, MESSAGE, &mut signature).unwrap();
            signature
        });
        assert_round_trip(&cose, alg, signature.as_deref());
        // A leading zero byte on n or e is the same key.
        let mut padded_n = vec![0];
        padded_n.extend_from_slice(&n);
        let key = CredentialPublicKey::from_cose(&rsa(alg.to_i64(), &padded_n, &e)).unwrap();
        assert_eq!(
            key.material(),
            &KeyMaterial::Rsa {
                n: n.clone(),
                e: e.clone()
            }
        );
    }
}

#[test]
fn ml_dsa_keys_round_trip() {
    let cases = [
        (&sig::ML_DSA_44_SIGNING, CoseAlgorithm::MlDsa44, 1312),
        (&sig::ML_DSA_65_SIGNING, CoseAlgorithm::MlDsa65, 1952),
        (&sig::ML_DSA_87_SIGNING, CoseAlgorithm::MlDsa87, 2592),
    ];
    for (signing, alg, len) in cases {
        let pair = sig::PqdsaKeyPair::generate(signing).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        assert_eq!(public.len(), len);
        let mut signature = vec![0; signing.signature_len()];
        let used = pair.sign(MESSAGE, &mut signature).unwrap();
        signature.truncate(used);
        assert_round_trip(&akp(alg.to_i64(), &public), alg, Some(&signature));
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md §6 case 19: hostile keys are refused with the right error.

#[track_caller]
fn assert_invalid(cose: &[u8], alg: CoseAlgorithm, reason_contains: &str) {
    match CredentialPublicKey::from_cose(cose) {
        Err(PublicKeyError::Invalid { alg: got, reason }) => {
            assert_eq!(got, alg);
            assert!(
                reason.contains(reason_contains),
                "reason {reason:?} does not mention {reason_contains:?}"
            );
            let code = VerifyError::from(PublicKeyError::Invalid { alg, reason }).code();
            assert_eq!(code, "public_key_invalid");
        }
        other => panic!("expected Invalid({alg}, ..{reason_contains}..), got {other:?}"),
    }
}

#[track_caller]
fn assert_malformed(cose: &[u8], reason_contains: &str) {
    match CredentialPublicKey::from_cose(cose) {
        Err(PublicKeyError::Malformed(reason)) => {
            assert!(
                reason.contains(reason_contains),
                "reason {reason:?} does not mention {reason_contains:?}"
            );
            let code = VerifyError::from(PublicKeyError::Malformed(reason)).code();
            assert_eq!(code, "public_key_invalid");
        }
        other => panic!("expected Malformed(..{reason_contains}..), got {other:?}"),
    }
}

#[test]
fn key_type_and_algorithm_must_agree() {
    let (_, valid) = p256_key();
    let p256 = CredentialPublicKey::from_cose(&valid).unwrap();
    let KeyMaterial::Ec2 { x, y, .. } = p256.material() else {
        panic!("not EC2")
    };
    let pair = sig::Ed25519KeyPair::generate().unwrap();
    let ed = pair.public_key().as_ref().to_vec();
    let n = [0xc5; 256];

    // alg -7 (ES256) with RSA parameters.
    assert_invalid(&rsa(-7, &n, &[1, 0, 1]), CoseAlgorithm::Es256, "RSA key");
    // RS256 with an EC2 key.
    assert_invalid(
        &ec2(-257, CRV_P256, x, bytes(y)),
        CoseAlgorithm::Rs256,
        "EC2",
    );
    // EdDSA with an EC2 key, ES256 with an OKP key.
    assert_invalid(&ec2(-8, CRV_P256, x, bytes(y)), CoseAlgorithm::EdDsa, "EC2");
    assert_invalid(&okp(-7, CRV_ED25519, &ed), CoseAlgorithm::Es256, "OKP");
    // ML-DSA with an EC2 key, ES256 with an AKP key.
    assert_invalid(
        &ec2(-48, CRV_P256, x, bytes(y)),
        CoseAlgorithm::MlDsa44,
        "EC2",
    );
    assert_invalid(&akp(-7, &[0; 1312]), CoseAlgorithm::Es256, "AKP");
    // A symmetric key is never a credential key.
    let symmetric = cose(vec![
        (1, int(KTY_SYMMETRIC)),
        (3, int(-7)),
        (-1, bytes(&[0; 32])),
    ]);
    assert_invalid(&symmetric, CoseAlgorithm::Es256, "key type");
}

#[test]
fn ec2_points_must_be_valid_uncompressed_points_on_the_right_curve() {
    let (_, valid) = p256_key();
    let key = CredentialPublicKey::from_cose(&valid).unwrap();
    let KeyMaterial::Ec2 { x, y, .. } = key.material().clone() else {
        panic!("not EC2")
    };
    let es256 = CoseAlgorithm::Es256;

    // Not on the curve: y changed by one bit; x and y swapped.
    let mut bad_y = y.clone();
    bad_y[31] ^= 1;
    assert_invalid(&ec2(-7, CRV_P256, &x, bytes(&bad_y)), es256, "curve");
    assert_invalid(&ec2(-7, CRV_P256, &y, bytes(&x)), es256, "curve");
    // The identity / all-zero point, and coordinates that are not field elements.
    assert_invalid(
        &ec2(-7, CRV_P256, &[0; 32], bytes(&[0; 32])),
        es256,
        "curve",
    );
    assert_invalid(
        &ec2(-7, CRV_P256, &[0xff; 32], bytes(&[0xff; 32])),
        es256,
        "curve",
    );
    // Compressed point: y as a bool (RFC 9053 §7.1.1 sign bit), or y missing.
    for compressed in [Value::Bool(true), Value::Bool(false)] {
        assert_invalid(&ec2(-7, CRV_P256, &x, compressed), es256, "compressed");
    }
    let no_y = cose(vec![
        (1, int(KTY_EC2)),
        (3, int(-7)),
        (-1, int(CRV_P256)),
        (-2, bytes(&x)),
    ]);
    assert_invalid(&no_y, es256, "y is missing");
    let no_x = cose(vec![
        (1, int(KTY_EC2)),
        (3, int(-7)),
        (-1, int(CRV_P256)),
        (-3, bytes(&y)),
    ]);
    assert_invalid(&no_x, es256, "x is missing");
    // Wrong coordinate lengths: a leading zero added or dropped, a truncated coordinate.
    let mut long_x = vec![0];
    long_x.extend_from_slice(&x);
    assert_invalid(&ec2(-7, CRV_P256, &long_x, bytes(&y)), es256, "length");
    assert_invalid(&ec2(-7, CRV_P256, &x[1..], bytes(&y)), es256, "length");
    assert_invalid(&ec2(-7, CRV_P256, &x, bytes(&y[..31])), es256, "length");
    assert_invalid(&ec2(-7, CRV_P256, &[], bytes(&[])), es256, "length");
    // crv does not match alg, or is missing.
    assert_invalid(&ec2(-7, CRV_P384, &x, bytes(&y)), es256, "crv");
    assert_invalid(
        &ec2(-35, CRV_P256, &x, bytes(&y)),
        CoseAlgorithm::Es384,
        "crv",
    );
    assert_invalid(
        &ec2(-36, CRV_P256, &x, bytes(&y)),
        CoseAlgorithm::Es512,
        "crv",
    );
    assert_invalid(&ec2(-7, CRV_ED25519, &x, bytes(&y)), es256, "crv");
    let no_crv = cose(vec![
        (1, int(KTY_EC2)),
        (3, int(-7)),
        (-2, bytes(&x)),
        (-3, bytes(&y)),
    ]);
    assert_invalid(&no_crv, es256, "crv");
    // A P-384 key labelled ES256 with a P-384 curve id: the curve does not fit the algorithm.
    let p384 = sig::EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
    let (x384, y384) = split_point(p384.public_key().as_ref());
    assert_invalid(&ec2(-7, CRV_P384, &x384, bytes(&y384)), es256, "crv");
    assert_invalid(&ec2(-7, CRV_P256, &x384, bytes(&y384)), es256, "length");
}

#[test]
fn okp_keys_must_be_32_byte_ed25519() {
    let pair = sig::Ed25519KeyPair::generate().unwrap();
    let x = pair.public_key().as_ref().to_vec();
    let eddsa = CoseAlgorithm::EdDsa;
    // 31 and 33 bytes.
    assert_invalid(&okp(-8, CRV_ED25519, &x[..31]), eddsa, "32 bytes");
    let mut long = x.clone();
    long.push(0);
    assert_invalid(&okp(-8, CRV_ED25519, &long), eddsa, "32 bytes");
    assert_invalid(&okp(-8, CRV_ED25519, &[]), eddsa, "32 bytes");
    // Ed448 (57-byte keys) and X25519 (key agreement) are not Ed25519.
    assert_invalid(&okp(-8, CRV_ED448, &[0x5a; 57]), eddsa, "Ed25519");
    assert_invalid(&okp(-8, CRV_X25519, &x), eddsa, "Ed25519");
    // x missing, or not a byte string.
    let no_x = cose(vec![
        (1, int(KTY_OKP)),
        (3, int(-8)),
        (-1, int(CRV_ED25519)),
    ]);
    assert_invalid(&no_x, eddsa, "x is missing");
    let text_x = cose(vec![
        (1, int(KTY_OKP)),
        (3, int(-8)),
        (-1, int(CRV_ED25519)),
        (-2, Value::Text("not bytes".into())),
    ]);
    assert_invalid(&text_x, eddsa, "x is missing");
}

#[test]
fn ed448_algorithm_is_unsupported() {
    // The fully specified Ed448 algorithm (-53) is not implemented.
    let key = okp(-53, CRV_ED448, &[0x5a; 57]);
    assert_eq!(
        CredentialPublicKey::from_cose(&key).unwrap_err(),
        PublicKeyError::Unsupported(-53)
    );
}

#[test]
fn rsa_keys_need_2048_bits_and_both_components() {
    let rs256 = CoseAlgorithm::Rs256;
    // A 1024-bit modulus (top bit set), and a 2047-bit one.
    let mut n1024 = vec![0xc3; 128];
    n1024[127] |= 1;
    assert_invalid(&rsa(-257, &n1024, &[1, 0, 1]), rs256, "2048");
    let mut n2047 = vec![0xff; 256];
    n2047[0] = 0x7f;
    assert_invalid(&rsa(-257, &n2047, &[1, 0, 1]), rs256, "2048");
    // A 1024-bit modulus padded with zero bytes to 256 bytes is still 1024 bits.
    let mut padded = vec![0; 128];
    padded.extend_from_slice(&n1024);
    assert_invalid(&rsa(-257, &padded, &[1, 0, 1]), rs256, "2048");
    assert_invalid(&rsa(-37, &n1024, &[1, 0, 1]), CoseAlgorithm::Ps256, "2048");
    // n or e missing.
    let no_e = cose(vec![
        (1, int(KTY_RSA)),
        (3, int(-257)),
        (-1, bytes(&[0xc5; 256])),
    ]);
    assert_invalid(&no_e, rs256, "e is missing");
    let no_n = cose(vec![
        (1, int(KTY_RSA)),
        (3, int(-257)),
        (-2, bytes(&[1, 0, 1])),
    ]);
    assert_invalid(&no_n, rs256, "n is missing");
    // An empty or zero exponent.
    assert_invalid(&rsa(-257, &[0xc5; 256], &[]), rs256, "RSA");
    assert_invalid(&rsa(-257, &[0xc5; 256], &[0]), rs256, "RSA");
}

/// RSA keys that aws-lc-rs will never verify a signature with: an exponent of 1 (every padded
/// message is its own signature), an even exponent, an even modulus, a modulus over the 8192 bits
/// `crypto.rs` documents as the maximum, an exponent longer than the modulus.
fn unusable_rsa_keys() -> Vec<(&'static str, Vec<u8>)> {
    let mut n = vec![0xff; 256];
    n[255] = 0xfd;
    let mut even_n = n.clone();
    even_n[255] = 0xfc;
    vec![
        ("e = 1", rsa(-257, &n, &[1])),
        ("e = 2", rsa(-257, &n, &[2])),
        ("even modulus", rsa(-257, &even_n, &[1, 0, 1])),
        ("8200-bit modulus", rsa(-257, &[0xc5; 1025], &[1, 0, 1])),
        ("65536-bit modulus", rsa(-257, &[0xc5; 8192], &[1, 0, 1])),
        ("2400-bit exponent", rsa(-257, &n, &[0xff; 300])),
    ]
}

#[test]
fn rsa_keys_that_can_never_verify_are_refused_at_registration() {
    for (name, cose) in unusable_rsa_keys() {
        assert!(
            CredentialPublicKey::from_cose(&cose).is_err(),
            "{name}: accepted at registration"
        );
    }
}

#[test]
fn unusable_rsa_keys_never_verify_a_forgery() {
    // Defence in depth: even if such a key were stored, verification refuses it. With
    // e = 1 the PKCS#1 v1.5 encoding of the message would itself be a valid "signature".
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, MESSAGE);
    let mut encoded = vec![0x00, 0x01];
    encoded.extend(std::iter::repeat_n(0xff, 256 - 3 - 51));
    encoded.push(0x00);
    // DigestInfo for SHA-256 (RFC 8017 §9.2 note 1), then the hash.
    encoded.extend_from_slice(&[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ]);
    encoded.extend_from_slice(digest.as_ref());
    assert_eq!(encoded.len(), 256);
    for (name, cose) in unusable_rsa_keys() {
        if let Ok(key) = CredentialPublicKey::from_cose(&cose) {
            assert!(!key.verify(MESSAGE, &encoded), "{name}: forgery verified");
            assert!(!key.verify(MESSAGE, &[0x11; 256]), "{name}");
        }
    }
    // The same modulus with the usual exponent and a real key pair still works.
    let rng = SystemRandom::new();
    let pair = sig::RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let (n, e) = rsa_components(&pair);
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&sig::RSA_PKCS1_SHA256, &rng, MESSAGE, &mut signature)
        .unwrap();
    assert_round_trip(&rsa(-257, &n, &e), CoseAlgorithm::Rs256, Some(&signature));
}

#[test]
fn ml_dsa_keys_must_have_their_level_length() {
    let pair = sig::PqdsaKeyPair::generate(&sig::ML_DSA_44_SIGNING).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    // An ML-DSA-44 key labelled ML-DSA-65, a truncated key, an empty key.
    assert_invalid(&akp(-49, &public), CoseAlgorithm::MlDsa65, "ML-DSA");
    assert_invalid(&akp(-48, &public[..1311]), CoseAlgorithm::MlDsa44, "ML-DSA");
    assert_invalid(&akp(-48, &[]), CoseAlgorithm::MlDsa44, "ML-DSA");
    let no_pub = cose(vec![(1, int(KTY_AKP)), (3, int(-48))]);
    assert_invalid(&no_pub, CoseAlgorithm::MlDsa44, "pub is missing");
}

#[test]
fn alg_must_be_present_integer_and_supported() {
    let (_, valid) = p256_key();
    let key = CredentialPublicKey::from_cose(&valid).unwrap();
    let KeyMaterial::Ec2 { x, y, .. } = key.material().clone() else {
        panic!("not EC2")
    };
    let without = |alg: Option<Value>| {
        let mut entries = vec![(1, int(KTY_EC2))];
        if let Some(alg) = alg {
            entries.push((3, alg));
        }
        entries.extend([(-1, int(CRV_P256)), (-2, bytes(&x)), (-3, bytes(&y))]);
        cose(entries)
    };
    assert_malformed(&without(None), "alg");
    assert_malformed(&without(Some(Value::Text("ES256".into()))), "alg");
    assert_malformed(&without(Some(Value::Float(-7.0))), "alg");
    assert_malformed(&without(Some(bytes(&[0xf9]))), "alg");
    // Larger than any i64.
    assert_malformed(&without(Some(Value::Integer(u64::MAX.into()))), "alg");

    // Unknown or unimplemented algorithms: ES256K (-47), RS1 with a SHA-1 typo (-65536), 0,
    // a private-use value, HMAC (5).
    for alg in [-47, -65536, 0, -70000, 5, -9, i64::MIN] {
        let err = CredentialPublicKey::from_cose(&without(Some(int(alg)))).unwrap_err();
        assert_eq!(err, PublicKeyError::Unsupported(alg));
        assert_eq!(VerifyError::from(err).code(), "algorithm_unsupported");
    }
}

#[test]
fn shape_of_the_map() {
    // Not a map at all.
    assert_malformed(&cbor(&Value::Array(vec![int(1), int(2)])), "map");
    assert_malformed(&cbor(&int(-7)), "map");
    assert_malformed(&cbor(&bytes(&[0x04; 65])), "map");
    assert_malformed(&cbor(&Value::Map(vec![])), "alg");
    // kty missing, or an unregistered kty.
    let (_, valid) = p256_key();
    let key = CredentialPublicKey::from_cose(&valid).unwrap();
    let KeyMaterial::Ec2 { x, y, .. } = key.material().clone() else {
        panic!("not EC2")
    };
    let no_kty = cose(vec![
        (3, int(-7)),
        (-1, int(CRV_P256)),
        (-2, bytes(&x)),
        (-3, bytes(&y)),
    ]);
    let err = CredentialPublicKey::from_cose(&no_kty).unwrap_err();
    assert_eq!(VerifyError::from(err).code(), "public_key_invalid");
    for kty in [0, 99, -2] {
        let odd_kty = cose(vec![
            (1, int(kty)),
            (3, int(-7)),
            (-1, int(CRV_P256)),
            (-2, bytes(&x)),
            (-3, bytes(&y)),
        ]);
        let err = CredentialPublicKey::from_cose(&odd_kty).unwrap_err();
        assert_eq!(
            VerifyError::from(err).code(),
            "public_key_invalid",
            "kty {kty}"
        );
    }
}

#[test]
fn duplicate_labels_are_refused() {
    let (_, valid) = p256_key();
    let key = CredentialPublicKey::from_cose(&valid).unwrap();
    let KeyMaterial::Ec2 { x, y, .. } = key.material().clone() else {
        panic!("not EC2")
    };
    let other_pair = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let (x2, y2) = split_point(other_pair.public_key().as_ref());
    // A second x and y for another point: which one would a different parser pick?
    let twice = cose(vec![
        (1, int(KTY_EC2)),
        (3, int(-7)),
        (-1, int(CRV_P256)),
        (-2, bytes(&x)),
        (-3, bytes(&y)),
        (-2, bytes(&x2)),
        (-3, bytes(&y2)),
    ]);
    assert_malformed(&twice, "twice");
    // alg twice, with two different algorithms.
    let alg_twice = cose(vec![
        (1, int(KTY_EC2)),
        (3, int(-7)),
        (3, int(-257)),
        (-1, int(CRV_P256)),
        (-2, bytes(&x)),
        (-3, bytes(&y)),
    ]);
    assert_malformed(&alg_twice, "twice");
    // kty twice with the same value.
    let kty_twice = cose(vec![
        (1, int(KTY_EC2)),
        (1, int(KTY_EC2)),
        (3, int(-7)),
        (-1, int(CRV_P256)),
        (-2, bytes(&x)),
        (-3, bytes(&y)),
    ]);
    assert_malformed(&kty_twice, "twice");
}

/// Encodes map entries one by one so single items can be replaced by non-canonical forms.
fn pairs(entries: &[(i64, Value)]) -> Vec<Vec<u8>> {
    entries
        .iter()
        .map(|(k, v)| {
            let mut out = cbor(&int(*k));
            out.extend(cbor(v));
            out
        })
        .collect()
}

#[test]
fn non_canonical_cbor_is_refused() {
    let (_, valid) = p256_key();
    let key = CredentialPublicKey::from_cose(&valid).unwrap();
    let KeyMaterial::Ec2 { x, y, .. } = key.material().clone() else {
        panic!("not EC2")
    };
    let entries = [
        (1, int(KTY_EC2)),
        (3, int(-7)),
        (-1, int(CRV_P256)),
        (-2, bytes(&x)),
        (-3, bytes(&y)),
    ];
    let encoded = pairs(&entries);
    let definite = |items: &[Vec<u8>]| {
        let mut out = vec![0xa5];
        for item in items {
            out.extend_from_slice(item);
        }
        out
    };
    // Sanity: the hand-assembled canonical form is accepted.
    assert!(CredentialPublicKey::from_cose(&definite(&encoded)).is_ok());

    // kty 2 as a one-byte-argument integer (0x18 0x02) instead of 0x02.
    let mut long_int = encoded.clone();
    long_int[0] = vec![0x01, 0x18, 0x02];
    assert_malformed(&definite(&long_int), "canonical");
    // alg -7 as a two-byte-argument negative integer (0x39 0x00 0x06).
    let mut long_neg = encoded.clone();
    long_neg[1] = vec![0x03, 0x39, 0x00, 0x06];
    assert_malformed(&definite(&long_neg), "canonical");
    // The label 1 in eight bytes.
    let mut long_label = encoded.clone();
    long_label[0] = vec![0x1b, 0, 0, 0, 0, 0, 0, 0, 1, 0x02];
    assert_malformed(&definite(&long_label), "canonical");
    // x with a two-byte length (0x59 0x00 0x20) instead of one (0x58 0x20).
    let mut long_len = encoded.clone();
    let mut item = vec![0x21, 0x59, 0x00, 0x20];
    item.extend_from_slice(&x);
    long_len[3] = item;
    assert_malformed(&definite(&long_len), "canonical");
    // x as an indefinite-length byte string of two chunks.
    let mut chunked = encoded.clone();
    let mut item = vec![0x21, 0x5f, 0x50];
    item.extend_from_slice(&x[..16]);
    item.push(0x50);
    item.extend_from_slice(&x[16..]);
    item.push(0xff);
    chunked[3] = item;
    assert_malformed(&definite(&chunked), "canonical");
    // The map itself in indefinite-length form.
    let mut indefinite = vec![0xbf];
    for item in &encoded {
        indefinite.extend_from_slice(item);
    }
    indefinite.push(0xff);
    assert_malformed(&indefinite, "canonical");
    // Labels out of CTAP2 canonical order (kty after alg).
    let mut unsorted = encoded.clone();
    unsorted.swap(0, 1);
    assert_malformed(&definite(&unsorted), "canonical");
    // The map header with a one-byte argument (0xb8 0x05).
    let mut long_header = vec![0xb8, 0x05];
    long_header.extend_from_slice(&definite(&encoded)[1..]);
    assert_malformed(&long_header, "canonical");
}

#[test]
fn trailing_bytes_and_truncation_are_refused() {
    let (_, valid) = p256_key();
    for extra in [&[0x00][..], &[0xa0], &valid] {
        let mut longer = valid.clone();
        longer.extend_from_slice(extra);
        assert_malformed(&longer, "not CBOR");
    }
    for cut in [0, 1, valid.len() / 2, valid.len() - 1] {
        assert_malformed(&valid[..cut], "not CBOR");
    }
}

#[test]
fn hostile_cbor_fails_fast() {
    // Depth bombs: nested arrays as a parameter value, and bare nesting far past the limit.
    for depth in [17, 64, 100_000] {
        let mut bomb = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        bomb.extend(std::iter::repeat_n(0x81, depth));
        bomb.push(0x00);
        bomb.extend_from_slice(&[0x22, 0x40]);
        assert_malformed(&bomb, "not CBOR");
        let mut maps = Vec::new();
        for _ in 0..depth {
            maps.extend_from_slice(&[0xa1, 0x01]);
        }
        maps.push(0x00);
        assert_malformed(&maps, "not CBOR");
    }
    // Declared lengths far beyond the input: 2^32-byte x, 2^64-1 map entries, 2^63 array items.
    assert_malformed(
        &[0xa5, 0x01, 0x02, 0x21, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00],
        "not CBOR",
    );
    assert_malformed(
        &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        "not CBOR",
    );
    assert_malformed(
        &[
            0xa1, 0x01, 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        "not CBOR",
    );
    // Tags, undefined, break codes and reserved additional information where items belong.
    for junk in [
        &[0xa1, 0x01, 0xc0, 0x02][..],
        &[0xa1, 0x01, 0xf7],
        &[0xa1, 0x01, 0xff],
        &[0xa1, 0x01, 0x1c],
        &[0xff],
        &[0xa1, 0x01, 0x7f, 0x61, 0x61],
    ] {
        assert!(CredentialPublicKey::from_cose(junk).is_err(), "{junk:02x?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests: never panics, whatever the bytes.

/// Values a COSE_Key parameter might plausibly hold, including every length that matters.
fn cose_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (-300i64..300).prop_map(int),
        prop::sample::select(vec![
            -65535i64, -259, -258, -257, -53, -50, -49, -48, -39, -38, -37, -36, -35, -8, -7,
        ])
        .prop_map(int),
        prop::sample::select(vec![
            0usize, 1, 31, 32, 33, 48, 57, 65, 66, 67, 128, 256, 1312
        ])
        .prop_flat_map(|len| prop::collection::vec(any::<u8>(), len))
        .prop_map(Value::Bytes),
        any::<bool>().prop_map(Value::Bool),
        "[a-zA-Z0-9-]{0,8}".prop_map(Value::Text),
        Just(Value::Null),
        any::<f64>().prop_map(Value::Float),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

fn cose_map() -> impl Strategy<Value = Vec<u8>> {
    let label = prop_oneof![
        (-4i64..=4).prop_map(int),
        "[a-z]{1,3}".prop_map(Value::Text)
    ];
    prop::collection::vec((label, cose_value()), 0..7)
        .prop_map(|entries| cbor(&Value::Map(entries)))
}

fn check_accepted(key: &CredentialPublicKey) {
    assert!(CoseAlgorithm::ALL.contains(&key.algorithm()));
    match key.material() {
        KeyMaterial::Ec2 { curve, x, y } => {
            assert_eq!(key.algorithm().curve(), Some(*curve));
            assert_eq!(x.len(), curve.coordinate_len());
            assert_eq!(y.len(), curve.coordinate_len());
        }
        KeyMaterial::Ed25519(x) => {
            assert_eq!(key.algorithm(), CoseAlgorithm::EdDsa);
            assert_eq!(x.len(), 32);
        }
        KeyMaterial::MlDsa(level, _) => assert_eq!(key.algorithm().ml_dsa_level(), Some(*level)),
        KeyMaterial::Rsa { n, .. } => {
            assert!(key.algorithm().is_rsa());
            assert!(n.len() >= 256);
        }
    }
    assert!(!key.verify(MESSAGE, &[]));
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(key) = CredentialPublicKey::from_cose(&data) {
            check_accepted(&key);
        }
    }

    #[test]
    fn never_panics_on_arbitrary_cose_maps(data in cose_map()) {
        let stored = CredentialPublicKey::from_stored(&data);
        if let Ok(key) = CredentialPublicKey::from_cose(&data) {
            check_accepted(&key);
            // Whatever registration accepts, the stored-key path accepts too.
            prop_assert_eq!(stored.map(|k| k.material().clone()).ok(), Some(key.material().clone()));
        }
    }

    #[test]
    fn mutated_valid_keys_never_panic(
        index in any::<prop::sample::Index>(),
        xor in 1u8..,
        cut in any::<prop::sample::Index>(),
    ) {
        let (_, valid) = p256_key();
        let mut flipped = valid.clone();
        let i = index.index(flipped.len());
        flipped[i] ^= xor;
        if let Ok(key) = CredentialPublicKey::from_cose(&flipped) {
            check_accepted(&key);
        }
        let truncated = &valid[..cut.index(valid.len())];
        prop_assert!(CredentialPublicKey::from_cose(truncated).is_err());
    }
}
