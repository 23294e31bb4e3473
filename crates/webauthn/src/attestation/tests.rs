//! The attestation object's shape (SECURITY.md §6 cases 14, 17, 25, 31) and statement checks
//! driven end to end through `verify_registration` with keys and certificates made here.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair as _};
use proptest::prelude::*;
use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer};
use serde_json::json;

use super::*;
use crate::json::{base64url_encode, RegistrationResponseJson};
use crate::registration::{verify_registration, ExpectedRegistration, VerifiedRegistration};
use crate::relying_party::RelyingParty;

// --- AttestationObject::parse ----------------------------------------------------------------

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn object(entries: Vec<(Value, Value)>) -> Vec<u8> {
    cbor(&Value::Map(entries))
}

const AUTH_DATA: [u8; 37] = [0x11; 37];

fn good_entries() -> Vec<(Value, Value)> {
    vec![
        (text("fmt"), text("none")),
        (text("attStmt"), Value::Map(vec![])),
        (text("authData"), Value::Bytes(AUTH_DATA.to_vec())),
    ]
}

#[track_caller]
fn assert_refused(bytes: &[u8]) {
    match AttestationObject::parse(bytes) {
        Err(AuthenticatorDataError::AttestationObject(_)) => {}
        other => panic!("expected AttestationObject(..), got {other:?}"),
    }
    let err = VerifyError::from(AttestationObject::parse(bytes).unwrap_err());
    assert_eq!(err.code(), "authenticator_data_invalid");
}

#[test]
fn a_well_formed_object_parses() {
    let parsed = AttestationObject::parse(&object(good_entries())).unwrap();
    assert_eq!(parsed.fmt, "none");
    assert_eq!(parsed.att_stmt, Value::Map(vec![]));
    assert_eq!(parsed.auth_data, AUTH_DATA);
    // Member order does not matter, and compound's array statement has the right shape here.
    let mut reversed = good_entries();
    reversed.reverse();
    assert!(AttestationObject::parse(&object(reversed)).is_ok());
    let mut compound = good_entries();
    compound[1].1 = Value::Array(vec![]);
    assert!(AttestationObject::parse(&object(compound)).is_ok());
}

#[test]
fn not_a_map_is_refused() {
    for value in [
        Value::Array(good_entries().into_iter().map(|(_, v)| v).collect()),
        text("none"),
        Value::Bytes(AUTH_DATA.to_vec()),
        Value::Integer(0.into()),
        Value::Null,
        Value::Tag(24, Box::new(Value::Map(good_entries()))),
    ] {
        assert_refused(&cbor(&value));
    }
    assert_refused(&[]);
}

#[test]
fn members_of_the_wrong_type_are_refused() {
    let wrong: [(usize, Value); 11] = [
        (0, Value::Integer(1.into())),
        (0, Value::Bytes(b"none".to_vec())),
        (0, Value::Array(vec![text("none")])),
        (1, text("")),
        (1, Value::Integer(0.into())),
        (1, Value::Bytes(vec![0xa0])),
        (1, Value::Null),
        (2, text("authData")),
        (2, Value::Array(vec![Value::Bytes(AUTH_DATA.to_vec())])),
        (2, Value::Map(vec![])),
        (2, Value::Null),
    ];
    for (index, value) in wrong {
        let mut entries = good_entries();
        entries[index].1 = value;
        assert_refused(&object(entries));
    }
}

#[test]
fn missing_or_empty_members_are_refused() {
    for index in 0..3 {
        let mut entries = good_entries();
        entries.remove(index);
        assert_refused(&object(entries));
    }
    let mut empty = good_entries();
    empty[2].1 = Value::Bytes(Vec::new());
    assert_refused(&object(empty));
    assert_refused(&object(Vec::new()));
    // CTAP2's integer-keyed authenticatorMakeCredential response is not an attestation object.
    let ctap = vec![
        (Value::Integer(1.into()), text("none")),
        (Value::Integer(2.into()), Value::Bytes(AUTH_DATA.to_vec())),
        (Value::Integer(3.into()), Value::Map(vec![])),
    ];
    assert_refused(&object(ctap));
    // Keys differing only in case.
    let mut cased = good_entries();
    cased[0].0 = text("Fmt");
    assert_refused(&object(cased));
}

#[test]
fn duplicate_keys_are_refused() {
    for index in 0..3 {
        let mut entries = good_entries();
        entries.push(entries[index].clone());
        assert_refused(&object(entries));
    }
    // A second fmt with another value: a parser differential if either were taken.
    let mut entries = good_entries();
    entries.push((text("fmt"), text("packed")));
    assert_refused(&object(entries));
    // Duplicates among unknown keys too.
    let mut entries = good_entries();
    entries.push((text("x"), Value::Null));
    entries.push((text("x"), Value::Null));
    assert_refused(&object(entries));
}

#[test]
fn trailing_bytes_and_truncation_are_refused() {
    let good = object(good_entries());
    for extra in [&[0x00][..], &[0xa0], &good] {
        let mut longer = good.clone();
        longer.extend_from_slice(extra);
        assert_refused(&longer);
    }
    for cut in [1, good.len() / 2, good.len() - 1] {
        assert_refused(&good[..cut]);
    }
}

#[test]
fn hostile_cbor_is_refused_quickly() {
    // Nesting past the depth limit inside attStmt, and bare nesting.
    for depth in [20, 100_000] {
        let mut deep = Value::Null;
        for _ in 0..depth.min(40) {
            deep = Value::Array(vec![deep]);
        }
        let mut entries = good_entries();
        entries[1].1 = Value::Map(vec![(text("x5c"), deep)]);
        assert_refused(&object(entries));
        let mut bare = vec![0x81; depth];
        bare.push(0x00);
        assert_refused(&bare);
    }
    // authData declaring 2^32 bytes; a map declaring 2^64-1 entries; an indefinite-length map
    // that never ends.
    let mut huge = vec![0xa3, 0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e'];
    huge.extend_from_slice(&[0x67, b'a', b't', b't', b'S', b't', b'm', b't', 0xa0]);
    huge.extend_from_slice(&[0x68, b'a', b'u', b't', b'h', b'D', b'a', b't', b'a']);
    huge.extend_from_slice(&[0x5a, 0xff, 0xff, 0xff, 0xff, 0x00]);
    assert_refused(&huge);
    assert_refused(&[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert_refused(&[0xbf, 0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e']);
}

/// Plausible attestation object members, including the wrong types.
fn member() -> impl Strategy<Value = (Value, Value)> {
    let key = prop_oneof![
        4 => prop::sample::select(vec!["fmt", "attStmt", "authData"]).prop_map(text),
        1 => "[a-zA-Z]{0,8}".prop_map(Value::Text),
        1 => (0i64..4).prop_map(|i| Value::Integer(i.into())),
    ];
    let value = prop_oneof![
        prop::sample::select(vec!["none", "packed", "fido-u2f", "tpm", "compound", ""])
            .prop_map(text),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(Value::Bytes),
        Just(Value::Map(vec![])),
        Just(Value::Array(vec![])),
        (0i64..3).prop_map(|i| Value::Integer(i.into())),
        Just(Value::Bool(true)),
        Just(Value::Null),
    ];
    (key, value)
}

/// What parse must say about a map with these members.
fn oracle(entries: &[(Value, Value)]) -> Option<(String, Value, Vec<u8>)> {
    for (i, (key, _)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(other, _)| other == key) {
            return None;
        }
    }
    let get = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v.clone())
    };
    let Value::Text(fmt) = get("fmt")? else {
        return None;
    };
    let att_stmt = get("attStmt").filter(|v| matches!(v, Value::Map(_) | Value::Array(_)))?;
    let Value::Bytes(auth_data) = get("authData")? else {
        return None;
    };
    if auth_data.is_empty() {
        return None;
    }
    Some((fmt, att_stmt, auth_data))
}

proptest! {
    #[test]
    fn parse_never_panics(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = AttestationObject::parse(&data);
    }

    #[test]
    fn parse_accepts_exactly_well_formed_maps(
        entries in prop::collection::vec(member(), 0..6)
    ) {
        let bytes = object(entries.clone());
        let parsed = AttestationObject::parse(&bytes).ok();
        let expected = oracle(&entries);
        prop_assert_eq!(
            parsed.map(|p| (p.fmt, p.att_stmt, p.auth_data)),
            expected
        );
    }

    #[test]
    fn mutations_of_a_good_object_never_panic(
        index in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut bytes = object(good_entries());
        let i = index.index(bytes.len());
        bytes[i] ^= xor;
        let _ = AttestationObject::parse(&bytes);
    }
}

// --- statements, end to end through verify_registration --------------------------------------

const RP_ID: &str = "example.org";
const ORIGIN: &str = "https://example.org";
const CHALLENGE: &[u8] = b"attestation-tests-challenge-0123";
const NOW: UnixTime = UnixTime(1_795_392_000);
const CREDENTIAL_ID: &[u8] = b"credential-id-0123456789";

/// A software authenticator's credential: an ES256 key and the registration pieces built on it.
struct Credential {
    pair: sig::EcdsaKeyPair,
    auth_data: Vec<u8>,
    client_data_json: Vec<u8>,
}

fn credential() -> Credential {
    let pair = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let point = pair.public_key().as_ref();
    let int = |i: i64| Value::Integer(i.into());
    let cose_key = cbor(&Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(-7)),
        (int(-1), int(1)),
        (int(-2), Value::Bytes(point[1..33].to_vec())),
        (int(-3), Value::Bytes(point[33..].to_vec())),
    ]));
    let rp = RelyingParty::new(RP_ID, [ORIGIN]);
    let mut auth_data = rp.id_hash().to_vec();
    auth_data.push(0x41); // UP | AT
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    auth_data.extend_from_slice(&[0; 16]);
    auth_data.extend_from_slice(&(CREDENTIAL_ID.len() as u16).to_be_bytes());
    auth_data.extend_from_slice(CREDENTIAL_ID);
    auth_data.extend_from_slice(&cose_key);
    let client_data_json = format!(
        r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
        base64url_encode(CHALLENGE)
    )
    .into_bytes();
    Credential {
        pair,
        auth_data,
        client_data_json,
    }
}

impl Credential {
    /// authenticatorData || SHA-256(clientDataJSON), what packed statements sign.
    fn signed_data(&self) -> Vec<u8> {
        let mut data = self.auth_data.clone();
        data.extend_from_slice(&crate::relying_party::sha256(&self.client_data_json));
        data
    }

    fn self_signature(&self) -> Vec<u8> {
        sign(&self.pair, &self.signed_data())
    }

    fn register(
        &self,
        fmt: &str,
        att_stmt: Value,
        policy: &AttestationPolicy,
    ) -> Result<VerifiedRegistration, VerifyError> {
        let attestation_object = object(vec![
            (text("fmt"), text(fmt)),
            (text("attStmt"), att_stmt),
            (text("authData"), Value::Bytes(self.auth_data.clone())),
        ]);
        let json = json!({
            "id": base64url_encode(CREDENTIAL_ID),
            "rawId": base64url_encode(CREDENTIAL_ID),
            "type": "public-key",
            "response": {
                "clientDataJSON": base64url_encode(&self.client_data_json),
                "attestationObject": base64url_encode(&attestation_object),
            },
            "clientExtensionResults": {},
        });
        let response = RegistrationResponseJson::from_json(json.to_string().as_bytes()).unwrap();
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let expected = ExpectedRegistration::new(&rp, CHALLENGE, policy);
        verify_registration(&response, &expected, NOW)
    }
}

fn sign(pair: &sig::EcdsaKeyPair, data: &[u8]) -> Vec<u8> {
    pair.sign(&SystemRandom::new(), data)
        .unwrap()
        .as_ref()
        .to_vec()
}

fn stmt(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

fn alg(i: i64) -> Value {
    Value::Integer(i.into())
}

#[track_caller]
fn assert_code(result: Result<VerifiedRegistration, VerifyError>, code: &str) {
    match result {
        Err(e) => assert_eq!(e.code(), code, "{e}"),
        Ok(v) => panic!("expected {code}, registration verified: {v:?}"),
    }
}

#[test]
fn none_attestation_positive_control_and_shape() {
    let c = credential();
    let policy = AttestationPolicy::default();
    let ok = c.register("none", Value::Map(vec![]), &policy).unwrap();
    assert_eq!(ok.attestation.format, AttestationFormat::None);
    assert_eq!(ok.attestation.attestation_type, AttestationType::None);
    assert_eq!(ok.credential_id, CREDENTIAL_ID);

    // A non-empty statement, or a statement that is not a map.
    assert_code(
        c.register("none", stmt(vec![("sig", Value::Bytes(vec![1]))]), &policy),
        "attestation_invalid",
    );
    assert_code(
        c.register("none", Value::Array(vec![]), &policy),
        "attestation_invalid",
    );
    // None refused by policy.
    let strict = AttestationPolicy {
        allow_none: false,
        ..AttestationPolicy::default()
    };
    assert_code(
        c.register("none", Value::Map(vec![]), &strict),
        "attestation_untrusted",
    );
}

#[test]
fn formats_are_matched_exactly() {
    let c = credential();
    let policy = AttestationPolicy::default();
    for fmt in [
        "Packed", "NONE", "none ", " none", "", "fido_u2f", "packed\0", "x-custom",
    ] {
        assert_code(
            c.register(fmt, Value::Map(vec![]), &policy),
            "attestation_unsupported",
        );
    }
}

#[test]
fn packed_self_attestation() {
    let c = credential();
    let policy = AttestationPolicy::default();
    let signature = c.self_signature();
    let good = stmt(vec![
        ("alg", alg(-7)),
        ("sig", Value::Bytes(signature.clone())),
    ]);
    let ok = c.register("packed", good, &policy).unwrap();
    assert_eq!(
        ok.attestation.attestation_type,
        AttestationType::SelfAttestation
    );
    assert!(!ok.attestation.trusted);

    // alg is not the credential key's algorithm (Resp-3 F-16), or missing, or not an integer.
    for bad_alg in [alg(-257), alg(-8), alg(-35), text("ES256")] {
        assert_code(
            c.register(
                "packed",
                stmt(vec![
                    ("alg", bad_alg),
                    ("sig", Value::Bytes(signature.clone())),
                ]),
                &policy,
            ),
            "attestation_invalid",
        );
    }
    assert_code(
        c.register(
            "packed",
            stmt(vec![("sig", Value::Bytes(signature.clone()))]),
            &policy,
        ),
        "attestation_invalid",
    );
    // sig missing, empty, of the wrong type, made by another key, or psychic.
    let other = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    for bad_sig in [
        None,
        Some(Value::Bytes(Vec::new())),
        Some(text("sig")),
        Some(Value::Bytes(sign(&other, &c.signed_data()))),
        Some(Value::Bytes(vec![
            0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
        ])),
    ] {
        let mut entries = vec![("alg", alg(-7))];
        if let Some(bad_sig) = bad_sig {
            entries.push(("sig", bad_sig));
        }
        assert_code(
            c.register("packed", stmt(entries), &policy),
            "attestation_invalid",
        );
    }
    // Self attestation refused by policy.
    let strict = AttestationPolicy {
        allow_self: false,
        ..AttestationPolicy::default()
    };
    assert_code(
        c.register(
            "packed",
            stmt(vec![("alg", alg(-7)), ("sig", Value::Bytes(signature))]),
            &strict,
        ),
        "attestation_untrusted",
    );
}

/// An attestation certificate (subject per L3 §8.2.1) and its key as an aws-lc-rs signer.
struct AttestationCert {
    der: Vec<u8>,
    params: CertificateParams,
    key: rcgen::KeyPair,
    signer: sig::EcdsaKeyPair,
}

fn attestation_params(is_ca: IsCa) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "passkeyd tests");
    dn.push(DnType::OrganizationalUnitName, "Authenticator Attestation");
    dn.push(DnType::CommonName, "Test Authenticator");
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    params.is_ca = is_ca;
    params
}

fn attestation_cert(
    params: CertificateParams,
    issuer: Option<&AttestationCert>,
) -> AttestationCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let der = match issuer {
        Some(issuer) => {
            let issuer = Issuer::from_params(&issuer.params, &issuer.key);
            params.signed_by(&key, &issuer).unwrap()
        }
        None => params.self_signed(&key).unwrap(),
    }
    .der()
    .to_vec();
    let signer =
        sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der())
            .unwrap();
    AttestationCert {
        der,
        params,
        key,
        signer,
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
}

fn packed_x5c(c: &Credential, signer: &AttestationCert, chain: &[&AttestationCert]) -> Value {
    stmt(vec![
        ("alg", alg(-7)),
        ("sig", Value::Bytes(sign(&signer.signer, &c.signed_data()))),
        (
            "x5c",
            Value::Array(chain.iter().map(|c| Value::Bytes(c.der.clone())).collect()),
        ),
    ])
}

#[test]
fn packed_full_attestation_and_trust() {
    let c = credential();
    let root = attestation_cert(ca_params("Vendor Root"), None);
    let leaf = attestation_cert(attestation_params(IsCa::ExplicitNoCa), Some(&root));
    let mut anchors = TrustAnchors::new();
    anchors.add_der(&root.der).unwrap();
    let trusted = AttestationPolicy {
        trust_anchors: anchors.clone(),
        require_trusted_chain: true,
        ..AttestationPolicy::default()
    };

    // Positive control: a chain to the configured root.
    let ok = c
        .register("packed", packed_x5c(&c, &leaf, &[&leaf]), &trusted)
        .unwrap();
    assert_eq!(ok.attestation.attestation_type, AttestationType::Basic);
    assert!(ok.attestation.trusted);
    assert_eq!(ok.attestation.trust_path, vec![leaf.der.clone()]);

    // Without anchors the same chain verifies but is not trusted.
    let open = AttestationPolicy::default();
    let ok = c
        .register("packed", packed_x5c(&c, &leaf, &[&leaf, &root]), &open)
        .unwrap();
    assert!(!ok.attestation.trusted);

    // Case 25: x5c = [leaf, attacker's self-signed root], and x5c = [self-signed leaf].
    let attacker_root = attestation_cert(ca_params("Vendor Root"), None);
    let attacker_leaf =
        attestation_cert(attestation_params(IsCa::ExplicitNoCa), Some(&attacker_root));
    assert_code(
        c.register(
            "packed",
            packed_x5c(&c, &attacker_leaf, &[&attacker_leaf, &attacker_root]),
            &trusted,
        ),
        "attestation_untrusted",
    );
    let self_signed = attestation_cert(attestation_params(IsCa::ExplicitNoCa), None);
    assert_code(
        c.register(
            "packed",
            packed_x5c(&c, &self_signed, &[&self_signed]),
            &trusted,
        ),
        "attestation_untrusted",
    );
    let ok = c
        .register(
            "packed",
            packed_x5c(&c, &self_signed, &[&self_signed]),
            &open,
        )
        .unwrap();
    assert!(
        !ok.attestation.trusted,
        "a self-signed x5c must never be trusted"
    );

    // Policy requires a trusted chain but has no anchors: fail closed.
    let no_anchors = AttestationPolicy {
        require_trusted_chain: true,
        ..AttestationPolicy::default()
    };
    assert_code(
        c.register("packed", packed_x5c(&c, &leaf, &[&leaf]), &no_anchors),
        "attestation_untrusted",
    );

    // The statement signed with the credential key instead of the attestation key (Resp-5 F-14).
    let wrong_key = stmt(vec![
        ("alg", alg(-7)),
        ("sig", Value::Bytes(c.self_signature())),
        ("x5c", Value::Array(vec![Value::Bytes(leaf.der.clone())])),
    ]);
    assert_code(
        c.register("packed", wrong_key, &trusted),
        "attestation_invalid",
    );

    // A leaf that is a CA, x5c empty, x5c not an array, a certificate that is not DER.
    let ca_leaf = attestation_cert(
        attestation_params(IsCa::Ca(rcgen::BasicConstraints::Unconstrained)),
        Some(&root),
    );
    assert_code(
        c.register("packed", packed_x5c(&c, &ca_leaf, &[&ca_leaf]), &trusted),
        "attestation_invalid",
    );
    for x5c in [
        Value::Array(vec![]),
        Value::Bytes(leaf.der.clone()),
        Value::Array(vec![Value::Bytes(b"not a certificate".to_vec())]),
        Value::Array(vec![text("MIIB")]),
    ] {
        let statement = stmt(vec![
            ("alg", alg(-7)),
            ("sig", Value::Bytes(sign(&leaf.signer, &c.signed_data()))),
            ("x5c", x5c),
        ]);
        assert_code(
            c.register("packed", statement, &trusted),
            "attestation_invalid",
        );
    }
}
