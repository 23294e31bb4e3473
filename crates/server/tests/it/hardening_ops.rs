//! Operational hardening, each test first replaying what an attacker (or an unlucky operator)
//! did against the release binary: nodes with different master keys on one database, a
//! client-written `X-Forwarded-For`, a world-readable data directory, public `/metrics`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use passkeyd::bootstrap::bootstrap;
use passkeyd::store;
use passkeyd::tenant::TenantId;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{challenge, new_credential, ok, ORIGIN};
use crate::common::{backend, backend_config, config, database_for, envelope, secret_key, Server};

/// A master key no harness server uses.
const OTHER_MASTER_KEY: &str = "YW5vdGhlci1ub2RlLXdpdGgtaXRzLW93bi1rZXktMDA";

/// Opens, bootstraps and builds the state the way a starting node does; the error if it refuses.
async fn start_node(config: passkeyd::config::Config) -> Result<passkeyd::AppState, String> {
    let store = store::open(&config).await.map_err(|e| e.to_string())?;
    bootstrap(store.as_ref(), &config, &SystemRandom::new(), 1_700_000_000)
        .await
        .map_err(|e| e.to_string())?;
    let opened = passkeyd::open_state(store.clone(), config).await;
    if opened.is_err() {
        store.close().await;
    }
    opened
}

/// Runs `passkeyd serve` on `dir` (data in `dir/data`) with only `env`, and returns its stderr
/// if it exits; panics if it becomes ready instead.
async fn serve_must_refuse(dir: &Path, env: &[(&str, &str)]) -> String {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PASSKEYD_DATA_DIR", dir.join("data"))
        .env("PASSKEYD_LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            assert!(!status.success(), "serve exited successfully");
            return String::from_utf8_lossy(&output.stderr).into_owned();
        }
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("passkeyd serve started and answered ready instead of refusing");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("passkeyd serve neither refused nor became ready");
}

// (7) Several nodes, one database, different master keys.

#[tokio::test]
async fn a_second_node_with_another_master_key_refuses_to_start() {
    let dir = TempDir::new().unwrap();
    let first = Server::start(&dir).await;
    first.stop().await;

    // The second node shares the database (the SQLite file in `dir`, or its PostgreSQL
    // database) but brings its own master key.
    let second = backend_config(dir.path(), &[("PASSKEYD_MASTER_KEY", OTHER_MASTER_KEY)]).await;
    let refused = start_node(second)
        .await
        .expect_err("a node with another master key started");
    assert!(refused.contains("PASSKEYD_MASTER_KEY"), "{refused}");

    // The node that set the database up still starts.
    let again = Server::start_with_key(dir.path(), secret_key()).await;
    let ready = again.client.get(again.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    again.stop().await;
}

/// Deletes the master key check, as in a database set up before there was one.
async fn forget_key_check(dir: &Path) {
    use sqlx::Connection;
    let sql = "DELETE FROM server_meta";
    match database_for(dir).await {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        None => {
            let conn = rusqlite::Connection::open(dir.join("passkeyd.db")).unwrap();
            conn.execute(sql, []).unwrap();
        }
    }
}

#[tokio::test]
async fn a_database_from_before_the_key_check_is_checked_against_its_sealed_keys() {
    let dir = TempDir::new().unwrap();
    let first = Server::start(&dir).await;
    crate::me::register_user(&first, "alice").await;
    crate::me::user_token(&first, "alice").await; // seals the tenant's first signing key
    first.stop().await;
    forget_key_check(dir.path()).await;

    // The first node to start after the upgrade has another key: its check must not win.
    let other = backend_config(dir.path(), &[("PASSKEYD_MASTER_KEY", OTHER_MASTER_KEY)]).await;
    let refused = start_node(other)
        .await
        .expect_err("a node whose key opens no sealed key started");
    assert!(refused.contains("PASSKEYD_MASTER_KEY"), "{refused}");

    // The right key opens them, stores the check, and signs.
    let again = Server::start_with_key(dir.path(), secret_key()).await;
    crate::me::user_token(&again, "alice").await;
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_another_master_key_exits_with_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let first = Server::start_with_key(&data, secret_key()).await;
    first.stop().await;
    let mut env = vec![("PASSKEYD_MASTER_KEY", OTHER_MASTER_KEY.to_owned())];
    if let Some(url) = database_for(&data).await {
        env.push(("PASSKEYD_DATABASE_URL", url));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stderr = serve_must_refuse(dir.path(), &env).await;
    assert!(stderr.contains("PASSKEYD_MASTER_KEY"), "{stderr}");
    assert!(stderr.contains("every node"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_without_a_master_key_refuses_to_make_a_node_local_key_file() {
    // PostgreSQL only: SQLite nodes share a host, and with it the key file.
    let Some(url) = database_for(TempDir::new().unwrap().path()).await else {
        eprintln!(
            "SKIPPED postgres_without_a_master_key_refuses_to_make_a_node_local_key_file: \
             the suite runs on {}; set PASSKEYD_TEST_DATABASE_URL",
            backend()
        );
        return;
    };
    let dir = TempDir::new().unwrap();
    let stderr = serve_must_refuse(dir.path(), &[("PASSKEYD_DATABASE_URL", url.as_str())]).await;
    assert!(stderr.contains("PASSKEYD_MASTER_KEY"), "{stderr}");
    assert!(stderr.contains("every node"), "{stderr}");
    assert!(!dir.path().join("data/master.key").exists());

    // In process too (the harness path), and an existing key file is still used.
    let data = dir.path().join("data");
    let config_without = config(&data, &[("PASSKEYD_DATABASE_URL", url.as_str())]);
    let refused = start_node(config_without.clone())
        .await
        .expect_err("started without a master key");
    assert!(refused.contains("PASSKEYD_MASTER_KEY"), "{refused}");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("master.key"), format!("{OTHER_MASTER_KEY}\n")).unwrap();
    let state = start_node(config_without)
        .await
        .expect("an existing key file is used");
    state.store.close().await;
}

// (8) X-Forwarded-For.

/// A public-route call (the demo page's publishable key) from behind a proxy.
async fn public_call(server: &Server, forwarded_for: &str) -> u16 {
    let key = server.state.demo_publishable_key.as_deref().unwrap();
    server
        .client
        .post(server.url("/webauthn/authentication/request"))
        .header("x-api-key", key)
        .header("origin", ORIGIN)
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Registers a user with every request carrying `forwarded_for`; returns the address the audit
/// trail recorded for it.
async fn audited_ip(server: &Server, user_name: &str, forwarded_for: &str) -> Option<String> {
    let key = server.key.expose();
    let post = |path: &str, body: Value| {
        server
            .client
            .post(server.url(path))
            .header("x-api-key", key)
            .header("x-forwarded-for", forwarded_for)
            .json(&body)
            .send()
    };
    let begun = ok(post(
        "/webauthn/registration/request",
        json!({ "userName": user_name }),
    )
    .await
    .unwrap())
    .await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let response = new_credential(options)
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    ok(post(
        "/webauthn/registration/response",
        json!({ "session": begun["session"], "publicKeyCredential": response }),
    )
    .await
    .unwrap())
    .await;
    let events = server
        .state
        .store
        .audit_events(&TenantId::default_tenant(), None, 1)
        .await
        .unwrap();
    events[0].ip.clone()
}

#[tokio::test]
async fn a_client_written_forwarded_for_rotates_past_nothing() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        secret_key(),
        &[("PASSKEYD_TRUST_FORWARDED_FOR", "true")],
    )
    .await;
    let burst = server.state.rate_limits.config().public_per_ip_burst;
    // The client writes a new leftmost address each time; the proxy appends the real one.
    let mut statuses = Vec::new();
    for i in 0..burst + 5 {
        let spoofed = format!("198.51.100.{}, 203.0.113.7", i % 250);
        statuses.push(public_call(&server, &spoofed).await);
    }
    assert!(
        statuses[..burst as usize].iter().all(|s| *s == 200),
        "{statuses:?}"
    );
    assert!(
        statuses[burst as usize..].iter().all(|s| *s == 429),
        "rotated past the per-IP limit: {statuses:?}"
    );
    // Another real client behind the same proxy has its own bucket.
    assert_eq!(public_call(&server, "203.0.113.8").await, 200);

    // The audit trail names the address the proxy saw, never the client's claim.
    let ip = audited_ip(&server, "alice", "192.0.2.66, 203.0.113.9").await;
    assert_eq!(ip.as_deref(), Some("203.0.113.9"));
    // A malformed rightmost entry is not trusted, nor anything left of it: the peer is used.
    let ip = audited_ip(&server, "bob", "192.0.2.66, not-an-address").await;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    server.stop().await;
}

#[tokio::test]
async fn trusted_proxies_are_skipped_from_the_right() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        secret_key(),
        &[("PASSKEYD_TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8")],
    )
    .await;
    // client (spoofing 192.0.2.66) -> 203.0.113.20 -> proxy 10.1.2.3 -> proxy 127.0.0.1 -> us
    let ip = audited_ip(&server, "alice", "192.0.2.66, 203.0.113.20, 10.1.2.3").await;
    assert_eq!(ip.as_deref(), Some("203.0.113.20"));
    // Only proxies in the chain: the one furthest away is the client.
    let ip = audited_ip(&server, "bob", "10.9.9.9, 10.1.2.3").await;
    assert_eq!(ip.as_deref(), Some("10.9.9.9"));
    // A malformed entry stops the walk at the last trusted hop.
    let ip = audited_ip(&server, "carol", "203.0.113.20, 300.1.1.1, 10.1.2.3").await;
    assert_eq!(ip.as_deref(), Some("10.1.2.3"));
    // Rotating the client-written part changes nothing for the rate limit.
    let burst = server.state.rate_limits.config().public_per_ip_burst;
    let mut statuses = Vec::new();
    for i in 0..burst + 3 {
        let chain = format!("198.51.100.{}, 203.0.113.21, 10.1.2.3", i % 250);
        statuses.push(public_call(&server, &chain).await);
    }
    assert!(
        statuses[burst as usize..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    server.stop().await;

    // A direct peer that is not a trusted proxy: X-Forwarded-For is ignored.
    let dir = TempDir::new().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        secret_key(),
        &[("PASSKEYD_TRUSTED_PROXIES", "10.0.0.0/8")],
    )
    .await;
    let ip = audited_ip(&server, "dave", "203.0.113.20").await;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    server.stop().await;
}

// (10a) File modes.

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new().unwrap();
    // A directory that does not exist yet, as at a first start.
    let data = dir.path().join("data");
    let mut env = Vec::new();
    if let Some(url) = database_for(dir.path()).await {
        env.push(("PASSKEYD_DATABASE_URL", url));
        env.push((
            "PASSKEYD_MASTER_KEY",
            crate::common::TEST_MASTER_KEY.to_owned(),
        ));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let state = start_node(config(&data, &env)).await.unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "{}", data.display());
    let mut files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    if backend() == "sqlite" {
        for name in [
            "passkeyd.db",
            "passkeyd.db-wal",
            "passkeyd.db-shm",
            "master.key",
        ] {
            assert!(files.contains(&data.join(name)), "{name} in {files:?}");
        }
    }
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    state.store.close().await;
}

// (10b) /metrics.

#[tokio::test]
async fn metrics_are_off_without_a_token() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let answer = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(answer, 404).await, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn metrics_need_the_bearer_token() {
    let token = "metrics-token-0123456789abcdefghijklmnop";
    let dir = TempDir::new().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        secret_key(),
        &[("PASSKEYD_METRICS_TOKEN", token)],
    )
    .await;
    let scrape = |auth: Option<String>| {
        let mut request = server.client.get(server.url("/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let answer = scrape(None).await.unwrap();
    assert_eq!(envelope(answer, 401).await, "unauthenticated");
    let answer = scrape(Some(format!("Bearer {token}x"))).await.unwrap();
    assert_eq!(envelope(answer, 401).await, "unauthenticated");
    let answer = scrape(Some(format!("Basic {token}"))).await.unwrap();
    assert_eq!(envelope(answer, 401).await, "unauthenticated");
    let answer = scrape(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.text().await.unwrap();
    assert!(body.contains("# TYPE"), "{body}");
    server.stop().await;
}
