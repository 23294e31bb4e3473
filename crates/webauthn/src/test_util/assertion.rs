//! The assertion builder and the `AuthenticationResponseJSON`.

use std::fmt;

use super::{Common, CredentialKey};
use crate::json::{base64url_encode, AuthenticationResponseJson};
use crate::relying_party::sha256;

/// A closure that edits bytes in place.
type BytesEdit<'c> = Box<dyn FnOnce(&mut Vec<u8>) + 'c>;

/// Builds an authentication response; see [`Credential::assert`](super::Credential::assert).
pub struct AssertionBuilder<'c> {
    common: Common<'c>,
    user_handle: Option<Vec<u8>>,
    signer: Option<&'c CredentialKey>,
    signature: Option<Vec<u8>>,
    edit_signature: Option<BytesEdit<'c>>,
}

impl fmt::Debug for AssertionBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionBuilder")
            .field("credential_id", &self.common.credential.id)
            .finish_non_exhaustive()
    }
}

impl<'c> AssertionBuilder<'c> {
    common_knobs!();

    /// An assertion by the common parts' credential, carrying its user handle.
    pub(super) fn new(common: Common<'c>) -> Self {
        let user_handle = Some(common.credential.user_handle.clone());
        Self {
            common,
            user_handle,
            signer: None,
            signature: None,
            edit_signature: None,
        }
    }

    /// Sets `response.userHandle` (`None`: absent, as for a non-discoverable credential).
    pub fn user_handle(mut self, user_handle: Option<Vec<u8>>) -> Self {
        self.user_handle = user_handle;
        self
    }

    /// Signs with this key instead of the credential's.
    pub fn sign_with(mut self, key: &'c CredentialKey) -> Self {
        self.signer = Some(key);
        self
    }

    /// Uses these exact bytes as the signature.
    pub fn signature(mut self, signature: impl Into<Vec<u8>>) -> Self {
        self.signature = Some(signature.into());
        self
    }

    /// Edits the signature after signing (bit flips, truncation...).
    pub fn edit_signature(mut self, edit: impl FnOnce(&mut Vec<u8>) + 'c) -> Self {
        self.edit_signature = Some(Box::new(edit));
        self
    }

    /// Signs and assembles the response.
    pub fn build(self) -> AssertionResponse {
        let client_data_json = self.common.client_data_json();
        let authenticator_data = self.common.authenticator_data(None);
        let credential = self.common.credential;
        let mut signature = match self.signature {
            Some(raw) => raw,
            None => {
                let mut message = authenticator_data.clone();
                message.extend_from_slice(&sha256(&client_data_json));
                self.signer.unwrap_or(&credential.key).sign(&message)
            }
        };
        if let Some(edit) = self.edit_signature {
            edit(&mut signature);
        }
        let (id, raw_id) = self.common.identity(&credential.id);
        AssertionResponse {
            id,
            raw_id,
            credential_type: self.common.credential_type,
            client_data_json,
            authenticator_data,
            signature,
            user_handle: self.user_handle,
        }
    }
}

/// A built authentication response. Change the fields to mutate it after signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionResponse {
    /// `id`.
    pub id: String,
    /// `rawId`.
    pub raw_id: Vec<u8>,
    /// `type`.
    pub credential_type: String,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `response.signature`.
    pub signature: Vec<u8>,
    /// `response.userHandle` (absent when `None`).
    pub user_handle: Option<Vec<u8>>,
}

impl AssertionResponse {
    /// The `AuthenticationResponseJSON` form, as `PublicKeyCredential.toJSON()` gives it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut response = serde_json::json!({
            "clientDataJSON": base64url_encode(&self.client_data_json),
            "authenticatorData": base64url_encode(&self.authenticator_data),
            "signature": base64url_encode(&self.signature),
        });
        if let Some(handle) = &self.user_handle {
            response["userHandle"] = base64url_encode(handle).into();
        }
        serde_json::json!({
            "id": self.id,
            "rawId": base64url_encode(&self.raw_id),
            "type": self.credential_type,
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }

    /// The typed form the verifier takes.
    ///
    /// # Panics
    /// If a mutation made the JSON unreadable; use [`Self::to_json`] and
    /// [`AuthenticationResponseJson::from_json`] for those.
    pub fn to_response(&self) -> AuthenticationResponseJson {
        serde_json::from_value(self.to_json())
            .expect("a structurally valid authentication response")
    }
}
