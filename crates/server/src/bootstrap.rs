//! First start: the `default` tenant and its first secret API key.

use aws_lc_rs::rand::SecureRandom;

use crate::api_keys::{self, ApiKeyKind, ApiKeySecret, RandomUnavailable};
use crate::config::Config;
use crate::settings::TenantSettings;
use crate::store::{NewApiKey, Store, StoreError, Tenant};
use crate::tenant::TenantId;

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
