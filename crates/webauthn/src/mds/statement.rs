//! What the BLOB says about authenticator models: the entries with their metadata statements
//! and status reports, MDS dates, key identifiers, and authenticator names (from the BLOB or the
//! bundled list).

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::digest;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::blob::MetadataBlob;
use super::BASE64_STANDARD;
use crate::authenticator_data::Aaguid;
use crate::trust::{TrustAnchors, UnixTime, MAX_CERTIFICATE_LEN};

/// The bundled AAGUID-to-name list (see the module docs).
pub(super) const BUNDLED_AAGUIDS: &str = include_str!("../../data/aaguids.json");

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
    pub(super) const KNOWN: [(Self, &'static str); 15] = [
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

/// An entry that fits the schema, or anything else (skipped and counted).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum MaybeEntry {
    Entry(Box<EntryJson>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EntryJson {
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
    pub(super) fn from_json(json: EntryJson) -> Option<Self> {
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
pub(super) fn parse_aaguid(text: &str) -> Option<Aaguid> {
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

/// The bundled AAGUID names (`data/aaguids.json`), parsed once.
pub(super) fn bundled_names() -> &'static HashMap<Aaguid, String> {
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
