//! What ceremonies and tokens leave behind: ceremony sessions, registration tokens, redeemed
//! token IDs (all swept once expired), and the audit trail. Each public function is the body of
//! the [`Store`](crate::store::Store) method of the same name.

use sqlx::postgres::PgPool;

use crate::store::rows::{backend, hash32, json, session_kind, write_error, AuditRow};
use crate::store::{AuditEvent, RegistrationToken, Session, StoreError};
use crate::tenant::TenantId;

/// Stores a begun ceremony.
pub(super) async fn insert_session(
    pool: &PgPool,
    tenant: &TenantId,
    session: &Session,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ceremony_sessions (id, tenant_id, kind, state, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session.id.as_slice())
    .bind(tenant.as_str())
    .bind(session.kind.as_str())
    .bind(&session.state)
    .bind(session.expires_at)
    .execute(pool)
    .await
    .map_err(|e| write_error(e, "session_exists"))?;
    Ok(())
}

/// Removes and returns a session; `NotFound` if unknown or already taken.
pub(super) async fn take_session(
    pool: &PgPool,
    tenant: &TenantId,
    id: &[u8; 32],
) -> Result<Session, StoreError> {
    // One statement: of several concurrent finishes (on any node), the first to lock the
    // row deletes it and the others find nothing.
    let row: Option<(Vec<u8>, String, String, i64)> = sqlx::query_as(
        "DELETE FROM ceremony_sessions WHERE tenant_id = $1 AND id = $2 \
         RETURNING id, kind, state, expires_at",
    )
    .bind(tenant.as_str())
    .bind(id.as_slice())
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    let (id, kind, state, expires_at) = row.ok_or(StoreError::NotFound)?;
    Ok(Session {
        id: hash32(id)?,
        kind: session_kind(&kind)?,
        state,
        expires_at,
    })
}

/// Deletes sessions, registration tokens and redeemed-token records that expired before `now`;
/// returns how many rows went.
pub(super) async fn sweep_expired(pool: &PgPool, now: i64) -> Result<u64, StoreError> {
    let mut swept = 0;
    for table in [
        "ceremony_sessions",
        "registration_tokens",
        "redeemed_tokens",
    ] {
        let sql = format!("DELETE FROM {table} WHERE expires_at < $1");
        swept += sqlx::query(&sql)
            .bind(now)
            .execute(pool)
            .await
            .map_err(backend)?
            .rows_affected();
    }
    Ok(swept)
}

/// Stores a registration token.
pub(super) async fn insert_registration_token(
    pool: &PgPool,
    tenant: &TenantId,
    token: &RegistrationToken,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registration_tokens \
         (id, tenant_id, user_id, user_name, display_name, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.id.as_slice())
    .bind(tenant.as_str())
    .bind(&token.user_id)
    .bind(&token.user_name)
    .bind(&token.display_name)
    .bind(token.expires_at)
    .execute(pool)
    .await
    .map_err(|e| write_error(e, "registration_token_exists"))?;
    Ok(())
}

/// Removes and returns a registration token (single use).
pub(super) async fn take_registration_token(
    pool: &PgPool,
    tenant: &TenantId,
    id: &[u8; 32],
) -> Result<RegistrationToken, StoreError> {
    // One statement, as in `take_session`: the token is used once.
    let row: Option<(Vec<u8>, String, String, String, i64)> = sqlx::query_as(
        "DELETE FROM registration_tokens WHERE tenant_id = $1 AND id = $2 \
         RETURNING id, user_id, user_name, display_name, expires_at",
    )
    .bind(tenant.as_str())
    .bind(id.as_slice())
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    let (id, user_id, user_name, display_name, expires_at) = row.ok_or(StoreError::NotFound)?;
    Ok(RegistrationToken {
        id: hash32(id)?,
        user_id,
        user_name,
        display_name,
        expires_at,
    })
}

/// Records a token's redemption; false if it was already redeemed.
pub(super) async fn redeem_token(
    pool: &PgPool,
    tenant: &TenantId,
    jti: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    // One statement: of concurrent redemptions, one inserts and the others do nothing.
    let done = sqlx::query(
        "INSERT INTO redeemed_tokens (tenant_id, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, jti) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(jti)
    .bind(expires_at)
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

/// Appends an audit event.
pub(super) async fn insert_audit_event(
    pool: &PgPool,
    tenant: &TenantId,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    if event.webhooks.is_empty() {
        let mut conn = pool.acquire().await.map_err(backend)?;
        return insert_audit_event_in(&mut conn, tenant, event).await;
    }
    // The event and its webhook messages: both or neither.
    let mut tx = pool.begin().await.map_err(backend)?;
    insert_audit_event_in(&mut tx, tenant, event).await?;
    tx.commit().await.map_err(backend)
}

/// [`insert_audit_event`] on `conn` (inside the caller's transaction).
pub(super) async fn insert_audit_event_in(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events \
         (tenant_id, at, actor, action, subject, outcome, details, ip, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant.as_str())
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.subject)
    .bind(&event.outcome)
    .bind(json(&event.details)?)
    .bind(&event.ip)
    .bind(&event.request_id)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    super::webhooks::insert_webhooks_in(conn, tenant, &event.webhooks).await
}

/// Audit events with an ID below `before` (all when `None`), newest first, at most `limit`.
pub(super) async fn audit_events(
    pool: &PgPool,
    tenant: &TenantId,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, actor, action, subject, outcome, details, ip, request_id \
         FROM audit_events WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(tenant.as_str())
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(backend)?
    .into_iter()
    .map(AuditEvent::try_from)
    .collect()
}
