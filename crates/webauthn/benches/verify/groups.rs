//! The benchmark groups.

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, ParsedPublicKey, UnparsedPublicKey};
use criterion::Criterion;
use passkeyd_webauthn::{
    verify_authentication, verify_registration, AuthenticationResponseJson, CoseAlgorithm,
    ExpectedAuthentication, UserIdentification,
};
use webauthn_rs_core::proto::PublicKeyCredential;

use crate::inputs::{
    AlgorithmAssertion, Attestation, Es256Assertions, Es256Registrations, OneRegistration,
};
use crate::timing::{interleave, Group, Results};
use crate::webauthn_rs::WebauthnRs;
use crate::{
    ALGORITHM_VECTORS, FORMAT_VECTORS, GENERATED_ALGORITHMS, N, NOW, REGISTRATION_ALGORITHMS,
};

/// The variants of `es256_auth_x64`, in the order they are measured.
pub(crate) const ES256_VARIANTS: [&str; 6] = [
    "raw_unparsed",
    "raw_parsed",
    "passkeyd_verify",
    "passkeyd_from_json_verify",
    "webauthn_rs_core_verify",
    "webauthn_rs_core_from_json_verify",
];

pub(crate) fn es256_authentication(criterion: &mut Criterion, results: &Results) {
    let key = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
        .expect("P-256 key generation");
    let baseline =
        WebauthnRs::register(key.public_key().as_ref(), &Es256Assertions::credential_id());
    // webauthn-rs issues the challenges; every verifier checks assertions over the same ones.
    let (challenges, states) = baseline.begin(N);
    let set = Es256Assertions::new(&key, &challenges);
    let stored = set.stored();
    let allow: [&[u8]; 1] = [&set.credential_id];
    let expected: Vec<ExpectedAuthentication<'_>> = set
        .challenges
        .iter()
        .map(|c| {
            ExpectedAuthentication::new(
                &set.rp,
                c,
                UserIdentification::Identified {
                    user_handle: &set.user_handle,
                    allow_credentials: &allow,
                },
            )
        })
        .collect();
    let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &set.point)
        .expect("a valid P-256 point");
    let wrs_responses: Vec<PublicKeyCredential> = set
        .bodies
        .iter()
        .map(|body| serde_json::from_slice(body).expect("webauthn-rs reads the assertion"))
        .collect();
    let raw_unparsed = || {
        let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &set.point);
        set.messages
            .iter()
            .zip(&set.signatures)
            .all(|(m, s)| key.verify(black_box(m), black_box(s)).is_ok())
    };
    let raw_parsed = || {
        set.messages
            .iter()
            .zip(&set.signatures)
            .all(|(m, s)| parsed.verify_sig(black_box(m), black_box(s)).is_ok())
    };
    let passkeyd = || {
        set.responses
            .iter()
            .zip(&expected)
            .all(|(r, e)| verify_authentication(black_box(r), e, &stored).is_ok())
    };
    let passkeyd_json = || {
        set.bodies.iter().zip(&expected).all(|(body, e)| {
            AuthenticationResponseJson::from_json(black_box(body))
                .and_then(|r| verify_authentication(&r, e, &stored))
                .is_ok()
        })
    };
    let wrs = || {
        wrs_responses
            .iter()
            .zip(&states)
            .all(|(r, s)| baseline.verify(black_box(r), s))
    };
    let wrs_json = || {
        set.bodies
            .iter()
            .zip(&states)
            .all(|(body, s)| baseline.parse_and_verify(black_box(body), s))
    };
    for (name, check) in ES256_VARIANTS.into_iter().zip([
        raw_unparsed(),
        raw_parsed(),
        passkeyd(),
        passkeyd_json(),
        wrs(),
        wrs_json(),
    ]) {
        assert!(check, "{name}: every assertion must verify before timing");
    }

    let mut group = Group::new(
        criterion,
        results,
        "es256_auth_x64",
        30,
        Duration::from_secs(2),
        Duration::from_secs(6),
    );
    let items = N as u64;
    group.bench("raw_unparsed", items, raw_unparsed);
    group.bench("raw_parsed", items, raw_parsed);
    group.bench("passkeyd_verify", items, passkeyd);
    group.bench("passkeyd_from_json_verify", items, passkeyd_json);
    group.bench("webauthn_rs_core_verify", items, wrs);
    group.bench("webauthn_rs_core_from_json_verify", items, wrs_json);
    group.finish();

    if results.measured(&ES256_VARIANTS.map(|name| format!("es256_auth_x64/{name}"))) {
        let (mut a, mut b, mut c, mut d, mut e, mut f) = (
            raw_unparsed,
            raw_parsed,
            passkeyd,
            passkeyd_json,
            wrs,
            wrs_json,
        );
        let interleaved = interleave(
            "es256_auth_x64",
            &mut [
                (ES256_VARIANTS[0], &mut a),
                (ES256_VARIANTS[1], &mut b),
                (ES256_VARIANTS[2], &mut c),
                (ES256_VARIANTS[3], &mut d),
                (ES256_VARIANTS[4], &mut e),
                (ES256_VARIANTS[5], &mut f),
            ],
            items,
            Duration::from_secs(10),
        );
        results.interleaved.borrow_mut().push(interleaved);
    }
}

pub(crate) fn es256_registration(criterion: &mut Criterion, results: &Results) {
    let set = Es256Registrations::new();
    let expected = set.expected();
    let minimal = || {
        set.minimal
            .iter()
            .zip(&expected)
            .all(|(r, e)| verify_registration(black_box(r), e, NOW).is_ok())
    };
    let browser = || {
        set.browser
            .iter()
            .zip(&expected)
            .all(|(r, e)| verify_registration(black_box(r), e, NOW).is_ok())
    };
    assert!(
        minimal(),
        "every minimal registration must verify before timing"
    );
    assert!(
        browser(),
        "every browser registration must verify before timing"
    );

    let mut group = Group::new(
        criterion,
        results,
        "es256_registration_none_x64",
        20,
        Duration::from_secs(1),
        Duration::from_secs(3),
    );
    group.bench("passkeyd_minimal", N as u64, minimal);
    group.bench("passkeyd_browser_json", N as u64, browser);
    group.finish();

    let ids = ["passkeyd_minimal", "passkeyd_browser_json"]
        .map(|name| format!("es256_registration_none_x64/{name}"));
    if results.measured(&ids) {
        let (mut minimal, mut browser) = (minimal, browser);
        let interleaved = interleave(
            "es256_registration_none_x64",
            &mut [
                ("passkeyd_minimal", &mut minimal),
                ("passkeyd_browser_json", &mut browser),
            ],
            N as u64,
            Duration::from_secs(2),
        );
        results.interleaved.borrow_mut().push(interleaved);
    }
}

/// One assertion per algorithm: the raw signature check against passkeyd's whole check.
pub(crate) fn authentication_by_algorithm(criterion: &mut Criterion, results: &Results) {
    let vectors: Vec<(&str, AlgorithmAssertion)> = ALGORITHM_VECTORS
        .iter()
        .map(|(name, json)| (*name, AlgorithmAssertion::from_case(name, json)))
        .chain(
            GENERATED_ALGORITHMS
                .iter()
                .map(|(name, alg)| (*name, AlgorithmAssertion::generated(name, *alg))),
        )
        .collect();
    let mut group = Group::new(
        criterion,
        results,
        "auth_by_algorithm",
        20,
        Duration::from_millis(500),
        Duration::from_secs(2),
    );
    for (name, vector) in &vectors {
        let stored = vector.stored();
        let allow: [&[u8]; 1] = [&vector.response.raw_id.0];
        let expected = ExpectedAuthentication {
            user_verification: vector.user_verification,
            ..ExpectedAuthentication::new(
                &vector.rp,
                &vector.challenge,
                UserIdentification::Identified {
                    user_handle: &vector.user_handle,
                    allow_credentials: &allow,
                },
            )
        };
        let signature = &vector.response.response.signature.0;
        let raw = || {
            vector
                .raw
                .verify(black_box(&vector.message), black_box(signature))
        };
        let passkeyd =
            || verify_authentication(black_box(&vector.response), &expected, &stored).is_ok();
        assert!(passkeyd(), "{name} must verify before timing");
        group.bench(&format!("{name}/raw"), 1, raw);
        group.bench(&format!("{name}/passkeyd"), 1, passkeyd);
        let ids = [
            format!("auth_by_algorithm/{name}/raw"),
            format!("auth_by_algorithm/{name}/passkeyd"),
        ];
        if results.measured(&ids) {
            let (mut raw, mut passkeyd) = (raw, passkeyd);
            let interleaved = interleave(
                &format!("auth_by_algorithm/{name}"),
                &mut [("raw", &mut raw), ("passkeyd", &mut passkeyd)],
                1,
                Duration::from_millis(1500),
            );
            results.interleaved.borrow_mut().push(interleaved);
        }
    }
    group.finish();
}

/// One `none` registration per algorithm, each with a fresh key from the software authenticator.
pub(crate) fn registration_by_algorithm(criterion: &mut Criterion, results: &Results) {
    let registrations: Vec<(&str, OneRegistration)> = REGISTRATION_ALGORITHMS
        .iter()
        .map(|(name, alg)| {
            let registration = OneRegistration::generated(name, *alg, Attestation::None);
            (*name, registration)
        })
        .collect();
    let mut group = Group::new(
        criterion,
        results,
        "registration_by_algorithm",
        20,
        Duration::from_millis(300),
        Duration::from_millis(1500),
    );
    for (name, registration) in &registrations {
        let expected = registration.expected();
        group.bench(name, 1, || {
            verify_registration(black_box(&registration.response), &expected, NOW).is_ok()
        });
    }
    group.finish();
}

/// One registration per attestation format (and statement kind): made by the software
/// authenticator where it can, real corpus payloads for the platform formats.
pub(crate) fn registration_by_format(criterion: &mut Criterion, results: &Results) {
    let generated = [
        ("none", Attestation::None),
        ("packed_self", Attestation::PackedSelf),
        ("packed_x5c_generated", Attestation::PackedX5c),
        ("fido_u2f_generated", Attestation::FidoU2f),
    ];
    let registrations: Vec<(&str, OneRegistration)> = generated
        .into_iter()
        .map(|(name, attestation)| {
            let registration = OneRegistration::generated(name, CoseAlgorithm::Es256, attestation);
            (name, registration)
        })
        .chain(
            FORMAT_VECTORS
                .iter()
                .map(|(name, json)| (*name, OneRegistration::from_case(name, json))),
        )
        .collect();
    let mut group = Group::new(
        criterion,
        results,
        "registration_by_format",
        20,
        Duration::from_millis(300),
        Duration::from_millis(1500),
    );
    for (name, registration) in &registrations {
        let expected = registration.expected();
        group.bench(name, 1, || {
            verify_registration(
                black_box(&registration.response),
                &expected,
                registration.now,
            )
            .is_ok()
        });
    }
    group.finish();
}
