//! `PATCH/DELETE /credentials/{credentialId}` (secret key). The tenant's policy decides each
//! change (action `ManageCredential`, the API key as principal).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::patch;
use axum::{Json, Router};
use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use passkeyd_webauthn::Aaguid;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rfc3339;
use crate::audit::aaguid_text;
use crate::auth::SecretCaller;
use crate::error::{ApiError, ApiJson};
use crate::service::{self, Credential, Provenance};
use crate::state::AppState;

/// The credential routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/credentials/{credential_id}", patch(rename).delete(remove))
}

/// A credential as the API shows it: never the key material or the attestation object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    /// The credential ID (base64url).
    pub credential_id: String,
    /// Its owner.
    pub user_id: String,
    /// The user's name for it.
    pub friendly_name: Option<String>,
    /// Registration time.
    pub created_at: String,
    /// Last successful sign-in.
    pub last_used_at: Option<String>,
    /// The authenticator model (AAGUID, hyphenated).
    pub aaguid: String,
    /// The authenticator's name, when known.
    pub authenticator_name: Option<String>,
    /// Transports reported at registration.
    pub transports: Vec<String>,
    /// Whether the credential can be synced.
    pub backup_eligible: bool,
    /// Whether it was backed up at its last use.
    pub backup_state: bool,
    /// Whether the user was verified at registration.
    pub user_verified: bool,
    /// The COSE algorithm.
    pub algorithm: i64,
    /// Attestation statement format.
    pub attestation_format: String,
    /// Attestation type.
    pub attestation_type: String,
}

impl CredentialView {
    /// The view of a stored credential.
    pub fn new(state: &AppState, c: &Credential) -> Self {
        let aaguid = <[u8; 16]>::try_from(c.aaguid.as_slice()).map(Aaguid).ok();
        Self {
            credential_id: base64url_encode(&c.id),
            user_id: c.user_id.clone(),
            friendly_name: c.friendly_name.clone(),
            created_at: rfc3339(c.created_at),
            last_used_at: c.last_used_at.map(rfc3339),
            aaguid: aaguid_text(&c.aaguid),
            authenticator_name: aaguid.and_then(|a| state.authenticator_name(&a)),
            transports: c.transports.clone(),
            backup_eligible: c.backup_eligible,
            backup_state: c.backup_state,
            user_verified: c.uv_initialized,
            algorithm: c.algorithm,
            attestation_format: c.attestation_format.clone(),
            attestation_type: c.attestation_type.clone(),
        }
    }
}

/// Body of `PATCH /credentials/{credentialId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialPatch {
    /// The new name; `null` clears it.
    pub friendly_name: Option<String>,
}

/// A credential ID from the path: base64url, with or without padding.
pub fn parse_credential_id(text: &str) -> Result<Vec<u8>, ApiError> {
    match base64url_decode(text) {
        Ok(id) if !id.is_empty() && id.len() <= 1023 => Ok(id),
        _ => Err(ApiError::InvalidRequest(
            "credentialId must be a base64url credential ID".to_owned(),
        )),
    }
}

/// Renames a credential.
#[utoipa::path(patch, path = "/credentials/{credentialId}", tag = "credentials",
    params(("credentialId" = String, Path, description = "The credential ID, base64url (unpadded, canonical)",
        min_length = 2, max_length = 1364,
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$")),
    request_body = CredentialPatch,
    security(("api_key" = [])),
    responses((status = 200, body = CredentialView), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn rename(
    SecretCaller(caller): SecretCaller,
    via: Provenance,
    State(state): State<AppState>,
    Path(credential_id): Path<String>,
    ApiJson(body): ApiJson<CredentialPatch>,
) -> Result<Json<CredentialView>, ApiError> {
    let id = parse_credential_id(&credential_id)?;
    let renamed =
        service::credentials::rename(&state, &caller, &id, body.friendly_name.as_deref(), &via)
            .await?;
    Ok(Json(CredentialView::new(&state, &renamed)))
}

/// Deletes a credential.
#[utoipa::path(delete, path = "/credentials/{credentialId}", tag = "credentials",
    params(("credentialId" = String, Path, description = "The credential ID, base64url (unpadded, canonical)",
        min_length = 2, max_length = 1364,
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$")),
    security(("api_key" = [])),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn remove(
    SecretCaller(caller): SecretCaller,
    via: Provenance,
    State(state): State<AppState>,
    Path(credential_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_credential_id(&credential_id)?;
    service::credentials::delete(&state, &caller, &id, &via).await?;
    Ok(StatusCode::NO_CONTENT)
}
