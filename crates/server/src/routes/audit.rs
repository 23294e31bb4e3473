//! `GET /audit` (secret key): the tenant's audit trail, newest first, a page at a time.
//!
//! The filters (`action`, `outcome`, `subject`) are exact matches ([`service::audit`]). To
//! keep every request bounded, at most [`MAX_SCANNED`] events are read per request: a sparse
//! filter may answer fewer events than `limit`, even none, with a `next` cursor to continue
//! from. Only `next: null` means the end of the trail.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rfc3339;
use crate::auth::SecretCaller;
use crate::error::ApiError;
use crate::service;
use crate::service::audit::AuditFilter;
use crate::state::AppState;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
pub use crate::service::audit::{MAX_LIMIT, MAX_SCANNED};
/// The longest filter value accepted, in bytes.
const MAX_FILTER_BYTES: usize = 512;

/// `GET /audit`.
pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

/// Query of `GET /audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only events older than this event ID (the `next` of the previous page).
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Only this action, e.g. `credential.delete`.
    pub action: Option<String>,
    /// Only this outcome: `success` or an error code.
    pub outcome: Option<String>,
    /// Only this subject, e.g. `user:alice`.
    pub subject: Option<String>,
}

/// An audit event as the API shows it. Events never carry secrets (no keys, tokens, codes,
/// challenges or signatures).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    /// Sequence number: newer events have larger IDs.
    pub id: i64,
    /// When.
    pub at: String,
    /// The tenant.
    pub tenant: String,
    /// Who acted: `api_key:<prefix>`, `user:<id>` or `cli`.
    pub actor: String,
    /// What was attempted, e.g. `registration.finish`, `backup_code.verify`.
    pub action: String,
    /// The user or credential concerned.
    pub subject: Option<String>,
    /// `success` or the error code answered.
    pub outcome: String,
    /// Further facts and flags (e.g. `counter_regressed`).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The client's IP address, when known.
    pub ip: Option<String>,
    /// The request ID.
    pub request_id: Option<String>,
}

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEventView>,
    /// Pass as `before` for the next page; `null` at the end of the trail.
    pub next: Option<i64>,
}

fn check_filter(name: &str, value: Option<&String>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.is_empty() || v.len() > MAX_FILTER_BYTES => Err(ApiError::InvalidRequest(
            format!("{name} must be 1 to {MAX_FILTER_BYTES} bytes"),
        )),
        _ => Ok(()),
    }
}

/// The tenant's audit events, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit",
    params(AuditQuery),
    security(("api_key" = [])),
    responses((status = 200, body = AuditPage), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn list(
    SecretCaller(caller): SecretCaller,
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    check_filter("action", query.action.as_ref())?;
    check_filter("outcome", query.outcome.as_ref())?;
    check_filter("subject", query.subject.as_ref())?;
    if query.before.is_some_and(|b| b < 1) {
        return Err(ApiError::InvalidRequest(
            "before must be positive".to_owned(),
        ));
    }
    let tenant = &caller.tenant;
    let filter = AuditFilter {
        before: query.before,
        action: query.action,
        outcome: query.outcome,
        subject: query.subject,
    };
    let page = service::audit::page(&state, &tenant.id, &filter, limit).await?;
    Ok(Json(AuditPage {
        events: page
            .events
            .into_iter()
            .map(|e| AuditEventView {
                id: e.id,
                at: rfc3339(e.at),
                tenant: tenant.id.to_string(),
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                outcome: e.outcome,
                details: e.details,
                ip: e.ip,
                request_id: e.request_id,
            })
            .collect(),
        next: page.next,
    }))
}
