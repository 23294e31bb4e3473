//! Export and import end to end: a tenant moves from one passkeyd database (SQLite) to another
//! (PostgreSQL when `PASSKEYD_TEST_DATABASE_URL` is set, else SQLite) and its users sign in
//! there with the same software-authenticator credentials; re-importing changes nothing;
//! malformed and conflicting records are refused with their line and reason; Hanko and Kratos
//! records, written as those projects serialize them, import and sign in too.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use passkeyd::config::DatabaseUrl;
use passkeyd::service::portability::{self, ImportFormat, ImportReport, Refusal};
use passkeyd::tenant::TenantId;
use passkeyd_webauthn::test_util::Credential;
use passkeyd_webauthn::CoseAlgorithm;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ceremonies::{ok, register, sign_in};
use crate::common::{secret_key, Server};

fn tenant() -> TenantId {
    TenantId::default_tenant()
}

async fn import(server: &Server, format: ImportFormat, text: &str) -> ImportReport {
    portability::import(
        server.state.store.as_ref(),
        &tenant(),
        format,
        text.as_bytes(),
        server.state.clock.now(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_tenant_moves_to_another_database_and_its_passkeys_keep_working() {
    // The source: always SQLite.
    let from_dir = TempDir::new().unwrap();
    let sqlite = format!("sqlite://{}", from_dir.path().join("passkeyd.db").display());
    let source = Server::start_configured(from_dir.path(), secret_key(), &[], |config| {
        config.database_url = DatabaseUrl::parse(&sqlite).unwrap();
    })
    .await;
    let (alice, _) = register(&source, "alice@example.com").await;
    let (bob, _) = register(&source, "bob@example.com").await;
    ok(sign_in(&source, &alice, 1).await).await;

    let mut exported = Vec::new();
    let summary = portability::export(
        source.state.store.as_ref(),
        &tenant(),
        source.state.clock.now(),
        &mut exported,
    )
    .await
    .unwrap();
    assert_eq!((summary.users, summary.credentials), (2, 2));
    let text = String::from_utf8(exported).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["format"], "passkeyd-export");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines.len(), 5, "{text}");
    // No secret travels: not the API key, nor anything named like one.
    assert!(!text.contains(source.key.expose()));
    for word in ["sk_", "secret", "backup_code", "sealed"] {
        assert!(!text.contains(word), "{word} in the export");
    }
    let alice_line = lines
        .iter()
        .find(|l| l["type"] == "user" && l["userName"] == "alice@example.com")
        .unwrap();
    assert_eq!(
        alice_line["userHandle"],
        URL_SAFE_NO_PAD.encode(&alice.user_handle)
    );
    source.stop().await;

    // The destination: the suite's backend.
    let to_dir = TempDir::new().unwrap();
    let target = Server::start(&to_dir).await;
    let report = import(&target, ImportFormat::Passkeyd, &text).await;
    assert_eq!(
        (
            report.users_imported,
            report.credentials_imported,
            report.unchanged
        ),
        (2, 2, 0),
        "{report:?}"
    );
    assert!(report.refused.is_empty(), "{report:?}");
    // The same credentials sign in (discoverable: the user handle must be the one the
    // authenticator holds), and the sign count carried over: 1 was used at the source.
    ok(sign_in(&target, &alice, 2).await).await;
    ok(sign_in(&target, &bob, 1).await).await;
    let replayed = sign_in(&target, &alice, 1).await;
    assert_eq!(
        replayed.status(),
        400,
        "a counter at or under the imported one"
    );

    // Idempotent: the same file again changes nothing, and says so.
    let again = import(&target, ImportFormat::Passkeyd, &text).await;
    assert!(
        again.changed_nothing() && again.refused.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.unchanged, 4);

    // Malformed and conflicting records are refused with their line and reason; the rest go in.
    let carol = Credential::new(CoseAlgorithm::Es256, "localhost");
    let mut bad = vec![text.lines().next().unwrap().to_owned()];
    bad.push("{not json".to_owned());
    bad.push(
        json!({"type": "user", "userId": alice_line["userId"], "userHandle": "AAAA",
            "userName": "alice@example.com"})
        .to_string(),
    );
    bad.push(
        json!({"type": "user", "userId": "carol", "userHandle":
            URL_SAFE_NO_PAD.encode(&carol.user_handle), "userName": "carol@example.com"})
        .to_string(),
    );
    bad.push(
        json!({"type": "credential", "userId": "carol", "credentialId": "Y2Fyb2w",
            "publicKey": "AAAA"})
        .to_string(),
    );
    bad.push(
        json!({"type": "credential", "userId": "nobody", "credentialId": "bm9ib2R5",
            "publicKey": URL_SAFE_NO_PAD.encode(carol.cose_key())})
        .to_string(),
    );
    bad.push(json!({"type": "session"}).to_string());
    let report = import(&target, ImportFormat::Passkeyd, &bad.join("\n")).await;
    let refusal = |line, reason| Refusal { line, reason };
    assert_eq!(
        report.refused,
        vec![
            refusal(2, "malformed_json"),
            refusal(3, "user_handle_mismatch"),
            refusal(5, "public_key_invalid"),
            refusal(6, "unknown_user"),
            refusal(7, "unknown_record"),
        ]
    );
    assert_eq!(report.users_imported, 1, "carol, alone, goes in");
    // A file that is not an export at all is refused whole.
    let refused = portability::import(
        target.state.store.as_ref(),
        &tenant(),
        ImportFormat::Passkeyd,
        b"{\"format\":\"other\"}\n".as_slice(),
        target.state.clock.now(),
    )
    .await;
    assert!(refused.is_err());
    target.stop().await;
}

fn software_credential() -> Credential {
    let mut credential = Credential::new(CoseAlgorithm::Es256, "localhost");
    credential.user_handle = passkeyd_webauthn::test_util::random_bytes(16);
    credential
}

fn uuid(bytes: &[u8]) -> String {
    passkeyd::audit::aaguid_text(bytes)
}

#[tokio::test]
async fn hanko_records_import_and_sign_in() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    // Hanko's user handle is the user's UUID, as 16 bytes. A synced passkey: BE and BS.
    let mut credential = software_credential();
    credential.backup_eligible = true;
    credential.backup_state = true;
    let user_id = uuid(&credential.user_handle);
    let record = json!({
        "id": URL_SAFE_NO_PAD.encode(&credential.id),
        "name": "Work laptop",
        "user_id": user_id,
        "public_key": URL_SAFE_NO_PAD.encode(credential.cose_key()),
        "attestation_type": "none",
        "aaguid": "00000000-0000-0000-0000-000000000000",
        "sign_count": 3,
        "last_used_at": "2025-01-02T03:04:05Z",
        "created_at": "2024-05-06T07:08:09.123456Z",
        "updated_at": "2025-01-02T03:04:05Z",
        "transports": [{"id": "4b1f...", "name": "internal"}, {"name": "hybrid"}],
        "backup_eligible": true,
        "backup_state": true,
        "mfa_only": false,
        "email": "hana@example.com",
    });
    let file = format!("{record}\n{{\"user_id\": \"not a uuid\"}}\n");
    let report = import(&server, ImportFormat::Hanko, &file).await;
    assert_eq!(
        (report.users_imported, report.credentials_imported),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(
        report.refused,
        vec![Refusal {
            line: 2,
            reason: "user_id_invalid"
        }]
    );
    let user = server.state.store.user(&tenant(), &user_id).await.unwrap();
    assert_eq!(user.name, "hana@example.com");
    let stored = server
        .state
        .store
        .credentials(&tenant(), &user_id)
        .await
        .unwrap();
    assert_eq!(stored[0].friendly_name.as_deref(), Some("Work laptop"));
    assert_eq!(stored[0].transports, vec!["hybrid", "internal"]);
    assert!(stored[0].backup_eligible && stored[0].backup_state);
    ok(sign_in(&server, &credential, 4).await).await;
    let again = import(&server, ImportFormat::Hanko, &format!("{record}\n")).await;
    assert!(again.changed_nothing() && again.unchanged == 1, "{again:?}");
    server.stop().await;
}

#[tokio::test]
async fn kratos_identities_import_and_sign_in() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let first = software_credential();
    let mut second = software_credential();
    second.user_handle = first.user_handle.clone();
    let records: Vec<Value> = [&first, &second]
        .iter()
        .map(|c| {
            json!({
                "id": STANDARD.encode(&c.id),
                "public_key": STANDARD.encode(c.cose_key()),
                "attestation_type": "none",
                "authenticator": {
                    "aaguid": STANDARD.encode([0u8; 16]),
                    "sign_count": 0,
                    "clone_warning": false,
                },
                "display_name": "YubiKey",
                "added_at": "2024-02-03T04:05:06Z",
                "is_passwordless": true,
            })
        })
        .collect();
    let identity = json!({
        "id": "9f425a8d-7efc-4768-8f23-7647a74fdf13",
        "schema_id": "default",
        "state": "active",
        "traits": {"email": "kai@example.com"},
        "created_at": "2024-02-03T04:05:06Z",
        "credentials": {
            "password": {"type": "password", "identifiers": ["kai@example.com"], "config": {}},
            "webauthn": {
                "type": "webauthn",
                "identifiers": [STANDARD.encode(&first.user_handle)],
                "config": {
                    "user_handle": STANDARD.encode(&first.user_handle),
                    "credentials": records,
                },
                "version": 0,
            },
        },
    });
    let report = import(&server, ImportFormat::Kratos, &format!("{identity}\n")).await;
    assert_eq!(
        (report.users_imported, report.credentials_imported),
        (1, 2),
        "{report:?}"
    );
    let user = server
        .state
        .store
        .user(&tenant(), "9f425a8d-7efc-4768-8f23-7647a74fdf13")
        .await
        .unwrap();
    assert_eq!(user.user_handle, first.user_handle);
    assert_eq!(user.name, "kai@example.com");
    ok(sign_in(&server, &first, 1).await).await;
    ok(sign_in(&server, &second, 1).await).await;
    let again = import(&server, ImportFormat::Kratos, &format!("{identity}\n")).await;
    assert!(again.changed_nothing() && again.unchanged == 2, "{again:?}");
    server.stop().await;
}
