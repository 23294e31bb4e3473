//! What both SQL stores share: row types (what a query returns, before it is checked into the
//! store's types; sqlx's `FromRow` derive works for either backend), the column lists, and the
//! mapping of driver errors to [`StoreError`].

use sqlx::FromRow;

use super::{
    ApiKey, AuditEvent, Credential, SessionKind, SigningKeyRecord, StoreError, Tenant, User,
};
use crate::api_keys::ApiKeyKind;
use crate::tenant::TenantId;

#[derive(FromRow)]
pub(super) struct TenantRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) rp_id: String,
    pub(super) rp_name: String,
    pub(super) origins: String,
    pub(super) settings: String,
    pub(super) created_at: i64,
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
pub(super) struct ApiKeyRow {
    pub(super) id: String,
    pub(super) tenant_id: String,
    pub(super) kind: String,
    pub(super) prefix: String,
    pub(super) key_hash: Vec<u8>,
    pub(super) label: Option<String>,
    pub(super) created_at: i64,
    pub(super) revoked_at: Option<i64>,
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

#[derive(FromRow)]
pub(super) struct UserRow {
    pub(super) id: String,
    pub(super) user_handle: Vec<u8>,
    pub(super) name: String,
    pub(super) display_name: String,
    pub(super) failed_attempts: i64,
    pub(super) last_failed_at: Option<i64>,
    pub(super) created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            user_handle: row.user_handle,
            name: row.name,
            display_name: row.display_name,
            failed_attempts: u32::try_from(row.failed_attempts).unwrap_or(u32::MAX),
            last_failed_at: row.last_failed_at,
            created_at: row.created_at,
        }
    }
}

#[derive(FromRow)]
pub(super) struct CredentialRow {
    pub(super) id: Vec<u8>,
    pub(super) user_id: String,
    pub(super) public_key: Vec<u8>,
    pub(super) algorithm: i64,
    pub(super) sign_count: i64,
    pub(super) uv_initialized: bool,
    pub(super) backup_eligible: bool,
    pub(super) backup_state: bool,
    pub(super) transports: String,
    pub(super) aaguid: Vec<u8>,
    pub(super) attestation_format: String,
    pub(super) attestation_type: String,
    pub(super) attestation_object: Vec<u8>,
    pub(super) friendly_name: Option<String>,
    pub(super) created_at: i64,
    pub(super) last_used_at: Option<i64>,
    pub(super) prf_enabled: bool,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = StoreError;

    fn try_from(row: CredentialRow) -> Result<Self, StoreError> {
        Ok(Credential {
            id: row.id,
            user_id: row.user_id,
            public_key: row.public_key,
            algorithm: row.algorithm,
            sign_count: u32::try_from(row.sign_count).map_err(corrupt)?,
            uv_initialized: row.uv_initialized,
            backup_eligible: row.backup_eligible,
            backup_state: row.backup_state,
            transports: serde_json::from_str(&row.transports).map_err(corrupt)?,
            aaguid: row.aaguid,
            attestation_format: row.attestation_format,
            attestation_type: row.attestation_type,
            attestation_object: row.attestation_object,
            friendly_name: row.friendly_name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            prf_enabled: row.prf_enabled,
        })
    }
}

#[derive(FromRow)]
pub(super) struct SigningKeyRow {
    pub(super) kid: String,
    pub(super) algorithm: String,
    pub(super) public_jwk: String,
    pub(super) sealed_private_key: Vec<u8>,
    pub(super) created_at: i64,
    pub(super) retired_at: Option<i64>,
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(row: SigningKeyRow) -> Self {
        SigningKeyRecord {
            kid: row.kid,
            algorithm: row.algorithm,
            public_jwk: row.public_jwk,
            sealed_private_key: row.sealed_private_key,
            created_at: row.created_at,
            retired_at: row.retired_at,
        }
    }
}

#[derive(FromRow)]
pub(super) struct AuditRow {
    pub(super) id: i64,
    pub(super) at: i64,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) subject: Option<String>,
    pub(super) outcome: String,
    pub(super) details: String,
    pub(super) ip: Option<String>,
    pub(super) request_id: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEvent {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            outcome: row.outcome,
            details: serde_json::from_str(&row.details).map_err(corrupt)?,
            ip: row.ip,
            request_id: row.request_id,
            webhooks: Vec::new(),
        })
    }
}

/// A 32-byte hash column.
pub(super) fn hash32(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| corrupt("hash column is not 32 bytes"))
}

pub(super) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A stored value this code cannot read: reported as a backend failure, since no request can fix it.
pub(super) fn corrupt<E: Into<Box<dyn std::error::Error + Send + Sync>>>(e: E) -> StoreError {
    StoreError::Backend(e.into())
}

/// Maps a write's error: a UNIQUE violation is `conflict`, a foreign-key violation means the
/// parent (the tenant) does not exist.
pub(super) fn write_error(e: sqlx::Error, conflict: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(conflict);
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound;
        }
    }
    StoreError::Backend(Box::new(e))
}

pub(super) fn json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// `NotFound` when a statement touched no row.
pub(super) fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub(super) fn session_kind(stored: &str) -> Result<SessionKind, StoreError> {
    match stored {
        "registration" => Ok(SessionKind::Registration),
        "authentication" => Ok(SessionKind::Authentication),
        _ => Err(corrupt("ceremony_sessions.kind")),
    }
}

pub(super) const TENANT_COLUMNS: &str = "id, name, rp_id, rp_name, origins, settings, created_at";
pub(super) const API_KEY_COLUMNS: &str =
    "id, tenant_id, kind, prefix, key_hash, label, created_at, revoked_at";
pub(super) const USER_COLUMNS: &str =
    "id, user_handle, name, display_name, failed_attempts, last_failed_at, created_at";
pub(super) const CREDENTIAL_COLUMNS: &str =
    "id, user_id, public_key, algorithm, sign_count, uv_initialized, \
     backup_eligible, backup_state, transports, aaguid, attestation_format, attestation_type, \
     attestation_object, friendly_name, created_at, last_used_at, prf_enabled";
pub(super) const SIGNING_KEY_COLUMNS: &str =
    "kid, algorithm, public_jwk, sealed_private_key, created_at, retired_at";

/// Whether credential `$1` is held in any tenant of RP ID `$2` (both backends; the SQLite store
/// binds `?` in the same order). The tenant's primary key (`tenant_id`, `id`) serves the lookup.
pub(super) const CREDENTIAL_KNOWN_TO_RP_ID: &str = "SELECT EXISTS (SELECT 1 FROM credentials c \
     JOIN tenants t ON t.id = c.tenant_id WHERE c.id = $1 AND t.rp_id = $2)";
