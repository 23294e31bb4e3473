//! `passkeyd tenant create|list|update|rotate-keys|reset-user`: operator work, straight on the
//! database.

use std::io::Write;

use aws_lc_rs::rand::SystemRandom;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::Config;
use crate::service::webhooks::NewSecret;
use crate::settings::TenantSettings;
use crate::store::{self, AuditEvent, Store, StoreError, Tenant, TenantUpdate};
use crate::tenant::{check_origin, check_rp_id, TenantId};
use crate::token_keys;
use crate::tokens::MasterKey;

/// `passkeyd tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print it as JSON.
    Create(CreateArgs),
    /// Print every tenant, one JSON object per line.
    List,
    /// Change a tenant and print it as JSON.
    Update(UpdateArgs),
    /// Retire the tenant's token signing keys and create a new one (of the tenant's
    /// `token_algorithm`). Tokens signed by the old keys keep verifying, and the old keys stay
    /// in the JWKS, until those tokens expire. Needs the server's master key.
    RotateKeys(RotateKeysArgs),
    /// Lift a user's lock after too many failed ceremonies or backup codes (resets their
    /// failure count).
    ResetUser(ResetUserArgs),
}

/// Arguments of `passkeyd tenant rotate-keys`.
#[derive(Debug, Args)]
pub struct RotateKeysArgs {
    /// The tenant.
    #[arg(long, value_parser = parse_id)]
    pub id: TenantId,
}

/// Arguments of `passkeyd tenant reset-user`.
#[derive(Debug, Args)]
pub struct ResetUserArgs {
    /// The tenant.
    #[arg(long, value_parser = parse_id)]
    pub id: TenantId,
    /// The app's user ID.
    #[arg(long)]
    pub user: String,
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
    // Only a rotation and new webhook endpoints (whose secrets it seals) need the master key;
    // it is loaded before the store is touched.
    let master_key = match &command {
        TenantCommand::RotateKeys(_) => Some(master_key(config)?),
        TenantCommand::Update(args) if args.settings.iter().any(|(k, _)| k == "webhooks") => {
            Some(master_key(config)?)
        }
        _ => None,
    };
    let store = store::open(config).await.map_err(|e| e.to_string())?;
    // A key the database was not set up with would seal a signing key no server can open.
    if let Some(key) = &master_key {
        let origin = match &config.master_key {
            Some(_) => "PASSKEYD_MASTER_KEY".to_owned(),
            None => format!("the key file {}", config.master_key_file().display()),
        };
        if let Err(e) = crate::bootstrap::check_master_key(store.as_ref(), key, origin).await {
            store.close().await;
            return Err(e.to_string());
        }
    }
    let result = execute(command, store.as_ref(), master_key.as_ref(), out).await;
    store.close().await;
    result
}

/// The server's master key, found as `serve` finds it (`master_key`, else the key file). Unlike
/// `serve`, a missing key file is an error rather than made: a key made here would seal the new
/// signing key with a key the server does not have.
fn master_key(config: &Config) -> Result<MasterKey, String> {
    if let Some(key) = &config.master_key {
        return Ok(key.clone());
    }
    let path = config.master_key_file();
    if !path.is_file() {
        return Err(format!(
            "no master key: {} does not exist and PASSKEYD_MASTER_KEY is not set (run the \
             command with the server's configuration)",
            path.display()
        ));
    }
    MasterKey::load_or_create(&path, &SystemRandom::new()).map_err(|e| e.to_string())
}

async fn execute(
    command: TenantCommand,
    store: &dyn Store,
    master_key: Option<&MasterKey>,
    out: &mut impl Write,
) -> Result<(), String> {
    match command {
        TenantCommand::RotateKeys(args) => {
            let Some(master_key) = master_key else {
                return Err("rotate-keys needs the master key".to_owned());
            };
            let tenant = match store.tenant(&args.id).await {
                Ok(tenant) => tenant,
                Err(StoreError::NotFound) => return Err(format!("no tenant {}", args.id)),
                Err(e) => return Err(e.to_string()),
            };
            let rotated = token_keys::rotate(store, master_key, &tenant, super::now().0)
                .await
                .map_err(|e| e.to_string())?;
            let details = json!({ "kid": rotated.kid, "retired": rotated.retired });
            audit(store, &tenant.id, "signing_keys.rotate", None, details).await;
            let line = json!({
                "id": tenant.id,
                "kid": rotated.kid,
                "algorithm": rotated.algorithm.as_str(),
                "retired": rotated.retired,
            });
            writeln!(out, "{line}").map_err(|e| e.to_string())
        }
        TenantCommand::ResetUser(args) => match store.reset_failures(&args.id, &args.user).await {
            Ok(()) => {
                let subject = Some(format!("user:{}", args.user));
                audit(store, &args.id, "user.reset", subject, json!({})).await;
                let line = json!({ "id": args.id, "user": args.user, "failedAttempts": 0 });
                writeln!(out, "{line}").map_err(|e| e.to_string())
            }
            Err(StoreError::NotFound) => {
                Err(format!("no user {} in tenant {}", args.user, args.id))
            }
            Err(e) => Err(e.to_string()),
        },
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
            let (settings, secrets) = new_settings(&current, &update, &args.settings, master_key)?;
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
            print(out, &tenant.map_err(|e| e.to_string())?)?;
            if !secrets.is_empty() {
                // The only time these secrets are shown: they are stored sealed.
                let line = json!({ "webhookSecrets": secrets, "shownOnce": true });
                writeln!(out, "{line}").map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    }
}

/// Records what the operator did in the tenant's audit trail (actor `cli`). A failure to
/// record is reported but does not undo the change.
async fn audit(
    store: &dyn Store,
    tenant: &TenantId,
    action: &str,
    subject: Option<String>,
    details: serde_json::Value,
) {
    let event = AuditEvent {
        id: 0,
        at: super::now().0,
        actor: "cli".to_owned(),
        action: action.to_owned(),
        subject,
        outcome: "success".to_owned(),
        details,
        ip: None,
        request_id: None,
        webhooks: Vec::new(),
    };
    if let Err(e) = store.insert_audit_event(tenant, &event).await {
        tracing::warn!(error = %e, action, "cannot record the audit event");
    }
}

/// The settings after an update: the `--set` values merged in and checked. Moving a tenant off
/// `localhost` turns off the open sign-up and demo page that a zero-configuration start turned
/// on, unless this same command sets `open_signup` explicitly.
///
/// New `webhooks` have their secrets sealed with `master` (see
/// [`crate::service::webhooks::settings::seal_in_settings`]); the secrets set are answered, to
/// be shown once.
fn new_settings(
    current: &Tenant,
    update: &TenantUpdate,
    sets: &[(String, serde_json::Value)],
    master: Option<&MasterKey>,
) -> Result<(serde_json::Map<String, serde_json::Value>, Vec<NewSecret>), String> {
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
    let secrets = match master {
        Some(master) if sets.iter().any(|(key, _)| key == "webhooks") => {
            crate::service::webhooks::settings::seal_in_settings(
                master,
                current.id.as_str(),
                &current.settings,
                &mut settings,
                &SystemRandom::new(),
            )?
        }
        _ => Vec::new(),
    };
    TenantSettings::from_map(&settings).map_err(|e| e.to_string())?;
    Ok((settings, secrets))
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
