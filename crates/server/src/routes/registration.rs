//! `POST /webauthn/registration/request` and `/response`: registering a passkey, from the app's
//! backend (secret key) or from the browser (publishable key with a registration token, or
//! open sign-up where the tenant allows it).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{ceremony_context, rfc3339, ClientIp, RequestId};
use crate::auth::Caller;
use crate::ceremony::{self, Registrant, RegistrationOverrides};
use crate::error::{ApiError, ApiJson};
use crate::service::tokens::take_registration_token;
use crate::state::AppState;

/// The registration routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webauthn/registration/request", post(request))
        .route("/webauthn/registration/response", post(response))
}

/// Body of `POST /webauthn/registration/request`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The app's ID for the user (opaque, no personal data); a new user gets a generated one
    /// when absent. Secret key only.
    pub user_id: Option<String>,
    /// The user name shown by authenticators; required for a new user.
    pub user_name: Option<String>,
    /// The display name (defaults to the user name).
    pub user_display_name: Option<String>,
    /// A registration token minted by the app's backend (publishable key only).
    pub registration_token: Option<String>,
    /// Per-request options, applied only where the tenant allows and never weakening it.
    pub options: Option<RegistrationOverrides>,
    /// `conditional` begins a conditional create (automatic passkey upgrade): pass
    /// `mediation: "conditional"` to `navigator.credentials.create()`; its finish accepts an
    /// authenticator that reports no user presence (UP=0), and nothing else does.
    pub mediation: Option<ceremony::CreateMediation>,
}

/// Answer of `POST /webauthn/registration/request`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationBegun {
    /// Pass back to `/webauthn/registration/response`; single use.
    pub session: String,
    /// For `PublicKeyCredential.parseCreationOptionsFromJSON()`.
    #[schema(value_type = Object)]
    pub public_key_credential_creation_options: passkeyd_webauthn::CreationOptionsJson,
}

/// Body of `POST /webauthn/registration/response`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationFinish {
    /// The session from the request step.
    pub session: String,
    /// `credential.toJSON()` of the new credential.
    #[schema(value_type = Object)]
    pub public_key_credential: Box<RawValue>,
    /// The user's name for the credential.
    pub friendly_name: Option<String>,
}

/// Answer of `POST /webauthn/registration/response`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResult {
    /// Always true (failures are error answers).
    pub verified: bool,
    /// The user.
    pub user_id: String,
    /// Their user name.
    pub user_name: String,
    /// The new credential's ID (base64url).
    pub credential_id: String,
    /// The authenticator model (AAGUID, hyphenated).
    pub aaguid: String,
    /// The authenticator's name, when known.
    pub authenticator_name: Option<String>,
    /// Whether the credential can be synced.
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// Attestation statement format.
    pub attestation_format: String,
    /// Attestation type (`none`, `self`, `basic`, `attca`, `anonca`).
    pub attestation_type: String,
    /// Registration time.
    pub created_at: String,
    /// A signed result token (JWT) for the app's backend.
    pub token: String,
    /// When the token expires (Unix seconds).
    pub token_expires_at: i64,
    /// The `@notice` annotations of the tenant policies that permitted the registration
    /// (empty when none carries one, or the tenant has no policy).
    pub notices: Vec<String>,
}

/// Begins a registration.
#[utoipa::path(post, path = "/webauthn/registration/request", tag = "registration",
    request_body = RegistrationRequest,
    security(("api_key" = []), ("publishable_key" = [])),
    responses((status = 200, body = RegistrationBegun), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn request(
    caller: Caller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegistrationRequest>,
) -> Result<Json<RegistrationBegun>, ApiError> {
    let ctx = ceremony_context(&state, caller, ip, request_id)?;
    let registrant = if ctx.secret {
        if body.registration_token.is_some() {
            return Err(ApiError::InvalidRequest(
                "registrationToken is for the publishable key; the secret key names the user"
                    .to_owned(),
            ));
        }
        Registrant {
            user_id: body.user_id,
            user_name: body.user_name,
            display_name: body.user_display_name,
            may_extend_existing: true,
        }
    } else if let Some(token) = body.registration_token {
        if body.user_id.is_some() || body.user_name.is_some() {
            return Err(ApiError::InvalidRequest(
                "the registration token names the user; send no userId or userName".to_owned(),
            ));
        }
        let token = take_registration_token(&state, &ctx.tenant, &token).await?;
        Registrant {
            user_id: Some(token.user_id),
            user_name: Some(token.user_name),
            display_name: Some(token.display_name),
            may_extend_existing: true,
        }
    } else if ctx.settings.open_signup {
        if body.user_id.is_some() {
            return Err(ApiError::InvalidRequest(
                "userId is chosen by the server at open sign-up".to_owned(),
            ));
        }
        Registrant {
            user_id: None,
            user_name: body.user_name,
            display_name: body.user_display_name,
            may_extend_existing: false,
        }
    } else {
        return Err(ApiError::Forbidden(
            "registration with the publishable key needs a registration token",
        ));
    };
    let mut overrides = body.options.unwrap_or_default();
    overrides.conditional = body.mediation == Some(ceremony::CreateMediation::Conditional);
    let begun = ceremony::begin_registration(&state, &ctx, registrant, overrides).await?;
    Ok(Json(RegistrationBegun {
        session: begun.session,
        public_key_credential_creation_options: begun.options,
    }))
}

/// Finishes a registration: verifies the new credential and stores it.
#[utoipa::path(post, path = "/webauthn/registration/response", tag = "registration",
    request_body = RegistrationFinish,
    security(("api_key" = []), ("publishable_key" = [])),
    responses((status = 200, body = RegistrationResult), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn response(
    caller: Caller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegistrationFinish>,
) -> Result<Json<RegistrationResult>, ApiError> {
    let ctx = ceremony_context(&state, caller, ip, request_id)?;
    let done = ceremony::finish_registration(
        &state,
        &ctx,
        &body.session,
        body.public_key_credential.get().as_bytes(),
        body.friendly_name,
    )
    .await?;
    let credential = &done.credential;
    Ok(Json(RegistrationResult {
        verified: true,
        user_id: done.user.id.clone(),
        user_name: done.user.name.clone(),
        credential_id: passkeyd_webauthn::json::base64url_encode(&credential.id),
        aaguid: crate::audit::aaguid_text(&credential.aaguid),
        authenticator_name: done.authenticator_name.clone(),
        backup_eligible: credential.backup_eligible,
        backup_state: credential.backup_state,
        user_verified: done.user_verified,
        attestation_format: credential.attestation_format.clone(),
        attestation_type: credential.attestation_type.clone(),
        created_at: rfc3339(credential.created_at),
        token: done.token.token,
        token_expires_at: done.token.expires_at,
        notices: done.notices,
    }))
}
