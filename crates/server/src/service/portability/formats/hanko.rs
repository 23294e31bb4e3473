//! Hanko's WebAuthn credential records (its `webauthn_credentials` rows as the model serializes
//! them to JSON), one per line:
//!
//! `id` (the credential ID, base64url), `user_id` (a UUID), `public_key` (the COSE_Key,
//! base64url), `attestation_type`, `aaguid` (a UUID), `sign_count`, `name`, `transports`
//! (strings, or objects with a `name`), `backup_eligible`, `backup_state`, `created_at`,
//! `last_used_at` (RFC 3339), and `user_handle` (`{"handle": ...}`) when the credential was
//! created with a handle of its own.
//!
//! Hanko gives the authenticator the user's UUID as its 16 bytes as the user handle, unless a
//! credential has a `user_handle`; that handle is taken as base64url when it decodes, else as
//! its text. Hanko keeps e-mail addresses apart from credentials: a line may add `email` (or
//! `username`) for the user name passkeyd shows; without one the user ID is the name.

use passkeyd_webauthn::UnixTime;
use serde_json::Value;

use super::super::{
    b64url, checked_credential, checked_user, uuid_bytes, CredentialFacts, Parsed, Users,
};
use super::{flag, sign_count, text, time, transports};
use crate::store::portability::ImportEntry;

/// Reads the records, one per line.
pub(crate) fn parse(lines: &[(usize, Option<String>)], now: UnixTime) -> Vec<Parsed> {
    let mut users = Users::new();
    lines
        .iter()
        .map(|(line, text_line)| {
            let record = text_line
                .as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .filter(Value::is_object);
            let entry = match record {
                None => Err("malformed_json"),
                Some(record) => entry(&record, &mut users, now),
            };
            (*line, entry)
        })
        .collect()
}

fn entry(record: &Value, users: &mut Users, now: UnixTime) -> Result<ImportEntry, &'static str> {
    let user_id = text(record, "user_id").ok_or("user_id_invalid")?;
    let uuid = uuid_bytes(user_id).ok_or("user_id_invalid")?;
    let handle = match record.get("user_handle").and_then(|h| text(h, "handle")) {
        Some(handle) => b64url(handle).unwrap_or_else(|| handle.as_bytes().to_vec()),
        None => uuid,
    };
    let name = text(record, "email")
        .or_else(|| text(record, "username"))
        .unwrap_or(user_id);
    let created_at = time(record, "created_at")?.unwrap_or(now.0);
    let user = match users.get(user_id) {
        Some(user) => user.clone(),
        None => {
            let user = checked_user(user_id, handle, name, None, created_at)?;
            users.insert(user_id.to_owned(), user.clone());
            user
        }
    };
    let facts = CredentialFacts {
        id: text(record, "id")
            .and_then(b64url)
            .ok_or("credential_id_invalid")?,
        public_key: text(record, "public_key")
            .and_then(b64url)
            .ok_or("public_key_invalid")?,
        sign_count: sign_count(record.get("sign_count"))?,
        // Hanko does not keep whether the user was verified at registration.
        uv_initialized: false,
        backup_eligible: flag(record, "backup_eligible"),
        backup_state: flag(record, "backup_state"),
        transports: transports(record.get("transports")),
        aaguid: match text(record, "aaguid") {
            Some(a) => uuid_bytes(a).ok_or("aaguid_invalid")?,
            None => Vec::new(),
        },
        attestation_format: String::new(),
        attestation_type: text(record, "attestation_type")
            .unwrap_or_default()
            .to_owned(),
        friendly_name: text(record, "name").map(str::to_owned),
        created_at,
        last_used_at: time(record, "last_used_at")?,
    };
    Ok(ImportEntry {
        credential: Some(checked_credential(&user.id, facts)?),
        user,
    })
}
