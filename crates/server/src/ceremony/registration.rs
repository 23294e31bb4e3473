//! Registration: begin (options for `navigator.credentials.create()`) and finish (verify the
//! attestation, ask the policy, store the credential and the user if new).

use passkeyd_webauthn::json::{
    base64url_decode, base64url_encode, CreationOptionsJson, PublicKeyCredentialDescriptor,
    RelyingPartyEntity, ResidentKeyRequirement, UserEntity, UserVerificationRequirement,
};
use passkeyd_webauthn::{
    verify_registration, AttestationPolicy, ExpectedRegistration, RegistrationResponseJson,
    VerifyError,
};
use serde::{Deserialize, Serialize};

use super::{
    attachment_fact, check_begun_by, check_bound_user, check_failure_throttle, decode_stored,
    finish_observed, optional, parse_state, random, store_session, take_session, Begun, Ceremony,
    Context, RegistrationOverrides,
};
use crate::audit::{self, Audit};
use crate::error::ApiError;
use crate::names::clean_name;
use crate::names::{check_name, MAX_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::policy::{self, Action, Principal, Resource};
use crate::settings::{stronger_attestation, stronger_uv, TenantSettings};
use crate::state::AppState;
use crate::store::{Credential, NewRegistration, SessionKind, StoreError, User};
use crate::token_keys::{self, ResultToken};

/// anything else a client reports is dropped, as the spec asks of unknown values.
const KNOWN_TRANSPORTS: &[&str] = &["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

/// Who is registering.
#[derive(Clone, Debug)]
pub struct Registrant {
    /// The app's user ID; generated when absent.
    pub user_id: Option<String>,
    /// The user name; required for a new user, ignored for an existing one.
    pub user_name: Option<String>,
    /// The display name (defaults to the user name).
    pub display_name: Option<String>,
    /// Whether an existing user (found by ID, or by user name when no ID is given) may get
    /// another credential. False for open sign-up: a stranger with the publishable key must not
    /// add a credential to someone else's account.
    pub may_extend_existing: bool,
}

/// What the finish checks a registration against.
#[derive(Debug, Serialize, Deserialize)]
struct RegistrationState {
    challenge: String,
    user_id: String,
    user_handle: String,
    user_name: String,
    display_name: String,
    user_verification: UserVerificationRequirement,
    algorithms: Vec<i64>,
    exclude: Vec<String>,
    /// Whether the user existed at begin (absent in sessions stored by older versions).
    #[serde(default)]
    existing_user: bool,
    /// [`Context::caller_kind`] of the begin; empty in sessions of older versions, which no
    /// caller can finish.
    #[serde(default)]
    begun_by: String,
    /// A conditional create ([`RegistrationOverrides::conditional`]): UP=0 is accepted.
    #[serde(default)]
    conditional: bool,
}

/// A completed registration.
#[derive(Debug)]
pub struct Registered {
    /// The user (new or existing).
    pub user: User,
    /// The stored credential.
    pub credential: Credential,
    /// The authenticator's name, from the AAGUID list or the MDS.
    pub authenticator_name: Option<String>,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// The signed result token.
    pub token: ResultToken,
    /// The `@notice` annotations of the tenant policies that permitted the registration.
    pub notices: Vec<String>,
}

/// The credentials one user may hold, as the store checks it at registration.
fn credential_limit() -> ApiError {
    ApiError::Conflict(
        "credential_limit",
        "this user holds as many credentials as the tenant allows; delete one first",
    )
}

/// The transports to store: known values only, each once, in a stable order.
fn known_transports(reported: &[String]) -> Vec<String> {
    KNOWN_TRANSPORTS
        .iter()
        .filter(|known| reported.iter().any(|t| t == *known))
        .map(|known| (*known).to_owned())
        .collect()
}

/// Begins a registration.
pub async fn begin_registration(
    state: &AppState,
    ctx: &Context,
    registrant: Registrant,
    overrides: RegistrationOverrides,
) -> Result<Begun<CreationOptionsJson>, ApiError> {
    check_failure_throttle(state, ctx)?;
    let settings = &ctx.settings;
    let mut registrant = registrant;
    if let Some(name) = &registrant.user_name {
        registrant.user_name = Some(clean_name("userName", name, MAX_NAME_BYTES)?);
    }
    if let Some(display) = &registrant.display_name {
        registrant.display_name = Some(clean_name("userDisplayName", display, MAX_NAME_BYTES)?);
    }
    if let Some(id) = &registrant.user_id {
        check_name("userId", id, MAX_USER_ID_BYTES)?;
    }
    let tenant = &ctx.tenant.id;
    let existing = match (&registrant.user_id, &registrant.user_name) {
        (Some(id), _) => optional(state.store.user(tenant, id).await)?,
        (None, Some(name)) => optional(state.store.user_by_name(tenant, name).await)?,
        (None, None) => None,
    };
    // Open sign-up must not tell who has an account: a taken name begins as a new user would
    // (a fresh ID and user handle), and only the finish, after a valid attestation, answers
    // 409 `user_exists` when the store refuses the name.
    let existing = existing.filter(|_| registrant.may_extend_existing);
    let existing_user = existing.is_some();
    let (user_id, user_handle, user_name, display_name, exclude) = match existing {
        Some(user) => {
            let held = state.store.credentials(tenant, &user.id).await?;
            if held.len() >= settings.max_credentials_per_user as usize {
                return Err(credential_limit());
            }
            let exclude = held
                .into_iter()
                .map(|c| PublicKeyCredentialDescriptor::new(c.id, c.transports))
                .collect();
            (
                user.id,
                user.user_handle,
                user.name,
                user.display_name,
                exclude,
            )
        }
        None => {
            let Some(name) = registrant.user_name else {
                return Err(ApiError::InvalidRequest(
                    "userName is required for a new user".to_owned(),
                ));
            };
            let user_id = match registrant.user_id {
                Some(id) => id,
                None => format!("u_{}", base64url_encode(&random::<16>()?)),
            };
            let display = registrant.display_name.unwrap_or_else(|| name.clone());
            (user_id, random::<32>()?.to_vec(), name, display, Vec::new())
        }
    };

    let challenge = random::<32>()?.to_vec();
    let mut options = CreationOptionsJson::new(
        RelyingPartyEntity {
            id: ctx.tenant.rp_id.clone(),
            name: ctx.tenant.rp_name.clone(),
        },
        UserEntity {
            id: passkeyd_webauthn::json::Base64UrlBytes(user_handle.clone()),
            name: user_name.clone(),
            display_name: display_name.clone(),
        },
        challenge.clone(),
    );
    options.pub_key_cred_params = settings
        .cose_algorithms()
        .iter()
        .map(
            |alg| passkeyd_webauthn::json::PublicKeyCredentialParameters {
                type_: passkeyd_webauthn::json::PublicKeyType::PublicKey,
                alg: alg.to_i64(),
            },
        )
        .collect();
    options.timeout = Some(settings.timeout_ms);
    options.exclude_credentials = exclude;
    options.hints.clone_from(&settings.hints);
    options.attestation = settings.attestation;
    options.authenticator_selection.authenticator_attachment = settings.authenticator_attachment;
    options.authenticator_selection.user_verification = settings.user_verification;
    let mut resident_key = settings.resident_key;
    let conditional = overrides.conditional;
    apply_registration_overrides(&mut options, &mut resident_key, settings, overrides)?;
    let options = options.with_resident_key(resident_key);

    let session = RegistrationState {
        challenge: base64url_encode(&challenge),
        user_id,
        user_handle: base64url_encode(&user_handle),
        user_name,
        display_name,
        user_verification: options.authenticator_selection.user_verification,
        algorithms: options.pub_key_cred_params.iter().map(|p| p.alg).collect(),
        exclude: options
            .exclude_credentials
            .iter()
            .map(|c| base64url_encode(&c.id.0))
            .collect(),
        existing_user,
        begun_by: ctx.caller_kind(),
        conditional,
    };
    let token = store_session(state, ctx, SessionKind::Registration, &session, &challenge).await?;
    Ok(Begun {
        session: token,
        options,
    })
}

fn apply_registration_overrides(
    options: &mut CreationOptionsJson,
    resident_key: &mut ResidentKeyRequirement,
    settings: &TenantSettings,
    overrides: RegistrationOverrides,
) -> Result<(), ApiError> {
    let any = overrides.authenticator_attachment.is_some()
        || overrides.resident_key.is_some()
        || overrides.user_verification.is_some()
        || overrides.attestation.is_some()
        || overrides.hints.is_some();
    if !any {
        return Ok(());
    }
    if !settings.allow_request_overrides {
        return Err(ApiError::Forbidden(
            "this tenant does not allow per-request options",
        ));
    }
    if let Some(attachment) = overrides.authenticator_attachment {
        match settings.authenticator_attachment {
            Some(fixed) if fixed != attachment => {
                return Err(ApiError::Forbidden(
                    "the tenant fixes the authenticator attachment",
                ))
            }
            _ => options.authenticator_selection.authenticator_attachment = Some(attachment),
        }
    }
    if let Some(rk) = overrides.resident_key {
        let rank = |rk| match rk {
            ResidentKeyRequirement::Discouraged => 0,
            ResidentKeyRequirement::Preferred => 1,
            ResidentKeyRequirement::Required => 2,
        };
        if rank(rk) > rank(*resident_key) {
            *resident_key = rk;
        }
    }
    if let Some(uv) = overrides.user_verification {
        let selection = &mut options.authenticator_selection;
        selection.user_verification = stronger_uv(selection.user_verification, uv);
    }
    if let Some(attestation) = overrides.attestation {
        options.attestation = stronger_attestation(options.attestation, attestation);
    }
    if let Some(hints) = overrides.hints {
        options.hints = hints;
    }
    Ok(())
}

/// Finishes a registration: takes the session, verifies, asks the tenant's policy (action
/// `Register`, the caller named by `ctx.actor` as principal), stores.
pub async fn finish_registration(
    state: &AppState,
    ctx: &Context,
    session_token: &str,
    response: &[u8],
    friendly_name: Option<String>,
) -> Result<Registered, ApiError> {
    let principal = Principal::from_actor(&ctx.actor);
    finish_registration_as(
        state,
        ctx,
        &principal,
        Action::Register,
        session_token,
        response,
        friendly_name,
    )
    .await
}

/// [`finish_registration`], with the policy decision asked as `action` by `principal`: for
/// callers that know more about the caller than its actor name (a user token's role and
/// domain), or that enrol a second factor ([`Action::EnrolMfa`]).
pub async fn finish_registration_as(
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    action: Action,
    session_token: &str,
    response: &[u8],
    friendly_name: Option<String>,
) -> Result<Registered, ApiError> {
    finish_observed(state, ctx, Ceremony::Registration, async |audit| {
        finish_registration_inner(
            state,
            ctx,
            (principal, action),
            session_token,
            response,
            friendly_name,
            audit,
        )
        .await
    })
    .await
}

async fn finish_registration_inner(
    state: &AppState,
    ctx: &Context,
    (principal, action): (&Principal, Action),
    session_token: &str,
    response: &[u8],
    friendly_name: Option<String>,
    audit: &mut Audit,
) -> Result<Registered, ApiError> {
    let friendly_name = friendly_name
        .map(|name| clean_name("friendlyName", &name, MAX_NAME_BYTES))
        .transpose()?;
    let session: RegistrationState =
        parse_state(&take_session(state, ctx, session_token, SessionKind::Registration).await?)?;
    audit.subject(format!("user:{}", session.user_id));
    check_bound_user(ctx, Some(&session.user_id))?;
    check_begun_by(ctx, &session.begun_by)?;
    let tenant = &ctx.tenant.id;
    let existing = optional(state.store.user(tenant, &session.user_id).await)?;
    match &existing {
        // Deleted since the begin: a finish must not bring the user back.
        None if session.existing_user => return Err(ApiError::NotFound),
        // Created (or re-created) by another request since the begin: the authenticator was
        // given another user handle than the user's, so the passkey could never sign in.
        Some(user) if user.user_handle != decode_stored(&session.user_handle)? => {
            return Err(ApiError::Conflict(
                "user_exists",
                "the user was created by another request meanwhile; begin again",
            ))
        }
        Some(_) | None => {}
    }

    let parsed = RegistrationResponseJson::from_json(response)?;
    let verified = verify_registration_response(state, ctx, &session, &parsed)
        .map_err(|e| ctx.rejected(e, &parsed.response.client_data_json.0))?;

    let now = state.clock.now().0;
    let user_existed = existing.is_some();
    let user = match existing {
        Some(user) => user,
        None => User {
            id: session.user_id.clone(),
            user_handle: decode_stored(&session.user_handle)?,
            name: session.user_name.clone(),
            display_name: session.display_name.clone(),
            failed_attempts: 0,
            last_failed_at: None,
            created_at: now,
        },
    };
    let credential = Credential {
        id: verified.credential_id.clone(),
        user_id: user.id.clone(),
        public_key: verified.public_key.clone(),
        algorithm: verified.algorithm.to_i64(),
        sign_count: verified.sign_count,
        uv_initialized: verified.user_verified(),
        backup_eligible: verified.backup_eligible(),
        backup_state: verified.backup_state(),
        transports: known_transports(&verified.transports),
        aaguid: verified.aaguid.0.to_vec(),
        attestation_format: verified.attestation.format.as_str().to_owned(),
        attestation_type: verified
            .attestation
            .attestation_type
            .as_str()
            .to_ascii_lowercase(),
        attestation_object: parsed.response.attestation_object.0,
        friendly_name,
        created_at: now,
        last_used_at: None,
        prf_enabled: false,
    };
    audit.subject(format!(
        "user:{} credential:{}",
        user.id,
        base64url_encode(&credential.id)
    ));
    audit.detail("aaguid", audit::aaguid_text(&credential.aaguid));
    audit.detail("attestation_type", credential.attestation_type.clone());

    // A tenant that relies on the MDS may refuse registrations while it is stale (missing, or
    // past its nextUpdate with no fresh BLOB stored); policies see the fact as `mdsStale`.
    let mds_stale = state.mds.stale(state.clock.now());
    if mds_stale && ctx.settings.attestation_policy.require_fresh_mds {
        return Err(ApiError::PolicyDenied {
            notices: vec![MDS_STALE_NOTICE.to_owned()],
        });
    }

    // The tenant's policy, on the verified facts, before anything is stored.
    let notices = match policy::tenant_policies(state, tenant).await? {
        Some(policies) => {
            let count = if user_existed {
                state.store.credentials(tenant, &user.id).await?.len()
            } else {
                0
            };
            let resource = Resource {
                authenticator_attachment: attachment_fact(
                    parsed.authenticator_attachment.as_deref(),
                ),
                attestation_trusted: Some(verified.attestation.trusted),
                mds_stale: Some(mds_stale),
                ..Resource::for_credential(&user, &credential, count)
            };
            policies.decide(principal, action, &resource)?
        }
        None => Vec::new(),
    };

    let user_verified = verified.user_verified();
    // Signed before the registration is stored, so that nothing can fail once it is: the
    // registration and its audit event (outcome `success`) are then stored in one unit of
    // work. A token signed for a registration that is not stored is never sent.
    let token = token_keys::mint(
        state,
        (&ctx.tenant, &ctx.settings),
        token_keys::Purpose::Registration,
        &user,
        Some(&credential.id),
        user_verified,
    )
    .await?;
    let registration = NewRegistration {
        user,
        credential,
        max_credentials: Some(ctx.settings.max_credentials_per_user),
    };
    let event = audit.event(state, "success");
    match state
        .store
        .record_registration(tenant, &registration, &event)
        .await
    {
        Ok(()) => audit.stored_with(),
        Err(StoreError::Conflict("credential_exists")) => {
            return Err(ApiError::Conflict(
                "credential_exists",
                "this credential is already registered",
            ))
        }
        Err(StoreError::Conflict("credential_limit")) => return Err(credential_limit()),
        Err(StoreError::Conflict("user_name_taken")) => {
            return Err(ApiError::Conflict(
                "user_exists",
                "another user has this user name",
            ))
        }
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "user_exists",
                "the user was created by another request meanwhile; begin again",
            ))
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    let NewRegistration {
        user, credential, ..
    } = registration;
    Ok(Registered {
        authenticator_name: state.authenticator_name(&verified.aaguid),
        user,
        credential,
        user_verified,
        token,
        notices,
    })
}

fn verify_registration_response(
    state: &AppState,
    ctx: &Context,
    session: &RegistrationState,
    response: &RegistrationResponseJson,
) -> Result<passkeyd_webauthn::VerifiedRegistration, VerifyError> {
    let rp = ctx.relying_party();
    let challenge = base64url_decode(&session.challenge).unwrap_or_default();
    let algorithms: Vec<_> = session
        .algorithms
        .iter()
        .filter_map(|a| passkeyd_webauthn::CoseAlgorithm::from_i64(*a))
        .collect();
    let exclude: Vec<Vec<u8>> = session
        .exclude
        .iter()
        .filter_map(|c| base64url_decode(c).ok())
        .collect();
    let exclude: Vec<&[u8]> = exclude.iter().map(Vec::as_slice).collect();
    let policy = attestation_policy(state, &ctx.settings);
    let mut expected = ExpectedRegistration::new(&rp, &challenge, &policy);
    expected.user_verification = session.user_verification;
    expected.algorithms = &algorithms;
    expected.exclude_credentials = &exclude;
    // WebAuthn L3 §7.1: the UP check is skipped for a conditional create only.
    expected.require_user_presence = !session.conditional;
    verify_registration(response, &expected, state.clock.now())
}

/// The notice of a registration refused by `attestation_policy.require_fresh_mds`.
const MDS_STALE_NOTICE: &str = "mds_stale: the FIDO metadata (MDS BLOB) is missing or past its \
     nextUpdate, and this tenant requires a fresh one to register";

fn attestation_policy(state: &AppState, settings: &TenantSettings) -> AttestationPolicy {
    let rules = settings.attestation_policy;
    AttestationPolicy {
        allow_none: rules.allow_none,
        allow_self: rules.allow_self,
        require_trusted_chain: rules.require_trusted,
        use_bundled_roots: true,
        metadata: state.metadata(),
        ..AttestationPolicy::default()
    }
}
