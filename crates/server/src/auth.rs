//! Who is calling: the [`Tenant`] extractor resolves `X-Api-Key` to the tenant it acts for.
//!
//! This is the tenancy boundary of the server-to-server API. A handler that takes [`Tenant`]
//! only ever passes `tenant.0.id` to the store, so it cannot reach another tenant's rows.

use axum::extract::FromRequestParts;
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
        let presented = parts
            .headers
            .get(API_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| ApiKeySecret::parse(v).ok())
            .filter(|key| key.kind() == ApiKeyKind::Secret)
            .ok_or(ApiError::Unauthenticated)?;
        // The prefix is public (it is listed and logged), so finding it by an ordinary indexed
        // lookup reveals nothing; the secret part is only ever compared in constant time.
        let stored = match state.store.api_key_by_prefix(presented.prefix()).await {
            Ok(stored) => stored,
            Err(StoreError::NotFound) => return Err(ApiError::Unauthenticated),
            Err(e) => return Err(ApiError::internal(e)),
        };
        if !presented.hash().matches(&stored.key_hash)
            || stored.revoked_at.is_some()
            || stored.kind != ApiKeyKind::Secret
        {
            return Err(ApiError::Unauthenticated);
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
        Ok(Self(tenant))
    }
}
