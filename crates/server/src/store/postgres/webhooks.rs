//! The webhook outbox on PostgreSQL. Nodes sharing the database take due rows with a lease:
//! the rows are chosen `FOR UPDATE SKIP LOCKED`, so nodes racing for them never take the same
//! row, and a taken row is skipped by every node until its lease runs out (a node that died
//! mid-delivery loses it then, and any node delivers the row).

use async_trait::async_trait;
use sqlx::PgConnection;

use super::ceremonies::insert_audit_event_in;
use super::users::{delete_own_credential_in, replace_backup_codes_in};
use super::PostgresStore;
use crate::store::rows::{backend, found, write_error, CredentialRow, CREDENTIAL_COLUMNS};
use crate::store::{
    AuditEvent, Credential, DeliveryStatus, NewWebhookMessage, RecordedChanges, StoreError,
    WebhookAttempt, WebhookDelivery, WebhookOutbox,
};
use crate::tenant::TenantId;

/// The columns [`DeliveryRow`] reads.
const COLUMNS: &str = "tenant_id, id, message_id, endpoint_url, event_type, payload, created_at, \
     status, attempts, next_attempt_at, last_attempt_at, last_status, last_error, \
     response_excerpt, delivered_at";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    tenant_id: String,
    id: String,
    message_id: String,
    endpoint_url: String,
    event_type: String,
    payload: String,
    created_at: i64,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_attempt_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    response_excerpt: Option<String>,
    delivered_at: Option<i64>,
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            tenant_id: TenantId::parse(&row.tenant_id)
                .map_err(|_| StoreError::Backend("stored tenant ID is invalid".into()))?,
            message: NewWebhookMessage {
                id: row.id,
                message_id: row.message_id,
                endpoint_url: row.endpoint_url,
                event_type: row.event_type,
                payload: row.payload,
                created_at: row.created_at,
            },
            status: DeliveryStatus::parse(&row.status)?,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            next_attempt_at: row.next_attempt_at,
            last_attempt_at: row.last_attempt_at,
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
            response_excerpt: row.response_excerpt,
            delivered_at: row.delivered_at,
        })
    }
}

fn convert(rows: Vec<DeliveryRow>) -> Result<Vec<WebhookDelivery>, StoreError> {
    rows.into_iter().map(WebhookDelivery::try_from).collect()
}

/// Writes `messages` to the outbox on `conn` (inside the caller's transaction), due at once.
pub(super) async fn insert_webhooks_in(
    conn: &mut PgConnection,
    tenant: &TenantId,
    messages: &[NewWebhookMessage],
) -> Result<(), StoreError> {
    for m in messages {
        sqlx::query(
            "INSERT INTO webhook_outbox (id, tenant_id, message_id, endpoint_url, event_type, \
             payload, created_at, status, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $7)",
        )
        .bind(&m.id)
        .bind(tenant.as_str())
        .bind(&m.message_id)
        .bind(&m.endpoint_url)
        .bind(&m.event_type)
        .bind(&m.payload)
        .bind(m.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(e, "webhook_delivery_exists"))?;
    }
    Ok(())
}

#[async_trait]
impl WebhookOutbox for PostgresStore {
    async fn lease_webhook_deliveries(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let sql = format!(
            "UPDATE webhook_outbox SET leased_until = $1, lease_owner = $2 \
             WHERE id IN (SELECT id FROM webhook_outbox WHERE status = 'pending' \
             AND next_attempt_at <= $3 AND (leased_until IS NULL OR leased_until < $3) \
             ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
        );
        let rows = sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(now.saturating_add(lease_ms))
            .bind(node)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        convert(rows)
    }

    async fn finish_webhook_attempt(
        &self,
        id: &str,
        node: &str,
        a: &WebhookAttempt,
    ) -> Result<bool, StoreError> {
        let delivered = (a.status == DeliveryStatus::Delivered).then_some(a.at);
        let done = sqlx::query(
            "UPDATE webhook_outbox SET status = $1, attempts = attempts + 1, \
             next_attempt_at = $2, last_attempt_at = $3, last_status = $4, last_error = $5, \
             response_excerpt = $6, delivered_at = COALESCE($7, delivered_at), \
             leased_until = NULL, lease_owner = NULL WHERE id = $8 AND lease_owner = $9",
        )
        .bind(a.status.as_str())
        .bind(a.next_attempt_at)
        .bind(a.at)
        .bind(a.http_status.map(i64::from))
        .bind(&a.error)
        .bind(&a.response_excerpt)
        .bind(delivered)
        .bind(id)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_outbox WHERE tenant_id = $1 AND created_at < $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(tenant.as_str())
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        convert(rows)
    }

    async fn redeliver_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        now: i64,
    ) -> Result<WebhookDelivery, StoreError> {
        let sql = format!(
            "UPDATE webhook_outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             leased_until = NULL, lease_owner = NULL WHERE tenant_id = $2 AND id = $3 \
             RETURNING {COLUMNS}"
        );
        sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(now)
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }
}

#[async_trait]
impl RecordedChanges for PostgresStore {
    async fn rename_credential_recorded(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
        event: &AuditEvent,
    ) -> Result<Credential, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let sql = format!(
            "UPDATE credentials SET friendly_name = $1 WHERE tenant_id = $2 AND id = $3 \
             RETURNING {CREDENTIAL_COLUMNS}"
        );
        let renamed: Credential = sqlx::query_as::<_, CredentialRow>(&sql)
            .bind(name)
            .bind(tenant.as_str())
            .bind(credential_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()?;
        insert_audit_event_in(&mut tx, tenant, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(renamed)
    }

    async fn delete_credential_recorded(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(credential_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        found(done.rows_affected())?;
        insert_audit_event_in(&mut tx, tenant, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn delete_own_credential_recorded(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        delete_own_credential_in(&mut tx, tenant, user_id, credential_id, keep_one).await?;
        insert_audit_event_in(&mut tx, tenant, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn replace_backup_codes_recorded(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        replace_backup_codes_in(&mut tx, tenant, user_id, hashes, now).await?;
        insert_audit_event_in(&mut tx, tenant, event).await?;
        tx.commit().await.map_err(backend)
    }
}
