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
use passkeyd_webauthn::json::{
    base64url_decode, base64url_encode, AttestationConveyancePreference, AuthenticatorAttachment,
    PublicKeyCredentialHint, ResidentKeyRequirement, UserVerificationRequirement,
};
use passkeyd_webauthn::RelyingParty;
use serde::{Deserialize, Serialize};

use crate::api_keys::random_bytes;
use crate::audit::Audit;
use crate::error::ApiError;
pub use crate::names::{check_name, MAX_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::policy;
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::store::{Session, SessionKind, StoreError, Tenant};

mod authentication;
mod decoy;
mod registration;

pub use authentication::{begin_authentication, finish_authentication, Authenticated, SignInHint};
pub use registration::{
    begin_registration, finish_registration, finish_registration_as, Registered, Registrant,
};

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
        let mut audit = Audit::new(
            &self.tenant.id,
            &self.actor,
            action,
            self.ip,
            self.request_id.clone(),
        );
        audit.webhooks(&self.settings.webhooks);
        audit
    }

    /// The RP ID and every origin the tenant accepts: its own, its related origins and its
    /// Android apps' ([`crate::origins::accepted`]).
    fn relying_party(&self) -> RelyingParty {
        let origins = crate::origins::accepted(&self.tenant.origins, &self.settings);
        RelyingParty::new(self.tenant.rp_id.clone(), origins)
    }

    /// The answer to a failed verification. An `origin_mismatch` or `rp_id_mismatch` gains
    /// `details`: what the tenant expected, the origin that came (from `client_data_json`,
    /// which the caller sent) and the `passkeyd doctor` finding that explains it
    /// ([`crate::diagnosis::mismatch_details`]; the accepted origins only for the secret key).
    fn rejected(&self, error: passkeyd_webauthn::VerifyError, client_data_json: &[u8]) -> ApiError {
        let code = error.code();
        if code != "origin_mismatch" && code != "rp_id_mismatch" {
            return error.into();
        }
        let received = serde_json::from_slice::<serde_json::Value>(client_data_json)
            .ok()
            .and_then(|v| v.get("origin").and_then(|o| o.as_str()).map(str::to_owned));
        let accepted = crate::origins::accepted(&self.tenant.origins, &self.settings);
        match crate::diagnosis::mismatch_details(
            code,
            &self.tenant.rp_id,
            &accepted,
            received.as_deref(),
            self.secret,
        ) {
            Some(details) => ApiError::Detailed(Box::new(error.into()), details),
            None => error.into(),
        }
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
    /// A conditional create (WebAuthn L3 `mediation: "conditional"`, automatic passkey
    /// upgrade): its finish accepts UP=0, as L3 §7.1 allows for it, and keeps every other
    /// check. Set from the request's top-level `mediation`, never from `options`; remembered
    /// in the session, so a finish cannot turn it on.
    #[serde(skip)]
    pub conditional: bool,
}

/// `mediation` of a registration begin (WebAuthn L3 `CredentialMediationRequirement`; `silent`
/// does not apply to create).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CreateMediation {
    /// The browser creates the credential without a dialog, for a user who just signed in
    /// another way (the password manager's automatic upgrade).
    Conditional,
    /// The default: a modal create.
    #[default]
    Optional,
    /// A modal create.
    Required,
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

/// A begun ceremony: the session token for the finish, and the options for the browser.
#[derive(Debug)]
pub struct Begun<O> {
    /// The session token (the client passes it back at finish).
    pub session: String,
    /// The L3 JSON options.
    pub options: O,
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

/// The two ceremonies, as the audit trail and the metrics name them.
#[derive(Clone, Copy, Debug)]
enum Ceremony {
    Registration,
    Authentication,
}

/// Runs a finish under the rules every finish shares: a public caller's failure throttle
/// first, then one audit event (with its outcome and the deciding policies' notices), the
/// ceremony metrics, and a failure counted against the caller's address.
async fn finish_observed<T>(
    state: &AppState,
    ctx: &Context,
    ceremony: Ceremony,
    finish: impl AsyncFnOnce(&mut Audit) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (name, action) = match ceremony {
        Ceremony::Registration => ("registration", "registration.finish"),
        Ceremony::Authentication => ("authentication", "authentication.finish"),
    };
    let started = Instant::now();
    check_failure_throttle(state, ctx)?;
    let mut audit = ctx.audit(action);
    let result = finish(&mut audit).await;
    policy::note_denial(&mut audit, result.as_ref().err());
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) => {
            note_failure(state, ctx, e);
            e.code()
        }
    };
    crate::metrics::ceremony(ctx.tenant.id.as_str(), name, outcome, started.elapsed());
    audit.finish(state, outcome).await;
    result
}

/// Counts a failed finish of a public caller against its address (not against any user).
fn note_failure(state: &AppState, ctx: &Context, error: &ApiError) {
    if let (Some(ip), false) = (ctx.throttled_ip(), error.code() == "rate_limited") {
        state.rate_limits.record_failure(ctx.tenant.id.as_str(), ip);
    }
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

/// `platform` or `cross-platform` as the client reported it; anything else is no fact.
fn attachment_fact(reported: Option<&str>) -> Option<String> {
    reported
        .filter(|a| matches!(*a, "platform" | "cross-platform"))
        .map(str::to_owned)
}

/// `Ok(None)` for a missing row.
fn optional<T>(result: Result<T, StoreError>) -> Result<Option<T>, ApiError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(ApiError::internal(e)),
    }
}
