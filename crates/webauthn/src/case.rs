//! Ceremony cases: a saved response plus the relying party's parameters, in the schema of the
//! test corpus (`tests/vectors/README.md`). `passkeyd verify` and the vector tests run them.
//!
//! A case's `expect` member is never read here: it holds the outcome a test compares against.

use serde::Deserialize;

use crate::attestation::AttestationPolicy;
use crate::authentication::{
    verify_authentication, CounterPolicy, ExpectedAuthentication, StoredCredential,
    UserIdentification,
};
use crate::cose_key::CoseAlgorithm;
use crate::error::VerifyError;
use crate::json::{
    base64url_decode, base64url_encode, AuthenticationResponseJson, Base64UrlBytes,
    RegistrationResponseJson, UserVerificationRequirement,
};
use crate::registration::{verify_registration, ExpectedRegistration};
use crate::relying_party::RelyingParty;
use crate::trust::{TrustAnchors, UnixTime};

/// Which ceremony a case holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ceremony {
    /// A `navigator.credentials.create()` response.
    Registration,
    /// A `navigator.credentials.get()` response.
    Authentication,
}

/// One case file. Unknown members (`expect`, `source`, `notes`...) are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Registration or authentication.
    pub ceremony: Ceremony,
    /// The RP ID.
    pub rp_id: String,
    /// The one allowed origin.
    #[serde(default)]
    pub origin: Option<String>,
    /// Several allowed origins.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Allowed top-level origins for cross-origin ceremonies.
    #[serde(default)]
    pub top_origins: Vec<String>,
    /// Whether `crossOrigin: true` is acceptable.
    #[serde(default)]
    pub allow_cross_origin: bool,
    /// The issued challenge, base64url.
    pub challenge: String,
    /// The user verification policy.
    #[serde(default)]
    pub user_verification: UserVerificationRequirement,
    /// The offered `pubKeyCredParams` (absent: every supported algorithm but RS1).
    #[serde(default)]
    pub allowed_algorithms: Option<Vec<i64>>,
    /// False only when user presence is not required.
    #[serde(default = "yes")]
    pub require_user_presence: bool,
    /// PEM trust anchors; when present the attestation chain must reach one.
    #[serde(default)]
    pub trust_roots: Vec<String>,
    /// The verification time (RFC 3339); absent: the caller's `now`.
    #[serde(default)]
    pub verify_at: Option<String>,
    /// Checks the case's source deliberately disabled.
    #[serde(default)]
    pub skip_checks: Vec<String>,
    /// The credential JSON.
    pub response: serde_json::Value,
    /// Authentication: the stored COSE public key, base64url.
    #[serde(default)]
    pub credential_public_key: Option<Base64UrlBytes>,
    /// Authentication: the stored signature counter.
    #[serde(default)]
    pub prior_sign_count: u32,
    /// Authentication: BE as stored at registration (absent: not compared).
    #[serde(default)]
    pub stored_backup_eligible: Option<bool>,
    /// Authentication: the owner's user handle, base64url (absent: not compared).
    #[serde(default)]
    pub user_handle: Option<Base64UrlBytes>,
    /// Registration: accept deprecated statement formats (`android-safetynet`).
    #[serde(default)]
    pub allow_legacy_formats: bool,
    /// Authentication, identified flow: the user identified before the ceremony, base64url
    /// (absent: the credential's owner).
    #[serde(default)]
    pub identified_user_handle: Option<Base64UrlBytes>,
    /// Also accept `https` subdomains of the RP ID as origins.
    #[serde(default)]
    pub allow_subdomains: bool,
    /// Registration: the issued `excludeCredentials` IDs, base64url.
    #[serde(default)]
    pub exclude_credentials: Vec<Base64UrlBytes>,
    /// Authentication: the issued `allowCredentials` IDs, base64url (absent: exactly the
    /// response's `rawId`; empty: an empty list).
    #[serde(default)]
    pub allow_credentials: Option<Vec<Base64UrlBytes>>,
    /// Authentication: a discoverable (usernameless) flow, where the user is found through the
    /// credential and the response must carry the owner's user handle. Overrides
    /// `allow_credentials`.
    #[serde(default)]
    pub discoverable: bool,
    /// Authentication: the ID of the stored credential record the server looked up (absent: the
    /// response's `rawId`).
    #[serde(default)]
    pub stored_credential_id: Option<Base64UrlBytes>,
    /// Authentication: what a signature counter that did not increase means, `reject` (default)
    /// or `flag`.
    #[serde(default, deserialize_with = "counter_policy")]
    pub counter_policy: CounterPolicy,
    /// Authentication: accept a credential stored with BE=0 that now reports BE=1.
    #[serde(default)]
    pub allow_backup_eligibility_upgrade: bool,
}

fn counter_policy<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<CounterPolicy, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Name {
        Flag,
        Reject,
    }
    Ok(match Name::deserialize(deserializer)? {
        Name::Flag => CounterPolicy::Flag,
        Name::Reject => CounterPolicy::Reject,
    })
}

fn yes() -> bool {
    true
}

/// What the caller adds to every case it runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The verification time for cases without `verify_at`.
    pub now: UnixTime,
    /// Trust anchors added to each case's own `trust_roots`; when not empty, attestation chains
    /// must reach one of them.
    pub trust_anchors: TrustAnchors,
    /// Accept deprecated statement formats (`android-safetynet`) in every case.
    pub allow_legacy_formats: bool,
    /// A verified FIDO Metadata Service BLOB to consult (revocations, per-model roots).
    pub metadata: Option<std::sync::Arc<crate::mds::MetadataBlob>>,
    /// Trust the vendor roots bundled with the crate; attestation chains must then be anchored.
    pub use_bundled_roots: bool,
}

impl RunOptions {
    /// No extra anchors, no legacy formats.
    pub fn new(now: UnixTime) -> Self {
        Self {
            now,
            trust_anchors: TrustAnchors::new(),
            allow_legacy_formats: false,
            metadata: None,
            use_bundled_roots: false,
        }
    }
}

/// Why a case could not be run at all (as opposed to being rejected by verification).
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The case file is not valid JSON of the case schema.
    #[error("not a ceremony case: {0}")]
    Schema(#[from] serde_json::Error),
    /// A parameter of the case (not of the response) is invalid.
    #[error("invalid case parameter `{0}`")]
    Parameter(&'static str),
}

/// What verifying a case gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaseReport {
    /// Whether the response verified.
    pub ok: bool,
    /// The error code when it did not.
    pub code: Option<&'static str>,
    /// The error message when it did not.
    pub message: Option<String>,
    /// Registration: the attestation statement format.
    pub fmt: Option<String>,
    /// The credential key's COSE algorithm.
    pub alg: Option<i64>,
    /// Registration: the attestation type.
    pub attestation_type: Option<&'static str>,
    /// The credential ID, base64url.
    pub credential_id: Option<String>,
    /// Registration: the credential public key to store, base64url COSE_Key.
    pub credential_public_key: Option<String>,
    /// Registration: the AAGUID.
    pub aaguid: Option<String>,
    /// The signature counter.
    pub sign_count: Option<u32>,
    /// The UP flag.
    pub user_present: Option<bool>,
    /// The UV flag.
    pub user_verified: Option<bool>,
    /// The BE flag.
    pub backup_eligible: Option<bool>,
    /// The BS flag.
    pub backup_state: Option<bool>,
    /// Registration: whether the attestation chain reached a configured root.
    pub trusted: Option<bool>,
    /// Authentication: whether the counter did not increase (accepted only under the `flag`
    /// counter policy).
    pub counter_regressed: Option<bool>,
}

impl CaseReport {
    fn failed(error: &VerifyError) -> Self {
        Self {
            ok: false,
            code: Some(error.code()),
            message: Some(error.to_string()),
            ..Self::default()
        }
    }
}

/// Parses an RFC 3339 instant into [`UnixTime`].
pub fn parse_instant(text: &str) -> Option<UnixTime> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(UnixTime(t.unix_timestamp()))
}

impl Case {
    /// Parses a case file.
    pub fn from_json(json: &[u8]) -> Result<Self, CaseError> {
        Ok(serde_json::from_slice(json)?)
    }

    /// Verifies the case's response; `now` is used when the case has no `verify_at`.
    pub fn run(&self, now: UnixTime) -> Result<CaseReport, CaseError> {
        self.run_with(&RunOptions::new(now))
    }

    /// Verifies the case's response with options from the caller (`passkeyd verify` flags).
    pub fn run_with(&self, options: &RunOptions) -> Result<CaseReport, CaseError> {
        let now = options.now;
        let origins: Vec<String> = self.origin.iter().chain(&self.origins).cloned().collect();
        let mut rp =
            RelyingParty::new(self.rp_id.clone(), origins).allow_subdomains(self.allow_subdomains);
        if self.allow_cross_origin {
            rp = rp.allow_cross_origin(self.top_origins.clone());
        }
        let challenge =
            base64url_decode(&self.challenge).map_err(|_| CaseError::Parameter("challenge"))?;
        let now = match &self.verify_at {
            Some(at) => parse_instant(at).ok_or(CaseError::Parameter("verify_at"))?,
            None => now,
        };
        let report = match self.ceremony {
            Ceremony::Registration => self.run_registration(&rp, &challenge, now, options)?,
            Ceremony::Authentication => self.run_authentication(&rp, &challenge)?,
        };
        Ok(report)
    }

    fn algorithms(&self) -> Result<Vec<CoseAlgorithm>, CaseError> {
        match &self.allowed_algorithms {
            None => Ok(CoseAlgorithm::DEFAULT.to_vec()),
            Some(ids) => ids
                .iter()
                .map(|id| CoseAlgorithm::from_i64(*id))
                .collect::<Option<Vec<_>>>()
                .ok_or(CaseError::Parameter("allowed_algorithms")),
        }
    }

    fn run_registration(
        &self,
        rp: &RelyingParty,
        challenge: &[u8],
        now: UnixTime,
        options: &RunOptions,
    ) -> Result<CaseReport, CaseError> {
        let mut anchors = options.trust_anchors.clone();
        for pem in &self.trust_roots {
            anchors
                .add_pem(pem)
                .map_err(|_| CaseError::Parameter("trust_roots"))?;
        }
        let policy = AttestationPolicy {
            require_trusted_chain: !anchors.is_empty() || options.use_bundled_roots,
            use_bundled_roots: options.use_bundled_roots,
            trust_anchors: anchors,
            check_certificate_validity: !self.skips("certificate_validity_period"),
            allow_legacy_formats: options.allow_legacy_formats || self.allow_legacy_formats,
            metadata: options.metadata.clone(),
            safetynet_require_cts_profile_match: !self.skips("safetynet_cts_profile_match"),
            safetynet_max_age_secs: if self.skips("safetynet_timestamp_freshness") {
                None
            } else {
                AttestationPolicy::default().safetynet_max_age_secs
            },
            ..AttestationPolicy::default()
        };
        let algorithms = self.algorithms()?;
        let exclude: Vec<&[u8]> = self
            .exclude_credentials
            .iter()
            .map(|id| &id.0[..])
            .collect();
        let expected = ExpectedRegistration {
            user_verification: self.user_verification,
            require_user_presence: self.require_user_presence,
            algorithms: &algorithms,
            exclude_credentials: &exclude,
            ..ExpectedRegistration::new(rp, challenge, &policy)
        };
        let result = RegistrationResponseJson::from_json(&self.response_bytes())
            .and_then(|response| verify_registration(&response, &expected, now));
        Ok(match result {
            Ok(reg) => CaseReport {
                ok: true,
                fmt: Some(reg.attestation.format.as_str().to_owned()),
                alg: Some(reg.algorithm.to_i64()),
                attestation_type: Some(reg.attestation.attestation_type.as_str()),
                credential_id: Some(base64url_encode(&reg.credential_id)),
                credential_public_key: Some(base64url_encode(&reg.public_key)),
                aaguid: Some(reg.aaguid.to_string()),
                sign_count: Some(reg.sign_count),
                user_present: Some(reg.flags.user_present()),
                user_verified: Some(reg.flags.user_verified()),
                backup_eligible: Some(reg.flags.backup_eligible()),
                backup_state: Some(reg.flags.backup_state()),
                trusted: Some(reg.attestation.trusted),
                ..CaseReport::default()
            },
            Err(e) => CaseReport::failed(&e),
        })
    }

    fn run_authentication(
        &self,
        rp: &RelyingParty,
        challenge: &[u8],
    ) -> Result<CaseReport, CaseError> {
        let public_key = self
            .credential_public_key
            .as_ref()
            .ok_or(CaseError::Parameter("credential_public_key"))?;
        let response = match AuthenticationResponseJson::from_json(&self.response_bytes()) {
            Ok(response) => response,
            Err(e) => return Ok(CaseReport::failed(&e)),
        };
        // Without a stored record of the owner, the case stands for "the credential the response
        // names, owned by whoever its user handle names"; the case may say otherwise.
        let user_handle = self
            .user_handle
            .as_ref()
            .or(response.response.user_handle.as_ref())
            .map(|h| h.0.clone())
            .unwrap_or_default();
        let flags = response
            .response
            .authenticator_data
            .0
            .get(32)
            .copied()
            .unwrap_or(0);
        let stored = StoredCredential {
            credential_id: self
                .stored_credential_id
                .as_ref()
                .map_or(&response.raw_id.0, |id| &id.0),
            public_key: &public_key.0,
            sign_count: self.prior_sign_count,
            backup_eligible: self
                .stored_backup_eligible
                .unwrap_or(flags & crate::AuthenticatorFlags::BACKUP_ELIGIBLE != 0),
            user_handle: &user_handle,
        };
        let allow: Vec<&[u8]> = match &self.allow_credentials {
            Some(ids) => ids.iter().map(|id| &id.0[..]).collect(),
            None => vec![&response.raw_id.0],
        };
        let identification = if self.discoverable {
            UserIdentification::Discoverable
        } else {
            UserIdentification::Identified {
                user_handle: self
                    .identified_user_handle
                    .as_ref()
                    .map_or(&user_handle, |h| &h.0),
                allow_credentials: &allow,
            }
        };
        let expected = ExpectedAuthentication {
            user_verification: self.user_verification,
            counter_policy: self.counter_policy,
            allow_backup_eligibility_upgrade: self.allow_backup_eligibility_upgrade,
            ..ExpectedAuthentication::new(rp, challenge, identification)
        };
        Ok(match verify_authentication(&response, &expected, &stored) {
            Ok(auth) => CaseReport {
                ok: true,
                credential_id: Some(base64url_encode(&auth.credential_id)),
                alg: crate::CredentialPublicKey::from_stored(&public_key.0)
                    .ok()
                    .map(|k| k.algorithm().to_i64()),
                sign_count: Some(auth.sign_count),
                user_present: Some(auth.flags.user_present()),
                user_verified: Some(auth.flags.user_verified()),
                backup_eligible: Some(auth.flags.backup_eligible()),
                backup_state: Some(auth.flags.backup_state()),
                counter_regressed: Some(auth.counter_regressed),
                ..CaseReport::default()
            },
            Err(e) => CaseReport::failed(&e),
        })
    }

    /// The response re-serialized, so it goes through the same size limit and structural checks
    /// as a live request.
    fn response_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.response).unwrap_or_default()
    }

    fn skips(&self, check: &str) -> bool {
        self.skip_checks.iter().any(|c| c == check)
    }
}
