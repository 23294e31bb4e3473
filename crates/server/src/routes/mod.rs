//! The HTTP routes, one file per resource.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::Caller;
use crate::ceremony::{Context, SessionKeys};
use crate::error::{ApiError, REQUEST_ID};
use crate::service::Provenance;
use crate::settings::TenantSettings;
use crate::state::AppState;

pub mod admin;
pub mod admin_webhooks;
pub mod audit;
pub mod authentication;
pub mod compat;
pub mod credentials;
pub mod demo;
pub mod health;
pub mod me;
pub mod openapi;
pub mod paging;
pub mod registration;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod wellknown;

pub use crate::client_ip::ClientIp;

/// The ceremony context of a request, after the caller's rate limits: per client IP and per
/// tenant on the public routes, the tenant's quota (if any) with the secret key.
pub fn ceremony_context(
    state: &AppState,
    caller: Caller,
    ip: ClientIp,
    parts_request_id: Option<String>,
) -> Result<Context, ApiError> {
    let tenant_id = caller.tenant.id.as_str();
    let limited = if caller.is_secret() {
        state.rate_limits.check_secret(tenant_id)
    } else {
        match ip.0 {
            Some(ip) => state.rate_limits.check_public(tenant_id, ip),
            None => Ok(()),
        }
    };
    limited.map_err(|e| ApiError::RateLimited {
        retry_after_secs: e.retry_after_secs,
    })?;
    let settings = TenantSettings::from_map(&caller.tenant.settings).map_err(ApiError::internal)?;
    Ok(Context {
        secret: caller.is_secret(),
        actor: caller.actor(),
        tenant: caller.tenant,
        settings,
        ip: ip.0,
        request_id: parts_request_id,
        sessions: SessionKeys::RandomToken,
        bound_user: None,
    })
}

/// The request ID the request-ID layer set.
#[derive(Clone, Debug)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Self(
            parts
                .headers
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

impl FromRequestParts<AppState> for Provenance {
    type Rejection = std::convert::Infallible;

    /// The client's address ([`ClientIp`]) and the request ID ([`RequestId`]).
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        Ok(Self {
            ip: ClientIp::of(parts, state).0,
            request_id,
        })
    }
}

/// A timestamp as RFC 3339 text.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
