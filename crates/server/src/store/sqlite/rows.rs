//! Reading the shared row types from rusqlite rows, by column position: each function reads the
//! columns in the order of the matching `*_COLUMNS` list in [`crate::store::rows`].

use rusqlite::Row;

use crate::store::rows::{ApiKeyRow, AuditRow, CredentialRow, SigningKeyRow, TenantRow, UserRow};

type Read<T> = Result<T, rusqlite::Error>;

pub(super) fn tenant(row: &Row<'_>) -> Read<TenantRow> {
    Ok(TenantRow {
        id: row.get(0)?,
        name: row.get(1)?,
        rp_id: row.get(2)?,
        rp_name: row.get(3)?,
        origins: row.get(4)?,
        settings: row.get(5)?,
        created_at: row.get(6)?,
    })
}

pub(super) fn api_key(row: &Row<'_>) -> Read<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        kind: row.get(2)?,
        prefix: row.get(3)?,
        key_hash: row.get(4)?,
        label: row.get(5)?,
        created_at: row.get(6)?,
        revoked_at: row.get(7)?,
    })
}

pub(super) fn user(row: &Row<'_>) -> Read<UserRow> {
    Ok(UserRow {
        id: row.get(0)?,
        user_handle: row.get(1)?,
        name: row.get(2)?,
        display_name: row.get(3)?,
        failed_attempts: row.get(4)?,
        last_failed_at: row.get(5)?,
        created_at: row.get(6)?,
    })
}

pub(super) fn credential(row: &Row<'_>) -> Read<CredentialRow> {
    Ok(CredentialRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        public_key: row.get(2)?,
        algorithm: row.get(3)?,
        sign_count: row.get(4)?,
        uv_initialized: row.get(5)?,
        backup_eligible: row.get(6)?,
        backup_state: row.get(7)?,
        transports: row.get(8)?,
        aaguid: row.get(9)?,
        attestation_format: row.get(10)?,
        attestation_type: row.get(11)?,
        attestation_object: row.get(12)?,
        friendly_name: row.get(13)?,
        created_at: row.get(14)?,
        last_used_at: row.get(15)?,
        prf_enabled: row.get(16)?,
    })
}

pub(super) fn signing_key(row: &Row<'_>) -> Read<SigningKeyRow> {
    Ok(SigningKeyRow {
        kid: row.get(0)?,
        algorithm: row.get(1)?,
        public_jwk: row.get(2)?,
        sealed_private_key: row.get(3)?,
        created_at: row.get(4)?,
        retired_at: row.get(5)?,
    })
}

pub(super) fn audit(row: &Row<'_>) -> Read<AuditRow> {
    Ok(AuditRow {
        id: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        subject: row.get(4)?,
        outcome: row.get(5)?,
        details: row.get(6)?,
        ip: row.get(7)?,
        request_id: row.get(8)?,
    })
}
