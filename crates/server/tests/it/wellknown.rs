//! Related origins and app association: the `/.well-known` files by host, the settings'
//! checks at `tenant update`, and ceremonies from a related origin and an Android app's origin.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use passkeyd::settings::TenantSettings;
use passkeyd_webauthn::test_util::Credential;
use passkeyd_webauthn::CoseAlgorithm;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, begin_registration, challenge, finish_authentication, new_credential, ok,
    post, set_settings, ORIGIN,
};
use crate::common::{error_body, secret_key, Server};

const RELATED: &str = "https://shop.example.co.uk";
const APP: &str = "com.example.passkeys";
const APPLE: &str = "ABCDE12345.com.example.passkeys";

/// A fingerprint whose bytes are 0, 1, ... 31.
fn fingerprint() -> String {
    (0..32u8)
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn apk_origin() -> String {
    let bytes: Vec<u8> = (0..32u8).collect();
    format!("android:apk-key-hash:{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn associated() -> TenantSettings {
    let settings = json!({
        "open_signup": true,
        "related_origins": [RELATED],
        "android_apps": [{"package_name": APP, "sha256_cert_fingerprints": [fingerprint()]}],
        "apple_app_ids": [APPLE],
    });
    TenantSettings::from_map(settings.as_object().unwrap()).unwrap()
}

async fn get_as(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn json_file(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_files_of_the_rp_ids_host() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_settings(&server, &associated()).await;
    let host = [("host", "localhost:8080")];

    let webauthn = json_file(get_as(&server, "/.well-known/webauthn", &host).await).await;
    assert_eq!(webauthn, json!({ "origins": [RELATED] }));
    let links = json_file(get_as(&server, "/.well-known/assetlinks.json", &host).await).await;
    assert_eq!(
        links,
        json!([{
            "relation": [
                "delegate_permission/common.handle_all_urls",
                "delegate_permission/common.get_login_creds",
            ],
            "target": {
                "namespace": "android_app",
                "package_name": APP,
                "sha256_cert_fingerprints": [fingerprint()],
            },
        }])
    );
    let apple =
        json_file(get_as(&server, "/.well-known/apple-app-site-association", &host).await).await;
    assert_eq!(apple, json!({ "webcredentials": { "apps": [APPLE] } }));

    // Another host is no tenant's RP ID: 404 in the envelope, for every file.
    for path in [
        "/.well-known/webauthn",
        "/.well-known/assetlinks.json",
        "/.well-known/apple-app-site-association",
    ] {
        let refused = error_body(
            get_as(&server, path, &[("host", "evil.example")]).await,
            404,
        )
        .await;
        assert_eq!(refused["code"], "not_found");
    }
    // X-Forwarded-Host is not believed from a peer that is no trusted proxy.
    let forged = get_as(
        &server,
        "/.well-known/webauthn",
        &[("host", "evil.example"), ("x-forwarded-host", "localhost")],
    )
    .await;
    assert_eq!(forged.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_names_the_host() {
    let dir = TempDir::new().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        secret_key(),
        &[("PASSKEYD_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    set_settings(&server, &associated()).await;
    let through_proxy = get_as(
        &server,
        "/.well-known/webauthn",
        &[
            ("host", "passkeyd.internal:8080"),
            ("x-forwarded-host", "localhost"),
        ],
    )
    .await;
    assert_eq!(
        json_file(through_proxy).await,
        json!({ "origins": [RELATED] })
    );
    server.stop().await;
}

/// Registers a credential from `origin` with the secret key; returns it.
async fn register_from(server: &Server, user: &str, origin: &str) -> Credential {
    let key = server.key.expose().to_owned();
    let (session, options) = begin_registration(server, &key, json!({ "userName": user })).await;
    let credential = new_credential(&options);
    let response = credential
        .register(&challenge(&options), origin)
        .build()
        .to_json();
    ok(post(
        server,
        &key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await)
    .await;
    credential
}

/// Sign counts that always grow, whichever credential signs.
static SIGN_COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

async fn sign_in_from(server: &Server, credential: &Credential, origin: &str) -> reqwest::Response {
    let key = server.key.expose().to_owned();
    let (session, options) = begin_authentication(server, &key, json!({})).await;
    let assertion = credential
        .assert(&challenge(&options), origin)
        .sign_count(SIGN_COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
        .build()
        .to_json();
    finish_authentication(server, &key, &session, assertion).await
}

#[tokio::test]
async fn related_origins_and_android_apps_are_ceremony_origins() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_settings(&server, &associated()).await;

    // An Android app signed with the listed certificate registers, a related site signs in.
    let from_app = register_from(&server, "ana", &apk_origin()).await;
    ok(sign_in_from(&server, &from_app, RELATED).await).await;
    let from_site = register_from(&server, "rui", RELATED).await;
    ok(sign_in_from(&server, &from_site, &apk_origin()).await).await;
    ok(sign_in_from(&server, &from_site, ORIGIN).await).await;

    // A foreign origin is still refused, and the answer says why.
    let refused = error_body(
        sign_in_from(&server, &from_site, "https://evil.example").await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "origin_mismatch");
    let details = &refused["details"];
    assert_eq!(details["finding"], "origin_not_related", "{refused}");
    assert_eq!(details["received"]["origin"], "https://evil.example");
    assert_eq!(details["expected"]["rpId"], "localhost");
    // The secret-key caller sees the accepted origins, Android's included.
    assert_eq!(
        details["expected"]["origins"],
        json!([ORIGIN, RELATED, apk_origin()])
    );
    // Another app's certificate is not the listed one.
    let other_app = format!("android:apk-key-hash:{}", URL_SAFE_NO_PAD.encode([9u8; 32]));
    let refused = error_body(sign_in_from(&server, &from_site, &other_app).await, 400).await;
    assert_eq!(refused["details"]["finding"], "android_app_not_listed");
    // A scheme that differs from the listed origin's.
    let refused = error_body(
        sign_in_from(&server, &from_site, "http://shop.example.co.uk").await,
        400,
    )
    .await;
    assert_eq!(refused["details"]["finding"], "origin_scheme_mismatch");

    // A credential of another RP ID: rp_id_mismatch, explained.
    let mut stranger = Credential::new(CoseAlgorithm::Es256, "other.example");
    stranger.user_handle = from_site.user_handle.clone();
    stranger.id = from_site.id.clone();
    let refused = error_body(sign_in_from(&server, &stranger, ORIGIN).await, 400).await;
    assert_eq!(refused["code"], "rp_id_mismatch", "{refused}");
    assert_eq!(refused["details"]["finding"], "rp_id_hash_mismatch");
    assert_eq!(refused["details"]["received"]["origin"], ORIGIN);
    server.stop().await;
}

#[tokio::test]
async fn pages_on_related_origins_pass_cors_and_the_origin_check() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_settings(&server, &associated()).await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(
                reqwest::Method::OPTIONS,
                server.url("/webauthn/authentication/request"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-api-key")
            .send()
    };
    let allowed = preflight(RELATED).await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], RELATED);
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // The publishable key from a page on the related origin may begin; from elsewhere not.
    let pk = server
        .state
        .demo_publishable_key
        .as_deref()
        .unwrap()
        .to_owned();
    let begin = |origin: &'static str| {
        server
            .client
            .post(server.url("/webauthn/authentication/request"))
            .header("x-api-key", pk.as_str())
            .header("origin", origin)
            .json(&json!({}))
            .send()
    };
    ok(begin(RELATED).await.unwrap()).await;
    let refused = error_body(begin("https://evil.example").await.unwrap(), 403).await;
    assert_eq!(refused["code"], "forbidden");
    server.stop().await;
}

/// `passkeyd tenant update --set` in `dir` (SQLite there): the exit code and stderr.
fn tenant_update(dir: &std::path::Path, set: &str) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .args(["tenant", "update", "--id", "shop", "--set", set])
        .current_dir(dir)
        .env_clear()
        .env("PASSKEYD_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn tenant_update_checks_the_association_settings() {
    let dir = TempDir::new().unwrap();
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .args(["tenant", "create", "--id", "shop", "--rp-id", "example.com"])
        .args(["--origin", "https://example.com"])
        .current_dir(dir.path())
        .env_clear()
        .env("PASSKEYD_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let fp = fingerprint();
    let refused = [
        (
            r#"related_origins=["http://example.org"]"#.to_owned(),
            "must be https",
        ),
        (
            r#"related_origins=["https://example.org/login"]"#.to_owned(),
            "no path",
        ),
        (
            r#"related_origins=["https://10.0.0.1"]"#.to_owned(),
            "IP address",
        ),
        (
            format!(
                "related_origins={}",
                json!(["a", "b", "c", "d", "e", "f"].map(|l| format!("https://{l}.example")))
            ),
            "more than 5 distinct registrable labels",
        ),
        (
            format!(
                r#"android_apps=[{{"package_name":"{APP}","sha256_cert_fingerprints":["{}"]}}]"#,
                fp.to_lowercase()
            ),
            "32 upper-case hex bytes",
        ),
        (
            format!(
                r#"android_apps=[{{"package_name":"passkeys","sha256_cert_fingerprints":["{fp}"]}}]"#
            ),
            "package_name",
        ),
        (
            r#"apple_app_ids=["com.example.app"]"#.to_owned(),
            "TEAMID.bundle.id",
        ),
    ];
    for (set, reason) in &refused {
        let (code, stderr) = tenant_update(dir.path(), set);
        assert_ne!(code, Some(0), "{set}");
        assert!(stderr.contains(reason), "{set}: {stderr}");
    }
    // Five labels (several origins under one of them) and the right forms are accepted.
    let five = json!([
        "https://example.co.uk",
        "https://shop.example.de",
        "https://b.example",
        "https://c.example",
        "https://d.example",
        "https://e.example",
    ]);
    let (code, stderr) = tenant_update(dir.path(), &format!("related_origins={five}"));
    assert_eq!(code, Some(0), "{stderr}");
    let apps =
        format!(r#"android_apps=[{{"package_name":"{APP}","sha256_cert_fingerprints":["{fp}"]}}]"#);
    assert_eq!(tenant_update(dir.path(), &apps).0, Some(0));
    assert_eq!(
        tenant_update(dir.path(), &format!(r#"apple_app_ids=["{APPLE}"]"#)).0,
        Some(0)
    );
}
