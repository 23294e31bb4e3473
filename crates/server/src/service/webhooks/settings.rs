//! The tenant setting `webhooks`: the endpoints passkeyd posts events to, each with the events
//! it wants and its signing secret, sealed with the master key.
//!
//! Endpoints are set only by the operator (`passkeyd tenant update --set webhooks=[...]`) or
//! the admin API, never by a request a stranger can make. A secret is sent once, in clear, to
//! whoever sets it (generated when none is given); stored, it is sealed (AES-256-GCM under the
//! master key, bound to the tenant and the URL, as token signing keys are), and it is never
//! shown again, never logged.

use std::fmt;
use std::net::IpAddr;

use aws_lc_rs::rand::SecureRandom;
use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use serde::{Deserialize, Serialize};

use super::signing;
use crate::tokens::MasterKey;

/// The events an endpoint can ask for.
pub const EVENT_TYPES: &[&str] = &[
    "backup_codes.regenerated",
    "credential.created",
    "credential.deleted",
    "credential.renamed",
    "mfa.enrolled",
    "signin.failed",
    "signin.succeeded",
    "user.throttled",
];

/// The most endpoints a tenant may have.
pub const MAX_ENDPOINTS: usize = 10;
/// The longest endpoint URL.
pub const MAX_URL_LEN: usize = 2_048;

/// One endpoint as stored in the tenant's settings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// Where events are posted: `https://`, or `http://` to a loopback address only.
    pub url: String,
    /// The events it receives ([`EVENT_TYPES`]).
    pub events: Vec<String>,
    /// The secret in clear (`whsec_` and base64), only on the way in: sealed into
    /// `sealed_secret` before the settings are stored, and refused in stored settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The secret sealed with the master key (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl WebhookEndpoint {
    /// Whether this endpoint receives `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == event_type)
    }

    /// The signing secret's bytes, unsealed; `None` if it cannot be opened.
    pub fn secret_bytes(&self, master: &MasterKey, tenant: &str) -> Option<Vec<u8>> {
        let sealed = base64url_decode(self.sealed_secret.as_deref()?).ok()?;
        master
            .open(&sealed, seal_context(tenant, &self.url).as_bytes())
            .ok()
    }
}

/// What a sealed secret is bound to: its tenant and URL, so it cannot be moved to another.
fn seal_context(tenant: &str, url: &str) -> String {
    format!("passkeyd webhook secret v1/{tenant}/{url}")
}

/// A secret set for an endpoint, to show once to whoever set the endpoints.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct NewSecret {
    /// The endpoint.
    pub url: String,
    /// The secret, `whsec_...`.
    pub secret: String,
}

impl fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSecret")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Checks the endpoints as stored settings must be: at most [`MAX_ENDPOINTS`], URLs allowed by
/// [`check_url`] and each once, known events, and every secret sealed.
pub fn check(endpoints: &[WebhookEndpoint]) -> Result<(), &'static str> {
    if endpoints.len() > MAX_ENDPOINTS {
        return Err("webhooks: at most 10 endpoints");
    }
    for (i, endpoint) in endpoints.iter().enumerate() {
        check_url(&endpoint.url)?;
        if endpoints[..i].iter().any(|e| e.url == endpoint.url) {
            return Err("webhooks: each url may be listed once");
        }
        if endpoint.events.is_empty()
            || endpoint
                .events
                .iter()
                .any(|e| !EVENT_TYPES.contains(&e.as_str()))
        {
            return Err("webhooks: events must list known event types (see the README)");
        }
        if endpoint.secret.is_some() || endpoint.sealed_secret.is_none() {
            return Err(
                "webhooks: secrets are sealed when set through `passkeyd tenant update` or \
                 the admin API",
            );
        }
    }
    Ok(())
}

/// An endpoint URL passkeyd may post to: absolute, `https`, or `http` to a loopback address
/// (`localhost`, 127.0.0.0/8, `[::1]`: tests and local development); no user name or
/// password (they would be a secret in clear), no fragment, at most [`MAX_URL_LEN`] bytes.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    const BAD: &str = "webhooks: url must be https (or http to a loopback address), without \
                       credentials or fragment";
    if url.len() > MAX_URL_LEN {
        return Err("webhooks: url is too long");
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| BAD)?;
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err(BAD);
    }
    let host = parsed.host_str().ok_or(BAD)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(BAD),
    }
}

/// Seals the secrets of `next`, the endpoints about to be stored for `tenant` in place of
/// `previous`: a secret given in clear is checked and sealed; an endpoint given without one
/// keeps the sealed secret of the previous endpoint with its URL, or gets a new one. Answers
/// the secrets set (given or generated), to be shown once. `next` then passes [`check`].
pub fn seal_secrets(
    master: &MasterKey,
    tenant: &str,
    previous: &[WebhookEndpoint],
    next: &mut [WebhookEndpoint],
    rng: &dyn SecureRandom,
) -> Result<Vec<NewSecret>, &'static str> {
    let mut shown = Vec::new();
    for endpoint in next.iter_mut() {
        check_url(&endpoint.url)?;
        let clear = match endpoint.secret.take() {
            Some(secret) => {
                signing::decode_secret(&secret).ok_or(
                    "webhooks: secret must be whsec_ and the base64 of 24 to 64 random bytes",
                )?;
                Some(secret)
            }
            None => {
                let kept = endpoint
                    .sealed_secret
                    .is_some()
                    .then(|| endpoint.clone())
                    .or_else(|| previous.iter().find(|p| p.url == endpoint.url).cloned())
                    .filter(|e| e.secret_bytes(master, tenant).is_some());
                match kept {
                    Some(kept) => {
                        endpoint.sealed_secret = kept.sealed_secret;
                        None
                    }
                    None => Some(
                        signing::generate_secret(rng)
                            .map_err(|_| "webhooks: cannot generate a secret")?,
                    ),
                }
            }
        };
        if let Some(secret) = clear {
            let bytes = signing::decode_secret(&secret).ok_or("webhooks: bad secret")?;
            let sealed = master
                .seal(&bytes, seal_context(tenant, &endpoint.url).as_bytes(), rng)
                .map_err(|_| "webhooks: cannot seal the secret")?;
            endpoint.sealed_secret = Some(base64url_encode(&sealed));
            shown.push(NewSecret {
                url: endpoint.url.clone(),
                secret,
            });
        }
    }
    check(next)?;
    Ok(shown)
}

/// Seals the `webhooks` of a settings object about to be stored (see [`seal_secrets`]),
/// `previous` being the settings stored now; answers the secrets to show once. A settings
/// object without `webhooks` is left as it is.
pub fn seal_in_settings(
    master: &MasterKey,
    tenant: &str,
    previous: &serde_json::Map<String, serde_json::Value>,
    next: &mut serde_json::Map<String, serde_json::Value>,
    rng: &dyn SecureRandom,
) -> Result<Vec<NewSecret>, String> {
    let Some(value) = next.get("webhooks") else {
        return Ok(Vec::new());
    };
    let read = |value: &serde_json::Value| {
        serde_json::from_value::<Vec<WebhookEndpoint>>(value.clone())
            .map_err(|e| format!("invalid tenant settings: webhooks: {e}"))
    };
    let mut endpoints = read(value)?;
    let before = match previous.get("webhooks") {
        Some(value) => read(value)?,
        None => Vec::new(),
    };
    let shown = seal_secrets(master, tenant, &before, &mut endpoints, rng)
        .map_err(|e| format!("invalid tenant settings: {e}"))?;
    let sealed = serde_json::to_value(&endpoints).map_err(|e| e.to_string())?;
    next.insert("webhooks".to_owned(), sealed);
    Ok(shown)
}
