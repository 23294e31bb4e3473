//! Result tokens: short-lived JWTs signed with per-tenant keys, and the sealing of those keys.
//!
//! Every finished ceremony answers a token ([`ResultClaims`]) that the app's backend verifies
//! offline against the tenant's JWKS ([`jwks`]) or redeems at `POST /tokens/verify` ([`verify`]).
//! Each tenant has its own keys ([`generate_signing_key`]), so a token of tenant A never verifies
//! for tenant B. The private halves are stored sealed (AES-256-GCM) under the server's
//! [`MasterKey`], bound to their tenant and key ID, so a database dump alone signs nothing.
//!
//! This module reads no clock: every time check uses the `now` its caller passes in.
//!
//! Error codes ([`TokenError::code`]): `token_invalid`, `token_expired`, `key_error` (internal).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::api_keys::random_bytes;
use crate::store::SigningKeyRecord;
use signer::OpenedKey;

/// The `iss` of every token passkeyd signs.
pub const ISSUER: &str = "passkeyd";
/// The longest token [`verify`] parses, in bytes; ours are well under 1 KiB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// How far ahead of `now` a token's `iat` may be (clock skew between nodes), in seconds.
pub const MAX_CLOCK_SKEW: i64 = 60;

/// The first byte of sealed data: the format, so it can change without guessing.
const SEAL_VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// Why a token was refused, or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is not one this tenant can trust.
    #[error("invalid token: {0}")]
    Invalid(InvalidToken),
    /// The token was good, but its `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The master key or a signing key failed: a server problem, not the caller's.
    #[error(transparent)]
    Key(KeyError),
}

impl TokenError {
    /// The stable code for API answers: `token_invalid`, `token_expired` or `key_error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "token_invalid",
            Self::Expired => "token_expired",
            Self::Key(_) => "key_error",
        }
    }
}

impl From<InvalidToken> for TokenError {
    fn from(reason: InvalidToken) -> Self {
        Self::Invalid(reason)
    }
}

impl From<KeyError> for TokenError {
    fn from(error: KeyError) -> Self {
        Self::Key(error)
    }
}

/// What is wrong with a refused token. All of these answer `token_invalid`: the caller learns
/// no more than that, the detail is for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// The header's `alg` is not the algorithm of the key its `kid` names.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iat` lies further in the future than clock skew explains.
    #[error("issued in the future")]
    IssuedInFuture,
    /// `exp - iat` is longer than any token of the tenant may live.
    #[error("lifetime over the cap")]
    LifetimeTooLong,
    /// Not a JWT with the claims a result token has.
    #[error("malformed")]
    Malformed,
    /// Signed by a retired key after its retirement, or presented after every token the key
    /// signed before its retirement has expired.
    #[error("signed by a retired key")]
    RetiredKey,
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("too long")]
    TooLong,
    /// No key of this tenant has the header's `kid`.
    #[error("unknown key")]
    UnknownKey,
    /// `aud` or `tenant` names another tenant.
    #[error("issued for another tenant")]
    WrongAudience,
    /// `iss` is not [`ISSUER`].
    #[error("wrong issuer")]
    WrongIssuer,
}

/// A failure of the master key or of a signing key. Messages never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key generation or signing failed inside the crypto library.
    #[error("cryptographic operation failed")]
    Crypto,
    /// The master key file could not be read or created.
    #[error("cannot read or create the master key file {path}")]
    MasterKeyFile {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// The master key file does not hold a master key.
    #[error("the master key file {path} does not hold 32 bytes of unpadded base64url")]
    MasterKeyFileMalformed {
        /// The file.
        path: PathBuf,
    },
    /// A master key given as text is not 32 bytes of unpadded base64url.
    #[error("the master key is not 32 bytes of unpadded base64url")]
    MasterKeyMalformed,
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A stored signing key has an unknown algorithm or an unusable public JWK.
    #[error("stored signing key {kid} is unusable")]
    StoredKey {
        /// The key's ID (public).
        kid: String,
    },
    /// Sealed data does not open: another master key, another tenant or key ID, or altered bytes.
    #[error("sealed data does not open with this master key and context")]
    Unseal,
}

/// The server's 32-byte secret that seals secrets stored in the database (the token signing
/// keys). It comes from `PASSKEYD_MASTER_KEY` or a key file; losing it makes every sealed key
/// useless, so tenants then need new signing keys.
///
/// `Debug` prints `***`; there is deliberately no way to read the key back out.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for MasterKey {}

impl MasterKey {
    /// A MAC of `message` under a key derived from this one for `purpose` (HMAC-SHA256 twice:
    /// the purpose keys the first, so values made for different purposes never coincide).
    /// For values that must be unpredictable without the master key but stable across nodes
    /// and restarts, such as decoy credential IDs.
    pub fn mac(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.0),
            purpose.as_bytes(),
        );
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            message,
        );
        let mut out = [0; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Parses a key given as text (`PASSKEYD_MASTER_KEY`): exactly 32 bytes as base64url without
    /// padding; surrounding whitespace is ignored.
    pub fn from_base64url(text: &str) -> Result<Self, TokenError> {
        Self::decode(text).ok_or(KeyError::MasterKeyMalformed.into())
    }

    /// Reads the key file at `path`; `None` if there is no such file.
    pub fn load(path: &Path) -> Result<Option<Self>, TokenError> {
        match Self::read_file(path) {
            Err(TokenError::Key(KeyError::MasterKeyFile { source, .. }))
                if source.kind() == io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            read => read.map(Some),
        }
    }

    /// Reads the key file at `path` or, if there is none, creates it (mode 0600 on unix) with a
    /// fresh random key. Several processes starting at once all end up with the same key.
    pub fn load_or_create(path: &Path, rng: &dyn SecureRandom) -> Result<Self, TokenError> {
        if let Some(key) = Self::load(path)? {
            return Ok(key);
        }
        let key = Self::random(rng)?;
        let staging = staging_path(path, rng)?;
        match publish(path, &staging, format!("{}\n", key.encode()).as_bytes()) {
            Ok(()) => Ok(key),
            // Another process won the race; its file is complete (see `publish`).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::read_file(path),
            Err(source) => Err(KeyError::MasterKeyFile {
                path: path.to_owned(),
                source,
            }
            .into()),
        }
    }

    /// Encrypts `plaintext` bound to `aad` (which names what it is, e.g. `tenant/kid`, so sealed
    /// data cannot be moved to another row): `1 || nonce (12) || ciphertext || tag (16)`.
    ///
    /// The nonce is random: at 96 bits that is safe for far more seals than one server makes.
    pub fn seal(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, TokenError> {
        let nonce = random_bytes::<NONCE_LEN>(rng).map_err(|_| KeyError::Random)?;
        let mut body = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| KeyError::Crypto)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + body.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// Decrypts what [`MasterKey::seal`] made with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, TokenError> {
        let Some((&SEAL_VERSION, rest)) = sealed.split_first() else {
            return Err(KeyError::Unseal.into());
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(KeyError::Unseal.into());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Unseal)?;
        let mut buffer = ciphertext.to_vec();
        let len = self
            .aead()?
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .map_err(|_| KeyError::Unseal)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }

    fn random(rng: &dyn SecureRandom) -> Result<Self, TokenError> {
        Ok(Self(random_bytes(rng).map_err(|_| KeyError::Random)?))
    }

    fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        bytes.try_into().ok().map(Self)
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    fn read_file(path: &Path) -> Result<Self, TokenError> {
        let bytes = fs::read(path).map_err(|source| KeyError::MasterKeyFile {
            path: path.to_owned(),
            source,
        })?;
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(Self::decode)
            .ok_or(
                KeyError::MasterKeyFileMalformed {
                    path: path.to_owned(),
                }
                .into(),
            )
    }

    fn aead(&self) -> Result<LessSafeKey, TokenError> {
        // Built per call rather than kept: it is cheap, and it keeps `MasterKey` a plain `Clone`.
        let key = UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| KeyError::Crypto)?;
        Ok(LessSafeKey::new(key))
    }
}

/// A unique name beside `path` to stage a new file under.
fn staging_path(path: &Path, rng: &dyn SecureRandom) -> Result<PathBuf, TokenError> {
    let suffix = URL_SAFE_NO_PAD.encode(random_bytes::<9>(rng).map_err(|_| KeyError::Random)?);
    let mut staging = OsString::from(path.as_os_str());
    staging.push(format!(".{suffix}.tmp"));
    Ok(staging.into())
}

/// Creates `path` holding `contents`, durably, never showing a partial file and never replacing
/// an existing one.
///
/// A plain `create_new` on `path` would leave a window in which a racing process finds the file
/// empty and reports it corrupt. Instead the contents are written and fsynced under `staging`
/// first, then hard-linked to `path`: the link appears whole, and unlike `rename` it fails with
/// `AlreadyExists` rather than replacing a file another process published meanwhile.
fn publish(path: &Path, staging: &Path, contents: &[u8]) -> io::Result<()> {
    let result = write_new(staging, contents).and_then(|()| fs::hard_link(staging, path));
    // The staging name was only a means to publish; it goes whatever happened.
    let _ = fs::remove_file(staging);
    result?;
    sync_parent(path)
}

fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes a new directory entry durable: fsync on a file does not cover its name.
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The JWS algorithm of a tenant's token signing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// EdDSA with Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlgorithm {
    /// The JWS name, as in `alg` and as stored: `ES256` or `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Parses the JWS name (case-sensitive, as JWS names are).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
        }
    }
}

/// The public members of a signing key's JWK (RFC 7517, RFC 7518 §6.2, RFC 8037 §2). It has no
/// field for private members, so what goes through it cannot carry one.
#[derive(Debug, Serialize, Deserialize)]
struct PublicJwk {
    kty: String,
    crv: String,
    x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    kid: String,
    alg: String,
    #[serde(rename = "use")]
    key_use: String,
}

/// Generates a signing key for `tenant`: the public half as a JWK, the private half (PKCS#8)
/// sealed under `master` and bound to `{tenant}/{kid}`.
///
/// The key ID is 16 random bytes (base64url). aws-lc-rs draws the key itself from its own
/// CSPRNG; `rng` supplies the key ID and the sealing nonce.
pub fn generate_signing_key(
    tenant: &str,
    algorithm: SigningAlgorithm,
    master: &MasterKey,
    rng: &dyn SecureRandom,
    now: i64,
) -> Result<SigningKeyRecord, TokenError> {
    let kid = URL_SAFE_NO_PAD.encode(random_bytes::<16>(rng).map_err(|_| KeyError::Random)?);
    let (pkcs8, kty, crv, x, y) = match algorithm {
        SigningAlgorithm::EdDsa => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| KeyError::Crypto)?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Crypto)?;
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (pkcs8, "OKP", "Ed25519", x, None)
        }
        SigningAlgorithm::Es256 => {
            let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng).map_err(|_| KeyError::Crypto)?;
            let pair =
                EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).map_err(|_| KeyError::Crypto)?;
            // An uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
            let Some((&0x04, point)) = pair.public_key().as_ref().split_first() else {
                return Err(KeyError::Crypto.into());
            };
            if point.len() != 64 {
                return Err(KeyError::Crypto.into());
            }
            let (x, y) = point.split_at(32);
            let y = Some(URL_SAFE_NO_PAD.encode(y));
            (pkcs8, "EC", "P-256", URL_SAFE_NO_PAD.encode(x), y)
        }
    };
    let jwk = PublicJwk {
        kty: kty.to_owned(),
        crv: crv.to_owned(),
        x,
        y,
        kid: kid.clone(),
        alg: algorithm.as_str().to_owned(),
        key_use: "sig".to_owned(),
    };
    Ok(SigningKeyRecord {
        public_jwk: serde_json::to_string(&jwk).map_err(|_| KeyError::Crypto)?,
        sealed_private_key: master.seal(
            pkcs8.as_ref(),
            seal_context(tenant, &kid).as_bytes(),
            rng,
        )?,
        kid,
        algorithm: algorithm.as_str().to_owned(),
        created_at: now,
        retired_at: None,
    })
}

/// What a signing key is sealed to: moving a sealed key to another tenant or kid breaks it.
/// Whether `master` opens `key`, a signing key of `tenant`: how a database set up before it had
/// a master key check tells whether a node's key is the one its keys were sealed with.
pub fn opens_signing_key(key: &SigningKeyRecord, tenant: &str, master: &MasterKey) -> bool {
    master
        .open(
            &key.sealed_private_key,
            seal_context(tenant, &key.kid).as_bytes(),
        )
        .is_ok()
}

fn seal_context(tenant: &str, kid: &str) -> String {
    format!("{tenant}/{kid}")
}

/// The payload of a result token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultClaims {
    /// Always [`ISSUER`].
    pub iss: String,
    /// The tenant ID: the token is for this tenant's app only.
    pub aud: String,
    /// The tenant ID again, explicit for apps that ignore `aud`.
    pub tenant: String,
    /// The user ID.
    pub sub: String,
    /// The credential used (base64url), when a passkey was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred: Option<String>,
    /// Whether the user was verified (UV flag).
    pub uv: bool,
    /// Authentication methods (RFC 8176), e.g. `["webauthn"]`, `["hwk", "user"]`.
    pub amr: Vec<String>,
    /// When the user authenticated, Unix seconds.
    pub auth_time: i64,
    /// When the token was issued, Unix seconds.
    pub iat: i64,
    /// When the token expires, Unix seconds: it is refused from this second on.
    pub exp: i64,
    /// A unique token ID, for single use.
    pub jti: String,
    /// The user's role, where the tenant has roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The user's domain, where the tenant has domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// What the token is for: `authentication`, `registration`, `user` or `mfa_challenge`.
    /// Callers must check it, so that a token of one kind is never accepted as another.
    pub purpose: String,
    /// The user binding: a MAC of the user's row (its random user handle) under the master
    /// key, so that a token dies with its user even if the same user ID is created again.
    /// Checked by passkeyd at every use; opaque to apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uh: Option<String>,
}

/// Signs `claims` with `key`, a signing key of `tenant`. The header carries `alg`, `kid` and
/// `typ: JWT`.
///
/// Each call unseals and parses the key (an AES-GCM decryption and a PKCS#8 parse);
/// [`sign_cached`] keeps the opened key instead.
pub fn sign(
    claims: &ResultClaims,
    key: &SigningKeyRecord,
    tenant: &str,
    master: &MasterKey,
) -> Result<String, TokenError> {
    let algorithm = key_algorithm(key)?;
    let opened = open_signing_key(key, algorithm, tenant, master)?;
    encode_signed(claims, &key.kid, algorithm, &opened)
}

/// [`sign`], with the opened key taken from (or put in) `opened`.
pub fn sign_cached(
    claims: &ResultClaims,
    key: &SigningKeyRecord,
    tenant: &str,
    master: &MasterKey,
    opened: &OpenedKeys,
) -> Result<String, TokenError> {
    let algorithm = key_algorithm(key)?;
    let opened = opened.get_or_open(key, algorithm, tenant, master)?;
    encode_signed(claims, &key.kid, algorithm, &opened)
}

fn open_signing_key(
    key: &SigningKeyRecord,
    algorithm: SigningAlgorithm,
    tenant: &str,
    master: &MasterKey,
) -> Result<OpenedKey, TokenError> {
    let pkcs8 = master.open(
        &key.sealed_private_key,
        seal_context(tenant, &key.kid).as_bytes(),
    )?;
    Ok(OpenedKey::parse(&pkcs8, algorithm)?)
}

fn encode_signed(
    claims: &ResultClaims,
    kid: &str,
    algorithm: SigningAlgorithm,
    opened: &OpenedKey,
) -> Result<String, TokenError> {
    let mut header = Header::new(algorithm.jwt());
    header.kid = Some(kid.to_owned());
    Ok(opened.sign(&header, claims)?)
}

/// The most opened keys [`OpenedKeys`] holds; past that it starts afresh.
const MAX_OPENED_KEYS: usize = 1_024;

/// Signing keys already unsealed and parsed, by tenant and `kid`, so that signing a token costs
/// one signature and not an AES-GCM decryption and a PKCS#8 parse as well. A `kid` names one
/// key for ever, so an entry never goes stale; a retired key is simply no longer asked for.
/// The keys stay in this process's memory, as they must to sign at all.
#[derive(Default)]
pub struct OpenedKeys(Mutex<HashMap<(String, String), Arc<OpenedKey>>>);

impl fmt::Debug for OpenedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.lock().map_or(0, |keys| keys.len());
        f.debug_struct("OpenedKeys").field("count", &count).finish()
    }
}

impl OpenedKeys {
    fn get_or_open(
        &self,
        key: &SigningKeyRecord,
        algorithm: SigningAlgorithm,
        tenant: &str,
        master: &MasterKey,
    ) -> Result<Arc<OpenedKey>, TokenError> {
        let id = (tenant.to_owned(), key.kid.clone());
        if let Some(found) = self.lock().get(&id) {
            return Ok(found.clone());
        }
        // Opened outside the lock; two requests may both open a new key once, harmlessly.
        let opened = Arc::new(open_signing_key(key, algorithm, tenant, master)?);
        let mut keys = self.lock();
        if keys.len() >= MAX_OPENED_KEYS {
            keys.clear();
        }
        keys.insert(id, opened.clone());
        Ok(opened)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<OpenedKey>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Verifies a token for `tenant` against that tenant's `keys` at time `now` and returns its
/// claims. The caller still checks `purpose`, the user binding (`uh`) and single use (`jti`).
///
/// The key is found by the header's `kid`, and the key, never the token, decides the algorithm:
/// a header `alg` other than the key's (`none`, or HS256 keyed with the public key) is refused.
/// `exp` must be after `now` with no leeway; `iat` may be at most [`MAX_CLOCK_SKEW`] ahead.
///
/// `max_lifetime` is the longest lifetime (`exp - iat`, seconds) any token of the tenant may
/// have: a longer one is refused, whoever signed it. A retired key verifies only what it can
/// have signed while active and only while that can still be live: a token it signed more than
/// [`MAX_CLOCK_SKEW`] after its retirement is refused, and so is any token once
/// `max_lifetime` and the skew have passed since the retirement. A leaked retired key thus
/// signs nothing that passkeyd accepts for longer than that.
pub fn verify(
    token: &str,
    tenant: &str,
    keys: &[SigningKeyRecord],
    now: i64,
    max_lifetime: i64,
) -> Result<ResultClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(InvalidToken::TooLong.into());
    }
    // The header is read unverified, only to pick the key.
    let header = jsonwebtoken::decode_header(token).map_err(|_| InvalidToken::Malformed)?;
    if header.crit.is_some() {
        // RFC 7515 §4.1.11: we understand no extensions, so no critical one can be honoured.
        return Err(InvalidToken::Malformed.into());
    }
    let key = keys
        .iter()
        .find(|key| header.kid.as_deref() == Some(key.kid.as_str()))
        .ok_or(InvalidToken::UnknownKey)?;
    let algorithm = key_algorithm(key)?;
    if header.alg != algorithm.jwt() {
        return Err(InvalidToken::AlgorithmMismatch.into());
    }

    let mut validation = Validation::new(algorithm.jwt());
    // jsonwebtoken would check times against the system clock; they are checked below against
    // the caller's `now` instead.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[tenant]);
    let claims =
        jsonwebtoken::decode::<ResultClaims>(token, &decoding_key(key, algorithm)?, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => InvalidToken::BadSignature,
                ErrorKind::InvalidAlgorithm => InvalidToken::AlgorithmMismatch,
                ErrorKind::InvalidAudience => InvalidToken::WrongAudience,
                ErrorKind::InvalidIssuer => InvalidToken::WrongIssuer,
                _ => InvalidToken::Malformed,
            })?
            .claims;

    if claims.aud != tenant || claims.tenant != tenant {
        return Err(InvalidToken::WrongAudience.into());
    }
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.iat > now.saturating_add(MAX_CLOCK_SKEW) {
        return Err(InvalidToken::IssuedInFuture.into());
    }
    if claims.exp.saturating_sub(claims.iat) > max_lifetime {
        return Err(InvalidToken::LifetimeTooLong.into());
    }
    if let Some(retired) = key.retired_at {
        let signed_after_retirement = claims.iat > retired.saturating_add(MAX_CLOCK_SKEW);
        let window_over = now >= retired_window_end(retired, max_lifetime);
        if signed_after_retirement || window_over {
            return Err(InvalidToken::RetiredKey.into());
        }
    }
    Ok(claims)
}

/// The first second at which a key retired at `retired` verifies nothing any more: every token
/// it signed (at most [`MAX_CLOCK_SKEW`] after the retirement, living at most `max_lifetime`)
/// has expired by then.
fn retired_window_end(retired: i64, max_lifetime: i64) -> i64 {
    retired
        .saturating_add(max_lifetime)
        .saturating_add(MAX_CLOCK_SKEW)
}

fn key_algorithm(key: &SigningKeyRecord) -> Result<SigningAlgorithm, TokenError> {
    SigningAlgorithm::parse(&key.algorithm).ok_or_else(|| stored_key_error(key))
}

/// The verifying key from the stored JWK, which must be of the kind its algorithm needs.
fn decoding_key(
    key: &SigningKeyRecord,
    algorithm: SigningAlgorithm,
) -> Result<DecodingKey, TokenError> {
    let jwk: PublicJwk =
        serde_json::from_str(&key.public_jwk).map_err(|_| stored_key_error(key))?;
    let decoding_key = match (algorithm, jwk.kty.as_str(), jwk.crv.as_str(), &jwk.y) {
        (SigningAlgorithm::EdDsa, "OKP", "Ed25519", None) => {
            DecodingKey::from_ed_components(&jwk.x)
        }
        (SigningAlgorithm::Es256, "EC", "P-256", Some(y)) => {
            DecodingKey::from_ec_components(&jwk.x, y)
        }
        _ => return Err(stored_key_error(key)),
    };
    decoding_key.map_err(|_| stored_key_error(key))
}

fn stored_key_error(key: &SigningKeyRecord) -> TokenError {
    KeyError::StoredKey {
        kid: key.kid.clone(),
    }
    .into()
}

/// The tenant's JWKS document, `{"keys": [...]}`: every key not retired, and every retired key
/// that [`verify`] still accepts with the same `max_lifetime` (tokens it signed may still be
/// live). Only public members are ever published, whatever a stored JWK holds.
pub fn jwks(keys: &[SigningKeyRecord], now: i64, max_lifetime: i64) -> serde_json::Value {
    let published: Vec<PublicJwk> = keys
        .iter()
        .filter(|key| {
            key.retired_at
                .is_none_or(|retired| now < retired_window_end(retired, max_lifetime))
        })
        // A stored JWK that does not parse cannot verify anything either; leaving it out keeps
        // the other keys (and so the other tokens) working.
        .filter_map(|key| serde_json::from_str(&key.public_jwk).ok())
        .collect();
    serde_json::json!({ "keys": published })
}

mod signer;
#[cfg(test)]
mod tests;
