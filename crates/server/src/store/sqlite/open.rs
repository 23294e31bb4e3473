//! Opening the SQLite database: where its URL says it is, its file made private, every
//! connection set up alike, the schema migrated, and the writer thread started.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::connections::{Connections, Opener};
use super::migrate;
use crate::store::OpenError;

/// How long a connection waits for another process's write lock (the CLI writing while the
/// server runs) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements each connection keeps (every statement of the store fits).
const STATEMENT_CACHE: usize = 96;

/// Where the database is, from its URL.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Location {
    /// A file; `create` unless the URL says `mode=rw` or `mode=ro`, `read_only` with `mode=ro`.
    File {
        path: PathBuf,
        create: bool,
        read_only: bool,
    },
    /// `sqlite::memory:` or `mode=memory`: one connection, gone when the store closes.
    Memory,
}

impl Location {
    /// Reads `sqlite://PATH[?mode=...]`, `sqlite:PATH` or a bare path.
    pub(super) fn parse(url: &str) -> Self {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mode = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("mode="))
            .unwrap_or("rwc");
        if path == ":memory:" || path.is_empty() || mode == "memory" {
            return Self::Memory;
        }
        Self::File {
            path: PathBuf::from(path),
            create: mode == "rwc",
            read_only: mode == "ro",
        }
    }
}

/// Opens the database at `location` (see [`Location`]) and starts its connections, keeping
/// at most `keep` read connections idle.
pub(super) fn open_blocking(location: &Location, keep: usize) -> Result<Connections, OpenError> {
    let connect = |e: rusqlite::Error| OpenError::Connect(Box::new(e));
    let (writer, readers): (Connection, Option<Opener>) = match location {
        Location::Memory => {
            let conn = Connection::open_in_memory().map_err(connect)?;
            (conn, None)
        }
        Location::File {
            path,
            create,
            read_only,
        } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::store::create_private_dir(dir).map_err(|source| OpenError::DataDir {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            if *create {
                create_private_file(path).map_err(|source| OpenError::DatabaseFile {
                    path: path.clone(),
                    source,
                })?;
            }
            let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
            flags |= if *read_only {
                OpenFlags::SQLITE_OPEN_READ_ONLY
            } else {
                OpenFlags::SQLITE_OPEN_READ_WRITE
            };
            let writer = Connection::open_with_flags(path, flags).map_err(connect)?;
            let reader_path = path.clone();
            let opener: Opener = Box::new(move || {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI;
                let conn = Connection::open_with_flags(&reader_path, flags)?;
                set_up(&conn)?;
                Ok(conn)
            });
            (writer, Some(opener))
        }
    };
    set_up(&writer).map_err(connect)?;
    // WAL lets readers run beside the one writer; synchronous=FULL makes every acknowledged
    // commit survive a power loss, which NORMAL does not in WAL mode.
    writer
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(connect)?;
    migrate::run(&writer).map_err(|e| OpenError::Migrate(Box::new(e)))?;
    Connections::start(writer, readers, keep).map_err(|e| OpenError::Connect(Box::new(e)))
}

/// What every connection needs: foreign keys on, a wait instead of a failure when another
/// process holds the write lock, and room for every statement in the statement cache.
fn set_up(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA foreign_keys = ON;")
}

/// Creates an empty database file readable by the owner alone (0600 on unix) unless it exists.
/// SQLite treats an empty file as a new database, and creates the `-wal` and `-shm` files with
/// the database file's mode, so they are private too.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
