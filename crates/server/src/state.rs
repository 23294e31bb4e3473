//! What every handler can reach.

use std::sync::Arc;

use passkeyd_webauthn::UnixTime;

use crate::config::Config;
use crate::store::Store;

/// Shared application state: cheap to clone, trait objects for what tests replace.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The publishable key the demo page at `/` uses, when the demo is on (the `default`
    /// tenant allows open sign-up). Publishable keys are public by design.
    pub demo_publishable_key: Option<Arc<str>>,
}

impl AppState {
    /// State with the system clock.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self {
            store,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            demo_publishable_key: None,
        }
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
        crate::cli::now()
    }
}
