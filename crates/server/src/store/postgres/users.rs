//! Users and what belongs to a user: credentials (stored by registrations, updated by
//! assertions), backup codes and the count of failed attempts. Each public function is the body
//! of the [`Store`](crate::store::Store) method of the same name.

use sqlx::postgres::PgPool;
use sqlx::PgConnection;

use crate::store::rows::{
    backend, corrupt, found, json, write_error, CredentialRow, UserRow, CREDENTIAL_COLUMNS,
    CREDENTIAL_KNOWN_TO_RP_ID, USER_COLUMNS,
};
use crate::store::{AuditEvent, Credential, CredentialUse, NewRegistration, StoreError, User};
use crate::tenant::TenantId;

/// A user by the app's ID.
pub(super) async fn user(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
) -> Result<User, StoreError> {
    user_where(pool, tenant, "id = $2", UserKey::Text(user_id)).await
}

/// A user by user name.
pub(super) async fn user_by_name(
    pool: &PgPool,
    tenant: &TenantId,
    name: &str,
) -> Result<User, StoreError> {
    user_where(pool, tenant, "name = $2", UserKey::Text(name)).await
}

/// A user by WebAuthn user handle.
pub(super) async fn user_by_handle(
    pool: &PgPool,
    tenant: &TenantId,
    handle: &[u8],
) -> Result<User, StoreError> {
    user_where(pool, tenant, "user_handle = $2", UserKey::Bytes(handle)).await
}

/// Creates a user without credentials; true if this call created them.
pub(super) async fn insert_user_if_absent(
    pool: &PgPool,
    tenant: &TenantId,
    user: &User,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO users (tenant_id, id, user_handle, name, display_name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(&user.id)
    .bind(&user.user_handle)
    .bind(&user.name)
    .bind(&user.display_name)
    .bind(user.created_at)
    .execute(pool)
    .await
    .map_err(|e| write_error(e, "user_name_taken"))?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    // Nothing inserted: the ID exists (created here or by a concurrent request), or another
    // user has the name. Any unique index arbitrates (no conflict target): with only the ID's,
    // a concurrent insert of the same new user fails on the name's index instead of waiting.
    match self::user(pool, tenant, &user.id).await {
        Ok(_) => Ok(false),
        Err(StoreError::NotFound) => Err(StoreError::Conflict("user_name_taken")),
        Err(e) => Err(e),
    }
}

/// Deletes a user and their credentials.
pub(super) async fn delete_user(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
) -> Result<(), StoreError> {
    // The credentials go with the user (ON DELETE CASCADE).
    let done = sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(backend)?;
    found(done.rows_affected())
}

/// A user's credentials, oldest first.
pub(super) async fn credentials(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Vec<Credential>, StoreError> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = $1 AND user_id = $2 \
         ORDER BY created_at, id"
    );
    sqlx::query_as::<_, CredentialRow>(&sql)
        .bind(tenant.as_str())
        .bind(user_id)
        .fetch_all(pool)
        .await
        .map_err(backend)?
        .into_iter()
        .map(Credential::try_from)
        .collect()
}

/// One credential by ID.
pub(super) async fn credential(
    pool: &PgPool,
    tenant: &TenantId,
    credential_id: &[u8],
) -> Result<Credential, StoreError> {
    let sql =
        format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = $1 AND id = $2");
    sqlx::query_as::<_, CredentialRow>(&sql)
        .bind(tenant.as_str())
        .bind(credential_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// Whether a credential of this ID is held in any tenant of RP ID `rp_id`.
pub(super) async fn credential_known_to_rp_id(
    pool: &PgPool,
    rp_id: &str,
    credential_id: &[u8],
) -> Result<bool, StoreError> {
    sqlx::query_scalar::<_, bool>(CREDENTIAL_KNOWN_TO_RP_ID)
        .bind(credential_id)
        .bind(rp_id)
        .fetch_one(pool)
        .await
        .map_err(backend)
}

/// Stores a verified registration in one transaction.
pub(super) async fn insert_registration(
    pool: &PgPool,
    tenant: &TenantId,
    registration: &NewRegistration,
) -> Result<(), StoreError> {
    // READ COMMITTED is enough: a concurrent insert of the same user makes this one wait
    // for it and then do nothing, and the SELECT below (a new snapshot) sees the winner's
    // row. On any error below, the transaction is rolled back when `tx` drops (Postgres
    // has aborted it anyway).
    let mut tx = pool.begin().await.map_err(backend)?;
    register_in(&mut tx, tenant, registration).await?;
    tx.commit().await.map_err(backend)
}

/// [`insert_registration`] and the registration's audit event, in one transaction.
pub(super) async fn record_registration(
    pool: &PgPool,
    tenant: &TenantId,
    registration: &NewRegistration,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    register_in(&mut tx, tenant, registration).await?;
    super::ceremonies::insert_audit_event_in(&mut tx, tenant, event).await?;
    tx.commit().await.map_err(backend)
}

/// Stores many registrations in one transaction; all or none.
pub(super) async fn insert_registrations(
    pool: &PgPool,
    tenant: &TenantId,
    registrations: &[NewRegistration],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    for registration in registrations {
        register_in(&mut tx, tenant, registration).await?;
    }
    tx.commit().await.map_err(backend)
}

/// Records a verified assertion as a compare-and-set on the sign count, resetting the user's
/// failure count if asked.
pub(super) async fn record_credential_use(
    pool: &PgPool,
    tenant: &TenantId,
    credential_id: &[u8],
    update: &CredentialUse,
) -> Result<(), StoreError> {
    if !update.reset_failures {
        // One statement, committed on its own.
        let mut conn = pool.acquire().await.map_err(backend)?;
        return record_use_in(&mut conn, tenant, credential_id, update).await;
    }
    let mut tx = pool.begin().await.map_err(backend)?;
    record_use_in(&mut tx, tenant, credential_id, update).await?;
    tx.commit().await.map_err(backend)
}

/// [`record_credential_use`] and the sign-in's audit event, in one transaction.
pub(super) async fn record_sign_in(
    pool: &PgPool,
    tenant: &TenantId,
    credential_id: &[u8],
    update: &CredentialUse,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    record_use_in(&mut tx, tenant, credential_id, update).await?;
    super::ceremonies::insert_audit_event_in(&mut tx, tenant, event).await?;
    tx.commit().await.map_err(backend)
}

/// A verified assertion's writes, on `conn` (inside the caller's transaction when the failure
/// count is reset too).
async fn record_use_in(
    conn: &mut PgConnection,
    tenant: &TenantId,
    credential_id: &[u8],
    update: &CredentialUse,
) -> Result<(), StoreError> {
    // Compare-and-set: a concurrent update of the same row makes this one wait, and
    // Postgres then re-checks `sign_count = $7` against the committed row, so of several
    // assertions verified against the same count only the first applies.
    let owner = sqlx::query_as::<_, (String,)>(
        "UPDATE credentials SET sign_count = $1, backup_eligible = $2, backup_state = $3, \
         last_used_at = $4 WHERE tenant_id = $5 AND id = $6 AND sign_count = $7 \
         RETURNING user_id",
    )
    .bind(i64::from(update.sign_count))
    .bind(update.backup_eligible)
    .bind(update.backup_state)
    .bind(update.at)
    .bind(tenant.as_str())
    .bind(credential_id)
    .bind(i64::from(update.expected_sign_count))
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let Some((user_id,)) = owner else {
        return Err(StoreError::Conflict("counter_changed"));
    };
    if update.reset_failures {
        sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(&user_id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Sets (or clears) a credential's friendly name.
pub(super) async fn rename_credential(
    pool: &PgPool,
    tenant: &TenantId,
    credential_id: &[u8],
    name: Option<&str>,
) -> Result<Credential, StoreError> {
    let sql = format!(
        "UPDATE credentials SET friendly_name = $1 WHERE tenant_id = $2 AND id = $3 \
         RETURNING {CREDENTIAL_COLUMNS}"
    );
    sqlx::query_as::<_, CredentialRow>(&sql)
        .bind(name)
        .bind(tenant.as_str())
        .bind(credential_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// Deletes a user's credential in one transaction, with `keep_one` only if the user holds another.
pub(super) async fn delete_own_credential(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
    credential_id: &[u8],
    keep_one: bool,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    delete_own_credential_in(&mut tx, tenant, user_id, credential_id, keep_one).await?;
    tx.commit().await.map_err(backend)
}

/// [`delete_own_credential`] on `tx` (inside the caller's transaction).
pub(super) async fn delete_own_credential_in(
    tx: &mut PgConnection,
    tenant: &TenantId,
    user_id: &str,
    credential_id: &[u8],
    keep_one: bool,
) -> Result<(), StoreError> {
    // The user's row, locked: deletes (and registrations) of one user take turns, so the
    // count below is still true at the delete.
    let user: Option<(i32,)> =
        sqlx::query_as("SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant.as_str())
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    if user.is_none() {
        return Err(StoreError::NotFound);
    }
    let (held, owned): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE id = $1) FROM credentials \
         WHERE tenant_id = $2 AND user_id = $3",
    )
    .bind(credential_id)
    .bind(tenant.as_str())
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(backend)?;
    if owned == 0 {
        return Err(StoreError::NotFound);
    }
    if keep_one && held <= 1 {
        return Err(StoreError::Conflict("last_credential"));
    }
    sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND id = $2 AND user_id = $3")
        .bind(tenant.as_str())
        .bind(credential_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Deletes a credential.
pub(super) async fn delete_credential(
    pool: &PgPool,
    tenant: &TenantId,
    credential_id: &[u8],
) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(credential_id)
        .execute(pool)
        .await
        .map_err(backend)?;
    found(done.rows_affected())
}

/// Replaces a user's backup codes with new ones (their hashes), in one transaction.
pub(super) async fn replace_backup_codes(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
    hashes: &[[u8; 32]],
    now: i64,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    replace_backup_codes_in(&mut tx, tenant, user_id, hashes, now).await?;
    tx.commit().await.map_err(backend)
}

/// [`replace_backup_codes`] on `tx` (inside the caller's transaction).
pub(super) async fn replace_backup_codes_in(
    tx: &mut PgConnection,
    tenant: &TenantId,
    user_id: &str,
    hashes: &[[u8; 32]],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM backup_codes WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant.as_str())
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO backup_codes (tenant_id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.as_str())
        .bind(user_id)
        .bind(hash.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, "backup_code_exists"))?;
    }
    Ok(())
}

/// The hashes of a user's unused backup codes.
pub(super) async fn unused_backup_codes(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Vec<[u8; 32]>, StoreError> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT code_hash FROM backup_codes WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
    )
    .bind(tenant.as_str())
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(|(hash,)| <[u8; 32]>::try_from(hash).map_err(|_| corrupt("backup_codes.code_hash")))
        .collect()
}

/// Marks a backup code used if it still is unused (true for the one caller that gets it),
/// resetting the user's failure count.
pub(super) async fn use_backup_code(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
    hash: &[u8; 32],
    now: i64,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    let done = sqlx::query(
        "UPDATE backup_codes SET used_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND code_hash = $4 AND used_at IS NULL",
    )
    .bind(now)
    .bind(tenant.as_str())
    .bind(user_id)
    .bind(hash.as_slice())
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)?;
    Ok(true)
}

/// Counts a failure against a user at `at`; returns the new count.
pub(super) async fn record_failure(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
    at: i64,
) -> Result<u32, StoreError> {
    // One statement: concurrent failures each add one.
    let count: Option<(i64,)> = sqlx::query_as(
        "UPDATE users SET failed_attempts = failed_attempts + 1, last_failed_at = $3 \
         WHERE tenant_id = $1 AND id = $2 RETURNING failed_attempts",
    )
    .bind(tenant.as_str())
    .bind(user_id)
    .bind(at)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    let (count,) = count.ok_or(StoreError::NotFound)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Resets a user's failure count.
pub(super) async fn reset_failures(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(backend)?;
    found(done.rows_affected())
}

/// One user by a unique column.
async fn user_where(
    pool: &PgPool,
    tenant: &TenantId,
    condition: &str,
    key: UserKey<'_>,
) -> Result<User, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND {condition}");
    let query = sqlx::query_as::<_, UserRow>(&sql).bind(tenant.as_str());
    let query = match key {
        UserKey::Text(text) => query.bind(text),
        UserKey::Bytes(bytes) => query.bind(bytes),
    };
    query
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .map(User::from)
        .ok_or(StoreError::NotFound)
}

/// The value a user is looked up by, bound with its column's type.
#[derive(Clone, Copy)]
enum UserKey<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// The writes of one registration, inside the caller's transaction (see
/// [`Store::insert_registration`](crate::store::Store::insert_registration)).
pub(super) async fn register_in(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    registration: &NewRegistration,
) -> Result<(), StoreError> {
    let user = &registration.user;
    let c = &registration.credential;
    sqlx::query(
        "INSERT INTO users (tenant_id, id, user_handle, name, display_name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(&user.id)
    .bind(&user.user_handle)
    .bind(&user.name)
    .bind(&user.display_name)
    .bind(user.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(e, "user_name_taken"))?;
    // FOR UPDATE: registrations of one user take turns from here, so the credential count
    // below cannot be passed by two at once. No row: the insert did nothing because another
    // user has the name (any unique index arbitrates, see `insert_user_if_absent`).
    let (handle,): (Vec<u8>,) =
        sqlx::query_as("SELECT user_handle FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant.as_str())
            .bind(&user.id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?
            .ok_or(StoreError::Conflict("user_name_taken"))?;
    if handle != user.user_handle {
        return Err(StoreError::Conflict("user_changed"));
    }
    if let Some(max) = registration.max_credentials {
        let (held,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM credentials WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str())
        .bind(&user.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
        if held >= i64::from(max) {
            return Err(StoreError::Conflict("credential_limit"));
        }
    }
    let sql = format!(
        "INSERT INTO credentials (tenant_id, {CREDENTIAL_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(&c.id)
        .bind(&user.id)
        .bind(&c.public_key)
        .bind(c.algorithm)
        .bind(i64::from(c.sign_count))
        .bind(c.uv_initialized)
        .bind(c.backup_eligible)
        .bind(c.backup_state)
        .bind(json(&c.transports)?)
        .bind(&c.aaguid)
        .bind(&c.attestation_format)
        .bind(&c.attestation_type)
        .bind(&c.attestation_object)
        .bind(&c.friendly_name)
        .bind(c.created_at)
        .bind(c.last_used_at)
        .bind(c.prf_enabled)
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(e, "credential_exists"))?;
    sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(&user.id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}
