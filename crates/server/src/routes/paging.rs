//! Paged lists: every list route takes `limit` and `cursor` and answers `nextCursor`, so no
//! answer grows with what is stored.
//!
//! The cursor is opaque to clients: the base64url of the last item's key on the page. The lists
//! paged here are bounded per user (`max_credentials_per_user`), so a page is cut from the
//! stored order in memory; the audit trail, which is not bounded, pages in the database
//! ([`crate::service::audit`]).

use passkeyd_webauthn::json::{base64url_decode, base64url_encode};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

/// The page size when a request names none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page a request may ask for.
pub const MAX_LIMIT: u32 = 200;

/// `?limit=&cursor=` of a list route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1 to 200; 50 when absent).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page; absent for the first.
    pub cursor: Option<String>,
}

/// One page of `items` (in their stored order) after the query's cursor, and the cursor of
/// the next page when there is one. `key` names an item uniquely.
pub fn page<T>(
    items: Vec<T>,
    query: &PageQuery,
    key: impl Fn(&T) -> Vec<u8>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    let start = match &query.cursor {
        None => 0,
        Some(cursor) => {
            let after = base64url_decode(cursor)
                .map_err(|_| ApiError::InvalidRequest("cursor is not one we gave".to_owned()))?;
            // An item deleted since the cursor was given ends the list there: the client's
            // next page starts over rather than skipping or repeating silently.
            match items.iter().position(|item| key(item) == after) {
                Some(at) => at + 1,
                None => items.len(),
            }
        }
    };
    let limit = limit as usize;
    let mut page: Vec<T> = items.into_iter().skip(start).collect();
    let next = (page.len() > limit).then(|| base64url_encode(&key(&page[limit - 1])));
    page.truncate(limit);
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<u32>, cursor: Option<String>) -> PageQuery {
        PageQuery { limit, cursor }
    }

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let items: Vec<u8> = (0..7).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = page(items.clone(), &query(Some(3), cursor), |i| vec![*i]).unwrap();
            seen.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn a_full_last_page_has_no_next_cursor() {
        let (page, next) = page(vec![1_u8, 2], &query(Some(2), None), |i| vec![*i]).unwrap();
        assert_eq!(page, [1, 2]);
        assert_eq!(next, None);
    }

    #[test]
    fn bad_limits_and_cursors_are_refused() {
        for limit in [0, MAX_LIMIT + 1] {
            assert!(page(vec![1_u8], &query(Some(limit), None), |i| vec![*i]).is_err());
        }
        assert!(
            page(vec![1_u8], &query(None, Some("!!".to_owned())), |i| vec![
                *i
            ])
            .is_err()
        );
    }
}
