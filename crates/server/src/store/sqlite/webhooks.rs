//! The webhook outbox on SQLite. One writer thread serialises every write, so a lease is taken
//! by one `UPDATE ... RETURNING` that no other node's statement can interleave with.

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::sql::{all, exec, one, sqlite_error, write_error};
use super::units::{
    delete_own_credential_in, insert_audit_event_in, rename_credential_in, replace_backup_codes_in,
};
use super::SqliteStore;
use crate::store::rows::{found, json};
use crate::store::{
    AuditEvent, Credential, DeliveryStatus, NewWebhookMessage, RecordedChanges, StoreError,
    WebhookAttempt, WebhookDelivery, WebhookOutbox,
};
use crate::tenant::TenantId;

/// The columns [`delivery`] reads, in its order.
const COLUMNS: &str = "tenant_id, id, message_id, endpoint_url, event_type, payload, created_at, \
     status, attempts, next_attempt_at, last_attempt_at, last_status, last_error, \
     response_excerpt, delivered_at";

/// A delivery row's columns before conversion.
type DeliveryRow = (
    String,
    NewWebhookMessage,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn delivery(row: &Row<'_>) -> Result<DeliveryRow, rusqlite::Error> {
    Ok((
        row.get(0)?,
        NewWebhookMessage {
            id: row.get(1)?,
            message_id: row.get(2)?,
            endpoint_url: row.get(3)?,
            event_type: row.get(4)?,
            payload: row.get(5)?,
            created_at: row.get(6)?,
        },
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
        row.get(13)?,
        row.get(14)?,
    ))
}

fn convert(row: DeliveryRow) -> Result<WebhookDelivery, StoreError> {
    let (tenant, message, status, attempts, next, last_at, last_status, error, excerpt, done) = row;
    Ok(WebhookDelivery {
        tenant_id: TenantId::parse(&tenant)
            .map_err(|_| StoreError::Backend("stored tenant ID is invalid".into()))?,
        message,
        status: DeliveryStatus::parse(&status)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: next,
        last_attempt_at: last_at,
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: error,
        response_excerpt: excerpt,
        delivered_at: done,
    })
}

/// Writes `messages` to the outbox on `conn` (inside the caller's transaction), due at once.
pub(super) fn insert_webhooks_in(
    conn: &Connection,
    tenant: &str,
    messages: &[NewWebhookMessage],
) -> Result<(), StoreError> {
    for m in messages {
        exec(
            conn,
            "INSERT INTO webhook_outbox (id, tenant_id, message_id, endpoint_url, event_type, \
             payload, created_at, status, next_attempt_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            params![
                m.id,
                tenant,
                m.message_id,
                m.endpoint_url,
                m.event_type,
                m.payload,
                m.created_at,
                m.created_at
            ],
        )
        .map_err(write_error("webhook_delivery_exists"))?;
    }
    Ok(())
}

#[async_trait]
impl WebhookOutbox for SqliteStore {
    async fn lease_webhook_deliveries(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let node = node.to_owned();
        let rows = self
            .write(move |conn| {
                let sql = format!(
                    "UPDATE webhook_outbox SET leased_until = ?, lease_owner = ? \
                     WHERE id IN (SELECT id FROM webhook_outbox WHERE status = 'pending' \
                     AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until < ?) \
                     ORDER BY next_attempt_at LIMIT ?) RETURNING {COLUMNS}"
                );
                all(
                    conn,
                    &sql,
                    params![
                        now.saturating_add(lease_ms),
                        node,
                        now,
                        now,
                        i64::from(limit)
                    ],
                    delivery,
                )
            })
            .await?;
        rows.into_iter().map(convert).collect()
    }

    async fn finish_webhook_attempt(
        &self,
        id: &str,
        node: &str,
        attempt: &WebhookAttempt,
    ) -> Result<bool, StoreError> {
        let (id, node, a) = (id.to_owned(), node.to_owned(), attempt.clone());
        self.write(move |conn| {
            let delivered = (a.status == DeliveryStatus::Delivered).then_some(a.at);
            let changed = exec(
                conn,
                "UPDATE webhook_outbox SET status = ?, attempts = attempts + 1, \
                 next_attempt_at = ?, last_attempt_at = ?, last_status = ?, last_error = ?, \
                 response_excerpt = ?, delivered_at = COALESCE(?, delivered_at), \
                 leased_until = NULL, lease_owner = NULL \
                 WHERE id = ? AND lease_owner = ?",
                params![
                    a.status.as_str(),
                    a.next_attempt_at,
                    a.at,
                    a.http_status,
                    a.error,
                    a.response_excerpt,
                    delivered,
                    id,
                    node
                ],
            )
            .map_err(sqlite_error)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_outbox WHERE tenant_id = ? AND created_at < ? \
             ORDER BY created_at DESC, id DESC LIMIT ?"
        );
        let rows = self.read(|conn| {
            all(
                conn,
                &sql,
                params![
                    tenant.as_str(),
                    before.unwrap_or(i64::MAX),
                    i64::from(limit)
                ],
                delivery,
            )
        })?;
        rows.into_iter().map(convert).collect()
    }

    async fn redeliver_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        now: i64,
    ) -> Result<WebhookDelivery, StoreError> {
        let (tenant, id) = (tenant.as_str().to_owned(), id.to_owned());
        let row = self
            .write(move |conn| {
                let sql = format!(
                    "UPDATE webhook_outbox SET status = 'pending', attempts = 0, \
                     next_attempt_at = ?, leased_until = NULL, lease_owner = NULL \
                     WHERE tenant_id = ? AND id = ? RETURNING {COLUMNS}"
                );
                one(conn, &sql, params![now, tenant, id], delivery)
            })
            .await?
            .ok_or(StoreError::NotFound)?;
        convert(row)
    }
}

/// Runs `change` and stores `event` after it, in one unit of work.
async fn recorded<T, F>(
    store: &SqliteStore,
    tenant: &TenantId,
    event: &AuditEvent,
    change: F,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &str) -> Result<T, StoreError> + Send + 'static,
{
    let details = json(&event.details)?;
    let (tenant, event) = (tenant.as_str().to_owned(), event.clone());
    store
        .write(move |conn| {
            let done = change(conn, &tenant)?;
            insert_audit_event_in(conn, &tenant, &event, &details)?;
            Ok(done)
        })
        .await
}

#[async_trait]
impl RecordedChanges for SqliteStore {
    async fn rename_credential_recorded(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
        event: &AuditEvent,
    ) -> Result<Credential, StoreError> {
        let (credential_id, name) = (credential_id.to_vec(), name.map(str::to_owned));
        recorded(self, tenant, event, move |conn, tenant| {
            rename_credential_in(conn, tenant, &credential_id, name.as_deref())
        })
        .await
    }

    async fn delete_credential_recorded(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let credential_id = credential_id.to_vec();
        recorded(self, tenant, event, move |conn, tenant| {
            let done = exec(
                conn,
                "DELETE FROM credentials WHERE tenant_id = ? AND id = ?",
                params![tenant, credential_id],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn delete_own_credential_recorded(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (user_id, credential_id) = (user_id.to_owned(), credential_id.to_vec());
        recorded(self, tenant, event, move |conn, tenant| {
            delete_own_credential_in(conn, tenant, &user_id, &credential_id, keep_one)
        })
        .await
    }

    async fn replace_backup_codes_recorded(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (user_id, hashes) = (user_id.to_owned(), hashes.to_vec());
        recorded(self, tenant, event, move |conn, tenant| {
            replace_backup_codes_in(conn, tenant, &user_id, &hashes, now)
        })
        .await
    }
}
