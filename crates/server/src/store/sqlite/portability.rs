//! [`PortabilityStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::rows;
use super::sql::{all, convert, one};
use super::units::{insert_user_in, register_in};
use super::SqliteStore;
use crate::store::portability::{judge, Existing, ImportEntry, ImportOutcome, PortabilityStore};
use crate::store::rows::{UserRow, CREDENTIAL_COLUMNS, USER_COLUMNS};
use crate::store::{Credential, NewRegistration, StoreError, User};
use crate::tenant::TenantId;

#[async_trait]
impl PortabilityStore for SqliteStore {
    async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(User, Vec<Credential>)>, StoreError> {
        let tenant = tenant.as_str();
        let after = after.unwrap_or("");
        self.read(|conn| {
            // One read transaction, so users and their credentials are one moment's.
            let tx = conn
                .unchecked_transaction()
                .map_err(super::sql::sqlite_error)?;
            let users: Vec<UserRow> = all(
                &tx,
                &format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ? AND id > ? \
                     ORDER BY id LIMIT ?"
                ),
                params![tenant, after, limit],
                rows::user,
            )?;
            let mut page = Vec::with_capacity(users.len());
            for user in users {
                let user = User::from(user);
                let credentials = convert(all(
                    &tx,
                    &format!(
                        "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
                         WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, id"
                    ),
                    params![tenant, user.id],
                    rows::credential,
                )?)?;
                page.push((user, credentials));
            }
            Ok(page)
        })
    }

    async fn import_entries(
        &self,
        tenant: &TenantId,
        entries: &[ImportEntry],
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        let (tenant, entries) = (tenant.as_str().to_owned(), entries.to_vec());
        self.write(move |conn| {
            let mut outcomes = Vec::with_capacity(entries.len());
            for entry in &entries {
                let user = &entry.user;
                let existing = Existing {
                    user_handle: one(
                        conn,
                        "SELECT user_handle FROM users WHERE tenant_id = ? AND id = ?",
                        params![tenant, user.id],
                        |row| row.get(0),
                    )?,
                    handle_taken: one(
                        conn,
                        "SELECT 1 FROM users WHERE tenant_id = ? AND user_handle = ? AND id <> ?",
                        params![tenant, user.user_handle, user.id],
                        |row| row.get::<_, i64>(0),
                    )?
                    .is_some(),
                    name_taken: one(
                        conn,
                        "SELECT 1 FROM users WHERE tenant_id = ? AND name = ? AND id <> ?",
                        params![tenant, user.name, user.id],
                        |row| row.get::<_, i64>(0),
                    )?
                    .is_some(),
                    credential: match &entry.credential {
                        Some(c) => one(
                            conn,
                            "SELECT user_id, public_key FROM credentials \
                             WHERE tenant_id = ? AND id = ?",
                            params![tenant, c.id],
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )?,
                        None => None,
                    },
                };
                let outcome = match judge(entry, &existing) {
                    Err(code) => ImportOutcome::Refused(code),
                    Ok(false) => ImportOutcome::Unchanged,
                    Ok(true) => {
                        let user_created = existing.user_handle.is_none();
                        match &entry.credential {
                            Some(credential) => register_in(
                                conn,
                                &tenant,
                                &NewRegistration {
                                    user: user.clone(),
                                    credential: credential.clone(),
                                    max_credentials: None,
                                },
                            )?,
                            None => {
                                insert_user_in(conn, &tenant, user)?;
                            }
                        }
                        ImportOutcome::Imported { user_created }
                    }
                };
                outcomes.push(outcome);
            }
            Ok(outcomes)
        })
        .await
    }
}
