//! Reading trust material from files for the commands: root certificates (PEM) and FIDO
//! metadata BLOBs.

use std::path::{Path, PathBuf};

use passkeyd_webauthn::mds::MetadataBlob;
use passkeyd_webauthn::{TrustAnchors, UnixTime};

/// Loads every PEM certificate under `paths` (files, or directories of `*.pem` / `*.crt`).
pub fn load_roots(paths: &[PathBuf]) -> Result<TrustAnchors, String> {
    load_roots_and_text(paths).map(|(anchors, _)| anchors)
}

/// [`load_roots`], also returning the PEM text of every file read, to keep a copy.
pub fn load_roots_and_text(paths: &[PathBuf]) -> Result<(TrustAnchors, String), String> {
    let mut anchors = TrustAnchors::new();
    let mut all = String::new();
    for path in paths {
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "pem" || e == "crt"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            anchors
                .add_pem(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            all.push_str(text.trim_end());
            all.push('\n');
        }
    }
    Ok((anchors, all))
}

/// Reads and verifies a BLOB file against roots loaded from `roots`.
pub fn load_blob(path: &Path, roots: &[PathBuf], now: UnixTime) -> Result<MetadataBlob, String> {
    let anchors = load_roots(roots)?;
    let text = read_limited(path)?;
    MetadataBlob::verify(&text, &anchors, now)
        .map_err(|e| format!("{}: {} ({e})", path.display(), e.code()))
}

pub(crate) fn read_limited(path: &Path) -> Result<String, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > passkeyd_webauthn::mds::MAX_BLOB_LEN as u64 {
        return Err(format!(
            "{}: larger than a metadata BLOB can be",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}
