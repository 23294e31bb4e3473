//! The SQLite store's units of work that more than one store method runs, or that are long
//! enough to read on their own: each takes the connection it runs on (the writer's, inside its
//! transaction) and does its statements there.

use rusqlite::{params, Connection, Params};

use super::rows;
use super::sql::{exec, one, sqlite_error, write_error};
use crate::store::rows::{json, UserRow, CREDENTIAL_COLUMNS};
use crate::store::{
    AuditEvent, CredentialUse, NewApiKey, NewRegistration, StoreError, Tenant, User,
};

pub(super) fn insert_tenant_in(
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

pub(super) fn insert_api_key_in(
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
pub(super) fn tenant_returned(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Tenant, StoreError> {
    one(conn, sql, params, rows::tenant)?
        .ok_or(StoreError::NotFound)?
        .try_into()
}

/// `SELECT {columns} {rest}`.
pub(super) fn select(columns: &str, rest: &str) -> String {
    format!("SELECT {columns} {rest}")
}

pub(super) fn user_from(row: Option<UserRow>) -> Result<User, StoreError> {
    row.map(User::from).ok_or(StoreError::NotFound)
}

pub(super) fn insert_user_in(
    conn: &Connection,
    tenant: &str,
    user: &User,
) -> Result<usize, StoreError> {
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

pub(super) fn reset_failures_in(
    conn: &Connection,
    tenant: &str,
    user_id: &str,
) -> Result<usize, StoreError> {
    exec(
        conn,
        "UPDATE users SET failed_attempts = 0 WHERE tenant_id = ? AND id = ?",
        [tenant, user_id],
    )
    .map_err(sqlite_error)
}

/// The writes of one registration, inside the writer's transaction (see
/// [`Store::insert_registration`]).
pub(super) fn register_in(
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
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
            c.last_used_at,
            c.prf_enabled
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

/// Deletes credential `credential_id` of `user_id`, keeping the user's last one with
/// `keep_one` (see [`crate::store::Store::delete_own_credential`]); the count and the delete
/// run in the writer's transaction, which holds the write lock between them.
pub(super) fn delete_own_credential_in(
    conn: &Connection,
    tenant: &str,
    user_id: &str,
    credential_id: &[u8],
    keep_one: bool,
) -> Result<(), StoreError> {
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
}

/// A registration token's columns: ID, user ID, user name, display name, expiry.
pub(super) type TokenRow = (Vec<u8>, String, String, String, i64);

/// Removes and answers a registration token (single use); `NotFound` if there is none.
pub(super) fn take_registration_token_in(
    conn: &Connection,
    tenant: &str,
    id: &[u8; 32],
) -> Result<TokenRow, StoreError> {
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
}

/// Replaces a user's backup codes with `hashes`.
pub(super) fn replace_backup_codes_in(
    conn: &Connection,
    tenant: &str,
    user_id: &str,
    hashes: &[[u8; 32]],
    now: i64,
) -> Result<(), StoreError> {
    exec(
        conn,
        "DELETE FROM backup_codes WHERE tenant_id = ? AND user_id = ?",
        [tenant, user_id],
    )
    .map_err(sqlite_error)?;
    for hash in hashes {
        exec(
            conn,
            "INSERT INTO backup_codes (tenant_id, user_id, code_hash, created_at) \
             VALUES (?, ?, ?, ?)",
            params![tenant, user_id, hash.as_slice(), now],
        )
        .map_err(write_error("backup_code_exists"))?;
    }
    Ok(())
}

/// A verified assertion's writes (see [`crate::store::Store::record_credential_use`]).
pub(super) fn record_use_in(
    conn: &Connection,
    tenant: &str,
    credential_id: &[u8],
    update: &CredentialUse,
) -> Result<(), StoreError> {
    let owner = compare_and_set_use(conn, tenant, credential_id, update)?
        .ok_or(StoreError::Conflict("counter_changed"))?;
    if update.reset_failures {
        reset_failures_in(conn, tenant, &owner)?;
    }
    Ok(())
}

/// Appends an audit event; `details` is its details' JSON text.
pub(super) fn insert_audit_event_in(
    conn: &Connection,
    tenant: &str,
    event: &AuditEvent,
    details: &str,
) -> Result<(), StoreError> {
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
    super::webhooks::insert_webhooks_in(conn, tenant, &event.webhooks)
}

/// Deletes the sessions, registration tokens and redeemed-token records that expired before
/// `now`; answers how many rows went.
pub(super) fn sweep_expired_in(conn: &Connection, now: i64) -> Result<u64, StoreError> {
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
}

/// The installation's value `name`, after storing `value` under it if there was none.
pub(super) fn server_meta_or_insert_in(
    conn: &Connection,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, StoreError> {
    exec(
        conn,
        "INSERT INTO server_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        params![name, value],
    )
    .map_err(sqlite_error)?;
    one(
        conn,
        "SELECT value FROM server_meta WHERE name = ?",
        [name],
        |row| row.get(0),
    )?
    .ok_or(StoreError::NotFound)
}

/// Retires the tenant's signing keys still in use at `now`.
pub(super) fn retire_signing_keys_in(
    conn: &Connection,
    tenant: &str,
    now: i64,
) -> Result<u64, StoreError> {
    let done = exec(
        conn,
        "UPDATE signing_keys SET retired_at = ? WHERE tenant_id = ? AND retired_at IS NULL",
        params![now, tenant],
    )
    .map_err(sqlite_error)?;
    Ok(done.try_into().unwrap_or(u64::MAX))
}

/// Gives a credential its friendly name (or none); answers the credential as it is now.
pub(super) fn rename_credential_in(
    conn: &Connection,
    tenant: &str,
    credential_id: &[u8],
    name: Option<&str>,
) -> Result<crate::store::Credential, StoreError> {
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
}
