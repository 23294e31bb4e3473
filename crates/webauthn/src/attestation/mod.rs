//! [Attestation](https://www.w3.org/TR/webauthn-3/#sctn-attestation): the attestation object,
//! one module per statement format, and the trust decision.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use ciborium::value::Value;

use crate::authenticator_data::AuthenticatorData;
use crate::cbor;
use crate::cose_key::CredentialPublicKey;
use crate::error::{AttestationError, AuthenticatorDataError, TrustError, VerifyError};
use crate::mds::{MetadataBlob, MetadataEntry};
use crate::trust::{self, ChainTrust, TrustAnchors, UnixTime};

mod android_key;
mod android_safetynet;
mod apple;
mod certificate;
mod compound;
mod fido_u2f;
mod none;
mod packed;
mod tpm;

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
    /// configured (and no bundled roots) this refuses every such attestation (fail closed).
    pub require_trusted_chain: bool,
    /// A verified FIDO Metadata Service BLOB. When set, an authenticator whose entry reports a
    /// compromise or revocation is refused, and an entry's attestation roots anchor attestations
    /// of that model only.
    pub metadata: Option<Arc<MetadataBlob>>,
    /// Also trust the vendor roots bundled with the crate (Apple, Google, Microsoft TPM, Yubico;
    /// see [`crate::roots`]), each only for its own statement formats. Default false.
    pub use_bundled_roots: bool,
    /// Check certificate validity periods against the verification time. Default true; turning
    /// it off is only for replaying archived payloads whose certificates have expired.
    pub check_certificate_validity: bool,
    /// Accept deprecated formats (`android-safetynet`). Default false.
    pub allow_legacy_formats: bool,
    /// android-key: require the key to live in a TEE or StrongBox (use `teeEnforced` only).
    /// Default false.
    pub android_key_require_tee: bool,
    /// android-safetynet: require `ctsProfileMatch` (not just `basicIntegrity`). Default true.
    pub safetynet_require_cts_profile_match: bool,
    /// android-safetynet: how old the attestation's `timestampMs` may be, in seconds (and how far
    /// in the future, for clock skew). `None` skips the check (archived payloads only).
    pub safetynet_max_age_secs: Option<u64>,
}

impl Default for AttestationPolicy {
    fn default() -> Self {
        Self {
            allow_none: true,
            allow_self: true,
            trust_anchors: TrustAnchors::new(),
            require_trusted_chain: false,
            use_bundled_roots: false,
            metadata: None,
            check_certificate_validity: true,
            allow_legacy_formats: false,
            android_key_require_tee: false,
            safetynet_require_cts_profile_match: true,
            safetynet_max_age_secs: Some(60),
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
    /// For `compound`: each verified sub-statement, in order. The compound result itself
    /// reports the strongest of them (a trusted chain over an untrusted one over self over none).
    pub sub_statements: Vec<VerifiedAttestation>,
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
        if cbor::has_duplicate_keys_deep(&value) {
            return Err(Bad("a map repeats a key"));
        }
        // Canonical form is not required here: several real clients and authenticators encode
        // the object with unsorted keys or long-form lengths. Only the credential key is held to
        // canonical CBOR (see `CredentialPublicKey::from_cose`).
        let Value::Map(entries) = value else {
            return Err(Bad("not a CBOR map"));
        };
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
#[derive(Clone, Copy)]
pub(crate) struct StatementInput<'a> {
    /// The statement map (empty for a `compound` statement, whose statement is an array).
    pub(crate) att_stmt: &'a [(Value, Value)],
    pub(crate) auth_data_bytes: &'a [u8],
    pub(crate) auth_data: &'a AuthenticatorData<'a>,
    pub(crate) client_data_hash: &'a [u8; 32],
    pub(crate) credential_key: &'a CredentialPublicKey,
    /// The relying party's policy, for format-specific options.
    pub(crate) policy: &'a AttestationPolicy,
    /// The verification time.
    pub(crate) now: UnixTime,
    /// The raw `attStmt` value (an array for `compound`).
    pub(crate) att_stmt_value: &'a Value,
}

/// What a format's verifier established, before the trust decision.
pub(crate) struct Statement<'a> {
    pub(crate) attestation_type: AttestationType,
    /// The x5c chain as DER, leaf first (empty without one). Borrowed from the statement, or
    /// owned when the format carries certificates in another encoding (SafetyNet's JWS).
    pub(crate) x5c: Vec<Cow<'a, [u8]>>,
    pub(crate) statement_algorithm: Option<i64>,
}

/// L3 §7.1 steps 20-23: runs the format's verification procedure, then decides trust.
pub(crate) fn verify(
    fmt: &str,
    input: &StatementInput<'_>,
) -> Result<VerifiedAttestation, VerifyError> {
    let Some(format) = AttestationFormat::from_fmt(fmt) else {
        return Err(VerifyError::UnknownAttestationFormat(fmt.to_owned()));
    };
    if format == AttestationFormat::Compound {
        return compound::verify(input);
    }
    verify_single(format, input)
}

/// Verifies one non-compound statement and decides its trust.
pub(crate) fn verify_single(
    format: AttestationFormat,
    input: &StatementInput<'_>,
) -> Result<VerifiedAttestation, VerifyError> {
    let fail = |source| VerifyError::attestation(format, source);
    if !input.att_stmt_value.is_map() {
        return Err(fail(AttestationError::Malformed("attStmt must be a map")));
    }
    let statement = match format {
        AttestationFormat::None => none::verify(input),
        AttestationFormat::Packed => packed::verify(input),
        AttestationFormat::FidoU2f => fido_u2f::verify(input),
        AttestationFormat::AndroidKey => android_key::verify(input),
        AttestationFormat::AndroidSafetyNet => android_safetynet::verify(input),
        AttestationFormat::Apple => apple::verify(input),
        AttestationFormat::Tpm => tpm::verify(input),
        AttestationFormat::Compound => Err(AttestationError::Malformed(
            "a compound statement cannot contain another compound statement",
        )),
    }
    .map_err(fail)?;

    let policy = input.policy;
    // FIDO MDS: the model's entry, by AAGUID, or by the attestation certificate for U2F keys.
    let aaguid = input
        .auth_data
        .attested_credential_data
        .as_ref()
        .map(|acd| acd.aaguid)
        .unwrap_or_default();
    let entry: Option<&MetadataEntry> = policy.metadata.as_deref().and_then(|blob| {
        if aaguid.is_zero() {
            statement
                .x5c
                .first()
                .and_then(|leaf| blob.entry_for_certificate(leaf))
        } else {
            blob.entry_for_aaguid(&aaguid)
        }
    });
    if let Some(entry) = entry.filter(|e| e.is_revoked()) {
        let status = entry
            .latest_status_report()
            .map_or("REVOKED", |r| r.status.as_str());
        return Err(fail(AttestationError::Revoked(status.to_owned())));
    }
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
            let bundled = policy
                .use_bundled_roots
                .then(|| crate::roots::for_format(format))
                .filter(|roots| !roots.is_empty());
            let from_metadata = entry.map(MetadataEntry::attestation_root_certificates);
            let anchors: Cow<'_, TrustAnchors> = if bundled.is_none() && from_metadata.is_none() {
                Cow::Borrowed(&policy.trust_anchors)
            } else {
                let mut all = policy.trust_anchors.clone();
                bundled
                    .into_iter()
                    .chain(from_metadata)
                    .for_each(|a| all.extend(a));
                Cow::Owned(all)
            };
            if policy.require_trusted_chain && anchors.is_empty() {
                return Err(fail(AttestationError::Untrusted(
                    TrustError::NoAnchorsConfigured,
                )));
            }
            let x5c: Vec<&[u8]> = statement.x5c.iter().map(AsRef::as_ref).collect();
            let chain =
                trust::parse_chain(&x5c).map_err(|e| fail(AttestationError::Untrusted(e)))?;
            match trust::verify_chain(
                &chain,
                &x5c,
                &anchors,
                input.now,
                policy.check_certificate_validity,
            ) {
                Ok(trust) => trust == ChainTrust::Anchored,
                // Anchors exist but this chain reaches none: acceptable only as untrusted.
                Err(TrustError::NoAnchor) if !policy.require_trusted_chain => false,
                Err(e) => return Err(fail(AttestationError::Untrusted(e))),
            }
        }
    };
    Ok(VerifiedAttestation {
        format,
        attestation_type: statement.attestation_type,
        trust_path: statement.x5c.into_iter().map(Cow::into_owned).collect(),
        trusted,
        statement_algorithm: statement.statement_algorithm,
        sub_statements: Vec::new(),
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
) -> Result<Option<Vec<Cow<'_, [u8]>>>, AttestationError> {
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
        .map(|v| {
            v.as_bytes()
                .map(|b| Cow::Borrowed(b.as_slice()))
                .ok_or_else(bad)
        })
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

#[cfg(test)]
mod tests;
