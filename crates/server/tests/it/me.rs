//! User tokens and the user-facing `/me` API: minting, the bearer checks, the credential
//! routes, and every attempt to reach another user's or another tenant's data.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::Credential;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_registration, challenge, new_credential, ok, post, register, set_settings, sign_in,
    ORIGIN,
};
use crate::common::{error_body, Server};

/// Mints a user token with the default tenant's secret key.
pub(crate) async fn user_token(server: &Server, user_id: &str) -> String {
    user_token_with(server, server.key.expose(), user_id, &json!({})).await
}

/// Mints a user token with `key` and `body`.
pub(crate) async fn user_token_with(
    server: &Server,
    key: &str,
    user_id: &str,
    body: &Value,
) -> String {
    let minted = ok(post(server, key, &format!("/users/{user_id}/tokens"), body).await).await;
    assert_eq!(minted["userId"], user_id);
    minted["token"].as_str().unwrap().to_owned()
}

/// Calls a `/me` route with a bearer token (none if `token` is empty).
pub(crate) async fn me(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = server.client.request(method, server.url(path));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// The claims of a JWT, read without verification.
pub(crate) fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header of a JWT.
pub(crate) fn header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// `token` with its claims replaced and its signature kept.
fn with_claims(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// Registers a passkey for `user_id` (created if new) in the tenant of `key`, whose RP ID and
/// origin are given; returns the credential.
pub(crate) async fn register_in(
    server: &Server,
    key: &str,
    origin: &str,
    user_id: &str,
) -> Credential {
    let (session, options) = begin_registration(
        server,
        key,
        json!({ "userId": user_id, "userName": format!("{user_id}@example.com") }),
    )
    .await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), origin)
        .build()
        .to_json();
    ok(post(
        server,
        key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    credential
}

/// A step-up token for the credential's user: the result token of a passkey sign-in with it
/// (`amr: ["passkey", ...]`, `auth_time` now). `sign_count` must exceed the last one used.
pub(crate) async fn step_up(server: &Server, credential: &Credential, sign_count: u32) -> String {
    let signed_in = ok(sign_in(server, credential, sign_count).await).await;
    signed_in["token"].as_str().unwrap().to_owned()
}

/// A step-up token that keeps the role and domain of `token` (the app's token for the user):
/// sign in with the passkey, get a new set of backup codes with that sign-in's token, and
/// verify one with `token`, which answers a token with `amr: ["backup_code"]` and the claims
/// of `token`. (A sign-in's own token names no role.)
pub(crate) async fn step_up_keeping_claims(
    server: &Server,
    credential: &Credential,
    sign_count: u32,
    token: &str,
) -> String {
    let signed_in = step_up(server, credential, sign_count).await;
    let codes = ok(me(
        server,
        Method::POST,
        "/me/mfa/backup-codes",
        &signed_in,
        None,
    )
    .await)
    .await;
    let body = json!({ "code": codes["codes"][0] });
    let verified = ok(me(
        server,
        Method::POST,
        "/me/mfa/backup-codes/verify",
        token,
        Some(body),
    )
    .await)
    .await;
    verified["token"].as_str().unwrap().to_owned()
}

/// Registers a passkey for `user_id` in the default tenant.
pub(crate) async fn register_user(server: &Server, user_id: &str) -> Credential {
    register_in(server, server.key.expose(), ORIGIN, user_id).await
}

/// Asserts a 401 `unauthenticated` with `WWW-Authenticate: Bearer`.
pub(crate) async fn unauthenticated(response: reqwest::Response) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = error_body(response, 401).await;
    assert_eq!(body["code"], "unauthenticated", "{body}");
    assert!(
        challenge.is_some_and(|c| c.starts_with("Bearer")),
        "no WWW-Authenticate: Bearer"
    );
}

/// The credential IDs of the user's credentials, as the secret-key API lists them.
async fn stored_credentials(server: &Server, key: &str, user_id: &str) -> Vec<Value> {
    let list = server
        .client
        .get(server.url(&format!("/users/{user_id}/credentials")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    ok(list).await["credentials"].as_array().unwrap().clone()
}

/// Every `/me` route, with a body it would accept in shape.
fn me_routes(credential_id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/me/credentials".to_owned(), None),
        (
            Method::PATCH,
            format!("/me/credentials/{credential_id}"),
            Some(json!({ "friendlyName": "mine now" })),
        ),
        (
            Method::DELETE,
            format!("/me/credentials/{credential_id}"),
            None,
        ),
        (
            Method::POST,
            "/me/mfa/webauthn/register/begin".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/me/mfa/webauthn/register/complete".to_owned(),
            Some(json!({ "session": "x", "publicKeyCredential": {} })),
        ),
        (Method::POST, "/me/mfa/backup-codes".to_owned(), None),
        (
            Method::POST,
            "/me/mfa/backup-codes/verify".to_owned(),
            Some(json!({ "code": "0000-0000-0000-0000" })),
        ),
    ]
}

#[tokio::test]
async fn user_tokens_are_minted_for_existing_users_with_checked_claims() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    register_user(&server, "alice").await;

    let token = user_token(&server, "alice").await;
    let c = claims(&token);
    assert_eq!(c["purpose"], "user");
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["tenant"], "default");
    assert_eq!(c["aud"], "default");
    assert_eq!(c["uv"], false);
    assert_eq!(c["amr"], json!([]));
    assert!(c.get("cred").is_none() && c.get("role").is_none());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);

    let minted = ok(post(
        &server,
        &key,
        "/users/alice/tokens",
        &json!({ "role": "admin", "domain": "example.com", "ttlSeconds": 3600 }),
    )
    .await)
    .await;
    let c = claims(minted["token"].as_str().unwrap());
    assert_eq!(c["role"], "admin");
    assert_eq!(c["domain"], "example.com");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(minted["expiresAt"], c["exp"]);

    for bad in [
        json!({ "ttlSeconds": 0 }),
        json!({ "ttlSeconds": 3601 }),
        json!({ "role": "r".repeat(65) }),
        json!({ "role": "" }),
        json!({ "domain": "a\nb" }),
        json!({ "domain": " " }),
        json!({ "scope": "everything" }),
    ] {
        let refused = error_body(post(&server, &key, "/users/alice/tokens", &bad).await, 400).await;
        assert_eq!(refused["code"], "invalid_request", "{bad}");
    }
    // 64 characters (not bytes) is the limit.
    ok(post(
        &server,
        &key,
        "/users/alice/tokens",
        &json!({ "role": "é".repeat(64) }),
    )
    .await)
    .await;

    let unknown = error_body(
        post(&server, &key, "/users/nobody/tokens", &json!({})).await,
        404,
    )
    .await;
    assert_eq!(unknown["code"], "not_found");
    let keyless = server
        .client
        .post(server.url("/users/alice/tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(keyless, 401).await["code"], "unauthenticated");
    server.stop().await;
}

#[tokio::test]
async fn a_user_lists_renames_and_deletes_their_own_credentials() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let first = register_user(&server, "alice").await;
    let second = register_user(&server, "alice").await;
    let token = user_token(&server, "alice").await;

    let list = ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    let mut ids: Vec<&str> = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["credentialId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = [base64url_encode(&first.id), base64url_encode(&second.id)];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    let first_id = base64url_encode(&first.id);
    let path = format!("/me/credentials/{first_id}");
    let renamed = ok(me(
        &server,
        Method::PATCH,
        &path,
        &token,
        Some(json!({ "friendlyName": "Phone" })),
    )
    .await)
    .await;
    assert_eq!(renamed["friendlyName"], "Phone");
    assert_eq!(renamed["userId"], "alice");
    let bad = me(
        &server,
        Method::PATCH,
        &path,
        &token,
        Some(json!({ "friendlyName": "x".repeat(257) })),
    )
    .await;
    assert_eq!(error_body(bad, 400).await["code"], "invalid_request");
    let bad_id = me(&server, Method::DELETE, "/me/credentials/!!", &token, None).await;
    assert_eq!(error_body(bad_id, 400).await["code"], "invalid_request");

    // Deleting a passkey needs a step-up: the user's token is the app's (a password session).
    let refused = me(&server, Method::DELETE, &path, &token, None).await;
    let refused = error_body(refused, 403).await;
    assert_eq!(refused["code"], "step_up_required");
    assert_eq!(refused["details"]["max_age_secs"], 300);
    let token = step_up(&server, &second, 1).await;
    let deleted = me(&server, Method::DELETE, &path, &token, None).await;
    assert_eq!(deleted.status(), 204);
    let again = me(&server, Method::DELETE, &path, &token, None).await;
    assert_eq!(error_body(again, 404).await["code"], "not_found");
    let list = ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    assert_eq!(list["credentials"].as_array().unwrap().len(), 1);
    // Without a tenant requiring MFA, the last one can go too.
    let last = format!("/me/credentials/{}", base64url_encode(&second.id));
    assert_eq!(
        me(&server, Method::DELETE, &last, &token, None)
            .await
            .status(),
        204
    );
    let list = ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    assert_eq!(list["credentials"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_user_can_never_reach_another_users_credentials() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let alice = register_user(&server, "alice").await;
    let bob = register_user(&server, "bob").await;
    // Stepped up, so that the routes that change factors answer for Alice's own account.
    let alice_token = step_up(&server, &alice, 1).await;
    let bob_id = base64url_encode(&bob.id);
    let before = stored_credentials(&server, &key, "bob").await;

    for (method, path, body) in me_routes(&bob_id) {
        let response = me(&server, method.clone(), &path, &alice_token, body).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match (method.as_str(), path.as_str()) {
            // Bob's credential ID is not found for Alice, exactly like an unknown one.
            ("PATCH" | "DELETE", _) => {
                assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
            }
            // Alice's own list holds only her credential.
            ("GET", _) => {
                assert_eq!(status, 200);
                assert_eq!(body["credentials"].as_array().unwrap().len(), 1);
                assert_eq!(
                    body["credentials"][0]["credentialId"],
                    base64url_encode(&alice.id)
                );
            }
            // The session "x" is nobody's.
            (_, "/me/mfa/webauthn/register/complete") => {
                assert_eq!(
                    (status, body["code"].as_str()),
                    (400, Some("session_not_found"))
                );
            }
            // Wrong code for Alice; Bob's codes are not involved.
            (_, "/me/mfa/backup-codes/verify") => {
                assert_eq!(
                    (status, body["code"].as_str()),
                    (401, Some("backup_code_invalid"))
                );
            }
            // Begin and regenerate act on Alice alone.
            _ => assert_eq!(status, 200, "{method} {path}: {body}"),
        }
    }
    // Bob's credential is untouched: same name, still there, still signs in.
    assert_eq!(stored_credentials(&server, &key, "bob").await, before);
    ok(sign_in(&server, &bob, 1).await).await;

    // Bob's MFA session cannot be completed with Alice's token, and is not used up by trying.
    let bob_token = step_up(&server, &bob, 2).await;
    let begun = ok(me(
        &server,
        Method::POST,
        "/me/mfa/webauthn/register/begin",
        &bob_token,
        None,
    )
    .await)
    .await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let new_key = new_credential(options);
    let response = new_key
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let complete = json!({ "session": begun["session"], "publicKeyCredential": response });
    let refused = me(
        &server,
        Method::POST,
        "/me/mfa/webauthn/register/complete",
        &alice_token,
        Some(complete.clone()),
    )
    .await;
    assert_eq!(error_body(refused, 400).await["code"], "session_not_found");
    let enrolled = ok(me(
        &server,
        Method::POST,
        "/me/mfa/webauthn/register/complete",
        &bob_token,
        Some(complete),
    )
    .await)
    .await;
    assert_eq!(enrolled["credentialId"], base64url_encode(&new_key.id));
    assert_eq!(stored_credentials(&server, &key, "bob").await.len(), 2);

    // A session begun with the secret key (for Alice) is not a /me session either.
    let (session, options) = begin_registration(&server, &key, json!({ "userId": "alice" })).await;
    let response = new_credential(&options)
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    for session in [session.clone(), format!("mfa.{session}.AAAA")] {
        let refused = me(
            &server,
            Method::POST,
            "/me/mfa/webauthn/register/complete",
            &alice_token,
            Some(json!({ "session": session, "publicKeyCredential": response })),
        )
        .await;
        assert_eq!(error_body(refused, 400).await["code"], "session_not_found");
    }
    assert_eq!(stored_credentials(&server, &key, "alice").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_token_of_one_tenant_never_acts_at_another() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let x_key = server.add_tenant("x").await;
    let x_key = x_key.expose().to_owned();
    // The same app user ID in both tenants: two different users.
    let default_same = register_user(&server, "same").await;
    let x_same = register_in(&server, &x_key, "https://x.example.com", "same").await;
    let x_token = user_token_with(&server, &x_key, "same", &json!({})).await;
    assert_eq!(claims(&x_token)["tenant"], "x");
    let default_token = user_token(&server, "same").await;

    // Each token lists its own tenant's credentials only.
    let list = ok(me(&server, Method::GET, "/me/credentials", &x_token, None).await).await;
    assert_eq!(list["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["credentials"][0]["credentialId"],
        base64url_encode(&x_same.id)
    );
    let list = ok(me(
        &server,
        Method::GET,
        "/me/credentials",
        &default_token,
        None,
    )
    .await)
    .await;
    assert_eq!(
        list["credentials"][0]["credentialId"],
        base64url_encode(&default_same.id)
    );

    // Every route, with tenant X's token, against the default tenant's credential.
    let default_id = base64url_encode(&default_same.id);
    let before = stored_credentials(&server, server.key.expose(), "same").await;
    for (method, path, body) in me_routes(&default_id) {
        if method == Method::PATCH || method == Method::DELETE {
            let response = me(&server, method.clone(), &path, &x_token, body.clone()).await;
            assert_eq!(
                error_body(response, 404).await["code"],
                "not_found",
                "{path}"
            );
        }
        // Naming the other tenant in X-Tenant-ID is refused outright, before anything runs.
        let mut request = server
            .client
            .request(method, server.url(&path))
            .bearer_auth(&x_token)
            .header("x-tenant-id", "default");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let mismatch = request.send().await.unwrap();
        assert_eq!(
            error_body(mismatch, 403).await["code"],
            "tenant_mismatch",
            "{path}"
        );
    }
    assert_eq!(
        stored_credentials(&server, server.key.expose(), "same").await,
        before
    );
    // Naming its own tenant is fine.
    let own = server
        .client
        .get(server.url("/me/credentials"))
        .bearer_auth(&x_token)
        .header("x-tenant-id", "x")
        .send()
        .await
        .unwrap();
    ok(own).await;

    // A token rewritten to name the default tenant keeps X's key ID and signature: refused on
    // every route.
    let mut forged = claims(&x_token);
    forged["tenant"] = json!("default");
    forged["aud"] = json!("default");
    let forged = with_claims(&x_token, &forged);
    for (method, path, body) in me_routes(&default_id) {
        unauthenticated(me(&server, method, &path, &forged, body).await).await;
    }
    // Naming a tenant that does not exist is the same 401.
    let mut ghost = claims(&x_token);
    ghost["tenant"] = json!("ghost");
    unauthenticated(
        me(
            &server,
            Method::GET,
            "/me/credentials",
            &with_claims(&x_token, &ghost),
            None,
        )
        .await,
    )
    .await;

    // Tenant X's secret key mints nothing for a user only the default tenant has.
    register_user(&server, "only-default").await;
    let refused = post(&server, &x_key, "/users/only-default/tokens", &json!({})).await;
    assert_eq!(error_body(refused, 404).await["code"], "not_found");
    server.stop().await;
}

#[tokio::test]
async fn bad_expired_tampered_and_wrong_purpose_tokens_are_unauthenticated() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (credential, registered) = register(&server, "alice@example.com").await;
    let user_id = registered["userId"].as_str().unwrap().to_owned();
    let token = user_token(&server, &user_id).await;
    ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;

    // No token, on every route.
    for (method, path, body) in me_routes("AAAA") {
        unauthenticated(me(&server, method, &path, "", body).await).await;
    }
    // Not a bearer token, or not a token.
    for authorization in [
        "Basic YWxpY2U6cGFzc3dvcmQ=".to_owned(),
        format!("Token {token}"),
        "Bearer".to_owned(),
        "Bearer not.a.jwt".to_owned(),
        "Bearer a.b".to_owned(),
        format!("Bearer {}", "A".repeat(10_000)),
        format!("Bearer {key}"),
    ] {
        let response = server
            .client
            .get(server.url("/me/credentials"))
            .header("authorization", authorization.clone())
            .send()
            .await
            .unwrap();
        unauthenticated(response).await;
    }
    // The scheme is case-insensitive.
    let lower = server
        .client
        .get(server.url("/me/credentials"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    ok(lower).await;

    // Tampered: a changed claim under the original signature, or a changed signature.
    let mut changed = claims(&token);
    changed["sub"] = json!("someone-else");
    unauthenticated(
        me(
            &server,
            Method::GET,
            "/me/credentials",
            &with_claims(&token, &changed),
            None,
        )
        .await,
    )
    .await;
    let mut changed = claims(&token);
    changed["exp"] = json!(changed["exp"].as_i64().unwrap() + 86_400);
    unauthenticated(
        me(
            &server,
            Method::GET,
            "/me/credentials",
            &with_claims(&token, &changed),
            None,
        )
        .await,
    )
    .await;
    let mut bytes = token.clone().into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let resigned = String::from_utf8(bytes).unwrap();
    unauthenticated(me(&server, Method::GET, "/me/credentials", &resigned, None).await).await;
    // `alg: none` with no signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        token.split('.').nth(1).unwrap()
    );
    unauthenticated(me(&server, Method::GET, "/me/credentials", &none, None).await).await;

    // A registration's result token is not a sign-in; an authentication's is.
    let registration_token = registered["token"].as_str().unwrap();
    assert_eq!(claims(registration_token)["purpose"], "registration");
    unauthenticated(
        me(
            &server,
            Method::GET,
            "/me/credentials",
            registration_token,
            None,
        )
        .await,
    )
    .await;
    let signed_in = ok(sign_in(&server, &credential, 1).await).await;
    let authentication_token = signed_in["token"].as_str().unwrap();
    assert_eq!(claims(authentication_token)["purpose"], "authentication");
    let list = ok(me(
        &server,
        Method::GET,
        "/me/credentials",
        authentication_token,
        None,
    )
    .await)
    .await;
    assert_eq!(
        list["credentials"][0]["credentialId"],
        base64url_encode(&credential.id)
    );

    // Expired: refused from its `exp` on.
    let short = user_token_with(&server, &key, &user_id, &json!({ "ttlSeconds": 60 })).await;
    ok(me(&server, Method::GET, "/me/credentials", &short, None).await).await;
    server.clock.advance(60);
    unauthenticated(me(&server, Method::GET, "/me/credentials", &short, None).await).await;
    ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    server.clock.advance(900);
    unauthenticated(me(&server, Method::GET, "/me/credentials", &token, None).await).await;

    // A token dies with its user.
    let token = user_token(&server, &user_id).await;
    let deleted = server
        .client
        .delete(server.url(&format!("/users/{user_id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    unauthenticated(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    server.stop().await;
}

#[tokio::test]
async fn a_tenant_requiring_mfa_keeps_the_last_credential() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_settings(
        &server,
        &passkeyd::settings::TenantSettings {
            require_mfa: true,
            ..Default::default()
        },
    )
    .await;
    let first = register_user(&server, "alice").await;
    let second = register_user(&server, "alice").await;
    let token = step_up(&server, &first, 1).await;
    let path = |c: &Credential| format!("/me/credentials/{}", base64url_encode(&c.id));
    assert_eq!(
        me(&server, Method::DELETE, &path(&first), &token, None)
            .await
            .status(),
        204
    );
    let refused = me(&server, Method::DELETE, &path(&second), &token, None).await;
    assert_eq!(error_body(refused, 409).await["code"], "last_credential");
    let list = ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    assert_eq!(
        list["credentials"][0]["credentialId"],
        base64url_encode(&second.id)
    );
    ok(sign_in(&server, &second, 1).await).await;

    // Racing deletes of the last two credentials never leave the user with none: one of them
    // wins, in one transaction, and nothing else of the user changes (a delete-and-restore
    // would reset the backup-code throttle).
    let tenant = passkeyd::tenant::TenantId::default_tenant();
    for round in 0..5 {
        let user = format!("racer{round}");
        let a = register_user(&server, &user).await;
        let b = register_user(&server, &user).await;
        let token = step_up(&server, &a, 1).await;
        let failures = server
            .state
            .store
            .record_failure(&tenant, &user, 1)
            .await
            .unwrap();
        let (path_a, path_b) = (path(&a), path(&b));
        let (ra, rb) = tokio::join!(
            me(&server, Method::DELETE, &path_a, &token, None),
            me(&server, Method::DELETE, &path_b, &token, None),
        );
        let statuses = [ra.status().as_u16(), rb.status().as_u16()];
        assert!(
            statuses.iter().all(|s| [204, 409].contains(s)),
            "{statuses:?}"
        );
        let mut sorted = statuses;
        sorted.sort_unstable();
        assert_eq!(sorted, [204, 409], "round {round}");
        let left = stored_credentials(&server, server.key.expose(), &user).await;
        assert_eq!(left.len(), 1, "round {round}: {statuses:?}");
        let kept = server.state.store.user(&tenant, &user).await.unwrap();
        assert_eq!(kept.failed_attempts, failures);
    }
    server.stop().await;
}

#[tokio::test]
async fn audit_pages_newest_first_with_filters_and_no_secrets() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let x_key = server.add_tenant("x").await;
    let alice = register_user(&server, "alice").await;
    register_user(&server, "bob").await;
    let token = user_token(&server, "alice").await;
    let bob_token = user_token(&server, "bob").await;
    let path = format!("/me/credentials/{}", base64url_encode(&alice.id));
    ok(me(
        &server,
        Method::PATCH,
        &path,
        &token,
        Some(json!({ "friendlyName": "Key" })),
    )
    .await)
    .await;
    // New codes need a step-up: a passkey sign-in's token.
    let stepped = step_up(&server, &alice, 1).await;
    let codes = ok(me(
        &server,
        Method::POST,
        "/me/mfa/backup-codes",
        &stepped,
        None,
    )
    .await)
    .await;
    let code = codes["codes"][0].as_str().unwrap().to_owned();
    ok(me(
        &server,
        Method::POST,
        "/me/mfa/backup-codes/verify",
        &token,
        Some(json!({ "code": code })),
    )
    .await)
    .await;
    let wrong = me(
        &server,
        Method::POST,
        "/me/mfa/backup-codes/verify",
        &token,
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(error_body(wrong, 401).await["code"], "backup_code_invalid");
    let gone = me(&server, Method::DELETE, &path, &bob_token, None).await;
    assert_eq!(gone.status(), 404);

    let audit = |query: &str| {
        let request = server
            .client
            .get(server.url(&format!("/audit{query}")))
            .header("x-api-key", &key);
        async move { request.send().await.unwrap() }
    };
    let all = ok(audit("?limit=200").await).await;
    let events = all["events"].as_array().unwrap();
    assert_eq!(all["next"], Value::Null);
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "registration.finish",
        "user_token.mint",
        "credential.rename",
        "credential.delete",
        "backup_codes.regenerate",
        "backup_code.verify",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    for event in events {
        assert_eq!(event["tenant"], "default");
        for field in ["at", "actor", "outcome"] {
            assert!(event[field].is_string(), "{event}");
        }
    }
    // Never a token or a code.
    let text = all.to_string();
    for secret in [
        token.as_str(),
        bob_token.as_str(),
        code.as_str(),
        &code.replace('-', ""),
    ] {
        assert!(!text.contains(secret), "the audit trail holds a secret");
    }
    for c in codes["codes"].as_array().unwrap() {
        assert!(!text.contains(c.as_str().unwrap()));
    }

    // Pages of two, followed to the end, give the same events.
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = ok(audit(&query).await).await;
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        paged.extend(events.iter().map(|e| e["id"].as_i64().unwrap()));
        match page["next"].as_i64() {
            Some(next) => query = format!("?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(paged, ids);

    // Filters: exact matches, combined.
    let verifies = ok(audit("?action=backup_code.verify").await).await;
    let outcomes: Vec<&str> = verifies["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["backup_code_invalid", "success"]);
    let succeeded = ok(audit("?action=backup_code.verify&outcome=success&limit=1").await).await;
    assert_eq!(succeeded["events"].as_array().unwrap().len(), 1);
    // A full page says where to go on; there, nothing more matches.
    let next = succeeded["next"].as_i64().unwrap();
    let rest = ok(audit(&format!(
        "?action=backup_code.verify&outcome=success&before={next}"
    ))
    .await)
    .await;
    assert_eq!(rest, json!({ "events": [], "next": null }));
    let bobs = ok(audit("?subject=user:bob&action=user_token.mint").await).await;
    let bobs = bobs["events"].as_array().unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(
        bobs[0]["actor"].as_str().unwrap().split(':').next(),
        Some("api_key")
    );
    let denied = ok(audit("?action=credential.delete").await).await;
    assert_eq!(denied["events"][0]["outcome"], "not_found");
    assert_eq!(denied["events"][0]["actor"], "user:bob");
    let none = ok(audit("?action=no.such.action").await).await;
    assert_eq!(none, json!({ "events": [], "next": null }));

    for bad in [
        "?limit=0",
        "?limit=201",
        "?limit=x",
        "?before=0",
        "?color=red",
        "?action=",
    ] {
        let refused = audit(bad).await;
        assert_eq!(
            error_body(refused, 400).await["code"],
            "invalid_request",
            "{bad}"
        );
    }
    let keyless = server
        .client
        .get(server.url("/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(keyless, 401).await["code"], "unauthenticated");
    let user = server
        .client
        .get(server.url("/audit"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(user, 401).await["code"], "unauthenticated");
    // Tenant X sees none of the default tenant's events.
    let x = server
        .client
        .get(server.url("/audit"))
        .header("x-api-key", x_key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(ok(x).await, json!({ "events": [], "next": null }));
    server.stop().await;
}

#[tokio::test]
async fn filtered_audit_pages_are_bounded_and_resumable() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let tenant = passkeyd::tenant::TenantId::default_tenant();
    // One needle under more events of hay than one request scans.
    let event = |action: &str| passkeyd::store::AuditEvent {
        id: 0,
        at: 1_700_000_000,
        actor: "cli".to_owned(),
        action: action.to_owned(),
        subject: None,
        outcome: "success".to_owned(),
        details: json!({}),
        ip: None,
        request_id: None,
        webhooks: Vec::new(),
    };
    server
        .state
        .store
        .insert_audit_event(&tenant, &event("needle"))
        .await
        .unwrap();
    for _ in 0..passkeyd::routes::audit::MAX_SCANNED + 100 {
        server
            .state
            .store
            .insert_audit_event(&tenant, &event("hay"))
            .await
            .unwrap();
    }
    let mut query = "?action=needle".to_owned();
    let mut found = Vec::new();
    let mut requests = 0;
    loop {
        requests += 1;
        let page = ok(server
            .client
            .get(server.url(&format!("/audit{query}")))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap())
        .await;
        found.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next"].as_i64() {
            Some(next) => query = format!("?action=needle&before={next}"),
            None => break,
        }
    }
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["action"], "needle");
    assert!(requests >= 2, "a request scanned more than its budget");
    server.stop().await;
}

#[tokio::test]
async fn a_page_on_a_tenant_origin_may_call_the_user_routes() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let preflight = server
        .client
        .request(Method::OPTIONS, server.url("/me/credentials/abc"))
        .header("origin", "http://localhost:8080")
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:8080"
    );
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("DELETE") && methods.contains("PATCH"),
        "{methods}"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    server.stop().await;
}

#[tokio::test]
async fn the_credential_list_comes_in_pages() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let mut registered = Vec::new();
    for _ in 0..5 {
        registered.push(base64url_encode(&register_user(&server, "alice").await.id));
    }
    let token = user_token(&server, "alice").await;
    let page = |query: String| {
        let token = token.clone();
        let server = &server;
        async move {
            me(
                server,
                Method::GET,
                &format!("/me/credentials{query}"),
                &token,
                None,
            )
            .await
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["credentialId"].as_str().unwrap().to_owned())
            .collect()
    };

    // The default page holds them all, and says there is no next one.
    let all = ok(page(String::new()).await).await;
    assert_eq!(all["nextCursor"], Value::Null);
    let mut everything = ids(&all);
    assert_eq!(everything.len(), 5);

    // Two at a time, resumed from the cursor, each credential once, in the same order.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let answer = ok(page(query).await).await;
        pages += 1;
        walked.extend(ids(&answer));
        match answer["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(walked, everything);
    let mut sorted = walked.clone();
    sorted.sort();
    registered.sort();
    assert_eq!(sorted, registered);

    // A cursor still resumes after its credential was deleted.
    let first = ok(page("?limit=1".to_owned()).await).await;
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let deleted = server
        .client
        .delete(server.url(&format!("/credentials/{}", everything[0])))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let rest = ok(page(format!("?cursor={cursor}")).await).await;
    everything.remove(0);
    assert_eq!(ids(&rest), everything);

    // Bad sizes, cursors and parameters are malformed requests.
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?cursor=!!",
        "?cursor=AAAA",
        "?page=2",
    ] {
        let refused = error_body(page(query.to_owned()).await, 400).await;
        assert_eq!(refused["code"], "invalid_request", "{query}");
    }
    server.stop().await;
}
