//! Operational hardening, each test first replaying what an attacker (or an unlucky operator)
//! did against the release binary: nodes with different master keys on one database, a
//! world-readable data directory, public `/metrics`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use passkeyd::bootstrap::bootstrap;
use passkeyd::store;
use tempfile::TempDir;

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
