//! Cedar policies per tenant: who may register, authenticate, manage credentials and enrol
//! MFA, decided per request, with the `@notice` annotations of the policies that decided.
//!
//! The model (docs/policies/README.md has it for tenants):
//! - A tenant without a policy permits everything. With a policy, Cedar's rules apply: a
//!   request is allowed only if some `permit` matches and no `forbid` does (default deny), so a
//!   policy usually starts with `permit(principal, action, resource);` and restricts with
//!   `forbid` rules.
//! - The principal is an [`Principal::ApiKey`] (the app's backend or a browser) or a
//!   [`Principal::User`] (a user token, with the role and domain the app gave it); the
//!   resource is the credential concerned ([`Resource`]), with the facts a ceremony
//!   established. [`SCHEMA`] names them, and every policy is validated against it in strict
//!   mode before it is stored, so a policy cannot name an attribute that does not exist.
//! - A policy that fails to evaluate (which strict validation makes rare) fails closed: the
//!   request is denied.
//!
//! The text is read from the store at every decision (one indexed query), so a policy changed
//! on one node applies on every node at once; the parsed form is cached by the text's SHA-256,
//! so it is parsed and validated again only when the text changes.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_lc_rs::digest::{digest, SHA256};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};

pub mod invalid;
pub use invalid::{PolicyError, MAX_POLICY_BYTES};

use crate::audit::Audit;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Credential, User};
use crate::tenant::TenantId;

/// The Cedar schema (Cedar's schema syntax) that policies are validated against.
pub const SCHEMA: &str = include_str!("policy/schema.cedarschema");
/// The namespace of every entity type and action in [`SCHEMA`].
pub const NAMESPACE: &str = "Passkeyd";
/// The annotation whose value is returned in `notices`.
pub const NOTICE_ANNOTATION: &str = "notice";
/// How many parsed policy sets are kept; past that the cache starts afresh.
const MAX_CACHED: usize = 256;

/// What is being attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Registering a credential.
    Register,
    /// Signing in with a credential.
    Authenticate,
    /// Listing, renaming or deleting a credential.
    ManageCredential,
    /// Enrolling a passkey as a second factor.
    EnrolMfa,
}

impl Action {
    /// The action's name in policies (`Passkeyd::Action::"Register"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "Register",
            Self::Authenticate => "Authenticate",
            Self::ManageCredential => "ManageCredential",
            Self::EnrolMfa => "EnrolMfa",
        }
    }
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The app's backend, by API key prefix.
    ApiKey {
        /// The key's public prefix.
        prefix: String,
    },
    /// A user acting for themselves (a user token), or the user a ceremony is for.
    User {
        /// The app's user ID.
        id: String,
        /// The role the app gave the user's token, if any.
        role: Option<String>,
        /// The domain the app gave the user's token, if any.
        domain: Option<String>,
        /// How the user's token was earned, when the user acts with one (the request context:
        /// `amr`, `authTime`, `authAge`, `tokenAge`).
        token: Option<TokenFacts>,
    },
}

/// How the caller's token was earned, as the request context shows it to policies, so that a
/// tenant can ask for a fresher or stronger proof than passkeyd's step-up rule does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenFacts {
    /// The token's `amr`: `passkey` (and `user` with user verification) for a passkey
    /// sign-in, `backup_code` for a verified backup code, none for a token the app minted.
    pub amr: Vec<String>,
    /// The token's `auth_time`, Unix seconds.
    pub auth_time: i64,
    /// Seconds since `auth_time`.
    pub auth_age_secs: i64,
    /// Seconds since the token was issued (`iat`).
    pub token_age_secs: i64,
}

impl Principal {
    /// The principal behind an audit-trail actor name: `api_key:<prefix>` is the API key,
    /// `user:<id>` a user (without role or domain: callers that know them build the
    /// [`Principal::User`] themselves).
    pub fn from_actor(actor: &str) -> Self {
        match actor.split_once(':') {
            Some(("user", id)) => Self::User {
                id: id.to_owned(),
                role: None,
                domain: None,
                token: None,
            },
            Some(("api_key", prefix)) => Self::ApiKey {
                prefix: prefix.to_owned(),
            },
            _ => Self::ApiKey {
                prefix: actor.to_owned(),
            },
        }
    }
}

/// What is acted on: the credential (as far as known) and its owner.
///
/// Build it with [`Resource::for_credential`] (or [`resource_for_credential`]) for a stored
/// credential; `..Resource::default()` keeps struct literals working as fields are added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// The owner's user ID.
    pub user_id: String,
    /// The owner's domain: the part after `@` of their user name, lowercased, if any.
    pub user_domain: Option<String>,
    /// The authenticator model (hyphenated AAGUID), when attested or stored. Policies see it
    /// only when `attestation_type` is an attested type (`basic`, `attca`, `anonca`): a value
    /// given with none or self attestation is dropped, as nothing vouches for it.
    pub aaguid: Option<String>,
    /// Attestation statement format.
    pub attestation_format: Option<String>,
    /// Attestation type (`none`, `self`, `basic`, `attca`, `anonca`).
    pub attestation_type: Option<String>,
    /// Whether the user was verified.
    pub user_verified: Option<bool>,
    /// Whether the credential can be synced.
    pub backup_eligible: Option<bool>,
    /// `platform` or `cross-platform`, as the client reported it.
    pub authenticator_attachment: Option<String>,
    /// Transports.
    pub transports: Vec<String>,
    /// How many credentials the owner has (before a registration).
    pub credential_count: u32,
    /// The credential ID (base64url), when there is a credential yet.
    pub credential_id: Option<String>,
    /// Whether the attestation chain ends at a trusted root; known at registration only.
    pub attestation_trusted: Option<bool>,
    /// Whether the FIDO metadata BLOB is missing or past its `nextUpdate`; known at
    /// registration only.
    pub mds_stale: Option<bool>,
}

impl Resource {
    /// The facts of a stored credential of `user`, who has `credential_count` credentials.
    /// `user_verified` is the one recorded at registration; an authentication replaces it with
    /// its own.
    pub fn for_credential(user: &User, credential: &Credential, credential_count: usize) -> Self {
        Self {
            user_id: user.id.clone(),
            user_domain: user_domain(&user.name),
            aaguid: Some(crate::audit::aaguid_text(&credential.aaguid)),
            attestation_format: Some(credential.attestation_format.clone()),
            attestation_type: Some(credential.attestation_type.clone()),
            user_verified: Some(credential.uv_initialized),
            backup_eligible: Some(credential.backup_eligible),
            authenticator_attachment: None,
            transports: credential.transports.clone(),
            credential_count: u32::try_from(credential_count).unwrap_or(u32::MAX),
            credential_id: Some(passkeyd_webauthn::json::base64url_encode(&credential.id)),
            attestation_trusted: None,
            mds_stale: None,
        }
    }
}

/// [`Resource::for_credential`], counting the owner's credentials in the store.
pub async fn resource_for_credential(
    state: &AppState,
    tenant: &TenantId,
    credential: &Credential,
    user: &User,
) -> Result<Resource, ApiError> {
    let count = state.store.credentials(tenant, &user.id).await?.len();
    Ok(Resource::for_credential(user, credential, count))
}

/// The domain of a user name such as `alice@example.com`: the part after the last `@`,
/// lowercased; `None` when there is no `@` or nothing after it.
pub fn user_domain(user_name: &str) -> Option<String> {
    user_name
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().to_lowercase())
        .filter(|domain| !domain.is_empty())
}

/// Whether an attestation type vouches for the authenticator model with a certificate.
pub fn is_attested(attestation_type: &str) -> bool {
    ["basic", "attca", "anonca"]
        .iter()
        .any(|t| attestation_type.eq_ignore_ascii_case(t))
}

/// The SHA-256 of a policy text, hex: how the audit trail names a policy without holding it.
pub fn text_sha256(text: &str) -> String {
    digest(&SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A tenant's policies, parsed and validated against [`SCHEMA`].
#[derive(Debug)]
pub struct TenantPolicies {
    policies: PolicySet,
    warnings: Vec<String>,
}

/// The validator, holding the parsed [`SCHEMA`].
fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // Invariant: SCHEMA is a constant that the unit tests parse; it cannot fail at run time.
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).expect("the built-in Cedar schema parses");
        Validator::new(schema)
    })
}

/// The parsed [`SCHEMA`].
pub fn schema() -> &'static Schema {
    validator().schema()
}

/// Parses `text` and validates it against [`SCHEMA`] in strict mode: what the admin API and
/// the CLI run before storing a policy, so an invalid policy is never stored.
pub fn check(text: &str) -> Result<TenantPolicies, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge);
    }
    let policies = PolicySet::from_str(text)
        .map_err(|errors| PolicyError::Parse(in_text_order(text, errors.iter())))?;
    if policies.num_of_templates() > 0 {
        return Err(PolicyError::Invalid(vec![
            "templates (policies with ?principal or ?resource) are not supported".to_owned(),
        ]));
    }
    if policies.is_empty() {
        return Err(PolicyError::Empty);
    }
    let result = validator().validate(&policies, ValidationMode::Strict);
    if !result.validation_passed() {
        return Err(PolicyError::Invalid(in_text_order(
            text,
            result.validation_errors(),
        )));
    }
    let warnings = in_text_order(text, result.validation_warnings());
    Ok(TenantPolicies { policies, warnings })
}

/// The diagnostics [`describe`]d, in the order of the places in `text` they point at (Cedar
/// reports them in no fixed order).
fn in_text_order<'a, D: miette::Diagnostic + 'a>(
    text: &str,
    diagnostics: impl Iterator<Item = &'a D>,
) -> Vec<String> {
    let mut described: Vec<(usize, String)> = diagnostics
        .map(|d| {
            let offset = d
                .labels()
                .and_then(|mut labels| labels.next())
                .map_or(usize::MAX, |label| label.offset());
            (offset, describe(text, d))
        })
        .collect();
    described.sort();
    described.into_iter().map(|(_, message)| message).collect()
}

/// `line L, column C: message (label) (help)`, from a Cedar diagnostic about `text`.
fn describe(text: &str, diagnostic: &dyn miette::Diagnostic) -> String {
    let mut message = diagnostic.to_string();
    if let Some(label) = diagnostic.labels().and_then(|mut labels| labels.next()) {
        let before = text.get(..label.offset().min(text.len())).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        message = format!("line {line}, column {column}: {message}");
        if let Some(label) = label.label() {
            message = format!("{message} ({label})");
        }
    }
    if let Some(help) = diagnostic.help() {
        message = format!("{message} ({help})");
    }
    message
}

impl TenantPolicies {
    /// How many policies there are.
    pub fn len(&self) -> usize {
        self.policies.num_of_policies()
    }

    /// Whether there are none (never true for policies that passed [`check`]).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The validator's warnings (e.g. confusable characters in strings); they do not stop a
    /// policy from being stored.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Decides `action` by `principal` on `resource`: `Ok` with the notices of the permitting
    /// policies, or 403 `policy_denied` with the notices of the forbidding ones. A policy that
    /// fails to evaluate denies (fail closed), with its notice if it has one.
    pub fn decide(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Result<Vec<String>, ApiError> {
        let (request, entities) = request(principal, action, resource)?;
        let response = Authorizer::new().is_authorized(&request, &self.policies, &entities);
        let diagnostics = response.diagnostics();
        let errored: Vec<&PolicyId> = diagnostics
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
            })
            .collect();
        if !errored.is_empty() {
            for error in diagnostics.errors() {
                tracing::warn!(
                    action = action.as_str(),
                    error = %error,
                    "a tenant policy failed to evaluate; denying"
                );
            }
            return Err(ApiError::PolicyDenied {
                notices: self.notices(errored),
            });
        }
        let notices = self.notices(diagnostics.reason().collect());
        match response.decision() {
            Decision::Allow => Ok(notices),
            Decision::Deny => Err(ApiError::PolicyDenied { notices }),
        }
    }

    /// The `@notice` values of `ids`, in the order the policies are written, each once.
    fn notices(&self, mut ids: Vec<&PolicyId>) -> Vec<String> {
        // Cedar names the policies of a text `policy0`, `policy1`...: by length, then by text,
        // is the order they are written in.
        ids.sort_by(|a, b| {
            let (a, b) = (a.to_string(), b.to_string());
            a.len().cmp(&b.len()).then(a.cmp(&b))
        });
        let mut notices: Vec<String> = Vec::new();
        for id in ids {
            if let Some(notice) = self.policies.annotation(id, NOTICE_ANNOTATION) {
                if !notices.iter().any(|n| n == notice) {
                    notices.push(notice.to_owned());
                }
            }
        }
        notices
    }
}

/// The Cedar request and entities for a decision.
fn request(
    principal: &Principal,
    action: Action,
    resource: &Resource,
) -> Result<(Request, Entities), ApiError> {
    let schema = schema();
    let owner = uid("User", &resource.user_id)?;
    let mut entities = Vec::with_capacity(3);
    let principal_uid = match principal {
        Principal::ApiKey { prefix } => {
            let kind = match prefix.get(..3) {
                Some("sk_") => "secret",
                Some("pk_") => "publishable",
                _ => "unknown",
            };
            let uid = uid("ApiKey", prefix)?;
            entities.push(entity(
                &uid,
                [("kind", RestrictedExpression::new_string(kind.to_owned()))],
            )?);
            uid
        }
        Principal::User {
            id, role, domain, ..
        } => {
            let uid = uid("User", id)?;
            let attrs =
                [("role", role), ("domain", domain)]
                    .into_iter()
                    .filter_map(|(name, value)| {
                        value
                            .clone()
                            .map(|v| (name, RestrictedExpression::new_string(v)))
                    });
            entities.push(entity(&uid, attrs)?);
            uid
        }
    };
    if owner != principal_uid {
        // Another user's role and domain are not known: the owner is named, nothing more.
        entities.push(entity(&owner, [])?);
    }
    let resource_uid = uid(
        "Credential",
        resource.credential_id.as_deref().unwrap_or_default(),
    )?;
    entities.push(entity(
        &resource_uid,
        resource_attributes(resource, &owner),
    )?);
    let action_uid = uid("Action", action.as_str())?;
    let context = match principal {
        Principal::User {
            token: Some(facts), ..
        } => Context::from_pairs([
            (
                "amr".to_owned(),
                RestrictedExpression::new_set(
                    facts
                        .amr
                        .iter()
                        .map(|m| RestrictedExpression::new_string(m.clone())),
                ),
            ),
            (
                "authTime".to_owned(),
                RestrictedExpression::new_long(facts.auth_time),
            ),
            (
                "authAge".to_owned(),
                RestrictedExpression::new_long(facts.auth_age_secs),
            ),
            (
                "tokenAge".to_owned(),
                RestrictedExpression::new_long(facts.token_age_secs),
            ),
        ])
        .map_err(ApiError::internal)?,
        _ => Context::empty(),
    };
    let request = Request::new(
        principal_uid,
        action_uid,
        resource_uid,
        context,
        Some(schema),
    )
    .map_err(ApiError::internal)?;
    let entities = Entities::from_entities(entities, Some(schema)).map_err(ApiError::internal)?;
    Ok((request, entities))
}

fn resource_attributes(
    resource: &Resource,
    owner: &EntityUid,
) -> Vec<(&'static str, RestrictedExpression)> {
    let string = |value: &str| RestrictedExpression::new_string(value.to_owned());
    let mut attrs = vec![
        ("owner", RestrictedExpression::new_entity_uid(owner.clone())),
        (
            "transports",
            RestrictedExpression::new_set(resource.transports.iter().map(|t| string(t))),
        ),
        (
            "credentialCount",
            RestrictedExpression::new_long(i64::from(resource.credential_count)),
        ),
    ];
    let attested = resource
        .attestation_type
        .as_deref()
        .is_some_and(is_attested);
    let strings = [
        ("ownerDomain", resource.user_domain.as_deref()),
        ("aaguid", resource.aaguid.as_deref().filter(|_| attested)),
        ("attestationFormat", resource.attestation_format.as_deref()),
        ("attestationType", resource.attestation_type.as_deref()),
        (
            "authenticatorAttachment",
            resource.authenticator_attachment.as_deref(),
        ),
    ];
    for (name, value) in strings {
        if let Some(value) = value {
            let value = match name {
                // Compared with lists written by hand: one spelling.
                "aaguid" | "attestationType" => value.to_ascii_lowercase(),
                _ => value.to_owned(),
            };
            attrs.push((name, RestrictedExpression::new_string(value)));
        }
    }
    let bools = [
        ("attestationTrusted", resource.attestation_trusted),
        ("mdsStale", resource.mds_stale),
        ("userVerified", resource.user_verified),
        ("backupEligible", resource.backup_eligible),
    ];
    for (name, value) in bools {
        if let Some(value) = value {
            attrs.push((name, RestrictedExpression::new_bool(value)));
        }
    }
    attrs
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, ApiError> {
    let type_name = EntityTypeName::from_str(&format!("{NAMESPACE}::{type_name}"))
        .map_err(ApiError::internal)?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        EntityId::new(id),
    ))
}

fn entity(
    uid: &EntityUid,
    attrs: impl IntoIterator<Item = (&'static str, RestrictedExpression)>,
) -> Result<Entity, ApiError> {
    let attrs: HashMap<String, RestrictedExpression> = attrs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    Entity::new(uid.clone(), attrs, HashSet::new()).map_err(ApiError::internal)
}

/// Parsed policies by the SHA-256 of their text.
fn cache() -> &'static Mutex<HashMap<[u8; 32], Arc<TenantPolicies>>> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], Arc<TenantPolicies>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The tenant's policies, `None` when it has none. Reads the text from the store (so a change
/// made on another node applies here at once) and parses it only when it changed.
///
/// A stored text that no longer parses or validates (say, after an upgrade changed the schema)
/// fails closed: every decision of the tenant is 500 `internal`, logged with the reason, until
/// an operator fixes the policy (`passkeyd policy check` tells what is wrong).
pub async fn tenant_policies(
    state: &AppState,
    tenant: &TenantId,
) -> Result<Option<Arc<TenantPolicies>>, ApiError> {
    let Some(text) = state.store.tenant_policy(tenant).await? else {
        return Ok(None);
    };
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    // A panic while holding the lock cannot leave the map half-updated (inserts are single
    // calls), so a poisoned lock is safe to keep using.
    if let Some(found) = cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Some(found.clone()));
    }
    let policies = match check(&text) {
        Ok(policies) => Arc::new(policies),
        Err(e) => {
            return Err(ApiError::internal(StoredPolicyError {
                tenant: tenant.clone(),
                source: e,
            }))
        }
    };
    let mut cached = cache().lock().unwrap_or_else(PoisonError::into_inner);
    if cached.len() >= MAX_CACHED {
        cached.clear();
    }
    cached.insert(key, policies.clone());
    Ok(Some(policies))
}

/// A stored policy that does not parse or validate any more.
#[derive(Debug, thiserror::Error)]
#[error("the stored policy of tenant {tenant} is invalid")]
struct StoredPolicyError {
    tenant: TenantId,
    #[source]
    source: PolicyError,
}

/// Keeps the notices of a policy denial in an audit event (`details.notices`, one a line).
pub fn note_denial(audit: &mut Audit, error: Option<&ApiError>) {
    if let Some(ApiError::PolicyDenied { notices }) = error {
        if !notices.is_empty() {
            audit.detail("notices", notices.join("\n"));
        }
    }
}

/// Decides `action` by `principal` on `resource` under the tenant's policies. `Ok` carries the
/// notices of the permitting policies; a denial is 403 `policy_denied` with the notices of the
/// forbidding ones. A tenant without policies permits everything.
pub async fn authorize(
    state: &AppState,
    tenant: &TenantId,
    principal: &Principal,
    action: Action,
    resource: &Resource,
) -> Result<Vec<String>, ApiError> {
    match tenant_policies(state, tenant).await? {
        Some(policies) => policies.decide(principal, action, resource),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests;
