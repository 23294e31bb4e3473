//! What `passkeyd doctor` checks, and the explanation an `origin_mismatch` or `rp_id_mismatch`
//! answer carries: findings about a configuration, each with a stable code.
//!
//! The checks take what they judge as values (the configuration, a tenant, the clocks, the MDS
//! state), so they are testable without a server; [`remote`] fetches what a browser would see
//! from a running deployment. The command itself is `cli::doctor`.
//!
//! | code | severity | what |
//! |---|---|---|
//! | `database_unreachable` | error | the database does not answer |
//! | `master_key_missing` | error | PostgreSQL without `PASSKEYD_MASTER_KEY` and no key file |
//! | `master_key_node_local` | warning | PostgreSQL with a key file: every node needs a copy |
//! | `trust_forwarded_for_without_trusted_proxies` | warning | any direct peer may set `X-Forwarded-For` |
//! | `rate_limits_off` | warning | a public rate limit is 0 (off) |
//! | `clock_skew` | error / warning | this host's clock and the database's differ (over 30 s / 2 s) |
//! | `mds_missing` | warning | a tenant requires trusted attestation and no MDS BLOB is imported |
//! | `mds_expired` | error | the imported MDS BLOB is past its nextUpdate or does not verify |
//! | `settings_invalid` | error | the tenant's stored settings do not load |
//! | `rp_id_ip_address` | error | the RP ID is an IP address |
//! | `rp_id_public_suffix` | error | the RP ID is a public suffix (`com`, `co.uk`, `github.io`) |
//! | `rp_id_not_suffix_of_origin` | error | an origin's host is not the RP ID or under it |
//! | `origin_invalid` | error | an origin that does not parse |
//! | `origin_insecure` | error | an `http` origin other than localhost |
//! | `origin_has_port` | warning | an origin with an explicit port (behind a proxy, browsers see the proxy's) |
//! | `related_origin_invalid` | error | a related origin that is not https (or http on localhost) |
//! | `related_origins_over_label_limit` | error | more than 5 registrable labels in `related_origins` |
//! | `token_ttl_long` | warning | result tokens live over 10 minutes |
//! | `user_token_ttl_long` | warning | user tokens may live over 8 hours |
//! | `tenant_ok` / `server_ok` | ok | nothing found |
//!
//! The codes of [`remote`] and of [`mismatch_details`] are listed there.

use std::fmt;

use serde::Serialize;
use serde_json::json;

use crate::config::Config;
use crate::origins::{self, WebOrigin};
use crate::settings::TenantSettings;
use crate::store::Tenant;

pub mod remote;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing wrong.
    Ok,
    /// Works, but likely not as meant.
    Warning,
    /// Passkeys fail, or the deployment is unsafe.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// One finding: a stable code, a severity, the tenant it is about (if any) and what it means
/// in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable snake_case code.
    pub code: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The tenant, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// What was found and what to do, in words (not stable).
    pub message: String,
}

impl Finding {
    /// A finding about the server as a whole.
    pub fn server(code: &'static str, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            tenant: None,
            message: message.into(),
        }
    }

    fn tenant(
        tenant: &Tenant,
        code: &'static str,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Self {
            tenant: Some(tenant.id.to_string()),
            ..Self::server(code, severity, message)
        }
    }
}

/// Clock skew past which the finding is a warning, in seconds: tokens and sessions start to
/// expire early or late on some nodes.
pub const SKEW_WARNING_SECS: i64 = 2;
/// Clock skew past which the finding is an error, in seconds.
pub const SKEW_ERROR_SECS: i64 = 30;

/// The findings about the configuration alone.
pub fn config_findings(config: &Config) -> Vec<Finding> {
    let mut found = Vec::new();
    if config.database_url.is_postgres() && config.master_key.is_none() {
        if config.master_key_file().is_file() {
            found.push(Finding::server(
                "master_key_node_local",
                Severity::Warning,
                format!(
                    "PostgreSQL with the master key in {}: every node sharing the database needs \
                     the same file; set PASSKEYD_MASTER_KEY on every node instead",
                    config.master_key_file().display()
                ),
            ));
        } else {
            found.push(Finding::server(
                "master_key_missing",
                Severity::Error,
                "PostgreSQL without PASSKEYD_MASTER_KEY and without a key file: the server does \
                 not start; set PASSKEYD_MASTER_KEY to the same value on every node",
            ));
        }
    }
    if config.trust_forwarded_for && config.trusted_proxies.is_empty() {
        found.push(Finding::server(
            "trust_forwarded_for_without_trusted_proxies",
            Severity::Warning,
            "PASSKEYD_TRUST_FORWARDED_FOR is on without PASSKEYD_TRUSTED_PROXIES: whoever \
             connects directly is believed about the client's address; if clients can reach \
             passkeyd without the proxy they pick their own rate-limit bucket. Name the proxy \
             in PASSKEYD_TRUSTED_PROXIES",
        ));
    }
    let limits = &config.rate_limits;
    let off: Vec<&str> = [
        ("public_per_ip_per_minute", limits.public_per_ip_per_minute),
        (
            "public_per_tenant_per_minute",
            limits.public_per_tenant_per_minute,
        ),
        (
            "public_failures_per_ip_per_hour",
            limits.public_failures_per_ip_per_hour,
        ),
    ]
    .into_iter()
    .filter(|(_, value)| *value == 0)
    .map(|(name, _)| name)
    .collect();
    if !off.is_empty() {
        found.push(Finding::server(
            "rate_limits_off",
            Severity::Warning,
            format!(
                "[rate_limits] {} is 0 (off): the public routes are not limited there",
                off.join(", ")
            ),
        ));
    }
    found
}

/// The finding about this host's clock against the database's (`database_now`, `None` when
/// the database's clock is this host's, as on SQLite).
pub fn clock_finding(local_now: i64, database_now: Option<i64>) -> Option<Finding> {
    let skew = (local_now - database_now?).abs();
    let severity = if skew > SKEW_ERROR_SECS {
        Severity::Error
    } else if skew > SKEW_WARNING_SECS {
        Severity::Warning
    } else {
        return None;
    };
    Some(Finding::server(
        "clock_skew",
        severity,
        format!(
            "this host's clock and the database's differ by {skew} s: sessions and tokens \
             expire early or late; run NTP on every node and on the database host"
        ),
    ))
}

/// The state of the FIDO MDS BLOB the server would load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MdsState {
    /// None was imported.
    Missing,
    /// One is kept but does not load now (expired, or no longer verifies).
    Unusable(String),
    /// One is kept and verifies.
    Usable,
}

/// The MDS BLOB every node would use now, judged from what the database keeps
/// (`service::mds::status`: the imported or downloaded BLOB, verified before it was stored).
pub fn mds_state(status: Result<crate::service::mds::MdsStatus, String>) -> MdsState {
    match status {
        Err(e) => MdsState::Unusable(format!("the stored BLOB cannot be read: {e}")),
        Ok(status) if !status.present => MdsState::Missing,
        Ok(status) if status.stale => MdsState::Unusable(format!(
            "serial {} is past its nextUpdate {}",
            status.serial.unwrap_or_default(),
            status.next_update.unwrap_or_default()
        )),
        Ok(_) => MdsState::Usable,
    }
}

/// The findings about the MDS BLOB, given the tenants that require trusted attestation.
pub fn mds_findings(state: &MdsState, requiring: &[String]) -> Vec<Finding> {
    match state {
        MdsState::Unusable(why) => vec![Finding::server(
            "mds_expired",
            Severity::Error,
            format!(
                "the imported MDS BLOB does not load ({why}): the server runs without it; \
                 import a fresh one (passkeyd mds import) or set [mds] url to refresh it"
            ),
        )],
        MdsState::Missing if !requiring.is_empty() => vec![Finding::server(
            "mds_missing",
            Severity::Warning,
            format!(
                "tenants {} require trusted attestation but no MDS BLOB is imported: only the \
                 bundled vendor roots anchor attestations (passkeyd mds import)",
                requiring.join(", ")
            ),
        )],
        MdsState::Missing | MdsState::Usable => Vec::new(),
    }
}

/// The findings about one tenant's RP ID, origins, related origins and token lifetimes.
pub fn tenant_findings(tenant: &Tenant) -> Vec<Finding> {
    let mut found = Vec::new();
    let rp_id = tenant.rp_id.as_str();
    let rp_id_usable = if origins::is_ip_address(rp_id) {
        found.push(Finding::tenant(
            tenant,
            "rp_id_ip_address",
            Severity::Error,
            format!("RP ID {rp_id} is an IP address: browsers refuse it; use a domain name"),
        ));
        false
    } else if origins::is_public_suffix(rp_id) {
        found.push(Finding::tenant(
            tenant,
            "rp_id_public_suffix",
            Severity::Error,
            format!(
                "RP ID {rp_id} is a public suffix: no site can claim it; use the registrable \
                 domain (such as example.{rp_id})"
            ),
        ));
        false
    } else {
        true
    };
    for origin in &tenant.origins {
        if origin.starts_with(origins::APK_KEY_HASH_PREFIX) {
            continue;
        }
        let Some(parsed) = WebOrigin::parse(origin) else {
            found.push(Finding::tenant(
                tenant,
                "origin_invalid",
                Severity::Error,
                format!("origin {origin} is not scheme://host[:port] with a lowercase host"),
            ));
            continue;
        };
        if rp_id_usable && !origins::is_registrable_suffix(rp_id, &parsed.host) {
            found.push(Finding::tenant(
                tenant,
                "rp_id_not_suffix_of_origin",
                Severity::Error,
                format!(
                    "origin {origin}: RP ID {rp_id} is not its host or a parent domain of it, so \
                     a page there cannot use it (move the origin to related_origins, or change \
                     the RP ID)"
                ),
            ));
        }
        if parsed.scheme == "http" && !parsed.is_localhost() {
            found.push(Finding::tenant(
                tenant,
                "origin_insecure",
                Severity::Error,
                format!(
                    "origin {origin} is plain http: browsers allow WebAuthn over http only on \
                     localhost; behind a TLS proxy the page's origin is https://{}",
                    parsed.host
                ),
            ));
        }
        if parsed.port.is_some() && !parsed.is_localhost() {
            found.push(Finding::tenant(
                tenant,
                "origin_has_port",
                Severity::Warning,
                format!(
                    "origin {origin} names a port: a browser on the public address behind a \
                     proxy sends the proxy's origin, usually without a port"
                ),
            ));
        }
    }
    let settings = match TenantSettings::from_map(&tenant.settings) {
        Ok(settings) => settings,
        Err(e) => {
            found.push(Finding::tenant(
                tenant,
                "settings_invalid",
                Severity::Error,
                format!("the stored settings do not load ({e}): every ceremony fails"),
            ));
            // Say which related origin is at fault, when that is the reason.
            let related: Vec<String> = tenant
                .settings
                .get("related_origins")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            found.extend(related_findings(tenant, &related));
            return found;
        }
    };
    found.extend(related_findings(tenant, &settings.related_origins));
    if settings.token_ttl_secs > 600 {
        found.push(Finding::tenant(
            tenant,
            "token_ttl_long",
            Severity::Warning,
            format!(
                "token_ttl_secs is {}: a sign-in result token is redeemed at once; a long life \
                 widens the window for a stolen one (300 is the default)",
                settings.token_ttl_secs
            ),
        ));
    }
    if settings.user_token_max_ttl_secs > 8 * 3_600 {
        found.push(Finding::tenant(
            tenant,
            "user_token_ttl_long",
            Severity::Warning,
            format!(
                "user_token_max_ttl_secs is {}: user tokens may outlive a working day",
                settings.user_token_max_ttl_secs
            ),
        ));
    }
    if found.is_empty() {
        found.push(Finding::tenant(
            tenant,
            "tenant_ok",
            Severity::Ok,
            format!(
                "RP ID {rp_id}, {} origin(s): nothing found",
                tenant.origins.len()
            ),
        ));
    }
    found
}

/// The related-origin findings. Settings are checked when written, but rows written by other
/// means or by older versions are judged here too.
fn related_findings(tenant: &Tenant, related: &[String]) -> Vec<Finding> {
    let mut found = Vec::new();
    for origin in related {
        if let Err(why) = origins::check_related_origin(origin) {
            found.push(Finding::tenant(
                tenant,
                "related_origin_invalid",
                Severity::Error,
                format!("related origin {origin}: {why}"),
            ));
        }
    }
    let labels = origins::labels(related);
    if labels.len() > origins::MAX_LABELS {
        found.push(Finding::tenant(
            tenant,
            "related_origins_over_label_limit",
            Severity::Error,
            format!(
                "related_origins name {} registrable labels ({}): browsers read only the first \
                 {}, so origins under {} fail",
                labels.len(),
                labels.join(", "),
                origins::MAX_LABELS,
                labels[origins::MAX_LABELS..].join(", ")
            ),
        ));
    }
    found
}

/// `details` of an `origin_mismatch` or `rp_id_mismatch` answer: what the tenant expected,
/// what came, and the finding code that explains it.
///
/// Codes: `origin_scheme_mismatch` (the host is expected over another scheme: a TLS proxy in
/// front of an http origin, or the reverse), `origin_port_mismatch` (the host is expected with
/// another port, see `origin_has_port`), `origin_not_listed` (the host is under the RP ID but
/// is not an origin of the tenant), `origin_not_related` (the host is outside the RP ID: add
/// it to `related_origins`), `android_app_not_listed` (an app's signing certificate not in
/// `android_apps`), `rp_id_not_suffix_of_origin` (the page's host cannot claim the RP ID: it
/// asked the authenticator for another one) and `rp_id_hash_mismatch` (the page or the
/// credential used another RP ID).
///
/// What it reveals: the RP ID (in every options answer) and what the caller sent; the
/// tenant's accepted origins only to the secret-key caller (`include_origins`), since a
/// stranger can test an origin through CORS but not list them.
pub fn mismatch_details(
    code: &str,
    rp_id: &str,
    accepted: &[String],
    received_origin: Option<&str>,
    include_origins: bool,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let finding = match code {
        "origin_mismatch" => origin_finding(rp_id, accepted, received_origin?),
        "rp_id_mismatch" => {
            let host = received_origin.and_then(WebOrigin::parse).map(|o| o.host);
            match host {
                Some(host) if !origins::is_registrable_suffix(rp_id, &host) => {
                    "rp_id_not_suffix_of_origin"
                }
                _ => "rp_id_hash_mismatch",
            }
        }
        _ => return None,
    };
    let mut expected = json!({ "rpId": rp_id });
    if include_origins {
        expected["origins"] = json!(accepted);
    }
    let details = json!({
        "expected": expected,
        "received": { "origin": received_origin },
        "finding": finding,
    });
    details.as_object().cloned()
}

fn origin_finding(rp_id: &str, accepted: &[String], received: &str) -> &'static str {
    if received.starts_with(origins::APK_KEY_HASH_PREFIX) {
        return "android_app_not_listed";
    }
    let Some(got) = WebOrigin::parse(received) else {
        return "origin_not_listed";
    };
    let same_host: Vec<WebOrigin> = accepted
        .iter()
        .filter_map(|o| WebOrigin::parse(o))
        .filter(|o| o.host == got.host)
        .collect();
    if same_host.iter().any(|o| o.scheme != got.scheme) {
        "origin_scheme_mismatch"
    } else if !same_host.is_empty() {
        "origin_port_mismatch"
    } else if origins::is_registrable_suffix(rp_id, &got.host) {
        "origin_not_listed"
    } else {
        "origin_not_related"
    }
}

#[cfg(test)]
mod tests;
