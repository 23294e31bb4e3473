//! API keys: generation, parsing and the stored form.
//!
//! A key reads `sk_<prefix>_<secret>` (secret key, server-to-server) or `pk_<prefix>_<secret>`
//! (publishable key, browser-direct). The 12-character prefix (9 random bytes) names the key and
//! is stored in clear so the key can be found and listed; the 43-character secret (32 random
//! bytes) is never stored. The store keeps SHA-256 of the whole key.
//!
//! A plain approved hash, rather than a password hash such as Argon2, is enough here: the keys
//! are 256-bit random values from a CSPRNG, so there is nothing to brute-force or look up in a
//! dictionary. OWASP ASVS asks for a slow password hash only for low-entropy secrets; for
//! high-entropy random secrets an approved hash is sufficient.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SecureRandom;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

const PREFIX_BYTES: usize = 9;
const PREFIX_CHARS: usize = 12;
const SECRET_BYTES: usize = 32;
const SECRET_CHARS: usize = 43;

/// Which kind of key: what it may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// Browser-direct calls; safe to embed in a web page.
    Publishable,
    /// Server-to-server calls from the app's backend; never leaves it.
    Secret,
}

impl ApiKeyKind {
    /// The stored name: `publishable` or `secret`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publishable => "publishable",
            Self::Secret => "secret",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(kind: &str) -> Option<Self> {
        match kind {
            "publishable" => Some(Self::Publishable),
            "secret" => Some(Self::Secret),
            _ => None,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Publishable => "pk",
            Self::Secret => "sk",
        }
    }
}

/// A whole API key, as shown to its owner once.
///
/// Deliberately has no `Display`, and its `Debug` prints `***`, so the key cannot reach a log
/// by accident; [`ApiKeySecret::expose`] is the one way to read it.
#[derive(Clone)]
pub struct ApiKeySecret {
    key: String,
    kind: ApiKeyKind,
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Text that is not an API key of the expected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed API key")]
pub struct MalformedApiKey;

impl ApiKeySecret {
    /// Makes a fresh key from the CSPRNG `rng`.
    pub fn generate(kind: ApiKeyKind, rng: &dyn SecureRandom) -> Result<Self, RandomUnavailable> {
        let mut prefix = [0u8; PREFIX_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill(&mut prefix).map_err(|_| RandomUnavailable)?;
        rng.fill(&mut secret).map_err(|_| RandomUnavailable)?;
        let key = format!(
            "{}_{}_{}",
            kind.tag(),
            URL_SAFE_NO_PAD.encode(prefix),
            URL_SAFE_NO_PAD.encode(secret)
        );
        Ok(Self { key, kind })
    }

    /// Parses a key presented by a caller. Only the shape is checked here; whether the key
    /// exists is a store lookup.
    pub fn parse(key: &str) -> Result<Self, MalformedApiKey> {
        let kind = match key.get(..3) {
            Some("sk_") => ApiKeyKind::Secret,
            Some("pk_") => ApiKeyKind::Publishable,
            _ => return Err(MalformedApiKey),
        };
        let rest = &key[3..];
        let b64 = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let well_formed = rest.len() == PREFIX_CHARS + 1 + SECRET_CHARS
            && rest.as_bytes()[PREFIX_CHARS] == b'_'
            && b64(rest);
        if well_formed {
            Ok(Self {
                key: key.to_owned(),
                kind,
            })
        } else {
            Err(MalformedApiKey)
        }
    }

    /// The kind of key.
    pub fn kind(&self) -> ApiKeyKind {
        self.kind
    }

    /// The public part that names the key (`sk_` or `pk_` and 12 characters): stored in clear,
    /// unique, safe to list and log.
    pub fn prefix(&self) -> &str {
        &self.key[..3 + PREFIX_CHARS]
    }

    /// The stored form: SHA-256 of the whole key.
    pub fn hash(&self) -> KeyHash {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, self.key.as_bytes()).as_ref());
        KeyHash(out)
    }

    /// The whole key. Show it to its owner once; never log or store it.
    pub fn expose(&self) -> &str {
        &self.key
    }
}

/// SHA-256 of an API key, the only form a key is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// Compares with a stored hash in constant time, so the time taken does not reveal how many
    /// leading bytes of a guess were right.
    pub fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == self.0.len() && bool::from(self.0.as_slice().ct_eq(stored))
    }
}

/// The system CSPRNG failed; nothing sensible can be generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomUnavailable;

/// Fills `N` bytes from the CSPRNG.
pub fn random_bytes<const N: usize>(rng: &dyn SecureRandom) -> Result<[u8; N], RandomUnavailable> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(|_| RandomUnavailable)?;
    Ok(out)
}

/// A random row ID (16 bytes, base64url).
pub fn random_id(rng: &dyn SecureRandom) -> Result<String, RandomUnavailable> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>(rng)?))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        let rng = SystemRandom::new();
        for kind in [ApiKeyKind::Secret, ApiKeyKind::Publishable] {
            let key = ApiKeySecret::generate(kind, &rng).unwrap();
            assert_eq!(key.expose().len(), 3 + 12 + 1 + 43);
            let parsed = ApiKeySecret::parse(key.expose()).unwrap();
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.prefix(), key.prefix());
            assert_eq!(parsed.hash(), key.hash());
            assert!(key.hash().matches(&parsed.hash().0));
        }
    }

    #[test]
    fn keys_differ_and_never_print() {
        let rng = SystemRandom::new();
        let a = ApiKeySecret::generate(ApiKeyKind::Secret, &rng).unwrap();
        let b = ApiKeySecret::generate(ApiKeyKind::Secret, &rng).unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.prefix(), b.prefix());
        assert_eq!(format!("{a:?}"), "***");
        assert!(a.expose().starts_with("sk_"));
    }

    #[test]
    fn malformed_keys() {
        let good = format!("sk_{}_{}", "a".repeat(12), "b".repeat(43));
        assert!(ApiKeySecret::parse(&good).is_ok());
        for bad in [
            String::new(),
            "sk_".to_owned(),
            format!("xk_{}_{}", "a".repeat(12), "b".repeat(43)),
            format!("sk_{}_{}", "a".repeat(11), "b".repeat(44)),
            format!("sk_{}-{}", "a".repeat(12), "b".repeat(43)),
            format!("sk_{}_{}", "a".repeat(12), "b".repeat(42)),
            format!("sk_{}_{}+", "a".repeat(12), "b".repeat(42)),
            format!("sk_{}_{}é", "a".repeat(12), "b".repeat(41)),
        ] {
            assert_eq!(
                ApiKeySecret::parse(&bad).err(),
                Some(MalformedApiKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn hash_comparison() {
        let key =
            ApiKeySecret::parse(&format!("sk_{}_{}", "a".repeat(12), "b".repeat(43))).unwrap();
        let mut other = key.hash().0;
        other[31] ^= 1;
        assert!(!key.hash().matches(&other));
        assert!(!key.hash().matches(&other[..31]));
    }
}
