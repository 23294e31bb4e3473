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

const BEGIN: &str = "/me/mfa/webauthn/register/begin";
const COMPLETE: &str = "/me/mfa/webauthn/register/complete";
const CODES: &str = "/me/mfa/backup-codes";
const VERIFY_CODE: &str = "/me/mfa/backup-codes/verify";

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::Response {
    crate::me::me(server, method, path, token, None).await
}

/// Expects 403 `step_up_required` with the tenant's window in `details.max_age_secs`.
async fn step_up_required(response: reqwest::Response, max_age_secs: u32) {
    let body = error_body(response, 403).await;
    assert_eq!(body["code"], "step_up_required", "{body}");
    assert_eq!(body["details"]["max_age_secs"], max_age_secs, "{body}");
}

/// Begins and completes an enrolment of a new software passkey with `token`.
async fn enrol(server: &Server, token: &str) -> reqwest::Response {
    let begun = ok(call(server, reqwest::Method::POST, BEGIN, token).await).await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let credential = crate::ceremonies::new_credential(options);
    let response = credential
        .register(
            &crate::ceremonies::challenge(options),
            crate::ceremonies::ORIGIN,
        )
        .build()
        .to_json();
    let body = json!({ "session": begun["session"], "publicKeyCredential": response });
    crate::me::me(server, reqwest::Method::POST, COMPLETE, token, Some(body)).await
}

#[tokio::test]
async fn a_password_session_cannot_change_the_factors_of_an_account_that_has_some() {
    use reqwest::Method;
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let passkey = crate::me::register_user(&server, "alice").await;
    let password_session = crate::me::user_token(&server, "alice").await;
    assert_eq!(crate::me::claims(&password_session)["amr"], json!([]));
    // The app cannot claim a factor for its token.
    for claim in [json!({ "amr": ["passkey"] }), json!({ "authTime": 0 })] {
        let refused = post(&server, server.key.expose(), "/users/alice/tokens", &claim).await;
        assert_eq!(error_body(refused, 400).await["code"], "invalid_request");
    }
    let passkey_path = format!(
        "/me/credentials/{}",
        passkeyd_webauthn::json::base64url_encode(&passkey.id)
    );

    // The attack: with the app's token for a password session, enrol the attacker's
    // authenticator, regenerate the backup codes, delete the victim's passkey. Each is refused
    // and changes nothing.
    step_up_required(
        call(&server, Method::POST, BEGIN, &password_session).await,
        300,
    )
    .await;
    step_up_required(
        call(&server, Method::POST, CODES, &password_session).await,
        300,
    )
    .await;
    step_up_required(
        call(&server, Method::DELETE, &passkey_path, &password_session).await,
        300,
    )
    .await;
    // Nor can it complete a ceremony begun with a step-up.
    let stepped = crate::me::step_up(&server, &passkey, 1).await;
    let begun = ok(call(&server, Method::POST, BEGIN, &stepped).await).await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let attacker = crate::ceremonies::new_credential(options);
    let response = attacker
        .register(
            &crate::ceremonies::challenge(options),
            crate::ceremonies::ORIGIN,
        )
        .build()
        .to_json();
    let body = json!({ "session": begun["session"], "publicKeyCredential": response });
    let refused = crate::me::me(
        &server,
        Method::POST,
        COMPLETE,
        &password_session,
        Some(body.clone()),
    )
    .await;
    step_up_required(refused, 300).await;
    let listed = ok(call(&server, Method::GET, "/me/credentials", &password_session).await).await;
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 1);
    // It still reads, renames and verifies codes: those change no factor.
    let renamed = crate::me::me(
        &server,
        Method::PATCH,
        &passkey_path,
        &password_session,
        Some(json!({ "friendlyName": "Phone" })),
    )
    .await;
    ok(renamed).await;

    // The passkey sign-in's token is a step-up: amr passkey, auth_time the sign-in.
    let c = crate::me::claims(&stepped);
    assert_eq!(c["amr"][0], "passkey");
    assert_eq!(c["auth_time"], c["iat"]);
    ok(crate::me::me(&server, Method::POST, COMPLETE, &stepped, Some(body)).await).await;
    ok(call(&server, Method::POST, CODES, &stepped).await).await;

    // A step-up ages: past the tenant's window the same live token is refused again.
    crate::ceremonies::set_settings(
        &server,
        &passkeyd::settings::TenantSettings {
            step_up_max_age_secs: 60,
            ..Default::default()
        },
    )
    .await;
    server.clock.advance(61);
    ok(call(&server, Method::GET, "/me/credentials", &stepped).await).await;
    step_up_required(
        call(&server, Method::DELETE, &passkey_path, &stepped).await,
        60,
    )
    .await;
    let fresh = crate::me::step_up(&server, &passkey, 2).await;
    let deleted = call(&server, Method::DELETE, &passkey_path, &fresh).await;
    assert_eq!(deleted.status(), 204);
    server.stop().await;
}

#[tokio::test]
async fn the_first_enrolment_needs_no_step_up_and_a_backup_code_is_one() {
    use reqwest::Method;
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    // A password user new to passkeyd: the documented MFA enrolment with the app's token.
    let password_session = user_token_with(
        &server,
        &key,
        "pw-1",
        &json!({ "userName": "pw@example.com", "role": "member" }),
    )
    .await;
    let first = ok(enrol(&server, &password_session).await).await;
    let codes: Vec<String> = first["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);

    // The second needs a step-up; the user has lost the passkey, and steps up with a code.
    step_up_required(
        call(&server, Method::POST, BEGIN, &password_session).await,
        300,
    )
    .await;
    let verified = crate::me::me(
        &server,
        Method::POST,
        VERIFY_CODE,
        &password_session,
        Some(json!({ "code": codes[0] })),
    )
    .await;
    let verified = ok(verified).await;
    assert_eq!(verified["remaining"], 9);
    let stepped = verified["token"].as_str().unwrap().to_owned();
    let c = crate::me::claims(&stepped);
    assert_eq!(c["amr"], json!(["backup_code"]));
    assert_eq!(c["purpose"], "user");
    assert_eq!(
        c["role"], "member",
        "the role of the token the code was verified with"
    );
    assert_eq!(c["auth_time"], c["iat"]);
    assert_eq!(verified["expiresAt"], c["exp"]);
    let second = ok(enrol(&server, &stepped).await).await;
    assert_eq!(second["codes"], json!([]));
    ok(call(&server, Method::POST, CODES, &stepped).await).await;

    // A user with no passkey left but unused codes still has a factor: no plain changes.
    let listed = ok(call(&server, Method::GET, "/me/credentials", &stepped).await).await;
    for credential in listed["credentials"].as_array().unwrap() {
        let path = format!(
            "/me/credentials/{}",
            credential["credentialId"].as_str().unwrap()
        );
        assert_eq!(
            call(&server, Method::DELETE, &path, &stepped)
                .await
                .status(),
            204
        );
    }
    step_up_required(
        call(&server, Method::POST, BEGIN, &password_session).await,
        300,
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn the_dialects_refuse_a_second_enrolment_without_a_step_up_in_their_own_shapes() {
    use reqwest::Method;
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    crate::ceremonies::set_settings(
        &server,
        &passkeyd::settings::TenantSettings {
            compat: vec!["flashback".to_owned(), "jitsudo".to_owned()],
            ..Default::default()
        },
    )
    .await;
    let passkey = crate::me::register_user(&server, "alice").await;
    let password_session = crate::me::user_token(&server, "alice").await;

    // flashback: its own body, with the code beside flashback's `error`.
    let setup = server
        .client
        .post(server.url("/mfa/setup"))
        .bearer_auth(&password_session)
        .json(&json!({ "mfaType": "PASSKEY" }))
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), 403);
    let body: Value = setup.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "step_up_required");
    assert_eq!(body["maxAgeSecs"], 300);
    // Jitsudo: the envelope, for an enrolment and for new backup codes.
    for path in [
        "/v1/users/me/mfa/webauthn/register?method_type=webauthn_passkey",
        "/v1/users/me/mfa/backup-codes",
    ] {
        step_up_required(
            call(&server, Method::POST, path, &password_session).await,
            300,
        )
        .await;
    }

    // flashback's own passkey check (auth-options, verify) is the step-up, and takes the
    // password session's token: it changes no factor.
    let begun = server
        .client
        .post(server.url("/mfa/passkey/auth-options"))
        .bearer_auth(&password_session)
        .send()
        .await
        .unwrap();
    let begun = ok(begun).await;
    let challenge = begun["data"]["challenge"].as_str().unwrap();
    use base64::Engine;
    let signed = base64::engine::general_purpose::STANDARD
        .decode(challenge)
        .unwrap();
    let assertion = passkey
        .assert(&signed, crate::ceremonies::ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let verified = server
        .client
        .post(server.url("/mfa/passkey/verify"))
        .bearer_auth(&password_session)
        .json(&json!({ "credential": assertion, "challenge": challenge }))
        .send()
        .await
        .unwrap();
    let stepped = ok(verified).await["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let setup = server
        .client
        .post(server.url("/mfa/setup"))
        .bearer_auth(&stepped)
        .json(&json!({ "mfaType": "PASSKEY" }))
        .send()
        .await
        .unwrap();
    ok(setup).await;
    ok(call(
        &server,
        Method::POST,
        "/v1/users/me/mfa/backup-codes",
        &stepped,
    )
    .await)
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_tenant_policy_sees_how_the_token_was_earned() {
    use reqwest::Method;
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let policy = include_str!("../../../../docs/policies/fresh-passkey-for-new-factors.cedar");
    let tenant = passkeyd::tenant::TenantId::default_tenant();
    server
        .state
        .store
        .set_tenant_policy(&tenant, Some(policy))
        .await
        .unwrap();
    let passkey = crate::me::register_user(&server, "alice").await;
    let stepped = crate::me::step_up(&server, &passkey, 1).await;
    let codes = ok(call(&server, Method::POST, CODES, &stepped).await).await;

    // passkeyd's rule takes a backup code as a step-up; this tenant's policy does not.
    let password_session = crate::me::user_token(&server, "alice").await;
    let verified = crate::me::me(
        &server,
        Method::POST,
        VERIFY_CODE,
        &password_session,
        Some(json!({ "code": codes["codes"][0] })),
    )
    .await;
    let by_code = ok(verified).await["token"].as_str().unwrap().to_owned();
    let denied = error_body(call(&server, Method::POST, BEGIN, &by_code).await, 403).await;
    assert_eq!(denied["code"], "policy_denied");
    assert_eq!(
        denied["notices"],
        json!(["Sign in with your passkey again (within two minutes) to add a second factor."])
    );
    // Past two minutes, a passkey sign-in is too old for the policy (not yet for passkeyd).
    server.clock.advance(121);
    let denied = error_body(call(&server, Method::POST, BEGIN, &stepped).await, 403).await;
    assert_eq!(denied["code"], "policy_denied");
    let fresh = crate::me::step_up(&server, &passkey, 2).await;
    ok(call(&server, Method::POST, BEGIN, &fresh).await).await;
    server.stop().await;
}
