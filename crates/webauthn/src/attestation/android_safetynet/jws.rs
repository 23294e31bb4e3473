//! The compact [JWS](https://www.rfc-editor.org/rfc/rfc7515) that carries a SafetyNet
//! attestation: `base64url(header) . base64url(payload) . base64url(signature)`.
//!
//! Only what SafetyNet issues is accepted: a JSON object header with `alg` `RS256` or `ES256` and
//! an `x5c` chain (standard base64 DER, RFC 7515 §4.1.6), no `crit` parameter, unpadded base64url
//! segments with canonical trailing bits. The parser does not verify anything; it hands the
//! signing input, the signature and the certificates to the caller.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Deserialize;

use crate::error::AttestationError;
use crate::trust::{MAX_CERTIFICATE_LEN, MAX_CHAIN_LEN};

/// The JWS signature algorithms SafetyNet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwsAlgorithm {
    /// `ES256`: ECDSA P-256 with SHA-256, signature `r || s` (64 bytes, RFC 7518 §3.4).
    Es256,
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

/// A parsed compact JWS. Nothing in it is authenticated yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jws<'a> {
    /// The header's `alg`.
    pub(crate) alg: JwsAlgorithm,
    /// The header's `x5c`, DER, leaf first.
    pub(crate) x5c: Vec<Vec<u8>>,
    /// `header . payload`, the bytes the signature covers (RFC 7515 §5.2 step 8).
    pub(crate) signing_input: &'a [u8],
    /// The decoded payload.
    pub(crate) payload: Vec<u8>,
    /// The decoded signature.
    pub(crate) signature: Vec<u8>,
}

/// The JOSE header members we read. Other members are ignored, except `crit`.
#[derive(Deserialize)]
struct Header {
    /// The signature algorithm.
    alg: String,
    /// The certificate chain, standard base64 DER.
    #[serde(default)]
    x5c: Option<Vec<String>>,
    /// Critical extensions: none are understood, so its presence refuses the JWS.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A malformed JWS.
fn bad(reason: &'static str) -> AttestationError {
    AttestationError::Malformed(reason)
}

impl<'a> Jws<'a> {
    /// Parses a compact JWS.
    pub(crate) fn parse(compact: &'a [u8]) -> Result<Self, AttestationError> {
        let mut segments = compact.split(|b| *b == b'.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(bad("response is not a compact JWS of three segments"));
        };
        let signing_input = &compact[..header.len() + 1 + payload.len()];
        let decode = |segment: &[u8], what| URL_SAFE_NO_PAD.decode(segment).map_err(|_| bad(what));
        let header = decode(header, "the JWS header is not base64url")?;
        let payload = decode(payload, "the JWS payload is not base64url")?;
        let signature = decode(signature, "the JWS signature is not base64url")?;
        if signature.is_empty() {
            return Err(bad("the JWS signature is empty"));
        }
        let header: Header = json_object(&header, "the JWS header is not a valid JSON object")?;
        if header.crit.is_some() {
            return Err(bad("the JWS header has critical extensions"));
        }
        let alg = match header.alg.as_str() {
            "ES256" => JwsAlgorithm::Es256,
            "RS256" => JwsAlgorithm::Rs256,
            _ => return Err(bad("the JWS alg is not RS256 or ES256")),
        };
        let chain = header.x5c.unwrap_or_default();
        if chain.is_empty() || chain.len() > MAX_CHAIN_LEN {
            return Err(bad("the JWS x5c is not a non-empty certificate chain"));
        }
        let x5c = chain
            .iter()
            .map(|cert| match STANDARD.decode(cert) {
                Ok(der) if !der.is_empty() && der.len() <= MAX_CERTIFICATE_LEN => Ok(der),
                _ => Err(bad(
                    "a JWS x5c certificate is not base64 DER of a sane size",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            alg,
            x5c,
            signing_input,
            payload,
            signature,
        })
    }
}

/// Deserializes a JSON object (never an array, which serde would also map onto a struct).
/// Repeated members that `T` reads are refused by serde.
pub(crate) fn json_object<T: for<'de> Deserialize<'de>>(
    json: &[u8],
    error: &'static str,
) -> Result<T, AttestationError> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(bad(error));
    }
    serde_json::from_slice(json).map_err(|_| bad(error))
}
