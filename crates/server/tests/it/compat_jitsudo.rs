//! The Jitsudo dialect: the documented requests replayed with real credentials from the
//! software authenticator, the documented answers checked field by field (401, 403
//! `tenant_mismatch`, 404 without a pending enrolment, 501, 400s, and Cedar notices in the
//! envelope), single-use ceremonies and challenges, nothing stored by a failed request, and
//! methods enrolled through Jitsudo signing in through the native API.

use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::Credential;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, challenge, finish_authentication, new_credential, ok, set_settings,
    ORIGIN,
};
use crate::common::{error_body, Server};
use crate::compat_flashback::{stored, token as token_of};
use crate::compat_streambird::{keys, turn_on_dialect};
use crate::me::{claims, me, unauthenticated, user_token_with};

const REGISTER: &str = "/v1/users/me/mfa/webauthn/register";
const COMPLETE: &str = "/v1/users/me/mfa/webauthn/register/complete";
const METHODS: &str = "/v1/users/me/mfa";
const CODES: &str = "/v1/users/me/mfa/backup-codes";
const BEGIN: &str = "/v1/auth/mfa/webauthn/begin";
const FINISH: &str = "/v1/auth/mfa/webauthn/complete";

/// A Jitsudo call as its documentation sends it: `Authorization: Bearer` (unless empty) and
/// `X-Tenant-ID` (unless `None`).
async fn call(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    tenant: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = server.client.request(method, server.url(path));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let Some(tenant) = tenant {
        request = request.header("x-tenant-id", tenant);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// POST with the token and `X-Tenant-ID: default`.
async fn post(server: &Server, path: &str, token: &str, body: Option<&Value>) -> reqwest::Response {
    call(server, Method::POST, path, token, Some("default"), body).await
}

/// Expects Jitsudo's error `{code, message, details, notices}` with `status` and `code`;
/// returns the notices.
async fn error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let body = error_body(response, status).await;
    assert_eq!(
        keys(&body),
        ["code", "details", "message", "notices"],
        "{body}"
    );
    assert_eq!(body["code"], code, "{body}");
    assert!(!body["message"].as_str().unwrap().is_empty());
    body["notices"].clone()
}

/// The `challenge_id` the app's backend mints after the user's first factor.
async fn challenge_id(server: &Server, user_id: &str) -> String {
    user_token_with(
        server,
        server.key.expose(),
        user_id,
        &json!({ "purpose": "mfa_challenge" }),
    )
    .await
}

async fn settings(
    server: &Server,
    methods: &[&str],
    edit: impl FnOnce(&mut passkeyd::settings::TenantSettings),
) {
    let mut settings = passkeyd::settings::TenantSettings {
        compat: vec!["jitsudo".to_owned()],
        jitsudo_methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        ..passkeyd::settings::TenantSettings::default()
    };
    edit(&mut settings);
    set_settings(server, &settings).await;
}

/// Begins an enrolment of `method` and returns the options.
async fn register(server: &Server, token: &str, method: &str) -> Value {
    let path = format!("{REGISTER}?method_type={method}");
    let begun = ok(post(server, &path, token, None).await).await;
    assert_eq!(keys(&begun), ["options"]);
    begun["options"].clone()
}

/// A credential for the options and the documented completion body.
fn completion(options: &Value, device_name: &str, method: &str, key: bool) -> (Credential, Value) {
    let mut credential = new_credential(options);
    let mut builder = credential.register(&challenge(options), ORIGIN);
    if key {
        builder = builder.transports(vec!["usb".to_owned(), "nfc".to_owned()]);
    }
    let response = builder.build().to_json();
    if key {
        credential.backup_eligible = false;
    }
    let body = json!({"credential": response, "device_name": device_name, "method_type": method});
    (credential, body)
}

#[tokio::test]
async fn off_by_default_then_401_403_and_challenges_that_are_only_challenges() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let token = token_of(&server, "ada").await;
    let challenge = challenge_id(&server, "ada").await;
    let begin = json!({ "challenge_id": challenge });
    let routes = [
        (Method::POST, REGISTER),
        (Method::POST, COMPLETE),
        (Method::GET, METHODS),
        (Method::POST, CODES),
    ];

    // Off: 404 with a valid token or challenge.
    for (method, path) in &routes {
        let off = call(
            &server,
            method.clone(),
            path,
            &token,
            None,
            Some(&json!({})),
        )
        .await;
        error(off, 404, "not_found").await;
    }
    error(
        post(&server, BEGIN, "", Some(&begin)).await,
        404,
        "not_found",
    )
    .await;

    turn_on_dialect(&server, "jitsudo").await;
    for (method, path) in &routes {
        // No token, a forged one, or a challenge instead of a user token: 401.
        for bad in ["", "x.y.z", &format!("{token}x"), &challenge] {
            unauthenticated(call(&server, method.clone(), path, bad, None, None).await).await;
        }
        // X-Tenant-ID of another tenant: 403 tenant_mismatch.
        let other = call(&server, method.clone(), path, &token, Some("acme"), None).await;
        error(other, 403, "tenant_mismatch").await;
    }
    // Without X-Tenant-ID, and with the token's own: accepted.
    ok(call(&server, Method::GET, METHODS, &token, None, None).await).await;
    ok(call(&server, Method::GET, METHODS, &token, Some("default"), None).await).await;

    // challenge_id: a user token, a result token or garbage is 401; another tenant's header 403.
    for bad in [token.as_str(), "garbage", ""] {
        let body = json!({ "challenge_id": bad });
        error(
            post(&server, BEGIN, "", Some(&body)).await,
            401,
            "unauthenticated",
        )
        .await;
    }
    let mismatch = call(&server, Method::POST, BEGIN, "", Some("acme"), Some(&begin)).await;
    error(mismatch, 403, "tenant_mismatch").await;
    // The app mints only user tokens and MFA challenges.
    let other = crate::ceremonies::post(
        &server,
        server.key.expose(),
        "/users/ada/tokens",
        &json!({ "purpose": "authentication" }),
    )
    .await;
    error(other, 400, "invalid_request").await;
    // A user without a WebAuthn method is told so.
    error(
        post(&server, BEGIN, "", Some(&begin)).await,
        409,
        "no_credentials",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn documented_flow_end_to_end_and_native_sign_in() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on_dialect(&server, "jitsudo").await;
    let token = token_of(&server, "ada").await;

    // A passkey: a discoverable credential.
    let options = register(&server, &token, "webauthn_passkey").await;
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    let (passkey, body) = completion(&options, "example", "webauthn_passkey", false);
    let enrolled = ok(post(&server, COMPLETE, &token, Some(&body)).await).await;
    assert_eq!(keys(&enrolled), ["codes", "remaining"]);
    let first_codes = enrolled["codes"].as_array().unwrap().clone();
    assert_eq!(first_codes.len(), 10);
    assert_eq!(enrolled["remaining"], 10);

    // A second method with the same token (the app's, for a password session) is refused in
    // Jitsudo's error shape: Ada has a factor now, and adding one needs a recent proof.
    let fido = format!("{REGISTER}?method_type=webauthn_fido");
    let refused = post(&server, &fido, &token, None).await;
    let refused = error_body(refused, 403).await;
    assert_eq!(keys(&refused), ["code", "details", "message", "notices"]);
    assert_eq!(refused["code"], "step_up_required");
    assert_eq!(refused["details"]["max_age_secs"], 300);
    // Ada steps up with one of her backup codes (as a user who lost the passkey would).
    let verified = me(
        &server,
        Method::POST,
        "/me/mfa/backup-codes/verify",
        &token,
        Some(json!({ "code": first_codes[9] })),
    )
    .await;
    let stepped = ok(verified).await["token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&stepped)["amr"], json!(["backup_code"]));
    let token = stepped;
    // The same completion again: no pending enrolment.
    error(
        post(&server, COMPLETE, &token, Some(&body)).await,
        404,
        "not_found",
    )
    .await;

    // A security key: cross-platform; no new codes (nine left of the first ten).
    let options = register(&server, &token, "webauthn_fido").await;
    assert_eq!(
        options["authenticatorSelection"]["authenticatorAttachment"],
        "cross-platform"
    );
    assert_eq!(options["hints"], json!(["security-key"]));
    assert_eq!(
        options["excludeCredentials"][0]["id"],
        base64url_encode(&passkey.id)
    );
    let (key, body) = completion(&options, "YubiKey", "webauthn_fido", true);
    let enrolled = ok(post(&server, COMPLETE, &token, Some(&body)).await).await;
    assert_eq!(enrolled, json!({"codes": [], "remaining": 9}));

    // GET /v1/users/me/mfa
    let listed = ok(call(&server, Method::GET, METHODS, &token, Some("default"), None).await).await;
    assert_eq!(keys(&listed), ["methods"]);
    let methods = listed["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 2);
    let by_id = |id: &[u8]| {
        methods
            .iter()
            .find(|m| m["id"] == base64url_encode(id))
            .unwrap()
            .clone()
    };
    let listed_passkey = by_id(&passkey.id);
    assert_eq!(
        keys(&listed_passkey),
        [
            "created_at",
            "device_name",
            "id",
            "last_used_at",
            "method_type",
            "verified"
        ]
    );
    assert_eq!(listed_passkey["method_type"], "webauthn_passkey");
    assert_eq!(listed_passkey["device_name"], "example");
    assert_eq!(listed_passkey["verified"], true);
    assert!(listed_passkey["created_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(listed_passkey["last_used_at"], Value::Null);
    let listed_key = by_id(&key.id);
    assert_eq!(listed_key["method_type"], "webauthn_fido");
    assert_eq!(listed_key["device_name"], "YubiKey");

    // POST /v1/users/me/mfa/backup-codes: ten new ones; the old ones stop working.
    let renewed = ok(post(&server, CODES, &token, None).await).await;
    assert_eq!(keys(&renewed), ["codes", "remaining"]);
    assert_eq!(renewed["codes"].as_array().unwrap().len(), 10);
    assert_eq!(renewed["remaining"], 10);
    let old = me(
        &server,
        Method::POST,
        "/me/mfa/backup-codes/verify",
        &token,
        Some(json!({ "code": first_codes[0] })),
    )
    .await;
    assert_eq!(error_body(old, 401).await["code"], "backup_code_invalid");

    // Sign-in: the app mints the challenge after its first factor.
    let challenge_id = challenge_id(&server, "ada").await;
    let minted = claims(&challenge_id);
    assert_eq!(minted["purpose"], "mfa_challenge");
    assert_eq!(
        minted["exp"].as_i64().unwrap() - minted["iat"].as_i64().unwrap(),
        300
    );
    let begin = json!({ "challenge_id": challenge_id });
    let begun = ok(post(&server, BEGIN, "", Some(&begin)).await).await;
    assert_eq!(keys(&begun), ["options"]);
    let options = &begun["options"];
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 2);
    let assertion = key
        .assert(&challenge(options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let complete = json!({ "challenge_id": challenge_id, "credential": assertion });
    let signed_in = ok(post(&server, FINISH, "", Some(&complete)).await).await;
    assert_eq!(
        keys(&signed_in),
        [
            "enrollment_required",
            "expires_at",
            "mfa_setup_required",
            "token"
        ]
    );
    assert_eq!(signed_in["mfa_setup_required"], false);
    assert_eq!(signed_in["enrollment_required"], false);
    assert!(signed_in["expires_at"].as_str().unwrap().ends_with('Z'));
    let result = claims(signed_in["token"].as_str().unwrap());
    assert_eq!(result["sub"], "ada");
    assert_eq!(result["purpose"], "authentication");
    assert_eq!(result["cred"], base64url_encode(&key.id));

    // The same assertion again: the ceremony was single use.
    error(
        post(&server, FINISH, "", Some(&complete)).await,
        400,
        "session_not_found",
    )
    .await;
    // The challenge is used up too: a new ceremony with it cannot complete.
    let begun = ok(post(&server, BEGIN, "", Some(&begin)).await).await;
    let assertion = passkey
        .assert(&challenge(&begun["options"]), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let again = json!({ "challenge_id": challenge_id, "credential": assertion });
    error(
        post(&server, FINISH, "", Some(&again)).await,
        401,
        "unauthenticated",
    )
    .await;

    // Both methods enrolled through Jitsudo sign in through the native API.
    let api_key = server.key.expose().to_owned();
    for (credential, count) in [(&passkey, 2), (&key, 2)] {
        let (session, options) =
            begin_authentication(&server, &api_key, json!({"userId": "ada"})).await;
        let assertion = credential
            .assert(&challenge(&options), ORIGIN)
            .sign_count(count)
            .build()
            .to_json();
        let native = ok(finish_authentication(&server, &api_key, &session, assertion).await).await;
        assert_eq!(native["userId"], "ada");
        assert_eq!(native["credentialId"], base64url_encode(&credential.id));
    }
    let listed = ok(call(&server, Method::GET, METHODS, &token, None, None).await).await;
    assert!(listed["methods"][0]["last_used_at"].is_string(), "{listed}");
    server.stop().await;
}

#[tokio::test]
async fn documented_errors_and_nothing_stored_by_them() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    settings(&server, &["webauthn_passkey"], |_| {}).await;
    let token = token_of(&server, "ada").await;
    let before = stored(&server, "ada").await;

    // 501: a method the tenant does not enable, at either step.
    let path = format!("{REGISTER}?method_type=webauthn_fido");
    error(
        post(&server, &path, &token, None).await,
        501,
        "not_implemented",
    )
    .await;
    let options = register(&server, &token, "webauthn_passkey").await;
    let (passkey, body) = completion(&options, "example", "webauthn_passkey", false);
    let mut fido = body.clone();
    fido["method_type"] = json!("webauthn_fido");
    error(
        post(&server, COMPLETE, &token, Some(&fido)).await,
        501,
        "not_implemented",
    )
    .await;

    // 400s: an unknown method, a device name over 100 characters, no credential.
    let path = format!("{REGISTER}?method_type=totp");
    error(
        post(&server, &path, &token, None).await,
        400,
        "invalid_request",
    )
    .await;
    let mut unknown = body.clone();
    unknown["method_type"] = json!("totp");
    error(
        post(&server, COMPLETE, &token, Some(&unknown)).await,
        400,
        "invalid_request",
    )
    .await;
    let mut long = body.clone();
    long["device_name"] = json!("d".repeat(101));
    error(
        post(&server, COMPLETE, &token, Some(&long)).await,
        400,
        "invalid_request",
    )
    .await;
    let missing = json!({"device_name": "example", "method_type": "webauthn_passkey"});
    error(
        post(&server, COMPLETE, &token, Some(&missing)).await,
        400,
        "invalid_request",
    )
    .await;

    // 404: the page's example body (an empty credential) finds no pending enrolment.
    let example =
        json!({"credential": {}, "device_name": "example", "method_type": "webauthn_passkey"});
    error(
        post(&server, COMPLETE, &token, Some(&example)).await,
        404,
        "not_found",
    )
    .await;

    // Another user cannot complete ada's enrolment.
    let bob = token_of(&server, "bob").await;
    let options_two = register(&server, &token, "webauthn_passkey").await;
    let (_, adas) = completion(&options_two, "example", "webauthn_passkey", false);
    error(
        post(&server, COMPLETE, &bob, Some(&adas)).await,
        400,
        "invalid_request",
    )
    .await;

    // None of that stored anything, and the first enrolment is still pending.
    assert_eq!(stored(&server, "ada").await, before);
    let device = "d".repeat(100);
    let mut exact = body.clone();
    exact["device_name"] = json!(device);
    let enrolled = ok(post(&server, COMPLETE, &token, Some(&exact)).await).await;
    assert_eq!(enrolled["remaining"], 10);
    let listed = ok(call(&server, Method::GET, METHODS, &token, None, None).await).await;
    assert_eq!(listed["methods"][0]["id"], base64url_encode(&passkey.id));
    assert_eq!(listed["methods"][0]["device_name"], device.as_str());

    // A tenant fixed to platform authenticators cannot enrol security keys.
    settings(&server, &["webauthn_passkey", "webauthn_fido"], |s| {
        s.authenticator_attachment =
            Some(passkeyd_webauthn::json::AuthenticatorAttachment::Platform);
    })
    .await;
    let path = format!("{REGISTER}?method_type=webauthn_fido");
    error(
        post(&server, &path, &token, None).await,
        501,
        "not_implemented",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_refusal_carries_the_deciding_cedar_notices() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on_dialect(&server, "jitsudo").await;
    let token = token_of(&server, "ada").await;
    let before = stored(&server, "ada").await;
    let policy = r#"permit (principal, action, resource);
@notice("Security keys only at Acme: ask IT for one.")
forbid (principal, action == Passkeyd::Action::"EnrolMfa", resource);"#;
    passkeyd::policy::check(policy).unwrap();
    server
        .state
        .store
        .set_tenant_policy(&passkeyd::tenant::TenantId::default_tenant(), Some(policy))
        .await
        .unwrap();
    let path = format!("{REGISTER}?method_type=webauthn_passkey");
    let notices = error(
        post(&server, &path, &token, None).await,
        403,
        "policy_denied",
    )
    .await;
    assert_eq!(
        notices,
        json!(["Security keys only at Acme: ask IT for one."])
    );
    // Backup codes are a second factor too: the same decision.
    let notices = error(
        post(&server, CODES, &token, None).await,
        403,
        "policy_denied",
    )
    .await;
    assert_eq!(
        notices,
        json!(["Security keys only at Acme: ask IT for one."])
    );
    assert_eq!(stored(&server, "ada").await, before);
    server.stop().await;
}
