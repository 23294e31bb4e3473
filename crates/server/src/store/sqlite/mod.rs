//! The SQLite store: one database file in WAL mode, through rusqlite.
//!
//! Reads run on the calling thread and writes are units of work committed in groups by one
//! writer thread ([`connections`]): a request pays no thread hand-off for a read and one for
//! each unit it writes, however many statements that unit has. sqlx, which the PostgreSQL
//! store uses, hands every SQLite statement (and every row) to a worker thread and back; under
//! load those wake-ups cost more CPU than the ceremony's cryptography (docs/performance.md).
//!
//! Durability is unchanged by the grouping: `synchronous=FULL` in WAL mode, and no caller is
//! answered before the commit that holds its unit is on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Params, Row};

use super::rows::{
    corrupt, found, hash32, json, session_kind, API_KEY_COLUMNS, CREDENTIAL_COLUMNS,
    SIGNING_KEY_COLUMNS, TENANT_COLUMNS, USER_COLUMNS,
};
use super::{
    ApiKey, AuditEvent, Credential, CredentialUse, NewApiKey, NewRegistration, OpenError,
    RegistrationToken, Session, SigningKeyRecord, Store, StoreError, Tenant, TenantUpdate, User,
};
use crate::tenant::TenantId;
use connections::{Connections, Opener};

mod connections;
pub mod migrate;
mod rows;

/// How long a connection waits for another process's write lock (the CLI writing while the
/// server runs) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements each connection keeps (every statement of this file fits).
const STATEMENT_CACHE: usize = 96;

/// The SQLite implementation of [`Store`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    connections: Arc<Connections>,
}

/// Where the database is, from its URL.
#[derive(Debug, PartialEq, Eq)]
enum Location {
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
    fn parse(url: &str) -> Self {
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

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, 10).await
    }

    /// [`Self::open`] keeping at most `max_connections` read connections idle (SQLite still
    /// has one writer at a time; readers run beside it).
    pub async fn open_with(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let location = Location::parse(url);
        let keep = usize::try_from(max_connections.max(1)).unwrap_or(1);
        // Opening runs the migrations: blocking work, off the async threads.
        let opened = tokio::task::spawn_blocking(move || open_blocking(&location, keep))
            .await
            .map_err(|e| OpenError::Connect(Box::new(e)))??;
        Ok(Self {
            connections: Arc::new(opened),
        })
    }

    async fn write<T, F>(&self, unit: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.connections.write(unit).await
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.connections.read(read)
    }
}

fn open_blocking(location: &Location, keep: usize) -> Result<Connections, OpenError> {
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
                super::create_private_dir(dir).map_err(|source| OpenError::DataDir {
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

/// A driver error, for the log only.
pub(super) fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Maps a write's error: a UNIQUE violation is `conflict`, a foreign-key violation means the
/// parent (the tenant) does not exist.
fn write_error(conflict: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
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
fn exec(conn: &Connection, sql: &str, params: impl Params) -> Result<usize, rusqlite::Error> {
    conn.prepare_cached(sql)?.execute(params)
}

/// The first row of a query, if any, read by `map`.
fn one<T>(
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
fn all<T>(
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
fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

fn insert_tenant_in(
    conn: &Connection,
    tenant: &Tenant,
    or_ignore: bool,
) -> Result<usize, StoreError> {
    let sql = if or_ignore {
        "INSERT INTO tenants (id, name, rp_id, rp_name, origins, settings, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
    } else {
        "INSERT INTO tenants (id, name, rp_id, rp_name, origins, settings, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)"
    };
    exec(
        conn,
        sql,
        params![
            tenant.id.as_str(),
            tenant.name,
            tenant.rp_id,
            tenant.rp_name,
            json(&tenant.origins)?,
            json(&tenant.settings)?,
            tenant.created_at
        ],
    )
    .map_err(write_error("tenant_exists"))
}

fn insert_api_key_in(
    conn: &Connection,
    tenant: &str,
    key: &NewApiKey,
    or_ignore: bool,
) -> Result<usize, StoreError> {
    let sql = if or_ignore {
        "INSERT INTO api_keys (id, tenant_id, kind, prefix, key_hash, label, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prefix) DO NOTHING"
    } else {
        "INSERT INTO api_keys (id, tenant_id, kind, prefix, key_hash, label, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)"
    };
    exec(
        conn,
        sql,
        params![
            key.id,
            tenant,
            key.kind.as_str(),
            key.prefix,
            key.key_hash.as_slice(),
            key.label,
            key.created_at
        ],
    )
    .map_err(write_error("api_key_exists"))
}

/// The tenant row after an update that returns it.
fn tenant_returned(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Tenant, StoreError> {
    one(conn, sql, params, rows::tenant)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| one(conn, "SELECT 1", [], |row| row.get::<_, i64>(0)).map(drop))
    }

    async fn close(&self) {
        self.connections.close().await;
    }

    async fn count_tenants(&self) -> Result<u64, StoreError> {
        let count = self.read(|conn| {
            one(conn, "SELECT COUNT(*) FROM tenants", [], |row| {
                row.get::<_, i64>(0)
            })
        })?;
        Ok(count.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |conn| insert_tenant_in(conn, &tenant, false).map(drop))
            .await
    }

    async fn insert_tenant_if_absent(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let tenant = tenant.clone();
        self.write(move |conn| Ok(insert_tenant_in(conn, &tenant, true)? == 1))
            .await
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Tenant, StoreError> {
        let sql = select(TENANT_COLUMNS, "FROM tenants WHERE id = ?");
        self.read(|conn| tenant_returned(conn, &sql, [tenant.as_str()]))
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = select(TENANT_COLUMNS, "FROM tenants ORDER BY id");
        convert(self.read(|conn| all(conn, &sql, [], rows::tenant))?)
    }

    async fn update_tenant(
        &self,
        tenant: &TenantId,
        update: &TenantUpdate,
    ) -> Result<Tenant, StoreError> {
        let origins = update.origins.as_ref().map(json).transpose()?;
        let (tenant, update) = (tenant.clone(), update.clone());
        self.write(move |conn| {
            let sql = format!(
                "UPDATE tenants SET name = COALESCE(?, name), rp_id = COALESCE(?, rp_id), \
                 rp_name = COALESCE(?, rp_name), origins = COALESCE(?, origins) \
                 WHERE id = ? RETURNING {TENANT_COLUMNS}"
            );
            tenant_returned(
                conn,
                &sql,
                params![
                    update.name,
                    update.rp_id,
                    update.rp_name,
                    origins,
                    tenant.as_str()
                ],
            )
        })
        .await
    }

    async fn update_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Tenant, StoreError> {
        let settings = json(settings)?;
        let tenant = tenant.clone();
        self.write(move |conn| {
            let sql =
                format!("UPDATE tenants SET settings = ? WHERE id = ? RETURNING {TENANT_COLUMNS}");
            tenant_returned(conn, &sql, params![settings, tenant.as_str()])
        })
        .await
    }

    async fn insert_api_key(&self, tenant: &TenantId, key: &NewApiKey) -> Result<(), StoreError> {
        let (tenant, key) = (tenant.as_str().to_owned(), key.clone());
        self.write(move |conn| insert_api_key_in(conn, &tenant, &key, false).map(drop))
            .await
    }

    async fn insert_api_key_if_absent(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
    ) -> Result<bool, StoreError> {
        let (tenant, key) = (tenant.as_str().to_owned(), key.clone());
        self.write(move |conn| Ok(insert_api_key_in(conn, &tenant, &key, true)? == 1))
            .await
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<ApiKey, StoreError> {
        let sql = select(API_KEY_COLUMNS, "FROM api_keys WHERE prefix = ?");
        self.read(|conn| one(conn, &sql, [prefix], rows::api_key))?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let sql = select(
            API_KEY_COLUMNS,
            "FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, prefix",
        );
        convert(self.read(|conn| all(conn, &sql, [tenant.as_str()], rows::api_key))?)
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (tenant, prefix) = (tenant.as_str().to_owned(), prefix.to_owned());
        self.write(move |conn| {
            let done = exec(
                conn,
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) \
                 WHERE tenant_id = ? AND prefix = ?",
                params![now, tenant, prefix],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<User, StoreError> {
        let sql = select(USER_COLUMNS, "FROM users WHERE tenant_id = ? AND id = ?");
        user_from(self.read(|conn| one(conn, &sql, [tenant.as_str(), user_id], rows::user))?)
    }

    async fn user_by_name(&self, tenant: &TenantId, name: &str) -> Result<User, StoreError> {
        let sql = select(USER_COLUMNS, "FROM users WHERE tenant_id = ? AND name = ?");
        user_from(self.read(|conn| one(conn, &sql, [tenant.as_str(), name], rows::user))?)
    }

    async fn user_by_handle(&self, tenant: &TenantId, handle: &[u8]) -> Result<User, StoreError> {
        // The handle binds as a BLOB, the column's type: SQLite never finds a TEXT value
        // equal to a BLOB one.
        let sql = select(
            USER_COLUMNS,
            "FROM users WHERE tenant_id = ? AND user_handle = ?",
        );
        user_from(self.read(|conn| one(conn, &sql, params![tenant.as_str(), handle], rows::user))?)
    }

    async fn insert_user_if_absent(
        &self,
        tenant: &TenantId,
        user: &User,
    ) -> Result<bool, StoreError> {
        let (tenant, user) = (tenant.as_str().to_owned(), user.clone());
        self.write(move |conn| Ok(insert_user_in(conn, &tenant, &user)? == 1))
            .await
    }

    async fn delete_user(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        let (tenant, user_id) = (tenant.as_str().to_owned(), user_id.to_owned());
        self.write(move |conn| {
            let done = exec(
                conn,
                "DELETE FROM users WHERE tenant_id = ? AND id = ?",
                [tenant, user_id],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn credentials(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<Credential>, StoreError> {
        let sql = select(
            CREDENTIAL_COLUMNS,
            "FROM credentials WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, id",
        );
        convert(self.read(|conn| all(conn, &sql, [tenant.as_str(), user_id], rows::credential))?)
    }

    async fn credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Credential, StoreError> {
        let sql = select(
            CREDENTIAL_COLUMNS,
            "FROM credentials WHERE tenant_id = ? AND id = ?",
        );
        self.read(|conn| {
            one(
                conn,
                &sql,
                params![tenant.as_str(), credential_id],
                rows::credential,
            )
        })?
        .ok_or(StoreError::NotFound)?
        .try_into()
    }

    async fn insert_registration(
        &self,
        tenant: &TenantId,
        registration: &NewRegistration,
    ) -> Result<(), StoreError> {
        let (tenant, registration) = (tenant.as_str().to_owned(), registration.clone());
        // The unit runs inside the writer's transaction, which holds the write lock: the user
        // check, the count and the inserts cannot interleave with another writer's.
        self.write(move |conn| register_in(conn, &tenant, &registration))
            .await
    }

    async fn insert_registrations(
        &self,
        tenant: &TenantId,
        registrations: &[NewRegistration],
    ) -> Result<(), StoreError> {
        let (tenant, registrations) = (tenant.as_str().to_owned(), registrations.to_vec());
        self.write(move |conn| {
            registrations
                .iter()
                .try_for_each(|registration| register_in(conn, &tenant, registration))
        })
        .await
    }

    async fn record_credential_use(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        update: &CredentialUse,
    ) -> Result<(), StoreError> {
        let (tenant, credential_id, update) = (
            tenant.as_str().to_owned(),
            credential_id.to_vec(),
            update.clone(),
        );
        self.write(move |conn| {
            let owner = compare_and_set_use(conn, &tenant, &credential_id, &update)?
                .ok_or(StoreError::Conflict("counter_changed"))?;
            if update.reset_failures {
                reset_failures_in(conn, &tenant, &owner)?;
            }
            Ok(())
        })
        .await
    }

    async fn rename_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        name: Option<&str>,
    ) -> Result<Credential, StoreError> {
        let (tenant, credential_id, name) = (
            tenant.as_str().to_owned(),
            credential_id.to_vec(),
            name.map(str::to_owned),
        );
        self.write(move |conn| {
            let sql = format!(
                "UPDATE credentials SET friendly_name = ? WHERE tenant_id = ? AND id = ? \
                 RETURNING {CREDENTIAL_COLUMNS}"
            );
            one(
                conn,
                &sql,
                params![name, tenant, credential_id],
                rows::credential,
            )?
            .ok_or(StoreError::NotFound)?
            .try_into()
        })
        .await
    }

    async fn delete_own_credential(
        &self,
        tenant: &TenantId,
        user_id: &str,
        credential_id: &[u8],
        keep_one: bool,
    ) -> Result<(), StoreError> {
        let (tenant, user_id, credential_id) = (
            tenant.as_str().to_owned(),
            user_id.to_owned(),
            credential_id.to_vec(),
        );
        // The writer's transaction holds the write lock from the count to the delete.
        self.write(move |conn| {
            let (held, owned): (i64, i64) = one(
                conn,
                "SELECT COUNT(*), COALESCE(SUM(id = ?), 0) FROM credentials \
                 WHERE tenant_id = ? AND user_id = ?",
                params![credential_id, tenant, user_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?
            .unwrap_or((0, 0));
            if owned == 0 {
                return Err(StoreError::NotFound);
            }
            if keep_one && held <= 1 {
                return Err(StoreError::Conflict("last_credential"));
            }
            exec(
                conn,
                "DELETE FROM credentials WHERE tenant_id = ? AND id = ? AND user_id = ?",
                params![tenant, credential_id, user_id],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn delete_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<(), StoreError> {
        let (tenant, credential_id) = (tenant.as_str().to_owned(), credential_id.to_vec());
        self.write(move |conn| {
            let done = exec(
                conn,
                "DELETE FROM credentials WHERE tenant_id = ? AND id = ?",
                params![tenant, credential_id],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        user_id: &str,
        at: i64,
    ) -> Result<u32, StoreError> {
        let (tenant, user_id) = (tenant.as_str().to_owned(), user_id.to_owned());
        let count: i64 = self
            .write(move |conn| {
                one(
                    conn,
                    "UPDATE users SET failed_attempts = failed_attempts + 1, \
                     last_failed_at = ? WHERE tenant_id = ? AND id = ? \
                     RETURNING failed_attempts",
                    params![at, tenant, user_id],
                    |row| row.get(0),
                )?
                .ok_or(StoreError::NotFound)
            })
            .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn insert_session(&self, tenant: &TenantId, session: &Session) -> Result<(), StoreError> {
        let (tenant, session) = (tenant.as_str().to_owned(), session.clone());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO ceremony_sessions (id, tenant_id, kind, state, expires_at) \
                 VALUES (?, ?, ?, ?, ?)",
                params![
                    session.id.as_slice(),
                    tenant,
                    session.kind.as_str(),
                    session.state,
                    session.expires_at
                ],
            )
            .map_err(write_error("session_exists"))?;
            Ok(())
        })
        .await
    }

    async fn take_session(&self, tenant: &TenantId, id: &[u8; 32]) -> Result<Session, StoreError> {
        let (tenant, id) = (tenant.as_str().to_owned(), *id);
        // One statement: whichever finish deletes the row first gets it.
        let (id, kind, state, expires_at): (Vec<u8>, String, String, i64) = self
            .write(move |conn| {
                one(
                    conn,
                    "DELETE FROM ceremony_sessions WHERE tenant_id = ? AND id = ? \
                     RETURNING id, kind, state, expires_at",
                    params![tenant, id.as_slice()],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )?
                .ok_or(StoreError::NotFound)
            })
            .await?;
        Ok(Session {
            id: hash32(id)?,
            kind: session_kind(&kind)?,
            state,
            expires_at,
        })
    }

    async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let mut swept = 0;
            for sql in [
                "DELETE FROM ceremony_sessions WHERE expires_at < ?",
                "DELETE FROM registration_tokens WHERE expires_at < ?",
                "DELETE FROM redeemed_tokens WHERE expires_at < ?",
            ] {
                swept += exec(conn, sql, [now])
                    .map_err(sqlite_error)?
                    .try_into()
                    .unwrap_or(u64::MAX);
            }
            Ok(swept)
        })
        .await
    }

    async fn insert_registration_token(
        &self,
        tenant: &TenantId,
        token: &RegistrationToken,
    ) -> Result<(), StoreError> {
        let (tenant, token) = (tenant.as_str().to_owned(), token.clone());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO registration_tokens \
                 (id, tenant_id, user_id, user_name, display_name, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    token.id.as_slice(),
                    tenant,
                    token.user_id,
                    token.user_name,
                    token.display_name,
                    token.expires_at
                ],
            )
            .map_err(write_error("registration_token_exists"))?;
            Ok(())
        })
        .await
    }

    async fn take_registration_token(
        &self,
        tenant: &TenantId,
        id: &[u8; 32],
    ) -> Result<RegistrationToken, StoreError> {
        let (tenant, id) = (tenant.as_str().to_owned(), *id);
        type TokenRow = (Vec<u8>, String, String, String, i64);
        let (id, user_id, user_name, display_name, expires_at): TokenRow = self
            .write(move |conn| {
                one(
                    conn,
                    "DELETE FROM registration_tokens WHERE tenant_id = ? AND id = ? \
                     RETURNING id, user_id, user_name, display_name, expires_at",
                    params![tenant, id.as_slice()],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    },
                )?
                .ok_or(StoreError::NotFound)
            })
            .await?;
        Ok(RegistrationToken {
            id: hash32(id)?,
            user_id,
            user_name,
            display_name,
            expires_at,
        })
    }

    async fn signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let sql = select(
            SIGNING_KEY_COLUMNS,
            "FROM signing_keys WHERE tenant_id = ? ORDER BY created_at DESC, kid",
        );
        let rows = self.read(|conn| all(conn, &sql, [tenant.as_str()], rows::signing_key))?;
        Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
    }

    async fn insert_signing_key(
        &self,
        tenant: &TenantId,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        let (tenant, key) = (tenant.as_str().to_owned(), key.clone());
        self.write(move |conn| {
            let sql = format!(
                "INSERT INTO signing_keys (tenant_id, {SIGNING_KEY_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)"
            );
            exec(
                conn,
                &sql,
                params![
                    tenant,
                    key.kid,
                    key.algorithm,
                    key.public_jwk,
                    key.sealed_private_key,
                    key.created_at,
                    key.retired_at
                ],
            )
            .map_err(write_error("signing_key_exists"))?;
            Ok(())
        })
        .await
    }

    async fn redeem_token(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let (tenant, jti) = (tenant.as_str().to_owned(), jti.to_owned());
        self.write(move |conn| {
            let done = exec(
                conn,
                "INSERT INTO redeemed_tokens (tenant_id, jti, expires_at) VALUES (?, ?, ?) \
                 ON CONFLICT (tenant_id, jti) DO NOTHING",
                params![tenant, jti, expires_at],
            )
            .map_err(sqlite_error)?;
            Ok(done == 1)
        })
        .await
    }

    async fn insert_audit_event(
        &self,
        tenant: &TenantId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let details = json(&event.details)?;
        let (tenant, event) = (tenant.as_str().to_owned(), event.clone());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO audit_events \
                 (tenant_id, at, actor, action, subject, outcome, details, ip, request_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    tenant,
                    event.at,
                    event.actor,
                    event.action,
                    event.subject,
                    event.outcome,
                    details,
                    event.ip,
                    event.request_id
                ],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn audit_events(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        convert(self.read(|conn| {
            all(
                conn,
                "SELECT id, at, actor, action, subject, outcome, details, ip, request_id \
                 FROM audit_events WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                params![
                    tenant.as_str(),
                    before.unwrap_or(i64::MAX),
                    i64::from(limit)
                ],
                rows::audit,
            )
        })?)
    }

    async fn tenant_policy(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT policy FROM tenants WHERE id = ?",
                [tenant.as_str()],
                |row| row.get(0),
            )
        })?
        .ok_or(StoreError::NotFound)
    }

    async fn set_tenant_policy(
        &self,
        tenant: &TenantId,
        policy: Option<&str>,
    ) -> Result<(), StoreError> {
        let (tenant, policy) = (tenant.as_str().to_owned(), policy.map(str::to_owned));
        self.write(move |conn| {
            let done = exec(
                conn,
                "UPDATE tenants SET policy = ? WHERE id = ?",
                params![policy, tenant],
            )
            .map_err(sqlite_error)?;
            found(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn replace_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hashes: &[[u8; 32]],
        now: i64,
    ) -> Result<(), StoreError> {
        let (tenant, user_id, hashes) = (
            tenant.as_str().to_owned(),
            user_id.to_owned(),
            hashes.to_vec(),
        );
        self.write(move |conn| {
            exec(
                conn,
                "DELETE FROM backup_codes WHERE tenant_id = ? AND user_id = ?",
                [&tenant, &user_id],
            )
            .map_err(sqlite_error)?;
            for hash in &hashes {
                exec(
                    conn,
                    "INSERT INTO backup_codes (tenant_id, user_id, code_hash, created_at) \
                     VALUES (?, ?, ?, ?)",
                    params![tenant, user_id, hash.as_slice(), now],
                )
                .map_err(write_error("backup_code_exists"))?;
            }
            Ok(())
        })
        .await
    }

    async fn unused_backup_codes(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows: Vec<Vec<u8>> = self.read(|conn| {
            all(
                conn,
                "SELECT code_hash FROM backup_codes \
                 WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL",
                [tenant.as_str(), user_id],
                |row| row.get(0),
            )
        })?;
        rows.into_iter()
            .map(|hash| <[u8; 32]>::try_from(hash).map_err(|_| corrupt("backup_codes.code_hash")))
            .collect()
    }

    async fn use_backup_code(
        &self,
        tenant: &TenantId,
        user_id: &str,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError> {
        let (tenant, user_id, hash) = (tenant.as_str().to_owned(), user_id.to_owned(), *hash);
        self.write(move |conn| {
            let done = exec(
                conn,
                "UPDATE backup_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? \
                 AND code_hash = ? AND used_at IS NULL",
                params![now, tenant, user_id, hash.as_slice()],
            )
            .map_err(sqlite_error)?;
            if done != 1 {
                return Ok(false);
            }
            reset_failures_in(conn, &tenant, &user_id)?;
            Ok(true)
        })
        .await
    }

    async fn reset_failures(&self, tenant: &TenantId, user_id: &str) -> Result<(), StoreError> {
        let (tenant, user_id) = (tenant.as_str().to_owned(), user_id.to_owned());
        self.write(move |conn| {
            found(
                reset_failures_in(conn, &tenant, &user_id)?
                    .try_into()
                    .unwrap_or(u64::MAX),
            )
        })
        .await
    }

    async fn retire_signing_keys(&self, tenant: &TenantId, now: i64) -> Result<u64, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.write(move |conn| {
            let done = exec(
                conn,
                "UPDATE signing_keys SET retired_at = ? WHERE tenant_id = ? AND retired_at IS NULL",
                params![now, tenant],
            )
            .map_err(sqlite_error)?;
            Ok(done.try_into().unwrap_or(u64::MAX))
        })
        .await
    }

    async fn server_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT value FROM server_meta WHERE name = ?",
                [name],
                |row| row.get(0),
            )
        })
    }

    async fn server_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO server_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                params![name, value],
            )
            .map_err(sqlite_error)?;
            one(
                conn,
                "SELECT value FROM server_meta WHERE name = ?",
                [&name],
                |row| row.get(0),
            )?
            .ok_or(StoreError::NotFound)
        })
        .await
    }
}

/// `SELECT {columns} {rest}`.
fn select(columns: &str, rest: &str) -> String {
    format!("SELECT {columns} {rest}")
}

fn user_from(row: Option<super::rows::UserRow>) -> Result<User, StoreError> {
    row.map(User::from).ok_or(StoreError::NotFound)
}

fn insert_user_in(conn: &Connection, tenant: &str, user: &User) -> Result<usize, StoreError> {
    exec(
        conn,
        "INSERT INTO users (tenant_id, id, user_handle, name, display_name, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING",
        params![
            tenant,
            user.id,
            user.user_handle,
            user.name,
            user.display_name,
            user.created_at
        ],
    )
    .map_err(write_error("user_name_taken"))
}

fn reset_failures_in(conn: &Connection, tenant: &str, user_id: &str) -> Result<usize, StoreError> {
    exec(
        conn,
        "UPDATE users SET failed_attempts = 0 WHERE tenant_id = ? AND id = ?",
        [tenant, user_id],
    )
    .map_err(sqlite_error)
}

/// The writes of one registration, inside the writer's transaction (see
/// [`Store::insert_registration`]).
fn register_in(
    conn: &Connection,
    tenant: &str,
    registration: &NewRegistration,
) -> Result<(), StoreError> {
    let user = &registration.user;
    let c = &registration.credential;
    insert_user_in(conn, tenant, user)?;
    let handle: Vec<u8> = one(
        conn,
        "SELECT user_handle FROM users WHERE tenant_id = ? AND id = ?",
        [tenant, &user.id],
        |row| row.get(0),
    )?
    .ok_or(StoreError::NotFound)?;
    if handle != user.user_handle {
        return Err(StoreError::Conflict("user_changed"));
    }
    if let Some(max) = registration.max_credentials {
        // The transaction holds the write lock: no other registration counts meanwhile.
        let held: i64 = one(
            conn,
            "SELECT COUNT(*) FROM credentials WHERE tenant_id = ? AND user_id = ?",
            [tenant, &user.id],
            |row| row.get(0),
        )?
        .unwrap_or(0);
        if held >= i64::from(max) {
            return Err(StoreError::Conflict("credential_limit"));
        }
    }
    let sql = format!(
        "INSERT INTO credentials (tenant_id, {CREDENTIAL_COLUMNS}) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    exec(
        conn,
        &sql,
        params![
            tenant,
            c.id,
            user.id,
            c.public_key,
            c.algorithm,
            i64::from(c.sign_count),
            c.uv_initialized,
            c.backup_eligible,
            c.backup_state,
            json(&c.transports)?,
            c.aaguid,
            c.attestation_format,
            c.attestation_type,
            c.attestation_object,
            c.friendly_name,
            c.created_at,
            c.last_used_at
        ],
    )
    .map_err(write_error("credential_exists"))?;
    reset_failures_in(conn, tenant, &user.id)?;
    Ok(())
}

/// A sign-in's compare-and-set of the credential's counter and flags: answers the owner, or
/// `None` when the stored counter is no longer `update.expected_sign_count`.
fn compare_and_set_use(
    conn: &Connection,
    tenant: &str,
    credential_id: &[u8],
    update: &CredentialUse,
) -> Result<Option<String>, StoreError> {
    one(
        conn,
        "UPDATE credentials SET sign_count = ?, backup_eligible = ?, backup_state = ?, \
         last_used_at = ? WHERE tenant_id = ? AND id = ? AND sign_count = ? RETURNING user_id",
        params![
            i64::from(update.sign_count),
            update.backup_eligible,
            update.backup_state,
            update.at,
            tenant,
            credential_id,
            i64::from(update.expected_sign_count)
        ],
        |row| row.get(0),
    )
}

#[cfg(test)]
mod tests;
