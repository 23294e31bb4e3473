//! Second factors at `/me/mfa`: passkey enrolment, backup codes (single use, also under
//! concurrent use, and under the per-user throttle of wrong codes), and signing-key rotation
//! under live user tokens.

use futures_util::future::join_all;
use passkeyd_webauthn::json::base64url_encode;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, challenge, finish_authentication, new_credential, ok, post, set_settings,
    sign_in, ORIGIN,
};
use crate::common::{error_body, Server};
use crate::me::{
    claims, header, me, register_user, step_up, unauthenticated, user_token, user_token_with,
};

const BEGIN: &str = "/me/mfa/webauthn/register/begin";
const COMPLETE: &str = "/me/mfa/webauthn/register/complete";
const CODES: &str = "/me/mfa/backup-codes";
const VERIFY: &str = "/me/mfa/backup-codes/verify";

/// Enrols a new software passkey for the token's user; returns the complete answer.
async fn enrol(server: &Server, token: &str, friendly_name: Option<&str>) -> Value {
    let begun = ok(me(server, Method::POST, BEGIN, token, None).await).await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let mut body = json!({ "session": begun["session"], "publicKeyCredential": response });
    if let Some(name) = friendly_name {
        body["friendlyName"] = json!(name);
    }
    let done = ok(me(server, Method::POST, COMPLETE, token, Some(body)).await).await;
    assert_eq!(done["credentialId"], base64url_encode(&credential.id));
    done
}

async fn verify(server: &Server, token: &str, code: &str) -> reqwest::Response {
    me(
        server,
        Method::POST,
        VERIFY,
        token,
        Some(json!({ "code": code })),
    )
    .await
}

async fn invalid(response: reqwest::Response) {
    assert_eq!(
        error_body(response, 401).await["code"],
        "backup_code_invalid"
    );
}

fn codes(answer: &Value) -> Vec<String> {
    answer["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// A wrong code ([`invalid`]), then the wait it earns (wrong codes are throttled per user), so
/// the next attempt is looked at.
async fn wrong(server: &Server, token: &str, user_id: &str, code: &str) {
    invalid(verify(server, token, code).await).await;
    let failures = user(server, user_id).await["failedAttempts"]
        .as_u64()
        .unwrap();
    let wait = passkeyd::backup_codes::throttle_delay(u32::try_from(failures).unwrap());
    server.clock.advance(i64::try_from(wait).unwrap());
}

async fn user(server: &Server, user_id: &str) -> Value {
    ok(server
        .client
        .get(server.url(&format!("/users/{user_id}")))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap())
    .await
}

#[tokio::test]
async fn the_first_enrolment_answers_backup_codes_and_later_ones_do_not() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let existing = register_user(&server, "alice").await;
    let handle = user(&server, "alice").await["userHandle"].clone();
    // Alice has a passkey already: enrolling another needs a step-up, a sign-in with it.
    let token = step_up(&server, &existing, 1).await;

    // The ceremony is the token's user's, and excludes what they have.
    let begun = ok(me(&server, Method::POST, BEGIN, &token, None).await).await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    assert_eq!(options["user"]["id"], handle);
    assert_eq!(options["user"]["name"], "alice@example.com");
    assert_eq!(
        options["excludeCredentials"][0]["id"],
        base64url_encode(&existing.id)
    );
    assert!(begun["session"].as_str().unwrap().starts_with("mfa."));
    // Registering the credential the user already has is refused.
    let again = existing
        .register(&challenge(options), ORIGIN)
        .build()
        .to_json();
    let refused = me(
        &server,
        Method::POST,
        COMPLETE,
        &token,
        Some(json!({ "session": begun["session"], "publicKeyCredential": again })),
    )
    .await;
    assert_eq!(error_body(refused, 409).await["code"], "credential_exists");

    let first = enrol(&server, &token, Some("Backup key")).await;
    let first_codes = codes(&first);
    assert_eq!(first_codes.len(), 10);
    assert_eq!(first["remaining"], 10);
    let alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for code in &first_codes {
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.chars().all(|c| alphabet.contains(c))),
            "{code}"
        );
    }
    let mut unique = first_codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);

    let list = ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    let list = list["credentials"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let enrolled = list
        .iter()
        .find(|c| c["credentialId"] == first["credentialId"])
        .unwrap();
    assert_eq!(enrolled["friendlyName"], "Backup key");

    // Later enrolments answer no codes: the first set stays valid.
    let second = enrol(&server, &token, None).await;
    assert_eq!(second["codes"], json!([]));
    assert_eq!(second["remaining"], 10);
    let verified = ok(verify(&server, &token, &first_codes[0]).await).await;
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["remaining"], 9);
    assert_eq!(
        claims(verified["token"].as_str().unwrap())["amr"],
        json!(["backup_code"])
    );

    // A user who has used up every code gets a new set with the next enrolment.
    for code in &first_codes[1..] {
        ok(verify(&server, &token, code).await).await;
    }
    let third = enrol(&server, &token, None).await;
    assert_eq!(codes(&third).len(), 10);
    assert_eq!(third["remaining"], 10);

    // The audit trail records each enrolment, and whether codes came with it.
    let trail = ok(server
        .client
        .get(server.url("/audit?action=mfa.enrol"))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap())
    .await;
    let issued: Vec<(&str, &str)> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["outcome"].as_str().unwrap(),
                e["details"]["backup_codes_issued"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        issued,
        [
            ("success", "true"),
            ("success", "false"),
            ("success", "true"),
            ("credential_exists", "-")
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn backup_codes_are_single_use_per_user_and_replaced_on_regeneration() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let alice = register_user(&server, "alice").await;
    register_user(&server, "bob").await;
    let token = step_up(&server, &alice, 1).await;
    let bob_token = user_token(&server, "bob").await;

    let old = codes(&enrol(&server, &token, None).await);
    let fresh = ok(me(&server, Method::POST, CODES, &token, None).await).await;
    assert_eq!(fresh["remaining"], 10);
    let fresh = codes(&fresh);
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !old.contains(c)));
    // The old set is void.
    wrong(&server, &token, "alice", &old[0]).await;

    // Any case, without hyphens, with spaces.
    let sloppy = fresh[0].replace('-', "").to_lowercase();
    assert_eq!(
        ok(verify(&server, &token, &sloppy).await).await["remaining"],
        9
    );
    wrong(&server, &token, "alice", &fresh[0]).await;
    let spaced = fresh[1].replace('-', " ");
    assert_eq!(
        ok(verify(&server, &token, &spaced).await).await["remaining"],
        8
    );
    // Bob cannot use Alice's codes (and does not use them up).
    wrong(&server, &bob_token, "bob", &fresh[2]).await;
    // Malformed codes are simply wrong.
    for bad in ["", "0000", "not a code", &"A".repeat(1000)] {
        wrong(&server, &token, "alice", bad).await;
    }
    let missing = me(&server, Method::POST, VERIFY, &token, Some(json!({}))).await;
    assert_eq!(error_body(missing, 400).await["code"], "invalid_request");
    assert_eq!(
        ok(verify(&server, &token, &fresh[2]).await).await["remaining"],
        7
    );
    server.stop().await;
}

#[tokio::test]
async fn concurrent_uses_of_one_code_succeed_exactly_once() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_unthrottled(&dir).await;
    let alice = register_user(&server, "alice").await;
    let token = step_up(&server, &alice, 1).await;
    let set = codes(&ok(me(&server, Method::POST, CODES, &token, None).await).await);
    for code in &set[..3] {
        // The seven losers count as wrong codes: wait out the throttle they earn.
        server
            .clock
            .advance(i64::try_from(passkeyd::backup_codes::MAX_THROTTLE_SECS).unwrap());
        let token = user_token(&server, "alice").await;
        let answers = join_all((0..8).map(|_| verify(&server, &token, code))).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        // The others lost: wrong (401), or throttled by a loser counted first (429).
        assert_eq!(
            statuses.iter().filter(|s| **s == 401 || **s == 429).count(),
            7,
            "{statuses:?}"
        );
    }
    server
        .clock
        .advance(i64::try_from(passkeyd::backup_codes::MAX_THROTTLE_SECS).unwrap());
    let token = user_token(&server, "alice").await;
    let again = ok(verify(&server, &token, &set[3]).await).await;
    assert_eq!(again["remaining"], 6);
    server.stop().await;
}

#[tokio::test]
async fn wrong_codes_wait_longer_each_time_and_the_wait_expires() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let passkey = register_user(&server, "alice").await;
    let token = user_token(&server, "alice").await;
    let stepped = step_up(&server, &passkey, 1).await;
    let set = codes(&ok(me(&server, Method::POST, CODES, &stepped, None).await).await);

    // Typos are free, and a success resets the count: two wrong, one right at once.
    invalid(verify(&server, &token, "0000-0000-0000-0000").await).await;
    invalid(verify(&server, &token, "0000-0000-0000-0000").await).await;
    assert_eq!(user(&server, "alice").await["failedAttempts"], 2);
    ok(verify(&server, &token, &set[0]).await).await;
    assert_eq!(user(&server, "alice").await["failedAttempts"], 0);

    // Failed passkey sign-ins do not count at all.
    let (session, options) =
        begin_authentication(&server, &key, json!({ "userId": "alice" })).await;
    let bad = passkey
        .assert(&challenge(&options), "https://evil.example")
        .build()
        .to_json();
    error_body(
        finish_authentication(&server, &key, &session, bad).await,
        400,
    )
    .await;
    assert_eq!(user(&server, "alice").await["failedAttempts"], 0);

    // After three typos, each wrong code doubles the wait: 1, 2, 4, 8 s. Inside a wait even a
    // right code is not looked at (and not used up); the answer says how long is left.
    for _ in 0..3 {
        invalid(verify(&server, &token, "0000-0000-0000-0000").await).await;
    }
    for expected in [1, 2, 4, 8] {
        invalid(verify(&server, &token, "0000-0000-0000-0000").await).await;
        let refused = verify(&server, &token, &set[1]).await;
        let wait: i64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(error_body(refused, 429).await["code"], "rate_limited");
        // The clock runs on between the failure and the refusal: a second may have passed.
        assert!(
            (expected - 1..=expected).contains(&wait),
            "{wait} s, not {expected}"
        );
        server.clock.advance(expected);
    }
    assert_eq!(user(&server, "alice").await["failedAttempts"], 7);
    // The user's passkey is never refused meanwhile.
    ok(sign_in(&server, &passkey, 2).await).await;

    // The wait over, the right code refused while waiting works.
    let verified = ok(verify(&server, &token, &set[1]).await).await;
    assert_eq!(verified["remaining"], 8);

    let trail = ok(server
        .client
        .get(server.url("/audit?action=backup_code.verify&subject=user:alice"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap())
    .await;
    let outcomes: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        &outcomes[..3],
        ["success", "rate_limited", "backup_code_invalid"]
    );
    assert_eq!(outcomes.len(), 15);
    server.stop().await;
}

/// The `kid`s the tenant's JWKS publishes.
async fn published_kids(server: &Server) -> Vec<String> {
    let jwks = ok(server
        .client
        .get(server.url("/.well-known/jwks.json?tenant=default"))
        .send()
        .await
        .unwrap())
    .await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn rotate(server: &Server) -> passkeyd::token_keys::Rotated {
    let tenant = server
        .state
        .store
        .tenant(&passkeyd::tenant::TenantId::default_tenant())
        .await
        .unwrap();
    passkeyd::token_keys::rotate(
        server.state.store.as_ref(),
        &server.state.master_key,
        &tenant,
        server.state.clock.now().0,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn tokens_signed_before_a_key_rotation_keep_verifying_until_they_expire() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let passkey = register_user(&server, "alice").await;
    let before = user_token_with(&server, &key, "alice", &json!({ "ttlSeconds": 3600 })).await;
    let result_token = ok(sign_in(&server, &passkey, 1).await).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = header(&before)["kid"].as_str().unwrap().to_owned();
    assert_eq!(header(&before)["alg"], "ES256");
    assert_eq!(published_kids(&server).await, [old_kid.as_str()]);

    let rotated = rotate(&server).await;
    assert_eq!(rotated.retired, 1);
    assert_ne!(rotated.kid, old_kid);
    // The old token still works, and so does a result token of the old key.
    ok(me(&server, Method::GET, "/me/credentials", &before, None).await).await;
    let redeemed = ok(post(
        &server,
        &key,
        "/tokens/verify",
        &json!({ "token": result_token }),
    )
    .await)
    .await;
    assert_eq!(redeemed["claims"]["sub"], "alice");
    // New tokens use the new key; both keys are published.
    let after = user_token(&server, "alice").await;
    assert_eq!(header(&after)["kid"], rotated.kid.as_str());
    ok(me(&server, Method::GET, "/me/credentials", &after, None).await).await;
    let kids = published_kids(&server).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&rotated.kid),
        "{kids:?}"
    );

    // Rotating to the tenant's new algorithm.
    set_settings(
        &server,
        &passkeyd::settings::TenantSettings {
            token_algorithm: passkeyd::tokens::SigningAlgorithm::EdDsa,
            ..Default::default()
        },
    )
    .await;
    let ed = rotate(&server).await;
    assert_eq!(ed.algorithm, passkeyd::tokens::SigningAlgorithm::EdDsa);
    assert_eq!(ed.retired, 1);
    let newest = user_token(&server, "alice").await;
    assert_eq!(header(&newest)["alg"], "EdDSA");
    assert_eq!(header(&newest)["kid"], ed.kid.as_str());
    for token in [&before, &after, &newest] {
        ok(me(&server, Method::GET, "/me/credentials", token, None).await).await;
    }
    assert_eq!(published_kids(&server).await.len(), 3);

    // An hour later (the longest user token) and the clock skew, the retired keys are gone
    // from the JWKS, and every token they signed has expired.
    server.clock.advance(3600 + 61);
    assert_eq!(published_kids(&server).await, [ed.kid.as_str()]);
    unauthenticated(me(&server, Method::GET, "/me/credentials", &before, None).await).await;
    let latest = user_token(&server, "alice").await;
    assert_eq!(claims(&latest)["purpose"], "user");
    ok(me(&server, Method::GET, "/me/credentials", &latest, None).await).await;
    server.stop().await;
}

#[tokio::test]
async fn a_rotation_with_another_master_key_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    register_user(&server, "alice").await;
    let token = user_token(&server, "alice").await;
    let tenant = server
        .state
        .store
        .tenant(&passkeyd::tenant::TenantId::default_tenant())
        .await
        .unwrap();
    let stranger =
        passkeyd::tokens::MasterKey::from_base64url("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .unwrap();
    let refused = passkeyd::token_keys::rotate(
        server.state.store.as_ref(),
        &stranger,
        &tenant,
        server.state.clock.now().0,
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("master key"), "{refused}");
    let keys = server.state.store.signing_keys(&tenant.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].retired_at.is_none());
    ok(me(&server, Method::GET, "/me/credentials", &token, None).await).await;
    server.stop().await;
}

#[tokio::test]
async fn the_tenants_policy_decides_with_the_tokens_role() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let passkey = register_user(&server, "alice").await;
    let policy = r#"
        permit(principal, action, resource);
        @notice("sign in fully before adding a second factor")
        forbid(principal, action == Passkeyd::Action::"EnrolMfa", resource)
            when { principal is Passkeyd::User && principal has role
                && principal.role == "password-only" };
        @notice("credentials are managed by the helpdesk")
        forbid(principal, action == Passkeyd::Action::"ManageCredential", resource)
            when { principal is Passkeyd::User && principal has domain
                && principal.domain == "locked.example" };
    "#;
    passkeyd::policy::check(policy).unwrap();
    let tenant = passkeyd::tenant::TenantId::default_tenant();
    server
        .state
        .store
        .set_tenant_policy(&tenant, Some(policy))
        .await
        .unwrap();

    let partial =
        user_token_with(&server, &key, "alice", &json!({ "role": "password-only" })).await;
    for path in [BEGIN, CODES] {
        let denied = error_body(me(&server, Method::POST, path, &partial, None).await, 403).await;
        assert_eq!(denied["code"], "policy_denied", "{path}");
        assert_eq!(
            denied["notices"],
            json!(["sign in fully before adding a second factor"]),
            "{path}"
        );
    }
    // The same user with another role is past the policy, but Alice has a passkey: the
    // app's token is no step-up.
    let full = user_token_with(&server, &key, "alice", &json!({ "role": "member" })).await;
    let refused = error_body(me(&server, Method::POST, BEGIN, &full, None).await, 403).await;
    assert_eq!(refused["code"], "step_up_required");
    // Stepped up with her passkey (a sign-in's token names no role), she enrols.
    let stepped = step_up(&server, &passkey, 1).await;
    assert_eq!(codes(&enrol(&server, &stepped, None).await).len(), 10);

    let locked = user_token_with(
        &server,
        &key,
        "alice",
        &json!({ "domain": "locked.example" }),
    )
    .await;
    let path = format!("/me/credentials/{}", base64url_encode(&passkey.id));
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({ "friendlyName": "x" }))),
        (Method::DELETE, None),
    ] {
        let target = if method == Method::GET {
            "/me/credentials"
        } else {
            &path
        };
        let denied = error_body(me(&server, method, target, &locked, body).await, 403).await;
        assert_eq!(denied["code"], "policy_denied");
        assert_eq!(
            denied["notices"],
            json!(["credentials are managed by the helpdesk"])
        );
    }
    ok(me(&server, Method::GET, "/me/credentials", &full, None).await).await;
    server.stop().await;
}

#[tokio::test]
async fn a_password_user_new_to_passkeyd_enrols_a_passkey_as_second_factor() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    // Unknown and no user name: nothing to mint for.
    let unknown = post(&server, &key, "/users/pw-user-1/tokens", &json!({})).await;
    assert_eq!(error_body(unknown, 404).await["code"], "not_found");
    // The app signed them in with a password and names them: they are created.
    let token = user_token_with(
        &server,
        &key,
        "pw-user-1",
        &json!({ "userName": "quinn@example.com", "userDisplayName": "Quinn" }),
    )
    .await;
    let created = user(&server, "pw-user-1").await;
    assert_eq!(created["userName"], "quinn@example.com");
    assert_eq!(created["displayName"], "Quinn");
    assert_eq!(created["credentialCount"], 0);
    let done = enrol(&server, &token, Some("YubiKey")).await;
    assert_eq!(codes(&done).len(), 10);
    assert_eq!(user(&server, "pw-user-1").await["credentialCount"], 1);
    // A second mint keeps the user as stored; a name another user has is refused.
    user_token_with(&server, &key, "pw-user-1", &json!({ "userName": "other" })).await;
    assert_eq!(
        user(&server, "pw-user-1").await["userName"],
        "quinn@example.com"
    );
    let taken = post(
        &server,
        &key,
        "/users/pw-user-2/tokens",
        &json!({ "userName": "quinn@example.com" }),
    )
    .await;
    assert_eq!(error_body(taken, 409).await["code"], "user_exists");
    server.stop().await;
}
