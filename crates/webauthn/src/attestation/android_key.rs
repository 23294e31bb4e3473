//! [Android Key attestation](https://www.w3.org/TR/webauthn-3/#sctn-android-key-attestation)
//! (L3 §8.4): a credential key generated in Android Keystore, attested by a certificate chain
//! whose leaf certifies that very key and carries the Keystore key description extension.
//!
//! What the key description must say depends on [`AttestationPolicy::android_key_require_tee`]:
//! by default `origin` and `purpose` may come from either authorization list (the union of
//! `softwareEnforced` and `teeEnforced`); with the flag they must come from `teeEnforced`, and both
//! the attestation and the key must live in a TEE or StrongBox.
//!
//! [`AttestationPolicy::android_key_require_tee`]: super::AttestationPolicy::android_key_require_tee

use super::{
    certificate, signed_data, statement_alg, statement_sig, statement_x5c, AttestationType,
    Statement, StatementInput,
};
use crate::cose_key::CoseAlgorithm;
use crate::crypto::CryptoError;
use crate::error::AttestationError;

#[cfg(test)]
pub(super) mod corpus;
mod key_description;
#[cfg(test)]
mod tests;

use key_description::{AuthorizationList, KeyDescription, KM_ORIGIN_GENERATED, KM_PURPOSE_SIGN};

/// Verifies an `android-key` statement (L3 §8.4 verification procedure).
pub(crate) fn verify<'a>(input: &StatementInput<'a>) -> Result<Statement<'a>, AttestationError> {
    // Step 1: attStmt is {alg, sig, x5c}.
    let alg_id = statement_alg(input.att_stmt)?;
    let sig = statement_sig(input.att_stmt)?;
    let x5c =
        statement_x5c(input.att_stmt)?.ok_or(AttestationError::Malformed("x5c is missing"))?;
    let alg = CoseAlgorithm::from_i64(alg_id).ok_or(AttestationError::Algorithm(alg_id))?;
    verify_leaf(input, &x5c[0], alg, sig)?;
    // Step 6: Basic attestation, trust path x5c.
    Ok(Statement {
        attestation_type: AttestationType::Basic,
        x5c,
        statement_algorithm: Some(alg_id),
    })
}

/// Steps 2-5, on the leaf certificate (`x5c[0]`).
fn verify_leaf(
    input: &StatementInput<'_>,
    leaf_der: &[u8],
    alg: CoseAlgorithm,
    sig: &[u8],
) -> Result<(), AttestationError> {
    let leaf = certificate::parse(leaf_der)?;
    let leaf_key = certificate::key(&leaf)?;
    // Step 2: sig is a valid signature over authenticatorData || clientDataHash, made with the
    // leaf certificate's key and alg.
    leaf_key
        .verify(alg, &signed_data(input), sig)
        .map_err(|e| match e {
            CryptoError::BadSignature => AttestationError::Signature,
            CryptoError::KeyMismatch(_) | CryptoError::Unsupported => {
                AttestationError::Algorithm(alg.to_i64())
            }
        })?;
    // Step 3: the leaf certifies the credential public key itself.
    if &leaf_key != input.credential_key.material() {
        return Err(AttestationError::Certificate(
            "the certificate key is not the credential public key",
        ));
    }
    // Step 4: the key description's attestationChallenge is the clientDataHash.
    let description = key_description::from_certificate(&leaf)?;
    if description.attestation_challenge != input.client_data_hash.as_slice() {
        return Err(AttestationError::Certificate(
            "attestationChallenge is not the clientDataHash",
        ));
    }
    // Step 5: the authorization lists.
    check_authorizations(&description, input.policy.android_key_require_tee)
}

/// L3 §8.4 step 5: the key is scoped to one application, was generated in Keystore, and may
/// sign. With `require_tee`, only `teeEnforced` counts and both security levels must be hardware.
fn check_authorizations(
    description: &KeyDescription<'_>,
    require_tee: bool,
) -> Result<(), AttestationError> {
    // allApplications is absent from both lists: the credential must be scoped to the RP ID.
    if description.software_enforced.all_applications || description.tee_enforced.all_applications {
        return Err(AttestationError::Certificate(
            "the key description grants allApplications",
        ));
    }
    let lists: &[&AuthorizationList] = if require_tee {
        // teeEnforced is only meaningful when Keystore and the attestation run in hardware.
        if !description.attestation_security_level.is_hardware()
            || !description.keymaster_security_level.is_hardware()
        {
            return Err(AttestationError::Certificate(
                "the key or its attestation is not in a TEE or StrongBox",
            ));
        }
        &[&description.tee_enforced]
    } else {
        &[&description.tee_enforced, &description.software_enforced]
    };
    // origin is KM_ORIGIN_GENERATED: present in a list that counts, and no list that counts
    // says otherwise.
    let mut origins = lists.iter().filter_map(|list| list.origin).peekable();
    if origins.peek().is_none() || origins.any(|origin| origin != KM_ORIGIN_GENERATED) {
        return Err(AttestationError::Certificate(
            "the key description's origin is not KM_ORIGIN_GENERATED",
        ));
    }
    // purpose includes KM_PURPOSE_SIGN.
    let can_sign = lists
        .iter()
        .filter_map(|list| list.purpose.as_deref())
        .any(|purposes| purposes.contains(&KM_PURPOSE_SIGN));
    if !can_sign {
        return Err(AttestationError::Certificate(
            "the key description's purpose does not include KM_PURPOSE_SIGN",
        ));
    }
    Ok(())
}
