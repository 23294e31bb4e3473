//! `POST /webauthn/authentication/request` and `/response`: signing in with a passkey, for a
//! named user (`allowCredentials` from their credentials) or without a name (discoverable
//! credentials, conditional UI).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{ceremony_context, ClientIp, RequestId};
use crate::auth::Caller;
use crate::ceremony::{self, AuthenticationOverrides, SignInHint};
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

/// The authentication routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webauthn/authentication/request", post(request))
        .route("/webauthn/authentication/response", post(response))
}

/// Body of `POST /webauthn/authentication/request`. With neither `userId` nor `userName`, the
/// sign-in is discoverable (usernameless, conditional UI).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationRequest {
    /// The app's user ID.
    pub user_id: Option<String>,
    /// The user name.
    pub user_name: Option<String>,
    /// Per-request options, applied only where the tenant allows and never weakening it.
    pub options: Option<AuthenticationOverrides>,
}

/// The body of `POST /webauthn/authentication/request`: JSON, or nothing at all, which is a
/// discoverable sign-in as `{}` is. web-authn-service, the native API's model, documents this
/// request with no fields, and its clients send it without a body.
#[derive(Debug)]
pub struct AuthenticationRequestBody(pub AuthenticationRequest);

impl<S: Send + Sync> FromRequest<S> for AuthenticationRequestBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request.headers().get(CONTENT_TYPE).cloned();
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest(e.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(AuthenticationRequest::default()));
        }
        // Any other body is JSON with its content type, exactly as on every other route.
        let mut json = Request::new(Body::from(bytes));
        if let Some(content_type) = content_type {
            json.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        let ApiJson(body) = ApiJson::from_request(json, state).await?;
        Ok(Self(body))
    }
}

/// Answer of `POST /webauthn/authentication/request`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationBegun {
    /// Pass back to `/webauthn/authentication/response`; single use.
    pub session: String,
    /// For `PublicKeyCredential.parseRequestOptionsFromJSON()`.
    #[schema(value_type = Object)]
    pub public_key_credential_request_options: passkeyd_webauthn::RequestOptionsJson,
}

/// Body of `POST /webauthn/authentication/response`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationFinish {
    /// The session from the request step.
    pub session: String,
    /// `credential.toJSON()` of the assertion.
    #[schema(value_type = Object)]
    pub public_key_credential: Box<RawValue>,
}

/// Answer of `POST /webauthn/authentication/response`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResult {
    /// Always true (failures are error answers).
    pub verified: bool,
    /// The user who signed in.
    pub user_id: String,
    /// Their user name.
    pub user_name: String,
    /// The credential used (base64url).
    pub credential_id: String,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// Whether the credential can be synced.
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// The signature counter did not increase and the tenant only flags that: a possible
    /// cloned authenticator.
    pub counter_regressed: bool,
    /// A signed result token (JWT) for the app's backend.
    pub token: String,
    /// When the token expires (Unix seconds).
    pub token_expires_at: i64,
    /// The `@notice` annotations of the tenant policies that permitted the sign-in (empty
    /// when none carries one, or the tenant has no policy).
    pub notices: Vec<String>,
}

/// Begins an authentication. The body may be left out: a discoverable sign-in.
#[utoipa::path(post, path = "/webauthn/authentication/request", tag = "authentication",
    request_body = AuthenticationRequest,
    security(("api_key" = []), ("publishable_key" = [])),
    responses((status = 200, body = AuthenticationBegun), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn request(
    caller: Caller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    AuthenticationRequestBody(body): AuthenticationRequestBody,
) -> Result<Json<AuthenticationBegun>, ApiError> {
    let ctx = ceremony_context(&state, caller, ip, request_id)?;
    let hint = match (body.user_id, body.user_name) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest(
                "give userId or userName, not both".to_owned(),
            ))
        }
        (Some(id), None) => SignInHint::UserId(id),
        (None, Some(name)) => SignInHint::UserName(name),
        (None, None) => SignInHint::None,
    };
    let begun =
        ceremony::begin_authentication(&state, &ctx, hint, body.options.unwrap_or_default())
            .await?;
    Ok(Json(AuthenticationBegun {
        session: begun.session,
        public_key_credential_request_options: begun.options,
    }))
}

/// Finishes an authentication: verifies the assertion and records the credential's use.
#[utoipa::path(post, path = "/webauthn/authentication/response", tag = "authentication",
    request_body = AuthenticationFinish,
    security(("api_key" = []), ("publishable_key" = [])),
    responses((status = 200, body = AuthenticationResult), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn response(
    caller: Caller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AuthenticationFinish>,
) -> Result<Json<AuthenticationResult>, ApiError> {
    let ctx = ceremony_context(&state, caller, ip, request_id)?;
    let done = ceremony::finish_authentication(
        &state,
        &ctx,
        &body.session,
        body.public_key_credential.get().as_bytes(),
    )
    .await?;
    Ok(Json(AuthenticationResult {
        verified: true,
        user_id: done.user.id,
        user_name: done.user.name,
        credential_id: passkeyd_webauthn::json::base64url_encode(&done.credential.id),
        user_verified: done.user_verified,
        backup_eligible: done.credential.backup_eligible,
        backup_state: done.credential.backup_state,
        counter_regressed: done.counter_regressed,
        token: done.token.token,
        token_expires_at: done.token.expires_at,
        notices: done.notices,
    }))
}
