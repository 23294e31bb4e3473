//! Tokens of the browser-direct flow: `POST /registration-tokens` (the app's backend lets a
//! browser register a passkey for a user), `POST /tokens/verify` (redeem a result token once)
//! and `GET /.well-known/jwks.json` (the tenant's token keys, to verify result tokens offline).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::SecretCaller;
use crate::ceremony::{MAX_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::error::{ApiError, ApiJson};
use crate::service::tokens::Registrable;
use crate::service::{self, Provenance};
use crate::state::AppState;
use crate::tenant::TenantId;
use crate::token_keys::{self, Purpose};
use crate::tokens::ResultClaims;

pub use crate::service::tokens::REGISTRATION_TOKEN_TTL_SECS;

/// The token routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registration-tokens", post(mint_registration_token))
        .route("/tokens/verify", post(verify))
        .route("/.well-known/jwks.json", get(jwks))
}

/// Body of `POST /registration-tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationTokenRequest {
    /// The app's user ID; a new user gets a generated one when absent.
    pub user_id: Option<String>,
    /// The user name (for a new user; an existing user keeps theirs).
    pub user_name: String,
    /// The display name (defaults to the user name).
    pub user_display_name: Option<String>,
}

/// Answer of `POST /registration-tokens`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationTokenMinted {
    /// Give it to the browser, which passes it as `registrationToken`; single use.
    pub registration_token: String,
    /// The user it registers a passkey for.
    pub user_id: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// Lets a browser register a passkey for a user, once, within 15 minutes.
#[utoipa::path(post, path = "/registration-tokens", tag = "tokens",
    request_body = RegistrationTokenRequest,
    security(("api_key" = [])),
    responses((status = 200, body = RegistrationTokenMinted), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn mint_registration_token(
    SecretCaller(caller): SecretCaller,
    via: Provenance,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegistrationTokenRequest>,
) -> Result<Json<RegistrationTokenMinted>, ApiError> {
    let printable = |field: &str, value: &str, max: usize| {
        if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
            Err(ApiError::InvalidRequest(format!(
                "{field} must be 1 to {max} bytes of printable text"
            )))
        } else {
            Ok(())
        }
    };
    printable("userName", &body.user_name, MAX_NAME_BYTES)?;
    if let Some(name) = &body.user_display_name {
        printable("userDisplayName", name, MAX_NAME_BYTES)?;
    }
    if let Some(id) = &body.user_id {
        printable("userId", id, MAX_USER_ID_BYTES)?;
    }
    let registrable = Registrable {
        user_id: body.user_id,
        user_name: body.user_name,
        display_name: body.user_display_name,
    };
    let minted =
        service::tokens::mint_registration_token(&state, &caller, registrable, &via).await?;
    Ok(Json(RegistrationTokenMinted {
        registration_token: minted.token,
        user_id: minted.user_id,
        expires_at: minted.expires_at,
    }))
}

/// Body of `POST /tokens/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenVerifyRequest {
    /// A token passkeyd signed: by default the result token of a sign-in.
    pub token: String,
    /// The purpose the caller expects (default `authentication`: a sign-in result). A token
    /// of any other purpose is refused as `token_invalid`, and is not used up.
    #[serde(default)]
    pub purpose: TokenPurpose,
}

/// The purpose of a token, as `POST /tokens/verify` takes and answers it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// The result of a passkey sign-in.
    #[default]
    Authentication,
    /// A Jitsudo-dialect MFA challenge (`challenge_id`).
    MfaChallenge,
    /// The result of a registration.
    Registration,
    /// A user token (`POST /users/{userId}/tokens`, or a backup-code verification).
    User,
}

impl From<TokenPurpose> for Purpose {
    fn from(purpose: TokenPurpose) -> Self {
        match purpose {
            TokenPurpose::Authentication => Self::Authentication,
            TokenPurpose::MfaChallenge => Self::MfaChallenge,
            TokenPurpose::Registration => Self::Registration,
            TokenPurpose::User => Self::User,
        }
    }
}

/// Answer of `POST /tokens/verify`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenVerified {
    /// Always true (failures are error answers).
    pub valid: bool,
    /// The token's purpose: always the one asked for.
    pub purpose: TokenPurpose,
    /// The token's claims.
    #[schema(value_type = Object)]
    pub claims: ResultClaims,
}

/// Verifies a token of the purpose asked for (by default a sign-in result) and redeems it:
/// the same token is refused the second time (401 `token_used`). A token of another purpose
/// is 401 `token_invalid` and stays unused.
#[utoipa::path(post, path = "/tokens/verify", tag = "tokens",
    request_body = TokenVerifyRequest,
    security(("api_key" = [])),
    responses((status = 200, body = TokenVerified), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn verify(
    SecretCaller(caller): SecretCaller,
    via: Provenance,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TokenVerifyRequest>,
) -> Result<Json<TokenVerified>, ApiError> {
    let claims =
        service::tokens::redeem(&state, &caller, &body.token, body.purpose.into(), &via).await?;
    Ok(Json(TokenVerified {
        valid: true,
        purpose: body.purpose,
        claims,
    }))
}

/// Query of `GET /.well-known/jwks.json`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JwksQuery {
    /// The tenant (default: `default`; `X-Tenant-ID` works too).
    pub tenant: Option<String>,
}

/// The tenant's token verification keys (public; cacheable for five minutes).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    params(JwksQuery),
    responses((status = 200, description = "A JWK Set", body = Object), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn jwks(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<JwksQuery>,
) -> Result<Response, ApiError> {
    let named = query.tenant.or_else(|| {
        headers
            .get(crate::auth::TENANT_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let id = match named {
        Some(id) => TenantId::parse(&id).map_err(|_| ApiError::NotFound)?,
        None => TenantId::default_tenant(),
    };
    let tenant = service::tenants::tenant(&state, &id).await?;
    let keys = token_keys::jwks(&state, &tenant).await?;
    let mut response = Json(keys).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
