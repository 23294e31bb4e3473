//! The caller's own tenant.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::auth::Tenant;
use crate::state::AppState;

/// `GET /tenant`.
pub fn router() -> Router<AppState> {
    Router::new().route("/tenant", get(show))
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize)]
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
async fn show(Tenant(tenant): Tenant) -> Json<TenantView> {
    Json(TenantView {
        id: tenant.id.to_string(),
        name: tenant.name,
        rp_id: tenant.rp_id,
        rp_name: tenant.rp_name,
        origins: tenant.origins,
    })
}
