//! A user's own second factors, with their user token: enrolling a passkey (the `/me` API and
//! the dialects that serve signed-in users share it; they differ only in how the session
//! travels), and replacing and using backup codes.
//!
//! A change of factors needs a recent proof of one already held ([`require_step_up`]), so a
//! stolen password session cannot add or strip factors; the first enrolment works with the
//! token the app minted for its password session.

use passkeyd_webauthn::CreationOptionsJson;

use super::{finish, user_resource, Credential, Provenance, UserCaller};
use crate::audit::Audit;
use crate::backup_codes;
use crate::ceremony::{self, Begun, Context, Registrant};
use crate::error::ApiError;
use crate::policy::{self, Action};
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::token_keys::{self, ResultToken};

/// Refuses a change of the caller's factors (403 `step_up_required`) unless their token is a
/// step-up ([`UserCaller::stepped_up`] within the tenant's `step_up_max_age_secs`), or they have
/// no factor yet: no credential (`credential_count`) and no unused backup code. So the first
/// enrolment works with the token the app minted for its password session, as flashback's and
/// Jitsudo's MFA enrolment documents; every later change needs the proof of a factor already
/// held, which a stolen password session lacks.
pub async fn require_step_up(
    state: &AppState,
    caller: &UserCaller,
    settings: &TenantSettings,
    credential_count: usize,
) -> Result<(), ApiError> {
    let max_age_secs = settings.step_up_max_age_secs;
    if caller.stepped_up(max_age_secs) {
        return Ok(());
    }
    let has_factor = credential_count > 0
        || !state
            .store
            .unused_backup_codes(&caller.tenant.id, &caller.user.id)
            .await?
            .is_empty();
    if has_factor {
        return Err(ApiError::StepUpRequired { max_age_secs });
    }
    Ok(())
}

/// [`require_step_up`] with the caller's credentials counted now.
pub async fn require_step_up_now(
    state: &AppState,
    caller: &UserCaller,
    settings: &TenantSettings,
) -> Result<(), ApiError> {
    let count = credential_count(state, caller).await?;
    require_step_up(state, caller, settings, count).await
}

/// How many credentials the caller holds.
async fn credential_count(state: &AppState, caller: &UserCaller) -> Result<usize, ApiError> {
    Ok(state
        .store
        .credentials(&caller.tenant.id, &caller.user.id)
        .await?
        .len())
}

/// Asks the tenant's policy whether the caller may enrol a second factor (`EnrolMfa`);
/// answers how many credentials the caller holds.
async fn may_enrol(state: &AppState, caller: &UserCaller) -> Result<usize, ApiError> {
    let count = credential_count(state, caller).await?;
    policy::authorize(
        state,
        &caller.tenant.id,
        &caller.principal(),
        Action::EnrolMfa,
        &user_resource(&caller.user, None, count),
    )
    .await?;
    Ok(count)
}

/// Begins enrolling a passkey as the caller's second factor, in `ctx` (a context of the
/// caller's tenant): the tenant's `EnrolMfa` rules decide first, then a registration begins
/// for the caller, excluding their existing credentials.
pub async fn begin_enrolment(
    state: &AppState,
    caller: &UserCaller,
    ctx: &Context,
) -> Result<Begun<CreationOptionsJson>, ApiError> {
    let count = may_enrol(state, caller).await?;
    require_step_up(state, caller, &ctx.settings, count).await?;
    let registrant = Registrant {
        user_id: Some(caller.user.id.clone()),
        user_name: None,
        display_name: None,
        may_extend_existing: true,
    };
    ceremony::begin_registration(state, ctx, registrant, Default::default()).await
}

/// What finishes an enrolment, as a route read it from its request.
#[derive(Debug)]
pub struct EnrolmentFinish {
    /// The ceremony context (of the caller's tenant).
    pub ctx: Context,
    /// The session the begin step stored.
    pub session: String,
    /// `credential.toJSON()` of the new credential.
    pub credential: Vec<u8>,
    /// The user's name for the credential.
    pub friendly_name: Option<String>,
}

/// A finished enrolment.
#[derive(Debug)]
pub struct Enrolled {
    /// The new credential.
    pub credential: Credential,
    /// Backup codes, to be shown this once: ten at the user's first enrolment (when they hold
    /// no unused code), none after.
    pub codes: Vec<String>,
    /// How many unused backup codes the user holds now.
    pub remaining: usize,
}

/// Finishes an enrolment begun with [`begin_enrolment`], audited as `mfa.enrol`: verifies and
/// stores the credential (the tenant's `Register` rules see the caller with the role and
/// domain of their token), then gives the caller a first set of backup codes if they hold no
/// unused one.
///
/// `request` is what the route read from its request; its failure is audited as the outcome,
/// like the ceremony's. `rename` turns a failure into the dialect's answer before it is
/// audited (the identity for the native API).
pub async fn finish_enrolment(
    state: &AppState,
    caller: &UserCaller,
    via: &Provenance,
    request: Result<EnrolmentFinish, ApiError>,
    rename: impl FnOnce(ApiError) -> ApiError,
) -> Result<Enrolled, ApiError> {
    let mut audit = via.audit(&caller.tenant.id, &caller.actor(), "mfa.enrol");
    audit.subject(format!("user:{}", caller.user.id));
    let result = async {
        let request = request?;
        let ctx = &request.ctx;
        // Checked again at the finish, before the session is used: the begin may have been
        // made when the user had no factor yet, or with a step-up that has aged since.
        require_step_up_now(state, caller, &ctx.settings).await?;
        let done = ceremony::finish_registration_as(
            state,
            ctx,
            &caller.principal(),
            Action::Register,
            &request.session,
            &request.credential,
            request.friendly_name,
        )
        .await?;
        if done.user.id != caller.user.id {
            // The session binding makes this impossible; refuse loudly rather than answer
            // codes for someone else.
            return Err(ApiError::internal(std::io::Error::other(
                "an MFA enrolment registered a credential for another user",
            )));
        }
        audit.subject(format!(
            "user:{} credential:{}",
            caller.user.id,
            passkeyd_webauthn::json::base64url_encode(&done.credential.id)
        ));
        let (codes, remaining) =
            backup_codes::issue_first_set(state, &caller.tenant.id, &caller.user.id).await?;
        audit.detail("backup_codes_issued", (!codes.is_empty()).to_string());
        Ok(Enrolled {
            credential: done.credential,
            codes,
            remaining,
        })
    }
    .await
    .map_err(rename);
    finish(state, audit, result).await
}

/// Replaces the caller's backup codes with ten new ones (the old ones stop working), audited
/// as `backup_codes.regenerate`. New codes are a new second factor: the same decision
/// (`EnrolMfa`) and step-up as enrolling a passkey.
pub async fn regenerate_codes(
    state: &AppState,
    caller: &UserCaller,
    via: &Provenance,
) -> Result<Vec<String>, ApiError> {
    let mut audit = user_audit(caller, "backup_codes.regenerate", via);
    let result = async {
        let count = may_enrol(state, caller).await?;
        require_step_up(state, caller, &caller.settings()?, count).await?;
        let event = audit.event_reading(state, "success").await;
        let codes =
            backup_codes::replace_recorded(state, &caller.tenant.id, &caller.user.id, &event)
                .await?;
        audit.stored_with();
        Ok(codes)
    }
    .await;
    finish(state, audit, result).await
}

/// Uses one of the caller's backup codes (single use), audited as `backup_code.verify`, and
/// answers how many unused codes remain with a fresh token that proves the code (a step-up).
/// A wrong code counts against the user's throttle ([`backup_codes::verify`]).
pub async fn verify_code(
    state: &AppState,
    caller: &UserCaller,
    code: &str,
    via: &Provenance,
) -> Result<(usize, ResultToken), ApiError> {
    let audit = user_audit(caller, "backup_code.verify", via);
    let result = async {
        let settings = caller.settings()?;
        let remaining = backup_codes::verify(state, &caller.tenant.id, &caller.user, code).await?;
        let token = token_keys::mint_backup_code(
            state,
            &caller.tenant,
            &settings,
            &caller.user,
            caller.claims.role.clone(),
            caller.claims.domain.clone(),
        )
        .await?;
        Ok((remaining, token))
    }
    .await;
    finish(state, audit, result).await
}

/// An audit event of the caller about themselves.
fn user_audit(caller: &UserCaller, action: &'static str, via: &Provenance) -> Audit {
    let mut audit = via.audit(&caller.tenant.id, &caller.actor(), action);
    audit.subject(format!("user:{}", caller.user.id));
    audit
}
