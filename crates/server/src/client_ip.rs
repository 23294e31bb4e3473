//! The client's address, from the connection and the trusted proxies' `X-Forwarded-For`: for
//! the per-IP rate limits and the audit trail. Below the routes and `auth`, which both need it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::state::AppState;

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
        Ok(Self::of(parts, state))
    }
}

impl ClientIp {
    /// The client of the request `parts`.
    pub fn of(parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_canonical());
        let Some(peer) = peer else {
            return Self(None);
        };
        let config = &state.config;
        let trusted_hops = if !config.trusted_proxies.is_empty() {
            usize::MAX
        } else if config.trust_forwarded_for {
            1
        } else {
            return Self(Some(peer));
        };
        let is_trusted = |ip: &IpAddr| {
            config.trusted_proxies.is_empty()
                || config.trusted_proxies.iter().any(|net| net.contains(ip))
        };
        Self(Some(client_ip(
            peer,
            &parts.headers,
            trusted_hops,
            is_trusted,
        )))
    }
}

/// Whether the request's direct peer is a proxy whose forwarding headers are believed, by
/// the rule of [`ClientIp`]: one of `PASSKEYD_TRUSTED_PROXIES` when set, else any peer with
/// `PASSKEYD_TRUST_FORWARDED_FOR=true`, else none.
pub fn peer_is_trusted_proxy(parts: &Parts, state: &AppState) -> bool {
    let config = &state.config;
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_canonical());
    match peer {
        Some(peer) if !config.trusted_proxies.is_empty() => {
            config.trusted_proxies.iter().any(|net| net.contains(&peer))
        }
        Some(_) => config.trust_forwarded_for,
        None => false,
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

#[cfg(test)]
mod tests;
