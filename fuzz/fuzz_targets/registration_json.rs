//! `RegistrationResponseJson::from_json`, then `verify_registration` against an expectation built
//! from the response's own client data (see `src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::{
    verify_registration, CoseAlgorithm, CredentialPublicKey, ExpectedRegistration,
    RegistrationResponseJson, UnixTime,
};
use passkeyd_webauthn_fuzz::{
    attestation_auth_data, expectation_from_client_data, policies, rp_id_for, Hints, NOW,
};

fuzz_target!(|data: &[u8]| {
    let Ok(response) = RegistrationResponseJson::from_json(data) else {
        return;
    };
    let hints = Hints::read(data);
    let auth_data =
        attestation_auth_data(&response.response.attestation_object.0).unwrap_or_default();
    let rp_id = hints
        .rp_id
        .clone()
        .unwrap_or_else(|| rp_id_for(&auth_data, "example.org").to_owned());
    let (rp, challenge) =
        expectation_from_client_data(&response.response.client_data_json.0, &rp_id);
    let now = hints.now.map_or(NOW, UnixTime);
    for policy in policies() {
        let mut expected = ExpectedRegistration::new(&rp, &challenge, &policy);
        expected.algorithms = &CoseAlgorithm::ALL;
        let Ok(verified) = verify_registration(&response, &expected, now) else {
            continue;
        };
        let key = CredentialPublicKey::from_cose(&verified.public_key)
            .expect("an accepted credential key parses again");
        assert_eq!(key.algorithm(), verified.algorithm);
        assert_eq!(verified.credential_id, response.raw_id.0);
    }
});
