//! The webhook outbox: messages written with the audit event that reports them (see
//! [`crate::store::AuditEvent::webhooks`]), then leased, attempted and recorded by the delivery
//! workers of every node (`service::webhooks::worker`). A row is also its delivery log entry.
//!
//! Times here are Unix milliseconds: retries are scheduled finer than seconds.

use async_trait::async_trait;

use super::{AuditEvent, Credential, StoreError};
use crate::tenant::TenantId;

/// A message to deliver to one endpoint, as the service hands it to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWebhookMessage {
    /// The delivery ID (`whd_...`), unique.
    pub id: String,
    /// The `webhook-id` header (`msg_...`): the same on every attempt and redelivery.
    pub message_id: String,
    /// The endpoint's URL; its secret is read from the tenant's settings when sending.
    pub endpoint_url: String,
    /// The event type, e.g. `credential.created`.
    pub event_type: String,
    /// The JSON body.
    pub payload: String,
    /// When it was written, Unix milliseconds; it is due at once.
    pub created_at: i64,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Delivered: the receiver answered 2xx.
    Delivered,
    /// Given up after the most attempts (or the endpoint is gone); a redelivery revives it.
    Failed,
    /// Waiting for its next attempt.
    Pending,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }

    /// The status a stored name stands for.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            "pending" => Ok(Self::Pending),
            _ => Err(StoreError::Backend(
                "unknown webhook delivery status".into(),
            )),
        }
    }
}

/// A delivery as stored: the message and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// The message.
    pub message: NewWebhookMessage,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made (since the last redelivery).
    pub attempts: u32,
    /// When it is due next, Unix milliseconds.
    pub next_attempt_at: i64,
    /// When the last attempt was made.
    pub last_attempt_at: Option<i64>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    /// What went wrong last, as a code (`timeout`, `connect`, `http_500`...).
    pub last_error: Option<String>,
    /// The start of the receiver's last answer (at most 256 bytes).
    pub response_excerpt: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
}

/// What an attempt came to, for [`WebhookOutbox::finish_webhook_attempt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// When it was made, Unix milliseconds.
    pub at: i64,
    /// The status after it: delivered, failed (given up) or pending (with `next_attempt_at`).
    pub status: DeliveryStatus,
    /// When to try again (pending only).
    pub next_attempt_at: i64,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// What went wrong, as a code; `None` when delivered.
    pub error: Option<String>,
    /// The start of the answer.
    pub response_excerpt: Option<String>,
}

/// The outbox's use cases. A supertrait of [`super::Store`], on both backends.
#[async_trait]
pub trait WebhookOutbox {
    /// Leases up to `limit` deliveries that are pending, due at `now` and not leased by a live
    /// lease, to `node` until `now + lease_ms`, and answers them. On PostgreSQL the rows are
    /// chosen with `FOR UPDATE SKIP LOCKED`, so nodes racing for them each get others: a
    /// delivery is attempted by one node at a time while its lease lasts.
    async fn lease_webhook_deliveries(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Records an attempt of delivery `id` made under `node`'s lease and releases the lease;
    /// false (and nothing changed) when `node` no longer holds it (it ran out and another node
    /// took the row, or a redelivery reset it).
    async fn finish_webhook_attempt(
        &self,
        id: &str,
        node: &str,
        attempt: &WebhookAttempt,
    ) -> Result<bool, StoreError>;

    /// The tenant's deliveries created before `before` (all when `None`), newest first, at
    /// most `limit`.
    async fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Makes the tenant's delivery `id` pending again, due at `now`, with its attempts counted
    /// afresh and any lease dropped; the same message (and `webhook-id`) is sent again.
    /// `NotFound` if the tenant has no such delivery.
    async fn redeliver_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        now: i64,
    ) -> Result<WebhookDelivery, StoreError>;
}

/// The credential and backup-code changes that report webhook events, each stored with its
/// audit event (and so its webhook messages) in one unit of work: both or neither. Otherwise
/// as the [`super::Store`] methods of the same name without `_recorded`. A supertrait of
/// [`super::Store`], on both backends.
#[async_trait]
pub trait RecordedChanges {
    /// [`super::Store::rename_credential`] and its audit event.
    async fn rename_credential_recorded(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
        event: &AuditEvent,
    ) -> Result<Credential, StoreError>;

    /// [`super::Store::delete_credential`] and its audit event.
    async fn delete_credential_recorded(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// [`super::Store::delete_own_credential`] and its audit event.
    async fn delete_own_credential_recorded(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// [`super::Store::replace_backup_codes`] and its audit event.
    async fn replace_backup_codes_recorded(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
