//! SQLite connections without a thread hand-off per statement.
//!
//! **Reads** run on the calling thread, on one of a few read-only connections kept idle
//! between uses. In WAL mode a reader never waits for the writer and sees the last committed
//! state; the hot reads are single indexed lookups that take microseconds, less than waking
//! another thread would. (A read does wait, on its thread, while another process recovers the
//! WAL after a crash or holds the database exclusively: up to the busy timeout, as rarely as
//! that happens.)
//!
//! **Writes** are units of work: a closure that runs its statements on the one writing
//! connection, owned by a thread of its own (SQLite allows one writer at a time; queueing the
//! writes here keeps the wait as short as the writes, where several writing connections would
//! spin in SQLite's busy handler). The thread takes every unit waiting at once and runs them in
//! one `BEGIN IMMEDIATE` transaction, each inside a savepoint, then commits: the units share
//! one commit and one fsync (group commit) and only then is each caller answered, so no caller
//! learns its write's result before that write is on disk, exactly as with a commit of its own.
//! A unit that fails is rolled back to its savepoint and leaves the others' work; if the commit
//! fails, the whole batch is rolled back and every caller gets an error. A caller pays one
//! hand-off to the writer and one back, whatever the number of statements in its unit.
//!
//! Hand-written because no maintained crate offers group commit for SQLite, and pools such as
//! r2d2 or deadpool would hand every statement to another thread, the cost this removes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::sqlite_error;
use crate::store::StoreError;

/// The most units one transaction takes.
const MAX_BATCH: usize = 128;

/// What the writer thread runs: the unit, whose answer is held back until the commit. It
/// answers whether it succeeded (else it is rolled back to its savepoint).
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// Delivers a unit's result once the commit's outcome is known.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A message to the writer thread.
enum Message {
    /// A unit of work.
    Job(Job),
    /// Finish what is queued, close the connection, then say so.
    Stop(oneshot::Sender<()>),
}

/// Opens one more connection to the database, set up for its role.
pub(super) type Opener = Box<dyn Fn() -> Result<Connection, rusqlite::Error> + Send + Sync>;

/// Where reads run.
enum Readers {
    /// Idle read-only connections (a database file); more are opened when all are in use,
    /// and at most `keep` stay idle.
    Pool {
        idle: Mutex<Vec<Connection>>,
        open: Opener,
        keep: usize,
    },
    /// The writer's own connection (an in-memory database, which no other connection can
    /// see): reads wait for the batch being written, and see only what is committed.
    Writer(Arc<Mutex<Connection>>),
}

/// The store's connections: cheap to share behind an `Arc`.
pub(super) struct Connections {
    readers: Readers,
    jobs: mpsc::Sender<Message>,
    /// Set by [`Connections::close`]: reads fail from then on, as writes do.
    closed: AtomicBool,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").finish_non_exhaustive()
    }
}

impl Connections {
    /// Starts the writer thread on `writer`; reads run on connections from `readers` (at
    /// most `keep` kept idle), or on the writer's connection when `readers` is `None`.
    pub(super) fn start(
        writer: Connection,
        readers: Option<Opener>,
        keep: usize,
    ) -> std::io::Result<Self> {
        let writer = Arc::new(Mutex::new(writer));
        let (jobs, receiver) = mpsc::channel();
        let thread_writer = Arc::clone(&writer);
        std::thread::Builder::new()
            .name("passkeyd-sqlite-writer".to_owned())
            .spawn(move || run(&thread_writer, &receiver))?;
        let readers = match readers {
            Some(open) => Readers::Pool {
                idle: Mutex::new(Vec::with_capacity(keep)),
                open,
                keep,
            },
            None => Readers::Writer(writer),
        };
        Ok(Self {
            readers,
            jobs,
            closed: AtomicBool::new(false),
        })
    }

    /// Runs `read` on a read connection, on this thread.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Backend("the store is closed".into()));
        }
        match &self.readers {
            Readers::Pool { idle, open, keep } => {
                let conn = match lock(idle).pop() {
                    Some(conn) => conn,
                    None => open().map_err(sqlite_error)?,
                };
                let result = read(&conn);
                let mut idle = lock(idle);
                if idle.len() < *keep {
                    idle.push(conn);
                }
                result
            }
            Readers::Writer(writer) => read(&lock(writer)),
        }
    }

    /// Runs `unit` in the writer's next batch and answers its result once the batch is
    /// committed (see the module documentation).
    pub(super) async fn write<T, F>(&self, unit: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| {
            let result = unit(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let result = match commit {
                    Ok(()) => result,
                    Err(message) => Err(commit_error(&message)),
                };
                // The caller may have gone (its request was cancelled); nothing to do.
                let _ = answer.send(result);
            });
            (ok, reply)
        });
        let not_run = || {
            commit_error(
                "not run: the transaction could not begin, the unit panicked, or the writer \
                 has stopped",
            )
        };
        self.jobs.send(Message::Job(job)).map_err(|_| not_run())?;
        // A job dropped unrun (see `commit_batch`) drops its answer's sender.
        answered.await.map_err(|_| not_run())?
    }

    /// Lets the writer finish what is queued and close its connection; later writes fail.
    pub(super) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Message::Stop(done)).is_ok() {
            let _ = closed.await;
        }
        if let Readers::Pool { idle, .. } = &self.readers {
            lock(idle).clear();
        }
    }
}

/// A lock that a panic elsewhere does not poison for good: the data behind it (idle
/// connections) stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn commit_error(message: &str) -> StoreError {
    StoreError::Backend(format!("group commit: {message}").into())
}

/// The writer thread: one batch at a time, until every handle is dropped or one says stop.
fn run(writer: &Mutex<Connection>, receiver: &mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    while stop.is_none() {
        let Ok(first) = receiver.recv() else { return };
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => batch.push(job),
                Message::Stop(done) => {
                    stop = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        let conn = lock(writer);
        let (replies, outcome) = commit_batch(&conn, std::mem::take(&mut batch));
        drop(conn);
        if let Err(message) = &outcome {
            tracing::error!(error = %message, "a grouped write transaction failed");
        }
        for reply in replies {
            reply(outcome.clone());
        }
    }
    // Dropping the connection closes it (and checkpoints the WAL when it is the last one).
    if let Ok(mut conn) = writer.lock() {
        if let Ok(memory) = Connection::open_in_memory() {
            drop(std::mem::replace(&mut *conn, memory));
        }
    }
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Runs `jobs` in one transaction and commits; answers the replies to send and the outcome.
fn commit_batch(conn: &Connection, jobs: Vec<Job>) -> (Vec<Reply>, Result<(), String>) {
    // Without a transaction no unit runs: the jobs are dropped unrun, and each caller learns
    // it from its dropped answer.
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return (Vec::new(), Err(e.to_string()));
    }
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        if conn.execute_batch("SAVEPOINT unit").is_err() {
            continue;
        }
        // A panicking unit is dropped unrun (its caller hears so), never the thread.
        match catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok((true, reply)) => {
                if conn.execute_batch("RELEASE unit").is_ok() {
                    replies.push(reply);
                }
            }
            Ok((false, reply)) => {
                if conn.execute_batch("ROLLBACK TO unit; RELEASE unit").is_ok() {
                    replies.push(reply);
                }
            }
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK TO unit; RELEASE unit");
            }
        }
    }
    let outcome = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if outcome.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    (replies, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .unwrap();
        conn
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_units_share_commits_and_a_failing_one_spoils_no_other() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("g.db");
        let writer = open(&path);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .unwrap();
        let reader_path = path.clone();
        let opener: Opener = Box::new(move || Connection::open(&reader_path));
        let connections = Arc::new(Connections::start(writer, Some(opener), 2).unwrap());
        // 200 writers at once, every fourth a duplicate of an earlier ID; each unit writes
        // two statements, so a failure must undo the first of them too.
        let tasks: Vec<_> = (0..200_i64)
            .map(|n| {
                let id = if n % 4 == 3 { n - 1 } else { n };
                let connections = Arc::clone(&connections);
                tokio::spawn(async move {
                    connections
                        .write(move |conn| {
                            conn.execute("INSERT INTO t (id) VALUES (?)", [id + 10_000])
                                .map_err(sqlite_error)?;
                            conn.execute("INSERT INTO t (id) VALUES (?)", [id])
                                .map_err(sqlite_error)
                        })
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        let mut failed = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(1) => ok += 1,
                Ok(n) => panic!("inserted {n} rows"),
                Err(StoreError::Conflict(_) | StoreError::Backend(_)) => failed += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(ok >= 150 && ok + failed == 200, "{ok} ok, {failed} failed");
        // Every acknowledged unit is committed whole, and no failed one left a row.
        let rows: i64 = connections
            .read(|conn| {
                conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                    .map_err(sqlite_error)
            })
            .unwrap();
        assert_eq!(rows, 2 * ok);
        connections.close().await;
        let refused = connections.write(|_| Ok(())).await;
        assert!(matches!(refused, Err(StoreError::Backend(_))));
        let refused = connections.read(|_| Ok(()));
        assert!(matches!(refused, Err(StoreError::Backend(_))));
    }

    #[tokio::test]
    async fn a_panicking_unit_fails_alone() {
        let writer = Connection::open_in_memory().unwrap();
        writer.execute_batch("CREATE TABLE t (id INTEGER)").unwrap();
        let connections = Connections::start(writer, None, 0).unwrap();
        let panicked = connections
            .write(|conn| -> Result<(), StoreError> {
                conn.execute("INSERT INTO t (id) VALUES (1)", []).unwrap();
                panic!("a bug in a unit");
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Backend(_))));
        connections
            .write(|conn| {
                conn.execute("INSERT INTO t (id) VALUES (2)", [])
                    .map_err(sqlite_error)
            })
            .await
            .unwrap();
        let ids: Vec<i64> = connections
            .read(|conn| {
                let mut stmt = conn.prepare("SELECT id FROM t").map_err(sqlite_error)?;
                let ids = stmt
                    .query_map([], |row| row.get(0))
                    .map_err(sqlite_error)?
                    .collect::<Result<_, _>>()
                    .map_err(sqlite_error)?;
                Ok(ids)
            })
            .unwrap();
        assert_eq!(ids, [2]);
    }
}
