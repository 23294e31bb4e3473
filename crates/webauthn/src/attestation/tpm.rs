//! [TPM attestation](https://www.w3.org/TR/webauthn-3/#sctn-tpm-attestation) (L3 §8.3).
//!
//! A TPM proves that the credential key lives inside it with `TPM2_Certify`: the TPM signs a
//! `TPMS_ATTEST` (`certInfo`) naming the key's public area (`pubArea`) with an attestation
//! identity key (AIK), whose certificate (`x5c[0]`) a privacy CA issued. The statement is verified
//! here; the AIK chain and its trust are decided by the caller ([`super::verify`]).
//!
//! The checks follow the order of the L3 text, which authenticates `certInfo` (AIK certificate
//! and signature, step 4) before parsing it (step 5).
//!
//! Policy choices:
//! - `alg` may be RS1 (RSASSA-PKCS1-v1_5 with SHA-1): many real TPMs (Windows Hello on TPM 2.0
//!   chips from several vendors) sign certInfo that way, and `extraData` is then a SHA-1 hash.
//!   This does not let an RS1 *credential* key in, which stays opt-in (§7.1 step 18).
//! - `sig` is verified as a bare signature (PKCS #1 v1.5 bytes for RSA, DER for ECDSA), as every
//!   platform sends it, not as the `TPMT_SIGNATURE` the spec text mentions.
//! - ECDAA (`ecdaaKeyId`) was removed from the spec in Level 2 and is refused.
//! - The AIK certificate's SAN directoryName may hold the three TPM attributes as three RDNs (as
//!   the TCG EK profile shows) or as one multi-valued RDN (as several Windows-issued AIK
//!   certificates do); both are accepted.

use aws_lc_rs::digest;
use ciborium::value::Value;
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid;
use x509_parser::der_parser::Oid;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::X509Version;

use self::structures::{CertInfo, NameAlg, PubArea, PublicKey};
use super::{
    certificate, signed_data, statement_alg, statement_sig, statement_x5c, AttestationType,
    Statement, StatementInput,
};
use crate::cbor;
use crate::cose_key::CoseAlgorithm;
use crate::crypto::{CryptoError, Curve, KeyMaterial};
use crate::error::AttestationError;

mod structures;

#[cfg(test)]
mod tests;

/// `tcg-kp-AIKCertificate`: the EKU an AIK certificate must carry (L3 §8.3.1).
const OID_TCG_KP_AIK_CERTIFICATE: Oid<'static> = oid!(2.23.133 .8 .3);
/// `tcg-at-tpmManufacturer` (TCG EK Credential Profile §3.2.9).
const OID_TCG_AT_TPM_MANUFACTURER: Oid<'static> = oid!(2.23.133 .2 .1);
/// `tcg-at-tpmModel`.
const OID_TCG_AT_TPM_MODEL: Oid<'static> = oid!(2.23.133 .2 .2);
/// `tcg-at-tpmVersion`.
const OID_TCG_AT_TPM_VERSION: Oid<'static> = oid!(2.23.133 .2 .3);

/// The RSA public exponent a `TPMS_RSA_PARMS.exponent` of zero stands for.
const DEFAULT_RSA_EXPONENT: u32 = 65_537;

/// Verifies a `tpm` attestation statement (L3 §8.3 verification procedure) and returns AttCA
/// with the `x5c` trust path.
pub(crate) fn verify<'a>(input: &StatementInput<'a>) -> Result<Statement<'a>, AttestationError> {
    // Step 1: attStmt is valid CBOR of the tpmStmtFormat syntax; extract its fields.
    let att_stmt = input.att_stmt;
    if cbor::has_duplicate_keys(att_stmt) {
        return Err(AttestationError::Malformed(
            "a key appears twice in attStmt",
        ));
    }
    let ver = cbor::map_get(att_stmt, "ver").and_then(Value::as_text);
    if ver != Some("2.0") {
        return Err(AttestationError::Malformed("ver is not \"2.0\""));
    }
    if cbor::map_get(att_stmt, "ecdaaKeyId").is_some() {
        return Err(AttestationError::Malformed(
            "ecdaaKeyId: ECDAA attestation is not supported",
        ));
    }
    let alg_id = statement_alg(att_stmt)?;
    let x5c = statement_x5c(att_stmt)?.ok_or(AttestationError::Malformed("x5c is missing"))?;
    let sig = statement_sig(att_stmt)?;
    let cert_info_bytes = statement_bytes(
        att_stmt,
        "certInfo",
        "certInfo is missing or not a byte string",
    )?;
    let pub_area_bytes = statement_bytes(
        att_stmt,
        "pubArea",
        "pubArea is missing or not a byte string",
    )?;
    // `alg` must be a signature algorithm with a hash the TPM can have used for extraData.
    let alg = CoseAlgorithm::from_i64(alg_id).ok_or(AttestationError::Algorithm(alg_id))?;
    let att_hash = statement_hash(alg).ok_or(AttestationError::Algorithm(alg_id))?;
    let acd = input
        .auth_data
        .attested_credential_data
        .as_ref()
        .ok_or(AttestationError::Malformed("no attested credential data"))?;

    // Step 2: the key described by pubArea's parameters and unique is the credential public key.
    let pub_area =
        PubArea::parse(pub_area_bytes).map_err(|e| AttestationError::Malformed(e.reason()))?;
    check_public_key(&pub_area.key, input.credential_key.material())?;

    // Step 3: attToBeSigned = authenticatorData || clientDataHash.
    let att_to_be_signed = signed_data(input);

    // Step 4: verify the integrity of certInfo before reading it.
    // Step 4.1: x5c is present (read in step 1).
    let aik_cert = certificate::parse(&x5c[0])?;
    // Step 4.2: the AIK certificate meets the requirements of §8.3.1.
    check_aik_certificate(&aik_cert)?;
    // Step 4.3: an id-fido-gen-ce-aaguid extension, if present, names the authenticator's AAGUID.
    certificate::check_aaguid_extension(&aik_cert, &acd.aaguid)?;
    // Step 4.4: sig is a valid signature over certInfo by the AIK certificate's key, with `alg`.
    let aik_key = certificate::key(&aik_cert)?;
    aik_key
        .verify(alg, cert_info_bytes, sig)
        .map_err(|e| match e {
            CryptoError::BadSignature => AttestationError::Signature,
            CryptoError::KeyMismatch(_) | CryptoError::Unsupported => {
                AttestationError::Algorithm(alg_id)
            }
        })?;

    // Step 5: certInfo (a TPMS_ATTEST) is valid.
    // Step 5.1 and 5.2: magic is TPM_GENERATED_VALUE and type is TPM_ST_ATTEST_CERTIFY (checked
    // while parsing, since the layout of `attested` depends on the type).
    let cert_info =
        CertInfo::parse(cert_info_bytes).map_err(|e| AttestationError::Malformed(e.reason()))?;
    // Step 5.3: extraData is the hash of attToBeSigned under the hash of `alg`.
    if cert_info.extra_data != digest::digest(att_hash, &att_to_be_signed).as_ref() {
        return Err(AttestationError::Malformed(
            "certInfo extraData is not the hash of attToBeSigned",
        ));
    }
    // Step 5.4: attested is a TPMS_CERTIFY_INFO whose name is the Name of pubArea:
    // nameAlg || H_nameAlg(pubArea). qualifiedSigner, clockInfo and firmwareVersion are ignored,
    // as the spec says.
    if cert_info.name != object_name(pub_area.name_alg, pub_area_bytes) {
        return Err(AttestationError::Malformed(
            "certInfo attested name is not the Name of pubArea",
        ));
    }
    // Step 6: attestation type AttCA, trust path x5c.
    Ok(Statement {
        attestation_type: AttestationType::AttCa,
        x5c,
        statement_algorithm: Some(alg_id),
    })
}

/// Reads a non-empty byte string member of the statement.
fn statement_bytes<'a>(
    att_stmt: &'a [(Value, Value)],
    name: &str,
    missing: &'static str,
) -> Result<&'a [u8], AttestationError> {
    cbor::map_get(att_stmt, name)
        .and_then(Value::as_bytes)
        .map(Vec::as_slice)
        .filter(|b| !b.is_empty())
        .ok_or(AttestationError::Malformed(missing))
}

/// The hash "employed in `alg`", which the TPM was asked to certify as `extraData`.
fn statement_hash(alg: CoseAlgorithm) -> Option<&'static digest::Algorithm> {
    match alg {
        CoseAlgorithm::Rs1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        CoseAlgorithm::Es256 | CoseAlgorithm::Ps256 | CoseAlgorithm::Rs256 => Some(&digest::SHA256),
        CoseAlgorithm::Es384 | CoseAlgorithm::Ps384 | CoseAlgorithm::Rs384 => Some(&digest::SHA384),
        CoseAlgorithm::Es512 | CoseAlgorithm::Ps512 | CoseAlgorithm::Rs512 => Some(&digest::SHA512),
        CoseAlgorithm::EdDsa
        | CoseAlgorithm::MlDsa44
        | CoseAlgorithm::MlDsa65
        | CoseAlgorithm::MlDsa87 => None,
    }
}

/// A TPM object's Name (TPM 2.0 Part 1 §16): `nameAlg` (big-endian) followed by the hash of the
/// marshalled public area under `nameAlg`.
fn object_name(name_alg: NameAlg, pub_area: &[u8]) -> Vec<u8> {
    let algorithm = match name_alg {
        NameAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        NameAlg::Sha256 => &digest::SHA256,
        NameAlg::Sha384 => &digest::SHA384,
        NameAlg::Sha512 => &digest::SHA512,
    };
    let mut name = name_alg.to_u16().to_be_bytes().to_vec();
    name.extend_from_slice(digest::digest(algorithm, pub_area).as_ref());
    name
}

/// The curve a `TPM_ECC_CURVE` names, among those the verifier implements.
fn tpm_curve(curve_id: u16) -> Option<Curve> {
    match curve_id {
        0x0003 => Some(Curve::P256),
        0x0004 => Some(Curve::P384),
        0x0005 => Some(Curve::P521),
        _ => None,
    }
}

/// L3 §8.3 step 2: `pubArea.parameters` and `pubArea.unique` describe `credential_key`.
fn check_public_key(
    key: &PublicKey<'_>,
    credential_key: &KeyMaterial,
) -> Result<(), AttestationError> {
    let mismatch = || AttestationError::Malformed("pubArea is not the credential public key");
    match (key, credential_key) {
        (
            PublicKey::Rsa {
                key_bits,
                exponent,
                modulus,
                ..
            },
            KeyMaterial::Rsa { n, e },
        ) => {
            // keyBits is the modulus size; the TPM writes the modulus in exactly keyBits / 8
            // bytes. `n` and `e` are big-endian without leading zeros.
            let exponent = match *exponent {
                0 => DEFAULT_RSA_EXPONENT,
                other => other,
            };
            let exponent_bytes = exponent.to_be_bytes();
            let first = exponent_bytes.iter().position(|b| *b != 0).unwrap_or(3);
            let size_ok = *key_bits % 8 == 0 && modulus.len() == usize::from(*key_bits / 8);
            let n_ok = strip_leading_zeros(modulus) == n.as_slice();
            if !(size_ok && n_ok && exponent_bytes[first..] == e[..]) {
                return Err(mismatch());
            }
            Ok(())
        }
        (
            PublicKey::Ecc {
                curve_id,
                x: px,
                y: py,
                ..
            },
            KeyMaterial::Ec2 { curve, x, y },
        ) => {
            if tpm_curve(*curve_id) != Some(*curve) || px != x || py != y {
                return Err(mismatch());
            }
            Ok(())
        }
        _ => Err(mismatch()),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// L3 §8.3.1: the AIK certificate is v3 with an empty subject, a critical SAN holding the TPM
/// manufacturer, model and version, the `tcg-kp-AIKCertificate` EKU, and CA=false.
fn check_aik_certificate(cert: &X509Certificate<'_>) -> Result<(), AttestationError> {
    // §8.3.1: Version MUST be set to 3.
    if cert.version() != X509Version::V3 {
        return Err(AttestationError::Certificate("version is not 3"));
    }
    // §8.3.1: Subject field MUST be set to empty.
    if cert.subject().iter_rdn().next().is_some() {
        return Err(AttestationError::Certificate("subject is not empty"));
    }
    // §8.3.1: Subject Alternative Name as the TCG EK profile §3.2.9 sets it: critical (the subject is
    // empty), with a directoryName holding tcg-at-tpmManufacturer, tcg-at-tpmModel and
    // tcg-at-tpmVersion, each once.
    let san = cert
        .subject_alternative_name()
        .map_err(|_| AttestationError::Certificate("malformed or duplicate SAN extension"))?
        .ok_or(AttestationError::Certificate("SAN extension is missing"))?;
    if !san.critical {
        return Err(AttestationError::Certificate(
            "SAN extension is not critical",
        ));
    }
    let has_tpm_attributes = san.value.general_names.iter().any(|name| match name {
        GeneralName::DirectoryName(dn) => {
            let count = |oid: &Oid<'_>| {
                dn.iter_attributes()
                    .filter(|a| a.attr_type() == oid && a.as_str().is_ok())
                    .count()
            };
            count(&OID_TCG_AT_TPM_MANUFACTURER) == 1
                && count(&OID_TCG_AT_TPM_MODEL) == 1
                && count(&OID_TCG_AT_TPM_VERSION) == 1
        }
        _ => false,
    });
    if !has_tpm_attributes {
        return Err(AttestationError::Certificate(
            "SAN has no directoryName with the TPM manufacturer, model and version",
        ));
    }
    // §8.3.1: Extended Key Usage contains tcg-kp-AIKCertificate (2.23.133.8.3).
    let eku = cert
        .extended_key_usage()
        .map_err(|_| AttestationError::Certificate("malformed or duplicate EKU extension"))?
        .ok_or(AttestationError::Certificate("EKU extension is missing"))?;
    if !eku.value.other.contains(&OID_TCG_KP_AIK_CERTIFICATE) {
        return Err(AttestationError::Certificate(
            "EKU does not contain tcg-kp-AIKCertificate",
        ));
    }
    // §8.3.1: Basic Constraints has CA=false (an absent extension means the same).
    certificate::require_v3_end_entity(cert)
}
