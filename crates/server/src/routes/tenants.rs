//! The caller's own tenant.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Tenant;
use crate::state::AppState;

/// `GET /tenant`.
pub fn router() -> Router<AppState> {
    Router::new().route("/tenant", get(show))
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    /// Its ID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// WebAuthn RP ID.
    pub rp_id: String,
    /// WebAuthn RP name.
    pub rp_name: String,
    /// Allowed origins.
    pub origins: Vec<String>,
}

/// The tenant the API key acts for.
#[utoipa::path(get, path = "/tenant", tag = "tenant",
    security(("api_key" = [])),
    responses((status = 200, body = TenantView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn show(Tenant(tenant): Tenant) -> Json<TenantView> {
    Json(TenantView {
        id: tenant.id.to_string(),
        name: tenant.name,
        rp_id: tenant.rp_id,
        rp_name: tenant.rp_name,
        origins: tenant.origins,
    })
}
