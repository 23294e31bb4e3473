//! mailcheap's WebAuthn API (`../shared/seeds/mailcheap-webauthn.txt`, FLOWS.md): the end users
//! of a mail service register passkeys for their own account, list them, and sign in with them
//! without a user name.
//!
//! On for a tenant whose settings list `mailcheap` in `compat`; otherwise 404 `not_found`.
//! Success answers are mailcheap's shapes, with 200; errors, where mailcheap's page is silent,
//! are the native envelope and codes.
//!
//! # Who calls
//!
//! The registration and list routes take HTTP Basic `username:api_token`, as mailcheap's do
//! ([`BasicUser`]): the user name is the passkeyd user's `userName`, and the password is a user
//! token minted for that user (`POST /users/{userId}/tokens`, with the mailcheap role
//! `MasterAdmin`, `DomainAdmin` or `MailUser` and the user's domain), so passkeyd keeps no
//! second credential store. The role and domain reach the tenant's Cedar policies as the
//! principal's `role` and `domain`, with the actions of the user-facing API: `EnrolMfa` when
//! registration options are asked for, `Register` on the verified credential,
//! `ManageCredential` for the list (`docs/policies/mailcheap-roles.cedar` is an example).
//!
//! The two authentication routes take no credentials: nobody is signed in yet. They act for
//! the tenant found by [`public_tenant`]: among the tenants that turned mailcheap on, the one
//! whose RP ID is the request's host or a parent domain of it (the most specific wins), else
//! the only one. They are limited per client IP, as the publishable-key routes are, and a
//! request carrying `Origin` must come from one of the tenant's origins.
//!
//! # Sessions
//!
//! Neither options answer carries a session, so the ceremonies are stored under their
//! challenge ([`SessionKeys::Challenge`]) and found again by the challenge the credential
//! signed, in the shared store: any node can finish. A registration is bound to the signed-in
//! user who asked for its options.

use std::str::FromStr;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::unknown_session;
use crate::auth::UserCaller;
use crate::ceremony::{
    self, check_name, AuthenticationOverrides, Context, SessionKeys, SignInHint, MAX_NAME_BYTES,
};
use crate::error::{ApiError, ApiJson};
use crate::policy::Action;
use crate::routes::credentials::CredentialView;
use crate::routes::{ClientIp, RequestId};
use crate::service::{self, Credential, Tenant};
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::tokens::MAX_TOKEN_LEN;

/// The dialect's name in a tenant's `compat` setting.
pub const DIALECT: &str = "mailcheap";

/// The mailcheap routes (with their trailing slashes, as mailcheap documents them).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/webauthn/registration/options/",
            get(registration_options),
        )
        .route(
            "/api/v1/webauthn/registration/verify/",
            post(registration_verify),
        )
        .route(
            "/api/v1/webauthn/authentication/options/",
            get(authentication_options),
        )
        .route(
            "/api/v1/webauthn/authentication/verify/",
            post(authentication_verify),
        )
        .route("/api/v1/webauthn/credentials/", get(credentials))
}

/// The longest `Authorization: Basic` value read: a user name and a user token, base64.
const MAX_BASIC_LEN: usize = (MAX_NAME_BYTES + 1 + MAX_TOKEN_LEN).div_ceil(3) * 4 + 16;

/// A mail user signed in with HTTP Basic `username:api_token` (RFC 7617): the password is a user
/// token of the tenant (as `Authorization: Bearer` takes at `/me`, with every check of
/// [`UserCaller`]), and the user name must be the token's user's `userName` (compared in
/// constant time). Any failure is 401 `unauthenticated` with `WWW-Authenticate: Basic`, whatever
/// the cause; `X-Tenant-ID` naming another tenant is 403 `tenant_mismatch`.
#[derive(Clone, Debug)]
pub struct BasicUser(pub UserCaller);

/// The rejection of [`BasicUser`]: the error envelope, plus `WWW-Authenticate: Basic` on a 401
/// (RFC 7235 §3.1).
#[derive(Debug)]
pub struct BasicRejection(pub ApiError);

impl IntoResponse for BasicRejection {
    fn into_response(self) -> Response {
        let unauthenticated = self.0.status() == StatusCode::UNAUTHORIZED;
        let mut response = self.0.into_response();
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"passkeyd\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// One answer for every refused Basic credential, so a caller cannot probe which user names,
/// tenants or tokens exist.
fn refused() -> BasicRejection {
    BasicRejection(ApiError::Token(
        "unauthenticated",
        "HTTP Basic credentials are required: the user name and a user token",
    ))
}

/// The user name and password of an `Authorization: Basic` header (the scheme in any case).
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if value.len() > MAX_BASIC_LEN {
        return None;
    }
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    // RFC 7617 §2: the user ID cannot contain a colon; the password may.
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

impl FromRequestParts<AppState> for BasicUser {
    type Rejection = BasicRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, BasicRejection> {
        let (name, token) = basic_credentials(parts).ok_or_else(refused)?;
        let caller = UserCaller::from_token(parts, state, &token)
            .await
            .map_err(|rejection| {
                if rejection.0.status() == StatusCode::UNAUTHORIZED {
                    refused()
                } else {
                    BasicRejection(rejection.0)
                }
            })?;
        // The name is not a secret, but it is half of the credentials: no early exit on the
        // first differing byte.
        if !bool::from(caller.user.name.as_bytes().ct_eq(name.as_bytes())) {
            return Err(refused());
        }
        Ok(Self(caller))
    }
}

/// The ceremony context of a signed-in mail user, if their tenant has the dialect on (else
/// 404).
fn user_context(
    caller: &UserCaller,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<Context, ApiError> {
    let settings = caller.settings()?;
    if !settings.compat.iter().any(|d| d == DIALECT) {
        return Err(ApiError::NotFound);
    }
    let mut ctx = caller.ceremony_context(settings, ip.0, request_id);
    // The verify carries only the credential.
    ctx.sessions = SessionKeys::Challenge;
    Ok(ctx)
}

/// The tenant the unauthenticated routes act for, among the tenants whose `compat` lists
/// `mailcheap` ([`service::tenants::for_dialect_host`]): the one whose RP ID is the request's
/// host (the `Host` header, or the URI's authority, without the port) or a parent domain of
/// it, else the only one. Serve mailcheap's API on the mail service's own host (behind its
/// reverse proxy, as mailcheap's API is), and that host finds its tenant. Otherwise 404
/// `not_found`, as if the dialect were off.
pub async fn public_tenant(
    state: &AppState,
    host: Option<&str>,
) -> Result<(Tenant, TenantSettings), ApiError> {
    let host = host
        .and_then(|h| Authority::from_str(h).ok())
        .map(|a| a.host().trim_end_matches('.').to_ascii_lowercase());
    service::tenants::for_dialect_host(state, DIALECT, host.as_deref()).await
}

/// The ceremony context of an unauthenticated route: the tenant of [`public_tenant`], a
/// request from one of its origins (when the request names one), within the per-IP limits.
async fn public_context(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<Context, ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(Authority::as_str));
    let (tenant, settings) = public_tenant(state, host).await?;
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| crate::origins::web_origin_allowed(&tenant.origins, &settings, o));
        if !allowed {
            return Err(ApiError::Forbidden(
                "this origin is not one of the tenant's origins",
            ));
        }
    }
    if let Some(ip) = ip.0 {
        state
            .rate_limits
            .check_public(tenant.id.as_str(), ip)
            .map_err(|e| ApiError::RateLimited {
                retry_after_secs: e.retry_after_secs,
            })?;
    }
    Ok(Context {
        tenant,
        settings,
        secret: false,
        actor: DIALECT.to_owned(),
        ip: ip.0,
        request_id,
        // The verify carries only the assertion.
        sessions: SessionKeys::Challenge,
        bound_user: None,
    })
}

/// The bare creation options, for `navigator.credentials.create({publicKey})` (after
/// `PublicKeyCredential.parseCreationOptionsFromJSON()`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct MailcheapCreationOptions(pub passkeyd_webauthn::CreationOptionsJson);

/// The bare request options, for `navigator.credentials.get({publicKey})`; `allowCredentials` is
/// empty (usernameless sign-in).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct MailcheapRequestOptions(pub passkeyd_webauthn::RequestOptionsJson);

/// Options to register a passkey for the signed-in user; their existing credentials are
/// excluded.
#[utoipa::path(get, path = "/api/v1/webauthn/registration/options/", tag = "mailcheap",
    security(("mailcheap_basic" = [])),
    responses((status = 200, body = MailcheapCreationOptions), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn registration_options(
    BasicUser(caller): BasicUser,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
) -> Result<Json<MailcheapCreationOptions>, ApiError> {
    let ctx = user_context(&caller, ip, request_id)?;
    let begun = service::mfa::begin_enrolment(&state, &caller, &ctx).await?;
    Ok(Json(MailcheapCreationOptions(begun.options)))
}

/// Body of `POST /api/v1/webauthn/registration/verify/`: `credential.toJSON()` of the new
/// credential with `friendly_name` added at the top level.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MailcheapRegistration {
    /// The user's name for the credential (1 to 256 bytes of printable text).
    pub friendly_name: String,
    /// `id`, `rawId`, `type`, `response`, `clientExtensionResults`, `authenticatorAttachment`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub credential: serde_json::Map<String, serde_json::Value>,
}

/// Answer of `POST /api/v1/webauthn/registration/verify/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailcheapRegistered {
    /// The credential's name, as stored.
    pub friendly_name: String,
}

/// Verifies the new credential of the signed-in user and stores it under its friendly name.
#[utoipa::path(post, path = "/api/v1/webauthn/registration/verify/", tag = "mailcheap",
    request_body = MailcheapRegistration, security(("mailcheap_basic" = [])),
    responses((status = 200, body = MailcheapRegistered), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn registration_verify(
    BasicUser(caller): BasicUser,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<ApiJson<MailcheapRegistration>, ApiError>,
) -> Result<Json<MailcheapRegistered>, ApiError> {
    let mut ctx = user_context(&caller, ip, request_id)?;
    // Read after the dialect check, so a tenant without it answers 404 whatever the body.
    let ApiJson(body) = body?;
    // Only the user who asked for the options can finish: the session names them.
    ctx.bound_user = Some(caller.user.id.clone());
    // A second passkey needs a step-up, as at the options (checked again: it may have aged).
    service::mfa::require_step_up_now(&state, &caller, &ctx.settings).await?;
    // Checked here so the message names the dialect's field, before the session is used.
    check_name("friendly_name", &body.friendly_name, MAX_NAME_BYTES)?;
    let credential = serde_json::to_vec(&body.credential).map_err(ApiError::internal)?;
    let session = ceremony::challenge_session(&credential).ok_or_else(unknown_session)?;
    let done = ceremony::finish_registration_as(
        &state,
        &ctx,
        &caller.principal(),
        Action::Register,
        &session,
        &credential,
        Some(body.friendly_name.clone()),
    )
    .await?;
    Ok(Json(MailcheapRegistered {
        friendly_name: done.credential.friendly_name.unwrap_or(body.friendly_name),
    }))
}

/// Options for a usernameless sign-in.
#[utoipa::path(get, path = "/api/v1/webauthn/authentication/options/", tag = "mailcheap",
    responses((status = 200, body = MailcheapRequestOptions), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn authentication_options(
    headers: HeaderMap,
    uri: Uri,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
) -> Result<Json<MailcheapRequestOptions>, ApiError> {
    let ctx = public_context(&state, &headers, &uri, ip, request_id).await?;
    let begun = ceremony::begin_authentication(
        &state,
        &ctx,
        SignInHint::None,
        AuthenticationOverrides::default(),
    )
    .await?;
    Ok(Json(MailcheapRequestOptions(begun.options)))
}

/// `credential.toJSON()` of an assertion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct MailcheapAssertion(Box<RawValue>);

/// Answer of `POST /api/v1/webauthn/authentication/verify/`.
///
/// Inferred: mailcheap's documentation shows neither this route nor its answer. A client
/// signing in without a password needs the credentials of its next calls, so the answer is
/// the pair HTTP Basic takes (`username`, and `token` as the password), as token endpoints of
/// its kind answer `{"token": ...}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailcheapSignedIn {
    /// The user's `userName`: the Basic user name.
    pub username: String,
    /// The result token of the sign-in (a JWT, purpose `authentication`): the Basic password
    /// of the other mailcheap routes until it expires, verifiable offline against the tenant's
    /// JWKS, and redeemable once at `POST /tokens/verify`. It carries no role or domain.
    pub token: String,
    /// When `token` expires (Unix seconds).
    pub expires_at: i64,
}

/// Verifies a usernameless sign-in (inferred route, see [`MailcheapSignedIn`]).
#[utoipa::path(post, path = "/api/v1/webauthn/authentication/verify/", tag = "mailcheap",
    request_body = MailcheapAssertion,
    responses((status = 200, body = MailcheapSignedIn), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn authentication_verify(
    headers: HeaderMap,
    uri: Uri,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<ApiJson<MailcheapAssertion>, ApiError>,
) -> Result<Json<MailcheapSignedIn>, ApiError> {
    let ctx = public_context(&state, &headers, &uri, ip, request_id).await?;
    let ApiJson(MailcheapAssertion(body)) = body?;
    let assertion = body.get().as_bytes();
    let session = ceremony::challenge_session(assertion).ok_or_else(unknown_session)?;
    let done = ceremony::finish_authentication(&state, &ctx, &session, assertion).await?;
    Ok(Json(MailcheapSignedIn {
        username: done.user.name,
        token: done.token.token,
        expires_at: done.token.expires_at,
    }))
}

/// One credential in mailcheap's list.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailcheapCredential {
    /// The credential's name: the one given at registration, else the authenticator's name
    /// (from its AAGUID), else `Passkey`.
    pub friendly_name: String,
    /// `multi_device` for a credential that can be synced (backup eligible), else
    /// `single_device`.
    pub device_type: String,
    /// 1 when the credential is backed up (synced) now, else 0.
    pub backed_up: u8,
}

/// Answer of `GET /api/v1/webauthn/credentials/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailcheapCredentials {
    /// The signed-in user's credentials, oldest first.
    pub credentials: Vec<MailcheapCredential>,
}

impl MailcheapCredential {
    fn new(state: &AppState, credential: &Credential) -> Self {
        let view = CredentialView::new(state, credential);
        let device_type = if view.backup_eligible {
            "multi_device"
        } else {
            "single_device"
        };
        Self {
            friendly_name: view
                .friendly_name
                .or(view.authenticator_name)
                .unwrap_or_else(|| "Passkey".to_owned()),
            device_type: device_type.to_owned(),
            backed_up: u8::from(view.backup_state),
        }
    }
}

/// The signed-in user's credentials.
#[utoipa::path(get, path = "/api/v1/webauthn/credentials/", tag = "mailcheap",
    security(("mailcheap_basic" = [])),
    responses((status = 200, body = MailcheapCredentials), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn credentials(
    BasicUser(caller): BasicUser,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
) -> Result<Json<MailcheapCredentials>, ApiError> {
    user_context(&caller, ip, request_id)?;
    let credentials = service::credentials::own(&state, &caller).await?;
    Ok(Json(MailcheapCredentials {
        credentials: credentials
            .iter()
            .map(|c| MailcheapCredential::new(&state, c))
            .collect(),
    }))
}
