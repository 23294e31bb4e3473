//! Compatibility dialects (DESIGN.md §3): other passkey APIs' routes, shapes, status codes and
//! auth schemes, each a thin adapter over the same ceremonies as the native API, so a client
//! of that API moves over unchanged.
//!
//! - [`fido`]: the API the FIDO Alliance conformance tools drive (`fido_conformance` setting of
//!   the `default` tenant).
//! - [`streambird`]: Streambird's WebAuthn API (`compat: ["streambird"]` in a tenant's
//!   settings).
//!
//! Neither dialect passes a session token from begin to finish: the finish carries only the
//! credential. The session is found by the challenge the credential signed, in [`Pending`], a
//! bounded in-memory map of this process. So these dialects are **single-node**: behind a load
//! balancer, route them to one node (sticky), or a finish on another node than its begin fails
//! `session_not_found`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::{Extension, Router};
use passkeyd_webauthn::json::base64url_decode;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::auth::{BearerRejection, Caller};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{SessionKind, StoreError};

pub mod fido;
pub mod streambird;

/// The compatibility routes, sharing one [`Pending`] map.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(fido::router())
        .merge(streambird::router())
        .layer(Extension(Pending::default()))
}

/// The most begun ceremonies [`Pending`] remembers; the oldest is forgotten first.
pub const MAX_PENDING: usize = 10_000;

/// A begun ceremony waiting for its finish.
#[derive(Clone, Debug)]
pub struct PendingCeremony {
    /// The tenant that began it.
    pub tenant: String,
    /// Registration or authentication.
    pub kind: SessionKind,
    /// The native session token.
    pub session: String,
    /// The user it was begun for, if named.
    pub user_id: Option<String>,
}

/// Begun ceremonies by challenge (see the module docs: single-node).
#[derive(Clone, Debug, Default)]
pub struct Pending(Arc<Mutex<PendingMap>>);

#[derive(Debug, Default)]
struct PendingMap {
    by_challenge: HashMap<Vec<u8>, PendingCeremony>,
    order: VecDeque<Vec<u8>>,
}

impl Pending {
    /// Remembers a begun ceremony under its challenge, forgetting the oldest beyond
    /// [`MAX_PENDING`].
    pub fn insert(&self, challenge: Vec<u8>, ceremony: PendingCeremony) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        while map.order.len() >= MAX_PENDING {
            if let Some(oldest) = map.order.pop_front() {
                map.by_challenge.remove(&oldest);
            }
        }
        map.order.push_back(challenge.clone());
        map.by_challenge.insert(challenge, ceremony);
    }

    /// Takes (single use) the ceremony `tenant` began with `challenge`, if it is of `kind`.
    pub fn take(
        &self,
        tenant: &str,
        kind: SessionKind,
        challenge: &[u8],
    ) -> Option<PendingCeremony> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let found = map
            .by_challenge
            .get(challenge)
            .is_some_and(|c| c.tenant == tenant && c.kind == kind);
        if !found {
            return None;
        }
        map.order.retain(|c| c.as_slice() != challenge);
        map.by_challenge.remove(challenge)
    }
}

/// The challenge a WebAuthn response JSON signed: `response.clientDataJSON.challenge`, decoded.
/// `None` when the JSON has no readable challenge (the finish then fails as an unknown session).
pub fn signed_challenge(credential_json: &[u8]) -> Option<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Credential {
        response: Response,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Response {
        #[serde(rename = "clientDataJSON")]
        client_data_json: String,
    }
    #[derive(serde::Deserialize)]
    struct ClientData {
        challenge: String,
    }
    let credential: Credential = serde_json::from_slice(credential_json).ok()?;
    let client_data = base64url_decode(&credential.response.client_data_json).ok()?;
    let client_data: ClientData = serde_json::from_slice(&client_data).ok()?;
    base64url_decode(&client_data.challenge).ok()
}

/// The answer of a finish whose challenge begins no pending ceremony.
pub fn unknown_session() -> ApiError {
    ApiError::BadRequest(
        "session_not_found",
        "unknown or already used session; begin again",
    )
}

/// The caller of a dialect that sends the tenant's secret key as `Authorization: Bearer
/// sk_...` (Streambird) rather than `X-Api-Key`.
///
/// This repeats the key check of `crate::auth` (prefix lookup, constant-time hash comparison,
/// unrevoked, a secret key) because that module's `authenticate` is private and reads only
/// `X-Api-Key`; the checks are the same, only the header differs. Every failure is 401
/// `unauthenticated` with `WWW-Authenticate: Bearer`.
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
        let stored = match state.store.api_key_by_prefix(presented.prefix()).await {
            Ok(stored) => stored,
            Err(StoreError::NotFound) => return Err(refused()),
            Err(e) => return Err(BearerRejection(ApiError::internal(e))),
        };
        if !presented.hash().matches(&stored.key_hash)
            || stored.revoked_at.is_some()
            || stored.kind != ApiKeyKind::Secret
            || presented.kind() != ApiKeyKind::Secret
        {
            return Err(refused());
        }
        let tenant = state
            .store
            .tenant(&stored.tenant_id)
            .await
            .map_err(|e| BearerRejection(ApiError::internal(e)))?;
        Ok(Self(Caller {
            tenant,
            kind: stored.kind,
            key_prefix: stored.prefix,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceremony(tenant: &str, kind: SessionKind) -> PendingCeremony {
        PendingCeremony {
            tenant: tenant.to_owned(),
            kind,
            session: "s".to_owned(),
            user_id: None,
        }
    }

    #[test]
    fn pending_is_single_use_per_tenant_and_kind_and_bounded() {
        let pending = Pending::default();
        pending.insert(vec![1], ceremony("a", SessionKind::Registration));
        assert!(pending.take("b", SessionKind::Registration, &[1]).is_none());
        assert!(pending
            .take("a", SessionKind::Authentication, &[1])
            .is_none());
        assert!(pending.take("a", SessionKind::Registration, &[1]).is_some());
        assert!(pending.take("a", SessionKind::Registration, &[1]).is_none());

        for i in 0..=MAX_PENDING {
            pending.insert(
                (i as u64).to_be_bytes().to_vec(),
                ceremony("a", SessionKind::Registration),
            );
        }
        // The oldest was forgotten, the newest kept.
        assert!(pending
            .take("a", SessionKind::Registration, &0u64.to_be_bytes())
            .is_none());
        assert!(pending
            .take(
                "a",
                SessionKind::Registration,
                &(MAX_PENDING as u64).to_be_bytes()
            )
            .is_some());
    }
}
