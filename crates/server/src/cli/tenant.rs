//! `passkeyd tenant create|list|update`: operator work, straight on the database.

use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::Config;
use crate::settings::TenantSettings;
use crate::store::{self, Store, StoreError, Tenant, TenantUpdate};
use crate::tenant::{check_origin, check_rp_id, TenantId};

/// `passkeyd tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print it as JSON.
    Create(CreateArgs),
    /// Print every tenant, one JSON object per line.
    List,
    /// Change a tenant and print it as JSON.
    Update(UpdateArgs),
}

/// Arguments of `passkeyd tenant create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The tenant's ID (a-z, 0-9, '-', '_').
    #[arg(long, value_parser = parse_id)]
    pub id: TenantId,
    /// The WebAuthn RP ID (a host name such as example.com).
    #[arg(long, value_parser = parse_rp_id)]
    pub rp_id: String,
    /// An allowed origin (repeat for several).
    #[arg(long = "origin", required = true, value_parser = parse_origin)]
    pub origins: Vec<String>,
    /// Display name (defaults to the ID).
    #[arg(long)]
    pub name: Option<String>,
    /// RP name shown by authenticators (defaults to the name).
    #[arg(long)]
    pub rp_name: Option<String>,
}

/// Arguments of `passkeyd tenant update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The tenant to change.
    #[arg(long, value_parser = parse_id)]
    pub id: TenantId,
    /// New RP ID.
    #[arg(long, value_parser = parse_rp_id)]
    pub rp_id: Option<String>,
    /// New allowed origins, replacing the old list (repeat for several).
    #[arg(long = "origin", value_parser = parse_origin)]
    pub origins: Vec<String>,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// New RP name.
    #[arg(long)]
    pub rp_name: Option<String>,
    /// Change one setting, e.g. `user_verification=required`, `open_signup=true`,
    /// `attestation_policy={"allow_none":false,"allow_self":false,"require_trusted":true}`
    /// (the value is JSON, or else a string; repeat for several). Unknown settings and bad
    /// values are refused and nothing changes.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, serde_json::Value)>,
}

fn parse_setting(text: &str) -> Result<(String, serde_json::Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| "expected KEY=VALUE".to_owned())?;
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok((key.trim().to_owned(), value))
}

pub(crate) fn parse_id(id: &str) -> Result<TenantId, String> {
    TenantId::parse(id).map_err(|e| e.to_string())
}

fn parse_rp_id(rp_id: &str) -> Result<String, &'static str> {
    check_rp_id(rp_id).map(|()| rp_id.to_owned())
}

fn parse_origin(origin: &str) -> Result<String, &'static str> {
    check_origin(origin).map(|()| origin.to_owned())
}

/// Runs a tenant command.
pub async fn run(
    command: TenantCommand,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), String> {
    let store = store::open(config).await.map_err(|e| e.to_string())?;
    let result = execute(command, store.as_ref(), out).await;
    store.close().await;
    result
}

async fn execute(
    command: TenantCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), String> {
    match command {
        TenantCommand::Create(args) => {
            let name = args.name.unwrap_or_else(|| args.id.to_string());
            let tenant = Tenant {
                rp_name: args.rp_name.unwrap_or_else(|| name.clone()),
                name,
                id: args.id,
                rp_id: args.rp_id,
                origins: args.origins,
                settings: serde_json::Map::new(),
                created_at: super::now().0,
            };
            match store.insert_tenant(&tenant).await {
                Ok(()) => print(out, &tenant),
                Err(StoreError::Conflict(_)) => Err(format!("tenant {} already exists", tenant.id)),
                Err(e) => Err(e.to_string()),
            }
        }
        TenantCommand::List => {
            for tenant in store.tenants().await.map_err(|e| e.to_string())? {
                print(out, &tenant)?;
            }
            Ok(())
        }
        TenantCommand::Update(args) => {
            let update = TenantUpdate {
                name: args.name,
                rp_id: args.rp_id,
                rp_name: args.rp_name,
                origins: Some(args.origins).filter(|o| !o.is_empty()),
            };
            if update == TenantUpdate::default() && args.settings.is_empty() {
                return Err(
                    "nothing to change (give --name, --rp-id, --rp-name, --origin or \
                     --set)"
                        .into(),
                );
            }
            let current = match store.tenant(&args.id).await {
                Ok(tenant) => tenant,
                Err(StoreError::NotFound) => return Err(format!("no tenant {}", args.id)),
                Err(e) => return Err(e.to_string()),
            };
            let settings = new_settings(&current, &update, &args.settings)?;
            // Settings first: if the second write fails, the tenant is at worst stricter.
            if settings != current.settings {
                store
                    .update_tenant_settings(&args.id, &settings)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let tenant = if update == TenantUpdate::default() {
                store.tenant(&args.id).await
            } else {
                store.update_tenant(&args.id, &update).await
            };
            print(out, &tenant.map_err(|e| e.to_string())?)
        }
    }
}

/// The settings after an update: the `--set` values merged in and checked. Moving a tenant off
/// `localhost` turns off the open sign-up and demo page that a zero-configuration start turned
/// on, unless this same command sets `open_signup` explicitly.
fn new_settings(
    current: &Tenant,
    update: &TenantUpdate,
    sets: &[(String, serde_json::Value)],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut settings = current.settings.clone();
    for (key, value) in sets {
        settings.insert(key.clone(), value.clone());
    }
    let leaving_localhost = current.rp_id == "localhost"
        && update
            .rp_id
            .as_deref()
            .is_some_and(|rp_id| rp_id != "localhost");
    if leaving_localhost && !sets.iter().any(|(key, _)| key == "open_signup") {
        settings.insert("open_signup".to_owned(), json!(false));
        settings.remove("demo_publishable_key");
    }
    TenantSettings::from_map(&settings).map_err(|e| e.to_string())?;
    Ok(settings)
}

fn print(out: &mut impl Write, tenant: &Tenant) -> Result<(), String> {
    let line = json!({
        "id": tenant.id,
        "name": tenant.name,
        "rpId": tenant.rp_id,
        "rpName": tenant.rp_name,
        "origins": tenant.origins,
        "settings": tenant.settings,
        "createdAt": tenant.created_at,
    });
    writeln!(out, "{line}").map_err(|e| e.to_string())
}
