//! `GET/DELETE /users/{userId}` and `GET /users/{userId}/credentials` (secret key).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::credentials::CredentialView;
use super::{rfc3339, ClientIp, RequestId};
use crate::audit::Audit;
use crate::auth::SecretCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// The user routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{user_id}", get(show).delete(remove))
        .route("/users/{user_id}/credentials", get(credentials))
}

/// A user ID from the path. One that no user can have (too long, control characters: which
/// PostgreSQL could not even compare) is simply not found.
fn user_path(user_id: &str) -> Result<&str, ApiError> {
    if user_id.is_empty()
        || user_id.len() > crate::ceremony::MAX_USER_ID_BYTES
        || user_id.chars().any(char::is_control)
    {
        return Err(ApiError::NotFound);
    }
    Ok(user_id)
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The app's user ID.
    pub user_id: String,
    /// The user name.
    pub user_name: String,
    /// The display name.
    pub display_name: String,
    /// The WebAuthn user handle (base64url), as authenticators return it.
    pub user_handle: String,
    /// How many credentials the user has.
    pub credential_count: usize,
    /// Consecutive failed ceremonies.
    pub failed_attempts: u32,
    /// Creation time.
    pub created_at: String,
}

/// A user's credentials.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialList {
    /// Oldest first.
    pub credentials: Vec<CredentialView>,
}

/// One user.
#[utoipa::path(get, path = "/users/{userId}", tag = "users",
    params(("userId" = String, Path, description = "The app's user ID")),
    security(("api_key" = [])),
    responses((status = 200, body = UserView), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn show(
    SecretCaller(caller): SecretCaller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let tenant = &caller.tenant;
    let user = state.store.user(&tenant.id, user_path(&user_id)?).await?;
    let count = state.store.credentials(&tenant.id, &user.id).await?.len();
    Ok(Json(UserView {
        user_handle: passkeyd_webauthn::json::base64url_encode(&user.user_handle),
        user_id: user.id,
        user_name: user.name,
        display_name: user.display_name,
        credential_count: count,
        failed_attempts: user.failed_attempts,
        created_at: rfc3339(user.created_at),
    }))
}

/// Deletes a user and all their credentials.
#[utoipa::path(delete, path = "/users/{userId}", tag = "users",
    params(("userId" = String, Path, description = "The app's user ID")),
    security(("api_key" = [])),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn remove(
    SecretCaller(caller): SecretCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = &caller.tenant;
    let mut audit = Audit::new(&tenant.id, &caller.actor(), "user.delete", ip.0, request_id);
    audit.subject(format!("user:{user_id}"));
    let result = match user_path(&user_id) {
        Ok(user_id) => state.store.delete_user(&tenant.id, user_id).await,
        Err(_) => Err(crate::store::StoreError::NotFound),
    };
    let result = result.map_err(ApiError::from);
    audit
        .finish(
            &state,
            result.as_ref().map_or_else(ApiError::code, |()| "success"),
        )
        .await;
    result.map(|()| StatusCode::NO_CONTENT)
}

/// A user's credentials.
#[utoipa::path(get, path = "/users/{userId}/credentials", tag = "users",
    params(("userId" = String, Path, description = "The app's user ID")),
    security(("api_key" = [])),
    responses((status = 200, body = CredentialList), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn credentials(
    SecretCaller(caller): SecretCaller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<CredentialList>, ApiError> {
    let tenant = &caller.tenant;
    let user = state.store.user(&tenant.id, user_path(&user_id)?).await?;
    let credentials = state.store.credentials(&tenant.id, &user.id).await?;
    Ok(Json(CredentialList {
        credentials: credentials
            .iter()
            .map(|c| CredentialView::new(&state, c))
            .collect(),
    }))
}
