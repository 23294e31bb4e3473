//! Persistence behind one [`Store`] trait, so the SQLite implementation here and a PostgreSQL
//! one can serve the same handlers.
//!
//! Tenancy rule: every method on tenant data takes the tenant explicitly and every query it runs
//! filters on `tenant_id`. The only lookup that is not tenant-scoped is
//! [`Store::api_key_by_prefix`], because it is how a request's tenant is found.

use std::sync::Arc;

use async_trait::async_trait;

use crate::api_keys::ApiKeyKind;
use crate::tenant::TenantId;

#[cfg(test)]
mod conformance;
pub mod mds;
pub mod portability;
pub mod postgres;
mod rows;
pub mod sqlite;
pub mod webhooks;

pub use webhooks::{
    DeliveryStatus, NewWebhookMessage, RecordedChanges, WebhookAttempt, WebhookDelivery,
    WebhookOutbox,
};

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

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The app's opaque user ID.
    pub id: String,
    /// The WebAuthn user handle (`user.id`): 32 random bytes, never the app's ID.
    pub user_handle: Vec<u8>,
    /// The user name shown by authenticators.
    pub name: String,
    /// The display name shown by authenticators.
    pub display_name: String,
    /// Consecutive failed ceremonies (reset by a success).
    pub failed_attempts: u32,
    /// When the last of those failures came (Unix seconds), if any.
    pub last_failed_at: Option<i64>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A credential as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// The credential ID, unique per tenant.
    pub id: Vec<u8>,
    /// Its owner.
    pub user_id: String,
    /// The COSE_Key bytes as registered.
    pub public_key: Vec<u8>,
    /// The COSE algorithm identifier.
    pub algorithm: i64,
    /// The last verified signature counter.
    pub sign_count: u32,
    /// Whether the user was verified at registration.
    pub uv_initialized: bool,
    /// BE: the credential can be synced.
    pub backup_eligible: bool,
    /// BS: the credential is backed up, as last reported.
    pub backup_state: bool,
    /// Transports reported at registration.
    pub transports: Vec<String>,
    /// The authenticator model (16 bytes).
    pub aaguid: Vec<u8>,
    /// The attestation statement format.
    pub attestation_format: String,
    /// The attestation type (`none`, `self`, `basic`...).
    pub attestation_type: String,
    /// The attestation object as received, kept for later re-verification.
    pub attestation_object: Vec<u8>,
    /// The user's name for it.
    pub friendly_name: Option<String>,
    /// Registration time, Unix seconds.
    pub created_at: i64,
    /// Last successful authentication, Unix seconds.
    pub last_used_at: Option<i64>,
    /// Whether the client reported PRF support at registration
    /// (`clientExtensionResults.prf.enabled`); never any PRF output.
    pub prf_enabled: bool,
}

/// What a verified assertion changes in a credential record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialUse {
    /// The counter the assertion was verified against; the update applies only if it is
    /// still the stored one (compare-and-set).
    pub expected_sign_count: u32,
    /// The new counter.
    pub sign_count: u32,
    /// BE as now reported (only ever upgraded from false to true by policy).
    pub backup_eligible: bool,
    /// BS as now reported.
    pub backup_state: bool,
    /// When, Unix seconds.
    pub at: i64,
    /// Also reset the owner's failure count (false when it was already zero at the read,
    /// which spares a second write in the common case).
    pub reset_failures: bool,
}

/// Which ceremony a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// `navigator.credentials.create`.
    Registration,
    /// `navigator.credentials.get`.
    Authentication,
}

impl SessionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
        }
    }
}

/// A begun ceremony, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session token given to the client.
    pub id: [u8; 32],
    /// Which ceremony.
    pub kind: SessionKind,
    /// What the finish checks against (JSON text, see `ceremony`).
    pub state: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// A registration token as stored (browser-direct registration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationToken {
    /// SHA-256 of the token.
    pub id: [u8; 32],
    /// The user it lets register.
    pub user_id: String,
    /// Their user name.
    pub user_name: String,
    /// Their display name.
    pub display_name: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// An audit event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditEvent {
    /// Sequence number (0 before it is stored).
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// Who acted: `api_key:<prefix>`, `user:<id>` or `cli`.
    pub actor: String,
    /// What was attempted, e.g. `registration.finish`.
    pub action: String,
    /// The user or credential concerned.
    pub subject: Option<String>,
    /// `success` or an error code.
    pub outcome: String,
    /// Further facts (JSON object); never secrets.
    pub details: serde_json::Value,
    /// The client's IP address, when known.
    pub ip: Option<String>,
    /// The request ID.
    pub request_id: Option<String>,
    /// The webhook messages reporting this event, written to the outbox in the same unit of
    /// work as the event (and so as the change it records); empty when read back.
    pub webhooks: Vec<NewWebhookMessage>,
}

/// What a registration finish writes: the credential, and the user if new.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRegistration {
    /// The user; created unless a user with this ID exists, in which case its user handle must
    /// be this one (else `Conflict("user_changed")`).
    pub user: User,
    /// The credential; `Conflict("credential_exists")` if its ID is registered in the tenant.
    pub credential: Credential,
    /// The most credentials the user may hold with this one; `None`: no limit (bulk loads).
    pub max_credentials: Option<u32>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed; details are for the log, never for the client.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
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
    /// The database could not be reached or opened (PostgreSQL: refused the connection, or
    /// was still unreachable when the startup timeout ran out).
    #[error("cannot open the database: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The data directory could not be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The SQLite database file could not be created.
    #[error("cannot create the database file {}: {source}", path.display())]
    DatabaseFile {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Everything the server stores. Object safe: the server holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    WebhookOutbox
    + RecordedChanges
    + mds::MdsStore
    + portability::PortabilityStore
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
    /// Answers when the database answers a trivial query (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the connections, waiting for those in use; called once serving has stopped.
    async fn close(&self);

    /// The database server's clock, in Unix seconds (`passkeyd doctor` compares it with this
    /// host's); `None` when the database has no clock of its own (SQLite runs in this
    /// process, on this host's clock).
    async fn database_time(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

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

    /// Replaces a tenant's settings object and returns the tenant as now stored.
    async fn update_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
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

    /// A user by the app's ID.
    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<User, StoreError>;

    /// A user by user name.
    async fn user_by_name(&self, tenant: &TenantId, name: &str) -> Result<User, StoreError>;

    /// A user by WebAuthn user handle.
    async fn user_by_handle(&self, tenant: &TenantId, handle: &[u8]) -> Result<User, StoreError>;

    /// Creates a user without credentials (an app user who signed in another way); true if
    /// this call created them, false if a user with this ID exists. `Conflict("user_name_taken")`
    /// if another user has the name.
    async fn insert_user_if_absent(
        &self,
        tenant: &TenantId,
        user: &User,
    ) -> Result<bool, StoreError>;

    /// Deletes a user and their credentials.
    async fn delete_user(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError>;

    /// A user's credentials, oldest first.
    async fn credentials(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<Credential>, StoreError>;

    /// One credential by ID.
    async fn credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Credential, StoreError>;

    /// Whether any user of any tenant whose RP ID is `rp_id` holds credential `credential_id`:
    /// a passkey is scoped to its RP ID, not to a tenant, so only a `false` here lets a sign-in
    /// tell the browser that the credential is unknown (Signal API), which deletes it from the
    /// user's device.
    async fn credential_known_to_rp_id(
        &self,
        rp_id: &str,
        credential_id: &[u8],
    ) -> Result<bool, StoreError>;

    /// Stores a verified registration in one transaction (see [`NewRegistration`]) and resets
    /// the user's failure count; `Conflict("credential_limit")` when the user already holds
    /// [`NewRegistration::max_credentials`] credentials (counted in the same transaction, so
    /// concurrent registrations cannot pass the limit together).
    async fn insert_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
    ) -> Result<(), StoreError>;

    /// [`Store::insert_registration`] and the registration's audit event, in one unit of work:
    /// both are stored or neither is (a registration's one write).
    async fn record_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Stores many registrations in one transaction, each as [`Store::insert_registration`]
    /// would; all or none. For bulk loads (`passkeyd seed`), not for ceremonies.
    async fn insert_registrations(
        &self,
        tenant: &TenantId,
        registrations: &[NewRegistration],
    ) -> Result<(), StoreError>;

    /// Records a verified assertion as a compare-and-set on the sign count, and resets the
    /// user's failure count; `Conflict("counter_changed")` if another assertion updated the
    /// counter first.
    async fn record_credential_use(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
    ) -> Result<(), StoreError>;

    /// Records a verified assertion as [`Store::record_credential_use`] does and appends its
    /// audit event, in one unit of work: both are stored or neither is (a sign-in's one write).
    async fn record_sign_in(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Sets (or clears) a credential's friendly name.
    async fn rename_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
    ) -> Result<Credential, StoreError>;

    /// Deletes credential `credential_id` of user `user_id` in one transaction; with
    /// `keep_one`, only if the user holds another (`Conflict("last_credential")` otherwise),
    /// so concurrent deletes can never take a user's last credential together. `NotFound` if
    /// the user holds no such credential.
    async fn delete_own_credential(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
    ) -> Result<(), StoreError>;

    /// Deletes a credential.
    async fn delete_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<(), StoreError>;

    /// Counts a wrong backup code against a user, at `at`; returns the new count of
    /// consecutive failures.
    async fn record_failure(
        &self,
        tenant: &TenantId,
        user_id: &str,
        at: i64,
    ) -> Result<u32, StoreError>;

    /// Stores a begun ceremony.
    async fn insert_session(&self, tenant: &TenantId, session: &Session) -> Result<(), StoreError>;

    /// Removes and returns a session: whoever takes it first has it, so a session is used
    /// once even under concurrent finishes. Expired sessions are returned too (the caller
    /// tells the client it expired); `NotFound` if unknown or already taken.
    async fn take_session(&self, tenant: &TenantId, id: &[u8; 32]) -> Result<Session, StoreError>;

    /// Deletes sessions, registration tokens and redeemed-token records that expired before
    /// `now`; returns how many rows went.
    async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError>;

    /// Stores a registration token.
    async fn insert_registration_token(
        &self,
        tenant: &TenantId,
        token: &RegistrationToken,
    ) -> Result<(), StoreError>;

    /// Removes and returns a registration token (single use).
    async fn take_registration_token(
        &self,
        tenant: &TenantId,
        id: &[u8; 32],
    ) -> Result<RegistrationToken, StoreError>;

    /// The tenant's signing keys, newest first.
    async fn signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Stores a signing key.
    async fn insert_signing_key(
        &self,
        tenant: &TenantId,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError>;

    /// Records a token's redemption; false if it was already redeemed.
    async fn redeem_token(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError>;

    /// Appends an audit event.
    async fn insert_audit_event(
        &self,
        tenant: &TenantId,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Audit events with an ID below `before` (all when `None`), newest first, at most `limit`.
    async fn audit_events(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// The tenant's Cedar policy text, if any.
    async fn tenant_policy(&self, tenant: &TenantId) -> Result<Option<String>, StoreError>;

    /// Replaces (or with `None` removes) the tenant's Cedar policy text. The caller validates
    /// it first: what is stored is applied as a whole.
    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Replaces a user's backup codes with new ones (their hashes), in one transaction.
    async fn replace_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
    ) -> Result<(), StoreError>;

    /// The hashes of a user's unused backup codes.
    async fn unused_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<[u8; 32]>, StoreError>;

    /// Marks a backup code used, if it still is unused: true for the one caller that gets it,
    /// even under concurrent use; also resets the user's failure count.
    async fn use_backup_code(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Resets a user's failure count (an operator lifting a lock).
    async fn reset_failures(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError>;

    /// Retires the tenant's signing keys still in use at `now`; they stay published until the
    /// tokens they signed expire.
    async fn retire_signing_keys(&self, tenant: &TenantId, now: i64) -> Result<u64, StoreError>;

    /// The installation's value named `name` (not tenant data), if it has one.
    async fn server_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The installation's value named `name` (not tenant data: e.g. the master key check),
    /// after storing `value` under that name if there was none. Safe when several nodes race:
    /// the first insert wins and every caller gets the stored value.
    async fn server_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;
}

/// What [`open`] needs to know of the configuration (the configuration implements it, so the
/// store does not depend on the configuration's module).
pub trait Location {
    /// `postgres://...`, `sqlite://...` or a SQLite path.
    fn database_url(&self) -> &str;
    /// The data directory, created (0700) if missing.
    fn data_dir(&self) -> &std::path::Path;
    /// The most connections of the pool.
    fn max_connections(&self) -> u32;
}

/// Opens the store named by the configuration, creating the data directory and running the
/// embedded migrations.
///
/// `postgres://` and `postgresql://` URLs open the PostgreSQL store, which waits (up to
/// [`postgres::PostgresOptions::startup_timeout`]) for a server that is not reachable yet;
/// anything else is SQLite. The data directory is created either way: it also holds the
/// master key file.
pub async fn open(config: &impl Location) -> Result<Arc<dyn Store>, OpenError> {
    let url = config.database_url();
    create_private_dir(config.data_dir()).map_err(|source| OpenError::DataDir {
        path: config.data_dir().to_path_buf(),
        source,
    })?;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = postgres::PostgresOptions {
            max_connections: config.max_connections(),
            ..postgres::PostgresOptions::default()
        };
        return Ok(Arc::new(postgres::PostgresStore::open(url, options).await?));
    }
    Ok(Arc::new(
        sqlite::SqliteStore::open_with(url, config.max_connections()).await?,
    ))
}

/// Creates `dir` and any missing parents readable by the owner alone (0700 on unix): it holds
/// the database and the master key file. An existing directory keeps the mode it has.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
