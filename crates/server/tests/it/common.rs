//! The harness: the real server on an ephemeral port with a fresh SQLite file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use passkeyd::api_keys::{ApiKeyKind, ApiKeySecret};
use passkeyd::bootstrap::{bootstrap, new_key_record};
use passkeyd::config::Config;
use passkeyd::state::{Clock, SystemClock};
use passkeyd::store::{self, Tenant};
use passkeyd::tenant::TenantId;
use passkeyd::AppState;
use passkeyd_webauthn::UnixTime;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The master key of the harness's PostgreSQL servers. A PostgreSQL node needs
/// `PASSKEYD_MASTER_KEY` (it does not make a key file of its own), and the nodes sharing a
/// database need the same one; every test has its own database, so one key serves them all.
pub(crate) const TEST_MASTER_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LW9mLXRoZS1oYXJuZXNzLTA";

/// [`config`] on the suite's backend: with `PASSKEYD_TEST_DATABASE_URL`, the PostgreSQL
/// database of `dir` (see [`database_for`]) and, unless `extra` sets one, [`TEST_MASTER_KEY`].
pub(crate) async fn backend_config(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let env = backend_env(dir, extra).await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    config(dir, &env)
}

/// `extra` plus what the suite's backend needs for the servers on `dir` (see
/// [`backend_config`]); a variable in `extra` wins.
pub(crate) async fn backend_env(dir: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = BTreeMap::new();
    if let Some(url) = database_for(dir).await {
        env.insert("PASSKEYD_DATABASE_URL".to_owned(), url);
        env.insert("PASSKEYD_MASTER_KEY".to_owned(), TEST_MASTER_KEY.to_owned());
    }
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env.into_iter().collect()
}

/// Which backend the suite runs on: `postgres` when `PASSKEYD_TEST_DATABASE_URL` is set.
pub(crate) fn backend() -> &'static str {
    if admin_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

fn admin_url() -> Option<String> {
    std::env::var("PASSKEYD_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

/// The PostgreSQL database of the servers started on `dir`, created on first use; `None` when
/// the suite runs on SQLite. Each test directory gets its own database, so tests never see
/// each other's rows.
pub(crate) async fn database_for(dir: &Path) -> Option<String> {
    use sqlx::Connection;
    let admin = admin_url()?;
    let marker = dir.join(".test-database-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return Some(url);
    }
    let name = format!(
        "pkit_{}",
        passkeyd_webauthn::json::base64url_encode(&passkeyd_webauthn::test_util::random_bytes(12))
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut admin_conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin_conn)
        .await
        .unwrap();
    admin_conn.close().await.unwrap();
    let (server, _) = admin.split_once('?').map_or((admin.as_str(), ""), |p| p);
    let (server, _) = server.rsplit_once('/').unwrap();
    let url = format!("{server}/{name}");
    std::fs::write(&marker, &url).unwrap();
    Some(url)
}

/// A clock the test can move: system time plus an offset.
#[derive(Debug, Default)]
pub(crate) struct TestClock(AtomicI64);

impl TestClock {
    pub(crate) fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> UnixTime {
        UnixTime(SystemClock.now().0 + self.0.load(Ordering::SeqCst))
    }
}

/// A running server.
pub(crate) struct Server {
    /// `http://127.0.0.1:PORT`
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) state: AppState,
    /// The `default` tenant's secret key.
    pub(crate) key: ApiKeySecret,
    pub(crate) clock: Arc<TestClock>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A configuration whose data lives in `dir`, as the environment would set it.
pub(crate) fn config(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut env = BTreeMap::from([("PASSKEYD_DATA_DIR".to_owned(), dir.display().to_string())]);
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::load(None, &env).unwrap().config
}

pub(crate) fn secret_key() -> ApiKeySecret {
    ApiKeySecret::generate(ApiKeyKind::Secret, &SystemRandom::new()).unwrap()
}

impl Server {
    /// Starts a server on a fresh data directory with a known bootstrap key.
    pub(crate) async fn start(dir: &TempDir) -> Self {
        Self::start_with_key(dir.path(), secret_key()).await
    }

    /// Starts a server on `dir` as `passkeyd serve` would: open, bootstrap, listen. The
    /// database is SQLite in `dir`, or, when `PASSKEYD_TEST_DATABASE_URL` names a PostgreSQL
    /// server, a database of its own there (the same one for every server started on `dir`).
    pub(crate) async fn start_with_key(dir: &Path, key: ApiKeySecret) -> Self {
        Self::start_configured(dir, key, &[], |_| {}).await
    }

    /// [`Self::start_with_key`] with more `PASSKEYD_*` variables.
    pub(crate) async fn start_with_env(
        dir: &Path,
        key: ApiKeySecret,
        extra: &[(&str, &str)],
    ) -> Self {
        Self::start_configured(dir, key, extra, |_| {}).await
    }

    /// [`Self::start_with_env`], with the configuration changed by `configure` last (as a
    /// configuration file would).
    pub(crate) async fn start_configured(
        dir: &Path,
        key: ApiKeySecret,
        extra: &[(&str, &str)],
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut env = vec![("PASSKEYD_BOOTSTRAP_API_KEY", key.expose())];
        env.extend_from_slice(extra);
        let mut config = backend_config(dir, &env).await;
        configure(&mut config);
        let store = store::open(&config).await.unwrap();
        bootstrap(store.as_ref(), &config, &SystemRandom::new(), 1_700_000_000)
            .await
            .unwrap();
        let mut state = passkeyd::open_state(store, config).await.unwrap();
        let clock = Arc::new(TestClock::default());
        state.clock = clock.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(passkeyd::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            state,
            key,
            clock,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops accepting, waits for the server task, and closes the store.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.state.store.close().await;
    }

    /// [`Server::start`] for a test that makes more user-route requests from one address than a
    /// browser would in a minute (the per-IP limit would answer 429 long before it is done).
    pub(crate) async fn start_unthrottled(dir: &TempDir) -> Self {
        Self::start_configured(dir.path(), secret_key(), &[], |config| {
            config.rate_limits.public_per_ip_burst = 10_000;
            config.rate_limits.public_per_ip_per_minute = 10_000;
        })
        .await
    }

    /// Creates another tenant with a secret key of its own.
    pub(crate) async fn add_tenant(&self, id: &str) -> ApiKeySecret {
        let tenant = Tenant {
            id: TenantId::parse(id).unwrap(),
            name: id.to_owned(),
            rp_id: format!("{id}.example.com"),
            rp_name: id.to_owned(),
            origins: vec![format!("https://{id}.example.com")],
            settings: serde_json::Map::new(),
            created_at: 1_700_000_000,
        };
        self.state.store.insert_tenant(&tenant).await.unwrap();
        let key = secret_key();
        let record = new_key_record(&key, None, &SystemRandom::new(), 1_700_000_000).unwrap();
        self.state
            .store
            .insert_api_key(&tenant.id, &record)
            .await
            .unwrap();
        key
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Checks the DESIGN.md §5 envelope and returns its code.
pub(crate) async fn envelope(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["details"]["request_id"], id.as_str(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["notices"], serde_json::json!([]), "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// Checks the envelope and returns the whole body.
pub(crate) async fn error_body(response: reqwest::Response, status: u16) -> serde_json::Value {
    let got = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert!(body["code"].is_string(), "{body}");
    assert!(body["details"]["request_id"].is_string(), "{body}");
    body
}

/// A tenant's secret keys (the default tenant also has the demo page's publishable key).
pub(crate) async fn secret_keys(
    store: &dyn passkeyd::store::Store,
    tenant: &TenantId,
) -> Vec<passkeyd::store::ApiKey> {
    let keys = store.api_keys(tenant).await.unwrap();
    keys.into_iter()
        .filter(|k| k.kind == ApiKeyKind::Secret)
        .collect()
}
