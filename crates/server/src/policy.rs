//! Cedar policies per tenant (being written): who may register, authenticate, manage
//! credentials and enrol MFA, decided per request, with the `@notice` annotations of the
//! policies that decided.

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenant::TenantId;

/// What is being attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Registering a credential.
    Register,
    /// Signing in with a credential.
    Authenticate,
    /// Listing, renaming or deleting a credential.
    ManageCredential,
    /// Enrolling a passkey as a second factor.
    EnrolMfa,
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The app's backend, by API key prefix.
    ApiKey {
        /// The key's public prefix.
        prefix: String,
    },
    /// A user acting for themselves (a user token), or the user a ceremony is for.
    User {
        /// The app's user ID.
        id: String,
        /// The role the app gave the user's token, if any.
        role: Option<String>,
        /// The domain the app gave the user's token, if any.
        domain: Option<String>,
    },
}

/// What is acted on: the credential (as far as known) and its owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// The owner's user ID.
    pub user_id: String,
    /// The owner's domain: the part after `@` of their user name, lowercased, if any.
    pub user_domain: Option<String>,
    /// The authenticator model (hyphenated AAGUID), when attested or stored.
    pub aaguid: Option<String>,
    /// Attestation statement format.
    pub attestation_format: Option<String>,
    /// Attestation type (`none`, `self`, `basic`, `attca`, `anonca`).
    pub attestation_type: Option<String>,
    /// Whether the user was verified.
    pub user_verified: Option<bool>,
    /// Whether the credential can be synced.
    pub backup_eligible: Option<bool>,
    /// `platform` or `cross-platform`, as the client reported it.
    pub authenticator_attachment: Option<String>,
    /// Transports.
    pub transports: Vec<String>,
    /// How many credentials the owner has (before a registration).
    pub credential_count: u32,
}

/// Decides `action` by `principal` on `resource` under the tenant's policies. `Ok` carries the
/// notices of the permitting policies; a denial is 403 `policy_denied` with the notices of the
/// forbidding ones. A tenant without policies permits everything.
pub async fn authorize(
    _state: &AppState,
    _tenant: &TenantId,
    _principal: &Principal,
    _action: Action,
    _resource: &Resource,
) -> Result<Vec<String>, ApiError> {
    Ok(Vec::new())
}
