//! Probes for orchestrators (liveness and readiness) and the Prometheus metrics.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::service;
use crate::state::AppState;

/// `GET /healthz`, `GET /readyz` and `GET /metrics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
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
    service::health::ping(&state).await?;
    Ok(Json(OK))
}

/// A request that carries the metrics token (`Authorization: Bearer <PASSKEYD_METRICS_TOKEN>`).
///
/// Rejections: 404 `not_found` when no token is configured (the metrics, whose labels name
/// every tenant, are off rather than open), 401 `unauthenticated` when the token is missing or
/// wrong. The presented token is hashed and compared with the configured one's hash in
/// constant time.
#[derive(Clone, Copy, Debug)]
pub struct Scraper;

impl FromRequestParts<AppState> for Scraper {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.config.metrics_token else {
            return Err(ApiError::NotFound);
        };
        let presented = crate::auth::bearer_token(parts);
        match presented {
            Some(presented) if token.matches(presented) => Ok(Self),
            _ => Err(ApiError::MetricsUnauthenticated),
        }
    }
}

/// The metrics in the Prometheus text format, for the scraper holding the metrics token.
async fn metrics(_: Scraper) -> Response {
    crate::metrics::serve_metrics().await
}
