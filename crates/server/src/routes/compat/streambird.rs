//! Streambird's WebAuthn API (`../shared/seeds/streambird-webauthn.txt`, FLOWS.md): users by
//! ID, registration begin/create, authentication begin/verify and credential delete, with the
//! tenant's secret key as `Authorization: Bearer sk_...`.
//!
//! On for a tenant whose settings list `streambird` in `compat`; otherwise 404 `not_found`
//! (after the key check, which needs no tenant setting). Success answers are Streambird's
//! shapes, with 200; errors, where Streambird's page is silent, are the native envelope and
//! codes. Credential IDs (`webauthn_credential_id`, the `{id}` of delete) are the native ones
//! (base64url), so the same ID works on both APIs. The finishes carry no session: it is found
//! by its challenge ([`crate::ceremony::SessionKeys::Challenge`]).

use aws_lc_rs::rand::SystemRandom;
use axum::extract::{Path, State};
use axum::routing::{delete, post};
use axum::{Json, Router};
use passkeyd_webauthn::json::{base64url_encode, AuthenticatorAttachment};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{unknown_session, BearerSecretKey};
use crate::api_keys::random_bytes;
use crate::auth::Caller;
use crate::ceremony::{
    self, check_name, AuthenticationOverrides, Context, Registrant, RegistrationOverrides,
    SessionKeys, SignInHint,
};
use crate::error::{ApiError, ApiJson};
use crate::routes::credentials::parse_credential_id;
use crate::routes::{ceremony_context, rfc3339, ClientIp, RequestId};
use crate::service::users::{NewUser, SentName};
use crate::service::{self, Provenance, User};
use crate::state::AppState;

/// The dialect's name in a tenant's `compat` setting.
pub const DIALECT: &str = "streambird";

/// The Streambird routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/users/create", post(create_user))
        .route(
            "/v1/auth/webauthn/registrations/begin",
            post(registration_begin),
        )
        .route(
            "/v1/auth/webauthn/registrations/create",
            post(registration_create),
        )
        .route(
            "/v1/auth/webauthn/authentication/begin",
            post(authentication_begin),
        )
        .route("/v1/auth/webauthn/verify", post(verify))
        .route(
            "/v1/auth/users/webauthn_credentials/{id}/delete",
            delete(delete_credential),
        )
}

/// The ceremony context, if the tenant has the dialect on (else 404).
fn context(
    state: &AppState,
    caller: Caller,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<Context, ApiError> {
    let mut ctx = ceremony_context(state, caller, ip, request_id)?;
    if !ctx.settings.compat.iter().any(|d| d == DIALECT) {
        return Err(ApiError::NotFound);
    }
    // The finishes carry only the credential.
    ctx.sessions = SessionKeys::Challenge;
    Ok(ctx)
}

/// `domain` must be the tenant's RP ID when given (the RP ID is never taken from a request).
fn check_domain(ctx: &Context, domain: Option<&str>) -> Result<(), ApiError> {
    match domain {
        Some(domain) if domain != ctx.tenant.rp_id => Err(ApiError::InvalidRequest(format!(
            "domain must be this tenant's RP ID ({})",
            ctx.tenant.rp_id
        ))),
        _ => Ok(()),
    }
}

/// Body of `POST /v1/auth/users/create` (Streambird's other user fields are accepted and
/// ignored).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateUser {
    /// The user's email: their user name when given.
    pub email: Option<String>,
    /// The user's phone number: their user name when no email is given.
    pub phone_number: Option<String>,
    /// First name, for the display name.
    pub first_name: Option<String>,
    /// Last name, for the display name.
    pub last_name: Option<String>,
}

/// A Streambird user (the fields passkeyd keeps; inferred minimal shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreambirdUser {
    /// The user ID (`user_...`).
    pub id: String,
    /// The email, when the user name is one.
    pub email: Option<String>,
    /// The phone number, when the user name is one.
    pub phone_number: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Same as `created_at` (passkeyd does not track user updates).
    pub updated_at: String,
}

/// Creates a user.
#[utoipa::path(post, path = "/v1/auth/users/create", tag = "streambird",
    request_body = CreateUser, security(("streambird_key" = [])),
    responses((status = 200, body = StreambirdUser), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn create_user(
    BearerSecretKey(caller): BearerSecretKey,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<Json<StreambirdUser>, ApiError> {
    let ctx = context(&state, caller, ip, request_id)?;
    let random = random_bytes::<16>(&SystemRandom::new()).map_err(ApiError::internal)?;
    let id = format!("user_{}", hex(&random));
    let name = body
        .email
        .clone()
        .or_else(|| body.phone_number.clone())
        .unwrap_or_else(|| id.clone());
    let display_name = match (&body.first_name, &body.last_name) {
        (Some(first), Some(last)) => format!("{first} {last}"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => name.clone(),
    };
    let new = NewUser {
        id,
        name: SentName {
            field: "email",
            value: &name,
        },
        display_name: Some(SentName {
            field: "first_name",
            value: &display_name,
        }),
    };
    let user = service::users::create(&state, &ctx.tenant.id, new).await?;
    let created = rfc3339(user.created_at);
    Ok(Json(StreambirdUser {
        id: user.id,
        email: body.email,
        phone_number: body.phone_number,
        created_at: created.clone(),
        updated_at: created,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Body of `POST /v1/auth/webauthn/registrations/begin`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationBegin {
    /// The user (from `/v1/auth/users/create`).
    pub user_id: String,
    /// The RP ID; must be the tenant's when given.
    pub domain: Option<String>,
    /// `platform` or `cross-platform`.
    #[schema(value_type = Option<String>)]
    pub authenticator_type: Option<AuthenticatorAttachment>,
}

/// `{publicKey: options}`, as `navigator.credentials.create()` takes it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptionsWrapper {
    /// The L3 JSON creation options.
    #[schema(value_type = Object)]
    pub public_key: passkeyd_webauthn::CreationOptionsJson,
}

/// Answer of `POST /v1/auth/webauthn/registrations/begin`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StreambirdRegistrationBegun)]
pub struct RegistrationBegun {
    /// The user.
    pub user_id: String,
    /// For `navigator.credentials.create()` (webauthn-json `create()`).
    pub public_key_credential_creation_options: CreationOptionsWrapper,
}

/// The stored user `user_id` (404 `not_found` if none).
async fn existing_user(state: &AppState, ctx: &Context, user_id: &str) -> Result<User, ApiError> {
    check_name("user_id", user_id, ceremony::MAX_USER_ID_BYTES)?;
    service::users::user(state, &ctx.tenant.id, user_id).await
}

/// Begins a registration for an existing user.
#[utoipa::path(post, path = "/v1/auth/webauthn/registrations/begin", tag = "streambird",
    request_body = RegistrationBegin, security(("streambird_key" = [])),
    responses((status = 200, body = RegistrationBegun), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn registration_begin(
    BearerSecretKey(caller): BearerSecretKey,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegistrationBegin>,
) -> Result<Json<RegistrationBegun>, ApiError> {
    let ctx = context(&state, caller, ip, request_id)?;
    check_domain(&ctx, body.domain.as_deref())?;
    let user = existing_user(&state, &ctx, &body.user_id).await?;
    let registrant = Registrant {
        user_id: Some(user.id.clone()),
        user_name: Some(user.name),
        display_name: Some(user.display_name),
        may_extend_existing: true,
    };
    let overrides = RegistrationOverrides {
        authenticator_attachment: body.authenticator_type,
        ..RegistrationOverrides::default()
    };
    let begun = ceremony::begin_registration(&state, &ctx, registrant, overrides).await?;
    Ok(Json(RegistrationBegun {
        user_id: user.id,
        public_key_credential_creation_options: CreationOptionsWrapper {
            public_key: begun.options,
        },
    }))
}

/// Body of `POST /v1/auth/webauthn/registrations/create`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationCreate {
    /// The result of `navigator.credentials.create()` (webauthn-json `create()`).
    #[schema(value_type = Object)]
    pub public_key_credential: Box<RawValue>,
    /// The user the registration was begun for.
    pub user_id: String,
}

/// Answer of `POST /v1/auth/webauthn/registrations/create`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationCreated {
    /// The user.
    pub user_id: String,
    /// The new credential's ID (base64url; the native `credentialId`).
    pub webauthn_credential_id: String,
}

/// Verifies a registration and stores the credential.
#[utoipa::path(post, path = "/v1/auth/webauthn/registrations/create", tag = "streambird",
    request_body = RegistrationCreate, security(("streambird_key" = [])),
    responses((status = 200, body = RegistrationCreated), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn registration_create(
    BearerSecretKey(caller): BearerSecretKey,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegistrationCreate>,
) -> Result<Json<RegistrationCreated>, ApiError> {
    let mut ctx = context(&state, caller, ip, request_id)?;
    // The finish must be for the user the registration was begun for.
    ctx.bound_user = Some(body.user_id);
    let credential = body.public_key_credential.get().as_bytes();
    let session = ceremony::challenge_session(credential).ok_or_else(unknown_session)?;
    let done = ceremony::finish_registration(&state, &ctx, &session, credential, None).await?;
    Ok(Json(RegistrationCreated {
        user_id: done.user.id,
        webauthn_credential_id: base64url_encode(&done.credential.id),
    }))
}

/// Body of `POST /v1/auth/webauthn/authentication/begin`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthenticationBegin {
    /// The user signing in.
    pub user_id: String,
    /// The RP ID; must be the tenant's when given.
    pub domain: Option<String>,
}

/// `{publicKey: options}`, as `navigator.credentials.get()` takes it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptionsWrapper {
    /// The L3 JSON request options.
    #[schema(value_type = Object)]
    pub public_key: passkeyd_webauthn::RequestOptionsJson,
}

/// Answer of `POST /v1/auth/webauthn/authentication/begin`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StreambirdAuthenticationBegun)]
pub struct AuthenticationBegun {
    /// The user.
    pub user_id: String,
    /// For `navigator.credentials.get()` (webauthn-json `get()`).
    pub public_key_credential_request_options: RequestOptionsWrapper,
}

/// Begins an authentication of a user.
#[utoipa::path(post, path = "/v1/auth/webauthn/authentication/begin", tag = "streambird",
    request_body = AuthenticationBegin, security(("streambird_key" = [])),
    responses((status = 200, body = AuthenticationBegun), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn authentication_begin(
    BearerSecretKey(caller): BearerSecretKey,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AuthenticationBegin>,
) -> Result<Json<AuthenticationBegun>, ApiError> {
    let ctx = context(&state, caller, ip, request_id)?;
    check_domain(&ctx, body.domain.as_deref())?;
    let begun = ceremony::begin_authentication(
        &state,
        &ctx,
        SignInHint::UserId(body.user_id.clone()),
        AuthenticationOverrides::default(),
    )
    .await?;
    Ok(Json(AuthenticationBegun {
        user_id: body.user_id,
        public_key_credential_request_options: RequestOptionsWrapper {
            public_key: begun.options,
        },
    }))
}

/// Body of `POST /v1/auth/webauthn/verify`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Verify {
    /// The result of `navigator.credentials.get()` (webauthn-json `get()`).
    #[schema(value_type = Object)]
    pub public_key_credential: Box<RawValue>,
    /// Accepted and ignored: the session is the tenant's result token, which lives
    /// `token_ttl_secs`.
    pub session_expires_in: Option<u64>,
}

/// The session of a verified sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreambirdSession {
    /// The user.
    pub user_id: String,
    /// When the sign-in happened (RFC 3339).
    pub started_at: String,
    /// When `session_jwt` expires (RFC 3339).
    pub expires_at: String,
}

/// Answer of `POST /v1/auth/webauthn/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// The user who signed in.
    pub user_id: String,
    /// The credential used (base64url).
    pub webauthn_credential_id: String,
    /// The result token (a JWT, single use at `POST /tokens/verify`); the same as
    /// `session_jwt`, as passkeyd keeps no sessions of its own.
    pub session_token: String,
    /// The result token (JWT), verifiable offline against the tenant's JWKS.
    pub session_jwt: String,
    /// The session.
    pub session: StreambirdSession,
}

/// Verifies an assertion.
#[utoipa::path(post, path = "/v1/auth/webauthn/verify", tag = "streambird",
    request_body = Verify, security(("streambird_key" = [])),
    responses((status = 200, body = Verified), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn verify(
    BearerSecretKey(caller): BearerSecretKey,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Verify>,
) -> Result<Json<Verified>, ApiError> {
    let ctx = context(&state, caller, ip, request_id)?;
    let credential = body.public_key_credential.get().as_bytes();
    let session = ceremony::challenge_session(credential).ok_or_else(unknown_session)?;
    let done = ceremony::finish_authentication(&state, &ctx, &session, credential).await?;
    Ok(Json(Verified {
        session: StreambirdSession {
            user_id: done.user.id.clone(),
            started_at: rfc3339(state.clock.now().0),
            expires_at: rfc3339(done.token.expires_at),
        },
        user_id: done.user.id,
        webauthn_credential_id: base64url_encode(&done.credential.id),
        session_token: done.token.token.clone(),
        session_jwt: done.token.token,
    }))
}

/// Answer of `DELETE /v1/auth/users/webauthn_credentials/{id}/delete`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// What was done.
    pub message: String,
    /// The credential's owner.
    pub user_id: String,
}

/// Deletes a credential.
#[utoipa::path(delete, path = "/v1/auth/users/webauthn_credentials/{id}/delete", tag = "streambird",
    params(("id" = String, Path, description = "The credential ID (base64url)")),
    security(("streambird_key" = [])),
    responses((status = 200, body = Deleted), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn delete_credential(
    BearerSecretKey(caller): BearerSecretKey,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let ctx = context(&state, caller.clone(), ip, request_id)?;
    let id = parse_credential_id(&id)?;
    let via = Provenance {
        ip: ctx.ip,
        request_id: ctx.request_id,
    };
    let user_id = service::credentials::delete_answering_owner(&state, &caller, &id, &via).await?;
    Ok(Json(Deleted {
        message: "WebAuthn credential deleted".to_owned(),
        user_id,
    }))
}
