//! Tenants and what belongs to a tenant as a whole: API keys, the Cedar policy, token signing
//! keys; and the installation's own values (`server_meta`). Each public function is the body of
//! the [`Store`](crate::store::Store) method of the same name.

use sqlx::postgres::PgPool;

use crate::store::rows::{
    backend, found, json, write_error, ApiKeyRow, SigningKeyRow, TenantRow, API_KEY_COLUMNS,
    SIGNING_KEY_COLUMNS, TENANT_COLUMNS,
};
use crate::store::{ApiKey, NewApiKey, SigningKeyRecord, StoreError, Tenant, TenantUpdate};
use crate::tenant::TenantId;

// Text sort keys use `COLLATE "C"` (byte order, as SQLite's BINARY) so that listings come out in
// the same order whatever collation the database was created with.

/// How many tenants exist.
pub(super) async fn count_tenants(pool: &PgPool) -> Result<u64, StoreError> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenants")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Creates a tenant; `Conflict("tenant_exists")` if the ID is taken.
pub(super) async fn insert_tenant(pool: &PgPool, tenant: &Tenant) -> Result<(), StoreError> {
    insert_tenant_with(pool, tenant, false).await.map(drop)
}

/// Creates a tenant unless one with its ID exists; true if this call created it.
pub(super) async fn insert_tenant_if_absent(
    pool: &PgPool,
    tenant: &Tenant,
) -> Result<bool, StoreError> {
    Ok(insert_tenant_with(pool, tenant, true).await? == 1)
}

/// One tenant.
pub(super) async fn tenant(pool: &PgPool, tenant: &TenantId) -> Result<Tenant, StoreError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    sqlx::query_as::<_, TenantRow>(&sql)
        .bind(tenant.as_str())
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// All tenants, by ID.
pub(super) async fn tenants(pool: &PgPool) -> Result<Vec<Tenant>, StoreError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id COLLATE \"C\"");
    sqlx::query_as::<_, TenantRow>(&sql)
        .fetch_all(pool)
        .await
        .map_err(backend)?
        .into_iter()
        .map(Tenant::try_from)
        .collect()
}

/// Changes a tenant and returns it as now stored.
pub(super) async fn update_tenant(
    pool: &PgPool,
    tenant: &TenantId,
    update: &TenantUpdate,
) -> Result<Tenant, StoreError> {
    let origins = update.origins.as_ref().map(json).transpose()?;
    let sql = format!(
        "UPDATE tenants SET name = COALESCE($1, name), rp_id = COALESCE($2, rp_id), \
         rp_name = COALESCE($3, rp_name), origins = COALESCE($4, origins) \
         WHERE id = $5 RETURNING {TENANT_COLUMNS}"
    );
    sqlx::query_as::<_, TenantRow>(&sql)
        .bind(&update.name)
        .bind(&update.rp_id)
        .bind(&update.rp_name)
        .bind(origins)
        .bind(tenant.as_str())
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// Replaces a tenant's settings object and returns the tenant as now stored.
pub(super) async fn update_tenant_settings(
    pool: &PgPool,
    tenant: &TenantId,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> Result<Tenant, StoreError> {
    let sql = format!("UPDATE tenants SET settings = $1 WHERE id = $2 RETURNING {TENANT_COLUMNS}");
    sqlx::query_as::<_, TenantRow>(&sql)
        .bind(json(settings)?)
        .bind(tenant.as_str())
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// Stores a new key for `tenant`; `Conflict("api_key_exists")` if the prefix is taken.
pub(super) async fn insert_api_key(
    pool: &PgPool,
    tenant: &TenantId,
    key: &NewApiKey,
) -> Result<(), StoreError> {
    insert_api_key_with(pool, tenant, key, false)
        .await
        .map(drop)
}

/// Stores a key unless its prefix is taken; true if this call stored it.
pub(super) async fn insert_api_key_if_absent(
    pool: &PgPool,
    tenant: &TenantId,
    key: &NewApiKey,
) -> Result<bool, StoreError> {
    Ok(insert_api_key_with(pool, tenant, key, true).await? == 1)
}

/// A key by its public prefix, whichever tenant it belongs to.
pub(super) async fn api_key_by_prefix(pool: &PgPool, prefix: &str) -> Result<ApiKey, StoreError> {
    // Not tenant-scoped on purpose: this lookup is how a request's tenant is found.
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE prefix = $1");
    sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(prefix)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// The tenant's keys, newest first.
pub(super) async fn api_keys(pool: &PgPool, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 \
         ORDER BY created_at DESC, prefix COLLATE \"C\""
    );
    sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .map_err(backend)?
        .into_iter()
        .map(ApiKey::try_from)
        .collect()
}

/// Revokes the tenant's key with this prefix at `now`, keeping an earlier revocation time.
pub(super) async fn revoke_api_key(
    pool: &PgPool,
    tenant: &TenantId,
    prefix: &str,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
         WHERE tenant_id = $2 AND prefix = $3",
    )
    .bind(now)
    .bind(tenant.as_str())
    .bind(prefix)
    .execute(pool)
    .await
    .map_err(backend)?;
    found(done.rows_affected())
}

/// The tenant's Cedar policy text, if any.
pub(super) async fn tenant_policy(
    pool: &PgPool,
    tenant: &TenantId,
) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<String>,)> = sqlx::query_as("SELECT policy FROM tenants WHERE id = $1")
        .bind(tenant.as_str())
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(|(policy,)| policy).ok_or(StoreError::NotFound)
}

/// Replaces (or with `None` removes) the tenant's Cedar policy text.
pub(super) async fn set_tenant_policy(
    pool: &PgPool,
    tenant: &TenantId,
    policy: Option<&str>,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE tenants SET policy = $1 WHERE id = $2")
        .bind(policy)
        .bind(tenant.as_str())
        .execute(pool)
        .await
        .map_err(backend)?;
    found(done.rows_affected())
}

/// The tenant's signing keys, newest first.
pub(super) async fn signing_keys(
    pool: &PgPool,
    tenant: &TenantId,
) -> Result<Vec<SigningKeyRecord>, StoreError> {
    let sql = format!(
        "SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys WHERE tenant_id = $1 \
         ORDER BY created_at DESC, kid COLLATE \"C\""
    );
    Ok(sqlx::query_as::<_, SigningKeyRow>(&sql)
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .map_err(backend)?
        .into_iter()
        .map(SigningKeyRecord::from)
        .collect())
}

/// Stores a signing key.
pub(super) async fn insert_signing_key(
    pool: &PgPool,
    tenant: &TenantId,
    key: &SigningKeyRecord,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO signing_keys (tenant_id, {SIGNING_KEY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.public_jwk)
        .bind(&key.sealed_private_key)
        .bind(key.created_at)
        .bind(key.retired_at)
        .execute(pool)
        .await
        .map_err(|e| write_error(e, "signing_key_exists"))?;
    Ok(())
}

/// Retires the tenant's signing keys still in use at `now`.
pub(super) async fn retire_signing_keys(
    pool: &PgPool,
    tenant: &TenantId,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE signing_keys SET retired_at = $1 WHERE tenant_id = $2 AND retired_at IS NULL",
    )
    .bind(now)
    .bind(tenant.as_str())
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected())
}

/// The installation's value named `name`, if it has one.
pub(super) async fn server_meta(pool: &PgPool, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT value FROM server_meta WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    Ok(row.map(|(value,)| value))
}

/// The installation's value named `name`, after storing `value` under that name if there was none.
pub(super) async fn server_meta_or_insert(
    pool: &PgPool,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, StoreError> {
    sqlx::query(
        "INSERT INTO server_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(value)
    .execute(pool)
    .await
    .map_err(backend)?;
    let (stored,): (Vec<u8>,) = sqlx::query_as("SELECT value FROM server_meta WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(stored)
}

/// Inserts a tenant; with `or_ignore`, a tenant with the same ID is left as it is (0 rows).
async fn insert_tenant_with(
    pool: &PgPool,
    tenant: &Tenant,
    or_ignore: bool,
) -> Result<u64, StoreError> {
    let conflict = if or_ignore {
        " ON CONFLICT (id) DO NOTHING"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7){conflict}"
    );
    let done = sqlx::query(&sql)
        .bind(tenant.id.as_str())
        .bind(&tenant.name)
        .bind(&tenant.rp_id)
        .bind(&tenant.rp_name)
        .bind(json(&tenant.origins)?)
        .bind(json(&tenant.settings)?)
        .bind(tenant.created_at)
        .execute(pool)
        .await
        .map_err(|e| write_error(e, "tenant_exists"))?;
    Ok(done.rows_affected())
}

/// Inserts an API key; with `or_ignore`, a key with the same prefix is left as it is (0 rows).
async fn insert_api_key_with(
    pool: &PgPool,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7){conflict}"
    );
    let done = sqlx::query(&sql)
        .bind(&key.id)
        .bind(tenant.as_str())
        .bind(key.kind.as_str())
        .bind(&key.prefix)
        .bind(key.key_hash.as_slice())
        .bind(&key.label)
        .bind(key.created_at)
        .execute(pool)
        .await
        .map_err(|e| write_error(e, "api_key_exists"))?;
    Ok(done.rows_affected())
}
