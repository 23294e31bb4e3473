//! Jitsudo's WebAuthn second factor (`../shared/seeds/jitsudo-mfa-webauthn.txt`, FLOWS.md): a
//! signed-in user enrols a passkey or a security key
//! (`POST /v1/users/me/mfa/webauthn/register?method_type=...`, then `.../register/complete`),
//! lists their methods (`GET /v1/users/me/mfa`) and renews their backup codes
//! (`POST /v1/users/me/mfa/backup-codes`); at sign-in, after the first factor, the user proves
//! the second (`POST /v1/auth/mfa/webauthn/begin`, then `.../complete`).
//!
//! - **Auth**: the `/v1/users/me/...` routes take `Authorization: Bearer <token>`, a user token
//!   the app's backend mints (`POST /users/{userId}/tokens`) or a passkey sign-in's result
//!   token, as the native `/me` API does ([`UserCaller`]); any failure is 401
//!   `unauthenticated`.
//! - **`challenge_id`** is what Jitsudo's first factor hands the client for the second. In
//!   passkeyd the app checks the first factor itself, then mints one with the secret key:
//!   `POST /users/{userId}/tokens` with `{"purpose": "mfa_challenge"}`. It is the user-token
//!   minting with a purpose of its own: the same signed, tenant-bound, short-lived JWT (300 s by
//!   default) that the app's backend already knows how to get, with no new secret to store, yet
//!   accepted nowhere but here (not by `/me`, and no user token is accepted as one). It may
//!   begin several ceremonies (a user may cancel the browser's prompt and retry) but is used up
//!   by the first successful complete, so it yields one session token.
//! - **`X-Tenant-ID`** must name the tenant of the token or `challenge_id` (else 403
//!   `tenant_mismatch`). A request without it is accepted: the token names its tenant and is
//!   verified with that tenant's keys only, so the header adds no authority, only a check.
//! - **Off** unless the tenant lists `jitsudo` in `compat`: then every route answers 404
//!   `not_found` (after the token check). A method (`webauthn_passkey`, a discoverable
//!   credential; `webauthn_fido`, a security key: a cross-platform authenticator) the tenant's
//!   `jitsudo_methods` setting leaves out answers 501 `not_implemented`.
//! - **Errors** are Jitsudo's `{code, message, details, notices}`, which is passkeyd's own
//!   envelope: a refusal by the tenant's Cedar policy is 403 `policy_denied` with the `@notice`s
//!   of the deciding policies in `notices`. A completion whose credential signed no pending
//!   enrolment is 404 `not_found`.
//! - **Enrolment** is the `/me` second-factor enrolment (`service::mfa::begin_enrolment`,
//!   `finish_enrolment`): the `EnrolMfa` rules at registration begin, the `Register`
//!   rules at completion, ten backup codes at the user's first enrolment. Sessions are stored
//!   under their challenge and bound to the user ([`super::user_context`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use passkeyd_webauthn::json::{AuthenticatorAttachment, PublicKeyCredentialHint};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::{unknown_session, user_context};
use crate::auth::{token_caller, BearerRejection, UserCaller};
use crate::ceremony::{self, check_name, Context, SignInHint, MAX_NAME_BYTES};
use crate::error::{ApiError, ApiJson};
use crate::routes::credentials::CredentialView;
use crate::routes::me::BackupCodes;
use crate::routes::{rfc3339, ClientIp, RequestId};
use crate::service::mfa::EnrolmentFinish;
use crate::service::{self, Provenance};
use crate::state::AppState;
use crate::token_keys::Purpose;

/// The dialect's name in a tenant's `compat` setting.
pub const DIALECT: &str = "jitsudo";
/// The longest `device_name`, in characters.
pub const MAX_DEVICE_NAME_CHARS: usize = 100;

/// The Jitsudo routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/users/me/mfa/webauthn/register", post(register))
        .route(
            "/v1/users/me/mfa/webauthn/register/complete",
            post(register_complete),
        )
        .route("/v1/users/me/mfa", get(methods))
        .route("/v1/users/me/mfa/backup-codes", post(backup_codes))
        .route("/v1/auth/mfa/webauthn/begin", post(sign_in_begin))
        .route("/v1/auth/mfa/webauthn/complete", post(sign_in_complete))
}

/// A Jitsudo WebAuthn method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `webauthn_fido`: a security key (a cross-platform authenticator).
    Fido,
    /// `webauthn_passkey`: a passkey (a discoverable credential).
    Passkey,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fido => "webauthn_fido",
            Self::Passkey => "webauthn_passkey",
        }
    }

    /// The method named `name` (absent: a passkey, inferred), if the tenant enables it: 400
    /// `invalid_request` for an unknown name, 501 `not_implemented` for a method left out of
    /// `jitsudo_methods`.
    fn parse(ctx: &Context, name: Option<&str>) -> Result<Self, ApiError> {
        let method = match name.unwrap_or("webauthn_passkey") {
            "webauthn_fido" => Self::Fido,
            "webauthn_passkey" => Self::Passkey,
            _ => {
                return Err(ApiError::InvalidRequest(
                    "method_type must be webauthn_passkey or webauthn_fido".to_owned(),
                ))
            }
        };
        if !ctx
            .settings
            .jitsudo_methods
            .iter()
            .any(|m| m == method.as_str())
        {
            return Err(ApiError::NotImplemented(
                "this tenant does not enable this MFA method",
            ));
        }
        Ok(method)
    }

    /// The method of a stored credential (inferred: passkeyd does not keep the method a
    /// credential was enrolled as): one that cannot be synced and reported only removable
    /// transports is a security key, any other a passkey.
    fn of(credential: &CredentialView) -> Self {
        const REMOVABLE: &[&str] = &["usb", "nfc", "ble", "smart-card"];
        let removable_only = !credential.transports.is_empty()
            && credential
                .transports
                .iter()
                .all(|t| REMOVABLE.contains(&t.as_str()));
        if removable_only && !credential.backup_eligible {
            Self::Fido
        } else {
            Self::Passkey
        }
    }
}

/// The context of a user-token route: 404 `not_found` when the dialect is off.
fn context(
    caller: &UserCaller,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<Context, ApiError> {
    user_context(caller, DIALECT, ip, request_id)?.ok_or(ApiError::NotFound)
}

/// Query of `POST /v1/users/me/mfa/webauthn/register`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// `webauthn_passkey` (the default, inferred) or `webauthn_fido`.
    pub method_type: Option<String>,
}

/// Answer of the enrolment options: `{options}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JitsudoCreationAnswer)]
pub struct CreationAnswer {
    /// The L3 JSON creation options, for `navigator.credentials.create()`.
    #[schema(value_type = Object)]
    pub options: passkeyd_webauthn::CreationOptionsJson,
}

/// Answer of the sign-in begin: `{options}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JitsudoRequestAnswer)]
pub struct RequestAnswer {
    /// The L3 JSON request options, for `navigator.credentials.get()`.
    #[schema(value_type = Object)]
    pub options: passkeyd_webauthn::RequestOptionsJson,
}

/// Begins enrolling a WebAuthn method: a passkey asks for a discoverable credential, a security
/// key for a cross-platform authenticator.
#[utoipa::path(post, path = "/v1/users/me/mfa/webauthn/register", tag = "jitsudo",
    params(RegisterQuery), security(("user_token" = [])),
    responses((status = 200, body = CreationAnswer),
        (status = "4XX", body = crate::error::ErrorBody),
        (status = 501, description = "The tenant does not enable the method",
            body = crate::error::ErrorBody)))]
pub async fn register(
    caller: UserCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    query: Result<Query<RegisterQuery>, QueryRejection>,
) -> Result<Json<CreationAnswer>, ApiError> {
    let mut ctx = context(&caller, ip, request_id)?;
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    // The method shapes the options; the tenant's own settings are never weakened.
    match Method::parse(&ctx, query.method_type.as_deref())? {
        Method::Passkey => {
            ctx.settings.resident_key = passkeyd_webauthn::json::ResidentKeyRequirement::Required;
        }
        Method::Fido => {
            if ctx.settings.authenticator_attachment == Some(AuthenticatorAttachment::Platform) {
                return Err(ApiError::NotImplemented(
                    "this tenant accepts platform authenticators only, not security keys",
                ));
            }
            ctx.settings.authenticator_attachment = Some(AuthenticatorAttachment::CrossPlatform);
            ctx.settings.hints = vec![PublicKeyCredentialHint::SecurityKey];
        }
    }
    let begun = service::mfa::begin_enrolment(&state, &caller, &ctx).await?;
    Ok(Json(CreationAnswer {
        options: begun.options,
    }))
}

/// Body of `POST /v1/users/me/mfa/webauthn/register/complete`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterComplete {
    /// `credential.toJSON()` of the new credential.
    #[schema(value_type = Object)]
    pub credential: Box<RawValue>,
    /// The user's name for the method, 1 to 100 characters (kept as the credential's friendly
    /// name; optional, inferred).
    pub device_name: Option<String>,
    /// `webauthn_passkey` (the default, inferred) or `webauthn_fido`.
    pub method_type: Option<String>,
}

/// Completes the enrolment; the user's first enrolment answers their backup codes.
#[utoipa::path(post, path = "/v1/users/me/mfa/webauthn/register/complete", tag = "jitsudo",
    request_body = RegisterComplete, security(("user_token" = [])),
    responses((status = 200, body = BackupCodes),
        (status = 404, description = "No pending enrolment", body = crate::error::ErrorBody),
        (status = "4XX", body = crate::error::ErrorBody),
        (status = 501, description = "The tenant does not enable the method",
            body = crate::error::ErrorBody)))]
pub async fn register_complete(
    caller: UserCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<ApiJson<RegisterComplete>, ApiError>,
) -> Result<Json<BackupCodes>, ApiError> {
    let ctx = context(&caller, ip, request_id.clone())?;
    // After the dialect check, so that a tenant without it answers 404 whatever the body.
    let ApiJson(body) = body?;
    let via = Provenance {
        ip: ip.0,
        request_id,
    };
    let request = (|| {
        Method::parse(&ctx, body.method_type.as_deref())?;
        if let Some(name) = &body.device_name {
            if name.chars().count() > MAX_DEVICE_NAME_CHARS {
                return Err(ApiError::InvalidRequest(format!(
                    "device_name must be at most {MAX_DEVICE_NAME_CHARS} characters"
                )));
            }
            check_name("device_name", name, MAX_NAME_BYTES)?;
        }
        let credential = body.credential.get().as_bytes();
        // The pending enrolment is found by the challenge the credential signed.
        let session = ceremony::challenge_session(credential).ok_or(ApiError::NotFound)?;
        Ok(EnrolmentFinish {
            ctx: ctx.clone(),
            session,
            credential: credential.to_vec(),
            friendly_name: body.device_name.clone(),
        })
    })();
    // No pending enrolment is the dialect's 404, in the audit trail too.
    let done = service::mfa::finish_enrolment(&state, &caller, &via, request, |e| match e.code() {
        "session_not_found" => ApiError::NotFound,
        _ => e,
    })
    .await?;
    Ok(Json(BackupCodes {
        codes: done.codes,
        remaining: done.remaining,
    }))
}

/// One of the user's MFA methods.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaMethod {
    /// The credential ID (base64url; the native `credentialId`).
    pub id: String,
    /// `webauthn_passkey` or `webauthn_fido` (inferred from the stored credential).
    pub method_type: String,
    /// The name given at enrolment, if any.
    pub device_name: Option<String>,
    /// Always true: passkeyd stores a credential only once it is verified.
    pub verified: bool,
    /// Enrolment time (RFC 3339).
    pub created_at: String,
    /// Last successful sign-in (RFC 3339), if any.
    pub last_used_at: Option<String>,
}

/// Answer of `GET /v1/users/me/mfa`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaMethods {
    /// Oldest first.
    pub methods: Vec<MfaMethod>,
}

/// The user's WebAuthn methods.
#[utoipa::path(get, path = "/v1/users/me/mfa", tag = "jitsudo",
    security(("user_token" = [])),
    responses((status = 200, body = MfaMethods), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn methods(
    caller: UserCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
) -> Result<Json<MfaMethods>, ApiError> {
    context(&caller, ip, request_id)?;
    // The native listing (all of it: Jitsudo's has no pages), with its policy decision
    // (`ManageCredential`).
    let credentials = service::credentials::own(&state, &caller).await?;
    Ok(Json(MfaMethods {
        methods: credentials
            .iter()
            .map(|c| CredentialView::new(&state, c))
            .map(|c| MfaMethod {
                method_type: Method::of(&c).as_str().to_owned(),
                id: c.credential_id,
                device_name: c.friendly_name,
                verified: true,
                created_at: c.created_at,
                last_used_at: c.last_used_at,
            })
            .collect(),
    }))
}

/// Replaces the user's backup codes with ten new ones (the native
/// `POST /me/mfa/backup-codes`).
#[utoipa::path(post, path = "/v1/users/me/mfa/backup-codes", tag = "jitsudo",
    security(("user_token" = [])),
    responses((status = 200, body = BackupCodes), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn backup_codes(
    caller: UserCaller,
    ip: ClientIp,
    request_id: RequestId,
    State(state): State<AppState>,
) -> Result<Json<BackupCodes>, ApiError> {
    context(&caller, ip, request_id.0.clone())?;
    let via = Provenance {
        ip: ip.0,
        request_id: request_id.0,
    };
    let codes = service::mfa::regenerate_codes(&state, &caller, &via).await?;
    Ok(Json(BackupCodes {
        remaining: codes.len(),
        codes,
    }))
}

/// Body of `POST /v1/auth/mfa/webauthn/begin`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignInBegin {
    /// The MFA challenge the app's backend minted after the first factor
    /// (`POST /users/{userId}/tokens` with `purpose: mfa_challenge`).
    pub challenge_id: String,
}

/// The user a `challenge_id` names, and the context to sign them in: 401 `unauthenticated`
/// for anything but a live MFA challenge of a tenant, 403 `tenant_mismatch` for an
/// `X-Tenant-ID` of another tenant, 404 when the dialect is off.
async fn challenge_context(
    state: &AppState,
    challenge_id: &str,
    headers: &HeaderMap,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<(UserCaller, Context), ApiError> {
    let caller = token_caller(state, challenge_id, headers, &[Purpose::MfaChallenge])
        .await
        .map_err(|BearerRejection(e)| match e.status().as_u16() {
            401 => ApiError::Token(
                "unauthenticated",
                "challenge_id is not a live MFA challenge of a tenant",
            ),
            _ => e,
        })?;
    let mut ctx = context(&caller, ip, request_id)?;
    // The user is known from the app's challenge: a user without a WebAuthn method is told
    // so (409 `no_credentials`) rather than given decoy options.
    ctx.secret = true;
    Ok((caller, ctx))
}

/// Begins the second factor of a sign-in.
#[utoipa::path(post, path = "/v1/auth/mfa/webauthn/begin", tag = "jitsudo",
    request_body = SignInBegin,
    params(("X-Tenant-ID" = Option<String>, Header,
        description = "The tenant the caller expects; must be the `challenge_id`'s, else 403 \
            `tenant_mismatch`.")),
    responses((status = 200, body = RequestAnswer),
        (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn sign_in_begin(
    headers: HeaderMap,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignInBegin>,
) -> Result<Json<RequestAnswer>, ApiError> {
    let (caller, ctx) =
        challenge_context(&state, &body.challenge_id, &headers, ip, request_id).await?;
    let begun = ceremony::begin_authentication(
        &state,
        &ctx,
        SignInHint::UserId(caller.user.id),
        Default::default(),
    )
    .await?;
    Ok(Json(RequestAnswer {
        options: begun.options,
    }))
}

/// Body of `POST /v1/auth/mfa/webauthn/complete`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignInComplete {
    /// The MFA challenge the begin step was called with.
    pub challenge_id: String,
    /// `credential.toJSON()` of the assertion.
    #[schema(value_type = Object)]
    pub credential: Box<RawValue>,
}

/// Answer of `POST /v1/auth/mfa/webauthn/complete`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    /// The result token (JWT, purpose `authentication`): the app's backend verifies it against
    /// the tenant's JWKS or redeems it once at `POST /tokens/verify`.
    pub token: String,
    /// When `token` expires (RFC 3339, inferred).
    pub expires_at: String,
    /// False: the user has just used an enrolled second factor (inferred).
    pub mfa_setup_required: bool,
    /// False, for the same reason (inferred).
    pub enrollment_required: bool,
}

/// Completes the second factor of a sign-in; the `challenge_id` is used up by a success.
#[utoipa::path(post, path = "/v1/auth/mfa/webauthn/complete", tag = "jitsudo",
    request_body = SignInComplete,
    params(("X-Tenant-ID" = Option<String>, Header,
        description = "The tenant the caller expects; must be the `challenge_id`'s, else 403 \
            `tenant_mismatch`.")),
    responses((status = 200, body = SignedIn), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn sign_in_complete(
    headers: HeaderMap,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignInComplete>,
) -> Result<Json<SignedIn>, ApiError> {
    let (caller, ctx) =
        challenge_context(&state, &body.challenge_id, &headers, ip, request_id).await?;
    let credential = body.credential.get().as_bytes();
    let session = ceremony::challenge_session(credential).ok_or_else(unknown_session)?;
    let done = ceremony::finish_authentication(&state, &ctx, &session, credential).await?;
    // Used up only now, so that a failed attempt (the wrong authenticator, a cancelled
    // prompt) does not send the user back to their first factor; the ceremony session was
    // single use either way.
    service::tokens::use_mfa_challenge(&state, &caller).await?;
    Ok(Json(SignedIn {
        token: done.token.token,
        expires_at: rfc3339(done.token.expires_at),
        mfa_setup_required: false,
        enrollment_required: false,
    }))
}
