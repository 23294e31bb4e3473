//! Which audit events are webhook events, and the messages that report them.
//!
//! Every webhook event is an audit event (so it is written in the unit of work that stores the
//! audit event, see [`crate::store::AuditEvent::webhooks`]); the payload is the Standard
//! Webhooks shape `{"type", "timestamp", "data"}`, and `data` carries what the audit trail
//! does (never a secret: audit events hold none).

use aws_lc_rs::rand::SecureRandom;
use passkeyd_webauthn::json::base64url_encode;
use serde_json::{json, Map, Value};

use super::settings::WebhookEndpoint;
use crate::store::{AuditEvent, NewWebhookMessage};

/// The webhook event an audit event with `action` and `outcome` is, if any.
pub fn event_type(action: &str, outcome: &str) -> Option<&'static str> {
    let success = outcome == "success";
    Some(match action {
        "authentication.finish" if success => "signin.succeeded",
        // A sign-in refused because the client must wait is the throttle's doing, not a
        // failed attempt of the user's: `user.throttled` is for the user's own wait.
        "authentication.finish" => "signin.failed",
        "backup_code.verify" if outcome == "rate_limited" => "user.throttled",
        "backup_codes.regenerate" if success => "backup_codes.regenerated",
        "credential.delete" if success => "credential.deleted",
        "credential.rename" if success => "credential.renamed",
        "mfa.enrol" if success => "mfa.enrolled",
        "registration.finish" if success => "credential.created",
        _ => return None,
    })
}

/// A random ID with `prefix`.
fn random_id(prefix: &str, rng: &dyn SecureRandom) -> Option<String> {
    let mut bytes = [0u8; 18];
    rng.fill(&mut bytes).ok()?;
    Some(format!("{prefix}{}", base64url_encode(&bytes)))
}

/// The JSON body reporting `event` of `tenant` as `event_type`.
pub fn payload(tenant: &str, event_type: &str, event: &AuditEvent) -> String {
    let mut data = Map::new();
    data.insert("tenantId".into(), json!(tenant));
    // Subjects read `user:<id>`, `credential:<id>` or both.
    for part in event.subject.iter().flat_map(|s| s.split(' ')) {
        if let Some(user) = part.strip_prefix("user:") {
            data.insert("userId".into(), json!(user));
        } else if let Some(credential) = part.strip_prefix("credential:") {
            data.insert("credentialId".into(), json!(credential));
        }
    }
    if event.outcome != "success" {
        data.insert("reason".into(), json!(event.outcome));
    }
    data.insert("actor".into(), json!(event.actor));
    data.insert("action".into(), json!(event.action));
    data.insert("details".into(), event.details.clone());
    if let Some(ip) = &event.ip {
        data.insert("ip".into(), json!(ip));
    }
    if let Some(id) = &event.request_id {
        data.insert("requestId".into(), json!(id));
    }
    let timestamp = time::OffsetDateTime::from_unix_timestamp(event.at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    json!({ "type": event_type, "timestamp": timestamp, "data": Value::Object(data) }).to_string()
}

/// The messages reporting `event` to those of `endpoints` that want it (none if it is no
/// webhook event), written at `now_ms`.
pub fn messages(
    endpoints: &[WebhookEndpoint],
    tenant: &str,
    event: &AuditEvent,
    now_ms: i64,
    rng: &dyn SecureRandom,
) -> Vec<NewWebhookMessage> {
    let Some(event_type) = event_type(&event.action, &event.outcome) else {
        return Vec::new();
    };
    let wanting: Vec<_> = endpoints.iter().filter(|e| e.wants(event_type)).collect();
    if wanting.is_empty() {
        return Vec::new();
    }
    let body = payload(tenant, event_type, event);
    // One message ID for every endpoint: it names the event, as the scheme has it.
    let Some(message_id) = random_id("msg_", rng) else {
        tracing::error!("cannot draw a webhook message ID");
        return Vec::new();
    };
    wanting
        .into_iter()
        .filter_map(|endpoint| {
            Some(NewWebhookMessage {
                id: random_id("whd_", rng)?,
                message_id: message_id.clone(),
                endpoint_url: endpoint.url.clone(),
                event_type: event_type.to_owned(),
                payload: body.clone(),
                created_at: now_ms,
            })
        })
        .collect()
}
