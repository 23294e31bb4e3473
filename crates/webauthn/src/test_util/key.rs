//! Credential key pairs of every algorithm aws-lc-rs can sign with, and their COSE_Key form.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, PqdsaKeyPair,
    RsaEncoding, RsaKeyPair,
};
use ciborium::value::Value;

use super::{der, encode_cose_key};
use crate::cose_key::CoseAlgorithm;

/// How a [`CredentialKey`] signs.
enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
}

/// A credential key pair: what an authenticator keeps inside.
pub struct CredentialKey {
    algorithm: CoseAlgorithm,
    signer: Signer,
}

impl fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl CredentialKey {
    /// The algorithms [`CredentialKey::generate`] supports: every verified one but RS1.
    pub const ALGORITHMS: [CoseAlgorithm; 13] = CoseAlgorithm::DEFAULT;

    /// Generates a key for `algorithm`.
    ///
    /// # Panics
    /// For [`CoseAlgorithm::Rs1`], which aws-lc-rs cannot sign with, or if key generation fails.
    pub fn generate(algorithm: CoseAlgorithm) -> Self {
        let failed = "aws-lc-rs key generation failed";
        let ecdsa = |alg: &'static EcdsaSigningAlgorithm| {
            Signer::Ecdsa(EcdsaKeyPair::generate(alg).expect(failed))
        };
        let rsa = |encoding: &'static dyn RsaEncoding| {
            Signer::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).expect(failed),
                encoding,
            )
        };
        let ml_dsa = |alg| Signer::MlDsa(PqdsaKeyPair::generate(alg).expect(failed));
        let signer = match algorithm {
            CoseAlgorithm::Es256 => ecdsa(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
            CoseAlgorithm::Es384 => ecdsa(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
            CoseAlgorithm::Es512 => ecdsa(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
            CoseAlgorithm::EdDsa => Signer::Ed25519(Ed25519KeyPair::generate().expect(failed)),
            CoseAlgorithm::MlDsa44 => ml_dsa(&signature::ML_DSA_44_SIGNING),
            CoseAlgorithm::MlDsa65 => ml_dsa(&signature::ML_DSA_65_SIGNING),
            CoseAlgorithm::MlDsa87 => ml_dsa(&signature::ML_DSA_87_SIGNING),
            CoseAlgorithm::Ps256 => rsa(&signature::RSA_PSS_SHA256),
            CoseAlgorithm::Ps384 => rsa(&signature::RSA_PSS_SHA384),
            CoseAlgorithm::Ps512 => rsa(&signature::RSA_PSS_SHA512),
            CoseAlgorithm::Rs256 => rsa(&signature::RSA_PKCS1_SHA256),
            CoseAlgorithm::Rs384 => rsa(&signature::RSA_PKCS1_SHA384),
            CoseAlgorithm::Rs512 => rsa(&signature::RSA_PKCS1_SHA512),
            CoseAlgorithm::Rs1 => panic!("aws-lc-rs cannot sign RS1 (RSASSA-PKCS1-v1_5 SHA-1)"),
        };
        Self { algorithm, signer }
    }

    /// The key's COSE algorithm.
    pub fn algorithm(&self) -> CoseAlgorithm {
        self.algorithm
    }

    /// The COSE_Key parameters (label, value), in canonical order: kty, alg, then the key type's
    /// parameters. Change them and re-encode with [`encode_cose_key`] to make a hostile key.
    pub fn cose_params(&self) -> Vec<(i64, Value)> {
        let alg = Value::from(self.algorithm.to_i64());
        match &self.signer {
            Signer::Ecdsa(pair) => {
                let point = pair.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = match self.algorithm {
                    CoseAlgorithm::Es384 => 2,
                    CoseAlgorithm::Es512 => 3,
                    _ => 1,
                };
                vec![
                    (1, Value::from(2)),
                    (3, alg),
                    (-1, Value::from(crv)),
                    (-2, Value::Bytes(point[1..=len].to_vec())),
                    (-3, Value::Bytes(point[1 + len..].to_vec())),
                ]
            }
            Signer::Ed25519(pair) => vec![
                (1, Value::from(1)),
                (3, alg),
                (-1, Value::from(6)),
                (-2, Value::Bytes(pair.public_key().as_ref().to_vec())),
            ],
            Signer::MlDsa(pair) => vec![
                (1, Value::from(7)),
                (3, alg),
                (-1, Value::Bytes(pair.public_key().as_ref().to_vec())),
            ],
            Signer::Rsa(pair, _) => {
                let (n, e) = der::rsa_public_key(pair.public_key().as_ref())
                    .expect("aws-lc-rs encodes RSAPublicKey as DER");
                vec![
                    (1, Value::from(3)),
                    (3, alg),
                    (-1, Value::Bytes(n)),
                    (-2, Value::Bytes(e)),
                ]
            }
        }
    }

    /// The public key as a CTAP2 canonical COSE_Key.
    pub fn cose_key(&self) -> Vec<u8> {
        encode_cose_key(&self.cose_params())
    }

    /// The public key as an X.509 SubjectPublicKeyInfo (the `publicKey` convenience copy).
    pub fn spki(&self) -> Vec<u8> {
        let der = match &self.signer {
            Signer::Ecdsa(pair) => pair.public_key().as_der(),
            Signer::Ed25519(pair) => pair.public_key().as_der(),
            Signer::MlDsa(pair) => pair.public_key().as_der(),
            Signer::Rsa(pair, _) => pair.public_key().as_der(),
        };
        der.expect("aws-lc-rs encodes its public keys")
            .as_ref()
            .to_vec()
    }

    /// Signs `message` as WebAuthn expects for the algorithm (DER ECDSA, raw EdDSA and ML-DSA,
    /// RSASSA-PKCS1-v1_5 or PSS).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let failed = "aws-lc-rs signing failed";
        match &self.signer {
            Signer::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .expect(failed)
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            Signer::MlDsa(pair) => {
                let mut sig = vec![0; pair.algorithm().signature_len()];
                let len = pair.sign(message, &mut sig).expect(failed);
                sig.truncate(len);
                sig
            }
            Signer::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &SystemRandom::new(), message, &mut sig)
                    .expect(failed);
                sig
            }
        }
    }
}
