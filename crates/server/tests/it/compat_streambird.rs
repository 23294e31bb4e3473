//! The Streambird dialect: the documented requests replayed with real credentials, the
//! documented answers checked field by field, and a credential registered through Streambird
//! signing in through the native API.

use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, challenge, finish_authentication, new_credential, ok, set_settings,
    ORIGIN,
};
use crate::common::{error_body, Server};

/// Calls a Streambird route with `Authorization: Bearer <key>`.
async fn call(
    server: &Server,
    method: reqwest::Method,
    key: &str,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = server
        .client
        .request(method, server.url(path))
        .header("authorization", format!("Bearer {key}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

async fn post(server: &Server, path: &str, body: &Value) -> reqwest::Response {
    let key = server.key.expose().to_owned();
    call(server, reqwest::Method::POST, &key, path, Some(body)).await
}

/// The members of a JSON object, sorted.
pub(crate) fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

async fn turn_on(server: &Server) {
    turn_on_dialect(server, "streambird").await;
}

/// Turns a compatibility dialect on for the default tenant (default settings otherwise).
pub(crate) async fn turn_on_dialect(server: &Server, dialect: &str) {
    set_settings(
        server,
        &passkeyd::settings::TenantSettings {
            compat: vec![dialect.to_owned()],
            ..passkeyd::settings::TenantSettings::default()
        },
    )
    .await;
}

#[tokio::test]
async fn off_by_default_and_keyed_with_a_bearer_secret_key() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let body = json!({"email": "ada@example.com"});

    // Off: 404 with a valid key.
    let off = post(&server, "/v1/auth/users/create", &body).await;
    assert_eq!(error_body(off, 404).await["code"], "not_found");

    turn_on(&server).await;
    // No key, a wrong key, or the key in X-Api-Key: 401 with WWW-Authenticate.
    for response in [
        server
            .client
            .post(server.url("/v1/auth/users/create"))
            .json(&body)
            .send()
            .await
            .unwrap(),
        call(
            &server,
            reqwest::Method::POST,
            "sk_nothing",
            "/v1/auth/users/create",
            Some(&body),
        )
        .await,
        server
            .client
            .post(server.url("/v1/auth/users/create"))
            .header("x-api-key", server.key.expose())
            .json(&body)
            .send()
            .await
            .unwrap(),
    ] {
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(error_body(response, 401).await["code"], "unauthenticated");
    }
    server.stop().await;
}

#[tokio::test]
async fn documented_flow_end_to_end_and_native_sign_in() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;

    // POST /v1/auth/users/create
    let user = ok(post(
        &server,
        "/v1/auth/users/create",
        &json!({"email": "ada@example.com"}),
    )
    .await)
    .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("user_"), "{user}");
    assert_eq!(user["email"], "ada@example.com");

    // POST /v1/auth/webauthn/registrations/begin
    let begun = ok(post(
        &server,
        "/v1/auth/webauthn/registrations/begin",
        &json!({"domain": "localhost", "user_id": user_id, "authenticator_type": "platform"}),
    )
    .await)
    .await;
    assert_eq!(
        keys(&begun),
        ["public_key_credential_creation_options", "user_id"]
    );
    assert_eq!(begun["user_id"], user_id.as_str());
    let options = &begun["public_key_credential_creation_options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "ada@example.com");
    assert_eq!(
        options["authenticatorSelection"]["authenticatorAttachment"],
        "platform"
    );

    // POST /v1/auth/webauthn/registrations/create, as the page's example sends it.
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let create = json!({"public_key_credential": response, "user_id": user_id});
    let created = ok(post(&server, "/v1/auth/webauthn/registrations/create", &create).await).await;
    assert_eq!(keys(&created), ["user_id", "webauthn_credential_id"]);
    assert_eq!(created["user_id"], user_id.as_str());
    let credential_id = base64url_encode(&credential.id);
    assert_eq!(created["webauthn_credential_id"], credential_id.as_str());

    // An error answer: the same registration again (single use), in the native envelope.
    let again = post(&server, "/v1/auth/webauthn/registrations/create", &create).await;
    assert_eq!(error_body(again, 400).await["code"], "session_not_found");

    // POST /v1/auth/webauthn/authentication/begin
    let begun = ok(post(
        &server,
        "/v1/auth/webauthn/authentication/begin",
        &json!({"domain": "localhost", "user_id": user_id}),
    )
    .await)
    .await;
    assert_eq!(
        keys(&begun),
        ["public_key_credential_request_options", "user_id"]
    );
    let options = &begun["public_key_credential_request_options"]["publicKey"];
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["allowCredentials"][0]["id"], credential_id.as_str());

    // POST /v1/auth/webauthn/verify
    let assertion = credential
        .assert(&challenge(options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let verified = ok(post(
        &server,
        "/v1/auth/webauthn/verify",
        &json!({"public_key_credential": assertion, "session_expires_in": 60}),
    )
    .await)
    .await;
    assert_eq!(
        keys(&verified),
        [
            "session",
            "session_jwt",
            "session_token",
            "user_id",
            "webauthn_credential_id"
        ]
    );
    assert_eq!(verified["user_id"], user_id.as_str());
    assert_eq!(verified["webauthn_credential_id"], credential_id.as_str());
    assert_eq!(verified["session"]["user_id"], user_id.as_str());
    assert_eq!(
        verified["session_jwt"].as_str().unwrap().split('.').count(),
        3
    );

    // The same credential signs in through the native API.
    let key = server.key.expose().to_owned();
    let (session, options) =
        begin_authentication(&server, &key, json!({ "userId": user_id })).await;
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(2)
        .build()
        .to_json();
    let native = ok(finish_authentication(&server, &key, &session, assertion).await).await;
    assert_eq!(native["verified"], true);
    assert_eq!(native["userId"], user_id.as_str());
    assert_eq!(native["credentialId"], credential_id.as_str());

    // DELETE /v1/auth/users/webauthn_credentials/{id}/delete
    let deleted = ok(call(
        &server,
        reqwest::Method::DELETE,
        &key,
        &format!("/v1/auth/users/webauthn_credentials/{credential_id}/delete"),
        None,
    )
    .await)
    .await;
    assert_eq!(keys(&deleted), ["message", "user_id"]);
    assert_eq!(deleted["user_id"], user_id.as_str());
    let gone = call(
        &server,
        reqwest::Method::DELETE,
        &key,
        &format!("/v1/auth/users/webauthn_credentials/{credential_id}/delete"),
        None,
    )
    .await;
    assert_eq!(error_body(gone, 404).await["code"], "not_found");
    assert!(base64url_decode(&credential_id).is_ok());
    server.stop().await;
}

#[tokio::test]
async fn documented_errors_are_the_native_envelope() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;

    // Another domain than the tenant's RP ID.
    let user = ok(post(&server, "/v1/auth/users/create", &json!({})).await).await;
    let user_id = user["id"].as_str().unwrap();
    let wrong = post(
        &server,
        "/v1/auth/webauthn/registrations/begin",
        &json!({"domain": "evil.example", "user_id": user_id}),
    )
    .await;
    assert_eq!(error_body(wrong, 400).await["code"], "invalid_request");

    // An unknown user.
    let unknown = post(
        &server,
        "/v1/auth/webauthn/registrations/begin",
        &json!({"user_id": "user_nobody"}),
    )
    .await;
    assert_eq!(error_body(unknown, 404).await["code"], "not_found");

    // A registration finished for another user than it was begun for.
    let other = ok(post(&server, "/v1/auth/users/create", &json!({})).await).await;
    let begun = ok(post(
        &server,
        "/v1/auth/webauthn/registrations/begin",
        &json!({"user_id": user_id}),
    )
    .await)
    .await;
    let options = &begun["public_key_credential_creation_options"]["publicKey"];
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let mismatch = post(
        &server,
        "/v1/auth/webauthn/registrations/create",
        &json!({"public_key_credential": response, "user_id": other["id"]}),
    )
    .await;
    assert_eq!(error_body(mismatch, 400).await["code"], "invalid_request");

    // The body is required.
    let missing = post(&server, "/v1/auth/webauthn/verify", &json!({})).await;
    assert_eq!(error_body(missing, 400).await["code"], "invalid_request");
    server.stop().await;
}

/// The finishes carry only the credential, and the session is found by its challenge in the
/// shared store: a ceremony begun on one node finishes on another.
#[tokio::test]
async fn a_ceremony_begun_on_one_node_finishes_on_another() {
    let dir = TempDir::new().unwrap();
    let key = crate::common::secret_key();
    let a = Server::start_with_key(dir.path(), key.clone()).await;
    let b = Server::start_with_key(dir.path(), key).await;
    turn_on(&a).await;

    let user = ok(post(
        &a,
        "/v1/auth/users/create",
        &json!({"email": "kim@example.com"}),
    )
    .await)
    .await;
    let user_id = user["id"].as_str().unwrap();
    let begun = ok(post(
        &a,
        "/v1/auth/webauthn/registrations/begin",
        &json!({"user_id": user_id}),
    )
    .await)
    .await;
    let options = &begun["public_key_credential_creation_options"]["publicKey"];
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let created = ok(post(
        &b,
        "/v1/auth/webauthn/registrations/create",
        &json!({"public_key_credential": response, "user_id": user_id}),
    )
    .await)
    .await;

    let begun = ok(post(
        &b,
        "/v1/auth/webauthn/authentication/begin",
        &json!({"user_id": user_id}),
    )
    .await)
    .await;
    let options = &begun["public_key_credential_request_options"]["publicKey"];
    let assertion = credential
        .assert(&challenge(options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let body = json!({"public_key_credential": assertion});
    let verified = ok(post(&a, "/v1/auth/webauthn/verify", &body).await).await;
    assert_eq!(
        verified["webauthn_credential_id"],
        created["webauthn_credential_id"]
    );
    // Single use across nodes too.
    let again = error_body(post(&b, "/v1/auth/webauthn/verify", &body).await, 400).await;
    assert_eq!(again["code"], "session_not_found");
    a.stop().await;
    b.stop().await;
}
