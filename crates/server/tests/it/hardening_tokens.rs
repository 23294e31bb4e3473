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
