//! # passkeyd-webauthn
//!
//! Sans-IO verification of [WebAuthn Level 3](https://www.w3.org/TR/webauthn-3/) ceremonies for a
//! relying party: registration (§7.1) and authentication (§7.2), COSE credential keys of every
//! algorithm real authenticators use, and attestation statements.
//!
//! ## What it does not do
//!
//! This crate performs no I/O. It has no clock, no random number generator, no storage, no HTTP and
//! no configuration files: the caller passes the challenge it generated, the verification time, the
//! relying party's origins and the stored credential record, and persists what comes back. It does
//! not generate challenges or user handles, track sessions, or decide whether a credential ID is
//! already registered; those belong to the server (`passkeyd`).
//!
//! ## Algorithms
//!
//! ES256, ES384, ES512, EdDSA (Ed25519), RS256, RS384, RS512, PS256, PS384, PS512, ML-DSA-44,
//! ML-DSA-65 and ML-DSA-87, all verified with aws-lc-rs. RS1 only when the relying party lists it.
//! Keys are validated when registered: the curve fits the algorithm, points are on the curve, RSA
//! moduli have at least 2048 bits, Ed25519 keys are 32 bytes.
//!
//! ## Attestation
//!
//! Every registered statement format: `none`, `packed` (self and x5c), `fido-u2f`, `tpm` (RSA and
//! ECC AIKs), `android-key`, `android-safetynet` (deprecated; only when
//! [`AttestationPolicy::allow_legacy_formats`] is set), `apple` and `compound`. Each reports its
//! attestation type (None, Self, Basic, AttCA, AnonCA) and trust path. Certificate chains are
//! validated to caller-supplied roots, optionally the vendor roots bundled in [`roots`], and the
//! roots of a verified FIDO Metadata Service BLOB ([`mds`]), at a caller-supplied time; whether a
//! chain must be anchored is the caller's [`AttestationPolicy`]. Unknown formats are refused with
//! `attestation_unsupported`.
//!
//! ## Example
//!
//! ```
//! use passkeyd_webauthn::{
//!     verify_registration, AttestationPolicy, ExpectedRegistration, RegistrationResponseJson,
//!     RelyingParty, UnixTime,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A registration captured from a browser (W3C WebAuthn L3 §16 test vector, `none` attestation).
//! let json = include_bytes!("../tests/vectors/w3c_spec_vectors/reg_none_es256.json");
//! let case: serde_json::Value = serde_json::from_slice(json)?;
//! let response: RegistrationResponseJson = serde_json::from_value(case["response"].clone())?;
//! let challenge = passkeyd_webauthn::json::base64url_decode(case["challenge"].as_str().unwrap())?;
//!
//! // What the server decided when it issued the options.
//! let rp = RelyingParty::new("example.org", ["https://example.org"]);
//! let policy = AttestationPolicy::default();
//! let expected = ExpectedRegistration::new(&rp, &challenge, &policy);
//!
//! let credential = verify_registration(&response, &expected, UnixTime(1_700_000_000))?;
//! assert_eq!(credential.algorithm.name(), "ES256");
//! assert_eq!(credential.attestation.attestation_type.as_str(), "None");
//! // Store credential.credential_id, credential.public_key, credential.sign_count...
//! # Ok(())
//! # }
//! ```
//!
//! ## Error codes
//!
//! Every failure is a [`VerifyError`]; [`VerifyError::code`] gives its stable code:
//!
//! | code | meaning |
//! |---|---|
//! | `response_malformed` | the credential JSON is not a well-formed `PublicKeyCredential` form, or a convenience copy disagrees |
//! | `client_data_invalid` | `clientDataJSON` is not UTF-8 JSON object, repeats a member, or lacks one |
//! | `type_mismatch` | `clientDataJSON.type` is not the ceremony's type |
//! | `challenge_mismatch` | the signed challenge is not the issued one |
//! | `origin_mismatch` | the origin is not one of the relying party's |
//! | `cross_origin_not_allowed` | `crossOrigin` is true and embedding is not allowed |
//! | `top_origin_mismatch` | `topOrigin` is not an allowed top-level origin |
//! | `token_binding_invalid` | `tokenBinding` has an unknown status |
//! | `authenticator_data_invalid` | authenticator data or the attestation object is malformed (truncated, trailing bytes, AT/ED flags, credential ID over 1023 bytes) |
//! | `rp_id_mismatch` | `rpIdHash` is not the hash of the RP ID |
//! | `user_presence_required` | the UP flag is clear |
//! | `user_verification_required` | UV is required and the UV flag is clear |
//! | `backup_state_invalid` | BS is set without BE |
//! | `backup_eligibility_changed` | BE differs from the value recorded at registration |
//! | `public_key_invalid` | the credential key is not a valid COSE key for its algorithm |
//! | `algorithm_unsupported` | the key's algorithm is not implemented |
//! | `algorithm_not_allowed` | the key's algorithm was not offered in `pubKeyCredParams` |
//! | `attestation_invalid` | the attestation statement or its certificate fails the format's checks |
//! | `attestation_untrusted` | the chain does not reach a trusted root, is invalid at the time, or the attestation type is not accepted |
//! | `attestation_unsupported` | the statement format is unknown or not implemented |
//! | `credential_id_mismatch` | `id`, `rawId` and the attested credential ID differ |
//! | `credential_not_allowed` | the credential was not offered for this ceremony |
//! | `credential_excluded` | the credential was in `excludeCredentials` |
//! | `user_handle_mismatch` | the user handle does not name the credential's owner, or is missing in a discoverable flow |
//! | `signature_invalid` | the assertion signature does not verify |
//! | `counter_regression` | the signature counter did not increase (possible clone) |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attestation;
pub mod authentication;
pub mod authenticator_data;
pub mod case;
mod cbor;
pub mod client_data;
pub mod cose_key;
pub mod crypto;
pub mod error;
pub mod json;
pub mod mds;
pub mod registration;
pub mod relying_party;
pub mod roots;
#[cfg(feature = "test-util")]
pub mod test_util;
pub mod trust;

pub use attestation::{AttestationFormat, AttestationPolicy, AttestationType, VerifiedAttestation};
pub use authentication::{
    verify_authentication, CounterPolicy, ExpectedAuthentication, StoredCredential,
    UserIdentification, VerifiedAuthentication,
};
pub use authenticator_data::{Aaguid, AuthenticatorData, AuthenticatorFlags};
pub use cose_key::{CoseAlgorithm, CredentialPublicKey};
pub use error::{VerifyError, ERROR_CODES};
pub use json::{
    AuthenticationResponseJson, CreationOptionsJson, RegistrationResponseJson, RequestOptionsJson,
    UserVerificationRequirement,
};
pub use registration::{verify_registration, ExpectedRegistration, VerifiedRegistration};
pub use relying_party::RelyingParty;
pub use trust::{TrustAnchors, UnixTime};
