//! Issue 16: conditional create (automatic passkey upgrade) end to end.

use serde_json::json;
use tempfile::TempDir;

use crate::ceremonies::{begin_registration, challenge, new_credential, post, ORIGIN};
use crate::common::{error_body, Server};

/// A conditional create's finish accepts UP=0; a normal one still refuses it with its code,
/// and the finish cannot turn a normal ceremony into a conditional one.
#[tokio::test]
async fn conditional_create_alone_accepts_no_user_presence() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let key = server.key.expose().to_owned();
    for (mediation, expect_ok) in [
        (Some("conditional"), true),
        (None, false),
        (Some("optional"), false),
    ] {
        let mut body = json!({ "userName": format!("{mediation:?}@example.com") });
        if let Some(m) = mediation {
            body["mediation"] = json!(m);
        }
        let (session, options) = begin_registration(&server, &key, body).await;
        let credential = new_credential(&options);
        let response = credential
            .register(&challenge(&options), ORIGIN)
            .user_present(false)
            .build()
            .to_json();
        let finish = json!({ "session": session, "publicKeyCredential": response,
            "mediation": "conditional" });
        let answer = post(&server, &key, "/webauthn/registration/response", &finish).await;
        if expect_ok {
            // `mediation` belongs to the begin: the finish refuses it as an unknown field.
            assert_eq!(answer.status(), 400);
            let (session, options) = begin_registration(
                &server,
                &key,
                json!({ "userName": "c2@example.com", "mediation": "conditional" }),
            )
            .await;
            let credential = new_credential(&options);
            let response = credential
                .register(&challenge(&options), ORIGIN)
                .user_present(false)
                .build()
                .to_json();
            let done = post(
                &server,
                &key,
                "/webauthn/registration/response",
                &json!({ "session": session, "publicKeyCredential": response }),
            )
            .await;
            assert_eq!(done.status(), 200);
        } else {
            let finish = json!({ "session": session, "publicKeyCredential": response });
            let refused = error_body(
                post(&server, &key, "/webauthn/registration/response", &finish).await,
                400,
            )
            .await;
            assert_eq!(refused["code"], "user_presence_required", "{mediation:?}");
        }
    }
    server.stop().await;
}
