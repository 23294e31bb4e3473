//! (being written)

use axum::Router;

use crate::state::AppState;

/// `GET /openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new()
}
