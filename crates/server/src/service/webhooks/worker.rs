//! The delivery worker every `passkeyd serve` runs: it leases due outbox rows, posts each to
//! its endpoint, signed, and records the attempt. At least once: a row is given up only after
//! [`WebhookConfig::max_attempts`] failed attempts (recorded as `failed`), and a node that
//! dies holding a lease loses it when the lease runs out, so another node (or this one, once
//! restarted) sends it again. Receivers deduplicate on `webhook-id`.

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use tokio::task::JoinSet;

use super::settings::WebhookEndpoint;
use super::signing;
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::store::{DeliveryStatus, WebhookAttempt, WebhookDelivery};

/// How much of a receiver's answer is kept in the delivery log.
pub const EXCERPT_BYTES: usize = 256;

/// The worker's settings (`[webhooks]` in the configuration file).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// How long one attempt may take, connection included, in milliseconds.
    pub timeout_ms: u64,
    /// How long a node holds a row it is delivering before others may take it; longer than
    /// `timeout_ms`.
    pub lease_ms: u64,
    /// The wait before the second attempt; each later wait doubles, up to `retry_cap_ms`,
    /// and is drawn between half of it and all of it (jitter).
    pub retry_base_ms: u64,
    /// The longest wait between attempts.
    pub retry_cap_ms: u64,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: u32,
    /// How often the worker looks for due deliveries.
    pub poll_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            lease_ms: 60_000,
            retry_base_ms: 5_000,
            retry_cap_ms: 6 * 3_600_000,
            max_attempts: 12,
            poll_ms: 1_000,
        }
    }
}

impl WebhookConfig {
    /// Range checks: a lease must outlast an attempt, and every value must be usable.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.timeout_ms == 0 || self.lease_ms <= self.timeout_ms {
            return Err("webhooks.lease_ms must be longer than webhooks.timeout_ms (> 0)");
        }
        if self.retry_base_ms == 0 || self.retry_cap_ms < self.retry_base_ms {
            return Err("webhooks.retry_cap_ms must be at least webhooks.retry_base_ms (> 0)");
        }
        if !(1..=100).contains(&self.max_attempts) || self.poll_ms == 0 {
            return Err("webhooks.max_attempts must be 1 to 100, webhooks.poll_ms above 0");
        }
        Ok(())
    }

    /// The wait after `attempts` failed attempts (1 or more): `retry_base_ms` doubled for each
    /// attempt after the first, at most `retry_cap_ms`, then drawn between half and all of it.
    pub fn backoff_ms(&self, attempts: u32, rng: &dyn SecureRandom) -> u64 {
        let doublings = attempts.saturating_sub(1).min(40);
        let full = self
            .retry_base_ms
            .saturating_mul(1_u64 << doublings)
            .min(self.retry_cap_ms);
        let mut bytes = [0u8; 8];
        let draw = rng
            .fill(&mut bytes)
            .map_or(0, |()| u64::from_le_bytes(bytes));
        let half = full / 2;
        half + draw % (full - half + 1)
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The HTTP client of deliveries: bounded in time, never following a redirect (a receiver
/// cannot send passkeyd elsewhere), HTTPS through rustls.
pub fn client(config: &WebhookConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .connect_timeout(Duration::from_millis(config.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("passkeyd-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// How many deliveries a node leases at a time.
const BATCH: u32 = 16;

/// Delivers due webhook messages until the task is dropped (the server stops it with
/// `abort`; a delivery cut short is sent again once its lease runs out).
pub async fn run(state: AppState) {
    let config = state.config.webhooks.clone();
    let rng = SystemRandom::new();
    let node = {
        let mut bytes = [0u8; 12];
        let _ = rng.fill(&mut bytes);
        format!("node_{}", passkeyd_webauthn::json::base64url_encode(&bytes))
    };
    let client = match client(&config) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; none are sent");
            return;
        }
    };
    let lease = i64::try_from(config.lease_ms).unwrap_or(i64::MAX);
    loop {
        let leased = state
            .store
            .lease_webhook_deliveries(&node, now_ms(), lease, BATCH)
            .await;
        let busy = match leased {
            Ok(deliveries) => {
                let busy = !deliveries.is_empty();
                let mut tasks = JoinSet::new();
                for delivery in deliveries {
                    let (state, client, node) = (state.clone(), client.clone(), node.clone());
                    tasks.spawn(async move {
                        let attempt = attempt(&state, &client, &delivery).await;
                        record(&state, &node, &delivery, attempt).await;
                    });
                }
                while tasks.join_next().await.is_some() {}
                busy
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: cannot read the outbox");
                false
            }
        };
        if !busy {
            tokio::time::sleep(Duration::from_millis(config.poll_ms)).await;
        }
    }
}

/// The outcome of one attempt before it is scheduled: delivered, a failure worth retrying, or
/// one that will not get better (the endpoint is gone).
enum Outcome {
    Delivered(u16, Option<String>),
    Final(&'static str),
    Retry(Option<u16>, String, Option<String>),
}

/// Posts `delivery` to its endpoint once.
async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    delivery: &WebhookDelivery,
) -> Outcome {
    let tenant = delivery.tenant_id.as_str();
    let message = &delivery.message;
    let Some(endpoint) = endpoint(state, delivery).await else {
        return Outcome::Final("endpoint_removed");
    };
    let Some(secret) = endpoint.secret_bytes(&state.master_key, tenant) else {
        return Outcome::Final("secret_unreadable");
    };
    if super::settings::check_url(&endpoint.url).is_err() {
        return Outcome::Final("url_refused");
    }
    let timestamp = now_ms() / 1000;
    let signature = signing::signature(
        &secret,
        &message.message_id,
        timestamp,
        message.payload.as_bytes(),
    );
    let sent = client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &message.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(message.payload.clone())
        .send()
        .await;
    match sent {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let excerpt = excerpt(&mut response).await;
            if response.status().is_success() {
                Outcome::Delivered(status, excerpt)
            } else {
                Outcome::Retry(Some(status), format!("http_{status}"), excerpt)
            }
        }
        Err(e) => {
            let code = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "request"
            };
            Outcome::Retry(None, code.to_owned(), None)
        }
    }
}

/// The endpoint `delivery` was written for, as the tenant's settings have it now (its secret
/// may have been replaced since); `None` when it is gone.
async fn endpoint(state: &AppState, delivery: &WebhookDelivery) -> Option<WebhookEndpoint> {
    let tenant = state.store.tenant(&delivery.tenant_id).await.ok()?;
    let settings = TenantSettings::from_map(&tenant.settings).ok()?;
    settings
        .webhooks
        .into_iter()
        .find(|e| e.url == delivery.message.endpoint_url)
}

/// At most [`EXCERPT_BYTES`] of the answer's body, read no further than that.
async fn excerpt(response: &mut reqwest::Response) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    kept.truncate(EXCERPT_BYTES);
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

/// Records an attempt: delivered, scheduled again after a backoff, or given up.
async fn record(state: &AppState, node: &str, delivery: &WebhookDelivery, outcome: Outcome) {
    let config = &state.config.webhooks;
    let at = now_ms();
    let attempts = delivery.attempts.saturating_add(1);
    let failed = |http_status, error: String, response_excerpt| {
        let give_up = attempts >= config.max_attempts;
        let wait = config.backoff_ms(attempts, &SystemRandom::new());
        WebhookAttempt {
            at,
            status: if give_up {
                DeliveryStatus::Failed
            } else {
                DeliveryStatus::Pending
            },
            next_attempt_at: at.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)),
            http_status,
            error: Some(error),
            response_excerpt,
        }
    };
    let attempt = match outcome {
        Outcome::Delivered(status, excerpt) => WebhookAttempt {
            at,
            status: DeliveryStatus::Delivered,
            next_attempt_at: at,
            http_status: Some(status),
            error: None,
            response_excerpt: excerpt,
        },
        Outcome::Final(code) => WebhookAttempt {
            status: DeliveryStatus::Failed,
            ..failed(None, code.to_owned(), None)
        },
        Outcome::Retry(status, code, excerpt) => failed(status, code, excerpt),
    };
    tracing::info!(
        delivery = %delivery.message.id,
        event = %delivery.message.event_type,
        status = attempt.status.as_str(),
        error = attempt.error.as_deref().unwrap_or(""),
        "webhook attempt"
    );
    match state
        .store
        .finish_webhook_attempt(&delivery.message.id, node, &attempt)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            delivery = %delivery.message.id,
            "webhooks: the lease ran out before the attempt was recorded"
        ),
        Err(e) => tracing::warn!(error = %e, "webhooks: cannot record an attempt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let config = WebhookConfig {
            retry_base_ms: 1_000,
            retry_cap_ms: 10_000,
            ..WebhookConfig::default()
        };
        let rng = SystemRandom::new();
        for _ in 0..100 {
            assert!((500..=1_000).contains(&config.backoff_ms(1, &rng)));
            assert!((1_000..=2_000).contains(&config.backoff_ms(2, &rng)));
            assert!((4_000..=8_000).contains(&config.backoff_ms(4, &rng)));
            assert!((5_000..=10_000).contains(&config.backoff_ms(5, &rng)));
            assert!((5_000..=10_000).contains(&config.backoff_ms(99, &rng)));
        }
        assert!(WebhookConfig::default().check().is_ok());
        let short_lease = WebhookConfig {
            lease_ms: 5_000,
            timeout_ms: 5_000,
            ..WebhookConfig::default()
        };
        assert!(short_lease.check().is_err());
    }
}
