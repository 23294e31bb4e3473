//! Webhooks for passkey events, the Standard Webhooks way (<https://www.standardwebhooks.com/>):
//! the tenant's endpoints ([`settings`]), which audit events are webhook events and what they
//! say ([`events`]), the signature ([`signing`]) and the delivery worker ([`worker`]).
//!
//! A webhook message is written to the outbox in the unit of work that stores its audit event
//! (see [`crate::store::AuditEvent::webhooks`]), so an event is reported if and only if it is
//! recorded, and survives a restart; the worker delivers it at least once.

use aws_lc_rs::rand::SystemRandom;

use super::{finish, Provenance};
use crate::error::ApiError;
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::store::{AuditEvent, NewWebhookMessage, WebhookDelivery};
use crate::tenant::TenantId;

pub mod events;
pub mod settings;
pub mod signing;
pub mod worker;

pub use settings::{NewSecret, WebhookEndpoint};
pub use worker::WebhookConfig;

/// The largest page of the delivery log.
pub const MAX_PAGE: u32 = 200;

/// The outbox messages reporting `event` of `tenant` to `endpoints` (see [`events::messages`]).
pub fn messages(
    endpoints: &[WebhookEndpoint],
    tenant: &TenantId,
    event: &AuditEvent,
) -> Vec<NewWebhookMessage> {
    events::messages(
        endpoints,
        tenant.as_str(),
        event,
        worker::now_ms(),
        &SystemRandom::new(),
    )
}

/// [`messages`] for a caller that does not hold the tenant's settings: they are read only when
/// `event` is a webhook event. A tenant that cannot be read is logged and reported to no one
/// (the audit event is stored regardless).
pub async fn messages_reading_settings(
    state: &AppState,
    tenant: &TenantId,
    event: &AuditEvent,
) -> Vec<NewWebhookMessage> {
    if events::event_type(&event.action, &event.outcome).is_none() {
        return Vec::new();
    }
    let settings = match state.store.tenant(tenant).await {
        Ok(t) => TenantSettings::from_map(&t.settings).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match settings {
        Ok(settings) => messages(&settings.webhooks, tenant, event),
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot read the tenant's endpoints");
            Vec::new()
        }
    }
}

/// The tenant's endpoints (their secrets stay sealed: the views built from them drop them).
pub async fn endpoints(
    state: &AppState,
    tenant: &TenantId,
) -> Result<Vec<WebhookEndpoint>, ApiError> {
    let stored = state.store.tenant(tenant).await?;
    let settings = TenantSettings::from_map(&stored.settings).map_err(ApiError::internal)?;
    Ok(settings.webhooks)
}

/// Replaces the tenant's endpoints, by the operator, audited as `webhooks.set` (with the URLs,
/// never a secret): secrets given are sealed, an endpoint without one keeps its URL's secret
/// or gets a new one. Answers the secrets set, to be shown this once. 400 `invalid_request`
/// for a URL that is not allowed, an unknown event or a malformed secret.
pub async fn set_endpoints(
    state: &AppState,
    tenant: &TenantId,
    mut next: Vec<WebhookEndpoint>,
    via: &Provenance,
) -> Result<Vec<NewSecret>, ApiError> {
    let stored = state.store.tenant(tenant).await?;
    let mut audit = via.audit(tenant, super::tenants::OPERATOR, "webhooks.set");
    let urls: Vec<&str> = next.iter().map(|e| e.url.as_str()).collect();
    audit.detail("urls", urls.join(" "));
    let result = async {
        let current = TenantSettings::from_map(&stored.settings).map_err(ApiError::internal)?;
        let shown = settings::seal_secrets(
            &state.master_key,
            tenant.as_str(),
            &current.webhooks,
            &mut next,
            &SystemRandom::new(),
        )
        .map_err(|e| ApiError::InvalidRequest(e.to_owned()))?;
        let mut map = stored.settings.clone();
        let value = serde_json::to_value(&next).map_err(ApiError::internal)?;
        map.insert("webhooks".to_owned(), value);
        TenantSettings::from_map(&map).map_err(ApiError::internal)?;
        state.store.update_tenant_settings(tenant, &map).await?;
        Ok(shown)
    }
    .await;
    finish(state, audit, result).await
}

/// The tenant's deliveries created before `before` (Unix milliseconds; all when `None`),
/// newest first, at most `limit` (1 to [`MAX_PAGE`]).
pub async fn deliveries(
    state: &AppState,
    tenant: &TenantId,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<WebhookDelivery>, ApiError> {
    state.store.tenant(tenant).await?;
    Ok(state
        .store
        .webhook_deliveries(tenant, before, limit.clamp(1, MAX_PAGE))
        .await?)
}

/// Sends the tenant's delivery `id` again (the same message and `webhook-id`), whatever became
/// of it, by the operator, audited as `webhooks.redeliver`; 404 for an unknown delivery.
pub async fn redeliver(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    via: &Provenance,
) -> Result<WebhookDelivery, ApiError> {
    let mut audit = via.audit(tenant, super::tenants::OPERATOR, "webhooks.redeliver");
    audit.subject(format!("delivery:{id}"));
    let result = state
        .store
        .redeliver_webhook(tenant, id, worker::now_ms())
        .await
        .map_err(ApiError::from);
    finish(state, audit, result).await
}
