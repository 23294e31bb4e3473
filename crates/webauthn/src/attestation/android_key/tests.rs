//! Tests for `android-key`: the corpus cases through `verify_registration`, the TEE policy,
//! mutated statements that must fail at their own step, the authorization-list rules, and the
//! `KeyDescription` parser (hand-made DER and a no-panic property test).

use ciborium::value::Value;
use proptest::prelude::*;

use super::corpus::{attestation_error, replace_once, CorpusCase};
use super::key_description::{
    from_certificate, AuthorizationList, KeyDescription, SecurityLevel, KM_ORIGIN_GENERATED,
    KM_PURPOSE_SIGN,
};
use super::{check_authorizations, verify};
use crate::attestation::{certificate, AttestationPolicy};
use crate::cose_key::CredentialPublicKey;
use crate::error::{AttestationError, CeremonyError, VerifyError};
use crate::relying_party::sha256;

const PIXEL8A_PY: &str =
    include_str!("../../../tests/vectors/py_webauthn/android_key_pixel8a_2025.json");
const PIXEL8A_SWA: &str =
    include_str!("../../../tests/vectors/simplewebauthn/android_key_pixel8a_2025.json");
const GALAXY_S9: &str =
    include_str!("../../../tests/vectors/simplewebauthn/android_key_galaxy_s9_android10.json");
const CONFORMANCE_2020: &str =
    include_str!("../../../tests/vectors/simplewebauthn/android_key_fido_conformance_2020.json");
const CONFORMANCE_DONTNEEDA: &str = include_str!(
    "../../../tests/vectors/simplewebauthn/android_key_fido_conformance_dontneeda.json"
);
const FIDO2NETLIB_FAKE_CHAIN: &str =
    include_str!("../../../tests/vectors/go_webauthn/android_key_fido2netlib_fake_chain.json");
const WEBAUTHN_RS_SOFTWARE_ROOT: &str =
    include_str!("../../../tests/vectors/webauthn_rs/android_key_software_root_webauthn_org.json");
const W3C_NEG: &str =
    include_str!("../../../tests/vectors/w3c_spec_vectors/reg_android_key_es256_neg.json");

/// Cases whose key lives in a TEE and whose attestation was made there.
const HARDWARE: &[&str] = &[PIXEL8A_PY, PIXEL8A_SWA, GALAXY_S9];
/// Cases with a software attestation (FIDO conformance tools and the Keystore software root).
const SOFTWARE: &[&str] = &[
    CONFORMANCE_2020,
    CONFORMANCE_DONTNEEDA,
    FIDO2NETLIB_FAKE_CHAIN,
];

/// The webauthn-rs case with `id`/`rawId` set to the attested credential ID: the source test
/// reported another credential's ID, which `verify_registration` rightly refuses.
fn webauthn_rs_case_response(case: &CorpusCase) -> crate::json::RegistrationResponseJson {
    let mut response = case.response();
    let id = crate::json::base64url_decode(
        case.file["expect"]["credential_id"]
            .as_str()
            .expect("credential_id"),
    )
    .expect("base64url");
    response.id = crate::json::base64url_encode(&id);
    response.raw_id.0 = id;
    response
}

#[test]
fn corpus_cases_give_their_expected_outcome() {
    for json in HARDWARE.iter().chain(SOFTWARE).chain([&W3C_NEG]) {
        let case = CorpusCase::new(json);
        let result = case.verify(&case.policy());
        if case.expect_ok() {
            let verified = result.unwrap_or_else(|e| panic!("{}: {e}", case.file["source"]));
            case.assert_expected_fields(&verified);
        } else {
            // Both authorization lists are empty: no origin, so §8.4 step 5 fails.
            assert_eq!(
                attestation_error(result),
                AttestationError::Certificate(
                    "the key description's origin is not KM_ORIGIN_GENERATED"
                )
            );
        }
    }
}

#[test]
fn webauthn_rs_case_verifies_once_raw_id_names_the_attested_credential() {
    let case = CorpusCase::new(WEBAUTHN_RS_SOFTWARE_ROOT);
    // As stored: the attestation verifies, then the ceremony refuses the foreign rawId.
    assert_eq!(
        case.verify(&case.policy()).unwrap_err(),
        VerifyError::Ceremony(CeremonyError::CredentialIdMismatch)
    );
    let verified = case
        .verify_response(&webauthn_rs_case_response(&case), &case.policy())
        .expect("verifies");
    case.assert_expected_fields(&verified);
}

#[test]
fn require_tee_accepts_hardware_keys_only() {
    let tee = |case: &CorpusCase| AttestationPolicy {
        android_key_require_tee: true,
        ..case.policy()
    };
    for json in HARDWARE {
        let case = CorpusCase::new(json);
        let verified = case.verify(&tee(&case)).expect("a TEE key");
        case.assert_expected_fields(&verified);
    }
    let not_tee =
        AttestationError::Certificate("the key or its attestation is not in a TEE or StrongBox");
    for json in SOFTWARE.iter().chain([&W3C_NEG]) {
        let case = CorpusCase::new(json);
        assert_eq!(attestation_error(case.verify(&tee(&case))), not_tee);
    }
    // Keymaster in the TEE, but the attestation made in software (webauthn-rs: is_km_tee=true,
    // is_attest_tee=false).
    let case = CorpusCase::new(WEBAUTHN_RS_SOFTWARE_ROOT);
    let result = case.verify_response(&webauthn_rs_case_response(&case), &tee(&case));
    assert_eq!(attestation_error(result), not_tee);
}

/// The case's response with `x5c[0]` changed by `mutate`.
fn with_leaf(
    case: &CorpusCase,
    mutate: impl FnOnce(&mut Vec<u8>),
) -> crate::json::RegistrationResponseJson {
    case.response_with_statement(|statement| {
        let leaf = statement
            .iter_mut()
            .find(|(key, _)| key.as_text() == Some("x5c"))
            .and_then(|(_, value)| match value {
                Value::Array(chain) => chain.first_mut(),
                _ => None,
            })
            .and_then(|leaf| match leaf {
                Value::Bytes(leaf) => Some(leaf),
                _ => None,
            })
            .expect("x5c[0] is a certificate");
        mutate(leaf);
    })
}

/// Sets statement member `name` to `value`, or removes it when `value` is `None`.
fn set_member(statement: &mut Vec<(Value, Value)>, name: &str, value: Option<Value>) {
    statement.retain(|(k, _)| k.as_text() != Some(name));
    if let Some(value) = value {
        statement.push((Value::Text(name.to_owned()), value));
    }
}

#[test]
fn attestation_challenge_must_be_the_client_data_hash() {
    let case = CorpusCase::new(PIXEL8A_PY);
    let hash = sha256(&case.response().response.client_data_json.0);
    let mut other = hash;
    other[31] ^= 1;
    // The leaf's signature over its TBS breaks too, but the format check comes first.
    let response = with_leaf(&case, |leaf| replace_once(leaf, &hash, &other));
    assert_eq!(
        attestation_error(case.verify_response(&response, &case.policy())),
        AttestationError::Certificate("attestationChallenge is not the clientDataHash")
    );
}

#[test]
fn origin_must_be_generated() {
    let case = CorpusCase::new(PIXEL8A_PY);
    // teeEnforced origin [702] INTEGER 0 -> 1 (KM_ORIGIN_IMPORTED).
    let response = with_leaf(&case, |leaf| {
        replace_once(
            leaf,
            &[0xbf, 0x85, 0x3e, 0x03, 0x02, 0x01, 0x00],
            &[0xbf, 0x85, 0x3e, 0x03, 0x02, 0x01, 0x01],
        )
    });
    assert_eq!(
        attestation_error(case.verify_response(&response, &case.policy())),
        AttestationError::Certificate("the key description's origin is not KM_ORIGIN_GENERATED")
    );
}

#[test]
fn purpose_must_include_sign() {
    let case = CorpusCase::new(PIXEL8A_PY);
    // teeEnforced purpose [1] SET { 2 } -> SET { 3 } (KM_PURPOSE_VERIFY).
    let response = with_leaf(&case, |leaf| {
        replace_once(
            leaf,
            &[0xa1, 0x05, 0x31, 0x03, 0x02, 0x01, 0x02],
            &[0xa1, 0x05, 0x31, 0x03, 0x02, 0x01, 0x03],
        )
    });
    assert_eq!(
        attestation_error(case.verify_response(&response, &case.policy())),
        AttestationError::Certificate(
            "the key description's purpose does not include KM_PURPOSE_SIGN"
        )
    );
}

#[test]
fn all_applications_must_be_absent() {
    let case = CorpusCase::new(CONFORMANCE_2020);
    // teeEnforced rollbackResistant [703] NULL -> allApplications [600] NULL (same length).
    let response = with_leaf(&case, |leaf| {
        replace_once(
            leaf,
            &[0xbf, 0x85, 0x3f, 0x02, 0x05, 0x00],
            &[0xbf, 0x84, 0x58, 0x02, 0x05, 0x00],
        )
    });
    assert_eq!(
        attestation_error(case.verify_response(&response, &case.policy())),
        AttestationError::Certificate("the key description grants allApplications")
    );
}

#[test]
fn leaf_key_must_be_the_credential_key() {
    let case = CorpusCase::new(PIXEL8A_PY);
    let other = CorpusCase::new(GALAXY_S9);
    let other_key = other.with_input(&other.policy(), None, None, |input| {
        CredentialPublicKey::from_cose(
            input
                .auth_data
                .attested_credential_data
                .as_ref()
                .expect("acd")
                .credential_public_key,
        )
        .expect("key")
    });
    let policy = case.policy();
    let result = case.with_input(&policy, None, Some(&other_key), |input| {
        verify(input).map(|_| ())
    });
    assert_eq!(
        result,
        Err(AttestationError::Certificate(
            "the certificate key is not the credential public key"
        ))
    );
    // The unmodified input verifies.
    assert!(case
        .with_input(&policy, None, None, |input| verify(input).map(|_| ()))
        .is_ok());
}

#[test]
fn statement_members_are_checked() {
    let case = CorpusCase::new(PIXEL8A_PY);
    let policy = case.policy();
    let run = |mutate: fn(&mut Vec<(Value, Value)>)| {
        let mut statement = case.statement();
        mutate(&mut statement);
        case.with_input(&policy, Some(&statement), None, |input| {
            verify(input).map(|_| ())
        })
    };
    assert_eq!(
        run(|s| set_member(s, "x5c", None)),
        Err(AttestationError::Malformed("x5c is missing"))
    );
    assert_eq!(
        run(|s| set_member(s, "alg", None)),
        Err(AttestationError::Malformed(
            "alg is missing or not an integer"
        ))
    );
    // An algorithm the leaf key (P-256) cannot make.
    assert_eq!(
        run(|s| set_member(s, "alg", Some(Value::Integer((-257).into())))),
        Err(AttestationError::Algorithm(-257))
    );
    assert_eq!(
        run(|s| set_member(s, "alg", Some(Value::Integer(12345.into())))),
        Err(AttestationError::Algorithm(12345))
    );
    assert_eq!(
        run(|s| {
            for (k, v) in s.iter_mut() {
                if k.as_text() == Some("sig") {
                    let Value::Bytes(sig) = v else { panic!() };
                    let last = sig.len() - 1;
                    sig[last] ^= 1;
                }
            }
        }),
        Err(AttestationError::Signature)
    );
}

#[test]
fn the_extension_must_be_present() {
    let case = CorpusCase::new(PIXEL8A_PY);
    let statement = case.statement();
    let chain = crate::cbor::map_get(&statement, "x5c")
        .and_then(Value::as_array)
        .expect("x5c");
    let intermediate = chain[1].as_bytes().expect("DER");
    let cert = certificate::parse(intermediate).expect("certificate");
    assert_eq!(
        from_certificate(&cert),
        Err(AttestationError::Certificate(
            "the key description extension is missing"
        ))
    );
}

/// A key description with the given lists and security levels.
fn description(
    level: SecurityLevel,
    software_enforced: AuthorizationList,
    tee_enforced: AuthorizationList,
) -> KeyDescription<'static> {
    KeyDescription {
        attestation_version: 300,
        attestation_security_level: level,
        keymaster_version: 300,
        keymaster_security_level: level,
        attestation_challenge: &[],
        unique_id: &[],
        software_enforced,
        tee_enforced,
    }
}

/// An authorization list with `origin` and `purpose`.
fn list(origin: Option<u64>, purpose: Option<&[u64]>) -> AuthorizationList {
    AuthorizationList {
        purpose: purpose.map(<[u64]>::to_vec),
        all_applications: false,
        origin,
    }
}

#[test]
fn authorization_lists_union_or_tee_only() {
    let sign = Some(&[KM_PURPOSE_SIGN][..]);
    let generated = Some(KM_ORIGIN_GENERATED);
    let empty = AuthorizationList::default();
    let tee = SecurityLevel::TrustedEnvironment;
    let origin_error =
        AttestationError::Certificate("the key description's origin is not KM_ORIGIN_GENERATED");
    let purpose_error = AttestationError::Certificate(
        "the key description's purpose does not include KM_PURPOSE_SIGN",
    );

    // Everything in teeEnforced: accepted under both policies.
    let d = description(tee, empty.clone(), list(generated, sign));
    assert_eq!(check_authorizations(&d, false), Ok(()));
    assert_eq!(check_authorizations(&d, true), Ok(()));
    // StrongBox counts as hardware.
    let d = description(
        SecurityLevel::StrongBox,
        empty.clone(),
        list(generated, sign),
    );
    assert_eq!(check_authorizations(&d, true), Ok(()));

    // Everything in softwareEnforced: the union accepts it, TEE-only does not.
    let d = description(tee, list(generated, sign), empty.clone());
    assert_eq!(check_authorizations(&d, false), Ok(()));
    assert_eq!(check_authorizations(&d, true), Err(origin_error.clone()));

    // Split across the lists: fine for the union.
    let d = description(tee, list(None, sign), list(generated, None));
    assert_eq!(check_authorizations(&d, false), Ok(()));
    assert_eq!(check_authorizations(&d, true), Err(purpose_error.clone()));

    // The lists disagree about origin: no list that counts may say "not generated".
    let d = description(tee, list(Some(1), None), list(generated, sign));
    assert_eq!(check_authorizations(&d, false), Err(origin_error.clone()));
    assert_eq!(check_authorizations(&d, true), Ok(()));

    // Purposes other than SIGN alongside SIGN are fine; without SIGN they are not.
    let d = description(tee, empty.clone(), list(generated, Some(&[3, 2])));
    assert_eq!(check_authorizations(&d, true), Ok(()));
    let d = description(tee, empty.clone(), list(generated, Some(&[0, 1, 3])));
    assert_eq!(check_authorizations(&d, false), Err(purpose_error.clone()));
    let d = description(tee, empty.clone(), list(generated, Some(&[])));
    assert_eq!(check_authorizations(&d, false), Err(purpose_error));

    // Nothing at all.
    let d = description(tee, empty.clone(), empty.clone());
    assert_eq!(check_authorizations(&d, false), Err(origin_error));

    // allApplications in either list, under either policy.
    for (software, tee_list) in [
        (list(None, None), list(generated, sign)),
        (list(generated, sign), list(None, None)),
    ] {
        for which in 0..2 {
            let mut d = description(tee, software.clone(), tee_list.clone());
            if which == 0 {
                d.software_enforced.all_applications = true;
            } else {
                d.tee_enforced.all_applications = true;
            }
            for require_tee in [false, true] {
                assert_eq!(
                    check_authorizations(&d, require_tee),
                    Err(AttestationError::Certificate(
                        "the key description grants allApplications"
                    ))
                );
            }
        }
    }

    // TEE-only needs both security levels in hardware.
    let mut d = description(tee, empty.clone(), list(generated, sign));
    d.keymaster_security_level = SecurityLevel::Software;
    assert!(check_authorizations(&d, true).is_err());
    assert_eq!(check_authorizations(&d, false), Ok(()));
    let mut d = description(tee, empty, list(generated, sign));
    d.attestation_security_level = SecurityLevel::Software;
    assert!(check_authorizations(&d, true).is_err());
}

// --- KeyDescription parser, on hand-made DER ---

/// A DER element with identifier octets `tag` and content `content`.
fn tlv(tag: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of `items`.
fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(&[0x30], &items.concat())
}

/// A SET of `items`.
fn set(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(&[0x31], &items.concat())
}

/// A small non-negative INTEGER.
fn int(value: u8) -> Vec<u8> {
    if value & 0x80 == 0 {
        tlv(&[0x02], &[value])
    } else {
        tlv(&[0x02], &[0, value])
    }
}

/// A small ENUMERATED.
fn enumerated(value: u8) -> Vec<u8> {
    tlv(&[0x0a], &[value])
}

/// An OCTET STRING.
fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(&[0x04], bytes)
}

/// `[tag] EXPLICIT inner`, context-specific and constructed.
fn explicit(tag: u32, inner: &[u8]) -> Vec<u8> {
    let identifier = if tag < 31 {
        vec![0xa0 | tag as u8]
    } else {
        let mut groups = Vec::new();
        let mut n = tag;
        while n > 0 {
            groups.push((n & 0x7f) as u8);
            n >>= 7;
        }
        let mut id = vec![0xbf];
        for (i, g) in groups.iter().enumerate().rev() {
            id.push(if i == 0 { *g } else { g | 0x80 });
        }
        id
    };
    tlv(&identifier, inner)
}

/// A typical teeEnforced list: purpose {SIGN}, algorithm EC, origin GENERATED.
fn tee_list() -> Vec<u8> {
    seq(&[
        explicit(1, &set(&[int(2)])),
        explicit(2, &int(3)),
        explicit(702, &int(0)),
    ])
}

/// A KeyDescription from its eight members.
fn key_description(members: &[Vec<u8>]) -> Vec<u8> {
    seq(members)
}

/// The eight members of a valid description.
fn members() -> Vec<Vec<u8>> {
    vec![
        int(200),
        enumerated(1),
        int(200),
        enumerated(2),
        octets(&[0xaa; 32]),
        octets(&[]),
        seq(&[explicit(701, &int(5)), explicit(709, &octets(b"app"))]),
        tee_list(),
    ]
}

#[test]
fn parses_a_valid_description() {
    let der = key_description(&members());
    let parsed = KeyDescription::parse(&der).expect("valid");
    assert_eq!(parsed.attestation_version, 200);
    assert_eq!(
        parsed.attestation_security_level,
        SecurityLevel::TrustedEnvironment
    );
    assert_eq!(parsed.keymaster_version, 200);
    assert_eq!(parsed.keymaster_security_level, SecurityLevel::StrongBox);
    assert_eq!(parsed.attestation_challenge, &[0xaa; 32]);
    assert!(parsed.unique_id.is_empty());
    assert_eq!(parsed.software_enforced, AuthorizationList::default());
    assert_eq!(
        parsed.tee_enforced,
        AuthorizationList {
            purpose: Some(vec![2]),
            all_applications: false,
            origin: Some(0),
        }
    );

    // allApplications, several purposes, and tags out of order (not enforced).
    let mut m = members();
    m[6] = seq(&[
        explicit(702, &int(0)),
        explicit(600, &[0x05, 0x00]),
        explicit(1, &set(&[int(2), int(3)])),
    ]);
    let der = key_description(&m);
    let parsed = KeyDescription::parse(&der).expect("valid");
    assert!(parsed.software_enforced.all_applications);
    assert_eq!(parsed.software_enforced.purpose, Some(vec![2, 3]));
    assert_eq!(parsed.software_enforced.origin, Some(0));
}

/// Asserts that `der` is refused with `reason`.
fn refused(der: &[u8], reason: &str) {
    match KeyDescription::parse(der) {
        Err(AttestationError::Certificate(got)) => assert_eq!(got, reason, "{der:02x?}"),
        other => panic!("expected {reason:?}, got {other:?}"),
    }
}

#[test]
fn refuses_malformed_descriptions() {
    let valid = key_description(&members());

    let mut trailing = valid.clone();
    trailing.push(0);
    refused(&trailing, "key description: bytes after the KeyDescription");
    refused(&valid[..valid.len() - 1], "key description: not valid DER");
    refused(&[], "key description: not valid DER");
    // Indefinite length.
    refused(&[0x30, 0x80, 0x00, 0x00], "key description: not valid DER");
    // A long-form length for a short content.
    let mut long_length = vec![0x30, 0x81, (valid.len() - 2) as u8];
    long_length.extend_from_slice(&valid[2..]);
    refused(
        &long_length,
        "key description: a length is not in its shortest form",
    );

    let with = |index: usize, member: Vec<u8>| {
        let mut m = members();
        m[index] = member;
        key_description(&m)
    };
    refused(
        &with(0, octets(&[1])),
        "key description: attestationVersion is not an INTEGER",
    );
    refused(
        &with(0, tlv(&[0x02], &[0xff])),
        "key description: an integer is negative",
    );
    refused(
        &with(0, tlv(&[0x02], &[0x00, 0x01])),
        "key description: an integer is not minimally encoded",
    );
    refused(
        &with(0, tlv(&[0x02], &[])),
        "key description: an integer is empty",
    );
    refused(
        &with(0, tlv(&[0x02], &[0x01; 9])),
        "key description: an integer does not fit in 64 bits",
    );
    refused(
        &with(1, int(1)),
        "key description: a SecurityLevel is not an ENUMERATED",
    );
    refused(
        &with(3, enumerated(3)),
        "key description: unknown SecurityLevel",
    );
    refused(
        &with(4, int(1)),
        "key description: attestationChallenge is not an OCTET STRING",
    );
    // A constructed OCTET STRING (BER only).
    refused(
        &with(4, tlv(&[0x24], &octets(&[1]))),
        "key description: attestationChallenge is not an OCTET STRING",
    );
    refused(
        &with(7, set(&[])),
        "key description: an AuthorizationList is not a SEQUENCE",
    );

    let mut short = members();
    short.pop();
    refused(
        &key_description(&short),
        "key description: teeEnforced is missing",
    );
    let mut long = members();
    long.push(seq(&[]));
    refused(
        &key_description(&long),
        "key description: more than eight members",
    );
    refused(&seq(&[]), "key description: attestationVersion is missing");
    refused(&set(&members()), "key description: not a SEQUENCE");

    // Authorization list members.
    let with_list = |items: &[Vec<u8>]| with(7, seq(items));
    refused(
        &with_list(&[explicit(702, &int(0)), explicit(702, &int(0))]),
        "key description: an AuthorizationList tag appears twice",
    );
    refused(
        &with_list(&[int(0)]),
        "key description: an AuthorizationList member is not [n] EXPLICIT",
    );
    // [702] IMPLICIT INTEGER (primitive).
    refused(
        &with_list(&[tlv(&[0x9f, 0x85, 0x3e], &[0])]),
        "key description: an AuthorizationList member is not [n] EXPLICIT",
    );
    refused(
        &with_list(&[explicit(702, &[int(0), int(0)].concat())]),
        "key description: an [n] EXPLICIT member holds more than one element",
    );
    refused(
        &with_list(&[explicit(702, &[])]),
        "key description: not valid DER",
    );
    refused(
        &with_list(&[explicit(702, &octets(&[0]))]),
        "key description: origin is not an INTEGER",
    );
    refused(
        &with_list(&[explicit(1, &int(2))]),
        "key description: purpose is not a SET OF INTEGER",
    );
    refused(
        &with_list(&[explicit(1, &set(&[octets(&[2])]))]),
        "key description: purpose is not a SET OF INTEGER",
    );
    refused(
        &with_list(&[explicit(600, &int(0))]),
        "key description: allApplications is not NULL",
    );
    refused(
        &with_list(&[explicit(600, &[0x05, 0x01, 0x00])]),
        "key description: allApplications is not NULL",
    );
    // Tag 600 with a redundant leading 0x80 group, and tag 702 aliased through five groups that
    // overflow 32 bits: both must not be read as the short form.
    refused(
        &with_list(&[tlv(&[0xbf, 0x80, 0x84, 0x58], &[0x05, 0x00])]),
        "key description: a tag is not in its shortest form",
    );
    refused(
        &with_list(&[tlv(&[0xbf, 0xf0, 0x80, 0x80, 0x85, 0x3e], &int(0))]),
        "key description: a tag is not in its shortest form",
    );
    // A low tag number in the high-tag form.
    refused(
        &with_list(&[tlv(&[0xbf, 0x01], &set(&[int(2)]))]),
        "key description: a tag is not in its shortest form",
    );
    // Unread members are only framed: any single element is fine.
    let der = with_list(&[
        explicit(704, &seq(&[octets(&[1]), tlv(&[0x01], &[0xff])])),
        explicit(10_000, &octets(&[])),
    ]);
    let parsed = KeyDescription::parse(&der).expect("valid");
    assert_eq!(parsed.tee_enforced, AuthorizationList::default());
}

#[test]
fn parses_every_corpus_description() {
    for json in HARDWARE
        .iter()
        .chain(SOFTWARE)
        .chain([&WEBAUTHN_RS_SOFTWARE_ROOT, &W3C_NEG])
    {
        let case = CorpusCase::new(json);
        let statement = case.statement();
        let chain = crate::cbor::map_get(&statement, "x5c")
            .and_then(Value::as_array)
            .expect("x5c");
        let leaf = certificate::parse(chain[0].as_bytes().expect("DER")).expect("certificate");
        let parsed = from_certificate(&leaf).expect("a key description");
        assert_eq!(parsed.attestation_challenge.len(), 32);
    }
}

proptest! {
    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = KeyDescription::parse(&bytes);
    }

    #[test]
    fn parser_never_panics_on_mutated_descriptions(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut der = key_description(&members());
        for (index, byte) in edits {
            let i = index.index(der.len());
            der[i] = byte;
        }
        let _ = KeyDescription::parse(&der);
        let end = cut.index(der.len() + 1);
        let _ = KeyDescription::parse(&der[..end]);
    }
}
