//! [Packed attestation](https://www.w3.org/TR/webauthn-3/#sctn-packed-attestation) (L3 §8.2).

use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid;
use x509_parser::der_parser::Oid;

use super::{
    certificate, signed_data, statement_alg, statement_sig, statement_x5c, AttestationType,
    Statement, StatementInput,
};
use crate::cose_key::CoseAlgorithm;
use crate::crypto::CryptoError;
use crate::error::AttestationError;

const OID_COUNTRY: Oid<'static> = oid!(2.5.4 .6);
const OID_ORGANIZATION: Oid<'static> = oid!(2.5.4 .10);
const OID_ORGANIZATIONAL_UNIT: Oid<'static> = oid!(2.5.4 .11);
const OID_COMMON_NAME: Oid<'static> = oid!(2.5.4 .3);

pub(crate) fn verify<'a>(input: &StatementInput<'a>) -> Result<Statement<'a>, AttestationError> {
    let alg_id = statement_alg(input.att_stmt)?;
    let sig = statement_sig(input.att_stmt)?;
    let message = signed_data(input);
    match statement_x5c(input.att_stmt)? {
        // Step 2: full attestation with a certificate chain.
        Some(x5c) => {
            let alg = CoseAlgorithm::from_i64(alg_id).ok_or(AttestationError::Algorithm(alg_id))?;
            let leaf = certificate::parse(&x5c[0])?;
            let key = certificate::key(&leaf)?;
            key.verify(alg, &message, sig).map_err(|e| match e {
                CryptoError::BadSignature => AttestationError::Signature,
                CryptoError::KeyMismatch(_) | CryptoError::Unsupported => {
                    AttestationError::Algorithm(alg_id)
                }
            })?;
            check_leaf(&leaf)?;
            let acd = input
                .auth_data
                .attested_credential_data
                .as_ref()
                .ok_or(AttestationError::Malformed("no attested credential data"))?;
            certificate::check_aaguid_extension(&leaf, &acd.aaguid)?;
            Ok(Statement {
                attestation_type: AttestationType::Basic,
                x5c,
                statement_algorithm: Some(alg_id),
            })
        }
        // Step 3: self attestation, with the credential key and its own algorithm.
        None => {
            if alg_id != input.credential_key.algorithm().to_i64() {
                return Err(AttestationError::Algorithm(alg_id));
            }
            if !input.credential_key.verify(&message, sig) {
                return Err(AttestationError::Signature);
            }
            Ok(Statement {
                attestation_type: AttestationType::SelfAttestation,
                x5c: Vec::new(),
                statement_algorithm: Some(alg_id),
            })
        }
    }
}

/// L3 §8.2.1: v3; subject C, O, OU = "Authenticator Attestation", CN; CA=false.
fn check_leaf(leaf: &X509Certificate<'_>) -> Result<(), AttestationError> {
    certificate::require_v3_end_entity(leaf)?;
    let subject = leaf.subject();
    let has = |oid: &Oid<'_>| subject.iter_attributes().any(|a| a.attr_type() == oid);
    let country = subject
        .iter_attributes()
        .find(|a| a.attr_type() == &OID_COUNTRY)
        .and_then(|a| a.as_str().ok());
    if !country.is_some_and(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err(AttestationError::Certificate(
            "subject C is not a country code",
        ));
    }
    if !has(&OID_ORGANIZATION) || !has(&OID_COMMON_NAME) {
        return Err(AttestationError::Certificate("subject O or CN is missing"));
    }
    let ou_ok = subject
        .iter_attributes()
        .filter(|a| a.attr_type() == &OID_ORGANIZATIONAL_UNIT)
        .any(|a| a.as_str().ok() == Some("Authenticator Attestation"));
    if !ou_ok {
        return Err(AttestationError::Certificate(
            "subject OU is not \"Authenticator Attestation\"",
        ));
    }
    Ok(())
}
