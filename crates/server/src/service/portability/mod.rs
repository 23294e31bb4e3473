//! Moving a tenant's users and credentials between passkey servers: `passkeyd export` writes
//! them as JSON Lines (docs/export-format.md), `passkeyd import` reads that format, Hanko's
//! credential records or Ory Kratos identities.
//!
//! What moves: user IDs, user handles (byte for byte: an authenticator returns the handle it
//! was given, so a changed handle breaks the passkey), names, and per credential its ID, COSE
//! public key, algorithm, sign count, flags (UV initialised, backup eligible and state),
//! transports, AAGUID, attestation format and type, friendly name, created and last used
//! times. Never a secret: no API keys, backup codes, token keys or sessions.
//!
//! An import judges each record against the tenant's rows in units of work on the store
//! ([`crate::store::portability`]): a record already there is `unchanged` (re-running an import
//! changes nothing and says so); a malformed one, or one that conflicts with a stored row, is
//! refused with its line number and a stable reason code, and the others go in.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use passkeyd_webauthn::{CredentialPublicKey, UnixTime};
use serde::Serialize;
use serde_json::json;

use crate::names::{clean_name, MAX_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::store::portability::{ImportEntry, ImportOutcome};
use crate::store::{AuditEvent, Credential, Store, StoreError, User};
use crate::tenant::TenantId;

mod formats;

/// The `format` of the export header.
pub const FORMAT: &str = "passkeyd-export";
/// The version of the export format this passkeyd writes and reads.
pub const VERSION: u64 = 1;
/// The longest line read, in bytes: a credential record is a few kilobytes at most (an RSA key,
/// names); a Kratos identity with many credentials more.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Entries per unit of work on the store.
const BATCH: usize = 500;

/// The formats `passkeyd import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// passkeyd's own export (docs/export-format.md).
    Passkeyd,
    /// Hanko's `webauthn_credentials` records as JSON, one per line.
    Hanko,
    /// Ory Kratos identities as its admin API answers them, one per line.
    Kratos,
}

/// Why an export or import could not run at all (a refused record is in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum PortabilityError {
    /// The store failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The tenant does not exist.
    #[error("no tenant {0}")]
    NoTenant(String),
    /// The file is not a passkeyd export this version reads (header missing or another
    /// version).
    #[error("line 1: {0}")]
    Header(&'static str),
}

/// A record refused by an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The line of the file (from 1).
    pub line: usize,
    /// A stable code: see docs/export-format.md.
    pub reason: &'static str,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Users created.
    pub users_imported: usize,
    /// Credentials stored.
    pub credentials_imported: usize,
    /// Records already stored as they are.
    pub unchanged: usize,
    /// Records refused, in line order.
    pub refused: Vec<Refusal>,
}

impl ImportReport {
    /// Whether the import changed nothing stored.
    pub fn changed_nothing(&self) -> bool {
        self.users_imported == 0 && self.credentials_imported == 0
    }
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Users written.
    pub users: usize,
    /// Credentials written.
    pub credentials: usize,
}

/// A record read from a file: its line and what to import, or why it cannot be.
pub(crate) type Parsed = (usize, Result<ImportEntry, &'static str>);

/// Writes the tenant's users and credentials to `out` as JSON Lines: the header, then each
/// user followed by their credentials, users in ID order.
pub async fn export(
    store: &dyn Store,
    tenant: &TenantId,
    now: UnixTime,
    out: &mut impl Write,
) -> Result<ExportSummary, PortabilityError> {
    let stored = match store.tenant(tenant).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Err(PortabilityError::NoTenant(tenant.to_string())),
        Err(e) => return Err(e.into()),
    };
    let header = json!({
        "format": FORMAT,
        "version": VERSION,
        "tenant": tenant.as_str(),
        "rpId": stored.rp_id,
        "exportedAt": now.0,
    });
    writeln!(out, "{header}")?;
    let mut summary = ExportSummary::default();
    let mut after: Option<String> = None;
    loop {
        let page = store.export_page(tenant, after.as_deref(), 200).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.id.clone());
        for (user, credentials) in &page {
            writeln!(out, "{}", formats::passkeyd::user_line(user))?;
            summary.users += 1;
            for credential in credentials {
                writeln!(out, "{}", formats::passkeyd::credential_line(credential))?;
                summary.credentials += 1;
            }
        }
    }
    out.flush()?;
    let mut event = audit_event(now, "portability.export");
    event.details = json!({ "users": summary.users, "credentials": summary.credentials });
    store.insert_audit_event(tenant, &event).await?;
    Ok(summary)
}

/// Reads `input` in `format` and imports its records into `tenant` (see the module docs).
pub async fn import(
    store: &dyn Store,
    tenant: &TenantId,
    format: ImportFormat,
    input: impl BufRead,
    now: UnixTime,
) -> Result<ImportReport, PortabilityError> {
    match store.tenant(tenant).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(PortabilityError::NoTenant(tenant.to_string())),
        Err(e) => return Err(e.into()),
    }
    let lines = read_lines(input)?;
    let parsed = match format {
        ImportFormat::Passkeyd => formats::passkeyd::parse(&lines, now)?,
        ImportFormat::Hanko => formats::hanko::parse(&lines, now),
        ImportFormat::Kratos => formats::kratos::parse(&lines, now),
    };
    let mut report = ImportReport::default();
    let mut seen = HashSet::new();
    let mut ready: Vec<(usize, ImportEntry)> = Vec::new();
    for (line, entry) in parsed {
        match entry {
            Err(reason) => report.refused.push(Refusal { line, reason }),
            Ok(entry) => {
                let key = entry.credential.as_ref().map(|c| c.id.clone());
                if let Some(id) = key {
                    if !seen.insert(id) {
                        report.refused.push(Refusal {
                            line,
                            reason: "duplicate_in_file",
                        });
                        continue;
                    }
                }
                ready.push((line, entry));
            }
        }
    }
    for batch in ready.chunks(BATCH) {
        let entries: Vec<ImportEntry> = batch.iter().map(|(_, e)| e.clone()).collect();
        let outcomes = store.import_entries(tenant, &entries).await?;
        for ((line, entry), outcome) in batch.iter().zip(outcomes) {
            match outcome {
                ImportOutcome::Imported { user_created } => {
                    report.users_imported += usize::from(user_created);
                    report.credentials_imported += usize::from(entry.credential.is_some());
                }
                ImportOutcome::Unchanged => report.unchanged += 1,
                ImportOutcome::Refused(reason) => report.refused.push(Refusal {
                    line: *line,
                    reason,
                }),
            }
        }
    }
    report.refused.sort_by_key(|r| r.line);
    let mut event = audit_event(now, "portability.import");
    event.details = json!({
        "format": format!("{format:?}").to_ascii_lowercase(),
        "users_imported": report.users_imported,
        "credentials_imported": report.credentials_imported,
        "unchanged": report.unchanged,
        "refused": report.refused.len(),
    });
    if !report.refused.is_empty() {
        event.outcome = "partial".to_owned();
    }
    store.insert_audit_event(tenant, &event).await?;
    Ok(report)
}

fn audit_event(now: UnixTime, action: &str) -> AuditEvent {
    AuditEvent {
        id: 0,
        at: now.0,
        actor: "cli".to_owned(),
        action: action.to_owned(),
        subject: None,
        outcome: "success".to_owned(),
        details: json!({}),
        ip: None,
        request_id: None,
        webhooks: Vec::new(),
    }
}

/// The non-empty lines of `input` with their numbers; a line over [`MAX_LINE_BYTES`] or not
/// UTF-8 is kept as `None` (refused as `malformed_json`).
fn read_lines(mut input: impl BufRead) -> Result<Vec<(usize, Option<String>)>, std::io::Error> {
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX) + 1;
        let read =
            BufRead::read_until(&mut std::io::Read::take(&mut input, limit), b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        number += 1;
        if buf.len() > MAX_LINE_BYTES && !buf.ends_with(b"\n") {
            // Skip the rest of the oversized line.
            let mut rest = Vec::new();
            input.read_until(b'\n', &mut rest)?;
            lines.push((number, None));
            continue;
        }
        let text = String::from_utf8(std::mem::take(&mut buf)).ok();
        match text {
            Some(t) if t.trim().is_empty() => {}
            Some(t) => lines.push((number, Some(t.trim().to_owned()))),
            None => lines.push((number, None)),
        }
    }
    Ok(lines)
}

// --- Checks every format shares ------------------------------------------------------------

/// A user as imported: ID, handle (1 to 64 bytes, WebAuthn §5.4.3), names as passkeyd stores
/// them.
pub(crate) fn checked_user(
    id: &str,
    handle: Vec<u8>,
    name: &str,
    display_name: Option<&str>,
    created_at: i64,
) -> Result<User, &'static str> {
    if id.is_empty() || id.len() > MAX_USER_ID_BYTES || id.chars().any(char::is_control) {
        return Err("user_id_invalid");
    }
    if handle.is_empty() || handle.len() > 64 {
        return Err("user_handle_invalid");
    }
    let name = clean_name("userName", name, MAX_NAME_BYTES).map_err(|_| "user_name_invalid")?;
    let display_name = match display_name.filter(|d| !d.is_empty()) {
        Some(d) => {
            clean_name("displayName", d, MAX_NAME_BYTES).map_err(|_| "display_name_invalid")?
        }
        None => name.clone(),
    };
    Ok(User {
        id: id.to_owned(),
        user_handle: handle,
        name,
        display_name,
        failed_attempts: 0,
        last_failed_at: None,
        created_at,
    })
}

/// What a format knows of a credential; [`checked_credential`] makes the stored form.
#[derive(Debug, Default)]
pub(crate) struct CredentialFacts {
    pub(crate) id: Vec<u8>,
    pub(crate) public_key: Vec<u8>,
    pub(crate) sign_count: u32,
    pub(crate) uv_initialized: bool,
    pub(crate) backup_eligible: bool,
    pub(crate) backup_state: bool,
    pub(crate) transports: Vec<String>,
    pub(crate) aaguid: Vec<u8>,
    pub(crate) attestation_format: String,
    pub(crate) attestation_type: String,
    pub(crate) friendly_name: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) last_used_at: Option<i64>,
}

/// The transports passkeyd stores; others are dropped.
const TRANSPORTS: [&str; 6] = ["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

/// A credential as passkeyd stores it, for `user_id`: the ID 1 to 1023 bytes (WebAuthn
/// §5.8.3), the public key a COSE_Key passkeyd can verify with (its algorithm read from it),
/// BS only with BE, the AAGUID 16 bytes (zero when unknown).
pub(crate) fn checked_credential(
    user_id: &str,
    facts: CredentialFacts,
) -> Result<Credential, &'static str> {
    if facts.id.is_empty() || facts.id.len() > 1023 {
        return Err("credential_id_invalid");
    }
    let key =
        CredentialPublicKey::from_stored(&facts.public_key).map_err(|_| "public_key_invalid")?;
    if facts.backup_state && !facts.backup_eligible {
        return Err("flags_invalid");
    }
    let aaguid = match facts.aaguid.len() {
        0 => vec![0; 16],
        16 => facts.aaguid,
        _ => return Err("aaguid_invalid"),
    };
    let friendly_name = match facts.friendly_name.filter(|n| !n.trim().is_empty()) {
        Some(n) => Some(
            clean_name("friendlyName", &n, MAX_NAME_BYTES).map_err(|_| "friendly_name_invalid")?,
        ),
        None => None,
    };
    let mut transports: Vec<String> = facts
        .transports
        .into_iter()
        .filter(|t| TRANSPORTS.contains(&t.as_str()))
        .collect();
    transports.sort();
    transports.dedup();
    Ok(Credential {
        // The export format carries no PRF capability yet; a credential brought in is recorded
        // as not PRF-capable until it says otherwise.
        prf_enabled: false,
        id: facts.id,
        user_id: user_id.to_owned(),
        public_key: facts.public_key,
        algorithm: key.algorithm().to_i64(),
        sign_count: facts.sign_count,
        uv_initialized: facts.uv_initialized,
        backup_eligible: facts.backup_eligible,
        backup_state: facts.backup_state,
        transports,
        aaguid,
        attestation_format: if facts.attestation_format.is_empty() {
            "none".to_owned()
        } else {
            facts.attestation_format
        },
        attestation_type: if facts.attestation_type.is_empty() {
            "none".to_owned()
        } else {
            facts.attestation_type.to_ascii_lowercase()
        },
        attestation_object: Vec::new(),
        friendly_name,
        created_at: facts.created_at,
        last_used_at: facts.last_used_at,
    })
}

/// Base64url without padding (tolerating padding), as passkeyd writes bytes.
pub(crate) fn b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// Base64 in either alphabet, padded or not (Go's `[]byte` in JSON is standard base64).
pub(crate) fn b64_any(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    let url: String = trimmed.replace('+', "-").replace('/', "_");
    URL_SAFE_NO_PAD.decode(url).ok()
}

/// A hyphenated (or bare hex) UUID as 16 bytes.
pub(crate) fn uuid_bytes(text: &str) -> Option<Vec<u8>> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    (0..16)
        .map(|i| u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect()
}

/// An RFC 3339 time as Unix seconds.
pub(crate) fn rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Users met so far in a file, by ID: the first record of a user decides their handle and
/// names.
pub(crate) type Users = HashMap<String, User>;
