//! A registration response around arbitrary `attestationObject` bytes, with valid client data,
//! through `verify_registration` under a permissive and a strict attestation policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::json::{
    base64url_encode, AuthenticatorAttestationResponseJson, Base64UrlBytes,
};
use passkeyd_webauthn::{
    verify_registration, CoseAlgorithm, CredentialPublicKey, ExpectedRegistration,
    RegistrationResponseJson, RelyingParty,
};
use passkeyd_webauthn_fuzz::{
    attestation_auth_data, attested_credential_id, policies, rp_id_for, CHALLENGE, NOW,
};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let auth_data = attestation_auth_data(data).unwrap_or_default();
    let rp_id = rp_id_for(&auth_data, "example.org");
    let origin = format!("https://{rp_id}");
    // rawId must be the attested credential ID for a response to verify completely.
    let raw_id = attested_credential_id(&auth_data).unwrap_or_else(|| b"fuzz".to_vec());
    let client_data_json = format!(
        r#"{{"type":"webauthn.create","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#,
        base64url_encode(CHALLENGE)
    );
    let response = RegistrationResponseJson {
        id: base64url_encode(&raw_id),
        raw_id: Base64UrlBytes(raw_id),
        response: AuthenticatorAttestationResponseJson {
            client_data_json: Base64UrlBytes(client_data_json.into_bytes()),
            attestation_object: Base64UrlBytes(data.to_vec()),
            transports: Vec::new(),
            authenticator_data: None,
            public_key: None,
            public_key_algorithm: None,
        },
        authenticator_attachment: None,
        client_extension_results: serde_json::Map::new(),
        type_: "public-key".to_owned(),
    };
    let rp = RelyingParty::new(rp_id, [origin.as_str()]);
    for policy in policies() {
        let mut expected = ExpectedRegistration::new(&rp, CHALLENGE, &policy);
        expected.algorithms = &CoseAlgorithm::ALL;
        let Ok(verified) = verify_registration(&response, &expected, NOW) else {
            continue;
        };
        // Whatever is accepted can be stored and used for authentication later.
        let key = CredentialPublicKey::from_cose(&verified.public_key)
            .expect("an accepted credential key parses again");
        assert_eq!(key.algorithm(), verified.algorithm);
        assert_eq!(verified.credential_id, response.raw_id.0);
        if policy.require_trusted_chain {
            assert!(verified.attestation.trusted || verified.attestation.trust_path.is_empty());
        }
    }
});
