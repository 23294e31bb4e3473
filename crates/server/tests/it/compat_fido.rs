//! The FIDO conformance-tool API (`/attestation/...`, `/assertion/...`): off by default, and
//! when the `default` tenant turns it on, registration and assertion end to end with the
//! software authenticator, failures as `{status: "failed"}` (200: see `ConformanceError`).

use passkeyd_webauthn::json::base64url_encode;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{challenge, new_credential, set_settings, ORIGIN};
use crate::common::{error_body, Server};

const ROUTES: &[&str] = &[
    "/attestation/options",
    "/attestation/result",
    "/assertion/options",
    "/assertion/result",
];

/// Posts without any key, as the conformance tool does.
async fn post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn ok(server: &Server, path: &str, body: &Value) -> Value {
    let (status, answer) = post(server, path, body).await;
    assert_eq!(status, 200, "{path}: {answer}");
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(answer["errorMessage"], "", "{answer}");
    answer
}

/// Expects `{status: "failed", errorMessage: <something>}`, and nothing else (never the
/// native envelope).
async fn failed(server: &Server, path: &str, body: &Value) -> String {
    let (status, answer) = post(server, path, body).await;
    assert_eq!(status, 200, "{path}: {answer}");
    assert_eq!(answer["status"], "failed", "{answer}");
    assert_eq!(answer.as_object().unwrap().len(), 2, "{answer}");
    let message = answer["errorMessage"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    message
}

async fn turn_on(server: &Server) {
    set_settings(
        server,
        &passkeyd::settings::TenantSettings {
            fido_conformance: true,
            ..passkeyd::settings::TenantSettings::default()
        },
    )
    .await;
}

#[tokio::test]
async fn off_by_default_every_route_is_404() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    for path in ROUTES {
        let response = server
            .client
            .post(server.url(path))
            .json(&json!({"username": "alice"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_body(response, 404).await["code"],
            "not_found",
            "{path}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn registration_and_assertion_end_to_end() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;

    let options = ok(
        &server,
        "/attestation/options",
        &json!({
            "username": "alice",
            "displayName": "Alice",
            "authenticatorSelection": {
                "requireResidentKey": false,
                "userVerification": "preferred"
            },
            "attestation": "direct",
            "extensions": {"example.extension": true}
        }),
    )
    .await;
    // The options' fields at the top level, beside status and errorMessage.
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "alice");
    assert_eq!(options["user"]["displayName"], "Alice");
    assert_eq!(options["attestation"], "direct");
    assert!(!options["pubKeyCredParams"].as_array().unwrap().is_empty());
    let credential = new_credential(&options);
    let mut response = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    // The tool sends the extension results under this name too.
    response["getClientExtensionResults"] = json!({});
    let answer = ok(&server, "/attestation/result", &response).await;
    assert_eq!(answer.as_object().unwrap().len(), 2, "{answer}");
    // Single use: the same response again has no pending ceremony.
    failed(&server, "/attestation/result", &response).await;

    let options = ok(
        &server,
        "/assertion/options",
        &json!({"username": "alice", "userVerification": "preferred"}),
    )
    .await;
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(
        options["allowCredentials"][0]["id"],
        base64url_encode(&credential.id)
    );
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let answer = ok(&server, "/assertion/result", &assertion).await;
    assert_eq!(answer.as_object().unwrap().len(), 2, "{answer}");
    failed(&server, "/assertion/result", &assertion).await;
    server.stop().await;
}

#[tokio::test]
async fn wrong_challenge_origin_or_user_fail_as_status_failed() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;

    // A challenge the server never issued.
    let options = ok(&server, "/attestation/options", &json!({"username": "bob"})).await;
    let credential = new_credential(&options);
    let forged = credential.register(&[7; 32], ORIGIN).build().to_json();
    failed(&server, "/attestation/result", &forged).await;

    // The right challenge from another origin.
    let elsewhere = credential
        .register(&challenge(&options), "https://evil.example")
        .build()
        .to_json();
    failed(&server, "/attestation/result", &elsewhere).await;

    // Not a credential at all, and a malformed body.
    failed(&server, "/attestation/result", &json!({"id": "AAAA"})).await;
    failed(
        &server,
        "/attestation/options",
        &json!({"displayName": "x"}),
    )
    .await;

    // No such user.
    failed(
        &server,
        "/assertion/options",
        &json!({"username": "nobody"}),
    )
    .await;

    // An assertion with the wrong origin fails; the registration it needs is done first.
    let options = ok(
        &server,
        "/attestation/options",
        &json!({"username": "carol"}),
    )
    .await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    ok(&server, "/attestation/result", &response).await;
    let options = ok(&server, "/assertion/options", &json!({"username": "carol"})).await;
    let assertion = credential
        .assert(&challenge(&options), "https://evil.example")
        .sign_count(1)
        .build()
        .to_json();
    failed(&server, "/assertion/result", &assertion).await;
    server.stop().await;
}
