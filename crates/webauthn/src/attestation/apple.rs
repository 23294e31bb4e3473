//! [Apple anonymous attestation](https://www.w3.org/TR/webauthn-3/#sctn-apple-anonymous-attestation)
//! (L3 §8.8).

use x509_parser::der_parser::oid;
use x509_parser::der_parser::Oid;

use super::{certificate, signed_data, statement_x5c, AttestationType, Statement, StatementInput};
use crate::error::AttestationError;
use crate::relying_party::sha256;

/// Apple's nonce extension in the credential certificate.
const OID_APPLE_NONCE: Oid<'static> = oid!(1.2.840 .113635 .100 .8 .2);

pub(crate) fn verify<'a>(input: &StatementInput<'a>) -> Result<Statement<'a>, AttestationError> {
    // Step 1: x5c, the credential certificate first.
    let x5c =
        statement_x5c(input.att_stmt)?.ok_or(AttestationError::Malformed("x5c is missing"))?;
    let cred_cert = certificate::parse(&x5c[0])?;
    // Steps 2-3: nonce = SHA-256(authenticatorData || clientDataHash).
    let nonce = sha256(&signed_data(input));
    // Step 4: the nonce extension holds exactly that nonce. Its value is the DER of
    // `SEQUENCE { [1] EXPLICIT OCTET STRING (32 bytes) }`; DER has one encoding, so the bytes are
    // compared whole rather than parsed.
    let mut extensions = cred_cert
        .extensions()
        .iter()
        .filter(|ext| ext.oid == OID_APPLE_NONCE);
    let ext = extensions.next().ok_or(AttestationError::Certificate(
        "the nonce extension is missing",
    ))?;
    if extensions.next().is_some() {
        return Err(AttestationError::Certificate(
            "the nonce extension is repeated",
        ));
    }
    let mut expected = vec![0x30, 0x24, 0xa1, 0x22, 0x04, 0x20];
    expected.extend_from_slice(&nonce);
    if ext.value != expected.as_slice() {
        return Err(AttestationError::Certificate(
            "the nonce extension does not match this registration",
        ));
    }
    // Step 5: the certificate's key is the credential key.
    if &certificate::key(&cred_cert)? != input.credential_key.material() {
        return Err(AttestationError::Certificate(
            "the certificate key is not the credential key",
        ));
    }
    // Step 6: anonymization CA; the chain goes to Apple's WebAuthn root (trust decided by caller).
    Ok(Statement {
        attestation_type: AttestationType::AnonCa,
        x5c,
        statement_algorithm: None,
    })
}

#[cfg(test)]
mod tests;
