//! The statement helpers the SQLite store's units share: statements from each connection's
//! cache, rows read by a mapping function, and driver errors mapped to [`StoreError`].

use rusqlite::{Connection, OptionalExtension, Params, Row};

use crate::store::StoreError;

/// A driver error, for the log only.
pub(super) fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Maps a write's error: a UNIQUE violation is `conflict`, a foreign-key violation means the
/// parent (the tenant) does not exist.
pub(super) fn write_error(conflict: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| {
        if let rusqlite::Error::SqliteFailure(failure, _) = &e {
            match failure.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return StoreError::Conflict(conflict)
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::NotFound,
                _ => {}
            }
        }
        sqlite_error(e)
    }
}

/// Runs a statement (from the connection's cache); answers the rows it changed.
pub(super) fn exec(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<usize, rusqlite::Error> {
    conn.prepare_cached(sql)?.execute(params)
}

/// The first row of a query, if any, read by `map`.
pub(super) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&Row<'_>) -> Result<T, rusqlite::Error>,
) -> Result<Option<T>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, map).optional())
        .map_err(sqlite_error)
}

/// Every row of a query, each read by `map`.
pub(super) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnMut(&Row<'_>) -> Result<T, rusqlite::Error>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_error)?;
    let rows = stmt.query_map(params, map).map_err(sqlite_error)?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error)
}

/// Converts every row read into the store's type.
pub(super) fn convert<R, T: TryFrom<R, Error = StoreError>>(
    rows: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}
