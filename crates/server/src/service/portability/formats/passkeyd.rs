//! passkeyd's own export format, version 1 (docs/export-format.md): a header line, then
//! `user` and `credential` records.

use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::UnixTime;
use serde_json::{json, Value};

use super::super::{
    b64url, checked_credential, checked_user, uuid_bytes, CredentialFacts, Parsed,
    PortabilityError, Users, FORMAT, VERSION,
};
use super::{flag, sign_count, text, transports};
use crate::audit::aaguid_text;
use crate::store::portability::ImportEntry;
use crate::store::{Credential, User};

/// A `user` record.
pub(crate) fn user_line(user: &User) -> Value {
    json!({
        "type": "user",
        "userId": user.id,
        "userHandle": base64url_encode(&user.user_handle),
        "userName": user.name,
        "displayName": user.display_name,
        "createdAt": user.created_at,
    })
}

/// A `credential` record.
pub(crate) fn credential_line(c: &Credential) -> Value {
    json!({
        "type": "credential",
        "userId": c.user_id,
        "credentialId": base64url_encode(&c.id),
        "publicKey": base64url_encode(&c.public_key),
        "algorithm": c.algorithm,
        "signCount": c.sign_count,
        "uvInitialized": c.uv_initialized,
        "backupEligible": c.backup_eligible,
        "backupState": c.backup_state,
        "transports": c.transports,
        "aaguid": aaguid_text(&c.aaguid),
        "attestationFormat": c.attestation_format,
        "attestationType": c.attestation_type,
        "friendlyName": c.friendly_name,
        "createdAt": c.created_at,
        "lastUsedAt": c.last_used_at,
    })
}

/// Reads an export: the header first (refused as a whole if it is not version 1 of this
/// format), then the records.
pub(crate) fn parse(
    lines: &[(usize, Option<String>)],
    now: UnixTime,
) -> Result<Vec<Parsed>, PortabilityError> {
    let Some((_, Some(first))) = lines.first() else {
        return Err(PortabilityError::Header(
            "not a passkeyd export (no header)",
        ));
    };
    let header: Value = serde_json::from_str(first)
        .map_err(|_| PortabilityError::Header("not a passkeyd export (no header)"))?;
    if text(&header, "format") != Some(FORMAT) {
        return Err(PortabilityError::Header("not a passkeyd export (format)"));
    }
    if header.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err(PortabilityError::Header(
            "an export version this passkeyd does not read",
        ));
    }
    let mut users = Users::new();
    let mut parsed = Vec::new();
    for (line, text_line) in &lines[1..] {
        let record = text_line
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .filter(Value::is_object);
        let entry = match record {
            None => Err("malformed_json"),
            Some(record) => match text(&record, "type") {
                Some("user") => user(&record, now).map(|user| {
                    users.insert(user.id.clone(), user.clone());
                    ImportEntry {
                        user,
                        credential: None,
                    }
                }),
                Some("credential") => credential(&record, &users, now),
                _ => Err("unknown_record"),
            },
        };
        parsed.push((*line, entry));
    }
    Ok(parsed)
}

fn user(record: &Value, now: UnixTime) -> Result<User, &'static str> {
    let id = text(record, "userId").ok_or("user_id_invalid")?;
    let handle = text(record, "userHandle")
        .and_then(b64url)
        .ok_or("user_handle_invalid")?;
    let name = text(record, "userName").ok_or("user_name_invalid")?;
    let created_at = record
        .get("createdAt")
        .and_then(Value::as_i64)
        .unwrap_or(now.0);
    checked_user(id, handle, name, text(record, "displayName"), created_at)
}

fn credential(record: &Value, users: &Users, now: UnixTime) -> Result<ImportEntry, &'static str> {
    let user_id = text(record, "userId").ok_or("user_id_invalid")?;
    let user = users.get(user_id).ok_or("unknown_user")?;
    let facts = CredentialFacts {
        id: text(record, "credentialId")
            .and_then(b64url)
            .ok_or("credential_id_invalid")?,
        public_key: text(record, "publicKey")
            .and_then(b64url)
            .ok_or("public_key_invalid")?,
        sign_count: sign_count(record.get("signCount"))?,
        uv_initialized: flag(record, "uvInitialized"),
        backup_eligible: flag(record, "backupEligible"),
        backup_state: flag(record, "backupState"),
        transports: transports(record.get("transports")),
        aaguid: match text(record, "aaguid") {
            Some(a) => uuid_bytes(a).ok_or("aaguid_invalid")?,
            None => Vec::new(),
        },
        attestation_format: text(record, "attestationFormat")
            .unwrap_or_default()
            .to_owned(),
        attestation_type: text(record, "attestationType")
            .unwrap_or_default()
            .to_owned(),
        friendly_name: text(record, "friendlyName").map(str::to_owned),
        created_at: record
            .get("createdAt")
            .and_then(Value::as_i64)
            .unwrap_or(now.0),
        last_used_at: record.get("lastUsedAt").and_then(Value::as_i64),
    };
    let credential = checked_credential(user_id, facts)?;
    // A stated algorithm must be the key's own.
    if let Some(alg) = record.get("algorithm").and_then(Value::as_i64) {
        if alg != credential.algorithm {
            return Err("public_key_invalid");
        }
    }
    Ok(ImportEntry {
        user: user.clone(),
        credential: Some(credential),
    })
}
