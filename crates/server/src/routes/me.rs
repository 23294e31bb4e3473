//! The user-facing API (`Authorization: Bearer <user token>`): a user lists, renames and
//! deletes their own credentials, enrols a passkey as a second factor, and manages and uses
//! their backup codes.
//!
//! Every handler takes [`UserCaller`] and passes it to the service ([`service::credentials`],
//! [`service::mfa`]), which reaches only its tenant's rows and its user's, so a user never
//! reaches another user's or another tenant's rows: another user's credential ID is answered
//! 404, exactly as an unknown one, and nothing is touched.
//!
//! These routes are public (a browser calls them with its user's token), so they are rate
//! limited per client IP and tenant like the publishable-key routes, before the token is
//! verified. An app backend that calls them for many users from one address should pass the
//! users' addresses in `X-Forwarded-For` and be listed in `PASSKEYD_TRUSTED_PROXIES`. What a
//! holder of a user token could guess at, the backup codes, is also throttled per user
//! (`backup_codes`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use super::credentials::{parse_credential_id, CredentialPatch, CredentialView};
use super::registration::RegistrationBegun;
use super::{ClientIp, RequestId};
use crate::auth::UserCaller;
use crate::error::{ApiError, ApiJson};
use crate::service::mfa::{Enrolled, EnrolmentFinish};
use crate::service::{self, Credential, Provenance};
use crate::state::AppState;

/// The `/me` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/credentials", get(list))
        .route(
            "/me/credentials/{credential_id}",
            patch(rename).delete(remove),
        )
        .route("/me/mfa/webauthn/register/begin", post(mfa_begin))
        .route("/me/mfa/webauthn/register/complete", post(mfa_complete))
        .route("/me/mfa/backup-codes", post(regenerate_codes))
        .route("/me/mfa/backup-codes/verify", post(verify_code))
}

/// The most credentials one page of `GET /me/credentials` holds.
pub const MAX_PAGE: u32 = 100;
/// The page size of `GET /me/credentials` when the caller names none.
pub const DEFAULT_PAGE: u32 = 20;

/// Query of `GET /me/credentials`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many credentials to answer, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// A page of the caller's credentials.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialPage {
    /// Oldest first (by creation, then credential ID).
    pub credentials: Vec<CredentialView>,
    /// Pass it as `cursor` for the next page; null on the last page. Opaque.
    pub next_cursor: Option<String>,
}

/// The position after `credential` in the listing order, as a cursor: its creation time and
/// ID, so a page resumes after it even if it was deleted meanwhile.
fn cursor_of(credential: &Credential) -> String {
    let mut bytes = credential.created_at.to_be_bytes().to_vec();
    bytes.extend_from_slice(&credential.id);
    base64url_encode(&bytes)
}

fn parse_cursor(cursor: &str) -> Result<(i64, Vec<u8>), ApiError> {
    let invalid = || ApiError::InvalidRequest("cursor is not a cursor of this listing".to_owned());
    let bytes = base64url_decode(cursor).map_err(|_| invalid())?;
    if bytes.len() < 8 || bytes.len() > 8 + 1_024 {
        return Err(invalid());
    }
    let (at, id) = bytes.split_at(8);
    let at = i64::from_be_bytes(at.try_into().map_err(|_| invalid())?);
    Ok((at, id.to_vec()))
}

/// The caller's credentials, a page at a time (`limit`, `cursor`; the answer's `nextCursor`
/// names the next page).
#[utoipa::path(get, path = "/me/credentials", tag = "me",
    params(ListQuery),
    security(("user_token" = [])),
    responses((status = 200, body = CredentialPage), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn list(
    caller: UserCaller,
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<CredentialPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let mut credentials = service::credentials::own(&state, &caller).await?;
    // A user holds a handful of credentials: the service answers them all and the page is
    // cut here, in one stable order.
    credentials.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let start = after.map_or(0, |(at, id)| {
        credentials.partition_point(|c| (c.created_at, c.id.as_slice()) <= (at, id.as_slice()))
    });
    let rest = credentials.get(start..).unwrap_or_default();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let page = rest.get(..limit.min(rest.len())).unwrap_or_default();
    let next_cursor = (rest.len() > page.len())
        .then(|| page.last().map(cursor_of))
        .flatten();
    Ok(Json(CredentialPage {
        credentials: page
            .iter()
            .map(|c| CredentialView::new(&state, c))
            .collect(),
        next_cursor,
    }))
}

/// Renames one of the caller's credentials.
#[utoipa::path(patch, path = "/me/credentials/{credentialId}", tag = "me",
    params(("credentialId" = String, Path, description = "The credential ID, base64url (unpadded, canonical)",
        min_length = 2, max_length = 1364,
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$")),
    request_body = CredentialPatch,
    security(("user_token" = [])),
    responses((status = 200, body = CredentialView), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn rename(
    caller: UserCaller,
    via: Provenance,
    State(state): State<AppState>,
    Path(credential_id): Path<String>,
    ApiJson(body): ApiJson<CredentialPatch>,
) -> Result<Json<CredentialView>, ApiError> {
    let id = parse_credential_id(&credential_id)?;
    let renamed =
        service::credentials::rename_own(&state, &caller, &id, body.friendly_name.as_deref(), &via)
            .await?;
    Ok(Json(CredentialView::new(&state, &renamed)))
}

/// Deletes one of the caller's credentials. Where the tenant requires MFA, the last one
/// cannot be deleted (409 `last_credential`).
#[utoipa::path(delete, path = "/me/credentials/{credentialId}", tag = "me",
    params(("credentialId" = String, Path, description = "The credential ID, base64url (unpadded, canonical)",
        min_length = 2, max_length = 1364,
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$")),
    security(("user_token" = [])),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn remove(
    caller: UserCaller,
    via: Provenance,
    State(state): State<AppState>,
    Path(credential_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_credential_id(&credential_id)?;
    service::credentials::delete_own(&state, &caller, &id, &via).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The prefix of a session token handed out by the `/me` MFA begin.
const MFA_SESSION_PREFIX: &str = "mfa.";
/// The MAC purpose binding an MFA session to its user.
const MFA_SESSION_PURPOSE: &str = "passkeyd mfa session v1";

/// The tag that binds a ceremony session token to the tenant and user it was begun for.
fn session_tag(state: &AppState, caller: &UserCaller, session: &str) -> [u8; 32] {
    let mut message = caller.tenant.id.as_str().as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(caller.user.id.as_bytes());
    message.push(0);
    message.extend_from_slice(session.as_bytes());
    state.master_key.mac(MFA_SESSION_PURPOSE, &message)
}

/// `mfa.<session>.<tag>`: the complete step accepts it only with a token of the same user, and
/// checks that before the session is taken, so a session begun for someone else (with the
/// secret key, or by another user) is refused without being used up.
fn bind_session(state: &AppState, caller: &UserCaller, session: &str) -> String {
    let tag = session_tag(state, caller, session);
    format!("{MFA_SESSION_PREFIX}{session}.{}", base64url_encode(&tag))
}

fn unbind_session<'a>(
    state: &AppState,
    caller: &UserCaller,
    bound: &'a str,
) -> Result<&'a str, ApiError> {
    let not_found = || {
        ApiError::BadRequest(
            "session_not_found",
            "unknown or already used session; begin again",
        )
    };
    let (session, tag) = bound
        .strip_prefix(MFA_SESSION_PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or_else(not_found)?;
    let tag = base64url_decode(tag).map_err(|_| not_found())?;
    let expected = session_tag(state, caller, session);
    if bool::from(expected.as_slice().ct_eq(tag.as_slice())) {
        Ok(session)
    } else {
        Err(not_found())
    }
}

/// Begins registering a passkey as the caller's second factor: the creation options exclude
/// the caller's existing credentials.
#[utoipa::path(post, path = "/me/mfa/webauthn/register/begin", tag = "me",
    security(("user_token" = [])),
    responses((status = 200, body = RegistrationBegun), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn mfa_begin(
    caller: UserCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
) -> Result<Json<RegistrationBegun>, ApiError> {
    let ctx = caller.ceremony_context(caller.settings()?, ip.0, request_id);
    let begun = service::mfa::begin_enrolment(&state, &caller, &ctx).await?;
    Ok(Json(RegistrationBegun {
        session: bind_session(&state, &caller, &begun.session),
        public_key_credential_creation_options: begun.options,
    }))
}

/// Body of `POST /me/mfa/webauthn/register/complete`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaComplete {
    /// The session from the begin step.
    pub session: String,
    /// `credential.toJSON()` of the new credential.
    #[schema(value_type = Object)]
    pub public_key_credential: Box<RawValue>,
    /// The user's name for the credential.
    pub friendly_name: Option<String>,
}

/// Answer of `POST /me/mfa/webauthn/register/complete`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaEnrolled {
    /// The new credential's ID (base64url).
    pub credential_id: String,
    /// Backup codes, shown this once: ten at the user's first enrolment (when they hold no
    /// unused code), none after.
    pub codes: Vec<String>,
    /// How many unused backup codes the user holds now.
    pub remaining: usize,
}

/// Finishes registering the second-factor passkey; the first enrolment also answers the
/// user's backup codes.
#[utoipa::path(post, path = "/me/mfa/webauthn/register/complete", tag = "me",
    request_body = MfaComplete,
    security(("user_token" = [])),
    responses((status = 200, body = MfaEnrolled), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn mfa_complete(
    caller: UserCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MfaComplete>,
) -> Result<Json<MfaEnrolled>, ApiError> {
    let via = Provenance {
        ip: ip.0,
        request_id: request_id.clone(),
    };
    let request = unbind_session(&state, &caller, &body.session).and_then(|session| {
        Ok(EnrolmentFinish {
            ctx: caller.ceremony_context(caller.settings()?, ip.0, request_id),
            session: session.to_owned(),
            credential: body.public_key_credential.get().as_bytes().to_vec(),
            friendly_name: body.friendly_name,
        })
    });
    let done =
        service::mfa::finish_enrolment(&state, &caller, &via, request, std::convert::identity)
            .await?;
    Ok(Json(MfaEnrolled::from(done)))
}

impl From<Enrolled> for MfaEnrolled {
    fn from(done: Enrolled) -> Self {
        Self {
            credential_id: base64url_encode(&done.credential.id),
            codes: done.codes,
            remaining: done.remaining,
        }
    }
}

/// A fresh set of backup codes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupCodes {
    /// The codes (`XXXX-XXXX-XXXX-XXXX`), shown this once; each works once.
    pub codes: Vec<String>,
    /// How many unused codes the user holds now.
    pub remaining: usize,
}

/// Replaces the caller's backup codes with ten new ones; the old ones stop working.
#[utoipa::path(post, path = "/me/mfa/backup-codes", tag = "me",
    security(("user_token" = [])),
    responses((status = 200, body = BackupCodes), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn regenerate_codes(
    caller: UserCaller,
    via: Provenance,
    State(state): State<AppState>,
) -> Result<Json<BackupCodes>, ApiError> {
    let codes = service::mfa::regenerate_codes(&state, &caller, &via).await?;
    Ok(Json(BackupCodes {
        remaining: codes.len(),
        codes,
    }))
}

/// Body of `POST /me/mfa/backup-codes/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupCodeVerify {
    /// The code, in any case, with or without hyphens and spaces.
    pub code: String,
}

/// Answer of `POST /me/mfa/backup-codes/verify`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupCodeVerified {
    /// Always true (a wrong code is 401 `backup_code_invalid`).
    pub verified: bool,
    /// How many unused codes the user holds now.
    pub remaining: usize,
    /// A fresh user token proving the code (`amr: ["backup_code"]`, `auth_time` now, the role
    /// and domain of the token the code was verified with, living the tenant's
    /// `token_ttl_secs`): the step-up of a user who lost their passkey, for the routes that
    /// change factors.
    pub token: String,
    /// When `token` expires (Unix seconds).
    pub expires_at: i64,
}

/// Uses one of the caller's backup codes (single use) and answers a fresh token that proves it
/// (a step-up). A wrong code counts against the user's throttle: after three wrong codes in a
/// row, each further one makes the next attempt wait 1 s, doubling, at most 15 min; until then
/// it answers 429 `rate_limited` with `Retry-After`.
#[utoipa::path(post, path = "/me/mfa/backup-codes/verify", tag = "me",
    request_body = BackupCodeVerify,
    security(("user_token" = [])),
    responses((status = 200, body = BackupCodeVerified), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn verify_code(
    caller: UserCaller,
    via: Provenance,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BackupCodeVerify>,
) -> Result<Json<BackupCodeVerified>, ApiError> {
    let (remaining, token) = service::mfa::verify_code(&state, &caller, &body.code, &via).await?;
    Ok(Json(BackupCodeVerified {
        verified: true,
        remaining,
        token: token.token,
        expires_at: token.expires_at,
    }))
}
