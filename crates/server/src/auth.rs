//! Who is calling: the [`Tenant`] extractor resolves `X-Api-Key` to the tenant it acts for,
//! and [`UserCaller`] resolves `Authorization: Bearer <user token>` to a user of a tenant.
//!
//! This is the tenancy boundary of the API. A handler that takes [`Tenant`] only ever passes
//! `tenant.0.id` to the store, so it cannot reach another tenant's rows; a handler that takes
//! [`UserCaller`] only ever passes its tenant and its user's ID.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{self, StoreError};
use crate::tenant::TenantId;
use crate::token_keys::{self, Purpose, UserTokenError};
use crate::tokens::{ResultClaims, MAX_CLOCK_SKEW, MAX_TOKEN_LEN};

/// The header carrying the tenant's secret API key.
pub const API_KEY: &str = "x-api-key";
/// The optional header naming the tenant the caller expects to act for.
pub const TENANT_ID: &str = "x-tenant-id";

/// The tenant of a request authenticated with a valid, unrevoked secret API key.
///
/// Rejections: 401 `unauthenticated` when the key is missing, malformed, unknown, revoked or a
/// publishable key; 403 `tenant_mismatch` when `X-Tenant-ID` is present and names another
/// tenant. The tenant check runs only after the key is verified, so an unauthenticated caller
/// learns nothing about which tenants exist.
#[derive(Clone, Debug)]
pub struct Tenant(pub store::Tenant);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Some(caller) if caller.kind == ApiKeyKind::Secret => Ok(Self(caller.tenant)),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// The caller of a route that takes either key: the app's backend (secret key) or a browser
/// (publishable key, browser-direct flow).
///
/// A publishable-key request that carries an `Origin` header must come from one of the
/// tenant's origins (403 `forbidden`), so a page elsewhere cannot drive the tenant's public
/// routes from a visitor's browser.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The tenant the key acts for.
    pub tenant: store::Tenant,
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
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state)
            .await?
            .ok_or(ApiError::UnauthenticatedAnyKey)?;
        if caller.kind == ApiKeyKind::Publishable {
            if let Some(origin) = parts.headers.get(header::ORIGIN) {
                let allowed = origin
                    .to_str()
                    .is_ok_and(|o| caller.tenant.origins.iter().any(|t| t == o));
                if !allowed {
                    return Err(ApiError::Forbidden(
                        "this origin is not one of the tenant's origins",
                    ));
                }
            }
        }
        Ok(caller)
    }
}

/// A [`Caller`] holding the secret key: the app's backend.
#[derive(Clone, Debug)]
pub struct SecretCaller(pub Caller);

impl FromRequestParts<AppState> for SecretCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Some(caller) if caller.is_secret() => Ok(Self(caller)),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// Resolves `X-Api-Key` to its tenant: `None` when the key is missing, malformed, unknown or
/// revoked; 403 `tenant_mismatch` when `X-Tenant-ID` names another tenant. The tenant check
/// runs only after the key is verified, so an unauthenticated caller learns nothing about
/// which tenants exist.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(presented) = parts
        .headers
        .get(API_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ApiKeySecret::parse(v).ok())
    else {
        return Ok(None);
    };
    // The prefix is public (it is listed and logged), so finding it by an ordinary indexed
    // lookup reveals nothing; the secret part is only ever compared in constant time.
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
    if let Some(expected) = parts.headers.get(TENANT_ID) {
        if expected.as_bytes() != tenant.id.as_str().as_bytes() {
            return Err(ApiError::TenantMismatch);
        }
    }
    Ok(Some(Caller {
        tenant,
        kind: stored.kind,
        key_prefix: stored.prefix,
    }))
}

/// A user acting for themselves with a user token (`Authorization: Bearer <token>`): a token
/// the app's backend minted at `POST /users/{userId}/tokens` (purpose `user`), or the result
/// token of a passkey sign-in (purpose `authentication`).
///
/// The token names its tenant; it is verified with that tenant's keys only, so a token of
/// tenant X never acts at tenant Y (a token altered to name Y carries X's key ID, which Y does
/// not have). The user must still exist. Any failure is 401 `unauthenticated`, whatever the
/// cause (missing, malformed, forged, expired, wrong purpose, unknown tenant or user), with
/// `WWW-Authenticate: Bearer`; an `X-Tenant-ID` header naming another tenant than the
/// (verified) token's is 403 `tenant_mismatch`.
#[derive(Clone, Debug)]
pub struct UserCaller {
    /// The token's tenant.
    pub tenant: store::Tenant,
    /// The token's user, as stored when the request came in.
    pub user: store::User,
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
}

/// The rejection of [`UserCaller`]: the error envelope, plus `WWW-Authenticate` on a 401
/// (RFC 6750 §3).
#[derive(Debug)]
pub struct BearerRejection(pub ApiError);

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let unauthenticated = self.0.status() == axum::http::StatusCode::UNAUTHORIZED;
        let mut response = self.0.into_response();
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"passkeyd\""),
            );
        }
        response
    }
}

/// The 401 of every refused user token: one code and message whatever the cause, so a caller
/// cannot probe which tenants, users or keys exist.
fn bad_user_token() -> BearerRejection {
    BearerRejection(ApiError::Token(
        "unauthenticated",
        "a valid user token is required in Authorization: Bearer",
    ))
}

impl FromRequestParts<AppState> for UserCaller {
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, BearerRejection> {
        let token = bearer_token(parts).ok_or_else(bad_user_token)?;
        Self::from_token(parts, state, token).await
    }
}

impl UserCaller {
    /// The caller of a user token presented some other way than `Authorization: Bearer` (the
    /// password of HTTP Basic, for a compatibility dialect): the same checks, the same
    /// rejections.
    ///
    /// The user routes are public (a browser calls them), so they are rate limited like the
    /// publishable-key routes, per client IP and tenant, before the token is even verified: a
    /// flood of junk tokens costs the sender as much as us.
    pub(crate) async fn from_token(
        parts: &Parts,
        state: &AppState,
        token: &str,
    ) -> Result<Self, BearerRejection> {
        let tenant_id = token_tenant(token).ok_or_else(bad_user_token)?;
        if let Some(ip) = ClientIp::of(parts, state).0 {
            state
                .rate_limits
                .check_public(tenant_id.as_str(), ip)
                .map_err(|e| {
                    BearerRejection(ApiError::RateLimited {
                        retry_after_secs: e.retry_after_secs,
                    })
                })?;
        }
        caller_of_tenant(
            state,
            &tenant_id,
            token,
            &parts.headers,
            &[Purpose::User, Purpose::Authentication],
        )
        .await
    }
}

/// The tenant a token names, read without verifying it; `None` for a token that cannot be one
/// (empty, oversized, or without a readable `tenant` claim).
fn token_tenant(token: &str) -> Option<TenantId> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    unverified_tenant(token)
}

/// The user a token of one of the `accepted` purposes acts for, with the checks of
/// [`UserCaller`]: any failure of the token is 401 `unauthenticated`, an `X-Tenant-ID` header
/// naming another tenant than the (verified) token's is 403 `tenant_mismatch`. For tokens that
/// travel elsewhere than in `Authorization` (the Jitsudo dialect's `challenge_id`).
pub(crate) async fn token_caller(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    accepted: &[Purpose],
) -> Result<UserCaller, BearerRejection> {
    let tenant_id = token_tenant(token).ok_or_else(bad_user_token)?;
    caller_of_tenant(state, &tenant_id, token, headers, accepted).await
}

/// [`token_caller`] for a token whose (unverified) tenant has been read already.
async fn caller_of_tenant(
    state: &AppState,
    tenant_id: &TenantId,
    token: &str,
    headers: &HeaderMap,
    accepted: &[Purpose],
) -> Result<UserCaller, BearerRejection> {
    let tenant = match state.store.tenant(tenant_id).await {
        Ok(tenant) => tenant,
        Err(StoreError::NotFound) => return Err(bad_user_token()),
        Err(e) => return Err(BearerRejection(ApiError::internal(e))),
    };
    let claims = match token_keys::verify_for(state, &tenant, token, accepted).await {
        Ok(claims) => claims,
        Err(UserTokenError::Invalid) => return Err(bad_user_token()),
        Err(UserTokenError::Internal(e)) => return Err(BearerRejection(e)),
    };
    if let Some(expected) = headers.get(TENANT_ID) {
        if expected.as_bytes() != tenant.id.as_str().as_bytes() {
            return Err(BearerRejection(ApiError::TenantMismatch));
        }
    }
    let user = match state.store.user(&tenant.id, &claims.sub).await {
        Ok(user) => user,
        // Deleted since the token was minted: the token dies with the user.
        Err(StoreError::NotFound) => return Err(bad_user_token()),
        Err(e) => return Err(BearerRejection(ApiError::internal(e))),
    };
    // And stays dead when the app creates the same user ID again: the new row has a new
    // random user handle, which the token's binding does not match.
    if !token_keys::bound_to(state, &tenant, &user, &claims) {
        return Err(bad_user_token());
    }
    Ok(UserCaller {
        tenant,
        user,
        claims,
        verified_at: state.clock.now().0,
    })
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_LEN)
        .then_some(token)
}

/// The `tenant` claim of a JWT, read without verifying anything: it only says whose keys to
/// verify the token with, and a lie there fails that verification.
fn unverified_tenant(token: &str) -> Option<TenantId> {
    #[derive(serde::Deserialize)]
    struct TenantClaim {
        tenant: String,
    }
    let mut segments = token.split('.');
    let (_header, payload) = (segments.next()?, segments.next()?);
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claim: TenantClaim = serde_json::from_slice(&payload).ok()?;
    TenantId::parse(&claim.tenant).ok()
}
