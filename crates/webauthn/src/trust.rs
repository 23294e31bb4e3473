//! Trust anchors and X.509 chain validation for attestation certificates.
//!
//! Chain validation is written here rather than taken from a TLS path builder (rustls-webpki):
//! attestation chains are short and ordered by the authenticator, roots are often v1 or SHA-1
//! signed, certificates carry no DNS names, and the TLS-specific rules (server-auth EKU, name
//! constraints on DNS names) do not apply. What applies is small: each certificate is signed by the
//! next, issuers are CAs allowed to sign certificates, path length constraints hold, every
//! certificate is valid at the verification time, and the chain ends at a configured anchor. A
//! certificate inside `x5c` is never an anchor by itself, even if self-signed.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

use crate::crypto::KeyMaterial;
use crate::error::TrustError;

/// Seconds since the Unix epoch, UTC. The verifier never reads a clock; the caller passes this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

/// Most certificates accepted in one `x5c`.
pub const MAX_CHAIN_LEN: usize = 8;
/// Largest single certificate accepted, in bytes.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// A trusted root: its DER, subject and key.
#[derive(Clone)]
struct TrustAnchor {
    der: Vec<u8>,
    subject: Vec<u8>,
    key: KeyMaterial,
}

/// A set of trusted root certificates.
#[derive(Clone, Default)]
pub struct TrustAnchors {
    anchors: Vec<TrustAnchor>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustAnchors({} roots)", self.anchors.len())
    }
}

/// A trust root could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The PEM text holds no certificate, or a block is not valid PEM.
    #[error("no PEM certificate found")]
    Pem,
    /// A certificate is not valid DER X.509.
    #[error("certificate is not valid X.509")]
    Certificate,
    /// The certificate's key type is not supported.
    #[error("the root's public key type is not supported")]
    Key,
}

impl TrustAnchors {
    /// No anchors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are no anchors.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Number of anchors.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Adds every anchor of `other`.
    pub fn extend(&mut self, other: &TrustAnchors) {
        self.anchors.extend(other.anchors.iter().cloned());
    }

    /// Adds a DER certificate.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), AnchorError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|_| AnchorError::Certificate)?;
        if !rest.is_empty() {
            return Err(AnchorError::Certificate);
        }
        let key = KeyMaterial::from_spki(cert.public_key()).map_err(|_| AnchorError::Key)?;
        self.anchors.push(TrustAnchor {
            der: der.to_vec(),
            subject: cert.subject().as_raw().to_vec(),
            key,
        });
        Ok(())
    }

    /// Adds every certificate of a PEM text; returns how many were added.
    pub fn add_pem(&mut self, pem: &str) -> Result<usize, AnchorError> {
        let mut added = 0;
        for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block.map_err(|_| AnchorError::Pem)?;
            if block.label == "CERTIFICATE" {
                self.add_der(&block.contents)?;
                added += 1;
            }
        }
        if added == 0 {
            return Err(AnchorError::Pem);
        }
        Ok(added)
    }
}

/// How far a chain was trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainTrust {
    /// The chain ends at a configured anchor.
    Anchored,
    /// Every link in `x5c` verified, but no anchors were configured to end it at.
    Unanchored,
}

/// Parses an `x5c` array into certificates, within the size limits.
pub(crate) fn parse_chain<'a>(x5c: &'a [&'a [u8]]) -> Result<Vec<X509Certificate<'a>>, TrustError> {
    if x5c.is_empty() || x5c.len() > MAX_CHAIN_LEN {
        return Err(TrustError::Length);
    }
    x5c.iter()
        .enumerate()
        .map(|(i, der)| {
            if der.len() > MAX_CERTIFICATE_LEN {
                return Err(TrustError::Unparsable(i));
            }
            match X509Certificate::from_der(der) {
                Ok(([], cert)) => Ok(cert),
                _ => Err(TrustError::Unparsable(i)),
            }
        })
        .collect()
}

fn valid_at(cert: &X509Certificate<'_>, now: UnixTime) -> bool {
    ASN1Time::from_timestamp(now.0).is_ok_and(|t| cert.validity().is_valid_at(t))
}

/// May `cert` sign other certificates? (CA=true, and keyCertSign when key usage is present.)
fn is_ca(cert: &X509Certificate<'_>) -> Result<Option<u32>, ()> {
    let constraints = cert.basic_constraints().map_err(|_| ())?;
    let Some(bc) = constraints.filter(|bc| bc.value.ca) else {
        return Err(());
    };
    // A key usage extension that cannot be read (malformed or repeated) fails closed.
    if let Some(ku) = cert.key_usage().map_err(|_| ())? {
        if !ku.value.key_cert_sign() {
            return Err(());
        }
    }
    Ok(bc.value.path_len_constraint)
}

fn signed_by(cert: &X509Certificate<'_>, issuer_key: &KeyMaterial) -> bool {
    issuer_key
        .verify_x509(
            &cert.signature_algorithm,
            cert.tbs_certificate.as_ref(),
            &cert.signature_value.data,
        )
        .is_ok()
}

/// Validates `chain` (leaf first) at `now` and, when `anchors` is not empty, requires it to end
/// at one of them.
pub(crate) fn verify_chain(
    chain: &[X509Certificate<'_>],
    x5c: &[&[u8]],
    anchors: &TrustAnchors,
    now: UnixTime,
    check_validity: bool,
) -> Result<ChainTrust, TrustError> {
    for (i, cert) in chain.iter().enumerate() {
        if check_validity && !valid_at(cert, now) {
            return Err(TrustError::Validity(i));
        }
        // The certificate is itself a configured root (sent along in x5c): the chain ends here.
        if anchors.anchors.iter().any(|a| a.der == x5c[i]) {
            return Ok(ChainTrust::Anchored);
        }
        let issuer = cert.issuer().as_raw();
        if anchors
            .anchors
            .iter()
            .any(|a| a.subject == issuer && signed_by(cert, &a.key))
        {
            return Ok(ChainTrust::Anchored);
        }
        let Some(next) = chain.get(i + 1) else {
            break;
        };
        if next.subject().as_raw() != issuer {
            return Err(TrustError::Broken(i));
        }
        let next_key =
            KeyMaterial::from_spki(next.public_key()).map_err(|_| TrustError::Broken(i))?;
        if !signed_by(cert, &next_key) {
            return Err(TrustError::Broken(i));
        }
        let path_len = is_ca(next).map_err(|()| TrustError::NotCa(i + 1))?;
        // `i` certificates sit between `next` and the leaf, beyond the leaf itself.
        if path_len.is_some_and(|max| (i as u64) > u64::from(max)) {
            return Err(TrustError::PathLength);
        }
    }
    if anchors.is_empty() {
        Ok(ChainTrust::Unanchored)
    } else {
        Err(TrustError::NoAnchor)
    }
}

#[cfg(test)]
mod tests;
