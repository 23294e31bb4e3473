//! `passkeyd export --tenant ID [--output FILE]`: the tenant's users and credentials as JSON
//! Lines (docs/export-format.md), to stdout or a file; never a secret.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::config::Config;
use crate::service::portability;
use crate::tenant::TenantId;

/// Arguments of `passkeyd export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The tenant to export.
    #[arg(long)]
    pub tenant: String,
    /// Write here instead of stdout (created readable by the owner only).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `passkeyd export`.
pub async fn run(args: ExportArgs, config: &Config, out: &mut impl Write) -> Result<(), String> {
    let tenant = TenantId::parse(&args.tenant).map_err(|e| format!("--tenant: {e}"))?;
    let store = crate::store::open(config)
        .await
        .map_err(|e| e.to_string())?;
    let now = super::now();
    let result = match &args.output {
        Some(path) => {
            let file = private_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            portability::export(store.as_ref(), &tenant, now, &mut writer).await
        }
        None => portability::export(store.as_ref(), &tenant, now, out).await,
    };
    store.close().await;
    let summary = result.map_err(|e| e.to_string())?;
    if args.output.is_some() {
        writeln!(
            out,
            "passkeyd: exported {} users and {} credentials of tenant {tenant}",
            summary.users, summary.credentials
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A new file only its owner can read: an export names every user.
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
