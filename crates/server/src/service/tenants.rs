//! Tenants: finding the tenant a request acts for (by ID, or for a dialect's unauthenticated
//! routes by the host they are served on) and the operator's changes to a tenant's Cedar
//! policy, each audited.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{finish, Provenance, Tenant};
use crate::error::ApiError;
use crate::policy;
use crate::settings::TenantSettings;
use crate::state::AppState;
use crate::store::StoreError;
use crate::tenant::TenantId;

/// The audit trail's name for the operator (the holder of the operator key).
pub const OPERATOR: &str = "operator";

/// How long CORS answers from the origins it last read before it reads them again. A preflight
/// costs a stranger one request and must not cost passkeyd a read of every tenant; a tenant's
/// new origin is allowed by CORS at most this long after it is added. This is no
/// authorisation: every request is still checked against its own tenant's origins at once.
pub const ORIGINS_MAX_AGE: Duration = Duration::from_secs(1);

/// Whether some tenant allows `origin` (for CORS), from the origins read at most
/// [`ORIGINS_MAX_AGE`] ago. False when the tenants cannot be read.
pub async fn origin_allowed(state: &AppState, origin: &str) -> bool {
    if let Some(origins) = state.allowed_origins.fresh(ORIGINS_MAX_AGE) {
        return origins.contains(origin);
    }
    match state.store.tenants().await {
        Ok(tenants) => {
            // A tenant's own origins and its related origins (`crate::origins`): pages on both
            // call the browser-direct routes.
            let origins: HashSet<String> = tenants
                .into_iter()
                .flat_map(|t| {
                    let related = TenantSettings::from_map(&t.settings)
                        .map(|s| s.related_origins)
                        .unwrap_or_default();
                    t.origins.into_iter().chain(related)
                })
                .collect();
            let allowed = origins.contains(origin);
            state.allowed_origins.put(Arc::new(origins));
            allowed
        }
        Err(e) => {
            tracing::warn!(error = %e, "CORS: cannot read tenants");
            false
        }
    }
}

/// The tenant `id`; 404 `not_found` if there is none.
pub async fn tenant(state: &AppState, id: &TenantId) -> Result<Tenant, ApiError> {
    Ok(state.store.tenant(id).await?)
}

/// The tenant `id`, or `None` if there is none.
pub async fn find(state: &AppState, id: &TenantId) -> Result<Option<Tenant>, ApiError> {
    match state.store.tenant(id).await {
        Ok(tenant) => Ok(Some(tenant)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The tenant a dialect's unauthenticated routes act for, among the tenants whose `compat`
/// lists `dialect`, with its settings:
///
/// 1. the one whose RP ID is `host` (lowercase, without port or trailing dot) or a parent
///    domain of it; of several, the one with the longest RP ID, and none if two tie;
/// 2. otherwise, the only one, if exactly one tenant has the dialect on (a single-tenant
///    server, whatever host its clients call).
///
/// Otherwise 404 `not_found`, as if the dialect were off. The host only chooses which
/// tenant's ceremony is begun: the RP ID and origins checked at the finish are the tenant's
/// own.
pub async fn for_dialect_host(
    state: &AppState,
    dialect: &str,
    host: Option<&str>,
) -> Result<(Tenant, TenantSettings), ApiError> {
    let mut on = Vec::new();
    for tenant in state.store.tenants().await? {
        // A tenant whose stored settings do not parse is skipped: its own routes report it.
        if let Ok(settings) = TenantSettings::from_map(&tenant.settings) {
            if settings.compat.iter().any(|d| d == dialect) {
                on.push((tenant, settings));
            }
        }
    }
    if let Some(host) = host {
        let serves = |rp_id: &str| {
            let rp_id = rp_id.to_ascii_lowercase();
            host == rp_id || host.ends_with(&format!(".{rp_id}"))
        };
        let longest = on
            .iter()
            .filter(|(t, _)| serves(&t.rp_id))
            .map(|(t, _)| t.rp_id.len())
            .max();
        if let Some(longest) = longest {
            let mut best: Vec<_> = on
                .into_iter()
                .filter(|(t, _)| serves(&t.rp_id) && t.rp_id.len() == longest)
                .collect();
            return match best.len() {
                1 => Ok(best.remove(0)),
                _ => Err(ApiError::NotFound),
            };
        }
    }
    if on.len() == 1 {
        Ok(on.remove(0))
    } else {
        Err(ApiError::NotFound)
    }
}

/// The tenant's Cedar policy text, `None` when it has none; 404 for an unknown tenant.
pub async fn policy(state: &AppState, tenant: &TenantId) -> Result<Option<String>, ApiError> {
    Ok(state.store.tenant_policy(tenant).await?)
}

/// What [`set_policy`] stored.
#[derive(Clone, Debug)]
pub struct StoredPolicy {
    /// How many policies the text holds.
    pub policies: usize,
    /// The validator's warnings, which do not stop a policy from being stored.
    pub warnings: Vec<String>,
}

/// Replaces the tenant's Cedar policy with `text`, by the operator, audited as `policy.set`
/// with the text's SHA-256. An unknown tenant is 404 before the policy is judged (and not
/// audited); a text that does not parse or validate against passkeyd's schema is 400
/// `policy_invalid` and the old policy stays.
pub async fn set_policy(
    state: &AppState,
    tenant: &TenantId,
    text: &str,
    via: &Provenance,
) -> Result<StoredPolicy, ApiError> {
    state.store.tenant(tenant).await?;
    let mut audit = via.audit(tenant, OPERATOR, "policy.set");
    audit.detail("sha256", policy::text_sha256(text));
    let result = async {
        let checked = policy::check(text).map_err(ApiError::PolicyInvalid)?;
        state.store.set_tenant_policy(tenant, Some(text)).await?;
        Ok(StoredPolicy {
            policies: checked.len(),
            warnings: checked.warnings().to_vec(),
        })
    }
    .await;
    finish(state, audit, result).await
}

/// Removes the tenant's Cedar policy (it permits everything again), by the operator, audited
/// as `policy.clear`; 404 for an unknown tenant.
pub async fn clear_policy(
    state: &AppState,
    tenant: &TenantId,
    via: &Provenance,
) -> Result<(), ApiError> {
    state.store.tenant(tenant).await?;
    let audit = via.audit(tenant, OPERATOR, "policy.clear");
    let result = state
        .store
        .set_tenant_policy(tenant, None)
        .await
        .map_err(ApiError::from);
    finish(state, audit, result).await
}
