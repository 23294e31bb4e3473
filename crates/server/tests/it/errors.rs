//! Every error path answers the DESIGN.md §5 envelope with an exact status and code, never a
//! 500, and changes nothing stored; then the hostile cases of SECURITY.md §6 that reach the
//! HTTP layer.

use aws_lc_rs::rand::SystemRandom;
use passkeyd::bootstrap::new_key_record;
use passkeyd::store::StoreError;
use passkeyd::tenant::TenantId;
use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::Credential;
use passkeyd_webauthn::CoseAlgorithm;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::browser_direct::{add_publishable_key, ACME_ORIGIN};
use crate::ceremonies::{
    begin_authentication, begin_registration, challenge, finish_authentication, new_credential, ok,
    post, register, sign_in, ORIGIN,
};
use crate::common::{envelope, secret_key, Server};

const REGISTER: &str = "/webauthn/registration/request";
const REGISTERED: &str = "/webauthn/registration/response";
const AUTHENTICATE: &str = "/webauthn/authentication/request";
const AUTHENTICATED: &str = "/webauthn/authentication/response";

/// Posts raw bytes as JSON.
async fn post_raw(server: &Server, key: &str, path: &str, body: &[u8]) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
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

/// The stored state the API shows of a user: the user (without the failure count, which
/// failed ceremonies are meant to move) and their credentials.
async fn snapshot(server: &Server, user_id: &str) -> (Value, Value) {
    let mut user = ok(get(server, &format!("/users/{user_id}")).await).await;
    user.as_object_mut().unwrap().remove("failedAttempts");
    let credentials = ok(get(server, &format!("/users/{user_id}/credentials")).await).await;
    (user, credentials)
}

async fn user_exists(server: &Server, tenant: &TenantId, name: &str) -> bool {
    match server.state.store.user_by_name(tenant, name).await {
        Ok(_) => true,
        Err(StoreError::NotFound) => false,
        Err(e) => panic!("{e}"),
    }
}

/// Finishes a registration with `publicKeyCredential` and returns the error code, checking the
/// status.
async fn finish_registration_code(
    server: &Server,
    key: &str,
    session: &str,
    credential: Value,
    status: u16,
) -> String {
    envelope(
        post(
            server,
            key,
            REGISTERED,
            &json!({ "session": session, "publicKeyCredential": credential }),
        )
        .await,
        status,
    )
    .await
}

#[tokio::test]
async fn malformed_bodies_are_invalid_requests() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (credential, registered) = register(&server, "alice").await;
    let alice_id = registered["userId"].as_str().unwrap();
    let credential_path = format!("/credentials/{}", base64url_encode(&credential.id));
    // Nesting deeper than the JSON parser's recursion limit: refused, not a stack overflow.
    let deep = format!(
        r#"{{"userName":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: &[(&str, &[u8])] = &[
        (REGISTER, b""),
        (REGISTER, b"{"),
        (REGISTER, b"null"),
        (REGISTER, b"[]"),
        (REGISTER, b"\"alice\""),
        (REGISTER, br#"{"userName":"a"} trailing"#),
        (REGISTER, br#"{"userName":5}"#),
        (REGISTER, br#"{"userName":["a"]}"#),
        (REGISTER, br#"{"userName":"a","isAdmin":true}"#),
        (REGISTER, br#"{"userName":"a","userName":"b"}"#),
        (
            REGISTER,
            br#"{"userName":"a","options":{"userVerification":"sometimes"}}"#,
        ),
        (
            REGISTER,
            br#"{"userName":"a","options":{"challenge":"AAAA"}}"#,
        ),
        (REGISTER, b"{\"userName\":\"\xff\xfe\"}"),
        (REGISTERED, b"{}"),
        (REGISTERED, br#"{"session":"s"}"#),
        (REGISTERED, br#"{"publicKeyCredential":{}}"#),
        (REGISTERED, br#"{"session":5,"publicKeyCredential":{}}"#),
        (
            REGISTERED,
            br#"{"session":"s","publicKeyCredential":{},"challenge":"AAAA"}"#,
        ),
        (REGISTERED, deep.as_bytes()),
        (AUTHENTICATE, br#"{"userId":[]}"#),
        (AUTHENTICATE, br#"{"rpId":"evil.example"}"#),
        (AUTHENTICATE, br#"{"options":{"hints":"hybrid"}}"#),
        (AUTHENTICATE, br#"{"options":{"allowCredentials":[]}}"#),
        (AUTHENTICATED, b"{}"),
        (
            AUTHENTICATED,
            br#"{"session":null,"publicKeyCredential":{}}"#,
        ),
        ("/registration-tokens", b"{}"),
        ("/registration-tokens", br#"{"userName":null}"#),
        ("/tokens/verify", b"{}"),
        ("/tokens/verify", br#"{"token":1}"#),
        ("/tokens/verify", br#"{"token":"t","tenant":"acme"}"#),
    ];
    for (path, body) in cases {
        let code = envelope(post_raw(&server, &key, path, body).await, 400).await;
        assert_eq!(
            code,
            "invalid_request",
            "{path} {}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
    }
    for body in [&b"{\"friendlyName\":3}"[..], b"{\"name\":\"x\"}", b"[1]"] {
        let response = server
            .client
            .patch(server.url(&credential_path))
            .header("x-api-key", &key)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(envelope(response, 400).await, "invalid_request");
    }
    // JSON without a JSON content type.
    let response = server
        .client
        .post(server.url(REGISTER))
        .header("x-api-key", &key)
        .header("content-type", "text/plain")
        .body(r#"{"userName":"bob"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 400).await, "invalid_request");

    // None of it created a user or touched alice.
    for name in ["a", "b", "bob"] {
        assert!(!user_exists(&server, &TenantId::default_tenant(), name).await);
    }
    let list = ok(get(&server, &format!("/users/{alice_id}")).await).await;
    assert_eq!(list["credentialCount"], 1);
    server.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_and_those_under_it_are_judged() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let limit = passkeyd::BODY_LIMIT;
    for path in [REGISTER, REGISTERED, AUTHENTICATED, "/tokens/verify"] {
        let body = format!(r#"{{"userName":"{}"}}"#, "a".repeat(limit));
        let code = envelope(post_raw(&server, &key, path, body.as_bytes()).await, 413).await;
        assert_eq!(code, "payload_too_large", "{path}");
    }
    // Just under the limit: read, then refused for what it says.
    let body = format!(r#"{{"userName":"{}"}}"#, "a".repeat(limit - 100));
    let code = envelope(
        post_raw(&server, &key, REGISTER, body.as_bytes()).await,
        400,
    )
    .await;
    assert_eq!(code, "invalid_request");
    let (session, _) = begin_registration(&server, &key, json!({ "userName": "big" })).await;
    let body = format!(
        r#"{{"session":"{session}","publicKeyCredential":{{"id":"{}"}}}}"#,
        "A".repeat(limit - 200)
    );
    let code = envelope(
        post_raw(&server, &key, REGISTERED, body.as_bytes()).await,
        400,
    )
    .await;
    assert_eq!(code, "response_malformed");
    assert!(!user_exists(&server, &TenantId::default_tenant(), "big").await);
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_not_found_and_wrong_methods_not_allowed() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose();
    let send = |method: reqwest::Method, path: &str| {
        server
            .client
            .request(method, server.url(path))
            .header("x-api-key", key)
            .send()
    };
    use reqwest::Method;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/webauthn/registration"),
        (Method::POST, "/webauthn/registration/request/extra"),
        (Method::GET, "/users/alice/credentials/extra"),
        (Method::GET, "/credentials"),
        (Method::POST, "/admin/tenants"),
        // No conformance-tool or debug routes (SECURITY.md case 60).
        (Method::POST, "/attestation/options"),
        (Method::POST, "/attestation/result"),
        (Method::POST, "/assertion/options"),
        (Method::POST, "/assertion/result"),
    ] {
        assert_eq!(
            envelope(send(method.clone(), path).await.unwrap(), 404).await,
            "not_found",
            "{method} {path}"
        );
    }
    for (method, path) in [
        (Method::GET, REGISTER),
        (Method::PUT, REGISTERED),
        (Method::DELETE, AUTHENTICATE),
        (Method::GET, AUTHENTICATED),
        (Method::POST, "/users/alice"),
        (Method::PUT, "/credentials/AAAA"),
        (Method::GET, "/tokens/verify"),
        (Method::POST, "/.well-known/jwks.json"),
    ] {
        assert_eq!(
            envelope(send(method.clone(), path).await.unwrap(), 405).await,
            "method_not_allowed",
            "{method} {path}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn missing_garbage_and_revoked_keys_are_unauthenticated() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let default = TenantId::default_tenant();
    let rng = SystemRandom::new();
    // A second secret key and a publishable key, both revoked.
    let revoked = secret_key();
    let record = new_key_record(&revoked, None, &rng, 1_700_000_000).unwrap();
    server
        .state
        .store
        .insert_api_key(&default, &record)
        .await
        .unwrap();
    let revoked_pk = add_publishable_key(&server, "default").await;
    for prefix in [
        revoked.prefix().to_owned(),
        passkeyd::api_keys::ApiKeySecret::parse(&revoked_pk)
            .unwrap()
            .prefix()
            .to_owned(),
    ] {
        server
            .state
            .store
            .revoke_api_key(&default, &prefix, 1_700_000_001)
            .await
            .unwrap();
    }
    server.add_tenant("acme").await;
    let wrong_secret = format!("{}_{}", server.key.prefix(), "A".repeat(43));
    let keys: [Option<&str>; 7] = [
        None,
        Some(""),
        Some("garbage"),
        Some("sk_"),
        Some(wrong_secret.as_str()),
        Some(revoked.expose()),
        Some(revoked_pk.as_str()),
    ];
    let bodies = [
        (REGISTER, json!({ "userName": "eve" })),
        (
            REGISTERED,
            json!({ "session": "s", "publicKeyCredential": {} }),
        ),
        (AUTHENTICATE, json!({})),
        (
            AUTHENTICATED,
            json!({ "session": "s", "publicKeyCredential": {} }),
        ),
        ("/registration-tokens", json!({ "userName": "eve" })),
        ("/tokens/verify", json!({ "token": "t" })),
    ];
    for key in keys {
        for (path, body) in &bodies {
            let mut request = server.client.post(server.url(path)).json(body);
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            let code = envelope(request.send().await.unwrap(), 401).await;
            assert_eq!(code, "unauthenticated", "{key:?} {path}");
        }
        for path in ["/users/alice", "/users/alice/credentials"] {
            let mut request = server.client.get(server.url(path));
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            let code = envelope(request.send().await.unwrap(), 401).await;
            assert_eq!(code, "unauthenticated", "{key:?} {path}");
        }
    }
    // A non-UTF-8 key header.
    let response = server
        .client
        .post(server.url(AUTHENTICATE))
        .header(
            "x-api-key",
            reqwest::header::HeaderValue::from_bytes(b"sk_\xff\xfe").unwrap(),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 401).await, "unauthenticated");

    // A valid key naming another tenant, on every keyed route.
    for (path, body) in &bodies {
        let response = server
            .client
            .post(server.url(path))
            .header("x-api-key", server.key.expose())
            .header("x-tenant-id", "acme")
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(envelope(response, 403).await, "tenant_mismatch", "{path}");
    }
    assert!(!user_exists(&server, &default, "eve").await);
    server.stop().await;
}

#[tokio::test]
async fn sessions_are_bound_to_their_ceremony_and_tenant() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let acme = server.add_tenant("acme").await;
    let (alice, _) = register(&server, "alice").await;

    for session in ["", "made-up", &"A".repeat(10_000)] {
        for path in [REGISTERED, AUTHENTICATED] {
            let response = post(
                &server,
                &key,
                path,
                &json!({ "session": session, "publicKeyCredential": {} }),
            )
            .await;
            assert_eq!(envelope(response, 400).await, "session_not_found");
        }
    }

    // A registration session at the authentication finish: refused, and used up.
    let (session, options) = begin_registration(&server, &key, json!({ "userName": "bob" })).await;
    let assertion = alice
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let code = envelope(
        finish_authentication(&server, &key, &session, assertion).await,
        400,
    )
    .await;
    assert_eq!(code, "invalid_request");
    let bob = new_credential(&options);
    let response = bob.register(&challenge(&options), ORIGIN).build().to_json();
    let code = finish_registration_code(&server, &key, &session, response, 400).await;
    assert_eq!(code, "session_not_found");

    // An authentication session at the registration finish.
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let response = bob.register(&challenge(&options), ORIGIN).build().to_json();
    let code = finish_registration_code(&server, &key, &session, response, 400).await;
    assert_eq!(code, "invalid_request");
    let assertion = alice
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let code = envelope(
        finish_authentication(&server, &key, &session, assertion).await,
        400,
    )
    .await;
    assert_eq!(code, "session_not_found");

    // A session of the default tenant, finished with acme's key, is unknown there (and
    // acme's attempt does not use it up).
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let assertion = alice
        .assert(&challenge(&options), ORIGIN)
        .sign_count(2)
        .build()
        .to_json();
    let code = envelope(
        finish_authentication(&server, acme.expose(), &session, assertion.clone()).await,
        400,
    )
    .await;
    assert_eq!(code, "session_not_found");
    ok(finish_authentication(&server, &key, &session, assertion).await).await;
    assert!(!user_exists(&server, &TenantId::default_tenant(), "bob").await);
    server.stop().await;
}

#[tokio::test]
async fn names_must_be_bounded_printable_text() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let long = "a".repeat(257);
    let long_multibyte = "é".repeat(129);
    let bad_names = [
        "",
        "   ",
        long.as_str(),
        long_multibyte.as_str(),
        "nul\u{0}byte",
        "line\nbreak",
        "carriage\rreturn",
        "tab\tbed",
        "del\u{7f}",
        "c1\u{85}control",
    ];
    for name in bad_names {
        for body in [
            json!({ "userName": name }),
            json!({ "userName": "fine", "userDisplayName": name }),
        ] {
            let code = envelope(post(&server, &key, REGISTER, &body).await, 400).await;
            assert_eq!(code, "invalid_request", "{body}");
        }
        let code = envelope(
            post(&server, &key, AUTHENTICATE, &json!({ "userName": name })).await,
            400,
        )
        .await;
        assert_eq!(code, "invalid_request", "{name:?}");
        let code = envelope(
            post(
                &server,
                &key,
                "/registration-tokens",
                &json!({ "userName": name }),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(code, "invalid_request", "{name:?}");
    }
    for user_id in [String::new(), "x".repeat(129), "id\u{0}".to_owned()] {
        let code = envelope(
            post(
                &server,
                &key,
                REGISTER,
                &json!({ "userId": user_id, "userName": "fine" }),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(code, "invalid_request", "{user_id:?}");
        let code = envelope(
            post(&server, &key, AUTHENTICATE, &json!({ "userId": user_id })).await,
            400,
        )
        .await;
        assert_eq!(code, "invalid_request", "{user_id:?}");
    }
    // The limits themselves are fine: 256 bytes, in one- or two-byte characters.
    for name in ["b".repeat(256), "é".repeat(128)] {
        let (_, options) = begin_registration(&server, &key, json!({ "userName": name })).await;
        assert_eq!(options["user"]["name"], name.as_str());
    }
    begin_registration(
        &server,
        &key,
        json!({ "userId": "x".repeat(128), "userName": "c" }),
    )
    .await;

    // A bad friendly name is refused before the session is taken.
    let (session, options) = begin_registration(&server, &key, json!({ "userName": "dan" })).await;
    let dan = new_credential(&options);
    let response = dan.register(&challenge(&options), ORIGIN).build().to_json();
    let code = envelope(
        post(
            &server,
            &key,
            REGISTERED,
            &json!({ "session": session, "publicKeyCredential": response, "friendlyName": "a\nb" }),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(code, "invalid_request");
    ok(post(
        &server,
        &key,
        REGISTERED,
        &json!({ "session": session, "publicKeyCredential": response, "friendlyName": "Dan's key" }),
    )
    .await)
    .await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_credentials_fail_verification_and_use_the_session_up() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (alice, registered) = register(&server, "alice").await;
    let alice_id = registered["userId"].as_str().unwrap().to_owned();
    let before = snapshot(&server, &alice_id).await;

    let assertion = alice.assert(&[0; 32], ORIGIN).build().to_json();
    let mut no_response = assertion.clone();
    no_response.as_object_mut().unwrap().remove("response");
    let registration_cases = [
        json!(42),
        json!("a string"),
        json!(null),
        json!([]),
        json!({}),
        json!({ "id": "", "rawId": "", "type": "public-key", "response": {} }),
        no_response,
        // An authentication response at the registration finish.
        assertion,
        // Deeper than the JSON parser's recursion limit.
        serde_json::from_str::<Value>(&format!("{}{}", "[".repeat(127), "]".repeat(127))).unwrap(),
    ];
    for (i, credential) in registration_cases.into_iter().enumerate() {
        let name = format!("new-{i}");
        let (session, options) =
            begin_registration(&server, &key, json!({ "userName": name })).await;
        let code = finish_registration_code(&server, &key, &session, credential.clone(), 400).await;
        assert_eq!(code, "response_malformed", "{credential}");
        // The session is gone: even a good response cannot use it now.
        let good = new_credential(&options)
            .register(&challenge(&options), ORIGIN)
            .build()
            .to_json();
        let code = finish_registration_code(&server, &key, &session, good, 400).await;
        assert_eq!(code, "session_not_found");
        assert!(!user_exists(&server, &TenantId::default_tenant(), &name).await);
    }

    // And the other way round: registration responses and non-objects at the authentication
    // finish.
    let (_, options) = begin_registration(&server, &key, json!({ "userName": "x" })).await;
    let registration = new_credential(&options)
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    for credential in [json!(42), json!("a string"), json!({}), registration] {
        let (session, options) =
            begin_authentication(&server, &key, json!({ "userName": "alice" })).await;
        let code = envelope(
            finish_authentication(&server, &key, &session, credential.clone()).await,
            400,
        )
        .await;
        assert_eq!(code, "response_malformed", "{credential}");
        let good = alice
            .assert(&challenge(&options), ORIGIN)
            .sign_count(1)
            .build()
            .to_json();
        let code = envelope(
            finish_authentication(&server, &key, &session, good).await,
            400,
        )
        .await;
        assert_eq!(code, "session_not_found");
    }
    // A valid response whose (unsigned) extension results nest far deeper than the JSON
    // parser's recursion limit: refused, not a stack overflow.
    let (session, options) = begin_registration(&server, &key, json!({ "userName": "deep" })).await;
    let good = new_credential(&options)
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = json!({ "session": session, "publicKeyCredential": good })
        .to_string()
        .replace(
            r#""clientExtensionResults":{}"#,
            &format!(r#""clientExtensionResults":{deep}"#),
        );
    assert!(body.len() > 200_000);
    let code = envelope(
        post_raw(&server, &key, REGISTERED, body.as_bytes()).await,
        400,
    )
    .await;
    assert_eq!(code, "response_malformed");
    assert!(!user_exists(&server, &TenantId::default_tenant(), "deep").await);

    assert_eq!(snapshot(&server, &alice_id).await, before);
    server.stop().await;
}

#[tokio::test]
async fn credential_paths_are_checked_and_scoped_to_the_tenant() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let acme = server.add_tenant("acme").await;
    let (alice, registered) = register(&server, "alice").await;
    let alice_id = registered["userId"].as_str().unwrap().to_owned();
    let before = snapshot(&server, &alice_id).await;
    let id = base64url_encode(&alice.id);
    let send = |method: reqwest::Method, path: String, key: String| {
        let request = server
            .client
            .request(method.clone(), server.url(&path))
            .header("x-api-key", key);
        let request = if method == reqwest::Method::PATCH {
            request.json(&json!({ "friendlyName": "renamed" }))
        } else {
            request
        };
        request.send()
    };
    let too_long = base64url_encode(&[7; 1024]);
    for method in [reqwest::Method::PATCH, reqwest::Method::DELETE] {
        for bad in ["!!!", "a+b", "A", "%00", too_long.as_str()] {
            let response = send(method.clone(), format!("/credentials/{bad}"), key.clone())
                .await
                .unwrap();
            assert_eq!(
                envelope(response, 400).await,
                "invalid_request",
                "{method} {bad}"
            );
        }
        let unknown = base64url_encode(&[9; 32]);
        let response = send(
            method.clone(),
            format!("/credentials/{unknown}"),
            key.clone(),
        )
        .await
        .unwrap();
        assert_eq!(envelope(response, 404).await, "not_found");
        // alice's credential, addressed with another tenant's key.
        let response = send(
            method.clone(),
            format!("/credentials/{id}"),
            acme.expose().to_owned(),
        )
        .await
        .unwrap();
        assert_eq!(envelope(response, 404).await, "not_found");
    }
    for (method, path) in [
        (reqwest::Method::GET, "/users/nobody"),
        (reqwest::Method::GET, "/users/nobody/credentials"),
        (reqwest::Method::DELETE, "/users/nobody"),
    ] {
        let response = send(method.clone(), path.to_owned(), key.clone())
            .await
            .unwrap();
        assert_eq!(envelope(response, 404).await, "not_found", "{path}");
        let response = send(
            method.clone(),
            path.replace("nobody", &alice_id),
            acme.expose().to_owned(),
        )
        .await
        .unwrap();
        assert_eq!(envelope(response, 404).await, "not_found", "acme {path}");
    }
    assert_eq!(snapshot(&server, &alice_id).await, before);
    server.stop().await;
}

/// Signs in, discoverable, at the tenant of `key`.
async fn sign_in_at(
    server: &Server,
    key: &str,
    origin: &str,
    credential: &Credential,
    sign_count: u32,
) -> reqwest::Response {
    let (session, options) = begin_authentication(server, key, json!({})).await;
    let assertion = credential
        .assert(&challenge(&options), origin)
        .sign_count(sign_count)
        .build()
        .to_json();
    finish_authentication(server, key, &session, assertion).await
}

/// One step of the hostile battery: its name, the status and code it must get.
struct Expect {
    case: &'static str,
    status: u16,
    code: &'static str,
}

const fn expect(case: &'static str, status: u16, code: &'static str) -> Expect {
    Expect { case, status, code }
}

#[tokio::test]
async fn hostile_responses_are_refused_with_exact_codes_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let default = TenantId::default_tenant();
    let acme = server.add_tenant("acme").await;
    let acme = acme.expose().to_owned();
    let (alice, alice_registered) = register(&server, "alice").await;
    let (bob, bob_registered) = register(&server, "bob").await;
    let alice_id = alice_registered["userId"].as_str().unwrap().to_owned();
    let bob_id = bob_registered["userId"].as_str().unwrap().to_owned();
    // A credential that exists only in tenant acme.
    let (session, options) =
        begin_registration(&server, &acme, json!({ "userName": "carol" })).await;
    let carol = new_credential(&options);
    let response = carol
        .register(&challenge(&options), ACME_ORIGIN)
        .build()
        .to_json();
    ok(post(
        &server,
        &acme,
        REGISTERED,
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    // A sign-in that worked, for the replay cases, and the stored counter at 5.
    let (used_session, options) = begin_authentication(&server, &key, json!({})).await;
    let used = alice
        .assert(&challenge(&options), ORIGIN)
        .sign_count(5)
        .build()
        .to_json();
    ok(finish_authentication(&server, &key, &used_session, used.clone()).await).await;
    let before = (
        snapshot(&server, &alice_id).await,
        snapshot(&server, &bob_id).await,
    );

    // Registration: each case a new user, mallory, whom no failure may create.
    let (_, live) = begin_registration(&server, &key, json!({ "userName": "other" })).await;
    let live_challenge = challenge(&live);
    let standard_b64 = |bytes: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    type Mutation = Box<dyn Fn(&Credential, &[u8]) -> Value>;
    let registration_cases: Vec<(Expect, Mutation)> = vec![
        (
            expect("R: another RP ID", 400, "rp_id_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN)
                    .rp_id("evil.example.com")
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("R: foreign origin", 400, "origin_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, "https://evil.example").build().to_json()
            }),
        ),
        (
            expect("R: scheme upgrade", 400, "origin_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, "https://localhost:8080").build().to_json()
            }),
        ),
        (
            expect("R: another port", 400, "origin_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, "http://localhost:8081").build().to_json()
            }),
        ),
        (
            expect("R: lookalike origin", 400, "origin_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, "http://localhost:8080.evil.example")
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("R: null origin", 400, "origin_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| c.register(ch, "null").build().to_json()),
        ),
        (
            expect("R: cross-origin", 400, "cross_origin_not_allowed"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN).cross_origin(true).build().to_json()
            }),
        ),
        (
            expect("R: unexpected topOrigin", 400, "top_origin_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN)
                    .top_origin("https://evil.example")
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("R: webauthn.get type", 400, "type_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN)
                    .client_data_type("webauthn.get")
                    .build()
                    .to_json()
            }),
        ),
        (
            expect(
                "R: another session's live challenge",
                400,
                "challenge_mismatch",
            ),
            Box::new(move |c: &Credential, _: &[u8]| {
                c.register(&live_challenge, ORIGIN).build().to_json()
            }),
        ),
        (
            expect(
                "R: challenge as padded standard base64",
                400,
                "challenge_mismatch",
            ),
            Box::new(move |c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN)
                    .challenge_text(&standard_b64(ch))
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("R: duplicate challenge member", 400, "client_data_invalid"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN)
                    .push_client_data_member("challenge", "\"AAAA\"")
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("R: user presence clear", 400, "user_presence_required"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN).user_present(false).build().to_json()
            }),
        ),
        (
            expect("R: BS without BE", 400, "backup_state_invalid"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN)
                    .backup_eligible(false)
                    .backup_state(true)
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("R: fmt in the wrong case", 400, "attestation_unsupported"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN).fmt("None").build().to_json()
            }),
        ),
        (
            expect("R: id differs from rawId", 400, "credential_id_mismatch"),
            Box::new(|c: &Credential, ch: &[u8]| {
                c.register(ch, ORIGIN)
                    .id(base64url_encode(&[1; 32]))
                    .build()
                    .to_json()
            }),
        ),
    ];
    for (i, (expect, mutate)) in registration_cases.iter().enumerate() {
        let name = format!("mallory-{i}");
        let (session, options) =
            begin_registration(&server, &key, json!({ "userName": name })).await;
        let credential = new_credential(&options);
        let response = mutate(&credential, &challenge(&options));
        let code = finish_registration_code(&server, &key, &session, response, expect.status).await;
        assert_eq!(code, expect.code, "{}", expect.case);
        assert!(
            !user_exists(&server, &default, &name).await,
            "{}",
            expect.case
        );
    }
    // Someone else's credential ID with the attacker's key (case 29), and bob's own again
    // (case 28, excludeCredentials).
    let (session, options) =
        begin_registration(&server, &key, json!({ "userName": "mallory-stolen" })).await;
    let mut stolen = new_credential(&options);
    stolen.id.clone_from(&alice.id);
    let response = stolen
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let code = finish_registration_code(&server, &key, &session, response, 409).await;
    assert_eq!(code, "credential_exists");
    assert!(!user_exists(&server, &default, "mallory-stolen").await);
    let (session, options) = begin_registration(&server, &key, json!({ "userName": "bob" })).await;
    let response = bob.register(&challenge(&options), ORIGIN).build().to_json();
    let code = finish_registration_code(&server, &key, &session, response, 409).await;
    assert_eq!(code, "credential_exists");

    // Authentication, discoverable unless the case names a user.
    let other_key = Credential::new(CoseAlgorithm::Es256, "localhost").key;
    let alice_handle = alice.user_handle.clone();
    let bob_handle = bob.user_handle.clone();
    type Assertion<'a> = Box<dyn Fn(&[u8]) -> Value + 'a>;
    let a = &alice;
    let authentication_cases: Vec<(Expect, Value, Assertion<'_>)> = vec![
        (
            expect("A: another RP ID", 400, "rp_id_mismatch"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .rp_id("evil.example.com")
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: foreign origin", 400, "origin_mismatch"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, "https://evil.example")
                    .sign_count(100)
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: cross-origin", 400, "cross_origin_not_allowed"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .cross_origin(true)
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: webauthn.create type", 400, "type_mismatch"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .client_data_type("webauthn.create")
                    .build()
                    .to_json()
            }),
        ),
        (
            expect(
                "A: replayed assertion on a new session",
                400,
                "challenge_mismatch",
            ),
            json!({}),
            Box::new(|_: &[u8]| used.clone()),
        ),
        (
            expect("A: credential of another tenant", 400, "credential_unknown"),
            json!({}),
            Box::new(|ch: &[u8]| carol.assert(ch, ORIGIN).sign_count(100).build().to_json()),
        ),
        (
            expect(
                "A: user handle of another user",
                400,
                "user_handle_mismatch",
            ),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .user_handle(Some(bob_handle.clone()))
                    .build()
                    .to_json()
            }),
        ),
        (
            expect(
                "A: no user handle, discoverable",
                400,
                "user_handle_mismatch",
            ),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .user_handle(None)
                    .build()
                    .to_json()
            }),
        ),
        (
            expect(
                "A: named user, another user's passkey",
                400,
                "credential_not_allowed",
            ),
            json!({ "userName": "alice" }),
            Box::new(|ch: &[u8]| {
                bob.assert(ch, ORIGIN)
                    .sign_count(100)
                    .user_handle(Some(alice_handle.clone()))
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: id differs from rawId", 400, "credential_id_mismatch"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .raw_id(vec![9; 32])
                    .id(base64url_encode(&a.id))
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: user presence clear", 400, "user_presence_required"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .user_present(false)
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: signature bit flipped", 400, "signature_invalid"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .edit_signature(|s| {
                        let last = s.len() - 1;
                        s[last] ^= 1;
                    })
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: signed by another key", 400, "signature_invalid"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .sign_with(&other_key)
                    .build()
                    .to_json()
            }),
        ),
        (
            expect("A: psychic signature", 400, "signature_invalid"),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .signature(vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00])
                    .build()
                    .to_json()
            }),
        ),
        (
            expect(
                "A: garbage authenticator data",
                400,
                "authenticator_data_invalid",
            ),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .authenticator_data(vec![0; 3])
                    .build()
                    .to_json()
            }),
        ),
        (
            expect(
                "A: counter equal to the stored one",
                400,
                "counter_regression",
            ),
            json!({}),
            Box::new(|ch: &[u8]| a.assert(ch, ORIGIN).sign_count(5).build().to_json()),
        ),
        (
            expect("A: counter back to zero", 400, "counter_regression"),
            json!({}),
            Box::new(|ch: &[u8]| a.assert(ch, ORIGIN).sign_count(0).build().to_json()),
        ),
        (
            expect(
                "A: backup eligibility changed",
                400,
                "backup_eligibility_changed",
            ),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .backup_eligible(true)
                    .build()
                    .to_json()
            }),
        ),
        (
            expect(
                "A: user verification dropped by a credential registered with it (case 32)",
                400,
                "user_verification_required",
            ),
            json!({}),
            Box::new(|ch: &[u8]| {
                a.assert(ch, ORIGIN)
                    .sign_count(100)
                    .user_verified(false)
                    .build()
                    .to_json()
            }),
        ),
    ];
    for (expect, begin, assertion) in &authentication_cases {
        let (session, options) = begin_authentication(&server, &key, begin.clone()).await;
        let response =
            finish_authentication(&server, &key, &session, assertion(&challenge(&options))).await;
        assert_eq!(
            envelope(response, expect.status).await,
            expect.code,
            "{}",
            expect.case
        );
    }
    // A public caller: a forged signature on a named user's real credential answers what an
    // unknown name answers (the review's enumeration case), and a ceremony begun with the
    // secret key is not finished with the publishable key (the review's cross-caller case).
    let public = server
        .state
        .demo_publishable_key
        .as_deref()
        .unwrap()
        .to_owned();
    let public_post = |path: &'static str, body: Value| {
        let (server, public) = (&server, public.clone());
        async move {
            server
                .client
                .post(server.url(path))
                .header("x-api-key", public)
                .header("origin", ORIGIN)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let begun = ok(public_post(
        "/webauthn/authentication/request",
        json!({ "userId": alice_id }),
    )
    .await)
    .await;
    let options = &begun["publicKeyCredentialRequestOptions"];
    let forged = alice
        .assert(&challenge(options), ORIGIN)
        .sign_count(100)
        .sign_with(&other_key)
        .build()
        .to_json();
    let code = envelope(
        public_post(
            "/webauthn/authentication/response",
            json!({ "session": begun["session"], "publicKeyCredential": forged }),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(code, "credential_not_allowed");
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let crossed = alice
        .assert(&challenge(&options), ORIGIN)
        .sign_count(100)
        .build()
        .to_json();
    let code = envelope(
        public_post(
            "/webauthn/authentication/response",
            json!({ "session": session, "publicKeyCredential": crossed }),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(code, "session_caller_mismatch");

    // A replay of the successful finish itself (case 43).
    let code = envelope(
        finish_authentication(&server, &key, &used_session, used.clone()).await,
        400,
    )
    .await;
    assert_eq!(code, "session_not_found");

    // Nothing stored moved: no counter, no last use, no credential, no user.
    let after = (
        snapshot(&server, &alice_id).await,
        snapshot(&server, &bob_id).await,
    );
    assert_eq!(after, before);
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // And alice's counter is still 5: 6 works, submitted twice at once; exactly one wins
    // (case 43).
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let fresh = alice
        .assert(&challenge(&options), ORIGIN)
        .sign_count(6)
        .build()
        .to_json();
    let (first, second) = tokio::join!(
        finish_authentication(&server, &key, &session, fresh.clone()),
        finish_authentication(&server, &key, &session, fresh.clone())
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    let loser = if first.status() == 400 { first } else { second };
    assert_eq!(envelope(loser, 400).await, "session_not_found");
    server.stop().await;
}

#[tokio::test]
async fn one_credential_id_in_two_tenants_is_two_independent_credentials() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let acme = server.add_tenant("acme").await;
    let acme = acme.expose().to_owned();
    let (here, registered) = register(&server, "alice").await;
    let alice_id = registered["userId"].as_str().unwrap().to_owned();

    // The same credential ID, another key, at acme: allowed.
    let (session, options) =
        begin_registration(&server, &acme, json!({ "userName": "alice" })).await;
    let mut there = new_credential(&options);
    there.id.clone_from(&here.id);
    let response = there
        .register(&challenge(&options), ACME_ORIGIN)
        .build()
        .to_json();
    let at_acme = ok(post(
        &server,
        &acme,
        REGISTERED,
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    assert_eq!(at_acme["credentialId"], registered["credentialId"]);
    let acme_alice = at_acme["userId"].as_str().unwrap().to_owned();

    // Each signs in at its own tenant; counters are separate.
    ok(sign_in(&server, &here, 10).await).await;
    ok(sign_in_at(&server, &acme, ACME_ORIGIN, &there, 1).await).await;
    // The default tenant's key pair does not sign for acme's credential, even for acme's RP.
    let (session, options) = begin_authentication(&server, &acme, json!({})).await;
    let forged = here
        .assert(&challenge(&options), ACME_ORIGIN)
        .rp_id("acme.example.com")
        .user_handle(Some(there.user_handle.clone()))
        .sign_count(50)
        .build()
        .to_json();
    let code = envelope(
        finish_authentication(&server, &acme, &session, forged).await,
        400,
    )
    .await;
    assert_eq!(code, "signature_invalid");
    // Nor acme's for the default tenant's.
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let forged = there
        .assert(&challenge(&options), ORIGIN)
        .rp_id("localhost")
        .user_handle(Some(here.user_handle.clone()))
        .sign_count(50)
        .build()
        .to_json();
    let code = envelope(
        finish_authentication(&server, &key, &session, forged).await,
        400,
    )
    .await;
    assert_eq!(code, "signature_invalid");

    // Renaming and deleting at one tenant leaves the other alone.
    let id = base64url_encode(&here.id);
    let renamed = server
        .client
        .patch(server.url(&format!("/credentials/{id}")))
        .header("x-api-key", &acme)
        .json(&json!({ "friendlyName": "acme key" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(renamed).await["userId"], acme_alice.as_str());
    let list = ok(get(&server, &format!("/users/{alice_id}/credentials")).await).await;
    assert_eq!(list["credentials"][0]["friendlyName"], Value::Null);
    let deleted = server
        .client
        .delete(server.url(&format!("/credentials/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let code = envelope(sign_in(&server, &here, 11).await, 400).await;
    assert_eq!(code, "credential_unknown");
    let signed_in = ok(sign_in_at(&server, &acme, ACME_ORIGIN, &there, 2).await).await;
    assert_eq!(signed_in["userId"], acme_alice.as_str());
    server.stop().await;
}

#[tokio::test]
async fn a_registration_finish_cannot_land_on_a_user_changed_since_its_begin() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let finish = |session: String, options: Value| {
        let credential = new_credential(&options);
        let response = credential
            .register(&challenge(&options), ORIGIN)
            .build()
            .to_json();
        (
            credential,
            json!({ "session": session, "publicKeyCredential": response }),
        )
    };

    // Two ceremonies begun for the same new user: each promised the authenticator its own
    // user handle. The first creates the user; the second would store a passkey whose user
    // handle is not the user's, which could never sign in discoverably.
    let begin = json!({ "userId": "app-9", "userName": "nina" });
    let (first, first_options) = begin_registration(&server, &key, begin.clone()).await;
    let (second, second_options) = begin_registration(&server, &key, begin).await;
    assert_ne!(first_options["user"]["id"], second_options["user"]["id"]);
    let (nina, body) = finish(first, first_options);
    ok(post(&server, &key, REGISTERED, &body).await).await;
    let before = snapshot(&server, "app-9").await;
    let (late, body) = finish(second, second_options);
    let code = envelope(post(&server, &key, REGISTERED, &body).await, 409).await;
    assert_eq!(code, "user_exists");
    assert_eq!(snapshot(&server, "app-9").await, before);
    let stored = server
        .state
        .store
        .credential(&TenantId::default_tenant(), &late.id)
        .await;
    assert!(matches!(stored, Err(StoreError::NotFound)));
    assert_eq!(
        ok(sign_in(&server, &nina, 1).await).await["userId"],
        "app-9"
    );

    // A ceremony begun for an existing user who is deleted before the finish must not bring
    // the user back.
    let (session, options) = begin_registration(&server, &key, json!({ "userId": "app-9" })).await;
    let deleted = server
        .client
        .delete(server.url("/users/app-9"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (_, body) = finish(session, options);
    let code = envelope(post(&server, &key, REGISTERED, &body).await, 404).await;
    assert_eq!(code, "not_found");
    assert_eq!(
        envelope(get(&server, "/users/app-9").await, 404).await,
        "not_found"
    );
    server.stop().await;
}

#[tokio::test]
async fn user_ids_no_user_can_have_are_not_found_on_every_backend() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let long = "x".repeat(129);
    for path in [
        "/users/a%00b",
        "/users/a%01b",
        &format!("/users/{long}"),
        "/users/a%00b/credentials",
    ] {
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            if path.ends_with("/credentials") && method == reqwest::Method::DELETE {
                continue;
            }
            let answer = server
                .client
                .request(method.clone(), server.url(path))
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 404, "{method} {path}");
        }
    }
    server.stop().await;
}
