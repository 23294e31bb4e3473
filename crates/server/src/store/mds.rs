//! The FIDO Metadata Service BLOB shared by every node, and the state of its download (table
//! `mds_state`, one row). Installation data, not tenant data.

use async_trait::async_trait;

use super::StoreError;

/// A verified BLOB as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its serial number `no`.
    pub no: u64,
    /// Its `nextUpdate` day (`YYYY-MM-DD`).
    pub next_update: String,
    /// The JWT text as downloaded or imported.
    pub jwt: String,
    /// SHA-256 of the JWT text.
    pub sha256: Vec<u8>,
    /// When it was verified and stored, Unix seconds.
    pub stored_at: i64,
}

/// Everything stored about the MDS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MdsState {
    /// The current BLOB, if one was ever stored.
    pub blob: Option<StoredBlob>,
    /// The `ETag` of the last download that answered the current BLOB.
    pub etag: Option<String>,
    /// The `Last-Modified` of that download.
    pub last_modified: Option<String>,
    /// When a download (or an import) was last tried, Unix seconds.
    pub last_attempt_at: Option<i64>,
    /// What it gave: `stored`, `unchanged`, `not_modified` or an error code.
    pub last_result: Option<String>,
    /// When one last succeeded (stored, unchanged or not modified), Unix seconds.
    pub last_success_at: Option<i64>,
}

/// One download (or import) to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdsAttempt {
    /// When, Unix seconds.
    pub at: i64,
    /// The node that held the lease for it; its lease is released.
    pub holder: String,
    /// The verified BLOB it brought, if any; stored only when its `no` is higher than the
    /// stored one's (see [`MdsStore::record_mds_attempt`]).
    pub blob: Option<StoredBlob>,
    /// What came, when it was not a BLOB: `not_modified` or an error code. Ignored when `blob`
    /// is set.
    pub failure: Option<String>,
    /// The validators to send next time; they replace the stored ones when the attempt
    /// succeeded (stored, unchanged or not modified).
    pub etag: Option<String>,
    /// See `etag`.
    pub last_modified: Option<String>,
}

/// What [`MdsStore::record_mds_attempt`] did with the attempt's BLOB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdsOutcome {
    /// The BLOB is the new current one.
    Stored,
    /// The BLOB is the one already stored, byte for byte.
    Unchanged,
    /// Refused: its `no` is not higher than the stored `current` one, and it is not the same
    /// BLOB (a rollback, or a reused serial number).
    Rollback {
        /// The stored BLOB's serial number.
        current: u64,
    },
    /// There was no BLOB to store (`not_modified` or a failure was recorded).
    Recorded,
}

impl MdsOutcome {
    /// The stable name recorded as the attempt's result.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Unchanged => "unchanged",
            Self::Rollback { .. } => "mds_rollback",
            Self::Recorded => "recorded",
        }
    }
}

/// The MDS part of the store; every [`Store`](super::Store) implements it.
#[async_trait]
pub trait MdsStore {
    /// The stored BLOB's serial number and digest: the cheap check each node runs to notice a
    /// BLOB another node stored.
    async fn mds_version(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// Everything stored about the MDS, the BLOB's text included.
    async fn mds_state(&self) -> Result<MdsState, StoreError>;

    /// Takes the download lease for `holder` until `until` if it is free (never taken, expired
    /// at `now`, or already `holder`'s); whether `holder` has it.
    async fn take_mds_lease(&self, holder: &str, now: i64, until: i64) -> Result<bool, StoreError>;

    /// Records a download in one unit of work: the BLOB (when it has one) replaces the stored
    /// one only if its `no` is higher, is confirmed if identical, and is refused otherwise; the
    /// result, time and validators are recorded, and `holder`'s lease is released.
    async fn record_mds_attempt(&self, attempt: &MdsAttempt) -> Result<MdsOutcome, StoreError>;
}

/// The rule both backends apply to a BLOB offered against the stored `(no, sha256)`.
pub(crate) fn judge_offer(stored: Option<(u64, &[u8])>, offered: &StoredBlob) -> MdsOutcome {
    match stored {
        None => MdsOutcome::Stored,
        Some((no, _)) if offered.no > no => MdsOutcome::Stored,
        Some((no, sha)) if offered.no == no && sha == offered.sha256.as_slice() => {
            MdsOutcome::Unchanged
        }
        Some((no, _)) => MdsOutcome::Rollback { current: no },
    }
}

/// The result recorded for an attempt that ended in `outcome`, and whether it counts as a
/// success.
pub(crate) fn attempt_result(attempt: &MdsAttempt, outcome: MdsOutcome) -> (String, bool) {
    match outcome {
        MdsOutcome::Recorded => {
            let failure = attempt.failure.clone().unwrap_or_else(|| "unknown".into());
            let ok = failure == "not_modified";
            (failure, ok)
        }
        MdsOutcome::Rollback { .. } => (outcome.as_str().to_owned(), false),
        MdsOutcome::Stored | MdsOutcome::Unchanged => (outcome.as_str().to_owned(), true),
    }
}
