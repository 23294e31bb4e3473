//! [FIDO U2F attestation](https://www.w3.org/TR/webauthn-3/#sctn-fido-u2f-attestation) (L3 §8.6).

use super::{
    certificate, statement_sig, statement_x5c, AttestationType, Statement, StatementInput,
};
use crate::cose_key::CoseAlgorithm;
use crate::crypto::{Curve, KeyMaterial};
use crate::error::AttestationError;

pub(crate) fn verify<'a>(input: &StatementInput<'a>) -> Result<Statement<'a>, AttestationError> {
    // Step 1: x5c with exactly one certificate, and sig.
    let x5c =
        statement_x5c(input.att_stmt)?.ok_or(AttestationError::Malformed("x5c is missing"))?;
    if x5c.len() != 1 {
        return Err(AttestationError::Malformed(
            "x5c must hold exactly one certificate",
        ));
    }
    let sig = statement_sig(input.att_stmt)?;
    // Step 2: the certificate key is an EC P-256 key.
    let cert = certificate::parse(&x5c[0])?;
    let cert_key = certificate::key(&cert)?;
    if !matches!(
        cert_key,
        KeyMaterial::Ec2 {
            curve: Curve::P256,
            ..
        }
    ) {
        return Err(AttestationError::Certificate(
            "the key is not an EC P-256 key",
        ));
    }
    // U2F authenticators have no AAGUID.
    let acd = input
        .auth_data
        .attested_credential_data
        .as_ref()
        .ok_or(AttestationError::Malformed("no attested credential data"))?;
    if !acd.aaguid.is_zero() {
        return Err(AttestationError::Malformed(
            "fido-u2f requires the zero AAGUID",
        ));
    }
    // Step 4: the credential key is ES256, converted to the raw ANSI X9.62 point.
    let point = match input.credential_key.material() {
        KeyMaterial::Ec2 {
            curve: Curve::P256, ..
        } if input.credential_key.algorithm() == CoseAlgorithm::Es256 => {
            input.credential_key.material().ec_point()
        }
        _ => None,
    }
    .ok_or(AttestationError::Algorithm(
        input.credential_key.algorithm().to_i64(),
    ))?;
    // Step 5: verificationData = 0x00 || rpIdHash || clientDataHash || credentialId || publicKeyU2F.
    let mut data = Vec::with_capacity(1 + 32 + 32 + acd.credential_id.len() + point.len());
    data.push(0x00);
    data.extend_from_slice(input.auth_data.rp_id_hash);
    data.extend_from_slice(input.client_data_hash);
    data.extend_from_slice(acd.credential_id);
    data.extend_from_slice(&point);
    // Step 6: verify sig with the certificate key (ECDSA P-256, SHA-256).
    cert_key
        .verify(CoseAlgorithm::Es256, &data, sig)
        .map_err(|_| AttestationError::Signature)?;
    Ok(Statement {
        attestation_type: AttestationType::Basic,
        x5c,
        statement_algorithm: None,
    })
}
