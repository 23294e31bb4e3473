//! Reading the audit trail: a tenant's events, newest first, a page at a time, filtered by
//! exact action, outcome and subject.
//!
//! The filters are applied here, over pages the store reads newest first, because the store
//! pages by ID only. To keep every request bounded, at most [`MAX_SCANNED`] events are read per
//! request: a sparse filter may answer fewer events than asked, even none, with a cursor to
//! continue from. Only no cursor means the end of the trail.

use super::AuditEvent;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenant::TenantId;

/// The largest page, and the batch a filtered read scans at a time.
pub const MAX_LIMIT: u32 = 200;
/// How many events one request reads at most, filtering included.
pub const MAX_SCANNED: u32 = 2_000;

/// Which events to answer.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only events older than this event ID.
    pub before: Option<i64>,
    /// Only this action, e.g. `credential.delete`.
    pub action: Option<String>,
    /// Only this outcome: `success` or an error code.
    pub outcome: Option<String>,
    /// Only this subject, e.g. `user:alice`.
    pub subject: Option<String>,
}

impl AuditFilter {
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

/// A page of the trail.
#[derive(Debug)]
pub struct AuditPage {
    /// Newest first, at most the limit asked for.
    pub events: Vec<AuditEvent>,
    /// The `before` of the next page; `None` at the end of the trail.
    pub next: Option<i64>,
}

/// Up to `limit` (1 to [`MAX_LIMIT`]) of the tenant's events that `filter` matches, newest
/// first, reading at most [`MAX_SCANNED`] events.
pub async fn page(
    state: &AppState,
    tenant: &TenantId,
    filter: &AuditFilter,
    limit: u32,
) -> Result<AuditPage, ApiError> {
    let limit = limit as usize;
    // Unfiltered, one event more than asked tells whether there are more. Filtered, pages of
    // the largest size are scanned until the page is full or the budget is spent.
    let batch = if filter.filtered() {
        MAX_LIMIT as usize
    } else {
        limit + 1
    };
    let mut events = Vec::with_capacity(limit);
    let mut cursor = filter.before;
    let mut scanned = 0;
    let next = 'scan: loop {
        let page = state
            .store
            .audit_events(tenant, cursor, u32::try_from(batch).unwrap_or(MAX_LIMIT))
            .await?;
        let read = page.len();
        let exhausted = read < batch;
        scanned += read;
        for (i, event) in page.into_iter().enumerate() {
            cursor = Some(event.id);
            if filter.matches(&event) {
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
    Ok(AuditPage { events, next })
}
