//! Group commit for SQLite's hot single-statement writes (sessions, sign-in counters, audit
//! events): concurrent requests' statements run in one transaction, so they share one commit
//! and one fsync instead of paying one each.
//!
//! A durable commit is the largest cost of a ceremony on SQLite (the WAL append plus an fsync,
//! and the writer lock held meanwhile). Under load many requests wait for the one writer at the
//! same moment; a task takes every statement waiting at once, runs them one after the other in
//! a `BEGIN IMMEDIATE` transaction on the writing connection, commits, and only then answers
//! each request. So no request learns its write's result before that write is durable, exactly
//! as with a commit of its own.
//!
//! Only single statements go through here. A statement that fails (a constraint, say) is
//! undone by SQLite on its own and leaves the others' work in the transaction (SQLite's default
//! `ABORT` resolution); its caller gets its error. If the commit itself fails, every statement
//! of the batch is rolled back and every caller gets an error. When no other write is waiting,
//! a batch is one statement, and the cost is that of a transaction of its own.
//!
//! Hand-written because neither sqlx nor another maintained crate offers group commit for
//! SQLite.

use std::future::Future;
use std::pin::Pin;

use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// The most statements one transaction takes.
const MAX_BATCH: usize = 128;

/// A statement's future, borrowing the writing connection.
pub(super) type StatementFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// What the writer task runs: the statement, whose answer is held back until the commit.
type Job = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection) -> Pin<Box<dyn Future<Output = Reply> + Send + 'c>>
        + Send,
>;

/// Delivers a statement's result once the commit's outcome is known.
type Reply = Box<dyn FnOnce(Result<(), CommitFailed>) + Send>;

/// The commit of a batch failed; the message is for the log.
#[derive(Clone, Debug)]
struct CommitFailed(String);

/// A handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writer task, which writes through `writer` (the store's one writing
    /// connection, shared with the other writes, which queue for it as before).
    pub(super) fn start(writer: SqlitePool) -> Self {
        let (jobs, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(writer, receiver));
        Self { jobs }
    }

    /// Runs `statement` in the next batch and answers its result once the batch is committed.
    pub(super) async fn write<T, F>(&self, statement: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> StatementFuture<'c, T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = statement(conn).await;
                let reply: Reply = Box::new(move |commit| {
                    let result = match commit {
                        Ok(()) => result,
                        Err(CommitFailed(message)) => Err(commit_error(message)),
                    };
                    // The caller may have gone (its request was cancelled); nothing to do.
                    let _ = answer.send(result);
                });
                reply
            })
        });
        let not_run = || {
            commit_error(
                "not run: the writing connection or its transaction could not be had, or the \
                 writer task has stopped"
                    .to_owned(),
            )
        };
        self.jobs.send(job).await.map_err(|_| not_run())?;
        // A job dropped unrun (see `commit_batch`) drops its answer's sender.
        answered.await.map_err(|_| not_run())?
    }
}

fn commit_error(message: String) -> StoreError {
    StoreError::Backend(sqlx::Error::Protocol(format!("group commit: {message}")))
}

/// The writer task: one batch at a time, until every handle is dropped.
async fn run(writer: SqlitePool, mut receiver: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (replies, outcome) = commit_batch(&writer, std::mem::take(&mut batch)).await;
        if let Err(CommitFailed(message)) = &outcome {
            tracing::error!(error = %message, "a grouped write transaction failed");
        }
        for reply in replies {
            reply(outcome.clone());
        }
    }
}

/// Runs `jobs` in one transaction and commits; answers the replies to send and the outcome.
async fn commit_batch(
    writer: &SqlitePool,
    jobs: Vec<Job>,
) -> (Vec<Reply>, Result<(), CommitFailed>) {
    let failed = |e: sqlx::Error| CommitFailed(e.to_string());
    // Without a connection or a transaction no statement runs: the jobs are dropped unrun,
    // and each caller learns it from its dropped answer.
    let mut conn = match writer.acquire().await {
        Ok(conn) => conn,
        Err(e) => return (Vec::new(), Err(failed(e))),
    };
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return (Vec::new(), Err(failed(e))),
    };
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        replies.push(job(&mut tx).await);
    }
    let outcome = tx.commit().await.map_err(failed);
    (replies, outcome)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    fn insert(group: &GroupCommit, id: i64) -> impl Future<Output = Result<u64, StoreError>> {
        let group = group.clone();
        async move {
            group
                .write(move |conn: &mut SqliteConnection| {
                    Box::pin(async move {
                        let done = sqlx::query("INSERT INTO t (id) VALUES (?)")
                            .bind(id)
                            .execute(conn)
                            .await
                            .map_err(StoreError::Backend)?;
                        Ok(done.rows_affected())
                    })
                })
                .await
        }
    }

    #[tokio::test]
    async fn concurrent_writes_share_commits_and_a_failing_one_spoils_no_other() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .execute(&writer)
            .await
            .unwrap();
        let group = Arc::new(GroupCommit::start(writer.clone()));
        // 200 writers at once, every fourth a duplicate of an earlier ID.
        let tasks: Vec<_> = (0..200_i64)
            .map(|n| {
                let id = if n % 4 == 3 { n - 1 } else { n };
                tokio::spawn(insert(&group, id))
            })
            .collect();
        let mut ok = 0;
        let mut failed = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(1) => ok += 1,
                Ok(n) => panic!("inserted {n} rows"),
                Err(StoreError::Backend(_)) => failed += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((ok, failed), (150, 50));
        // Every acknowledged write is committed (read on another connection).
        let reader = SqlitePoolOptions::new().connect(&url).await.unwrap();
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&reader)
            .await
            .unwrap();
        assert_eq!(rows, 150);
    }
}
