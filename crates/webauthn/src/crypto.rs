//! Public keys and signature checks: the only module that calls aws-lc-rs for signatures.
//!
//! Keys arrive in two encodings, COSE (credential keys) and X.509 SubjectPublicKeyInfo
//! (attestation certificates). Both become a [`KeyMaterial`], and a key is only ever used with an
//! algorithm that fits it: the curve must match an ECDSA algorithm, an RSA modulus must be 2048 to
//! 8192 bits, an Ed25519 key 32 bytes.

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents, VerificationAlgorithm};
use x509_parser::der_parser::oid;
use x509_parser::der_parser::Oid;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::cose_key::CoseAlgorithm;

/// An elliptic curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    /// Length of one coordinate in bytes.
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

/// The parameter set of an ML-DSA key (FIPS 204).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MlDsaLevel {
    /// ML-DSA-44.
    MlDsa44,
    /// ML-DSA-65.
    MlDsa65,
    /// ML-DSA-87.
    MlDsa87,
}

/// A public key, independent of how it was encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// An uncompressed elliptic-curve point.
    Ec2 {
        /// The curve.
        curve: Curve,
        /// Big-endian x, exactly `curve.coordinate_len()` bytes.
        x: Vec<u8>,
        /// Big-endian y, exactly `curve.coordinate_len()` bytes.
        y: Vec<u8>,
    },
    /// An Ed25519 public key (32 bytes).
    Ed25519(Vec<u8>),
    /// An ML-DSA public key.
    MlDsa(MlDsaLevel, Vec<u8>),
    /// An RSA public key, big-endian without leading zeros.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
}

/// A key or signature could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CryptoError {
    /// The key does not fit the algorithm or is invalid (off the curve, short modulus...).
    KeyMismatch(&'static str),
    /// The signature does not verify.
    BadSignature,
    /// The certificate's key or signature algorithm is not one we implement.
    Unsupported,
}

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        Some(top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

/// Refuses RSA keys that cannot be sound: a modulus outside 2048..=8192 bits or even, an exponent
/// that is even, below 3 or longer than 33 bits (no real key uses more; aws-lc refuses them).
fn check_rsa_components(n: &[u8], e: &[u8]) -> Result<(), CryptoError> {
    let bits = bit_len(n);
    if bits < MIN_RSA_BITS {
        return Err(CryptoError::KeyMismatch(
            "RSA modulus is shorter than 2048 bits",
        ));
    }
    if bits > MAX_RSA_BITS {
        return Err(CryptoError::KeyMismatch(
            "RSA modulus is longer than 8192 bits",
        ));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(CryptoError::KeyMismatch("RSA modulus is even"));
    }
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    if !odd || bit_len(e) < 2 || bit_len(e) > 33 {
        return Err(CryptoError::KeyMismatch(
            "RSA exponent is not an odd number of 3 to 33 bits",
        ));
    }
    Ok(())
}

impl KeyMaterial {
    /// An RSA key from big-endian components (leading zeros are dropped).
    pub fn rsa(n: &[u8], e: &[u8]) -> Self {
        Self::Rsa {
            n: strip_leading_zeros(n).to_vec(),
            e: strip_leading_zeros(e).to_vec(),
        }
    }

    /// Reads a certificate's SubjectPublicKeyInfo.
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CryptoError> {
        let parsed = spki.parsed().map_err(|_| CryptoError::Unsupported)?;
        match parsed {
            PublicKey::EC(point) => {
                let curve_oid = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .ok_or(CryptoError::Unsupported)?;
                let curve = curve_from_oid(&curve_oid).ok_or(CryptoError::Unsupported)?;
                let data = point.data();
                let len = curve.coordinate_len();
                if data.len() != 1 + 2 * len || data[0] != 0x04 {
                    return Err(CryptoError::KeyMismatch("not an uncompressed point"));
                }
                Ok(Self::Ec2 {
                    curve,
                    x: data[1..=len].to_vec(),
                    y: data[1 + len..].to_vec(),
                })
            }
            PublicKey::RSA(rsa) => Ok(Self::rsa(rsa.modulus, rsa.exponent)),
            _ if spki.algorithm.algorithm == OID_ED25519 => {
                Ok(Self::Ed25519(spki.subject_public_key.data.to_vec()))
            }
            _ => Err(CryptoError::Unsupported),
        }
    }

    /// Parses this key for use with `alg`, refusing keys that do not fit it.
    pub(crate) fn verifier(&self, alg: CoseAlgorithm) -> Result<ParsedPublicKey, CryptoError> {
        let algorithm = verification_algorithm(alg);
        match (self, alg) {
            (Self::Ec2 { curve, x, y }, _) => {
                if alg.curve() != Some(*curve) {
                    return Err(CryptoError::KeyMismatch(
                        "curve does not match the algorithm",
                    ));
                }
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                ParsedPublicKey::new(algorithm, &point)
                    .map_err(|_| CryptoError::KeyMismatch("point is not on the curve"))
            }
            (Self::Ed25519(x), CoseAlgorithm::EdDsa) => ParsedPublicKey::new(algorithm, x)
                .map_err(|_| CryptoError::KeyMismatch("not a valid Ed25519 key")),
            (Self::MlDsa(level, key), _) if alg.ml_dsa_level() == Some(*level) => {
                ParsedPublicKey::new(algorithm, key)
                    .map_err(|_| CryptoError::KeyMismatch("not a valid ML-DSA key"))
            }
            (Self::Rsa { n, e }, _) if alg.is_rsa() => {
                check_rsa_components(n, e)?;
                let params = rsa_parameters(alg).ok_or(CryptoError::Unsupported)?;
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map_err(|_| CryptoError::KeyMismatch("not a valid RSA key"))
            }
            _ => Err(CryptoError::KeyMismatch(
                "key type does not match the algorithm",
            )),
        }
    }

    /// Verifies a COSE-algorithm signature (WebAuthn encodings: DER ECDSA, raw EdDSA/ML-DSA).
    pub(crate) fn verify(
        &self,
        alg: CoseAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.verifier(alg)?
            .verify_sig(message, signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies an ES256 signature in the fixed-length `r || s` form that JWS uses (RFC 7518
    /// §3.4), rather than the DER form WebAuthn uses.
    pub(crate) fn verify_es256_fixed(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if !matches!(
            self,
            Self::Ec2 {
                curve: Curve::P256,
                ..
            }
        ) {
            return Err(CryptoError::KeyMismatch("ES256 needs a P-256 key"));
        }
        let point = self.ec_point().ok_or(CryptoError::Unsupported)?;
        ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
            .map_err(|_| CryptoError::KeyMismatch("point is not on the curve"))?
            .verify_sig(message, signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies an X.509 signature (a certificate's) made by this key.
    pub(crate) fn verify_x509(
        &self,
        signature_algorithm: &AlgorithmIdentifier<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let result = match (self, x509_signature_algorithm(self, signature_algorithm)?) {
            (Self::Rsa { n, e }, X509Verifier::Rsa(params)) => {
                check_rsa_components(n, e)?;
                RsaPublicKeyComponents { n, e }.verify(params, message, signature)
            }
            (Self::Ec2 { .. }, X509Verifier::Other(alg)) => {
                // Curve and hash are independent in X.509, so the COSE pairing does not apply.
                let point = self.ec_point().ok_or(CryptoError::Unsupported)?;
                ParsedPublicKey::new(alg, point)
                    .map_err(|_| CryptoError::KeyMismatch("point is not on the curve"))?
                    .verify_sig(message, signature)
            }
            (Self::Ed25519(x), X509Verifier::Other(alg)) => ParsedPublicKey::new(alg, x)
                .map_err(|_| CryptoError::KeyMismatch("not a valid Ed25519 key"))?
                .verify_sig(message, signature),
            _ => return Err(CryptoError::Unsupported),
        };
        result.map_err(|_| CryptoError::BadSignature)
    }

    /// `0x04 || x || y` for EC keys.
    pub fn ec_point(&self) -> Option<Vec<u8>> {
        match self {
            Self::Ec2 { x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                Some(point)
            }
            _ => None,
        }
    }
}

fn verification_algorithm(alg: CoseAlgorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        CoseAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_ASN1,
        CoseAlgorithm::Es384 => &signature::ECDSA_P384_SHA384_ASN1,
        CoseAlgorithm::Es512 => &signature::ECDSA_P521_SHA512_ASN1,
        CoseAlgorithm::EdDsa => &signature::ED25519,
        CoseAlgorithm::MlDsa44 => &signature::ML_DSA_44,
        CoseAlgorithm::MlDsa65 => &signature::ML_DSA_65,
        CoseAlgorithm::MlDsa87 => &signature::ML_DSA_87,
        CoseAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        CoseAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        CoseAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        CoseAlgorithm::Rs1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        CoseAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        CoseAlgorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        CoseAlgorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
    }
}

fn rsa_parameters(alg: CoseAlgorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        CoseAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        CoseAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        CoseAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        CoseAlgorithm::Rs1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        CoseAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        CoseAlgorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        CoseAlgorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

const OID_ED25519: Oid<'static> = oid!(1.3.101 .112);

fn curve_from_oid(oid: &Oid<'_>) -> Option<Curve> {
    if *oid == oid!(1.2.840 .10045 .3 .1 .7) {
        Some(Curve::P256)
    } else if *oid == oid!(1.3.132 .0 .34) {
        Some(Curve::P384)
    } else if *oid == oid!(1.3.132 .0 .35) {
        Some(Curve::P521)
    } else {
        None
    }
}

/// Which X.509 signature algorithms we verify in attestation chains. SHA-1 is accepted for RSA
/// because several TPM and U2F vendors still issue such intermediates; the chain's trust comes
/// from the configured roots, and SHA-1 is never accepted for a credential key unless RS1 is
/// explicitly allowed.
enum X509Alg {
    EcdsaSha1,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Ed25519,
    RsaPkcs1Sha1,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
}

fn x509_alg(oid: &Oid<'_>) -> Option<X509Alg> {
    let table = [
        (oid!(1.2.840 .10045 .4 .1), X509Alg::EcdsaSha1),
        (oid!(1.2.840 .10045 .4 .3 .2), X509Alg::EcdsaSha256),
        (oid!(1.2.840 .10045 .4 .3 .3), X509Alg::EcdsaSha384),
        (oid!(1.2.840 .10045 .4 .3 .4), X509Alg::EcdsaSha512),
        (OID_ED25519, X509Alg::Ed25519),
        (oid!(1.2.840 .113549 .1 .1 .5), X509Alg::RsaPkcs1Sha1),
        (oid!(1.2.840 .113549 .1 .1 .11), X509Alg::RsaPkcs1Sha256),
        (oid!(1.2.840 .113549 .1 .1 .12), X509Alg::RsaPkcs1Sha384),
        (oid!(1.2.840 .113549 .1 .1 .13), X509Alg::RsaPkcs1Sha512),
    ];
    table.into_iter().find(|(o, _)| o == oid).map(|(_, a)| a)
}

enum X509Verifier {
    Other(&'static dyn VerificationAlgorithm),
    Rsa(&'static signature::RsaParameters),
}

fn x509_signature_algorithm(
    key: &KeyMaterial,
    id: &AlgorithmIdentifier<'_>,
) -> Result<X509Verifier, CryptoError> {
    use signature as s;
    let alg = x509_alg(&id.algorithm).ok_or(CryptoError::Unsupported)?;
    let ecdsa: &'static s::EcdsaVerificationAlgorithm = match (key, alg) {
        (KeyMaterial::Rsa { .. }, alg) => {
            return Ok(X509Verifier::Rsa(match alg {
                X509Alg::RsaPkcs1Sha1 => &s::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                X509Alg::RsaPkcs1Sha256 => &s::RSA_PKCS1_2048_8192_SHA256,
                X509Alg::RsaPkcs1Sha384 => &s::RSA_PKCS1_2048_8192_SHA384,
                X509Alg::RsaPkcs1Sha512 => &s::RSA_PKCS1_2048_8192_SHA512,
                _ => {
                    return Err(CryptoError::KeyMismatch(
                        "certificate key does not fit its signature",
                    ))
                }
            }))
        }
        (KeyMaterial::Ed25519(_), X509Alg::Ed25519) => return Ok(X509Verifier::Other(&s::ED25519)),
        (KeyMaterial::Ec2 { curve, .. }, alg) => match (curve, alg) {
            (Curve::P256, X509Alg::EcdsaSha1) => &s::ECDSA_P256_SHA1_ASN1,
            (Curve::P256, X509Alg::EcdsaSha256) => &s::ECDSA_P256_SHA256_ASN1,
            (Curve::P256, X509Alg::EcdsaSha384) => &s::ECDSA_P256_SHA384_ASN1,
            (Curve::P256, X509Alg::EcdsaSha512) => &s::ECDSA_P256_SHA512_ASN1,
            (Curve::P384, X509Alg::EcdsaSha256) => &s::ECDSA_P384_SHA256_ASN1,
            (Curve::P384, X509Alg::EcdsaSha384) => &s::ECDSA_P384_SHA384_ASN1,
            (Curve::P384, X509Alg::EcdsaSha512) => &s::ECDSA_P384_SHA512_ASN1,
            (Curve::P521, X509Alg::EcdsaSha1) => &s::ECDSA_P521_SHA1_ASN1,
            (Curve::P521, X509Alg::EcdsaSha256) => &s::ECDSA_P521_SHA256_ASN1,
            (Curve::P521, X509Alg::EcdsaSha384) => &s::ECDSA_P521_SHA384_ASN1,
            (Curve::P521, X509Alg::EcdsaSha512) => &s::ECDSA_P521_SHA512_ASN1,
            _ => {
                return Err(CryptoError::KeyMismatch(
                    "certificate key does not fit its signature",
                ))
            }
        },
        _ => {
            return Err(CryptoError::KeyMismatch(
                "certificate key does not fit its signature",
            ))
        }
    };
    Ok(X509Verifier::Other(ecdsa))
}

#[cfg(test)]
mod tests;
