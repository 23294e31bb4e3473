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

use super::{rfc3339, ClientIp, RequestId};
use crate::audit::{aaguid_text, Audit};
use crate::auth::{Caller, SecretCaller};
use crate::ceremony::MAX_NAME_BYTES;
use crate::error::{ApiError, ApiJson};
use crate::policy::{self, Action, Principal};
use crate::state::AppState;
use crate::store::Credential;

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
    params(("credentialId" = String, Path, description = "The credential ID, base64url")),
    request_body = CredentialPatch,
    security(("api_key" = [])),
    responses((status = 200, body = CredentialView), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn rename(
    SecretCaller(caller): SecretCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    Path(credential_id): Path<String>,
    ApiJson(body): ApiJson<CredentialPatch>,
) -> Result<Json<CredentialView>, ApiError> {
    let tenant = &caller.tenant;
    let id = parse_credential_id(&credential_id)?;
    let friendly_name = body
        .friendly_name
        .as_deref()
        .map(|name| crate::names::clean_name("friendlyName", name, MAX_NAME_BYTES))
        .transpose()?;
    let mut audit = Audit::new(
        &tenant.id,
        &caller.actor(),
        "credential.rename",
        ip.0,
        request_id,
    );
    audit.subject(format!("credential:{}", base64url_encode(&id)));
    let result = async {
        may_manage(&state, &caller, &id).await?;
        state
            .store
            .rename_credential(&tenant.id, &id, friendly_name.as_deref())
            .await
            .map_err(ApiError::from)
    }
    .await;
    policy::note_denial(&mut audit, result.as_ref().err());
    audit
        .finish(
            &state,
            result.as_ref().map_or_else(ApiError::code, |_| "success"),
        )
        .await;
    Ok(Json(CredentialView::new(&state, &result?)))
}

/// Deletes a credential.
#[utoipa::path(delete, path = "/credentials/{credentialId}", tag = "credentials",
    params(("credentialId" = String, Path, description = "The credential ID, base64url")),
    security(("api_key" = [])),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn remove(
    SecretCaller(caller): SecretCaller,
    ip: ClientIp,
    RequestId(request_id): RequestId,
    State(state): State<AppState>,
    Path(credential_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = &caller.tenant;
    let id = parse_credential_id(&credential_id)?;
    let mut audit = Audit::new(
        &tenant.id,
        &caller.actor(),
        "credential.delete",
        ip.0,
        request_id,
    );
    audit.subject(format!("credential:{}", base64url_encode(&id)));
    let result = async {
        may_manage(&state, &caller, &id).await?;
        state
            .store
            .delete_credential(&tenant.id, &id)
            .await
            .map_err(ApiError::from)
    }
    .await;
    policy::note_denial(&mut audit, result.as_ref().err());
    audit
        .finish(
            &state,
            result.as_ref().map_or_else(ApiError::code, |()| "success"),
        )
        .await;
    result.map(|()| StatusCode::NO_CONTENT)
}

/// Asks the tenant's policy whether `caller` may change credential `id` (action
/// `ManageCredential`). Without a policy nothing is read; with one, an unknown credential is
/// 404, as the change itself would answer.
async fn may_manage(state: &AppState, caller: &Caller, id: &[u8]) -> Result<(), ApiError> {
    let tenant = &caller.tenant.id;
    let Some(policies) = policy::tenant_policies(state, tenant).await? else {
        return Ok(());
    };
    let credential = state.store.credential(tenant, id).await?;
    let user = state.store.user(tenant, &credential.user_id).await?;
    let resource = policy::resource_for_credential(state, tenant, &credential, &user).await?;
    let principal = Principal::ApiKey {
        prefix: caller.key_prefix.clone(),
    };
    policies
        .decide(&principal, Action::ManageCredential, &resource)
        .map(drop)
}
