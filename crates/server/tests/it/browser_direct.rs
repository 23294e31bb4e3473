//! The browser-direct flow (DESIGN.md §3) end to end: the browser calls begin and finish with
//! the tenant's publishable key, registration is open sign-up or needs a registration token
//! minted by the app's backend, and every finish answers a result token that the backend
//! verifies offline (JWKS) or redeems once with the secret key.

use aws_lc_rs::rand::SystemRandom;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use passkeyd::api_keys::{ApiKeyKind, ApiKeySecret};
use passkeyd::bootstrap::new_key_record;
use passkeyd::settings::TenantSettings;
use passkeyd::tenant::TenantId;
use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use passkeyd_webauthn::test_util::Credential;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN as ORIGIN_HEADER,
    RETRY_AFTER,
};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, begin_registration, challenge, new_credential, ok, post, register, ORIGIN,
};
use crate::common::{error_body, Server};

pub(crate) const ACME_ORIGIN: &str = "https://acme.example.com";

/// The default tenant's publishable key (the demo page's; the tenant has open sign-up).
fn demo_key(server: &Server) -> String {
    server
        .state
        .demo_publishable_key
        .as_deref()
        .expect("the default tenant on localhost has a demo publishable key")
        .to_owned()
}

/// Gives tenant `id` a publishable key, as `passkeyd api-key create --publishable` would.
pub(crate) async fn add_publishable_key(server: &Server, id: &str) -> String {
    let rng = SystemRandom::new();
    let key = ApiKeySecret::generate(ApiKeyKind::Publishable, &rng).unwrap();
    let record = new_key_record(&key, Some("browser".to_owned()), &rng, 1_700_000_000).unwrap();
    server
        .state
        .store
        .insert_api_key(&TenantId::parse(id).unwrap(), &record)
        .await
        .unwrap();
    key.expose().to_owned()
}

/// A browser's call: a key and, as browsers always send on a cross-origin POST, `Origin`.
async fn browser_post(
    server: &Server,
    key: &str,
    origin: &str,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .header("x-api-key", key)
        .header(ORIGIN_HEADER, origin)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Begins in the browser; returns (session, options) of either ceremony.
async fn browser_begin(
    server: &Server,
    key: &str,
    origin: &str,
    path: &str,
    body: Value,
) -> (String, Value) {
    let answer = ok(browser_post(server, key, origin, path, &body).await).await;
    let options = answer
        .get("publicKeyCredentialCreationOptions")
        .or_else(|| answer.get("publicKeyCredentialRequestOptions"))
        .unwrap()
        .clone();
    (answer["session"].as_str().unwrap().to_owned(), options)
}

/// Registers a passkey from the browser; `begin` is the begin body. Returns the credential and
/// the finish answer.
async fn browser_register(
    server: &Server,
    key: &str,
    origin: &str,
    begin: Value,
) -> (Credential, Value) {
    let (session, options) =
        browser_begin(server, key, origin, "/webauthn/registration/request", begin).await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), origin)
        .build()
        .to_json();
    let answer = ok(browser_post(
        server,
        key,
        origin,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    (credential, answer)
}

/// Signs in from the browser; `begin` is the begin body. Returns the finish response.
async fn browser_sign_in(
    server: &Server,
    key: &str,
    origin: &str,
    begin: Value,
    credential: &Credential,
    sign_count: u32,
) -> reqwest::Response {
    let (session, options) = browser_begin(
        server,
        key,
        origin,
        "/webauthn/authentication/request",
        begin,
    )
    .await;
    let assertion = credential
        .assert(&challenge(&options), origin)
        .sign_count(sign_count)
        .build()
        .to_json();
    browser_post(
        server,
        key,
        origin,
        "/webauthn/authentication/response",
        &json!({ "session": session, "publicKeyCredential": assertion }),
    )
    .await
}

/// Registers a passkey at tenant acme with its secret key (origin https://acme.example.com).
async fn register_at_acme(server: &Server, key: &str, user_name: &str) -> (Credential, Value) {
    let (session, options) =
        begin_registration(server, key, json!({ "userName": user_name })).await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ACME_ORIGIN)
        .build()
        .to_json();
    let answer = ok(post(
        server,
        key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    (credential, answer)
}

/// Verifies a result token offline, as an app's backend would: the JWKS, then the JWT library,
/// never the server's own code.
async fn verify_offline(server: &Server, tenant: &str, token: &str) -> Value {
    let jwks = ok(server
        .client
        .get(server.url(&format!("/.well-known/jwks.json?tenant={tenant}")))
        .send()
        .await
        .unwrap())
    .await;
    let jwks: JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[tenant]);
    validation.set_issuer(&["passkeyd"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

async fn redeem(server: &Server, key: &str, token: &str) -> reqwest::Response {
    post(server, key, "/tokens/verify", &json!({ "token": token })).await
}

/// Redeems a registration's result token, which `/tokens/verify` takes only when asked for.
async fn redeem_registration(server: &Server, key: &str, token: &str) -> reqwest::Response {
    let body = json!({ "token": token, "purpose": "registration" });
    post(server, key, "/tokens/verify", &body).await
}

async fn get_with(server: &Server, key: &str, path: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn open_sign_up_registers_and_signs_in_with_tokens_verifiable_offline() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let pk = demo_key(&server);
    let ttl = TenantSettings::from_map(
        &server
            .state
            .store
            .tenant(&TenantId::default_tenant())
            .await
            .unwrap()
            .settings,
    )
    .unwrap()
    .token_ttl_secs;

    let (credential, registered) =
        browser_register(&server, &pk, ORIGIN, json!({ "userName": "olivia" })).await;
    let user_id = registered["userId"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("u_"), "{user_id}");
    assert_eq!(registered["userName"], "olivia");
    let claims = verify_offline(&server, "default", registered["token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "default");
    assert_eq!(claims["tenant"], "default");
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["purpose"], "registration");
    assert_eq!(claims["uv"], true);
    assert_eq!(claims["cred"], base64url_encode(&credential.id));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        i64::from(ttl)
    );
    assert_eq!(registered["tokenExpiresAt"], claims["exp"]);

    // Discoverable, then with the user name: both answer a token for the same user.
    let mut jtis = vec![claims["jti"].clone()];
    for (begin, count) in [(json!({}), 1), (json!({ "userName": "olivia" }), 2)] {
        let signed_in =
            ok(browser_sign_in(&server, &pk, ORIGIN, begin, &credential, count).await).await;
        assert_eq!(signed_in["userId"], user_id.as_str());
        let claims = verify_offline(&server, "default", signed_in["token"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], user_id.as_str());
        assert_eq!(claims["aud"], "default");
        assert_eq!(claims["tenant"], "default");
        assert_eq!(claims["purpose"], "authentication");
        assert_eq!(claims["uv"], true);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            i64::from(ttl)
        );
        jtis.push(claims["jti"].clone());
    }
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "every token has its own jti");
    server.stop().await;
}

#[tokio::test]
async fn result_tokens_are_redeemed_once_with_the_secret_key_of_their_tenant() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let sk = server.key.expose().to_owned();
    let pk = demo_key(&server);
    let (credential, registered) =
        browser_register(&server, &pk, ORIGIN, json!({ "userName": "paul" })).await;
    let token = registered["token"].as_str().unwrap().to_owned();

    // The publishable key cannot redeem (secret key only), and that does not use the token up.
    let refused = error_body(redeem(&server, &pk, &token).await, 401).await;
    assert_eq!(refused["code"], "unauthenticated");

    let redeemed = ok(redeem_registration(&server, &sk, &token).await).await;
    assert_eq!(redeemed["valid"], true);
    assert_eq!(redeemed["claims"]["sub"], registered["userId"]);
    assert_eq!(redeemed["claims"]["purpose"], "registration");
    assert_eq!(redeemed["claims"]["aud"], "default");
    let again = error_body(redeem_registration(&server, &sk, &token).await, 401).await;
    assert_eq!(again["code"], "token_used");

    // Tampered: another subject under the same signature; also a stripped signature and
    // `alg: none`.
    let signed_in =
        ok(browser_sign_in(&server, &pk, ORIGIN, json!({}), &credential, 1).await).await;
    let token = signed_in["token"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&passkeyd_webauthn::json::base64url_decode(parts[1]).unwrap())
            .unwrap();
    payload["sub"] = json!("u_someone_else");
    let forged_payload = base64url_encode(&serde_json::to_vec(&payload).unwrap());
    let none_header = base64url_encode(br#"{"alg":"none","typ":"JWT"}"#);
    let mut flipped = parts[2].as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    for tampered in [
        format!("{}.{forged_payload}.{}", parts[0], parts[2]),
        format!("{}.{}.", parts[0], parts[1]),
        format!("{none_header}.{}.", parts[1]),
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(flipped).unwrap()
        ),
        "not a token".to_owned(),
        String::new(),
    ] {
        let refused = error_body(redeem(&server, &sk, &tampered).await, 401).await;
        assert_eq!(refused["code"], "token_invalid", "{tampered}");
    }
    // None of that used the real token up; two redemptions at once: exactly one succeeds.
    let (first, second) = tokio::join!(redeem(&server, &sk, &token), redeem(&server, &sk, &token));
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let loser = if first.status() == 401 { first } else { second };
    assert_eq!(error_body(loser, 401).await["code"], "token_used");

    // A token of tenant acme is unknown to the default tenant's key (and the reverse).
    let acme = server.add_tenant("acme").await;
    let (_, at_acme) = register_at_acme(&server, acme.expose(), "paul").await;
    let acme_token = at_acme["token"].as_str().unwrap();
    let claims = verify_offline(&server, "acme", acme_token).await;
    assert_eq!(claims["aud"], "acme");
    let refused = error_body(redeem(&server, &sk, acme_token).await, 401).await;
    assert_eq!(refused["code"], "token_invalid");
    let signed_in =
        ok(browser_sign_in(&server, &pk, ORIGIN, json!({}), &credential, 2).await).await;
    let default_token = signed_in["token"].as_str().unwrap().to_owned();
    let refused = error_body(redeem(&server, acme.expose(), &default_token).await, 401).await;
    assert_eq!(refused["code"], "token_invalid");
    ok(redeem_registration(&server, acme.expose(), acme_token).await).await;

    // Expired: the server's clock moves past the token's lifetime.
    let signed_in =
        ok(browser_sign_in(&server, &pk, ORIGIN, json!({}), &credential, 3).await).await;
    let token = signed_in["token"].as_str().unwrap().to_owned();
    let exp = signed_in["tokenExpiresAt"].as_i64().unwrap();
    server.clock.advance(exp - server.state.clock.now().0 + 1);
    let expired = error_body(redeem(&server, &sk, &token).await, 401).await;
    assert_eq!(expired["code"], "token_expired");
    server.stop().await;
}

#[tokio::test]
async fn open_sign_up_cannot_add_a_passkey_to_an_existing_account() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let sk = server.key.expose().to_owned();
    let pk = demo_key(&server);
    let (_, alice) = register(&server, "alice").await;
    let alice_id = alice["userId"].as_str().unwrap();
    let path = format!("/users/{alice_id}/credentials");
    let before = ok(get_with(&server, &sk, &path).await).await;
    let user_before = ok(get_with(&server, &sk, &format!("/users/{alice_id}")).await).await;

    // The begin answers a taken name as a free one (a fresh user handle, nothing excluded), so
    // it does not tell who has an account; the finish, after a valid attestation, refuses.
    let (taken_session, taken) = browser_begin(
        &server,
        &pk,
        ORIGIN,
        "/webauthn/registration/request",
        json!({ "userName": "alice" }),
    )
    .await;
    let (_, free) = browser_begin(
        &server,
        &pk,
        ORIGIN,
        "/webauthn/registration/request",
        json!({ "userName": "nobody-has-this-name" }),
    )
    .await;
    assert_eq!(taken["excludeCredentials"], free["excludeCredentials"]);
    assert_eq!(
        taken["user"]["id"].as_str().unwrap().len(),
        free["user"]["id"].as_str().unwrap().len()
    );
    let alice_handle = server
        .state
        .store
        .user(&TenantId::default_tenant(), alice_id)
        .await
        .unwrap()
        .user_handle;
    assert_ne!(
        taken["user"]["id"],
        passkeyd_webauthn::json::base64url_encode(&alice_handle)
    );
    let intruder = new_credential(&taken);
    let response = intruder
        .register(&challenge(&taken), ORIGIN)
        .build()
        .to_json();
    let refused = error_body(
        browser_post(
            &server,
            &pk,
            ORIGIN,
            "/webauthn/registration/response",
            &json!({ "session": taken_session, "publicKeyCredential": response }),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(refused["code"], "user_exists");
    assert!(server
        .state
        .store
        .credential(&TenantId::default_tenant(), &intruder.id)
        .await
        .is_err());
    // Naming the account by its ID is not allowed at open sign-up either.
    let by_id = error_body(
        browser_post(
            &server,
            &pk,
            ORIGIN,
            "/webauthn/registration/request",
            &json!({ "userId": alice_id, "userName": "someone" }),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(by_id["code"], "invalid_request");

    // A race: the name is free at begin, then the app creates that user; the stranger's finish
    // must not create a second "zed" nor join the real one.
    let (session, options) = browser_begin(
        &server,
        &pk,
        ORIGIN,
        "/webauthn/registration/request",
        json!({ "userName": "zed" }),
    )
    .await;
    let (_, zed) = register(&server, "zed").await;
    let zed_id = zed["userId"].as_str().unwrap();
    let zed_before =
        ok(get_with(&server, &sk, &format!("/users/{zed_id}/credentials")).await).await;
    let stranger = new_credential(&options);
    let response = stranger
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let raced = error_body(
        browser_post(
            &server,
            &pk,
            ORIGIN,
            "/webauthn/registration/response",
            &json!({ "session": session, "publicKeyCredential": response }),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(raced["code"], "user_exists");

    assert_eq!(ok(get_with(&server, &sk, &path).await).await, before);
    assert_eq!(
        ok(get_with(&server, &sk, &format!("/users/{alice_id}")).await).await,
        user_before
    );
    assert_eq!(
        ok(get_with(&server, &sk, &format!("/users/{zed_id}/credentials")).await).await,
        zed_before
    );
    let stored = server
        .state
        .store
        .credential(&TenantId::default_tenant(), &stranger.id)
        .await;
    assert!(stored.is_err(), "the stranger's credential was stored");
    server.stop().await;
}

#[tokio::test]
async fn a_closed_tenant_registers_from_the_browser_only_with_a_registration_token() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let acme_sk = server.add_tenant("acme").await;
    let acme_sk = acme_sk.expose().to_owned();
    let acme_pk = add_publishable_key(&server, "acme").await;
    let (server_ref, acme_sk_ref) = (&server, acme_sk.as_str());
    let mint = move |body: Value| async move {
        post(server_ref, acme_sk_ref, "/registration-tokens", &body).await
    };

    let refused = error_body(
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/webauthn/registration/request",
            &json!({ "userName": "zoe" }),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(refused["code"], "forbidden");
    // The publishable key cannot mint tokens itself.
    let refused = error_body(
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/registration-tokens",
            &json!({ "userName": "zoe" }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(refused["code"], "unauthenticated");

    let minted =
        ok(mint(json!({ "userId": "app-7", "userName": "zoe", "userDisplayName": "Zoë" })).await)
            .await;
    assert_eq!(minted["userId"], "app-7");
    let token = minted["registrationToken"].as_str().unwrap().to_owned();
    assert!(token.starts_with("rt_"), "{token}");

    // A user name beside the token is refused, and does not use the token up.
    for extra in [
        json!({ "userName": "mallory" }),
        json!({ "userId": "app-8" }),
    ] {
        let mut body = extra;
        body["registrationToken"] = json!(token);
        let refused = error_body(
            browser_post(
                &server,
                &acme_pk,
                ACME_ORIGIN,
                "/webauthn/registration/request",
                &body,
            )
            .await,
            400,
        )
        .await;
        assert_eq!(refused["code"], "invalid_request");
    }

    let (session, options) = browser_begin(
        &server,
        &acme_pk,
        ACME_ORIGIN,
        "/webauthn/registration/request",
        json!({ "registrationToken": token }),
    )
    .await;
    assert_eq!(options["user"]["name"], "zoe");
    assert_eq!(options["user"]["displayName"], "Zoë");
    assert_eq!(options["rp"]["id"], "acme.example.com");
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ACME_ORIGIN)
        .build()
        .to_json();
    let registered = ok(browser_post(
        &server,
        &acme_pk,
        ACME_ORIGIN,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    assert_eq!(registered["userId"], "app-7");
    assert_eq!(registered["userName"], "zoe");
    let user = ok(get_with(&server, &acme_sk, "/users/app-7").await).await;
    assert_eq!(user["userName"], "zoe");
    assert_eq!(user["displayName"], "Zoë");
    assert_eq!(user["credentialCount"], 1);

    // Single use.
    let reused = error_body(
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/webauthn/registration/request",
            &json!({ "registrationToken": token }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(reused["code"], "token_invalid");
    // Two browsers with one token at once: exactly one gets to register.
    let minted = ok(mint(json!({ "userName": "xavier" })).await).await;
    let begin = json!({ "registrationToken": minted["registrationToken"] });
    let (first, second) = tokio::join!(
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/webauthn/registration/request",
            &begin
        ),
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/webauthn/registration/request",
            &begin
        )
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);

    // A token of another tenant is unknown here.
    let other = ok(post(
        &server,
        server.key.expose(),
        "/registration-tokens",
        &json!({ "userName": "zoe" }),
    )
    .await)
    .await;
    let foreign = error_body(
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/webauthn/registration/request",
            &json!({ "registrationToken": other["registrationToken"] }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(foreign["code"], "token_invalid");
    let made_up = error_body(
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/webauthn/registration/request",
            &json!({ "registrationToken": "rt_made_up" }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(made_up["code"], "token_invalid");

    // Expiry: 15 minutes.
    let minted = ok(mint(json!({ "userName": "yann" })).await).await;
    let expires_at = minted["expiresAt"].as_i64().unwrap();
    assert_eq!(expires_at - server.state.clock.now().0, 900);
    server.clock.advance(901);
    let expired = error_body(
        browser_post(
            &server,
            &acme_pk,
            ACME_ORIGIN,
            "/webauthn/registration/request",
            &json!({ "registrationToken": minted["registrationToken"] }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(expired["code"], "token_expired");
    server.stop().await;
}

#[tokio::test]
async fn publishable_keys_are_bound_to_their_origins_and_the_public_routes() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let sk = server.key.expose().to_owned();
    let pk = demo_key(&server);
    server.add_tenant("acme").await;
    let (credential, alice) = register(&server, "alice").await;
    let alice_id = alice["userId"].as_str().unwrap().to_owned();
    let id = base64url_encode(&credential.id);
    let before = ok(get_with(&server, &sk, &format!("/users/{alice_id}/credentials")).await).await;

    // A foreign page, and a page of another tenant, cannot drive this tenant's public routes.
    for origin in [
        "https://evil.example",
        ACME_ORIGIN,
        "http://localhost:8081",
        "null",
    ] {
        for path in [
            "/webauthn/registration/request",
            "/webauthn/authentication/request",
        ] {
            let refused = error_body(
                browser_post(&server, &pk, origin, path, &json!({ "userName": "x" })).await,
                403,
            )
            .await;
            assert_eq!(refused["code"], "forbidden", "{origin} {path}");
        }
    }

    // The secret-key routes refuse the publishable key, with or without an Origin.
    let url = |path: &str| server.url(path);
    let requests = [
        server.client.get(url(&format!("/users/{alice_id}"))),
        server
            .client
            .get(url(&format!("/users/{alice_id}/credentials"))),
        server.client.delete(url(&format!("/users/{alice_id}"))),
        server
            .client
            .patch(url(&format!("/credentials/{id}")))
            .json(&json!({ "friendlyName": "pwned" })),
        server.client.delete(url(&format!("/credentials/{id}"))),
        server
            .client
            .post(url("/registration-tokens"))
            .json(&json!({ "userName": "alice" })),
        server
            .client
            .post(url("/tokens/verify"))
            .json(&json!({ "token": alice["token"] })),
    ];
    for request in requests {
        for origin in [None, Some(ORIGIN)] {
            let mut request = request.try_clone().unwrap().header("x-api-key", &pk);
            if let Some(origin) = origin {
                request = request.header(ORIGIN_HEADER, origin);
            }
            let refused = error_body(request.send().await.unwrap(), 401).await;
            assert_eq!(refused["code"], "unauthenticated");
        }
    }
    // Nothing changed, and the registration's result token is still unredeemed.
    assert_eq!(
        ok(get_with(&server, &sk, &format!("/users/{alice_id}/credentials")).await).await,
        before
    );
    ok(redeem_registration(&server, &sk, alice["token"].as_str().unwrap()).await).await;
    server.stop().await;
}

/// CORS answers from the origins read at most a second ago (a stranger's preflights cost no
/// read of every tenant each): a tenant added meanwhile is admitted once that second is over.
#[tokio::test]
async fn cors_admits_a_new_tenants_origin_within_a_second() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let preflight = || {
        server
            .client
            .request(
                reqwest::Method::OPTIONS,
                server.url("/webauthn/registration/request"),
            )
            .header(ORIGIN_HEADER, ACME_ORIGIN)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .send()
    };
    let before = preflight().await.unwrap();
    assert!(!before.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    server.add_tenant("acme").await;
    tokio::time::sleep(
        passkeyd::service::tenants::ORIGINS_MAX_AGE + std::time::Duration::from_millis(100),
    )
    .await;
    let after = preflight().await.unwrap();
    assert_eq!(after.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], ACME_ORIGIN);
    server.stop().await;
}

#[tokio::test]
async fn cors_admits_exactly_the_origins_some_tenant_lists() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let pk = demo_key(&server);
    server.add_tenant("acme").await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(
                reqwest::Method::OPTIONS,
                server.url("/webauthn/registration/request"),
            )
            .header(ORIGIN_HEADER, origin)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type,x-api-key")
            .send()
    };
    for origin in [ORIGIN, ACME_ORIGIN] {
        let answer = preflight(origin).await.unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        let allowed = answer.headers()[ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("x-api-key"), "{allowed}");
        assert!(allowed.contains("content-type"), "{allowed}");
    }
    for origin in [
        "https://evil.example",
        "http://localhost:8080.evil.example",
        "https://acme.example.com.evil.example",
        "null",
    ] {
        let answer = preflight(origin).await.unwrap();
        assert!(
            !answer.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN),
            "{origin}"
        );
    }

    // Actual requests: on a success, and on error answers too (else the page cannot read why).
    let answer = browser_post(
        &server,
        &pk,
        ORIGIN,
        "/webauthn/authentication/request",
        &json!({}),
    )
    .await;
    assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    assert_eq!(answer.status(), 200);
    let answer = browser_post(
        &server,
        &pk,
        ORIGIN,
        "/webauthn/authentication/request",
        &json!({ "bogus": true }),
    )
    .await;
    assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    assert_eq!(error_body(answer, 400).await["code"], "invalid_request");
    let answer = browser_post(
        &server,
        "pk_unknown_key_000000000000000000000000000000000000",
        ORIGIN,
        "/webauthn/authentication/request",
        &json!({}),
    )
    .await;
    assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    assert_eq!(error_body(answer, 401).await["code"], "unauthenticated");
    let answer = browser_post(
        &server,
        &pk,
        "https://evil.example",
        "/webauthn/authentication/request",
        &json!({}),
    )
    .await;
    assert!(!answer.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    assert_eq!(error_body(answer, 403).await["code"], "forbidden");
    server.stop().await;
}

/// The options with what differs on every call (the challenge) taken out.
fn shape(options: &Value) -> Value {
    let mut options = options.clone();
    options["challenge"] = json!("");
    options
}

#[tokio::test]
async fn the_browser_cannot_tell_unknown_user_names_from_known_ones() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let sk = server.key.expose().to_owned();
    let pk = demo_key(&server);
    let (alice, _) = register(&server, "alice").await;
    let (mallory, _) = register(&server, "mallory").await;
    let (_, bob_registered) = register(&server, "bob").await;
    // Bob lost his passkey: a known user without credentials.
    let bob_credentials = ok(get_with(
        &server,
        &sk,
        &format!(
            "/users/{}/credentials",
            bob_registered["userId"].as_str().unwrap()
        ),
    )
    .await)
    .await;
    let bob_credential = bob_credentials["credentials"][0]["credentialId"]
        .as_str()
        .unwrap();
    let deleted = server
        .client
        .delete(server.url(&format!("/credentials/{bob_credential}")))
        .header("x-api-key", &sk)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let begin = |name: &'static str| {
        browser_begin(
            &server,
            &pk,
            ORIGIN,
            "/webauthn/authentication/request",
            json!({ "userName": name }),
        )
    };
    let (_, known) = begin("alice").await;
    let (_, unknown) = begin("nobody").await;
    let (_, no_passkeys) = begin("bob").await;
    // The same shape: one credential each; a real one for Alice (security keys without
    // discoverable credentials need it), a decoy for the others, the same on every request.
    let ids = |options: &Value| -> Vec<Value> {
        options["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    assert_eq!(ids(&known), vec![json!(base64url_encode(&alice.id))]);
    for options in [&unknown, &no_passkeys] {
        assert_eq!(ids(options).len(), 1, "{options}");
        let decoy = base64url_decode(ids(options)[0].as_str().unwrap()).unwrap();
        assert_eq!(decoy.len(), 32);
    }
    assert_eq!(
        ids(&begin("nobody").await.1),
        ids(&unknown),
        "a decoy is stable"
    );
    assert_ne!(ids(&no_passkeys), ids(&unknown), "and differs by name");
    for options in [&known, &unknown, &no_passkeys] {
        let mut shape = shape(options);
        shape["allowCredentials"] = json!(null);
        let mut reference = self::shape(&known);
        reference["allowCredentials"] = json!(null);
        assert_eq!(shape, reference);
    }

    // The finish fails the same way for the unknown name and for a known one, whoever's valid
    // passkey is presented.
    for name in ["nobody", "alice", "bob"] {
        let refused = error_body(
            browser_sign_in(
                &server,
                &pk,
                ORIGIN,
                json!({ "userName": name }),
                &mallory,
                1,
            )
            .await,
            400,
        )
        .await;
        assert_eq!(refused["code"], "credential_not_allowed", "{name}");
    }
    // The rightful owner still signs in by name.
    let signed_in = ok(browser_sign_in(
        &server,
        &pk,
        ORIGIN,
        json!({ "userName": "alice" }),
        &alice,
        1,
    )
    .await)
    .await;
    assert_eq!(signed_in["userName"], "alice");

    // The app's backend may know: with the secret key an unknown user is 404.
    let unknown = error_body(
        post(
            &server,
            &sk,
            "/webauthn/authentication/request",
            &json!({ "userName": "nobody" }),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(unknown["code"], "not_found");
    // And the backend still gets allowCredentials for a known user.
    let (_, options) = begin_authentication(&server, &sk, json!({ "userName": "alice" })).await;
    assert_eq!(
        options["allowCredentials"][0]["id"],
        base64url_encode(&alice.id)
    );
    server.stop().await;
}

#[tokio::test]
async fn the_public_routes_are_rate_limited_per_client_and_the_secret_api_is_not() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let sk = server.key.expose().to_owned();
    let pk = demo_key(&server);
    let burst = server.state.rate_limits.config().public_per_ip_burst;
    assert_eq!(burst, 20);

    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..burst + 5 {
        let answer = browser_post(
            &server,
            &pk,
            ORIGIN,
            "/webauthn/authentication/request",
            &json!({}),
        )
        .await;
        statuses.push(answer.status().as_u16());
        if answer.status() == 429 && refusal.is_none() {
            refusal = Some(answer);
        }
    }
    assert!(
        statuses[..burst as usize].iter().all(|s| *s == 200),
        "{statuses:?}"
    );
    let refusal = refusal.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    let retry_after: u64 = refusal.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    // The page may read it: CORS exposes Retry-After.
    assert_eq!(refusal.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    let exposed = refusal.headers()[ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    assert_eq!(error_body(refusal, 429).await["code"], "rate_limited");

    // The app's backend, from the same address, is not limited per IP.
    for _ in 0..25 {
        begin_authentication(&server, &sk, json!({})).await;
    }
    server.stop().await;
}
