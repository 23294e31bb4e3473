//! The [FIDO Metadata Service v3](https://fidoalliance.org/specs/mds/fido-metadata-service-v3.0-ps-20210518.html)
//! (MDS3): verifying the metadata BLOB and looking authenticators up in it.
//!
//! The BLOB is a JWT (JWS compact serialization, RS256 or ES256) whose `x5c` header carries the
//! signing chain. [`MetadataBlob::verify`] checks, in this order:
//!
//! 1. the JWT shape: three unpadded base64url parts within [`MAX_BLOB_LEN`], a header that is a
//!    JSON object with a string `alg`, an `x5c` array and no `crit` (RFC 7515 §4.1.11);
//! 2. `alg` is `RS256` or `ES256` (never `none`, never an HMAC);
//! 3. the `x5c` chain validates at the caller's time and ends at one of the caller's roots (the
//!    FIDO Alliance MDS root); with no roots configured every BLOB is refused;
//! 4. the signature over `header.payload` with the key of the first `x5c` certificate;
//! 5. the payload parses, and its `nextUpdate` day has not passed.
//!
//! Entries are then indexed by AAGUID (FIDO2) and by attestation certificate key identifier
//! (U2F). An entry that does not fit the schema is skipped and counted
//! ([`MetadataBlob::skipped_entries`]) rather than failing the whole BLOB: one vendor's typo must
//! not hide every other vendor's revocation notices.
//!
//! ## What it does not do
//!
//! Like the rest of the crate this module performs no I/O. The caller downloads the BLOB
//! (`https://mds3.fidoalliance.org/`), supplies the MDS root and the time, and keeps the result;
//! [`MetadataStore`] is the small piece of state that keeps the last good BLOB and refuses
//! rollbacks. Certificate revocation lists for the signing chain are not fetched, so a revoked
//! MDS signing certificate is only noticed once it leaves the chain. The `x5u` header is not
//! followed: a BLOB without `x5c` is refused.
//!
//! ## Names for AAGUIDs
//!
//! [`authenticator_name`] names an authenticator model from the BLOB when one is loaded, and
//! otherwise from a short list bundled with the crate (`data/aaguids.json`: the passkey providers
//! and security keys seen most often, which mostly have no MDS entry).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::authenticator_data::Aaguid;
use crate::cose_key::CoseAlgorithm;
use crate::crypto::KeyMaterial;
use crate::error::TrustError;
use crate::trust::{self, ChainTrust, TrustAnchors, UnixTime, MAX_CERTIFICATE_LEN};

/// The largest BLOB accepted, in bytes of JWT text. The production BLOB is a few megabytes, most
/// of it icons; the limit leaves room to grow while bounding memory. A server should apply the
/// same limit to the download.
pub const MAX_BLOB_LEN: usize = 64 * 1024 * 1024;

/// The largest encoded JWT header accepted (room for a full `x5c` chain of large certificates).
pub const MAX_HEADER_LEN: usize = 256 * 1024;

/// The largest encoded signature accepted: an RSA-8192 signature is 1366 characters.
const MAX_SIGNATURE_LEN: usize = 2048;

/// Seconds in a day; `nextUpdate` and the other MDS dates are whole UTC days.
const DAY: i64 = 86_400;

/// The bundled AAGUID-to-name list (see the module docs).
const BUNDLED_AAGUIDS: &str = include_str!("../data/aaguids.json");

/// Standard base64 (RFC 4648 §4), as `x5c` (RFC 7515 §4.1.6) and `attestationRootCertificates`
/// use it. Padding is optional: some producers drop it, and it carries no information.
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a metadata BLOB was refused.
///
/// Each variant has a stable code ([`MdsError::code`]), listed in [`MDS_ERROR_CODES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdsError {
    /// The JWS `alg` is not `RS256` or `ES256`.
    #[error("the metadata BLOB is signed with {0:?}; only RS256 and ES256 are accepted")]
    Algorithm(String),
    /// The BLOB's `nextUpdate` day has passed: a newer BLOB should exist.
    #[error("the metadata BLOB expired: its nextUpdate was {next_update}")]
    Expired {
        /// The BLOB's `nextUpdate`.
        next_update: MdsDate,
    },
    /// The text is not a JWT this verifier accepts.
    #[error("the metadata BLOB is not a well-formed JWT: {0}")]
    Malformed(JwtDefect),
    /// The signed payload is not a metadata BLOB payload.
    #[error("the metadata BLOB payload is invalid: {0}")]
    Payload(PayloadDefect),
    /// The BLOB's serial number `no` is lower than that of the BLOB already held.
    #[error("metadata BLOB number {received} is older than the current number {current}")]
    Rollback {
        /// The serial number of the BLOB already held.
        current: u64,
        /// The serial number of the refused BLOB.
        received: u64,
    },
    /// The signature does not verify with the key of the first `x5c` certificate, or that key
    /// does not fit `alg`.
    #[error("the metadata BLOB signature does not verify")]
    Signature,
    /// The `x5c` chain does not validate to a configured root at the verification time.
    #[error("the metadata BLOB signing chain is not trusted: {0}")]
    Untrusted(TrustError),
}

impl MdsError {
    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Algorithm(_) => "mds_algorithm_unsupported",
            Self::Expired { .. } => "mds_expired",
            Self::Malformed(_) => "mds_malformed",
            Self::Payload(_) => "mds_payload_invalid",
            Self::Rollback { .. } => "mds_rollback",
            Self::Signature => "mds_signature_invalid",
            Self::Untrusted(_) => "mds_untrusted",
        }
    }
}

/// Every code [`MdsError::code`] can return.
pub const MDS_ERROR_CODES: &[&str] = &[
    "mds_algorithm_unsupported",
    "mds_expired",
    "mds_malformed",
    "mds_payload_invalid",
    "mds_rollback",
    "mds_signature_invalid",
    "mds_untrusted",
];

/// What exactly is wrong with a malformed BLOB JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtDefect {
    /// A part is not unpadded base64url (RFC 7515 §2).
    Base64,
    /// The header has a `crit` member; no JWS extensions are implemented (RFC 7515 §4.1.11).
    Critical,
    /// The header is not a JSON object with a string `alg`, or repeats a member.
    Header,
    /// The text is not three non-empty parts separated by dots.
    Parts,
    /// The BLOB, its header or its signature is larger than this verifier accepts.
    TooLarge,
    /// `x5c` is missing or is not an array of base64 strings.
    X5c,
}

impl fmt::Display for JwtDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base64 => "a part is not unpadded base64url",
            Self::Critical => "the header lists critical extensions",
            Self::Header => "the header is not a JSON object with a string alg",
            Self::Parts => "not three non-empty dot-separated parts",
            Self::TooLarge => "too large",
            Self::X5c => "x5c is missing or is not an array of base64 certificates",
        })
    }
}

/// What exactly is wrong with a signed but invalid payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadDefect {
    /// Not a JSON object with a number `no`, a string `nextUpdate` and an `entries` array.
    Json {
        /// 1-based line of the first error.
        line: usize,
        /// 1-based column of the first error.
        column: usize,
    },
    /// `nextUpdate` is not a `YYYY-MM-DD` date.
    NextUpdate,
}

impl fmt::Display for PayloadDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json { line, column } => {
                write!(f, "invalid payload JSON at line {line}, column {column}")
            }
            Self::NextUpdate => f.write_str("nextUpdate is not a YYYY-MM-DD date"),
        }
    }
}

/// A calendar day, UTC: the MDS `nextUpdate`, `effectiveDate` and `timeOfLastStatusChange`
/// (ISO 8601 `YYYY-MM-DD`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MdsDate(time::Date);

impl MdsDate {
    /// Parses exactly `YYYY-MM-DD` (four-digit year, real calendar day).
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| {
            b[range].iter().try_fold(0u16, |acc, d| {
                d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
            })
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = i32::from(digits(0..4)?);
        let month = time::Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
        let day = u8::try_from(digits(8..10)?).ok()?;
        time::Date::from_calendar_date(year, month, day)
            .ok()
            .map(Self)
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.0.year()
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        u8::from(self.0.month())
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.0.day()
    }

    /// The first second of this day, 00:00:00 UTC.
    pub fn start(self) -> UnixTime {
        UnixTime(self.0.midnight().assume_utc().unix_timestamp())
    }
}

impl fmt::Display for MdsDate {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.year(),
            self.month(),
            self.day()
        )
    }
}

impl fmt::Debug for MdsDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MdsDate({self})")
    }
}

/// An [`AuthenticatorStatus`](https://fidoalliance.org/specs/mds/fido-metadata-service-v3.0-ps-20210518.html#authenticatorstatus-enum)
/// value, in the spec's order. Values this crate does not know are kept as [`Self::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthenticatorStatus {
    /// `NOT_FIDO_CERTIFIED`
    NotFidoCertified,
    /// `FIDO_CERTIFIED` (functional certification, level unspecified)
    FidoCertified,
    /// `USER_VERIFICATION_BYPASS`: malware can bypass user verification.
    UserVerificationBypass,
    /// `ATTESTATION_KEY_COMPROMISE`: an attestation key of this model leaked.
    AttestationKeyCompromise,
    /// `USER_KEY_REMOTE_COMPROMISE`: credential keys can be extracted remotely.
    UserKeyRemoteCompromise,
    /// `USER_KEY_PHYSICAL_COMPROMISE`: credential keys can be extracted with the device in hand.
    UserKeyPhysicalCompromise,
    /// `UPDATE_AVAILABLE`: a firmware update is available.
    UpdateAvailable,
    /// `REVOKED`: the FIDO Alliance revoked this model's certification.
    Revoked,
    /// `SELF_ASSERTION_SUBMITTED`
    SelfAssertionSubmitted,
    /// `FIDO_CERTIFIED_L1`
    FidoCertifiedL1,
    /// `FIDO_CERTIFIED_L1plus`
    FidoCertifiedL1Plus,
    /// `FIDO_CERTIFIED_L2`
    FidoCertifiedL2,
    /// `FIDO_CERTIFIED_L2plus`
    FidoCertifiedL2Plus,
    /// `FIDO_CERTIFIED_L3`
    FidoCertifiedL3,
    /// `FIDO_CERTIFIED_L3plus`
    FidoCertifiedL3Plus,
    /// A value this crate does not know, as written in the BLOB.
    Other(String),
}

impl AuthenticatorStatus {
    const KNOWN: [(Self, &'static str); 15] = [
        (Self::NotFidoCertified, "NOT_FIDO_CERTIFIED"),
        (Self::FidoCertified, "FIDO_CERTIFIED"),
        (Self::UserVerificationBypass, "USER_VERIFICATION_BYPASS"),
        (Self::AttestationKeyCompromise, "ATTESTATION_KEY_COMPROMISE"),
        (Self::UserKeyRemoteCompromise, "USER_KEY_REMOTE_COMPROMISE"),
        (
            Self::UserKeyPhysicalCompromise,
            "USER_KEY_PHYSICAL_COMPROMISE",
        ),
        (Self::UpdateAvailable, "UPDATE_AVAILABLE"),
        (Self::Revoked, "REVOKED"),
        (Self::SelfAssertionSubmitted, "SELF_ASSERTION_SUBMITTED"),
        (Self::FidoCertifiedL1, "FIDO_CERTIFIED_L1"),
        (Self::FidoCertifiedL1Plus, "FIDO_CERTIFIED_L1plus"),
        (Self::FidoCertifiedL2, "FIDO_CERTIFIED_L2"),
        (Self::FidoCertifiedL2Plus, "FIDO_CERTIFIED_L2plus"),
        (Self::FidoCertifiedL3, "FIDO_CERTIFIED_L3"),
        (Self::FidoCertifiedL3Plus, "FIDO_CERTIFIED_L3plus"),
    ];

    /// The status for a value as written in the BLOB (case-sensitive).
    pub fn from_name(name: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| Self::Other(name.to_owned()), |(s, _)| s)
    }

    /// The value as written in the BLOB.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => Self::KNOWN
                .iter()
                .find(|(s, _)| s == known)
                .map_or("", |(_, n)| n),
        }
    }

    /// Whether this status says the model must no longer be trusted: `REVOKED`,
    /// `ATTESTATION_KEY_COMPROMISE`, `USER_VERIFICATION_BYPASS`, `USER_KEY_REMOTE_COMPROMISE` or
    /// `USER_KEY_PHYSICAL_COMPROMISE`.
    pub fn is_revocation(&self) -> bool {
        matches!(
            self,
            Self::Revoked
                | Self::AttestationKeyCompromise
                | Self::UserVerificationBypass
                | Self::UserKeyRemoteCompromise
                | Self::UserKeyPhysicalCompromise
        )
    }
}

impl fmt::Display for AuthenticatorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A [`StatusReport`](https://fidoalliance.org/specs/mds/fido-metadata-service-v3.0-ps-20210518.html#statusreport-dictionary)
/// of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// `status`.
    pub status: AuthenticatorStatus,
    /// `effectiveDate`: when the status was set, if the report says.
    pub effective_date: Option<MdsDate>,
    /// `authenticatorVersion`: the firmware version the report relates to, if it says.
    pub authenticator_version: Option<u64>,
    /// `certificate`: for `ATTESTATION_KEY_COMPROMISE`, the compromised attestation certificate
    /// (base64 DER, as in the BLOB).
    pub certificate: Option<String>,
    /// `url`: where the report is explained.
    pub url: Option<String>,
}

/// One verified [`MetadataBLOBPayloadEntry`](https://fidoalliance.org/specs/mds/fido-metadata-service-v3.0-ps-20210518.html#metadata-blob-payload-entry-dictionary):
/// an authenticator model, its attestation roots and its status history.
#[derive(Debug, Clone)]
pub struct MetadataEntry {
    aaguid: Option<Aaguid>,
    aaid: Option<String>,
    key_identifiers: Vec<String>,
    description: Option<String>,
    icon: Option<String>,
    roots: TrustAnchors,
    unusable_roots: usize,
    status_reports: Vec<StatusReport>,
    time_of_last_status_change: Option<MdsDate>,
}

impl MetadataEntry {
    /// `aaguid`: the FIDO2 model identifier, if the entry is for a FIDO2 authenticator.
    pub fn aaguid(&self) -> Option<Aaguid> {
        self.aaguid
    }

    /// `aaid`: the UAF model identifier, if the entry is for a UAF authenticator.
    pub fn aaid(&self) -> Option<&str> {
        self.aaid.as_deref()
    }

    /// `attestationCertificateKeyIdentifiers`: lowercase hex SHA-1 subject key identifiers of the
    /// model's attestation certificates (U2F authenticators, which have no AAGUID).
    pub fn attestation_certificate_key_identifiers(&self) -> &[String] {
        &self.key_identifiers
    }

    /// `metadataStatement.description`: the model's human-readable name (English).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// `metadataStatement.icon`: the model's icon as a `data:` URL. Any other URL in the BLOB is
    /// dropped, so showing this never makes a browser fetch from a third party.
    pub fn icon(&self) -> Option<&str> {
        self.icon.as_deref()
    }

    /// `metadataStatement.attestationRootCertificates`: the roots an attestation of this model
    /// must chain to.
    pub fn attestation_root_certificates(&self) -> &TrustAnchors {
        &self.roots
    }

    /// How many `attestationRootCertificates` were left out of
    /// [`attestation_root_certificates`](Self::attestation_root_certificates) because they are
    /// not base64 DER X.509 with a supported key. Leaving a root out can only refuse more.
    pub fn unusable_root_certificates(&self) -> usize {
        self.unusable_roots
    }

    /// `statusReports`, in the BLOB's order.
    pub fn status_reports(&self) -> &[StatusReport] {
        &self.status_reports
    }

    /// The latest status report: the one with the latest `effectiveDate`, and among equal dates
    /// (or none) the one listed last.
    pub fn latest_status_report(&self) -> Option<&StatusReport> {
        self.status_reports
            .iter()
            .enumerate()
            .max_by(|(i, a), (j, b)| a.effective_date.cmp(&b.effective_date).then(i.cmp(j)))
            .map(|(_, report)| report)
    }

    /// Whether any status report revokes the model ([`AuthenticatorStatus::is_revocation`]).
    ///
    /// Any report counts, not only the latest: a leaked attestation key or an extractable
    /// credential key stays leaked when a later report certifies a new firmware, and an
    /// attestation does not say which firmware produced it. Callers who want the latest report
    /// only can use [`latest_status_report`](Self::latest_status_report).
    pub fn is_revoked(&self) -> bool {
        self.status_reports.iter().any(|r| r.status.is_revocation())
    }

    /// `timeOfLastStatusChange`.
    pub fn time_of_last_status_change(&self) -> Option<MdsDate> {
        self.time_of_last_status_change
    }
}

/// A verified metadata BLOB, indexed for lookups.
///
/// Built only by [`MetadataBlob::verify`], so holding one means the signature, the signing chain
/// and `nextUpdate` were checked at the time given then.
pub struct MetadataBlob {
    no: u64,
    next_update: MdsDate,
    legal_header: Option<String>,
    entries: Vec<MetadataEntry>,
    by_aaguid: HashMap<Aaguid, usize>,
    by_key_identifier: HashMap<String, usize>,
    skipped_entries: usize,
}

impl fmt::Debug for MetadataBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataBlob")
            .field("no", &self.no)
            .field("next_update", &self.next_update)
            .field("entries", &self.entries.len())
            .field("skipped_entries", &self.skipped_entries)
            .finish()
    }
}

/// The JWS protected header (RFC 7515 §4). Unknown members are ignored; a repeated known member
/// is an error (serde's derive refuses duplicate fields).
#[derive(Deserialize)]
struct JwsHeader {
    alg: String,
    #[serde(default)]
    x5c: Option<Vec<String>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// The JWS algorithms MDS3 allows ("RS256 or ES256"), mapped to the COSE algorithm that
/// `KeyMaterial::verify` knows.
fn jws_algorithm(alg: &str) -> Option<CoseAlgorithm> {
    match alg {
        "ES256" => Some(CoseAlgorithm::Es256),
        "RS256" => Some(CoseAlgorithm::Rs256),
        _ => None,
    }
}

/// `MetadataBLOBPayload`. `legalHeader` is required by the spec but only informative, so a BLOB
/// without one is accepted.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadJson {
    #[serde(default)]
    legal_header: Option<String>,
    no: u64,
    next_update: String,
    entries: Vec<MaybeEntry>,
}

/// An entry that fits the schema, or anything else (skipped and counted).
#[derive(Deserialize)]
#[serde(untagged)]
enum MaybeEntry {
    Entry(Box<EntryJson>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryJson {
    #[serde(default)]
    aaid: Option<String>,
    #[serde(default)]
    aaguid: Option<String>,
    #[serde(default)]
    attestation_certificate_key_identifiers: Vec<String>,
    #[serde(default)]
    metadata_statement: Option<StatementJson>,
    status_reports: Vec<StatusReportJson>,
    #[serde(default)]
    time_of_last_status_change: Option<String>,
}

/// The few `MetadataStatement` members used here; the rest are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatementJson {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default)]
    attestation_root_certificates: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusReportJson {
    status: String,
    #[serde(default)]
    effective_date: Option<String>,
    #[serde(default)]
    authenticator_version: Option<u64>,
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// Parses an optional date member; `Err` when present and not a date.
fn optional_date(text: Option<&str>) -> Result<Option<MdsDate>, ()> {
    text.map(|t| MdsDate::parse(t).ok_or(())).transpose()
}

impl MetadataEntry {
    /// The entry for a schema-conforming JSON entry; `None` when a member's value is invalid
    /// (an AAGUID that is not a UUID, a date that is not `YYYY-MM-DD`).
    fn from_json(json: EntryJson) -> Option<Self> {
        let aaguid = match json.aaguid.as_deref() {
            Some(text) => Some(parse_aaguid(text)?),
            None => None,
        };
        let status_reports = json
            .status_reports
            .into_iter()
            .map(|r| {
                Some(StatusReport {
                    status: AuthenticatorStatus::from_name(&r.status),
                    effective_date: optional_date(r.effective_date.as_deref()).ok()?,
                    authenticator_version: r.authenticator_version,
                    certificate: r.certificate,
                    url: r.url,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let time_of_last_status_change =
            optional_date(json.time_of_last_status_change.as_deref()).ok()?;

        let (description, icon, root_texts) = match json.metadata_statement {
            Some(s) => (s.description, s.icon, s.attestation_root_certificates),
            None => (None, None, Vec::new()),
        };
        let mut roots = TrustAnchors::new();
        let mut unusable_roots = 0;
        for text in &root_texts {
            let added = BASE64_STANDARD
                .decode(text)
                .ok()
                .filter(|der| der.len() <= MAX_CERTIFICATE_LEN)
                .is_some_and(|der| roots.add_der(&der).is_ok());
            if !added {
                unusable_roots += 1;
            }
        }

        Some(Self {
            aaguid,
            aaid: json.aaid,
            // MDS3 requires lowercase hex; lowercasing tolerates a producer that forgot.
            key_identifiers: json
                .attestation_certificate_key_identifiers
                .into_iter()
                .map(|k| k.to_ascii_lowercase())
                .collect(),
            description: description.filter(|d| !d.is_empty()),
            icon: icon.filter(|i| i.starts_with("data:")),
            roots,
            unusable_roots,
            status_reports,
            time_of_last_status_change,
        })
    }
}

/// Parses the canonical UUID form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
fn parse_aaguid(text: &str) -> Option<Aaguid> {
    let b = text.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: Vec<u8> = b.iter().copied().filter(|c| *c != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(Aaguid(out))
}

/// The lowercase hex SHA-1 of a certificate's subjectPublicKey BIT STRING contents (RFC 5280
/// §4.2.1.2 method 1): the key identifier MDS3 lists in `attestationCertificateKeyIdentifiers`.
/// `None` when `cert_der` is not exactly one DER X.509 certificate.
pub fn subject_key_identifier(cert_der: &[u8]) -> Option<String> {
    if cert_der.len() > MAX_CERTIFICATE_LEN {
        return None;
    }
    let ([], cert) = X509Certificate::from_der(cert_der).ok()? else {
        return None;
    };
    let hash = digest::digest(
        &digest::SHA1_FOR_LEGACY_USE_ONLY,
        &cert.public_key().subject_public_key.data,
    );
    Some(hash.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

impl MetadataBlob {
    /// Verifies a metadata BLOB (the JWT text as downloaded) against the MDS roots at `now`, and
    /// indexes its entries. The checks and their order are in the [module docs](self).
    ///
    /// `roots` are the roots the BLOB signing chain must end at (for the FIDO Alliance service,
    /// the root its documentation names), not attestation roots. Leading and trailing ASCII
    /// whitespace (a trailing newline from a file) is ignored.
    pub fn verify(jwt: &str, roots: &TrustAnchors, now: UnixTime) -> Result<Self, MdsError> {
        use JwtDefect as D;
        let malformed = MdsError::Malformed;

        // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
        if jwt.len() > MAX_BLOB_LEN {
            return Err(malformed(D::TooLarge));
        }
        let jwt = jwt.trim_matches(|c: char| c.is_ascii_whitespace());
        let mut parts = jwt.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(D::Parts));
        };
        if [header_b64, payload_b64, signature_b64]
            .iter()
            .any(|p| p.is_empty())
        {
            return Err(malformed(D::Parts));
        }
        if header_b64.len() > MAX_HEADER_LEN || signature_b64.len() > MAX_SIGNATURE_LEN {
            return Err(malformed(D::TooLarge));
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| malformed(D::Base64))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| malformed(D::Base64))?;
        let header: JwsHeader =
            serde_json::from_slice(&header_json).map_err(|_| malformed(D::Header))?;
        // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; we implement none.
        if header.crit.is_some() {
            return Err(malformed(D::Critical));
        }

        // MDS3: "the BLOB ... signed using RS256 or ES256".
        let Some(alg) = jws_algorithm(&header.alg) else {
            return Err(MdsError::Algorithm(header.alg));
        };

        // MDS3 BLOB processing rules: the chain comes from `x5c` (`x5u` is not fetched).
        let x5c = header
            .x5c
            .ok_or(malformed(D::X5c))?
            .iter()
            .map(|c| BASE64_STANDARD.decode(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| malformed(D::X5c))?;
        let x5c: Vec<&[u8]> = x5c.iter().map(Vec::as_slice).collect();
        let chain = trust::parse_chain(&x5c).map_err(MdsError::Untrusted)?;
        // Fail closed: a BLOB is only ever trusted through a configured root.
        if roots.is_empty() {
            return Err(MdsError::Untrusted(TrustError::NoAnchorsConfigured));
        }
        match trust::verify_chain(&chain, &x5c, roots, now, true) {
            Ok(ChainTrust::Anchored) => {}
            Ok(ChainTrust::Unanchored) => return Err(MdsError::Untrusted(TrustError::NoAnchor)),
            Err(e) => return Err(MdsError::Untrusted(e)),
        }

        // RFC 7515 §5.2: the signature covers the ASCII text `header.payload`, made with the key
        // of the first `x5c` certificate (§4.1.6).
        let key = KeyMaterial::from_spki(chain[0].public_key()).map_err(|_| MdsError::Signature)?;
        let signing_input = &jwt.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        match alg {
            CoseAlgorithm::Es256 => key.verify_es256_fixed(signing_input, &signature),
            _ => key.verify(alg, signing_input, &signature),
        }
        .map_err(|_| MdsError::Signature)?;

        // Only now, with the signature checked, is the payload decoded and parsed.
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| malformed(D::Base64))?;
        let payload: PayloadJson = serde_json::from_slice(&payload).map_err(|e| {
            MdsError::Payload(PayloadDefect::Json {
                line: e.line(),
                column: e.column(),
            })
        })?;
        let next_update = MdsDate::parse(&payload.next_update)
            .ok_or(MdsError::Payload(PayloadDefect::NextUpdate))?;
        // MDS3 BLOB processing rules: a BLOB past its nextUpdate is stale. `nextUpdate` names a
        // day, so the BLOB is accepted through the end of that UTC day.
        if is_past(next_update, now) {
            return Err(MdsError::Expired { next_update });
        }

        Ok(Self::index(payload, next_update))
    }

    fn index(payload: PayloadJson, next_update: MdsDate) -> Self {
        let mut blob = Self {
            no: payload.no,
            next_update,
            legal_header: payload.legal_header,
            entries: Vec::with_capacity(payload.entries.len()),
            by_aaguid: HashMap::new(),
            by_key_identifier: HashMap::new(),
            skipped_entries: 0,
        };
        for entry in payload.entries {
            let MaybeEntry::Entry(json) = entry else {
                blob.skipped_entries += 1;
                continue;
            };
            let Some(entry) = MetadataEntry::from_json(*json) else {
                blob.skipped_entries += 1;
                continue;
            };
            let index = blob.entries.len();
            // When two entries claim the same AAGUID or key identifier, the first one listed
            // wins, so the lookup does not depend on hash order.
            if let Some(aaguid) = entry.aaguid.filter(|a| !a.is_zero()) {
                blob.by_aaguid.entry(aaguid).or_insert(index);
            }
            for key_id in &entry.key_identifiers {
                blob.by_key_identifier
                    .entry(key_id.clone())
                    .or_insert(index);
            }
            blob.entries.push(entry);
        }
        blob
    }

    /// `no`: the BLOB's serial number, increased with every BLOB the service publishes.
    pub fn no(&self) -> u64 {
        self.no
    }

    /// `nextUpdate`: the day by which a newer BLOB will be published.
    pub fn next_update(&self) -> MdsDate {
        self.next_update
    }

    /// Whether `nextUpdate` has passed at `now` (the BLOB is accepted through the end of that
    /// UTC day). A held BLOB that has expired is still the best information available; callers
    /// decide whether to keep using it while they retry the download.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        is_past(self.next_update, now)
    }

    /// `legalHeader`: the terms the BLOB is published under.
    pub fn legal_header(&self) -> Option<&str> {
        self.legal_header.as_deref()
    }

    /// Every usable entry, in the BLOB's order (including UAF entries, which have neither an
    /// AAGUID nor key identifiers).
    pub fn entries(&self) -> &[MetadataEntry] {
        &self.entries
    }

    /// How many entries were skipped because they do not fit the MDS3 schema (a missing
    /// `statusReports`, an AAGUID that is not a UUID, a date that is not `YYYY-MM-DD`...).
    /// Worth logging: a skipped entry cannot report its model as revoked.
    pub fn skipped_entries(&self) -> usize {
        self.skipped_entries
    }

    /// The entry for a FIDO2 authenticator model. The all-zero AAGUID (U2F, or an authenticator
    /// that does not say) never has an entry.
    pub fn entry_for_aaguid(&self, aaguid: &Aaguid) -> Option<&MetadataEntry> {
        self.by_aaguid.get(aaguid).map(|&i| &self.entries[i])
    }

    /// The entry listing this attestation certificate key identifier (hex, either case).
    pub fn entry_for_key_identifier(&self, key_identifier: &str) -> Option<&MetadataEntry> {
        self.by_key_identifier
            .get(&key_identifier.to_ascii_lowercase())
            .map(|&i| &self.entries[i])
    }

    /// The entry listing the key identifier of this attestation certificate (DER), as U2F
    /// authenticators are identified. See [`subject_key_identifier`].
    pub fn entry_for_certificate(&self, leaf_der: &[u8]) -> Option<&MetadataEntry> {
        self.entry_for_key_identifier(&subject_key_identifier(leaf_der)?)
    }
}

/// Whether the whole UTC day `date` is over at `now`.
fn is_past(date: MdsDate, now: UnixTime) -> bool {
    now.0 >= date.start().0.saturating_add(DAY)
}

/// The caller-side holder of the current BLOB: keeps the last good BLOB when a download fails
/// verification, and refuses rollbacks to an older serial number.
///
/// Share the held BLOB with [`MetadataStore::current`] (an `Arc`, cheap to clone into each
/// verification); keep the store itself behind the server's lock of choice.
#[derive(Debug, Clone, Default)]
pub struct MetadataStore {
    current: Option<Arc<MetadataBlob>>,
}

impl MetadataStore {
    /// A store holding no BLOB.
    pub fn new() -> Self {
        Self::default()
    }

    /// The BLOB held, if any verified so far. It may have expired since
    /// ([`MetadataBlob::is_expired`]).
    pub fn current(&self) -> Option<&Arc<MetadataBlob>> {
        self.current.as_ref()
    }

    /// Verifies `jwt` ([`MetadataBlob::verify`]) and holds it if it is newer than the current
    /// BLOB. On any error the current BLOB is kept.
    ///
    /// MDS3 BLOB processing rules: a BLOB whose `no` is lower than the current one is refused
    /// ([`MdsError::Rollback`]); one with the same `no` is the BLOB already held and is ignored
    /// (`Ok`, nothing changes).
    pub fn update(
        &mut self,
        jwt: &str,
        roots: &TrustAnchors,
        now: UnixTime,
    ) -> Result<(), MdsError> {
        let blob = MetadataBlob::verify(jwt, roots, now)?;
        if let Some(current) = &self.current {
            if blob.no < current.no {
                return Err(MdsError::Rollback {
                    current: current.no,
                    received: blob.no,
                });
            }
            if blob.no == current.no {
                return Ok(());
            }
        }
        self.current = Some(Arc::new(blob));
        Ok(())
    }
}

/// The bundled AAGUID names (`data/aaguids.json`), parsed once.
fn bundled_names() -> &'static HashMap<Aaguid, String> {
    static NAMES: OnceLock<HashMap<Aaguid, String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        // The bundled file is checked by the tests; were it unreadable, names would only be
        // missing, never wrong.
        let raw: HashMap<String, String> =
            serde_json::from_str(BUNDLED_AAGUIDS).unwrap_or_default();
        raw.into_iter()
            .filter_map(|(aaguid, name)| Some((parse_aaguid(&aaguid)?, name)))
            .collect()
    })
}

/// A human-readable name for an authenticator model: the MDS `description` when `blob` has an
/// entry for the AAGUID, else the name in the bundled list, else `None` (always `None` for the
/// all-zero AAGUID).
///
/// For display only (a credential list, an audit log): the AAGUID of a passkey without a
/// trusted attestation is the authenticator's claim, not a fact.
pub fn authenticator_name<'a>(aaguid: &Aaguid, blob: Option<&'a MetadataBlob>) -> Option<&'a str> {
    if aaguid.is_zero() {
        return None;
    }
    blob.and_then(|b| b.entry_for_aaguid(aaguid))
        .and_then(MetadataEntry::description)
        .or_else(|| bundled_names().get(aaguid).map(String::as_str))
}

#[cfg(test)]
mod tests;
