//! Result tokens as the server issues and redeems them: the tenant's active signing key is
//! found (or created on first use), tokens are signed with it, and `POST /tokens/verify`
//! redeems each token once. The JWT and key handling itself is in [`crate::tokens`].
//!
//! User tokens ([`mint_user`], purpose `user`) are signed with the same keys: the app's backend
//! mints one for a user it signed in another way, and the user presents it as
//! `Authorization: Bearer` to the user-facing `/me` API ([`verify_user_token`]). A result token
//! of a passkey sign-in (purpose `authentication`) is accepted there too; a registration's is
//! not, as registering proves possession of nothing the server knew before.
//!
//! Every token is bound to its user's row ([`user_binding`], the `uh` claim), and passkeyd
//! checks the binding at every use, so a token dies with its user even if the app creates the
//! same user ID again. Lifetimes are capped per tenant ([`max_token_lifetime`]): a token that
//! claims a longer one is refused whoever signed it.
//!
//! Keys are rotated with [`rotate`] (`passkeyd tenant rotate-keys`): the active keys are
//! retired, a new one signs from then on, and the retired ones stay published in the JWKS
//! (and keep verifying here) until every token they can have signed has expired: the tenant's
//! longest token lifetime and the clock skew after the retirement, and not a second longer.

use aws_lc_rs::rand::SystemRandom;
use passkeyd_webauthn::json::base64url_encode;
use subtle::ConstantTimeEq;

use crate::api_keys::random_bytes;
use crate::error::ApiError;
use crate::settings::{TenantSettings, TOKEN_TTL_RANGE_SECS, USER_TOKEN_MAX_TTL_RANGE_SECS};
use crate::state::AppState;
use crate::store::{SigningKeyRecord, StoreError, Tenant, User};
use crate::tokens::{self, ResultClaims, SigningAlgorithm, TokenError};

/// The lifetime of a user token when the app asks for none, in seconds (or the tenant's
/// `user_token_max_ttl_secs`, if that is shorter).
pub const USER_TOKEN_DEFAULT_TTL_SECS: u32 = 900;
/// The lifetime of an MFA challenge ([`Purpose::MfaChallenge`]) when the app asks for none, in
/// seconds: long enough to reach for a passkey, short as the step between two factors is.
pub const MFA_CHALLENGE_DEFAULT_TTL_SECS: u32 = 300;
/// The longest role or domain a user token carries, in characters.
pub const MAX_ROLE_CHARS: usize = 64;
/// The `amr` value of a passkey assertion. RFC 8176 registers none for WebAuthn (`hwk` and
/// `swk` say where a key lives, which a synced passkey blurs), so passkeyd names its own.
pub const AMR_PASSKEY: &str = "passkey";
/// The `amr` value of a verified backup code.
pub const AMR_BACKUP_CODE: &str = "backup_code";
/// The `amr` value (RFC 8176 §2 `user`) added when the authenticator verified the user.
pub const AMR_USER: &str = "user";
/// The `amr` values that prove a factor, for step-up: a token with one of them, recent
/// enough, may change the user's factors.
pub const FACTOR_AMR: &[&str] = &[AMR_PASSKEY, AMR_BACKUP_CODE];
/// The MAC purpose of the user binding claim (`uh`).
const USER_BINDING_PURPOSE: &str = "passkeyd token user binding v1";

/// The longest lifetime any token of a tenant with `settings` may have, in seconds: the
/// longer of the result-token lifetime and the user-token cap. [`tokens::verify`] refuses
/// longer ones, and a retired key verifies (and is published) for this long and the clock
/// skew after its retirement.
pub fn max_token_lifetime(settings: &TenantSettings) -> i64 {
    i64::from(
        settings
            .token_ttl_secs
            .max(settings.user_token_max_ttl_secs),
    )
}

/// [`max_token_lifetime`] of a tenant whose stored settings do not parse: the longest any
/// settings allow, so that nothing live stops verifying because of a bad setting elsewhere.
fn fallback_max_token_lifetime() -> i64 {
    i64::from((*TOKEN_TTL_RANGE_SECS.end()).max(*USER_TOKEN_MAX_TTL_RANGE_SECS.end()))
}

/// The user binding of a token (`uh`): a MAC under the master key of the tenant, the user ID
/// and the user's random handle. A user deleted and created again under the same ID has a
/// new handle, so the old user's tokens no longer match; the MAC keeps the claim from telling
/// anything about the handle.
pub fn user_binding(state: &AppState, tenant: &Tenant, user: &User) -> String {
    let mut message = tenant.id.as_str().as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(user.id.as_bytes());
    message.push(0);
    message.extend_from_slice(&user.user_handle);
    let mac = state.master_key.mac(USER_BINDING_PURPOSE, &message);
    base64url_encode(&mac[..16])
}

/// Whether `claims` are bound to `user`, the current row of their `sub` (compared in constant
/// time; a token without a binding is refused).
pub fn bound_to(state: &AppState, tenant: &Tenant, user: &User, claims: &ResultClaims) -> bool {
    let expected = user_binding(state, tenant, user);
    claims.sub == user.id
        && claims
            .uh
            .as_deref()
            .is_some_and(|uh| bool::from(uh.as_bytes().ct_eq(expected.as_bytes())))
}

/// What a token attests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A registration finished.
    Registration,
    /// An authentication finished.
    Authentication,
    /// The app's backend vouches for the user (`POST /users/{userId}/tokens`).
    User,
    /// The app's backend checked the user's first factor (a password, say) and lets them
    /// prove their second with a passkey: the Jitsudo dialect's `challenge_id`. Good for
    /// nothing else, not even the `/me` API.
    MfaChallenge,
}

impl Purpose {
    /// The `purpose` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
            Self::User => "user",
            Self::MfaChallenge => "mfa_challenge",
        }
    }
}

/// A signed token and when it expires.
#[derive(Clone, Debug)]
pub struct ResultToken {
    /// The JWT.
    pub token: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// What a token says beyond its tenant, user and times.
struct Grant {
    purpose: Purpose,
    credential_id: Option<Vec<u8>>,
    user_verified: bool,
    amr: Vec<String>,
    /// When the user proved the factor `amr` names (or, with none, when the token was made).
    auth_time: i64,
    ttl_secs: u32,
    role: Option<String>,
    domain: Option<String>,
}

/// Signs a token of `grant` for `user` of `tenant`, bound to the user's row.
async fn issue(
    state: &AppState,
    tenant: &Tenant,
    algorithm: SigningAlgorithm,
    user: &User,
    grant: Grant,
) -> Result<ResultToken, ApiError> {
    let now = state.clock.now().0;
    let expires_at = now + i64::from(grant.ttl_secs);
    let jti =
        base64url_encode(&random_bytes::<16>(&SystemRandom::new()).map_err(ApiError::internal)?);
    let claims = ResultClaims {
        iss: tokens::ISSUER.to_owned(),
        aud: tenant.id.to_string(),
        tenant: tenant.id.to_string(),
        sub: user.id.clone(),
        cred: grant.credential_id.as_deref().map(base64url_encode),
        uv: grant.user_verified,
        amr: grant.amr,
        auth_time: grant.auth_time,
        iat: now,
        exp: expires_at,
        jti,
        role: grant.role,
        domain: grant.domain,
        purpose: grant.purpose.as_str().to_owned(),
        uh: Some(user_binding(state, tenant, user)),
    };
    let key = active_key(state, tenant, algorithm).await?;
    let token = tokens::sign_cached(
        &claims,
        &key,
        tenant.id.as_str(),
        &state.master_key,
        &state.opened_keys,
    )
    .map_err(ApiError::internal)?;
    Ok(ResultToken { token, expires_at })
}

/// Signs a result token for a finished ceremony of `user`.
pub async fn mint(
    state: &AppState,
    (tenant, settings): (&Tenant, &TenantSettings),
    purpose: Purpose,
    user: &User,
    credential_id: Option<&[u8]>,
    user_verified: bool,
) -> Result<ResultToken, ApiError> {
    let mut amr = vec![AMR_PASSKEY.to_owned()];
    if user_verified {
        amr.push(AMR_USER.to_owned());
    }
    let grant = Grant {
        purpose,
        credential_id: credential_id.map(<[u8]>::to_vec),
        user_verified,
        amr,
        auth_time: state.clock.now().0,
        ttl_secs: settings.token_ttl_secs,
        role: None,
        domain: None,
    };
    issue(state, tenant, settings.token_algorithm, user, grant).await
}

/// What the app's backend puts in a user token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserTokenRequest {
    /// The user's role in the app, for the tenant's policies.
    pub role: Option<String>,
    /// The user's domain in the app, for the tenant's policies.
    pub domain: Option<String>,
    /// Lifetime in seconds, 1 to the tenant's `user_token_max_ttl_secs` (default
    /// [`USER_TOKEN_DEFAULT_TTL_SECS`], or [`MFA_CHALLENGE_DEFAULT_TTL_SECS`] for an MFA
    /// challenge, each at most the cap).
    pub ttl_secs: Option<u32>,
    /// Whether to mint an MFA challenge ([`Purpose::MfaChallenge`]) rather than a user token.
    pub mfa_challenge: bool,
}

/// Checks a role or domain: 1 to [`MAX_ROLE_CHARS`] printable characters.
fn check_label(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty()
        || value.chars().count() > MAX_ROLE_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(ApiError::InvalidRequest(format!(
            "{field} must be 1 to {MAX_ROLE_CHARS} printable characters"
        )));
    }
    Ok(())
}

/// Signs a user token (purpose `user`, or `mfa_challenge` when the request asks for one) for
/// `user`, as stored. A lifetime over the tenant's `user_token_max_ttl_secs` is refused (400
/// `invalid_request`), not shortened: the app learns its token would not live as asked.
///
/// Unlike a result token it names no credential and claims no factor (`uv: false`,
/// `amr: []`): passkeyd did not see how the app signed the user in, and the app cannot claim
/// one. Such a token therefore never passes a step-up check.
pub async fn mint_user(
    state: &AppState,
    tenant: &Tenant,
    settings: &TenantSettings,
    user: &User,
    request: UserTokenRequest,
) -> Result<ResultToken, ApiError> {
    if let Some(role) = &request.role {
        check_label("role", role)?;
    }
    if let Some(domain) = &request.domain {
        check_label("domain", domain)?;
    }
    let (purpose, default_ttl) = if request.mfa_challenge {
        (Purpose::MfaChallenge, MFA_CHALLENGE_DEFAULT_TTL_SECS)
    } else {
        (Purpose::User, USER_TOKEN_DEFAULT_TTL_SECS)
    };
    let cap = settings.user_token_max_ttl_secs;
    let ttl = request.ttl_secs.unwrap_or(default_ttl.min(cap));
    if !(1..=cap).contains(&ttl) {
        return Err(ApiError::InvalidRequest(format!(
            "ttlSeconds must be 1 to {cap} (the tenant's user_token_max_ttl_secs)"
        )));
    }
    let grant = Grant {
        purpose,
        credential_id: None,
        user_verified: false,
        amr: Vec::new(),
        auth_time: state.clock.now().0,
        ttl_secs: ttl,
        role: request.role,
        domain: request.domain,
    };
    issue(state, tenant, settings.token_algorithm, user, grant).await
}

/// Signs the token that answers a verified backup code: purpose `user`, `amr: ["backup_code"]`,
/// `auth_time` now, living the tenant's `token_ttl_secs`, with the role and domain of the token
/// the code was verified with. It is the step-up of a user who lost their passkey.
pub async fn mint_backup_code(
    state: &AppState,
    tenant: &Tenant,
    settings: &TenantSettings,
    user: &User,
    role: Option<String>,
    domain: Option<String>,
) -> Result<ResultToken, ApiError> {
    let grant = Grant {
        purpose: Purpose::User,
        credential_id: None,
        user_verified: false,
        amr: vec![AMR_BACKUP_CODE.to_owned()],
        auth_time: state.clock.now().0,
        ttl_secs: settings.token_ttl_secs,
        role,
        domain,
    };
    issue(state, tenant, settings.token_algorithm, user, grant).await
}

/// Why a bearer token was refused as a user token.
#[derive(Debug, thiserror::Error)]
pub enum UserTokenError {
    /// Not a live user token of the tenant (bad signature, expired, wrong purpose...).
    #[error("not a valid user token")]
    Invalid,
    /// A server-side failure (the store, an unusable stored key).
    #[error(transparent)]
    Internal(ApiError),
}

/// Verifies `token` as a user token of `tenant`: signed by one of its keys (a retired one only
/// while tokens it signed can be live), within the tenant's lifetime cap, not expired, and of
/// purpose `user` or `authentication`. It is not redeemed: a user token is used for as many
/// requests as its lifetime allows. The caller checks the user binding ([`bound_to`]) against
/// the user's current row.
pub async fn verify_user_token(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
) -> Result<ResultClaims, UserTokenError> {
    verify_for(
        state,
        tenant,
        token,
        &[Purpose::User, Purpose::Authentication],
    )
    .await
}

/// The tenant's keys, and the longest token lifetime its settings allow.
async fn keys_and_cap(
    state: &AppState,
    tenant: &Tenant,
) -> Result<(Vec<SigningKeyRecord>, i64), ApiError> {
    let settings = TenantSettings::from_map(&tenant.settings).map_err(ApiError::internal)?;
    let keys = state.store.signing_keys(&tenant.id).await?;
    Ok((keys, max_token_lifetime(&settings)))
}

/// Verifies `token` as a token of `tenant` of one of the `accepted` purposes, as
/// [`verify_user_token`] does for user tokens.
pub async fn verify_for(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    accepted: &[Purpose],
) -> Result<ResultClaims, UserTokenError> {
    let (keys, cap) = keys_and_cap(state, tenant)
        .await
        .map_err(UserTokenError::Internal)?;
    let claims = tokens::verify(token, tenant.id.as_str(), &keys, state.clock.now().0, cap)
        .map_err(|e| match e {
            TokenError::Key(_) => UserTokenError::Internal(ApiError::internal(e)),
            TokenError::Invalid(_) | TokenError::Expired => UserTokenError::Invalid,
        })?;
    if !accepted.iter().any(|p| p.as_str() == claims.purpose) {
        return Err(UserTokenError::Invalid);
    }
    Ok(claims)
}

/// What [`rotate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    /// How many active keys were retired.
    pub retired: u64,
    /// The new key's ID.
    pub kid: String,
    /// The new key's algorithm.
    pub algorithm: SigningAlgorithm,
}

/// Retires the tenant's active signing keys and creates a new one of the tenant's
/// `token_algorithm`, at `now`. Tokens the retired keys signed still verify until they expire,
/// and the keys stay in the JWKS as long.
///
/// Before anything changes, the newest stored key must open with `master`: a rotation run with
/// another master key than the server's would leave the tenant with a key the server cannot
/// use. Another node may create a key of its own between the retirement and the insertion
/// (`active_key` creates one when none is active); both are then published and either verifies.
pub async fn rotate(
    store: &dyn crate::store::Store,
    master: &tokens::MasterKey,
    tenant: &Tenant,
    now: i64,
) -> Result<Rotated, RotateError> {
    let settings = TenantSettings::from_map(&tenant.settings).map_err(RotateError::Settings)?;
    let keys = store.signing_keys(&tenant.id).await?;
    if let Some(newest) = keys.first() {
        let probe = ResultClaims {
            iss: tokens::ISSUER.to_owned(),
            aud: tenant.id.to_string(),
            tenant: tenant.id.to_string(),
            sub: "rotation-probe".to_owned(),
            cred: None,
            uv: false,
            amr: Vec::new(),
            auth_time: now,
            iat: now,
            exp: now + 1,
            jti: String::new(),
            role: None,
            domain: None,
            purpose: "probe".to_owned(),
            uh: None,
        };
        tokens::sign(&probe, newest, tenant.id.as_str(), master)
            .map_err(RotateError::WrongMasterKey)?;
    }
    let key = tokens::generate_signing_key(
        tenant.id.as_str(),
        settings.token_algorithm,
        master,
        &SystemRandom::new(),
        now,
    )
    .map_err(RotateError::Key)?;
    let retired = store.retire_signing_keys(&tenant.id, now).await?;
    store.insert_signing_key(&tenant.id, &key).await?;
    Ok(Rotated {
        retired,
        kid: key.kid,
        algorithm: settings.token_algorithm,
    })
}

/// Why a rotation failed; nothing changed unless the store failed between its two writes.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The new key could not be made.
    #[error("cannot generate a signing key: {0}")]
    Key(#[source] TokenError),
    /// The tenant's settings do not parse.
    #[error(transparent)]
    Settings(crate::settings::SettingsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key does not open the tenant's newest key.
    #[error(
        "the master key does not open the tenant's current signing key (is this the server's \
         master key?): {0}"
    )]
    WrongMasterKey(#[source] TokenError),
}

/// The newest unretired key of `algorithm`, created if there is none. Two nodes racing here
/// may both create one; both are published and either verifies.
async fn active_key(
    state: &AppState,
    tenant: &Tenant,
    algorithm: SigningAlgorithm,
) -> Result<SigningKeyRecord, ApiError> {
    let keys = state.store.signing_keys(&tenant.id).await?;
    if let Some(key) = keys
        .into_iter()
        .find(|k| k.retired_at.is_none() && k.algorithm == algorithm.as_str())
    {
        return Ok(key);
    }
    let key = tokens::generate_signing_key(
        tenant.id.as_str(),
        algorithm,
        &state.master_key,
        &SystemRandom::new(),
        state.clock.now().0,
    )
    .map_err(ApiError::internal)?;
    state.store.insert_signing_key(&tenant.id, &key).await?;
    Ok(key)
}

/// The tenant's JWKS: every key a live token may have been signed with.
pub async fn jwks(state: &AppState, tenant: &Tenant) -> Result<serde_json::Value, ApiError> {
    let keys = state.store.signing_keys(&tenant.id).await?;
    let cap = TenantSettings::from_map(&tenant.settings).map_or_else(
        |_| fallback_max_token_lifetime(),
        |s| max_token_lifetime(&s),
    );
    Ok(tokens::jwks(&keys, state.clock.now().0, cap))
}

/// Verifies a token of `purpose` for `tenant` and redeems it: a second redemption fails. A
/// token of another purpose is `token_invalid` and is not redeemed, so a user token or an MFA
/// challenge never passes for a sign-in result.
pub async fn redeem(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    purpose: Purpose,
) -> Result<ResultClaims, ApiError> {
    let (keys, cap) = keys_and_cap(state, tenant).await?;
    let now = state.clock.now().0;
    let invalid = || ApiError::Token("token_invalid", "the token is not valid for this tenant");
    let claims =
        tokens::verify(token, tenant.id.as_str(), &keys, now, cap).map_err(|e| match e {
            TokenError::Expired => ApiError::Token("token_expired", "the token has expired"),
            TokenError::Key(_) => ApiError::internal(e),
            TokenError::Invalid(_) => invalid(),
        })?;
    if claims.purpose != purpose.as_str() {
        return Err(ApiError::Token(
            "token_invalid",
            "the token is not valid for this tenant and purpose",
        ));
    }
    // The token must be its user's, as stored now: a user deleted (and perhaps created again
    // under the same ID) takes their tokens along.
    let user = match state.store.user(&tenant.id, &claims.sub).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    if !bound_to(state, tenant, &user, &claims) {
        return Err(invalid());
    }
    match state
        .store
        .redeem_token(&tenant.id, &claims.jti, claims.exp)
        .await
    {
        Ok(true) => Ok(claims),
        Ok(false) => Err(ApiError::Token(
            "token_used",
            "the token has already been redeemed",
        )),
        Err(StoreError::NotFound) => Err(ApiError::NotFound),
        Err(e) => Err(ApiError::internal(e)),
    }
}
