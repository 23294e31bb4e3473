//! [Android SafetyNet attestation](https://www.w3.org/TR/webauthn-3/#sctn-android-safetynet-attestation)
//! (L3 §8.5, deprecated): a SafetyNet Attestation API response, a JWS signed by Google for
//! `attest.android.com`, whose nonce binds the authenticator data and client data.
//!
//! Google shut the SafetyNet Attestation API down, so the format is off by default: unless
//! [`AttestationPolicy::allow_legacy_formats`] is set, a statement is refused as
//! [`AttestationError::UnsupportedFormat`] (`attestation_unsupported`), the same answer as for a
//! format this verifier does not implement, before any of it is parsed.
//!
//! With the format allowed, the device verdict follows the policy:
//! [`AttestationPolicy::safetynet_require_cts_profile_match`] requires `ctsProfileMatch` (else
//! `basicIntegrity` suffices), and [`AttestationPolicy::safetynet_max_age_secs`] bounds how far
//! `timestampMs` may be from the verification time, in either direction. Certificate revocation is
//! not checked (no CRL fetching in a sans-IO crate).
//!
//! [`AttestationPolicy::allow_legacy_formats`]: super::AttestationPolicy::allow_legacy_formats
//! [`AttestationPolicy::safetynet_require_cts_profile_match`]: super::AttestationPolicy::safetynet_require_cts_profile_match
//! [`AttestationPolicy::safetynet_max_age_secs`]: super::AttestationPolicy::safetynet_max_age_secs

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::{certificate, signed_data, AttestationType, Statement, StatementInput};
use crate::cbor;
use crate::cose_key::CoseAlgorithm;
use crate::crypto::{CryptoError, Curve, KeyMaterial};
use crate::error::AttestationError;
use crate::relying_party::sha256;

mod jws;
#[cfg(test)]
mod tests;

use jws::{json_object, Jws, JwsAlgorithm};

/// The host name SafetyNet attestation certificates are issued to.
const SAFETYNET_HOSTNAME: &str = "attest.android.com";

/// The members of the SafetyNet attestation payload that §8.5 and the SafetyNet documentation
/// look at. Others (`apkPackageName`, `evaluationType`...) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    /// base64(SHA-256(authenticatorData || clientDataHash)), standard alphabet with padding.
    nonce: String,
    /// When Google made the attestation, milliseconds since the Unix epoch.
    #[serde(default)]
    timestamp_ms: Option<i64>,
    /// The device passed the Android compatibility (CTS) profile.
    #[serde(default)]
    cts_profile_match: Option<bool>,
    /// The device was not tampered with (a weaker verdict than `ctsProfileMatch`).
    #[serde(default)]
    basic_integrity: Option<bool>,
}

/// Verifies an `android-safetynet` statement (L3 §8.5 verification procedure).
///
/// Refused as [`AttestationError::UnsupportedFormat`] unless the policy allows legacy formats.
/// The JWS signature is checked before anything in the payload is read, so step 4 comes before
/// steps 2 and 3.
pub(crate) fn verify<'a>(input: &StatementInput<'a>) -> Result<Statement<'a>, AttestationError> {
    if !input.policy.allow_legacy_formats {
        return Err(AttestationError::UnsupportedFormat(
            "android-safetynet".to_owned(),
        ));
    }
    // Step 1: attStmt is {ver: tstr, response: bstr}.
    cbor::map_get(input.att_stmt, "ver")
        .and_then(|v| v.as_text())
        .filter(|ver| !ver.is_empty())
        .ok_or(AttestationError::Malformed(
            "ver is missing or not a non-empty text string",
        ))?;
    let response = cbor::map_get(input.att_stmt, "response")
        .and_then(|v| v.as_bytes())
        .filter(|r| !r.is_empty())
        .ok_or(AttestationError::Malformed(
            "response is missing or not a byte string",
        ))?;
    let jws = Jws::parse(response)?;
    // Step 4: the response comes from the SafetyNet service: the JWS verifies with the leaf
    // certificate, which was issued to attest.android.com.
    verify_signature(&jws)?;
    // Step 2: a valid SafetyNet response (the only version there is).
    let payload: Payload = json_object(
        &jws.payload,
        "the SafetyNet payload is not a valid JSON object",
    )?;
    // Step 3: the nonce binds authenticatorData and clientDataHash.
    let expected_nonce = STANDARD.encode(sha256(&signed_data(input)));
    if payload.nonce != expected_nonce {
        return Err(AttestationError::Refused(
            "the SafetyNet nonce is not base64(SHA-256(authenticatorData || clientDataHash))",
        ));
    }
    check_verdict(&payload, input)?;
    // Step 5: Basic attestation, trust path x5c.
    Ok(Statement {
        attestation_type: AttestationType::Basic,
        x5c: jws.x5c.into_iter().map(Cow::Owned).collect(),
        statement_algorithm: None,
    })
}

/// The JWS signature verifies with the leaf certificate's key, and the leaf names
/// `attest.android.com` (SafetyNet documentation, "Verify the compatibility check response").
fn verify_signature(jws: &Jws<'_>) -> Result<(), AttestationError> {
    let leaf = certificate::parse(&jws.x5c[0])?;
    let key = certificate::key(&leaf)?;
    let result = match jws.alg {
        JwsAlgorithm::Rs256 => key.verify(CoseAlgorithm::Rs256, jws.signing_input, &jws.signature),
        JwsAlgorithm::Es256 => {
            if !matches!(
                key,
                KeyMaterial::Ec2 {
                    curve: Curve::P256,
                    ..
                }
            ) {
                return Err(AttestationError::Certificate(
                    "the key does not fit the JWS alg ES256",
                ));
            }
            key.verify_es256_fixed(jws.signing_input, &jws.signature)
        }
    };
    result.map_err(|e| match e {
        CryptoError::BadSignature => AttestationError::Signature,
        CryptoError::KeyMismatch(_) | CryptoError::Unsupported => {
            AttestationError::Certificate("the key does not fit the JWS alg")
        }
    })?;
    if !issued_to_safetynet(&leaf)? {
        return Err(AttestationError::Certificate(
            "the certificate is not issued to attest.android.com",
        ));
    }
    Ok(())
}

/// Whether a DNS name in the subject alternative names, or a subject common name, is
/// `attest.android.com` (compared ASCII case-insensitively, as host names are).
fn issued_to_safetynet(cert: &X509Certificate<'_>) -> Result<bool, AttestationError> {
    let is_host = |name: &str| name.eq_ignore_ascii_case(SAFETYNET_HOSTNAME);
    let san = cert.subject_alternative_name().map_err(|_| {
        AttestationError::Certificate("malformed or repeated subject alternative names")
    })?;
    let in_san = san.is_some_and(|san| {
        san.value
            .general_names
            .iter()
            .any(|name| matches!(name, GeneralName::DNSName(dns) if is_host(dns)))
    });
    let in_cn = cert
        .subject()
        .iter_common_name()
        .any(|cn| cn.as_str().is_ok_and(is_host));
    Ok(in_san || in_cn)
}

/// The device verdict and the attestation's age, as the policy asks.
fn check_verdict(payload: &Payload, input: &StatementInput<'_>) -> Result<(), AttestationError> {
    let policy = input.policy;
    if policy.safetynet_require_cts_profile_match {
        if payload.cts_profile_match != Some(true) {
            return Err(AttestationError::Refused(
                "SafetyNet ctsProfileMatch is not true",
            ));
        }
    } else if payload.basic_integrity != Some(true) {
        return Err(AttestationError::Refused(
            "SafetyNet basicIntegrity is not true",
        ));
    }
    if let Some(max_age) = policy.safetynet_max_age_secs {
        let timestamp_ms = payload.timestamp_ms.ok_or(AttestationError::Malformed(
            "SafetyNet timestampMs is missing",
        ))?;
        let now_ms = i128::from(input.now.0) * 1000;
        let skew_ms = (i128::from(timestamp_ms) - now_ms).abs();
        if skew_ms > i128::from(max_age) * 1000 {
            return Err(AttestationError::Refused(
                "SafetyNet timestampMs is outside the accepted age",
            ));
        }
    }
    Ok(())
}
