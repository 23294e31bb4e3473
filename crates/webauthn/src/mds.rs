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

mod blob;
mod statement;

pub use blob::{
    JwtDefect, MdsError, MetadataBlob, MetadataStore, PayloadDefect, MAX_BLOB_LEN, MAX_HEADER_LEN,
    MDS_ERROR_CODES,
};
pub use statement::{
    authenticator_name, subject_key_identifier, AuthenticatorStatus, MdsDate, MetadataEntry,
    StatusReport,
};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;

/// Standard base64 (RFC 4648 §4), as `x5c` (RFC 7515 §4.1.6) and `attestationRootCertificates`
/// use it. Padding is optional: some producers drop it, and it carries no information.
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[cfg(test)]
mod tests;
