//! [`MdsStore`] on PostgreSQL: the `mds_state` row, shared by every node. The row lock taken by
//! `SELECT ... FOR UPDATE` orders two nodes recording at once, so the serial-number rule holds
//! across nodes.

use async_trait::async_trait;
use sqlx::postgres::PgConnection;

use super::PostgresStore;
use crate::store::mds::{
    attempt_result, judge_offer, MdsAttempt, MdsOutcome, MdsState, MdsStore, StoredBlob,
};
use crate::store::rows::backend;
use crate::store::StoreError;

const ENSURE_ROW: &str = "INSERT INTO mds_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING";

type StateRow = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

fn to_u64(no: i64) -> u64 {
    u64::try_from(no).unwrap_or(0)
}

async fn version_in(
    conn: &mut PgConnection,
    lock: bool,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let sql = if lock {
        "SELECT no, sha256 FROM mds_state WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT no, sha256 FROM mds_state WHERE id = 1"
    };
    let row: Option<(Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(sql)
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    Ok(match row {
        Some((Some(no), Some(sha))) => Some((to_u64(no), sha)),
        _ => None,
    })
}

#[async_trait]
impl MdsStore for PostgresStore {
    async fn mds_version(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        version_in(&mut conn, false).await
    }

    async fn mds_state(&self) -> Result<MdsState, StoreError> {
        let row: Option<StateRow> = sqlx::query_as(
            "SELECT no, next_update, jwt, sha256, stored_at, etag, last_modified, \
             last_attempt_at, last_result, last_success_at FROM mds_state WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some((no, next_update, jwt, sha256, stored_at, etag, last_modified, at, result, ok)) =
            row
        else {
            return Ok(MdsState::default());
        };
        let blob = match (no, next_update, jwt, sha256, stored_at) {
            (Some(no), Some(next_update), Some(jwt), Some(sha256), Some(stored_at)) => {
                Some(StoredBlob {
                    no: to_u64(no),
                    next_update,
                    jwt,
                    sha256,
                    stored_at,
                })
            }
            _ => None,
        };
        Ok(MdsState {
            blob,
            etag,
            last_modified,
            last_attempt_at: at,
            last_result: result,
            last_success_at: ok,
        })
    }

    async fn take_mds_lease(&self, holder: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(ENSURE_ROW)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let taken = sqlx::query(
            "UPDATE mds_state SET lease_holder = $1, lease_until = $2 WHERE id = 1 AND \
             (lease_until IS NULL OR lease_until <= $3 OR lease_holder = $1)",
        )
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(taken == 1)
    }

    async fn record_mds_attempt(&self, attempt: &MdsAttempt) -> Result<MdsOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(ENSURE_ROW)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let stored = version_in(&mut tx, true).await?;
        let outcome = match &attempt.blob {
            None => MdsOutcome::Recorded,
            Some(blob) => judge_offer(stored.as_ref().map(|(n, s)| (*n, s.as_slice())), blob),
        };
        if let (MdsOutcome::Stored, Some(blob)) = (outcome, &attempt.blob) {
            sqlx::query(
                "UPDATE mds_state SET no = $1, next_update = $2, jwt = $3, sha256 = $4, \
                 stored_at = $5 WHERE id = 1",
            )
            .bind(i64::try_from(blob.no).unwrap_or(i64::MAX))
            .bind(&blob.next_update)
            .bind(&blob.jwt)
            .bind(&blob.sha256)
            .bind(blob.stored_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let (result, success) = attempt_result(attempt, outcome);
        sqlx::query(
            "UPDATE mds_state SET last_attempt_at = $1, last_result = $2, \
             last_success_at = CASE WHEN $3 THEN $1 ELSE last_success_at END, \
             etag = CASE WHEN $3 THEN $4 ELSE etag END, \
             last_modified = CASE WHEN $3 THEN $5 ELSE last_modified END, \
             lease_holder = CASE WHEN lease_holder = $6 THEN NULL ELSE lease_holder END, \
             lease_until = CASE WHEN lease_holder = $6 THEN NULL ELSE lease_until END \
             WHERE id = 1",
        )
        .bind(attempt.at)
        .bind(result)
        .bind(success)
        .bind(&attempt.etag)
        .bind(&attempt.last_modified)
        .bind(&attempt.holder)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(outcome)
    }
}
