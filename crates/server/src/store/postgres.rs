//! The PostgreSQL store: one database shared by several nodes.
//!
//! It behaves as the SQLite store does (same schema, same errors, same `Conflict` names); what
//! differs is that several processes write at once, so every rule that must hold across nodes
//! is one statement or one transaction the server enforces: a session is taken by one
//! `DELETE ... RETURNING`, a sign-count update is a compare-and-set `UPDATE`, and bootstrap
//! inserts use `ON CONFLICT DO NOTHING`.
//!
//! Opening does not need the server to be up: the pool connects lazily, and only the migrations
//! wait (retrying for [`PostgresOptions::startup_timeout`]) until it answers. Afterwards
//! [`Store::ping`] fails while the server is unreachable, which is what `/readyz` reports.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::rows::{
    backend, corrupt, found, json, write_error, CredentialRow, UserRow, CREDENTIAL_COLUMNS,
    USER_COLUMNS,
};
use super::{
    ApiKey, AuditEvent, Credential, CredentialUse, NewApiKey, NewRegistration, OpenError,
    RegistrationToken, Session, SigningKeyRecord, Store, StoreError, Tenant, TenantUpdate, User,
};
use crate::tenant::TenantId;

mod ceremonies;
mod migrate;
mod tenants;

#[cfg(test)]
mod tests;

/// The pool size used until it becomes a configuration setting.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How the PostgreSQL store connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The most connections the pool keeps open.
    pub max_connections: u32,
    /// How long a query waits for a connection (or for one to be made) before failing; while
    /// the server is unreachable, `ping` fails after this long.
    pub acquire_timeout: Duration,
    /// How long opening keeps retrying while the server cannot be reached.
    pub startup_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(5),
            startup_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Opens a pool on `url` (`postgres://` or `postgresql://`) and runs the migrations,
    /// waiting up to `options.startup_timeout` for the server to become reachable.
    ///
    /// Fails at once on errors that waiting cannot fix (a malformed URL, refused credentials,
    /// a missing database, a migration that does not apply).
    pub async fn open(url: &str, options: PostgresOptions) -> Result<Self, OpenError> {
        let mut connect =
            PgConnectOptions::from_str(url).map_err(|e| OpenError::Connect(Box::new(e)))?;
        // Name the connections in pg_stat_activity, unless the URL (or PGAPPNAME) does.
        if connect.get_application_name().is_none() {
            connect = connect.application_name("passkeyd");
        }
        Self::open_with(connect, options).await
    }

    async fn open_with(
        connect: PgConnectOptions,
        options: PostgresOptions,
    ) -> Result<Self, OpenError> {
        // Lazy: no connection is made here, so an unreachable server fails queries (and
        // readiness), not the start.
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone());
        migrate::migrate(&connect, options).await?;
        Ok(Self { pool })
    }
}

impl PostgresStore {
    /// One user by a unique column.
    async fn user_where(
        &self,
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
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(User::from)
            .ok_or(StoreError::NotFound)
    }
}

/// The value a user is looked up by, bound with its column's type.
#[derive(Clone, Copy)]
enum UserKey<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn count_tenants(&self) -> Result<u64, StoreError> {
        tenants::count_tenants(&self.pool).await
    }

    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        tenants::insert_tenant(&self.pool, tenant).await
    }

    async fn insert_tenant_if_absent(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        tenants::insert_tenant_if_absent(&self.pool, tenant).await
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Tenant, StoreError> {
        tenants::tenant(&self.pool, tenant).await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        tenants::tenants(&self.pool).await
    }

    async fn update_tenant(
        &self,
        tenant: &TenantId,
        update: &TenantUpdate,
    ) -> Result<Tenant, StoreError> {
        tenants::update_tenant(&self.pool, tenant, update).await
    }

    async fn update_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Tenant, StoreError> {
        tenants::update_tenant_settings(&self.pool, tenant, settings).await
    }

    async fn insert_api_key(&self, tenant: &TenantId, key: &NewApiKey) -> Result<(), StoreError> {
        tenants::insert_api_key(&self.pool, tenant, key).await
    }

    async fn insert_api_key_if_absent(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
    ) -> Result<bool, StoreError> {
        tenants::insert_api_key_if_absent(&self.pool, tenant, key).await
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<ApiKey, StoreError> {
        tenants::api_key_by_prefix(&self.pool, prefix).await
    }

    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        tenants::api_keys(&self.pool, tenant).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        tenants::revoke_api_key(&self.pool, tenant, prefix, now).await
    }

    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<User, StoreError> {
        self.user_where(tenant, "id = $2", UserKey::Text(user_id))
            .await
    }

    async fn user_by_name(&self, tenant: &TenantId, name: &str) -> Result<User, StoreError> {
        self.user_where(tenant, "name = $2", UserKey::Text(name))
            .await
    }

    async fn user_by_handle(&self, tenant: &TenantId, handle: &[u8]) -> Result<User, StoreError> {
        self.user_where(tenant, "user_handle = $2", UserKey::Bytes(handle))
            .await
    }

    async fn insert_user_if_absent(
        &self,
        tenant: &TenantId,
        user: &User,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (tenant_id, id, user_handle, name, display_name, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&user.id)
        .bind(&user.user_handle)
        .bind(&user.name)
        .bind(&user.display_name)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, "user_name_taken"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        // The credentials go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        found(done.rows_affected())
    }

    async fn credentials(
        &self,
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
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .into_iter()
            .map(Credential::try_from)
            .collect()
    }

    async fn credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Credential, StoreError> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = $1 AND id = $2"
        );
        sqlx::query_as::<_, CredentialRow>(&sql)
            .bind(tenant.as_str())
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn insert_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
    ) -> Result<(), StoreError> {
        // READ COMMITTED is enough: a concurrent insert of the same user makes this one wait
        // for it and then do nothing, and the SELECT below (a new snapshot) sees the winner's
        // row. On any error below, the transaction is rolled back when `tx` drops (Postgres
        // has aborted it anyway).
        let mut tx = self.pool.begin().await.map_err(backend)?;
        register_in(&mut tx, tenant, registration).await?;
        tx.commit().await.map_err(backend)
    }

    async fn insert_registrations(
        &self,
        tenant: &TenantId,
        registrations: &[NewRegistration],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for registration in registrations {
            register_in(&mut tx, tenant, registration).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn record_credential_use(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
    ) -> Result<(), StoreError> {
        // Compare-and-set: a concurrent update of the same row makes this one wait, and
        // Postgres then re-checks `sign_count = $7` against the committed row, so of several
        // assertions verified against the same count only the first applies.
        let update_row = sqlx::query_as::<_, (String,)>(
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
        .bind(i64::from(update.expected_sign_count));
        if !update.reset_failures {
            // One statement, committed on its own.
            return match update_row
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
            {
                Some(_) => Ok(()),
                None => Err(StoreError::Conflict("counter_changed")),
            };
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let Some((user_id,)) = update_row.fetch_optional(&mut *tx).await.map_err(backend)? else {
            return Err(StoreError::Conflict("counter_changed"));
        };
        sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn rename_credential(
        &self,
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
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn delete_own_credential(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
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
        tx.commit().await.map_err(backend)
    }

    async fn delete_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(credential_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        found(done.rows_affected())
    }

    async fn record_failure(
        &self,
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
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let (count,) = count.ok_or(StoreError::NotFound)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn insert_session(&self, tenant: &TenantId, session: &Session) -> Result<(), StoreError> {
        ceremonies::insert_session(&self.pool, tenant, session).await
    }

    async fn take_session(&self, tenant: &TenantId, id: &[u8; 32]) -> Result<Session, StoreError> {
        ceremonies::take_session(&self.pool, tenant, id).await
    }

    async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError> {
        ceremonies::sweep_expired(&self.pool, now).await
    }

    async fn insert_registration_token(
        &self,
        tenant: &TenantId,
        token: &RegistrationToken,
    ) -> Result<(), StoreError> {
        ceremonies::insert_registration_token(&self.pool, tenant, token).await
    }

    async fn take_registration_token(
        &self,
        tenant: &TenantId,
        id: &[u8; 32],
    ) -> Result<RegistrationToken, StoreError> {
        ceremonies::take_registration_token(&self.pool, tenant, id).await
    }

    async fn signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKeyRecord>, StoreError> {
        tenants::signing_keys(&self.pool, tenant).await
    }

    async fn insert_signing_key(
        &self,
        tenant: &TenantId,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        tenants::insert_signing_key(&self.pool, tenant, key).await
    }

    async fn redeem_token(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        ceremonies::redeem_token(&self.pool, tenant, jti, expires_at).await
    }

    async fn insert_audit_event(
        &self,
        tenant: &TenantId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        ceremonies::insert_audit_event(&self.pool, tenant, event).await
    }

    async fn audit_events(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        ceremonies::audit_events(&self.pool, tenant, before, limit).await
    }

    async fn tenant_policy(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        tenants::tenant_policy(&self.pool, tenant).await
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: Option<&str>,
    ) -> Result<(), StoreError> {
        tenants::set_tenant_policy(&self.pool, tenant, policy).await
    }

    async fn replace_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
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
        tx.commit().await.map_err(backend)
    }

    async fn unused_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
            "SELECT code_hash FROM backup_codes WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(tenant.as_str())
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(hash,)| {
                <[u8; 32]>::try_from(hash).map_err(|_| corrupt("backup_codes.code_hash"))
            })
            .collect()
    }

    async fn use_backup_code(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
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

    async fn reset_failures(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        found(done.rows_affected())
    }

    async fn retire_signing_keys(&self, tenant: &TenantId, now: i64) -> Result<u64, StoreError> {
        tenants::retire_signing_keys(&self.pool, tenant, now).await
    }

    async fn server_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        tenants::server_meta(&self.pool, name).await
    }

    async fn server_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        tenants::server_meta_or_insert(&self.pool, name, value).await
    }
}

/// The writes of one registration, inside the caller's transaction (see
/// [`Store::insert_registration`]).
async fn register_in(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    registration: &NewRegistration,
) -> Result<(), StoreError> {
    let user = &registration.user;
    let c = &registration.credential;
    sqlx::query(
        "INSERT INTO users (tenant_id, id, user_handle, name, display_name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, id) DO NOTHING",
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
    // below cannot be passed by two at once.
    let (handle,): (Vec<u8>,) =
        sqlx::query_as("SELECT user_handle FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant.as_str())
            .bind(&user.id)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
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
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
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
