//! `passkeyd doctor` against a real database with deliberately bad tenants, and with `--url`
//! against the running server.

use std::path::Path;
use std::process::Output;

use passkeyd::store::Tenant;
use passkeyd::tenant::TenantId;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::common::{backend, backend_env, secret_key, Server};

/// Runs `passkeyd doctor ARGS --json` on the suite's backend for `dir`, with `extra`
/// variables, off the async runtime (the server under test keeps serving meanwhile).
async fn doctor(dir: &Path, extra: &[(&str, &str)], args: &[&str]) -> Output {
    let mut env = backend_env(dir, extra).await;
    env.push(("PASSKEYD_DATA_DIR".to_owned(), dir.display().to_string()));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_passkeyd"));
    command
        .arg("doctor")
        .args(args)
        .arg("--json")
        .current_dir(dir)
        .env_clear()
        .envs(env);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn findings(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The codes found, as `code` or `code@tenant`.
fn codes(output: &Output) -> Vec<String> {
    findings(output)
        .iter()
        .map(|f| match f["tenant"].as_str() {
            Some(tenant) => format!("{}@{tenant}", f["code"].as_str().unwrap()),
            None => f["code"].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn bad_tenant(id: &str, rp_id: &str, origins: &[&str], settings: Value) -> Tenant {
    Tenant {
        id: TenantId::parse(id).unwrap(),
        name: id.to_owned(),
        rp_id: rp_id.to_owned(),
        rp_name: id.to_owned(),
        origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        settings: settings.as_object().cloned().unwrap(),
        created_at: 1_700_000_000,
    }
}

#[tokio::test]
async fn a_fresh_server_is_healthy() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let out = doctor(dir.path(), &[], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", codes(&out));
    assert_eq!(codes(&out), ["server_ok", "tenant_ok@default"]);
    let unknown = doctor(dir.path(), &[], &["--tenant", "nobody"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    server.stop().await;
}

#[tokio::test]
async fn bad_tenants_and_settings_are_found() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let related: Vec<String> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|l| format!("https://{l}.example"))
        .collect();
    // Written straight to the store, past the checks `tenant update` makes.
    for tenant in [
        bad_tenant("suffix", "co.uk", &["https://shop.co.uk"], json!({})),
        bad_tenant(
            "foreign",
            "example.com",
            &["https://example.org"],
            json!({}),
        ),
        bad_tenant(
            "insecure",
            "example.com",
            &["http://example.com:8080"],
            json!({}),
        ),
        bad_tenant(
            "labels",
            "example.com",
            &["https://example.com"],
            json!({ "related_origins": related }),
        ),
        bad_tenant(
            "ttl",
            "example.com",
            &["https://example.com"],
            json!({ "token_ttl_secs": 3600 }),
        ),
        bad_tenant(
            "trusted",
            "example.com",
            &["https://example.com"],
            json!({ "attestation_policy": { "allow_none": true, "allow_self": true, "require_trusted": true } }),
        ),
    ] {
        server.state.store.insert_tenant(&tenant).await.unwrap();
    }
    std::fs::write(
        dir.path().join("passkeyd.toml"),
        "[rate_limits]\npublic_per_ip_per_minute = 0\n",
    )
    .unwrap();
    let env = [("PASSKEYD_TRUST_FORWARDED_FOR", "true")];
    let out = doctor(dir.path(), &env, &[]).await;
    let found = codes(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{found:?} {stderr}");
    for code in [
        "trust_forwarded_for_without_trusted_proxies",
        "rate_limits_off",
        "mds_missing",
        "rp_id_public_suffix@suffix",
        "rp_id_not_suffix_of_origin@foreign",
        "origin_insecure@insecure",
        "origin_has_port@insecure",
        "related_origins_over_label_limit@labels",
        "token_ttl_long@ttl",
        "tenant_ok@default",
    ] {
        assert!(found.iter().any(|c| c == code), "{code} in {found:?}");
    }
    // Every finding has words and a severity.
    for finding in findings(&out) {
        assert!(["ok", "warning", "error"].contains(&finding["severity"].as_str().unwrap()));
        assert!(!finding["message"].as_str().unwrap().is_empty());
    }
    // One tenant only: the server-wide checks and that tenant's.
    let one = doctor(dir.path(), &env, &["--tenant", "foreign"]).await;
    assert_eq!(one.status.code(), Some(1));
    assert!(codes(&one)
        .iter()
        .all(|c| !c.contains('@') || c.ends_with("@foreign")));

    // A stored MDS BLOB past its nextUpdate (no fresh one came) is an error.
    let stale = passkeyd::store::mds::MdsAttempt {
        at: 1,
        holder: "test".to_owned(),
        blob: Some(passkeyd::store::mds::StoredBlob {
            no: 7,
            next_update: "2020-01-01".to_owned(),
            jwt: "a.b.c".to_owned(),
            sha256: vec![1; 32],
            stored_at: 1,
        }),
        failure: None,
        etag: None,
        last_modified: None,
    };
    server.state.store.record_mds_attempt(&stale).await.unwrap();
    let out = doctor(dir.path(), &[], &["--tenant", "default"]).await;
    assert!(
        codes(&out).contains(&"mds_expired".to_owned()),
        "{:?}",
        codes(&out)
    );
    assert_eq!(out.status.code(), Some(1));
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_database_is_exit_2() {
    let dir = TempDir::new().unwrap();
    let out = doctor(
        dir.path(),
        &[(
            "PASSKEYD_DATABASE_URL",
            "sqlite:///proc/passkeyd-none/db.sqlite",
        )],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(codes(&out).contains(&"database_unreachable".to_owned()));
}

#[tokio::test]
async fn postgres_without_a_shared_master_key_is_found() {
    if backend() != "postgres" {
        return;
    }
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    // The harness sets PASSKEYD_MASTER_KEY; an empty environment value is not a key, so run
    // with a data directory of its own and the same database, without the key.
    let url = crate::common::database_for(dir.path()).await.unwrap();
    let other = TempDir::new().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_passkeyd"));
    command
        .args(["doctor", "--json"])
        .current_dir(other.path())
        .env_clear()
        .env("PASSKEYD_DATA_DIR", other.path())
        .env("PASSKEYD_DATABASE_URL", url);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(codes(&out).contains(&"master_key_missing".to_owned()));
    server.stop().await;
}

#[tokio::test]
async fn with_url_it_checks_what_a_browser_sees() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    // Through "localhost", the default tenant's RP ID, as a browser on the demo page would.
    let url = server.base.replace("127.0.0.1", "localhost");
    let out = doctor(dir.path(), &[], &["--url", &url]).await;
    let found = codes(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{found:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for code in [
        "healthz_ok",
        "demo_page_ok",
        "wellknown_ok@default",
        "cors_ok@default",
    ] {
        assert!(found.iter().any(|c| c == code), "{code} in {found:?}");
    }

    // A deployment whose tenants are not these (a proxy in front of another server, or one
    // that rewrites Host): the files are not found for the RP ID and CORS refuses the origin.
    let elsewhere = TempDir::new().unwrap();
    let other = Server::start_with_env(
        elsewhere.path(),
        secret_key(),
        &[
            ("PASSKEYD_RP_ID", "example.test"),
            ("PASSKEYD_ORIGINS", "https://example.test"),
        ],
    )
    .await;
    let url = other.base.replace("127.0.0.1", "localhost");
    let out = doctor(dir.path(), &[], &["--url", &url]).await;
    let found = codes(&out);
    assert_eq!(out.status.code(), Some(1), "{found:?}");
    assert!(
        found.contains(&"proxy_host_not_forwarded@default".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"cors_refused@default".to_owned()),
        "{found:?}"
    );

    // Nothing answers: exit 1 with the finding.
    let stopped = other.base.replace("127.0.0.1", "localhost");
    other.stop().await;
    let out = doctor(dir.path(), &[], &["--url", &stopped]).await;
    assert!(codes(&out).contains(&"url_unreachable".to_owned()));
    assert_eq!(out.status.code(), Some(1));
    server.stop().await;
}
