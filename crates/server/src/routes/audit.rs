//! `GET /audit` (secret key): the tenant's audit trail, newest first, a page at a time.
//!
//! The filters (`action`, `outcome`, `subject`, each an exact match) are applied here, over
//! pages the store reads newest first, because the store pages by ID only. To keep every
//! request bounded, at most [`MAX_SCANNED`] events are read per request: a sparse filter may
//! answer fewer events than `limit`, even none, with a `next` cursor to continue from. Only
//! `next: null` means the end of the trail.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rfc3339;
use crate::auth::SecretCaller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::AuditEvent;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub const MAX_LIMIT: u32 = 200;
/// How many events one request reads from the store at most, filtering included.
pub const MAX_SCANNED: u32 = 2_000;
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

impl AuditQuery {
    fn matches(&self, event: &AuditEvent) -> bool {
        self.action.as_ref().is_none_or(|a| *a == event.action)
            && self.outcome.as_ref().is_none_or(|o| *o == event.outcome)
            && self
                .subject
                .as_ref()
                .is_none_or(|s| event.subject.as_ref() == Some(s))
    }

    fn filtered(&self) -> bool {
        self.action.is_some() || self.outcome.is_some() || self.subject.is_some()
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
    let limit = limit as usize;
    // Unfiltered, one event more than asked tells whether there are more. Filtered, pages of
    // the largest size are scanned until the page is full or the budget is spent.
    let batch = if query.filtered() {
        MAX_LIMIT as usize
    } else {
        limit + 1
    };
    let mut events = Vec::with_capacity(limit);
    let mut cursor = query.before;
    let mut scanned = 0;
    let next = 'scan: loop {
        let page = state
            .store
            .audit_events(
                &tenant.id,
                cursor,
                u32::try_from(batch).unwrap_or(MAX_LIMIT),
            )
            .await?;
        let read = page.len();
        let exhausted = read < batch;
        scanned += read;
        for (i, event) in page.into_iter().enumerate() {
            cursor = Some(event.id);
            if query.matches(&event) {
                events.push(event);
                if events.len() == limit {
                    let older_exist = i + 1 < read || !exhausted;
                    break 'scan if older_exist { cursor } else { None };
                }
            }
        }
        if exhausted {
            break None;
        }
        if scanned >= MAX_SCANNED as usize {
            break cursor;
        }
    };
    Ok(Json(AuditPage {
        events: events
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
        next,
    }))
}
