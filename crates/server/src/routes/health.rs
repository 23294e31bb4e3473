//! Probes for orchestrators: liveness and readiness.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz` and `GET /readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The answer of a probe that passed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` (a failed probe is an error answer).
    #[schema(example = "ok")]
    pub status: &'static str,
}

const OK: Health = Health { status: "ok" };

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health), (status = "5XX", body = crate::error::ErrorBody)))]
async fn healthz() -> Json<Health> {
    Json(OK)
}

/// Readiness: the process can do its work, because the store answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "`unavailable`: the store does not answer",
            body = crate::error::ErrorBody),
        (status = "5XX", body = crate::error::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    Ok(Json(OK))
}
