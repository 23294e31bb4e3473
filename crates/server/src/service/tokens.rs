//! Tokens the app's backend asks for or hands back: registration tokens (a browser may
//! register a passkey for a user, once), user tokens for users the app signed in another way,
//! the redemption of result tokens, and the single use of a Jitsudo MFA challenge. Each mint
//! and redemption is audited; the tokens themselves never go to the audit trail.

use aws_lc_rs::rand::SystemRandom;
use passkeyd_webauthn::json::base64url_encode;

use super::{finish, users, Caller, Provenance, RegistrationToken, Tenant, UserCaller};
use crate::api_keys::random_bytes;
use crate::ceremony::session_id;
use crate::error::ApiError;
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::store::StoreError;
use crate::token_keys::{self, Purpose, ResultToken, UserTokenRequest};
use crate::tokens::ResultClaims;

/// How long a registration token is valid, in seconds.
pub const REGISTRATION_TOKEN_TTL_SECS: i64 = 900;

/// The user a registration token lets register, with names the route has checked.
#[derive(Clone, Debug)]
pub struct Registrable {
    /// The app's user ID; a new user gets a generated one (`u_...`) when absent.
    pub user_id: Option<String>,
    /// The user name (for a new user; an existing user keeps theirs).
    pub user_name: String,
    /// The display name; the user name when absent.
    pub display_name: Option<String>,
}

/// A minted registration token.
#[derive(Debug)]
pub struct MintedRegistrationToken {
    /// The token (`rt_...`), shown this once; only its hash is stored.
    pub token: String,
    /// The user it registers a passkey for.
    pub user_id: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// Mints a single-use registration token for `registrable`, valid
/// [`REGISTRATION_TOKEN_TTL_SECS`], audited as `registration_token.mint`.
pub async fn mint_registration_token(
    state: &AppState,
    caller: &Caller,
    registrable: Registrable,
    via: &Provenance,
) -> Result<MintedRegistrationToken, ApiError> {
    let tenant = &caller.tenant.id;
    let rng = SystemRandom::new();
    let user_id = match registrable.user_id {
        Some(id) => id,
        None => format!(
            "u_{}",
            base64url_encode(&random_bytes::<16>(&rng).map_err(ApiError::internal)?)
        ),
    };
    let token = format!(
        "rt_{}",
        base64url_encode(&random_bytes::<32>(&rng).map_err(ApiError::internal)?)
    );
    let expires_at = state.clock.now().0 + REGISTRATION_TOKEN_TTL_SECS;
    let display_name = registrable
        .display_name
        .unwrap_or_else(|| registrable.user_name.clone());
    state
        .store
        .insert_registration_token(
            tenant,
            &RegistrationToken {
                id: session_id(&token),
                user_id: user_id.clone(),
                user_name: registrable.user_name,
                display_name,
                expires_at,
            },
        )
        .await?;
    let mut audit = via.audit(tenant, &caller.actor(), "registration_token.mint");
    audit.subject(format!("user:{user_id}"));
    audit.finish(state, "success").await;
    Ok(MintedRegistrationToken {
        token,
        user_id,
        expires_at,
    })
}

/// Takes a registration token (single use): 401 `token_invalid` if unknown or used,
/// `token_expired` if expired.
pub async fn take_registration_token(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
) -> Result<RegistrationToken, ApiError> {
    let taken = state
        .store
        .take_registration_token(&tenant.id, &session_id(token))
        .await;
    match taken {
        Ok(token) if token.expires_at <= state.clock.now().0 => Err(ApiError::Token(
            "token_expired",
            "the registration token has expired",
        )),
        Ok(token) => Ok(token),
        Err(StoreError::NotFound) => Err(ApiError::Token(
            "token_invalid",
            "unknown or already used registration token",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// What the app's backend asks of a user token, with the user to create if absent.
#[derive(Clone, Debug, Default)]
pub struct UserTokenOrder {
    /// The claims and lifetime asked for.
    pub request: UserTokenRequest,
    /// For a user passkeyd does not know yet: their user name (`userName`), so they are
    /// created. Ignored for an existing user.
    pub user_name: Option<String>,
    /// The new user's display name (`userDisplayName`; defaults to the user name).
    pub display_name: Option<String>,
}

/// Mints a user token (or, as ordered, an MFA challenge) for the tenant's user `user_id`,
/// created first when absent and a user name is given ([`users::find_or_create`]), audited as
/// `user_token.mint` with the role, domain and expiry once they are checked.
pub async fn mint_user_token(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    order: UserTokenOrder,
    via: &Provenance,
) -> Result<ResultToken, ApiError> {
    let tenant = &caller.tenant;
    let mut audit = via.audit(&tenant.id, &caller.actor(), "user_token.mint");
    audit.subject(format!("user:{user_id}"));
    let (role, domain) = (order.request.role.clone(), order.request.domain.clone());
    let mfa_challenge = order.request.mfa_challenge;
    let result = async {
        let user = users::find_or_create(
            state,
            &tenant.id,
            user_id,
            order.user_name.as_deref(),
            order.display_name.as_deref(),
        )
        .await?;
        let settings = TenantSettings::from_map(&tenant.settings).map_err(ApiError::internal)?;
        token_keys::mint_user(state, tenant, &settings, &user, order.request).await
    }
    .await;
    if let Ok(token) = &result {
        // Checked by now, so fit for the trail; the token itself never goes there.
        for (key, value) in [("role", role), ("domain", domain)] {
            if let Some(value) = value {
                audit.detail(key, value);
            }
        }
        audit.detail("expires_at", token.expires_at.to_string());
        if mfa_challenge {
            audit.detail("purpose", "mfa_challenge".to_owned());
        }
    }
    finish(state, audit, result).await
}

/// Verifies a token of `purpose` and redeems it once ([`token_keys::redeem`]), audited as
/// `token.redeem` (its user the subject, once known).
pub async fn redeem(
    state: &AppState,
    caller: &Caller,
    token: &str,
    purpose: Purpose,
    via: &Provenance,
) -> Result<ResultClaims, ApiError> {
    let mut audit = via.audit(&caller.tenant.id, &caller.actor(), "token.redeem");
    let result = token_keys::redeem(state, &caller.tenant, token, purpose).await;
    if let Ok(claims) = &result {
        audit.subject(format!("user:{}", claims.sub));
    }
    finish(state, audit, result).await
}

/// Uses up the MFA challenge the caller presented (a Jitsudo `challenge_id`): 401
/// `unauthenticated` if it was used already. Called only once the sign-in it guards has
/// succeeded, so that a failed attempt does not send the user back to their first factor.
pub async fn use_mfa_challenge(state: &AppState, caller: &UserCaller) -> Result<(), ApiError> {
    match state
        .store
        .redeem_token(&caller.tenant.id, &caller.claims.jti, caller.claims.exp)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::Token(
            "unauthenticated",
            "challenge_id was already used; sign in again",
        )),
        Err(StoreError::NotFound) => Err(ApiError::NotFound),
        Err(e) => Err(ApiError::internal(e)),
    }
}
