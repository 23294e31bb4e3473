//! Who is calling: the [`Tenant`] extractor resolves `X-Api-Key` to the tenant it acts for,
//! and [`UserCaller`] resolves `Authorization: Bearer <user token>` to a user of a tenant.
//!
//! This is the tenancy boundary of the API. A handler that takes [`Tenant`] only ever passes
//! `tenant.0.id` to the service, so it cannot reach another tenant's rows; a handler that takes
//! [`UserCaller`] only ever passes its tenant and its user's ID. The key and token checks
//! themselves are the service's ([`crate::service::callers`]); this module reads them from the
//! request's headers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::service::{self, callers};
pub use crate::service::{Caller, UserCaller};
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::tenant::TenantId;
use crate::token_keys::Purpose;
use crate::tokens::MAX_TOKEN_LEN;

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
pub struct Tenant(pub service::Tenant);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Some(caller) if caller.kind == ApiKeyKind::Secret => Ok(Self(caller.tenant)),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// [`Caller`], the caller of a route that takes either key: the app's backend (secret key) or
/// a browser (publishable key, browser-direct flow).
///
/// A publishable-key request that carries an `Origin` header must come from one of the
/// tenant's origins (403 `forbidden`), so a page elsewhere cannot drive the tenant's public
/// routes from a visitor's browser.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state)
            .await?
            .ok_or(ApiError::UnauthenticatedAnyKey)?;
        if caller.kind == ApiKeyKind::Publishable {
            if let Some(origin) = parts.headers.get(header::ORIGIN) {
                // The tenant's own origins and its related origins (`crate::origins`); settings
                // that do not parse allow only the former.
                let settings =
                    TenantSettings::from_map(&caller.tenant.settings).unwrap_or_default();
                let allowed = origin.to_str().is_ok_and(|o| {
                    crate::origins::web_origin_allowed(&caller.tenant.origins, &settings, o)
                });
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
    let Some(caller) = callers::api_key(state, &presented).await? else {
        return Ok(None);
    };
    if let Some(expected) = parts.headers.get(TENANT_ID) {
        if expected.as_bytes() != caller.tenant.id.as_str().as_bytes() {
            return Err(ApiError::TenantMismatch);
        }
    }
    Ok(Some(caller))
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

/// [`UserCaller`]: a user acting for themselves with a user token (`Authorization: Bearer
/// <token>`): a token the app's backend minted at `POST /users/{userId}/tokens` (purpose
/// `user`), or the result token of a passkey sign-in (purpose `authentication`).
///
/// The token names its tenant; it is verified with that tenant's keys only, so a token of
/// tenant X never acts at tenant Y (a token altered to name Y carries X's key ID, which Y does
/// not have). The user must still exist. Any failure is 401 `unauthenticated`, whatever the
/// cause (missing, malformed, forged, expired, wrong purpose, unknown tenant or user), with
/// `WWW-Authenticate: Bearer`; an `X-Tenant-ID` header naming another tenant than the
/// (verified) token's is 403 `tenant_mismatch`.
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
    let internal = BearerRejection;
    let (tenant, claims) = callers::verified_token(state, tenant_id, token, accepted)
        .await
        .map_err(internal)?
        .ok_or_else(bad_user_token)?;
    if let Some(expected) = headers.get(TENANT_ID) {
        if expected.as_bytes() != tenant.id.as_str().as_bytes() {
            return Err(BearerRejection(ApiError::TenantMismatch));
        }
    }
    callers::token_user(state, tenant, claims)
        .await
        .map_err(internal)?
        .ok_or_else(bad_user_token)
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
