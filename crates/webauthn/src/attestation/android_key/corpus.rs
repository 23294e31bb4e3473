//! Test helpers shared by the `android-key` and `android-safetynet` unit tests: run a corpus case
//! (`tests/vectors/**.json`) through [`verify_registration`] under a policy the test chooses,
//! compare the outcome with the case's `expect`, and mutate the attestation statement.
//!
//! The case runner in [`crate::case`] fixes the attestation policy; these tests need the
//! format-specific switches (`allow_legacy_formats`, `android_key_require_tee`, the SafetyNet
//! verdict and age), so they build the ceremony from the case's fields themselves.

use ciborium::value::Value;

use crate::attestation::{AttestationObject, AttestationPolicy, StatementInput};
use crate::authenticator_data::AuthenticatorData;
use crate::case::{parse_instant, Case};
use crate::cose_key::{CoseAlgorithm, CredentialPublicKey};
use crate::error::{AttestationError, VerifyError};
use crate::json::{base64url_decode, base64url_encode, RegistrationResponseJson};
use crate::registration::{verify_registration, ExpectedRegistration, VerifiedRegistration};
use crate::relying_party::{sha256, RelyingParty};
use crate::trust::{TrustAnchors, UnixTime};

/// A corpus case file, parsed.
pub(crate) struct CorpusCase {
    /// The case's inputs.
    pub(crate) case: Case,
    /// The whole file, for `expect`.
    pub(crate) file: serde_json::Value,
}

impl CorpusCase {
    /// Parses a case file's text.
    pub(crate) fn new(json: &str) -> Self {
        Self {
            case: Case::from_json(json.as_bytes()).expect("a corpus case"),
            file: serde_json::from_str(json).expect("corpus JSON"),
        }
    }

    /// `expect.ok`.
    pub(crate) fn expect_ok(&self) -> bool {
        self.file["expect"]["ok"]
            .as_bool()
            .expect("expect.ok is a boolean")
    }

    /// Whether `skip_checks` names `check`.
    pub(crate) fn skips(&self, check: &str) -> bool {
        self.case.skip_checks.iter().any(|c| c == check)
    }

    /// The verification time (`verify_at`; every android case has one).
    pub(crate) fn now(&self) -> UnixTime {
        parse_instant(self.case.verify_at.as_deref().expect("verify_at")).expect("RFC 3339")
    }

    /// The policy the case's source test used, as far as the schema says: its trust roots
    /// (required when present), validity checking, and the two SafetyNet `skip_checks`. Legacy
    /// formats are allowed, since the source libraries all accepted them.
    pub(crate) fn policy(&self) -> AttestationPolicy {
        let mut anchors = TrustAnchors::new();
        for pem in &self.case.trust_roots {
            anchors.add_pem(pem).expect("a PEM trust root");
        }
        AttestationPolicy {
            require_trusted_chain: !anchors.is_empty(),
            trust_anchors: anchors,
            check_certificate_validity: !self.skips("certificate_validity_period"),
            allow_legacy_formats: true,
            safetynet_require_cts_profile_match: !self.skips("safetynet_cts_profile_match"),
            safetynet_max_age_secs: if self.skips("safetynet_timestamp_freshness") {
                None
            } else {
                AttestationPolicy::default().safetynet_max_age_secs
            },
            ..AttestationPolicy::default()
        }
    }

    /// The response as the case has it.
    pub(crate) fn response(&self) -> RegistrationResponseJson {
        let bytes = serde_json::to_vec(&self.case.response).expect("JSON");
        RegistrationResponseJson::from_json(&bytes).expect("a registration response")
    }

    /// Runs `response` through `verify_registration` with the case's relying party, challenge,
    /// algorithms and time, under `policy`.
    pub(crate) fn verify_response(
        &self,
        response: &RegistrationResponseJson,
        policy: &AttestationPolicy,
    ) -> Result<VerifiedRegistration, VerifyError> {
        let case = &self.case;
        let origins: Vec<String> = case.origin.iter().chain(&case.origins).cloned().collect();
        let rp = RelyingParty::new(case.rp_id.clone(), origins);
        let challenge = base64url_decode(&case.challenge).expect("base64url challenge");
        let algorithms: Vec<CoseAlgorithm> = match &case.allowed_algorithms {
            Some(ids) => ids
                .iter()
                .map(|id| CoseAlgorithm::from_i64(*id).expect("a known algorithm"))
                .collect(),
            None => CoseAlgorithm::DEFAULT.to_vec(),
        };
        let expected = ExpectedRegistration {
            user_verification: case.user_verification,
            require_user_presence: case.require_user_presence,
            algorithms: &algorithms,
            ..ExpectedRegistration::new(&rp, &challenge, policy)
        };
        verify_registration(response, &expected, self.now())
    }

    /// Runs the case's own response under `policy`.
    pub(crate) fn verify(
        &self,
        policy: &AttestationPolicy,
    ) -> Result<VerifiedRegistration, VerifyError> {
        self.verify_response(&self.response(), policy)
    }

    /// Asserts that a successful verification reports what `expect` says, and that the chain is
    /// anchored exactly when the case names trust roots.
    pub(crate) fn assert_expected_fields(&self, verified: &VerifiedRegistration) {
        let expect = &self.file["expect"];
        let name = &self.file["source"];
        assert_eq!(
            verified.attestation.format.as_str(),
            expect["fmt"].as_str().expect("fmt"),
            "{name}"
        );
        assert_eq!(
            Some(verified.algorithm.to_i64()),
            expect["alg"].as_i64(),
            "{name}"
        );
        assert_eq!(
            base64url_encode(&verified.public_key),
            expect["credential_public_key"].as_str().expect("key"),
            "{name}"
        );
        assert_eq!(
            base64url_encode(&verified.credential_id),
            expect["credential_id"].as_str().expect("credential_id"),
            "{name}"
        );
        assert_eq!(
            verified.aaguid.to_string(),
            expect["aaguid"].as_str().expect("aaguid"),
            "{name}"
        );
        assert_eq!(
            Some(u64::from(verified.sign_count)),
            expect["sign_count"].as_u64(),
            "{name}"
        );
        assert_eq!(
            verified.attestation.statement_algorithm,
            expect["attestation_alg"].as_i64(),
            "{name}"
        );
        assert_eq!(
            verified.attestation.trusted,
            !self.case.trust_roots.is_empty(),
            "{name}"
        );
        assert!(!verified.attestation.trust_path.is_empty(), "{name}");
    }

    /// The case's response with its attestation object's `attStmt` changed by `mutate`
    /// (re-encoded; authenticator data and client data stay as they are).
    pub(crate) fn response_with_statement(
        &self,
        mutate: impl FnOnce(&mut Vec<(Value, Value)>),
    ) -> RegistrationResponseJson {
        let mut response = self.response();
        let object: Value =
            ciborium::de::from_reader(response.response.attestation_object.0.as_slice())
                .expect("CBOR");
        let Value::Map(mut entries) = object else {
            panic!("the attestation object is a map");
        };
        let statement = entries
            .iter_mut()
            .find(|(key, _)| key.as_text() == Some("attStmt"))
            .and_then(|(_, value)| match value {
                Value::Map(statement) => Some(statement),
                _ => None,
            })
            .expect("attStmt is a map");
        mutate(statement);
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(&Value::Map(entries), &mut bytes).expect("encode");
        response.response.attestation_object.0 = bytes;
        response
    }

    /// Runs `f` on the [`StatementInput`] of the case's response, with the statement map
    /// replaced by `att_stmt` when given and the credential key by `credential_key` when given.
    pub(crate) fn with_input<R>(
        &self,
        policy: &AttestationPolicy,
        att_stmt: Option<&[(Value, Value)]>,
        credential_key: Option<&CredentialPublicKey>,
        f: impl FnOnce(&StatementInput<'_>) -> R,
    ) -> R {
        let response = self.response();
        let object =
            AttestationObject::parse(&response.response.attestation_object.0).expect("object");
        let auth_data = AuthenticatorData::parse(&object.auth_data).expect("authenticator data");
        let acd = auth_data
            .attested_credential_data
            .as_ref()
            .expect("attested credential data");
        let own_key =
            CredentialPublicKey::from_cose(acd.credential_public_key).expect("credential key");
        let client_data_hash = sha256(&response.response.client_data_json.0);
        let input = StatementInput {
            att_stmt: att_stmt.unwrap_or_else(|| object.att_stmt.as_map().expect("map")),
            auth_data_bytes: &object.auth_data,
            auth_data: &auth_data,
            client_data_hash: &client_data_hash,
            credential_key: credential_key.unwrap_or(&own_key),
            policy,
            now: self.now(),
            att_stmt_value: &object.att_stmt,
        };
        f(&input)
    }

    /// The statement map of the case's attestation object.
    pub(crate) fn statement(&self) -> Vec<(Value, Value)> {
        let response = self.response();
        let object =
            AttestationObject::parse(&response.response.attestation_object.0).expect("object");
        object.att_stmt.as_map().expect("map").clone()
    }
}

/// The attestation error inside a verification error of `format`.
pub(crate) fn attestation_error(
    result: Result<VerifiedRegistration, VerifyError>,
) -> AttestationError {
    match result {
        Err(VerifyError::Attestation { source, .. }) => source,
        other => panic!("expected an attestation error, got {other:?}"),
    }
}

/// Replaces the only occurrence of `from` in `bytes` with `to` (same length), panicking unless
/// there is exactly one.
pub(crate) fn replace_once(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len(), "same-length replacement");
    let positions: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(positions.len(), 1, "exactly one occurrence of {from:02x?}");
    bytes[positions[0]..positions[0] + to.len()].copy_from_slice(to);
}
