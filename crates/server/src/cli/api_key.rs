//! `passkeyd api-key create|list|revoke`: operator work, straight on the database.

use std::io::Write;

use aws_lc_rs::rand::SystemRandom;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::bootstrap::new_key_record;
use crate::config::Config;
use crate::store::{self, Store, StoreError};
use crate::tenant::TenantId;

/// `passkeyd api-key ...`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it: the only time the whole key is ever shown.
    Create(CreateArgs),
    /// Print a tenant's keys (prefixes only), one JSON object per line.
    List(ListArgs),
    /// Revoke a key by its prefix (sk_... or pk_..., as listed).
    Revoke(RevokeArgs),
}

/// Arguments of `passkeyd api-key create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The tenant the key acts for.
    #[arg(long, value_parser = super::tenant::parse_id)]
    pub tenant: TenantId,
    /// A publishable key (browser-direct calls) instead of a secret key.
    #[arg(long)]
    pub publishable: bool,
    /// A note to recognise the key by.
    #[arg(long)]
    pub label: Option<String>,
}

/// Arguments of `passkeyd api-key list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The tenant whose keys to list.
    #[arg(long, value_parser = super::tenant::parse_id)]
    pub tenant: TenantId,
}

/// Arguments of `passkeyd api-key revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key's prefix, as `api-key list` shows it.
    #[arg(value_name = "PREFIX")]
    pub prefix: String,
}

/// Runs an API key command.
pub async fn run(
    command: ApiKeyCommand,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), String> {
    let store = store::open(config).await.map_err(|e| e.to_string())?;
    let result = execute(command, store.as_ref(), out).await;
    store.close().await;
    result
}

async fn execute(
    command: ApiKeyCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), String> {
    let now = super::now().0;
    match command {
        ApiKeyCommand::Create(args) => {
            let kind = if args.publishable {
                ApiKeyKind::Publishable
            } else {
                ApiKeyKind::Secret
            };
            let rng = SystemRandom::new();
            let key = ApiKeySecret::generate(kind, &rng).map_err(|e| e.to_string())?;
            let record = new_key_record(&key, args.label, &rng, now).map_err(|e| e.to_string())?;
            match store.insert_api_key(&args.tenant, &record).await {
                Ok(()) => writeln!(out, "{}", key.expose()).map_err(|e| e.to_string()),
                Err(StoreError::NotFound) => Err(format!("no tenant {}", args.tenant)),
                Err(e) => Err(e.to_string()),
            }
        }
        ApiKeyCommand::List(args) => {
            // An unknown tenant is an error, not an empty list, so a typo is noticed.
            match store.tenant(&args.tenant).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => return Err(format!("no tenant {}", args.tenant)),
                Err(e) => return Err(e.to_string()),
            }
            for key in store
                .api_keys(&args.tenant)
                .await
                .map_err(|e| e.to_string())?
            {
                let line = json!({
                    "prefix": key.prefix,
                    "kind": key.kind.as_str(),
                    "label": key.label,
                    "createdAt": key.created_at,
                    "revokedAt": key.revoked_at,
                });
                writeln!(out, "{line}").map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        ApiKeyCommand::Revoke(args) => {
            let unknown = || format!("no API key {}", args.prefix);
            let key = match store.api_key_by_prefix(&args.prefix).await {
                Ok(key) => key,
                Err(StoreError::NotFound) => return Err(unknown()),
                Err(e) => return Err(e.to_string()),
            };
            match store.revoke_api_key(&key.tenant_id, &key.prefix, now).await {
                Ok(()) => writeln!(out, "revoked {} (tenant {})", key.prefix, key.tenant_id)
                    .map_err(|e| e.to_string()),
                Err(StoreError::NotFound) => Err(unknown()),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}
