//! Certificate requirements shared by the statement formats.

use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid;
use x509_parser::der_parser::Oid;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Version;

use crate::authenticator_data::Aaguid;
use crate::crypto::KeyMaterial;
use crate::error::AttestationError;

/// `id-fido-gen-ce-aaguid`: the authenticator model, in attestation certificates.
const OID_FIDO_AAGUID: Oid<'static> = oid!(1.3.6 .1 .4 .1 .45724 .1 .1 .4);

/// Parses one DER certificate, refusing trailing bytes.
pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, AttestationError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(AttestationError::Certificate(
            "not a valid X.509 certificate",
        )),
    }
}

/// The certificate's public key.
pub(crate) fn key(cert: &X509Certificate<'_>) -> Result<KeyMaterial, AttestationError> {
    KeyMaterial::from_spki(cert.public_key())
        .map_err(|_| AttestationError::Certificate("unsupported public key"))
}

/// The certificate is v3 and not a CA (`BasicConstraints` absent or CA=false).
pub(crate) fn require_v3_end_entity(cert: &X509Certificate<'_>) -> Result<(), AttestationError> {
    if cert.version() != X509Version::V3 {
        return Err(AttestationError::Certificate("version is not 3"));
    }
    match cert.basic_constraints() {
        Ok(None) => Ok(()),
        Ok(Some(bc)) if !bc.value.ca => Ok(()),
        Ok(Some(_)) => Err(AttestationError::Certificate(
            "basic constraints say CA=true",
        )),
        Err(_) => Err(AttestationError::Certificate(
            "malformed or duplicate basic constraints",
        )),
    }
}

/// When the certificate carries `id-fido-gen-ce-aaguid`, it must be non-critical and equal the
/// authenticator data's AAGUID (L3 §8.2.1, §8.3.1).
pub(crate) fn check_aaguid_extension(
    cert: &X509Certificate<'_>,
    aaguid: &Aaguid,
) -> Result<(), AttestationError> {
    let mut found = cert
        .extensions()
        .iter()
        .filter(|ext| ext.oid == OID_FIDO_AAGUID);
    let Some(ext) = found.next() else {
        return Ok(());
    };
    if found.next().is_some() || ext.critical {
        return Err(AttestationError::Certificate(
            "the AAGUID extension is critical or repeated",
        ));
    }
    // extnValue holds an OCTET STRING of 16 bytes.
    let inner = match ext.value {
        [0x04, 0x10, rest @ ..] if rest.len() == 16 => rest,
        _ => {
            return Err(AttestationError::Certificate(
                "the AAGUID extension is malformed",
            ))
        }
    };
    if inner != aaguid.0 {
        return Err(AttestationError::AaguidMismatch);
    }
    Ok(())
}
