//! `GET/DELETE /users/{userId}`, `GET /users/{userId}/credentials` and
//! `POST /users/{userId}/tokens` (secret key).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::credentials::CredentialView;
use super::paging::{page, PageQuery};
use super::rfc3339;
use crate::auth::SecretCaller;
use crate::error::{ApiError, ApiJson};
use crate::service::tokens::UserTokenOrder;
use crate::service::users::UserSummary;
use crate::service::{self, Provenance};
use crate::state::AppState;
use crate::token_keys::UserTokenRequest;

/// The user routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{user_id}", get(show).delete(remove))
        .route("/users/{user_id}/credentials", get(credentials))
        .route("/users/{user_id}/tokens", post(mint_token))
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
    /// Consecutive wrong backup codes (failed passkey ceremonies never count).
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
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
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
    let UserSummary {
        user,
        credential_count,
    } = service::users::show(&state, &caller.tenant.id, &user_id).await?;
    Ok(Json(UserView {
        user_handle: passkeyd_webauthn::json::base64url_encode(&user.user_handle),
        user_id: user.id,
        user_name: user.name,
        display_name: user.display_name,
        credential_count,
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
    via: Provenance,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::users::delete(&state, &caller, &user_id, &via).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's credentials.
#[utoipa::path(get, path = "/users/{userId}/credentials", tag = "users",
    params(("userId" = String, Path, description = "The app's user ID"), PageQuery),
    security(("api_key" = [])),
    responses((status = 200, body = CredentialList), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn credentials(
    SecretCaller(caller): SecretCaller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<CredentialList>, ApiError> {
    let credentials = service::users::credentials(&state, &caller.tenant.id, &user_id).await?;
    let (credentials, next_cursor) = page(credentials, &query, |c| c.id.clone())?;
    Ok(Json(CredentialList {
        credentials: credentials
            .iter()
            .map(|c| CredentialView::new(&state, c))
            .collect(),
        next_cursor,
    }))
}

/// Body of `POST /users/{userId}/tokens`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserTokenBody {
    /// The user's role in the app (1 to 64 printable characters), for the tenant's policies.
    pub role: Option<String>,
    /// The user's domain in the app (1 to 64 printable characters), for the tenant's policies.
    pub domain: Option<String>,
    /// Lifetime in seconds, 1 to the tenant's `user_token_max_ttl_secs` (3600 unless the
    /// tenant sets it; a longer one is refused, 400). Default 900, or the cap if shorter.
    pub ttl_seconds: Option<u32>,
    /// For a user passkeyd does not know yet (one who so far signs in only with a password):
    /// their user name, so they are created and can enrol a passkey at `/me`. Ignored for an
    /// existing user.
    pub user_name: Option<String>,
    /// The new user's display name (defaults to the user name).
    pub user_display_name: Option<String>,
    /// What to mint: `user` (the default), or `mfa_challenge`: a token that only lets the user
    /// prove a second factor with a passkey (the Jitsudo dialect's `challenge_id`; default
    /// lifetime 300 s, and used up by a successful sign-in).
    pub purpose: Option<TokenPurpose>,
}

/// What `POST /users/{userId}/tokens` mints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = MintedTokenPurpose)]
pub enum TokenPurpose {
    /// The first factor is checked; the user proves a second with a passkey.
    MfaChallenge,
    /// A user token for the `/me` API.
    #[default]
    User,
}

/// Answer of `POST /users/{userId}/tokens`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserTokenMinted {
    /// The user token (a JWT, purpose `user`): the user presents it as
    /// `Authorization: Bearer` to the `/me` routes until it expires. With `purpose:
    /// mfa_challenge`, the Jitsudo dialect's `challenge_id` instead.
    pub token: String,
    /// The user.
    pub user_id: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// Mints a user token for a user the app signed in another way (a password, say), so they can
/// manage their passkeys and enrol a second factor at `/me`. The token carries the user's
/// whole authority over their own credentials: mint it only once the app trusts the sign-in
/// that much, and use `role` and `domain` with the tenant's policies to narrow it.
#[utoipa::path(post, path = "/users/{userId}/tokens", tag = "users",
    params(("userId" = String, Path, description = "The app's user ID")),
    request_body = UserTokenBody,
    security(("api_key" = [])),
    responses((status = 200, body = UserTokenMinted), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn mint_token(
    SecretCaller(caller): SecretCaller,
    via: Provenance,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<UserTokenBody>,
) -> Result<Json<UserTokenMinted>, ApiError> {
    let order = UserTokenOrder {
        request: UserTokenRequest {
            role: body.role,
            domain: body.domain,
            ttl_secs: body.ttl_seconds,
            mfa_challenge: body.purpose == Some(TokenPurpose::MfaChallenge),
        },
        user_name: body.user_name,
        display_name: body.user_display_name,
    };
    let token = service::tokens::mint_user_token(&state, &caller, &user_id, order, &via).await?;
    Ok(Json(UserTokenMinted {
        token: token.token,
        user_id,
        expires_at: token.expires_at,
    }))
}
