//! The HTTP routes, one file per resource.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::auth::Caller;
use crate::ceremony::{Context, SessionKeys};
use crate::error::{ApiError, REQUEST_ID};
use crate::settings::TenantSettings;
use crate::state::AppState;

pub mod admin;
pub mod audit;
pub mod authentication;
pub mod compat;
pub mod credentials;
pub mod demo;
pub mod health;
pub mod me;
pub mod openapi;
pub mod paging;
pub mod registration;
pub mod tenants;
pub mod tokens;
pub mod users;

/// The client's address, for the per-IP rate limits and the audit trail.
///
/// The connection's peer, unless the peer is a trusted proxy: then `X-Forwarded-For` is walked
/// from the right (each proxy appends the address it saw; everything left of a trusted entry
/// was written by someone the server does not trust), skipping trusted proxies, and the first
/// untrusted entry is the client. A malformed entry stops the walk: the last trusted hop is
/// taken, never what lies beyond it.
///
/// Who is trusted: with `PASSKEYD_TRUSTED_PROXIES`, the addresses in those CIDRs; otherwise with
/// `PASSKEYD_TRUST_FORWARDED_FOR=true`, the direct peer alone, whatever its address (one hop:
/// the rightmost entry is the client); otherwise nobody, and the header is ignored.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_canonical());
        let Some(peer) = peer else {
            return Ok(Self(None));
        };
        let config = &state.config;
        let trusted_hops = if !config.trusted_proxies.is_empty() {
            usize::MAX
        } else if config.trust_forwarded_for {
            1
        } else {
            return Ok(Self(Some(peer)));
        };
        let is_trusted = |ip: &IpAddr| {
            config.trusted_proxies.is_empty()
                || config.trusted_proxies.iter().any(|net| net.contains(ip))
        };
        Ok(Self(Some(client_ip(
            peer,
            &parts.headers,
            trusted_hops,
            is_trusted,
        ))))
    }
}

/// The client behind `peer` (see [`ClientIp`]): at most `trusted_hops` proxies, each of which
/// `is_trusted` must accept, are walked through from the right of `X-Forwarded-For`.
fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted_hops: usize,
    is_trusted: impl Fn(&IpAddr) -> bool,
) -> IpAddr {
    // Several header lines are one list, in order (RFC 9110 §5.3).
    let entries: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(forwarded_entry).collect(),
            Err(_) => vec![None],
        })
        .collect();
    let mut client = peer;
    let mut hops = 0;
    // `client` is trusted as long as the loop runs: its entry to the left is believed.
    while is_trusted(&client) && hops < trusted_hops {
        let Some(entry) = entries.len().checked_sub(hops + 1).map(|i| entries[i]) else {
            break;
        };
        let Some(ip) = entry else {
            break;
        };
        client = ip;
        hops += 1;
    }
    client
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`1.2.3.4:5`,
/// `[2001:db8::1]:5`) as some proxies write it. Anything else is malformed (`None`).
fn forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The ceremony context of a request, after the caller's rate limits: per client IP and per
/// tenant on the public routes, the tenant's quota (if any) with the secret key.
pub fn ceremony_context(
    state: &AppState,
    caller: Caller,
    ip: ClientIp,
    parts_request_id: Option<String>,
) -> Result<Context, ApiError> {
    let tenant_id = caller.tenant.id.as_str();
    let limited = if caller.is_secret() {
        state.rate_limits.check_secret(tenant_id)
    } else {
        match ip.0 {
            Some(ip) => state.rate_limits.check_public(tenant_id, ip),
            None => Ok(()),
        }
    };
    limited.map_err(|e| ApiError::RateLimited {
        retry_after_secs: e.retry_after_secs,
    })?;
    let settings = TenantSettings::from_map(&caller.tenant.settings).map_err(ApiError::internal)?;
    Ok(Context {
        secret: caller.is_secret(),
        actor: caller.actor(),
        tenant: caller.tenant,
        settings,
        ip: ip.0,
        request_id: parts_request_id,
        sessions: SessionKeys::RandomToken,
        bound_user: None,
    })
}

/// The request ID the request-ID layer set.
#[derive(Clone, Debug)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Self(
            parts
                .headers
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// A timestamp as RFC 3339 text.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
