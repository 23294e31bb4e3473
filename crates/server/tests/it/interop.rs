//! passkeyd driven by an implementation we did not write: 1Password's passkey-client and
//! passkey-authenticator (see `peer.rs`), over HTTP, against the real server.

use serde_json::json;
use tempfile::TempDir;

use crate::ceremonies::{
    begin_authentication, begin_registration, finish_authentication, ok, post,
};
use crate::common::{error_body, Server};
use crate::peer::Peer;

#[tokio::test]
async fn passkey_rs_registers_and_signs_in_on_localhost() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    let mut peer = Peer::new("http://localhost:8080").with_signature_counter();

    let (session, options) = begin_registration(&server, &key, json!({ "userName": "ana" })).await;
    let credential = peer.register(&options).await;
    let registered = ok(post(
        &server,
        &key,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": credential }),
    )
    .await)
    .await;
    assert_eq!(
        registered["backupEligible"], true,
        "passkey-rs makes synced passkeys"
    );
    assert_eq!(registered["attestationFormat"], "none");
    let user_id = registered["userId"].clone();

    // Identified, then discoverable; the counter goes up each time.
    for body in [json!({ "userName": "ana" }), json!({})] {
        let (session, options) = begin_authentication(&server, &key, body).await;
        let assertion = peer.authenticate(&options).await;
        let signed_in = ok(finish_authentication(&server, &key, &session, assertion).await).await;
        assert_eq!(signed_in["userId"], user_id);
        assert_eq!(signed_in["userVerified"], true);
    }

    // Registering the same authenticator again: excludeCredentials makes the client refuse.
    let (_, options) = begin_registration(&server, &key, json!({ "userName": "ana" })).await;
    let refused = peer.try_register(&options).await.unwrap_err();
    assert!(refused.contains("CredentialExcluded"), "{refused}");
    server.stop().await;
}

#[tokio::test]
async fn passkey_rs_on_another_tenant_with_an_https_origin() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let acme = server.add_tenant("acme").await;
    let acme = acme.expose().to_owned();
    let mut peer = Peer::new("https://acme.example.com");

    let (session, options) = begin_registration(&server, &acme, json!({ "userName": "bo" })).await;
    assert_eq!(options["rp"]["id"], "acme.example.com");
    let credential = peer.register(&options).await;
    ok(post(
        &server,
        &acme,
        "/webauthn/registration/response",
        &json!({ "session": session, "publicKeyCredential": credential }),
    )
    .await)
    .await;
    let (session, options) = begin_authentication(&server, &acme, json!({})).await;
    let assertion = peer.authenticate(&options).await;
    ok(finish_authentication(&server, &acme, &session, assertion).await).await;

    // The same client on a look-alike origin: its client data names that origin, and the
    // server refuses it.
    let mut phished = Peer::new("https://acme.example.com.evil.example");
    let (session, options) = begin_authentication(&server, &acme, json!({})).await;
    // The client itself refuses an RP ID that is not a suffix of its origin.
    assert!(phished.try_authenticate(&options).await.is_err());
    // A session of one tenant is unknown to another.
    let default_key = server.key.expose().to_owned();
    let assertion = peer.authenticate(&options).await;
    let refused = error_body(
        finish_authentication(&server, &default_key, &session, assertion).await,
        400,
    )
    .await;
    assert_eq!(refused["code"], "session_not_found");
    server.stop().await;
}
