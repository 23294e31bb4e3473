//! `AuthenticatorData::parse`; on success `to_vec` gives back the input byte for byte, and the
//! attested credential key goes through `CredentialPublicKey::from_cose`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::{AuthenticatorData, CredentialPublicKey};

fuzz_target!(|data: &[u8]| {
    let Ok(auth_data) = AuthenticatorData::parse(data) else {
        return;
    };
    assert_eq!(auth_data.to_vec(), data, "parse and to_vec must round-trip");
    assert_eq!(
        auth_data.attested_credential_data.is_some(),
        auth_data.flags.attested_data()
    );
    assert_eq!(
        auth_data.extensions.is_some(),
        auth_data.flags.extension_data()
    );
    let _ = auth_data.verify_common(auth_data.rp_id_hash, true, true);
    if let Some(acd) = &auth_data.attested_credential_data {
        assert!(acd.credential_id.len() <= 1023);
        let _ = CredentialPublicKey::from_cose(acd.credential_public_key);
    }
});
