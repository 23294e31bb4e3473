//! The MDS refresh end to end: a local HTTP server plays the metadata service and serves the
//! test BLOBs of `tests/fixtures/mds` (signed under the test root there); two nodes share one
//! database. Covered: the first download, a 304 to a conditional request, a bad signature, a
//! rollback, a newer BLOB swapped in on every node without a restart, the status at
//! `GET /admin/mds` and in `/metrics`, and registrations refused while the MDS is stale for a
//! tenant that asks for it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use passkeyd::service::mds::{self, FetchReport};
use passkeyd::settings::TenantSettings;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{begin_registration, challenge, new_credential, post, register, ORIGIN};
use crate::common::{error_body, secret_key, Server};

const ADMIN_KEY: &str = "test-operator-key-0123456789abcdefghijklmnop";
const METRICS_TOKEN: &str = "test-metrics-token-0123456789abcdefghijklmnop";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/mds/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn blob(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// What the fake metadata service serves, and what it was asked.
#[derive(Default)]
struct Served {
    body: String,
    etag: String,
    requests: usize,
    last_if_none_match: Option<String>,
}

/// Starts the fake metadata service: the current body with its ETag, or 304 when the request's
/// `If-None-Match` is that ETag.
async fn metadata_service() -> (String, Arc<Mutex<Served>>) {
    let served = Arc::new(Mutex::new(Served::default()));
    let shared = Arc::clone(&served);
    let app = axum::Router::new().route(
        "/",
        get(move |headers: HeaderMap| {
            let shared = Arc::clone(&shared);
            async move {
                let mut served = shared.lock().unwrap();
                served.requests += 1;
                let asked = headers
                    .get("if-none-match")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                served.last_if_none_match = asked.clone();
                if asked.as_deref() == Some(served.etag.as_str()) {
                    return StatusCode::NOT_MODIFIED.into_response();
                }
                ([("etag", served.etag.clone())], served.body.clone()).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, served)
}

fn serve(served: &Mutex<Served>, name: &str, etag: &str) {
    let mut served = served.lock().unwrap();
    served.body = blob(name);
    served.etag = format!("\"{etag}\"");
}

async fn node(dir: &Path, url: &str) -> Server {
    let root = fixture("root.pem");
    Server::start_with_env(
        dir,
        secret_key(),
        &[
            ("PASSKEYD_MDS_URL", url),
            ("PASSKEYD_MDS_ROOT", root.as_str()),
            ("PASSKEYD_ADMIN_KEY", ADMIN_KEY),
            ("PASSKEYD_METRICS_TOKEN", METRICS_TOKEN),
        ],
    )
    .await
}

async fn fetch(server: &Server) -> FetchReport {
    let client = mds::client().unwrap();
    let now = server.state.clock.now();
    let holder = "test-node";
    mds::fetch(
        server.state.store.as_ref(),
        &server.state.config,
        &client,
        holder,
        now,
    )
    .await
    .unwrap()
}

fn done(result: &str, no: Option<u64>) -> FetchReport {
    FetchReport::Done {
        result: result.to_owned(),
        no,
    }
}

fn serial(server: &Server) -> Option<u64> {
    server.state.metadata().map(|b| b.no())
}

async fn admin_mds(server: &Server) -> Value {
    let response = server
        .client
        .get(server.url("/admin/mds"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_blob_is_downloaded_verified_and_swapped_in_on_every_node() {
    let dir = TempDir::new().unwrap();
    let (url, served) = metadata_service().await;
    serve(&served, "blob_no5.jwt", "five");
    let a = node(dir.path(), &url).await;
    let b = node(dir.path(), &url).await;
    assert_eq!(serial(&a), None);
    assert_eq!(admin_mds(&a).await["stale"], true, "no BLOB yet is stale");

    // The first round on node A downloads and stores no 5 and swaps it in.
    let client = mds::client().unwrap();
    mds::refresh_once(&a.state, Some(&client), "node-a", a.state.clock.now())
        .await
        .unwrap();
    assert_eq!(serial(&a), Some(5));
    assert_eq!(served.lock().unwrap().requests, 1);
    assert_eq!(served.lock().unwrap().last_if_none_match, None);
    // Node B's round finds the download done (not due) and only loads the stored BLOB.
    mds::refresh_once(&b.state, Some(&client), "node-b", b.state.clock.now())
        .await
        .unwrap();
    assert_eq!(serial(&b), Some(5));
    assert_eq!(served.lock().unwrap().requests, 1, "one node downloads");

    // A conditional request: the service answers 304 to the ETag it gave.
    assert_eq!(fetch(&a).await, done("not_modified", None));
    assert_eq!(
        served.lock().unwrap().last_if_none_match.as_deref(),
        Some("\"five\"")
    );

    // A BLOB whose signature does not verify is refused; the stored one stays.
    serve(&served, "blob_bad_signature.jwt", "bad");
    assert_eq!(fetch(&a).await, done("mds_signature_invalid", None));
    // An expired one too.
    serve(&served, "blob_expired.jwt", "old");
    assert_eq!(fetch(&a).await, done("mds_expired", None));
    let status = admin_mds(&a).await;
    assert_eq!(status["serial"], 5);
    assert_eq!(status["lastResult"], "mds_expired");

    // A newer BLOB is stored, and every node swaps it in at its next round, without a restart.
    serve(&served, "blob_no6.jwt", "six");
    assert_eq!(fetch(&a).await, done("stored", Some(6)));
    for server in [&a, &b] {
        mds::refresh_once(&server.state, None, "sync-only", server.state.clock.now())
            .await
            .unwrap();
        assert_eq!(serial(server), Some(6));
    }
    // The same BLOB again (a new ETag, the same bytes) is unchanged, not a rollback.
    serve(&served, "blob_no6.jwt", "six-again");
    assert_eq!(fetch(&a).await, done("unchanged", Some(6)));

    // A rollback to no 5 (validly signed) is refused.
    serve(&served, "blob_no5.jwt", "five-again");
    assert_eq!(fetch(&a).await, done("mds_rollback", None));
    mds::refresh_once(&b.state, None, "sync-only", b.state.clock.now())
        .await
        .unwrap();
    assert_eq!(serial(&b), Some(6));

    let status = admin_mds(&b).await;
    assert_eq!(status["present"], true);
    assert_eq!(status["serial"], 6);
    assert_eq!(status["nextUpdate"], "2044-01-01");
    assert_eq!(status["stale"], false);
    assert_eq!(status["lastResult"], "mds_rollback");
    assert_eq!(status["refreshConfigured"], true);

    let metrics = b
        .client
        .get(b.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The gauges are process-wide and the suite runs other servers in this process at once, so
    // only their presence is checked here; their values are the status above.
    for gauge in [
        "passkeyd_mds_serial ",
        "passkeyd_mds_next_update_timestamp_seconds ",
        "passkeyd_mds_stale ",
        "passkeyd_mds_last_fetch_timestamp_seconds ",
        "passkeyd_mds_last_fetch_success ",
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(gauge)),
            "{gauge} in:\n{metrics}"
        );
    }
    assert!(metrics.contains("passkeyd_mds_fetches_total{result=\"mds_rollback\"}"));

    // Past nextUpdate with nothing fresher: still used, but stale everywhere it is reported.
    b.clock.advance(21 * 365 * 86_400);
    assert_eq!(serial(&b), Some(6));
    assert!(b.state.mds.stale(b.state.clock.now()));
    assert_eq!(admin_mds(&b).await["stale"], true);

    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_tenant_that_requires_a_fresh_mds_refuses_registrations_while_it_is_stale() {
    let dir = TempDir::new().unwrap();
    let (url, served) = metadata_service().await;
    let server = node(dir.path(), &url).await;
    let settings = TenantSettings {
        attestation_policy: passkeyd::settings::AttestationRules {
            require_fresh_mds: true,
            ..Default::default()
        },
        open_signup: true,
        ..Default::default()
    };
    crate::ceremonies::set_settings(&server, &settings).await;

    // No BLOB at all: stale, so the registration is refused and nothing is stored.
    let key = server.key.expose().to_owned();
    let (session, options) =
        begin_registration(&server, &key, json!({ "userName": "mo@example.com" })).await;
    let response = new_credential(&options)
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let refused = post(
        &server,
        &key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await;
    let body = error_body(refused, 403).await;
    assert_eq!(body["code"], "policy_denied");
    assert!(body["notices"][0]
        .as_str()
        .unwrap()
        .starts_with("mds_stale"));

    // With a fresh BLOB stored, registrations pass.
    serve(&served, "blob_no6.jwt", "six");
    assert_eq!(fetch(&server).await, done("stored", Some(6)));
    mds::refresh_once(&server.state, None, "sync-only", server.state.clock.now())
        .await
        .unwrap();
    let (_, answer) = register(&server, "mo@example.com").await;
    assert_eq!(answer["verified"], true);
    server.stop().await;
}
