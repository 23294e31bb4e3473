//! Bringing the schema up to date at start, waiting for a server that is not reachable yet.

use std::io;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokio::time::Instant;

use super::PostgresOptions;
use crate::store::OpenError;

/// The pause between two attempts to reach the server while opening.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The embedded schema migrations.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Why one attempt to migrate failed.
enum Attempt {
    /// The server could not be reached (yet): worth another try.
    Unreachable(sqlx::Error),
    /// Trying again will not help.
    Fatal(OpenError),
}

/// Runs the migrations, retrying every [`RETRY_INTERVAL`] while the server is unreachable.
pub(super) async fn migrate(
    connect: &PgConnectOptions,
    options: PostgresOptions,
) -> Result<(), OpenError> {
    let started = Instant::now();
    let mut attempt = 1u32;
    loop {
        match migrate_once(connect, options.acquire_timeout).await {
            Ok(()) => return Ok(()),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Unreachable(e)) => {
                if started.elapsed() + RETRY_INTERVAL > options.startup_timeout {
                    return Err(OpenError::Connect(Box::new(e)));
                }
                tracing::warn!(
                    attempt,
                    error = %e,
                    "PostgreSQL is not reachable; retrying in {} s",
                    RETRY_INTERVAL.as_secs()
                );
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
    }
}

/// One attempt, on a connection of its own rather than one from the pool: sqlx's migrator
/// returns early on an error without releasing its advisory lock, and closing the connection
/// is what releases it (a pooled connection would keep holding it).
async fn migrate_once(connect: &PgConnectOptions, timeout: Duration) -> Result<(), Attempt> {
    let mut conn = match tokio::time::timeout(timeout, PgConnection::connect_with(connect)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) if unreachable(&e) => return Err(Attempt::Unreachable(e)),
        Ok(Err(e)) => return Err(Attempt::Fatal(OpenError::Connect(Box::new(e)))),
        Err(_elapsed) => {
            let e = io::Error::new(io::ErrorKind::TimedOut, "connecting timed out");
            return Err(Attempt::Unreachable(sqlx::Error::Io(e)));
        }
    };
    // Several nodes may start at once and migrate concurrently. That is safe: sqlx 0.8's
    // migrator (`Migrator::run_direct`, with locking on by default) first takes
    // `pg_advisory_lock` on a key derived from the database name (sqlx-postgres `migrate.rs`,
    // `lock()`), and only then creates `_sqlx_migrations`, reads what is applied and applies
    // the rest, each migration in one transaction with its bookkeeping row. A node that waited
    // for the lock finds everything applied and does nothing.
    //
    // `run_direct` is what `Migrator::run` calls once it has a connection; it is public but
    // hidden from the docs, kept by sqlx for this case: the future of `run(&mut PgConnection)`
    // is not provably `Send` ("implementation of `Acquire` is not general enough"), so no
    // caller could spawn `open`. Running on a pool would avoid that, but a pool retries
    // refused connections itself and then reports only "pool timed out", hiding the cause.
    match MIGRATOR.run_direct(&mut conn).await {
        Ok(()) => {
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing the migration connection failed");
            }
            Ok(())
        }
        Err(MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _)) if unreachable(&e) => {
            Err(Attempt::Unreachable(e))
        }
        Err(e) => Err(Attempt::Fatal(OpenError::Migrate(Box::new(e)))),
    }
}

/// Whether an error means the server is down, starting, restarting or full (waiting may help),
/// as opposed to refusing us (bad credentials, missing database) or failing a statement.
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
            // cannot connect now (starting up); 53300: too many connections.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}
