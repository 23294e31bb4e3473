//! The token hardening: each test replays an attack on the tokens first (it passed against
//! the release before these fixes) and then checks the way that stays open.
//!
//! - `/tokens/verify` redeems only the purpose asked for (default: a sign-in result).
//! - Token lifetimes are capped, retired keys stop verifying, and a token is bound to its
//!   user's row, so it dies with the user even if the ID is created again.
//! - Changing a user's factors needs a recent passkey or backup-code proof (step-up).

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{ok, post, register, sign_in};
use crate::common::{error_body, Server};
use crate::me::user_token_with;

async fn redeem(server: &Server, body: &Value) -> reqwest::Response {
    post(server, server.key.expose(), "/tokens/verify", body).await
}

async fn refused_as_invalid(server: &Server, body: &Value) {
    let refused = error_body(redeem(server, body).await, 401).await;
    assert_eq!(refused["code"], "token_invalid", "{body}");
}

#[tokio::test]
async fn tokens_verify_redeems_only_the_purpose_asked_for() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (passkey, registered) = register(&server, "alice@example.com").await;
    let user_id = registered["userId"].as_str().unwrap().to_owned();
    let registration = registered["token"].as_str().unwrap().to_owned();
    let user = user_token_with(&server, &key, &user_id, &json!({})).await;
    let challenge = user_token_with(
        &server,
        &key,
        &user_id,
        &json!({ "purpose": "mfa_challenge" }),
    )
    .await;

    // The attack: a user token (what the app mints for a password session), an MFA challenge
    // and a registration's result each passed for a sign-in.
    for token in [&user, &challenge, &registration] {
        refused_as_invalid(&server, &json!({ "token": token })).await;
    }
    // Asked for by name, each is redeemed (the refusals above did not use them up), and the
    // answer says which purpose it had.
    for (token, purpose) in [
        (&user, "user"),
        (&challenge, "mfa_challenge"),
        (&registration, "registration"),
    ] {
        let body = json!({ "token": token, "purpose": purpose });
        let redeemed = ok(redeem(&server, &body).await).await;
        assert_eq!(redeemed["valid"], true);
        assert_eq!(redeemed["purpose"], purpose);
        assert_eq!(redeemed["claims"]["purpose"], purpose);
        let again = error_body(redeem(&server, &body).await, 401).await;
        assert_eq!(again["code"], "token_used");
    }

    // A sign-in result is redeemed by default, and only as one.
    let signed_in = ok(sign_in(&server, &passkey, 1).await).await;
    let result = signed_in["token"].as_str().unwrap();
    for purpose in ["user", "registration", "mfa_challenge"] {
        refused_as_invalid(&server, &json!({ "token": result, "purpose": purpose })).await;
    }
    let redeemed = ok(redeem(&server, &json!({ "token": result })).await).await;
    assert_eq!(redeemed["purpose"], "authentication");
    assert_eq!(redeemed["claims"]["sub"], user_id.as_str());

    // An unknown purpose is a malformed request.
    let unknown = redeem(&server, &json!({ "token": result, "purpose": "admin" })).await;
    assert_eq!(error_body(unknown, 400).await["code"], "invalid_request");
    server.stop().await;
}

/// The default tenant as stored.
async fn default_tenant(server: &Server) -> passkeyd::store::Tenant {
    let id = passkeyd::tenant::TenantId::default_tenant();
    server.state.store.tenant(&id).await.unwrap()
}

/// Signs `claims` with the tenant's newest stored key, as someone holding that key (a leaked
/// one) could.
async fn sign_with_stored_key(server: &Server, claims: &passkeyd::tokens::ResultClaims) -> String {
    let tenant = default_tenant(server).await;
    let keys = server.state.store.signing_keys(&tenant.id).await.unwrap();
    passkeyd::tokens::sign(claims, &keys[0], "default", &server.state.master_key).unwrap()
}

/// Claims for `user_id` of the default tenant, bound to the user's current row, living `ttl`
/// seconds from now.
async fn forged_claims(server: &Server, user_id: &str, ttl: i64) -> passkeyd::tokens::ResultClaims {
    let tenant = default_tenant(server).await;
    let user = server.state.store.user(&tenant.id, user_id).await.unwrap();
    let now = server.state.clock.now().0;
    passkeyd::tokens::ResultClaims {
        iss: "passkeyd".to_owned(),
        aud: "default".to_owned(),
        tenant: "default".to_owned(),
        sub: user_id.to_owned(),
        cred: None,
        uv: false,
        amr: Vec::new(),
        auth_time: now,
        iat: now,
        exp: now + ttl,
        jti: format!("forged-{ttl}"),
        role: None,
        domain: None,
        purpose: "user".to_owned(),
        uh: Some(passkeyd::token_keys::user_binding(
            &server.state,
            &tenant,
            &user,
        )),
    }
}

async fn rotate(server: &Server) {
    let tenant = default_tenant(server).await;
    passkeyd::token_keys::rotate(
        server.state.store.as_ref(),
        &server.state.master_key,
        &tenant,
        server.state.clock.now().0,
    )
    .await
    .unwrap();
}

async fn credentials_with(server: &Server, token: &str) -> reqwest::Response {
    crate::me::me(server, reqwest::Method::GET, "/me/credentials", token, None).await
}

#[tokio::test]
async fn a_long_lived_token_of_a_retired_key_is_refused() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    crate::me::register_user(&server, "alice").await;
    // The key exists once a first token is signed.
    let live = crate::me::user_token(&server, "alice").await;

    // The attack: a ten-year token signed with the key (say it leaked), used after the tenant
    // rotated that key away.
    let ten_years = forged_claims(&server, "alice", 10 * 365 * 86_400).await;
    let forged = sign_with_stored_key(&server, &ten_years).await;
    rotate(&server).await;
    crate::me::unauthenticated(credentials_with(&server, &forged).await).await;
    let body = json!({ "token": forged, "purpose": "user" });
    refused_as_invalid(&server, &body).await;

    // What the retired key signed while active, within the cap, keeps working until it
    // expires; a token it "signs" after its retirement (beyond the clock skew) never does.
    ok(credentials_with(&server, &live).await).await;
    server.clock.advance(61);
    let late = forged_claims(&server, "alice", 600).await;
    let tenant = default_tenant(&server).await;
    let keys = server.state.store.signing_keys(&tenant.id).await.unwrap();
    let retired = keys.iter().find(|k| k.retired_at.is_some()).unwrap();
    let late = passkeyd::tokens::sign(&late, retired, "default", &server.state.master_key).unwrap();
    crate::me::unauthenticated(credentials_with(&server, &late).await).await;

    // Once the tenant's longest token (an hour by default) and the skew have passed since the
    // rotation, the retired key verifies nothing and is no longer published.
    server.clock.advance(3_600);
    crate::me::unauthenticated(credentials_with(&server, &live).await).await;
    let jwks = ok(server
        .client
        .get(server.url("/.well-known/jwks.json?tenant=default"))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    server.stop().await;
}

#[tokio::test]
async fn user_token_lifetimes_are_capped_by_the_tenant() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    crate::me::register_user(&server, "alice").await;
    let mint = |ttl: u32| {
        let server = &server;
        let key = key.clone();
        async move {
            post(
                server,
                &key,
                "/users/alice/tokens",
                &json!({ "ttlSeconds": ttl }),
            )
            .await
        }
    };

    // The attack: a day-long (or longer) user token. Refused by default (the cap is an hour),
    // not shortened: the app learns its token would not live as asked.
    for ttl in [3_601, 86_400, 10 * 365 * 86_400] {
        let refused = error_body(mint(ttl).await, 400).await;
        assert_eq!(refused["code"], "invalid_request", "{ttl}");
    }
    let hour = ok(mint(3_600).await).await;
    let c = crate::me::claims(hour["token"].as_str().unwrap());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3_600
    );

    // A tenant may allow up to a day.
    let day = passkeyd::settings::TenantSettings {
        user_token_max_ttl_secs: 86_400,
        ..Default::default()
    };
    crate::ceremonies::set_settings(&server, &day).await;
    let long = ok(mint(86_400).await).await;
    let long = long["token"].as_str().unwrap().to_owned();
    ok(credentials_with(&server, &long).await).await;
    assert_eq!(
        error_body(mint(86_401).await, 400).await["code"],
        "invalid_request"
    );

    // Lowering the cap applies to live tokens too: the day-long one no longer verifies.
    let ten_minutes = passkeyd::settings::TenantSettings {
        user_token_max_ttl_secs: 600,
        ..Default::default()
    };
    crate::ceremonies::set_settings(&server, &ten_minutes).await;
    crate::me::unauthenticated(credentials_with(&server, &long).await).await;
    // With no ttlSeconds the default (900 s) is shortened to the cap.
    let default = ok(post(&server, &key, "/users/alice/tokens", &json!({})).await).await;
    let c = crate::me::claims(default["token"].as_str().unwrap());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_users_tokens_stay_dead_when_the_user_id_comes_back() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    crate::ceremonies::set_settings(
        &server,
        &passkeyd::settings::TenantSettings {
            compat: vec!["jitsudo".to_owned()],
            ..Default::default()
        },
    )
    .await;
    let passkey = crate::me::register_user(&server, "alice").await;
    let user = crate::me::user_token(&server, "alice").await;
    let signed_in = ok(sign_in(&server, &passkey, 1).await).await;
    let result = signed_in["token"].as_str().unwrap().to_owned();
    assert!(crate::me::claims(&user)["uh"].is_string());
    assert!(crate::me::claims(&result)["uh"].is_string());

    // The attack: the app deletes alice, later creates a new alice (another person, say, who
    // got the freed ID); the old alice's tokens act for the new one.
    let deleted = server
        .client
        .delete(server.url("/users/alice"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    crate::me::register_user(&server, "alice").await;

    crate::me::unauthenticated(credentials_with(&server, &user).await).await;
    crate::me::unauthenticated(credentials_with(&server, &result).await).await;
    let jitsudo = crate::me::me(
        &server,
        reqwest::Method::GET,
        "/v1/users/me/mfa",
        &user,
        None,
    )
    .await;
    assert_eq!(error_body(jitsudo, 401).await["code"], "unauthenticated");
    refused_as_invalid(&server, &json!({ "token": result })).await;
    refused_as_invalid(&server, &json!({ "token": user, "purpose": "user" })).await;

    // The new alice's own tokens work.
    let fresh = crate::me::user_token(&server, "alice").await;
    ok(credentials_with(&server, &fresh).await).await;
    server.stop().await;
}
