//! Authentication: begin (options for `navigator.credentials.get()`, decoys for unknown names on
//! public routes) and finish (verify the assertion, ask the policy, record the use).

use passkeyd_webauthn::error::CeremonyError;
use passkeyd_webauthn::json::{
    base64url_decode, base64url_encode, PublicKeyCredentialDescriptor, RequestOptionsJson,
    UserVerificationRequirement,
};
use passkeyd_webauthn::{
    verify_authentication, AuthenticationResponseJson, ExpectedAuthentication, StoredCredential,
    UserIdentification, VerifyError,
};
use serde::{Deserialize, Serialize};

use super::decoy::{
    decoy_credentials, decoy_user_handle, parsed_backup_eligible, DECOY_PUBLIC_KEY,
};
use super::{
    attachment_fact, check_begun_by, check_bound_user, check_failure_throttle, finish_observed,
    optional, parse_state, random, store_session, take_session, AuthenticationOverrides, Begun,
    Ceremony, Context,
};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::names::clean_name;
use crate::names::{check_name, MAX_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::policy::{self, Action, Principal, Resource};
use crate::settings::stronger_uv;
use crate::state::AppState;
use crate::store::{Credential, CredentialUse, SessionKind, StoreError, User};
use crate::token_keys::{self, ResultToken};

/// What the finish checks an authentication against.
#[derive(Debug, Serialize, Deserialize)]
struct AuthenticationState {
    challenge: String,
    user_verification: UserVerificationRequirement,
    /// The user identified at begin, if any.
    user_id: Option<String>,
    /// A user name given at begin that matched no user (public routes do not reveal that):
    /// the finish fails unless the credential's owner has this name.
    user_name: Option<String>,
    allow: Vec<String>,
    /// [`Context::caller_kind`] of the begin (see [`RegistrationState::begun_by`]).
    #[serde(default)]
    begun_by: String,
}

/// A completed authentication.
#[derive(Debug)]
pub struct Authenticated {
    /// The user.
    pub user: User,
    /// The credential, as updated.
    pub credential: Credential,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// The counter did not increase and the tenant only flags that.
    pub counter_regressed: bool,
    /// The signed result token.
    pub token: ResultToken,
    /// The `@notice` annotations of the tenant policies that permitted the sign-in.
    pub notices: Vec<String>,
}

/// How the user is named at an authentication begin.
#[derive(Clone, Debug)]
pub enum SignInHint {
    /// Discoverable credential (usernameless, conditional UI).
    None,
    /// The app's user ID.
    UserId(String),
    /// The user name.
    UserName(String),
}

/// Begins an authentication.
pub async fn begin_authentication(
    state: &AppState,
    ctx: &Context,
    hint: SignInHint,
    overrides: AuthenticationOverrides,
) -> Result<Begun<RequestOptionsJson>, ApiError> {
    check_failure_throttle(state, ctx)?;
    let tenant = &ctx.tenant.id;
    let found = match &hint {
        SignInHint::None => None,
        SignInHint::UserId(id) => {
            check_name("userId", id, MAX_USER_ID_BYTES)?;
            Some(optional(state.store.user(tenant, id).await)?)
        }
        SignInHint::UserName(name) => {
            let name = clean_name("userName", name, MAX_NAME_BYTES)?;
            Some(optional(state.store.user_by_name(tenant, &name).await)?)
        }
    };
    let mut session = AuthenticationState {
        challenge: String::new(),
        user_verification: ctx.settings.user_verification,
        user_id: None,
        user_name: None,
        allow: Vec::new(),
        begun_by: ctx.caller_kind(),
    };
    let challenge = random::<32>()?.to_vec();
    let mut options = RequestOptionsJson::new(ctx.tenant.rp_id.clone(), challenge.clone());
    match found {
        Some(Some(user)) => {
            let credentials = state.store.credentials(tenant, &user.id).await?;
            if credentials.is_empty() && ctx.secret {
                return Err(ApiError::Conflict(
                    "no_credentials",
                    "this user has no credentials",
                ));
            }
            session.allow = credentials
                .iter()
                .map(|c| base64url_encode(&c.id))
                .collect();
            options.allow_credentials = if credentials.is_empty() {
                // A public route answers for a user without passkeys as for an unknown name.
                decoy_credentials(state, ctx, &user.name)
            } else {
                credentials
                    .into_iter()
                    .map(|c| PublicKeyCredentialDescriptor::new(c.id, c.transports))
                    .collect()
            };
            session.user_id = Some(user.id);
        }
        Some(None) if ctx.secret => return Err(ApiError::NotFound),
        Some(None) => {
            // Public route: answer as for a known user, with a decoy credential, so the answer
            // does not tell who has an account (docs/security.md, "Enumeration"); the finish
            // will fail.
            if let SignInHint::UserName(name) | SignInHint::UserId(name) = hint {
                options.allow_credentials = decoy_credentials(state, ctx, &name);
                session.user_name = Some(name);
            }
        }
        None => {}
    }
    options.timeout = Some(ctx.settings.timeout_ms);
    options.hints.clone_from(&ctx.settings.hints);
    options.user_verification = ctx.settings.user_verification;
    let any = overrides.user_verification.is_some() || overrides.hints.is_some();
    if any && !ctx.settings.allow_request_overrides {
        return Err(ApiError::Forbidden(
            "this tenant does not allow per-request options",
        ));
    }
    if let Some(uv) = overrides.user_verification {
        options.user_verification = stronger_uv(options.user_verification, uv);
    }
    if let Some(hints) = overrides.hints {
        options.hints = hints;
    }
    session.user_verification = options.user_verification;
    session.challenge = base64url_encode(&challenge);
    let token = store_session(
        state,
        ctx,
        SessionKind::Authentication,
        &session,
        &challenge,
    )
    .await?;
    Ok(Begun {
        session: token,
        options,
    })
}

/// Finishes an authentication: takes the session, verifies, updates the credential.
pub async fn finish_authentication(
    state: &AppState,
    ctx: &Context,
    session_token: &str,
    response: &[u8],
) -> Result<Authenticated, ApiError> {
    finish_observed(state, ctx, Ceremony::Authentication, async |audit| {
        finish_authentication_inner(state, ctx, session_token, response, audit).await
    })
    .await
}

async fn finish_authentication_inner(
    state: &AppState,
    ctx: &Context,
    session_token: &str,
    response: &[u8],
    audit: &mut Audit,
) -> Result<Authenticated, ApiError> {
    let session: AuthenticationState =
        parse_state(&take_session(state, ctx, session_token, SessionKind::Authentication).await?)?;
    // Whom the attempt targets, before anything can fail: an operator sees whose name is
    // hammered even when the credential is junk.
    match (&session.user_id, &session.user_name) {
        (Some(id), _) => audit.subject(format!("user:{id}")),
        (None, Some(name)) => audit.subject(format!("name:{name}")),
        (None, None) => {}
    }
    check_bound_user(ctx, session.user_id.as_deref())?;
    check_begun_by(ctx, &session.begun_by)?;
    let tenant = &ctx.tenant.id;
    let parsed = AuthenticationResponseJson::from_json(response)?;
    let found = match state.store.credential(tenant, &parsed.raw_id.0).await {
        Ok(credential) => {
            let user = state.store.user(tenant, &credential.user_id).await?;
            Some((credential, user))
        }
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(ApiError::internal(e)),
    };
    let registered = found.is_some();
    // A named sign-in only for the user it named; a discoverable one for any owner.
    let eligible = found.filter(|(_, user)| match (&session.user_id, &session.user_name) {
        (Some(expected), _) => &user.id == expected,
        (None, Some(name)) => &user.name == name || &user.id == name,
        (None, None) => true,
    });
    let named = session.user_id.is_some() || session.user_name.is_some();
    let hide_names = named && !ctx.secret;
    let challenge = base64url_decode(&session.challenge).unwrap_or_default();
    let allow: Vec<Vec<u8>> = session
        .allow
        .iter()
        .filter_map(|c| base64url_decode(c).ok())
        .collect();
    let allow: Vec<&[u8]> = allow.iter().map(Vec::as_slice).collect();
    let rp = ctx.relying_party();
    let expect = |identification| {
        let mut expected = ExpectedAuthentication::new(&rp, &challenge, identification);
        expected.user_verification =
            stronger_uv(session.user_verification, ctx.settings.user_verification);
        expected.counter_policy = ctx.settings.counter_policy();
        expected
    };

    let Some((credential, user)) = eligible else {
        if !hide_names {
            return Err(if registered {
                not_allowed()
            } else {
                ApiError::BadRequest("credential_unknown", "this credential is not registered")
            });
        }
        // A public named sign-in with a credential that cannot sign in as that name: run the
        // same checks, with the same work, against a stand-in credential, so the answer is the
        // one a real user's credential with a wrong signature gets. It never succeeds.
        let name = session.user_id.as_deref().or(session.user_name.as_deref());
        let handle = decoy_user_handle(state, ctx, name.unwrap_or_default());
        let stored = StoredCredential {
            credential_id: &parsed.raw_id.0,
            public_key: &DECOY_PUBLIC_KEY,
            sign_count: 0,
            backup_eligible: parsed_backup_eligible(&parsed),
            user_handle: &handle,
        };
        let identification = UserIdentification::Identified {
            user_handle: &handle,
            allow_credentials: &allow,
        };
        let error = match verify_authentication(&parsed, &expect(identification), &stored) {
            Ok(_) => CeremonyError::CredentialNotAllowed.into(),
            Err(e) => e,
        };
        return Err(hidden_name_error(ctx, error, &parsed));
    };
    audit.subject(format!(
        "user:{} credential:{}",
        credential.user_id,
        base64url_encode(&credential.id)
    ));
    let identification = if named {
        // The verifier compares the owner's handle: another user's valid credential must not
        // sign in as the named one.
        UserIdentification::Identified {
            user_handle: &user.user_handle,
            allow_credentials: &allow,
        }
    } else {
        UserIdentification::Discoverable
    };
    let stored = StoredCredential {
        credential_id: &credential.id,
        public_key: &credential.public_key,
        sign_count: credential.sign_count,
        backup_eligible: credential.backup_eligible,
        user_handle: &user.user_handle,
    };
    let verified = match verify_authentication(&parsed, &expect(identification), &stored) {
        Ok(verified) => verified,
        Err(e) if hide_names => return Err(hidden_name_error(ctx, e, &parsed)),
        Err(e) => return Err(ctx.rejected(e, &parsed.response.client_data_json.0)),
    };
    // A credential that verified its user at registration must do so again (docs/security.md,
    // "User verification"), unless this sign-in asked for no verification. Checked after the
    // signature, so the answer tells nothing about a credential to someone who cannot sign
    // with it.
    if credential.uv_initialized
        && !verified.user_verified()
        && session.user_verification != UserVerificationRequirement::Discouraged
    {
        return Err(VerifyError::from(
            passkeyd_webauthn::error::AuthenticatorDataError::UserVerificationRequired,
        )
        .into());
    }
    if verified.counter_regressed {
        audit.detail("counter_regressed", true.to_string());
    }

    // The tenant's policy, on the stored credential and this assertion, before its use is
    // recorded.
    let notices = match policy::tenant_policies(state, tenant).await? {
        Some(policies) => {
            let count = state.store.credentials(tenant, &user.id).await?.len();
            let resource = Resource {
                user_verified: Some(verified.user_verified()),
                backup_eligible: Some(verified.backup_eligible()),
                authenticator_attachment: attachment_fact(
                    parsed.authenticator_attachment.as_deref(),
                ),
                ..Resource::for_credential(&user, &credential, count)
            };
            let principal = Principal::from_actor(&ctx.actor);
            policies.decide(&principal, Action::Authenticate, &resource)?
        }
        None => Vec::new(),
    };

    let user_verified = verified.user_verified();
    // The token is signed before the use is recorded, so that nothing can fail once it is: the
    // use and its audit event (outcome `success`) are then stored in one unit of work, the
    // finish's one write after taking the session. A token signed for a use that is not
    // recorded is never sent.
    let token = token_keys::mint(
        state,
        (&ctx.tenant, &ctx.settings),
        token_keys::Purpose::Authentication,
        &user,
        Some(&credential.id),
        user_verified,
    )
    .await?;
    let now = state.clock.now().0;
    let update = CredentialUse {
        expected_sign_count: credential.sign_count,
        sign_count: verified.sign_count,
        backup_eligible: verified.backup_eligible(),
        backup_state: verified.backup_state(),
        at: now,
        reset_failures: user.failed_attempts > 0,
    };
    let event = audit.event(state, "success");
    match state
        .store
        .record_sign_in(tenant, &credential.id, &update, &event)
        .await
    {
        Ok(()) => audit.stored_with(),
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "counter_regression",
                "another sign-in with this credential was recorded first; try again",
            ))
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    let credential = Credential {
        sign_count: update.sign_count,
        backup_eligible: update.backup_eligible,
        backup_state: update.backup_state,
        last_used_at: Some(now),
        ..credential
    };
    Ok(Authenticated {
        user,
        credential,
        user_verified,
        counter_regressed: verified.counter_regressed,
        token,
        notices,
    })
}

fn not_allowed() -> ApiError {
    VerifyError::from(CeremonyError::CredentialNotAllowed).into()
}

/// The answer of a public named sign-in that failed on something only the named user's
/// credential decides (whether it exists and is theirs, its user handle, its backup
/// eligibility, the signature): one answer for all, so it cannot tell a real name from a decoy.
/// Failures of the request itself (client data, RP ID, flags) keep their codes: they come out
/// the same for every name.
fn hidden_name_error(
    ctx: &Context,
    error: VerifyError,
    parsed: &AuthenticationResponseJson,
) -> ApiError {
    use passkeyd_webauthn::error::AuthenticatorDataError;
    match error {
        VerifyError::Signature
        | VerifyError::Ceremony(
            CeremonyError::CredentialNotAllowed | CeremonyError::UserHandleMismatch,
        )
        | VerifyError::AuthenticatorData(AuthenticatorDataError::BackupEligibilityChanged) => {
            not_allowed()
        }
        other => ctx.rejected(other, &parsed.response.client_data_json.0),
    }
}
