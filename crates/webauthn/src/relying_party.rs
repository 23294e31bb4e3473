//! Who the relying party is: its RP ID and the origins it accepts.

use aws_lc_rs::digest;

/// A relying party's identity, as configured on the server (never taken from a request).
///
/// Origins are compared exactly as browsers serialise them (`https://example.com`,
/// `android:apk-key-hash:...`). A trailing `/` on a configured web origin is dropped, so
/// `https://example.com/` in configuration matches what browsers send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    id: String,
    id_hash: [u8; 32],
    origins: Vec<String>,
    allow_subdomains: bool,
    allow_cross_origin: bool,
    top_origins: Vec<String>,
}

impl RelyingParty {
    /// A relying party with RP ID `id` accepting exactly the given origins.
    pub fn new(
        id: impl Into<String>,
        origins: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let id = id.into();
        let id_hash = sha256(id.as_bytes());
        Self {
            id,
            id_hash,
            origins: origins.into_iter().map(normalise_configured).collect(),
            allow_subdomains: false,
            allow_cross_origin: false,
            top_origins: Vec::new(),
        }
    }

    /// Also accepts `https` origins whose host is a subdomain of the RP ID (dot-bounded, any port
    /// but no user info or path). Off by default.
    pub fn allow_subdomains(mut self, allow: bool) -> Self {
        self.allow_subdomains = allow;
        self
    }

    /// Accepts ceremonies run in a cross-origin iframe (`crossOrigin: true`), whose top-level
    /// origin must be one of `top_origins`. Off by default.
    pub fn allow_cross_origin(
        mut self,
        top_origins: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.allow_cross_origin = true;
        self.top_origins = top_origins.into_iter().map(normalise_configured).collect();
        self
    }

    /// The RP ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// SHA-256 of the RP ID, as authenticators put it in `rpIdHash`.
    pub fn id_hash(&self) -> &[u8; 32] {
        &self.id_hash
    }

    /// The configured origins.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Whether cross-origin (iframe) ceremonies are accepted.
    pub fn cross_origin_allowed(&self) -> bool {
        self.allow_cross_origin
    }

    /// Whether `origin` (as the client reported it) is one of ours.
    pub fn accepts_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
            || (self.allow_subdomains && is_https_subdomain(origin, &self.id))
    }

    /// Whether `origin` is an acceptable top-level origin for an embedded ceremony.
    pub fn accepts_top_origin(&self, origin: &str) -> bool {
        self.allow_cross_origin && self.top_origins.iter().any(|o| o == origin)
    }
}

fn normalise_configured(origin: impl Into<String>) -> String {
    let mut origin = origin.into();
    if (origin.starts_with("https://") || origin.starts_with("http://")) && origin.ends_with('/') {
        origin.pop();
    }
    origin
}

/// `https://<host>[:port]` where host is `rp_id` or ends with `.` + `rp_id`. Structural, so
/// `https://evil-example.com` does not match `example.com` and user info or paths never match.
fn is_https_subdomain(origin: &str, rp_id: &str) -> bool {
    let Some(authority) = origin.strip_prefix("https://") else {
        return false;
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return false,
        None => authority,
    };
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    valid_host
        && (host == rp_id
            || host
                .strip_suffix(rp_id)
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')))
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_origins_only_by_default() {
        let rp = RelyingParty::new("rp.example", ["https://rp.example/"]);
        assert!(rp.accepts_origin("https://rp.example"));
        for bad in [
            "http://rp.example",
            "https://rp.example:8443",
            "https://rp.example.evil.com",
            "https://evil.com/rp.example",
            "https://rp.example@evil.com",
            "https://RP.EXAMPLE.",
            "https://rp.example.",
            "null",
            "https://xn--rp-example-9db.com",
            "https://sub.rp.example",
        ] {
            assert!(!rp.accepts_origin(bad), "{bad}");
        }
    }

    #[test]
    fn subdomain_rule_is_dot_bounded() {
        let rp = RelyingParty::new("example.com", ["https://example.com"]).allow_subdomains(true);
        assert!(rp.accepts_origin("https://login.example.com"));
        assert!(rp.accepts_origin("https://a.b.example.com:8443"));
        for bad in [
            "https://evil-example.com",
            "http://login.example.com",
            "https://.example.com",
            "https://x@login.example.com",
            "https://login.example.com/path",
            "https://login.example.com:",
            "https://LOGIN.example.com",
            "https://example.com.evil.org",
        ] {
            assert!(!rp.accepts_origin(bad), "{bad}");
        }
    }

    #[test]
    fn top_origins_need_cross_origin_opt_in() {
        let rp = RelyingParty::new("example.org", ["https://example.org"]);
        assert!(!rp.accepts_top_origin("https://example.com"));
        let rp = rp.allow_cross_origin(["https://example.com/"]);
        assert!(rp.accepts_top_origin("https://example.com"));
        assert!(!rp.accepts_top_origin("https://evil.com"));
    }
}
