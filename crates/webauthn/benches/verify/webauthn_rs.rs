//! The webauthn-rs-core 0.6 baseline: another Rust relying-party library, driven through its
//! documented low-level API (`WebauthnCore`) on the very same ES256 assertions.
//!
//! webauthn-rs makes its own challenges, so the comparison set is built in its order: the
//! credential is registered with webauthn-rs (a `none` registration of the bench's key), then
//! webauthn-rs issues one authentication challenge per assertion, and the bench signs those
//! challenges for every verifier alike.

use std::time::Duration;

use passkeyd_webauthn::RelyingParty;
use url::Url;
use webauthn_rs_core::proto::{
    AuthenticationState, Credential, PublicKeyCredential, RegisterPublicKeyCredential,
};
use webauthn_rs_core::WebauthnCore;

use crate::inputs::{derived, none_registration};
use crate::{ORIGIN, RP_ID};

/// A webauthn-rs relying party holding one registered ES256 credential.
pub(crate) struct WebauthnRs {
    core: WebauthnCore,
    credential: Credential,
}

impl WebauthnRs {
    /// Registers the P-256 key `point` under `credential_id`.
    pub(crate) fn register(point: &[u8], credential_id: &[u8]) -> Self {
        let origin = Url::parse(ORIGIN).expect("a valid origin");
        let core = WebauthnCore::new_unsafe_experts_only(
            "passkeyd bench",
            RP_ID,
            vec![origin],
            Duration::from_secs(60),
            None,
            None,
        );
        let user = derived("webauthn-rs user", 0);
        let builder = core
            .new_challenge_register_builder(&user[..16], "bench", "bench")
            .expect("a registration builder");
        let (options, state) = core
            .generate_challenge_register(builder)
            .expect("a registration challenge");
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let response = none_registration(&rp, point, credential_id, &options.public_key.challenge);
        let json = serde_json::to_value(&response).expect("serializing a registration");
        let response: RegisterPublicKeyCredential =
            serde_json::from_value(json).expect("webauthn-rs reads the registration");
        let credential = core
            .register_credential(&response, &state, None)
            .expect("webauthn-rs registers the credential");
        Self { core, credential }
    }

    /// `n` authentication ceremonies begun: their challenges, and the states webauthn-rs keeps.
    pub(crate) fn begin(&self, n: usize) -> (Vec<Vec<u8>>, Vec<AuthenticationState>) {
        (0..n)
            .map(|_| {
                let builder = self
                    .core
                    .new_challenge_authenticate_builder(vec![self.credential.clone()], None)
                    .expect("an authentication builder");
                let (options, state) = self
                    .core
                    .generate_challenge_authenticate(builder)
                    .expect("an authentication challenge");
                (options.public_key.challenge, state)
            })
            .unzip()
    }

    /// webauthn-rs's whole assertion check (`authenticate_credential`).
    pub(crate) fn verify(
        &self,
        response: &PublicKeyCredential,
        state: &AuthenticationState,
    ) -> bool {
        self.core.authenticate_credential(response, state).is_ok()
    }

    /// As [`Self::verify`], from the request body (parsed here).
    pub(crate) fn parse_and_verify(&self, body: &[u8], state: &AuthenticationState) -> bool {
        serde_json::from_slice::<PublicKeyCredential>(body)
            .is_ok_and(|response| self.verify(&response, state))
    }
}
