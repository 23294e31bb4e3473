//! The stand-ins of public named sign-ins for names that have no passkeys: decoy credential IDs
//! at begin, and at finish a stand-in credential that takes the same steps as a real one.

use passkeyd_webauthn::json::PublicKeyCredentialDescriptor;
use passkeyd_webauthn::AuthenticationResponseJson;

use super::Context;
use crate::state::AppState;

/// The backup-eligibility flag the response claims, so the stand-in credential agrees with it
/// and the decoy path never stops where a real credential would not.
pub(super) fn parsed_backup_eligible(parsed: &AuthenticationResponseJson) -> bool {
    // authenticatorData: rpIdHash (32 bytes), then the flags byte; BE is bit 3.
    parsed
        .response
        .authenticator_data
        .0
        .get(32)
        .is_some_and(|flags| flags & 0x08 != 0)
}

/// A user handle for the stand-in credential of a public named sign-in's decoy path:
/// derived like the decoy credential IDs, so it is stable and nobody can present it.
pub(super) fn decoy_user_handle(state: &AppState, ctx: &Context, name: &str) -> Vec<u8> {
    let mut message = ctx.tenant.id.as_str().as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(name.as_bytes());
    state
        .master_key
        .mac("passkeyd decoy user handle v1", &message)
        .to_vec()
}

/// The stand-in public key of the decoy path: a COSE_Key (RFC 9052) for ES256 whose point is
/// the P-256 base point. Hand-encoded CBOR: the server crate has no CBOR encoder, and this is
/// one constant. Its private key is known (1), which is harmless: the decoy path answers a
/// refusal whatever the verifier says; the key only makes it do a real signature check.
pub(super) const DECOY_PUBLIC_KEY: [u8; 77] = {
    // A map of five: kty EC2, alg -7 (ES256), crv P-256, then x and y (32-byte strings).
    const HEAD: [u8; 10] = [0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
    const X: [u8; 32] = [
        0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40,
        0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98,
        0xc2, 0x96,
    ];
    const Y_HEAD: [u8; 3] = [0x22, 0x58, 0x20];
    const Y: [u8; 32] = [
        0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e,
        0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf,
        0x51, 0xf5,
    ];
    let mut key = [0; 77];
    let mut i = 0;
    while i < 77 {
        key[i] = match i {
            0..10 => HEAD[i],
            10..42 => X[i - 10],
            42..45 => Y_HEAD[i - 42],
            _ => Y[i - 45],
        };
        i += 1;
    }
    key
};

/// The `allowCredentials` a public route shows for a name with no passkeys: one credential ID
/// derived from the name under the master key, so it is the same on every request and every
/// node (a list that changed between requests would itself tell the name is unknown), yet
/// nobody without the master key can tell it from a real one. Real users keep their real list,
/// which security keys without discoverable credentials need.
pub(super) fn decoy_credentials(
    state: &AppState,
    ctx: &Context,
    name: &str,
) -> Vec<PublicKeyCredentialDescriptor> {
    let mut message = ctx.tenant.id.as_str().as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(name.as_bytes());
    let id = state
        .master_key
        .mac("passkeyd decoy credential v1", &message);
    vec![PublicKeyCredentialDescriptor::new(
        id.to_vec(),
        vec!["hybrid".to_owned(), "internal".to_owned()],
    )]
}

#[cfg(test)]
mod tests {
    use super::DECOY_PUBLIC_KEY;

    #[test]
    fn the_stand_in_key_is_a_valid_es256_key() {
        let key = passkeyd_webauthn::CredentialPublicKey::from_stored(&DECOY_PUBLIC_KEY);
        assert!(key.is_ok(), "{key:?}");
    }
}
