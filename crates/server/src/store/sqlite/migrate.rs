//! The SQLite schema migrations, applied on a rusqlite connection.
//!
//! The migration files are embedded by `sqlx::migrate!` (the PostgreSQL store runs its own
//! through sqlx) and recorded in sqlx's `_sqlx_migrations` table, with sqlx's checksum, so a
//! database migrated by an earlier passkeyd (which ran them through sqlx) is recognised as it
//! is. Hand-written because sqlx's migrator runs only on a sqlx connection, and the SQLite
//! store no longer opens one.

use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};

/// The embedded SQLite migrations.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A statement failed.
    #[error("migration {version}: {source}")]
    Failed {
        /// The migration.
        version: i64,
        /// The error.
        source: rusqlite::Error,
    },
    /// An applied migration differs from the embedded one (the file changed after it ran).
    #[error("migration {0} was applied with other contents")]
    Modified(i64),
    /// An applied migration failed half-way (recorded as unsuccessful).
    #[error("migration {0} is partially applied; fix and remove its record")]
    Dirty(i64),
    /// The database has a migration this binary does not know (a newer passkeyd ran).
    #[error("migration {0} was applied but is unknown to this passkeyd (is it older?)")]
    Unknown(i64),
}

/// Applies every migration not applied yet, each in a transaction of its own that also records
/// it. Safe when several processes start at once: `BEGIN IMMEDIATE` serialises them and each
/// migration is checked again inside its transaction.
pub fn run(conn: &Connection) -> Result<(), MigrateError> {
    let failed = |version| move |source| MigrateError::Failed { version, source };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             success BOOLEAN NOT NULL,
             checksum BLOB NOT NULL,
             execution_time BIGINT NOT NULL
         );",
    )
    .map_err(failed(0))?;
    let newest: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM _sqlx_migrations", [], |row| {
            row.get(0)
        })
        .map_err(failed(0))?;
    if let Some(newest) = newest {
        if !MIGRATIONS.iter().any(|m| m.version == newest) {
            return Err(MigrateError::Unknown(newest));
        }
    }
    for migration in MIGRATIONS.iter() {
        let version = migration.version;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(failed(version))?;
        let result = apply(conn, migration);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        conn.execute_batch(end).map_err(failed(version))?;
        result?;
    }
    Ok(())
}

/// Applies `migration` inside the caller's transaction unless it is applied already.
fn apply(conn: &Connection, migration: &sqlx::migrate::Migration) -> Result<(), MigrateError> {
    let version = migration.version;
    let failed = move |source| MigrateError::Failed { version, source };
    let applied: Option<(bool, Vec<u8>)> = conn
        .query_row(
            "SELECT success, checksum FROM _sqlx_migrations WHERE version = ?",
            [version],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(failed)?;
    match applied {
        Some((false, _)) => return Err(MigrateError::Dirty(version)),
        Some((true, checksum)) if checksum != *migration.checksum => {
            return Err(MigrateError::Modified(version))
        }
        Some(_) => return Ok(()),
        None => {}
    }
    let started = Instant::now();
    conn.execute_batch(&migration.sql).map_err(failed)?;
    let took = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, ?, TRUE, ?, ?)",
        params![version, &*migration.description, &*migration.checksum, took],
    )
    .map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_a_changed_one_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn).unwrap();
        run(&conn).unwrap();
        let applied: i64 = conn
            .query_row("SELECT COUNT(*) FROM _sqlx_migrations", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(applied, i64::try_from(MIGRATIONS.iter().count()).unwrap());
        conn.execute(
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1",
            [],
        )
        .unwrap();
        assert!(matches!(run(&conn), Err(MigrateError::Modified(1))));
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (99999, 'future', TRUE, x'00', 0)",
            [],
        )
        .unwrap();
        assert!(matches!(run(&conn), Err(MigrateError::Unknown(99999))));
    }
}
