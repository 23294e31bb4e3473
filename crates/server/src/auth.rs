//! Who is calling: the [`Tenant`] extractor resolves `X-Api-Key` to the tenant it acts for.
//!
//! This is the tenancy boundary of the server-to-server API. A handler that takes [`Tenant`]
//! only ever passes `tenant.0.id` to the store, so it cannot reach another tenant's rows.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{self, StoreError};

/// The header carrying the tenant's secret API key.
pub const API_KEY: &str = "x-api-key";
/// The optional header naming the tenant the caller expects to act for.
pub const TENANT_ID: &str = "x-tenant-id";

/// The tenant of a request authenticated with a valid, unrevoked secret API key.
///
/// Rejections: 401 `unauthenticated` when the key is missing, malformed, unknown, revoked or a
/// publishable key; 403 `tenant_mismatch` when `X-Tenant-ID` is present and names another
/// tenant. The tenant check runs only after the key is verified, so an unauthenticated caller
/// learns nothing about which tenants exist.
#[derive(Clone, Debug)]
pub struct Tenant(pub store::Tenant);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Some(caller) if caller.kind == ApiKeyKind::Secret => Ok(Self(caller.tenant)),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// The caller of a route that takes either key: the app's backend (secret key) or a browser
/// (publishable key, browser-direct flow).
///
/// A publishable-key request that carries an `Origin` header must come from one of the
/// tenant's origins (403 `forbidden`), so a page elsewhere cannot drive the tenant's public
/// routes from a visitor's browser.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The tenant the key acts for.
    pub tenant: store::Tenant,
    /// Which kind of key.
    pub kind: ApiKeyKind,
    /// The key's public prefix, for the audit trail.
    pub key_prefix: String,
}

impl Caller {
    /// Whether the caller is the app's backend.
    pub fn is_secret(&self) -> bool {
        self.kind == ApiKeyKind::Secret
    }

    /// The audit trail's name for the caller.
    pub fn actor(&self) -> String {
        format!("api_key:{}", self.key_prefix)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state)
            .await?
            .ok_or(ApiError::UnauthenticatedAnyKey)?;
        if caller.kind == ApiKeyKind::Publishable {
            if let Some(origin) = parts.headers.get(header::ORIGIN) {
                let allowed = origin
                    .to_str()
                    .is_ok_and(|o| caller.tenant.origins.iter().any(|t| t == o));
                if !allowed {
                    return Err(ApiError::Forbidden(
                        "this origin is not one of the tenant's origins",
                    ));
                }
            }
        }
        Ok(caller)
    }
}

/// A [`Caller`] holding the secret key: the app's backend.
#[derive(Clone, Debug)]
pub struct SecretCaller(pub Caller);

impl FromRequestParts<AppState> for SecretCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Some(caller) if caller.is_secret() => Ok(Self(caller)),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// Resolves `X-Api-Key` to its tenant: `None` when the key is missing, malformed, unknown or
/// revoked; 403 `tenant_mismatch` when `X-Tenant-ID` names another tenant. The tenant check
/// runs only after the key is verified, so an unauthenticated caller learns nothing about
/// which tenants exist.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(presented) = parts
        .headers
        .get(API_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ApiKeySecret::parse(v).ok())
    else {
        return Ok(None);
    };
    // The prefix is public (it is listed and logged), so finding it by an ordinary indexed
    // lookup reveals nothing; the secret part is only ever compared in constant time.
    let stored = match state.store.api_key_by_prefix(presented.prefix()).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(ApiError::internal(e)),
    };
    if !presented.hash().matches(&stored.key_hash)
        || stored.revoked_at.is_some()
        || stored.kind != presented.kind()
    {
        return Ok(None);
    }
    let tenant = state
        .store
        .tenant(&stored.tenant_id)
        .await
        .map_err(ApiError::internal)?;
    if let Some(expected) = parts.headers.get(TENANT_ID) {
        if expected.as_bytes() != tenant.id.as_str().as_bytes() {
            return Err(ApiError::TenantMismatch);
        }
    }
    Ok(Some(Caller {
        tenant,
        kind: stored.kind,
        key_prefix: stored.prefix,
    }))
}
