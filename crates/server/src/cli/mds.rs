//! `passkeyd mds import FILE`: verifies a FIDO Metadata Service BLOB and keeps it in the data
//! directory (`mds.jwt`), where the server loads it. A BLOB that does not verify, or is older than
//! the one already kept, changes nothing.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use passkeyd_webauthn::mds::MetadataStore;
use passkeyd_webauthn::UnixTime;

use super::trust_files::{load_roots_and_text, read_limited};

/// `passkeyd mds ...`
#[derive(Debug, Subcommand)]
pub enum MdsCommand {
    /// Verify a BLOB (JWT) and keep it in the data directory.
    Import(ImportArgs),
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
pub const MDS_FILE: &str = "mds.jwt";
/// The roots it was verified with, kept beside it.
pub const MDS_ROOTS_FILE: &str = "mds-roots.pem";

/// Writes beside, then renames: a reader never sees half a file.
fn write_replacing(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The BLOB kept in `data_dir`, verified again with the roots kept beside it; `None` when no
/// BLOB was imported.
pub fn load_kept(
    data_dir: &std::path::Path,
    now: UnixTime,
) -> Result<Option<passkeyd_webauthn::mds::MetadataBlob>, String> {
    let blob = data_dir.join(MDS_FILE);
    let roots = data_dir.join(MDS_ROOTS_FILE);
    if !blob.exists() {
        return Ok(None);
    }
    super::trust_files::load_blob(&blob, &[roots], now).map(Some)
}

/// Runs `passkeyd mds`.
pub fn run(
    command: &MdsCommand,
    now: UnixTime,
    out: &mut impl Write,
    err: &mut impl Write,
) -> ExitCode {
    match command {
        MdsCommand::Import(args) => match import(args, now) {
            Ok(summary) => {
                let _ = writeln!(out, "{summary}");
                ExitCode::SUCCESS
            }
            Err(problem) => {
                let _ = writeln!(err, "passkeyd mds import: {problem}");
                ExitCode::from(1)
            }
        },
    }
}

fn import(args: &ImportArgs, now: UnixTime) -> Result<String, String> {
    let (anchors, roots_pem) = load_roots_and_text(&args.root)?;
    let text = read_limited(&args.file)?;
    let kept = args.data_dir.join(MDS_FILE);
    let mut store = MetadataStore::new();
    // The BLOB already kept, if it still verifies, guards against rolling back to an older one.
    if let Ok(current) = std::fs::read_to_string(&kept) {
        let _ = store.update(&current, &anchors, now);
    }
    let before = store.current().map(|b| b.no());
    store
        .update(&text, &anchors, now)
        .map_err(|e| format!("{}: {} ({e})", args.file.display(), e.code()))?;
    let blob = store
        .current()
        .ok_or_else(|| "the BLOB was not kept".to_owned())?;
    if before == Some(blob.no()) {
        return Ok(format!("MDS BLOB no {} is already imported", blob.no()));
    }
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    // The roots first, then the BLOB they verify: the server re-verifies the BLOB at start.
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
