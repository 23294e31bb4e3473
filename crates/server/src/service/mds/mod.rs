//! The FIDO Metadata Service BLOB: one verification for every way a BLOB comes in
//! ([`verify_offer`]: `passkeyd mds import`, the download, a node loading what another node
//! stored), the BLOB every node uses ([`MdsCache`], swapped without a restart by [`sync`]),
//! and what operators see ([`status`]: `GET /admin/mds`, `/metrics`, `passkeyd doctor`).
//!
//! The rules, in one place:
//! - a BLOB is only ever used after [`MetadataBlob::verify`] accepted it against the configured
//!   MDS roots; nothing unverified is stored or used;
//! - a BLOB replaces the stored one only if its serial number `no` is higher; one with a lower
//!   or equal `no` is refused as `mds_rollback` unless it is the stored BLOB byte for byte
//!   (then it is `unchanged`);
//! - the database holds the current BLOB (`mds_state`), so every node sharing it uses the same
//!   one; each node checks the stored `no` and digest every minute and reloads on a change;
//! - a BLOB past its `nextUpdate` is kept (it is still the best information there is) but is
//!   *stale*: a warning in the log, `stale: true` at `GET /admin/mds`, `passkeyd_mds_stale 1`
//!   in `/metrics`, `resource.mdsStale` for Cedar policies, and, for tenants whose
//!   `attestation_policy.require_fresh_mds` is set, registrations refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::digest::{digest, SHA256};
use passkeyd_webauthn::mds::{MdsError, MetadataBlob};
use passkeyd_webauthn::{TrustAnchors, UnixTime};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Config;
use crate::store::mds::{judge_offer, MdsOutcome, MdsState, StoredBlob};
use crate::store::{Store, StoreError};

mod fetch;

pub use fetch::{client, fetch, refresh_once, refresh_periodically, FetchReport};

/// A name for this node in the download lease: random, so two nodes never share one.
pub fn node_name() -> String {
    use base64::Engine;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let bytes = crate::api_keys::random_bytes::<12>(&rng).unwrap_or_default();
    format!(
        "node-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The roots file `passkeyd mds import` keeps beside the BLOB in the data directory.
pub const KEPT_ROOTS_FILE: &str = "mds-roots.pem";
/// The BLOB file `passkeyd mds import` keeps in the data directory.
pub const KEPT_BLOB_FILE: &str = "mds.jwt";

/// A BLOB that passed [`verify_offer`].
#[derive(Debug)]
pub struct Offer {
    /// The verified BLOB.
    pub blob: MetadataBlob,
    /// SHA-256 of its text.
    pub sha256: Vec<u8>,
    /// Whether it is the stored BLOB, byte for byte.
    pub unchanged: bool,
}

impl Offer {
    /// The row to store for it, verified at `now`.
    pub fn stored(&self, jwt: &str, now: UnixTime) -> StoredBlob {
        StoredBlob {
            no: self.blob.no(),
            next_update: self.blob.next_update().to_string(),
            jwt: jwt.to_owned(),
            sha256: self.sha256.clone(),
            stored_at: now.0,
        }
    }
}

/// SHA-256 of a BLOB's text.
pub fn blob_digest(jwt: &str) -> Vec<u8> {
    digest(&SHA256, jwt.as_bytes()).as_ref().to_vec()
}

/// The one check every incoming BLOB passes: [`MetadataBlob::verify`] against `roots` at
/// `now`, then the serial-number rule against the `stored` BLOB's `(no, sha256)`: a lower or
/// equal `no` is [`MdsError::Rollback`] unless the text is the stored BLOB's.
pub fn verify_offer(
    jwt: &str,
    roots: &TrustAnchors,
    now: UnixTime,
    stored: Option<(u64, &[u8])>,
) -> Result<Offer, MdsError> {
    let blob = MetadataBlob::verify(jwt, roots, now)?;
    let sha256 = blob_digest(jwt);
    let candidate = StoredBlob {
        no: blob.no(),
        next_update: String::new(),
        jwt: String::new(),
        sha256: sha256.clone(),
        stored_at: 0,
    };
    match judge_offer(stored, &candidate) {
        MdsOutcome::Rollback { current } => Err(MdsError::Rollback {
            current,
            received: blob.no(),
        }),
        outcome => Ok(Offer {
            blob,
            sha256,
            unchanged: outcome == MdsOutcome::Unchanged,
        }),
    }
}

/// The MDS roots this node trusts: the configured `[mds] root` files, and the roots
/// `passkeyd mds import` kept in the data directory.
pub fn roots(config: &Config) -> Result<TrustAnchors, String> {
    let mut paths: Vec<PathBuf> = config.mds.root.clone();
    let kept = config.data_dir.join(KEPT_ROOTS_FILE);
    if kept.is_file() {
        paths.push(kept);
    }
    crate::cli::trust_files::load_roots(&paths)
}

/// The BLOB this node uses, swapped in place when a newer one is stored.
#[derive(Debug, Default)]
pub struct MdsCache(RwLock<Option<Held>>);

#[derive(Debug)]
struct Held {
    blob: Arc<MetadataBlob>,
    sha256: Vec<u8>,
}

impl MdsCache {
    /// A cache holding `blob` (tests, and callers that verified one themselves).
    pub fn holding(blob: Option<Arc<MetadataBlob>>) -> Self {
        Self(RwLock::new(blob.map(|blob| Held {
            blob,
            sha256: Vec::new(),
        })))
    }

    /// The BLOB in use, if any.
    pub fn current(&self) -> Option<Arc<MetadataBlob>> {
        let held = self.0.read().unwrap_or_else(PoisonError::into_inner);
        held.as_ref().map(|h| Arc::clone(&h.blob))
    }

    /// Whether the BLOB in use is missing or past its `nextUpdate` at `now`.
    pub fn stale(&self, now: UnixTime) -> bool {
        self.current().is_none_or(|b| b.is_expired(now))
    }

    fn version(&self) -> Option<(u64, Vec<u8>)> {
        let held = self.0.read().unwrap_or_else(PoisonError::into_inner);
        held.as_ref().map(|h| (h.blob.no(), h.sha256.clone()))
    }

    fn put(&self, blob: MetadataBlob, sha256: Vec<u8>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(Held {
            blob: Arc::new(blob),
            sha256,
        });
    }
}

/// Loads the stored BLOB into `cache` if it differs from the one held (a cheap version read
/// otherwise). The stored text is verified again with this node's `roots`: at `now`, or, once
/// it is past its `nextUpdate`, at the time it was stored (it was verified then; it is kept,
/// stale). A stored BLOB this node cannot verify is not used, and the one held stays.
pub async fn sync(
    store: &dyn Store,
    cache: &MdsCache,
    roots: &TrustAnchors,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let Some(version) = store.mds_version().await? else {
        return Ok(false);
    };
    if cache.version().as_ref() == Some(&version) {
        return Ok(false);
    }
    let Some(stored) = store.mds_state().await?.blob else {
        return Ok(false);
    };
    let verified = match MetadataBlob::verify(&stored.jwt, roots, now) {
        Err(MdsError::Expired { .. }) => {
            MetadataBlob::verify(&stored.jwt, roots, UnixTime(stored.stored_at))
        }
        other => other,
    };
    match verified {
        Ok(blob) => {
            tracing::info!(no = blob.no(), next_update = %blob.next_update(), "MDS BLOB in use");
            cache.put(blob, stored.sha256);
            Ok(true)
        }
        Err(e) => {
            tracing::warn!(
                no = stored.no,
                code = e.code(),
                error = %e,
                "the stored MDS BLOB does not verify with this node's MDS roots; not used"
            );
            Ok(false)
        }
    }
}

/// What operators see of the MDS: `GET /admin/mds`, the gauges of `/metrics`, `passkeyd
/// doctor`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MdsStatus {
    /// Whether a verified BLOB is stored.
    pub present: bool,
    /// Its serial number `no`.
    pub serial: Option<u64>,
    /// Its `nextUpdate` day (`YYYY-MM-DD`).
    pub next_update: Option<String>,
    /// Whether it is missing or past its `nextUpdate` (the end of that UTC day).
    pub stale: bool,
    /// When it was stored, Unix seconds.
    pub stored_at: Option<i64>,
    /// Whether a download URL is configured (`[mds] url`) on this node.
    pub refresh_configured: bool,
    /// When a download or import was last tried, Unix seconds.
    pub last_attempt_at: Option<i64>,
    /// What it gave: `stored`, `unchanged`, `not_modified` or an error code
    /// (`mds_signature_invalid`, `mds_rollback`, `mds_download_failed`...).
    pub last_result: Option<String>,
    /// When one last succeeded, Unix seconds.
    pub last_success_at: Option<i64>,
}

/// The MDS as stored, judged at `now`: for the admin API, the metrics and `passkeyd doctor`
/// ("an expired or missing MDS BLOB when a policy needs it"). Reads the database only; it does
/// not verify the BLOB again (every stored BLOB was verified before it was stored).
pub async fn status(
    store: &dyn Store,
    config: &Config,
    now: UnixTime,
) -> Result<MdsStatus, StoreError> {
    Ok(status_of(
        &store.mds_state().await?,
        config.mds.url.is_some(),
        now,
    ))
}

fn status_of(state: &MdsState, refresh_configured: bool, now: UnixTime) -> MdsStatus {
    let blob = state.blob.as_ref();
    let stale = blob
        .and_then(|b| passkeyd_webauthn::mds::MdsDate::parse(&b.next_update))
        .is_none_or(|day| now.0 >= day.start().0.saturating_add(86_400));
    MdsStatus {
        present: blob.is_some(),
        serial: blob.map(|b| b.no),
        next_update: blob.map(|b| b.next_update.clone()),
        stale,
        stored_at: blob.map(|b| b.stored_at),
        refresh_configured,
        last_attempt_at: state.last_attempt_at,
        last_result: state.last_result.clone(),
        last_success_at: state.last_success_at,
    }
}

/// Stores the BLOB `passkeyd mds import` kept in `data_dir`, if it verifies and is newer than
/// the stored one: how an imported BLOB reaches the database (and so every node). A kept BLOB
/// that is older, or that no longer verifies, changes nothing.
pub async fn store_kept_file(
    store: &dyn Store,
    data_dir: &Path,
    roots: &TrustAnchors,
    now: UnixTime,
) -> Result<Option<MdsOutcome>, StoreError> {
    let path = data_dir.join(KEPT_BLOB_FILE);
    let Ok(jwt) = crate::cli::trust_files::read_limited(&path) else {
        return Ok(None);
    };
    let stored = store.mds_version().await?;
    match verify_offer(
        &jwt,
        roots,
        now,
        stored.as_ref().map(|(n, s)| (*n, s.as_slice())),
    ) {
        Ok(offer) if offer.unchanged => Ok(Some(MdsOutcome::Unchanged)),
        Ok(offer) => {
            let attempt = crate::store::mds::MdsAttempt {
                at: now.0,
                holder: "import".to_owned(),
                blob: Some(offer.stored(&jwt, now)),
                failure: None,
                etag: None,
                last_modified: None,
            };
            store.record_mds_attempt(&attempt).await.map(Some)
        }
        Err(e) => {
            if !matches!(e, MdsError::Rollback { .. }) {
                tracing::warn!(code = e.code(), error = %e, file = %path.display(),
                    "the imported MDS BLOB does not verify; not stored");
            }
            Ok(None)
        }
    }
}

/// Loads this node's BLOB at start: the imported file (stored if newer), then the stored BLOB.
pub async fn load_at_start(
    store: &dyn Store,
    config: &Config,
    cache: &MdsCache,
    now: UnixTime,
) -> Result<(), String> {
    let roots = match roots(config) {
        Ok(roots) => roots,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the MDS roots; running without the MDS");
            return Ok(());
        }
    };
    store_kept_file(store, &config.data_dir, &roots, now)
        .await
        .map_err(|e| format!("cannot store the imported MDS BLOB: {e}"))?;
    sync(store, cache, &roots, now)
        .await
        .map_err(|e| format!("cannot read the stored MDS BLOB: {e}"))?;
    Ok(())
}
