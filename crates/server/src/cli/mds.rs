//! `passkeyd mds import FILE`: verifies a FIDO Metadata Service BLOB and keeps it in the data
//! directory (`mds.jwt`), from where the server stores it in the database at its next start. A
//! BLOB that does not verify, or whose serial number is not higher than the kept one's (unless
//! it is the same BLOB), changes nothing.
//!
//! `passkeyd mds fetch`: downloads the BLOB from `[mds] url` now, as the server does on its
//! schedule, and stores it in the database if it verifies and is newer; running servers swap
//! it in within a minute. `passkeyd mds status`: what is stored.
//!
//! Every BLOB goes through the same check, [`crate::service::mds::verify_offer`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use passkeyd_webauthn::UnixTime;

use super::trust_files::{load_roots_and_text, read_limited};
use crate::config::Config;
use crate::service::mds::{self as service, FetchReport};

/// `passkeyd mds ...`
#[derive(Debug, Subcommand)]
pub enum MdsCommand {
    /// Verify a BLOB (JWT) and keep it in the data directory.
    Import(ImportArgs),
    /// Download the BLOB from `[mds] url` now, verify it and store it in the database.
    Fetch,
    /// Show the stored BLOB's serial number, nextUpdate and the last download's result.
    Status,
}

impl MdsCommand {
    /// Whether the command runs without the configuration and the database (`import`).
    pub fn needs_no_config(&self) -> bool {
        matches!(self, Self::Import(_))
    }
}

/// Arguments of `passkeyd mds import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The BLOB, as downloaded from the metadata service.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Root certificate(s) its signing chain must reach (PEM file or directory).
    #[arg(long, required = true, value_name = "DIR|FILE")]
    pub root: Vec<PathBuf>,
    /// Where passkeyd keeps its data.
    #[arg(long, env = "PASSKEYD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// The BLOB kept in the data directory.
pub const MDS_FILE: &str = service::KEPT_BLOB_FILE;
/// The roots it was verified with, kept beside it.
pub const MDS_ROOTS_FILE: &str = service::KEPT_ROOTS_FILE;

/// Writes beside, then renames: a reader never sees half a file.
fn write_replacing(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs `passkeyd mds import`.
pub fn run(
    command: &MdsCommand,
    now: UnixTime,
    out: &mut impl Write,
    err: &mut impl Write,
) -> ExitCode {
    let MdsCommand::Import(args) = command else {
        let _ = writeln!(err, "passkeyd mds: this command needs the configuration");
        return ExitCode::from(2);
    };
    match import(args, now) {
        Ok(summary) => {
            let _ = writeln!(out, "{summary}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            let _ = writeln!(err, "passkeyd mds import: {problem}");
            ExitCode::from(1)
        }
    }
}

fn import(args: &ImportArgs, now: UnixTime) -> Result<String, String> {
    let (anchors, roots_pem) = load_roots_and_text(&args.root)?;
    let text = read_limited(&args.file)?;
    let kept = args.data_dir.join(MDS_FILE);
    // The BLOB already kept, if it still verifies, guards against rolling back to an older one.
    let current = std::fs::read_to_string(&kept).ok().and_then(|current| {
        service::verify_offer(&current, &anchors, now, None)
            .ok()
            .map(|offer| (offer.blob.no(), offer.sha256))
    });
    let offer = service::verify_offer(
        &text,
        &anchors,
        now,
        current.as_ref().map(|(no, sha)| (*no, sha.as_slice())),
    )
    .map_err(|e| format!("{}: {} ({e})", args.file.display(), e.code()))?;
    let blob = &offer.blob;
    if offer.unchanged {
        return Ok(format!("MDS BLOB no {} is already imported", blob.no()));
    }
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    // The roots first, then the BLOB they verify: the server verifies the BLOB again.
    write_replacing(&args.data_dir.join(MDS_ROOTS_FILE), roots_pem.as_bytes())?;
    write_replacing(&kept, text.as_bytes())?;
    Ok(format!(
        "imported MDS BLOB no {}: {} entries ({} skipped), next update {}",
        blob.no(),
        blob.entries().len(),
        blob.skipped_entries(),
        blob.next_update()
    ))
}

/// Runs `passkeyd mds fetch` and `passkeyd mds status` on the configured database.
pub async fn run_configured(
    command: &MdsCommand,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), String> {
    let store = crate::store::open(config)
        .await
        .map_err(|e| e.to_string())?;
    let now = super::now();
    let result = match command {
        MdsCommand::Import(_) => Err("passkeyd mds import needs no configuration".to_owned()),
        MdsCommand::Fetch => fetch(store.as_ref(), config, now, out).await,
        MdsCommand::Status => {
            let status = service::status(store.as_ref(), config, now)
                .await
                .map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&status).map_err(|e| e.to_string())?;
            writeln!(out, "{text}").map_err(|e| e.to_string())
        }
    };
    store.close().await;
    result
}

async fn fetch(
    store: &dyn crate::store::Store,
    config: &Config,
    now: UnixTime,
    out: &mut impl Write,
) -> Result<(), String> {
    let client = service::client()?;
    let report = service::fetch(store, config, &client, "cli", now)
        .await
        .map_err(|e| e.to_string())?;
    match report {
        FetchReport::NotConfigured => Err("no [mds] url is configured".to_owned()),
        FetchReport::Busy => Err("another node is downloading the MDS BLOB now".to_owned()),
        FetchReport::Done { result, no } => {
            let line = match (result.as_str(), no) {
                ("stored", Some(no)) => format!("stored MDS BLOB no {no}"),
                ("unchanged", Some(no)) => format!("MDS BLOB no {no} is already stored"),
                ("not_modified", _) => "the MDS BLOB was not modified".to_owned(),
                (code, _) => return Err(format!("the MDS download was refused: {code}")),
            };
            writeln!(out, "passkeyd: {line}").map_err(|e| e.to_string())
        }
    }
}
