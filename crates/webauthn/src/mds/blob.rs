//! The BLOB envelope: the JWT and its limits, the signing-chain and signature verification, the
//! errors a refused BLOB reports, the verified [`MetadataBlob`] with its lookups, and the
//! [`MetadataStore`] that holds the current BLOB.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::statement::{subject_key_identifier, MaybeEntry, MdsDate, MetadataEntry};
use super::BASE64_STANDARD;
use crate::authenticator_data::Aaguid;
use crate::cose_key::CoseAlgorithm;
use crate::crypto::KeyMaterial;
use crate::error::TrustError;
use crate::trust::{self, ChainTrust, TrustAnchors, UnixTime};

/// The largest BLOB accepted, in bytes of JWT text. The production BLOB is a few megabytes, most
/// of it icons; the limit leaves room to grow while bounding memory. A server should apply the
/// same limit to the download.
pub const MAX_BLOB_LEN: usize = 64 * 1024 * 1024;

/// The largest encoded JWT header accepted (room for a full `x5c` chain of large certificates).
pub const MAX_HEADER_LEN: usize = 256 * 1024;

/// The largest encoded signature accepted: an RSA-8192 signature is 1366 characters.
pub(super) const MAX_SIGNATURE_LEN: usize = 2048;

/// Seconds in a day; `nextUpdate` and the other MDS dates are whole UTC days.
const DAY: i64 = 86_400;

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

impl MetadataBlob {
    /// Verifies a metadata BLOB (the JWT text as downloaded) against the MDS roots at `now`, and
    /// indexes its entries. The checks and their order are in the [module docs](super).
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
            if let Some(aaguid) = entry.aaguid().filter(|a| !a.is_zero()) {
                blob.by_aaguid.entry(aaguid).or_insert(index);
            }
            for key_id in entry.attestation_certificate_key_identifiers() {
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
