//! `passkeyd import --tenant ID --format passkeyd|hanko|kratos FILE`: brings users and
//! credentials into a tenant and reports, per refused record, its line and a stable reason
//! code. Re-running the same import changes nothing and says so. Exit status 1 when a record
//! was refused.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::config::Config;
use crate::service::portability::{self, ImportFormat};
use crate::tenant::TenantId;

/// Arguments of `passkeyd import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tenant to import into.
    #[arg(long)]
    pub tenant: String,
    /// The file's format.
    #[arg(long, value_enum, default_value = "passkeyd")]
    pub format: ImportFormat,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The file (JSON Lines).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs `passkeyd import`.
pub async fn run(args: ImportArgs, config: &Config, out: &mut impl Write) -> Result<(), String> {
    let tenant = TenantId::parse(&args.tenant).map_err(|e| format!("--tenant: {e}"))?;
    let file =
        std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let store = crate::store::open(config)
        .await
        .map_err(|e| e.to_string())?;
    let result = portability::import(
        store.as_ref(),
        &tenant,
        args.format,
        std::io::BufReader::new(file),
        super::now(),
    )
    .await;
    store.close().await;
    let report = result.map_err(|e| format!("{}: {e}", args.file.display()))?;
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        if args.json {
            let text = serde_json::to_string(&report).map_err(std::io::Error::other)?;
            return writeln!(out, "{text}");
        }
        for refusal in &report.refused {
            writeln!(
                out,
                "{}:{}: refused: {}",
                args.file.display(),
                refusal.line,
                refusal.reason
            )?;
        }
        if report.changed_nothing() && report.refused.is_empty() {
            writeln!(
                out,
                "passkeyd: nothing to import: all {} records are already stored",
                report.unchanged
            )
        } else {
            writeln!(
                out,
                "passkeyd: imported {} users and {} credentials; {} unchanged, {} refused",
                report.users_imported,
                report.credentials_imported,
                report.unchanged,
                report.refused.len()
            )
        }
    };
    write(out).map_err(|e| e.to_string())?;
    if report.refused.is_empty() {
        Ok(())
    } else {
        Err(format!("{} records refused", report.refused.len()))
    }
}
