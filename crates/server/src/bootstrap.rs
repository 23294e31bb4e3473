//! First start: the master key and its check value, the `default` tenant and its first secret
//! API key.

use std::path::PathBuf;

use aws_lc_rs::rand::SecureRandom;
use subtle::ConstantTimeEq;

use crate::api_keys::{self, ApiKeyKind, ApiKeySecret, RandomUnavailable};
use crate::config::Config;
use crate::settings::TenantSettings;
use crate::store::{NewApiKey, Store, StoreError, Tenant};
use crate::tenant::TenantId;
use crate::tokens::{self, MasterKey, TokenError};

/// The `server_meta` row holding the master key check value.
const KEY_CHECK_NAME: &str = "master_key_check";
/// The purpose under which the check value is derived: a MAC of an empty message under a key
/// derived for this purpose alone, so it reveals nothing usable for anything else.
const KEY_CHECK_PURPOSE: &str = "passkeyd master key check v1";

/// What [`bootstrap`] did.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    /// This call created the `default` tenant.
    pub tenant_created: bool,
    /// A key generated for the new tenant: print it once, it cannot be recovered.
    pub generated_key: Option<ApiKeySecret>,
    /// The configured bootstrap key exists but was revoked; it stays revoked.
    pub bootstrap_key_revoked: bool,
}

/// Why bootstrapping failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The configured key's prefix belongs to a different key or tenant.
    #[error("PASSKEYD_BOOTSTRAP_API_KEY: its prefix is already used by another key")]
    KeyConflict,
    /// A bootstrap key is configured but there is no `default` tenant to give it to.
    #[error("PASSKEYD_BOOTSTRAP_API_KEY: there is no tenant \"default\" to install it for")]
    NoDefaultTenant,
    /// The CSPRNG failed.
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    /// The store failed.
    #[error("bootstrap: {0}")]
    Store(#[from] StoreError),
    /// The master key file cannot be read or created, or does not hold a key.
    #[error("master key: {0}")]
    MasterKey(#[source] TokenError),
    /// PostgreSQL without `PASSKEYD_MASTER_KEY` and without a key file: a key made now would be
    /// this node's alone.
    #[error(
        "PASSKEYD_MASTER_KEY is not set and there is no key file {}: nodes sharing a PostgreSQL \
         database must share the master key, so set PASSKEYD_MASTER_KEY to the same value on \
         every node (32 random bytes as base64url without padding, e.g. `openssl rand 32 | \
         basenc --base64url | tr -d =`)",
        path.display()
    )]
    MasterKeyRequired {
        /// The key file that does not exist.
        path: PathBuf,
    },
    /// The master key is not the one the database was first started with.
    #[error(
        "the master key from {origin} is not the master key this database was set up with (its \
         check value in server_meta differs, or it does not open the signing keys sealed \
         there): set PASSKEYD_MASTER_KEY to the same value on every node that shares the database"
    )]
    MasterKeyMismatch {
        /// Where the key came from: `PASSKEYD_MASTER_KEY` or the key file.
        origin: String,
    },
}

/// This node's master key, checked against the database: `PASSKEYD_MASTER_KEY` if set, else the
/// key file in the data directory.
///
/// On SQLite a missing key file is created. On PostgreSQL it is not: other nodes, on other
/// hosts, may share the database, and a node-local key would seal what they cannot open. An
/// existing key file is still used there (a single-node installation keeps working), and the
/// check below catches a node whose file differs.
///
/// The first node to start stores a check value (a MAC of a fixed label under the key, never
/// the key); a node whose key gives another value refuses to start, rather than starting and
/// answering 500 to every token it cannot sign. In a database set up before the check existed,
/// the key must first open a signing key sealed there, so the first node to start after the
/// upgrade cannot store the check of a wrong key.
pub async fn master_key(
    store: &dyn Store,
    config: &Config,
    rng: &dyn SecureRandom,
) -> Result<MasterKey, BootstrapError> {
    let path = config.master_key_file();
    let (key, origin) = match &config.master_key {
        Some(key) => (key.clone(), "PASSKEYD_MASTER_KEY".to_owned()),
        None if config.database_url.is_postgres() => match MasterKey::load(&path) {
            Ok(Some(key)) => (key, format!("the key file {}", path.display())),
            Ok(None) => return Err(BootstrapError::MasterKeyRequired { path }),
            Err(e) => return Err(BootstrapError::MasterKey(e)),
        },
        None => (
            MasterKey::load_or_create(&path, rng).map_err(BootstrapError::MasterKey)?,
            format!("the key file {}", path.display()),
        ),
    };
    check_master_key(store, &key, origin).await?;
    Ok(key)
}

/// Stores `key`'s check value if the database has none yet, else compares it with the stored
/// one (in constant time); `origin` names where the key came from, for the error.
pub async fn check_master_key(
    store: &dyn Store,
    key: &MasterKey,
    origin: String,
) -> Result<(), BootstrapError> {
    let check = key.mac(KEY_CHECK_PURPOSE, b"");
    // A database from before the check: the key must open what is already sealed in it.
    if store.server_meta(KEY_CHECK_NAME).await?.is_none() && !opens_a_sealed_key(store, key).await?
    {
        return Err(BootstrapError::MasterKeyMismatch { origin });
    }
    let stored = store.server_meta_or_insert(KEY_CHECK_NAME, &check).await?;
    if bool::from(stored.as_slice().ct_eq(check.as_slice())) {
        Ok(())
    } else {
        Err(BootstrapError::MasterKeyMismatch { origin })
    }
}

/// Creates the `default` tenant (RP ID and origins from `config`) when no tenant exists, and
/// gives it a secret key: the configured bootstrap key, or a generated one when this call
/// created the tenant.
///
/// Safe to run on several nodes at once against one database: both inserts are
/// `ON CONFLICT DO NOTHING`, and only the node whose insert created the tenant generates a key.
pub async fn bootstrap(
    store: &dyn Store,
    config: &Config,
    rng: &dyn SecureRandom,
    now: i64,
) -> Result<Bootstrapped, BootstrapError> {
    let mut done = Bootstrapped::default();
    let default = TenantId::default_tenant();
    // Once any tenant exists the operator manages tenants; a deleted `default` is not revived.
    if store.count_tenants().await? == 0 {
        let mut tenant = default_tenant(config, now);
        // A zero-configuration server on localhost is a developer's: open sign-up and the
        // demo page are on. For any real RP ID both stay off until the operator turns them on.
        let demo_key = if config.rp_id == "localhost" {
            let key = ApiKeySecret::generate(ApiKeyKind::Publishable, rng)?;
            let settings = TenantSettings {
                open_signup: true,
                demo_publishable_key: Some(key.expose().to_owned()),
                ..TenantSettings::default()
            };
            tenant.settings = settings.to_map();
            Some(key)
        } else {
            None
        };
        done.tenant_created = store.insert_tenant_if_absent(&tenant).await?;
        if let (true, Some(key)) = (done.tenant_created, demo_key) {
            let record = new_key_record(&key, Some("demo page".to_owned()), rng, now)?;
            store.insert_api_key(&default, &record).await?;
        }
    }
    match &config.bootstrap_api_key {
        Some(key) => {
            match store.tenant(&default).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => return Err(BootstrapError::NoDefaultTenant),
                Err(e) => return Err(e.into()),
            }
            let record = new_key_record(key, Some("bootstrap".to_owned()), rng, now)?;
            store.insert_api_key_if_absent(&default, &record).await?;
            // Whoever inserted it, the stored key must be this one, for this tenant.
            let stored = store.api_key_by_prefix(key.prefix()).await?;
            if !key.hash().matches(&stored.key_hash) || stored.tenant_id != default {
                return Err(BootstrapError::KeyConflict);
            }
            done.bootstrap_key_revoked = stored.revoked_at.is_some();
        }
        None if done.tenant_created => {
            let key = ApiKeySecret::generate(ApiKeyKind::Secret, rng)?;
            let record = new_key_record(&key, Some("bootstrap".to_owned()), rng, now)?;
            store.insert_api_key(&default, &record).await?;
            done.generated_key = Some(key);
        }
        None => {}
    }
    Ok(done)
}

/// Whether `key` opens the first signing key found in the database; true when there is none.
/// Runs once per database, before its first check value is stored.
async fn opens_a_sealed_key(store: &dyn Store, key: &MasterKey) -> Result<bool, StoreError> {
    for tenant in store.tenants().await? {
        if let Some(sealed) = store.signing_keys(&tenant.id).await?.first() {
            return Ok(tokens::opens_signing_key(sealed, tenant.id.as_str(), key));
        }
    }
    Ok(true)
}

/// The stored form of `key`: its prefix and hash, never the key itself.
pub fn new_key_record(
    key: &ApiKeySecret,
    label: Option<String>,
    rng: &dyn SecureRandom,
    now: i64,
) -> Result<NewApiKey, RandomUnavailable> {
    Ok(NewApiKey {
        id: api_keys::random_id(rng)?,
        kind: key.kind(),
        prefix: key.prefix().to_owned(),
        key_hash: key.hash().0,
        label,
        created_at: now,
    })
}

fn default_tenant(config: &Config, now: i64) -> Tenant {
    Tenant {
        id: TenantId::default_tenant(),
        name: "Default".to_owned(),
        rp_id: config.rp_id.clone(),
        rp_name: "passkeyd".to_owned(),
        origins: config.origins.clone(),
        settings: serde_json::Map::new(),
        created_at: now,
    }
}
