//! Readiness: whether the server can do its work.

use crate::error::ApiError;
use crate::state::AppState;

/// Answers when the database answers a trivial query; 503 `unavailable` otherwise.
pub async fn ping(state: &AppState) -> Result<(), ApiError> {
    state.store.ping().await.map_err(ApiError::unavailable)
}
