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
//!
//! The [`Store`] methods here are thin: their statements live by family in `tenants` (tenants,
//! API keys, policies, signing keys, server values), `users` (users, credentials, registrations,
//! backup codes, failures) and `ceremonies` (sessions, registration tokens, redeemed tokens,
//! audit events, the sweep).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::rows::backend;
use super::{
    ApiKey, AuditEvent, Credential, CredentialUse, NewApiKey, NewRegistration, OpenError,
    RegistrationToken, Session, SigningKeyRecord, Store, StoreError, Tenant, TenantUpdate, User,
};
use crate::tenant::TenantId;

mod ceremonies;
mod mds;
mod migrate;
mod portability;
mod tenants;
mod users;
mod webhooks;

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

    async fn database_time(&self) -> Result<Option<i64>, StoreError> {
        let (now,): (i64,) = sqlx::query_as("SELECT CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(Some(now))
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
        users::user(&self.pool, tenant, user_id).await
    }

    async fn user_by_name(&self, tenant: &TenantId, name: &str) -> Result<User, StoreError> {
        users::user_by_name(&self.pool, tenant, name).await
    }

    async fn user_by_handle(&self, tenant: &TenantId, handle: &[u8]) -> Result<User, StoreError> {
        users::user_by_handle(&self.pool, tenant, handle).await
    }

    async fn insert_user_if_absent(
        &self,
        tenant: &TenantId,
        user: &User,
    ) -> Result<bool, StoreError> {
        users::insert_user_if_absent(&self.pool, tenant, user).await
    }

    async fn delete_user(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        users::delete_user(&self.pool, tenant, user_id).await
    }

    async fn credentials(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<Credential>, StoreError> {
        users::credentials(&self.pool, tenant, user_id).await
    }

    async fn credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Credential, StoreError> {
        users::credential(&self.pool, tenant, credential_id).await
    }

    async fn credential_known_to_rp_id(
        &self,
        rp_id: &str,
        credential_id: &[u8],
    ) -> Result<bool, StoreError> {
        users::credential_known_to_rp_id(&self.pool, rp_id, credential_id).await
    }

    async fn insert_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
    ) -> Result<(), StoreError> {
        users::insert_registration(&self.pool, tenant, registration).await
    }

    async fn record_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        users::record_registration(&self.pool, tenant, registration, event).await
    }

    async fn insert_registrations(
        &self,
        tenant: &TenantId,
        registrations: &[NewRegistration],
    ) -> Result<(), StoreError> {
        users::insert_registrations(&self.pool, tenant, registrations).await
    }

    async fn record_credential_use(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
    ) -> Result<(), StoreError> {
        users::record_credential_use(&self.pool, tenant, credential_id, update).await
    }

    async fn record_sign_in(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        users::record_sign_in(&self.pool, tenant, credential_id, update, event).await
    }

    async fn rename_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
    ) -> Result<Credential, StoreError> {
        users::rename_credential(&self.pool, tenant, credential_id, name).await
    }

    async fn delete_own_credential(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
    ) -> Result<(), StoreError> {
        users::delete_own_credential(&self.pool, tenant, user_id, credential_id, keep_one).await
    }

    async fn delete_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<(), StoreError> {
        users::delete_credential(&self.pool, tenant, credential_id).await
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        user_id: &str,
        at: i64,
    ) -> Result<u32, StoreError> {
        users::record_failure(&self.pool, tenant, user_id, at).await
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
        users::replace_backup_codes(&self.pool, tenant, user_id, hashes, now).await
    }

    async fn unused_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        users::unused_backup_codes(&self.pool, tenant, user_id).await
    }

    async fn use_backup_code(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError> {
        users::use_backup_code(&self.pool, tenant, user_id, hash, now).await
    }

    async fn reset_failures(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        users::reset_failures(&self.pool, tenant, user_id).await
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
