//! `AuthenticationResponseJson::from_json`, then `verify_authentication` against an expectation
//! built from the response's own client data and a stored credential from the seed's hints (see
//! `src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::json::base64url_decode;
use passkeyd_webauthn::{
    verify_authentication, AuthenticationResponseJson, AuthenticatorData, ExpectedAuthentication,
    StoredCredential, UserIdentification,
};
use passkeyd_webauthn_fuzz::{expectation_from_client_data, rp_id_for, Hints};

/// A P-256 credential key (py_webauthn's `auth_es256_localhost` vector), used when the input
/// carries no `credential_public_key` hint.
const DEFAULT_KEY: &str = "pQECAyYgASFYIIeDTe-gN8A-zQclHoRnGFWN8ehM1b7yAsa8I8KIvmplIlgg4nFGT5px8o6gpPZZhO01wdy9crDSA_Ngtkx0vGpvPHI";

fuzz_target!(|data: &[u8]| {
    let Ok(response) = AuthenticationResponseJson::from_json(data) else {
        return;
    };
    let hints = Hints::read(data);
    let auth_data_bytes = &response.response.authenticator_data.0;
    let rp_id = hints
        .rp_id
        .clone()
        .unwrap_or_else(|| rp_id_for(auth_data_bytes, "example.org").to_owned());
    let (rp, challenge) =
        expectation_from_client_data(&response.response.client_data_json.0, &rp_id);
    let public_key = hints
        .credential_public_key
        .clone()
        .unwrap_or_else(|| base64url_decode(DEFAULT_KEY).unwrap_or_default());
    let backup_eligible = AuthenticatorData::parse(auth_data_bytes)
        .map(|a| a.flags.backup_eligible())
        .unwrap_or(false);
    let user_handle = response
        .response
        .user_handle
        .as_ref()
        .map_or_else(|| b"user".to_vec(), |h| h.0.clone());
    let stored = StoredCredential {
        credential_id: &response.raw_id.0,
        public_key: &public_key,
        sign_count: hints.prior_sign_count.unwrap_or(0),
        backup_eligible,
        user_handle: &user_handle,
    };
    let allow = [response.raw_id.0.as_slice()];
    for identification in [
        UserIdentification::Discoverable,
        UserIdentification::Identified {
            user_handle: &user_handle,
            allow_credentials: &allow,
        },
    ] {
        let expected = ExpectedAuthentication::new(&rp, &challenge, identification);
        if let Ok(verified) = verify_authentication(&response, &expected, &stored) {
            assert_eq!(verified.credential_id, response.raw_id.0);
            assert!(
                verified.sign_count > stored.sign_count
                    || (verified.sign_count == 0 && stored.sign_count == 0)
            );
        }
    }
});
