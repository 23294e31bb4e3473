//! Users: showing one with their credential count, listing their credentials, deleting one
//! (audited), and creating one: [`create`] is the one way a user without a credential comes to
//! be (a user token for a user the app knows from elsewhere, a dialect's user creation);
//! ceremonies create the user of a first registration with its credential.

use aws_lc_rs::rand::SystemRandom;

use super::{finish, Caller, Credential, Provenance, User};
use crate::api_keys::random_bytes;
use crate::error::ApiError;
use crate::names::{clean_name, MAX_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::state::AppState;
use crate::store::StoreError;
use crate::tenant::TenantId;

/// A user ID as a client names an existing user: one that no user can have (empty, too long,
/// control characters, which PostgreSQL could not even compare) is simply not found.
pub fn existing_id(user_id: &str) -> Result<&str, ApiError> {
    if user_id.is_empty()
        || user_id.len() > MAX_USER_ID_BYTES
        || user_id.chars().any(char::is_control)
    {
        return Err(ApiError::NotFound);
    }
    Ok(user_id)
}

/// The tenant's user `user_id`; 404 if there is none.
pub async fn user(state: &AppState, tenant: &TenantId, user_id: &str) -> Result<User, ApiError> {
    Ok(state.store.user(tenant, existing_id(user_id)?).await?)
}

/// A user and how many credentials they hold.
#[derive(Clone, Debug)]
pub struct UserSummary {
    /// The user.
    pub user: User,
    /// How many credentials they hold.
    pub credential_count: usize,
}

/// The tenant's user `user_id` with their credential count; 404 if there is none.
pub async fn show(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
) -> Result<UserSummary, ApiError> {
    let user = state.store.user(tenant, existing_id(user_id)?).await?;
    let credential_count = state.store.credentials(tenant, &user.id).await?.len();
    Ok(UserSummary {
        user,
        credential_count,
    })
}

/// The credentials of the tenant's user `user_id`, oldest first; 404 if there is no such user.
pub async fn credentials(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Vec<Credential>, ApiError> {
    let user = state.store.user(tenant, existing_id(user_id)?).await?;
    Ok(state.store.credentials(tenant, &user.id).await?)
}

/// Deletes the user `user_id` of the caller's tenant and all their credentials, audited as
/// `user.delete`; 404 if there is no such user.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    via: &Provenance,
) -> Result<(), ApiError> {
    let tenant = &caller.tenant.id;
    let mut audit = via.audit(tenant, &caller.actor(), "user.delete");
    audit.subject(format!("user:{user_id}"));
    let result = match existing_id(user_id) {
        Ok(user_id) => state
            .store
            .delete_user(tenant, user_id)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    finish(state, audit, result).await
}

/// A name as a client sent it, with the request field it came in, so that the refusal of a
/// name that cannot be stored names the field.
#[derive(Clone, Copy, Debug)]
pub struct SentName<'a> {
    /// The request field, e.g. `userName`.
    pub field: &'static str,
    /// The name as sent.
    pub value: &'a str,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    /// The app's user ID.
    pub id: String,
    /// The user name.
    pub name: SentName<'a>,
    /// The display name; the user name when absent.
    pub display_name: Option<SentName<'a>>,
}

/// Creates a user without credentials, with a new random user handle, unless a user with this
/// ID exists; answers the user as stored either way (a concurrent request may have created
/// them). Every name goes through [`clean_name`] first (400 `invalid_request` naming the
/// field); 409 `user_exists` if another user has the user name.
pub async fn create(
    state: &AppState,
    tenant: &TenantId,
    new: NewUser<'_>,
) -> Result<User, ApiError> {
    let name = clean_name(new.name.field, new.name.value, MAX_NAME_BYTES)?;
    let display_name = new
        .display_name
        .map(|display| clean_name(display.field, display.value, MAX_NAME_BYTES))
        .transpose()?;
    let handle = random_bytes::<32>(&SystemRandom::new()).map_err(ApiError::internal)?;
    let user = User {
        id: new.id,
        user_handle: handle.to_vec(),
        display_name: display_name.unwrap_or_else(|| name.clone()),
        name,
        failed_attempts: 0,
        last_failed_at: None,
        created_at: state.clock.now().0,
    };
    match state.store.insert_user_if_absent(tenant, &user).await {
        Ok(true) => Ok(user),
        // Created by a concurrent request, or before: the stored one is the user.
        Ok(false) => Ok(state.store.user(tenant, &user.id).await?),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(
            "user_exists",
            "another user has this user name",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The tenant's user `user_id`; when absent, created with `user_name` and `display_name` (the
/// native API's `userName` and `userDisplayName`, ignored for an existing user), or 404 when
/// no user name is given.
pub async fn find_or_create(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
    user_name: Option<&str>,
    display_name: Option<&str>,
) -> Result<User, ApiError> {
    let user_id = existing_id(user_id)?;
    match state.store.user(tenant, user_id).await {
        Err(StoreError::NotFound) => {}
        found => return found.map_err(ApiError::from),
    }
    let Some(name) = user_name else {
        return Err(ApiError::NotFound);
    };
    let new = NewUser {
        id: user_id.to_owned(),
        name: SentName {
            field: "userName",
            value: name,
        },
        display_name: display_name.map(|value| SentName {
            field: "userDisplayName",
            value,
        }),
    };
    create(state, tenant, new).await
}
