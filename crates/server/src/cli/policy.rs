//! `passkeyd policy set|show|clear|check|schema`: a tenant's Cedar policy, straight on the
//! database, validated exactly as the admin API validates it (docs/policies/README.md).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use super::tenant::parse_id;
use crate::config::Config;
use crate::policy::{self, MAX_POLICY_BYTES};
use crate::store::{self, AuditEvent, Store, StoreError};
use crate::tenant::TenantId;

/// `passkeyd policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a Cedar policy file against passkeyd's schema without storing it.
    Check(CheckArgs),
    /// Remove the tenant's policy: it permits everything again.
    Clear(TenantArgs),
    /// Print the Cedar schema policies are validated against.
    Schema,
    /// Validate a Cedar policy file and make it the tenant's policy. An invalid file is
    /// refused and the tenant keeps its policy.
    Set(SetArgs),
    /// Print the tenant's policy text (nothing when it has none).
    Show(TenantArgs),
}

/// Arguments naming a tenant.
#[derive(Debug, Args)]
pub struct TenantArgs {
    /// The tenant.
    #[arg(long, value_parser = parse_id)]
    pub tenant: TenantId,
}

/// Arguments of `passkeyd policy set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The tenant.
    #[arg(long, value_parser = parse_id)]
    pub tenant: TenantId,
    /// The Cedar policy file (`-` for standard input).
    pub file: PathBuf,
}

/// Arguments of `passkeyd policy check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The Cedar policy file (`-` for standard input).
    pub file: PathBuf,
}

/// Runs a policy command. `check` and `schema` do not touch the database.
pub async fn run(
    command: PolicyCommand,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), String> {
    match command {
        PolicyCommand::Check(args) => {
            let checked = checked(&read_policy(&args.file)?)?;
            let line = json!({
                "valid": true,
                "policies": checked.len(),
                "warnings": checked.warnings(),
            });
            writeln!(out, "{line}").map_err(|e| e.to_string())
        }
        PolicyCommand::Schema => write!(out, "{}", policy::SCHEMA).map_err(|e| e.to_string()),
        command => {
            let store = store::open(config).await.map_err(|e| e.to_string())?;
            let result = execute(command, store.as_ref(), out).await;
            store.close().await;
            result
        }
    }
}

async fn execute(
    command: PolicyCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), String> {
    let no_tenant = |tenant: &TenantId| format!("no tenant {tenant}");
    match command {
        PolicyCommand::Set(args) => {
            // Validated before the tenant is even looked up: nothing invalid gets near the store.
            let text = read_policy(&args.file)?;
            let checked = checked(&text)?;
            match store.set_tenant_policy(&args.tenant, Some(&text)).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => return Err(no_tenant(&args.tenant)),
                Err(e) => return Err(e.to_string()),
            }
            audit(store, &args.tenant, "policy.set", &text).await;
            let line = json!({
                "tenant": args.tenant,
                "policies": checked.len(),
                "warnings": checked.warnings(),
            });
            writeln!(out, "{line}").map_err(|e| e.to_string())
        }
        PolicyCommand::Show(args) => match store.tenant_policy(&args.tenant).await {
            Ok(Some(text)) => write!(out, "{text}").map_err(|e| e.to_string()),
            Ok(None) => Ok(()),
            Err(StoreError::NotFound) => Err(no_tenant(&args.tenant)),
            Err(e) => Err(e.to_string()),
        },
        PolicyCommand::Clear(args) => match store.set_tenant_policy(&args.tenant, None).await {
            Ok(()) => {
                audit(store, &args.tenant, "policy.clear", "").await;
                let line = json!({ "tenant": args.tenant, "policies": 0 });
                writeln!(out, "{line}").map_err(|e| e.to_string())
            }
            Err(StoreError::NotFound) => Err(no_tenant(&args.tenant)),
            Err(e) => Err(e.to_string()),
        },
        PolicyCommand::Check(_) | PolicyCommand::Schema => {
            Err("this command needs no database".to_owned())
        }
    }
}

/// [`policy::check`], with every problem on a line of its own.
fn checked(text: &str) -> Result<policy::TenantPolicies, String> {
    policy::check(text).map_err(|e| {
        let mut message = match &e {
            policy::PolicyError::Parse(_) => "the policy does not parse:".to_owned(),
            policy::PolicyError::Invalid(_) => {
                "the policy does not validate against passkeyd's schema:".to_owned()
            }
            policy::PolicyError::Empty | policy::PolicyError::TooLarge => return e.to_string(),
        };
        for problem in e.messages() {
            message.push_str("\n  ");
            message.push_str(&problem);
        }
        message
    })
}

/// Reads a policy file (or standard input for `-`), refusing one over the size limit before
/// reading it whole.
fn read_policy(path: &Path) -> Result<String, String> {
    let limit = u64::try_from(MAX_POLICY_BYTES).unwrap_or(u64::MAX) + 1;
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(format!(
            "{}: larger than {MAX_POLICY_BYTES} bytes",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// Records the change in the tenant's audit trail (actor `cli`), naming the text by its
/// SHA-256. A failure to record is reported but does not undo the change.
async fn audit(store: &dyn Store, tenant: &TenantId, action: &str, text: &str) {
    let details = if text.is_empty() {
        json!({})
    } else {
        json!({ "sha256": policy::text_sha256(text) })
    };
    let event = AuditEvent {
        id: 0,
        at: super::now().0,
        actor: "cli".to_owned(),
        action: action.to_owned(),
        subject: None,
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
