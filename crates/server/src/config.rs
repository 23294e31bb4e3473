//! The typed configuration: defaults, then an optional TOML file, then `PASSKEYD_*` environment
//! variables, each layer overriding the one before.
//!
//! Only `main.rs` reads the process environment; it hands the variables to [`Config::load`] as a
//! map, so every rule here is testable without touching the real environment.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{digest, SHA256};
use ipnet::IpNet;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::api_keys::{ApiKeyKind, ApiKeySecret};
use crate::rate_limit::RateLimitConfig;
use crate::tenant::{check_origin, check_rp_id};
use crate::tokens::MasterKey;

mod mds;
pub use mds::MdsConfig;

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_FILE: &str = "passkeyd.toml";

/// `PASSKEYD_*` variables that are read elsewhere (by clap or by the tests) and must not be
/// reported as unknown.
const OTHER_KNOWN_VARS: [&str; 2] = ["PASSKEYD_CONFIG", "PASSKEYD_TEST_DATABASE_URL"];

/// The server's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and other state; created if missing.
    pub data_dir: PathBuf,
    /// Where the store lives (`sqlite://...`).
    pub database_url: DatabaseUrl,
    /// RP ID of the `default` tenant created at first start.
    pub rp_id: String,
    /// Allowed origins of the `default` tenant created at first start.
    pub origins: Vec<String>,
    /// A secret API key to install for the `default` tenant at start (scripted set-ups).
    pub bootstrap_api_key: Option<ApiKeySecret>,
    /// How logs are written.
    pub log_format: LogFormat,
    /// The key sealing secrets in the database (`PASSKEYD_MASTER_KEY`); when absent, a key
    /// file in the data directory is used, created at first start on SQLite only (PostgreSQL
    /// nodes must share one key: see [`crate::bootstrap::master_key`]).
    pub master_key: Option<MasterKey>,
    /// Request-rate limits (`[rate_limits]` in the file).
    pub rate_limits: RateLimitConfig,
    /// The most database connections this node opens (PostgreSQL; SQLite uses it too).
    pub database_max_connections: u32,
    /// Whether the direct peer is a proxy that appends the client's address to
    /// `X-Forwarded-For`: exactly one trusted hop, whose entry (the rightmost) is the client.
    /// Only behind such a proxy; otherwise clients could pick their own rate-limit bucket.
    /// [`Config::trusted_proxies`], when set, decides instead.
    pub trust_forwarded_for: bool,
    /// The proxies (`PASSKEYD_TRUSTED_PROXIES`, CIDRs) whose `X-Forwarded-For` entries are
    /// believed: when the direct peer is one of them, the client is the rightmost entry that is
    /// not (see `routes::ClientIp`).
    pub trusted_proxies: Vec<IpNet>,
    /// The operator key of the `/admin` API (`PASSKEYD_ADMIN_KEY`); without one the admin API
    /// is off (404), never open.
    pub admin_key: Option<AdminKey>,
    /// The bearer token `/metrics` requires (`PASSKEYD_METRICS_TOKEN`); without one `/metrics`
    /// is off (404): its labels name every tenant.
    pub metrics_token: Option<MetricsToken>,
    /// The webhook delivery worker's timeouts, lease and retries (`[webhooks]` in the file).
    pub webhooks: crate::service::webhooks::WebhookConfig,
    /// The FIDO Metadata Service refresh (`[mds]` in the file).
    pub mds: MdsConfig,
}

impl crate::store::Location for Config {
    fn database_url(&self) -> &str {
        self.database_url.expose()
    }

    fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn max_connections(&self) -> u32 {
        self.database_max_connections
    }
}

impl Config {
    /// Where the master key file lives when `PASSKEYD_MASTER_KEY` is not set.
    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
}

impl DatabaseUrl {
    /// Whether this is a PostgreSQL database, which nodes on other hosts may share.
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    #[default]
    Text,
}

/// A database URL whose `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Checks the scheme; the rest is checked by the driver when connecting.
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if known.iter().any(|scheme| url.starts_with(scheme)) {
            Ok(Self(url.to_owned()))
        } else {
            Err("unsupported database URL (sqlite://PATH or postgres://...)")
        }
    }

    /// The full URL, password included: pass it to the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // scheme://user:password@host/... -> scheme://user:***@host/...
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return f.write_str(&self.0);
        };
        match rest.split_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => write!(f, "{scheme}://{user}:***@{host}"),
                None => f.write_str(&self.0),
            },
            None => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The operator key of the `/admin` API. Only its SHA-256 is kept in memory, and a presented
/// key is compared with it in constant time; `Debug` prints `***`.
#[derive(Clone)]
pub struct AdminKey([u8; 32]);

impl AdminKey {
    /// The shortest key accepted, in characters.
    pub const MIN_LEN: usize = 32;
    /// The longest key accepted, in characters.
    pub const MAX_LEN: usize = 256;

    /// Checks the key's shape (32 to 256 visible ASCII characters, so it is long enough to
    /// be random and fits a header) and keeps its hash.
    pub fn new(key: &str) -> Result<Self, &'static str> {
        let visible = key.bytes().all(|b| b.is_ascii_graphic());
        if !visible || !(Self::MIN_LEN..=Self::MAX_LEN).contains(&key.len()) {
            return Err(
                "expected 32 to 256 visible ASCII characters, e.g. 32 random bytes as \
                        base64 (openssl rand -base64 32)",
            );
        }
        Ok(Self(Self::hash(key)))
    }

    /// Whether `presented` is the key, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(Self::hash(presented).ct_eq(&self.0))
    }

    fn hash(key: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
        out
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminKey(***)")
    }
}

/// The bearer token of `/metrics`. Kept and compared as an [`AdminKey`] is: only its SHA-256 in
/// memory, compared in constant time; `Debug` prints `***`.
#[derive(Clone)]
pub struct MetricsToken(AdminKey);

impl MetricsToken {
    /// Checks the token's shape (as [`AdminKey::new`] does) and keeps its hash.
    pub fn new(token: &str) -> Result<Self, &'static str> {
        AdminKey::new(token).map(Self)
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.matches(presented)
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(***)")
    }
}

/// A loaded configuration and the warnings to log once logging is set up.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Problems that do not stop the server, such as unknown `PASSKEYD_*` variables.
    pub warnings: Vec<String>,
}

/// Why the configuration cannot be used. The message names the variable or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is not allowed.
    #[error("{key}: {reason}")]
    Invalid {
        /// The variable or `file: field` at fault.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configuration file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for this configuration.
    #[error("{}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        source: toml::de::Error,
    },
}

/// The file layer: every field optional, unknown fields refused (a typo is an error).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    rp_id: Option<String>,
    origins: Option<Vec<String>>,
    bootstrap_api_key: Option<String>,
    log_format: Option<LogFormat>,
    #[serde(default)]
    rate_limits: RateLimitConfig,
    trust_forwarded_for: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    database_max_connections: Option<u32>,
    admin_key: Option<String>,
    metrics_token: Option<String>,
    #[serde(default)]
    webhooks: crate::service::webhooks::WebhookConfig,
    #[serde(default)]
    mds: mds::FileMds,
}

impl Config {
    /// Builds the configuration from the defaults, the TOML file `file` (if any) and the
    /// `PASSKEYD_*` variables in `env` (other variables in the map are ignored).
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Loaded, ConfigError> {
        let mut layer = match file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let file_key = |field: &str| match file {
            Some(path) => format!("{}: {field}", path.display()),
            None => field.to_owned(),
        };
        let mut keys: BTreeMap<&str, String> = [
            "listen",
            "data_dir",
            "database_url",
            "rp_id",
            "origins",
            "bootstrap_api_key",
            "admin_key",
            "metrics_token",
            "trusted_proxies",
            "mds.url",
            "mds.root",
            "mds.refresh",
        ]
        .into_iter()
        .map(|field| (field, file_key(field)))
        .collect();

        let mut warnings = Vec::new();
        let mut master_key = None;
        for (name, value) in env.iter().filter(|(name, _)| name.starts_with("PASSKEYD_")) {
            let invalid = |reason| ConfigError::Invalid {
                key: name.clone(),
                reason,
            };
            let field = match name.as_str() {
                "PASSKEYD_LISTEN" => {
                    layer.listen = Some(
                        value
                            .parse()
                            .map_err(|_| invalid("invalid socket address"))?,
                    );
                    "listen"
                }
                "PASSKEYD_DATA_DIR" => {
                    if value.is_empty() {
                        return Err(invalid("must not be empty"));
                    }
                    layer.data_dir = Some(PathBuf::from(value));
                    "data_dir"
                }
                "PASSKEYD_DATABASE_URL" => {
                    layer.database_url = Some(value.clone());
                    "database_url"
                }
                "PASSKEYD_RP_ID" => {
                    layer.rp_id = Some(value.clone());
                    "rp_id"
                }
                "PASSKEYD_ORIGINS" => {
                    let origins = value
                        .split(',')
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                        .map(str::to_owned)
                        .collect();
                    layer.origins = Some(origins);
                    "origins"
                }
                "PASSKEYD_BOOTSTRAP_API_KEY" => {
                    layer.bootstrap_api_key = Some(value.clone());
                    "bootstrap_api_key"
                }
                "PASSKEYD_ADMIN_KEY" => {
                    layer.admin_key = Some(value.clone());
                    "admin_key"
                }
                "PASSKEYD_METRICS_TOKEN" => {
                    layer.metrics_token = Some(value.clone());
                    "metrics_token"
                }
                "PASSKEYD_MASTER_KEY" => {
                    master_key = Some(MasterKey::from_base64url(value).map_err(|_| {
                        invalid("expected 32 random bytes as base64url without padding")
                    })?);
                    continue;
                }
                "PASSKEYD_DATABASE_MAX_CONNECTIONS" => {
                    layer.database_max_connections = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| (1..=1000).contains(n))
                            .ok_or_else(|| invalid("expected a number from 1 to 1000"))?,
                    );
                    "database_max_connections"
                }
                "PASSKEYD_TRUST_FORWARDED_FOR" => {
                    layer.trust_forwarded_for = Some(match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(invalid("expected true or false")),
                    });
                    "trust_forwarded_for"
                }
                "PASSKEYD_TRUSTED_PROXIES" => {
                    let proxies = value
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect();
                    layer.trusted_proxies = Some(proxies);
                    "trusted_proxies"
                }
                "PASSKEYD_LOG_FORMAT" => {
                    layer.log_format = Some(match value.as_str() {
                        "json" => LogFormat::Json,
                        "text" => LogFormat::Text,
                        _ => return Err(invalid("expected json or text")),
                    });
                    "log_format"
                }
                "PASSKEYD_MDS_URL" => {
                    layer.mds.url = Some(value.clone()).filter(|v| !v.is_empty());
                    "mds.url"
                }
                "PASSKEYD_MDS_ROOT" => {
                    let roots = value.split(',').map(str::trim).filter(|r| !r.is_empty());
                    layer.mds.root = Some(roots.map(PathBuf::from).collect());
                    "mds.root"
                }
                "PASSKEYD_MDS_REFRESH" => {
                    layer.mds.refresh = Some(
                        value
                            .parse()
                            .map_err(|_| invalid("expected a number of seconds"))?,
                    );
                    "mds.refresh"
                }
                other if OTHER_KNOWN_VARS.contains(&other) => continue,
                other => {
                    warnings.push(format!("unknown environment variable {other} (ignored)"));
                    continue;
                }
            };
            keys.insert(field, name.clone());
        }

        let key = |field: &str| keys.get(field).cloned().unwrap_or_else(|| field.to_owned());
        let invalid = |field: &str, reason| ConfigError::Invalid {
            key: key(field),
            reason,
        };

        let data_dir = layer.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let database_url = match layer.database_url {
            Some(url) => DatabaseUrl::parse(&url).map_err(|e| invalid("database_url", e))?,
            None => DatabaseUrl(format!(
                "sqlite://{}",
                data_dir.join("passkeyd.db").display()
            )),
        };
        let rp_id = layer.rp_id.unwrap_or_else(|| "localhost".to_owned());
        check_rp_id(&rp_id).map_err(|e| invalid("rp_id", e))?;
        let origins = layer
            .origins
            .unwrap_or_else(|| vec!["http://localhost:8080".to_owned()]);
        if origins.is_empty() {
            return Err(invalid("origins", "at least one origin is required"));
        }
        for origin in &origins {
            check_origin(origin).map_err(|e| invalid("origins", e))?;
        }
        let bootstrap_api_key = match layer.bootstrap_api_key {
            Some(key) => match ApiKeySecret::parse(&key) {
                Ok(key) if key.kind() == ApiKeyKind::Secret => Some(key),
                _ => {
                    return Err(invalid(
                        "bootstrap_api_key",
                        "not a secret API key (sk_ followed by 12 and 43 base64url characters \
                         separated by _)",
                    ))
                }
            },
            None => None,
        };

        let admin_key = match layer.admin_key {
            Some(key) => Some(AdminKey::new(&key).map_err(|e| invalid("admin_key", e))?),
            None => None,
        };

        let trusted_proxies = layer
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|net| parse_proxy(net))
            .collect::<Option<Vec<IpNet>>>()
            .ok_or_else(|| {
                invalid(
                    "trusted_proxies",
                    "expected comma-separated addresses or CIDRs without host bits, such as \
                     10.0.0.0/8 or fd00::/8",
                )
            })?;

        let metrics_token = match layer.metrics_token {
            Some(token) => {
                Some(MetricsToken::new(&token).map_err(|e| invalid("metrics_token", e))?)
            }
            None => None,
        };

        let mds = layer
            .mds
            .build()
            .map_err(|(field, reason)| invalid(&format!("mds.{field}"), reason))?;

        Ok(Loaded {
            config: Config {
                listen: layer
                    .listen
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
                data_dir,
                database_url,
                rp_id,
                origins,
                bootstrap_api_key,
                log_format: layer.log_format.unwrap_or_default(),
                master_key,
                rate_limits: layer.rate_limits,
                trust_forwarded_for: layer.trust_forwarded_for.unwrap_or(false),
                trusted_proxies,
                database_max_connections: match layer.database_max_connections {
                    Some(n) if !(1..=1000).contains(&n) => {
                        return Err(invalid(
                            "database_max_connections",
                            "expected a number from 1 to 1000",
                        ))
                    }
                    Some(n) => n,
                    None => 10,
                },
                admin_key,
                metrics_token,
                webhooks: {
                    layer.webhooks.check().map_err(|e| invalid("webhooks", e))?;
                    layer.webhooks
                },
                mds,
            },
            warnings,
        })
    }
}

/// A trusted proxy: a CIDR (`10.0.0.0/8`), or one address (`10.0.0.1`, as `/32` or `/128`).
/// Host bits set under the prefix are refused, since they usually mean a typo.
fn parse_proxy(text: &str) -> Option<IpNet> {
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Some(IpNet::from(ip));
    }
    let net: IpNet = text.parse().ok()?;
    (net.trunc() == net).then_some(net)
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Toml {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
