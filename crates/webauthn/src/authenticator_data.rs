//! [Authenticator data](https://www.w3.org/TR/webauthn-3/#sctn-authenticator-data): the bytes an
//! authenticator signs, with flags, the signature counter, attested credential data and
//! extension outputs.

use std::fmt;

use ciborium::value::Value;

use crate::cbor;
use crate::error::AuthenticatorDataError;

/// Longest credential ID the spec allows (L3 §7.1 step 23).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

const HEADER_LEN: usize = 37;

/// The flags byte of the authenticator data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AuthenticatorFlags(pub u8);

impl AuthenticatorFlags {
    /// UP: the user was present.
    pub const USER_PRESENT: u8 = 0x01;
    /// UV: the user was verified (PIN, biometric).
    pub const USER_VERIFIED: u8 = 0x04;
    /// BE: the credential may be backed up (synced passkey).
    pub const BACKUP_ELIGIBLE: u8 = 0x08;
    /// BS: the credential is currently backed up.
    pub const BACKUP_STATE: u8 = 0x10;
    /// AT: attested credential data follows the header.
    pub const ATTESTED_DATA: u8 = 0x40;
    /// ED: extension data follows.
    pub const EXTENSION_DATA: u8 = 0x80;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    /// UP.
    pub fn user_present(self) -> bool {
        self.has(Self::USER_PRESENT)
    }
    /// UV.
    pub fn user_verified(self) -> bool {
        self.has(Self::USER_VERIFIED)
    }
    /// BE.
    pub fn backup_eligible(self) -> bool {
        self.has(Self::BACKUP_ELIGIBLE)
    }
    /// BS.
    pub fn backup_state(self) -> bool {
        self.has(Self::BACKUP_STATE)
    }
    /// AT.
    pub fn attested_data(self) -> bool {
        self.has(Self::ATTESTED_DATA)
    }
    /// ED.
    pub fn extension_data(self) -> bool {
        self.has(Self::EXTENSION_DATA)
    }
}

impl fmt::Debug for AuthenticatorFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::USER_PRESENT, "UP"),
            (Self::USER_VERIFIED, "UV"),
            (Self::BACKUP_ELIGIBLE, "BE"),
            (Self::BACKUP_STATE, "BS"),
            (Self::ATTESTED_DATA, "AT"),
            (Self::EXTENSION_DATA, "ED"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .collect();
        write!(f, "AuthenticatorFlags({})", set.join("|"))
    }
}

/// The 16-byte authenticator model identifier. All zero when the authenticator does not say.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Aaguid(pub [u8; 16]);

impl Aaguid {
    /// Whether this is the all-zero AAGUID.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Aaguid {
    /// The canonical UUID form, e.g. `ee882879-721c-4913-9775-3dfcce97072a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aaguid({self})")
    }
}

/// [Attested credential data](https://www.w3.org/TR/webauthn-3/#attested-credential-data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredentialData<'a> {
    /// The authenticator model.
    pub aaguid: Aaguid,
    /// The credential ID (at most 1023 bytes).
    pub credential_id: &'a [u8],
    /// The credential public key, the exact COSE_Key bytes.
    pub credential_public_key: &'a [u8],
}

/// Parsed [authenticator data](https://www.w3.org/TR/webauthn-3/#authenticator-data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData<'a> {
    /// SHA-256 of the RP ID the authenticator scoped the credential to.
    pub rp_id_hash: &'a [u8; 32],
    /// The flags byte.
    pub flags: AuthenticatorFlags,
    /// The signature counter (0 when the authenticator does not keep one).
    pub sign_count: u32,
    /// Present exactly when AT is set.
    pub attested_credential_data: Option<AttestedCredentialData<'a>>,
    /// The extension outputs, the exact CBOR map bytes; present exactly when ED is set.
    pub extensions: Option<&'a [u8]>,
}

impl<'a> AuthenticatorData<'a> {
    /// Parses authenticator data, refusing truncation, trailing bytes, a credential ID over 1023
    /// bytes, and AT/ED flags that do not match what follows the header.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AuthenticatorDataError> {
        let Some((header, mut rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(AuthenticatorDataError::Truncated);
        };
        let (rp_id_hash, tail) = header
            .split_first_chunk::<32>()
            .ok_or(AuthenticatorDataError::Truncated)?;
        let flags = AuthenticatorFlags(tail[0]);
        let sign_count = u32::from_be_bytes([tail[1], tail[2], tail[3], tail[4]]);

        let attested_credential_data = if flags.attested_data() {
            let (aaguid, after) = rest
                .split_first_chunk::<16>()
                .ok_or(AuthenticatorDataError::Truncated)?;
            let (len, after) = after
                .split_first_chunk::<2>()
                .ok_or(AuthenticatorDataError::Truncated)?;
            let len = usize::from(u16::from_be_bytes(*len));
            if len > MAX_CREDENTIAL_ID_LEN {
                return Err(AuthenticatorDataError::CredentialIdTooLong);
            }
            if after.len() < len {
                return Err(AuthenticatorDataError::Truncated);
            }
            let (credential_id, after) = after.split_at(len);
            let (_, key_len) =
                cbor::decode_prefix(after).map_err(|_| AuthenticatorDataError::Truncated)?;
            let (credential_public_key, after) = after.split_at(key_len);
            rest = after;
            Some(AttestedCredentialData {
                aaguid: Aaguid(*aaguid),
                credential_id,
                credential_public_key,
            })
        } else {
            None
        };

        let extensions = if flags.extension_data() {
            let (value, len) =
                cbor::decode_prefix(rest).map_err(|_| AuthenticatorDataError::ExtensionData)?;
            if !matches!(value, Value::Map(ref entries) if !cbor::has_duplicate_keys(entries)) {
                return Err(AuthenticatorDataError::ExtensionData);
            }
            let (extensions, after) = rest.split_at(len);
            rest = after;
            Some(extensions)
        } else {
            None
        };

        if !rest.is_empty() {
            return Err(AuthenticatorDataError::TrailingBytes(rest.len()));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
            attested_credential_data,
            extensions,
        })
    }

    /// Encodes the authenticator data back to bytes (the inverse of [`Self::parse`]).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 128);
        out.extend_from_slice(self.rp_id_hash);
        out.push(self.flags.0);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(acd) = &self.attested_credential_data {
            out.extend_from_slice(&acd.aaguid.0);
            // Parsed data holds at most 1023 bytes; builders must respect the same limit.
            let len = u16::try_from(acd.credential_id.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(acd.credential_id);
            out.extend_from_slice(acd.credential_public_key);
        }
        if let Some(ext) = self.extensions {
            out.extend_from_slice(ext);
        }
        out
    }

    /// Checks shared by both ceremonies (L3 §7.1 steps 12-15, §7.2 steps 15-18): rpIdHash,
    /// UP (unless the caller runs a conditional create), UV when required, BS without BE.
    pub fn verify_common(
        &self,
        rp_id_hash: &[u8; 32],
        require_user_presence: bool,
        require_user_verification: bool,
    ) -> Result<(), AuthenticatorDataError> {
        if self.rp_id_hash != rp_id_hash {
            return Err(AuthenticatorDataError::RpIdMismatch);
        }
        if require_user_presence && !self.flags.user_present() {
            return Err(AuthenticatorDataError::UserPresenceRequired);
        }
        if require_user_verification && !self.flags.user_verified() {
            return Err(AuthenticatorDataError::UserVerificationRequired);
        }
        if self.flags.backup_state() && !self.flags.backup_eligible() {
            return Err(AuthenticatorDataError::BackupStateWithoutEligibility);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
