//! The attacks of the security review, each tried as the attacker would, against the real
//! server: lockout by strangers, finishing someone's ceremony as another kind of caller, telling
//! real names from decoys, answers that grow with what a client stored, hidden characters in
//! names, failures without a target in the audit trail, and user verification dropped at
//! sign-in. Each test fails on a server without the rule it checks.

use std::net::{IpAddr, Ipv4Addr};

use passkeyd::rate_limit::RateLimitConfig;
use passkeyd::settings::TenantSettings;
use passkeyd::tenant::TenantId;
use passkeyd_webauthn::json::{base64url_decode, base64url_encode, UserVerificationRequirement};
use passkeyd_webauthn::test_util::Credential;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, begin_registration, challenge, finish_authentication, new_credential, ok,
    post, register, set_settings, sign_in, ORIGIN,
};
use crate::common::{error_body, secret_key, Server};
use crate::me::{register_user, user_token_with};

/// A client whose requests come from `last` in 127.0.0.0/8 (all of it is this machine's), so
/// one test can play several addresses.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

/// The demo page's publishable key of the default tenant.
fn publishable(server: &Server) -> String {
    server
        .state
        .demo_publishable_key
        .as_deref()
        .unwrap()
        .to_owned()
}

async fn public_post(
    server: &Server,
    client: &reqwest::Client,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(server.url(path))
        .header("x-api-key", publishable(server))
        .header("origin", ORIGIN)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A named sign-in begun with the publishable key: (session, request options).
async fn public_begin(server: &Server, client: &reqwest::Client, body: Value) -> (String, Value) {
    let answer =
        ok(public_post(server, client, "/webauthn/authentication/request", &body).await).await;
    (
        answer["session"].as_str().unwrap().to_owned(),
        answer["publicKeyCredentialRequestOptions"].clone(),
    )
}

async fn public_finish(
    server: &Server,
    client: &reqwest::Client,
    session: &str,
    credential: Value,
) -> reqwest::Response {
    public_post(
        server,
        client,
        "/webauthn/authentication/response",
        &json!({ "session": session, "publicKeyCredential": credential }),
    )
    .await
}

/// A software credential nobody registered, for request options.
fn unregistered(options: &Value) -> Credential {
    Credential::new(
        passkeyd_webauthn::CoseAlgorithm::Es256,
        options["rpId"].as_str().unwrap(),
    )
}

/// A well-formed assertion for the begin's challenge that claims to be credential `id` but is
/// signed by another key: what a stranger can make for any listed credential.
fn forged(options: &Value, id: &[u8]) -> Value {
    let stranger = unregistered(options);
    stranger
        .assert(&challenge(options), ORIGIN)
        .id(base64url_encode(id))
        .raw_id(id.to_vec())
        .build()
        .to_json()
}

/// The first credential ID a begin lists.
fn listed(options: &Value) -> Vec<u8> {
    base64url_decode(options["allowCredentials"][0]["id"].as_str().unwrap()).unwrap()
}

async fn stored_user(server: &Server, user_id: &str) -> passkeyd::store::User {
    server
        .state
        .store
        .user(&TenantId::default_tenant(), user_id)
        .await
        .unwrap()
}

#[tokio::test]
async fn strangers_cannot_lock_a_user_out_and_are_throttled_by_their_own_address() {
    let dir = TempDir::new().unwrap();
    // Requests are not limited here, so what answers 429 is the failure throttle.
    let server = Server::start_configured(dir.path(), secret_key(), &[], |config| {
        config.rate_limits = RateLimitConfig {
            public_per_ip_per_minute: 0,
            public_per_tenant_per_minute: 0,
            public_failures_per_ip_burst: 5,
            public_failures_per_ip_per_hour: 60,
            ..RateLimitConfig::default()
        };
    })
    .await;
    let alice = register_user(&server, "alice").await;
    let stranger = client_from(66);

    // The stranger names alice and fails, with junk and with a forged signature on her real
    // credential ID (which the begin lists to anyone): five failures pass, the sixth makes
    // the address wait.
    for round in 0..6 {
        let (session, options) = public_begin(&server, &stranger, json!({"userId": "alice"})).await;
        let junk = if round % 2 == 0 {
            json!({})
        } else {
            forged(&options, &alice.id)
        };
        let refused = public_finish(&server, &stranger, &session, junk).await;
        assert_eq!(refused.status(), 400);
    }
    // The stranger's own address is throttled: begins and finishes answer 429.
    let throttled = public_post(
        &server,
        &stranger,
        "/webauthn/authentication/request",
        &json!({"userId": "alice"}),
    )
    .await;
    assert!(throttled.headers().contains_key("retry-after"));
    assert_eq!(error_body(throttled, 429).await["code"], "rate_limited");

    // Alice is not: nothing was counted against her, and from her own address she signs in.
    assert_eq!(stored_user(&server, "alice").await.failed_attempts, 0);
    let own = client_from(77);
    let (session, options) = public_begin(&server, &own, json!({"userId": "alice"})).await;
    let assertion = alice
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .build()
        .to_json();
    let signed_in = ok(public_finish(&server, &own, &session, assertion).await).await;
    assert_eq!(signed_in["userId"], "alice");
    server.stop().await;
}

/// A user token for the mailcheap dialect (Basic: the user name and a user token).
async fn mail_account(server: &Server, user_id: &str, name: &str) -> String {
    user_token_with(
        server,
        server.key.expose(),
        user_id,
        &json!({ "userName": name, "role": "MailUser", "domain": "mail.example" }),
    )
    .await
}

#[tokio::test]
async fn a_users_ceremony_cannot_be_finished_by_another_kind_of_caller() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_settings(
        &server,
        &TenantSettings {
            compat: vec!["mailcheap".to_owned()],
            ..TenantSettings::default()
        },
    )
    .await;
    let token = mail_account(&server, "mbx-ada", "ada@mail.example").await;
    // Ada begins a registration through the dialect (a session named by its challenge)...
    let options = ok(server
        .client
        .get(server.url("/api/v1/webauthn/registration/options/"))
        .basic_auth("ada@mail.example", Some(&token))
        .send()
        .await
        .unwrap())
    .await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    // ...and someone finishes it at the native route with the publishable key, naming the
    // session by the challenge: refused, so the tenant's policy never sees a key for Ada.
    let session = base64url_encode(&challenge(&options));
    let native = public_post(
        &server,
        &server.client,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await;
    assert_eq!(
        error_body(native, 400).await["code"],
        "session_caller_mismatch"
    );
    // The session is used up: Ada's own finish cannot use it either.
    let mut body = response.clone();
    body["friendly_name"] = "Laptop".into();
    let late = server
        .client
        .post(server.url("/api/v1/webauthn/registration/verify/"))
        .basic_auth("ada@mail.example", Some(&token))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(late, 400).await["code"], "session_not_found");
    assert!(server
        .state
        .store
        .credential(&TenantId::default_tenant(), &credential.id)
        .await
        .is_err());

    // The same the other way round: a ceremony begun with the secret key is not finished
    // with the publishable key.
    let key = server.key.expose().to_owned();
    let (session, options) =
        begin_registration(&server, &key, json!({ "userName": "bea@example.com" })).await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let crossed = public_post(
        &server,
        &server.client,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await;
    assert_eq!(
        error_body(crossed, 400).await["code"],
        "session_caller_mismatch"
    );
    server.stop().await;
}

/// What a public caller sees of a finish: status and code.
async fn outcome(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn public_answers_do_not_tell_real_names_from_unknown_ones() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let (_, alice) = register(&server, "alice@example.com").await;
    assert_eq!(alice["userName"], "alice@example.com");
    // The same forgeries against a real name and an unknown one (each from an address of its
    // own, so the failure throttle stays out of the way).
    type Forgery = fn(&Value) -> Value;
    let forgeries: [(&str, Forgery); 5] = [
        ("empty", |_| json!({})),
        ("listed ID, wrong key", |options| {
            forged(options, &listed(options))
        }),
        ("unlisted ID", |options| {
            forged(options, &passkeyd_webauthn::test_util::random_bytes(32))
        }),
        ("listed ID, wrong origin", |options| {
            let stranger = unregistered(options);
            let id = listed(options);
            stranger
                .assert(&challenge(options), "https://evil.example")
                .id(base64url_encode(&id))
                .raw_id(id)
                .build()
                .to_json()
        }),
        ("listed ID, flipped backup eligibility", |options| {
            let stranger = unregistered(options);
            let id = listed(options);
            stranger
                .assert(&challenge(options), ORIGIN)
                .id(base64url_encode(&id))
                .raw_id(id)
                .backup_eligible(true)
                .backup_state(true)
                .build()
                .to_json()
        }),
    ];
    for ((what, forge), last) in forgeries.into_iter().zip(10..) {
        let client = client_from(last);
        let mut seen = Vec::new();
        for name in ["alice@example.com", "nobody@example.com"] {
            let (session, options) =
                public_begin(&server, &client, json!({"userName": name})).await;
            seen.push(
                outcome(public_finish(&server, &client, &session, forge(&options)).await).await,
            );
        }
        assert_eq!(seen[0], seen[1], "{what}: {seen:?}");
        assert_eq!(seen[0].0, 400, "{what}");
    }
    // Open sign-up: a taken name and a free one begin alike (the finish is in
    // browser_direct::open_sign_up_cannot_add_a_passkey_to_an_existing_account).
    set_settings(
        &server,
        &TenantSettings {
            open_signup: true,
            ..TenantSettings::default()
        },
    )
    .await;
    let client = client_from(20);
    for name in ["alice@example.com", "nobody@example.com"] {
        let begun = public_post(
            &server,
            &client,
            "/webauthn/registration/request",
            &json!({ "userName": name }),
        )
        .await;
        assert_eq!(begun.status(), 200, "{name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn what_clients_store_is_bounded_and_lists_are_paged() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_settings(
        &server,
        &TenantSettings {
            max_credentials_per_user: 3,
            ..TenantSettings::default()
        },
    )
    .await;
    let key = server.key.expose().to_owned();
    let body = json!({ "userId": "una", "userName": "una@example.com" });
    let finish = |session: String, credential: &Credential, options: &Value, transports| {
        let response = credential
            .register(&challenge(options), ORIGIN)
            .transports(transports)
            .build()
            .to_json();
        let server = &server;
        let key = key.clone();
        async move {
            post(
                server,
                &key,
                "/webauthn/registration/response",
                &json!({ "session": session, "publicKeyCredential": response }),
            )
            .await
        }
    };
    // Thousands of transports, unknown ones and repeats: only known values are kept, once.
    let mut transports: Vec<String> = (0..5_000).map(|n| format!("bogus-{n}")).collect();
    transports.extend(["usb", "nfc", "usb", "hybrid"].map(str::to_owned));
    let (session, options) = begin_registration(&server, &key, body.clone()).await;
    let first = new_credential(&options);
    ok(finish(session, &first, &options, transports).await).await;
    let stored = server
        .state
        .store
        .credential(&TenantId::default_tenant(), &first.id)
        .await
        .unwrap();
    assert_eq!(stored.transports, ["hybrid", "nfc", "usb"]);

    // The limit: begun while under it, two finishes race for the last place; one gets it.
    let (s2, o2) = begin_registration(&server, &key, body.clone()).await;
    let (s3, o3) = begin_registration(&server, &key, body.clone()).await;
    let (s4, o4) = begin_registration(&server, &key, body.clone()).await;
    let (c2, c3, c4) = (
        new_credential(&o2),
        new_credential(&o3),
        new_credential(&o4),
    );
    let internal = || vec!["internal".to_owned()];
    ok(finish(s2, &c2, &o2, internal()).await).await;
    let (a, b) = tokio::join!(
        finish(s3, &c3, &o3, internal()),
        finish(s4, &c4, &o4, internal())
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let refused = post(&server, &key, "/webauthn/registration/request", &body).await;
    assert_eq!(error_body(refused, 409).await["code"], "credential_limit");

    // The list pages: 2 then 1, no repeats.
    let page = |cursor: Option<String>| {
        let server = &server;
        let key = key.clone();
        async move {
            let mut url = "/users/una/credentials?limit=2".to_owned();
            if let Some(cursor) = cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            ok(server
                .client
                .get(server.url(&url))
                .header("x-api-key", key)
                .send()
                .await
                .unwrap())
            .await
        }
    };
    let one = page(None).await;
    assert_eq!(one["credentials"].as_array().unwrap().len(), 2);
    let two = page(Some(one["nextCursor"].as_str().unwrap().to_owned())).await;
    assert_eq!(two["credentials"].as_array().unwrap().len(), 1);
    assert!(two.get("nextCursor").is_none());
    assert_ne!(one["credentials"][0], two["credentials"][0]);
    let bad = server
        .client
        .get(server.url("/users/una/credentials?limit=100000"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(bad, 400).await["code"], "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn names_are_stored_in_nfc_and_hidden_characters_are_refused() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    for hidden in [
        "alice\u{202e}moc.live@example.com",
        "al\u{200b}ice@example.com",
        "\u{feff}alice",
    ] {
        for field in ["userName", "userDisplayName"] {
            let mut body = json!({ "userName": "carol@example.com" });
            body[field] = hidden.into();
            let refused = post(&server, &key, "/webauthn/registration/request", &body).await;
            assert_eq!(
                error_body(refused, 400).await["code"],
                "invalid_request",
                "{field}: {hidden:?}"
            );
        }
    }
    // A decomposed accent is the same name as the composed one.
    let (_, options) = begin_registration(
        &server,
        &key,
        json!({ "userId": "jose", "userName": "Jose\u{301}" }),
    )
    .await;
    assert_eq!(options["user"]["name"], "Jos\u{e9}");

    // Renames, by the backend and by the user, and users made for a user token, alike.
    let carol = register_user(&server, "carol").await;
    let path = format!("/credentials/{}", base64url_encode(&carol.id));
    let patch = |path: String, name: &'static str, auth: (&'static str, String)| {
        let server = &server;
        async move {
            server
                .client
                .patch(server.url(&path))
                .header(auth.0, auth.1)
                .json(&json!({ "friendlyName": name }))
                .send()
                .await
                .unwrap()
        }
    };
    let refused = patch(path.clone(), "Key\u{202e}", ("x-api-key", key.clone())).await;
    assert_eq!(error_body(refused, 400).await["code"], "invalid_request");
    let renamed = ok(patch(path, "Cle\u{301}", ("x-api-key", key.clone())).await).await;
    assert_eq!(renamed["friendlyName"], "Cl\u{e9}");
    let token = crate::me::user_token(&server, "carol").await;
    let own = format!("/me/credentials/{}", base64url_encode(&carol.id));
    let refused = patch(
        own,
        "\u{200b}",
        ("authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(error_body(refused, 400).await["code"], "invalid_request");
    let minted = post(
        &server,
        &key,
        "/users/dave/tokens",
        &json!({ "userName": "da\u{200d}ve@example.com" }),
    )
    .await;
    assert_eq!(error_body(minted, 400).await["code"], "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn failed_finishes_name_whom_they_targeted_in_the_audit_trail() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    register_user(&server, "dana").await;
    let client = client_from(9);
    for body in [
        json!({"userId": "dana"}),
        json!({"userName": "ghost@example.com"}),
    ] {
        let (session, _) = public_begin(&server, &client, body).await;
        let refused = public_finish(&server, &client, &session, json!({})).await;
        assert_eq!(refused.status(), 400);
    }
    let trail = ok(server
        .client
        .get(server.url("/audit?action=authentication.finish"))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap())
    .await;
    let subjects: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(subjects, ["name:ghost@example.com", "user:dana"]);
    server.stop().await;
}

#[tokio::test]
async fn user_verification_cannot_be_dropped_at_sign_in() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    // Registered with UV under the default (preferred) policy: a sign-in without UV is
    // refused (docs/security.md, "User verification")...
    let (credential, _) = register(&server, "erin@example.com").await;
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .user_verified(false)
        .build()
        .to_json();
    let refused = finish_authentication(&server, &key, &session, assertion).await;
    assert_eq!(
        error_body(refused, 400).await["code"],
        "user_verification_required"
    );
    ok(sign_in(&server, &credential, 2).await).await;

    // ...and a credential registered without UV is refused without it once the tenant
    // requires it, even for a sign-in begun before the change.
    let (session, options) =
        begin_registration(&server, &key, json!({ "userName": "finn@example.com" })).await;
    let finn = new_credential(&options);
    let response = finn
        .register(&challenge(&options), ORIGIN)
        .user_verified(false)
        .build()
        .to_json();
    ok(post(
        &server,
        &key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    let (session, options) = begin_authentication(&server, &key, json!({})).await;
    set_settings(
        &server,
        &TenantSettings {
            user_verification: UserVerificationRequirement::Required,
            ..TenantSettings::default()
        },
    )
    .await;
    let assertion = finn
        .assert(&challenge(&options), ORIGIN)
        .sign_count(1)
        .user_verified(false)
        .build()
        .to_json();
    let refused = finish_authentication(&server, &key, &session, assertion).await;
    assert_eq!(
        error_body(refused, 400).await["code"],
        "user_verification_required"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_user_routes_are_rate_limited_per_address_like_the_public_ones() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_configured(dir.path(), secret_key(), &[], |config| {
        config.rate_limits = RateLimitConfig {
            public_per_ip_per_minute: 1,
            public_per_ip_burst: 3,
            public_per_tenant_per_minute: 0,
            ..RateLimitConfig::default()
        };
    })
    .await;
    register_user(&server, "gil").await;
    let token = crate::me::user_token(&server, "gil").await;
    let list = |client: reqwest::Client| {
        let (server, token) = (&server, token.clone());
        async move {
            client
                .get(server.url("/me/credentials"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(list(client_from(40)).await.status(), 200);
    }
    let limited = list(client_from(40)).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(error_body(limited, 429).await["code"], "rate_limited");
    // Junk tokens from that address are refused the same way, before any verification.
    let junk = client_from(40)
        .get(server.url("/me/credentials"))
        .bearer_auth("eyJhbGciOiJFUzI1NiJ9.eyJ0ZW5hbnQiOiJkZWZhdWx0In0.AAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), 429);
    // Another address is not limited by it.
    assert_eq!(list(client_from(41)).await.status(), 200);
    server.stop().await;
}
