//! What every handler can reach.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use passkeyd_webauthn::mds::{authenticator_name, MetadataBlob};
use passkeyd_webauthn::{Aaguid, UnixTime};

use crate::config::Config;
use crate::rate_limit::RateLimiter;
use crate::store::Store;
use crate::tokens::{MasterKey, OpenedKeys};

/// Shared application state: cheap to clone, trait objects for what tests replace.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Seals the token signing keys stored in the database.
    pub master_key: Arc<MasterKey>,
    /// Signing keys opened with the master key, kept for the next token.
    pub opened_keys: Arc<OpenedKeys>,
    /// Request-rate limits of the public routes and the per-tenant quotas.
    pub rate_limits: Arc<RateLimiter>,
    /// The FIDO metadata BLOB in use, when one is loaded (authenticator names and attestation
    /// roots); swapped in place when a newer one is stored (`service::mds`).
    pub mds: Arc<crate::service::mds::MdsCache>,
    /// The publishable key the demo page at `/` uses, when the demo is on (the `default`
    /// tenant allows open sign-up). Publishable keys are public by design.
    pub demo_publishable_key: Option<Arc<str>>,
    /// The origins some tenant allows, as last read, for CORS answers.
    pub allowed_origins: Arc<OriginCache>,
}

/// A set of origins read at some moment, kept until it is older than a caller's bound.
#[derive(Debug, Default)]
pub struct OriginCache(Mutex<Option<(Instant, Arc<HashSet<String>>)>>);

impl OriginCache {
    /// The set, if it was read less than `max_age` ago.
    pub fn fresh(&self, max_age: Duration) -> Option<Arc<HashSet<String>>> {
        let cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cached
            .as_ref()
            .filter(|(read_at, _)| read_at.elapsed() < max_age)
            .map(|(_, origins)| Arc::clone(origins))
    }

    /// Keeps `origins`, read now.
    pub fn put(&self, origins: Arc<HashSet<String>>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), origins));
    }
}

impl AppState {
    /// State with the system clock.
    pub fn new(store: Arc<dyn Store>, config: Config, master_key: MasterKey) -> Self {
        let rate_limits = RateLimiter::new(config.rate_limits.clone());
        Self {
            store,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            master_key: Arc::new(master_key),
            opened_keys: Arc::default(),
            rate_limits: Arc::new(rate_limits),
            mds: Arc::default(),
            demo_publishable_key: None,
            allowed_origins: Arc::default(),
        }
    }

    /// The authenticator's name, from the MDS or the bundled AAGUID list.
    pub fn authenticator_name(&self, aaguid: &Aaguid) -> Option<String> {
        authenticator_name(aaguid, self.metadata().as_deref()).map(str::to_owned)
    }

    /// The FIDO metadata BLOB in use now, if any.
    pub fn metadata(&self) -> Option<Arc<MetadataBlob>> {
        self.mds.current()
    }
}

/// A source of the current time, so tests can fix it.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now, in Unix seconds.
    fn now(&self) -> UnixTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        system_now()
    }
}

/// The system clock's time, in whole seconds since the Unix epoch (0 before it).
pub fn system_now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}
