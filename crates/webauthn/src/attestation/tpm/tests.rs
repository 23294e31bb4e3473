use aws_lc_rs::digest;
use ciborium::value::Value;
use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, SigningKey,
};

use super::structures::{
    CertInfo, ClockInfo, NameAlg, PubArea, PublicKey, Scheme, StructureError, SymDefObject,
    TPM_ALG_NULL, TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY,
};
use super::*;
use crate::attestation::{AttestationObject, AttestationPolicy};
use crate::authenticator_data::AuthenticatorData;
use crate::cose_key::CredentialPublicKey;
use crate::json::base64url_decode;
use crate::relying_party::sha256;
use crate::trust::UnixTime;

// Corpus payloads (tests/vectors), all registrations with a `tpm` statement.
const PY_ECC: &str =
    include_str!("../../../tests/vectors/py_webauthn/tpm_ecc_es256_webauthn_io.json");
const PY_DELL: &str =
    include_str!("../../../tests/vectors/py_webauthn/tpm_rs256_dell_xps13_ntc.json");
const PY_LENOVO: &str =
    include_str!("../../../tests/vectors/py_webauthn/tpm_rs256_lenovo_x1_stm.json");
const PY_SURFACE: &str =
    include_str!("../../../tests/vectors/py_webauthn/tpm_rs256_surface_pro_4_intc.json");
const SW_AAGUID_MATCH: &str =
    include_str!("../../../tests/vectors/simplewebauthn/tpm_aaguid_ext_match.json");
const SW_AAGUID_MISMATCH: &str =
    include_str!("../../../tests/vectors/simplewebauthn/tpm_aaguid_ext_mismatch_neg.json");
const SW_RS1: &str =
    include_str!("../../../tests/vectors/simplewebauthn/tpm_rs1_fido2netlib_sha1.json");
const SW_RS256: &str =
    include_str!("../../../tests/vectors/simplewebauthn/tpm_rs256_dontneeda.json");
const SW_SAN_SINGLE_RDN: &str =
    include_str!("../../../tests/vectors/simplewebauthn/tpm_san_non_compliant_single_rdn.json");
const SW_SAN_COMPLIANT: &str =
    include_str!("../../../tests/vectors/simplewebauthn/tpm_san_spec_compliant.json");
const RS_ASEIGLER: &str =
    include_str!("../../../tests/vectors/webauthn_rs/tpm_ecc_aseigler_policy_neg.json");
/// Synthetic (W3C L3 §16), with an ES256 AIK: the only one whose certInfo we can re-sign after
/// swapping the AIK certificate.
const W3C_ES256: &str = include_str!("../../../tests/vectors/w3c_spec_vectors/reg_tpm_es256.json");

/// Offsets into a TPMS_ATTEST with a 34-byte qualifiedSigner (every real payload above).
const EXTRA_DATA_AT: usize = 4 + 2 + 2 + 34;

/// The parts of a registration a `tpm` statement is verified against, with a mutable statement.
struct Vector {
    auth_data: Vec<u8>,
    client_data_hash: [u8; 32],
    att_stmt: Vec<(Value, Value)>,
}

/// The owned outcome of [`verify`].
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    attestation_type: AttestationType,
    x5c_len: usize,
    statement_algorithm: Option<i64>,
}

impl Vector {
    fn load(json: &str) -> Self {
        let case: serde_json::Value = serde_json::from_str(json).unwrap();
        let response = &case["response"]["response"];
        let field = |name: &str| base64url_decode(response[name].as_str().unwrap()).unwrap();
        let object = AttestationObject::parse(&field("attestationObject")).unwrap();
        assert_eq!(object.fmt, "tpm");
        let Value::Map(att_stmt) = object.att_stmt else {
            panic!("attStmt is not a map");
        };
        Self {
            auth_data: object.auth_data,
            client_data_hash: sha256(&field("clientDataJSON")),
            att_stmt,
        }
    }

    fn member(&mut self, key: &str) -> &mut Value {
        self.att_stmt
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
            .unwrap()
    }

    fn bytes(&mut self, key: &str) -> &mut Vec<u8> {
        match self.member(key) {
            Value::Bytes(b) => b,
            _ => panic!("{key} is not a byte string"),
        }
    }

    fn remove(&mut self, key: &str) {
        self.att_stmt.retain(|(k, _)| k.as_text() != Some(key));
    }

    fn insert(&mut self, key: &str, value: Value) {
        self.att_stmt.push((Value::Text(key.to_owned()), value));
    }

    fn x5c(&mut self) -> &mut Vec<Value> {
        match self.member("x5c") {
            Value::Array(a) => a,
            _ => panic!("x5c is not an array"),
        }
    }

    fn verify(&self) -> Result<Outcome, AttestationError> {
        let auth_data = AuthenticatorData::parse(&self.auth_data).unwrap();
        let acd = auth_data.attested_credential_data.as_ref().unwrap();
        let key = CredentialPublicKey::from_cose(acd.credential_public_key).unwrap();
        let policy = AttestationPolicy::default();
        let value = Value::Map(self.att_stmt.clone());
        let input = StatementInput {
            att_stmt: &self.att_stmt,
            auth_data_bytes: &self.auth_data,
            auth_data: &auth_data,
            client_data_hash: &self.client_data_hash,
            credential_key: &key,
            policy: &policy,
            now: UnixTime(0),
            att_stmt_value: &value,
        };
        verify(&input).map(|s| Outcome {
            attestation_type: s.attestation_type,
            x5c_len: s.x5c.len(),
            statement_algorithm: s.statement_algorithm,
        })
    }
}

fn malformed(reason: &'static str) -> Result<Outcome, AttestationError> {
    Err(AttestationError::Malformed(reason))
}

fn certificate(reason: &'static str) -> Result<Outcome, AttestationError> {
    Err(AttestationError::Certificate(reason))
}

const NOT_THE_KEY: &str = "pubArea is not the credential public key";
const BAD_EXTRA_DATA: &str = "certInfo extraData is not the hash of attToBeSigned";
const BAD_NAME: &str = "certInfo attested name is not the Name of pubArea";

// ---- Whole statements from the corpus ----

#[test]
fn corpus_statements_verify() {
    let cases = [
        (PY_ECC, -65535, 2),
        (PY_DELL, -65535, 2),
        (PY_LENOVO, -65535, 2),
        (PY_SURFACE, -65535, 2),
        (SW_AAGUID_MATCH, -257, 2),
        (SW_RS1, -65535, 2),
        (SW_RS256, -257, 2),
        (SW_SAN_SINGLE_RDN, -65535, 2),
        (SW_SAN_COMPLIANT, -65535, 2),
        (RS_ASEIGLER, -65535, 2),
        (W3C_ES256, -7, 1),
    ];
    for (json, alg, x5c_len) in cases {
        assert_eq!(
            Vector::load(json).verify(),
            Ok(Outcome {
                attestation_type: AttestationType::AttCa,
                x5c_len,
                statement_algorithm: Some(alg),
            })
        );
    }
}

#[test]
fn aaguid_extension_must_match() {
    assert_eq!(
        Vector::load(SW_AAGUID_MISMATCH).verify(),
        Err(AttestationError::AaguidMismatch)
    );
}

#[test]
fn corpus_structures_round_trip() {
    for json in [
        PY_ECC,
        PY_DELL,
        SW_AAGUID_MATCH,
        W3C_ES256,
        SW_SAN_COMPLIANT,
    ] {
        let mut v = Vector::load(json);
        let pub_area = v.bytes("pubArea").clone();
        let cert_info = v.bytes("certInfo").clone();
        assert_eq!(
            encode_pub_area(&PubArea::parse(&pub_area).unwrap()),
            pub_area
        );
        assert_eq!(
            encode_cert_info(&CertInfo::parse(&cert_info).unwrap()),
            cert_info
        );
    }
}

#[test]
fn corpus_structures_parse_as_expected() {
    let mut v = Vector::load(SW_AAGUID_MATCH);
    let pub_area = v.bytes("pubArea").clone();
    let parsed = PubArea::parse(&pub_area).unwrap();
    assert_eq!(parsed.name_alg, NameAlg::Sha256);
    assert_eq!(parsed.object_attributes, 0x0006_0472);
    assert!(parsed.auth_policy.is_empty());
    let PublicKey::Ecc {
        symmetric,
        scheme,
        curve_id,
        kdf,
        x,
        y,
    } = parsed.key
    else {
        panic!("not an ECC key");
    };
    assert_eq!(
        (symmetric, scheme, curve_id, kdf),
        (SymDefObject::Null, Scheme::Null, 0x0003, Scheme::Null)
    );
    assert_eq!((x.len(), y.len()), (32, 32));

    let mut v = Vector::load(PY_DELL);
    let pub_area = v.bytes("pubArea").clone();
    let PublicKey::Rsa {
        key_bits,
        exponent,
        modulus,
        ..
    } = PubArea::parse(&pub_area).unwrap().key
    else {
        panic!("not an RSA key");
    };
    assert_eq!((key_bits, exponent, modulus.len()), (2048, 0, 256));

    let cert_info = v.bytes("certInfo").clone();
    let parsed = CertInfo::parse(&cert_info).unwrap();
    assert_eq!(parsed.extra_data.len(), 20, "RS1: a SHA-1 extraData");
    assert_eq!(parsed.name.len(), 34);
    assert_eq!(&parsed.name[..2], &[0x00, 0x0b]);
}

// ---- Step 1: statement syntax ----

#[test]
fn ver_must_be_2_0() {
    for ver in [
        Value::Text("1.0".into()),
        Value::Text("2.0 ".into()),
        Value::Integer(2.into()),
        Value::Bytes(b"2.0".to_vec()),
    ] {
        let mut v = Vector::load(PY_ECC);
        *v.member("ver") = ver;
        assert_eq!(v.verify(), malformed("ver is not \"2.0\""));
    }
    let mut v = Vector::load(PY_ECC);
    v.remove("ver");
    assert_eq!(v.verify(), malformed("ver is not \"2.0\""));
}

#[test]
fn ecdaa_key_id_is_refused() {
    let mut v = Vector::load(PY_ECC);
    v.insert("ecdaaKeyId", Value::Bytes(vec![1; 32]));
    assert_eq!(
        v.verify(),
        malformed("ecdaaKeyId: ECDAA attestation is not supported")
    );
}

#[test]
fn duplicate_members_are_refused() {
    let mut v = Vector::load(PY_ECC);
    let pub_area = v.bytes("pubArea").clone();
    v.insert("pubArea", Value::Bytes(pub_area));
    assert_eq!(v.verify(), malformed("a key appears twice in attStmt"));
}

#[test]
fn required_members() {
    for (key, reason) in [
        ("alg", "alg is missing or not an integer"),
        ("x5c", "x5c is missing"),
        ("sig", "sig is missing or not a byte string"),
        ("certInfo", "certInfo is missing or not a byte string"),
        ("pubArea", "pubArea is missing or not a byte string"),
    ] {
        let mut v = Vector::load(PY_DELL);
        v.remove(key);
        assert_eq!(v.verify(), malformed(reason), "{key}");
    }
    let mut v = Vector::load(PY_DELL);
    *v.member("pubArea") = Value::Text("pubArea".into());
    assert_eq!(
        v.verify(),
        malformed("pubArea is missing or not a byte string")
    );
    let mut v = Vector::load(PY_DELL);
    *v.member("x5c") = Value::Array(Vec::new());
    assert_eq!(
        v.verify(),
        malformed("x5c is not a non-empty array of certificates")
    );
}

#[test]
fn unusable_statement_algorithms() {
    // Unknown, and known but without a hash a TPM could have used for extraData.
    for alg in [-1, -8, -48] {
        let mut v = Vector::load(PY_DELL);
        *v.member("alg") = Value::Integer(alg.into());
        assert_eq!(v.verify(), Err(AttestationError::Algorithm(alg)));
    }
}

// ---- Step 2: pubArea is the credential public key ----

#[test]
fn pub_area_unique_must_be_the_credential_key() {
    // RSA modulus, ECC x, ECC y: flip the last byte of each.
    for (json, from_end) in [(PY_DELL, 1), (PY_ECC, 1 + 2 + 32), (PY_ECC, 1)] {
        let mut v = Vector::load(json);
        let pub_area = v.bytes("pubArea");
        let at = pub_area.len() - from_end;
        pub_area[at] ^= 0x01;
        assert_eq!(v.verify(), malformed(NOT_THE_KEY));
    }
}

#[test]
fn pub_area_parameters_must_be_the_credential_key() {
    // RSA: exponent (offset 2+2+4+2+32 policy +2 sym +2 scheme +2 keyBits), keyBits.
    let rsa_params = 2 + 2 + 4 + 2 + 32 + 2 + 2;
    let mut v = Vector::load(PY_DELL);
    v.bytes("pubArea")[rsa_params + 2 + 3] = 0x03;
    assert_eq!(v.verify(), malformed(NOT_THE_KEY), "exponent 3");
    let mut v = Vector::load(PY_DELL);
    v.bytes("pubArea")[rsa_params..rsa_params + 2].copy_from_slice(&3072u16.to_be_bytes());
    assert_eq!(v.verify(), malformed(NOT_THE_KEY), "keyBits 3072");
    // ECC: curveID P-384 (an empty authPolicy in this one).
    let mut v = Vector::load(SW_AAGUID_MATCH);
    let curve_at = 2 + 2 + 4 + 2 + 2 + 2;
    v.bytes("pubArea")[curve_at..curve_at + 2].copy_from_slice(&[0x00, 0x04]);
    assert_eq!(v.verify(), malformed(NOT_THE_KEY), "curve P-384");
    // An explicit exponent of 65537 is the same key as the default (0)...
    let mut v = Vector::load(PY_DELL);
    v.bytes("pubArea")[rsa_params + 2..rsa_params + 6].copy_from_slice(&65537u32.to_be_bytes());
    // ...and the name then no longer matches, which is the next check.
    assert_eq!(v.verify(), malformed(BAD_NAME));
}

#[test]
fn pub_area_key_type_must_match() {
    // An ECC pubArea against an RSA credential key.
    let mut ecc = Vector::load(PY_ECC);
    let mut v = Vector::load(PY_DELL);
    *v.bytes("pubArea") = ecc.bytes("pubArea").clone();
    assert_eq!(v.verify(), malformed(NOT_THE_KEY));
}

#[test]
fn pub_area_structure_defects() {
    let mut v = Vector::load(PY_DELL);
    let good = v.bytes("pubArea").clone();
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = good.clone();
        f(&mut bytes);
        PubArea::parse(&bytes).map(|_| ())
    };
    assert_eq!(
        mutate(&|b| b.truncate(b.len() - 1)),
        Err(StructureError::Truncated)
    );
    assert_eq!(
        mutate(&|b| b.push(0)),
        Err(StructureError::TrailingBytes(1))
    );
    assert_eq!(
        mutate(&|b| b[..2].copy_from_slice(&[0x00, 0x08])),
        Err(StructureError::PublicType(0x0008))
    );
    assert_eq!(
        mutate(&|b| b[2..4].copy_from_slice(&[0x00, 0x12])),
        Err(StructureError::NameAlg(0x0012))
    );
    // authPolicy longer than a digest.
    assert!(matches!(
        mutate(&|b| b[8..10].copy_from_slice(&[0x00, 0x41])),
        Err(StructureError::TooLong(_))
    ));
    // scheme TPM_ALG_ECDSA is not an RSA scheme.
    assert!(matches!(
        mutate(&|b| b[44..46].copy_from_slice(&[0x00, 0x18])),
        Err(StructureError::Selector(_))
    ));
    // Every prefix is truncated.
    for len in 0..good.len() {
        assert_eq!(
            PubArea::parse(&good[..len]),
            Err(StructureError::Truncated),
            "{len}"
        );
    }
    // And through the verifier.
    let mut v = Vector::load(PY_DELL);
    v.bytes("pubArea").push(0);
    assert_eq!(v.verify(), malformed("a TPM structure has trailing bytes"));
}

// ---- Step 5: certInfo, re-signed with an AIK made here (step 4 authenticates it first) ----

/// Offsets into the W3C vector's certInfo (an empty qualifiedSigner, SHA-256 extraData).
const W3C_EXTRA_DATA: usize = 4 + 2 + 2;
const W3C_NAME: usize = W3C_EXTRA_DATA + 2 + 32 + 17 + 8;

#[test]
fn changed_cert_info_breaks_the_signature() {
    // Without re-signing, any change to certInfo stops at step 4.
    let mut v = Vector::load(PY_DELL);
    v.bytes("certInfo")[0] = 0xfe;
    assert_eq!(v.verify(), Err(AttestationError::Signature));
    let mut v = Vector::load(PY_DELL);
    v.bytes("certInfo").push(0);
    assert_eq!(v.verify(), Err(AttestationError::Signature));
}

#[test]
fn resigned_cert_info_still_verifies() {
    assert!(with_cert_info(|_| {}).verify().is_ok());
    // qualifiedSigner, clockInfo and firmwareVersion are ignored.
    let v = with_cert_info(|c| c[W3C_EXTRA_DATA + 2 + 32..W3C_NAME].fill(0x5a));
    assert!(v.verify().is_ok());
}

#[test]
fn cert_info_magic() {
    let v = with_cert_info(|c| c[0] = 0xfe);
    assert_eq!(
        v.verify(),
        malformed("certInfo magic is not TPM_GENERATED_VALUE")
    );
    let mut bad = Vector::load(PY_DELL).bytes("certInfo").clone();
    bad[0] = 0xfe;
    assert_eq!(
        CertInfo::parse(&bad),
        Err(StructureError::Magic(0xfe54_4347))
    );
    bad.truncate(3);
    assert_eq!(CertInfo::parse(&bad), Err(StructureError::Truncated));
}

#[test]
fn cert_info_type() {
    // TPM_ST_ATTEST_QUOTE (0x8018) is a valid TPMS_ATTEST, but not a certification.
    let v = with_cert_info(|c| c[4..6].copy_from_slice(&[0x80, 0x18]));
    assert_eq!(
        v.verify(),
        malformed("certInfo type is not TPM_ST_ATTEST_CERTIFY")
    );
    let mut bad = Vector::load(PY_DELL).bytes("certInfo").clone();
    bad[4..6].copy_from_slice(&[0x80, 0x18]);
    assert_eq!(
        CertInfo::parse(&bad),
        Err(StructureError::AttestType(0x8018))
    );
}

#[test]
fn cert_info_extra_data_must_hash_att_to_be_signed() {
    // A flipped byte of extraData.
    let v = with_cert_info(|c| c[W3C_EXTRA_DATA + 2] ^= 0x01);
    assert_eq!(v.verify(), malformed(BAD_EXTRA_DATA));
    // A different client data hash (certInfo and its signature untouched).
    let mut v = Vector::load(SW_RS256);
    v.client_data_hash[0] ^= 0x01;
    assert_eq!(v.verify(), malformed(BAD_EXTRA_DATA));
    // The hash of attToBeSigned, but under SHA-1 where `alg` (ES256) employs SHA-256.
    let base = Vector::load(W3C_ES256);
    let mut att_to_be_signed = base.auth_data.clone();
    att_to_be_signed.extend_from_slice(&base.client_data_hash);
    let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &att_to_be_signed);
    let v = with_cert_info(|c| {
        let rest = c[W3C_EXTRA_DATA + 2 + 32..].to_vec();
        c.truncate(W3C_EXTRA_DATA);
        c.extend_from_slice(&[0x00, 20]);
        c.extend_from_slice(sha1.as_ref());
        c.extend_from_slice(&rest);
    });
    assert_eq!(v.verify(), malformed(BAD_EXTRA_DATA));
}

#[test]
fn cert_info_name_must_be_pub_area_name() {
    // The last byte of attested.name.
    let v = with_cert_info(|c| c[W3C_NAME + 2 + 33] ^= 0x01);
    assert_eq!(v.verify(), malformed(BAD_NAME));
    // The name's algorithm (SHA-384 instead of the pubArea's SHA-256).
    let v = with_cert_info(|c| c[W3C_NAME + 2..W3C_NAME + 4].copy_from_slice(&[0x00, 0x0c]));
    assert_eq!(v.verify(), malformed(BAD_NAME));
    // The name in qualifiedName and the qualifiedName in name.
    let v = with_cert_info(|c| {
        let name = c[W3C_NAME..].to_vec();
        c.truncate(W3C_NAME);
        c.extend_from_slice(&[0x00, 0x00]);
        c.extend_from_slice(&name[..name.len() - 2]);
    });
    assert_eq!(v.verify(), malformed(BAD_NAME));
    // A pubArea that still holds the credential key but is not the certified object: a
    // different objectAttributes (certInfo and its signature untouched).
    let mut v = Vector::load(PY_DELL);
    v.bytes("pubArea")[7] ^= 0x20;
    assert_eq!(v.verify(), malformed(BAD_NAME));
}

#[test]
fn cert_info_structure_defects() {
    let good = Vector::load(PY_DELL).bytes("certInfo").clone();
    for len in 0..good.len() {
        assert_eq!(
            CertInfo::parse(&good[..len]),
            Err(StructureError::Truncated),
            "{len}"
        );
    }
    let mut long = good.clone();
    long.extend_from_slice(&[0, 0]);
    assert_eq!(
        CertInfo::parse(&long),
        Err(StructureError::TrailingBytes(2))
    );
    // clockInfo.safe (the last byte of the 17) is kept as sent, even when not a TPMI_YES_NO.
    let mut odd_flag = good.clone();
    odd_flag[EXTRA_DATA_AT + 2 + 20 + 16] = 0x33;
    assert_eq!(CertInfo::parse(&odd_flag).unwrap().clock_info.safe, 0x33);
    // extraData longer than a TPMT_HA.
    let mut big = good.clone();
    big[EXTRA_DATA_AT..EXTRA_DATA_AT + 2].copy_from_slice(&[0x00, 0x43]);
    assert!(matches!(
        CertInfo::parse(&big),
        Err(StructureError::TooLong(_))
    ));

    assert_eq!(
        with_cert_info(|c| c.push(0)).verify(),
        malformed("a TPM structure has trailing bytes")
    );
    assert_eq!(
        with_cert_info(|c| {
            c.pop();
        })
        .verify(),
        malformed("a TPM structure is truncated")
    );
}

// ---- Step 4.4: signature ----

#[test]
fn signature_must_verify() {
    for json in [PY_DELL, SW_RS256, W3C_ES256] {
        let mut v = Vector::load(json);
        let sig = v.bytes("sig");
        let last = sig.len() - 1;
        sig[last] ^= 0x01;
        assert_eq!(v.verify(), Err(AttestationError::Signature));
    }
}

#[test]
fn statement_algorithm_must_fit_the_aik() {
    // ES256 AIK; PS256 hashes with SHA-256 too, so extraData still matches.
    let mut v = Vector::load(W3C_ES256);
    *v.member("alg") = Value::Integer((-37).into());
    assert_eq!(v.verify(), Err(AttestationError::Algorithm(-37)));
}

// ---- Step 4.2 and 4.3: the AIK certificate (§8.3.1), with certificates made here ----

const OID_SAN: &[u64] = &[2, 5, 29, 17];
const AIK_EKU: &[u64] = &[2, 23, 133, 8, 3];
const TPM_MANUFACTURER: &[u8] = &[0x67, 0x81, 0x05, 0x02, 0x01];
const TPM_MODEL: &[u8] = &[0x67, 0x81, 0x05, 0x02, 0x02];
const TPM_VERSION: &[u8] = &[0x67, 0x81, 0x05, 0x02, 0x03];

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        len @ 0..=0x7f => out.push(len as u8),
        len @ 0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        len => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(content);
    out
}

fn attribute(oid: &[u8], value: &str) -> Vec<u8> {
    der(
        0x30,
        &[der(0x06, oid), der(0x0c, value.as_bytes())].concat(),
    )
}

/// A SAN with one directoryName: each inner Vec of attributes is one RDN.
fn san(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let rdns: Vec<u8> = rdns
        .iter()
        .flat_map(|rdn| der(0x31, &rdn.concat()))
        .collect();
    der(0x30, &der(0xa4, &der(0x30, &rdns)))
}

fn tpm_attributes() -> [Vec<u8>; 3] {
    [
        attribute(TPM_MANUFACTURER, "id:FFFFF1D0"),
        attribute(TPM_MODEL, "passkeyd test TPM"),
        attribute(TPM_VERSION, "id:00010002"),
    ]
}

/// An AIK certificate that meets §8.3.1; tests change one thing at a time.
fn aik_params(san_der: Option<Vec<u8>>, san_critical: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(AIK_EKU.to_vec())];
    if let Some(san_der) = san_der {
        let mut ext = CustomExtension::from_oid_content(OID_SAN, san_der);
        ext.set_criticality(san_critical);
        params.custom_extensions.push(ext);
    }
    params
}

/// The TCG EK profile form: three RDNs of one attribute each.
fn good_params() -> CertificateParams {
    let [m, n, v] = tpm_attributes();
    aik_params(Some(san(&[vec![m], vec![n], vec![v]])), true)
}

/// The W3C ES256 statement with its AIK certificate replaced by one made from `params`, and
/// certInfo changed by `mutate`, then signed with the new AIK.
fn with_aik_and_cert_info(params: &CertificateParams, mutate: impl FnOnce(&mut Vec<u8>)) -> Vector {
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let mut v = Vector::load(W3C_ES256);
    *v.x5c() = vec![Value::Bytes(cert.der().to_vec())];
    mutate(v.bytes("certInfo"));
    let cert_info = v.bytes("certInfo").clone();
    *v.bytes("sig") = key.sign(&cert_info).unwrap();
    v
}

fn with_aik(params: &CertificateParams) -> Vector {
    with_aik_and_cert_info(params, |_| {})
}

fn with_cert_info(mutate: impl FnOnce(&mut Vec<u8>)) -> Vector {
    with_aik_and_cert_info(&good_params(), mutate)
}

#[test]
fn aik_certificate_that_meets_the_requirements() {
    let ok = Ok(Outcome {
        attestation_type: AttestationType::AttCa,
        x5c_len: 1,
        statement_algorithm: Some(-7),
    });
    // Three RDNs (TCG EK profile).
    assert_eq!(with_aik(&good_params()).verify(), ok);
    // One multi-valued RDN (several Windows AIK certificates).
    let one_rdn = aik_params(Some(san(&[tpm_attributes().to_vec()])), true);
    assert_eq!(with_aik(&one_rdn).verify(), ok);
    // In another order, next to another general name.
    let [m, n, v] = tpm_attributes();
    let mut names = der(0x82, b"tpm.example");
    names.extend_from_slice(&der(
        0xa4,
        &der(
            0x30,
            &[der(0x31, &v), der(0x31, &n), der(0x31, &m)].concat(),
        ),
    ));
    let reordered = aik_params(Some(der(0x30, &names)), true);
    assert_eq!(with_aik(&reordered).verify(), ok);
}

#[test]
fn aik_subject_must_be_empty() {
    let mut params = good_params();
    params.distinguished_name.push(DnType::CommonName, "AIK");
    assert_eq!(
        with_aik(&params).verify(),
        certificate("subject is not empty")
    );
}

#[test]
fn aik_san_is_required() {
    assert_eq!(
        with_aik(&aik_params(None, true)).verify(),
        certificate("SAN extension is missing")
    );
    assert_eq!(
        with_aik(&aik_params(Some(san(&[tpm_attributes().to_vec()])), false)).verify(),
        certificate("SAN extension is not critical")
    );
    let no_tpm = "SAN has no directoryName with the TPM manufacturer, model and version";
    // Each attribute missing in turn, and one twice.
    let [m, n, v] = tpm_attributes();
    for rdns in [
        vec![vec![n.clone(), v.clone()]],
        vec![vec![m.clone()], vec![v.clone()]],
        vec![vec![m.clone(), n.clone()]],
        vec![vec![m.clone(), n.clone(), v.clone()], vec![v.clone()]],
    ] {
        assert_eq!(
            with_aik(&aik_params(Some(san(&rdns)), true)).verify(),
            certificate(no_tpm)
        );
    }
    // A dNSName instead of a directoryName.
    let dns = der(0x30, &der(0x82, b"tpm.example"));
    assert_eq!(
        with_aik(&aik_params(Some(dns), true)).verify(),
        certificate(no_tpm)
    );
}

#[test]
fn aik_eku_must_contain_aik_certificate() {
    let mut params = good_params();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    assert_eq!(
        with_aik(&params).verify(),
        certificate("EKU does not contain tcg-kp-AIKCertificate")
    );
    params.extended_key_usages = Vec::new();
    assert_eq!(
        with_aik(&params).verify(),
        certificate("EKU extension is missing")
    );
    // Other purposes next to the AIK one are fine.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::Other(AIK_EKU.to_vec()),
    ];
    assert!(with_aik(&params).verify().is_ok());
}

#[test]
fn aik_must_not_be_a_ca() {
    let mut params = good_params();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    assert_eq!(
        with_aik(&params).verify(),
        certificate("basic constraints say CA=true")
    );
    // Absent basic constraints are fine.
    params.is_ca = IsCa::NoCa;
    assert!(with_aik(&params).verify().is_ok());
}

#[test]
fn aik_certificate_is_checked_before_the_signature() {
    // L3 §8.3 step 4.2 comes before step 4.4.
    let mut params = good_params();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut v = with_aik(&params);
    let sig = v.bytes("sig");
    let last = sig.len() - 1;
    sig[last] ^= 0x01;
    assert_eq!(v.verify(), certificate("basic constraints say CA=true"));
}

#[test]
fn aik_aaguid_extension() {
    const OID_FIDO_AAGUID: &[u64] = &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4];
    let aaguid = {
        let v = Vector::load(W3C_ES256);
        v.auth_data[37..53].to_vec()
    };
    let mut params = good_params();
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            OID_FIDO_AAGUID,
            der(0x04, &aaguid),
        ));
    assert!(with_aik(&params).verify().is_ok());
    let mut params = good_params();
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            OID_FIDO_AAGUID,
            der(0x04, &[0; 16]),
        ));
    assert_eq!(
        with_aik(&params).verify(),
        Err(AttestationError::AaguidMismatch)
    );
}

// ---- Encoders (tests only) and property tests ----

fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_sym(out: &mut Vec<u8>, sym: SymDefObject) {
    match sym {
        SymDefObject::Null => out.extend_from_slice(&TPM_ALG_NULL.to_be_bytes()),
        SymDefObject::Cipher {
            algorithm,
            key_bits,
            mode,
        } => {
            for v in [algorithm, key_bits, mode] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
}

fn put_scheme(out: &mut Vec<u8>, scheme: Scheme) {
    let words: Vec<u16> = match scheme {
        Scheme::Null => vec![TPM_ALG_NULL],
        Scheme::Empty(s) => vec![s],
        Scheme::Hash { scheme, hash_alg } => vec![scheme, hash_alg],
        Scheme::Ecdaa { hash_alg, count } => vec![0x001a, hash_alg, count],
    };
    for w in words {
        out.extend_from_slice(&w.to_be_bytes());
    }
}

fn encode_pub_area(p: &PubArea<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let public_type: u16 = match p.key {
        PublicKey::Rsa { .. } => 0x0001,
        PublicKey::Ecc { .. } => 0x0023,
    };
    out.extend_from_slice(&public_type.to_be_bytes());
    out.extend_from_slice(&p.name_alg.to_u16().to_be_bytes());
    out.extend_from_slice(&p.object_attributes.to_be_bytes());
    put_sized(&mut out, p.auth_policy);
    match p.key {
        PublicKey::Rsa {
            symmetric,
            scheme,
            key_bits,
            exponent,
            modulus,
        } => {
            put_sym(&mut out, symmetric);
            put_scheme(&mut out, scheme);
            out.extend_from_slice(&key_bits.to_be_bytes());
            out.extend_from_slice(&exponent.to_be_bytes());
            put_sized(&mut out, modulus);
        }
        PublicKey::Ecc {
            symmetric,
            scheme,
            curve_id,
            kdf,
            x,
            y,
        } => {
            put_sym(&mut out, symmetric);
            put_scheme(&mut out, scheme);
            out.extend_from_slice(&curve_id.to_be_bytes());
            put_scheme(&mut out, kdf);
            put_sized(&mut out, x);
            put_sized(&mut out, y);
        }
    }
    out
}

fn encode_cert_info(c: &CertInfo<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&TPM_GENERATED_VALUE.to_be_bytes());
    out.extend_from_slice(&TPM_ST_ATTEST_CERTIFY.to_be_bytes());
    put_sized(&mut out, c.qualified_signer);
    put_sized(&mut out, c.extra_data);
    out.extend_from_slice(&c.clock_info.clock.to_be_bytes());
    out.extend_from_slice(&c.clock_info.reset_count.to_be_bytes());
    out.extend_from_slice(&c.clock_info.restart_count.to_be_bytes());
    out.push(c.clock_info.safe);
    out.extend_from_slice(&c.firmware_version.to_be_bytes());
    put_sized(&mut out, c.name);
    put_sized(&mut out, c.qualified_name);
    out
}

fn name_alg() -> impl Strategy<Value = NameAlg> {
    prop_oneof![
        Just(NameAlg::Sha1),
        Just(NameAlg::Sha256),
        Just(NameAlg::Sha384),
        Just(NameAlg::Sha512),
    ]
}

fn sym() -> impl Strategy<Value = SymDefObject> {
    prop_oneof![
        Just(SymDefObject::Null),
        (
            prop::sample::select(vec![0x0003u16, 0x0006, 0x0013, 0x0026]),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(algorithm, key_bits, mode)| SymDefObject::Cipher {
                algorithm,
                key_bits,
                mode
            }),
    ]
}

fn rsa_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Null),
        Just(Scheme::Empty(0x0015)),
        (
            prop::sample::select(vec![0x0014u16, 0x0016, 0x0017]),
            any::<u16>()
        )
            .prop_map(|(scheme, hash_alg)| Scheme::Hash { scheme, hash_alg }),
    ]
}

fn ecc_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Null),
        (any::<u16>(), any::<u16>())
            .prop_map(|(hash_alg, count)| Scheme::Ecdaa { hash_alg, count }),
        (
            prop::sample::select(vec![0x0018u16, 0x0019, 0x001b, 0x001c, 0x001d]),
            any::<u16>()
        )
            .prop_map(|(scheme, hash_alg)| Scheme::Hash { scheme, hash_alg }),
    ]
}

fn kdf_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Null),
        (
            prop::sample::select(vec![0x0007u16, 0x0020, 0x0021, 0x0022]),
            any::<u16>()
        )
            .prop_map(|(scheme, hash_alg)| Scheme::Hash { scheme, hash_alg }),
    ]
}

/// The owned parts of a PubArea, for proptest (PubArea borrows its buffers).
#[derive(Debug, Clone)]
enum KeyParts {
    Rsa(SymDefObject, Scheme, u16, u32, Vec<u8>),
    Ecc(SymDefObject, Scheme, u16, Scheme, Vec<u8>, Vec<u8>),
}

fn key_parts() -> impl Strategy<Value = KeyParts> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..=max);
    prop_oneof![
        (sym(), rsa_scheme(), any::<u16>(), any::<u32>(), bytes(1024))
            .prop_map(|(s, sc, kb, e, n)| KeyParts::Rsa(s, sc, kb, e, n)),
        (
            sym(),
            ecc_scheme(),
            any::<u16>(),
            kdf_scheme(),
            bytes(128),
            bytes(128)
        )
            .prop_map(|(s, sc, c, k, x, y)| KeyParts::Ecc(s, sc, c, k, x, y)),
    ]
}

fn prefixed(prefix: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..400).prop_map(move |rest| [prefix, &rest].concat())
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1200)) {
        let _ = PubArea::parse(&bytes);
        let _ = CertInfo::parse(&bytes);
    }

    #[test]
    fn parsers_never_panic_past_the_header(
        pub_area in prop_oneof![
            prefixed(&[0x00, 0x01, 0x00, 0x0b]),
            prefixed(&[0x00, 0x23, 0x00, 0x0b]),
        ],
        cert_info in prefixed(&[0xff, 0x54, 0x43, 0x47, 0x80, 0x17]),
    ) {
        let _ = PubArea::parse(&pub_area);
        let _ = CertInfo::parse(&cert_info);
    }

    #[test]
    fn pub_area_round_trips(
        name_alg in name_alg(),
        object_attributes in any::<u32>(),
        auth_policy in prop::collection::vec(any::<u8>(), 0..=64),
        parts in key_parts(),
    ) {
        let key = match &parts {
            KeyParts::Rsa(symmetric, scheme, key_bits, exponent, modulus) => PublicKey::Rsa {
                symmetric: *symmetric,
                scheme: *scheme,
                key_bits: *key_bits,
                exponent: *exponent,
                modulus,
            },
            KeyParts::Ecc(symmetric, scheme, curve_id, kdf, x, y) => PublicKey::Ecc {
                symmetric: *symmetric,
                scheme: *scheme,
                curve_id: *curve_id,
                kdf: *kdf,
                x,
                y,
            },
        };
        let pub_area = PubArea { name_alg, object_attributes, auth_policy: &auth_policy, key };
        let bytes = encode_pub_area(&pub_area);
        prop_assert_eq!(PubArea::parse(&bytes), Ok(pub_area));
        // Any strict prefix is truncated; any extra byte is trailing.
        let cut = bytes.len() / 2;
        prop_assert_eq!(PubArea::parse(&bytes[..cut]), Err(StructureError::Truncated));
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert_eq!(PubArea::parse(&longer), Err(StructureError::TrailingBytes(1)));
    }

    #[test]
    fn cert_info_round_trips(
        qualified_signer in prop::collection::vec(any::<u8>(), 0..=66),
        extra_data in prop::collection::vec(any::<u8>(), 0..=66),
        clock in any::<u64>(),
        reset_count in any::<u32>(),
        restart_count in any::<u32>(),
        safe in any::<u8>(),
        firmware_version in any::<u64>(),
        name in prop::collection::vec(any::<u8>(), 0..=66),
        qualified_name in prop::collection::vec(any::<u8>(), 0..=66),
    ) {
        let cert_info = CertInfo {
            qualified_signer: &qualified_signer,
            extra_data: &extra_data,
            clock_info: ClockInfo { clock, reset_count, restart_count, safe },
            firmware_version,
            name: &name,
            qualified_name: &qualified_name,
        };
        let bytes = encode_cert_info(&cert_info);
        prop_assert_eq!(CertInfo::parse(&bytes), Ok(cert_info));
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert_eq!(CertInfo::parse(&longer), Err(StructureError::TrailingBytes(1)));
    }
}
