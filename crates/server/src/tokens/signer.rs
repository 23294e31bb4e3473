//! Signing a token (JWS compact serialisation, RFC 7515 §7.1) with a key parsed once.
//!
//! Hand-written because jsonwebtoken keeps a signing key as its DER bytes and parses the PKCS#8
//! again for every signature (with a key check that costs a scalar multiplication): about as
//! much CPU as the sign-in's own signature check. A compact JWS is `BASE64URL(header) "."
//! BASE64URL(payload) "." BASE64URL(signature over the first two parts)`; this module keeps the
//! parsed aws-lc key pair and signs that message. Tokens are still verified by jsonwebtoken,
//! and the tests verify what this signs with it.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Header;
use serde::Serialize;

use super::{KeyError, SigningAlgorithm};

/// A signing key, unsealed and parsed.
pub(super) enum OpenedKey {
    /// Ed25519 (`EdDSA`).
    EdDsa(Ed25519KeyPair),
    /// P-256 with SHA-256 (`ES256`), signatures as `r || s` (RFC 7518 §3.4).
    Es256(EcdsaKeyPair),
}

impl OpenedKey {
    /// Parses a PKCS#8 private key of `algorithm`.
    pub(super) fn parse(pkcs8: &[u8], algorithm: SigningAlgorithm) -> Result<Self, KeyError> {
        match algorithm {
            SigningAlgorithm::EdDsa => Ed25519KeyPair::from_pkcs8(pkcs8).map(Self::EdDsa),
            SigningAlgorithm::Es256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map(Self::Es256)
            }
        }
        .map_err(|_| KeyError::Crypto)
    }

    /// The compact JWS of `claims` under `header` (whose `alg` the caller set to this key's).
    pub(super) fn sign(
        &self,
        header: &Header,
        claims: &impl Serialize,
    ) -> Result<String, KeyError> {
        let mut token = part(header)?;
        token.push('.');
        token.push_str(&part(claims)?);
        let signature = match self {
            Self::EdDsa(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
            Self::Es256(pair) => pair
                .sign(&SystemRandom::new(), token.as_bytes())
                .map_err(|_| KeyError::Crypto)?
                .as_ref()
                .to_vec(),
        };
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// One part of the token: the value's JSON, base64url without padding.
fn part(value: &impl Serialize) -> Result<String, KeyError> {
    let json = serde_json::to_vec(value).map_err(|_| KeyError::Crypto)?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}
