//! [Verifying an authentication assertion](https://www.w3.org/TR/webauthn-3/#sctn-verifying-assertion)
//! (WebAuthn L3 §7.2).

use crate::authenticator_data::{AuthenticatorData, AuthenticatorFlags};
use crate::client_data::{ClientDataType, CollectedClientData};
use crate::cose_key::CredentialPublicKey;
use crate::error::{AuthenticatorDataError, CeremonyError, VerifyError};
use crate::json::{AuthenticationResponseJson, UserVerificationRequirement};
use crate::relying_party::{sha256, RelyingParty};

/// How the user was identified before the ceremony (L3 §7.2 step 6).
#[derive(Debug, Clone, Copy)]
pub enum UserIdentification<'a> {
    /// Discoverable flow (usernameless, conditional UI): the user is found through the credential,
    /// so the response must carry a user handle.
    Discoverable,
    /// The user was identified first (by user name or session) and `allowCredentials` listed
    /// their credential IDs.
    Identified {
        /// The user handle of the user identified before the ceremony: the credential must be
        /// theirs.
        user_handle: &'a [u8],
        /// The credential IDs offered in `allowCredentials`.
        allow_credentials: &'a [&'a [u8]],
    },
}

/// What to do when the signature counter did not increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterPolicy {
    /// Refuse the assertion (`counter_regression`). The default.
    #[default]
    Reject,
    /// Accept it and report [`VerifiedAuthentication::counter_regressed`].
    Flag,
}

/// What the relying party expects of an authentication.
#[derive(Debug, Clone)]
pub struct ExpectedAuthentication<'a> {
    /// The relying party (RP ID and origins).
    pub relying_party: &'a RelyingParty,
    /// The challenge bytes issued for this ceremony.
    pub challenge: &'a [u8],
    /// The user verification requirement. Only `Required` is enforced.
    pub user_verification: UserVerificationRequirement,
    /// Identified or discoverable flow.
    pub identification: UserIdentification<'a>,
    /// What a counter that did not increase means.
    pub counter_policy: CounterPolicy,
    /// Accept a credential registered with BE=0 that now reports BE=1 (some platforms upgraded
    /// device-bound credentials to synced ones). BE=1 to BE=0 is always refused.
    pub allow_backup_eligibility_upgrade: bool,
}

impl<'a> ExpectedAuthentication<'a> {
    /// Strict defaults: UV preferred, counter regressions refused, BE must not change.
    pub fn new(
        relying_party: &'a RelyingParty,
        challenge: &'a [u8],
        identification: UserIdentification<'a>,
    ) -> Self {
        Self {
            relying_party,
            challenge,
            user_verification: UserVerificationRequirement::Preferred,
            identification,
            counter_policy: CounterPolicy::Reject,
            allow_backup_eligibility_upgrade: false,
        }
    }
}

/// The stored credential record the assertion is checked against.
#[derive(Debug, Clone, Copy)]
pub struct StoredCredential<'a> {
    /// The credential ID.
    pub credential_id: &'a [u8],
    /// The credential public key as stored at registration (COSE_Key bytes).
    pub public_key: &'a [u8],
    /// The stored signature counter.
    pub sign_count: u32,
    /// BE as recorded at registration.
    pub backup_eligible: bool,
    /// The user handle of the credential's owner.
    pub user_handle: &'a [u8],
}

/// A verified assertion: what to update in the credential record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAuthentication {
    /// The credential that signed.
    pub credential_id: Vec<u8>,
    /// The new signature counter to store (compare-and-set against the old one).
    pub sign_count: u32,
    /// The authenticator data flags.
    pub flags: AuthenticatorFlags,
    /// True when the counter did not increase and the policy only flags it.
    pub counter_regressed: bool,
    /// The authenticator extension outputs, raw CBOR, if any.
    pub authenticator_extensions: Option<Vec<u8>>,
}

impl VerifiedAuthentication {
    /// Whether the user was verified.
    pub fn user_verified(&self) -> bool {
        self.flags.user_verified()
    }
    /// BE as reported now.
    pub fn backup_eligible(&self) -> bool {
        self.flags.backup_eligible()
    }
    /// BS as reported now (store it: synced keychains flip it).
    pub fn backup_state(&self) -> bool {
        self.flags.backup_state()
    }
}

/// Verifies an authentication response against the stored credential, every step of L3 §7.2.
pub fn verify_authentication(
    response: &AuthenticationResponseJson,
    expected: &ExpectedAuthentication<'_>,
    stored: &StoredCredential<'_>,
) -> Result<VerifiedAuthentication, VerifyError> {
    response.check_structure()?;
    let raw_id = response.raw_id.0.as_slice();

    // Step 5: the credential must be one that was offered.
    if let UserIdentification::Identified {
        allow_credentials, ..
    } = expected.identification
    {
        if !allow_credentials.is_empty() && !allow_credentials.contains(&raw_id) {
            return Err(CeremonyError::CredentialNotAllowed.into());
        }
    }
    // Step 6: the credential is the stored one and belongs to the identified user (another
    // user's valid credential must not sign in as this one); the user handle, when given, names
    // its owner.
    if stored.credential_id != raw_id {
        return Err(CeremonyError::CredentialNotAllowed.into());
    }
    if let UserIdentification::Identified { user_handle, .. } = expected.identification {
        if stored.user_handle != user_handle {
            return Err(CeremonyError::CredentialNotAllowed.into());
        }
    }
    match (&response.response.user_handle, expected.identification) {
        (Some(handle), _) if handle.0 != stored.user_handle => {
            return Err(CeremonyError::UserHandleMismatch.into())
        }
        (None, UserIdentification::Discoverable) => {
            return Err(CeremonyError::UserHandleMismatch.into())
        }
        _ => {}
    }

    // Steps 8-14: client data.
    let client_data_json = &response.response.client_data_json.0;
    let client_data = CollectedClientData::parse(client_data_json)?;
    client_data.verify(
        ClientDataType::Get,
        expected.challenge,
        expected.relying_party,
    )?;

    // Steps 15-18: authenticator data, rpIdHash, UP, UV, BE/BS.
    let auth_data_bytes = &response.response.authenticator_data.0;
    let auth_data = AuthenticatorData::parse(auth_data_bytes)?;
    auth_data.verify_common(
        expected.relying_party.id_hash(),
        true,
        expected.user_verification == UserVerificationRequirement::Required,
    )?;
    // Step 19: BE is fixed at creation.
    let be_now = auth_data.flags.backup_eligible();
    if be_now != stored.backup_eligible && !(be_now && expected.allow_backup_eligibility_upgrade) {
        return Err(AuthenticatorDataError::BackupEligibilityChanged.into());
    }

    // Steps 20-21: the signature over authenticatorData || SHA-256(clientDataJSON), with the
    // stored key and only its stored algorithm.
    let key = CredentialPublicKey::from_stored(stored.public_key)?;
    let mut signed = Vec::with_capacity(auth_data_bytes.len() + 32);
    signed.extend_from_slice(auth_data_bytes);
    signed.extend_from_slice(&sha256(client_data_json));
    if !key.verify(&signed, &response.response.signature.0) {
        return Err(VerifyError::Signature);
    }

    // Step 22: the signature counter.
    let received = auth_data.sign_count;
    let regressed = (received != 0 || stored.sign_count != 0) && received <= stored.sign_count;
    if regressed && expected.counter_policy == CounterPolicy::Reject {
        return Err(CeremonyError::CounterRegression {
            stored: stored.sign_count,
            received,
        }
        .into());
    }

    Ok(VerifiedAuthentication {
        credential_id: raw_id.to_vec(),
        sign_count: received,
        flags: auth_data.flags,
        counter_regressed: regressed,
        authenticator_extensions: auth_data.extensions.map(<[u8]>::to_vec),
    })
}
