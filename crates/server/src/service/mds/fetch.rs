//! Downloading the BLOB: one node at a time (a lease in the database), with conditional
//! requests (`If-None-Match` / `If-Modified-Since` from the last answer), the body bounded by
//! [`MAX_BLOB_LEN`], every BLOB through [`verify_offer`], and every attempt recorded.

use std::time::Duration;

use passkeyd_webauthn::mds::MAX_BLOB_LEN;
use passkeyd_webauthn::{TrustAnchors, UnixTime};
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;

use super::{roots, sync, verify_offer, MdsCache};
use crate::config::Config;
use crate::state::AppState;
use crate::store::mds::{MdsAttempt, MdsOutcome};
use crate::store::{Store, StoreError};

/// How long a node may hold the download lease: a download that takes longer is abandoned.
const LEASE_SECS: i64 = 300;
/// How long one download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// How often each node checks the database for a BLOB another node stored.
const SYNC_EVERY: Duration = Duration::from_secs(60);
/// After a failed download, the next try comes this soon (or at the refresh interval, if
/// that is shorter).
const RETRY_SECS: i64 = 900;

/// What one [`fetch`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchReport {
    /// Another node holds the download lease; it will store what it gets.
    Busy,
    /// No `[mds] url` is configured.
    NotConfigured,
    /// The attempt was recorded with this result: `stored`, `unchanged`, `not_modified`, or an
    /// error code.
    Done {
        /// The recorded result.
        result: String,
        /// The serial number of the BLOB received, when one verified.
        no: Option<u64>,
    },
}

/// Downloads the BLOB once (if this node gets the lease), verifies it, stores it if it is newer
/// and records the attempt. Errors are the store's only: a failed download is a recorded
/// result.
pub async fn fetch(
    store: &dyn Store,
    config: &Config,
    client: &reqwest::Client,
    holder: &str,
    now: UnixTime,
) -> Result<FetchReport, StoreError> {
    let Some(url) = &config.mds.url else {
        return Ok(FetchReport::NotConfigured);
    };
    if !store
        .take_mds_lease(holder, now.0, now.0 + LEASE_SECS)
        .await?
    {
        return Ok(FetchReport::Busy);
    }
    let state = store.mds_state().await?;
    let mut attempt = MdsAttempt {
        at: now.0,
        holder: holder.to_owned(),
        blob: None,
        failure: None,
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    };
    let mut no = None;
    match roots(config) {
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the MDS roots");
            attempt.failure = Some("mds_roots_unreadable".to_owned());
        }
        Ok(anchors) => match download(client, url, &state).await {
            Downloaded::NotModified => attempt.failure = Some("not_modified".to_owned()),
            Downloaded::Failed(code) => attempt.failure = Some(code.to_owned()),
            Downloaded::Blob {
                jwt,
                etag,
                last_modified,
            } => {
                let stored = state.blob.as_ref().map(|b| (b.no, b.sha256.as_slice()));
                match verify_offer(&jwt, &anchors, now, stored) {
                    Ok(offer) => {
                        no = Some(offer.blob.no());
                        attempt.blob = Some(offer.stored(&jwt, now));
                        attempt.etag = etag;
                        attempt.last_modified = last_modified;
                    }
                    Err(e) => {
                        tracing::warn!(code = e.code(), error = %e, %url,
                            "the downloaded MDS BLOB was refused; the stored one stays");
                        attempt.failure = Some(e.code().to_owned());
                    }
                }
            }
        },
    }
    let outcome = store.record_mds_attempt(&attempt).await?;
    let result = match outcome {
        MdsOutcome::Recorded => attempt.failure.unwrap_or_default(),
        other => other.as_str().to_owned(),
    };
    crate::metrics::mds_fetch(&result);
    Ok(FetchReport::Done { result, no })
}

enum Downloaded {
    Blob {
        jwt: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    NotModified,
    Failed(&'static str),
}

async fn download(
    client: &reqwest::Client,
    url: &str,
    state: &crate::store::mds::MdsState,
) -> Downloaded {
    let mut request = client.get(url).timeout(DOWNLOAD_TIMEOUT);
    // Validators only while a BLOB is stored: without one, a 304 would leave nothing to use.
    if state.blob.is_some() {
        if let Some(etag) = &state.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(date) = &state.last_modified {
            request = request.header(IF_MODIFIED_SINCE, date);
        }
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, %url, "cannot download the MDS BLOB");
            return Downloaded::Failed("mds_download_failed");
        }
    };
    if response.status() == StatusCode::NOT_MODIFIED {
        return Downloaded::NotModified;
    }
    if !response.status().is_success() {
        tracing::warn!(status = %response.status(), %url, "cannot download the MDS BLOB");
        return Downloaded::Failed("mds_download_failed");
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BLOB_LEN {
                    return Downloaded::Failed("mds_too_large");
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, %url, "the MDS BLOB download broke off");
                return Downloaded::Failed("mds_download_failed");
            }
        }
    }
    match String::from_utf8(body) {
        Ok(jwt) => Downloaded::Blob {
            jwt,
            etag,
            last_modified,
        },
        Err(_) => Downloaded::Failed("mds_malformed"),
    }
}

/// A client for the download: no cookies, redirects limited, TLS verified with the system's
/// roots.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .connect_timeout(Duration::from_secs(20))
        .user_agent(concat!("passkeyd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the MDS download client: {e}"))
}

/// Whether a download is due at `now`: never tried, or the refresh interval (after a failure,
/// at most [`RETRY_SECS`]) has passed since the last try by any node.
fn due(state: &crate::store::mds::MdsState, refresh: Duration, now: UnixTime) -> bool {
    let Some(last) = state.last_attempt_at else {
        return true;
    };
    let refresh = i64::try_from(refresh.as_secs()).unwrap_or(i64::MAX);
    let failed = state.last_success_at != Some(last);
    let wait = if failed || state.blob.is_none() {
        refresh.min(RETRY_SECS)
    } else {
        refresh
    };
    now.0.saturating_sub(last) >= wait
}

/// Runs beside the server: downloads on start and then when due (one node at a time), and
/// every minute swaps in a BLOB another node stored. Warns while the BLOB in use is stale.
pub async fn refresh_periodically(state: AppState, holder: String) {
    let client = match client() {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::warn!(error = %e, "MDS downloads are off");
            None
        }
    };
    let mut tick = tokio::time::interval(SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned_at: Option<i64> = None;
    loop {
        tick.tick().await;
        let now = state.clock.now();
        if let Err(e) = refresh_once(&state, client.as_ref(), &holder, now).await {
            tracing::warn!(error = %e, "cannot refresh the MDS BLOB");
        }
        warn_if_stale(
            &state.mds,
            now,
            state.config.mds.url.is_some(),
            &mut warned_at,
        );
    }
}

/// One round of [`refresh_periodically`].
pub async fn refresh_once(
    state: &AppState,
    client: Option<&reqwest::Client>,
    holder: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    let store = state.store.as_ref();
    if let (Some(client), Some(_)) = (client, &state.config.mds.url) {
        if due(&store.mds_state().await?, state.config.mds.refresh, now) {
            let report = fetch(store, &state.config, client, holder, now).await?;
            tracing::info!(?report, "MDS download");
        }
    }
    let anchors = roots(&state.config).unwrap_or_else(|_| TrustAnchors::new());
    sync(store, &state.mds, &anchors, now).await?;
    crate::metrics::mds_status(&super::status(store, &state.config, now).await?);
    Ok(())
}

/// Logs a stale BLOB at most once an hour.
fn warn_if_stale(cache: &MdsCache, now: UnixTime, refresh: bool, warned_at: &mut Option<i64>) {
    let Some(blob) = cache.current() else {
        return;
    };
    if !blob.is_expired(now) || warned_at.is_some_and(|at| now.0 - at < 3600) {
        return;
    }
    *warned_at = Some(now.0);
    tracing::warn!(
        no = blob.no(),
        next_update = %blob.next_update(),
        refresh_configured = refresh,
        "the MDS BLOB is past its nextUpdate and no fresh one was stored: it is stale"
    );
}
