use super::*;
use crate::attestation::{AttestationPolicy, AttestationType};
use crate::authentication::{
    verify_authentication, ExpectedAuthentication, StoredCredential, UserIdentification,
};
use crate::json::{AuthenticationResponseJson, RegistrationResponseJson};
use crate::registration::{verify_registration, ExpectedRegistration};
use crate::relying_party::RelyingParty;
use crate::trust::{TrustAnchors, UnixTime};
use crate::{
    AuthenticatorData, AuthenticatorFlags, CoseAlgorithm, CredentialPublicKey, VerifyError,
};

const RP_ID: &str = "rp.example";
const ORIGIN: &str = "https://rp.example";
const NOW: UnixTime = UnixTime(1_795_392_000);

fn rp() -> RelyingParty {
    RelyingParty::new(RP_ID, [ORIGIN])
}

fn register(
    response: &RegistrationResponse,
    challenge: &[u8],
    policy: &AttestationPolicy,
) -> Result<crate::VerifiedRegistration, VerifyError> {
    let rp = rp();
    let json = serde_json::to_vec(&response.to_json()).unwrap();
    let parsed = RegistrationResponseJson::from_json(&json)?;
    verify_registration(
        &parsed,
        &ExpectedRegistration::new(&rp, challenge, policy),
        NOW,
    )
}

fn authenticate(
    credential: &Credential,
    response: &AssertionResponse,
    challenge: &[u8],
    stored_count: u32,
) -> Result<crate::VerifiedAuthentication, VerifyError> {
    let rp = rp();
    let json = serde_json::to_vec(&response.to_json()).unwrap();
    let parsed = AuthenticationResponseJson::from_json(&json)?;
    let allow = [credential.id.as_slice()];
    let expected = ExpectedAuthentication::new(
        &rp,
        challenge,
        UserIdentification::Identified {
            user_handle: &credential.user_handle,
            allow_credentials: &allow,
        },
    );
    let public_key = credential.cose_key();
    let stored = StoredCredential {
        credential_id: &credential.id,
        public_key: &public_key,
        sign_count: stored_count,
        backup_eligible: credential.backup_eligible,
        user_handle: &credential.user_handle,
    };
    verify_authentication(&parsed, &expected, &stored)
}

#[test]
fn every_algorithm_registers_and_authenticates() {
    for alg in CredentialKey::ALGORITHMS {
        let credential = Credential::new(alg, RP_ID);
        let parsed = CredentialPublicKey::from_cose(&credential.cose_key()).unwrap();
        assert_eq!(parsed.algorithm(), alg);

        for (packed, expected_type) in [
            (false, AttestationType::None),
            (true, AttestationType::SelfAttestation),
        ] {
            let challenge = random_bytes(32);
            let builder = credential.register(&challenge, ORIGIN);
            let builder = if packed {
                builder.packed_self()
            } else {
                builder
            };
            let verified = register(&builder.build(), &challenge, &AttestationPolicy::default())
                .unwrap_or_else(|e| panic!("{alg} registration: {e}"));
            assert_eq!(verified.algorithm, alg);
            assert_eq!(verified.attestation.attestation_type, expected_type);
            assert_eq!(verified.credential_id, credential.id);
            assert_eq!(verified.public_key, credential.cose_key());
            assert_eq!(verified.aaguid, TEST_AAGUID);
        }

        let challenge = random_bytes(32);
        let assertion = credential.assert(&challenge, ORIGIN).sign_count(5).build();
        let verified = authenticate(&credential, &assertion, &challenge, 4)
            .unwrap_or_else(|e| panic!("{alg} authentication: {e}"));
        assert_eq!(verified.sign_count, 5);
        assert!(verified.user_verified());
    }
}

#[test]
fn cose_keys_are_ctap2_canonical() {
    let key = CredentialKey::generate(CoseAlgorithm::Es256).cose_key();
    // {1: 2, 3: -7, -1: 1, -2: x, -3: y}
    assert_eq!(&key[..7], &[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]);
    let shuffled = encode_cose_key(&[
        (-1, Value::from(1)),
        (3, Value::from(-7)),
        (-3, Value::Bytes(vec![1])),
        (1, Value::from(2)),
        (-2, Value::Bytes(vec![2])),
    ]);
    let Value::Map(entries) = ciborium::de::from_reader::<Value, _>(&shuffled[..]).unwrap() else {
        panic!("not a map")
    };
    let labels: Vec<_> = entries
        .iter()
        .map(|(k, _)| i64::try_from(k.as_integer().unwrap()).unwrap())
        .collect();
    assert_eq!(labels, [1, 3, -1, -2, -3]);
}

#[test]
fn x5c_and_u2f_attestation_chain_to_the_test_root() {
    let ca = AttestationCa::generate("passkeyd test root");
    let mut anchors = TrustAnchors::new();
    anchors.add_pem(&ca.pem()).unwrap();
    let policy = AttestationPolicy {
        trust_anchors: anchors,
        require_trusted_chain: true,
        ..AttestationPolicy::default()
    };
    let credential = Credential::new(CoseAlgorithm::Es256, RP_ID);

    let leaf = ca.issue(&CertificateParams::packed(credential.aaguid));
    let challenge = random_bytes(32);
    let response = credential
        .register(&challenge, ORIGIN)
        .packed_x5c(&leaf, Vec::new())
        .build();
    let verified = register(&response, &challenge, &policy).unwrap();
    assert_eq!(
        verified.attestation.attestation_type,
        AttestationType::Basic
    );
    assert!(verified.attestation.trusted);

    let u2f = ca.issue(&CertificateParams::fido_u2f());
    let response = credential
        .register(&challenge, ORIGIN)
        .fido_u2f(&u2f)
        .build();
    let verified = register(&response, &challenge, &policy).unwrap();
    assert_eq!(verified.attestation.format.as_str(), "fido-u2f");
    assert!(verified.attestation.trusted);

    let stranger = AttestationCa::generate("someone else");
    let leaf = stranger.issue(&CertificateParams::packed(credential.aaguid));
    let response = credential
        .register(&challenge, ORIGIN)
        .packed_x5c(&leaf, vec![stranger.der().to_vec()])
        .build();
    let error = register(&response, &challenge, &policy).unwrap_err();
    assert_eq!(error.code(), "attestation_untrusted");
}

#[test]
fn knobs_change_what_they_say() {
    let credential = Credential::new(CoseAlgorithm::EdDsa, RP_ID);
    let challenge = random_bytes(16);
    let response = credential
        .register(&challenge, ORIGIN)
        .user_verified(false)
        .backup_eligible(true)
        .sign_count(9)
        .credential_id(vec![1, 2, 3])
        .top_origin("https://top.example")
        .push_client_data_member("extra", "{\"a\":1}")
        .build();
    let text = String::from_utf8(response.client_data_json.clone()).unwrap();
    assert!(text.ends_with(r#","topOrigin":"https://top.example","extra":{"a":1}}"#));
    assert_eq!(response.raw_id, [1, 2, 3]);
    assert_eq!(response.id, "AQID");
    let auth_data = &response
        .convenience_copies
        .as_ref()
        .unwrap()
        .authenticator_data;
    let parsed = AuthenticatorData::parse(auth_data).unwrap();
    assert_eq!(
        parsed.flags.0,
        AuthenticatorFlags::USER_PRESENT
            | AuthenticatorFlags::BACKUP_ELIGIBLE
            | AuthenticatorFlags::ATTESTED_DATA
    );
    assert_eq!(parsed.sign_count, 9);
    assert_eq!(
        parsed.attested_credential_data.unwrap().credential_id,
        &[1, 2, 3]
    );

    let assertion = credential
        .assert(&challenge, ORIGIN)
        .user_handle(None)
        .rp_id("evil.example")
        .trailing_bytes(vec![0])
        .build();
    assert_eq!(assertion.authenticator_data.len(), 38);
    assert_eq!(
        &assertion.authenticator_data[..32],
        &sha256(b"evil.example")
    );
    assert!(assertion.to_json()["response"].get("userHandle").is_none());
}

#[test]
fn der_integers_and_lengths() {
    assert_eq!(der::uint(&[0, 0, 0x80]), [0x02, 0x02, 0x00, 0x80]);
    assert_eq!(der::uint(&[0, 0]), [0x02, 0x01, 0x00]);
    assert_eq!(der::uint(&[2]), [0x02, 0x01, 0x02]);
    assert_eq!(&der::tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
    assert_eq!(
        der::oid(&[1, 2, 840, 10045, 2, 1]),
        [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]
    );
}
