//! Persistence behind one [`Store`] trait, so the SQLite implementation here and a PostgreSQL
//! one can serve the same handlers.
//!
//! Tenancy rule: every method on tenant data takes the tenant explicitly and every query it runs
//! filters on `tenant_id`. The only lookup that is not tenant-scoped is
//! [`Store::api_key_by_prefix`], because it is how a request's tenant is found.

use std::sync::Arc;

use async_trait::async_trait;

use crate::api_keys::ApiKeyKind;
use crate::config::Config;
use crate::tenant::TenantId;

pub mod sqlite;

/// A tenant as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Its ID.
    pub id: TenantId,
    /// Display name for operators.
    pub name: String,
    /// The WebAuthn RP ID.
    pub rp_id: String,
    /// The WebAuthn RP name shown by authenticators.
    pub rp_name: String,
    /// Origins allowed to run ceremonies, compared exactly.
    pub origins: Vec<String>,
    /// Tenant settings (a JSON object).
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// Changes to a tenant; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New RP ID.
    pub rp_id: Option<String>,
    /// New RP name.
    pub rp_name: Option<String>,
    /// New origin list (replaces the old one).
    pub origins: Option<Vec<String>>,
}

/// An API key as stored: its prefix and hash, never the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// Row ID.
    pub id: String,
    /// The tenant the key acts for.
    pub tenant_id: TenantId,
    /// Secret or publishable.
    pub kind: ApiKeyKind,
    /// The public part of the key (`sk_...` / `pk_...`), unique.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub key_hash: Vec<u8>,
    /// Operator's note.
    pub label: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Revocation time, Unix seconds; a revoked key authenticates nothing.
    pub revoked_at: Option<i64>,
}

/// A key to store: everything but the tenant (given separately) and the revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiKey {
    /// Row ID.
    pub id: String,
    /// Secret or publishable.
    pub kind: ApiKeyKind,
    /// The public part of the key, unique.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub key_hash: [u8; 32],
    /// Operator's note.
    pub label: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A tenant's token signing key as stored: the public half as a JWK, the private half sealed
/// with the server's master key (never stored in clear).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key ID (`kid`), unique across tenants.
    pub kid: String,
    /// The JWS algorithm: `ES256` or `EdDSA`.
    pub algorithm: String,
    /// The public key as a JWK (JSON text), with `kid`, `alg` and `use`.
    pub public_jwk: String,
    /// The PKCS#8 private key, sealed (AES-256-GCM) under the master key.
    pub sealed_private_key: Vec<u8>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When it stopped signing; it stays published until the tokens it signed have expired.
    pub retired_at: Option<i64>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed; details are for the log, never for the client.
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    /// A uniqueness rule was broken; the value names which (e.g. `tenant_exists`).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The row does not exist (for this tenant).
    #[error("not found")]
    NotFound,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// The data directory could not be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The URL names a backend this build cannot use.
    #[error("{0} databases are not supported yet; use sqlite://PATH")]
    Unsupported(&'static str),
}

/// Everything the server stores. Object safe: the server holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Answers when the database answers a trivial query (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the connections, waiting for those in use; called once serving has stopped.
    async fn close(&self);

    /// How many tenants exist.
    async fn count_tenants(&self) -> Result<u64, StoreError>;

    /// Creates a tenant; `Conflict("tenant_exists")` if the ID is taken.
    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError>;

    /// Creates a tenant unless one with its ID exists; true if this call created it. Safe when
    /// several nodes race to create the same tenant.
    async fn insert_tenant_if_absent(&self, tenant: &Tenant) -> Result<bool, StoreError>;

    /// One tenant.
    async fn tenant(&self, tenant: &TenantId) -> Result<Tenant, StoreError>;

    /// All tenants, by ID (operator use: the CLI).
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Changes a tenant and returns it as now stored.
    async fn update_tenant(
        &self,
        tenant: &TenantId,
        update: &TenantUpdate,
    ) -> Result<Tenant, StoreError>;

    /// Stores a new key for `tenant`; `NotFound` if the tenant does not exist,
    /// `Conflict("api_key_exists")` if the prefix is taken.
    async fn insert_api_key(&self, tenant: &TenantId, key: &NewApiKey) -> Result<(), StoreError>;

    /// Stores a key unless its prefix is taken; true if this call stored it.
    async fn insert_api_key_if_absent(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
    ) -> Result<bool, StoreError>;

    /// Finds a key by its public prefix, whichever tenant it belongs to: this is how a
    /// request's tenant is determined, so it is the one lookup not scoped to a tenant. The
    /// caller must still compare the presented key with `key_hash`.
    async fn api_key_by_prefix(&self, prefix: &str) -> Result<ApiKey, StoreError>;

    /// The tenant's keys, newest first.
    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes the tenant's key with this prefix at `now` (a key already revoked keeps its
    /// first revocation time); `NotFound` if the tenant has no such key.
    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: i64,
    ) -> Result<(), StoreError>;
}

/// Opens the store named by the configuration, creating the data directory and running the
/// embedded migrations.
pub async fn open(config: &Config) -> Result<Arc<dyn Store>, OpenError> {
    let url = config.database_url.expose();
    if url.starts_with("postgres") {
        return Err(OpenError::Unsupported("PostgreSQL"));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|source| OpenError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
}
