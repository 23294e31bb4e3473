//! The FIDO Alliance conformance-tool API: `POST /attestation/options` and `/result`,
//! `POST /assertion/options` and `/result`, as the FIDO conformance tools drive a server
//! under test.
//!
//! Off unless the `default` tenant's `fido_conformance` setting is true; off, every route
//! answers the server's own 404, as if absent. The tool sends no key, so these routes act for
//! the `default` tenant only: turn the setting on for a certification run, never in
//! production. Answers are `{status: "ok", errorMessage: "", ...}`; every failure of a handler
//! is `{status: "failed", errorMessage}` with 200 (see [`ConformanceError`]). The tool
//! sends no session either: the finish finds it by its challenge (see [`super`]).

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use passkeyd_webauthn::json::{
    AttestationConveyancePreference, AuthenticatorAttachment, ResidentKeyRequirement,
    UserVerificationRequirement,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::unknown_session;
use crate::ceremony::{
    self, AuthenticationOverrides, Context, Registrant, RegistrationOverrides, SessionKeys,
    SignInHint,
};
use crate::error::ApiError;
use crate::routes::{ClientIp, RequestId};
use crate::service;
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::tenant::TenantId;

/// The conformance routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/attestation/options", post(attestation_options))
        .route("/attestation/result", post(attestation_result))
        .route("/assertion/options", post(assertion_options))
        .route("/assertion/result", post(assertion_result))
}

/// Why a conformance route did not answer `ok`.
#[derive(Debug)]
pub enum ConformanceError {
    /// The API is off: the server's own 404.
    Off,
    /// The request failed: `{status: "failed", errorMessage}`.
    Failed(ApiError),
}

impl From<ApiError> for ConformanceError {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

impl From<JsonRejection> for ConformanceError {
    fn from(e: JsonRejection) -> Self {
        Self::Failed(ApiError::from(e))
    }
}

impl IntoResponse for ConformanceError {
    fn into_response(self) -> Response {
        match self {
            Self::Off => ApiError::NotFound.into_response(),
            Self::Failed(e) => {
                if e.status().is_server_error() {
                    tracing::error!(error = %e, "conformance API: server failure");
                }
                // 200, not 400: the server's error middleware (`error::render_errors`) gives
                // every 4xx/5xx answer the native envelope, which the tool cannot read; the
                // tool reads `status`, and conformance servers such as fido2-net-lib's answer
                // their failures with 200 too.
                Json(ConformanceStatus {
                    status: "failed".to_owned(),
                    error_message: e.to_string(),
                })
                .into_response()
            }
        }
    }
}

/// `{status, errorMessage}`: the answer of the result routes, and of every failure.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConformanceStatus {
    /// `ok` or `failed`.
    pub status: String,
    /// Empty on `ok`; what failed otherwise.
    pub error_message: String,
}

impl ConformanceStatus {
    fn ok() -> Self {
        Self {
            status: "ok".to_owned(),
            error_message: String::new(),
        }
    }
}

/// `{status: "ok", errorMessage: ""}` with the L3 JSON creation options' fields at the top
/// level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FidoCreationAnswer)]
pub struct CreationAnswer {
    /// `ok`.
    pub status: String,
    /// Empty.
    pub error_message: String,
    /// The options' fields (`rp`, `user`, `challenge`, `pubKeyCredParams`, ...).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub options: passkeyd_webauthn::CreationOptionsJson,
}

/// `{status: "ok", errorMessage: ""}` with the L3 JSON request options' fields at the top
/// level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FidoRequestAnswer)]
pub struct RequestAnswer {
    /// `ok`.
    pub status: String,
    /// Empty.
    pub error_message: String,
    /// The options' fields (`challenge`, `rpId`, `allowCredentials`, `userVerification`, ...).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub options: passkeyd_webauthn::RequestOptionsJson,
}

/// `authenticatorSelection` of `/attestation/options`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    /// `platform` or `cross-platform`.
    #[schema(value_type = Option<String>)]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// `discouraged`, `preferred` or `required`.
    #[schema(value_type = Option<String>)]
    pub resident_key: Option<ResidentKeyRequirement>,
    /// L1's form of `residentKey: required`.
    pub require_resident_key: Option<bool>,
    /// `discouraged`, `preferred` or `required`.
    #[schema(value_type = Option<String>)]
    pub user_verification: Option<UserVerificationRequirement>,
}

/// Body of `POST /attestation/options`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttestationOptionsRequest {
    /// The user name (an existing user gets another credential).
    pub username: String,
    /// The display name.
    pub display_name: Option<String>,
    /// Applied as the tenant's per-request options allow, never weakening the tenant's.
    pub authenticator_selection: Option<AuthenticatorSelection>,
    /// `none`, `indirect`, `direct` or `enterprise`; can only strengthen the tenant's.
    #[schema(value_type = Option<String>)]
    pub attestation: Option<AttestationConveyancePreference>,
    /// Accepted and ignored (the server asks for no extensions).
    #[schema(value_type = Option<Object>)]
    pub extensions: Option<serde_json::Value>,
}

/// Body of `POST /assertion/options`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssertionOptionsRequest {
    /// The user name.
    pub username: String,
    /// Can only strengthen the tenant's.
    #[schema(value_type = Option<String>)]
    pub user_verification: Option<UserVerificationRequirement>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Object>)]
    pub extensions: Option<serde_json::Value>,
}

/// A credential's JSON (`{id, rawId, type, response, clientExtensionResults}`), as
/// `credential.toJSON()` gives it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object)]
#[serde(transparent)]
pub struct CredentialJson(Box<RawValue>);

/// The ceremony context of the `default` tenant, if its `fido_conformance` is on.
async fn conformance_context(
    state: &AppState,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<Context, ConformanceError> {
    let Some(tenant) = service::tenants::find(state, &TenantId::default_tenant()).await? else {
        return Err(ConformanceError::Off);
    };
    let settings = TenantSettings::from_map(&tenant.settings).map_err(ApiError::internal)?;
    if !settings.fido_conformance {
        return Err(ConformanceError::Off);
    }
    // One tool, one address: the tenant's quota (as for its secret key), not the per-IP limit.
    state
        .rate_limits
        .check_secret(tenant.id.as_str())
        .map_err(|e| ApiError::RateLimited {
            retry_after_secs: e.retry_after_secs,
        })?;
    Ok(Context {
        tenant,
        settings,
        // The tool stands in for the app's backend: unknown users are errors, not decoys.
        secret: true,
        actor: "fido_conformance".to_owned(),
        ip: ip.0,
        request_id,
        // The finishes carry only the credential.
        sessions: SessionKeys::Challenge,
        bound_user: None,
    })
}

/// Begins a registration.
#[utoipa::path(post, path = "/attestation/options", tag = "fido_conformance",
    request_body = AttestationOptionsRequest,
    responses((status = 200, description = "The options, or `{status: \"failed\", errorMessage}`",
            body = CreationAnswer),
        (status = 404, description = "The conformance API is off", body = crate::error::ErrorBody),
        (status = "5XX", body = crate::error::ErrorBody)))]
pub async fn attestation_options(
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<Json<AttestationOptionsRequest>, JsonRejection>,
) -> Result<Json<CreationAnswer>, ConformanceError> {
    let ctx = conformance_context(&state, ip, request_id).await?;
    let Json(body) = body?;
    let selection = body.authenticator_selection.unwrap_or_default();
    let resident_key = match (selection.resident_key, selection.require_resident_key) {
        (Some(rk), _) => Some(rk),
        (None, Some(true)) => Some(ResidentKeyRequirement::Required),
        (None, _) => None,
    };
    let overrides = RegistrationOverrides {
        authenticator_attachment: selection.authenticator_attachment,
        resident_key,
        user_verification: selection.user_verification,
        attestation: body.attestation,
        hints: None,
        conditional: false,
    };
    let registrant = Registrant {
        user_id: None,
        user_name: Some(body.username),
        display_name: body.display_name,
        may_extend_existing: true,
    };
    let begun = ceremony::begin_registration(&state, &ctx, registrant, overrides).await?;
    Ok(Json(CreationAnswer {
        status: "ok".to_owned(),
        error_message: String::new(),
        options: begun.options,
    }))
}

/// Finishes a registration.
#[utoipa::path(post, path = "/attestation/result", tag = "fido_conformance",
    request_body = CredentialJson,
    responses((status = 200, description = "`{status: \"ok\"}` or `{status: \"failed\", errorMessage}`",
            body = ConformanceStatus),
        (status = 404, description = "The conformance API is off", body = crate::error::ErrorBody),
        (status = "5XX", body = crate::error::ErrorBody)))]
pub async fn attestation_result(
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<Json<CredentialJson>, JsonRejection>,
) -> Result<Json<ConformanceStatus>, ConformanceError> {
    let ctx = conformance_context(&state, ip, request_id).await?;
    let Json(CredentialJson(credential)) = body?;
    let credential = credential.get().as_bytes();
    let session = ceremony::challenge_session(credential).ok_or_else(unknown_session)?;
    ceremony::finish_registration(&state, &ctx, &session, credential, None).await?;
    Ok(Json(ConformanceStatus::ok()))
}

/// Begins an authentication.
#[utoipa::path(post, path = "/assertion/options", tag = "fido_conformance",
    request_body = AssertionOptionsRequest,
    responses((status = 200, description = "The options, or `{status: \"failed\", errorMessage}`",
            body = RequestAnswer),
        (status = 404, description = "The conformance API is off", body = crate::error::ErrorBody),
        (status = "5XX", body = crate::error::ErrorBody)))]
pub async fn assertion_options(
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<Json<AssertionOptionsRequest>, JsonRejection>,
) -> Result<Json<RequestAnswer>, ConformanceError> {
    let ctx = conformance_context(&state, ip, request_id).await?;
    let Json(body) = body?;
    let overrides = AuthenticationOverrides {
        user_verification: body.user_verification,
        hints: None,
    };
    let begun = ceremony::begin_authentication(
        &state,
        &ctx,
        SignInHint::UserName(body.username),
        overrides,
    )
    .await?;
    Ok(Json(RequestAnswer {
        status: "ok".to_owned(),
        error_message: String::new(),
        options: begun.options,
    }))
}

/// Finishes an authentication.
#[utoipa::path(post, path = "/assertion/result", tag = "fido_conformance",
    request_body = CredentialJson,
    responses((status = 200, description = "`{status: \"ok\"}` or `{status: \"failed\", errorMessage}`",
            body = ConformanceStatus),
        (status = 404, description = "The conformance API is off", body = crate::error::ErrorBody),
        (status = "5XX", body = crate::error::ErrorBody)))]
pub async fn assertion_result(
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    body: Result<Json<CredentialJson>, JsonRejection>,
) -> Result<Json<ConformanceStatus>, ConformanceError> {
    let ctx = conformance_context(&state, ip, request_id).await?;
    let Json(CredentialJson(credential)) = body?;
    let credential = credential.get().as_bytes();
    let session = ceremony::challenge_session(credential).ok_or_else(unknown_session)?;
    ceremony::finish_authentication(&state, &ctx, &session, credential).await?;
    Ok(Json(ConformanceStatus::ok()))
}
