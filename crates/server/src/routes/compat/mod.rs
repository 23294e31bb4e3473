//! Compatibility dialects (DESIGN.md §3): other passkey APIs' routes, shapes, status codes and
//! auth schemes, each a thin adapter over the same ceremonies as the native API, so a client
//! of that API moves over unchanged.
//!
//! - [`fido`]: the API the FIDO Alliance conformance tools drive (`fido_conformance` setting of
//!   the `default` tenant).
//! - [`streambird`]: Streambird's WebAuthn API (`compat: ["streambird"]` in a tenant's
//!   settings).
//! - [`mailcheap`]: mailcheap's WebAuthn API for the users of a mail service, HTTP Basic with
//!   the user name and a user token (`compat: ["mailcheap"]` in a tenant's settings).
//! - [`flashback`]: flashback's passkey second factor for signed-in users, with a user token
//!   as `Authorization: Bearer` (`compat: ["flashback"]`).
//! - [`jitsudo`]: Jitsudo's WebAuthn second factor: enrolment with a user token, sign-in with
//!   a `challenge_id` the app mints after its first factor (`compat: ["jitsudo"]`).
//!
//! No dialect passes a session token from begin to finish: the finish carries only the
//! credential. Their sessions are therefore stored under the challenge
//! ([`crate::ceremony::SessionKeys::Challenge`]) and found by the challenge the credential
//! signed, in the shared store, so a finish may land on any node.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::Router;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::auth::{BearerRejection, Caller, UserCaller};
use crate::ceremony::{Context, SessionKeys};
use crate::error::ApiError;
use crate::routes::ClientIp;
use crate::service::callers;
use crate::state::AppState;

pub mod fido;
pub mod flashback;
pub mod jitsudo;
pub mod mailcheap;
pub mod streambird;

/// The compatibility routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(fido::router())
        .merge(streambird::router())
        .merge(mailcheap::router())
        .merge(flashback::router())
        .merge(jitsudo::router())
}

/// The answer of a finish whose challenge begins no pending ceremony.
pub fn unknown_session() -> ApiError {
    ApiError::BadRequest(
        "session_not_found",
        "unknown or already used session; begin again",
    )
}

/// The ceremony context of a dialect that serves signed-in users with a user token (as the
/// native `/me` API takes it): `None` when the user's tenant does not list `dialect` in
/// `compat`. Sessions are stored under their challenge and bound to the caller, so a finish
/// is refused for a ceremony begun for another user.
pub fn user_context(
    caller: &UserCaller,
    dialect: &str,
    ip: ClientIp,
    request_id: Option<String>,
) -> Result<Option<Context>, ApiError> {
    let settings = caller.settings()?;
    if !settings.compat.iter().any(|d| d == dialect) {
        return Ok(None);
    }
    let mut ctx = caller.ceremony_context(settings, ip.0, request_id);
    ctx.sessions = SessionKeys::Challenge;
    ctx.bound_user = Some(caller.user.id.clone());
    Ok(Some(ctx))
}

/// The caller of a dialect that sends the tenant's secret key as `Authorization: Bearer
/// sk_...` (Streambird) rather than `X-Api-Key`.
///
/// The key is checked as `X-Api-Key` is ([`callers::api_key`]: prefix lookup, constant-time
/// hash comparison, unrevoked), and must be a secret key; only the header differs. Every
/// failure is 401 `unauthenticated` with `WWW-Authenticate: Bearer`.
#[derive(Clone, Debug)]
pub struct BearerSecretKey(pub Caller);

impl FromRequestParts<AppState> for BearerSecretKey {
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, BearerRejection> {
        let refused = || {
            BearerRejection(ApiError::Token(
                "unauthenticated",
                "a valid secret API key is required in Authorization: Bearer",
            ))
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .and_then(|(_, key)| ApiKeySecret::parse(key.trim()).ok())
            .ok_or_else(refused)?;
        if presented.kind() != ApiKeyKind::Secret {
            return Err(refused());
        }
        match callers::api_key(state, &presented).await {
            Ok(Some(caller)) if caller.is_secret() => Ok(Self(caller)),
            Ok(_) => Err(refused()),
            Err(e) => Err(BearerRejection(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use passkeyd_webauthn::json::base64url_encode;

    use crate::ceremony::challenge_session;

    fn credential(client_data: &str) -> Vec<u8> {
        serde_json::json!({
            "id": "AA",
            "response": { "clientDataJSON": base64url_encode(client_data.as_bytes()) },
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_challenge_session_is_the_signed_challenge_canonically_encoded() {
        let challenge = base64url_encode(&[0xfb; 32]);
        let padded = format!(r#"{{"challenge":"{challenge}="}}"#);
        assert_eq!(
            challenge_session(&credential(&padded)).as_deref(),
            Some(challenge.as_str())
        );
        assert_eq!(challenge_session(&credential(r#"{"type":"x"}"#)), None);
        assert_eq!(
            challenge_session(&credential(r#"{"challenge":"!!"}"#)),
            None
        );
        assert_eq!(challenge_session(b"not json"), None);
    }
}
