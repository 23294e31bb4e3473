//! [`PortabilityStore`] on PostgreSQL. An import batch holds a transaction-scoped advisory lock
//! on its tenant, so two imports of one tenant (from two nodes) judge and write one after the
//! other.

use async_trait::async_trait;

use super::users::register_in;
use super::PostgresStore;
use crate::store::portability::{judge, Existing, ImportEntry, ImportOutcome, PortabilityStore};
use crate::store::rows::{
    backend, write_error, CredentialRow, UserRow, CREDENTIAL_COLUMNS, USER_COLUMNS,
};
use crate::store::{Credential, NewRegistration, StoreError, User};
use crate::tenant::TenantId;

#[async_trait]
impl PortabilityStore for PostgresStore {
    async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(User, Vec<Credential>)>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // One snapshot for the page: users and their credentials of one moment.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let users: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id COLLATE \"C\" > $2 \
             ORDER BY id COLLATE \"C\" LIMIT $3"
        ))
        .bind(tenant.as_str())
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let mut page = Vec::with_capacity(users.len());
        for user in users {
            let user = User::from(user);
            let credentials = sqlx::query_as::<_, CredentialRow>(&format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = $1 \
                 AND user_id = $2 ORDER BY created_at, id"
            ))
            .bind(tenant.as_str())
            .bind(&user.id)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .into_iter()
            .map(Credential::try_from)
            .collect::<Result<Vec<_>, _>>()?;
            page.push((user, credentials));
        }
        tx.commit().await.map_err(backend)?;
        Ok(page)
    }

    async fn import_entries(
        &self,
        tenant: &TenantId,
        entries: &[ImportEntry],
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('passkeyd-import:' || $1))")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            let user = &entry.user;
            let user_handle: Option<(Vec<u8>,)> =
                sqlx::query_as("SELECT user_handle FROM users WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(&user.id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            let handle_taken: Option<(i32,)> = sqlx::query_as(
                "SELECT 1 FROM users WHERE tenant_id = $1 AND user_handle = $2 AND id <> $3",
            )
            .bind(tenant.as_str())
            .bind(&user.user_handle)
            .bind(&user.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            let name_taken: Option<(i32,)> = sqlx::query_as(
                "SELECT 1 FROM users WHERE tenant_id = $1 AND name = $2 AND id <> $3",
            )
            .bind(tenant.as_str())
            .bind(&user.name)
            .bind(&user.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            let credential: Option<(String, Vec<u8>)> = match &entry.credential {
                Some(c) => sqlx::query_as(
                    "SELECT user_id, public_key FROM credentials WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(&c.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?,
                None => None,
            };
            let existing = Existing {
                user_handle: user_handle.map(|(h,)| h),
                handle_taken: handle_taken.is_some(),
                name_taken: name_taken.is_some(),
                credential,
            };
            let outcome = match judge(entry, &existing) {
                Err(code) => ImportOutcome::Refused(code),
                Ok(false) => ImportOutcome::Unchanged,
                Ok(true) => {
                    let user_created = existing.user_handle.is_none();
                    match &entry.credential {
                        Some(credential) => {
                            let registration = NewRegistration {
                                user: user.clone(),
                                credential: credential.clone(),
                                max_credentials: None,
                            };
                            register_in(&mut tx, tenant, &registration).await?;
                        }
                        None => {
                            sqlx::query(
                                "INSERT INTO users (tenant_id, id, user_handle, name, \
                                 display_name, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(tenant.as_str())
                            .bind(&user.id)
                            .bind(&user.user_handle)
                            .bind(&user.name)
                            .bind(&user.display_name)
                            .bind(user.created_at)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| write_error(e, "user_name_taken"))?;
                        }
                    }
                    ImportOutcome::Imported { user_created }
                }
            };
            outcomes.push(outcome);
        }
        tx.commit().await.map_err(backend)?;
        Ok(outcomes)
    }
}
