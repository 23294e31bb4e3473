//! The SQLite store: one database file in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::group_commit::GroupCommit;
use super::rows::{
    backend, corrupt, found, hash32, json, session_kind, write_error, ApiKeyRow, AuditRow,
    CredentialRow, SigningKeyRow, TenantRow, UserRow, API_KEY_COLUMNS, CREDENTIAL_COLUMNS,
    SIGNING_KEY_COLUMNS, TENANT_COLUMNS, USER_COLUMNS,
};
use super::{
    ApiKey, AuditEvent, Credential, CredentialUse, NewApiKey, NewRegistration, OpenError,
    RegistrationToken, Session, SigningKeyRecord, Store, StoreError, Tenant, TenantUpdate, User,
};
use crate::tenant::TenantId;
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

/// The SQLite implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Readers: WAL lets any number run beside the writer.
    pool: SqlitePool,
    /// The one writing connection. SQLite allows one writer at a time; with several writing
    /// connections the others spin in SQLite's busy handler, which sleeps in steps of up to
    /// 100 ms. Queueing writers on this pool instead keeps the wait as short as the writes.
    writer: SqlitePool,
    /// The hot single-statement writes, committed in groups on `writer`.
    group: GroupCommit,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, 10).await
    }

    /// [`Self::open`] with at most `max_connections` connections (SQLite still has one writer
    /// at a time; more connections let more readers run beside it).
    pub async fn open_with(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(true)
            // WAL lets readers run beside the one writer; synchronous=FULL makes every
            // acknowledged commit survive a power loss, which NORMAL does not in WAL mode.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Several processes (server and CLI) may write at once; wait instead of failing.
            .busy_timeout(Duration::from_secs(5));
        let file = options.get_filename();
        // Only a plain file on disk is made ahead: not an in-memory database (which sqlx names
        // `file:sqlx-in-memory-N`), another URI filename, or one opened read-only.
        let on_disk = !(url.contains(":memory:")
            || url.contains("mode=memory")
            || url.contains("mode=ro")
            || file.to_string_lossy().starts_with("file:"));
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::create_private_dir(dir).map_err(|source| OpenError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        if on_disk {
            create_private_file(file).map_err(|source| OpenError::DatabaseFile {
                path: file.to_owned(),
                source,
            })?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&writer)
            .await
            .map_err(OpenError::Migrate)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        let group = GroupCommit::start(writer.clone());
        Ok(Self {
            pool,
            writer,
            group,
        })
    }
}

/// Creates an empty database file readable by the owner alone (0600 on unix) unless it exists.
/// SQLite treats an empty file as a new database, and creates the `-wal` and `-shm` files with
/// the database file's mode, so they are private too.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    async fn insert_tenant_with(
        &self,
        tenant: &Tenant,
        or_ignore: bool,
    ) -> Result<u64, StoreError> {
        let conflict = if or_ignore {
            " ON CONFLICT (id) DO NOTHING"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?){conflict}"
        );
        let done = sqlx::query(&sql)
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(&tenant.rp_id)
            .bind(&tenant.rp_name)
            .bind(json(&tenant.origins)?)
            .bind(json(&tenant.settings)?)
            .bind(tenant.created_at)
            .execute(&self.writer)
            .await
            .map_err(|e| write_error(e, "tenant_exists"))?;
        Ok(done.rows_affected())
    }

    async fn insert_api_key_with(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
        or_ignore: bool,
    ) -> Result<u64, StoreError> {
        let conflict = if or_ignore {
            " ON CONFLICT (prefix) DO NOTHING"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO api_keys (id, tenant_id, kind, prefix, key_hash, label, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?){conflict}"
        );
        let done = sqlx::query(&sql)
            .bind(&key.id)
            .bind(tenant.as_str())
            .bind(key.kind.as_str())
            .bind(&key.prefix)
            .bind(key.key_hash.as_slice())
            .bind(&key.label)
            .bind(key.created_at)
            .execute(&self.writer)
            .await
            .map_err(|e| write_error(e, "api_key_exists"))?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::Backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    async fn count_tenants(&self) -> Result<u64, StoreError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::Backend)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.insert_tenant_with(tenant, false).await.map(drop)
    }

    async fn insert_tenant_if_absent(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        Ok(self.insert_tenant_with(tenant, true).await? == 1)
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Tenant, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?");
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id");
        sqlx::query_as::<_, TenantRow>(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .into_iter()
            .map(Tenant::try_from)
            .collect()
    }

    async fn update_tenant(
        &self,
        tenant: &TenantId,
        update: &TenantUpdate,
    ) -> Result<Tenant, StoreError> {
        let origins = update.origins.as_ref().map(json).transpose()?;
        let sql = format!(
            "UPDATE tenants SET name = COALESCE(?, name), rp_id = COALESCE(?, rp_id), \
             rp_name = COALESCE(?, rp_name), origins = COALESCE(?, origins) \
             WHERE id = ? RETURNING {TENANT_COLUMNS}"
        );
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(&update.name)
            .bind(&update.rp_id)
            .bind(&update.rp_name)
            .bind(origins)
            .bind(tenant.as_str())
            .fetch_optional(&self.writer)
            .await
            .map_err(StoreError::Backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn update_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Tenant, StoreError> {
        let sql =
            format!("UPDATE tenants SET settings = ? WHERE id = ? RETURNING {TENANT_COLUMNS}");
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(json(settings)?)
            .bind(tenant.as_str())
            .fetch_optional(&self.writer)
            .await
            .map_err(StoreError::Backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn insert_api_key(&self, tenant: &TenantId, key: &NewApiKey) -> Result<(), StoreError> {
        self.insert_api_key_with(tenant, key, false).await.map(drop)
    }

    async fn insert_api_key_if_absent(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
    ) -> Result<bool, StoreError> {
        Ok(self.insert_api_key_with(tenant, key, true).await? == 1)
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<ApiKey, StoreError> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE prefix = ?");
        sqlx::query_as::<_, ApiKeyRow>(&sql)
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? \
             ORDER BY created_at DESC, prefix"
        );
        sqlx::query_as::<_, ApiKeyRow>(&sql)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .into_iter()
            .map(ApiKey::try_from)
            .collect()
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) \
             WHERE tenant_id = ? AND prefix = ?",
        )
        .bind(now)
        .bind(tenant.as_str())
        .bind(prefix)
        .execute(&self.writer)
        .await
        .map_err(StoreError::Backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<User, StoreError> {
        self.user_where(tenant, "id = ?", UserKey::Text(user_id))
            .await
    }

    async fn user_by_name(&self, tenant: &TenantId, name: &str) -> Result<User, StoreError> {
        self.user_where(tenant, "name = ?", UserKey::Text(name))
            .await
    }

    async fn user_by_handle(&self, tenant: &TenantId, handle: &[u8]) -> Result<User, StoreError> {
        self.user_where(tenant, "user_handle = ?", UserKey::Blob(handle))
            .await
    }

    async fn insert_user_if_absent(
        &self,
        tenant: &TenantId,
        user: &User,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (tenant_id, id, user_handle, name, display_name, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&user.id)
        .bind(&user.user_handle)
        .bind(&user.name)
        .bind(&user.display_name)
        .bind(user.created_at)
        .execute(&self.writer)
        .await
        .map_err(|e| write_error(e, "user_name_taken"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(user_id)
            .execute(&self.writer)
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
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = ? AND user_id = ? \
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
        let sql =
            format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = ? AND id = ?");
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
        // BEGIN IMMEDIATE takes the write lock up front, so the user check and the inserts
        // cannot interleave with another writer's.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        register_in(&mut tx, tenant, registration).await?;
        tx.commit().await.map_err(backend)
    }

    async fn insert_registrations(
        &self,
        tenant: &TenantId,
        registrations: &[NewRegistration],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
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
        let owner = if update.reset_failures {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(backend)?;
            let owner =
                compare_and_set_use(&mut tx, tenant.as_str(), credential_id, update).await?;
            if let Some(user_id) = &owner {
                sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = ? AND id = ?")
                    .bind(tenant.as_str())
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
            }
            owner
        } else {
            // One statement, committed with whatever other hot writes are waiting.
            let tenant = tenant.as_str().to_owned();
            let credential_id = credential_id.to_vec();
            let update = update.clone();
            self.group
                .write(move |conn: &mut SqliteConnection| {
                    Box::pin(async move {
                        compare_and_set_use(conn, &tenant, &credential_id, &update).await
                    })
                })
                .await?
        };
        owner
            .map(drop)
            .ok_or(StoreError::Conflict("counter_changed"))
    }

    async fn rename_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
    ) -> Result<Credential, StoreError> {
        let sql = format!(
            "UPDATE credentials SET friendly_name = ? WHERE tenant_id = ? AND id = ? \
             RETURNING {CREDENTIAL_COLUMNS}"
        );
        sqlx::query_as::<_, CredentialRow>(&sql)
            .bind(name)
            .bind(tenant.as_str())
            .bind(credential_id)
            .fetch_optional(&self.writer)
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
        // BEGIN IMMEDIATE holds the write lock from the count to the delete.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let (held, owned): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(id = ?), 0) FROM credentials \
             WHERE tenant_id = ? AND user_id = ?",
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
        sqlx::query("DELETE FROM credentials WHERE tenant_id = ? AND id = ? AND user_id = ?")
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
        let done = sqlx::query("DELETE FROM credentials WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(credential_id)
            .execute(&self.writer)
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
        let tenant = tenant.as_str().to_owned();
        let user_id = user_id.to_owned();
        let count: Option<(i64,)> = self
            .group
            .write(move |conn: &mut SqliteConnection| {
                Box::pin(async move {
                    sqlx::query_as(
                        "UPDATE users SET failed_attempts = failed_attempts + 1, \
                         last_failed_at = ? WHERE tenant_id = ? AND id = ? \
                         RETURNING failed_attempts",
                    )
                    .bind(at)
                    .bind(tenant)
                    .bind(user_id)
                    .fetch_optional(conn)
                    .await
                    .map_err(backend)
                })
            })
            .await?;
        let (count,) = count.ok_or(StoreError::NotFound)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn insert_session(&self, tenant: &TenantId, session: &Session) -> Result<(), StoreError> {
        let tenant = tenant.as_str().to_owned();
        let session = session.clone();
        self.group
            .write(move |conn: &mut SqliteConnection| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO ceremony_sessions (id, tenant_id, kind, state, expires_at) \
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(session.id.as_slice())
                    .bind(tenant)
                    .bind(session.kind.as_str())
                    .bind(session.state)
                    .bind(session.expires_at)
                    .execute(conn)
                    .await
                    .map_err(|e| write_error(e, "session_exists"))?;
                    Ok(())
                })
            })
            .await
    }

    async fn take_session(&self, tenant: &TenantId, id: &[u8; 32]) -> Result<Session, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let id = *id;
        // One statement: whichever finish deletes the row first gets it.
        let row: Option<(Vec<u8>, String, String, i64)> = self
            .group
            .write(move |conn: &mut SqliteConnection| {
                Box::pin(async move {
                    sqlx::query_as(
                        "DELETE FROM ceremony_sessions WHERE tenant_id = ? AND id = ? \
                         RETURNING id, kind, state, expires_at",
                    )
                    .bind(tenant)
                    .bind(id.as_slice())
                    .fetch_optional(conn)
                    .await
                    .map_err(backend)
                })
            })
            .await?;
        let (id, kind, state, expires_at) = row.ok_or(StoreError::NotFound)?;
        Ok(Session {
            id: hash32(id)?,
            kind: session_kind(&kind)?,
            state,
            expires_at,
        })
    }

    async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut swept = 0;
        for table in [
            "ceremony_sessions",
            "registration_tokens",
            "redeemed_tokens",
        ] {
            let sql = format!("DELETE FROM {table} WHERE expires_at < ?");
            swept += sqlx::query(&sql)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        Ok(swept)
    }

    async fn insert_registration_token(
        &self,
        tenant: &TenantId,
        token: &RegistrationToken,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registration_tokens \
             (id, tenant_id, user_id, user_name, display_name, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(token.id.as_slice())
        .bind(tenant.as_str())
        .bind(&token.user_id)
        .bind(&token.user_name)
        .bind(&token.display_name)
        .bind(token.expires_at)
        .execute(&self.writer)
        .await
        .map_err(|e| write_error(e, "registration_token_exists"))?;
        Ok(())
    }

    async fn take_registration_token(
        &self,
        tenant: &TenantId,
        id: &[u8; 32],
    ) -> Result<RegistrationToken, StoreError> {
        let row: Option<(Vec<u8>, String, String, String, i64)> = sqlx::query_as(
            "DELETE FROM registration_tokens WHERE tenant_id = ? AND id = ? \
             RETURNING id, user_id, user_name, display_name, expires_at",
        )
        .bind(tenant.as_str())
        .bind(id.as_slice())
        .fetch_optional(&self.writer)
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

    async fn signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys WHERE tenant_id = ? \
             ORDER BY created_at DESC, kid"
        );
        Ok(sqlx::query_as::<_, SigningKeyRow>(&sql)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .into_iter()
            .map(SigningKeyRecord::from)
            .collect())
    }

    async fn insert_signing_key(
        &self,
        tenant: &TenantId,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO signing_keys (tenant_id, {SIGNING_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.public_jwk)
            .bind(&key.sealed_private_key)
            .bind(key.created_at)
            .bind(key.retired_at)
            .execute(&self.writer)
            .await
            .map_err(|e| write_error(e, "signing_key_exists"))?;
        Ok(())
    }

    async fn redeem_token(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO redeemed_tokens (tenant_id, jti, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (tenant_id, jti) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(jti)
        .bind(expires_at)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_audit_event(
        &self,
        tenant: &TenantId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let tenant = tenant.as_str().to_owned();
        let event = event.clone();
        let details = json(&event.details)?;
        self.group
            .write(move |conn: &mut SqliteConnection| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO audit_events \
                         (tenant_id, at, actor, action, subject, outcome, details, ip, request_id) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(tenant)
                    .bind(event.at)
                    .bind(event.actor)
                    .bind(event.action)
                    .bind(event.subject)
                    .bind(event.outcome)
                    .bind(details)
                    .bind(event.ip)
                    .bind(event.request_id)
                    .execute(conn)
                    .await
                    .map_err(backend)?;
                    Ok(())
                })
            })
            .await
    }

    async fn audit_events(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, actor, action, subject, outcome, details, ip, request_id \
             FROM audit_events WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .into_iter()
        .map(AuditEvent::try_from)
        .collect()
    }

    async fn tenant_policy(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT policy FROM tenants WHERE id = ?")
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|(policy,)| policy).ok_or(StoreError::NotFound)
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE tenants SET policy = ? WHERE id = ?")
            .bind(policy)
            .bind(tenant.as_str())
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        found(done.rows_affected())
    }

    async fn replace_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM backup_codes WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant.as_str())
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO backup_codes (tenant_id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?)",
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
            "SELECT code_hash FROM backup_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL",
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
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let done = sqlx::query(
            "UPDATE backup_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL",
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
        sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = ? AND id = ?")
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
            sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = ? AND id = ?")
                .bind(tenant.as_str())
                .bind(user_id)
                .execute(&self.writer)
                .await
                .map_err(backend)?;
        found(done.rows_affected())
    }

    async fn retire_signing_keys(&self, tenant: &TenantId, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET retired_at = ? WHERE tenant_id = ? AND retired_at IS NULL",
        )
        .bind(now)
        .bind(tenant.as_str())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn server_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT value FROM server_meta WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(row.map(|(value,)| value))
    }

    async fn server_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO server_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        let (stored,): (Vec<u8>,) = sqlx::query_as("SELECT value FROM server_meta WHERE name = ?")
            .bind(name)
            .fetch_one(&self.writer)
            .await
            .map_err(backend)?;
        Ok(stored)
    }
}

impl SqliteStore {
    /// One user by a unique column.
    async fn user_where(
        &self,
        tenant: &TenantId,
        condition: &str,
        key: UserKey<'_>,
    ) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ? AND {condition}");
        let query = sqlx::query_as::<_, UserRow>(&sql).bind(tenant.as_str());
        // The value must bind with the column's type: SQLite never finds a TEXT value equal
        // to a BLOB one.
        let query = match key {
            UserKey::Text(text) => query.bind(text),
            UserKey::Blob(bytes) => query.bind(bytes),
        };
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(User::from)
            .ok_or(StoreError::NotFound)
    }
}

/// The value a user is looked up by.
#[derive(Clone, Copy)]
enum UserKey<'a> {
    Text(&'a str),
    Blob(&'a [u8]),
}

/// The writes of one registration, inside the caller's transaction (see
/// [`Store::insert_registration`]).
async fn register_in(
    conn: &mut sqlx::SqliteConnection,
    tenant: &TenantId,
    registration: &NewRegistration,
) -> Result<(), StoreError> {
    let user = &registration.user;
    let c = &registration.credential;
    sqlx::query(
        "INSERT INTO users (tenant_id, id, user_handle, name, display_name, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING",
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
    let (handle,): (Vec<u8>,) =
        sqlx::query_as("SELECT user_handle FROM users WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(&user.id)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
    if handle != user.user_handle {
        return Err(StoreError::Conflict("user_changed"));
    }
    if let Some(max) = registration.max_credentials {
        // The transaction holds the write lock: no other registration counts meanwhile.
        let (held,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM credentials WHERE tenant_id = ? AND user_id = ?")
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
        "INSERT INTO credentials (tenant_id, {CREDENTIAL_COLUMNS}) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
    sqlx::query("UPDATE users SET failed_attempts = 0 WHERE tenant_id = ? AND id = ?")
        .bind(tenant.as_str())
        .bind(&user.id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// A sign-in's compare-and-set of the credential's counter and flags: answers the owner, or
/// `None` when the stored counter is no longer `update.expected_sign_count`.
async fn compare_and_set_use(
    conn: &mut SqliteConnection,
    tenant: &str,
    credential_id: &[u8],
    update: &CredentialUse,
) -> Result<Option<String>, StoreError> {
    let owner: Option<(String,)> = sqlx::query_as(
        "UPDATE credentials SET sign_count = ?, backup_eligible = ?, backup_state = ?, \
         last_used_at = ? WHERE tenant_id = ? AND id = ? AND sign_count = ? RETURNING user_id",
    )
    .bind(i64::from(update.sign_count))
    .bind(update.backup_eligible)
    .bind(update.backup_state)
    .bind(update.at)
    .bind(tenant)
    .bind(credential_id)
    .bind(i64::from(update.expected_sign_count))
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    Ok(owner.map(|(user_id,)| user_id))
}

#[cfg(test)]
mod tests;
