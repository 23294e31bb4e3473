//! `[mds]`: where the FIDO Metadata Service BLOB is downloaded from, the roots its signing chain
//! must reach, and how often it is fetched (`PASSKEYD_MDS_URL`, `PASSKEYD_MDS_ROOT`,
//! `PASSKEYD_MDS_REFRESH`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The shortest refresh interval accepted: the service publishes about monthly, and a shorter
/// one would only load it.
pub(super) const MIN_REFRESH_SECS: u64 = 60;
/// The default refresh interval: twice a day.
pub(super) const DEFAULT_REFRESH_SECS: u64 = 12 * 3600;

/// The MDS refresh configuration. Without a `url` nothing is downloaded; a BLOB imported with
/// `passkeyd mds import` or stored by another node is still used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdsConfig {
    /// The BLOB's address, e.g. `https://mds3.fidoalliance.org/`.
    pub url: Option<String>,
    /// PEM files or directories of the roots the BLOB's signing chain must end at.
    pub root: Vec<PathBuf>,
    /// How often to fetch.
    pub refresh: Duration,
}

impl Default for MdsConfig {
    fn default() -> Self {
        Self {
            url: None,
            root: Vec::new(),
            refresh: Duration::from_secs(DEFAULT_REFRESH_SECS),
        }
    }
}

/// `[mds]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileMds {
    pub(super) url: Option<String>,
    pub(super) root: Option<Vec<PathBuf>>,
    /// Seconds.
    pub(super) refresh: Option<u64>,
}

impl FileMds {
    /// Checks the layer and builds the configuration; the error names the field at fault.
    pub(super) fn build(self) -> Result<MdsConfig, (&'static str, &'static str)> {
        if let Some(url) = &self.url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(("url", "expected an http:// or https:// URL"));
            }
        }
        let root = self.root.unwrap_or_default();
        if self.url.is_some() && root.is_empty() {
            return Err((
                "root",
                "a BLOB can only be trusted through a root: set [mds] root (PEM)",
            ));
        }
        let refresh = self.refresh.unwrap_or(DEFAULT_REFRESH_SECS);
        if refresh < MIN_REFRESH_SECS {
            return Err(("refresh", "expected at least 60 seconds"));
        }
        Ok(MdsConfig {
            url: self.url,
            root,
            refresh: Duration::from_secs(refresh),
        })
    }
}
