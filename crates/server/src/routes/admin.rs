//! `/admin/...`: the operator API, authenticated with the operator key
//! (`Authorization: Bearer <PASSKEYD_ADMIN_KEY>`). With no operator key configured none of
//! these routes exists: every `/admin` path answers 404, whatever the method, never open.
//!
//! - `GET /admin/tenants/{tenantId}/policy`: the tenant's Cedar policy text, or `null`.
//! - `PUT /admin/tenants/{tenantId}/policy`: validates a policy against passkeyd's schema and
//!   stores it; an invalid policy is refused (400 `policy_invalid`) and the old one stays.
//! - `DELETE /admin/tenants/{tenantId}/policy`: removes it (the tenant permits everything).
//! - `GET /admin/mds`: the FIDO Metadata Service BLOB in the database and its last download.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiJson};
use crate::service::{self, Provenance};
use crate::state::AppState;
use crate::tenant::TenantId;

/// The operator routes; empty (so every `/admin` path is the fallback's 404) when `state` has
/// no operator key.
pub fn router(state: &AppState) -> Router<AppState> {
    if state.config.admin_key.is_none() {
        return Router::new();
    }
    Router::new()
        .route(
            "/admin/tenants/{tenant_id}/policy",
            get(show).put(set).delete(clear),
        )
        .merge(super::admin_webhooks::router())
        .route("/admin/mds", get(mds_status))
}

/// A request that carries the operator key.
///
/// Rejections: 404 `not_found` when no operator key is configured (the admin API is off), 401
/// `unauthenticated` (with `WWW-Authenticate: Bearer`) when the key is missing or wrong. The
/// presented key is hashed and compared with the configured key's hash in constant time.
#[derive(Clone, Copy, Debug)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(key) = &state.config.admin_key else {
            return Err(ApiError::NotFound);
        };
        let presented = crate::auth::bearer_token(parts);
        match presented {
            Some(token) if key.matches(token) => Ok(Self),
            _ => Err(ApiError::OperatorUnauthenticated),
        }
    }
}

/// A tenant named in the path: an ID that cannot exist is not found, like an unknown one.
fn tenant_id(id: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(id).map_err(|_| ApiError::NotFound)
}

/// A tenant's policy.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// The Cedar policy text; `null` when the tenant has none (and permits everything).
    pub policy: Option<String>,
}

/// Body of `PUT /admin/tenants/{tenantId}/policy`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyUpdate {
    /// The Cedar policy text (at most 64 KiB), validated against passkeyd's schema.
    pub policy: String,
}

/// Answer of `PUT /admin/tenants/{tenantId}/policy`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStored {
    /// The policy text as stored.
    pub policy: String,
    /// How many policies it holds.
    pub policies: usize,
    /// The validator's warnings, which do not stop a policy from being stored.
    pub warnings: Vec<String>,
}

/// A tenant's Cedar policy.
#[utoipa::path(get, path = "/admin/tenants/{tenantId}/policy", tag = "admin",
    operation_id = "show_policy",
    params(("tenantId" = String, Path, description = "The tenant's ID")),
    security(("admin_key" = [])),
    responses((status = 200, body = PolicyView), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn show(
    _: Operator,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let policy = service::tenants::policy(&state, &tenant).await?;
    Ok(Json(PolicyView { policy }))
}

/// Replaces a tenant's Cedar policy. The text is parsed and validated against passkeyd's
/// schema (strict mode) first: an invalid policy is refused with 400 `policy_invalid`
/// (`details.errors` says what is wrong, with lines and columns) and the old policy stays.
#[utoipa::path(put, path = "/admin/tenants/{tenantId}/policy", tag = "admin",
    operation_id = "set_policy",
    params(("tenantId" = String, Path, description = "The tenant's ID")),
    request_body = PolicyUpdate,
    security(("admin_key" = [])),
    responses((status = 200, body = PolicyStored), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn set(
    _: Operator,
    via: Provenance,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<PolicyUpdate>,
) -> Result<Json<PolicyStored>, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let stored = service::tenants::set_policy(&state, &tenant, &body.policy, &via).await?;
    Ok(Json(PolicyStored {
        policies: stored.policies,
        warnings: stored.warnings,
        policy: body.policy,
    }))
}

/// Removes a tenant's Cedar policy: it permits everything again.
#[utoipa::path(delete, path = "/admin/tenants/{tenantId}/policy", tag = "admin",
    operation_id = "clear_policy",
    params(("tenantId" = String, Path, description = "The tenant's ID")),
    security(("admin_key" = [])),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn clear(
    _: Operator,
    via: Provenance,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = tenant_id(&tenant)?;
    service::tenants::clear_policy(&state, &tenant, &via).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The FIDO Metadata Service BLOB every node uses: its serial number, `nextUpdate`, whether it
/// is stale (missing, or past `nextUpdate` with no fresh one stored), and the last download's
/// time and result.
#[utoipa::path(get, path = "/admin/mds", tag = "admin",
    operation_id = "show_mds",
    security(("admin_key" = [])),
    responses((status = 200, body = service::mds::MdsStatus),
        (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn mds_status(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<service::mds::MdsStatus>, ApiError> {
    let status =
        service::mds::status(state.store.as_ref(), &state.config, state.clock.now()).await?;
    Ok(Json(status))
}
