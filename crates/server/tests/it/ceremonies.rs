//! The native ceremony API end to end: the real server, a real SQLite file, and passkeyd's
//! software authenticator producing real signatures.

use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use passkeyd_webauthn::test_util::Credential;
use passkeyd_webauthn::CoseAlgorithm;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::common::{error_body, Server};

pub(crate) const ORIGIN: &str = "http://localhost:8080";

/// Calls the API with a key.
pub(crate) async fn post(
    server: &Server,
    key: &str,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Begins a registration; returns (session, creation options).
pub(crate) async fn begin_registration(server: &Server, key: &str, body: Value) -> (String, Value) {
    let answer = ok(post(server, key, "/webauthn/registration/request", &body).await).await;
    (
        answer["session"].as_str().unwrap().to_owned(),
        answer["publicKeyCredentialCreationOptions"].clone(),
    )
}

pub(crate) fn challenge(options: &Value) -> Vec<u8> {
    base64url_decode(options["challenge"].as_str().unwrap()).unwrap()
}

/// A software authenticator's credential for the options' user, created by the response it
/// returns.
pub(crate) fn new_credential(options: &Value) -> Credential {
    let mut credential =
        Credential::new(CoseAlgorithm::Es256, options["rp"]["id"].as_str().unwrap());
    credential.user_handle = base64url_decode(options["user"]["id"].as_str().unwrap()).unwrap();
    credential
}

/// Registers a new passkey for `user_name` with the secret key; returns the credential and the
/// finish answer.
pub(crate) async fn register(server: &Server, user_name: &str) -> (Credential, Value) {
    let key = server.key.expose().to_owned();
    let (session, options) =
        begin_registration(server, &key, json!({ "userName": user_name })).await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let answer = ok(post(
        server,
        &key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    (credential, answer)
}

/// Begins an authentication; returns (session, request options).
pub(crate) async fn begin_authentication(
    server: &Server,
    key: &str,
    body: Value,
) -> (String, Value) {
    let answer = ok(post(server, key, "/webauthn/authentication/request", &body).await).await;
    (
        answer["session"].as_str().unwrap().to_owned(),
        answer["publicKeyCredentialRequestOptions"].clone(),
    )
}

pub(crate) async fn finish_authentication(
    server: &Server,
    key: &str,
    session: &str,
    response: Value,
) -> reqwest::Response {
    post(
        server,
        key,
        "/webauthn/authentication/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await
}

/// Signs in with `credential`, discoverable; returns the finish answer.
pub(crate) async fn sign_in(
    server: &Server,
    credential: &Credential,
    sign_count: u32,
) -> reqwest::Response {
    let key = server.key.expose().to_owned();
    let (session, options) = begin_authentication(server, &key, json!({})).await;
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(sign_count)
        .build()
        .to_json();
    finish_authentication(server, &key, &session, assertion).await
}

async fn get(server: &Server, path: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn register_then_sign_in_with_and_without_a_user_name() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();

    let (credential, registered) = register(&server, "alice@example.com").await;
    assert_eq!(registered["verified"], true);
    assert_eq!(registered["userName"], "alice@example.com");
    assert_eq!(registered["credentialId"], base64url_encode(&credential.id));
    assert_eq!(registered["attestationType"], "none");
    assert_eq!(registered["userVerified"], true);
    let user_id = registered["userId"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("u_"), "{user_id}");

    // Identified: allowCredentials lists the user's credential.
    let (session, options) =
        begin_authentication(&server, &key, json!({ "userName": "alice@example.com" })).await;
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
    let signed_in = ok(finish_authentication(&server, &key, &session, assertion).await).await;
    assert_eq!(signed_in["userId"], user_id.as_str());
    assert_eq!(signed_in["userName"], "alice@example.com");
    assert_eq!(signed_in["userVerified"], true);
    assert!(signed_in["token"].as_str().unwrap().split('.').count() == 3);

    // Discoverable: no user named, found by the user handle.
    let signed_in = ok(sign_in(&server, &credential, 2).await).await;
    assert_eq!(signed_in["userId"], user_id.as_str());

    // The credential records its use.
    let list = ok(get(&server, &format!("/users/{user_id}/credentials")).await).await;
    let stored = &list["credentials"][0];
    assert_eq!(stored["credentialId"], base64url_encode(&credential.id));
    assert!(stored["lastUsedAt"].is_string());
    assert_eq!(stored["aaguid"], "70617373-6b65-7964-2d74-6573746b6579");
    server.stop().await;
}

#[tokio::test]
async fn a_session_is_single_use_even_after_a_failure() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (credential, _) = register(&server, "bob").await;

    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let good = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(5)
        .build()
        .to_json();
    let bad = credential
        .assert(&challenge(&options), "https://evil.example")
        .sign_count(5)
        .build()
        .to_json();
    let failed = error_body(
        finish_authentication(&server, &key, &session, bad).await,
        400,
    )
    .await;
    assert_eq!(failed["code"], "origin_mismatch");
    // The failure consumed the session: the good response cannot use it now.
    let replay = error_body(
        finish_authentication(&server, &key, &session, good.clone()).await,
        400,
    )
    .await;
    assert_eq!(replay["code"], "session_not_found");
    // And a success cannot be replayed either.
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let good = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(6)
        .build()
        .to_json();
    ok(finish_authentication(&server, &key, &session, good.clone()).await).await;
    let replay = error_body(
        finish_authentication(&server, &key, &session, good).await,
        400,
    )
    .await;
    assert_eq!(replay["code"], "session_not_found");
    server.stop().await;
}

#[tokio::test]
async fn sessions_expire_with_the_ceremony_timeout() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (credential, _) = register(&server, "carol").await;
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let timeout_secs = options["timeout"].as_i64().unwrap() / 1000;
    server.clock.advance(timeout_secs + 1);
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let expired = error_body(
        finish_authentication(&server, &key, &session, assertion).await,
        410,
    )
    .await;
    assert_eq!(expired["code"], "session_expired");
    server.stop().await;
}

#[tokio::test]
async fn a_credential_cannot_be_registered_twice_or_claimed_by_another_user() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (credential, first) = register(&server, "dave").await;

    // Dave again: excludeCredentials lists it, and the verifier refuses it.
    let (session, options) = begin_registration(&server, &key, json!({ "userName": "dave" })).await;
    assert_eq!(
        options["excludeCredentials"][0]["id"],
        base64url_encode(&credential.id)
    );
    let again = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let refused = error_body(
        post(
            &server,
            &key,
            "/webauthn/registration/response",
            &json!({"session": session, "publicKeyCredential": again}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(refused["code"], "credential_exists");

    // Eve presents Dave's credential ID with her own key: the unique index refuses it.
    let (session, options) = begin_registration(&server, &key, json!({ "userName": "eve" })).await;
    let mut stolen = new_credential(&options);
    stolen.id.clone_from(&credential.id);
    let response = stolen
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let refused = error_body(
        post(
            &server,
            &key,
            "/webauthn/registration/response",
            &json!({"session": session, "publicKeyCredential": response}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(refused["code"], "credential_exists");
    // Eve was not created, and Dave's credential still signs in as Dave.
    let eve = get(&server, "/users/eve").await;
    assert_eq!(eve.status(), 404);
    let signed_in = ok(sign_in(&server, &credential, 1).await).await;
    assert_eq!(signed_in["userId"], first["userId"]);
    server.stop().await;
}

#[tokio::test]
async fn a_failed_sign_in_changes_nothing_stored() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (credential, registered) = register(&server, "frank").await;
    let user_id = registered["userId"].as_str().unwrap();
    ok(sign_in(&server, &credential, 10).await).await;
    let before = ok(get(&server, &format!("/users/{user_id}/credentials")).await).await;

    // A bad signature with a higher counter must not move the stored counter.
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let forged = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1000)
        .edit_signature(|s| {
            let last = s.len() - 1;
            s[last] ^= 1;
        })
        .build()
        .to_json();
    let failed = error_body(
        finish_authentication(&server, &key, &session, forged).await,
        400,
    )
    .await;
    assert_eq!(failed["code"], "signature_invalid");
    let after = ok(get(&server, &format!("/users/{user_id}/credentials")).await).await;
    assert_eq!(before, after);
    // Counter 11 still works (the forged 1000 was not stored), 11 again is a regression.
    ok(sign_in(&server, &credential, 11).await).await;
    let regressed = error_body(sign_in(&server, &credential, 11).await, 400).await;
    assert_eq!(regressed["code"], "counter_regression");
    server.stop().await;
}

#[tokio::test]
async fn another_users_credential_cannot_sign_in_as_the_named_user() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (_grace, _) = register(&server, "grace").await;
    let (mallory, _) = register(&server, "mallory").await;
    let (session, options) =
        begin_authentication(&server, &key, json!({ "userName": "grace" })).await;
    let assertion = mallory
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let refused = error_body(
        finish_authentication(&server, &key, &session, assertion).await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "credential_not_allowed");
    server.stop().await;
}

#[tokio::test]
async fn users_and_credentials_can_be_read_renamed_and_deleted() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (session, options) = begin_registration(
        &server,
        &key,
        json!({ "userId": "app-user-7", "userName": "heidi", "userDisplayName": "Heidi H." }),
    )
    .await;
    assert_eq!(options["user"]["displayName"], "Heidi H.");
    // The user handle is random, never the app's ID.
    assert_ne!(options["user"]["id"], base64url_encode(b"app-user-7"));
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    ok(post(
        &server,
        &key,
        "/webauthn/registration/response",
        &json!({"session": session, "publicKeyCredential": response, "friendlyName": "Laptop"}),
    )
    .await)
    .await;

    let user = ok(get(&server, "/users/app-user-7").await).await;
    assert_eq!(user["userName"], "heidi");
    assert_eq!(user["credentialCount"], 1);
    let id = base64url_encode(&credential.id);
    let list = ok(get(&server, "/users/app-user-7/credentials").await).await;
    assert_eq!(list["credentials"][0]["friendlyName"], "Laptop");

    let renamed = server
        .client
        .patch(server.url(&format!("/credentials/{id}")))
        .header("x-api-key", &key)
        .json(&json!({ "friendlyName": "Work laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(renamed).await["friendlyName"], "Work laptop");
    let bad_name = server
        .client
        .patch(server.url(&format!("/credentials/{id}")))
        .header("x-api-key", &key)
        .json(&json!({ "friendlyName": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(bad_name, 400).await["code"], "invalid_request");

    let deleted = server
        .client
        .delete(server.url(&format!("/credentials/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = server
        .client
        .delete(server.url(&format!("/credentials/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(again, 404).await["code"], "not_found");
    // The deleted credential no longer signs in.
    let refused = error_body(sign_in(&server, &credential, 1).await, 400).await;
    assert_eq!(refused["code"], "credential_unknown");

    let deleted = server
        .client
        .delete(server.url("/users/app-user-7"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(get(&server, "/users/app-user-7").await.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_client_cannot_weaken_the_tenants_settings() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let mut settings = passkeyd::settings::TenantSettings {
        user_verification: passkeyd_webauthn::json::UserVerificationRequirement::Required,
        ..Default::default()
    };
    settings.attestation = passkeyd_webauthn::json::AttestationConveyancePreference::Direct;
    set_settings(&server, &settings).await;
    let (session, options) = begin_registration(
        &server,
        &key,
        json!({ "userName": "ivan", "options": { "userVerification": "discouraged", "attestation": "none" } }),
    )
    .await;
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["attestation"], "direct");
    // The finish enforces it: a response without UV is refused.
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ORIGIN)
        .user_verified(false)
        .build()
        .to_json();
    let refused = error_body(
        post(
            &server,
            &key,
            "/webauthn/registration/response",
            &json!({"session": session, "publicKeyCredential": response}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "user_verification_required");

    settings.allow_request_overrides = false;
    set_settings(&server, &settings).await;
    let refused = error_body(
        post(
            &server,
            &key,
            "/webauthn/registration/request",
            &json!({ "userName": "ivan", "options": { "hints": ["security-key"] } }),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(refused["code"], "forbidden");
    server.stop().await;
}

/// Replaces the default tenant's settings, as an operator would.
pub(crate) async fn set_settings(server: &Server, settings: &passkeyd::settings::TenantSettings) {
    let tenant = passkeyd::tenant::TenantId::default_tenant();
    let mut stored = server.state.store.tenant(&tenant).await.unwrap();
    let demo = passkeyd::settings::TenantSettings::from_map(&stored.settings)
        .unwrap()
        .demo_publishable_key;
    let mut settings = settings.clone();
    settings.demo_publishable_key = demo;
    stored.settings = settings.to_map();
    server
        .state
        .store
        .update_tenant_settings(&tenant, &stored.settings)
        .await
        .unwrap();
}

#[tokio::test]
async fn failed_sign_ins_never_lock_the_user() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (credential, registered) = register(&server, "judy").await;
    // Far more failures than any lock would allow, with the user's own credential ID: a wrong
    // signature is not a guess, so none of them counts against judy.
    for _ in 0..120 {
        let (session, options) =
            begin_authentication(&server, &key, json!({ "userName": "judy" })).await;
        let bad = credential
            .assert(&challenge(&options), "https://evil.example")
            .build()
            .to_json();
        let refused = error_body(
            finish_authentication(&server, &key, &session, bad).await,
            400,
        )
        .await;
        assert_eq!(refused["code"], "origin_mismatch");
    }
    let judy = server
        .state
        .store
        .user(
            &passkeyd::tenant::TenantId::default_tenant(),
            registered["userId"].as_str().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(judy.failed_attempts, 0);
    let signed_in = sign_in(&server, &credential, 1).await;
    assert_eq!(signed_in.status(), 200);
    server.stop().await;
}
