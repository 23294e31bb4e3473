//! One error type for every verification failure.
//!
//! [`VerifyError`] is an enum of *categories* (client data, authenticator data, public key,
//! attestation, ceremony policy...). Each leaf variant carries typed context, never prose, and maps
//! to a stable snake_case code through [`VerifyError::code`]. The codes are what vector files, the
//! `passkeyd verify` command and the HTTP API report; the `Display` text is for people and may be
//! reworded at any time.

use thiserror::Error;

use crate::attestation::AttestationFormat;
use crate::cose_key::CoseAlgorithm;

/// Why a registration or authentication response was rejected.
///
/// The list of codes is in the crate documentation. The enum is exhaustive on purpose: while only
/// passkeyd uses it, a new variant must break the server's code mapping at compile time.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The response JSON is not a well-formed `PublicKeyCredential` form.
    #[error("malformed credential response: {0}")]
    Response(#[from] ResponseError),
    /// `clientDataJSON` is malformed or does not match the ceremony.
    #[error(transparent)]
    ClientData(#[from] ClientDataError),
    /// Authenticator data (or the attestation object carrying it) is malformed or unacceptable.
    #[error(transparent)]
    AuthenticatorData(#[from] AuthenticatorDataError),
    /// The credential public key is malformed, unsupported or not allowed.
    #[error(transparent)]
    PublicKey(#[from] PublicKeyError),
    /// The attestation statement failed verification or is not acceptable to policy.
    #[error("{format} attestation: {source}")]
    Attestation {
        /// The statement format being verified.
        format: AttestationFormat,
        /// What went wrong.
        source: AttestationError,
    },
    /// A ceremony-level check (user binding, counters, allow lists) failed.
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    /// The assertion signature does not verify with the stored public key.
    #[error("the signature does not verify with the credential's public key")]
    Signature,
    /// `fmt` names no registered attestation statement format (matched case-sensitively).
    #[error("attestation statement format {0:?} is not a registered format")]
    UnknownAttestationFormat(String),
}

impl VerifyError {
    /// The stable snake_case code of this error (the `code` of the HTTP error envelope).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Response(_) => "response_malformed",
            Self::ClientData(e) => e.code(),
            Self::AuthenticatorData(e) => e.code(),
            Self::PublicKey(e) => e.code(),
            Self::Attestation { source, .. } => source.code(),
            Self::Ceremony(e) => e.code(),
            Self::Signature => "signature_invalid",
            Self::UnknownAttestationFormat(_) => "attestation_unsupported",
        }
    }

    pub(crate) fn attestation(format: AttestationFormat, source: AttestationError) -> Self {
        Self::Attestation { format, source }
    }
}

/// The JSON form of the credential is malformed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ResponseError {
    /// A binary field is not base64url.
    #[error("field `{0}` is not valid base64url")]
    Base64(&'static str),
    /// A required field is missing or empty.
    #[error("field `{0}` is missing or empty")]
    Missing(&'static str),
    /// An unsigned convenience copy (`authenticatorData`, `publicKey`, `publicKeyAlgorithm`)
    /// disagrees with the attestation object.
    #[error("field `{0}` disagrees with the attestation object")]
    Inconsistent(&'static str),
    /// `type` is not `public-key`.
    #[error("credential type must be \"public-key\"")]
    CredentialType,
    /// The JSON does not have the shape of the expected credential response.
    #[error("invalid JSON at line {line}, column {column}")]
    Json {
        /// 1-based line of the first error.
        line: usize,
        /// 1-based column of the first error.
        column: usize,
    },
    /// The input is larger than any real credential response.
    #[error("response is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// `clientDataJSON` problems (WebAuthn L3 §7.1 steps 5-10, §7.2 steps 6-12).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ClientDataError {
    /// Not UTF-8, not a JSON object, a duplicate key, or a required member missing or mistyped.
    #[error("clientDataJSON is not a valid CollectedClientData object ({0})")]
    Malformed(ClientDataDefect),
    /// `type` names the other ceremony, or something else.
    #[error("clientDataJSON type is {got:?}, expected {expected:?}")]
    TypeMismatch {
        /// The type this ceremony expects.
        expected: &'static str,
        /// The type the client reported.
        got: String,
    },
    /// The signed challenge is not the one the server issued.
    #[error("clientDataJSON challenge does not match the challenge issued for this ceremony")]
    ChallengeMismatch,
    /// The origin is not one of the relying party's origins.
    #[error("origin {0:?} is not an allowed origin of this relying party")]
    OriginMismatch(String),
    /// `crossOrigin` is true and the relying party does not accept embedded ceremonies.
    #[error("crossOrigin is true but this relying party does not allow cross-origin ceremonies")]
    CrossOriginNotAllowed,
    /// `topOrigin` is present and not an allowed top-level origin.
    #[error("topOrigin {0:?} is not an allowed top-level origin")]
    TopOriginMismatch(String),
    /// `tokenBinding` is present but malformed.
    #[error("clientDataJSON tokenBinding is malformed or has an unknown status")]
    TokenBinding,
}

impl ClientDataError {
    fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "client_data_invalid",
            Self::TypeMismatch { .. } => "type_mismatch",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::OriginMismatch(_) => "origin_mismatch",
            Self::CrossOriginNotAllowed => "cross_origin_not_allowed",
            Self::TopOriginMismatch(_) => "top_origin_mismatch",
            Self::TokenBinding => "token_binding_invalid",
        }
    }
}

/// What exactly is wrong with a malformed `clientDataJSON`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDataDefect {
    /// A member appears twice (a parser-differential attempt).
    DuplicateMember,
    /// Not valid JSON, or the top level is not an object.
    Json,
    /// A required member (`type`, `challenge`, `origin`) is missing.
    MissingMember,
    /// The bytes are not UTF-8.
    Utf8,
    /// A member has the wrong JSON type.
    WrongType,
}

impl std::fmt::Display for ClientDataDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DuplicateMember => "a member appears twice",
            Self::Json => "not a JSON object",
            Self::MissingMember => "type, challenge or origin is missing",
            Self::Utf8 => "not UTF-8",
            Self::WrongType => "a member has the wrong JSON type",
        })
    }
}

/// Authenticator data and attestation object structure (L3 §6.1, §6.5) and flag checks.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AuthenticatorDataError {
    /// The attestation object is not a CBOR map with text `fmt`, map `attStmt` and bytes `authData`.
    #[error("attestationObject is malformed: {0}")]
    AttestationObject(&'static str),
    /// Authenticator data is shorter than its fixed header or its declared contents.
    #[error("authenticator data is truncated")]
    Truncated,
    /// Bytes remain after the attested credential data and extensions.
    #[error("authenticator data has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// The AT flag does not match the presence of attested credential data.
    #[error("the AT flag does not match the presence of attested credential data")]
    AttestedDataFlag,
    /// The ED flag does not match the presence of extensions, or extensions are not a CBOR map.
    #[error("the ED flag does not match the extension data, or the extensions are malformed")]
    ExtensionData,
    /// The RP ID hash is not SHA-256 of the relying party ID.
    #[error("rpIdHash is not the SHA-256 hash of the relying party ID")]
    RpIdMismatch,
    /// UP is clear where user presence is required.
    #[error("the authenticator did not report user presence (UP flag clear)")]
    UserPresenceRequired,
    /// UV is clear where user verification is required.
    #[error("user verification is required but the UV flag is clear")]
    UserVerificationRequired,
    /// BS is set while BE is clear, which the spec forbids.
    #[error("the backup state flag is set on a credential that is not backup eligible")]
    BackupStateWithoutEligibility,
    /// BE differs from the value recorded at registration.
    #[error("the backup eligibility flag changed since registration")]
    BackupEligibilityChanged,
    /// The credential ID in the authenticator data is longer than 1023 bytes.
    #[error("credential ID is longer than 1023 bytes")]
    CredentialIdTooLong,
}

impl AuthenticatorDataError {
    fn code(&self) -> &'static str {
        match self {
            Self::AttestationObject(_)
            | Self::Truncated
            | Self::TrailingBytes(_)
            | Self::AttestedDataFlag
            | Self::ExtensionData
            | Self::CredentialIdTooLong => "authenticator_data_invalid",
            Self::RpIdMismatch => "rp_id_mismatch",
            Self::UserPresenceRequired => "user_presence_required",
            Self::UserVerificationRequired => "user_verification_required",
            Self::BackupStateWithoutEligibility => "backup_state_invalid",
            Self::BackupEligibilityChanged => "backup_eligibility_changed",
        }
    }
}

/// Credential public key problems (L3 §7.1 step 18 and key validation).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PublicKeyError {
    /// Not a well-formed COSE_Key.
    #[error("credential public key is not a valid COSE_Key: {0}")]
    Malformed(&'static str),
    /// The key's parameters do not fit its algorithm (curve, length, point, modulus size).
    #[error("credential public key is invalid for {alg}: {reason}")]
    Invalid {
        /// The algorithm the key declares.
        alg: CoseAlgorithm,
        /// Which parameter is wrong.
        reason: &'static str,
    },
    /// The algorithm is not one this verifier implements.
    #[error("COSE algorithm {0} is not supported")]
    Unsupported(i64),
    /// The algorithm is supported but was not offered in `pubKeyCredParams`.
    #[error("COSE algorithm {0} was not among the algorithms offered for this ceremony")]
    NotAllowed(CoseAlgorithm),
}

impl PublicKeyError {
    fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::Invalid { .. } => "public_key_invalid",
            Self::Unsupported(_) => "algorithm_unsupported",
            Self::NotAllowed(_) => "algorithm_not_allowed",
        }
    }
}

/// Attestation statement problems (L3 §7.1 steps 19-22, §8).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AttestationError {
    /// The statement is missing a member or a member has the wrong type.
    #[error("statement is malformed: {0}")]
    Malformed(&'static str),
    /// The statement is well formed and signed, but what it says does not allow this registration
    /// (a device verdict, a stale timestamp, a nonce for another registration).
    #[error("the statement does not vouch for this registration: {0}")]
    Refused(&'static str),
    /// The statement signature does not verify.
    #[error("the attestation signature does not verify")]
    Signature,
    /// The attestation certificate does not meet the format's requirements.
    #[error("the attestation certificate is not acceptable: {0}")]
    Certificate(&'static str),
    /// A certificate's AAGUID extension differs from the authenticator data AAGUID.
    #[error("the certificate's AAGUID extension does not match the authenticator data AAGUID")]
    AaguidMismatch,
    /// The statement algorithm is not acceptable for this statement or key.
    #[error("statement algorithm {0} is not acceptable here")]
    Algorithm(i64),
    /// The format is not one this verifier knows, or is not implemented yet.
    #[error("attestation statement format {0:?} is not supported")]
    UnsupportedFormat(String),
    /// The certificate chain does not lead to a trusted root, or is invalid at the verification time.
    #[error("the attestation is not trusted: {0}")]
    Untrusted(TrustError),
    /// The FIDO Metadata Service reports this authenticator model revoked or compromised.
    #[error("the metadata service reports this authenticator as {0}")]
    Revoked(String),
    /// The attestation is valid but its type is not one the policy accepts.
    #[error("{0} attestation is not accepted by this relying party's policy")]
    TypeNotAllowed(crate::attestation::AttestationType),
}

impl AttestationError {
    fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_)
            | Self::Refused(_)
            | Self::Signature
            | Self::Certificate(_)
            | Self::AaguidMismatch
            | Self::Algorithm(_) => "attestation_invalid",
            Self::UnsupportedFormat(_) => "attestation_unsupported",
            Self::Untrusted(_) | Self::TypeNotAllowed(_) | Self::Revoked(_) => {
                "attestation_untrusted"
            }
        }
    }
}

/// Why a certificate chain was not accepted.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum TrustError {
    /// A certificate could not be parsed.
    #[error("certificate {0} in the chain cannot be parsed")]
    Unparsable(usize),
    /// A certificate is outside its validity period at the verification time.
    #[error("certificate {0} in the chain is expired or not yet valid")]
    Validity(usize),
    /// A certificate is not signed by the next one, or names a different issuer.
    #[error("certificate {0} is not issued by the next certificate in the chain")]
    Broken(usize),
    /// An issuing certificate is not a CA or may not sign certificates.
    #[error("certificate {0} may not issue certificates")]
    NotCa(usize),
    /// A path length constraint is violated.
    #[error("the chain is longer than a path length constraint allows")]
    PathLength,
    /// The chain does not reach any configured trust anchor.
    #[error("the chain does not lead to a configured trust root")]
    NoAnchor,
    /// The policy requires a trusted chain but no trust anchors were configured.
    #[error("attestation must be trusted but no trust roots are configured")]
    NoAnchorsConfigured,
    /// The chain is empty or longer than the verifier accepts.
    #[error("the certificate chain is empty or too long")]
    Length,
}

/// Ceremony-level problems that are not about one data structure.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CeremonyError {
    /// `id`/`rawId` differ from each other or from the credential ID the authenticator reported.
    #[error("credential id, rawId and the authenticator's credential ID do not all match")]
    CredentialIdMismatch,
    /// The credential is not in the ceremony's allow list, or is in its exclude list.
    #[error("this credential is not allowed for this ceremony")]
    CredentialNotAllowed,
    /// The credential ID was in `excludeCredentials` at registration.
    #[error("this authenticator already holds a credential excluded by the relying party")]
    CredentialExcluded,
    /// The user handle does not name the credential's owner, or is missing in a discoverable flow.
    #[error("the user handle does not identify the owner of this credential")]
    UserHandleMismatch,
    /// The signature counter did not increase (a possible cloned authenticator).
    #[error(
        "signature counter {received} is not greater than the stored {stored}: possible clone"
    )]
    CounterRegression {
        /// The stored counter.
        stored: u32,
        /// The counter in this assertion.
        received: u32,
    },
    /// The rpIdHash is the AppID's hash but the AppID extension was not requested.
    #[error("the response used the FIDO AppID extension, which this ceremony did not request")]
    AppIdNotRequested,
}

impl CeremonyError {
    fn code(&self) -> &'static str {
        match self {
            Self::CredentialIdMismatch => "credential_id_mismatch",
            Self::CredentialNotAllowed => "credential_not_allowed",
            Self::CredentialExcluded => "credential_excluded",
            Self::UserHandleMismatch => "user_handle_mismatch",
            Self::CounterRegression { .. } => "counter_regression",
            Self::AppIdNotRequested => "rp_id_mismatch",
        }
    }
}

/// Every code [`VerifyError::code`] can return, for documentation and exhaustiveness tests.
pub const ERROR_CODES: &[&str] = &[
    "algorithm_not_allowed",
    "algorithm_unsupported",
    "attestation_invalid",
    "attestation_unsupported",
    "attestation_untrusted",
    "authenticator_data_invalid",
    "backup_eligibility_changed",
    "backup_state_invalid",
    "challenge_mismatch",
    "client_data_invalid",
    "counter_regression",
    "credential_excluded",
    "credential_id_mismatch",
    "credential_not_allowed",
    "cross_origin_not_allowed",
    "origin_mismatch",
    "public_key_invalid",
    "response_malformed",
    "rp_id_mismatch",
    "signature_invalid",
    "token_binding_invalid",
    "top_origin_mismatch",
    "type_mismatch",
    "user_handle_mismatch",
    "user_presence_required",
    "user_verification_required",
];
