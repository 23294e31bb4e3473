//! Result tokens as the server issues and redeems them: the tenant's active signing key is
//! found (or created on first use), tokens are signed with it, and `POST /tokens/verify`
//! redeems each token once. The JWT and key handling itself is in [`crate::tokens`].

use aws_lc_rs::rand::SystemRandom;
use passkeyd_webauthn::json::base64url_encode;

use crate::api_keys::random_bytes;
use crate::ceremony::Context;
use crate::error::ApiError;
use crate::settings::TOKEN_TTL_RANGE_SECS;
use crate::state::AppState;
use crate::store::{SigningKeyRecord, StoreError, Tenant};
use crate::tokens::{self, ResultClaims, SigningAlgorithm, TokenError};

/// What a token attests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A registration finished.
    Registration,
    /// An authentication finished.
    Authentication,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
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
    let token = tokens::sign(&claims, &key, ctx.tenant.id.as_str(), &state.master_key)
        .map_err(ApiError::internal)?;
    Ok(ResultToken { token, expires_at })
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
        i64::from(*TOKEN_TTL_RANGE_SECS.end()),
    ))
}

/// Verifies a result token for `tenant` and redeems it: a second redemption fails.
pub async fn redeem(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
) -> Result<ResultClaims, ApiError> {
    let keys = state.store.signing_keys(&tenant.id).await?;
    let now = state.clock.now().0;
    let claims = tokens::verify(token, tenant.id.as_str(), &keys, now).map_err(|e| match e {
        TokenError::Expired => ApiError::Token("token_expired", "the token has expired"),
        TokenError::Key(_) => ApiError::internal(e),
        _ => ApiError::Token("token_invalid", "the token is not valid for this tenant"),
    })?;
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
