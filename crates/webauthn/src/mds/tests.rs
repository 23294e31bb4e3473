use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use serde_json::{json, Value};

use super::blob::MAX_SIGNATURE_LEN;
use super::statement::{bundled_names, parse_aaguid, BUNDLED_AAGUIDS};
use super::*;
use crate::authenticator_data::Aaguid;
use crate::error::TrustError;
use crate::trust::{TrustAnchors, UnixTime};

/// 2025-06-15T15:06:40Z.
const NOW: UnixTime = UnixTime(1_750_000_000);

#[derive(Clone, Copy)]
enum Alg {
    Es256,
    Rs256,
}

/// A BLOB signing PKI: root -> intermediate -> leaf, all valid 2020-2040.
struct Pki {
    root: Vec<u8>,
    intermediate: Vec<u8>,
    leaf: Vec<u8>,
    leaf_key: KeyPair,
    alg: Alg,
}

fn params(cn: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2040, 1, 1);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    p
}

fn p256() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap()
}

/// A self-signed CA certificate and its issuer.
fn root(cn: &str) -> (Vec<u8>, Issuer<'static, KeyPair>) {
    let key = p256();
    let p = params(cn, true);
    let cert = p.self_signed(&key).unwrap().der().to_vec();
    (cert, Issuer::new(p, key))
}

fn pki(alg: Alg) -> Pki {
    pki_with_leaf(alg, params("FIDO MDS3 BLOB Signer (test)", false))
}

fn pki_with_leaf(alg: Alg, leaf_params: CertificateParams) -> Pki {
    let (root_der, root_issuer) = root("MDS Test Root");
    let inter_key = p256();
    let inter_params = params("MDS Test Intermediate", true);
    let intermediate = inter_params
        .signed_by(&inter_key, &root_issuer)
        .unwrap()
        .der()
        .to_vec();
    let inter_issuer = Issuer::new(inter_params, inter_key);
    let leaf_key = match alg {
        Alg::Es256 => p256(),
        Alg::Rs256 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap(),
    };
    let leaf = leaf_params
        .signed_by(&leaf_key, &inter_issuer)
        .unwrap()
        .der()
        .to_vec();
    Pki {
        root: root_der,
        intermediate,
        leaf,
        leaf_key,
        alg,
    }
}

impl Pki {
    fn roots(&self) -> TrustAnchors {
        let mut roots = TrustAnchors::new();
        roots.add_der(&self.root).unwrap();
        roots
    }

    fn x5c(&self) -> Value {
        json!([
            STANDARD.encode(&self.leaf),
            STANDARD.encode(&self.intermediate)
        ])
    }

    fn header(&self) -> Value {
        let alg = match self.alg {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        };
        json!({"alg": alg, "typ": "JWT", "x5c": self.x5c()})
    }

    /// A JWT of `payload` signed by the leaf, with the default header.
    fn sign(&self, payload: &Value) -> String {
        self.sign_raw(&self.header(), payload.to_string().as_bytes())
    }

    fn sign_raw(&self, header: &Value, payload: &[u8]) -> String {
        make_jwt(header, payload, self.alg, &self.leaf_key)
    }
}

/// `header.payload.signature`, signed with `key`.
fn make_jwt(header: &Value, payload: &[u8], alg: Alg, key: &KeyPair) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = sign_with(alg, key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn sign_with(alg: Alg, key: &KeyPair, message: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match alg {
        Alg::Es256 => {
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key.serialized_der())
                    .unwrap();
            pair.sign(&rng, message).unwrap().as_ref().to_vec()
        }
        Alg::Rs256 => {
            let pair = RsaKeyPair::from_pkcs8(key.serialized_der()).unwrap();
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                message,
                &mut signature,
            )
            .unwrap();
            signature
        }
    }
}

const YUBIKEY: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
const ICON: &str = "data:image/png;base64,iVBORw0KGgo=";

fn fido2_entry(aaguid: &str, description: &str, roots: &[&[u8]], statuses: &[&str]) -> Value {
    json!({
        "aaguid": aaguid,
        "metadataStatement": {
            "description": description,
            "icon": ICON,
            "attestationRootCertificates":
                roots.iter().map(|r| STANDARD.encode(r)).collect::<Vec<_>>(),
            "schema": 3,
            "upv": [{"major": 1, "minor": 1}],
        },
        "statusReports": statuses
            .iter()
            .map(|s| json!({"status": s, "effectiveDate": "2024-01-01"}))
            .collect::<Vec<_>>(),
        "timeOfLastStatusChange": "2024-01-01",
    })
}

fn u2f_entry(key_ids: &[&str], description: &str) -> Value {
    json!({
        "attestationCertificateKeyIdentifiers": key_ids,
        "metadataStatement": {"description": description, "attestationRootCertificates": []},
        "statusReports": [{"status": "FIDO_CERTIFIED", "effectiveDate": "2019-05-01"}],
        "timeOfLastStatusChange": "2019-05-01",
    })
}

fn payload(no: u64, next_update: &str, entries: Vec<Value>) -> Value {
    json!({
        "legalHeader": "Retrieval and use of this BLOB indicates acceptance of the test terms.",
        "no": no,
        "nextUpdate": next_update,
        "entries": entries,
    })
}

fn simple_payload(no: u64) -> Value {
    payload(
        no,
        "2025-07-01",
        vec![fido2_entry(YUBIKEY, "YubiKey 5", &[], &["FIDO_CERTIFIED"])],
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// --- Verification ---------------------------------------------------------------------------

#[test]
fn good_blob_verifies_and_indexes_entries() {
    let pki = pki(Alg::Es256);
    let (attestation_root, _) = root("Vendor Attestation Root");
    // A U2F attestation certificate: its key identifier is SHA-1 of the raw public key.
    let u2f_key = p256();
    let u2f_cert = params("U2F Attestation", false)
        .self_signed(&u2f_key)
        .unwrap()
        .der()
        .to_vec();
    let u2f_key_id =
        hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, u2f_key.public_key_raw()).as_ref());

    let jwt = pki.sign(&payload(
        42,
        "2025-07-01",
        vec![
            fido2_entry(YUBIKEY, "YubiKey 5 Series", &[&attestation_root], &["FIDO_CERTIFIED_L1"]),
            u2f_entry(&[&u2f_key_id], "Old U2F Key"),
            json!({"aaid": "4e4e#4005", "statusReports": [], "metadataStatement": {"description": "UAF"}}),
        ],
    ));
    let blob = MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap();

    assert_eq!(blob.no(), 42);
    assert_eq!(blob.next_update().to_string(), "2025-07-01");
    assert!(!blob.is_expired(NOW));
    assert!(blob.legal_header().unwrap().starts_with("Retrieval"));
    assert_eq!(blob.entries().len(), 3);
    assert_eq!(blob.skipped_entries(), 0);
    assert_eq!(blob.entries()[2].aaid(), Some("4e4e#4005"));

    let aaguid = parse_aaguid(YUBIKEY).unwrap();
    let entry = blob.entry_for_aaguid(&aaguid).unwrap();
    assert_eq!(entry.aaguid(), Some(aaguid));
    assert_eq!(entry.description(), Some("YubiKey 5 Series"));
    assert_eq!(entry.icon(), Some(ICON));
    assert_eq!(entry.attestation_root_certificates().len(), 1);
    assert_eq!(entry.unusable_root_certificates(), 0);
    assert_eq!(
        entry.time_of_last_status_change().unwrap().to_string(),
        "2024-01-01"
    );
    let latest = entry.latest_status_report().unwrap();
    assert_eq!(latest.status, AuthenticatorStatus::FidoCertifiedL1);
    assert!(!entry.is_revoked());

    assert_eq!(subject_key_identifier(&u2f_cert).unwrap(), u2f_key_id);
    let u2f = blob.entry_for_certificate(&u2f_cert).unwrap();
    assert_eq!(u2f.description(), Some("Old U2F Key"));
    assert_eq!(u2f.aaguid(), None);
    assert_eq!(
        blob.entry_for_key_identifier(&u2f_key_id.to_ascii_uppercase())
            .unwrap()
            .description(),
        Some("Old U2F Key")
    );

    // Lookups that must miss.
    assert!(blob.entry_for_aaguid(&Aaguid([7; 16])).is_none());
    assert!(blob.entry_for_aaguid(&Aaguid::default()).is_none());
    assert!(blob.entry_for_certificate(&pki.leaf).is_none());
    assert!(blob.entry_for_certificate(b"not a certificate").is_none());
    assert!(format!("{blob:?}").contains("no: 42"));
}

#[test]
fn rs256_blob_verifies() {
    let pki = pki(Alg::Rs256);
    let blob = MetadataBlob::verify(&pki.sign(&simple_payload(7)), &pki.roots(), NOW).unwrap();
    assert_eq!(blob.no(), 7);
    assert_eq!(blob.entries().len(), 1);
}

#[test]
fn chain_may_include_the_root_and_surrounding_whitespace_is_ignored() {
    let pki = pki(Alg::Es256);
    let mut header = pki.header();
    header["x5c"]
        .as_array_mut()
        .unwrap()
        .push(json!(STANDARD.encode(&pki.root)));
    let jwt = pki.sign_raw(&header, simple_payload(1).to_string().as_bytes());
    assert!(MetadataBlob::verify(&format!("\n{jwt}\r\n"), &pki.roots(), NOW).is_ok());
}

#[test]
fn refuses_a_bad_signature() {
    let pki = pki(Alg::Es256);
    let jwt = pki.sign(&simple_payload(1));
    let roots = pki.roots();

    // A changed payload.
    let (head, rest) = jwt.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other = URL_SAFE_NO_PAD.encode(simple_payload(2).to_string());
    let forged = format!("{head}.{other}.{signature}");
    assert_eq!(
        MetadataBlob::verify(&forged, &roots, NOW).unwrap_err(),
        MdsError::Signature
    );

    // A changed signature.
    let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
    sig[10] ^= 1;
    let forged = format!(
        "{}.{}",
        &jwt[..jwt.rfind('.').unwrap()],
        URL_SAFE_NO_PAD.encode(&sig)
    );
    assert_eq!(
        MetadataBlob::verify(&forged, &roots, NOW).unwrap_err(),
        MdsError::Signature
    );

    // A signature of the wrong length for ES256 (a DER signature instead of r || s).
    let short = format!(
        "{}.{}",
        &jwt[..jwt.rfind('.').unwrap()],
        URL_SAFE_NO_PAD.encode(&sig[..63])
    );
    assert_eq!(
        MetadataBlob::verify(&short, &roots, NOW).unwrap_err(),
        MdsError::Signature
    );

    // Signed by a key other than the leaf's, with the genuine chain in x5c.
    let payload = simple_payload(1).to_string();
    let jwt = make_jwt(&pki.header(), payload.as_bytes(), Alg::Es256, &p256());
    assert_eq!(
        MetadataBlob::verify(&jwt, &roots, NOW).unwrap_err(),
        MdsError::Signature
    );
}

#[test]
fn refuses_a_key_that_does_not_fit_alg() {
    // An RSA leaf key in a BLOB that claims ES256, and the reverse.
    let rsa = pki(Alg::Rs256);
    let mut header = rsa.header();
    header["alg"] = json!("ES256");
    let jwt = rsa.sign_raw(&header, simple_payload(1).to_string().as_bytes());
    assert_eq!(
        MetadataBlob::verify(&jwt, &rsa.roots(), NOW).unwrap_err(),
        MdsError::Signature
    );

    let ec = pki(Alg::Es256);
    let mut header = ec.header();
    header["alg"] = json!("RS256");
    let jwt = ec.sign_raw(&header, simple_payload(1).to_string().as_bytes());
    assert_eq!(
        MetadataBlob::verify(&jwt, &ec.roots(), NOW).unwrap_err(),
        MdsError::Signature
    );
}

#[test]
fn refuses_a_broken_chain() {
    let pki = pki(Alg::Es256);
    let payload = simple_payload(1).to_string();

    // The intermediate is left out: the leaf's issuer is not the root.
    let mut header = pki.header();
    header["x5c"] = json!([STANDARD.encode(&pki.leaf)]);
    let jwt = pki.sign_raw(&header, payload.as_bytes());
    assert_eq!(
        MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::NoAnchor)
    );

    // An intermediate with the right name but another key.
    let other = self::pki(Alg::Es256);
    header["x5c"] = json!([
        STANDARD.encode(&pki.leaf),
        STANDARD.encode(&other.intermediate)
    ]);
    let jwt = pki.sign_raw(&header, payload.as_bytes());
    assert_eq!(
        MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::Broken(0))
    );

    // A certificate that does not parse.
    header["x5c"] = json!([STANDARD.encode(b"junk")]);
    let jwt = pki.sign_raw(&header, payload.as_bytes());
    assert_eq!(
        MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::Unparsable(0))
    );

    // An empty chain.
    header["x5c"] = json!([]);
    let jwt = pki.sign_raw(&header, payload.as_bytes());
    assert_eq!(
        MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::Length)
    );
}

#[test]
fn refuses_an_untrusted_root() {
    let pki = pki(Alg::Es256);
    let jwt = pki.sign(&simple_payload(1));

    let (unrelated, _) = root("Some Other Root");
    let mut roots = TrustAnchors::new();
    roots.add_der(&unrelated).unwrap();
    assert_eq!(
        MetadataBlob::verify(&jwt, &roots, NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::NoAnchor)
    );

    // No roots configured: refused, never accepted as "unanchored".
    assert_eq!(
        MetadataBlob::verify(&jwt, &TrustAnchors::new(), NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::NoAnchorsConfigured)
    );

    // A self-signed signer that is not a configured root.
    let key = p256();
    let cert = params("Self-signed BLOB signer", false)
        .self_signed(&key)
        .unwrap()
        .der()
        .to_vec();
    let header = json!({"alg": "ES256", "x5c": [STANDARD.encode(&cert)]});
    let jwt = make_jwt(
        &header,
        simple_payload(1).to_string().as_bytes(),
        Alg::Es256,
        &key,
    );
    assert_eq!(
        MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::NoAnchor)
    );
}

#[test]
fn refuses_a_signing_certificate_outside_its_validity() {
    let mut leaf = params("Expired BLOB signer", false);
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2024, 1, 1);
    let pki = pki_with_leaf(Alg::Es256, leaf);
    let jwt = pki.sign(&simple_payload(1));
    assert_eq!(
        MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap_err(),
        MdsError::Untrusted(TrustError::Validity(0))
    );
    // The same BLOB verified at a time the certificate was valid (and nextUpdate not passed).
    let jwt = pki.sign(&payload(1, "2023-07-01", vec![]));
    assert!(MetadataBlob::verify(&jwt, &pki.roots(), UnixTime(1_687_000_000)).is_ok());
}

#[test]
fn refuses_an_expired_next_update() {
    let pki = pki(Alg::Es256);
    let roots = pki.roots();
    let expired = pki.sign(&payload(1, "2025-06-14", vec![]));
    let next_update = MdsDate::parse("2025-06-14").unwrap();
    assert_eq!(
        MetadataBlob::verify(&expired, &roots, NOW).unwrap_err(),
        MdsError::Expired { next_update }
    );

    // nextUpdate is today: accepted through the end of the UTC day.
    let today = pki.sign(&payload(1, "2025-06-15", vec![]));
    let blob = MetadataBlob::verify(&today, &roots, NOW).unwrap();
    let midnight = MdsDate::parse("2025-06-16").unwrap().start();
    assert!(!blob.is_expired(UnixTime(midnight.0 - 1)));
    assert!(blob.is_expired(midnight));
    assert!(MetadataBlob::verify(&today, &roots, UnixTime(midnight.0 - 1)).is_ok());
    assert_eq!(
        MetadataBlob::verify(&today, &roots, midnight)
            .unwrap_err()
            .code(),
        "mds_expired"
    );
}

#[test]
fn refuses_other_algorithms() {
    let pki = pki(Alg::Es256);
    for alg in [
        "none", "HS256", "ES384", "RS512", "PS256", "EdDSA", "es256", "",
    ] {
        let mut header = pki.header();
        header["alg"] = json!(alg);
        let jwt = pki.sign_raw(&header, simple_payload(1).to_string().as_bytes());
        assert_eq!(
            MetadataBlob::verify(&jwt, &pki.roots(), NOW).unwrap_err(),
            MdsError::Algorithm(alg.to_owned()),
            "{alg}"
        );
    }
    // An unsigned JWT ("alg": "none", empty signature) is malformed before its alg is read.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(simple_payload(1).to_string())
    );
    assert_eq!(
        MetadataBlob::verify(&none, &pki.roots(), NOW).unwrap_err(),
        MdsError::Malformed(JwtDefect::Parts)
    );
}

#[test]
fn refuses_malformed_jwts() {
    use JwtDefect::*;
    let pki = pki(Alg::Es256);
    let roots = pki.roots();
    let good = pki.sign(&simple_payload(1));
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let with_header = |h: &str| format!("{}.{}.{}", b64(h), parts[1], parts[2]);
    let x5c = pki.x5c().to_string();

    let cases: Vec<(String, JwtDefect)> = vec![
        (String::new(), Parts),
        ("abc".into(), Parts),
        (format!("{}.{}", parts[0], parts[1]), Parts),
        (format!("{good}.extra"), Parts),
        (format!("{}..{}", parts[0], parts[2]), Parts),
        (format!(".{}.{}", parts[1], parts[2]), Parts),
        // Standard-alphabet and padded base64 are not base64url.
        (format!("{}+.{}.{}", parts[0], parts[1], parts[2]), Base64),
        (format!("{}=.{}.{}", parts[0], parts[1], parts[2]), Base64),
        (format!("{}.{}.{}!", parts[0], parts[1], parts[2]), Base64),
        (with_header("not json"), Header),
        (with_header("[1, 2]"), Header),
        (with_header(&format!(r#"{{"x5c": {x5c}}}"#)), Header),
        (
            with_header(&format!(r#"{{"alg": 256, "x5c": {x5c}}}"#)),
            Header,
        ),
        (
            with_header(&format!(
                r#"{{"alg": "ES256", "alg": "ES256", "x5c": {x5c}}}"#
            )),
            Header,
        ),
        (with_header(r#"{"alg": "ES256"}"#), X5c),
        (with_header(r#"{"alg": "ES256", "x5c": "MIIB"}"#), Header),
        (
            with_header(r#"{"alg": "ES256", "x5c": ["not base64!"]}"#),
            X5c,
        ),
        (
            with_header(&format!(
                r#"{{"alg": "ES256", "x5c": {x5c}, "crit": ["exp"]}}"#
            )),
            Critical,
        ),
        (
            format!(
                "{}.{}.{}",
                "A".repeat(MAX_HEADER_LEN + 1),
                parts[1],
                parts[2]
            ),
            TooLarge,
        ),
        (
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                "A".repeat(MAX_SIGNATURE_LEN + 1)
            ),
            TooLarge,
        ),
    ];
    for (jwt, defect) in cases {
        let shown = jwt.chars().take(80).collect::<String>();
        assert_eq!(
            MetadataBlob::verify(&jwt, &roots, NOW).unwrap_err(),
            MdsError::Malformed(defect),
            "{shown}"
        );
    }
}

#[test]
fn refuses_an_oversized_blob_before_reading_it() {
    let huge = "A".repeat(MAX_BLOB_LEN + 1);
    assert_eq!(
        MetadataBlob::verify(&huge, &TrustAnchors::new(), NOW).unwrap_err(),
        MdsError::Malformed(JwtDefect::TooLarge)
    );
}

#[test]
fn refuses_an_invalid_signed_payload() {
    let pki = pki(Alg::Es256);
    let roots = pki.roots();
    let header = pki.header();

    for body in [
        &b"not json"[..],
        br#"{"no": 1, "nextUpdate": "2025-07-01"}"#,
        br#"{"no": -1, "nextUpdate": "2025-07-01", "entries": []}"#,
        br#"{"no": 1, "no": 2, "nextUpdate": "2025-07-01", "entries": []}"#,
    ] {
        let jwt = pki.sign_raw(&header, body);
        let err = MetadataBlob::verify(&jwt, &roots, NOW).unwrap_err();
        assert!(
            matches!(err, MdsError::Payload(PayloadDefect::Json { .. })),
            "{err:?}"
        );
        assert_eq!(err.code(), "mds_payload_invalid");
    }
    for next_update in [
        "2025-7-01",
        "01.07.2025",
        "2025-02-30",
        "2025-07-01T00:00:00Z",
        "",
    ] {
        let jwt = pki.sign(&payload(1, next_update, vec![]));
        assert_eq!(
            MetadataBlob::verify(&jwt, &roots, NOW).unwrap_err(),
            MdsError::Payload(PayloadDefect::NextUpdate),
            "{next_update}"
        );
    }
}

// --- Entries ---------------------------------------------------------------------------------

#[test]
fn revocation_statuses() {
    let pki = pki(Alg::Es256);
    let revoking = [
        "REVOKED",
        "ATTESTATION_KEY_COMPROMISE",
        "USER_VERIFICATION_BYPASS",
        "USER_KEY_REMOTE_COMPROMISE",
        "USER_KEY_PHYSICAL_COMPROMISE",
    ];
    let benign = [
        "NOT_FIDO_CERTIFIED",
        "FIDO_CERTIFIED",
        "UPDATE_AVAILABLE",
        "SELF_ASSERTION_SUBMITTED",
        "FIDO_CERTIFIED_L1",
        "FIDO_CERTIFIED_L1plus",
        "FIDO_CERTIFIED_L2",
        "FIDO_CERTIFIED_L2plus",
        "FIDO_CERTIFIED_L3",
        "FIDO_CERTIFIED_L3plus",
        "FIDO_CERTIFIED_L4",
    ];
    let mut entries = Vec::new();
    let aaguid = |i: usize| format!("00000000-0000-0000-0000-{i:012}");
    for (i, status) in revoking.iter().chain(&benign).enumerate() {
        entries.push(fido2_entry(
            &aaguid(i + 1),
            status,
            &[],
            &["FIDO_CERTIFIED", status],
        ));
    }
    let blob = MetadataBlob::verify(
        &pki.sign(&payload(1, "2025-07-01", entries)),
        &pki.roots(),
        NOW,
    )
    .unwrap();
    for (i, status) in revoking.iter().chain(&benign).enumerate() {
        let entry = blob
            .entry_for_aaguid(&parse_aaguid(&aaguid(i + 1)).unwrap())
            .unwrap();
        assert_eq!(entry.is_revoked(), revoking.contains(status), "{status}");
        let latest = entry.latest_status_report().unwrap();
        assert_eq!(latest.status.as_str(), *status);
        assert_eq!(latest.status.is_revocation(), revoking.contains(status));
    }
    let unknown = blob
        .entry_for_aaguid(&parse_aaguid(&aaguid(16)).unwrap())
        .unwrap();
    assert_eq!(
        unknown.latest_status_report().unwrap().status,
        AuthenticatorStatus::Other("FIDO_CERTIFIED_L4".into())
    );
}

#[test]
fn latest_status_report_and_revocation_history() {
    let pki = pki(Alg::Es256);
    let entry = json!({
        "aaguid": YUBIKEY,
        "statusReports": [
            {"status": "ATTESTATION_KEY_COMPROMISE", "effectiveDate": "2022-03-01",
             "certificate": "MIIB", "url": "https://example.com/advisory"},
            {"status": "FIDO_CERTIFIED_L2", "effectiveDate": "2023-01-01", "authenticatorVersion": 5},
            {"status": "UPDATE_AVAILABLE", "effectiveDate": "2021-01-01"},
            {"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2023-01-01"},
            {"status": "NOT_FIDO_CERTIFIED"},
        ],
    });
    let blob = MetadataBlob::verify(
        &pki.sign(&payload(1, "2025-07-01", vec![entry])),
        &pki.roots(),
        NOW,
    )
    .unwrap();
    let entry = blob
        .entry_for_aaguid(&parse_aaguid(YUBIKEY).unwrap())
        .unwrap();
    assert_eq!(entry.status_reports().len(), 5);
    // Latest date wins; of two reports on that date, the one listed last.
    let latest = entry.latest_status_report().unwrap();
    assert_eq!(latest.status, AuthenticatorStatus::FidoCertifiedL1);
    // The compromise is still on record, so the model stays revoked.
    assert!(entry.is_revoked());
    let compromise = &entry.status_reports()[0];
    assert_eq!(compromise.certificate.as_deref(), Some("MIIB"));
    assert_eq!(
        compromise.url.as_deref(),
        Some("https://example.com/advisory")
    );
    assert_eq!(entry.status_reports()[1].authenticator_version, Some(5));
    assert_eq!(entry.description(), None);
    assert!(entry.attestation_root_certificates().is_empty());
}

#[test]
fn nonconforming_entries_are_skipped_and_counted() {
    let pki = pki(Alg::Es256);
    let good = fido2_entry(YUBIKEY, "Good", &[], &["FIDO_CERTIFIED"]);
    let entries = vec![
        json!("not an object"),
        json!({"aaguid": "00000000-0000-0000-0000-000000000001"}),
        json!({"aaguid": "not-a-uuid", "statusReports": []}),
        json!({"aaguid": "0000000000000000000000000000000000001", "statusReports": []}),
        json!({"aaguid": "00000000-0000-0000-0000-000000000002",
               "statusReports": [{"status": "REVOKED", "effectiveDate": "yesterday"}]}),
        json!({"aaguid": "00000000-0000-0000-0000-000000000003", "statusReports": [],
               "timeOfLastStatusChange": "2024-13-01"}),
        // A repeated member (json! would merge it, so it is spliced into the text below).
        json!("DUPLICATE"),
        good,
    ];
    let text = payload(1, "2025-07-01", entries).to_string().replace(
        r#""DUPLICATE""#,
        r#"{"aaguid": "00000000-0000-0000-0000-000000000004", "statusReports": [],
            "statusReports": []}"#,
    );
    let blob = MetadataBlob::verify(
        &pki.sign_raw(&pki.header(), text.as_bytes()),
        &pki.roots(),
        NOW,
    )
    .unwrap();
    assert_eq!(blob.skipped_entries(), 7);
    assert_eq!(blob.entries().len(), 1);
    assert_eq!(
        blob.entry_for_aaguid(&parse_aaguid(YUBIKEY).unwrap())
            .unwrap()
            .description(),
        Some("Good")
    );
}

#[test]
fn duplicate_identifiers_keep_the_first_entry() {
    let pki = pki(Alg::Es256);
    let key_id = "00112233445566778899aabbccddeeff00112233";
    let entries = vec![
        fido2_entry(YUBIKEY, "First", &[], &["FIDO_CERTIFIED"]),
        fido2_entry(&YUBIKEY.to_ascii_uppercase(), "Second", &[], &["REVOKED"]),
        u2f_entry(&[key_id], "First U2F"),
        u2f_entry(&[&key_id.to_ascii_uppercase()], "Second U2F"),
    ];
    let blob = MetadataBlob::verify(
        &pki.sign(&payload(1, "2025-07-01", entries)),
        &pki.roots(),
        NOW,
    )
    .unwrap();
    assert_eq!(blob.entries().len(), 4);
    let aaguid = parse_aaguid(YUBIKEY).unwrap();
    assert_eq!(
        blob.entry_for_aaguid(&aaguid).unwrap().description(),
        Some("First")
    );
    assert_eq!(
        blob.entry_for_key_identifier(key_id).unwrap().description(),
        Some("First U2F")
    );
}

#[test]
fn icons_other_than_data_urls_and_bad_roots_are_dropped() {
    let pki = pki(Alg::Es256);
    let (good_root, _) = root("Vendor Root");
    let entry = json!({
        "aaguid": YUBIKEY,
        "metadataStatement": {
            "description": "",
            "icon": "https://tracker.example/icon.png",
            "attestationRootCertificates": [
                STANDARD.encode(&good_root),
                // Padding is optional.
                STANDARD.encode(&good_root).trim_end_matches('='),
                "not base64!",
                STANDARD.encode(b"not a certificate"),
            ],
        },
        "statusReports": [],
    });
    let blob = MetadataBlob::verify(
        &pki.sign(&payload(1, "2025-07-01", vec![entry])),
        &pki.roots(),
        NOW,
    )
    .unwrap();
    let entry = blob
        .entry_for_aaguid(&parse_aaguid(YUBIKEY).unwrap())
        .unwrap();
    assert_eq!(entry.icon(), None);
    assert_eq!(entry.description(), None);
    assert_eq!(entry.attestation_root_certificates().len(), 2);
    assert_eq!(entry.unusable_root_certificates(), 2);
}

// --- MetadataStore ---------------------------------------------------------------------------

#[test]
fn store_keeps_the_last_good_blob_and_refuses_rollback() {
    let pki = pki(Alg::Es256);
    let roots = pki.roots();
    let mut store = MetadataStore::new();
    assert!(store.current().is_none());

    // A failed first download leaves the store empty.
    assert_eq!(
        store.update("garbage", &roots, NOW).unwrap_err().code(),
        "mds_malformed"
    );
    assert!(store.current().is_none());

    store
        .update(&pki.sign(&simple_payload(5)), &roots, NOW)
        .unwrap();
    let first = Arc::clone(store.current().unwrap());
    assert_eq!(first.no(), 5);

    // Failures keep the held BLOB.
    let mut tampered = pki.sign(&simple_payload(6));
    tampered.pop();
    assert!(store.update(&tampered, &roots, NOW).is_err());
    assert!(store
        .update(&pki.sign(&payload(9, "2025-01-01", vec![])), &roots, NOW)
        .is_err());
    assert!(store
        .update(&pki.sign(&simple_payload(9)), &TrustAnchors::new(), NOW)
        .is_err());
    assert!(Arc::ptr_eq(store.current().unwrap(), &first));

    // An older serial number is a rollback.
    assert_eq!(
        store
            .update(&pki.sign(&simple_payload(4)), &roots, NOW)
            .unwrap_err(),
        MdsError::Rollback {
            current: 5,
            received: 4
        }
    );
    assert!(Arc::ptr_eq(store.current().unwrap(), &first));

    // The same serial number is the BLOB already held.
    store
        .update(&pki.sign(&simple_payload(5)), &roots, NOW)
        .unwrap();
    assert!(Arc::ptr_eq(store.current().unwrap(), &first));

    // A newer one replaces it; holders of the old Arc keep theirs.
    store
        .update(&pki.sign(&simple_payload(6)), &roots, NOW)
        .unwrap();
    assert_eq!(store.current().unwrap().no(), 6);
    assert_eq!(first.no(), 5);
}

// --- Names -----------------------------------------------------------------------------------

#[test]
fn bundled_aaguid_list_is_well_formed() {
    let raw: serde_json::Map<String, Value> = serde_json::from_str(BUNDLED_AAGUIDS).unwrap();
    // No key appears twice (a JSON object keeps only the last of duplicate keys).
    assert_eq!(raw.len(), BUNDLED_AAGUIDS.matches("\": \"").count());
    for (aaguid, name) in &raw {
        let parsed = parse_aaguid(aaguid).unwrap_or_else(|| panic!("{aaguid}"));
        // Canonical lowercase form, so the file greps like the AAGUIDs in logs.
        assert_eq!(parsed.to_string(), *aaguid);
        assert!(!parsed.is_zero());
        assert!(!name.as_str().unwrap().is_empty());
    }
    assert_eq!(bundled_names().len(), raw.len());
}

#[test]
fn authenticator_names_prefer_mds() {
    let icloud = parse_aaguid("fbfc3007-154e-4ecc-8c0b-6e020557d7bd").unwrap();
    let yubikey = parse_aaguid(YUBIKEY).unwrap();
    assert_eq!(authenticator_name(&icloud, None), Some("iCloud Keychain"));
    assert_eq!(authenticator_name(&yubikey, None), Some("YubiKey 5 Series"));
    assert_eq!(
        authenticator_name(
            &parse_aaguid("53414d53-554e-4700-0000-000000000000").unwrap(),
            None
        ),
        Some("Samsung Pass")
    );
    assert_eq!(authenticator_name(&Aaguid([9; 16]), None), None);
    assert_eq!(authenticator_name(&Aaguid::default(), None), None);

    let pki = pki(Alg::Es256);
    let blob = MetadataBlob::verify(
        &pki.sign(&payload(
            1,
            "2025-07-01",
            vec![fido2_entry(
                YUBIKEY,
                "YubiKey 5 Series with NFC",
                &[],
                &["FIDO_CERTIFIED"],
            )],
        )),
        &pki.roots(),
        NOW,
    )
    .unwrap();
    assert_eq!(
        authenticator_name(&yubikey, Some(&blob)),
        Some("YubiKey 5 Series with NFC")
    );
    // Not in the BLOB: the bundled name.
    assert_eq!(
        authenticator_name(&icloud, Some(&blob)),
        Some("iCloud Keychain")
    );
}

// --- Small parsers ---------------------------------------------------------------------------

#[test]
fn dates() {
    let d = MdsDate::parse("2024-02-29").unwrap();
    assert_eq!((d.year(), d.month(), d.day()), (2024, 2, 29));
    assert_eq!(d.to_string(), "2024-02-29");
    assert_eq!(format!("{d:?}"), "MdsDate(2024-02-29)");
    assert_eq!(d.start(), UnixTime(1_709_164_800));
    assert_eq!(MdsDate::parse("1970-01-01").unwrap().start(), UnixTime(0));
    assert!(MdsDate::parse("2024-01-31").unwrap() < MdsDate::parse("2024-02-01").unwrap());
    for bad in [
        "2023-02-29",
        "2024-00-10",
        "2024-13-10",
        "2024-01-00",
        "2024-01-32",
        "2024-1-1",
        "2024/01/01",
        "+2024-01-01",
        "2024-01-01 ",
        "２０２４-01-01",
        "2024-0a-01",
        "",
    ] {
        assert_eq!(MdsDate::parse(bad), None, "{bad}");
    }
}

#[test]
fn aaguids() {
    let a = parse_aaguid("CB69481E-8FF7-4039-93EC-0A2729A154A8").unwrap();
    assert_eq!(a.to_string(), YUBIKEY);
    for bad in [
        "cb69481e8ff7403993ec0a2729a154a8",
        "cb69481e-8ff7-4039-93ec-0a2729a154a",
        "cb69481e-8ff7-4039-93ec-0a2729a154a8a",
        "cb69481e-8ff7-4039-93ec+0a2729a154a8",
        "cb69481e-8ff7-4039-93ec-0a2729a154ag",
        "cb69481e-8ff7-4039-93e--0a2729a154a8",
    ] {
        assert_eq!(parse_aaguid(bad), None, "{bad}");
    }
}

#[test]
fn statuses_round_trip() {
    for (status, name) in AuthenticatorStatus::KNOWN {
        assert_eq!(AuthenticatorStatus::from_name(name), status);
        assert_eq!(status.as_str(), name);
        assert_eq!(status.to_string(), name);
    }
    assert_eq!(
        AuthenticatorStatus::from_name("revoked"),
        AuthenticatorStatus::Other("revoked".into())
    );
}

#[test]
fn error_codes_are_listed() {
    let errors = [
        MdsError::Algorithm("HS256".into()),
        MdsError::Expired {
            next_update: MdsDate::parse("2020-01-01").unwrap(),
        },
        MdsError::Malformed(JwtDefect::Parts),
        MdsError::Payload(PayloadDefect::NextUpdate),
        MdsError::Rollback {
            current: 2,
            received: 1,
        },
        MdsError::Signature,
        MdsError::Untrusted(TrustError::NoAnchor),
    ];
    let codes: Vec<&str> = errors.iter().map(MdsError::code).collect();
    assert_eq!(codes, MDS_ERROR_CODES);
    for e in &errors {
        assert!(!e.to_string().is_empty());
    }
}

proptest! {
    #[test]
    fn verify_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = MetadataBlob::verify(&text, &TrustAnchors::new(), NOW);
    }

    #[test]
    fn verify_never_panics_on_jwt_shaped_text(
        header in prop::collection::vec(any::<u8>(), 0..200),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        signature in prop::collection::vec(any::<u8>(), 0..100),
        alg in prop::sample::select(vec!["ES256", "RS256", "none", "HS256"]),
        x5c in prop::collection::vec("[A-Za-z0-9+/=]{0,40}", 0..3),
    ) {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let _ = MetadataBlob::verify(
            &format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature)),
            &TrustAnchors::new(),
            NOW,
        );
        let header = json!({"alg": alg, "x5c": x5c}).to_string();
        let _ = MetadataBlob::verify(
            &format!("{}.{}.{}", b64(header.as_bytes()), b64(&payload), b64(&signature)),
            &TrustAnchors::new(),
            NOW,
        );
    }

    #[test]
    fn date_parsing_never_panics_and_round_trips(text in "[0-9-]{0,12}") {
        if let Some(date) = MdsDate::parse(&text) {
            prop_assert_eq!(date.to_string(), text);
        }
    }

}

// --- Use during attestation ------------------------------------------------------------------

/// The verifier consults the BLOB: an entry's roots anchor its model, a revoked entry refuses
/// registration whatever the attestation type, and other models are unaffected.
#[cfg(feature = "test-util")]
#[test]
fn attestation_uses_the_blob_for_roots_and_revocation() {
    use crate::test_util::{random_bytes, AttestationCa, CertificateParams, Credential};
    use crate::{
        verify_registration, AttestationPolicy, CoseAlgorithm, ExpectedRegistration, RelyingParty,
    };

    let vendor = AttestationCa::generate("Vendor Attestation Root");
    let certified = Credential::new(CoseAlgorithm::Es256, "rp.example");
    let mut revoked = Credential::new(CoseAlgorithm::Es256, "rp.example");
    revoked.aaguid = Aaguid([0x42; 16]);
    let signer = pki(Alg::Es256);
    let jwt = signer.sign(&payload(
        7,
        "2039-01-01",
        vec![
            fido2_entry(
                &certified.aaguid.to_string(),
                "Certified Key",
                &[vendor.der()],
                &["FIDO_CERTIFIED"],
            ),
            fido2_entry(
                &revoked.aaguid.to_string(),
                "Leaky Key",
                &[],
                &["FIDO_CERTIFIED", "ATTESTATION_KEY_COMPROMISE"],
            ),
        ],
    ));
    let blob = MetadataBlob::verify(&jwt, &signer.roots(), NOW).unwrap();
    let policy = AttestationPolicy {
        metadata: Some(Arc::new(blob)),
        require_trusted_chain: true,
        ..AttestationPolicy::default()
    };
    let rp = RelyingParty::new("rp.example", ["https://rp.example"]);
    let challenge = random_bytes(32);
    let expected = ExpectedRegistration::new(&rp, &challenge, &policy);

    // The entry's root anchors the vendor's batch certificate.
    let leaf = vendor.issue(&CertificateParams::packed(certified.aaguid));
    let response = certified
        .register(&challenge, "https://rp.example")
        .packed_x5c(&leaf, Vec::new())
        .build();
    let verified = verify_registration(&response.to_response(), &expected, NOW).unwrap();
    assert!(verified.attestation.trusted);

    // A compromised model is refused, even with self attestation.
    let response = revoked
        .register(&challenge, "https://rp.example")
        .packed_self()
        .build();
    let error = verify_registration(&response.to_response(), &expected, NOW).unwrap_err();
    assert_eq!(error.code(), "attestation_untrusted");
    assert!(
        error.to_string().contains("ATTESTATION_KEY_COMPROMISE"),
        "{error}"
    );

    // The vendor's root does not vouch for another model's AAGUID.
    let mut other = Credential::new(CoseAlgorithm::Es256, "rp.example");
    other.aaguid = Aaguid([0x17; 16]);
    let leaf = vendor.issue(&CertificateParams::packed(other.aaguid));
    let response = other
        .register(&challenge, "https://rp.example")
        .packed_x5c(&leaf, Vec::new())
        .build();
    let error = verify_registration(&response.to_response(), &expected, NOW).unwrap_err();
    assert_eq!(error.code(), "attestation_untrusted");
}
