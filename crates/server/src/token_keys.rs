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
//! Keys are rotated with [`rotate`] (`passkeyd tenant rotate-keys`): the active keys are
//! retired, a new one signs from then on, and the retired ones stay published in the JWKS
//! (and keep verifying here) until every token they can have signed has expired.

use std::ops::RangeInclusive;

use aws_lc_rs::rand::SystemRandom;
use passkeyd_webauthn::json::base64url_encode;

use crate::api_keys::random_bytes;
use crate::ceremony::Context;
use crate::error::ApiError;
use crate::settings::{TenantSettings, TOKEN_TTL_RANGE_SECS};
use crate::state::AppState;
use crate::store::{SigningKeyRecord, StoreError, Tenant};
use crate::tokens::{self, ResultClaims, SigningAlgorithm, TokenError, MAX_CLOCK_SKEW};

/// The lifetimes a user token may be minted with, in seconds.
pub const USER_TOKEN_TTL_RANGE_SECS: RangeInclusive<u32> = 1..=3_600;
/// The lifetime of a user token when the app asks for none, in seconds.
pub const USER_TOKEN_DEFAULT_TTL_SECS: u32 = 900;
/// The lifetime of an MFA challenge ([`Purpose::MfaChallenge`]) when the app asks for none, in
/// seconds: long enough to reach for a passkey, short as the step between two factors is.
pub const MFA_CHALLENGE_DEFAULT_TTL_SECS: u32 = 300;
/// The longest role or domain a user token carries, in characters.
pub const MAX_ROLE_CHARS: usize = 64;

/// How long a retired key stays published: the longest lifetime of any token it can have
/// signed (result or user token), plus the clock skew between nodes.
fn max_token_lifetime() -> i64 {
    let longest = (*TOKEN_TTL_RANGE_SECS.end()).max(*USER_TOKEN_TTL_RANGE_SECS.end());
    i64::from(longest) + MAX_CLOCK_SKEW
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

/// Signs a result token for a finished ceremony.
pub async fn mint(
    state: &AppState,
    ctx: &Context,
    purpose: Purpose,
    user_id: &str,
    credential_id: Option<&[u8]>,
    user_verified: bool,
) -> Result<ResultToken, ApiError> {
    let now = state.clock.now().0;
    let expires_at = now + i64::from(ctx.settings.token_ttl_secs);
    let jti =
        base64url_encode(&random_bytes::<16>(&SystemRandom::new()).map_err(ApiError::internal)?);
    let mut amr = vec!["webauthn".to_owned()];
    if user_verified {
        // RFC 8176: "user" presence test plus verification; the credential is a key held in
        // hardware or a synced keychain, which the JWT cannot tell apart: "hwk" is left out.
        amr.push("user".to_owned());
    }
    let claims = ResultClaims {
        iss: tokens::ISSUER.to_owned(),
        aud: ctx.tenant.id.to_string(),
        tenant: ctx.tenant.id.to_string(),
        sub: user_id.to_owned(),
        cred: credential_id.map(base64url_encode),
        uv: user_verified,
        amr,
        auth_time: now,
        iat: now,
        exp: expires_at,
        jti,
        role: None,
        domain: None,
        purpose: purpose.as_str().to_owned(),
    };
    let key = active_key(state, &ctx.tenant, ctx.settings.token_algorithm).await?;
    let token = tokens::sign_cached(
        &claims,
        &key,
        ctx.tenant.id.as_str(),
        &state.master_key,
        &state.opened_keys,
    )
    .map_err(ApiError::internal)?;
    Ok(ResultToken { token, expires_at })
}

/// What the app's backend puts in a user token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserTokenRequest {
    /// The user's role in the app, for the tenant's policies.
    pub role: Option<String>,
    /// The user's domain in the app, for the tenant's policies.
    pub domain: Option<String>,
    /// Lifetime in seconds (default [`USER_TOKEN_DEFAULT_TTL_SECS`], or
    /// [`MFA_CHALLENGE_DEFAULT_TTL_SECS`] for an MFA challenge).
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
/// `user_id`, who must exist (the caller checks).
///
/// Unlike a result token it names no credential and claims no user verification (`uv: false`,
/// `amr: []`): passkeyd did not see how the app signed the user in.
pub async fn mint_user(
    state: &AppState,
    tenant: &Tenant,
    settings: &TenantSettings,
    user_id: &str,
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
    let ttl = request.ttl_secs.unwrap_or(default_ttl);
    if !USER_TOKEN_TTL_RANGE_SECS.contains(&ttl) {
        return Err(ApiError::InvalidRequest(format!(
            "ttlSeconds must be {} to {}",
            USER_TOKEN_TTL_RANGE_SECS.start(),
            USER_TOKEN_TTL_RANGE_SECS.end()
        )));
    }
    let now = state.clock.now().0;
    let expires_at = now + i64::from(ttl);
    let jti =
        base64url_encode(&random_bytes::<16>(&SystemRandom::new()).map_err(ApiError::internal)?);
    let claims = ResultClaims {
        iss: tokens::ISSUER.to_owned(),
        aud: tenant.id.to_string(),
        tenant: tenant.id.to_string(),
        sub: user_id.to_owned(),
        cred: None,
        uv: false,
        amr: Vec::new(),
        auth_time: now,
        iat: now,
        exp: expires_at,
        jti,
        role: request.role,
        domain: request.domain,
        purpose: purpose.as_str().to_owned(),
    };
    let key = active_key(state, tenant, settings.token_algorithm).await?;
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

/// Verifies `token` as a user token of `tenant`: signed by one of its keys (retired ones too,
/// until their tokens expire), not expired, and of purpose `user` or `authentication`. It is
/// not redeemed: a user token is used for as many requests as its lifetime allows.
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

/// Verifies `token` as a token of `tenant` of one of the `accepted` purposes, as
/// [`verify_user_token`] does for user tokens.
pub async fn verify_for(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    accepted: &[Purpose],
) -> Result<ResultClaims, UserTokenError> {
    let keys = state
        .store
        .signing_keys(&tenant.id)
        .await
        .map_err(|e| UserTokenError::Internal(ApiError::internal(e)))?;
    let claims = tokens::verify(token, tenant.id.as_str(), &keys, state.clock.now().0).map_err(
        |e| match e {
            TokenError::Key(_) => UserTokenError::Internal(ApiError::internal(e)),
            TokenError::Invalid(_) | TokenError::Expired => UserTokenError::Invalid,
        },
    )?;
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
    Ok(tokens::jwks(
        &keys,
        state.clock.now().0,
        max_token_lifetime(),
    ))
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
    let keys = state.store.signing_keys(&tenant.id).await?;
    let now = state.clock.now().0;
    let claims = tokens::verify(token, tenant.id.as_str(), &keys, now).map_err(|e| match e {
        TokenError::Expired => ApiError::Token("token_expired", "the token has expired"),
        TokenError::Key(_) => ApiError::internal(e),
        _ => ApiError::Token("token_invalid", "the token is not valid for this tenant"),
    })?;
    if claims.purpose != purpose.as_str() {
        return Err(ApiError::Token(
            "token_invalid",
            "the token is not valid for this tenant and purpose",
        ));
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
