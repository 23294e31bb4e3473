//! Request rate limits (DESIGN.md §3 "Limits").
//!
//! The public routes, which browsers call directly with a publishable key, are limited per
//! client IP and per tenant. The secret-key API is the app's own backend: all of its users come
//! from a few addresses, so it is never limited per IP, only by a per-tenant quota that is off
//! unless configured. A refusal answers 429 `rate_limited` with `Retry-After`.
//!
//! Failed ceremony finishes on the public routes are throttled too, per client IP and tenant
//! ([`RateLimiter::check_failures`], [`RateLimiter::record_failure`]): a client that keeps
//! failing waits, whoever it names. No failure of a passkey ceremony counts against the user
//! it names (a stranger could lock anyone out that way); only guessable secrets (backup codes)
//! have a per-user budget, in `backup_codes`.
//!
//! Limits are GCRA buckets (governor), held in memory per process: several replicas each
//! allow the configured rate. Call [`RateLimiter::sweep`] periodically to forget idle keys.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};
use serde::Deserialize;

/// The configurable limits. For every `*_per_minute` value, 0 means no limit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Public-route requests per minute from one client IP (an IPv6 /64) to one tenant.
    pub public_per_ip_per_minute: u32,
    /// How many public-route requests one client IP may make at once before the per-minute
    /// rate applies (a passkey sign-in is two requests, a page may start several). 0 means a
    /// full minute's worth.
    pub public_per_ip_burst: u32,
    /// Public-route requests per minute to one tenant, from all clients together (the burst
    /// is a full minute's worth).
    pub public_per_tenant_per_minute: u32,
    /// Secret-key API requests per minute for one tenant; `None` (the default) means no limit.
    pub secret_per_tenant_per_minute: Option<u32>,
    /// Failed public ceremony finishes per hour from one client IP (an IPv6 /64) to one
    /// tenant, after a burst of [`Self::public_failures_per_ip_burst`]; past it the client's
    /// ceremony begins and finishes answer 429 until the bucket refills. 0: no limit.
    pub public_failures_per_ip_per_hour: u32,
    /// How many failures in a row one client IP may have before the hourly rate applies: the
    /// failure after them makes the client wait.
    pub public_failures_per_ip_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            public_per_ip_per_minute: 60,
            public_per_ip_burst: 20,
            public_per_tenant_per_minute: 6000,
            secret_per_tenant_per_minute: None,
            public_failures_per_ip_per_hour: 60,
            public_failures_per_ip_burst: 10,
        }
    }
}

/// A request refused for going over a limit: answer 429 `rate_limited` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; retry after {retry_after_secs} s")]
pub struct RateLimited {
    /// Seconds until a retry can succeed, rounded up; at least 1.
    pub retry_after_secs: u64,
}

impl IntoResponse for RateLimited {
    /// A bare 429 with `Retry-After`; the error-rendering middleware gives it the envelope
    /// (code `rate_limited`) and keeps the header.
    fn into_response(self) -> Response {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, self.retry_after_secs.to_string())],
        )
            .into_response()
    }
}

/// The rate limiters of one server, built from a [`RateLimitConfig`]. Share it in an `Arc`.
pub struct RateLimiter {
    config: RateLimitConfig,
    /// Keyed on (tenant, client): see [`client_key`].
    public_per_ip: Option<DefaultKeyedRateLimiter<(String, IpAddr)>>,
    public_per_tenant: Option<DefaultKeyedRateLimiter<String>>,
    secret_per_tenant: Option<DefaultKeyedRateLimiter<String>>,
    /// Failed public finishes, keyed as `public_per_ip`.
    failures_per_ip: Option<DefaultKeyedRateLimiter<(String, IpAddr)>>,
    /// The clients whose failure bucket ran dry, and until when. governor can only take from a
    /// bucket, not look into it, and a request must be refused before it can fail again; this
    /// small map (swept with the buckets) holds that answer.
    failing: Mutex<HashMap<(String, IpAddr), Instant>>,
}

impl fmt::Debug for RateLimiter {
    /// The configuration only: the keys are client addresses, which do not belong in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Limiters for `config`; a limit of 0 (or `None`) is not enforced at all.
    pub fn new(config: RateLimitConfig) -> Self {
        let public_per_ip = NonZeroU32::new(config.public_per_ip_per_minute).map(|rate| {
            let burst = NonZeroU32::new(config.public_per_ip_burst).unwrap_or(rate);
            governor::RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        let failures_per_ip = NonZeroU32::new(config.public_failures_per_ip_per_hour).map(|rate| {
            let burst = NonZeroU32::new(config.public_failures_per_ip_burst).unwrap_or(rate);
            governor::RateLimiter::keyed(Quota::per_hour(rate).allow_burst(burst))
        });
        Self {
            public_per_ip,
            failures_per_ip,
            failing: Mutex::new(HashMap::new()),
            public_per_tenant: per_minute(config.public_per_tenant_per_minute),
            secret_per_tenant: config.secret_per_tenant_per_minute.and_then(per_minute),
            config,
        }
    }

    /// The configuration the limiters were built from.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Admits a public-route request from `ip` to `tenant`: the per-IP limit first, then the
    /// tenant's, so a client refused for its own rate does not spend the tenant's budget.
    pub fn check_public(&self, tenant: &str, ip: IpAddr) -> Result<(), RateLimited> {
        if let Some(limiter) = &self.public_per_ip {
            limiter
                .check_key(&(tenant.to_owned(), client_key(ip)))
                .map_err(|e| refusal(limiter, &e))?;
        }
        check_tenant(self.public_per_tenant.as_ref(), tenant)
    }

    /// Admits a secret-key API request for `tenant`, against the tenant quota if one is set.
    /// Never per IP: the caller is the app's backend, one address for all of its users.
    pub fn check_secret(&self, tenant: &str) -> Result<(), RateLimited> {
        check_tenant(self.secret_per_tenant.as_ref(), tenant)
    }

    /// Refuses a public client from `ip` that has failed too many ceremonies at `tenant`
    /// lately (see [`Self::record_failure`]). Spends nothing.
    pub fn check_failures(&self, tenant: &str, ip: IpAddr) -> Result<(), RateLimited> {
        let key = (tenant.to_owned(), client_key(ip));
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match failing.get(&key) {
            Some(until) => {
                let now = Instant::now();
                if *until <= now {
                    failing.remove(&key);
                    return Ok(());
                }
                Err(retry_after(*until - now))
            }
            None => Ok(()),
        }
    }

    /// Counts a failed public ceremony finish from `ip` at `tenant`; when the client's failure
    /// bucket is empty, its requests are refused until one failure's worth has refilled.
    pub fn record_failure(&self, tenant: &str, ip: IpAddr) {
        let Some(limiter) = &self.failures_per_ip else {
            return;
        };
        let key = (tenant.to_owned(), client_key(ip));
        if let Err(not_until) = limiter.check_key(&key) {
            let wait = not_until.wait_time_from(limiter.clock().now());
            let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
            failing.insert(key, Instant::now() + wait);
        }
    }

    /// Forgets the keys whose buckets are full again (indistinguishable from new ones) and
    /// releases the memory. Call it periodically, say every minute: without it, every
    /// address ever seen keeps an entry.
    pub fn sweep(&self) {
        for limiter in [&self.public_per_tenant, &self.secret_per_tenant]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in [&self.public_per_ip, &self.failures_per_ip]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        failing.retain(|_, until| *until > now);
        failing.shrink_to_fit();
    }
}

/// The refusal for a wait of `wait`, rounded up to whole seconds, at least 1.
fn retry_after(wait: Duration) -> RateLimited {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    RateLimited {
        retry_after_secs: secs.max(1),
    }
}

fn per_minute(rate: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(rate).map(|rate| governor::RateLimiter::keyed(Quota::per_minute(rate)))
}

fn check_tenant(
    limiter: Option<&DefaultKeyedRateLimiter<String>>,
    tenant: &str,
) -> Result<(), RateLimited> {
    match limiter {
        Some(limiter) => limiter
            .check_key(&tenant.to_owned())
            .map_err(|e| refusal(limiter, &e)),
        None => Ok(()),
    }
}

/// The refusal for `not_until`, measured on the limiter's own clock, which made the decision.
fn refusal<K: Clone + std::hash::Hash + Eq>(
    limiter: &DefaultKeyedRateLimiter<K>,
    not_until: &NotUntil<<governor::clock::DefaultClock as Clock>::Instant>,
) -> RateLimited {
    retry_after(not_until.wait_time_from(limiter.clock().now()))
}

/// The key a client is limited by: its IPv4 address, or its IPv6 /64.
///
/// An IPv6 client is normally given a whole /64 (SLAAC, privacy addresses) and can pick a
/// fresh address from it at will, so keying on the full address would let one client rotate
/// through 2^64 buckets. IPv4 addresses seen through a dual-stack socket (`::ffff:a.b.c.d`)
/// are unmapped first: as IPv6 they would all fall into one /64 and share a single bucket.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = v6.to_bits() & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from_bits(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn v6(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Only the per-IP limit, with a burst of `burst` and a slow refill.
    fn per_ip_only(burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            public_per_ip_per_minute: 1,
            public_per_ip_burst: burst,
            public_per_tenant_per_minute: 0,
            secret_per_tenant_per_minute: None,
            ..RateLimitConfig::default()
        })
    }

    #[test]
    fn the_burst_passes_then_requests_are_limited() {
        let limiter = RateLimiter::new(RateLimitConfig::default());
        for i in 0..20 {
            assert_eq!(limiter.check_public("t", v4(1)), Ok(()), "request {i}");
        }
        let refused = limiter.check_public("t", v4(1)).unwrap_err();
        // 60 a minute: one more in about a second.
        assert_eq!(refused.retry_after_secs, 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        let limiter = per_ip_only(2);
        limiter.check_public("t", v4(1)).unwrap();
        limiter.check_public("t", v4(1)).unwrap();
        let refused = limiter.check_public("t", v4(1)).unwrap_err();
        // One per minute: just under 60 s to wait, answered as 60.
        assert_eq!(refused.retry_after_secs, 60);
    }

    #[test]
    fn clients_and_tenants_have_their_own_buckets() {
        let limiter = per_ip_only(1);
        limiter.check_public("t", v4(1)).unwrap();
        assert!(limiter.check_public("t", v4(1)).is_err());
        assert_eq!(limiter.check_public("t", v4(2)), Ok(()));
        assert_eq!(limiter.check_public("other", v4(1)), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let limiter = per_ip_only(1);
        limiter.check_public("t", v6("2001:db8:1:2::1")).unwrap();
        assert!(limiter
            .check_public("t", v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
            .is_err());
        assert_eq!(limiter.check_public("t", v6("2001:db8:1:3::1")), Ok(()));
    }

    #[test]
    fn mapped_ipv4_clients_are_not_lumped_together() {
        let limiter = per_ip_only(1);
        limiter.check_public("t", v6("::ffff:192.0.2.1")).unwrap();
        assert_eq!(limiter.check_public("t", v6("::ffff:192.0.2.2")), Ok(()));
        // The same client, whichever socket family it arrived on.
        assert!(limiter.check_public("t", v4(1)).is_err());
    }

    #[test]
    fn the_tenant_limit_covers_all_clients() {
        let limiter = RateLimiter::new(RateLimitConfig {
            public_per_ip_per_minute: 0,
            public_per_tenant_per_minute: 3,
            ..RateLimitConfig::default()
        });
        for last in 1..=3 {
            limiter.check_public("t", v4(last)).unwrap();
        }
        let refused = limiter.check_public("t", v4(4)).unwrap_err();
        assert!(refused.retry_after_secs >= 1);
        assert_eq!(limiter.check_public("other", v4(4)), Ok(()));
    }

    #[test]
    fn a_client_over_its_limit_does_not_spend_the_tenant_budget() {
        let limiter = RateLimiter::new(RateLimitConfig {
            public_per_ip_per_minute: 1,
            public_per_ip_burst: 1,
            public_per_tenant_per_minute: 2,
            secret_per_tenant_per_minute: None,
            ..RateLimitConfig::default()
        });
        limiter.check_public("t", v4(1)).unwrap();
        for _ in 0..10 {
            assert!(limiter.check_public("t", v4(1)).is_err());
        }
        assert_eq!(limiter.check_public("t", v4(2)), Ok(()));
    }

    #[test]
    fn zero_disables_a_limit() {
        let limiter = RateLimiter::new(RateLimitConfig {
            public_per_ip_per_minute: 0,
            public_per_ip_burst: 0,
            public_per_tenant_per_minute: 0,
            secret_per_tenant_per_minute: Some(0),
            ..RateLimitConfig::default()
        });
        for _ in 0..10_000 {
            assert_eq!(limiter.check_public("t", v4(1)), Ok(()));
            assert_eq!(limiter.check_secret("t"), Ok(()));
        }
    }

    #[test]
    fn a_zero_burst_means_a_minute_of_requests() {
        let limiter = RateLimiter::new(RateLimitConfig {
            public_per_ip_per_minute: 5,
            public_per_ip_burst: 0,
            public_per_tenant_per_minute: 0,
            secret_per_tenant_per_minute: None,
            ..RateLimitConfig::default()
        });
        for _ in 0..5 {
            limiter.check_public("t", v4(1)).unwrap();
        }
        assert!(limiter.check_public("t", v4(1)).is_err());
    }

    #[test]
    fn the_secret_api_is_unlimited_by_default() {
        let limiter = RateLimiter::new(RateLimitConfig::default());
        for _ in 0..10_000 {
            assert_eq!(limiter.check_secret("t"), Ok(()));
        }
    }

    #[test]
    fn the_secret_quota_is_per_tenant() {
        let limiter = RateLimiter::new(RateLimitConfig {
            secret_per_tenant_per_minute: Some(2),
            ..RateLimitConfig::default()
        });
        limiter.check_secret("t").unwrap();
        limiter.check_secret("t").unwrap();
        assert!(limiter.check_secret("t").unwrap_err().retry_after_secs >= 1);
        assert_eq!(limiter.check_secret("other"), Ok(()));
        // The public limits are separate budgets.
        assert_eq!(limiter.check_public("t", v4(1)), Ok(()));
    }

    #[test]
    fn sweep_keeps_live_buckets() {
        let limiter = RateLimiter::new(RateLimitConfig {
            public_per_ip_per_minute: 1,
            public_per_ip_burst: 1,
            public_per_tenant_per_minute: 6000,
            secret_per_tenant_per_minute: Some(100),
            ..RateLimitConfig::default()
        });
        limiter.check_public("t", v4(1)).unwrap();
        limiter.check_secret("t").unwrap();
        limiter.sweep();
        // v4(1) spent its only token a moment ago: its bucket survives the sweep.
        assert!(limiter.check_public("t", v4(1)).is_err());
        assert_eq!(limiter.check_public("t", v4(2)), Ok(()));
        assert_eq!(limiter.check_secret("t"), Ok(()));
        limiter.sweep();
        assert!(limiter.check_public("t", v4(2)).is_err());
        let per_ip = limiter.public_per_ip.as_ref().unwrap();
        assert_eq!(per_ip.len(), 2);
    }

    #[test]
    fn failures_are_throttled_per_client_and_tenant_and_refill() {
        let limiter = RateLimiter::new(RateLimitConfig {
            public_failures_per_ip_per_hour: 3_600,
            public_failures_per_ip_burst: 2,
            ..RateLimitConfig::default()
        });
        for _ in 0..2 {
            assert_eq!(limiter.check_failures("t", v4(1)), Ok(()));
            limiter.record_failure("t", v4(1));
        }
        assert_eq!(
            limiter.check_failures("t", v4(1)),
            Ok(()),
            "the burst is two failures"
        );
        limiter.record_failure("t", v4(1));
        let refused = limiter.check_failures("t", v4(1)).unwrap_err();
        assert_eq!(
            refused.retry_after_secs, 1,
            "one failure refills in a second"
        );
        assert_eq!(limiter.check_failures("t", v4(2)), Ok(()), "another client");
        assert_eq!(limiter.check_failures("u", v4(1)), Ok(()), "another tenant");
    }

    #[test]
    fn zero_failures_per_hour_turns_the_throttle_off() {
        let limiter = RateLimiter::new(RateLimitConfig {
            public_failures_per_ip_per_hour: 0,
            ..RateLimitConfig::default()
        });
        for _ in 0..100 {
            limiter.record_failure("t", v4(1));
        }
        assert_eq!(limiter.check_failures("t", v4(1)), Ok(()));
    }

    #[test]
    fn the_config_reads_partially_and_rejects_unknown_keys() {
        let config: RateLimitConfig = toml::from_str("public_per_ip_per_minute = 10").unwrap();
        assert_eq!(
            config,
            RateLimitConfig {
                public_per_ip_per_minute: 10,
                ..RateLimitConfig::default()
            }
        );
        let config: RateLimitConfig = toml::from_str("secret_per_tenant_per_minute = 600").unwrap();
        assert_eq!(config.secret_per_tenant_per_minute, Some(600));
        assert!(toml::from_str::<RateLimitConfig>("per_ip = 10").is_err());
    }

    #[tokio::test]
    async fn the_refusal_renders_as_rate_limited_with_retry_after() {
        let app = Router::new()
            .route(
                "/limited",
                get(|| async {
                    Err::<(), _>(RateLimited {
                        retry_after_secs: 7,
                    })
                }),
            )
            .layer(axum::middleware::from_fn(crate::error::render_errors));
        let request = Request::get("/limited").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "rate_limited");
    }
}
