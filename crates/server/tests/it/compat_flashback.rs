//! The flashback dialect: the documented requests replayed with real credentials from the
//! software authenticator, the documented answers checked field by field (the failures
//! included), single-use ceremonies, nothing stored by a failed request, and a passkey enrolled
//! through flashback signing in through the native API.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::Credential;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, challenge, finish_authentication, new_credential, ok, ORIGIN,
};
use crate::common::{error_body, Server};
use crate::compat_streambird::{keys, turn_on_dialect};
use crate::me::{claims, user_token_with};

const SETUP: &str = "/mfa/setup";
const COMPLETE: &str = "/mfa/passkey/complete-registration";
const COMPLETE_ALTERNATIVE: &str = "/mfa/passkey/complete-registration-1";
const AUTH_OPTIONS: &str = "/mfa/passkey/auth-options";
const VERIFY: &str = "/mfa/passkey/verify";

/// Posts to a flashback route with `Authorization: Bearer <token>` (none if empty).
async fn post(server: &Server, token: &str, path: &str, body: Option<&Value>) -> reqwest::Response {
    let mut request = server.client.post(server.url(path));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// Expects `{success: false, error}` with `status` and exactly these two members.
async fn failure(response: reqwest::Response, status: u16, error: &str) {
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let got = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(body, json!({"success": false, "error": error}));
}

/// Expects 200 `{success: true, ...}`.
async fn success(response: reqwest::Response) -> Value {
    let body = ok(response).await;
    assert_eq!(body["success"], true, "{body}");
    body
}

async fn turn_on(server: &Server) {
    turn_on_dialect(server, "flashback").await;
}

/// A user token for `user_id`, created with a user name if new.
pub(crate) async fn token(server: &Server, user_id: &str) -> String {
    user_token_with(
        server,
        server.key.expose(),
        user_id,
        &json!({ "userName": format!("{user_id}@example.com") }),
    )
    .await
}

/// `{credential, challenge}` as flashback's page sends it: the credential with only the
/// documented members, the challenge in standard base64.
fn documented_body(response: &Value, challenge: &[u8]) -> Value {
    json!({
        "credential": {
            "id": response["id"],
            "rawId": response["rawId"],
            "response": {
                "clientDataJSON": response["response"]["clientDataJSON"],
                "attestationObject": response["response"]["attestationObject"],
            },
            "type": response["type"],
        },
        "challenge": STANDARD.encode(challenge),
    })
}

/// Sets up and returns (the new credential, the body that completes its registration).
async fn set_up(server: &Server, token: &str) -> (Credential, Value) {
    let begun = success(
        post(
            server,
            token,
            SETUP,
            Some(
                &json!({"mfaType": "PASSKEY", "deviceInfo": {"name": "Laptop", "type": "desktop"}}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(keys(&begun), ["data", "success"]);
    let options = &begun["data"]["options"];
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    (credential, documented_body(&response, &challenge(options)))
}

/// The user's credentials and failure count, as the secret-key API shows them (to check
/// that a failed request stored nothing).
pub(crate) async fn stored(server: &Server, user_id: &str) -> (Value, Value) {
    let get = |path: String| async move {
        ok(server
            .client
            .get(server.url(&path))
            .header("x-api-key", server.key.expose())
            .send()
            .await
            .unwrap())
        .await
    };
    let user = get(format!("/users/{user_id}")).await;
    let credentials = get(format!("/users/{user_id}/credentials")).await;
    (credentials, user["failedAttempts"].clone())
}

#[tokio::test]
async fn off_by_default_and_a_bad_token_is_401_in_flashbacks_shape() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let token = token(&server, "ada").await;
    let body = json!({"mfaType": "PASSKEY"});
    for path in [SETUP, COMPLETE, COMPLETE_ALTERNATIVE, AUTH_OPTIONS, VERIFY] {
        // Off: the server's own 404, whatever the body.
        let off = post(&server, &token, path, Some(&body)).await;
        assert_eq!(error_body(off, 404).await["code"], "not_found", "{path}");
    }

    turn_on(&server).await;
    for path in [SETUP, COMPLETE, COMPLETE_ALTERNATIVE, AUTH_OPTIONS, VERIFY] {
        for bad in ["", "not-a-token", &format!("{token}x")] {
            let response = post(&server, bad, path, Some(&body)).await;
            assert!(
                response.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{path}"
            );
            failure(response, 401, "Unauthorized").await;
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn documented_flow_end_to_end_and_native_sign_in() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;
    let token = token(&server, "ada").await;

    // POST /mfa/setup: mfaType in any case.
    let (credential, complete) = set_up(&server, &token).await;
    let credential_id = base64url_encode(&credential.id);

    // POST /mfa/passkey/complete-registration, the page's body: 200 with the page's message,
    // and the first backup codes.
    let done = success(post(&server, &token, COMPLETE, Some(&complete)).await).await;
    assert_eq!(keys(&done), ["data", "message", "success"]);
    assert_eq!(done["message"], "Passkey registration completed");
    assert_eq!(done["data"]["credentialId"], credential_id.as_str());
    assert_eq!(done["data"]["codes"].as_array().unwrap().len(), 10);
    assert_eq!(done["data"]["remaining"], 10);

    // POST /mfa/passkey/auth-options (with the password session's token: the check changes no
    // factor): the documented members, the challenge standard base64.
    let options = success(post(&server, &token, AUTH_OPTIONS, None).await).await;
    assert_eq!(keys(&options), ["data", "success"]);
    let data = &options["data"];
    assert_eq!(
        keys(data),
        [
            "allowCredentials",
            "challenge",
            "rpId",
            "timeout",
            "userVerification"
        ]
    );
    assert_eq!(data["rpId"], "localhost");
    assert_eq!(data["userVerification"], "preferred");
    assert_eq!(data["timeout"], 300_000);
    let allowed: Vec<&str> = data["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed.len(), 1);
    assert!(allowed.contains(&credential_id.as_str()));
    let signed = STANDARD
        .decode(data["challenge"].as_str().unwrap())
        .unwrap();
    assert_eq!(signed.len(), 32);

    // POST /mfa/passkey/verify (inferred): {credential, challenge}.
    let assertion = credential
        .assert(&signed, ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let body = json!({"credential": assertion, "challenge": data["challenge"]});
    let verified = success(post(&server, &token, VERIFY, Some(&body)).await).await;
    assert_eq!(keys(&verified), ["data", "message", "success"]);
    assert_eq!(verified["message"], "Passkey verified");
    assert_eq!(
        keys(&verified["data"]),
        ["credentialId", "expiresAt", "token", "verified"]
    );
    assert_eq!(verified["data"]["verified"], true);
    assert_eq!(verified["data"]["credentialId"], credential_id.as_str());
    let result = claims(verified["data"]["token"].as_str().unwrap());
    assert_eq!(result["sub"], "ada");
    assert_eq!(result["purpose"], "authentication");
    assert!(verified["data"]["expiresAt"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // Single use: the same assertion again fails.
    let replay = post(&server, &token, VERIFY, Some(&body)).await;
    failure(replay, 400, "Passkey verification failed").await;

    // A second enrolment with the same token (the app's, for a password session) is refused:
    // Ada has a passkey now, and changing her factors needs a recent proof of one.
    let setup = json!({"mfaType": "passkey"});
    let refused = post(&server, &token, SETUP, Some(&setup)).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "success": false,
            "error": "Recent passkey or backup code verification required",
            "code": "step_up_required",
            "maxAgeSecs": 300,
        })
    );
    // With the token of /mfa/passkey/verify (a step-up), the alternative endpoint completes a
    // second enrolment; no new codes.
    let stepped = verified["data"]["token"].as_str().unwrap().to_owned();
    // The first completion again, even stepped up: the ceremony was single use.
    let again = post(&server, &stepped, COMPLETE, Some(&complete)).await;
    failure(again, 400, "Passkey registration failed").await;
    let (second, complete) = {
        let begun = success(post(&server, &stepped, SETUP, Some(&setup)).await).await;
        let options = &begun["data"]["options"];
        // The first passkey is excluded.
        assert_eq!(
            options["excludeCredentials"][0]["id"],
            credential_id.as_str()
        );
        let credential = new_credential(options);
        let response = credential
            .register(&challenge(options), ORIGIN)
            .build()
            .to_json();
        let body = documented_body(&response, &challenge(options));
        (credential, body)
    };
    let done = success(post(&server, &stepped, COMPLETE_ALTERNATIVE, Some(&complete)).await).await;
    assert_eq!(done["message"], "Passkey registration completed");
    assert_eq!(done["data"]["credentialId"], base64url_encode(&second.id));
    assert_eq!(done["data"]["codes"], json!([]));
    assert_eq!(done["data"]["remaining"], 10);

    // The passkey enrolled through flashback signs in through the native API.
    let key = server.key.expose().to_owned();
    let (session, options) = begin_authentication(&server, &key, json!({"userId": "ada"})).await;
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(2)
        .build()
        .to_json();
    let native = ok(finish_authentication(&server, &key, &session, assertion).await).await;
    assert_eq!(native["userId"], "ada");
    assert_eq!(native["credentialId"], credential_id.as_str());
    server.stop().await;
}

#[tokio::test]
async fn failures_are_flashbacks_shape_and_store_nothing() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;
    let ada = token(&server, "ada").await;
    let bob = token(&server, "bob").await;

    // Another second factor than a passkey, or no body: 400 at setup.
    for mfa_type in ["TOTP", "EMAIL", ""] {
        let response = post(&server, &ada, SETUP, Some(&json!({ "mfaType": mfa_type }))).await;
        failure(response, 400, "Unsupported MFA type").await;
    }
    failure(
        post(&server, &ada, SETUP, None).await,
        400,
        "MFA setup failed",
    )
    .await;
    let long_name = json!({"mfaType": "PASSKEY", "deviceInfo": {"name": "x".repeat(300)}});
    failure(
        post(&server, &ada, SETUP, Some(&long_name)).await,
        400,
        "MFA setup failed",
    )
    .await;

    let before = stored(&server, "ada").await;
    let (credential, complete) = set_up(&server, &ada).await;

    // A challenge that is not the signed one: 400, and the ceremony stays pending.
    let mut wrong = complete.clone();
    wrong["challenge"] = json!(STANDARD.encode([7_u8; 32]));
    failure(
        post(&server, &ada, COMPLETE, Some(&wrong)).await,
        400,
        "Passkey registration failed",
    )
    .await;
    wrong["challenge"] = json!("%%% not base64");
    failure(
        post(&server, &ada, COMPLETE, Some(&wrong)).await,
        400,
        "Passkey registration failed",
    )
    .await;
    // The page's own example body: no pending enrolment can match it.
    let example = json!({
        "credential": {"id": "credential-id", "rawId": "raw-credential-id",
            "response": {"clientDataJSON": "client-data-json", "attestationObject": "attestation-object"},
            "type": "public-key"},
        "challenge": "dGVzdCBjaGFsbGVuZ2U="
    });
    failure(
        post(&server, &ada, COMPLETE, Some(&example)).await,
        400,
        "Passkey registration failed",
    )
    .await;
    assert_eq!(stored(&server, "ada").await, before);

    // Another user cannot finish ada's enrolment (and nothing is stored for either).
    let bob_before = stored(&server, "bob").await;
    let (_, adas) = set_up(&server, &ada).await;
    failure(
        post(&server, &bob, COMPLETE, Some(&adas)).await,
        400,
        "Passkey registration failed",
    )
    .await;
    assert_eq!(stored(&server, "ada").await, before);
    assert_eq!(stored(&server, "bob").await, bob_before);

    // A user without passkeys asks for sign-in options: 400.
    failure(
        post(&server, &bob, AUTH_OPTIONS, None).await,
        400,
        "Failed to generate passkey authentication options",
    )
    .await;

    // A refusal by the tenant's policy is a 400 too, and stores nothing.
    let (_, complete_two) = set_up(&server, &ada).await;
    server
        .state
        .store
        .set_tenant_policy(
            &passkeyd::tenant::TenantId::default_tenant(),
            Some(r#"forbid (principal, action, resource);"#),
        )
        .await
        .unwrap();
    failure(
        post(&server, &ada, COMPLETE, Some(&complete_two)).await,
        400,
        "Passkey registration failed",
    )
    .await;
    failure(
        post(&server, &ada, SETUP, Some(&json!({"mfaType": "PASSKEY"}))).await,
        400,
        "MFA setup failed",
    )
    .await;
    assert_eq!(stored(&server, "ada").await, before);
    server
        .state
        .store
        .set_tenant_policy(&passkeyd::tenant::TenantId::default_tenant(), None)
        .await
        .unwrap();

    // The first ceremony, which the failures left pending, still completes.
    let done = success(post(&server, &ada, COMPLETE, Some(&complete)).await).await;
    assert_eq!(
        done["data"]["credentialId"],
        base64url_encode(&credential.id)
    );

    // A wrong echoed challenge at verify: 400, and the sign-in stays pending.
    let options = success(post(&server, &ada, AUTH_OPTIONS, None).await).await;
    let signed = STANDARD
        .decode(options["data"]["challenge"].as_str().unwrap())
        .unwrap();
    let assertion = credential
        .assert(&signed, ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let wrong = json!({"credential": assertion, "challenge": STANDARD.encode([9_u8; 32])});
    failure(
        post(&server, &ada, VERIFY, Some(&wrong)).await,
        400,
        "Passkey verification failed",
    )
    .await;
    // bob cannot use ada's sign-in.
    let right = json!({"credential": assertion, "challenge": options["data"]["challenge"]});
    failure(
        post(&server, &bob, VERIFY, Some(&right)).await,
        400,
        "Passkey verification failed",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_server_failure_is_500_with_the_documented_text() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;
    let token = token(&server, "ada").await;
    let (_, complete) = set_up(&server, &token).await;
    // Settings that no longer parse (written around the checks, as a bad migration might):
    // the server cannot tell whether the dialect is on, and fails.
    let tenant = passkeyd::tenant::TenantId::default_tenant();
    let mut settings = serde_json::Map::new();
    settings.insert("compat".to_owned(), json!(["flashback"]));
    settings.insert("timeout_ms".to_owned(), json!(1));
    server
        .state
        .store
        .update_tenant_settings(&tenant, &settings)
        .await
        .unwrap();
    for (path, text) in [
        (COMPLETE, "Failed to complete passkey registration"),
        (
            COMPLETE_ALTERNATIVE,
            "Failed to complete passkey registration",
        ),
        (SETUP, "Failed to set up MFA"),
        (VERIFY, "Failed to verify passkey"),
    ] {
        failure(
            post(&server, &token, path, Some(&complete)).await,
            500,
            text,
        )
        .await;
    }
    server.stop().await;
}
