//! The mailcheap dialect: the documented requests replayed with real credentials and HTTP
//! Basic (`userName:user token`), the answers checked field by field, errors in the native
//! envelope that change nothing stored, roles decided by the example policy
//! `docs/policies/mailcheap-roles.cedar`, the tenant of the unauthenticated routes found by
//! host, and a credential registered through mailcheap signing in through the native API.

use passkeyd::state::Clock;
use passkeyd::tenant::TenantId;
use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::Credential;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, challenge, finish_authentication, new_credential, ok, set_settings,
    ORIGIN,
};
use crate::common::{error_body, secret_key, Server};
use crate::me::{register_in, user_token_with};

const REGISTRATION_OPTIONS: &str = "/api/v1/webauthn/registration/options/";
const REGISTRATION_VERIFY: &str = "/api/v1/webauthn/registration/verify/";
const AUTHENTICATION_OPTIONS: &str = "/api/v1/webauthn/authentication/options/";
const AUTHENTICATION_VERIFY: &str = "/api/v1/webauthn/authentication/verify/";
const CREDENTIALS: &str = "/api/v1/webauthn/credentials/";

/// Every route of the dialect.
const ROUTES: &[(&str, &str)] = &[
    ("GET", REGISTRATION_OPTIONS),
    ("POST", REGISTRATION_VERIFY),
    ("GET", AUTHENTICATION_OPTIONS),
    ("POST", AUTHENTICATION_VERIFY),
    ("GET", CREDENTIALS),
];

/// The routes that take HTTP Basic.
const BASIC_ROUTES: &[(&str, &str)] = &[
    ("GET", REGISTRATION_OPTIONS),
    ("POST", REGISTRATION_VERIFY),
    ("GET", CREDENTIALS),
];

const ROLES_POLICY: &str = include_str!("../../../../docs/policies/mailcheap-roles.cedar");
const ROLES_ONLY: &str =
    "Only MasterAdmin, DomainAdmin and MailUser accounts can use passkeys here.";
const OWN_DOMAIN: &str = "This account's token is for another mail domain.";
const ADMINS_VERIFY: &str =
    "Administrators must verify themselves with a PIN or biometrics on their passkey.";

/// The example request of mailcheap's "Verify registration" page, verbatim (the seed).
const DOCUMENTED_REQUEST: &str = r#"{
    "id": "CxroK5L83ZvzZU1DlekalNE8m9D1u0676tNPLIb_R5o",
    "rawId": "CxroK5L83ZvzZU1DlekalNE8m9D1u0676tNPLIb_R5o",
    "response": {
        "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVkBZ-C13I6UDtP0tbgHCYBWcnrmV9vR7_yAzVW0MqtU-FejRQAAAAAAAAAAAAAAAAAAAAAAAAAAACALGugrkvzdm_NlTUOV6RqU0Tyb0PW7Trvq008shv9HmqQBAwM5AQAgWQEA5dpfcQAi1UEnASwIiCh1DHAMgzuueYCjYI5PLtf2KR4lJ7UK_xyqrZ1lrGm25rQJS4aqy8aaTxh-rDGvTCr6zAblAzvWauclURjbjpHAKmYkIsBwdPJBm7xLf2-ID8_pou4lPy9kwZRv73ARrgFxKDrVDFKJi4Yr1_ikta5NewvpyFMAaJqjdyANXYAIhXRBXUmEaVNL8bmbhyBE2XOtUPieH9W0-7kktDHUIJjP5Cdle6I61r2qxRQoi3YzbwI35pLDOhsAw_syZ3s2il-LxwrMP7cAnc0LxeDI2GyH2IPHGiwzUY6Vmq4fbH_5DOtdE5Nj2PMV8AkMrWin41_deyFDAQAB",
        "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiaGNpYVhFUndYM2UwcERXNkxBbktMT3QybmpzRkhMTU9QbE16OXBwYmlld293aVFKYThVSTNlNFctU19lVEVBclRDVldrSTdQbE80dEUxX3ZaVG14WUEiLCJvcmlnaW4iOiJodHRwczovL2RlbW8ubXltYWlsY2hlYXAuY29tIiwiY3Jvc3NPcmlnaW4iOmZhbHNlfQ",
        "transports": []
    },
    "type": "public-key",
    "clientExtensionResults": {},
    "authenticatorAttachment": "platform",
    "friendly_name": "Windows Hello"
}"#;

/// A user of the mail service and the Basic credentials their client sends.
struct Account {
    user_id: String,
    name: String,
    token: String,
}

/// Creates the user `user_id` named `name` and mints their token with `role` and `domain`, as
/// the mail service's backend does.
async fn account(
    server: &Server,
    user_id: &str,
    name: &str,
    role: Option<&str>,
    domain: Option<&str>,
) -> Account {
    let mut body = json!({ "userName": name });
    if let Some(role) = role {
        body["role"] = role.into();
    }
    if let Some(domain) = domain {
        body["domain"] = domain.into();
    }
    let token = user_token_with(server, server.key.expose(), user_id, &body).await;
    Account {
        user_id: user_id.to_owned(),
        name: name.to_owned(),
        token,
    }
}

async fn mail_user(server: &Server, user_id: &str, name: &str) -> Account {
    account(
        server,
        user_id,
        name,
        Some("MailUser"),
        Some("mail.example"),
    )
    .await
}

/// A request to a mailcheap route, with the account's Basic credentials if one is given.
fn request(
    server: &Server,
    method: &str,
    path: &str,
    account: Option<&Account>,
) -> reqwest::RequestBuilder {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server.client.request(method, server.url(path));
    if let Some(account) = account {
        request = request.basic_auth(&account.name, Some(&account.token));
    }
    request
}

async fn get(server: &Server, path: &str, account: Option<&Account>) -> reqwest::Response {
    request(server, "GET", path, account).send().await.unwrap()
}

async fn post(
    server: &Server,
    path: &str,
    account: Option<&Account>,
    body: &Value,
) -> reqwest::Response {
    request(server, "POST", path, account)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn keys(value: &Value) -> Vec<&str> {
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
    set_settings(
        server,
        &passkeyd::settings::TenantSettings {
            compat: vec!["mailcheap".to_owned()],
            ..passkeyd::settings::TenantSettings::default()
        },
    )
    .await;
}

/// Sets the default tenant's policy in the store (checked first, as every way in does).
async fn set_policy(server: &Server, text: &str) {
    passkeyd::policy::check(text).unwrap();
    server
        .state
        .store
        .set_tenant_policy(&TenantId::default_tenant(), Some(text))
        .await
        .unwrap();
}

/// The registration options for `account`, and a software authenticator's credential for them.
async fn options_and_credential(server: &Server, account: &Account) -> (Value, Credential) {
    let options = ok(get(server, REGISTRATION_OPTIONS, Some(account)).await).await;
    let credential = new_credential(&options);
    (options, credential)
}

/// `credential.toJSON()` of a registration with `friendly_name` added, as mailcheap's page
/// tells clients to send it.
fn registration(credential: &Credential, options: &Value, friendly_name: &str) -> Value {
    let mut body = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    body["friendly_name"] = friendly_name.into();
    body
}

/// Registers a passkey through mailcheap.
async fn register(server: &Server, account: &Account, friendly_name: &str) -> Credential {
    let (options, credential) = options_and_credential(server, account).await;
    let body = registration(&credential, &options, friendly_name);
    let answer = ok(post(server, REGISTRATION_VERIFY, Some(account), &body).await).await;
    assert_eq!(answer, json!({ "friendly_name": friendly_name }));
    credential
}

/// A usernameless sign-in through mailcheap: options, then the assertion.
async fn sign_in(server: &Server, credential: &Credential, sign_count: u32) -> reqwest::Response {
    let options = ok(get(server, AUTHENTICATION_OPTIONS, None).await).await;
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(sign_count)
        .build()
        .to_json();
    post(server, AUTHENTICATION_VERIFY, None, &assertion).await
}

/// `account` stepped up: its Basic password is now the token of a usernameless sign-in with
/// `credential` (adding a passkey to an account that has one needs a recent proof of one).
async fn stepped_up(
    server: &Server,
    account: &Account,
    credential: &Credential,
    sign_count: u32,
) -> Account {
    let signed_in = ok(sign_in(server, credential, sign_count).await).await;
    Account {
        user_id: account.user_id.clone(),
        name: account.name.clone(),
        token: signed_in["token"].as_str().unwrap().to_owned(),
    }
}

/// Asserts a 401 `unauthenticated` with `WWW-Authenticate: Basic`.
async fn unauthenticated(response: reqwest::Response) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = error_body(response, 401).await;
    assert_eq!(body["code"], "unauthenticated", "{body}");
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Basic realm=")),
        "WWW-Authenticate: {challenge:?}"
    );
}

/// A 403 `policy_denied`; returns its notices.
async fn denied(response: reqwest::Response) -> Value {
    let body = error_body(response, 403).await;
    assert_eq!(body["code"], "policy_denied", "{body}");
    body["notices"].clone()
}

/// The user's credentials as the native secret-key API lists them.
async fn stored(server: &Server, user_id: &str) -> Value {
    let list = server
        .client
        .get(server.url(&format!("/users/{user_id}/credentials")))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap();
    ok(list).await["credentials"].clone()
}

#[tokio::test]
async fn off_by_default_then_basic_with_the_user_name_and_a_user_token() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let ada = mail_user(&server, "mbx-ada", "ada@mail.example").await;
    let bob = mail_user(&server, "mbx-bob", "bob@mail.example").await;

    // Off: every route is 404, with valid credentials or without.
    for (method, path) in ROUTES {
        let response = request(&server, method, path, Some(&ada))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_body(response, 404).await["code"],
            "not_found",
            "{method} {path}"
        );
    }

    turn_on(&server).await;
    let listed = ok(get(&server, CREDENTIALS, Some(&ada)).await).await;
    assert_eq!(listed, json!({ "credentials": [] }));

    // One character of the signature changed (not the last, whose low bits may be padding).
    let mut tampered = ada.token.clone();
    let at = tampered.len() - 10;
    let swapped = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, swapped);
    for (method, path) in BASIC_ROUTES {
        let refused = [
            // No credentials.
            request(&server, method, path, None),
            // Another user's name with Ada's token, and the other way round.
            request(&server, method, path, None).basic_auth(&bob.name, Some(&ada.token)),
            request(&server, method, path, None).basic_auth(&ada.name, Some(&bob.token)),
            // The name in another case: user names are compared exactly.
            request(&server, method, path, None).basic_auth("ADA@mail.example", Some(&ada.token)),
            // No password, a tampered token, the tenant's secret key.
            request(&server, method, path, None).basic_auth(&ada.name, None::<&str>),
            request(&server, method, path, None).basic_auth(&ada.name, Some(&tampered)),
            request(&server, method, path, None).basic_auth(&ada.name, Some(server.key.expose())),
            // The token as a bearer (the /me scheme), or a Basic value that is not base64.
            request(&server, method, path, None).bearer_auth(&ada.token),
            request(&server, method, path, None).header("authorization", "Basic !!not-base64!!"),
        ];
        for builder in refused {
            unauthenticated(builder.json(&json!({})).send().await.unwrap()).await;
        }
        // X-Tenant-ID naming another tenant than the token's.
        let mismatch = request(&server, method, path, Some(&ada))
            .header("x-tenant-id", "other")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_body(mismatch, 403).await["code"],
            "tenant_mismatch",
            "{method} {path}"
        );
    }
    // Nothing was registered by any of it.
    assert_eq!(stored(&server, "mbx-ada").await, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn documented_flow_across_nodes_and_a_native_sign_in() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let a = Server::start_with_key(dir.path(), key.clone()).await;
    let b = Server::start_with_key(dir.path(), key.clone()).await;
    turn_on(&a).await;
    let ada = mail_user(&a, "mbx-ada", "ada@mail.example").await;

    // GET registration/options/: the bare creation options, no wrapper and no session.
    let (options, credential) = options_and_credential(&a, &ada).await;
    assert_eq!(
        keys(&options),
        [
            "attestation",
            "authenticatorSelection",
            "challenge",
            "excludeCredentials",
            "pubKeyCredParams",
            "rp",
            "timeout",
            "user"
        ]
    );
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "ada@mail.example");
    assert_eq!(options["user"]["displayName"], "ada@mail.example");
    assert_eq!(options["excludeCredentials"], json!([]));
    assert!(options["challenge"].is_string());

    // POST registration/verify/ on the other node: the credential JSON with `friendly_name`
    // added answers {friendly_name}.
    let body = registration(&credential, &options, "Windows Hello");
    let answer = ok(post(&b, REGISTRATION_VERIFY, Some(&ada), &body).await).await;
    assert_eq!(answer, json!({ "friendly_name": "Windows Hello" }));

    // A second passkey with the same token (the app's) is refused: Ada has one now, and
    // adding another needs a recent proof of it. She signs in with it (usernameless, through
    // mailcheap) and uses that token as her Basic password.
    let refused = error_body(get(&a, REGISTRATION_OPTIONS, Some(&ada)).await, 403).await;
    assert_eq!(refused["code"], "step_up_required");
    assert_eq!(refused["details"]["max_age_secs"], 300);
    let stepped = ok(sign_in(&a, &credential, 1).await).await;
    let ada = Account {
        user_id: ada.user_id.clone(),
        name: ada.name.clone(),
        token: stepped["token"].as_str().unwrap().to_owned(),
    };
    // Single use: the first registration again.
    let again = error_body(post(&a, REGISTRATION_VERIFY, Some(&ada), &body).await, 400).await;
    assert_eq!(again["code"], "session_not_found");

    // A second, synced passkey: the options exclude the first.
    let (options, mut synced) = options_and_credential(&b, &ada).await;
    assert_eq!(
        options["excludeCredentials"][0]["id"],
        base64url_encode(&credential.id)
    );
    synced.backup_eligible = true;
    synced.backup_state = true;
    let body = registration(&synced, &options, "iCloud Keychain");
    ok(post(&a, REGISTRATION_VERIFY, Some(&ada), &body).await).await;

    // GET credentials/: {credentials: [{friendly_name, device_type, backed_up}]}.
    let listed = ok(get(&a, CREDENTIALS, Some(&ada)).await).await;
    assert_eq!(keys(&listed), ["credentials"]);
    let mut list = listed["credentials"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{listed}");
    for entry in &list {
        assert_eq!(keys(entry), ["backed_up", "device_type", "friendly_name"]);
        assert!(entry["friendly_name"].is_string());
        assert!(entry["device_type"].is_string());
        assert!(entry["backed_up"].is_u64());
    }
    // Both were registered within a second: their order is the store's, not asserted.
    list.sort_by_key(|entry| entry["friendly_name"].as_str().unwrap().to_owned());
    assert_eq!(
        list,
        [
            json!({"friendly_name": "Windows Hello", "device_type": "single_device", "backed_up": 0}),
            json!({"friendly_name": "iCloud Keychain", "device_type": "multi_device", "backed_up": 1}),
        ]
    );
    // The native API sees the same credentials, under their friendly names.
    let native = stored(&b, "mbx-ada").await;
    let named = |name: &str| {
        native
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["friendlyName"] == name)
            .map(|c| c["credentialId"].clone())
    };
    assert_eq!(
        named("Windows Hello"),
        Some(base64url_encode(&credential.id).into())
    );
    assert_eq!(
        named("iCloud Keychain"),
        Some(base64url_encode(&synced.id).into())
    );

    // GET authentication/options/, no credentials: bare request options, usernameless.
    let request_options = ok(get(&a, AUTHENTICATION_OPTIONS, None).await).await;
    assert_eq!(
        keys(&request_options),
        [
            "allowCredentials",
            "challenge",
            "rpId",
            "timeout",
            "userVerification"
        ]
    );
    assert_eq!(request_options["allowCredentials"], json!([]));
    assert_eq!(request_options["rpId"], "localhost");
    // POST authentication/verify/ on the other node: the assertion JSON answers the Basic
    // credentials of the signed-in user.
    let assertion = credential
        .assert(&challenge(&request_options), ORIGIN)
        .sign_count(2)
        .build()
        .to_json();
    let signed_in = ok(post(&b, AUTHENTICATION_VERIFY, None, &assertion).await).await;
    assert_eq!(keys(&signed_in), ["expires_at", "token", "username"]);
    assert_eq!(signed_in["username"], "ada@mail.example");
    let token = signed_in["token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3);
    assert!(signed_in["expires_at"].as_i64().unwrap() > a.clock.now().0);
    // Single use.
    let again = error_body(post(&a, AUTHENTICATION_VERIFY, None, &assertion).await, 400).await;
    assert_eq!(again["code"], "session_not_found");
    // The answer works as the Basic credentials of the other routes.
    let with_token = Account {
        user_id: ada.user_id.clone(),
        name: ada.name.clone(),
        token,
    };
    let listed = ok(get(&b, CREDENTIALS, Some(&with_token)).await).await;
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 2);

    // The synced passkey signs in through mailcheap too.
    let signed_in = ok(sign_in(&a, &synced, 0).await).await;
    assert_eq!(signed_in["username"], "ada@mail.example");

    // A credential registered through mailcheap signs in through the native API.
    let key = key.expose().to_owned();
    let (session, options) = begin_authentication(&a, &key, json!({ "userId": "mbx-ada" })).await;
    let allowed: Vec<&Value> = options["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(allowed.len(), 2);
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(3)
        .build()
        .to_json();
    let native = ok(finish_authentication(&b, &key, &session, assertion).await).await;
    assert_eq!(native["verified"], true);
    assert_eq!(native["userId"], "mbx-ada");
    assert_eq!(native["credentialId"], base64url_encode(&credential.id));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_documented_example_is_read_and_refused_for_its_foreign_challenge() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;
    let admin = account(
        &server,
        "masteradmin2",
        "masteradmin2",
        Some("MasterAdmin"),
        None,
    )
    .await;
    let documented: Value = serde_json::from_str(DOCUMENTED_REQUEST).unwrap();
    // The page's request, as its Python example sends it: the JSON body and HTTP Basic. Its
    // challenge was issued by mailcheap's demo server, not here: no such ceremony.
    let refused = error_body(
        post(&server, REGISTRATION_VERIFY, Some(&admin), &documented).await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "session_not_found", "{refused}");
    assert_eq!(stored(&server, "masteradmin2").await, json!([]));

    // The same shape with a challenge issued here registers, and answers the documented
    // response: {"friendly_name": "Windows Hello"}.
    let (options, credential) = options_and_credential(&server, &admin).await;
    let mut body = documented.clone();
    let ours = registration(&credential, &options, "Windows Hello");
    for field in ["id", "rawId", "response"] {
        body[field] = ours[field].clone();
    }
    assert_eq!(keys(&body), keys(&documented));
    let answer = ok(post(&server, REGISTRATION_VERIFY, Some(&admin), &body).await).await;
    assert_eq!(answer, json!({ "friendly_name": "Windows Hello" }));
    server.stop().await;
}

#[tokio::test]
async fn failed_requests_answer_the_envelope_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_unthrottled(&dir).await;
    turn_on(&server).await;
    let ada = mail_user(&server, "mbx-ada", "ada@mail.example").await;
    let bob = mail_user(&server, "mbx-bob", "bob@mail.example").await;

    // Bad bodies are 400 `invalid_request` and leave the ceremony open.
    let (options, credential) = options_and_credential(&server, &ada).await;
    let good = registration(&credential, &options, "Laptop");
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("friendly_name");
    let mut empty = good.clone();
    empty["friendly_name"] = "".into();
    let mut number = good.clone();
    number["friendly_name"] = 5.into();
    for body in [missing, empty, number, json!([1, 2])] {
        let refused = error_body(
            post(&server, REGISTRATION_VERIFY, Some(&ada), &body).await,
            400,
        )
        .await;
        assert_eq!(refused["code"], "invalid_request", "{body}: {refused}");
    }
    let not_json = request(&server, "POST", REGISTRATION_VERIFY, Some(&ada))
        .header("content-type", "application/json")
        .body("friendly_name=Laptop")
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(not_json, 400).await["code"], "invalid_request");
    // A body without a challenge names no ceremony.
    let no_challenge = error_body(
        post(
            &server,
            REGISTRATION_VERIFY,
            Some(&ada),
            &json!({"friendly_name": "Laptop", "id": "AA"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(no_challenge["code"], "session_not_found");
    assert_eq!(stored(&server, "mbx-ada").await, json!([]));
    ok(post(&server, REGISTRATION_VERIFY, Some(&ada), &good).await).await;
    // Ada has a passkey now: the next ones need a step-up with it.
    let ada = stepped_up(&server, &ada, &credential, 1).await;

    // A response from another origin fails verification, stores nothing, and uses up the
    // ceremony.
    let (options, other) = options_and_credential(&server, &ada).await;
    let mut evil = other
        .register(&challenge(&options), "https://evil.example")
        .build()
        .to_json();
    evil["friendly_name"] = "Evil".into();
    let refused = error_body(
        post(&server, REGISTRATION_VERIFY, Some(&ada), &evil).await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "origin_mismatch");
    let late = registration(&other, &options, "Other");
    let refused = error_body(
        post(&server, REGISTRATION_VERIFY, Some(&ada), &late).await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "session_not_found");
    assert_eq!(
        stored(&server, "mbx-ada").await.as_array().unwrap().len(),
        1
    );

    // Ada's ceremony finished by Bob: refused, for both of them.
    let (options, third) = options_and_credential(&server, &ada).await;
    let body = registration(&third, &options, "Third");
    let refused = error_body(
        post(&server, REGISTRATION_VERIFY, Some(&bob), &body).await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "invalid_request");
    assert_eq!(stored(&server, "mbx-bob").await, json!([]));
    assert_eq!(
        stored(&server, "mbx-ada").await.as_array().unwrap().len(),
        1
    );

    // Sign-in: a forged signature with a higher counter moves nothing stored.
    ok(sign_in(&server, &credential, 10).await).await;
    let before = stored(&server, "mbx-ada").await;
    let options = ok(get(&server, AUTHENTICATION_OPTIONS, None).await).await;
    let forged = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1000)
        .edit_signature(|s| {
            let last = s.len() - 1;
            s[last] ^= 1;
        })
        .build()
        .to_json();
    let refused = error_body(
        post(&server, AUTHENTICATION_VERIFY, None, &forged).await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "signature_invalid");
    assert_eq!(stored(&server, "mbx-ada").await, before);
    let late = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(11)
        .build()
        .to_json();
    let refused = error_body(post(&server, AUTHENTICATION_VERIFY, None, &late).await, 400).await;
    assert_eq!(refused["code"], "session_not_found");
    // A counter that did not move is a possible clone: refused, and nothing moves.
    let regressed = error_body(sign_in(&server, &credential, 10).await, 400).await;
    assert_eq!(regressed["code"], "counter_regression");
    assert_eq!(stored(&server, "mbx-ada").await, before);

    // A credential never registered, an assertion without a challenge, not JSON.
    let stranger = Credential::new(passkeyd_webauthn::CoseAlgorithm::Es256, "localhost");
    let unknown = error_body(sign_in(&server, &stranger, 1).await, 400).await;
    assert_eq!(unknown["code"], "credential_unknown");
    let empty = error_body(
        post(&server, AUTHENTICATION_VERIFY, None, &json!({})).await,
        400,
    )
    .await;
    assert_eq!(empty["code"], "session_not_found");
    let not_json = request(&server, "POST", AUTHENTICATION_VERIFY, None)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(not_json, 400).await["code"], "invalid_request");

    // A page elsewhere cannot begin a sign-in; the tenant's own origin can.
    let foreign = request(&server, "GET", AUTHENTICATION_OPTIONS, None)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(foreign, 403).await["code"], "forbidden");
    let own = request(&server, "GET", AUTHENTICATION_OPTIONS, None)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    ok(own).await;

    // A ceremony past its timeout is gone.
    let options = ok(get(&server, AUTHENTICATION_OPTIONS, None).await).await;
    server
        .clock
        .advance(options["timeout"].as_i64().unwrap() / 1000 + 1);
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(20)
        .build()
        .to_json();
    let expired = error_body(
        post(&server, AUTHENTICATION_VERIFY, None, &assertion).await,
        410,
    )
    .await;
    assert_eq!(expired["code"], "session_expired");
    assert_eq!(stored(&server, "mbx-ada").await, before);
    server.stop().await;
}

#[tokio::test]
async fn roles_and_domains_are_decided_by_the_tenants_policy() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;
    set_policy(&server, ROLES_POLICY).await;

    // A role the policy does not know, and no role: refused with the deciding notice.
    let suspended = account(
        &server,
        "mbx-sue",
        "sue@mail.example",
        Some("Suspended"),
        Some("mail.example"),
    )
    .await;
    let roleless = account(&server, "mbx-roy", "roy@mail.example", None, None).await;
    for account in [&suspended, &roleless] {
        for path in [REGISTRATION_OPTIONS, CREDENTIALS] {
            let notices = denied(get(&server, path, Some(account)).await).await;
            assert_eq!(notices, json!([ROLES_ONLY]), "{} {path}", account.name);
        }
    }

    // A MailUser whose token names another domain than their mailbox's.
    let eve = account(
        &server,
        "mbx-eve",
        "eve@mail.example",
        Some("MailUser"),
        Some("other.example"),
    )
    .await;
    let notices = denied(get(&server, REGISTRATION_OPTIONS, Some(&eve)).await).await;
    assert_eq!(notices, json!([OWN_DOMAIN]));

    // A MailUser of their own domain registers and lists.
    let ada = mail_user(&server, "mbx-ada", "ada@mail.example").await;
    let credential = register(&server, &ada, "Phone").await;
    let listed = ok(get(&server, CREDENTIALS, Some(&ada)).await).await;
    assert_eq!(listed["credentials"][0]["friendly_name"], "Phone");

    // A DomainAdmin may begin, but a passkey without user verification is refused at the
    // verify, and nothing is stored; with it, the passkey is registered.
    let dan = account(
        &server,
        "mbx-dan",
        "dan@mail.example",
        Some("DomainAdmin"),
        Some("mail.example"),
    )
    .await;
    let (options, key) = options_and_credential(&server, &dan).await;
    let mut body = key
        .register(&challenge(&options), ORIGIN)
        .user_verified(false)
        .build()
        .to_json();
    body["friendly_name"] = "Key".into();
    let notices = denied(post(&server, REGISTRATION_VERIFY, Some(&dan), &body).await).await;
    assert_eq!(notices, json!([ADMINS_VERIFY]));
    assert_eq!(stored(&server, "mbx-dan").await, json!([]));
    register(&server, &dan, "Key").await;

    // The MasterAdmin of the documented example: no domain needed.
    let admin = account(
        &server,
        "masteradmin2",
        "masteradmin2",
        Some("MasterAdmin"),
        None,
    )
    .await;
    register(&server, &admin, "Windows Hello").await;

    // Sign-ins are not restricted; the token they answer names no role, so under this policy
    // it cannot list passkeys.
    let signed_in = ok(sign_in(&server, &credential, 1).await).await;
    let with_token = Account {
        user_id: ada.user_id.clone(),
        name: ada.name.clone(),
        token: signed_in["token"].as_str().unwrap().to_owned(),
    };
    let notices = denied(get(&server, CREDENTIALS, Some(&with_token)).await).await;
    assert_eq!(notices, json!([ROLES_ONLY]));
    server.stop().await;
}

#[tokio::test]
async fn the_sign_in_routes_find_their_tenant_by_host() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    turn_on(&server).await;
    let with_host = |host: &str| {
        request(&server, "GET", AUTHENTICATION_OPTIONS, None)
            .header("host", host)
            .send()
    };

    // One tenant with mailcheap on: it answers whatever the host.
    let options = ok(get(&server, AUTHENTICATION_OPTIONS, None).await).await;
    assert_eq!(options["rpId"], "localhost");
    let options = ok(with_host("mail.elsewhere.example").await.unwrap()).await;
    assert_eq!(options["rpId"], "localhost");

    // Two: the host chooses, by RP ID or a parent domain of it.
    let acme_key = server.add_tenant("acme").await;
    let acme = TenantId::parse("acme").unwrap();
    let on = passkeyd::settings::TenantSettings {
        compat: vec!["mailcheap".to_owned()],
        ..passkeyd::settings::TenantSettings::default()
    };
    server
        .state
        .store
        .update_tenant_settings(&acme, &on.to_map())
        .await
        .unwrap();
    for host in [
        "acme.example.com",
        "mail.acme.example.com:8443",
        "ACME.example.com.",
    ] {
        let options = ok(with_host(host).await.unwrap()).await;
        assert_eq!(options["rpId"], "acme.example.com", "{host}");
    }
    let options = ok(with_host("localhost:8080").await.unwrap()).await;
    assert_eq!(options["rpId"], "localhost");
    // A host that names neither: no tenant.
    for host in ["example.com", "notacme.example.com"] {
        let none = with_host(host).await.unwrap();
        assert_eq!(error_body(none, 404).await["code"], "not_found", "{host}");
    }
    let none = get(&server, AUTHENTICATION_OPTIONS, None).await;
    assert_eq!(error_body(none, 404).await["code"], "not_found");

    // A passkey of acme signs in at acme's host, and only there.
    let credential = register_in(
        &server,
        acme_key.expose(),
        "https://acme.example.com",
        "acme-user",
    )
    .await;
    for (verify_host, expected) in [("localhost", 400), ("mail.acme.example.com", 200)] {
        let options = ok(with_host("mail.acme.example.com").await.unwrap()).await;
        let assertion = credential
            .assert(&challenge(&options), "https://acme.example.com")
            .sign_count(1)
            .build()
            .to_json();
        let response = request(&server, "POST", AUTHENTICATION_VERIFY, None)
            .header("host", verify_host)
            .json(&assertion)
            .send()
            .await
            .unwrap();
        if expected == 200 {
            let signed_in = ok(response).await;
            assert_eq!(signed_in["username"], "acme-user@example.com");
        } else {
            // The default tenant has no such ceremony.
            let refused = error_body(response, 400).await;
            assert_eq!(refused["code"], "session_not_found");
        }
    }

    // Acme turns mailcheap off: the only tenant left answers again, whatever the host.
    server
        .state
        .store
        .update_tenant_settings(&acme, &serde_json::Map::new())
        .await
        .unwrap();
    let options = ok(with_host("acme.example.com").await.unwrap()).await;
    assert_eq!(options["rpId"], "localhost");
    server.stop().await;
}
