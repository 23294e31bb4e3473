//! Ory Kratos identities as its admin API answers them with `include_credential=webauthn`
//! (`GET /admin/identities`, one identity per line: `jq -c '.[]'`):
//!
//! `id` (a UUID), `traits` (`email` or `username` becomes the user name), `created_at`, and
//! `credentials.webauthn.config` (or `credentials.passkey.config`): `user_handle` (standard
//! base64, Go's `[]byte`) and `credentials`, each with `id` and `public_key` (the COSE_Key),
//! both standard base64, `attestation_type`, `authenticator` (`aaguid` as base64 of 16 bytes,
//! `sign_count`), `display_name`, `added_at` and `is_passwordless`; newer versions add `flags`
//! (`user_verified`, `backup_eligible`, `backup_state`) and `transports`.
//!
//! An identity without `user_handle` (Kratos before handles of their own) gave authenticators
//! its UUID's 16 bytes; that is the handle then. Kratos's second-factor-only keys
//! (`is_passwordless: false`) become ordinary passkeyd credentials.

use passkeyd_webauthn::UnixTime;
use serde_json::Value;

use super::super::{
    b64_any, checked_credential, checked_user, uuid_bytes, CredentialFacts, Parsed,
};
use super::{flag, sign_count, text, time, transports};
use crate::store::portability::ImportEntry;

/// Reads the identities, one per line; an identity yields one record per credential (or one
/// for the user alone), all with its line number.
pub(crate) fn parse(lines: &[(usize, Option<String>)], now: UnixTime) -> Vec<Parsed> {
    let mut parsed = Vec::new();
    for (line, text_line) in lines {
        let record = text_line
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .filter(Value::is_object);
        match record {
            None => parsed.push((*line, Err("malformed_json"))),
            Some(identity) => match entries(&identity, now) {
                Ok(entries) => parsed.extend(entries.into_iter().map(|e| (*line, e))),
                Err(reason) => parsed.push((*line, Err(reason))),
            },
        }
    }
    parsed
}

type Entries = Vec<Result<ImportEntry, &'static str>>;

fn entries(identity: &Value, now: UnixTime) -> Result<Entries, &'static str> {
    let id = text(identity, "id").ok_or("user_id_invalid")?;
    let credentials = identity.get("credentials");
    let config = ["webauthn", "passkey"].iter().find_map(|kind| {
        credentials
            .and_then(|c| c.get(*kind))
            .and_then(|c| c.get("config"))
    });
    let handle = match config.and_then(|c| text(c, "user_handle")) {
        Some(h) => b64_any(h).ok_or("user_handle_invalid")?,
        None => uuid_bytes(id).ok_or("user_handle_invalid")?,
    };
    let traits = identity.get("traits");
    let name = traits
        .and_then(|t| text(t, "email").or_else(|| text(t, "username")))
        .unwrap_or(id);
    let created_at = time(identity, "created_at")?.unwrap_or(now.0);
    let user = checked_user(id, handle, name, None, created_at)?;
    let list = config
        .and_then(|c| c.get("credentials"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        return Ok(vec![Ok(ImportEntry {
            user,
            credential: None,
        })]);
    }
    Ok(list
        .iter()
        .map(|c| {
            let credential = credential(&user.id, c, created_at)?;
            Ok(ImportEntry {
                user: user.clone(),
                credential: Some(credential),
            })
        })
        .collect())
}

fn credential(
    user_id: &str,
    c: &Value,
    created_at: i64,
) -> Result<crate::store::Credential, &'static str> {
    let authenticator = c.get("authenticator").cloned().unwrap_or(Value::Null);
    let flags = c.get("flags").cloned().unwrap_or(Value::Null);
    let facts = CredentialFacts {
        id: text(c, "id")
            .and_then(b64_any)
            .ok_or("credential_id_invalid")?,
        public_key: text(c, "public_key")
            .and_then(b64_any)
            .ok_or("public_key_invalid")?,
        sign_count: sign_count(authenticator.get("sign_count"))?,
        uv_initialized: flag(&flags, "user_verified"),
        backup_eligible: flag(&flags, "backup_eligible"),
        backup_state: flag(&flags, "backup_state"),
        transports: transports(c.get("transports").or_else(|| c.get("transport"))),
        aaguid: match text(&authenticator, "aaguid") {
            Some(a) => b64_any(a).ok_or("aaguid_invalid")?,
            None => Vec::new(),
        },
        attestation_format: String::new(),
        attestation_type: text(c, "attestation_type").unwrap_or_default().to_owned(),
        friendly_name: text(c, "display_name").map(str::to_owned),
        created_at: time(c, "added_at")?.unwrap_or(created_at),
        last_used_at: None,
    };
    checked_credential(user_id, facts)
}
