//! Begin and finish of the two WebAuthn ceremonies: load what is stored, call the sans-IO
//! verifier, store the outcome. Both API flavours (backend-mediated with the secret key,
//! browser-direct with the publishable key) and the compatibility dialects call these.
//!
//! Rules kept here, whatever the route (docs/security.md says them for operators):
//! - a session is taken (deleted) before anything else at finish, so it is used once, whether
//!   the finish succeeds or fails; it is finished only by the kind of caller that began it
//!   (the secret key, a publishable key, the user's own token, a dialect), else refused;
//! - a failed finish changes nothing stored but the audit trail. It never counts against the
//!   user it names: a passkey cannot be guessed, and a count would let a stranger lock anyone
//!   out. A public caller's failures are throttled per client address and tenant instead
//!   ([`crate::rate_limit`]);
//! - a public caller's answers do not tell whether a name exists until a valid signature of
//!   that user's credential is shown: a named sign-in for an unknown name fails the same way,
//!   at the same step and with the same work, as one with a wrong signature;
//! - the tenant's policy decides on the verified facts, after verification and before anything
//!   is stored; a denial (403 `policy_denied`) stores nothing and is audited as that outcome;
//! - user verification is required at sign-in when the session or the tenant's current setting
//!   requires it, and for a credential registered with it unless the sign-in discouraged it.

use std::net::IpAddr;
use std::time::Instant;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use passkeyd_webauthn::error::CeremonyError;
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
use crate::names::clean_name;
pub use crate::names::{check_name, MAX_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::policy::{self, Action, Principal, Resource};
use crate::settings::{stronger_attestation, stronger_uv, TenantSettings};
use crate::state::AppState;
use crate::store::{
    Credential, CredentialUse, NewRegistration, Session, SessionKind, StoreError, Tenant, User,
};
use crate::token_keys::{self, ResultToken};

/// The transports a credential may be stored with (WebAuthn L3 `AuthenticatorTransport`);
/// anything else a client reports is dropped, as the spec asks of unknown values.
const KNOWN_TRANSPORTS: &[&str] = &["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

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

    /// The kind of caller, as a session remembers who began it: `secret`, `publishable`,
    /// `user:<id>` (a user's own token, from /me or a dialect that takes one) or `dialect:<name>`
    /// (a dialect's own unauthenticated routes).
    fn caller_kind(&self) -> String {
        if self.actor.starts_with("user:") {
            self.actor.clone()
        } else if self.actor.starts_with("api_key:") {
            if self.secret { "secret" } else { "publishable" }.to_owned()
        } else {
            format!("dialect:{}", self.actor)
        }
    }

    /// Whether failures are throttled per client address: a public caller with an address.
    /// The secret key is the app's backend, one address for all of its users.
    fn throttled_ip(&self) -> Option<IpAddr> {
        self.ip.filter(|_| !self.secret)
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
    /// [`Context::caller_kind`] of the begin; empty in sessions of older versions, which no
    /// caller can finish.
    #[serde(default)]
    begun_by: String,
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
    /// [`Context::caller_kind`] of the begin (see [`RegistrationState::begun_by`]).
    #[serde(default)]
    begun_by: String,
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

/// Refuses a finish by another kind of caller than the one that began the ceremony (the
/// session is used up by then).
fn check_begun_by(ctx: &Context, begun_by: &str) -> Result<(), ApiError> {
    if begun_by == ctx.caller_kind() {
        return Ok(());
    }
    Err(ApiError::BadRequest(
        "session_caller_mismatch",
        "this ceremony was begun by another kind of caller (secret key, publishable key, user \
         token or dialect); finish it where it was begun",
    ))
}

/// Refuses a public caller that has failed too many finishes lately (per address and tenant).
fn check_failure_throttle(state: &AppState, ctx: &Context) -> Result<(), ApiError> {
    match ctx.throttled_ip() {
        Some(ip) => state
            .rate_limits
            .check_failures(ctx.tenant.id.as_str(), ip)
            .map_err(|e| ApiError::RateLimited {
                retry_after_secs: e.retry_after_secs,
            }),
        None => Ok(()),
    }
}

/// Counts a failed finish of a public caller against its address (not against any user).
fn note_failure(state: &AppState, ctx: &Context, error: &ApiError) {
    if let (Some(ip), false) = (ctx.throttled_ip(), error.code() == "rate_limited") {
        state.rate_limits.record_failure(ctx.tenant.id.as_str(), ip);
    }
}

/// The credentials one user may hold, as the store checks it at registration.
fn credential_limit() -> ApiError {
    ApiError::Conflict(
        "credential_limit",
        "this user holds as many credentials as the tenant allows; delete one first",
    )
}

/// The transports to store: known values only, each once, in a stable order.
fn known_transports(reported: &[String]) -> Vec<String> {
    KNOWN_TRANSPORTS
        .iter()
        .filter(|known| reported.iter().any(|t| t == *known))
        .map(|known| (*known).to_owned())
        .collect()
}

/// Begins a registration.
pub async fn begin_registration(
    state: &AppState,
    ctx: &Context,
    registrant: Registrant,
    overrides: RegistrationOverrides,
) -> Result<Begun<CreationOptionsJson>, ApiError> {
    check_failure_throttle(state, ctx)?;
    let settings = &ctx.settings;
    let mut registrant = registrant;
    if let Some(name) = &registrant.user_name {
        registrant.user_name = Some(clean_name("userName", name, MAX_NAME_BYTES)?);
    }
    if let Some(display) = &registrant.display_name {
        registrant.display_name = Some(clean_name("userDisplayName", display, MAX_NAME_BYTES)?);
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
    // Open sign-up must not tell who has an account: a taken name begins as a new user would
    // (a fresh ID and user handle), and only the finish, after a valid attestation, answers
    // 409 `user_exists` when the store refuses the name.
    let existing = existing.filter(|_| registrant.may_extend_existing);
    let existing_user = existing.is_some();
    let (user_id, user_handle, user_name, display_name, exclude) = match existing {
        Some(user) => {
            let held = state.store.credentials(tenant, &user.id).await?;
            if held.len() >= settings.max_credentials_per_user as usize {
                return Err(credential_limit());
            }
            let exclude = held
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
        begun_by: ctx.caller_kind(),
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
    check_failure_throttle(state, ctx)?;
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
        Err(e) => {
            note_failure(state, ctx, e);
            e.code()
        }
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
    let friendly_name = friendly_name
        .map(|name| clean_name("friendlyName", &name, MAX_NAME_BYTES))
        .transpose()?;
    let session: RegistrationState =
        parse_state(&take_session(state, ctx, session_token, SessionKind::Registration).await?)?;
    audit.subject(format!("user:{}", session.user_id));
    check_bound_user(ctx, Some(&session.user_id))?;
    check_begun_by(ctx, &session.begun_by)?;
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
        Some(_) | None => {}
    }

    let result = RegistrationResponseJson::from_json(response).and_then(|parsed| {
        Ok((
            verify_registration_response(state, ctx, &session, &parsed)?,
            parsed,
        ))
    });
    let (verified, parsed) = result?;

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
            last_failed_at: None,
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
        transports: known_transports(&verified.transports),
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

    let registration = NewRegistration {
        user,
        credential,
        max_credentials: Some(ctx.settings.max_credentials_per_user),
    };
    match state.store.insert_registration(tenant, &registration).await {
        Ok(()) => {}
        Err(StoreError::Conflict("credential_exists")) => {
            return Err(ApiError::Conflict(
                "credential_exists",
                "this credential is already registered",
            ))
        }
        Err(StoreError::Conflict("credential_limit")) => return Err(credential_limit()),
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
    let NewRegistration {
        user, credential, ..
    } = registration;
    let user_verified = verified.user_verified();
    let token = token_keys::mint(
        state,
        (&ctx.tenant, &ctx.settings),
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
            // does not tell who has an account (docs/security.md, "Enumeration"); the finish will fail.
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
    check_failure_throttle(state, ctx)?;
    let mut audit = ctx.audit("authentication.finish");
    let result = finish_authentication_inner(state, ctx, session_token, response, &mut audit).await;
    policy::note_denial(&mut audit, result.as_ref().err());
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) => {
            note_failure(state, ctx, e);
            e.code()
        }
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
        let handle = decoy_user_handle(state, ctx, &session);
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
        return Err(hidden_name_error(error));
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
        Err(e) if hide_names => return Err(hidden_name_error(e)),
        Err(e) => return Err(e.into()),
    };
    // A credential that verified its user at registration must do so again (docs/security.md,
    // "User verification"), unless this sign-in asked for no verification. Checked after the signature, so the
    // answer tells nothing about a credential to someone who cannot sign with it.
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
        (&ctx.tenant, &ctx.settings),
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

fn not_allowed() -> ApiError {
    VerifyError::from(CeremonyError::CredentialNotAllowed).into()
}

/// The answer of a public named sign-in that failed on something only the named user's
/// credential decides (whether it exists and is theirs, its user handle, its backup
/// eligibility, the signature): one answer for all, so it cannot tell a real name from a decoy.
/// Failures of the request itself (client data, RP ID, flags) keep their codes: they come out
/// the same for every name.
fn hidden_name_error(error: VerifyError) -> ApiError {
    use passkeyd_webauthn::error::AuthenticatorDataError;
    match error {
        VerifyError::Signature
        | VerifyError::Ceremony(
            CeremonyError::CredentialNotAllowed | CeremonyError::UserHandleMismatch,
        )
        | VerifyError::AuthenticatorData(AuthenticatorDataError::BackupEligibilityChanged) => {
            not_allowed()
        }
        other => other.into(),
    }
}

/// The backup-eligibility flag the response claims, so the stand-in credential agrees with it
/// and the decoy path never stops where a real credential would not.
fn parsed_backup_eligible(parsed: &AuthenticationResponseJson) -> bool {
    // authenticatorData: rpIdHash (32 bytes), then the flags byte; BE is bit 3.
    parsed
        .response
        .authenticator_data
        .0
        .get(32)
        .is_some_and(|flags| flags & 0x08 != 0)
}

/// A user handle for the stand-in credential of [`finish_authentication_inner`]'s decoy path:
/// derived like the decoy credential IDs, so it is stable and nobody can present it.
fn decoy_user_handle(state: &AppState, ctx: &Context, session: &AuthenticationState) -> Vec<u8> {
    let name = session
        .user_id
        .as_deref()
        .or(session.user_name.as_deref())
        .unwrap_or_default();
    let mut message = ctx.tenant.id.as_str().as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(name.as_bytes());
    state
        .master_key
        .mac("passkeyd decoy user handle v1", &message)
        .to_vec()
}

/// The stand-in public key of the decoy path: a COSE_Key (RFC 9052) for ES256 whose point is
/// the P-256 base point. Hand-encoded CBOR: the server crate has no CBOR encoder, and this is
/// one constant. Its private key is known (1), which is harmless: the decoy path answers a
/// refusal whatever the verifier says; the key only makes it do a real signature check.
const DECOY_PUBLIC_KEY: [u8; 77] = [
    0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58,
    0x20, // kty EC2, alg -7, crv P-256, x:
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
    0x22, 0x58, 0x20, // y:
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

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
