//! Tests for `android-safetynet`: the corpus cases through `verify_registration` under the
//! default and the legacy policies, the verdict and age switches, statements that must fail at
//! their own step, an ES256 JWS made here, and the JWS parser (cases and a no-panic property
//! test).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ciborium::value::Value;
use proptest::prelude::*;
use rcgen::SigningKey as _;

use super::jws::{Jws, JwsAlgorithm};
use super::{issued_to_safetynet, verify};
use crate::attestation::android_key::corpus::{attestation_error, CorpusCase};
use crate::attestation::{certificate, signed_data, AttestationPolicy, AttestationType};
use crate::error::AttestationError;
use crate::relying_party::sha256;

const PY_2021: &str =
    include_str!("../../../tests/vectors/py_webauthn/android_safetynet_2021.json");
const SWA_2019: &str =
    include_str!("../../../tests/vectors/simplewebauthn/android_safetynet_2019.json");
const CTS_FALSE_NEG: &str =
    include_str!("../../../tests/vectors/simplewebauthn/android_safetynet_cts_false_neg.json");
const CTS_FALSE_SKIP_CHECK: &str = include_str!(
    "../../../tests/vectors/simplewebauthn/android_safetynet_cts_false_skip_check.json"
);
const GSR1_REVOKED_NEG: &str =
    include_str!("../../../tests/vectors/simplewebauthn/android_safetynet_gsr1_revoked_neg.json");
const WEBAUTHN_RS_POLICY_NEG: &str = include_str!(
    "../../../tests/vectors/webauthn_rs/android_safetynet_webauthn_io_policy_neg.json"
);

const ALL: &[&str] = &[
    PY_2021,
    SWA_2019,
    CTS_FALSE_NEG,
    CTS_FALSE_SKIP_CHECK,
    GSR1_REVOKED_NEG,
    WEBAUTHN_RS_POLICY_NEG,
];

#[test]
fn refused_as_unsupported_unless_legacy_formats_are_allowed() {
    for json in ALL {
        let case = CorpusCase::new(json);
        let policy = AttestationPolicy {
            allow_legacy_formats: false,
            ..case.policy()
        };
        let error = case.verify(&policy).unwrap_err();
        assert_eq!(error.code(), "attestation_unsupported");
        assert_eq!(
            attestation_error(Err(error)),
            AttestationError::UnsupportedFormat("android-safetynet".to_owned())
        );
    }
    // The default policy is the same refusal.
    assert!(!AttestationPolicy::default().allow_legacy_formats);
}

#[test]
fn corpus_cases_under_their_source_policy() {
    // Positive cases (SafetyNet timestamps are years old: their source tests skipped freshness).
    for json in [PY_2021, SWA_2019, CTS_FALSE_SKIP_CHECK] {
        let case = CorpusCase::new(json);
        assert!(case.expect_ok());
        let verified = case
            .verify(&case.policy())
            .unwrap_or_else(|e| panic!("{}: {e}", case.file["source"]));
        case.assert_expected_fields(&verified);
        assert_eq!(
            verified.attestation.attestation_type,
            AttestationType::Basic
        );
    }

    // ctsProfileMatch is false, and the CTS verdict is required by default.
    let case = CorpusCase::new(CTS_FALSE_NEG);
    assert!(!case.expect_ok());
    assert_eq!(
        attestation_error(case.verify(&case.policy())),
        AttestationError::Refused("SafetyNet ctsProfileMatch is not true")
    );
    // The same payload without the CTS requirement (basicIntegrity is true).
    let relaxed = AttestationPolicy {
        safetynet_require_cts_profile_match: false,
        ..case.policy()
    };
    case.assert_expected_fields(&case.verify(&relaxed).expect("basicIntegrity suffices"));
    // And the skip-check case fails once the requirement is back on.
    let case = CorpusCase::new(CTS_FALSE_SKIP_CHECK);
    let strict = AttestationPolicy {
        safetynet_require_cts_profile_match: true,
        ..case.policy()
    };
    assert_eq!(
        attestation_error(case.verify(&strict)),
        AttestationError::Refused("SafetyNet ctsProfileMatch is not true")
    );

    // Deliberate difference: the source rejects this one because GlobalSign revoked an
    // intermediate, which only a CRL fetch reveals. This crate does no I/O, so it verifies.
    let case = CorpusCase::new(GSR1_REVOKED_NEG);
    assert!(!case.expect_ok());
    case.assert_expected_fields(&case.verify(&case.policy()).expect("no revocation checking"));

    // webauthn-rs refuses the format outright; that is our default too (see above). Allowed,
    // its 19-day-old timestamp fails the default 60-second age, and without the age check it
    // verifies as it does in the libraries that still accept SafetyNet.
    let case = CorpusCase::new(WEBAUTHN_RS_POLICY_NEG);
    assert!(!case.expect_ok());
    assert_eq!(
        attestation_error(case.verify(&case.policy())),
        AttestationError::Refused("SafetyNet timestampMs is outside the accepted age")
    );
    let no_age = AttestationPolicy {
        safetynet_max_age_secs: None,
        ..case.policy()
    };
    case.assert_expected_fields(
        &case
            .verify(&no_age)
            .expect("verifies without the age check"),
    );
}

/// `timestampMs - now` in milliseconds, for a case's own payload.
fn skew_ms(case: &CorpusCase) -> i128 {
    let statement = case.statement();
    let response = crate::cbor::map_get(&statement, "response")
        .and_then(Value::as_bytes)
        .expect("response");
    let jws = Jws::parse(response).expect("JWS");
    let payload: serde_json::Value = serde_json::from_slice(&jws.payload).expect("JSON");
    let timestamp = payload["timestampMs"].as_i64().expect("timestampMs");
    i128::from(timestamp) - i128::from(case.now().0) * 1000
}

#[test]
fn timestamp_must_be_within_the_age_either_way() {
    // 2021: the attestation is two days *after* verify_at; 2019: weeks before; cts_false: 989 ms
    // after.
    for (json, future) in [
        (PY_2021, true),
        (SWA_2019, false),
        (CTS_FALSE_SKIP_CHECK, true),
    ] {
        let case = CorpusCase::new(json);
        let skew = skew_ms(&case);
        assert_eq!(skew > 0, future);
        let seconds = u64::try_from(skew.abs() / 1000).expect("small");
        let with_age = |max_age| AttestationPolicy {
            safetynet_max_age_secs: Some(max_age),
            ..case.policy()
        };
        // The skew is not a whole number of seconds, so `seconds` is just too short.
        assert_ne!(skew.abs() % 1000, 0);
        assert_eq!(
            attestation_error(case.verify(&with_age(seconds))),
            AttestationError::Refused("SafetyNet timestampMs is outside the accepted age")
        );
        assert!(case.verify(&with_age(seconds + 1)).is_ok());
    }
    // The default age (60 s) accepts the fresh one.
    let case = CorpusCase::new(CTS_FALSE_SKIP_CHECK);
    assert_eq!(
        case.policy().safetynet_max_age_secs,
        AttestationPolicy::default().safetynet_max_age_secs
    );
    assert!(case.verify(&case.policy()).is_ok());
}

#[test]
fn nonce_must_bind_authenticator_and_client_data() {
    // A genuine JWS from another registration on the same kind of device.
    let donor = CorpusCase::new(SWA_2019);
    let statement = donor.statement();
    let case = CorpusCase::new(WEBAUTHN_RS_POLICY_NEG);
    let policy = AttestationPolicy {
        safetynet_max_age_secs: None,
        ..case.policy()
    };
    let result = case.with_input(&policy, Some(&statement), None, |input| {
        verify(input).map(|_| ())
    });
    assert_eq!(
        result,
        Err(AttestationError::Refused(
            "the SafetyNet nonce is not base64(SHA-256(authenticatorData || clientDataHash))"
        ))
    );
}

/// The case's statement with `response` changed by `mutate`.
fn with_response(case: &CorpusCase, mutate: impl FnOnce(&mut Vec<u8>)) -> Vec<(Value, Value)> {
    let mut statement = case.statement();
    let response = statement
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("response"))
        .and_then(|(_, v)| match v {
            Value::Bytes(b) => Some(b),
            _ => None,
        })
        .expect("response");
    mutate(response);
    statement
}

/// Runs the format verifier of `case` with `statement` under `policy`.
fn run(
    case: &CorpusCase,
    policy: &AttestationPolicy,
    statement: &[(Value, Value)],
) -> Result<(), AttestationError> {
    case.with_input(policy, Some(statement), None, |input| {
        verify(input).map(|_| ())
    })
}

#[test]
fn signature_covers_header_and_payload() {
    let case = CorpusCase::new(PY_2021);
    let policy = case.policy();
    assert_eq!(run(&case, &policy, &case.statement()), Ok(()));
    // Flip a bit in the last signature byte's base64url character.
    let statement = with_response(&case, |jws| {
        let last = jws.len() - 1;
        jws[last] = if jws[last] == b'A' { b'Q' } else { b'A' };
    });
    assert_eq!(
        run(&case, &policy, &statement),
        Err(AttestationError::Signature)
    );
    // Change the payload: ctsProfileMatch true -> false, re-encoded, old signature.
    let statement = with_response(&case, |jws| {
        let text = String::from_utf8(jws.clone()).expect("ASCII");
        let parts: Vec<&str> = text.split('.').collect();
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url");
        let payload = String::from_utf8(payload)
            .expect("UTF-8")
            .replace("\"basicIntegrity\":true", "\"basicIntegrity\":false");
        *jws = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload),
            parts[2]
        )
        .into_bytes();
    });
    assert_eq!(
        run(&case, &policy, &statement),
        Err(AttestationError::Signature)
    );
}

#[test]
fn statement_members_are_checked() {
    let case = CorpusCase::new(PY_2021);
    let policy = case.policy();
    let with = |name: &str, value: Option<Value>| {
        let mut statement = case.statement();
        statement.retain(|(k, _)| k.as_text() != Some(name));
        if let Some(value) = value {
            statement.push((Value::Text(name.to_owned()), value));
        }
        run(&case, &policy, &statement)
    };
    let ver_error = Err(AttestationError::Malformed(
        "ver is missing or not a non-empty text string",
    ));
    assert_eq!(with("ver", None), ver_error);
    assert_eq!(with("ver", Some(Value::Text(String::new()))), ver_error);
    assert_eq!(with("ver", Some(Value::Integer(1.into()))), ver_error);
    let response_error = Err(AttestationError::Malformed(
        "response is missing or not a byte string",
    ));
    assert_eq!(with("response", None), response_error);
    assert_eq!(
        with("response", Some(Value::Bytes(Vec::new()))),
        response_error
    );
    assert_eq!(
        with("response", Some(Value::Text("a.b.c".to_owned()))),
        response_error
    );
}

#[test]
fn leaf_must_be_issued_to_attest_android_com() {
    let case = CorpusCase::new(PY_2021);
    let statement = case.statement();
    let response = crate::cbor::map_get(&statement, "response")
        .and_then(Value::as_bytes)
        .expect("response");
    let jws = Jws::parse(response).expect("JWS");
    assert_eq!(jws.alg, JwsAlgorithm::Rs256);
    assert_eq!(jws.x5c.len(), 3);
    let leaf = certificate::parse(&jws.x5c[0]).expect("leaf");
    assert_eq!(issued_to_safetynet(&leaf), Ok(true));
    let intermediate = certificate::parse(&jws.x5c[1]).expect("intermediate");
    assert_eq!(issued_to_safetynet(&intermediate), Ok(false));

    // The same leaf naming another host in both its CN and its SAN. (Its signature is broken,
    // which the hostname check does not look at.)
    let mut renamed = jws.x5c[0].clone();
    let count = renamed
        .windows(18)
        .filter(|w| *w == b"attest.android.com")
        .count();
    assert_eq!(count, 2, "CN and SAN");
    for _ in 0..count {
        replace_first(&mut renamed, b"attest.android.com", b"attest.android.org");
    }
    let renamed = certificate::parse(&renamed).expect("still a certificate");
    assert_eq!(issued_to_safetynet(&renamed), Ok(false));
}

/// Replaces the first occurrence of `from` with `to` (same length).
fn replace_first(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let i = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("present");
    bytes[i..i + to.len()].copy_from_slice(to);
}

/// `r || s` of a DER ECDSA P-256 signature.
fn der_to_fixed(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut rest = &der[2..];
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(rest[0], 0x02);
        let len = usize::from(rest[1]);
        let int = &rest[2..2 + len];
        let int = int.strip_prefix(&[0]).unwrap_or(int);
        out.extend(std::iter::repeat_n(0, 32 - int.len()));
        out.extend_from_slice(int);
        rest = &rest[2 + len..];
    }
    out
}

/// A SafetyNet JWS for `case`'s registration, made here with a fresh P-256 key and a
/// self-signed certificate for `host`; `sign` turns the DER signature into the JWS signature.
fn es256_statement(
    case: &CorpusCase,
    host: &str,
    header_alg: &str,
    sign: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> (Vec<(Value, Value)>, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, host);
    let cert = params.self_signed(&key).expect("certificate");
    let cert_der = cert.der().to_vec();
    let nonce = case.with_input(&case.policy(), None, None, |input| {
        STANDARD.encode(sha256(&signed_data(input)))
    });
    let header = serde_json::json!({ "alg": header_alg, "x5c": [STANDARD.encode(&cert_der)] });
    let payload = serde_json::json!({
        "nonce": nonce,
        "timestampMs": case.now().0 * 1000,
        "ctsProfileMatch": true,
        "basicIntegrity": true,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = sign(key.sign(signing_input.as_bytes()).expect("sign"));
    let jws = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    let statement = vec![
        (Value::Text("ver".into()), Value::Text("1".into())),
        (
            Value::Text("response".into()),
            Value::Bytes(jws.into_bytes()),
        ),
    ];
    (statement, cert_der)
}

#[test]
fn es256_jws_with_raw_signature_verifies() {
    let case = CorpusCase::new(CTS_FALSE_SKIP_CHECK);
    let policy = case.policy();
    let (statement, cert_der) = es256_statement(&case, "attest.android.com", "ES256", |der| {
        der_to_fixed(&der)
    });
    let x5c = case.with_input(&policy, Some(&statement), None, |input| {
        verify(input).map(|s| {
            assert_eq!(s.attestation_type, AttestationType::Basic);
            assert_eq!(s.statement_algorithm, None);
            s.x5c.iter().map(|c| c.to_vec()).collect::<Vec<_>>()
        })
    });
    assert_eq!(x5c, Ok(vec![cert_der]));

    // A DER signature is not the JWS encoding.
    let (statement, _) = es256_statement(&case, "attest.android.com", "ES256", |der| der);
    assert_eq!(
        run(&case, &policy, &statement),
        Err(AttestationError::Signature)
    );
    // The right key and signature, but the certificate names another host.
    let (statement, _) = es256_statement(&case, "evil.example", "ES256", |der| der_to_fixed(&der));
    assert_eq!(
        run(&case, &policy, &statement),
        Err(AttestationError::Certificate(
            "the certificate is not issued to attest.android.com"
        ))
    );
    // RS256 claimed for an EC key.
    let (statement, _) = es256_statement(&case, "attest.android.com", "RS256", |der| {
        der_to_fixed(&der)
    });
    assert_eq!(
        run(&case, &policy, &statement),
        Err(AttestationError::Certificate(
            "the key does not fit the JWS alg"
        ))
    );
}

/// A compact JWS from a header JSON text, a payload text and signature bytes.
fn compact(header: &str, payload: &str, signature: &[u8]) -> Vec<u8> {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    )
    .into_bytes()
}

#[test]
fn jws_parser_accepts_safetynet_shapes() {
    let header = r#"{"alg":"ES256","x5c":["AQID","BAUG"],"kid":"ignored"}"#;
    let jws = compact(header, r#"{"nonce":"x"}"#, &[9; 64]);
    let parsed = Jws::parse(&jws).expect("valid");
    assert_eq!(parsed.alg, JwsAlgorithm::Es256);
    assert_eq!(parsed.x5c, vec![vec![1, 2, 3], vec![4, 5, 6]]);
    assert_eq!(parsed.payload, br#"{"nonce":"x"}"#);
    assert_eq!(parsed.signature, vec![9; 64]);
    let dot = jws.iter().rposition(|b| *b == b'.').expect("dot");
    assert_eq!(parsed.signing_input, &jws[..dot]);
}

#[test]
fn jws_parser_refuses_malformed_input() {
    let refused = |jws: &[u8], reason: &str| match Jws::parse(jws) {
        Err(AttestationError::Malformed(got)) => assert_eq!(got, reason, "{jws:?}"),
        other => panic!("expected {reason:?}, got {other:?}"),
    };
    let header = r#"{"alg":"RS256","x5c":["AQID"]}"#;
    let valid = compact(header, "{}", &[1]);
    assert!(Jws::parse(&valid).is_ok());

    let segments = "response is not a compact JWS of three segments";
    refused(b"", segments);
    refused(b"a.b", segments);
    refused(b"a.b.c.d", segments);
    let mut extra = valid.clone();
    extra.extend_from_slice(b".AA");
    refused(&extra, segments);

    let good_header = URL_SAFE_NO_PAD.encode(header);
    let jws = |h: &str, p: &str, s: &str| format!("{h}.{p}.{s}").into_bytes();
    refused(&jws("e30=", "e30", "AQ"), "the JWS header is not base64url");
    refused(&jws("e3+", "e30", "AQ"), "the JWS header is not base64url");
    refused(
        &jws(&good_header, "e30=", "AQ"),
        "the JWS payload is not base64url",
    );
    refused(
        &jws(&good_header, "e30", "A"),
        "the JWS signature is not base64url",
    );
    refused(&jws(&good_header, "e30", ""), "the JWS signature is empty");

    let with_header = |h: &str| compact(h, "{}", &[1]);
    let not_object = "the JWS header is not a valid JSON object";
    refused(&with_header("[\"RS256\",[\"AQID\"]]"), not_object);
    refused(&with_header("not json"), not_object);
    refused(&with_header(r#"{"x5c":["AQID"]}"#), not_object);
    refused(
        &with_header(r#"{"alg":"RS256","alg":"RS256","x5c":["AQID"]}"#),
        not_object,
    );
    refused(
        &with_header(r#"{"alg":"RS256","x5c":["AQID"]} trailing"#),
        not_object,
    );
    refused(
        &with_header(r#"{"alg":"none","x5c":["AQID"]}"#),
        "the JWS alg is not RS256 or ES256",
    );
    refused(
        &with_header(r#"{"alg":"HS256","x5c":["AQID"]}"#),
        "the JWS alg is not RS256 or ES256",
    );
    refused(
        &with_header(r#"{"alg":"RS256","x5c":["AQID"],"crit":["exp"]}"#),
        "the JWS header has critical extensions",
    );
    let chain = "the JWS x5c is not a non-empty certificate chain";
    refused(&with_header(r#"{"alg":"RS256"}"#), chain);
    refused(&with_header(r#"{"alg":"RS256","x5c":[]}"#), chain);
    let nine = format!(r#"{{"alg":"RS256","x5c":[{}]}}"#, ["\"AQID\""; 9].join(","));
    refused(&with_header(&nine), chain);
    let bad_cert = "a JWS x5c certificate is not base64 DER of a sane size";
    refused(&with_header(r#"{"alg":"RS256","x5c":["AQ-_"]}"#), bad_cert);
    refused(&with_header(r#"{"alg":"RS256","x5c":["AQI"]}"#), bad_cert);
    refused(&with_header(r#"{"alg":"RS256","x5c":[""]}"#), bad_cert);
    let huge = format!(
        r#"{{"alg":"RS256","x5c":["{}"]}}"#,
        STANDARD.encode(vec![0; 16 * 1024 + 1])
    );
    refused(&with_header(&huge), bad_cert);
}

#[test]
fn payload_must_be_a_json_object() {
    for payload in [
        r#"["nonce"]"#,
        "null",
        r#"{"timestampMs":1}"#,
        r#"{"nonce":1}"#,
        r#"{"nonce":"x","nonce":"y"}"#,
        r#"{"nonce":"x","ctsProfileMatch":"true"}"#,
    ] {
        assert_eq!(
            super::jws::json_object::<super::Payload>(payload.as_bytes(), "bad").err(),
            Some(AttestationError::Malformed("bad")),
            "{payload}"
        );
    }
    // Only the nonce is required to decode; the verdict checks treat a missing boolean as false.
    let minimal: super::Payload =
        super::jws::json_object(br#"{"nonce":"x"}"#, "bad").expect("decodes");
    assert_eq!(minimal.nonce, "x");
    assert_eq!(minimal.cts_profile_match, None);
    assert_eq!(minimal.basic_integrity, None);
    assert_eq!(minimal.timestamp_ms, None);
}

#[test]
fn corpus_payload_mutation_is_caught_even_with_the_same_length() {
    // Replace one base64url character of the payload segment: the signature must fail first.
    let case = CorpusCase::new(SWA_2019);
    let policy = AttestationPolicy {
        safetynet_max_age_secs: None,
        ..case.policy()
    };
    let statement = with_response(&case, |jws| {
        let first_dot = jws.iter().position(|b| *b == b'.').expect("dot");
        let i = first_dot + 5;
        jws[i] = if jws[i] == b'A' { b'B' } else { b'A' };
    });
    assert_eq!(
        run(&case, &policy, &statement),
        Err(AttestationError::Signature)
    );
}

proptest! {
    #[test]
    fn jws_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Jws::parse(&bytes);
    }

    #[test]
    fn jws_parser_never_panics_on_three_segments(
        header in "[A-Za-z0-9_=+/-]{0,64}",
        payload in "[A-Za-z0-9_=+/-]{0,64}",
        signature in "[A-Za-z0-9_=+/-]{0,64}",
    ) {
        let _ = Jws::parse(format!("{header}.{payload}.{signature}").as_bytes());
    }

    #[test]
    fn jws_parser_never_panics_on_json_headers(header in "\\PC{0,64}", payload in "\\PC{0,64}") {
        let _ = Jws::parse(&compact(&header, &payload, &[1, 2, 3]));
    }

    #[test]
    fn verifier_never_panics_on_arbitrary_responses(
        response in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let case = CorpusCase::new(CTS_FALSE_SKIP_CHECK);
        let statement = vec![
            (Value::Text("ver".into()), Value::Text("1".into())),
            (Value::Text("response".into()), Value::Bytes(response)),
        ];
        let _ = run(&case, &case.policy(), &statement);
    }

}
