//! The SafetyNet compact JWS (`attStmt.response` of an `android-safetynet` statement) from
//! arbitrary bytes, inside an otherwise valid registration, through `verify_registration` with
//! legacy formats allowed.
//!
//! The first input byte picks the base case (bit 0: a 2025 RS256 response with
//! `ctsProfileMatch: false`, verified with only `basicIntegrity` required, or a 2021 one) and
//! whether the timestamp age is checked (bit 1); the rest is the JWS.
//!
//! Oracle: the registration verifies only when the JWS is the original one. The signature covers
//! header and payload, base64url segments are canonical, and an RSA PKCS#1 v1.5 signature is
//! unique for its message and key.
#![no_main]

use std::sync::OnceLock;

use ciborium::value::Value;
use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::case::{parse_instant, Case};
use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use passkeyd_webauthn::{
    verify_registration, AttestationPolicy, CoseAlgorithm, ExpectedRegistration,
    RegistrationResponseJson, RelyingParty, TrustAnchors,
};

const BASES: [&str; 2] = [
    include_str!(
        "../../crates/webauthn/tests/vectors/simplewebauthn/android_safetynet_cts_false_skip_check.json"
    ),
    include_str!("../../crates/webauthn/tests/vectors/py_webauthn/android_safetynet_2021.json"),
];

/// A base case, its attestation object and its JWS.
struct Base {
    case: Case,
    attestation_object: Vec<(Value, Value)>,
    jws: Vec<u8>,
    anchors: TrustAnchors,
}

/// The base cases, parsed once.
fn bases() -> &'static [Base; 2] {
    static BASES_PARSED: OnceLock<[Base; 2]> = OnceLock::new();
    BASES_PARSED.get_or_init(|| {
        BASES.map(|json| {
            let case = Case::from_json(json.as_bytes()).expect("a corpus case parses");
            let encoded = case.response["response"]["attestationObject"]
                .as_str()
                .expect("the case has an attestation object");
            let bytes = base64url_decode(encoded).expect("base64url");
            let value: Value = ciborium::de::from_reader(bytes.as_slice()).expect("CBOR");
            let Value::Map(attestation_object) = value else {
                panic!("the attestation object is a map");
            };
            let jws = attestation_object
                .iter()
                .find(|(k, _)| k.as_text() == Some("attStmt"))
                .and_then(|(_, v)| v.as_map())
                .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("response")))
                .and_then(|(_, v)| v.as_bytes())
                .expect("attStmt.response")
                .clone();
            let mut anchors = TrustAnchors::new();
            for pem in &case.trust_roots {
                anchors.add_pem(pem).expect("a PEM root");
            }
            Base {
                case,
                attestation_object,
                jws,
                anchors,
            }
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, jws)) = data.split_first() else {
        return;
    };
    let base = &bases()[usize::from(selector & 1)];
    let mut object = base.attestation_object.clone();
    for (key, value) in &mut object {
        if key.as_text() != Some("attStmt") {
            continue;
        }
        let Value::Map(statement) = value else {
            continue;
        };
        for (key, value) in statement {
            if key.as_text() == Some("response") {
                *value = Value::Bytes(jws.to_vec());
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
    let now = parse_instant(case.verify_at.as_deref().expect("verify_at")).expect("instant");
    // Base 0 is fresh at its verify_at; base 1 is two days off, so only base 0 checks the age.
    let check_age = selector & 2 == 2 && selector & 1 == 0;
    let policy = AttestationPolicy {
        trust_anchors: base.anchors.clone(),
        require_trusted_chain: true,
        allow_legacy_formats: true,
        safetynet_require_cts_profile_match: false,
        safetynet_max_age_secs: check_age.then_some(60),
        ..AttestationPolicy::default()
    };
    let expected = ExpectedRegistration {
        user_verification: case.user_verification,
        require_user_presence: case.require_user_presence,
        algorithms: &CoseAlgorithm::ALL,
        ..ExpectedRegistration::new(&rp, &challenge, &policy)
    };
    let verified = verify_registration(&response, &expected, now);
    assert_eq!(
        verified.is_ok(),
        jws == base.jws.as_slice(),
        "only the original JWS verifies: {verified:?}"
    );
});
