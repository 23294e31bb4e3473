//! The use cases, one module per family: every rule, every policy call and every audit event of
//! the HTTP API lives here. Routes, `/me` and the compatibility dialects translate HTTP shapes
//! to a call of these functions and the answer back; none of them names the store.
//!
//! Imports point one way: `routes` and `auth` -> `service` -> the store, the ceremonies, the
//! policies and the token keys; nothing here imports a route. The domain types the routes show
//! reach them through the re-exports below.
//!
//! - `callers`: who is calling: an API key presented, a user token presented.
//! - `tenants`: tenant lookup (by ID, by dialect and host) and the operator's policy changes.
//! - `users`: showing, creating and deleting users.
//! - `credentials`: listing, renaming and deleting credentials, by the app and by their
//!   owner.
//! - `mfa`: a user's own second factors: passkey enrolment and backup codes.
//! - `tokens`: registration tokens, user tokens and the redemption of result tokens.
//! - `audit`: reading the audit trail.
//! - `health`: readiness.
//! - `wellknown`: the association files of an RP ID's host (related origins, apps).
//! - `webhooks`: the tenant's webhook endpoints, the outbox's messages, their delivery.
//! - `portability`: exporting and importing a tenant's users and credentials.
//! - `mds`: the FIDO Metadata Service BLOB: verification, download, swap, status.

use std::net::IpAddr;

use crate::audit::Audit;
use crate::error::ApiError;
use crate::policy::{self, Resource};
use crate::state::AppState;

pub mod audit;
pub mod callers;
pub mod credentials;
pub mod health;
pub mod mds;
pub mod mfa;
pub mod portability;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod wellknown;

pub use crate::store::{AuditEvent, Credential, RegistrationToken, Tenant, User};
pub use callers::{Caller, UserCaller};

/// Where a request came from, as the audit trail records it.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The client's IP address, when known.
    pub ip: Option<IpAddr>,
    /// The request ID.
    pub request_id: Option<String>,
}

impl Provenance {
    /// An audit event of `action` by `actor` at `tenant`, from this request.
    fn audit(&self, tenant: &crate::tenant::TenantId, actor: &str, action: &'static str) -> Audit {
        Audit::new(tenant, actor, action, self.ip, self.request_id.clone())
    }
}

/// What a policy decides on: the user (and the credential, when one is concerned), with how many
/// credentials the user holds.
fn user_resource(
    user: &User,
    credential: Option<&Credential>,
    credential_count: usize,
) -> Resource {
    match credential {
        Some(credential) => Resource::for_credential(user, credential, credential_count),
        None => Resource {
            user_id: user.id.clone(),
            user_domain: policy::user_domain(&user.name),
            credential_count: u32::try_from(credential_count).unwrap_or(u32::MAX),
            ..Resource::default()
        },
    }
}

/// Records `audit` with the outcome of `result` (`success` or its error code), and passes the
/// result on.
async fn finish<T>(
    state: &AppState,
    audit: Audit,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let outcome = result.as_ref().map_or_else(ApiError::code, |_| "success");
    audit.finish(state, outcome).await;
    result
}
