//! The service subcommands of the `passkeyd` binary, against a temporary data directory.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

/// Runs passkeyd in `dir` with only the given environment (no stray PASSKEYD_* from outside).
fn passkeyd(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PASSKEYD_DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .output()
        .expect("run passkeyd")
}

fn ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn failed(output: &Output) -> String {
    assert_ne!(output.status.code(), Some(0));
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn migrate_creates_the_data_directory_and_database() {
    let dir = TempDir::new().unwrap();
    let out = ok(&passkeyd(dir.path(), &[], &["migrate"]));
    assert!(out.contains("is up to date"), "{out}");
    assert!(dir.path().join("data/passkeyd.db").is_file());
    // Idempotent.
    ok(&passkeyd(dir.path(), &[], &["migrate"]));
}

#[test]
fn tenant_create_list_update() {
    let dir = TempDir::new().unwrap();
    let run = |args: &[&str]| passkeyd(dir.path(), &[], args);
    let created = json_lines(&ok(&run(&[
        "tenant",
        "create",
        "--id",
        "acme",
        "--rp-id",
        "acme.example.com",
        "--origin",
        "https://acme.example.com",
        "--origin",
        "https://login.acme.example.com",
        "--name",
        "Acme",
    ])));
    assert_eq!(created[0]["id"], "acme");
    assert_eq!(created[0]["rpName"], "Acme");
    assert_eq!(created[0]["origins"].as_array().unwrap().len(), 2);

    let again = failed(&run(&[
        "tenant",
        "create",
        "--id",
        "acme",
        "--rp-id",
        "a.com",
        "--origin",
        "https://a.com",
    ]));
    assert!(again.contains("tenant acme already exists"), "{again}");
    let bad = failed(&run(&[
        "tenant",
        "create",
        "--id",
        "Bad Id",
        "--rp-id",
        "a.com",
        "--origin",
        "https://a.com",
    ]));
    assert!(bad.contains("invalid tenant ID"), "{bad}");
    let bad_origin = failed(&run(&[
        "tenant",
        "create",
        "--id",
        "b",
        "--rp-id",
        "a.com",
        "--origin",
        "https://a.com/x",
    ]));
    assert!(bad_origin.contains("invalid origin"), "{bad_origin}");

    let updated = json_lines(&ok(&run(&[
        "tenant",
        "update",
        "--id",
        "acme",
        "--name",
        "Acme Inc",
        "--origin",
        "https://acme.example.com",
    ])));
    assert_eq!(updated[0]["name"], "Acme Inc");
    assert_eq!(updated[0]["rpId"], "acme.example.com", "unchanged");
    assert_eq!(
        updated[0]["origins"],
        serde_json::json!(["https://acme.example.com"])
    );
    let missing = failed(&run(&["tenant", "update", "--id", "nobody", "--name", "x"]));
    assert!(missing.contains("no tenant nobody"), "{missing}");
    let nothing = failed(&run(&["tenant", "update", "--id", "acme"]));
    assert!(nothing.contains("nothing to change"), "{nothing}");

    let listed = json_lines(&ok(&run(&["tenant", "list"])));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Acme Inc");
}

#[test]
fn api_key_create_list_revoke() {
    let dir = TempDir::new().unwrap();
    let run = |args: &[&str]| passkeyd(dir.path(), &[], args);
    ok(&run(&[
        "tenant",
        "create",
        "--id",
        "acme",
        "--rp-id",
        "a.com",
        "--origin",
        "https://a.com",
    ]));
    let secret = ok(&run(&[
        "api-key", "create", "--tenant", "acme", "--label", "backend",
    ]));
    let secret = secret.trim();
    assert!(secret.starts_with("sk_") && secret.len() == 59, "{secret}");
    let publishable = ok(&run(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--publishable",
    ]));
    assert!(publishable.trim().starts_with("pk_"));
    let missing = failed(&run(&["api-key", "create", "--tenant", "nobody"]));
    assert!(missing.contains("no tenant nobody"), "{missing}");

    let listing = ok(&run(&["api-key", "list", "--tenant", "acme"]));
    assert!(!listing.contains(&secret[16..]), "never the secret part");
    let keys = json_lines(&listing);
    assert_eq!(keys.len(), 2);
    let prefix = &secret[..15];
    let entry = keys.iter().find(|k| k["prefix"] == prefix).unwrap();
    assert_eq!(entry["kind"], "secret");
    assert_eq!(entry["label"], "backend");
    assert!(entry["revokedAt"].is_null());

    let revoked = ok(&run(&["api-key", "revoke", prefix]));
    assert!(revoked.contains(prefix), "{revoked}");
    let keys = json_lines(&ok(&run(&["api-key", "list", "--tenant", "acme"])));
    let entry = keys.iter().find(|k| k["prefix"] == prefix).unwrap();
    assert!(entry["revokedAt"].is_i64());
    let unknown = failed(&run(&["api-key", "revoke", "sk_nonexistent0"]));
    assert!(unknown.contains("no API key sk_nonexistent0"), "{unknown}");
    let no_tenant = failed(&run(&["api-key", "list", "--tenant", "nobody"]));
    assert!(no_tenant.contains("no tenant nobody"), "{no_tenant}");
}

#[test]
fn serve_refuses_a_bad_configuration() {
    let dir = TempDir::new().unwrap();
    let out = passkeyd(dir.path(), &[("PASSKEYD_LISTEN", "nonsense")], &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PASSKEYD_LISTEN: invalid socket address"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "nothing created");

    std::fs::write(dir.path().join("passkeyd.toml"), "rp_id = \"https://x\"\n").unwrap();
    let out = passkeyd(dir.path(), &[], &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("passkeyd.toml: rp_id: invalid RP ID"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_a_port_in_use() {
    let dir = TempDir::new().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = passkeyd(dir.path(), &[("PASSKEYD_LISTEN", &addr)], &["serve"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    // It listens before anything else, so it stopped before creating a tenant and a key
    // nobody would have seen.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!dir.path().join("data/passkeyd.db").exists());
}

/// The real binary end to end: zero configuration but an ephemeral port (found in the
/// "listening" log line), a request answered while it logs from worker threads, then SIGTERM
/// ends it cleanly.
#[cfg(unix)]
#[tokio::test]
async fn serve_answers_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = TempDir::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PASSKEYD_LISTEN", "127.0.0.1:0")
        .env("PASSKEYD_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = logs.next().expect("a listening line").unwrap();
        let entry: Value = serde_json::from_str(&line).unwrap();
        if entry["fields"]["message"] == "listening" {
            break entry["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };
    // Keep draining the logs so the child never blocks on a full pipe.
    let drain = std::thread::spawn(move || logs.map_while(Result::ok).collect::<Vec<_>>());

    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let key = first_line.trim().rsplit(' ').next().unwrap().to_owned();
    // The zero-configuration tenant has the demo page, and says where (by host name).
    let mut second_line = String::new();
    stdout.read_line(&mut second_line).unwrap();
    let port = addr.rsplit(':').next().unwrap();
    assert_eq!(
        second_line.trim(),
        format!("passkeyd: demo page at http://localhost:{port}/")
    );
    let client = reqwest::Client::new();
    let tenant: Value = client
        .get(format!("http://{addr}/tenant"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["id"], "default");
    assert!(dir.path().join("data/passkeyd.db").is_file());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
    let logs = drain.join().unwrap();
    assert!(logs.iter().any(|l| l.contains("\"stopped\"")), "{logs:?}");
    assert!(
        logs.iter().all(|l| !l.contains(&key)),
        "the key is never logged"
    );
}

#[test]
fn tenant_settings_are_checked_and_leaving_localhost_closes_open_sign_up() {
    let dir = TempDir::new().unwrap();
    let run = |args: &[&str]| passkeyd(dir.path(), &[], args);
    // The zero-configuration default tenant (created by migrate + first start) is on
    // localhost with open sign-up; `serve` is not needed: create it as serve would.
    ok(&run(&[
        "tenant",
        "create",
        "--id",
        "acme",
        "--rp-id",
        "acme.example.com",
        "--origin",
        "https://acme.example.com",
    ]));
    let set = json_lines(&ok(&run(&[
        "tenant",
        "update",
        "--id",
        "acme",
        "--set",
        "user_verification=required",
        "--set",
        "token_ttl_secs=120",
    ])));
    assert_eq!(set[0]["settings"]["user_verification"], "required");
    assert_eq!(set[0]["settings"]["token_ttl_secs"], 120);
    for bad in [
        "user_verificaton=required",
        "token_ttl_secs=99999",
        "timeout_ms=oops",
        "nokey",
    ] {
        let refused = failed(&run(&["tenant", "update", "--id", "acme", "--set", bad]));
        assert!(!refused.is_empty(), "{bad}");
    }
    let listed = json_lines(&ok(&run(&["tenant", "list"])));
    let acme = listed.iter().find(|t| t["id"] == "acme").unwrap();
    assert_eq!(
        acme["settings"]["token_ttl_secs"], 120,
        "a refused update changed nothing"
    );

    ok(&run(&[
        "tenant",
        "create",
        "--id",
        "dev",
        "--rp-id",
        "localhost",
        "--origin",
        "http://localhost:8080",
    ]));
    ok(&run(&[
        "tenant",
        "update",
        "--id",
        "dev",
        "--set",
        "open_signup=true",
        "--set",
        "demo_publishable_key=\"pk_x\"",
    ]));
    let moved = json_lines(&ok(&run(&[
        "tenant",
        "update",
        "--id",
        "dev",
        "--rp-id",
        "dev.example.com",
        "--origin",
        "https://dev.example.com",
    ])));
    assert_eq!(moved[0]["settings"]["open_signup"], false);
    assert!(moved[0]["settings"].get("demo_publishable_key").is_none());
}

/// `tenant rotate-keys` and `tenant reset-user` against the database of a running server (its
/// backend, with the master key file it made).
#[tokio::test(flavor = "multi_thread")]
async fn tenant_rotate_keys_and_reset_user() {
    use crate::common::{database_for, secret_key, Server};
    use crate::me::{header, me, register_user, user_token};

    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let server = Server::start_with_key(&data, secret_key()).await;
    let database = database_for(&data).await;
    let mut env = Vec::new();
    if let Some(url) = &database {
        env.push(("PASSKEYD_DATABASE_URL", url.as_str()));
        env.push(("PASSKEYD_MASTER_KEY", crate::common::TEST_MASTER_KEY));
    }
    let run = |args: &[&str]| passkeyd(dir.path(), &env, args);
    let store = server.state.store.clone();
    let tenant = passkeyd::tenant::TenantId::default_tenant();

    // reset-user lifts the backup-code throttle.
    register_user(&server, "alice").await;
    for _ in 0..3 {
        store.record_failure(&tenant, "alice", 1).await.unwrap();
    }
    let reset = json_lines(&ok(&run(&[
        "tenant",
        "reset-user",
        "--id",
        "default",
        "--user",
        "alice",
    ])));
    assert_eq!(reset[0]["user"], "alice");
    assert_eq!(
        store.user(&tenant, "alice").await.unwrap().failed_attempts,
        0
    );
    let unknown = failed(&run(&[
        "tenant",
        "reset-user",
        "--id",
        "default",
        "--user",
        "nobody",
    ]));
    assert!(unknown.contains("no user nobody"), "{unknown}");

    // rotate-keys: the old token keeps working, new tokens use the new key.
    let before = user_token(&server, "alice").await;
    let old_kid = header(&before)["kid"].as_str().unwrap().to_owned();
    let rotated = json_lines(&ok(&run(&["tenant", "rotate-keys", "--id", "default"])));
    assert_eq!(rotated[0]["retired"], 1);
    assert_eq!(rotated[0]["algorithm"], "ES256");
    let new_kid = rotated[0]["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    let after = user_token(&server, "alice").await;
    assert_eq!(header(&after)["kid"], new_kid.as_str());
    for token in [&before, &after] {
        let list = me(
            &server,
            reqwest::Method::GET,
            "/me/credentials",
            token,
            None,
        )
        .await;
        assert_eq!(list.status(), 200);
    }
    let keys = store.signing_keys(&tenant).await.unwrap();
    assert_eq!(keys.len(), 2);

    // Another master key, an unknown tenant, or no master key at all: nothing changes.
    let stranger = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let mut wrong_env = env.clone();
    wrong_env.push(("PASSKEYD_MASTER_KEY", stranger));
    let wrong = failed(&passkeyd(
        dir.path(),
        &wrong_env,
        &["tenant", "rotate-keys", "--id", "default"],
    ));
    assert!(wrong.contains("master key"), "{wrong}");
    let missing = failed(&run(&["tenant", "rotate-keys", "--id", "nope"]));
    assert!(missing.contains("no tenant nope"), "{missing}");
    assert_eq!(store.signing_keys(&tenant).await.unwrap(), keys);
    let empty = TempDir::new().unwrap();
    let no_key = failed(&passkeyd(
        empty.path(),
        &[],
        &["tenant", "rotate-keys", "--id", "default"],
    ));
    assert!(no_key.contains("no master key"), "{no_key}");

    // Both operator actions are in the tenant's audit trail, by the CLI.
    let events = store.audit_events(&tenant, None, 200).await.unwrap();
    for action in ["signing_keys.rotate", "user.reset"] {
        let event = events.iter().find(|e| e.action == action).unwrap();
        assert_eq!(event.actor, "cli", "{action}");
    }
    server.stop().await;
}
