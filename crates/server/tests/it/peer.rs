//! A second WebAuthn implementation to test passkeyd against: 1Password's `passkey-client`
//! driving a `passkey-authenticator` software authenticator.
//!
//! [`Peer`] takes the L3 JSON options a server sends (what `parseCreationOptionsFromJSON()` and
//! `parseRequestOptionsFromJSON()` accept) and returns the L3 JSON a browser's
//! `PublicKeyCredential.toJSON()` gives, so a test can post it to passkeyd unchanged. None of
//! the WebAuthn logic here is ours: client data, RP ID checks, authenticator data, signatures
//! and the attestation object all come from passkey-rs.
//!
//! What this peer is, as passkey-rs 0.6 builds it:
//! - a platform authenticator (`authenticatorAttachment: "platform"`, transports `internal` and
//!   `hybrid`) with AAGUID zero, `none` attestation, user verification and resident keys;
//! - key algorithms ES256, EdDSA and ML-DSA-44/65/87 (also ESP256 and Ed25519, which passkeyd
//!   does not offer), the first one the options list that it supports;
//! - a synced passkey: BE and BS always set, and a signature counter of zero unless
//!   [`Peer::with_signature_counter`] is used;
//! - the client refuses an RP ID that is not a registrable suffix of the origin's host, an RP ID
//!   on the public suffix list, origins without a domain (IP addresses) and non-`https` origins
//!   other than `localhost`.

// Compiled out until passkey-crypto 0.1 is a dev-dependency of passkeyd: passkey-authenticator
// 0.6 takes its key generation and signing backend (`RustCryptoBackend`) from that crate and
// re-exports nothing of it. Delete this attribute when the dependency is added.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use passkey_authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey_client::{Client, DefaultClientData, WebauthnError};
use passkey_crypto::rust_crypto::RustCryptoBackend;
use passkey_types::ctap2::make_credential::{
    Options, PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey_types::ctap2::{Aaguid, Ctap2Error, StatusCode};
use passkey_types::webauthn::{
    AuthenticatedPublicKeyCredential, AuthenticationExtensionsClientOutputs,
    CreatedPublicKeyCredential, CredentialCreationOptions, CredentialRequestOptions,
    PublicKeyCredentialDescriptor,
};
use passkey_types::Passkey;
use passkeyd_webauthn::json::base64url_encode;
// reqwest re-exports the `url` crate's `Url`, the type passkey-client takes the origin as.
use reqwest::Url;
use serde_json::{json, Map, Value};

/// One software authenticator with its own credential store, and a client bound to one origin.
///
/// The store outlives every ceremony, so a credential registered by [`Peer::register`] can sign
/// in with [`Peer::authenticate`] later.
pub(crate) struct Peer {
    origin: Url,
    store: PeerStore,
    signature_counter: bool,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("origin", &self.origin.as_str())
            .field("credentials", &self.store.len())
            .field("signature_counter", &self.signature_counter)
            .finish()
    }
}

impl Peer {
    /// A platform-like authenticator (AAGUID zero, user verification and resident keys
    /// supported) whose client runs ceremonies for `origin`, e.g. `https://acme.example.com` or
    /// `http://localhost:8080`.
    pub(crate) fn new(origin: &str) -> Self {
        // Only the origin (scheme, host, port) goes into client data, as in a browser; a path
        // would otherwise end up in `clientDataJSON.origin`.
        let parsed = Url::parse(origin).unwrap_or_else(|e| panic!("origin {origin:?}: {e}"));
        let origin = Url::parse(&parsed.origin().ascii_serialization())
            .unwrap_or_else(|e| panic!("origin {origin:?} has no serializable origin: {e}"));
        Self {
            origin,
            store: PeerStore::default(),
            signature_counter: false,
        }
    }

    /// The credentials this peer creates keep a signature counter (0 at registration, +1 on each
    /// assertion), as security keys do. Without it the counter is always 0, as synced passkeys
    /// report it.
    pub(crate) fn with_signature_counter(mut self) -> Self {
        self.signature_counter = true;
        self
    }

    /// `navigator.credentials.create()` with L3 JSON creation options; returns the L3 JSON of
    /// the new credential (`credential.toJSON()`). Panics if the client refuses.
    pub(crate) async fn register(&mut self, options: &Value) -> Value {
        self.try_register(options)
            .await
            .unwrap_or_else(|e| panic!("peer registration failed: {e}"))
    }

    /// `navigator.credentials.get()` with L3 JSON request options; returns the L3 JSON of the
    /// assertion (`credential.toJSON()`). Panics if the client refuses.
    pub(crate) async fn authenticate(&mut self, options: &Value) -> Value {
        self.try_authenticate(options)
            .await
            .unwrap_or_else(|e| panic!("peer authentication failed: {e}"))
    }

    /// [`Peer::register`], returning the client's refusal (the `WebauthnError` variant, e.g.
    /// `OriginRpMissmatch`, or the CTAP status such as `CredentialExcluded`) instead of
    /// panicking.
    pub(crate) async fn try_register(&mut self, options: &Value) -> Result<Value, String> {
        let public_key = serde_json::from_value(options.clone())
            .map_err(|e| format!("creation options not understood: {e}"))?;
        let request = CredentialCreationOptions { public_key };
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let credential = client
            .register(&self.origin, request, DefaultClientData)
            .await
            .map_err(describe)?;
        Ok(registration_json(credential))
    }

    /// [`Peer::authenticate`], returning the client's refusal (e.g. `CredentialNotFound`)
    /// instead of panicking.
    pub(crate) async fn try_authenticate(&mut self, options: &Value) -> Result<Value, String> {
        let public_key = serde_json::from_value(options.clone())
            .map_err(|e| format!("request options not understood: {e}"))?;
        let request = CredentialRequestOptions { public_key };
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let credential = client
            .authenticate(&self.origin, request, DefaultClientData)
            .await
            .map_err(describe)?;
        Ok(authentication_json(credential))
    }

    /// A fresh authenticator over the shared store. passkey-client's `Client` type names the
    /// public-suffix crate, which is not ours to depend on, so the client lives only for one
    /// ceremony and the store is what persists.
    fn authenticator(&self) -> Authenticator<PeerStore, AlwaysVerify, RustCryptoBackend> {
        let mut authenticator = Authenticator::new(
            Aaguid::new_empty(),
            self.store.clone(),
            AlwaysVerify,
            RustCryptoBackend,
        );
        authenticator.set_make_credentials_with_signature_counter(self.signature_counter);
        authenticator
    }
}

/// The client's error as test-readable text; CTAP status bytes become their names.
fn describe(error: WebauthnError) -> String {
    match error {
        WebauthnError::AuthenticatorError(code) => {
            format!("AuthenticatorError({:?})", StatusCode::from(code))
        }
        other => format!("{other:?}"),
    }
}

/// `RegistrationResponseJSON` (L3 §5.1), built field by field: passkey-types serializes
/// `Bytes` as number arrays and has no L3 JSON form of its own.
fn registration_json(credential: CreatedPublicKeyCredential) -> Value {
    let response = &credential.response;
    let mut fields = Map::new();
    fields.insert(
        "clientDataJSON".into(),
        b64(&response.client_data_json).into(),
    );
    fields.insert(
        "authenticatorData".into(),
        b64(&response.authenticator_data).into(),
    );
    if let Some(transports) = &response.transports {
        fields.insert("transports".into(), to_json(transports));
    }
    if let Some(public_key) = &response.public_key {
        fields.insert("publicKey".into(), b64(public_key).into());
    }
    fields.insert(
        "publicKeyAlgorithm".into(),
        response.public_key_algorithm.into(),
    );
    fields.insert(
        "attestationObject".into(),
        b64(&response.attestation_object).into(),
    );
    credential_json(
        &credential.raw_id,
        fields,
        to_json(&credential.authenticator_attachment),
        &credential.client_extension_results,
    )
}

/// `AuthenticationResponseJSON` (L3 §5.1).
fn authentication_json(credential: AuthenticatedPublicKeyCredential) -> Value {
    let response = &credential.response;
    let mut fields = Map::new();
    fields.insert(
        "clientDataJSON".into(),
        b64(&response.client_data_json).into(),
    );
    fields.insert(
        "authenticatorData".into(),
        b64(&response.authenticator_data).into(),
    );
    fields.insert("signature".into(), b64(&response.signature).into());
    if let Some(user_handle) = &response.user_handle {
        fields.insert("userHandle".into(), b64(user_handle).into());
    }
    credential_json(
        &credential.raw_id,
        fields,
        to_json(&credential.authenticator_attachment),
        &credential.client_extension_results,
    )
}

/// The members both response forms share. `id` is recomputed from `rawId` so it is unpadded
/// base64url whatever passkey-rs chose.
fn credential_json(
    raw_id: &[u8],
    response: Map<String, Value>,
    attachment: Value,
    extensions: &AuthenticationExtensionsClientOutputs,
) -> Value {
    let mut credential = json!({
        "id": b64(raw_id),
        "rawId": b64(raw_id),
        "type": "public-key",
        "response": response,
        "clientExtensionResults": extension_results_json(extensions),
    });
    if !attachment.is_null() {
        credential["authenticatorAttachment"] = attachment;
    }
    credential
}

/// `AuthenticationExtensionsClientOutputsJSON`: the PRF outputs are bytes, so base64url.
fn extension_results_json(outputs: &AuthenticationExtensionsClientOutputs) -> Value {
    let mut results = Map::new();
    if let Some(cred_props) = &outputs.cred_props {
        results.insert("credProps".into(), to_json(cred_props));
    }
    if let Some(prf) = &outputs.prf {
        let mut prf_json = Map::new();
        if let Some(enabled) = prf.enabled {
            prf_json.insert("enabled".into(), enabled.into());
        }
        if let Some(values) = &prf.results {
            let mut values_json = Map::new();
            values_json.insert("first".into(), b64(&values.first).into());
            if let Some(second) = &values.second {
                values_json.insert("second".into(), b64(second).into());
            }
            prf_json.insert("results".into(), values_json.into());
        }
        results.insert("prf".into(), prf_json.into());
    }
    results.into()
}

fn b64(bytes: &[u8]) -> String {
    base64url_encode(bytes)
}

/// For passkey-types values whose serde form already is the L3 JSON one (strings and flags).
fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// The user: always present, verified whenever the client asks (it asks unless the relying
/// party discourages it), and, like a platform UI, it stops when the authenticator finds an
/// excluded credential.
#[derive(Debug, Clone, Copy)]
struct AlwaysVerify;

#[async_trait::async_trait]
impl UserValidationMethod for AlwaysVerify {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        hint: UiHint<'a, Passkey>,
        _presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        // passkey-authenticator 0.6 only shows this hint and then creates the credential
        // anyway; the user interface is where the ceremony ends (CTAP 2.1 §6.1.2 step 3).
        if let UiHint::InformExcludedCredentialFound(_) = hint {
            return Err(Ctap2Error::CredentialExcluded);
        }
        Ok(UserCheck {
            presence: true,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

/// The authenticator's credentials, shared by every per-ceremony authenticator of one peer.
///
/// passkey-authenticator's `MemoryStore` finds nothing without an allow list, so it cannot do
/// a discoverable sign-in; this store does, with only the discoverable credentials of the RP,
/// newest first (CTAP 2.1 §6.2.2 step 9).
#[derive(Clone, Default)]
struct PeerStore(Arc<Mutex<Vec<Passkey>>>);

impl PeerStore {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<Passkey>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn len(&self) -> usize {
        self.with(|credentials| credentials.len())
    }
}

#[async_trait::async_trait]
impl CredentialStore for PeerStore {
    type PasskeyItem = Passkey;

    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, StatusCode> {
        let found: Vec<Passkey> = self.with(|credentials| {
            let for_rp = credentials.iter().rev().filter(|c| c.rp_id == rp_id);
            match ids.filter(|ids| !ids.is_empty()) {
                Some(ids) => for_rp
                    .filter(|c| ids.iter().any(|d| *d.id == *c.credential_id))
                    .cloned()
                    .collect(),
                None => for_rp
                    .filter(|c| c.user_handle.is_some())
                    .cloned()
                    .collect(),
            }
        });
        if found.is_empty() {
            return Err(Ctap2Error::NoCredentials.into());
        }
        Ok(found)
    }

    async fn save_credential(
        &mut self,
        credential: Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: Options,
    ) -> Result<(), StatusCode> {
        self.with(|credentials| {
            // A discoverable credential replaces the RP's earlier one for the same user
            // (CTAP 2.1 §6.1.2 step 13).
            if credential.user_handle.is_some() {
                credentials.retain(|c| {
                    c.rp_id != credential.rp_id || c.user_handle != credential.user_handle
                });
            }
            credentials.push(credential);
        });
        Ok(())
    }

    async fn update_credential(&mut self, credential: &Passkey) -> Result<(), StatusCode> {
        self.with(|credentials| {
            let stored = credentials
                .iter_mut()
                .find(|c| c.credential_id == credential.credential_id)
                .ok_or(Ctap2Error::NoCredentials)?;
            *stored = credential.clone();
            Ok(())
        })
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::Full,
        }
    }
}

mod tests {
    //! The peer against the verification crate alone, without the server: its output is what
    //! passkeyd's verifier accepts, so a server test failure is the server's.

    use passkeyd_webauthn::json::{
        base64url_decode, base64url_encode, PublicKeyCredentialDescriptor,
        PublicKeyCredentialParameters, PublicKeyType, RelyingPartyEntity, ResidentKeyRequirement,
        UserEntity,
    };
    use passkeyd_webauthn::{
        verify_authentication, verify_registration, AttestationPolicy, AuthenticationResponseJson,
        CoseAlgorithm, CreationOptionsJson, ExpectedAuthentication, ExpectedRegistration,
        RegistrationResponseJson, RelyingParty, RequestOptionsJson, StoredCredential, UnixTime,
        UserIdentification, UserVerificationRequirement, VerifiedRegistration,
    };
    use serde_json::{json, Value};

    use super::Peer;

    const RP_ID: &str = "acme.example.com";
    const ORIGIN: &str = "https://acme.example.com";
    const USER_HANDLE: &[u8] = b"user-handle-0001";
    const NOW: UnixTime = UnixTime(1_780_000_000);

    fn creation_options(rp_id: &str, challenge: &[u8]) -> CreationOptionsJson {
        CreationOptionsJson::new(
            RelyingPartyEntity {
                id: rp_id.into(),
                name: "Acme".into(),
            },
            UserEntity {
                id: USER_HANDLE.to_vec().into(),
                name: "alice@acme.example.com".into(),
                display_name: "Alice".into(),
            },
            challenge.to_vec(),
        )
    }

    fn to_value(options: &impl serde::Serialize) -> Value {
        serde_json::to_value(options).unwrap()
    }

    fn verify_created(
        rp: &RelyingParty,
        options: &CreationOptionsJson,
        response: &Value,
    ) -> VerifiedRegistration {
        let response = RegistrationResponseJson::from_json(response.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{}: {response}", e.code()));
        let policy = AttestationPolicy::default();
        let algorithms = options.algorithms();
        let expected = ExpectedRegistration {
            user_verification: options.authenticator_selection.user_verification,
            algorithms: &algorithms,
            ..ExpectedRegistration::new(rp, &options.challenge.0, &policy)
        };
        verify_registration(&response, &expected, NOW)
            .unwrap_or_else(|e| panic!("{}: {e}", e.code()))
    }

    /// Signs in with `options` and verifies the assertion against `credential`, returning the
    /// verified counter.
    async fn sign_in(
        peer: &mut Peer,
        rp: &RelyingParty,
        options: &RequestOptionsJson,
        credential: &VerifiedRegistration,
        stored_sign_count: u32,
    ) -> (Value, u32) {
        let response = peer.authenticate(&to_value(options)).await;
        let parsed = AuthenticationResponseJson::from_json(response.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{}: {response}", e.code()));
        let allowed: Vec<&[u8]> = options
            .allow_credentials
            .iter()
            .map(|d| d.id.0.as_slice())
            .collect();
        let identification = if allowed.is_empty() {
            UserIdentification::Discoverable
        } else {
            UserIdentification::Identified {
                user_handle: USER_HANDLE,
                allow_credentials: &allowed,
            }
        };
        let expected = ExpectedAuthentication {
            user_verification: options.user_verification,
            ..ExpectedAuthentication::new(rp, &options.challenge.0, identification)
        };
        let stored = StoredCredential {
            credential_id: &credential.credential_id,
            public_key: &credential.public_key,
            sign_count: stored_sign_count,
            backup_eligible: credential.backup_eligible(),
            user_handle: USER_HANDLE,
        };
        let verified = verify_authentication(&parsed, &expected, &stored)
            .unwrap_or_else(|e| panic!("{}: {e}", e.code()));
        assert_eq!(verified.credential_id, credential.credential_id);
        assert!(verified.user_verified());
        (response, verified.sign_count)
    }

    fn allow(credential: &VerifiedRegistration, challenge: &[u8]) -> RequestOptionsJson {
        let mut options = RequestOptionsJson::new(RP_ID, challenge.to_vec());
        options.allow_credentials = vec![PublicKeyCredentialDescriptor::new(
            credential.credential_id.clone(),
            credential.transports.clone(),
        )];
        options
    }

    fn is_base64url(value: &Value) -> bool {
        value.as_str().is_some_and(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }

    #[tokio::test]
    async fn registration_is_l3_json_that_verifies() {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let mut options = creation_options(RP_ID, b"registration-challenge-01");
        options.authenticator_selection.user_verification = UserVerificationRequirement::Required;
        options
            .extensions
            .insert("credProps".into(), Value::Bool(true));
        let mut peer = Peer::new(ORIGIN);

        let response = peer.register(&to_value(&options)).await;

        let object = response.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "authenticatorAttachment",
                "clientExtensionResults",
                "id",
                "rawId",
                "response",
                "type"
            ]
        );
        assert_eq!(response["id"], response["rawId"]);
        assert!(is_base64url(&response["id"]));
        assert_eq!(response["type"], "public-key");
        assert_eq!(response["authenticatorAttachment"], "platform");
        assert_eq!(
            response["clientExtensionResults"],
            json!({"credProps": {"rk": true}})
        );
        let inner = &response["response"];
        for field in [
            "clientDataJSON",
            "authenticatorData",
            "publicKey",
            "attestationObject",
        ] {
            assert!(is_base64url(&inner[field]), "{field}: {inner}");
        }
        assert_eq!(inner["publicKeyAlgorithm"], -7);
        assert_eq!(inner["transports"], json!(["internal", "hybrid"]));
        let client_data: Value = serde_json::from_slice(
            &base64url_decode(inner["clientDataJSON"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(client_data["type"], "webauthn.create");
        assert_eq!(client_data["origin"], ORIGIN);
        assert_eq!(
            client_data["challenge"],
            base64url_encode(b"registration-challenge-01")
        );

        let verified = verify_created(&rp, &options, &response);
        assert_eq!(verified.algorithm, CoseAlgorithm::Es256);
        assert_eq!(verified.attestation.format.as_str(), "none");
        assert_eq!(verified.attestation.attestation_type.as_str(), "None");
        assert_eq!(verified.aaguid.0, [0; 16]);
        assert_eq!(verified.sign_count, 0);
        assert!(verified.user_verified());
        assert!(verified.backup_eligible());
        assert!(verified.backup_state());
        assert_eq!(verified.transports, ["internal", "hybrid"]);
    }

    #[tokio::test]
    async fn identified_and_discoverable_sign_ins_verify() {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let options = creation_options(RP_ID, b"registration-challenge-02");
        let mut peer = Peer::new(ORIGIN);
        let registered = peer.register(&to_value(&options)).await;
        let credential = verify_created(&rp, &options, &registered);

        // Identified: allowCredentials names the credential.
        let identified = allow(&credential, b"authentication-challenge-1");
        let (response, _) = sign_in(&mut peer, &rp, &identified, &credential, 0).await;
        let object = response.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "authenticatorAttachment",
                "clientExtensionResults",
                "id",
                "rawId",
                "response",
                "type"
            ]
        );
        assert_eq!(response["id"], registered["id"]);
        assert_eq!(response["clientExtensionResults"], json!({}));
        for field in ["clientDataJSON", "authenticatorData", "signature"] {
            assert!(is_base64url(&response["response"][field]), "{field}");
        }

        // Discoverable: no allowCredentials, the user handle identifies the account.
        let discoverable = RequestOptionsJson::new(RP_ID, b"authentication-challenge-2".to_vec());
        let (response, _) = sign_in(&mut peer, &rp, &discoverable, &credential, 0).await;
        assert_eq!(
            base64url_decode(response["response"]["userHandle"].as_str().unwrap()).unwrap(),
            USER_HANDLE
        );
        assert_eq!(response["rawId"], registered["rawId"]);
    }

    #[tokio::test]
    async fn counter_stays_zero_by_default_and_counts_when_enabled() {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);

        // passkey-authenticator's default, like a synced passkey: always 0, which the verifier
        // accepts (0 then 0 is "no counter", not a regression).
        let options = creation_options(RP_ID, b"registration-challenge-03");
        let mut peer = Peer::new(ORIGIN);
        let credential = verify_created(&rp, &options, &peer.register(&to_value(&options)).await);
        assert_eq!(credential.sign_count, 0);
        for round in 0..2u8 {
            let request = allow(&credential, &[round; 16]);
            let (_, count) = sign_in(&mut peer, &rp, &request, &credential, 0).await;
            assert_eq!(count, 0);
        }

        // With a per-credential counter: 0 at registration, then 1, 2.
        let options = creation_options(RP_ID, b"registration-challenge-04");
        let mut peer = Peer::new(ORIGIN).with_signature_counter();
        let credential = verify_created(&rp, &options, &peer.register(&to_value(&options)).await);
        assert_eq!(credential.sign_count, 0);
        let mut stored = credential.sign_count;
        for expected in 1..=2 {
            let request = allow(&credential, &[expected as u8; 16]);
            let (_, count) = sign_in(&mut peer, &rp, &request, &credential, stored).await;
            assert_eq!(count, expected);
            stored = count;
        }
    }

    #[tokio::test]
    async fn every_algorithm_the_peer_shares_with_passkeyd_verifies() {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        for algorithm in [
            CoseAlgorithm::Es256,
            CoseAlgorithm::EdDsa,
            CoseAlgorithm::MlDsa44,
            CoseAlgorithm::MlDsa65,
            CoseAlgorithm::MlDsa87,
        ] {
            let mut options = creation_options(RP_ID, b"registration-challenge-05");
            options.pub_key_cred_params = vec![PublicKeyCredentialParameters {
                type_: PublicKeyType::PublicKey,
                alg: algorithm.to_i64(),
            }];
            let mut peer = Peer::new(ORIGIN);
            let response = peer.register(&to_value(&options)).await;
            assert_eq!(
                response["response"]["publicKeyAlgorithm"],
                algorithm.to_i64()
            );
            let credential = verify_created(&rp, &options, &response);
            assert_eq!(credential.algorithm, algorithm);
            let request = allow(&credential, b"authentication-challenge-5");
            sign_in(&mut peer, &rp, &request, &credential, 0).await;
        }
    }

    #[tokio::test]
    async fn unsupported_algorithms_only_are_refused() {
        let mut options = creation_options(RP_ID, b"registration-challenge-06");
        options.pub_key_cred_params = [CoseAlgorithm::Rs256, CoseAlgorithm::Es384]
            .into_iter()
            .map(|alg| PublicKeyCredentialParameters {
                type_: PublicKeyType::PublicKey,
                alg: alg.to_i64(),
            })
            .collect();
        let error = Peer::new(ORIGIN)
            .try_register(&to_value(&options))
            .await
            .unwrap_err();
        assert!(error.contains("UnsupportedAlgorithm"), "{error}");
    }

    #[tokio::test]
    async fn client_refuses_rp_ids_the_origin_may_not_use() {
        let mut peer = Peer::new(ORIGIN);
        // Not a suffix of the origin's host.
        let options = creation_options("other.example.com", b"registration-challenge-07");
        let error = peer.try_register(&to_value(&options)).await.unwrap_err();
        assert!(error.contains("OriginRpMissmatch"), "{error}");
        // A public suffix.
        let options = creation_options("com", b"registration-challenge-08");
        let error = peer.try_register(&to_value(&options)).await.unwrap_err();
        assert!(error.contains("InvalidRpId"), "{error}");
        // The parent registrable domain is allowed, and signs client data with the full origin.
        let options = creation_options("example.com", b"registration-challenge-09");
        let response = peer.register(&to_value(&options)).await;
        verify_created(
            &RelyingParty::new("example.com", [ORIGIN]),
            &options,
            &response,
        );
        // Same for sign-in.
        let request = RequestOptionsJson::new("other.example.com", b"challenge-10".to_vec());
        let error = peer
            .try_authenticate(&to_value(&request))
            .await
            .unwrap_err();
        assert!(error.contains("OriginRpMissmatch"), "{error}");
        // Plain http is refused except on localhost.
        let options = creation_options(RP_ID, b"registration-challenge-11");
        let error = Peer::new("http://acme.example.com")
            .try_register(&to_value(&options))
            .await
            .unwrap_err();
        assert!(error.contains("UnprotectedOrigin"), "{error}");
    }

    #[tokio::test]
    async fn localhost_over_http_works() {
        let origin = "http://localhost:8080";
        let rp = RelyingParty::new("localhost", [origin]);
        let options = creation_options("localhost", b"registration-challenge-12");
        // A page URL works as the origin: only scheme, host and port reach the client data.
        let mut peer = Peer::new("http://localhost:8080/account/passkeys?x=1");
        let response = peer.register(&to_value(&options)).await;
        let client_data =
            base64url_decode(response["response"]["clientDataJSON"].as_str().unwrap()).unwrap();
        let client_data: Value = serde_json::from_slice(&client_data).unwrap();
        assert_eq!(client_data["origin"], origin);
        let credential = verify_created(&rp, &options, &response);

        let mut request = RequestOptionsJson::new("localhost", b"challenge-13".to_vec());
        request.allow_credentials = vec![PublicKeyCredentialDescriptor::new(
            credential.credential_id.clone(),
            Vec::new(),
        )];
        sign_in(&mut peer, &rp, &request, &credential, 0).await;
    }

    #[tokio::test]
    async fn excluded_credentials_are_not_created_again() {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let options = creation_options(RP_ID, b"registration-challenge-14");
        let mut peer = Peer::new(ORIGIN);
        let credential = verify_created(&rp, &options, &peer.register(&to_value(&options)).await);

        let mut again = creation_options(RP_ID, b"registration-challenge-15");
        again.exclude_credentials = vec![PublicKeyCredentialDescriptor::new(
            credential.credential_id.clone(),
            Vec::new(),
        )];
        let error = peer.try_register(&to_value(&again)).await.unwrap_err();
        assert!(error.contains("CredentialExcluded"), "{error}");

        // Another peer (another device) does not have it, so it registers.
        let response = Peer::new(ORIGIN).register(&to_value(&again)).await;
        verify_created(&rp, &again, &response);
    }

    #[tokio::test]
    async fn non_discoverable_credentials_need_allow_credentials() {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let mut options = creation_options(RP_ID, b"registration-challenge-16")
            .with_resident_key(ResidentKeyRequirement::Discouraged);
        options
            .extensions
            .insert("credProps".into(), Value::Bool(true));
        let mut peer = Peer::new(ORIGIN);
        let response = peer.register(&to_value(&options)).await;
        assert_eq!(
            response["clientExtensionResults"],
            json!({"credProps": {"rk": false}})
        );
        let credential = verify_created(&rp, &options, &response);

        let discoverable = RequestOptionsJson::new(RP_ID, b"challenge-17".to_vec());
        let error = peer
            .try_authenticate(&to_value(&discoverable))
            .await
            .unwrap_err();
        assert!(error.contains("CredentialNotFound"), "{error}");

        // With the ID it signs in, and an assertion of a non-discoverable credential carries
        // no user handle.
        let request = allow(&credential, b"challenge-18");
        let (response, _) = sign_in(&mut peer, &rp, &request, &credential, 0).await;
        assert!(response["response"].get("userHandle").is_none());
    }

    #[tokio::test]
    async fn credentials_of_another_rp_are_not_found() {
        let mut peer = Peer::new(ORIGIN);
        let options = creation_options(RP_ID, b"registration-challenge-19");
        peer.register(&to_value(&options)).await;
        let request = RequestOptionsJson::new("example.com", b"challenge-20".to_vec());
        let error = peer
            .try_authenticate(&to_value(&request))
            .await
            .unwrap_err();
        assert!(error.contains("CredentialNotFound"), "{error}");
    }

    #[tokio::test]
    async fn a_discoverable_credential_replaces_the_same_users_earlier_one() {
        let rp = RelyingParty::new(RP_ID, [ORIGIN]);
        let mut peer = Peer::new(ORIGIN);
        let first = creation_options(RP_ID, b"registration-challenge-21");
        let first = verify_created(&rp, &first, &peer.register(&to_value(&first)).await);
        let second = creation_options(RP_ID, b"registration-challenge-22");
        let second = verify_created(&rp, &second, &peer.register(&to_value(&second)).await);
        assert_ne!(first.credential_id, second.credential_id);

        let discoverable = RequestOptionsJson::new(RP_ID, b"challenge-23".to_vec());
        let (response, _) = sign_in(&mut peer, &rp, &discoverable, &second, 0).await;
        assert_eq!(
            base64url_decode(response["rawId"].as_str().unwrap()).unwrap(),
            second.credential_id
        );
        let error = peer
            .try_authenticate(&to_value(&allow(&first, b"challenge-24")))
            .await
            .unwrap_err();
        assert!(error.contains("CredentialNotFound"), "{error}");
    }
}
