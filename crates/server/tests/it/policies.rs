//! Tenant Cedar policies end to end: the example policies of docs/policies, as written, decide
//! real ceremonies; the admin API and the CLI refuse invalid policies and keep the old one; a
//! denial is 403 `policy_denied` with the deciding policies' notices in the envelope.
//!
//! Role-based examples (admins need UV, mail roles) need user tokens with roles; they are
//! covered by the unit tests of `passkeyd::policy` with constructed principals.

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use passkeyd::tenant::TenantId;
use passkeyd::AppState;
use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::{AttestationCa, CertificateParams};
use passkeyd_webauthn::Aaguid;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::ceremonies::{
    begin_registration, challenge, new_credential, ok, post, register, sign_in, ORIGIN,
};
use crate::common::{backend_config, error_body, Server};

const ALLOW_LIST: &str = include_str!("../../../../docs/policies/aaguid-allow-list.cedar");
const ADMINS_NEED_UV: &str = include_str!("../../../../docs/policies/admins-need-uv.cedar");
const MAX_10: &str = include_str!("../../../../docs/policies/max-10-credentials.cedar");
const MAIL_ROLES: &str = include_str!("../../../../docs/policies/mail-roles.cedar");

const ALLOW_LIST_NOTICE: &str =
    "Only approved security keys can be registered here (YubiKey 5 series).";
const MAX_10_NOTICE: &str =
    "You already have 10 passkeys, the most allowed. Remove one to add another.";
/// A model on the allow-list (YubiKey 5 Series); the test's MDS vouches for it.
const YUBIKEY_5: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
const ADMIN_KEY: &str = "test-operator-key-0123456789abcdefghijklmnop";
const POLICY_PATH: &str = "/admin/tenants/default/policy";

/// Another node on the same database as a [`Server`], with the operator API on.
struct AdminNode {
    base: String,
    client: reqwest::Client,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl AdminNode {
    async fn start(dir: &Path) -> Self {
        let config = backend_config(dir, &[("PASSKEYD_ADMIN_KEY", ADMIN_KEY)]).await;
        let store = passkeyd::store::open(&config).await.unwrap();
        let state = passkeyd::open_state(store, config).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(passkeyd::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY)
    }

    async fn put_policy(&self, text: &str) -> reqwest::Response {
        self.request(reqwest::Method::PUT, POLICY_PATH)
            .json(&json!({ "policy": text }))
            .send()
            .await
            .unwrap()
    }

    async fn policy(&self) -> Value {
        let response = self
            .request(reqwest::Method::GET, POLICY_PATH)
            .send()
            .await
            .unwrap();
        ok(response).await["policy"].clone()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.state.store.close().await;
    }
}

/// Sets the default tenant's policy straight in the store (validated first, as every way in
/// does).
async fn set_policy(server: &Server, text: &str) {
    passkeyd::policy::check(text).unwrap();
    server
        .state
        .store
        .set_tenant_policy(&TenantId::default_tenant(), Some(text))
        .await
        .unwrap();
}

/// Checks a `policy_denied` envelope and returns its notices.
async fn denied(response: reqwest::Response) -> Vec<String> {
    let body = error_body(response, 403).await;
    assert_eq!(body["code"], "policy_denied", "{body}");
    serde_json::from_value(body["notices"].clone()).unwrap()
}

/// Finishes a registration with `response` for the begun `session`.
async fn finish(server: &Server, session: &str, response: Value) -> reqwest::Response {
    post(
        server,
        server.key.expose(),
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": response }),
    )
    .await
}

/// The outcomes of the default tenant's audit events with `action`, newest first.
async fn outcomes(server: &Server, action: &str) -> Vec<String> {
    let events = server
        .state
        .store
        .audit_events(&TenantId::default_tenant(), None, 500)
        .await
        .unwrap();
    events
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| e.outcome)
        .collect()
}

async fn credential_count(server: &Server, user_id: &str) -> usize {
    let response = server
        .client
        .get(server.url(&format!("/users/{user_id}/credentials")))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap();
    ok(response).await["credentials"].as_array().unwrap().len()
}

fn aaguid(text: &str) -> Aaguid {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    Aaguid(bytes)
}

/// A DER ECDSA signature as JWS wants it: `r || s`, 32 bytes each (P-256).
fn jws_signature(der: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> (&[u8], &[u8]) {
        assert_eq!(bytes[0], 0x02);
        let len = usize::from(bytes[1]);
        (&bytes[2..2 + len], &bytes[2 + len..])
    }
    assert_eq!(der[0], 0x30);
    let (r, rest) = integer(&der[2..]);
    let (s, _) = integer(rest);
    let mut out = Vec::with_capacity(64);
    for n in [r, s] {
        let n = &n[n.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0, 32 - n.len()));
        out.extend_from_slice(n);
    }
    out
}

/// Writes a FIDO MDS BLOB into `dir` (as `passkeyd mds import` keeps it) whose entry for
/// [`YUBIKEY_5`] names `attestation_root` as the model's attestation root, so the server
/// trusts attestation chains to it for that model, and only for it.
fn install_mds(dir: &Path, attestation_root: &AttestationCa) {
    let mds_root = AttestationCa::generate("passkeyd test MDS root");
    let signer = mds_root.issue(&CertificateParams::packed(Aaguid::default()));
    let header = json!({ "alg": "ES256", "typ": "JWT", "x5c": [STANDARD.encode(signer.der())] });
    let payload = json!({
        "legalHeader": "passkeyd test data",
        "no": 1,
        "nextUpdate": "2044-12-31",
        "entries": [{
            "aaguid": YUBIKEY_5,
            "metadataStatement": {
                "description": "Test YubiKey 5",
                "attestationRootCertificates": [STANDARD.encode(attestation_root.der())],
            },
            "statusReports": [{ "status": "FIDO_CERTIFIED", "effectiveDate": "2024-01-01" }],
            "timeOfLastStatusChange": "2024-01-01",
        }],
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = jws_signature(&signer.sign(signing_input.as_bytes()));
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    std::fs::write(dir.join("mds.jwt"), jwt).unwrap();
    std::fs::write(dir.join("mds-roots.pem"), mds_root.pem()).unwrap();
}

#[tokio::test]
async fn the_aaguid_allow_list_counts_only_trusted_attested_models() {
    let dir = TempDir::new().unwrap();
    let vendor_ca = AttestationCa::generate("Test YubiKey attestation root");
    install_mds(dir.path(), &vendor_ca);
    let server = Server::start(&dir).await;
    assert!(
        server.state.metadata().is_some(),
        "the test MDS BLOB must load"
    );
    set_policy(&server, ALLOW_LIST).await;
    let key = server.key.expose().to_owned();
    let model = aaguid(YUBIKEY_5);

    // A YubiKey whose batch certificate chains to the vendor root the MDS names: permitted.
    let (session, options) = begin_registration(
        &server,
        &key,
        json!({ "userId": "kay", "userName": "kay@example.com" }),
    )
    .await;
    let mut yubikey = new_credential(&options);
    yubikey.aaguid = model;
    let batch = vendor_ca.issue(&CertificateParams::packed(model));
    let response = yubikey
        .register(&challenge(&options), ORIGIN)
        .packed_x5c(&batch, Vec::new())
        .build()
        .to_json();
    let registered = ok(finish(&server, &session, response).await).await;
    assert_eq!(registered["aaguid"], YUBIKEY_5);
    assert_eq!(registered["attestationType"], "basic");
    assert_eq!(registered["authenticatorName"], "Test YubiKey 5");
    assert_eq!(registered["notices"], json!([]));
    // The policy judges registrations only: the key signs in.
    ok(sign_in(&server, &yubikey, 1).await).await;

    // The same AAGUID claimed without a trusted certificate: refused, and nothing stored.
    let forger_ca = AttestationCa::generate("Not Yubico");
    let forged_batch = forger_ca.issue(&CertificateParams::packed(model));
    for (user_id, how) in [
        ("leo", "an untrusted certificate"),
        ("mia", "self attestation"),
        ("ned", "no attestation"),
    ] {
        let (session, options) = begin_registration(
            &server,
            &key,
            json!({ "userId": user_id, "userName": format!("{user_id}@example.com") }),
        )
        .await;
        let mut claimed = new_credential(&options);
        claimed.aaguid = model;
        let builder = claimed.register(&challenge(&options), ORIGIN);
        let builder = match how {
            "an untrusted certificate" => builder.packed_x5c(&forged_batch, Vec::new()),
            "self attestation" => builder.packed_self(),
            _ => builder.attestation_none(),
        };
        let notices = denied(finish(&server, &session, builder.build().to_json()).await).await;
        assert_eq!(notices, [ALLOW_LIST_NOTICE], "{how}");
        let user = server
            .client
            .get(server.url(&format!("/users/{user_id}")))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(user.status(), 404, "{how}: the user must not be stored");
    }
    // A trusted vendor root is trusted for its own model only: a certificate from it for a
    // model the MDS does not list under that root is no better than a forged one.
    let (session, options) =
        begin_registration(&server, &key, json!({ "userName": "otto@example.com" })).await;
    let mut other = new_credential(&options);
    other.aaguid = aaguid("ee882879-721c-4913-9775-3dfcce97072a");
    let other_batch = vendor_ca.issue(&CertificateParams::packed(other.aaguid));
    let response = other
        .register(&challenge(&options), ORIGIN)
        .packed_x5c(&other_batch, Vec::new())
        .build()
        .to_json();
    assert_eq!(
        denied(finish(&server, &session, response).await).await,
        [ALLOW_LIST_NOTICE]
    );

    // Each refusal is a failed registration in the audit trail.
    let finishes = outcomes(&server, "registration.finish").await;
    assert_eq!(
        finishes.iter().filter(|o| *o == "policy_denied").count(),
        4,
        "{finishes:?}"
    );
    assert_eq!(finishes.iter().filter(|o| *o == "success").count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn at_most_ten_credentials_and_the_notice_is_in_the_envelope() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    set_policy(&server, MAX_10).await;
    for _ in 0..10 {
        let (session, options) = begin_registration(
            &server,
            &key,
            json!({ "userId": "pia", "userName": "pia@example.com" }),
        )
        .await;
        let response = new_credential(&options)
            .register(&challenge(&options), ORIGIN)
            .build()
            .to_json();
        let registered = ok(finish(&server, &session, response).await).await;
        assert_eq!(registered["notices"], json!([]));
    }
    assert_eq!(credential_count(&server, "pia").await, 10);

    let (session, options) = begin_registration(
        &server,
        &key,
        json!({ "userId": "pia", "userName": "pia@example.com" }),
    )
    .await;
    let eleventh = new_credential(&options);
    let response = eleventh
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    let refused = finish(&server, &session, response).await;
    assert!(refused.headers().contains_key("x-request-id"));
    assert_eq!(denied(refused).await, [MAX_10_NOTICE]);
    assert_eq!(credential_count(&server, "pia").await, 10);
    // The refused credential was not stored: it cannot sign in.
    let unknown = error_body(sign_in(&server, &eleventh, 1).await, 400).await;
    assert_eq!(unknown["code"], "credential_unknown");
    // Another user is not limited by pia's count.
    let (_, registered) = register(&server, "quinn@example.com").await;
    assert_eq!(registered["notices"], json!([]));
    // A policy denial is not a failed attempt: pia is not locked out.
    let user = ok(server
        .client
        .get(server.url("/users/pia"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(user["credentialCount"], 10);
    server.stop().await;
}

#[tokio::test]
async fn permitting_notices_are_in_successful_answers() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_policy(
        &server,
        r#"@notice("Registered under Acme's passkey policy.")
        permit (principal, action == Passkeyd::Action::"Register", resource);
        @notice("Signed in under Acme's passkey policy.")
        permit (principal, action == Passkeyd::Action::"Authenticate", resource)
        when { resource has userVerified && resource.userVerified };"#,
    )
    .await;
    let (credential, registered) = register(&server, "rui@example.com").await;
    assert_eq!(
        registered["notices"],
        json!(["Registered under Acme's passkey policy."])
    );
    let signed_in = ok(sign_in(&server, &credential, 1).await).await;
    assert_eq!(
        signed_in["notices"],
        json!(["Signed in under Acme's passkey policy."])
    );

    // Without user verification no permit matches: Cedar's default deny, with no notice. (A
    // tenant that discourages verification at sign-in, else the credential, registered with
    // it, must verify again before any policy is asked: docs/security.md.)
    crate::ceremonies::set_settings(
        &server,
        &passkeyd::settings::TenantSettings {
            user_verification: passkeyd_webauthn::json::UserVerificationRequirement::Discouraged,
            ..Default::default()
        },
    )
    .await;
    let key = server.key.expose().to_owned();
    let (session, options) =
        crate::ceremonies::begin_authentication(&server, &key, json!({})).await;
    let assertion = credential
        .assert(&challenge(&options), ORIGIN)
        .sign_count(2)
        .user_verified(false)
        .build()
        .to_json();
    let refused =
        crate::ceremonies::finish_authentication(&server, &key, &session, assertion).await;
    assert!(denied(refused).await.is_empty());
    // The refused sign-in recorded no use: counter 2 is still fresh.
    ok(sign_in(&server, &credential, 2).await).await;
    assert_eq!(
        outcomes(&server, "authentication.finish").await,
        ["success", "policy_denied", "success"]
    );
    server.stop().await;
}

#[tokio::test]
async fn credential_changes_by_the_backend_are_decided_by_the_policy() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let (first, registered) = register(&server, "sam@example.com").await;
    let user_id = registered["userId"].as_str().unwrap().to_owned();
    set_policy(
        &server,
        r#"permit (principal, action, resource);
        @notice("Keep at least one passkey.")
        forbid (principal is Passkeyd::ApiKey, action == Passkeyd::Action::"ManageCredential",
                resource)
        when { principal.kind == "secret" && resource.credentialCount <= 1 };"#,
    )
    .await;
    let delete = |id: &[u8]| {
        server
            .client
            .delete(server.url(&format!("/credentials/{}", base64url_encode(id))))
            .header("x-api-key", &key)
            .send()
    };
    assert_eq!(
        denied(delete(&first.id).await.unwrap()).await,
        ["Keep at least one passkey."]
    );
    let rename = server
        .client
        .patch(server.url(&format!("/credentials/{}", base64url_encode(&first.id))))
        .header("x-api-key", &key)
        .json(&json!({ "friendlyName": "Laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(denied(rename).await, ["Keep at least one passkey."]);
    assert_eq!(credential_count(&server, &user_id).await, 1);
    assert_eq!(
        outcomes(&server, "credential.delete").await,
        ["policy_denied"]
    );
    // An unknown credential is 404 as before.
    let missing = error_body(delete(b"no such credential").await.unwrap(), 404).await;
    assert_eq!(missing["code"], "not_found");

    // With a second passkey, one may go.
    let (session, options) = begin_registration(
        &server,
        &key,
        json!({ "userId": user_id, "userName": "sam@example.com" }),
    )
    .await;
    let response = new_credential(&options)
        .register(&challenge(&options), ORIGIN)
        .build()
        .to_json();
    ok(finish(&server, &session, response).await).await;
    assert_eq!(delete(&first.id).await.unwrap().status(), 204);
    assert_eq!(credential_count(&server, &user_id).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn the_admin_api_is_off_without_an_operator_key_and_closed_to_wrong_keys() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    for method in ["GET", "PUT", "DELETE", "POST"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for auth in [None, Some(ADMIN_KEY)] {
            let mut request = server
                .client
                .request(method.clone(), server.url(POLICY_PATH));
            if let Some(auth) = auth {
                request = request.bearer_auth(auth);
            }
            let response = request
                .json(&json!({ "policy": MAX_10 }))
                .send()
                .await
                .unwrap();
            let body = error_body(response, 404).await;
            assert_eq!(body["code"], "not_found", "{method} with {auth:?}");
        }
    }

    let admin = AdminNode::start(dir.path()).await;
    let url = format!("{}{POLICY_PATH}", admin.base);
    let wrong: [(&str, Option<String>); 5] = [
        ("no header", None),
        ("a wrong key", Some(format!("Bearer {ADMIN_KEY}x"))),
        ("another scheme", Some(format!("Basic {ADMIN_KEY}"))),
        (
            "the tenant's API key",
            Some(format!("Bearer {}", server.key.expose())),
        ),
        ("an empty key", Some("Bearer ".to_owned())),
    ];
    for (what, header) in wrong {
        let mut request = admin.client.get(&url);
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"passkeyd-admin\"",
            "{what}"
        );
        let body = error_body(response, 401).await;
        assert_eq!(body["code"], "unauthenticated", "{what}");
        assert_eq!(body["notices"], json!([]));
    }
    // The API key header is no way in either.
    let response = admin
        .client
        .get(&url)
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(response, 401).await["code"], "unauthenticated");

    assert_eq!(admin.policy().await, Value::Null);
    for path in [
        "/admin/tenants/nobody/policy",
        "/admin/tenants/NOT%20A%20TENANT/policy",
    ] {
        let response = admin
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_body(response, 404).await["code"],
            "not_found",
            "{path}"
        );
    }
    let response = admin
        .request(reqwest::Method::PUT, "/admin/tenants/nobody/policy")
        .json(&json!({ "policy": MAX_10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(response, 404).await["code"], "not_found");
    admin.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn policies_set_by_the_admin_api_apply_on_every_node_and_invalid_ones_change_nothing() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let admin = AdminNode::start(dir.path()).await;

    // Every example validates as shipped.
    for example in [ALLOW_LIST, ADMINS_NEED_UV, MAIL_ROLES, MAX_10] {
        let stored = ok(admin.put_policy(example).await).await;
        assert_eq!(stored["policy"], example);
        assert_eq!(stored["warnings"], json!([]));
    }
    assert_eq!(admin.policy().await, MAX_10);
    let stored = ok(admin.put_policy(MAX_10).await).await;
    assert_eq!(stored["policies"], 2);

    // Set on the admin node, decided on the other one: user "tess" at the limit is refused.
    for _ in 0..10 {
        let (session, options) = begin_registration(
            &server,
            server.key.expose(),
            json!({ "userId": "tess", "userName": "tess@example.com" }),
        )
        .await;
        let response = new_credential(&options)
            .register(&challenge(&options), ORIGIN)
            .build()
            .to_json();
        ok(finish(&server, &session, response).await).await;
    }
    let eleventh = || async {
        let (session, options) = begin_registration(
            &server,
            server.key.expose(),
            json!({ "userId": "tess", "userName": "tess@example.com" }),
        )
        .await;
        let response = new_credential(&options)
            .register(&challenge(&options), ORIGIN)
            .build()
            .to_json();
        finish(&server, &session, response).await
    };
    assert_eq!(denied(eleventh().await).await, [MAX_10_NOTICE]);

    // Invalid policies are refused with what is wrong, and the stored one stays.
    let invalid = [
        (
            "a syntax error",
            format!("{MAX_10}\nforbid (principal, action resource);"),
        ),
        (
            "an unknown attribute",
            "permit (principal, action, resource) when { resource.colour == \"red\" };".to_owned(),
        ),
        (
            "an unknown action",
            "forbid (principal, action == Passkeyd::Action::\"Delete\", resource);".to_owned(),
        ),
        (
            "an optional attribute read without has",
            "forbid (principal, action, resource) unless { resource.aaguid == \"x\" };".to_owned(),
        ),
        ("no policy at all", "// nothing\n".to_owned()),
        (
            "an oversized text",
            format!("{MAX_10}{}", " ".repeat(passkeyd::policy::MAX_POLICY_BYTES)),
        ),
    ];
    for (what, text) in &invalid {
        let body = error_body(admin.put_policy(text).await, 400).await;
        assert_eq!(body["code"], "policy_invalid", "{what}: {body}");
        let errors = body["details"]["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{what}: {body}");
        assert_eq!(body["notices"], json!([]));
    }
    let syntax = error_body(admin.put_policy(&invalid[0].1).await, 400).await;
    // The fault is on the last line, after the 16 valid lines and a blank one.
    let line = invalid[0].1.lines().count();
    assert!(
        syntax["details"]["errors"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("line {line}, ")),
        "{syntax}"
    );
    let unknown = error_body(admin.put_policy(&invalid[1].1).await, 400).await;
    assert!(
        unknown["details"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{unknown}"
    );
    assert_eq!(admin.policy().await, MAX_10);
    assert_eq!(denied(eleventh().await).await, [MAX_10_NOTICE]);

    // A body that is not `{policy: string}` is an ordinary bad request.
    let response = admin
        .request(reqwest::Method::PUT, POLICY_PATH)
        .json(&json!({ "policy": 42 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(response, 400).await["code"], "invalid_request");

    // Cleared: the tenant permits everything again, on every node.
    let cleared = admin
        .request(reqwest::Method::DELETE, POLICY_PATH)
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(admin.policy().await, Value::Null);
    let registered = ok(eleventh().await).await;
    assert_eq!(registered["notices"], json!([]));

    let changes = outcomes(&server, "policy.set").await;
    assert_eq!(changes.iter().filter(|o| *o == "success").count(), 5);
    assert!(changes.iter().any(|o| o == "policy_invalid"), "{changes:?}");
    assert_eq!(outcomes(&server, "policy.clear").await, ["success"]);
    admin.stop().await;
    server.stop().await;
}

/// Runs passkeyd in `dir` with only its data directory set.
fn passkeyd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passkeyd"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PASSKEYD_DATA_DIR", dir.join("data"))
        .output()
        .expect("run passkeyd")
}

fn stdout(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn the_cli_sets_shows_checks_and_clears_policies() {
    let dir = TempDir::new().unwrap();
    let run = |args: &[&str]| passkeyd(dir.path(), args);
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let max_10 = file("max-10.cedar", MAX_10);
    let broken = file(
        "broken.cedar",
        "permit (principal, action, resource)\nforbid (",
    );
    let unknown = file(
        "unknown.cedar",
        "permit (principal, action, resource);\nforbid (principal, action, resource) when { \
         resource.colour == \"red\" };",
    );

    // check: no database needed.
    for example in [ALLOW_LIST, ADMINS_NEED_UV, MAX_10, MAIL_ROLES] {
        let path = file("example.cedar", example);
        let line: Value = serde_json::from_str(&stdout(&run(&["policy", "check", &path]))).unwrap();
        assert_eq!(line["valid"], true);
    }
    let message = stderr(&run(&["policy", "check", &broken]));
    assert!(message.contains("does not parse"), "{message}");
    assert!(message.contains("line 2, column"), "{message}");
    let message = stderr(&run(&["policy", "check", &unknown]));
    assert!(message.contains("does not validate"), "{message}");
    assert!(
        message.contains("line 2, column") && message.contains("colour"),
        "{message}"
    );
    assert!(stdout(&run(&["policy", "schema"])).contains("namespace Passkeyd"));

    stdout(&run(&[
        "tenant",
        "create",
        "--id",
        "acme",
        "--rp-id",
        "acme.example.com",
        "--origin",
        "https://acme.example.com",
    ]));
    assert_eq!(stdout(&run(&["policy", "show", "--tenant", "acme"])), "");
    let set: Value = serde_json::from_str(&stdout(&run(&[
        "policy", "set", "--tenant", "acme", &max_10,
    ])))
    .unwrap();
    assert_eq!(set["tenant"], "acme");
    assert_eq!(set["policies"], 2);
    assert_eq!(
        stdout(&run(&["policy", "show", "--tenant", "acme"])),
        MAX_10
    );

    // Invalid files are refused and the policy stays.
    for bad in [&broken, &unknown] {
        stderr(&run(&["policy", "set", "--tenant", "acme", bad]));
        assert_eq!(
            stdout(&run(&["policy", "show", "--tenant", "acme"])),
            MAX_10
        );
    }
    let message = stderr(&run(&["policy", "set", "--tenant", "nobody", &max_10]));
    assert!(message.contains("no tenant nobody"), "{message}");
    let message = stderr(&run(&["policy", "show", "--tenant", "nobody"]));
    assert!(message.contains("no tenant nobody"), "{message}");

    stdout(&run(&["policy", "clear", "--tenant", "acme"]));
    assert_eq!(stdout(&run(&["policy", "show", "--tenant", "acme"])), "");
}

/// Begins an MFA enrolment with `token` and completes it with a fresh credential whose UV flag
/// is `user_verified`.
async fn enrol_with_uv(server: &Server, token: &str, user_verified: bool) -> reqwest::Response {
    use reqwest::Method;
    let begun = ok(crate::me::me(
        server,
        Method::POST,
        "/me/mfa/webauthn/register/begin",
        token,
        None,
    )
    .await)
    .await;
    let options = &begun["publicKeyCredentialCreationOptions"];
    let credential = new_credential(options);
    let response = credential
        .register(&challenge(options), ORIGIN)
        .user_verified(user_verified)
        .build()
        .to_json();
    crate::me::me(
        server,
        Method::POST,
        "/me/mfa/webauthn/register/complete",
        token,
        Some(json!({ "session": begun["session"], "publicKeyCredential": response })),
    )
    .await
}

#[tokio::test]
async fn administrators_must_verify_themselves_over_http() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_policy(&server, ADMINS_NEED_UV).await;
    let key = server.key.expose().to_owned();
    let (admin_key, admin) = register(&server, "root@example.com").await;
    let admin_id = admin["userId"].as_str().unwrap().to_owned();
    let admin_token = crate::me::user_token_with(
        &server,
        &key,
        &admin_id,
        &json!({ "role": "DomainAdmin", "domain": "example.com" }),
    )
    .await;
    // A second passkey needs a step-up; this one keeps the administrator's role.
    let admin_token = crate::me::step_up_keeping_claims(&server, &admin_key, 1, &admin_token).await;
    let notices = denied(enrol_with_uv(&server, &admin_token, false).await).await;
    assert_eq!(
        notices,
        ["Administrators must verify themselves with a PIN or biometrics on their passkey."]
    );
    assert_eq!(
        credential_count(&server, &admin_id).await,
        1,
        "nothing stored"
    );
    ok(enrol_with_uv(&server, &admin_token, true).await).await;
    assert_eq!(credential_count(&server, &admin_id).await, 2);
    // A MailUser may enrol without UV: the rule is for administrators.
    let (ann_key, user) = register(&server, "ann@example.com").await;
    let user_id = user["userId"].as_str().unwrap().to_owned();
    let user_token =
        crate::me::user_token_with(&server, &key, &user_id, &json!({ "role": "MailUser" })).await;
    let user_token = crate::me::step_up_keeping_claims(&server, &ann_key, 1, &user_token).await;
    ok(enrol_with_uv(&server, &user_token, false).await).await;
    server.stop().await;
}

#[tokio::test]
async fn mail_roles_decide_who_manages_credentials_over_http() {
    use reqwest::Method;
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    set_policy(&server, MAIL_ROLES).await;
    let key = server.key.expose().to_owned();
    let (credential, user) = register(&server, "bea@example.com").await;
    let user_id = user["userId"].as_str().unwrap().to_owned();
    let id = base64url_encode(&credential.id);

    // No role: may not manage at all, not even their own list.
    let no_role = crate::me::user_token(&server, &user_id).await;
    let notices =
        denied(crate::me::me(&server, Method::GET, "/me/credentials", &no_role, None).await).await;
    assert_eq!(notices, ["Your account may not manage passkeys."]);
    // A MailUser manages their own.
    let mail_user =
        crate::me::user_token_with(&server, &key, &user_id, &json!({ "role": "MailUser" })).await;
    let listed =
        ok(crate::me::me(&server, Method::GET, "/me/credentials", &mail_user, None).await).await;
    assert_eq!(listed["credentials"][0]["credentialId"], id.as_str());
    let renamed = crate::me::me(
        &server,
        Method::PATCH,
        &format!("/me/credentials/{id}"),
        &mail_user,
        Some(json!({ "friendlyName": "Phone" })),
    )
    .await;
    assert_eq!(ok(renamed).await["friendlyName"], "Phone");
    // The backend (an API key) is not restricted by these rules.
    let patched = server
        .client
        .patch(server.url(&format!("/credentials/{id}")))
        .header("x-api-key", &key)
        .json(&json!({ "friendlyName": "Laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(patched).await["friendlyName"], "Laptop");
    server.stop().await;
}
