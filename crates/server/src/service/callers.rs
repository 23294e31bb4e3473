//! Who is calling: an API key presented (found by its public prefix, compared in constant time,
//! unrevoked, of the kind presented) and a user token presented (verified with its tenant's
//! keys, its user still the one it was minted for).
//!
//! The request extractors of `crate::auth` and the dialects read the key or token from
//! wherever their API sends it and call these; the rules live here once.

use std::net::IpAddr;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::ceremony::{Context, SessionKeys};
use crate::error::ApiError;
use crate::policy::{Principal, TokenFacts};
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::store::{StoreError, Tenant, User};
use crate::tenant::TenantId;
use crate::token_keys::{self, Purpose, UserTokenError};
use crate::tokens::{ResultClaims, MAX_CLOCK_SKEW};

/// The holder of a valid API key: the app's backend (secret key) or a browser (publishable key,
/// browser-direct flow).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The tenant the key acts for.
    pub tenant: Tenant,
    /// Which kind of key.
    pub kind: ApiKeyKind,
    /// The key's public prefix, for the audit trail.
    pub key_prefix: String,
}

impl Caller {
    /// Whether the caller is the app's backend.
    pub fn is_secret(&self) -> bool {
        self.kind == ApiKeyKind::Secret
    }

    /// The audit trail's name for the caller.
    pub fn actor(&self) -> String {
        format!("api_key:{}", self.key_prefix)
    }

    /// The caller as the tenant's policies see it.
    pub fn principal(&self) -> Principal {
        Principal::ApiKey {
            prefix: self.key_prefix.clone(),
        }
    }
}

/// The tenant and caller of a presented API key: `None` when the key is unknown, does not
/// match its stored hash, is revoked, or is not of the kind it claims to be.
///
/// The prefix is public (it is listed and logged), so finding it by an ordinary indexed lookup
/// reveals nothing; the secret part is only ever compared in constant time. This is the one
/// lookup not scoped to a tenant: it is how a request's tenant is found.
pub async fn api_key(
    state: &AppState,
    presented: &ApiKeySecret,
) -> Result<Option<Caller>, ApiError> {
    let stored = match state.store.api_key_by_prefix(presented.prefix()).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(ApiError::internal(e)),
    };
    if !presented.hash().matches(&stored.key_hash)
        || stored.revoked_at.is_some()
        || stored.kind != presented.kind()
    {
        return Ok(None);
    }
    let tenant = state
        .store
        .tenant(&stored.tenant_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Some(Caller {
        tenant,
        kind: stored.kind,
        key_prefix: stored.prefix,
    }))
}

/// A user acting for themselves with a user token: a token the app's backend minted (purpose
/// `user`), the result token of a passkey sign-in (purpose `authentication`), or an MFA
/// challenge, as the route accepts.
#[derive(Clone, Debug)]
pub struct UserCaller {
    /// The token's tenant.
    pub tenant: Tenant,
    /// The token's user, as stored when the request came in.
    pub user: User,
    /// The verified claims (`role` and `domain` feed the tenant's policies).
    pub claims: ResultClaims,
    /// When the token was verified (the server's clock), Unix seconds.
    pub verified_at: i64,
}

impl UserCaller {
    /// The audit trail's name for the caller.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.id)
    }

    /// Seconds since the user proved the factor of their token (`auth_time`), never negative.
    pub fn auth_age_secs(&self) -> i64 {
        self.verified_at
            .saturating_sub(self.claims.auth_time)
            .max(0)
    }

    /// Seconds since the token was issued (`iat`), never negative.
    pub fn token_age_secs(&self) -> i64 {
        self.verified_at.saturating_sub(self.claims.iat).max(0)
    }

    /// Whether the token is a step-up: its `amr` shows a passkey or a backup code, proved at
    /// most `max_age_secs` ago. A token the app minted (`amr: []`) never is, however new.
    pub fn stepped_up(&self, max_age_secs: u32) -> bool {
        let proved = self
            .claims
            .amr
            .iter()
            .any(|m| token_keys::FACTOR_AMR.contains(&m.as_str()));
        // `auth_time` in the future (beyond the skew `tokens::verify` allows for `iat`) is
        // not a fresh proof but a forged or broken one.
        let not_future = self.claims.auth_time <= self.verified_at.saturating_add(MAX_CLOCK_SKEW);
        proved && not_future && self.auth_age_secs() <= i64::from(max_age_secs)
    }

    /// The settings of the caller's tenant.
    pub fn settings(&self) -> Result<TenantSettings, ApiError> {
        TenantSettings::from_map(&self.tenant.settings).map_err(ApiError::internal)
    }

    /// The caller as the tenant's policies see them: the user, with the token's role and
    /// domain, and how the token was earned (the request context).
    pub fn principal(&self) -> Principal {
        Principal::User {
            id: self.user.id.clone(),
            role: self.claims.role.clone(),
            domain: self.claims.domain.clone(),
            token: Some(TokenFacts {
                amr: self.claims.amr.clone(),
                auth_time: self.claims.auth_time,
                auth_age_secs: self.auth_age_secs(),
                token_age_secs: self.token_age_secs(),
            }),
        }
    }

    /// A ceremony context for the caller (a user, not the app's backend), with `settings` of
    /// their tenant.
    pub fn ceremony_context(
        &self,
        settings: TenantSettings,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Context {
        Context {
            tenant: self.tenant.clone(),
            settings,
            secret: false,
            actor: self.actor(),
            ip,
            request_id,
            sessions: SessionKeys::RandomToken,
            bound_user: None,
        }
    }
}

/// The tenant `tenant_id` and the claims of `token`, a token of one of the `accepted` purposes
/// verified with that tenant's keys only; `None` when the tenant is unknown or the token does
/// not verify. A token of tenant X never acts at tenant Y: a token altered to name Y carries
/// X's key ID, which Y does not have.
pub async fn verified_token(
    state: &AppState,
    tenant_id: &TenantId,
    token: &str,
    accepted: &[Purpose],
) -> Result<Option<(Tenant, ResultClaims)>, ApiError> {
    let tenant = match state.store.tenant(tenant_id).await {
        Ok(tenant) => tenant,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(ApiError::internal(e)),
    };
    match token_keys::verify_for(state, &tenant, token, accepted).await {
        Ok(claims) => Ok(Some((tenant, claims))),
        Err(UserTokenError::Invalid) => Ok(None),
        Err(UserTokenError::Internal(e)) => Err(e),
    }
}

/// The caller of a token verified by [`verified_token`]: `None` when its user no longer
/// exists, or exists again under the same ID but is another user (a new row has a new random
/// user handle, which the token's binding does not match). The token dies with its user.
pub async fn token_user(
    state: &AppState,
    tenant: Tenant,
    claims: ResultClaims,
) -> Result<Option<UserCaller>, ApiError> {
    let user = match state.store.user(&tenant.id, &claims.sub).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(ApiError::internal(e)),
    };
    if !token_keys::bound_to(state, &tenant, &user, &claims) {
        return Ok(None);
    }
    Ok(Some(UserCaller {
        tenant,
        user,
        claims,
        verified_at: state.clock.now().0,
    }))
}
