//! The SQLite store: one database file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::FromRow;

use super::{ApiKey, NewApiKey, OpenError, Store, StoreError, Tenant, TenantUpdate};
use crate::api_keys::ApiKeyKind;
use crate::tenant::TenantId;

/// The SQLite implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(true)
            // WAL lets readers run beside the one writer; synchronous=FULL makes every
            // acknowledged commit survive a power loss, which NORMAL does not in WAL mode.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Several processes (server and CLI) may write at once; wait instead of failing.
            .busy_timeout(Duration::from_secs(5));
        let file = options.get_filename();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(OpenError::Migrate)?;
        Ok(Self { pool })
    }
}

#[derive(FromRow)]
struct TenantRow {
    id: String,
    name: String,
    rp_id: String,
    rp_name: String,
    origins: String,
    settings: String,
    created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;

    fn try_from(row: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: TenantId::parse(&row.id).map_err(corrupt)?,
            name: row.name,
            rp_id: row.rp_id,
            rp_name: row.rp_name,
            origins: serde_json::from_str(&row.origins).map_err(corrupt)?,
            settings: serde_json::from_str(&row.settings).map_err(corrupt)?,
            created_at: row.created_at,
        })
    }
}

#[derive(FromRow)]
struct ApiKeyRow {
    id: String,
    tenant_id: String,
    kind: String,
    prefix: String,
    key_hash: Vec<u8>,
    label: Option<String>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            id: row.id,
            tenant_id: TenantId::parse(&row.tenant_id).map_err(corrupt)?,
            kind: ApiKeyKind::from_stored(&row.kind).ok_or_else(|| corrupt("api_keys.kind"))?,
            prefix: row.prefix,
            key_hash: row.key_hash,
            label: row.label,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A stored value this code cannot read: reported as a backend failure, since no request can fix it.
fn corrupt<E: Into<Box<dyn std::error::Error + Send + Sync>>>(e: E) -> StoreError {
    StoreError::Backend(sqlx::Error::Decode(e.into()))
}

/// Maps a write's error: a UNIQUE violation is `conflict`, a foreign-key violation means the
/// parent (the tenant) does not exist.
fn write_error(e: sqlx::Error, conflict: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(conflict);
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound;
        }
    }
    StoreError::Backend(e)
}

fn json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(sqlx::Error::Encode(e.into())))
}

const TENANT_COLUMNS: &str = "id, name, rp_id, rp_name, origins, settings, created_at";
const API_KEY_COLUMNS: &str =
    "id, tenant_id, kind, prefix, key_hash, label, created_at, revoked_at";

impl SqliteStore {
    async fn insert_tenant_with(
        &self,
        tenant: &Tenant,
        or_ignore: bool,
    ) -> Result<u64, StoreError> {
        let conflict = if or_ignore {
            " ON CONFLICT (id) DO NOTHING"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?){conflict}"
        );
        let done = sqlx::query(&sql)
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(&tenant.rp_id)
            .bind(&tenant.rp_name)
            .bind(json(&tenant.origins)?)
            .bind(json(&tenant.settings)?)
            .bind(tenant.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(e, "tenant_exists"))?;
        Ok(done.rows_affected())
    }

    async fn insert_api_key_with(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
        or_ignore: bool,
    ) -> Result<u64, StoreError> {
        let conflict = if or_ignore {
            " ON CONFLICT (prefix) DO NOTHING"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO api_keys (id, tenant_id, kind, prefix, key_hash, label, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?){conflict}"
        );
        let done = sqlx::query(&sql)
            .bind(&key.id)
            .bind(tenant.as_str())
            .bind(key.kind.as_str())
            .bind(&key.prefix)
            .bind(key.key_hash.as_slice())
            .bind(&key.label)
            .bind(key.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(e, "api_key_exists"))?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::Backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn count_tenants(&self) -> Result<u64, StoreError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::Backend)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.insert_tenant_with(tenant, false).await.map(drop)
    }

    async fn insert_tenant_if_absent(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        Ok(self.insert_tenant_with(tenant, true).await? == 1)
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Tenant, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?");
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id");
        sqlx::query_as::<_, TenantRow>(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .into_iter()
            .map(Tenant::try_from)
            .collect()
    }

    async fn update_tenant(
        &self,
        tenant: &TenantId,
        update: &TenantUpdate,
    ) -> Result<Tenant, StoreError> {
        let origins = update.origins.as_ref().map(json).transpose()?;
        let sql = format!(
            "UPDATE tenants SET name = COALESCE(?, name), rp_id = COALESCE(?, rp_id), \
             rp_name = COALESCE(?, rp_name), origins = COALESCE(?, origins) \
             WHERE id = ? RETURNING {TENANT_COLUMNS}"
        );
        sqlx::query_as::<_, TenantRow>(&sql)
            .bind(&update.name)
            .bind(&update.rp_id)
            .bind(&update.rp_name)
            .bind(origins)
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn insert_api_key(&self, tenant: &TenantId, key: &NewApiKey) -> Result<(), StoreError> {
        self.insert_api_key_with(tenant, key, false).await.map(drop)
    }

    async fn insert_api_key_if_absent(
        &self,
        tenant: &TenantId,
        key: &NewApiKey,
    ) -> Result<bool, StoreError> {
        Ok(self.insert_api_key_with(tenant, key, true).await? == 1)
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<ApiKey, StoreError> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE prefix = ?");
        sqlx::query_as::<_, ApiKeyRow>(&sql)
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? \
             ORDER BY created_at DESC, prefix"
        );
        sqlx::query_as::<_, ApiKeyRow>(&sql)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::Backend)?
            .into_iter()
            .map(ApiKey::try_from)
            .collect()
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        prefix: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) \
             WHERE tenant_id = ? AND prefix = ?",
        )
        .bind(now)
        .bind(tenant.as_str())
        .bind(prefix)
        .execute(&self.pool)
        .await
        .map_err(StoreError::Backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
