//! Tenant identity and the checks on what a tenant is configured with.
//!
//! A tenant is one relying party: its RP ID, the origins allowed to run ceremonies for it, and
//! everything stored under it. Every query on tenant data names the tenant explicitly; there is
//! no ambient "current tenant".

use std::fmt;

use serde::{Deserialize, Serialize};

/// The ID of the tenant created at first start.
pub const DEFAULT_TENANT: &str = "default";

/// A tenant's ID: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`.
///
/// Kept to a small alphabet because it appears in headers (`X-Tenant-ID`), URLs and logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant ID, refusing anything outside the allowed alphabet or length.
    pub fn parse(id: &str) -> Result<Self, InvalidTenantId> {
        let ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidTenantId)
        }
    }

    /// The `default` tenant's ID.
    pub fn default_tenant() -> Self {
        Self(DEFAULT_TENANT.to_owned())
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::parse(&id)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

/// A tenant ID outside the allowed alphabet or length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant ID (1 to 64 characters of a-z, 0-9, '-' and '_')")]
pub struct InvalidTenantId;

/// Checks an RP ID: a non-empty lowercase host name, with no scheme, port or path.
///
/// Whether it is a registrable suffix of each origin is checked by the verifier at ceremony
/// time; this only refuses values that can never be an RP ID.
pub fn check_rp_id(rp_id: &str) -> Result<(), &'static str> {
    let ok = !rp_id.is_empty()
        && rp_id.len() <= 253
        && !rp_id.starts_with('.')
        && !rp_id.ends_with('.')
        && rp_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err("invalid RP ID (a lowercase host name such as example.com)")
    }
}

/// Checks an allowed origin: `https://host[:port]` or `http://host[:port]` with nothing after
/// the authority, or a native app origin such as `android:apk-key-hash:...`.
///
/// Origins are compared exactly at ceremony time, so a trailing slash or path would silently
/// never match; refusing them here turns that into a start-up error.
pub fn check_origin(origin: &str) -> Result<(), &'static str> {
    const BAD: &str =
        "invalid origin (scheme://host[:port] with no path, or android:apk-key-hash:...)";
    if origin.is_empty()
        || origin
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(BAD);
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match authority {
        Some(authority) => {
            if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
                Err(BAD)
            } else {
                Ok(())
            }
        }
        None if origin.starts_with("android:apk-key-hash:") && origin.len() > 21 => Ok(()),
        None => Err(BAD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(TenantId::parse("default").is_ok());
        assert!(TenantId::parse("acme-prod_2").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("a b").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn origins() {
        assert!(check_origin("http://localhost:8080").is_ok());
        assert!(check_origin("https://example.com").is_ok());
        assert!(check_origin("android:apk-key-hash:abc").is_ok());
        assert!(check_origin("https://example.com/").is_err());
        assert!(check_origin("example.com").is_err());
        assert!(check_origin("https://").is_err());
        assert!(check_origin("https://a.com ").is_err());
    }

    #[test]
    fn rp_ids() {
        assert!(check_rp_id("localhost").is_ok());
        assert!(check_rp_id("login.example.com").is_ok());
        assert!(check_rp_id("https://example.com").is_err());
        assert!(check_rp_id("example.com:443").is_err());
        assert!(check_rp_id("").is_err());
    }
}
