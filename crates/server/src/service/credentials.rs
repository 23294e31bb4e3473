//! Credentials: the app's backend renames and deletes any credential of its tenant, a user
//! lists, renames and deletes their own. The tenant's policy decides each change (action
//! `ManageCredential`); every change is audited, its outcome included.
//!
//! A user reaches only their own credentials: another user's credential ID is answered 404,
//! exactly as an unknown one, and nothing is touched.

use passkeyd_webauthn::json::base64url_encode;

use super::{finish, mfa, user_resource, Caller, Credential, Provenance, UserCaller};
use crate::audit::Audit;
use crate::ceremony::MAX_NAME_BYTES;
use crate::error::ApiError;
use crate::names::clean_name;
use crate::policy::{self, Action};
use crate::state::AppState;
use crate::store::StoreError;

/// A friendly name as stored, from the native API's `friendlyName` (`None` clears it).
fn friendly_name(name: Option<&str>) -> Result<Option<String>, ApiError> {
    name.map(|name| clean_name("friendlyName", name, MAX_NAME_BYTES))
        .transpose()
}

/// Renames credential `id` of the caller's tenant (`friendly_name` as sent, `None` clears it),
/// audited as `credential.rename`; 404 if the tenant has no such credential. A name that cannot
/// be stored is 400 before anything is read or audited.
pub async fn rename(
    state: &AppState,
    caller: &Caller,
    id: &[u8],
    friendly_name: Option<&str>,
    via: &Provenance,
) -> Result<Credential, ApiError> {
    let tenant = &caller.tenant.id;
    let friendly_name = self::friendly_name(friendly_name)?;
    let mut audit = app_audit(caller, "credential.rename", id, via);
    let result = async {
        may_manage(state, caller, id).await?;
        let event = audit.event_reading(state, "success").await;
        let renamed = state
            .store
            .rename_credential_recorded(tenant, id, friendly_name.as_deref(), &event)
            .await?;
        audit.stored_with();
        Ok::<_, ApiError>(renamed)
    }
    .await;
    policy::note_denial(&mut audit, result.as_ref().err());
    finish(state, audit, result).await
}

/// Deletes credential `id` of the caller's tenant, audited as `credential.delete`; 404 if the
/// tenant has no such credential.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    id: &[u8],
    via: &Provenance,
) -> Result<(), ApiError> {
    let mut audit = app_audit(caller, "credential.delete", id, via);
    let result = async {
        may_manage(state, caller, id).await?;
        let event = audit.event_reading(state, "success").await;
        state
            .store
            .delete_credential_recorded(&caller.tenant.id, id, &event)
            .await?;
        audit.stored_with();
        Ok::<_, ApiError>(())
    }
    .await;
    policy::note_denial(&mut audit, result.as_ref().err());
    finish(state, audit, result).await
}

/// [`delete`], answering the owner's user ID (for a dialect whose answer names them): the
/// credential is read first, whether or not the tenant has a policy.
pub async fn delete_answering_owner(
    state: &AppState,
    caller: &Caller,
    id: &[u8],
    via: &Provenance,
) -> Result<String, ApiError> {
    let mut audit = app_audit(caller, "credential.delete", id, via);
    let result = async {
        let credential = state.store.credential(&caller.tenant.id, id).await?;
        decide(state, caller, &credential).await?;
        let event = audit.event_reading(state, "success").await;
        state
            .store
            .delete_credential_recorded(&caller.tenant.id, id, &event)
            .await?;
        audit.stored_with();
        Ok::<_, ApiError>(credential.user_id)
    }
    .await;
    policy::note_denial(&mut audit, result.as_ref().err());
    finish(state, audit, result).await
}

/// The audit event of the app's change of credential `id`.
fn app_audit(caller: &Caller, action: &'static str, id: &[u8], via: &Provenance) -> Audit {
    let mut audit = via.audit(&caller.tenant.id, &caller.actor(), action);
    audit.subject(format!("credential:{}", base64url_encode(id)));
    audit
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
    decide_with(state, caller, &policies, &credential).await
}

/// The tenant's policy decision on `caller` changing `credential`, if the tenant has a policy.
async fn decide(
    state: &AppState,
    caller: &Caller,
    credential: &Credential,
) -> Result<(), ApiError> {
    match policy::tenant_policies(state, &caller.tenant.id).await? {
        Some(policies) => decide_with(state, caller, &policies, credential).await,
        None => Ok(()),
    }
}

/// The decision of `policies` on `caller` changing `credential` (action `ManageCredential`).
async fn decide_with(
    state: &AppState,
    caller: &Caller,
    policies: &policy::TenantPolicies,
    credential: &Credential,
) -> Result<(), ApiError> {
    let tenant = &caller.tenant.id;
    let user = state.store.user(tenant, &credential.user_id).await?;
    let resource = policy::resource_for_credential(state, tenant, credential, &user).await?;
    policies
        .decide(&caller.principal(), Action::ManageCredential, &resource)
        .map(drop)
}

/// The caller's credentials, oldest first, once the tenant's policy lets them manage their
/// credentials (`ManageCredential` on themselves as owner).
pub async fn own(state: &AppState, caller: &UserCaller) -> Result<Vec<Credential>, ApiError> {
    let tenant = &caller.tenant.id;
    let credentials = state.store.credentials(tenant, &caller.user.id).await?;
    policy::authorize(
        state,
        tenant,
        &caller.principal(),
        Action::ManageCredential,
        &user_resource(&caller.user, None, credentials.len()),
    )
    .await?;
    Ok(credentials)
}

/// One of the caller's own credentials and how many they hold, once the tenant's policy lets
/// them manage it: 404 for an unknown ID and for another user's alike.
async fn own_one(
    state: &AppState,
    caller: &UserCaller,
    id: &[u8],
) -> Result<(Credential, usize), ApiError> {
    let tenant = &caller.tenant.id;
    let credential = match state.store.credential(tenant, id).await {
        Ok(credential) if credential.user_id == caller.user.id => credential,
        Ok(_) | Err(StoreError::NotFound) => return Err(ApiError::NotFound),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let count = state
        .store
        .credentials(tenant, &caller.user.id)
        .await?
        .len();
    policy::authorize(
        state,
        tenant,
        &caller.principal(),
        Action::ManageCredential,
        &user_resource(&caller.user, Some(&credential), count),
    )
    .await?;
    Ok((credential, count))
}

/// The audit event of the caller's change of their own credential `id`.
fn own_audit(caller: &UserCaller, action: &'static str, id: &[u8], via: &Provenance) -> Audit {
    let mut audit = via.audit(&caller.tenant.id, &caller.actor(), action);
    audit.subject(format!(
        "user:{} credential:{}",
        caller.user.id,
        base64url_encode(id)
    ));
    audit
}

/// Renames one of the caller's credentials (`friendly_name` as sent, `None` clears it),
/// audited as `credential.rename`.
pub async fn rename_own(
    state: &AppState,
    caller: &UserCaller,
    id: &[u8],
    friendly_name: Option<&str>,
    via: &Provenance,
) -> Result<Credential, ApiError> {
    let friendly_name = self::friendly_name(friendly_name)?;
    let mut audit = own_audit(caller, "credential.rename", id, via);
    let result = async {
        own_one(state, caller, id).await?;
        let event = audit.event_reading(state, "success").await;
        let renamed = state
            .store
            .rename_credential_recorded(&caller.tenant.id, id, friendly_name.as_deref(), &event)
            .await?;
        audit.stored_with();
        Ok(renamed)
    }
    .await;
    finish(state, audit, result).await
}

/// Deletes one of the caller's credentials, audited as `credential.delete`. Removing a factor
/// needs a step-up ([`mfa::require_step_up`]); where the tenant requires MFA, the last one
/// cannot be deleted (409 `last_credential`).
pub async fn delete_own(
    state: &AppState,
    caller: &UserCaller,
    id: &[u8],
    via: &Provenance,
) -> Result<(), ApiError> {
    let mut audit = own_audit(caller, "credential.delete", id, via);
    let result = async {
        let (_, count) = own_one(state, caller, id).await?;
        let settings = caller.settings()?;
        // Removing a factor is a change of factors: a stolen password session must not strip
        // the account of its passkeys. After the policy, whose "never" outranks "prove it".
        mfa::require_step_up(state, caller, &settings, count).await?;
        // One transaction counts and deletes, so racing deletes cannot take the last one.
        let event = audit.event_reading(state, "success").await;
        match state
            .store
            .delete_own_credential_recorded(
                &caller.tenant.id,
                &caller.user.id,
                id,
                settings.require_mfa,
                &event,
            )
            .await
        {
            Ok(()) => {
                audit.stored_with();
                Ok(())
            }
            Err(StoreError::Conflict("last_credential")) => Err(ApiError::Conflict(
                "last_credential",
                "the tenant requires a second factor: the last credential cannot be deleted",
            )),
            Err(e) => Err(e.into()),
        }
    }
    .await;
    finish(state, audit, result).await
}
