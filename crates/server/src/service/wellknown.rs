//! The association files of an RP ID's host (`/.well-known/webauthn`, `assetlinks.json`,
//! `apple-app-site-association`): what the tenants whose RP ID is that host list.

use crate::error::ApiError;
use crate::origins::Association;
use crate::settings::TenantSettings;
use crate::state::AppState;

/// What the files of `host` (lowercase, no port: [`crate::origins::host_of`]) say: the union
/// of the related origins and apps of every tenant whose RP ID is `host`. Two tenants on one
/// RP ID share its passkeys in every browser anyway, so both are served. 404 `not_found` when
/// no tenant has that RP ID; a tenant whose settings do not load is left out.
pub async fn association(state: &AppState, host: &str) -> Result<Association, ApiError> {
    let tenants = state.store.tenants().await?;
    let on_host: Vec<_> = tenants
        .iter()
        .filter(|t| t.rp_id.eq_ignore_ascii_case(host))
        .collect();
    if on_host.is_empty() {
        return Err(ApiError::NotFound);
    }
    let settings: Vec<TenantSettings> = on_host
        .iter()
        .filter_map(|t| TenantSettings::from_map(&t.settings).ok())
        .collect();
    Ok(Association::of(&settings))
}
