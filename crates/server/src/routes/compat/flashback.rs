//! flashback's passkey second factor (`../shared/seeds/flashback-mfa-passkey.txt`, FLOWS.md): a
//! signed-in user enrols a passkey (`POST /mfa/setup`, then
//! `POST /mfa/passkey/complete-registration`, or the same at `.../complete-registration-1`)
//! and later proves it (`POST /mfa/passkey/auth-options`, then `POST /mfa/passkey/verify`).
//!
//! - **Auth**: `Authorization: Bearer <token>`, where flashback's client sends its user access
//!   token: in passkeyd a user token the app's backend mints for the signed-in user
//!   (`POST /users/{userId}/tokens`), or the result token of a passkey sign-in, exactly as the
//!   native `/me` API takes them ([`UserCaller`]).
//! - **Off** unless the token's tenant lists `flashback` in `compat`: then every route answers
//!   the server's own 404 `not_found`, as if absent (after the token check, which needs no
//!   setting).
//! - **Answers**: `{success: true, message | data}`; failures `{success: false, error}` with the
//!   page's texts (the registration's are documented; the other routes' are inferred in the
//!   same style). Statuses: 401 for a missing or refused token (with `WWW-Authenticate`), 429
//!   when a limit is reached (with `Retry-After`), 500 for a server failure, and 400 for
//!   everything else the request got wrong, including a refusal by the tenant's policy: the page
//!   documents 200, 400 and 500, and a flashback client knows no finer codes. The stable native
//!   code of each failure is in the audit trail and the log, with the request ID of the
//!   `x-request-id` header. One exception: a change of factors without a recent proof of one
//!   (a second enrolment with the token of a password session) is 403 with
//!   `code: "step_up_required"` and `maxAgeSecs` beside `error`, so the client can send the
//!   user through a passkey check (`auth-options`, `verify`) and retry with its token.
//! - **Step-up**: `/mfa/setup` and the completions need, once the user has a passkey or
//!   backup codes, a token that proves one recently (the `data.token` of
//!   `/mfa/passkey/verify`, or the token of a backup-code verification at
//!   `/me/mfa/backup-codes/verify`). `/mfa/passkey/verify` itself changes no factor: it is the
//!   check, and takes the password session's token.
//! - **Enrolment** is the `/me` second-factor enrolment (`service::mfa::begin_enrolment`,
//!   `finish_enrolment`): the tenant's `EnrolMfa` rules at setup, its `Register` rules at
//!   completion, and ten backup codes at the user's first enrolment. flashback's answer has no
//!   field for them, so they travel in `data.codes` beside the documented `message` (a passkeyd
//!   addition: codes never shown would be useless).
//! - **Sessions** are stored under their challenge and bound to the user
//!   ([`super::user_context`]). The finishes also echo the challenge in standard base64; it must
//!   be the one the credential signed (else 400, and the ceremony is not used up).

use std::convert::identity;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use passkeyd_webauthn::json::{
    base64url_decode, base64url_encode, PublicKeyCredentialDescriptor, UserVerificationRequirement,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{unknown_session, user_context};
use crate::auth::{BearerRejection, UserCaller};
use crate::ceremony::{self, check_name, Context, SignInHint, MAX_NAME_BYTES};
use crate::error::{ApiError, ApiJson, DialectErrorBody};
use crate::routes::{rfc3339, ClientIp, RequestId};
use crate::service::mfa::EnrolmentFinish;
use crate::service::{self, Provenance};
use crate::state::AppState;

/// The dialect's name in a tenant's `compat` setting.
pub const DIALECT: &str = "flashback";

/// The flashback routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mfa/setup", post(setup))
        .route(
            "/mfa/passkey/complete-registration",
            post(complete_registration),
        )
        .route(
            "/mfa/passkey/complete-registration-1",
            post(complete_registration_alternative),
        )
        .route("/mfa/passkey/auth-options", post(auth_options))
        .route("/mfa/passkey/verify", post(verify))
}

/// The route a failure happened on: each has its own failure texts.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// `POST /mfa/setup`.
    Setup,
    /// `POST /mfa/passkey/complete-registration` (and `-1`).
    Registration,
    /// `POST /mfa/passkey/auth-options`.
    AuthOptions,
    /// `POST /mfa/passkey/verify`.
    Verify,
}

impl Step {
    /// The `error` of a 400 and of a 500 answer.
    fn texts(self) -> (&'static str, &'static str) {
        match self {
            // Inferred, in the style of the documented registration texts.
            Self::Setup => ("MFA setup failed", "Failed to set up MFA"),
            // Documented.
            Self::Registration => (
                "Passkey registration failed",
                "Failed to complete passkey registration",
            ),
            // Inferred.
            Self::AuthOptions => (
                "Failed to generate passkey authentication options",
                "Failed to generate passkey authentication options",
            ),
            // Inferred.
            Self::Verify => ("Passkey verification failed", "Failed to verify passkey"),
        }
    }
}

/// Why a flashback route did not succeed.
#[derive(Debug)]
pub enum FlashbackError {
    /// The tenant does not answer flashback: the server's own 404.
    Off,
    /// The request failed: `{success: false, error}` with the status and text of the step.
    Failed {
        /// The text for `error`, when the step's own text would say less.
        text: Option<&'static str>,
        /// The route.
        step: Step,
        /// What went wrong, for the status, the log and the audit trail.
        cause: ApiError,
    },
}

impl FlashbackError {
    fn failed(step: Step, cause: ApiError) -> Self {
        Self::Failed {
            text: None,
            step,
            cause,
        }
    }
}

/// `{success: false, error}`: every failure of a flashback route but the 404 of a tenant
/// that has the dialect off.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlashbackFailure {
    /// Always false.
    pub success: bool,
    /// What failed, in flashback's words.
    pub error: String,
    /// `step_up_required` on a 403 (a passkeyd addition): the change needs a recent sign-in
    /// with a passkey or a backup code. Absent on every other failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// With `code`: how recent that sign-in must be, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u32>,
}

impl IntoResponse for FlashbackError {
    fn into_response(self) -> Response {
        let (text, step, cause) = match self {
            Self::Off => return ApiError::NotFound.into_response(),
            Self::Failed { text, step, cause } => (text, step, cause),
        };
        let (bad_request, server_failure) = step.texts();
        let step_up = match &cause {
            ApiError::StepUpRequired { max_age_secs } => Some(*max_age_secs),
            _ => None,
        };
        let (status, error) = match cause.status() {
            // Not a 400: the request was right, the proof is too old, and the client must
            // tell its user to sign in again rather than show a form error.
            _ if step_up.is_some() => (
                StatusCode::FORBIDDEN,
                "Recent passkey or backup code verification required",
            ),
            StatusCode::UNAUTHORIZED => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            StatusCode::TOO_MANY_REQUESTS => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            s if s.is_server_error() => (StatusCode::INTERNAL_SERVER_ERROR, server_failure),
            _ => (StatusCode::BAD_REQUEST, text.unwrap_or(bad_request)),
        };
        // The native answer first: it carries what the error middleware logs, and the
        // `WWW-Authenticate` and `Retry-After` headers; flashback's body replaces the envelope.
        let (mut parts, _) = BearerRejection(cause).into_response().into_parts();
        parts.status = status;
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.extensions.insert(DialectErrorBody);
        let body = Json(FlashbackFailure {
            success: false,
            error: error.to_owned(),
            code: step_up.map(|_| "step_up_required".to_owned()),
            max_age_secs: step_up,
        })
        .into_response()
        .into_body();
        Response::from_parts(parts, body)
    }
}

/// The caller and the ceremony context, or the failure of `step`.
fn caller_context(
    caller: Result<UserCaller, BearerRejection>,
    step: Step,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<(UserCaller, Context), FlashbackError> {
    let caller = caller.map_err(|BearerRejection(e)| FlashbackError::failed(step, e))?;
    match user_context(&caller, DIALECT, ip, request_id) {
        Ok(Some(ctx)) => Ok((caller, ctx)),
        Ok(None) => Err(FlashbackError::Off),
        Err(e) => Err(FlashbackError::failed(step, e)),
    }
}

/// The session of a finish: the challenge the credential signed, which must be the `challenge`
/// the client echoes (standard base64 as flashback sends it; base64url is accepted too).
/// Checked before the session is taken, so a mismatch leaves the ceremony pending.
fn echoed_session(credential: &[u8], echoed: &str) -> Result<String, ApiError> {
    let session = ceremony::challenge_session(credential).ok_or_else(unknown_session)?;
    let tolerant = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let echoed = tolerant
        .decode(echoed.trim())
        .or_else(|_| base64url_decode(echoed.trim()))
        .map_err(|_| ApiError::InvalidRequest("challenge must be base64".to_owned()))?;
    if base64url_decode(&session).ok().as_deref() != Some(echoed.as_slice()) {
        return Err(ApiError::BadRequest(
            "challenge_mismatch",
            "challenge is not the challenge the credential signed",
        ));
    }
    Ok(session)
}

/// `deviceInfo` of `POST /mfa/setup`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DeviceInfo {
    /// The device's name, 1 to 256 bytes of printable text.
    pub name: Option<String>,
    /// The device's kind.
    #[serde(rename = "type")]
    pub device_type: Option<String>,
}

/// Body of `POST /mfa/setup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    /// `PASSKEY`, in any case; flashback's other second factors are not passkeyd's.
    pub mfa_type: String,
    /// Checked, not kept: the completion does not carry it and passkeyd keeps no state of its
    /// own between the two, so the passkey has no friendly name until the user names it at
    /// `PATCH /me/credentials/{id}`.
    pub device_info: Option<DeviceInfo>,
}

/// `data` of the setup answer (inferred shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct SetupData {
    /// The L3 JSON creation options, for `navigator.credentials.create()`.
    #[schema(value_type = Object)]
    pub options: passkeyd_webauthn::CreationOptionsJson,
}

/// Answer of `POST /mfa/setup`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetupAnswer {
    /// Always true.
    pub success: bool,
    /// The options.
    pub data: SetupData,
}

/// Begins enrolling a passkey as the signed-in user's second factor.
#[utoipa::path(post, path = "/mfa/setup", tag = "flashback",
    request_body = Setup, security(("user_token" = [])),
    responses((status = 200, body = SetupAnswer),
        (status = 400, body = FlashbackFailure), (status = 401, body = FlashbackFailure),
        (status = 403, description = "step_up_required", body = FlashbackFailure),
        (status = 404, description = "The dialect is off", body = crate::error::ErrorBody),
        (status = 429, body = FlashbackFailure), (status = 500, body = FlashbackFailure)))]
pub async fn setup(
    caller: Result<UserCaller, BearerRejection>,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<ApiJson<Setup>, ApiError>,
) -> Result<Json<SetupAnswer>, FlashbackError> {
    let (caller, ctx) = caller_context(caller, Step::Setup, ip, request_id)?;
    let failed = |e| FlashbackError::failed(Step::Setup, e);
    let ApiJson(body) = body.map_err(failed)?;
    if !body.mfa_type.eq_ignore_ascii_case("passkey") {
        return Err(FlashbackError::Failed {
            text: Some("Unsupported MFA type"),
            step: Step::Setup,
            cause: ApiError::InvalidRequest("mfaType must be PASSKEY".to_owned()),
        });
    }
    if let Some(name) = body.device_info.unwrap_or_default().name {
        check_name("deviceInfo.name", &name, MAX_NAME_BYTES).map_err(failed)?;
    }
    let begun = service::mfa::begin_enrolment(&state, &caller, &ctx)
        .await
        .map_err(failed)?;
    Ok(Json(SetupAnswer {
        success: true,
        data: SetupData {
            options: begun.options,
        },
    }))
}

/// Body of the registration completion, and of the sign-in verification.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CredentialWithChallenge {
    /// `credential.toJSON()`: `{id, rawId, response: {clientDataJSON, ...}, type}`.
    #[schema(value_type = Object)]
    pub credential: Box<RawValue>,
    /// The challenge the server issued, standard base64.
    pub challenge: String,
}

/// `data` of the registration answer: a passkeyd addition beside flashback's `message`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationData {
    /// The new credential's ID (base64url).
    pub credential_id: String,
    /// Backup codes, shown this once: ten at the user's first enrolment, none after.
    pub codes: Vec<String>,
    /// How many unused backup codes the user holds now.
    pub remaining: usize,
}

/// Answer of the registration completion.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationAnswer {
    /// Always true.
    pub success: bool,
    /// `Passkey registration completed`.
    pub message: String,
    /// The credential and the backup codes.
    pub data: RegistrationData,
}

/// Completes the passkey enrolment.
#[utoipa::path(post, path = "/mfa/passkey/complete-registration", tag = "flashback",
    request_body = CredentialWithChallenge, security(("user_token" = [])),
    responses((status = 200, body = RegistrationAnswer),
        (status = 400, body = FlashbackFailure), (status = 401, body = FlashbackFailure),
        (status = 403, description = "step_up_required", body = FlashbackFailure),
        (status = 404, description = "The dialect is off", body = crate::error::ErrorBody),
        (status = 429, body = FlashbackFailure), (status = 500, body = FlashbackFailure)))]
pub async fn complete_registration(
    caller: Result<UserCaller, BearerRejection>,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<ApiJson<CredentialWithChallenge>, ApiError>,
) -> Result<Json<RegistrationAnswer>, FlashbackError> {
    let (caller, ctx) = caller_context(caller, Step::Registration, ip, request_id.clone())?;
    let failed = |e| FlashbackError::failed(Step::Registration, e);
    let via = Provenance {
        ip: ip.0,
        request_id,
    };
    let request = body.and_then(|ApiJson(body)| {
        let credential = body.credential.get().as_bytes();
        Ok(EnrolmentFinish {
            session: echoed_session(credential, &body.challenge)?,
            credential: credential.to_vec(),
            ctx,
            friendly_name: None,
        })
    });
    let done = service::mfa::finish_enrolment(&state, &caller, &via, request, identity)
        .await
        .map_err(failed)?;
    Ok(Json(RegistrationAnswer {
        success: true,
        message: "Passkey registration completed".to_owned(),
        data: RegistrationData {
            credential_id: base64url_encode(&done.credential.id),
            codes: done.codes,
            remaining: done.remaining,
        },
    }))
}

/// The same as `POST /mfa/passkey/complete-registration` (flashback's alternative endpoint).
#[utoipa::path(post, path = "/mfa/passkey/complete-registration-1", tag = "flashback",
    request_body = CredentialWithChallenge, security(("user_token" = [])),
    responses((status = 200, body = RegistrationAnswer),
        (status = 400, body = FlashbackFailure), (status = 401, body = FlashbackFailure),
        (status = 403, description = "step_up_required", body = FlashbackFailure),
        (status = 404, description = "The dialect is off", body = crate::error::ErrorBody),
        (status = 429, body = FlashbackFailure), (status = 500, body = FlashbackFailure)))]
pub async fn complete_registration_alternative(
    caller: Result<UserCaller, BearerRejection>,
    ip: ClientIp,
    request_id: RequestId,
    state: State<AppState>,
    body: Result<ApiJson<CredentialWithChallenge>, ApiError>,
) -> Result<Json<RegistrationAnswer>, FlashbackError> {
    complete_registration(caller, ip, request_id, state, body).await
}

/// `data` of the sign-in options: the documented members, and `allowCredentials` so that
/// credentials which are not discoverable (security keys) can answer too.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthOptionsData {
    /// The challenge, standard base64 (as flashback documents it).
    pub challenge: String,
    /// The RP ID.
    pub rp_id: String,
    /// `required`, `preferred` or `discouraged`.
    #[schema(value_type = String)]
    pub user_verification: UserVerificationRequirement,
    /// The ceremony timeout in milliseconds.
    pub timeout: Option<u32>,
    /// The user's credentials (IDs base64url, as in the L3 JSON forms).
    #[schema(value_type = Vec<Object>)]
    pub allow_credentials: Vec<PublicKeyCredentialDescriptor>,
}

/// Answer of `POST /mfa/passkey/auth-options`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthOptionsAnswer {
    /// Always true.
    pub success: bool,
    /// The request options.
    pub data: AuthOptionsData,
}

/// Begins the passkey check of the signed-in user.
#[utoipa::path(post, path = "/mfa/passkey/auth-options", tag = "flashback",
    security(("user_token" = [])),
    responses((status = 200, body = AuthOptionsAnswer),
        (status = 400, body = FlashbackFailure), (status = 401, body = FlashbackFailure),
        (status = 404, description = "The dialect is off", body = crate::error::ErrorBody),
        (status = 429, body = FlashbackFailure), (status = 500, body = FlashbackFailure)))]
pub async fn auth_options(
    caller: Result<UserCaller, BearerRejection>,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
) -> Result<Json<AuthOptionsAnswer>, FlashbackError> {
    let (caller, mut ctx) = caller_context(caller, Step::AuthOptions, ip, request_id)?;
    // The user is known from their token: saying that they have no passkey tells nobody
    // anything new, so that is an error (`no_credentials`) rather than decoy options.
    ctx.secret = true;
    let begun = ceremony::begin_authentication(
        &state,
        &ctx,
        SignInHint::UserId(caller.user.id.clone()),
        Default::default(),
    )
    .await
    .map_err(|e| FlashbackError::failed(Step::AuthOptions, e))?;
    let options = begun.options;
    Ok(Json(AuthOptionsAnswer {
        success: true,
        data: AuthOptionsData {
            challenge: STANDARD.encode(&options.challenge.0),
            rp_id: options.rp_id,
            user_verification: options.user_verification,
            timeout: options.timeout,
            allow_credentials: options.allow_credentials,
        },
    }))
}

/// `data` of the verification answer (inferred).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyData {
    /// Always true.
    pub verified: bool,
    /// The credential used (base64url).
    pub credential_id: String,
    /// The result token (JWT, purpose `authentication`): the app's backend verifies it
    /// against the tenant's JWKS or redeems it once at `POST /tokens/verify`.
    pub token: String,
    /// When `token` expires (RFC 3339).
    pub expires_at: String,
}

/// Answer of `POST /mfa/passkey/verify` (inferred).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyAnswer {
    /// Always true.
    pub success: bool,
    /// `Passkey verified`.
    pub message: String,
    /// The outcome.
    pub data: VerifyData,
}

/// Verifies the passkey of the signed-in user. The route is inferred: flashback's pages show
/// the options step but not this one, which the client needs to send the assertion back.
#[utoipa::path(post, path = "/mfa/passkey/verify", tag = "flashback",
    request_body = CredentialWithChallenge, security(("user_token" = [])),
    responses((status = 200, body = VerifyAnswer),
        (status = 400, body = FlashbackFailure), (status = 401, body = FlashbackFailure),
        (status = 404, description = "The dialect is off", body = crate::error::ErrorBody),
        (status = 429, body = FlashbackFailure), (status = 500, body = FlashbackFailure)))]
pub async fn verify(
    caller: Result<UserCaller, BearerRejection>,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<ApiJson<CredentialWithChallenge>, ApiError>,
) -> Result<Json<VerifyAnswer>, FlashbackError> {
    let (_caller, ctx) = caller_context(caller, Step::Verify, ip, request_id)?;
    let failed = |e| FlashbackError::failed(Step::Verify, e);
    let ApiJson(body) = body.map_err(failed)?;
    let credential = body.credential.get().as_bytes();
    let session = echoed_session(credential, &body.challenge).map_err(failed)?;
    let done = ceremony::finish_authentication(&state, &ctx, &session, credential)
        .await
        .map_err(failed)?;
    Ok(Json(VerifyAnswer {
        success: true,
        message: "Passkey verified".to_owned(),
        data: VerifyData {
            verified: true,
            credential_id: base64url_encode(&done.credential.id),
            token: done.token.token,
            expires_at: rfc3339(done.token.expires_at),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(challenge: &[u8]) -> Vec<u8> {
        let client_data = format!(r#"{{"challenge":"{}"}}"#, base64url_encode(challenge));
        serde_json::json!({
            "response": { "clientDataJSON": base64url_encode(client_data.as_bytes()) },
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_echoed_challenge_must_be_the_signed_one_in_either_base64() {
        let challenge = [0xfb_u8, 0xff, 0x01, 0x02, 0x03];
        let json = credential(&challenge);
        let session = base64url_encode(&challenge);
        for echoed in [
            STANDARD.encode(challenge),
            STANDARD.encode(challenge).trim_end_matches('=').to_owned(),
            base64url_encode(&challenge),
        ] {
            assert_eq!(echoed_session(&json, &echoed).unwrap(), session, "{echoed}");
        }
        let other = echoed_session(&json, &STANDARD.encode([1_u8, 2, 3])).unwrap_err();
        assert_eq!(other.code(), "challenge_mismatch");
        let garbage = echoed_session(&json, "not base64!").unwrap_err();
        assert_eq!(garbage.code(), "invalid_request");
        let unreadable = echoed_session(b"{}", &STANDARD.encode(challenge)).unwrap_err();
        assert_eq!(unreadable.code(), "session_not_found");
    }

    #[test]
    fn failures_keep_the_status_classes_flashback_clients_know() {
        let status = |cause| FlashbackError::failed(Step::Registration, cause).into_response();
        assert_eq!(
            status(ApiError::InvalidRequest(String::new())).status(),
            400
        );
        assert_eq!(
            status(ApiError::PolicyDenied { notices: vec![] }).status(),
            400
        );
        assert_eq!(status(ApiError::Token("unauthenticated", "")).status(), 401);
        assert_eq!(
            status(ApiError::RateLimited {
                retry_after_secs: 5
            })
            .status(),
            429
        );
        assert_eq!(status(ApiError::internal(std::fmt::Error)).status(), 500);
        assert_eq!(
            status(ApiError::StepUpRequired { max_age_secs: 300 }).status(),
            403
        );
        assert_eq!(FlashbackError::Off.into_response().status(), 404);
    }
}
