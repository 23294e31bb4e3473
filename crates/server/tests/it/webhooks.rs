//! Webhooks against a real receiver on loopback: a small axum server that records every
//! request and checks its Standard Webhooks signature on its own (HMAC-SHA256 from aws-lc-rs,
//! not passkeyd's code). Every event kind from the real API flows, retries after 500s with
//! backoff, the give-up, a redelivery, two nodes on one database delivering each event once,
//! and (with the real binary) a restart and a kill -9 in the middle of a delivery.

use std::collections::{HashMap, VecDeque};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use passkeyd_webauthn::json::base64url_encode;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{ok, register, sign_in, ORIGIN};
use crate::common::{backend_env, secret_key, Server};
use crate::me::{me, step_up, user_token};

const ADMIN_KEY: &str = "test-operator-key-of-the-webhook-tests-0123456789";

/// What the receiver answers next.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// Holds the request unanswered (the sender times out or dies meanwhile).
    Stall,
}

/// One request as received.
#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    id: String,
    event: Value,
    signed: bool,
}

#[derive(Default)]
struct Inbox {
    replies: VecDeque<Reply>,
    received: Vec<Received>,
}

/// The receiver: answers 200 unless told otherwise, and checks signatures with `secret`.
#[derive(Clone)]
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
    secret: Arc<Mutex<Vec<u8>>>,
}

/// An independent check of a Standard Webhooks signature.
fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return false;
    };
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    if (now - ts).abs() > 300 {
        return false;
    }
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    signatures.split(' ').any(|s| {
        s.strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|tag| hmac::verify(&key, &signed, &tag).is_ok())
    })
}

async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = receiver.secret.lock().unwrap().clone();
    let reply = {
        let mut inbox = receiver.inbox.lock().unwrap();
        inbox.received.push(Received {
            at: Instant::now(),
            id: headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            event: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signed: verify(&secret, &headers, &body),
        });
        inbox.replies.pop_front().unwrap_or(Reply::Status(200))
    };
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap(),
        Reply::Stall => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::OK
        }
    }
}

impl Receiver {
    async fn start() -> Self {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    fn on(listener: tokio::net::TcpListener) -> Self {
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = Self {
            url,
            inbox: Arc::default(),
            secret: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", post(hook))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn use_secret(&self, secret: &str) {
        let bytes = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        *self.secret.lock().unwrap() = bytes;
    }

    fn reply(&self, replies: &[Reply]) {
        self.inbox.lock().unwrap().replies.extend(replies);
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().received.clone()
    }

    /// Waits (up to `within`) until `done` holds for what was received.
    async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                start.elapsed() < within,
                "the receiver did not get what was expected: {:#?}",
                received
                    .iter()
                    .map(|r| &r.event["type"])
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Fast retries for tests.
fn fast(config: &mut passkeyd::config::Config) {
    config.webhooks.retry_base_ms = 200;
    config.webhooks.retry_cap_ms = 400;
    config.webhooks.max_attempts = 3;
    config.webhooks.poll_ms = 20;
    config.webhooks.timeout_ms = 2_000;
    config.webhooks.lease_ms = 3_000;
}

/// A server with the admin API on, fast retries and its delivery worker running.
async fn server(dir: &std::path::Path) -> (Server, tokio::task::JoinHandle<()>) {
    let server = Server::start_configured(
        dir,
        secret_key(),
        &[("PASSKEYD_ADMIN_KEY", ADMIN_KEY)],
        fast,
    )
    .await;
    let worker = tokio::spawn(passkeyd::service::webhooks::worker::run(
        server.state.clone(),
    ));
    (server, worker)
}

async fn admin(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Subscribes `url` to every event of the default tenant; answers the secret.
async fn subscribe(client: &reqwest::Client, base: &str, url: &str) -> String {
    let events = [
        "credential.created",
        "credential.deleted",
        "credential.renamed",
        "signin.succeeded",
        "signin.failed",
        "user.throttled",
        "mfa.enrolled",
        "backup_codes.regenerated",
    ];
    let body = json!({ "webhooks": [{ "url": url, "events": events }] });
    let answer = admin(
        client,
        base,
        Method::PUT,
        "/admin/tenants/default/webhooks",
        Some(body),
    )
    .await;
    let stored = ok(answer).await;
    assert_eq!(stored["webhooks"][0]["url"], url);
    assert!(stored["webhooks"][0].get("secret").is_none());
    let secret = stored["secrets"][0]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    // Never shown again, never stored in clear.
    let shown = admin(
        client,
        base,
        Method::GET,
        "/admin/tenants/default/webhooks",
        None,
    )
    .await;
    let shown = ok(shown).await.to_string();
    assert!(
        !shown.contains(&secret[6..]) && !shown.contains("sealed"),
        "{shown}"
    );
    secret
}

async fn deliveries(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let answer = admin(
        client,
        base,
        Method::GET,
        "/admin/tenants/default/webhooks/deliveries?limit=200",
        None,
    )
    .await;
    ok(answer).await["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_event_kind_of_the_api_arrives_signed() {
    let dir = TempDir::new().unwrap();
    let (server, worker) = server(dir.path()).await;
    let receiver = Receiver::start().await;
    let secret = subscribe(&server.client, &server.base, &receiver.url).await;
    receiver.use_secret(&secret);
    // Nothing is stored in clear, whatever reads the settings.
    let stored = server
        .state
        .store
        .tenant(&passkeyd::tenant::TenantId::default_tenant())
        .await
        .unwrap();
    assert!(!serde_json::to_string(&stored.settings)
        .unwrap()
        .contains(&secret[6..]));

    let key = server.key.expose().to_owned();
    let (credential, registered) = register(&server, "ada@example.com").await;
    let user_id = registered["userId"].as_str().unwrap().to_owned();
    let credential_id = base64url_encode(&credential.id);
    // A sign-in, then one replaying the counter.
    ok(sign_in(&server, &credential, 1).await).await;
    assert_eq!(sign_in(&server, &credential, 1).await.status(), 400);
    // Rename with the secret key.
    let renamed = server
        .client
        .patch(server.url(&format!("/credentials/{credential_id}")))
        .header("x-api-key", &key)
        .json(&json!({ "friendlyName": "Laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    // A second factor (after a step-up), new backup codes, wrong codes until the user waits.
    let token = step_up(&server, &credential, 2).await;
    let begun = ok(me(
        &server,
        Method::POST,
        "/me/mfa/webauthn/register/begin",
        &token,
        None,
    )
    .await)
    .await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let second = crate::ceremonies::new_credential(options);
    let response = second
        .register(&crate::ceremonies::challenge(options), ORIGIN)
        .build()
        .to_json();
    let body = json!({ "session": begun["session"], "publicKeyCredential": response });
    ok(me(
        &server,
        Method::POST,
        "/me/mfa/webauthn/register/complete",
        &token,
        Some(body),
    )
    .await)
    .await;
    ok(me(&server, Method::POST, "/me/mfa/backup-codes", &token, None).await).await;
    let app_token = user_token(&server, &user_id).await;
    let mut throttled = false;
    for _ in 0..10 {
        let wrong = json!({ "code": "aaaa-bbbb-cccc" });
        let answer = me(
            &server,
            Method::POST,
            "/me/mfa/backup-codes/verify",
            &app_token,
            Some(wrong),
        )
        .await;
        if answer.status() == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "wrong backup codes never made the user wait");
    // Delete the first passkey with the secret key.
    let deleted = server
        .client
        .delete(server.url(&format!("/credentials/{credential_id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let kinds = [
        "credential.created",
        "signin.succeeded",
        "signin.failed",
        "credential.renamed",
        "mfa.enrolled",
        "backup_codes.regenerated",
        "user.throttled",
        "credential.deleted",
    ];
    let received = receiver
        .wait_for(Duration::from_secs(20), |r| {
            kinds
                .iter()
                .all(|k| r.iter().any(|e| e.event["type"] == *k))
        })
        .await;
    for r in &received {
        assert!(r.signed, "bad signature on {}", r.event);
        assert_eq!(r.event["data"]["tenantId"], "default");
        assert!(r.event["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let of = |kind: &str| received.iter().find(|r| r.event["type"] == kind).unwrap();
    assert_eq!(
        of("signin.failed").event["data"]["reason"],
        "counter_regression"
    );
    assert_eq!(
        of("credential.renamed").event["data"]["credentialId"],
        credential_id
    );
    assert_eq!(
        of("credential.deleted").event["data"]["credentialId"],
        credential_id
    );
    assert_eq!(of("signin.succeeded").event["data"]["userId"], user_id);
    assert_eq!(of("user.throttled").event["data"]["userId"], user_id);
    // Two credentials were created: the passkey and the second factor.
    let created = received
        .iter()
        .filter(|r| r.event["type"] == "credential.created");
    assert_eq!(created.count(), 2);
    // Each event has its own webhook-id.
    let mut ids: Vec<_> = received.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), received.len());
    // The log shows them delivered.
    let log = deliveries(&server.client, &server.base).await;
    assert!(log.len() > kinds.len());
    assert!(log
        .iter()
        .all(|d| d["status"] == "delivered" || d["status"] == "pending"));
    worker.abort();
    server.stop().await;
}

#[tokio::test]
async fn a_500_is_retried_with_backoff_given_up_after_the_last_attempt_and_redelivered() {
    let dir = TempDir::new().unwrap();
    let (server, worker) = server(dir.path()).await;
    let receiver = Receiver::start().await;
    let secret = subscribe(&server.client, &server.base, &receiver.url).await;
    receiver.use_secret(&secret);

    // Two 500s, then 200: three attempts, the waits doubling (200 ms base, jittered down to
    // half at most).
    receiver.reply(&[Reply::Status(500), Reply::Status(500)]);
    register(&server, "bo@example.com").await;
    let received = receiver
        .wait_for(Duration::from_secs(10), |r| r.len() >= 3)
        .await;
    assert!(received.iter().all(|r| r.signed && r.id == received[0].id));
    let first_wait = received[1].at - received[0].at;
    let second_wait = received[2].at - received[1].at;
    assert!(first_wait >= Duration::from_millis(100), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(200), "{second_wait:?}");
    let log = deliveries(&server.client, &server.base).await;
    let delivered = &log[0];
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["attempts"], 3);
    assert_eq!(delivered["messageId"], received[0].id);

    // Three 500s (the most attempts here): given up, recorded as failed with a short excerpt.
    receiver.reply(&[Reply::Status(500); 3]);
    let before = receiver.received().len();
    register(&server, "cy@example.com").await;
    receiver
        .wait_for(Duration::from_secs(10), |r| r.len() >= before + 3)
        .await;
    let failed = loop {
        let log = deliveries(&server.client, &server.base).await;
        if log[0]["status"] == "failed" {
            break log[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["lastStatus"], 500);
    assert_eq!(failed["lastError"], "http_500");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        receiver.received().len(),
        before + 3,
        "attempted after giving up"
    );

    // Redelivered by the operator: the same message, delivered now.
    let id = failed["id"].as_str().unwrap();
    let path = format!("/admin/tenants/default/webhooks/deliveries/{id}/redeliver");
    let again = ok(admin(&server.client, &server.base, Method::POST, &path, None).await).await;
    assert_eq!(again["status"], "pending");
    assert_eq!(again["attempts"], 0);
    let received = receiver
        .wait_for(Duration::from_secs(10), |r| r.len() > before + 3)
        .await;
    assert_eq!(
        received[before + 3].id,
        failed["messageId"].as_str().unwrap()
    );
    assert!(received[before + 3].signed);
    // Unknown deliveries, and another tenant's, are not found.
    let missing = "/admin/tenants/default/webhooks/deliveries/whd_nothing/redeliver";
    let answer = admin(&server.client, &server.base, Method::POST, missing, None).await;
    assert_eq!(answer.status(), 404);
    server.add_tenant("other").await;
    let path = format!("/admin/tenants/other/webhooks/deliveries/{id}/redeliver");
    let answer = admin(&server.client, &server.base, Method::POST, &path, None).await;
    assert_eq!(answer.status(), 404);
    worker.abort();
    server.stop().await;
}

#[tokio::test]
async fn urls_and_secrets_are_checked_at_update() {
    let dir = TempDir::new().unwrap();
    let (server, worker) = server(dir.path()).await;
    let put = |body: Value| {
        let (client, base) = (server.client.clone(), server.base.clone());
        async move {
            admin(
                &client,
                &base,
                Method::PUT,
                "/admin/tenants/default/webhooks",
                Some(body),
            )
            .await
        }
    };
    for bad in [
        json!([{ "url": "http://example.com/hook", "events": ["signin.failed"] }]),
        json!([{ "url": "https://user:pw@example.com/hook", "events": ["signin.failed"] }]),
        json!([{ "url": "ftp://127.0.0.1/hook", "events": ["signin.failed"] }]),
        json!([{ "url": "https://example.com/hook", "events": ["user.deleted"] }]),
        json!([{ "url": "https://example.com/hook", "events": [] }]),
        json!([{ "url": "https://example.com/hook", "events": ["signin.failed"], "secret": "hunter2" }]),
    ] {
        let answer = put(json!({ "webhooks": bad })).await;
        assert_eq!(answer.status(), 400, "{bad}");
    }
    // A given secret is kept (sealed) and not generated; the same URL set again keeps it.
    let given = format!("whsec_{}", STANDARD.encode([9u8; 32]));
    let body = json!({ "webhooks": [{ "url": "https://hooks.example.com/a", "events": ["signin.failed"], "secret": given }] });
    let stored = ok(put(body).await).await;
    assert_eq!(stored["secrets"][0]["secret"], given.as_str());
    let body = json!({ "webhooks": [{ "url": "https://hooks.example.com/a", "events": ["signin.failed", "signin.succeeded"] }] });
    let stored = ok(put(body).await).await;
    assert_eq!(stored["secrets"], json!([]));
    // The admin API is the operator's: no key, no webhooks.
    let stranger = server
        .client
        .get(server.url("/admin/tenants/default/webhooks"))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
    worker.abort();
    server.stop().await;
}

#[tokio::test]
async fn two_nodes_on_one_database_deliver_each_event_once() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().to_path_buf();
    let key = secret_key();
    let start = |key| {
        let path = path.clone();
        async move {
            let server =
                Server::start_configured(&path, key, &[("PASSKEYD_ADMIN_KEY", ADMIN_KEY)], fast)
                    .await;
            let worker = tokio::spawn(passkeyd::service::webhooks::worker::run(
                server.state.clone(),
            ));
            (server, worker)
        }
    };
    let (a, worker_a) = start(key.clone()).await;
    let (b, worker_b) = start(key).await;
    let receiver = Receiver::start().await;
    let secret = subscribe(&a.client, &a.base, &receiver.url).await;
    receiver.use_secret(&secret);
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        register(node, &format!("user{i}@example.com")).await;
    }
    receiver
        .wait_for(Duration::from_secs(20), |r| r.len() >= 20)
        .await;
    // Long enough for a second delivery by the other node to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    let mut count: HashMap<String, usize> = HashMap::new();
    for r in &received {
        assert!(r.signed);
        *count.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(count.len(), 20);
    assert!(count.values().all(|n| *n == 1), "{count:?}");
    worker_a.abort();
    worker_b.abort();
    a.stop().await;
    b.stop().await;
}

/// A `passkeyd serve` process with the admin API on and quick webhook settings (timeouts of
/// 2 s, leases of 3 s).
struct Node {
    child: Child,
    base: String,
}

impl Node {
    async fn start(dir: &std::path::Path, key: &str) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let file = dir.join("passkeyd.toml");
        std::fs::write(
            &file,
            "[webhooks]\ntimeout_ms = 2000\nlease_ms = 3000\nretry_base_ms = 200\n\
             retry_cap_ms = 400\nmax_attempts = 50\npoll_ms = 50\n",
        )
        .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_passkeyd"));
        command
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PASSKEYD_CONFIG", &file)
            .env("PASSKEYD_DATA_DIR", dir.join("data"))
            .env("PASSKEYD_LISTEN", format!("127.0.0.1:{port}"))
            .env("PASSKEYD_BOOTSTRAP_API_KEY", key)
            .env("PASSKEYD_ADMIN_KEY", ADMIN_KEY)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("node.log")).unwrap());
        for (k, v) in backend_env(dir, &[]).await {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        // Generous: the suite runs many servers at once on few cores.
        for _ in 0..600 {
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
        let _ = child.kill();
        child.wait().unwrap();
        let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
        panic!("passkeyd did not become ready: {log}");
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap(); // SIGKILL on unix
        self.child.wait().unwrap();
    }
}

#[tokio::test]
async fn events_survive_a_restart_and_a_kill_9_in_the_middle_of_a_delivery() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let client = reqwest::Client::new();
    // A port with no receiver yet.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");

    // 1. The receiver is down: the event is written, its attempts fail to connect.
    let node = Node::start(dir.path(), key.expose()).await;
    let secret = subscribe(&client, &node.base, &url).await;
    let begun = ok(client
        .post(format!("{}/webauthn/registration/request", node.base))
        .header("x-api-key", key.expose())
        .json(&json!({ "userName": "dee@example.com" }))
        .send()
        .await
        .unwrap())
    .await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let credential = crate::ceremonies::new_credential(options);
    let response = credential
        .register(&crate::ceremonies::challenge(options), ORIGIN)
        .build()
        .to_json();
    ok(client
        .post(format!("{}/webauthn/registration/response", node.base))
        .header("x-api-key", key.expose())
        .json(&json!({ "session": begun["session"], "publicKeyCredential": response }))
        .send()
        .await
        .unwrap())
    .await;
    let failing = loop {
        let log = deliveries(&client, &node.base).await;
        if log.first().is_some_and(|d| d["lastError"] == "connect") {
            break log[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    node.kill_9();

    // 2. The receiver comes up and holds the first request; the restarted node sends the
    //    event and is killed while the receiver stalls.
    let receiver = Receiver::on(
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap(),
    );
    receiver.use_secret(&secret);
    receiver.reply(&[Reply::Stall]);
    let node = Node::start(dir.path(), key.expose()).await;
    receiver
        .wait_for(Duration::from_secs(10), |r| !r.is_empty())
        .await;
    node.kill_9();

    // 3. Restarted again: once the dead node's lease runs out, the event is delivered.
    let node = Node::start(dir.path(), key.expose()).await;
    let received = receiver
        .wait_for(Duration::from_secs(15), |r| r.len() >= 2)
        .await;
    assert!(received.iter().all(|r| r.signed));
    assert!(received
        .iter()
        .all(|r| r.id == failing["messageId"].as_str().unwrap()));
    assert_eq!(received[0].event["type"], "credential.created");
    let delivered = loop {
        let log = deliveries(&client, &node.base).await;
        if log[0]["status"] == "delivered" {
            break log[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered["id"], failing["id"]);

    // The CLI redelivers it once more.
    let cli = Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .args(["webhooks", "redeliver", "--tenant", "default"])
        .arg(delivered["id"].as_str().unwrap())
        .current_dir(dir.path())
        .env_clear()
        .env("PASSKEYD_DATA_DIR", dir.path().join("data"))
        .envs(backend_env(dir.path(), &[]).await)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    receiver
        .wait_for(Duration::from_secs(10), |r| r.len() >= 3)
        .await;
    node.kill_9();
}
