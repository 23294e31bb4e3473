//! [`MdsStore`] on SQLite: the `mds_state` row.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::sql::{exec, one, sqlite_error};
use super::SqliteStore;
use crate::store::mds::{
    attempt_result, judge_offer, MdsAttempt, MdsOutcome, MdsState, MdsStore, StoredBlob,
};
use crate::store::StoreError;

const ENSURE_ROW: &str = "INSERT INTO mds_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING";

fn to_u64(no: i64) -> u64 {
    u64::try_from(no).unwrap_or(0)
}

fn to_i64(no: u64) -> i64 {
    i64::try_from(no).unwrap_or(i64::MAX)
}

fn version_in(conn: &Connection) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    one(
        conn,
        "SELECT no, sha256 FROM mds_state WHERE id = 1 AND no IS NOT NULL AND sha256 IS NOT NULL",
        [],
        |row| Ok((to_u64(row.get(0)?), row.get(1)?)),
    )
}

#[async_trait]
impl MdsStore for SqliteStore {
    async fn mds_version(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.read(version_in)
    }

    async fn mds_state(&self) -> Result<MdsState, StoreError> {
        self.read(|conn| {
            let state = one(
                conn,
                "SELECT no, next_update, jwt, sha256, stored_at, etag, last_modified, \
                 last_attempt_at, last_result, last_success_at FROM mds_state WHERE id = 1",
                [],
                |row| {
                    let no: Option<i64> = row.get(0)?;
                    let next_update: Option<String> = row.get(1)?;
                    let jwt: Option<String> = row.get(2)?;
                    let sha256: Option<Vec<u8>> = row.get(3)?;
                    let stored_at: Option<i64> = row.get(4)?;
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
                        etag: row.get(5)?,
                        last_modified: row.get(6)?,
                        last_attempt_at: row.get(7)?,
                        last_result: row.get(8)?,
                        last_success_at: row.get(9)?,
                    })
                },
            )?;
            Ok(state.unwrap_or_default())
        })
    }

    async fn take_mds_lease(&self, holder: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        let holder = holder.to_owned();
        self.write(move |conn| {
            exec(conn, ENSURE_ROW, []).map_err(sqlite_error)?;
            let taken = exec(
                conn,
                "UPDATE mds_state SET lease_holder = ?, lease_until = ? WHERE id = 1 AND \
                 (lease_until IS NULL OR lease_until <= ? OR lease_holder = ?)",
                params![holder, until, now, holder],
            )
            .map_err(sqlite_error)?;
            Ok(taken == 1)
        })
        .await
    }

    async fn record_mds_attempt(&self, attempt: &MdsAttempt) -> Result<MdsOutcome, StoreError> {
        let attempt = attempt.clone();
        self.write(move |conn| {
            exec(conn, ENSURE_ROW, []).map_err(sqlite_error)?;
            let stored = version_in(conn)?;
            let outcome = match &attempt.blob {
                None => MdsOutcome::Recorded,
                Some(blob) => judge_offer(stored.as_ref().map(|(n, s)| (*n, s.as_slice())), blob),
            };
            if let (MdsOutcome::Stored, Some(blob)) = (outcome, &attempt.blob) {
                exec(
                    conn,
                    "UPDATE mds_state SET no = ?, next_update = ?, jwt = ?, sha256 = ?, \
                     stored_at = ? WHERE id = 1",
                    params![
                        to_i64(blob.no),
                        blob.next_update,
                        blob.jwt,
                        blob.sha256,
                        blob.stored_at
                    ],
                )
                .map_err(sqlite_error)?;
            }
            let (result, success) = attempt_result(&attempt, outcome);
            exec(
                conn,
                "UPDATE mds_state SET last_attempt_at = ?, last_result = ?, \
                 last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END, \
                 etag = CASE WHEN ? THEN ? ELSE etag END, \
                 last_modified = CASE WHEN ? THEN ? ELSE last_modified END, \
                 lease_holder = CASE WHEN lease_holder = ? THEN NULL ELSE lease_holder END, \
                 lease_until = CASE WHEN lease_holder = ? THEN NULL ELSE lease_until END \
                 WHERE id = 1",
                params![
                    attempt.at,
                    result,
                    success,
                    attempt.at,
                    success,
                    attempt.etag,
                    success,
                    attempt.last_modified,
                    attempt.holder,
                    attempt.holder
                ],
            )
            .map_err(sqlite_error)?;
            Ok(outcome)
        })
        .await
    }
}
