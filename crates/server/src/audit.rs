//! The audit trail: one append-only event per ceremony outcome, credential change and token
//! redemption. Events carry who, what, on whom, the outcome and the client's address; never a
//! secret (no keys, tokens, challenges or signatures).

use std::net::IpAddr;

use crate::service::webhooks::{self, WebhookEndpoint};
use crate::state::AppState;
use crate::store::AuditEvent;
use crate::tenant::TenantId;

/// An event being built while a request runs; [`Audit::finish`] stores it with the outcome.
#[derive(Debug)]
pub struct Audit {
    tenant: TenantId,
    event: AuditEvent,
    /// Set by [`Audit::stored_with`]: the event went to the store with the change it records.
    stored: bool,
    /// The tenant's webhook endpoints, when the caller holds its settings (else they are read
    /// when the event is a webhook event).
    webhooks: Option<Vec<WebhookEndpoint>>,
}

impl Audit {
    /// Starts an event.
    pub fn new(
        tenant: &TenantId,
        actor: &str,
        action: &'static str,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            tenant: tenant.clone(),
            event: AuditEvent {
                id: 0,
                at: 0,
                actor: actor.to_owned(),
                action: action.to_owned(),
                subject: None,
                outcome: String::new(),
                details: serde_json::Value::Object(serde_json::Map::new()),
                ip: ip.map(|ip| ip.to_string()),
                request_id,
                webhooks: Vec::new(),
            },
            stored: false,
            webhooks: None,
        }
    }

    /// The event as [`Audit::finish`] would store it with `outcome`, for a store call that
    /// writes it in the same unit of work as the change it records. Call
    /// [`Audit::stored_with`] once that call has succeeded.
    /// The webhook messages reporting the event go with it (see [`Audit::webhooks`]).
    pub fn event(&self, state: &AppState, outcome: &str) -> AuditEvent {
        let mut event = AuditEvent {
            at: state.clock.now().0,
            outcome: outcome.to_owned(),
            ..self.event.clone()
        };
        if let Some(endpoints) = &self.webhooks {
            event.webhooks = webhooks::messages(endpoints, &self.tenant, &event);
        }
        event
    }

    /// [`Audit::event`] for a caller that did not give the tenant's endpoints
    /// ([`Audit::webhooks`]): they are read when the event is a webhook event.
    pub async fn event_reading(&self, state: &AppState, outcome: &str) -> AuditEvent {
        let mut event = self.event(state, outcome);
        if self.webhooks.is_none() {
            event.webhooks = webhooks::messages_reading_settings(state, &self.tenant, &event).await;
        }
        event
    }

    /// The tenant's webhook endpoints, from the settings the caller read: the event is
    /// reported to those that want it, in the unit of work that stores it.
    pub fn webhooks(&mut self, endpoints: &[WebhookEndpoint]) {
        self.webhooks = Some(endpoints.to_vec());
    }

    /// Says that the event (from [`Audit::event`]) is stored: [`Audit::finish`] then stores
    /// nothing more.
    pub fn stored_with(&mut self) {
        self.stored = true;
    }

    /// Names the user or credential concerned.
    pub fn subject(&mut self, subject: String) {
        self.event.subject = Some(subject);
    }

    /// Adds a fact.
    pub fn detail(&mut self, key: &str, value: String) {
        if let serde_json::Value::Object(map) = &mut self.event.details {
            map.insert(key.to_owned(), serde_json::Value::String(value));
        }
    }

    /// Stores the event with its outcome (`success` or an error code). A failure to store is
    /// logged, not returned: the ceremony's outcome stands either way.
    pub async fn finish(mut self, state: &AppState, outcome: &str) {
        if self.stored {
            return;
        }
        self.event.at = state.clock.now().0;
        outcome.clone_into(&mut self.event.outcome);
        self.event.webhooks = match &self.webhooks {
            Some(endpoints) => webhooks::messages(endpoints, &self.tenant, &self.event),
            None => webhooks::messages_reading_settings(state, &self.tenant, &self.event).await,
        };
        if let Err(e) = state
            .store
            .insert_audit_event(&self.tenant, &self.event)
            .await
        {
            tracing::error!(
                error = %e,
                action = %self.event.action,
                outcome,
                "cannot store an audit event"
            );
        }
    }
}

/// An AAGUID as the usual hyphenated text.
pub fn aaguid_text(aaguid: &[u8]) -> String {
    let hex: String = aaguid.iter().map(|b| format!("{b:02x}")).collect();
    if hex.len() != 32 {
        return hex;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
