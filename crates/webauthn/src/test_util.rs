//! A software authenticator for tests, benches and server integration tests (feature
//! `test-util`).
//!
//! It makes real, correctly signed registration and authentication responses with aws-lc-rs:
//! credential keys of every algorithm the verifier implements except RS1 (aws-lc-rs cannot sign
//! with it), their CTAP2 canonical COSE_Key encoding, authenticator data, `clientDataJSON`,
//! attestation objects (`none`, `packed` self and x5c, `fido-u2f`, with certificates made here) and
//! assertions.
//!
//! Every part of a response that a hostile test may want to change has a knob on
//! [`RegistrationBuilder`] or [`AssertionBuilder`]: the knobs act on the data *before* it is
//! signed, so a mutated response still carries a valid signature and fails for the reason under
//! test. The built responses ([`RegistrationResponse`], [`AssertionResponse`]) have public fields
//! for mutating *after* signing, and give the `toJSON()` form as a [`serde_json::Value`] for
//! structural mutations.
//!
//! **Never enable `test-util` in production builds**: it reads the system random number generator,
//! which the rest of this crate never does.
//!
//! ```
//! use passkeyd_webauthn::test_util::Credential;
//! use passkeyd_webauthn::{
//!     verify_authentication, verify_registration, AttestationPolicy, CoseAlgorithm,
//!     ExpectedAuthentication, ExpectedRegistration, RelyingParty, StoredCredential, UnixTime,
//!     UserIdentification,
//! };
//!
//! let rp = RelyingParty::new("rp.example", ["https://rp.example"]);
//! let credential = Credential::new(CoseAlgorithm::Es256, "rp.example");
//!
//! let challenge = [7u8; 16];
//! let response = credential.register(&challenge, "https://rp.example").packed_self().build();
//! let policy = AttestationPolicy::default();
//! let expected = ExpectedRegistration::new(&rp, &challenge, &policy);
//! let registered = verify_registration(&response.to_response(), &expected, UnixTime(0)).unwrap();
//!
//! let challenge = [8u8; 16];
//! let assertion = credential.assert(&challenge, "https://rp.example").sign_count(1).build();
//! let allow = [credential.id.as_slice()];
//! let identified = UserIdentification::Identified {
//!     user_handle: &credential.user_handle,
//!     allow_credentials: &allow,
//! };
//! let expected = ExpectedAuthentication::new(&rp, &challenge, identified);
//! let stored = StoredCredential {
//!     credential_id: &registered.credential_id,
//!     public_key: &registered.public_key,
//!     sign_count: registered.sign_count,
//!     backup_eligible: registered.backup_eligible(),
//!     user_handle: &credential.user_handle,
//! };
//! let verified = verify_authentication(&assertion.to_response(), &expected, &stored).unwrap();
//! assert_eq!(verified.sign_count, 1);
//! ```

use ciborium::value::Value;

use crate::authenticator_data::{
    Aaguid, AttestedCredentialData, AuthenticatorData, AuthenticatorFlags,
};
use crate::cose_key::CoseAlgorithm;
use crate::json::base64url_encode;
use crate::relying_party::sha256;

mod certificate;
mod der;
mod key;

pub use certificate::{
    pem, AttestationCa, AttestationCertificate, CertificateParams, NameAttribute,
    CERTIFICATE_NOT_AFTER, CERTIFICATE_NOT_BEFORE,
};
pub use key::CredentialKey;

/// The AAGUID test credentials report unless told otherwise.
pub const TEST_AAGUID: Aaguid = Aaguid(*b"passkeyd-testkey");

/// `len` bytes from the system random number generator, for credential IDs, user handles and
/// challenges in tests.
#[allow(
    clippy::disallowed_methods,
    reason = "test-util plays the authenticator and the server, which own randomness; \
              the feature is never enabled in production builds"
)]
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    aws_lc_rs::rand::fill(&mut out).expect("the system random number generator is available");
    out
}

/// Encodes a CBOR value (ciborium writes definite lengths and shortest forms, but keeps map order).
pub fn encode_cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("writing CBOR to a Vec cannot fail");
    out
}

/// Encodes COSE_Key parameters as a CTAP2 canonical CBOR map: labels sorted by their encoding,
/// shorter first, so a key reads `1, 3, -1, -2, -3`.
pub fn encode_cose_key(params: &[(i64, Value)]) -> Vec<u8> {
    let mut entries: Vec<(Vec<u8>, Value, Value)> = params
        .iter()
        .map(|(label, value)| {
            let label = Value::from(*label);
            (encode_cbor(&label), label, value.clone())
        })
        .collect();
    entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    encode_cbor(&Value::Map(
        entries.into_iter().map(|(_, k, v)| (k, v)).collect(),
    ))
}

/// A credential held by the software authenticator, with the relying party it is scoped to.
///
/// The fields are what the authenticator reports by default; every builder knob overrides them
/// for one response only.
#[derive(Debug)]
pub struct Credential {
    /// The key pair.
    pub key: CredentialKey,
    /// The credential ID (32 random bytes by default).
    pub id: Vec<u8>,
    /// The user handle of the account the credential was created for (16 random bytes).
    pub user_handle: Vec<u8>,
    /// The RP ID whose hash goes into `rpIdHash`.
    pub rp_id: String,
    /// The authenticator model ([`TEST_AAGUID`] by default).
    pub aaguid: Aaguid,
    /// The signature counter reported by default (0).
    pub sign_count: u32,
    /// The UV flag reported by default (true).
    pub user_verified: bool,
    /// The BE flag (false: a device-bound credential).
    pub backup_eligible: bool,
    /// The BS flag (false).
    pub backup_state: bool,
}

impl Credential {
    /// A new credential with a fresh key for `algorithm`, a random ID and user handle.
    pub fn new(algorithm: CoseAlgorithm, rp_id: impl Into<String>) -> Self {
        Self::with_key(CredentialKey::generate(algorithm), rp_id)
    }

    /// A new credential around an existing key.
    pub fn with_key(key: CredentialKey, rp_id: impl Into<String>) -> Self {
        Self {
            key,
            id: random_bytes(32),
            user_handle: random_bytes(16),
            rp_id: rp_id.into(),
            aaguid: TEST_AAGUID,
            sign_count: 0,
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
        }
    }

    /// The credential public key as a COSE_Key (what a relying party stores).
    pub fn cose_key(&self) -> Vec<u8> {
        self.key.cose_key()
    }

    fn default_flags(&self) -> u8 {
        let mut flags = AuthenticatorFlags::USER_PRESENT;
        for (on, bit) in [
            (self.user_verified, AuthenticatorFlags::USER_VERIFIED),
            (self.backup_eligible, AuthenticatorFlags::BACKUP_ELIGIBLE),
            (self.backup_state, AuthenticatorFlags::BACKUP_STATE),
        ] {
            if on {
                flags |= bit;
            }
        }
        flags
    }

    /// Starts a registration (`navigator.credentials.create()`) response for `challenge` as the
    /// client at `origin` would send it, with `none` attestation.
    pub fn register(&self, challenge: &[u8], origin: &str) -> RegistrationBuilder<'_> {
        RegistrationBuilder::new(Common::new(self, "webauthn.create", challenge, origin))
    }

    /// Starts an authentication (`navigator.credentials.get()`) response for `challenge` as the
    /// client at `origin` would send it, signed with this credential, carrying its user handle.
    pub fn assert(&self, challenge: &[u8], origin: &str) -> AssertionBuilder<'_> {
        AssertionBuilder::new(Common::new(self, "webauthn.get", challenge, origin))
    }
}

/// `clientDataJSON` as an ordered list of members, each value raw JSON text, so a test can
/// repeat, drop or mistype members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData {
    /// `(name, raw JSON value)` in output order.
    pub members: Vec<(String, String)>,
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

impl ClientData {
    /// `{"type":…,"challenge":…,"origin":…,"crossOrigin":false}`, as browsers write it.
    pub fn new(type_: &str, challenge: &[u8], origin: &str) -> Self {
        Self {
            members: vec![
                ("type".into(), json_string(type_)),
                (
                    "challenge".into(),
                    json_string(&base64url_encode(challenge)),
                ),
                ("origin".into(), json_string(origin)),
                ("crossOrigin".into(), "false".into()),
            ],
        }
    }

    /// Replaces the first member called `name` with the raw JSON `value`, or appends it.
    pub fn set_raw(&mut self, name: &str, value: &str) {
        match self.members.iter_mut().find(|(n, _)| n == name) {
            Some(member) => member.1 = value.to_owned(),
            None => self.members.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Like [`Self::set_raw`] with a JSON string value.
    pub fn set_str(&mut self, name: &str, value: &str) {
        self.set_raw(name, &json_string(value));
    }

    /// Appends a member even if one of that name exists (a duplicate).
    pub fn push_raw(&mut self, name: &str, value: &str) {
        self.members.push((name.to_owned(), value.to_owned()));
    }

    /// Drops every member called `name`.
    pub fn remove(&mut self, name: &str) {
        self.members.retain(|(n, _)| n != name);
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let members: Vec<String> = self
            .members
            .iter()
            .map(|(name, value)| format!("{}:{value}", json_string(name)))
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

/// Attested credential data as the builder will write it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttestedCredential {
    aaguid: Aaguid,
    credential_id: Vec<u8>,
    credential_public_key: Vec<u8>,
}

/// What both ceremonies share: client data, authenticator data header and extensions, the
/// credential JSON's identity members.
struct Common<'c> {
    credential: &'c Credential,
    client_data: ClientData,
    client_data_json: Option<Vec<u8>>,
    rp_id_hash: [u8; 32],
    flags: u8,
    sign_count: u32,
    extensions: Option<Vec<u8>>,
    trailing_bytes: Vec<u8>,
    authenticator_data: Option<Vec<u8>>,
    id: Option<String>,
    raw_id: Option<Vec<u8>>,
    credential_type: String,
}

impl<'c> Common<'c> {
    fn new(credential: &'c Credential, type_: &str, challenge: &[u8], origin: &str) -> Self {
        Self {
            credential,
            client_data: ClientData::new(type_, challenge, origin),
            client_data_json: None,
            rp_id_hash: sha256(credential.rp_id.as_bytes()),
            flags: credential.default_flags(),
            sign_count: credential.sign_count,
            extensions: None,
            trailing_bytes: Vec::new(),
            authenticator_data: None,
            id: None,
            raw_id: None,
            credential_type: "public-key".into(),
        }
    }

    fn client_data_json(&self) -> Vec<u8> {
        self.client_data_json
            .clone()
            .unwrap_or_else(|| self.client_data.to_json().into_bytes())
    }

    fn authenticator_data(&self, attested: Option<&AttestedCredential>) -> Vec<u8> {
        if let Some(raw) = &self.authenticator_data {
            return raw.clone();
        }
        let data = AuthenticatorData {
            rp_id_hash: &self.rp_id_hash,
            flags: AuthenticatorFlags(self.flags),
            sign_count: self.sign_count,
            attested_credential_data: attested.map(|a| AttestedCredentialData {
                aaguid: a.aaguid,
                credential_id: &a.credential_id,
                credential_public_key: &a.credential_public_key,
            }),
            extensions: self.extensions.as_deref(),
        };
        let mut out = data.to_vec();
        out.extend_from_slice(&self.trailing_bytes);
        out
    }

    /// `id` and `rawId`: the overrides, else `raw_id`/the credential ID, with `id` following
    /// `rawId`.
    fn identity(&self, default_id: &[u8]) -> (String, Vec<u8>) {
        let raw_id = self.raw_id.clone().unwrap_or_else(|| default_id.to_vec());
        let id = self.id.clone().unwrap_or_else(|| base64url_encode(&raw_id));
        (id, raw_id)
    }
}

/// Knobs both builders have, acting on their `common` field.
macro_rules! common_knobs {
    () => {
        /// Sets `clientDataJSON.type` (a JSON string).
        pub fn client_data_type(mut self, type_: &str) -> Self {
            self.common.client_data.set_str("type", type_);
            self
        }

        /// Sets `clientDataJSON.challenge` to this exact text (not encoded again).
        pub fn challenge_text(mut self, text: &str) -> Self {
            self.common.client_data.set_str("challenge", text);
            self
        }

        /// Sets `clientDataJSON.origin`.
        pub fn origin(mut self, origin: &str) -> Self {
            self.common.client_data.set_str("origin", origin);
            self
        }

        /// Sets `clientDataJSON.crossOrigin`.
        pub fn cross_origin(mut self, cross_origin: bool) -> Self {
            let value = if cross_origin { "true" } else { "false" };
            self.common.client_data.set_raw("crossOrigin", value);
            self
        }

        /// Sets `clientDataJSON.topOrigin`.
        pub fn top_origin(mut self, top_origin: &str) -> Self {
            self.common.client_data.set_str("topOrigin", top_origin);
            self
        }

        /// Sets (or adds) a `clientDataJSON` member to a raw JSON value.
        pub fn client_data_member(mut self, name: &str, raw_json: &str) -> Self {
            self.common.client_data.set_raw(name, raw_json);
            self
        }

        /// Appends a `clientDataJSON` member even when one of that name exists (a duplicate).
        pub fn push_client_data_member(mut self, name: &str, raw_json: &str) -> Self {
            self.common.client_data.push_raw(name, raw_json);
            self
        }

        /// Removes a `clientDataJSON` member.
        pub fn remove_client_data_member(mut self, name: &str) -> Self {
            self.common.client_data.remove(name);
            self
        }

        /// Uses these exact bytes as `clientDataJSON` (invalid UTF-8, non-objects...).
        pub fn client_data_json(mut self, bytes: impl Into<Vec<u8>>) -> Self {
            self.common.client_data_json = Some(bytes.into());
            self
        }

        /// Sets the whole flags byte (later flag knobs still change single bits).
        pub fn flags(mut self, flags: u8) -> Self {
            self.common.flags = flags;
            self
        }

        /// Sets or clears one flag bit ([`AuthenticatorFlags`](crate::AuthenticatorFlags)
        /// constants).
        pub fn set_flag(mut self, bit: u8, on: bool) -> Self {
            if on {
                self.common.flags |= bit;
            } else {
                self.common.flags &= !bit;
            }
            self
        }

        /// Sets UP.
        pub fn user_present(self, on: bool) -> Self {
            self.set_flag(
                $crate::authenticator_data::AuthenticatorFlags::USER_PRESENT,
                on,
            )
        }

        /// Sets UV.
        pub fn user_verified(self, on: bool) -> Self {
            self.set_flag(
                $crate::authenticator_data::AuthenticatorFlags::USER_VERIFIED,
                on,
            )
        }

        /// Sets BE.
        pub fn backup_eligible(self, on: bool) -> Self {
            self.set_flag(
                $crate::authenticator_data::AuthenticatorFlags::BACKUP_ELIGIBLE,
                on,
            )
        }

        /// Sets BS.
        pub fn backup_state(self, on: bool) -> Self {
            self.set_flag(
                $crate::authenticator_data::AuthenticatorFlags::BACKUP_STATE,
                on,
            )
        }

        /// Sets the signature counter.
        pub fn sign_count(mut self, sign_count: u32) -> Self {
            self.common.sign_count = sign_count;
            self
        }

        /// Scopes the authenticator data to another RP ID (`rpIdHash = SHA-256(rp_id)`).
        pub fn rp_id(mut self, rp_id: &str) -> Self {
            self.common.rp_id_hash = $crate::relying_party::sha256(rp_id.as_bytes());
            self
        }

        /// Sets `rpIdHash` directly.
        pub fn rp_id_hash(mut self, hash: [u8; 32]) -> Self {
            self.common.rp_id_hash = hash;
            self
        }

        /// Appends these extension output bytes (normally a CBOR map) and sets ED.
        pub fn extensions(mut self, cbor: impl Into<Vec<u8>>) -> Self {
            self.common.extensions = Some(cbor.into());
            self.set_flag(
                $crate::authenticator_data::AuthenticatorFlags::EXTENSION_DATA,
                true,
            )
        }

        /// Appends bytes after everything else in the authenticator data.
        pub fn trailing_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
            self.common.trailing_bytes = bytes.into();
            self
        }

        /// Uses these exact bytes as the authenticator data (still signed).
        pub fn authenticator_data(mut self, bytes: impl Into<Vec<u8>>) -> Self {
            self.common.authenticator_data = Some(bytes.into());
            self
        }

        /// Sets the credential JSON's `id` text (by default base64url of `rawId`).
        pub fn id(mut self, id: impl Into<String>) -> Self {
            self.common.id = Some(id.into());
            self
        }

        /// Sets the credential JSON's `rawId` (and `id`, unless set).
        pub fn raw_id(mut self, raw_id: impl Into<Vec<u8>>) -> Self {
            self.common.raw_id = Some(raw_id.into());
            self
        }

        /// Sets the credential JSON's `type` (normally `public-key`).
        pub fn credential_type(mut self, type_: &str) -> Self {
            self.common.credential_type = type_.to_owned();
            self
        }
    };
}

mod assertion;
mod registration;

pub use assertion::{AssertionBuilder, AssertionResponse};
pub use registration::{ConvenienceCopies, RegistrationBuilder, RegistrationResponse};

#[cfg(test)]
mod tests;
