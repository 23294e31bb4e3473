//! Origins and domains: which origins a tenant's ceremonies accept, Related Origin Requests
//! (WebAuthn L3 §5.11) and the app association files, and the public-suffix rules behind them.
//!
//! The public suffix list is the one compiled into the `psl` crate (ICANN and private
//! sections, as browsers use it); a passkeyd release carries the list of its build.
//!
//! - A tenant's ceremonies accept its own `origins`, its `related_origins` (the RP ID stays the
//!   tenant's; the browser let the related origin claim it after reading
//!   `https://{rpId}/.well-known/webauthn`) and one `android:apk-key-hash:` origin per signing
//!   certificate of its `android_apps` (the origin Android's Credential Manager reports for an
//!   app that `/.well-known/assetlinks.json` associates with the RP ID).
//! - Related origins count against the browsers' limit of [`MAX_LABELS`] distinct registrable
//!   labels (WebAuthn L3 §5.11.1): a label is the registrable domain (eTLD+1) without its
//!   public suffix, `example` for `https://shop.example.co.uk`. Browsers ignore origins past
//!   the fifth label, so a longer list is refused when it is set.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::settings::TenantSettings;

/// The fewest distinct registrable labels a browser must accept in `/.well-known/webauthn`,
/// and the most any browser does today (WebAuthn L3 §5.11.1).
pub const MAX_LABELS: usize = 5;

/// The prefix of an Android app's origin: the base64url (no padding) SHA-256 of its signing
/// certificate follows.
pub const APK_KEY_HASH_PREFIX: &str = "android:apk-key-hash:";

/// An Android app associated with the tenant's RP ID (`/.well-known/assetlinks.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidApp {
    /// The application ID, such as `com.example.app`.
    pub package_name: String,
    /// The SHA-256 fingerprints of its signing certificates, as `keytool` and the Play
    /// Console print them: 32 upper-case hex bytes separated by colons (`AB:CD:...`).
    pub sha256_cert_fingerprints: Vec<String>,
}

/// A web origin, parsed: `scheme://host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebOrigin {
    /// `https` or `http`.
    pub scheme: String,
    /// The host, lowercase.
    pub host: String,
    /// The port, when the origin names one.
    pub port: Option<u16>,
}

impl WebOrigin {
    /// Parses `scheme://host[:port]` with nothing after the authority; `None` for anything
    /// else (native origins, paths, user info, bracketed IPv6 literals).
    pub fn parse(origin: &str) -> Option<Self> {
        let (scheme, authority) = origin.split_once("://")?;
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
                (host, Some(port))
            }
            None => (authority, None),
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && !host.starts_with('.')
            && !host.ends_with('.')
            && !host.contains("..")
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        valid_host.then(|| Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// Whether the host is `localhost` or a name under it, which browsers treat as a secure
    /// context over plain HTTP.
    pub fn is_localhost(&self) -> bool {
        is_localhost(&self.host)
    }
}

/// Whether `host` is `localhost` or under it.
pub fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// Whether `host` is an IP address literal, which can never be an RP ID.
pub fn is_ip_address(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// Whether `name` is itself a public suffix (`com`, `co.uk`, `github.io`), so no one can
/// register it and a browser refuses it as an RP ID. `localhost` is not: browsers accept it.
pub fn is_public_suffix(name: &str) -> bool {
    if is_localhost(name) {
        return false;
    }
    psl::suffix_str(name) == Some(name)
}

/// HTML's "is a registrable domain suffix of or is equal to": whether a page on `host` may
/// claim `rp_id` (WebAuthn L3 §5.1.3 step 7).
pub fn is_registrable_suffix(rp_id: &str, host: &str) -> bool {
    if host == rp_id {
        return !is_public_suffix(rp_id) || is_localhost(rp_id);
    }
    if is_ip_address(host) || is_ip_address(rp_id) || is_public_suffix(rp_id) {
        return false;
    }
    host.strip_suffix(rp_id)
        .is_some_and(|rest| rest.ends_with('.'))
}

/// The registrable label of `host`: its registrable domain without the public suffix
/// (`example` for `shop.example.co.uk`); `None` for a host that has no registrable domain (a
/// public suffix, `localhost`, an IP address).
pub fn registrable_label(host: &str) -> Option<&str> {
    if is_ip_address(host) {
        return None;
    }
    let domain = psl::domain_str(host)?;
    let suffix = psl::suffix_str(domain)?;
    let label = domain.strip_suffix(suffix)?.strip_suffix('.')?;
    Some(label).filter(|l| !l.is_empty())
}

/// The distinct registrable labels of `origins`, in order of first appearance (the order in
/// which browsers count them). Origins without one are not counted.
pub fn labels(origins: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for origin in origins {
        let Some(parsed) = WebOrigin::parse(origin) else {
            continue;
        };
        if let Some(label) = registrable_label(&parsed.host) {
            if !seen.iter().any(|s| s == label) {
                seen.push(label.to_owned());
            }
        }
    }
    seen
}

/// A SHA-256 certificate fingerprint in the form `AA:BB:...` (32 upper-case hex bytes
/// separated by colons), as bytes.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut parts = text.split(':');
    for byte in &mut out {
        let part = parts.next()?;
        let ok = part.len() == 2
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if !ok {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The origin Android reports for an app signed with the certificate of `fingerprint`:
/// `android:apk-key-hash:` and the fingerprint's bytes in base64url without padding.
pub fn apk_key_hash_origin(fingerprint: &str) -> Option<String> {
    parse_fingerprint(fingerprint)
        .map(|bytes| format!("{APK_KEY_HASH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Whether `name` is an Android application ID: two or more dot-separated segments, each a
/// letter followed by letters, digits and underscores.
pub fn is_android_package(name: &str) -> bool {
    let segments: Vec<&str> = name.split('.').collect();
    name.len() <= 255
        && segments.len() >= 2
        && segments.iter().all(|s| {
            let mut bytes = s.bytes();
            bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// Whether `id` is an Apple app identifier `TEAMID.bundle.id`: a ten-character team ID of
/// upper-case letters and digits, a dot, and a bundle ID of letters, digits, `-` and `.`.
pub fn is_apple_app_id(id: &str) -> bool {
    let Some((team, bundle)) = id.split_once('.') else {
        return false;
    };
    team.len() == 10
        && team
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && !bundle.is_empty()
        && bundle.len() <= 155
        && !bundle.starts_with('.')
        && !bundle.ends_with('.')
        && bundle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Checks a related origin: `https://host[:port]` (`http` only for localhost), not an IP
/// address.
pub fn check_related_origin(origin: &str) -> Result<WebOrigin, &'static str> {
    let parsed = WebOrigin::parse(origin).ok_or(
        "related_origins: each must be an origin, scheme://host[:port] with a lowercase host \
         and no path",
    )?;
    if parsed.scheme != "https" && !parsed.is_localhost() {
        return Err("related_origins: each must be https (http only for localhost)");
    }
    if is_ip_address(&parsed.host) {
        return Err("related_origins: an IP address cannot use WebAuthn");
    }
    Ok(parsed)
}

/// The checks of the related-origin and app-association settings, for
/// [`TenantSettings::check`].
pub fn check_settings(settings: &TenantSettings) -> Result<(), &'static str> {
    for origin in &settings.related_origins {
        check_related_origin(origin)?;
    }
    if labels(&settings.related_origins).len() > MAX_LABELS {
        return Err(
            "related_origins: more than 5 distinct registrable labels (browsers ignore the \
             origins past the fifth, WebAuthn L3 §5.11.1)",
        );
    }
    for app in &settings.android_apps {
        if !is_android_package(&app.package_name) {
            return Err(
                "android_apps: package_name must be an application ID such as com.example.app",
            );
        }
        if app.sha256_cert_fingerprints.is_empty() {
            return Err("android_apps: each app needs at least one sha256_cert_fingerprints entry");
        }
        if app
            .sha256_cert_fingerprints
            .iter()
            .any(|f| parse_fingerprint(f).is_none())
        {
            return Err(
                "android_apps: sha256_cert_fingerprints must be SHA-256 fingerprints as 32 \
                 upper-case hex bytes separated by colons (AB:CD:...)",
            );
        }
    }
    if settings.apple_app_ids.iter().any(|id| !is_apple_app_id(id)) {
        return Err("apple_app_ids: each must be TEAMID.bundle.id (a 10-character team ID)");
    }
    Ok(())
}

/// The origins whose ceremonies the tenant accepts: its own `origins`, then its
/// `related_origins`, then the `android:apk-key-hash:` origins of its `android_apps`, without
/// repeats.
pub fn accepted(origins: &[String], settings: &TenantSettings) -> Vec<String> {
    let apps = settings
        .android_apps
        .iter()
        .flat_map(|app| &app.sha256_cert_fingerprints)
        .filter_map(|f| apk_key_hash_origin(f));
    let mut all: Vec<String> = Vec::new();
    for origin in origins
        .iter()
        .chain(&settings.related_origins)
        .cloned()
        .chain(apps)
    {
        if !all.contains(&origin) {
            all.push(origin);
        }
    }
    all
}

/// Whether a browser page on `origin` may call the tenant's public routes (the
/// publishable-key `Origin` check and CORS): one of its own origins or related origins.
pub fn web_origin_allowed(origins: &[String], settings: &TenantSettings, origin: &str) -> bool {
    origins.iter().any(|o| o == origin) || settings.related_origins.iter().any(|o| o == origin)
}

/// The relations `/.well-known/assetlinks.json` grants each app: `get_login_creds` shares
/// sign-in credentials, and Android's Credential Manager also requires `handle_all_urls` for
/// passkeys (the domain's proof that it owns the app). It makes the app eligible for App Links
/// only if the app itself declares verified intent filters.
pub const ASSET_LINK_RELATIONS: [&str; 2] = [
    "delegate_permission/common.handle_all_urls",
    "delegate_permission/common.get_login_creds",
];

/// What a host's association files say: the related origins and apps of every tenant whose
/// RP ID is that host, without repeats, in the tenants' order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Association {
    /// `related_origins`.
    pub origins: Vec<String>,
    /// `android_apps`, one entry per package (fingerprints merged).
    pub android_apps: Vec<AndroidApp>,
    /// `apple_app_ids`.
    pub apple_app_ids: Vec<String>,
}

impl Association {
    /// The union of the settings' related origins and apps.
    pub fn of<'a>(settings: impl IntoIterator<Item = &'a TenantSettings>) -> Self {
        let mut out = Self::default();
        for settings in settings {
            for origin in &settings.related_origins {
                if !out.origins.contains(origin) {
                    out.origins.push(origin.clone());
                }
            }
            for app in &settings.android_apps {
                let entry = match out
                    .android_apps
                    .iter_mut()
                    .position(|a| a.package_name == app.package_name)
                {
                    Some(i) => &mut out.android_apps[i],
                    None => {
                        out.android_apps.push(AndroidApp {
                            package_name: app.package_name.clone(),
                            sha256_cert_fingerprints: Vec::new(),
                        });
                        let last = out.android_apps.len() - 1;
                        &mut out.android_apps[last]
                    }
                };
                for fingerprint in &app.sha256_cert_fingerprints {
                    if !entry.sha256_cert_fingerprints.contains(fingerprint) {
                        entry.sha256_cert_fingerprints.push(fingerprint.clone());
                    }
                }
            }
            for id in &settings.apple_app_ids {
                if !out.apple_app_ids.contains(id) {
                    out.apple_app_ids.push(id.clone());
                }
            }
        }
        out
    }

    /// `/.well-known/webauthn` (WebAuthn L3 §5.11.1).
    pub fn webauthn(&self) -> RelatedOrigins {
        RelatedOrigins {
            origins: self.origins.clone(),
        }
    }

    /// `/.well-known/assetlinks.json` (Digital Asset Links): one statement per app.
    pub fn assetlinks(&self) -> AssetLinks {
        AssetLinks(
            self.android_apps
                .iter()
                .map(|app| AssetLinkStatement {
                    relation: ASSET_LINK_RELATIONS.map(str::to_owned).to_vec(),
                    target: AssetLinkTarget {
                        namespace: "android_app".to_owned(),
                        package_name: app.package_name.clone(),
                        sha256_cert_fingerprints: app.sha256_cert_fingerprints.clone(),
                    },
                })
                .collect(),
        )
    }

    /// `/.well-known/apple-app-site-association` (`webcredentials` only).
    pub fn apple_app_site_association(&self) -> AppleAppSiteAssociation {
        AppleAppSiteAssociation {
            webcredentials: AppleWebCredentials {
                apps: self.apple_app_ids.clone(),
            },
        }
    }
}

/// `/.well-known/webauthn`: the origins that may use the RP ID (WebAuthn L3 §5.11.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelatedOrigins {
    /// The related origins (`related_origins` of the tenants on this RP ID).
    #[schema(example = json!(["https://shop.example.co.uk"]))]
    pub origins: Vec<String>,
}

/// `/.well-known/assetlinks.json`: Digital Asset Links statements, one per Android app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssetLinks(pub Vec<AssetLinkStatement>);

/// One Digital Asset Links statement: the site delegates sign-in credentials to an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssetLinkStatement {
    /// [`ASSET_LINK_RELATIONS`].
    pub relation: Vec<String>,
    /// The app.
    pub target: AssetLinkTarget,
}

/// The app a statement is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssetLinkTarget {
    /// Always `android_app`.
    pub namespace: String,
    /// The application ID.
    pub package_name: String,
    /// Its signing certificates' SHA-256 fingerprints (`AB:CD:...`).
    pub sha256_cert_fingerprints: Vec<String>,
}

/// `/.well-known/apple-app-site-association`, the `webcredentials` service only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppleAppSiteAssociation {
    /// The apps sharing the domain's credentials.
    pub webcredentials: AppleWebCredentials,
}

/// The `webcredentials` member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppleWebCredentials {
    /// `TEAMID.bundle.id` of each app.
    #[schema(example = json!(["ABCDE12345.com.example.app"]))]
    pub apps: Vec<String>,
}

/// A request's host as a tenant's RP ID would be written: lowercase, without port or trailing
/// dot; `None` when `authority` is not a host.
pub fn host_of(authority: &str) -> Option<String> {
    let authority: axum::http::uri::Authority = authority.parse().ok()?;
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests;
