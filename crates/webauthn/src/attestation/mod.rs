//! [Attestation](https://www.w3.org/TR/webauthn-3/#sctn-attestation): the attestation object,
//! one module per statement format, and the trust decision.

use std::fmt;

use ciborium::value::Value;

use crate::authenticator_data::AuthenticatorData;
use crate::cbor;
use crate::cose_key::CredentialPublicKey;
use crate::error::{AttestationError, AuthenticatorDataError, TrustError, VerifyError};
use crate::trust::{self, ChainTrust, TrustAnchors, UnixTime};

mod certificate;
mod fido_u2f;
mod none;
mod packed;

/// A registered attestation statement format identifier (L3 §8, IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttestationFormat {
    /// `android-key`
    AndroidKey,
    /// `android-safetynet` (deprecated)
    AndroidSafetyNet,
    /// `apple`
    Apple,
    /// `compound`
    Compound,
    /// `fido-u2f`
    FidoU2f,
    /// `none`
    None,
    /// `packed`
    Packed,
    /// `tpm`
    Tpm,
}

impl AttestationFormat {
    const ALL: [Self; 8] = [
        Self::AndroidKey,
        Self::AndroidSafetyNet,
        Self::Apple,
        Self::Compound,
        Self::FidoU2f,
        Self::None,
        Self::Packed,
        Self::Tpm,
    ];

    /// The identifier as it appears in `fmt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AndroidKey => "android-key",
            Self::AndroidSafetyNet => "android-safetynet",
            Self::Apple => "apple",
            Self::Compound => "compound",
            Self::FidoU2f => "fido-u2f",
            Self::None => "none",
            Self::Packed => "packed",
            Self::Tpm => "tpm",
        }
    }

    /// The format for an `fmt` value, matched case-sensitively.
    pub fn from_fmt(fmt: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == fmt)
    }
}

impl fmt::Display for AttestationFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [Attestation types](https://www.w3.org/TR/webauthn-3/#sctn-attestation-types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttestationType {
    /// Anonymization CA (Apple): a per-credential certificate from the vendor's CA.
    AnonCa,
    /// Attestation CA (TPM): an AIK certificate from a privacy CA.
    AttCa,
    /// Basic: a batch attestation key shared by a model's authenticators.
    Basic,
    /// No attestation.
    None,
    /// Self attestation: signed with the credential key itself; proves nothing about the model.
    SelfAttestation,
}

impl AttestationType {
    /// The spec's name: `None`, `Self`, `Basic`, `AttCA`, `AnonCA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnonCa => "AnonCA",
            Self::AttCa => "AttCA",
            Self::Basic => "Basic",
            Self::None => "None",
            Self::SelfAttestation => "Self",
        }
    }
}

impl fmt::Display for AttestationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What attestation a relying party accepts.
#[derive(Debug, Clone)]
pub struct AttestationPolicy {
    /// Accept `none` attestation. Default true (passkeys rarely attest).
    pub allow_none: bool,
    /// Accept self attestation. Default true. Self attestation says nothing about the model, so an
    /// AAGUID allow-list must never count it.
    pub allow_self: bool,
    /// Certificate chains must end at one of these roots. When empty, chains are checked link by
    /// link and reported as unanchored, unless `require_trusted_chain` is set.
    pub trust_anchors: TrustAnchors,
    /// Refuse certificate-based attestation that does not end at a trust anchor. With no anchors
    /// configured this refuses every such attestation (fail closed).
    pub require_trusted_chain: bool,
    /// Check certificate validity periods against the verification time. Default true; turning
    /// it off is only for replaying archived payloads whose certificates have expired.
    pub check_certificate_validity: bool,
}

impl Default for AttestationPolicy {
    fn default() -> Self {
        Self {
            allow_none: true,
            allow_self: true,
            trust_anchors: TrustAnchors::new(),
            require_trusted_chain: false,
            check_certificate_validity: true,
        }
    }
}

/// The outcome of a verified attestation statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAttestation {
    /// The statement format.
    pub format: AttestationFormat,
    /// The attestation type the statement established.
    pub attestation_type: AttestationType,
    /// The statement's certificate chain (DER, leaf first); empty for none and self.
    pub trust_path: Vec<Vec<u8>>,
    /// Whether the chain ends at a configured trust anchor.
    pub trusted: bool,
    /// `attStmt.alg`, when the format has one.
    pub statement_algorithm: Option<i64>,
}

/// The decoded attestation object (L3 §6.5.4).
#[derive(Debug, Clone)]
pub(crate) struct AttestationObject {
    pub(crate) fmt: String,
    /// A map for every format but `compound`, whose statement is an array.
    pub(crate) att_stmt: Value,
    pub(crate) auth_data: Vec<u8>,
}

impl AttestationObject {
    /// CBOR-decodes `{fmt: tstr, attStmt: map, authData: bstr}`, refusing trailing bytes and
    /// duplicate keys (L3 §7.1 step 12).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, AuthenticatorDataError> {
        use AuthenticatorDataError::AttestationObject as Bad;
        let value = cbor::decode_exact(bytes).map_err(|_| Bad("not a single CBOR item"))?;
        let Value::Map(entries) = value else {
            return Err(Bad("not a CBOR map"));
        };
        if cbor::has_duplicate_keys(&entries) {
            return Err(Bad("a key appears twice"));
        }
        let mut fmt = None;
        let mut att_stmt = None;
        let mut auth_data = None;
        for (key, value) in entries {
            match (key.as_text(), value) {
                (Some("fmt"), Value::Text(t)) => fmt = Some(t),
                (Some("attStmt"), v @ (Value::Map(_) | Value::Array(_))) => att_stmt = Some(v),
                (Some("authData"), Value::Bytes(b)) => auth_data = Some(b),
                (Some("fmt" | "attStmt" | "authData"), _) => {
                    return Err(Bad("a member has the wrong type"))
                }
                _ => {}
            }
        }
        match (fmt, att_stmt, auth_data) {
            (Some(fmt), Some(att_stmt), Some(auth_data)) if !auth_data.is_empty() => Ok(Self {
                fmt,
                att_stmt,
                auth_data,
            }),
            _ => Err(Bad("fmt, attStmt or authData is missing")),
        }
    }
}

/// Everything a statement verifier needs.
pub(crate) struct StatementInput<'a> {
    /// The statement map (empty for a `compound` statement, see `compound`).
    pub(crate) att_stmt: &'a [(Value, Value)],
    pub(crate) auth_data_bytes: &'a [u8],
    pub(crate) auth_data: &'a AuthenticatorData<'a>,
    pub(crate) client_data_hash: &'a [u8; 32],
    pub(crate) credential_key: &'a CredentialPublicKey,
}

/// What a format's verifier established, before the trust decision.
pub(crate) struct Statement<'a> {
    pub(crate) attestation_type: AttestationType,
    /// The x5c chain as DER slices and parsed certificates (empty without one).
    pub(crate) x5c: Vec<&'a [u8]>,
    pub(crate) statement_algorithm: Option<i64>,
}

/// L3 §7.1 steps 20-23: runs the format's verification procedure, then decides trust.
pub(crate) fn verify(
    fmt: &str,
    att_stmt: &Value,
    input: &StatementInput<'_>,
    policy: &AttestationPolicy,
    now: UnixTime,
) -> Result<VerifiedAttestation, VerifyError> {
    let Some(format) = AttestationFormat::from_fmt(fmt) else {
        return Err(VerifyError::attestation(
            AttestationFormat::None,
            AttestationError::UnsupportedFormat(fmt.to_owned()),
        ));
    };
    let fail = |source| VerifyError::attestation(format, source);
    let is_map = att_stmt.is_map();
    if is_map == (format == AttestationFormat::Compound) {
        return Err(fail(AttestationError::Malformed(
            "attStmt must be a map (an array for compound)",
        )));
    }
    let statement = match format {
        AttestationFormat::None => none::verify(input),
        AttestationFormat::Packed => packed::verify(input),
        AttestationFormat::FidoU2f => fido_u2f::verify(input),
        AttestationFormat::AndroidKey
        | AttestationFormat::AndroidSafetyNet
        | AttestationFormat::Apple
        | AttestationFormat::Compound
        | AttestationFormat::Tpm => Err(AttestationError::UnsupportedFormat(fmt.to_owned())),
    }
    .map_err(fail)?;

    let trusted = match statement.attestation_type {
        AttestationType::None if !policy.allow_none => {
            return Err(fail(AttestationError::TypeNotAllowed(
                AttestationType::None,
            )))
        }
        AttestationType::SelfAttestation if !policy.allow_self => {
            return Err(fail(AttestationError::TypeNotAllowed(
                AttestationType::SelfAttestation,
            )))
        }
        AttestationType::None | AttestationType::SelfAttestation => false,
        AttestationType::AnonCa | AttestationType::AttCa | AttestationType::Basic => {
            if policy.require_trusted_chain && policy.trust_anchors.is_empty() {
                return Err(fail(AttestationError::Untrusted(
                    TrustError::NoAnchorsConfigured,
                )));
            }
            let chain = trust::parse_chain(&statement.x5c)
                .map_err(|e| fail(AttestationError::Untrusted(e)))?;
            let trust = trust::verify_chain(
                &chain,
                &statement.x5c,
                &policy.trust_anchors,
                now,
                policy.check_certificate_validity,
            )
            .map_err(|e| fail(AttestationError::Untrusted(e)))?;
            trust == ChainTrust::Anchored
        }
    };
    Ok(VerifiedAttestation {
        format,
        attestation_type: statement.attestation_type,
        trust_path: statement.x5c.iter().map(|c| c.to_vec()).collect(),
        trusted,
        statement_algorithm: statement.statement_algorithm,
    })
}

/// Reads `alg` (an integer) from a statement.
pub(crate) fn statement_alg(att_stmt: &[(Value, Value)]) -> Result<i64, AttestationError> {
    cbor::map_get(att_stmt, "alg")
        .and_then(Value::as_integer)
        .and_then(|i| i64::try_from(i).ok())
        .ok_or(AttestationError::Malformed(
            "alg is missing or not an integer",
        ))
}

/// Reads `sig` (a byte string) from a statement.
pub(crate) fn statement_sig(att_stmt: &[(Value, Value)]) -> Result<&[u8], AttestationError> {
    cbor::map_get(att_stmt, "sig")
        .and_then(Value::as_bytes)
        .map(Vec::as_slice)
        .filter(|s| !s.is_empty())
        .ok_or(AttestationError::Malformed(
            "sig is missing or not a byte string",
        ))
}

/// Reads `x5c` (a non-empty array of byte strings), if present.
pub(crate) fn statement_x5c(
    att_stmt: &[(Value, Value)],
) -> Result<Option<Vec<&[u8]>>, AttestationError> {
    let Some(value) = cbor::map_get(att_stmt, "x5c") else {
        return Ok(None);
    };
    let bad = || AttestationError::Malformed("x5c is not a non-empty array of certificates");
    let items = value.as_array().ok_or_else(bad)?;
    if items.is_empty() || items.len() > trust::MAX_CHAIN_LEN {
        return Err(bad());
    }
    items
        .iter()
        .map(|v| v.as_bytes().map(Vec::as_slice).ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `authenticatorData || clientDataHash`, the message most statements sign.
pub(crate) fn signed_data(input: &StatementInput<'_>) -> Vec<u8> {
    let mut data = Vec::with_capacity(input.auth_data_bytes.len() + 32);
    data.extend_from_slice(input.auth_data_bytes);
    data.extend_from_slice(input.client_data_hash);
    data
}
