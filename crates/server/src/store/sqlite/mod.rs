//! The SQLite store: one database file in WAL mode, through rusqlite.
//!
//! Reads run on the calling thread and writes are units of work committed in groups by one
//! writer thread (`connections.rs`): a request pays no thread hand-off for a read and one for
//! each unit it writes, however many statements it has. sqlx hands every SQLite statement and
//! row to a worker thread and back: under load, more CPU than a ceremony's cryptography.
//!
//! Durability is unchanged by the grouping: `synchronous=FULL` in WAL mode, and no caller is
//! answered before the commit that holds its unit is on disk.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::rows::{
    corrupt, found, hash32, json, session_kind, API_KEY_COLUMNS, CREDENTIAL_COLUMNS,
    CREDENTIAL_KNOWN_TO_RP_ID as KNOWN, SIGNING_KEY_COLUMNS, TENANT_COLUMNS, USER_COLUMNS,
};
use super::{
    ApiKey, AuditEvent, Credential, CredentialUse, NewApiKey, NewRegistration, OpenError,
    RegistrationToken, Session, SigningKeyRecord, Store, StoreError, Tenant, TenantUpdate, User,
};
use crate::tenant::TenantId;
use connections::Connections;
use open::{open_blocking, Location};
use sql::{all, convert, exec, one, sqlite_error, write_error};
use units::{
    delete_own_credential_in, insert_api_key_in, insert_audit_event_in, insert_tenant_in,
    insert_user_in, record_use_in, register_in, replace_backup_codes_in, reset_failures_in,
    retire_signing_keys_in, select, server_meta_or_insert_in, sweep_expired_in,
    take_registration_token_in, tenant_returned, user_from,
};

mod connections;
mod mds;
pub mod migrate;
mod open;
mod portability;
mod rows;
mod sql;
mod units;
mod webhooks;

/// The SQLite implementation of [`Store`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    connections: Arc<Connections>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, 10).await
    }

    /// [`Self::open`] keeping at most `max_connections` read connections idle (SQLite still
    /// has one writer at a time; readers run beside it).
    pub async fn open_with(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let location = Location::parse(url);
        let keep = usize::try_from(max_connections.max(1)).unwrap_or(1);
        // Opening runs the migrations: blocking work, off the async threads.
        let opened = tokio::task::spawn_blocking(move || open_blocking(&location, keep))
            .await
            .map_err(|e| OpenError::Connect(Box::new(e)))??;
        Ok(Self {
            connections: Arc::new(opened),
        })
    }

    async fn write<T, F>(&self, unit: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.connections.write(unit).await
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.connections.read(read)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| one(conn, "SELECT 1", [], |row| row.get::<_, i64>(0)).map(drop))
    }

    async fn close(&self) {
        self.connections.close().await;
    }

    async fn count_tenants(&self) -> Result<u64, StoreError> {
        let count = self.read(|conn| {
            one(conn, "SELECT COUNT(*) FROM tenants", [], |row| {
                row.get::<_, i64>(0)
            })
        })?;
        Ok(count.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |conn| insert_tenant_in(conn, &tenant, false).map(drop))
            .await
    }

    async fn insert_tenant_if_absent(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let tenant = tenant.clone();
        self.write(move |conn| Ok(insert_tenant_in(conn, &tenant, true)? == 1))
            .await
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Tenant, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| select(TENANT_COLUMNS, "FROM tenants WHERE id = ?"));
        self.read(|conn| tenant_returned(conn, &SQL, [tenant.as_str()]))
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| select(TENANT_COLUMNS, "FROM tenants ORDER BY id"));
        convert(self.read(|conn| all(conn, &SQL, [], rows::tenant))?)
    }

    async fn update_tenant(
        &self,
        tenant: &TenantId,
        update: &TenantUpdate,
    ) -> Result<Tenant, StoreError> {
        let origins = update.origins.as_ref().map(json).transpose()?;
        let (tenant, update) = (tenant.clone(), update.clone());
        self.write(move |conn| {
            let sql = format!(
                "UPDATE tenants SET name = COALESCE(?, name), rp_id = COALESCE(?, rp_id), \
                 rp_name = COALESCE(?, rp_name), origins = COALESCE(?, origins) \
                 WHERE id = ? RETURNING {TENANT_COLUMNS}"
            );
            tenant_returned(
                conn,
                &sql,
                params![
                    update.name,
                    update.rp_id,
                    update.rp_name,
                    origins,
                    tenant.as_str()
                ],
            )
        })
        .await
    }

    async fn update_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Tenant, StoreError> {
        let settings = json(settings)?;
        let tenant = tenant.clone();
        self.write(move |conn| {
            let sql =
                format!("UPDATE tenants SET settings = ? WHERE id = ? RETURNING {TENANT_COLUMNS}");
            tenant_returned(conn, &sql, params![settings, tenant.as_str()])
        })
        .await
    }

    async fn insert_api_key(&self, tenant: &TenantId, key: &NewApiKey) -> Result<(), StoreError> {
        let (tenant, key) = (tenant.as_str().to_owned(), key.clone());
        self.write(move |conn| insert_api_key_in(conn, &tenant, &key, false).map(drop))
            .await
    }

    async fn insert_api_key_if_absent(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
    ) -> Result<bool, StoreError> {
        let (tenant, key) = (tenant.as_str().to_owned(), key.clone());
        self.write(move |conn| Ok(insert_api_key_in(conn, &tenant, &key, true)? == 1))
            .await
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<ApiKey, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| select(API_KEY_COLUMNS, "FROM api_keys WHERE prefix = ?"));
        self.read(|conn| one(conn, &SQL, [prefix], rows::api_key))?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            select(
                API_KEY_COLUMNS,
                "FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, prefix",
            )
        });
        convert(self.read(|conn| all(conn, &SQL, [tenant.as_str()], rows::api_key))?)
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (tenant, prefix) = (tenant.as_str().to_owned(), prefix.to_owned());
        self.write(move |conn| {
            let done = exec(
                conn,
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) \
                 WHERE tenant_id = ? AND prefix = ?",
                params![now, tenant, prefix],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<User, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| select(USER_COLUMNS, "FROM users WHERE tenant_id = ? AND id = ?"));
        user_from(self.read(|conn| one(conn, &SQL, [tenant.as_str(), user_id], rows::user))?)
    }

    async fn user_by_name(&self, tenant: &TenantId, name: &str) -> Result<User, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| select(USER_COLUMNS, "FROM users WHERE tenant_id = ? AND name = ?"));
        user_from(self.read(|conn| one(conn, &SQL, [tenant.as_str(), name], rows::user))?)
    }

    async fn user_by_handle(&self, tenant: &TenantId, handle: &[u8]) -> Result<User, StoreError> {
        // The handle binds as a BLOB, the column's type: SQLite never finds a TEXT value
        // equal to a BLOB one.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            select(
                USER_COLUMNS,
                "FROM users WHERE tenant_id = ? AND user_handle = ?",
            )
        });
        user_from(self.read(|conn| one(conn, &SQL, params![tenant.as_str(), handle], rows::user))?)
    }

    async fn insert_user_if_absent(
        &self,
        tenant: &TenantId,
        user: &User,
    ) -> Result<bool, StoreError> {
        let (tenant, user) = (tenant.as_str().to_owned(), user.clone());
        self.write(move |conn| Ok(insert_user_in(conn, &tenant, &user)? == 1))
            .await
    }

    async fn delete_user(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        let (tenant, user_id) = (tenant.as_str().to_owned(), user_id.to_owned());
        self.write(move |conn| {
            let done = exec(
                conn,
                "DELETE FROM users WHERE tenant_id = ? AND id = ?",
                [tenant, user_id],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn credentials(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<Credential>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            select(
                CREDENTIAL_COLUMNS,
                "FROM credentials WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, id",
            )
        });
        convert(self.read(|conn| all(conn, &SQL, [tenant.as_str(), user_id], rows::credential))?)
    }

    async fn credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Credential, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            select(
                CREDENTIAL_COLUMNS,
                "FROM credentials WHERE tenant_id = ? AND id = ?",
            )
        });
        self.read(|conn| {
            one(
                conn,
                &SQL,
                params![tenant.as_str(), credential_id],
                rows::credential,
            )
        })?
        .ok_or(StoreError::NotFound)?
        .try_into()
    }

    async fn credential_known_to_rp_id(&self, rp_id: &str, id: &[u8]) -> Result<bool, StoreError> {
        let known = |conn: &Connection| one(conn, KNOWN, params![id, rp_id], |row| row.get(0));
        Ok(self.read(known)?.unwrap_or(false))
    }

    async fn insert_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
    ) -> Result<(), StoreError> {
        let (tenant, registration) = (tenant.as_str().to_owned(), registration.clone());
        // The unit runs inside the writer's transaction, which holds the write lock: the user
        // check, the count and the inserts cannot interleave with another writer's.
        self.write(move |conn| register_in(conn, &tenant, &registration))
            .await
    }

    async fn record_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let details = json(&event.details)?;
        let (tenant, registration, event) = (
            tenant.as_str().to_owned(),
            registration.clone(),
            event.clone(),
        );
        self.write(move |conn| {
            register_in(conn, &tenant, &registration)?;
            insert_audit_event_in(conn, &tenant, &event, &details)
        })
        .await
    }

    async fn insert_registrations(
        &self,
        tenant: &TenantId,
        registrations: &[NewRegistration],
    ) -> Result<(), StoreError> {
        let (tenant, registrations) = (tenant.as_str().to_owned(), registrations.to_vec());
        self.write(move |conn| {
            registrations
                .iter()
                .try_for_each(|registration| register_in(conn, &tenant, registration))
        })
        .await
    }

    async fn record_credential_use(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
    ) -> Result<(), StoreError> {
        let (tenant, credential_id, update) = (
            tenant.as_str().to_owned(),
            credential_id.to_vec(),
            update.clone(),
        );
        self.write(move |conn| record_use_in(conn, &tenant, &credential_id, &update))
            .await
    }

    async fn record_sign_in(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let details = json(&event.details)?;
        let (tenant, credential_id, update, event) = (
            tenant.as_str().to_owned(),
            credential_id.to_vec(),
            update.clone(),
            event.clone(),
        );
        self.write(move |conn| {
            record_use_in(conn, &tenant, &credential_id, &update)?;
            insert_audit_event_in(conn, &tenant, &event, &details)
        })
        .await
    }

    async fn rename_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
    ) -> Result<Credential, StoreError> {
        let (tenant, credential_id, name) = (
            tenant.as_str().to_owned(),
            credential_id.to_vec(),
            name.map(str::to_owned),
        );
        self.write(move |conn| {
            units::rename_credential_in(conn, &tenant, &credential_id, name.as_deref())
        })
        .await
    }

    async fn delete_own_credential(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
    ) -> Result<(), StoreError> {
        let (tenant, user_id, credential_id) = (
            tenant.as_str().to_owned(),
            user_id.to_owned(),
            credential_id.to_vec(),
        );
        // The writer's transaction holds the write lock from the count to the delete.
        self.write(move |conn| {
            delete_own_credential_in(conn, &tenant, &user_id, &credential_id, keep_one)
        })
        .await
    }

    async fn delete_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<(), StoreError> {
        let (tenant, credential_id) = (tenant.as_str().to_owned(), credential_id.to_vec());
        self.write(move |conn| {
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

    async fn record_failure(
        &self,
        tenant: &TenantId,
        user_id: &str,
        at: i64,
    ) -> Result<u32, StoreError> {
        let (tenant, user_id) = (tenant.as_str().to_owned(), user_id.to_owned());
        let count: i64 = self
            .write(move |conn| {
                one(
                    conn,
                    "UPDATE users SET failed_attempts = failed_attempts + 1, \
                     last_failed_at = ? WHERE tenant_id = ? AND id = ? \
                     RETURNING failed_attempts",
                    params![at, tenant, user_id],
                    |row| row.get(0),
                )?
                .ok_or(StoreError::NotFound)
            })
            .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn insert_session(&self, tenant: &TenantId, session: &Session) -> Result<(), StoreError> {
        let (tenant, session) = (tenant.as_str().to_owned(), session.clone());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO ceremony_sessions (id, tenant_id, kind, state, expires_at) \
                 VALUES (?, ?, ?, ?, ?)",
                params![
                    session.id.as_slice(),
                    tenant,
                    session.kind.as_str(),
                    session.state,
                    session.expires_at
                ],
            )
            .map_err(write_error("session_exists"))?;
            Ok(())
        })
        .await
    }

    async fn take_session(&self, tenant: &TenantId, id: &[u8; 32]) -> Result<Session, StoreError> {
        let (tenant, id) = (tenant.as_str().to_owned(), *id);
        // One statement: whichever finish deletes the row first gets it.
        let (id, kind, state, expires_at): (Vec<u8>, String, String, i64) = self
            .write(move |conn| {
                one(
                    conn,
                    "DELETE FROM ceremony_sessions WHERE tenant_id = ? AND id = ? \
                     RETURNING id, kind, state, expires_at",
                    params![tenant, id.as_slice()],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )?
                .ok_or(StoreError::NotFound)
            })
            .await?;
        Ok(Session {
            id: hash32(id)?,
            kind: session_kind(&kind)?,
            state,
            expires_at,
        })
    }

    async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.write(move |conn| sweep_expired_in(conn, now)).await
    }

    async fn insert_registration_token(
        &self,
        tenant: &TenantId,
        token: &RegistrationToken,
    ) -> Result<(), StoreError> {
        let (tenant, token) = (tenant.as_str().to_owned(), token.clone());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO registration_tokens \
                 (id, tenant_id, user_id, user_name, display_name, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    token.id.as_slice(),
                    tenant,
                    token.user_id,
                    token.user_name,
                    token.display_name,
                    token.expires_at
                ],
            )
            .map_err(write_error("registration_token_exists"))?;
            Ok(())
        })
        .await
    }

    async fn take_registration_token(
        &self,
        tenant: &TenantId,
        id: &[u8; 32],
    ) -> Result<RegistrationToken, StoreError> {
        let (tenant, id) = (tenant.as_str().to_owned(), *id);
        let (id, user_id, user_name, display_name, expires_at) = self
            .write(move |conn| take_registration_token_in(conn, &tenant, &id))
            .await?;
        Ok(RegistrationToken {
            id: hash32(id)?,
            user_id,
            user_name,
            display_name,
            expires_at,
        })
    }

    async fn signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKeyRecord>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            select(
                SIGNING_KEY_COLUMNS,
                "FROM signing_keys WHERE tenant_id = ? ORDER BY created_at DESC, kid",
            )
        });
        let rows = self.read(|conn| all(conn, &SQL, [tenant.as_str()], rows::signing_key))?;
        Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
    }

    async fn insert_signing_key(
        &self,
        tenant: &TenantId,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        let (tenant, key) = (tenant.as_str().to_owned(), key.clone());
        self.write(move |conn| {
            let sql = format!(
                "INSERT INTO signing_keys (tenant_id, {SIGNING_KEY_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)"
            );
            exec(
                conn,
                &sql,
                params![
                    tenant,
                    key.kid,
                    key.algorithm,
                    key.public_jwk,
                    key.sealed_private_key,
                    key.created_at,
                    key.retired_at
                ],
            )
            .map_err(write_error("signing_key_exists"))?;
            Ok(())
        })
        .await
    }

    async fn redeem_token(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let (tenant, jti) = (tenant.as_str().to_owned(), jti.to_owned());
        self.write(move |conn| {
            let done = exec(
                conn,
                "INSERT INTO redeemed_tokens (tenant_id, jti, expires_at) VALUES (?, ?, ?) \
                 ON CONFLICT (tenant_id, jti) DO NOTHING",
                params![tenant, jti, expires_at],
            )
            .map_err(sqlite_error)?;
            Ok(done == 1)
        })
        .await
    }

    async fn insert_audit_event(
        &self,
        tenant: &TenantId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let details = json(&event.details)?;
        let (tenant, event) = (tenant.as_str().to_owned(), event.clone());
        self.write(move |conn| insert_audit_event_in(conn, &tenant, &event, &details))
            .await
    }

    async fn audit_events(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        convert(self.read(|conn| {
            all(
                conn,
                "SELECT id, at, actor, action, subject, outcome, details, ip, request_id \
                 FROM audit_events WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                params![
                    tenant.as_str(),
                    before.unwrap_or(i64::MAX),
                    i64::from(limit)
                ],
                rows::audit,
            )
        })?)
    }

    async fn tenant_policy(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT policy FROM tenants WHERE id = ?",
                [tenant.as_str()],
                |row| row.get(0),
            )
        })?
        .ok_or(StoreError::NotFound)
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: Option<&str>,
    ) -> Result<(), StoreError> {
        let (tenant, policy) = (tenant.as_str().to_owned(), policy.map(str::to_owned));
        self.write(move |conn| {
            let done = exec(
                conn,
                "UPDATE tenants SET policy = ? WHERE id = ?",
                params![policy, tenant],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn replace_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
    ) -> Result<(), StoreError> {
        let (tenant, user_id, hashes) = (
            tenant.as_str().to_owned(),
            user_id.to_owned(),
            hashes.to_vec(),
        );
        self.write(move |conn| replace_backup_codes_in(conn, &tenant, &user_id, &hashes, now))
            .await
    }

    async fn unused_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows: Vec<Vec<u8>> = self.read(|conn| {
            all(
                conn,
                "SELECT code_hash FROM backup_codes \
                 WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL",
                [tenant.as_str(), user_id],
                |row| row.get(0),
            )
        })?;
        rows.into_iter()
            .map(|hash| <[u8; 32]>::try_from(hash).map_err(|_| corrupt("backup_codes.code_hash")))
            .collect()
    }

    async fn use_backup_code(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError> {
        let (tenant, user_id, hash) = (tenant.as_str().to_owned(), user_id.to_owned(), *hash);
        self.write(move |conn| {
            let done = exec(
                conn,
                "UPDATE backup_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? \
                 AND code_hash = ? AND used_at IS NULL",
                params![now, tenant, user_id, hash.as_slice()],
            )
            .map_err(sqlite_error)?;
            if done != 1 {
                return Ok(false);
            }
            reset_failures_in(conn, &tenant, &user_id)?;
            Ok(true)
        })
        .await
    }

    async fn reset_failures(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        let (tenant, user_id) = (tenant.as_str().to_owned(), user_id.to_owned());
        self.write(move |conn| {
            found(
                reset_failures_in(conn, &tenant, &user_id)?
                    .try_into()
                    .unwrap_or(u64::MAX),
            )
        })
        .await
    }

    async fn retire_signing_keys(&self, tenant: &TenantId, now: i64) -> Result<u64, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.write(move |conn| retire_signing_keys_in(conn, &tenant, now))
            .await
    }

    async fn server_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT value FROM server_meta WHERE name = ?",
                [name],
                |row| row.get(0),
            )
        })
    }

    async fn server_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(move |conn| server_meta_or_insert_in(conn, &name, &value))
            .await
    }
}

#[cfg(test)]
mod tests;
