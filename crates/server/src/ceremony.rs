//! Begin and finish of the two WebAuthn ceremonies: load what is stored, call the sans-IO
//! verifier, store the outcome. Both API flavours (backend-mediated with the secret key,
//! browser-direct with the publishable key) and the compatibility dialects call these.
//!
//! Rules kept here, whatever the route:
//! - a session is taken (deleted) before anything else at finish, so it is used once, whether
//!   the finish succeeds or fails;
//! - a failed finish changes nothing stored but the user's failure count and the audit trail;
//! - the tenant's policy decides on the verified facts, after verification and before anything
//!   is stored; a denial (403 `policy_denied`) stores nothing and is audited as that outcome,
//!   but does not count against the user's failure budget (the user proved possession; the
//!   tenant's rules refused);
//! - a user with `max_failed_attempts` consecutive failures is refused (`rate_limited`) until a
//!   success or an operator reset.

use std::net::IpAddr;
use std::time::Instant;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use passkeyd_webauthn::json::{
    base64url_decode, base64url_encode, AttestationConveyancePreference, AuthenticatorAttachment,
    CreationOptionsJson, PublicKeyCredentialDescriptor, PublicKeyCredentialHint,
    RelyingPartyEntity, RequestOptionsJson, ResidentKeyRequirement, UserEntity,
    UserVerificationRequirement,
};
use passkeyd_webauthn::{
    verify_authentication, verify_registration, AttestationPolicy, AuthenticationResponseJson,
    ExpectedAuthentication, ExpectedRegistration, RegistrationResponseJson, RelyingParty,
    StoredCredential, UserIdentification, VerifyError,
};
use serde::{Deserialize, Serialize};

use crate::api_keys::random_bytes;
use crate::audit::{self, Audit};
use crate::error::ApiError;
use crate::policy::{self, Action, Principal, Resource};
use crate::settings::{stronger_attestation, stronger_uv, TenantSettings};
use crate::state::AppState;
use crate::store::{
    Credential, CredentialUse, NewRegistration, Session, SessionKind, StoreError, Tenant, User,
};
use crate::token_keys::{self, ResultToken};

/// The longest user name or display name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The longest app user ID accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 128;

/// Who runs a ceremony and from where: for checks, the audit trail and the metrics.
#[derive(Clone, Debug)]
pub struct Context {
    /// The tenant.
    pub tenant: Tenant,
    /// Its settings.
    pub settings: TenantSettings,
    /// Whether the caller holds the secret key (the app's backend).
    pub secret: bool,
    /// The audit trail's name for the caller.
    pub actor: String,
    /// The client's IP address.
    pub ip: Option<IpAddr>,
    /// The request ID.
    pub request_id: Option<String>,
    /// How the finish will name the session: by a random token handed out at begin, or by the
    /// challenge the credential signed (for dialects whose finish carries only the credential;
    /// see [`challenge_session`]).
    pub sessions: SessionKeys,
    /// A finish in this context must be for this user (dialects whose finish names the user).
    pub bound_user: Option<String>,
}

/// How a begun ceremony's session is named at its finish.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionKeys {
    /// A random token, given to the caller at begin beside the options.
    #[default]
    RandomToken,
    /// The challenge itself (base64url): the finish finds the session by what the credential
    /// signed, so no token travels from begin to finish and any node sharing the store can
    /// finish. The stored ID is still a hash, as for tokens.
    Challenge,
}

impl Context {
    fn audit(&self, action: &'static str) -> Audit {
        Audit::new(
            &self.tenant.id,
            &self.actor,
            action,
            self.ip,
            self.request_id.clone(),
        )
    }

    fn relying_party(&self) -> RelyingParty {
        RelyingParty::new(self.tenant.rp_id.clone(), self.tenant.origins.clone())
    }
}

/// Options a begin request may ask for; applied only as [`TenantSettings`] allows.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationOverrides {
    /// `platform` or `cross-platform`; must equal the tenant's when it sets one.
    #[schema(value_type = Option<String>)]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// Can only strengthen the tenant's (discouraged < preferred < required).
    #[schema(value_type = Option<String>)]
    pub resident_key: Option<ResidentKeyRequirement>,
    /// Can only strengthen the tenant's.
    #[schema(value_type = Option<String>)]
    pub user_verification: Option<UserVerificationRequirement>,
    /// Can only strengthen the tenant's (none < indirect < direct < enterprise).
    #[schema(value_type = Option<String>)]
    pub attestation: Option<AttestationConveyancePreference>,
    /// Replace the tenant's hints.
    #[schema(value_type = Option<Vec<String>>)]
    pub hints: Option<Vec<PublicKeyCredentialHint>>,
}

/// Options an authentication begin may ask for.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationOverrides {
    /// Can only strengthen the tenant's.
    #[schema(value_type = Option<String>)]
    pub user_verification: Option<UserVerificationRequirement>,
    /// Replace the tenant's hints.
    #[schema(value_type = Option<Vec<String>>)]
    pub hints: Option<Vec<PublicKeyCredentialHint>>,
}

/// Who is registering.
#[derive(Clone, Debug)]
pub struct Registrant {
    /// The app's user ID; generated when absent.
    pub user_id: Option<String>,
    /// The user name; required for a new user, ignored for an existing one.
    pub user_name: Option<String>,
    /// The display name (defaults to the user name).
    pub display_name: Option<String>,
    /// Whether an existing user (found by ID, or by user name when no ID is given) may get
    /// another credential. False for open sign-up: a stranger with the publishable key must not
    /// add a credential to someone else's account.
    pub may_extend_existing: bool,
}

/// A begun ceremony: the session token for the finish, and the options for the browser.
#[derive(Debug)]
pub struct Begun<O> {
    /// The session token (the client passes it back at finish).
    pub session: String,
    /// The L3 JSON options.
    pub options: O,
}

/// What the finish checks a registration against.
#[derive(Debug, Serialize, Deserialize)]
struct RegistrationState {
    challenge: String,
    user_id: String,
    user_handle: String,
    user_name: String,
    display_name: String,
    user_verification: UserVerificationRequirement,
    algorithms: Vec<i64>,
    exclude: Vec<String>,
    /// Whether the user existed at begin (absent in sessions stored by older versions).
    #[serde(default)]
    existing_user: bool,
}

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
}

/// A completed registration.
#[derive(Debug)]
pub struct Registered {
    /// The user (new or existing).
    pub user: User,
    /// The stored credential.
    pub credential: Credential,
    /// The authenticator's name, from the AAGUID list or the MDS.
    pub authenticator_name: Option<String>,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// The signed result token.
    pub token: ResultToken,
    /// The `@notice` annotations of the tenant policies that permitted the registration.
    pub notices: Vec<String>,
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

/// Refuses an empty, oversized or control-character name.
pub fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(format!(
            "{field} must be 1 to {max} bytes of printable text"
        )));
    }
    Ok(())
}

fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    random_bytes::<N>(&SystemRandom::new()).map_err(ApiError::internal)
}

/// A new session token and the ID it is stored under.
fn new_session_token(keys: SessionKeys, challenge: &[u8]) -> Result<(String, [u8; 32]), ApiError> {
    let token = match keys {
        SessionKeys::RandomToken => base64url_encode(&random::<32>()?),
        SessionKeys::Challenge => base64url_encode(challenge),
    };
    let id = session_id(&token);
    Ok((token, id))
}

/// The session token of a [`SessionKeys::Challenge`] ceremony, read from the credential JSON of
/// its finish (`response.clientDataJSON.challenge`); `None` when the JSON has none, which the
/// finish answers as an unknown session. The signature check later proves the challenge.
pub fn challenge_session(credential_json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Credential {
        response: Response,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Response {
        #[serde(rename = "clientDataJSON")]
        client_data_json: String,
    }
    #[derive(Deserialize)]
    struct ClientData {
        challenge: String,
    }
    let credential: Credential = serde_json::from_slice(credential_json).ok()?;
    let client_data = base64url_decode(&credential.response.client_data_json).ok()?;
    let client_data: ClientData = serde_json::from_slice(&client_data).ok()?;
    // Re-encoded, so the token is canonical whatever padding the client used.
    let challenge = base64url_decode(&client_data.challenge).ok()?;
    Some(base64url_encode(&challenge))
}

/// The stored ID of a session token: its SHA-256, so a database reader cannot finish
/// someone's ceremony.
pub fn session_id(token: &str) -> [u8; 32] {
    let mut id = [0; 32];
    id.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    id
}

fn state_json(state: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(state).map_err(ApiError::internal)
}

fn decode_stored(text: &str) -> Result<Vec<u8>, ApiError> {
    base64url_decode(text).map_err(ApiError::internal)
}

/// Refuses a user who has used up their failure budget.
fn check_budget(user: &User, settings: &TenantSettings) -> Result<(), ApiError> {
    if user.failed_attempts >= settings.max_failed_attempts {
        return Err(ApiError::RateLimited {
            // The lock lifts on an operator reset, not with time; a day is an honest hint.
            retry_after_secs: 86_400,
        });
    }
    Ok(())
}

/// Begins a registration.
pub async fn begin_registration(
    state: &AppState,
    ctx: &Context,
    registrant: Registrant,
    overrides: RegistrationOverrides,
) -> Result<Begun<CreationOptionsJson>, ApiError> {
    let settings = &ctx.settings;
    if let Some(name) = &registrant.user_name {
        check_name("userName", name, MAX_NAME_BYTES)?;
    }
    if let Some(display) = &registrant.display_name {
        check_name("userDisplayName", display, MAX_NAME_BYTES)?;
    }
    if let Some(id) = &registrant.user_id {
        check_name("userId", id, MAX_USER_ID_BYTES)?;
    }
    let tenant = &ctx.tenant.id;
    let existing = match (&registrant.user_id, &registrant.user_name) {
        (Some(id), _) => optional(state.store.user(tenant, id).await)?,
        (None, Some(name)) => optional(state.store.user_by_name(tenant, name).await)?,
        (None, None) => None,
    };
    if let Some(user) = &existing {
        if !registrant.may_extend_existing {
            return Err(ApiError::Conflict(
                "user_exists",
                "a user with this name exists; sign in to add a passkey",
            ));
        }
        check_budget(user, settings)?;
    }
    let existing_user = existing.is_some();
    let (user_id, user_handle, user_name, display_name, exclude) = match existing {
        Some(user) => {
            let exclude = state
                .store
                .credentials(tenant, &user.id)
                .await?
                .into_iter()
                .map(|c| PublicKeyCredentialDescriptor::new(c.id, c.transports))
                .collect();
            (
                user.id,
                user.user_handle,
                user.name,
                user.display_name,
                exclude,
            )
        }
        None => {
            let Some(name) = registrant.user_name else {
                return Err(ApiError::InvalidRequest(
                    "userName is required for a new user".to_owned(),
                ));
            };
            let user_id = match registrant.user_id {
                Some(id) => id,
                None => format!("u_{}", base64url_encode(&random::<16>()?)),
            };
            let display = registrant.display_name.unwrap_or_else(|| name.clone());
            (user_id, random::<32>()?.to_vec(), name, display, Vec::new())
        }
    };

    let challenge = random::<32>()?.to_vec();
    let mut options = CreationOptionsJson::new(
        RelyingPartyEntity {
            id: ctx.tenant.rp_id.clone(),
            name: ctx.tenant.rp_name.clone(),
        },
        UserEntity {
            id: passkeyd_webauthn::json::Base64UrlBytes(user_handle.clone()),
            name: user_name.clone(),
            display_name: display_name.clone(),
        },
        challenge.clone(),
    );
    options.pub_key_cred_params = settings
        .cose_algorithms()
        .iter()
        .map(
            |alg| passkeyd_webauthn::json::PublicKeyCredentialParameters {
                type_: passkeyd_webauthn::json::PublicKeyType::PublicKey,
                alg: alg.to_i64(),
            },
        )
        .collect();
    options.timeout = Some(settings.timeout_ms);
    options.exclude_credentials = exclude;
    options.hints.clone_from(&settings.hints);
    options.attestation = settings.attestation;
    options.authenticator_selection.authenticator_attachment = settings.authenticator_attachment;
    options.authenticator_selection.user_verification = settings.user_verification;
    let mut resident_key = settings.resident_key;
    apply_registration_overrides(&mut options, &mut resident_key, settings, overrides)?;
    let options = options.with_resident_key(resident_key);

    let session = RegistrationState {
        challenge: base64url_encode(&challenge),
        user_id,
        user_handle: base64url_encode(&user_handle),
        user_name,
        display_name,
        user_verification: options.authenticator_selection.user_verification,
        algorithms: options.pub_key_cred_params.iter().map(|p| p.alg).collect(),
        exclude: options
            .exclude_credentials
            .iter()
            .map(|c| base64url_encode(&c.id.0))
            .collect(),
        existing_user,
    };
    let token = store_session(state, ctx, SessionKind::Registration, &session, &challenge).await?;
    Ok(Begun {
        session: token,
        options,
    })
}

fn apply_registration_overrides(
    options: &mut CreationOptionsJson,
    resident_key: &mut ResidentKeyRequirement,
    settings: &TenantSettings,
    overrides: RegistrationOverrides,
) -> Result<(), ApiError> {
    let any = overrides.authenticator_attachment.is_some()
        || overrides.resident_key.is_some()
        || overrides.user_verification.is_some()
        || overrides.attestation.is_some()
        || overrides.hints.is_some();
    if !any {
        return Ok(());
    }
    if !settings.allow_request_overrides {
        return Err(ApiError::Forbidden(
            "this tenant does not allow per-request options",
        ));
    }
    if let Some(attachment) = overrides.authenticator_attachment {
        match settings.authenticator_attachment {
            Some(fixed) if fixed != attachment => {
                return Err(ApiError::Forbidden(
                    "the tenant fixes the authenticator attachment",
                ))
            }
            _ => options.authenticator_selection.authenticator_attachment = Some(attachment),
        }
    }
    if let Some(rk) = overrides.resident_key {
        let rank = |rk| match rk {
            ResidentKeyRequirement::Discouraged => 0,
            ResidentKeyRequirement::Preferred => 1,
            ResidentKeyRequirement::Required => 2,
        };
        if rank(rk) > rank(*resident_key) {
            *resident_key = rk;
        }
    }
    if let Some(uv) = overrides.user_verification {
        let selection = &mut options.authenticator_selection;
        selection.user_verification = stronger_uv(selection.user_verification, uv);
    }
    if let Some(attestation) = overrides.attestation {
        options.attestation = stronger_attestation(options.attestation, attestation);
    }
    if let Some(hints) = overrides.hints {
        options.hints = hints;
    }
    Ok(())
}

async fn store_session(
    state: &AppState,
    ctx: &Context,
    kind: SessionKind,
    session: &impl Serialize,
    challenge: &[u8],
) -> Result<String, ApiError> {
    let (token, id) = new_session_token(ctx.sessions, challenge)?;
    let now = state.clock.now().0;
    let expires_at = now.saturating_add(i64::from(ctx.settings.timeout_ms.div_ceil(1000)));
    state
        .store
        .insert_session(
            &ctx.tenant.id,
            &Session {
                id,
                kind,
                state: state_json(session)?,
                expires_at,
            },
        )
        .await?;
    Ok(token)
}

/// Takes the session (single use) and checks its kind and expiry.
async fn take_session(
    state: &AppState,
    ctx: &Context,
    token: &str,
    kind: SessionKind,
) -> Result<String, ApiError> {
    let session = match state
        .store
        .take_session(&ctx.tenant.id, &session_id(token))
        .await
    {
        Ok(session) => session,
        Err(StoreError::NotFound) => {
            return Err(ApiError::BadRequest(
                "session_not_found",
                "unknown or already used session; begin again",
            ))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    if session.kind != kind {
        return Err(ApiError::InvalidRequest(format!(
            "this session belongs to a {} ceremony",
            session.kind.as_str()
        )));
    }
    if session.expires_at <= state.clock.now().0 {
        return Err(ApiError::SessionExpired);
    }
    Ok(session.state)
}

/// Refuses a finish for another user than the context is bound to (the session is used up).
fn check_bound_user(ctx: &Context, session_user: Option<&str>) -> Result<(), ApiError> {
    match &ctx.bound_user {
        Some(bound) if session_user != Some(bound.as_str()) => Err(ApiError::InvalidRequest(
            "this ceremony was begun for another user".to_owned(),
        )),
        _ => Ok(()),
    }
}

fn parse_state<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(ApiError::internal)
}

/// Finishes a registration: takes the session, verifies, asks the tenant's policy (action
/// `Register`, the caller named by `ctx.actor` as principal), stores.
pub async fn finish_registration(
    state: &AppState,
    ctx: &Context,
    session_token: &str,
    response: &[u8],
    friendly_name: Option<String>,
) -> Result<Registered, ApiError> {
    let principal = Principal::from_actor(&ctx.actor);
    finish_registration_as(
        state,
        ctx,
        &principal,
        Action::Register,
        session_token,
        response,
        friendly_name,
    )
    .await
}

/// [`finish_registration`], with the policy decision asked as `action` by `principal`: for
/// callers that know more about the caller than its actor name (a user token's role and
/// domain), or that enrol a second factor ([`Action::EnrolMfa`]).
pub async fn finish_registration_as(
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    action: Action,
    session_token: &str,
    response: &[u8],
    friendly_name: Option<String>,
) -> Result<Registered, ApiError> {
    let started = Instant::now();
    let mut audit = ctx.audit("registration.finish");
    let result = finish_registration_inner(
        state,
        ctx,
        (principal, action),
        session_token,
        response,
        friendly_name,
        &mut audit,
    )
    .await;
    policy::note_denial(&mut audit, result.as_ref().err());
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) => e.code(),
    };
    crate::metrics::ceremony(
        ctx.tenant.id.as_str(),
        "registration",
        outcome,
        started.elapsed(),
    );
    audit.finish(state, outcome).await;
    result
}

/// `platform` or `cross-platform` as the client reported it; anything else is no fact.
fn attachment_fact(reported: Option<&str>) -> Option<String> {
    reported
        .filter(|a| matches!(*a, "platform" | "cross-platform"))
        .map(str::to_owned)
}

async fn finish_registration_inner(
    state: &AppState,
    ctx: &Context,
    (principal, action): (&Principal, Action),
    session_token: &str,
    response: &[u8],
    friendly_name: Option<String>,
    audit: &mut Audit,
) -> Result<Registered, ApiError> {
    if let Some(name) = &friendly_name {
        check_name("friendlyName", name, MAX_NAME_BYTES)?;
    }
    let session: RegistrationState =
        parse_state(&take_session(state, ctx, session_token, SessionKind::Registration).await?)?;
    audit.subject(format!("user:{}", session.user_id));
    check_bound_user(ctx, Some(&session.user_id))?;
    let tenant = &ctx.tenant.id;
    let existing = optional(state.store.user(tenant, &session.user_id).await)?;
    match &existing {
        // Deleted since the begin: a finish must not bring the user back.
        None if session.existing_user => return Err(ApiError::NotFound),
        // Created (or re-created) by another request since the begin: the authenticator was
        // given another user handle than the user's, so the passkey could never sign in.
        Some(user) if user.user_handle != decode_stored(&session.user_handle)? => {
            return Err(ApiError::Conflict(
                "user_exists",
                "the user was created by another request meanwhile; begin again",
            ))
        }
        Some(user) => check_budget(user, &ctx.settings)?,
        None => {}
    }

    let result = RegistrationResponseJson::from_json(response).and_then(|parsed| {
        Ok((
            verify_registration_response(state, ctx, &session, &parsed)?,
            parsed,
        ))
    });
    let (verified, parsed) = match result {
        Ok(verified) => verified,
        Err(e) => {
            if existing.is_some() {
                count_failure(state, ctx, &session.user_id).await;
            }
            return Err(e.into());
        }
    };

    let now = state.clock.now().0;
    let user_existed = existing.is_some();
    let user = match existing {
        Some(user) => user,
        None => User {
            id: session.user_id.clone(),
            user_handle: decode_stored(&session.user_handle)?,
            name: session.user_name.clone(),
            display_name: session.display_name.clone(),
            failed_attempts: 0,
            created_at: now,
        },
    };
    let credential = Credential {
        id: verified.credential_id.clone(),
        user_id: user.id.clone(),
        public_key: verified.public_key.clone(),
        algorithm: verified.algorithm.to_i64(),
        sign_count: verified.sign_count,
        uv_initialized: verified.user_verified(),
        backup_eligible: verified.backup_eligible(),
        backup_state: verified.backup_state(),
        transports: verified.transports.clone(),
        aaguid: verified.aaguid.0.to_vec(),
        attestation_format: verified.attestation.format.as_str().to_owned(),
        attestation_type: verified
            .attestation
            .attestation_type
            .as_str()
            .to_ascii_lowercase(),
        attestation_object: parsed.response.attestation_object.0,
        friendly_name,
        created_at: now,
        last_used_at: None,
    };
    audit.subject(format!(
        "user:{} credential:{}",
        user.id,
        base64url_encode(&credential.id)
    ));
    audit.detail("aaguid", audit::aaguid_text(&credential.aaguid));
    audit.detail("attestation_type", credential.attestation_type.clone());

    // The tenant's policy, on the verified facts, before anything is stored.
    let notices = match policy::tenant_policies(state, tenant).await? {
        Some(policies) => {
            let count = if user_existed {
                state.store.credentials(tenant, &user.id).await?.len()
            } else {
                0
            };
            let resource = Resource {
                authenticator_attachment: attachment_fact(
                    parsed.authenticator_attachment.as_deref(),
                ),
                attestation_trusted: Some(verified.attestation.trusted),
                ..Resource::for_credential(&user, &credential, count)
            };
            policies.decide(principal, action, &resource)?
        }
        None => Vec::new(),
    };

    let registration = NewRegistration { user, credential };
    match state.store.insert_registration(tenant, &registration).await {
        Ok(()) => {}
        Err(StoreError::Conflict("credential_exists")) => {
            return Err(ApiError::Conflict(
                "credential_exists",
                "this credential is already registered",
            ))
        }
        Err(StoreError::Conflict("user_name_taken")) => {
            return Err(ApiError::Conflict(
                "user_exists",
                "another user has this user name",
            ))
        }
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "user_exists",
                "the user was created by another request meanwhile; begin again",
            ))
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    let NewRegistration { user, credential } = registration;
    let user_verified = verified.user_verified();
    let token = token_keys::mint(
        state,
        ctx,
        token_keys::Purpose::Registration,
        &user,
        Some(&credential.id),
        user_verified,
    )
    .await?;
    Ok(Registered {
        authenticator_name: state.authenticator_name(&verified.aaguid),
        user,
        credential,
        user_verified,
        token,
        notices,
    })
}

fn verify_registration_response(
    state: &AppState,
    ctx: &Context,
    session: &RegistrationState,
    response: &RegistrationResponseJson,
) -> Result<passkeyd_webauthn::VerifiedRegistration, VerifyError> {
    let rp = ctx.relying_party();
    let challenge = base64url_decode(&session.challenge).unwrap_or_default();
    let algorithms: Vec<_> = session
        .algorithms
        .iter()
        .filter_map(|a| passkeyd_webauthn::CoseAlgorithm::from_i64(*a))
        .collect();
    let exclude: Vec<Vec<u8>> = session
        .exclude
        .iter()
        .filter_map(|c| base64url_decode(c).ok())
        .collect();
    let exclude: Vec<&[u8]> = exclude.iter().map(Vec::as_slice).collect();
    let policy = attestation_policy(state, &ctx.settings);
    let mut expected = ExpectedRegistration::new(&rp, &challenge, &policy);
    expected.user_verification = session.user_verification;
    expected.algorithms = &algorithms;
    expected.exclude_credentials = &exclude;
    verify_registration(response, &expected, state.clock.now())
}

fn attestation_policy(state: &AppState, settings: &TenantSettings) -> AttestationPolicy {
    let rules = settings.attestation_policy;
    AttestationPolicy {
        allow_none: rules.allow_none,
        allow_self: rules.allow_self,
        require_trusted_chain: rules.require_trusted,
        use_bundled_roots: true,
        metadata: state.metadata.clone(),
        ..AttestationPolicy::default()
    }
}

async fn count_failure(state: &AppState, ctx: &Context, user_id: &str) {
    if let Err(e) = state.store.record_failure(&ctx.tenant.id, user_id).await {
        tracing::warn!(error = %e, "cannot count a failed ceremony");
    }
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
    let tenant = &ctx.tenant.id;
    let found = match &hint {
        SignInHint::None => None,
        SignInHint::UserId(id) => {
            check_name("userId", id, MAX_USER_ID_BYTES)?;
            Some(optional(state.store.user(tenant, id).await)?)
        }
        SignInHint::UserName(name) => {
            check_name("userName", name, MAX_NAME_BYTES)?;
            Some(optional(state.store.user_by_name(tenant, name).await)?)
        }
    };
    let mut session = AuthenticationState {
        challenge: String::new(),
        user_verification: ctx.settings.user_verification,
        user_id: None,
        user_name: None,
        allow: Vec::new(),
    };
    let challenge = random::<32>()?.to_vec();
    let mut options = RequestOptionsJson::new(ctx.tenant.rp_id.clone(), challenge.clone());
    match found {
        Some(Some(user)) => {
            check_budget(&user, &ctx.settings)?;
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
            // does not tell who has an account (SECURITY.md case 52); the finish will fail.
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
    let started = Instant::now();
    let mut audit = ctx.audit("authentication.finish");
    let result = finish_authentication_inner(state, ctx, session_token, response, &mut audit).await;
    policy::note_denial(&mut audit, result.as_ref().err());
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) => e.code(),
    };
    crate::metrics::ceremony(
        ctx.tenant.id.as_str(),
        "authentication",
        outcome,
        started.elapsed(),
    );
    audit.finish(state, outcome).await;
    result
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
    check_bound_user(ctx, session.user_id.as_deref())?;
    let tenant = &ctx.tenant.id;
    let parsed = match AuthenticationResponseJson::from_json(response) {
        Ok(parsed) => parsed,
        Err(e) => {
            if let Some(user_id) = &session.user_id {
                count_failure(state, ctx, user_id).await;
            }
            return Err(e.into());
        }
    };
    let credential = match state.store.credential(tenant, &parsed.raw_id.0).await {
        Ok(credential) => credential,
        Err(StoreError::NotFound) => {
            if let Some(user_id) = &session.user_id {
                count_failure(state, ctx, user_id).await;
            }
            return Err(ApiError::BadRequest(
                "credential_unknown",
                "this credential is not registered",
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    audit.subject(format!(
        "user:{} credential:{}",
        credential.user_id,
        base64url_encode(&credential.id)
    ));
    let user = state.store.user(tenant, &credential.user_id).await?;
    check_budget(&user, &ctx.settings)?;
    if let Some(name) = &session.user_name {
        if &user.name != name && &user.id != name {
            count_failure(state, ctx, &user.id).await;
            return Err(VerifyError::from(
                passkeyd_webauthn::error::CeremonyError::CredentialNotAllowed,
            )
            .into());
        }
    }

    let verified = {
        let rp = ctx.relying_party();
        let challenge = base64url_decode(&session.challenge).unwrap_or_default();
        let allow: Vec<Vec<u8>> = session
            .allow
            .iter()
            .filter_map(|c| base64url_decode(c).ok())
            .collect();
        let allow: Vec<&[u8]> = allow.iter().map(Vec::as_slice).collect();
        let identification = match &session.user_id {
            // The credential of another user than the one identified at begin must not
            // sign in as them: the verifier compares the owner's handle.
            Some(expected) => {
                if expected != &user.id {
                    count_failure(state, ctx, expected).await;
                    return Err(VerifyError::from(
                        passkeyd_webauthn::error::CeremonyError::CredentialNotAllowed,
                    )
                    .into());
                }
                UserIdentification::Identified {
                    user_handle: &user.user_handle,
                    allow_credentials: &allow,
                }
            }
            None => UserIdentification::Discoverable,
        };
        let mut expected = ExpectedAuthentication::new(&rp, &challenge, identification);
        expected.user_verification = session.user_verification;
        expected.counter_policy = ctx.settings.counter_policy();
        let stored = StoredCredential {
            credential_id: &credential.id,
            public_key: &credential.public_key,
            sign_count: credential.sign_count,
            backup_eligible: credential.backup_eligible,
            user_handle: &user.user_handle,
        };
        verify_authentication(&parsed, &expected, &stored)
    };
    let verified = match verified {
        Ok(verified) => verified,
        Err(e) => {
            count_failure(state, ctx, &user.id).await;
            return Err(e.into());
        }
    };
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

    let now = state.clock.now().0;
    let update = CredentialUse {
        expected_sign_count: credential.sign_count,
        sign_count: verified.sign_count,
        backup_eligible: verified.backup_eligible(),
        backup_state: verified.backup_state(),
        at: now,
        reset_failures: user.failed_attempts > 0,
    };
    match state
        .store
        .record_credential_use(tenant, &credential.id, &update)
        .await
    {
        Ok(()) => {}
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
    let user_verified = verified.user_verified();
    let token = token_keys::mint(
        state,
        ctx,
        token_keys::Purpose::Authentication,
        &user,
        Some(&credential.id),
        user_verified,
    )
    .await?;
    Ok(Authenticated {
        user,
        credential,
        user_verified,
        counter_regressed: verified.counter_regressed,
        token,
        notices,
    })
}

/// The `allowCredentials` a public route shows for a name with no passkeys: one credential ID
/// derived from the name under the master key, so it is the same on every request and every
/// node (a list that changed between requests would itself tell the name is unknown), yet
/// nobody without the master key can tell it from a real one. Real users keep their real list,
/// which security keys without discoverable credentials need.
fn decoy_credentials(
    state: &AppState,
    ctx: &Context,
    name: &str,
) -> Vec<PublicKeyCredentialDescriptor> {
    let mut message = ctx.tenant.id.as_str().as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(name.as_bytes());
    let id = state
        .master_key
        .mac("passkeyd decoy credential v1", &message);
    vec![PublicKeyCredentialDescriptor::new(
        id.to_vec(),
        vec!["hybrid".to_owned(), "internal".to_owned()],
    )]
}

/// `Ok(None)` for a missing row.
fn optional<T>(result: Result<T, StoreError>) -> Result<Option<T>, ApiError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(ApiError::internal(e)),
    }
}
