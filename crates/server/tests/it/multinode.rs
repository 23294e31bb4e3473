//! Several passkeyd nodes on one database, and a node killed mid-write. Runs on the backend the
//! suite runs on (see `common::backend`): SQLite shares the file between nodes of one host,
//! PostgreSQL between nodes anywhere.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::future::join_all;
use passkeyd_webauthn::json::base64url_encode;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, begin_registration, challenge, finish_authentication, new_credential, ok,
    post, ORIGIN,
};
use crate::common::{database_for, error_body, secret_key, Server};

#[tokio::test]
async fn ceremonies_cross_nodes_both_ways() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let a = Server::start_with_key(dir.path(), key.clone()).await;
    let b = Server::start_with_key(dir.path(), key.clone()).await;
    let key = key.expose().to_owned();

    // Begun on A, finished on B.
    let (session, options) = begin_registration(&a, &key, json!({ "userName": "nia" })).await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let registered = ok(post(
        &b,
        &key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;

    // Begun on B, finished on A; the token minted on A is redeemed on B.
    let (session, options) = begin_authentication(&b, &key, json!({ "userName": "nia" })).await;
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let signed_in = ok(finish_authentication(&a, &key, &session, assertion).await).await;
    assert_eq!(signed_in["userId"], registered["userId"]);
    let redeemed = ok(post(
        &b,
        &key,
        "/tokens/verify",
        &json!({ "token": signed_in["token"] }),
    )
    .await)
    .await;
    assert_eq!(redeemed["claims"]["sub"], registered["userId"]);
    let again = error_body(
        post(
            &a,
            &key,
            "/tokens/verify",
            &json!({ "token": signed_in["token"] }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(again["code"], "token_used");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn four_concurrent_finishes_of_one_session_on_two_nodes_exactly_one_succeeds() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let a = Server::start_with_key(dir.path(), key.clone()).await;
    let b = Server::start_with_key(dir.path(), key.clone()).await;
    let key = key.expose().to_owned();
    let (credential, _) = crate::ceremonies::register(&a, "oli").await;

    for round in 0..5u32 {
        let (session, options) = begin_authentication(&a, &key, json!({})).await;
        let assertion = credential
            .assert(&challenge(&options), ORIGIN)
            .sign_count(10 + round)
            .build()
            .to_json();
        let finishes = [&a, &b, &a, &b]
            .map(|node| finish_authentication(node, &key, &session, assertion.clone()));
        let answers = join_all(finishes).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn concurrent_sign_ins_never_move_the_counter_backwards() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let a = Server::start_with_key(dir.path(), key.clone()).await;
    let b = Server::start_with_key(dir.path(), key.clone()).await;
    let key = key.expose().to_owned();
    let (credential, registered) = crate::ceremonies::register(&a, "pia").await;
    let user_id = registered["userId"].as_str().unwrap().to_owned();

    // Eight sessions, each signed with a different counter, finished all at once on both nodes.
    let mut finishes = Vec::new();
    for (i, node) in [&a, &b, &a, &b, &a, &b, &a, &b].into_iter().enumerate() {
        let (session, options) = begin_authentication(node, &key, json!({})).await;
        let count = 100 + u32::try_from(i).unwrap() * 7 % 50;
        let assertion = credential
            .assert(&challenge(&options), ORIGIN)
            .sign_count(count)
            .build()
            .to_json();
        finishes.push((count, node, session, assertion));
    }
    let answers = join_all(finishes.iter().map(|(_, node, session, assertion)| {
        finish_authentication(node, &key, session, assertion.clone())
    }))
    .await;
    let mut accepted = Vec::new();
    for ((count, ..), answer) in finishes.iter().zip(answers) {
        if answer.status() == 200 {
            accepted.push(*count);
        } else {
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap();
            assert!(status == 400 || status == 409, "{status} {body}");
            assert_eq!(body["code"], "counter_regression", "{body}");
        }
    }
    assert!(!accepted.is_empty());
    let stored = a
        .state
        .store
        .credentials(&passkeyd::tenant::TenantId::default_tenant(), &user_id)
        .await
        .unwrap();
    // The stored counter is one that was accepted, and no accepted counter is above it.
    let stored = stored[0].sign_count;
    assert!(accepted.contains(&stored), "{stored} not in {accepted:?}");
    a.stop().await;
    b.stop().await;
}

/// A `passkeyd serve` process on a free port.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    async fn start(dir: &std::path::Path, key: &str, database: Option<&str>) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_passkeyd"));
        command
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PASSKEYD_DATA_DIR", dir.join("data"))
            .env("PASSKEYD_LISTEN", format!("127.0.0.1:{port}"))
            .env("PASSKEYD_BOOTSTRAP_API_KEY", key)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = database {
            command
                .env("PASSKEYD_DATABASE_URL", url)
                .env("PASSKEYD_MASTER_KEY", crate::common::TEST_MASTER_KEY);
        }
        let mut child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return Self { child, base };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("passkeyd did not become ready");
    }
}

#[tokio::test]
async fn registrations_answered_200_survive_kill_9() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let database = database_for(dir.path()).await;
    let mut node = Node::start(dir.path(), key.expose(), database.as_deref()).await;
    let client = reqwest::Client::new();
    let key_text = key.expose().to_owned();

    // Register in a loop from a task; kill the node while it runs.
    let base = node.base.clone();
    let writer = tokio::spawn({
        let client = client.clone();
        let key = key_text.clone();
        async move {
            let mut acknowledged = Vec::new();
            for i in 0..10_000 {
                let Ok(answer) = client
                    .post(format!("{base}/webauthn/registration/request"))
                    .header("x-api-key", &key)
                    .json(&json!({ "userName": format!("user{i}") }))
                    .send()
                    .await
                else {
                    break;
                };
                let Ok(begun) = answer.json::<Value>().await else {
                    break;
                };
                let options = &begun["publicKeyCredentialCreationOptions"];
                let credential = new_credential(options);
                let response = credential
                    .register(&challenge(options), ORIGIN)
                    .build()
                    .to_json();
                let Ok(answer) = client
                    .post(format!("{base}/webauthn/registration/response"))
                    .header("x-api-key", &key)
                    .json(&json!({ "session": begun["session"], "publicKeyCredential": response }))
                    .send()
                    .await
                else {
                    break;
                };
                if answer.status() == 200 {
                    acknowledged.push(credential);
                } else {
                    break;
                }
            }
            acknowledged
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.child.kill().unwrap(); // SIGKILL on unix
    node.child.wait().unwrap();
    let acknowledged = writer.await.unwrap();
    assert!(
        acknowledged.len() >= 3,
        "only {} registrations before the kill on {}",
        acknowledged.len(),
        crate::common::backend()
    );

    let mut node = Node::start(dir.path(), key.expose(), database.as_deref()).await;
    for credential in &acknowledged {
        let begun: Value = client
            .post(format!("{}/webauthn/authentication/request", node.base))
            .header("x-api-key", &key_text)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let options = &begun["publicKeyCredentialRequestOptions"];
        let assertion = credential
            .assert(&challenge(options), ORIGIN)
            .sign_count(1)
            .build()
            .to_json();
        let answer = client
            .post(format!("{}/webauthn/authentication/response", node.base))
            .header("x-api-key", &key_text)
            .json(&json!({ "session": begun["session"], "publicKeyCredential": assertion }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            200,
            "credential {} was acknowledged but cannot sign in",
            base64url_encode(&credential.id)
        );
    }
    node.child.kill().unwrap();
    node.child.wait().unwrap();
}

#[tokio::test]
async fn a_node_whose_database_is_unreachable_is_live_but_not_ready() {
    let dir = TempDir::new().unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Nothing listens on the database port: the node keeps retrying its migrations.
    let dead_database = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PASSKEYD_DATA_DIR", dir.path().join("data"))
        .env("PASSKEYD_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "PASSKEYD_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{dead_database}/passkeyd"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut live = false;
    for _ in 0..200 {
        if let Ok(answer) = client.get(format!("{base}/healthz")).send().await {
            assert_eq!(answer.status(), 200);
            live = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ready = client.get(format!("{base}/readyz")).send().await;
    let api = client
        .post(format!("{base}/webauthn/authentication/request"))
        .json(&json!({}))
        .send()
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(live, "the node never answered /healthz");
    let ready = error_body(ready.unwrap(), 503).await;
    assert_eq!(ready["code"], "unavailable");
    assert_eq!(error_body(api.unwrap(), 503).await["code"], "unavailable");
}
