//! web-authn-service (`../shared/seeds/web-authn-service.txt`) is the native API's model: every
//! request its page shows, replayed as its clients send them (header `X-Api-Key`,
//! `Content-Type: application/json`, `userId` absent or present, `userDisplayName` optional,
//! nothing at all for a usernameless sign-in), with every documented answer field checked by
//! name and type, and the documented required fields refused when missing.

use passkeyd_webauthn::json::base64url_encode;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{challenge, new_credential, ORIGIN};
use crate::common::{error_body, Server};

const REGISTRATION_REQUEST: &str = "/webauthn/registration/request";
const REGISTRATION_RESPONSE: &str = "/webauthn/registration/response";
const AUTHENTICATION_REQUEST: &str = "/webauthn/authentication/request";
const AUTHENTICATION_RESPONSE: &str = "/webauthn/authentication/response";

/// A documented request: `POST` with `X-Api-Key` and a JSON body (`None`: no body at all).
async fn call(server: &Server, path: &str, body: Option<&Value>) -> reqwest::Response {
    let mut request = server
        .client
        .post(server.url(path))
        .header("x-api-key", server.key.expose())
        .header("content-type", "application/json");
    if let Some(body) = body {
        request = request.body(serde_json::to_vec(body).unwrap());
    }
    request.send().await.unwrap()
}

/// A 200 JSON answer, with the documented content type.
async fn answer(response: reqwest::Response) -> Value {
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    body
}

/// Asserts the documented fields of an answer, by name and JSON type.
fn documented(answer: &Value, fields: &[(&str, &str)]) {
    for (name, kind) in fields {
        let value = &answer[*name];
        let ok = match *kind {
            "string" => value.as_str().is_some_and(|s| !s.is_empty()),
            "object" => value.is_object(),
            "boolean" => value.is_boolean(),
            other => panic!("unknown type {other}"),
        };
        assert!(ok, "{name} is not a {kind}: {answer}");
    }
}

const REGISTRATION_BEGUN: &[(&str, &str)] = &[
    ("session", "string"),
    ("publicKeyCredentialCreationOptions", "object"),
];
const REGISTERED: &[(&str, &str)] = &[("verified", "boolean"), ("userId", "string")];
const AUTHENTICATION_BEGUN: &[(&str, &str)] = &[
    ("session", "string"),
    ("publicKeyCredentialRequestOptions", "object"),
];
const AUTHENTICATED: &[(&str, &str)] = &[("verified", "boolean"), ("userId", "string")];

/// Registration request and response as documented; returns the credential and the response
/// step's answer.
async fn register(
    server: &Server,
    request: &Value,
) -> (passkeyd_webauthn::test_util::Credential, Value) {
    let begun = answer(call(server, REGISTRATION_REQUEST, Some(request)).await).await;
    documented(&begun, REGISTRATION_BEGUN);
    let options = &begun["publicKeyCredentialCreationOptions"];
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let registered = answer(
        call(
            server,
            REGISTRATION_RESPONSE,
            Some(&json!({ "session": begun["session"], "publicKeyCredential": response })),
        )
        .await,
    )
    .await;
    documented(&registered, REGISTERED);
    assert_eq!(registered["verified"], true);
    (credential, registered)
}

#[tokio::test]
async fn every_documented_request_answers_every_documented_field() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;

    // Registration with every field: userId (no PII), userName, userDisplayName.
    let request = json!({
        "userId": "c2f1e0d9-opaque",
        "userName": "ada@example.com",
        "userDisplayName": "Ada Lovelace",
    });
    let begun = answer(call(&server, REGISTRATION_REQUEST, Some(&request)).await).await;
    documented(&begun, REGISTRATION_BEGUN);
    let options = &begun["publicKeyCredentialCreationOptions"];
    assert_eq!(options["user"]["name"], "ada@example.com");
    assert_eq!(options["user"]["displayName"], "Ada Lovelace");
    // The user handle is random, never the app's ID.
    assert_ne!(options["user"]["id"], base64url_encode(b"c2f1e0d9-opaque"));
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let registered = answer(
        call(
            &server,
            REGISTRATION_RESPONSE,
            Some(&json!({ "session": begun["session"], "publicKeyCredential": response })),
        )
        .await,
    )
    .await;
    documented(&registered, REGISTERED);
    assert_eq!(registered["verified"], true);
    assert_eq!(registered["userId"], "c2f1e0d9-opaque");

    // Without userId: the server makes one, and answers it.
    let (_, generated) = register(&server, &json!({ "userName": "grace@example.com" })).await;
    let generated_id = generated["userId"].as_str().unwrap().to_owned();
    assert_ne!(generated_id, "grace@example.com");
    // Without userDisplayName: the display name is the user name.
    let begun = answer(
        call(
            &server,
            REGISTRATION_REQUEST,
            Some(&json!({ "userId": "u-7", "userName": "alan@example.com" })),
        )
        .await,
    )
    .await;
    assert_eq!(
        begun["publicKeyCredentialCreationOptions"]["user"]["displayName"],
        "alan@example.com"
    );

    // Usernameless authentication: the request carries nothing. Clients send `{}` or no body.
    for body in [Some(json!({})), None] {
        let begun = answer(call(&server, AUTHENTICATION_REQUEST, body.as_ref()).await).await;
        documented(&begun, AUTHENTICATION_BEGUN);
        let options = &begun["publicKeyCredentialRequestOptions"];
        assert_eq!(options["allowCredentials"], json!([]), "{body:?}");
        let assertion = credential
            .assert(&challenge(options), ORIGIN)
            .sign_count(if body.is_some() { 1 } else { 2 })
            .build()
            .to_json();
        let authenticated = answer(
            call(
                &server,
                AUTHENTICATION_RESPONSE,
                Some(&json!({ "session": begun["session"], "publicKeyCredential": assertion })),
            )
            .await,
        )
        .await;
        documented(&authenticated, AUTHENTICATED);
        assert_eq!(authenticated["verified"], true);
        assert_eq!(authenticated["userId"], "c2f1e0d9-opaque");
    }
    server.stop().await;
}

#[tokio::test]
async fn documented_required_fields_and_the_key_are_enforced() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let (credential, _) = register(&server, &json!({ "userName": "ada@example.com" })).await;

    // X-Api-Key is required on every call.
    for path in [
        REGISTRATION_REQUEST,
        REGISTRATION_RESPONSE,
        AUTHENTICATION_REQUEST,
        AUTHENTICATION_RESPONSE,
    ] {
        let response = server
            .client
            .post(server.url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_body(response, 401).await["code"],
            "unauthenticated",
            "{path}"
        );
    }

    // userName is required (for a new user).
    let missing = call(
        &server,
        REGISTRATION_REQUEST,
        Some(&json!({ "userId": "u-1" })),
    )
    .await;
    assert_eq!(error_body(missing, 400).await["code"], "invalid_request");
    // session and publicKeyCredential are required at both response steps.
    let begun = answer(call(&server, AUTHENTICATION_REQUEST, Some(&json!({}))).await).await;
    let options = &begun["publicKeyCredentialRequestOptions"];
    let assertion = credential
        .assert(&challenge(options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    for path in [REGISTRATION_RESPONSE, AUTHENTICATION_RESPONSE] {
        for body in [
            json!({ "publicKeyCredential": assertion }),
            json!({ "session": begun["session"] }),
        ] {
            let refused = call(&server, path, Some(&body)).await;
            assert_eq!(
                error_body(refused, 400).await["code"],
                "invalid_request",
                "{path} {body}"
            );
        }
    }
    // None of that used the session up.
    let authenticated = answer(
        call(
            &server,
            AUTHENTICATION_RESPONSE,
            Some(&json!({ "session": begun["session"], "publicKeyCredential": assertion })),
        )
        .await,
    )
    .await;
    documented(&authenticated, AUTHENTICATED);
    server.stop().await;
}
