//! Credential public keys: [COSE_Key](https://www.rfc-editor.org/rfc/rfc9052#section-7) parsing
//! (coset) and the COSE algorithm registry this verifier implements.

use std::fmt;

use aws_lc_rs::signature::ParsedPublicKey;
use ciborium::value::Value;
use coset::iana::{self, EnumI64};
use coset::{AsCborValue, CoseKey, KeyType, Label};

use crate::cbor;
use crate::crypto::{CryptoError, Curve, KeyMaterial, MlDsaLevel};
use crate::error::PublicKeyError;

/// A COSE signature algorithm that passkeyd verifies.
///
/// Every algorithm is verified with aws-lc-rs. `Rs1` (RSASSA-PKCS1-v1_5 with SHA-1) is only for
/// relying parties that explicitly allow it: it is not in [`CoseAlgorithm::DEFAULT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoseAlgorithm {
    /// EdDSA (-8), with Ed25519 keys.
    EdDsa,
    /// ECDSA P-256 with SHA-256 (-7).
    Es256,
    /// ECDSA P-384 with SHA-384 (-35).
    Es384,
    /// ECDSA P-521 with SHA-512 (-36).
    Es512,
    /// ML-DSA-44 (-48), FIPS 204.
    MlDsa44,
    /// ML-DSA-65 (-49), FIPS 204.
    MlDsa65,
    /// ML-DSA-87 (-50), FIPS 204.
    MlDsa87,
    /// RSASSA-PSS with SHA-256 (-37).
    Ps256,
    /// RSASSA-PSS with SHA-384 (-38).
    Ps384,
    /// RSASSA-PSS with SHA-512 (-39).
    Ps512,
    /// RSASSA-PKCS1-v1_5 with SHA-1 (-65535). Legacy; opt-in only.
    Rs1,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (-257).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (-258).
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (-259).
    Rs512,
}

impl CoseAlgorithm {
    /// Every supported algorithm, in the order a relying party would prefer them.
    pub const ALL: [Self; 14] = [
        Self::Es256,
        Self::EdDsa,
        Self::Es384,
        Self::Es512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::MlDsa44,
        Self::MlDsa65,
        Self::MlDsa87,
        Self::Rs1,
    ];

    /// The algorithms offered when the relying party does not choose: all but RS1.
    pub const DEFAULT: [Self; 13] = [
        Self::Es256,
        Self::EdDsa,
        Self::Es384,
        Self::Es512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::MlDsa44,
        Self::MlDsa65,
        Self::MlDsa87,
    ];

    /// The IANA COSE algorithm identifier.
    pub fn to_i64(self) -> i64 {
        match self {
            Self::EdDsa => -8,
            Self::Es256 => -7,
            Self::Es384 => -35,
            Self::Es512 => -36,
            Self::MlDsa44 => -48,
            Self::MlDsa65 => -49,
            Self::MlDsa87 => -50,
            Self::Ps256 => -37,
            Self::Ps384 => -38,
            Self::Ps512 => -39,
            Self::Rs1 => -65535,
            Self::Rs256 => -257,
            Self::Rs384 => -258,
            Self::Rs512 => -259,
        }
    }

    /// The algorithm for an IANA identifier, if supported.
    pub fn from_i64(value: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.to_i64() == value)
    }

    /// The IANA name (`ES256`, `EdDSA`, `ML-DSA-44`...).
    pub fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::MlDsa44 => "ML-DSA-44",
            Self::MlDsa65 => "ML-DSA-65",
            Self::MlDsa87 => "ML-DSA-87",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Rs1 => "RS1",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
        }
    }

    pub(crate) fn curve(self) -> Option<Curve> {
        match self {
            Self::Es256 => Some(Curve::P256),
            Self::Es384 => Some(Curve::P384),
            Self::Es512 => Some(Curve::P521),
            _ => None,
        }
    }

    pub(crate) fn ml_dsa_level(self) -> Option<MlDsaLevel> {
        match self {
            Self::MlDsa44 => Some(MlDsaLevel::MlDsa44),
            Self::MlDsa65 => Some(MlDsaLevel::MlDsa65),
            Self::MlDsa87 => Some(MlDsaLevel::MlDsa87),
            _ => None,
        }
    }

    pub(crate) fn is_rsa(self) -> bool {
        matches!(
            self,
            Self::Ps256
                | Self::Ps384
                | Self::Ps512
                | Self::Rs1
                | Self::Rs256
                | Self::Rs384
                | Self::Rs512
        )
    }
}

impl fmt::Display for CoseAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_i64())
    }
}

/// A validated credential public key, parsed once and ready to verify signatures.
#[derive(Clone)]
pub struct CredentialPublicKey {
    algorithm: CoseAlgorithm,
    material: KeyMaterial,
    verifier: ParsedPublicKey,
}

impl fmt::Debug for CredentialPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialPublicKey")
            .field("algorithm", &self.algorithm)
            .field("material", &self.material)
            .finish()
    }
}

// COSE_Key labels (RFC 9053 §7.1, draft-ietf-cose-dilithium for AKP).
const LABEL_CRV: i64 = -1;
const LABEL_X: i64 = -2;
const LABEL_Y: i64 = -3;
const LABEL_RSA_N: i64 = -1;
const LABEL_RSA_E: i64 = -2;
const LABEL_AKP_PUB: i64 = -1;

fn param(key: &CoseKey, label: i64) -> Option<&Value> {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

fn bytes_param<'k>(
    key: &'k CoseKey,
    label: i64,
    what: &'static str,
) -> Result<&'k [u8], &'static str> {
    param(key, label)
        .and_then(Value::as_bytes)
        .map(Vec::as_slice)
        .ok_or(what)
}

impl CredentialPublicKey {
    /// Parses and validates a COSE_Key as found in attested credential data or a stored record.
    ///
    /// Refused: non-canonical CBOR, duplicate labels, a missing or unknown `alg`, a key type or
    /// curve that does not fit `alg`, compressed or off-curve points, Ed25519 keys that are not
    /// 32 bytes, RSA moduli under 2048 bits.
    pub fn from_cose(bytes: &[u8]) -> Result<Self, PublicKeyError> {
        Self::parse(bytes, true)
    }

    /// Parses a key stored at registration. The same checks as [`Self::from_cose`] except the
    /// canonical-encoding one: records imported from other systems may hold a valid key that
    /// another library re-encoded.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, PublicKeyError> {
        Self::parse(bytes, false)
    }

    fn parse(bytes: &[u8], require_canonical: bool) -> Result<Self, PublicKeyError> {
        let value = cbor::decode_exact(bytes).map_err(|_| PublicKeyError::Malformed("not CBOR"))?;
        match &value {
            Value::Map(entries) if cbor::has_duplicate_keys(entries) => {
                return Err(PublicKeyError::Malformed("a label appears twice"))
            }
            Value::Map(_) => {}
            _ => return Err(PublicKeyError::Malformed("not a CBOR map")),
        }
        if require_canonical && !cbor::is_canonical(&value, bytes) {
            return Err(PublicKeyError::Malformed("CBOR is not in canonical form"));
        }
        // Read `alg` (label 3) before coset does: coset refuses identifiers it does not know, and
        // an algorithm we do not implement deserves `algorithm_unsupported`, not "malformed".
        let alg_id = match &value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_integer() == Some(3.into()))
                .and_then(|(_, v)| v.as_integer())
                .and_then(|i| i64::try_from(i).ok()),
            _ => None,
        }
        .ok_or(PublicKeyError::Malformed(
            "alg is missing or not an integer",
        ))?;
        let algorithm =
            CoseAlgorithm::from_i64(alg_id).ok_or(PublicKeyError::Unsupported(alg_id))?;
        let key = CoseKey::from_cbor_value(value)
            .map_err(|_| PublicKeyError::Malformed("not a COSE_Key"))?;
        let invalid = |reason| PublicKeyError::Invalid {
            alg: algorithm,
            reason,
        };
        let material = Self::read_material(&key, algorithm).map_err(invalid)?;
        let verifier = material.verifier(algorithm).map_err(|e| match e {
            CryptoError::KeyMismatch(reason) => invalid(reason),
            CryptoError::BadSignature | CryptoError::Unsupported => {
                PublicKeyError::Unsupported(alg_id)
            }
        })?;
        Ok(Self {
            algorithm,
            material,
            verifier,
        })
    }

    fn read_material(key: &CoseKey, alg: CoseAlgorithm) -> Result<KeyMaterial, &'static str> {
        let kty = match &key.kty {
            KeyType::Assigned(kty) => *kty,
            _ => return Err("unknown key type"),
        };
        match kty {
            iana::KeyType::EC2 => {
                let curve = alg.curve().ok_or("EC2 key with a non-ECDSA algorithm")?;
                let crv = param(key, LABEL_CRV).and_then(Value::as_integer);
                let expected = match curve {
                    Curve::P256 => iana::EllipticCurve::P_256,
                    Curve::P384 => iana::EllipticCurve::P_384,
                    Curve::P521 => iana::EllipticCurve::P_521,
                };
                if crv != Some(expected.to_i64().into()) {
                    return Err("crv does not match the algorithm");
                }
                let x = bytes_param(key, LABEL_X, "x is missing")?;
                let y = bytes_param(key, LABEL_Y, "y is missing or compressed")?;
                let len = curve.coordinate_len();
                if x.len() != len || y.len() != len {
                    return Err("coordinates have the wrong length");
                }
                Ok(KeyMaterial::Ec2 {
                    curve,
                    x: x.to_vec(),
                    y: y.to_vec(),
                })
            }
            iana::KeyType::OKP => {
                if alg != CoseAlgorithm::EdDsa {
                    return Err("OKP key with a non-EdDSA algorithm");
                }
                let crv = param(key, LABEL_CRV).and_then(Value::as_integer);
                if crv != Some(iana::EllipticCurve::Ed25519.to_i64().into()) {
                    return Err("only the Ed25519 curve is supported");
                }
                let x = bytes_param(key, LABEL_X, "x is missing")?;
                if x.len() != 32 {
                    return Err("Ed25519 keys are 32 bytes");
                }
                Ok(KeyMaterial::Ed25519(x.to_vec()))
            }
            iana::KeyType::RSA => {
                if !alg.is_rsa() {
                    return Err("RSA key with a non-RSA algorithm");
                }
                let n = bytes_param(key, LABEL_RSA_N, "n is missing")?;
                let e = bytes_param(key, LABEL_RSA_E, "e is missing")?;
                Ok(KeyMaterial::rsa(n, e))
            }
            iana::KeyType::AKP => {
                let level = alg
                    .ml_dsa_level()
                    .ok_or("AKP key with a non-ML-DSA algorithm")?;
                let public = bytes_param(key, LABEL_AKP_PUB, "pub is missing")?;
                Ok(KeyMaterial::MlDsa(level, public.to_vec()))
            }
            _ => Err("unsupported key type"),
        }
    }

    /// The key's algorithm: the only one its signatures are verified with.
    pub fn algorithm(&self) -> CoseAlgorithm {
        self.algorithm
    }

    /// The key itself.
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// Verifies `signature` over `message` with this key and its own algorithm.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify_sig(message, signature).is_ok()
    }
}

#[cfg(test)]
mod tests;
