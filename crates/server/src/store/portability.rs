//! Moving a tenant's users and credentials out and in (`passkeyd export` / `passkeyd import`):
//! pages for the export, batches for the import, each one unit of work.

use async_trait::async_trait;

use super::{Credential, StoreError, User};
use crate::tenant::TenantId;

/// One record to import: a user, and one of their credentials (or none: a user without
/// credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportEntry {
    /// The user (`failed_attempts` and `last_failed_at` are ignored).
    pub user: User,
    /// Their credential, if the record has one.
    pub credential: Option<Credential>,
}

/// What became of one [`ImportEntry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Stored: the credential (and the user, if new), or a new user without credentials.
    Imported {
        /// Whether the user was created by this entry.
        user_created: bool,
    },
    /// Already stored as it is: nothing changed.
    Unchanged,
    /// Refused, nothing stored; the code says why (`user_handle_mismatch`,
    /// `user_handle_taken`, `user_name_taken`, `credential_exists`).
    Refused(&'static str),
}

/// The rows an entry is judged against, read in the entry's unit of work.
#[derive(Clone, Debug, Default)]
pub(crate) struct Existing {
    /// The user with the entry's ID: their user handle.
    pub(crate) user_handle: Option<Vec<u8>>,
    /// Whether another user holds the entry's user handle.
    pub(crate) handle_taken: bool,
    /// Whether another user holds the entry's user name.
    pub(crate) name_taken: bool,
    /// The credential with the entry's credential ID: its owner and public key.
    pub(crate) credential: Option<(String, Vec<u8>)>,
}

/// What to do with an entry: `Ok(true)` insert it, `Ok(false)` nothing to do (unchanged), or
/// the refusal. One rule for both backends.
pub(crate) fn judge(entry: &ImportEntry, existing: &Existing) -> Result<bool, &'static str> {
    match &existing.user_handle {
        // User handles are kept byte for byte: the same user ID with another handle is refused.
        Some(handle) if *handle != entry.user.user_handle => return Err("user_handle_mismatch"),
        Some(_) => {}
        None if existing.handle_taken => return Err("user_handle_taken"),
        None if existing.name_taken => return Err("user_name_taken"),
        None => {}
    }
    match (&entry.credential, &existing.credential) {
        (Some(c), Some((owner, key))) if *owner == entry.user.id && *key == c.public_key => {
            Ok(false)
        }
        (Some(_), Some(_)) => Err("credential_exists"),
        (Some(_), None) => Ok(true),
        (None, _) => Ok(existing.user_handle.is_none()),
    }
}

/// The portability part of the store; every [`Store`](super::Store) implements it.
#[async_trait]
pub trait PortabilityStore {
    /// Up to `limit` of the tenant's users with IDs after `after` (byte order), each with
    /// their credentials (oldest first), read at one moment.
    async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(User, Vec<Credential>)>, StoreError>;

    /// Imports `entries` in one unit of work, each judged against what is stored (and what the
    /// entries before it stored): an outcome per entry, in order. A refused entry stores
    /// nothing and does not stop the others.
    async fn import_entries(
        &self,
        tenant: &TenantId,
        entries: &[ImportEntry],
    ) -> Result<Vec<ImportOutcome>, StoreError>;
}
