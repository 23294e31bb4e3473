use std::collections::BTreeMap;
use std::io::Write;

use super::*;

fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn error(file: Option<&Path>, vars: &[(&str, &str)]) -> String {
    Config::load(file, &env(vars)).unwrap_err().to_string()
}

const KEY: &str = "sk_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

#[test]
fn defaults_need_no_configuration() {
    let loaded = Config::load(None, &BTreeMap::new()).unwrap();
    let c = loaded.config;
    assert!(loaded.warnings.is_empty());
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("data"));
    assert_eq!(c.database_url.expose(), "sqlite://data/passkeyd.db");
    assert_eq!(c.rp_id, "localhost");
    assert_eq!(c.origins, ["http://localhost:8080"]);
    assert!(c.bootstrap_api_key.is_none());
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn file_overrides_defaults_and_env_overrides_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "listen = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/passkeyd\"\nrp_id = \"example.com\"\n\
         origins = [\"https://example.com\"]\nlog_format = \"json\"\n"
    )
    .unwrap();
    let from_file = Config::load(Some(file.path()), &BTreeMap::new())
        .unwrap()
        .config;
    assert_eq!(from_file.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(from_file.rp_id, "example.com");
    assert_eq!(from_file.log_format, LogFormat::Json);
    // The default database follows the configured data directory.
    assert_eq!(
        from_file.database_url.expose(),
        "sqlite:///var/lib/passkeyd/passkeyd.db"
    );

    let vars = env(&[
        ("PASSKEYD_LISTEN", "127.0.0.1:7000"),
        (
            "PASSKEYD_ORIGINS",
            "https://a.example.com, https://b.example.com,",
        ),
        ("PASSKEYD_DATABASE_URL", "sqlite://elsewhere.db"),
        ("PASSKEYD_BOOTSTRAP_API_KEY", KEY),
        ("HOME", "/root"),
    ]);
    let layered = Config::load(Some(file.path()), &vars).unwrap().config;
    assert_eq!(layered.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(
        layered.origins,
        ["https://a.example.com", "https://b.example.com"]
    );
    assert_eq!(layered.rp_id, "example.com", "kept from the file");
    assert_eq!(layered.database_url.expose(), "sqlite://elsewhere.db");
    assert_eq!(layered.bootstrap_api_key.unwrap().expose(), KEY);
}

#[test]
fn unknown_variables_are_warnings() {
    let loaded = Config::load(
        None,
        &env(&[
            ("PASSKEYD_LISTNE", "x"),
            ("PASSKEYD_CONFIG", "passkeyd.toml"),
            ("OTHER", "y"),
        ]),
    )
    .unwrap();
    assert_eq!(
        loaded.warnings,
        ["unknown environment variable PASSKEYD_LISTNE (ignored)"]
    );
}

#[test]
fn bad_values_name_their_source() {
    assert_eq!(
        error(None, &[("PASSKEYD_LISTEN", "nonsense")]),
        "PASSKEYD_LISTEN: invalid socket address"
    );
    assert!(error(None, &[("PASSKEYD_ORIGINS", "https://a.com/path")])
        .starts_with("PASSKEYD_ORIGINS: invalid origin"));
    assert_eq!(
        error(None, &[("PASSKEYD_ORIGINS", " , ")]),
        "PASSKEYD_ORIGINS: at least one origin is required"
    );
    assert!(error(None, &[("PASSKEYD_RP_ID", "https://a.com")]).starts_with("PASSKEYD_RP_ID: "));
    assert!(error(None, &[("PASSKEYD_DATABASE_URL", "mysql://x")])
        .starts_with("PASSKEYD_DATABASE_URL: unsupported database URL"));
    assert!(error(None, &[("PASSKEYD_BOOTSTRAP_API_KEY", "hunter2")])
        .starts_with("PASSKEYD_BOOTSTRAP_API_KEY: not a secret API key"));
    let publishable = KEY.replacen("sk_", "pk_", 1);
    assert!(error(None, &[("PASSKEYD_BOOTSTRAP_API_KEY", &publishable)])
        .starts_with("PASSKEYD_BOOTSTRAP_API_KEY: "));
    assert_eq!(
        error(None, &[("PASSKEYD_LOG_FORMAT", "xml")]),
        "PASSKEYD_LOG_FORMAT: expected json or text"
    );
}

#[test]
fn bad_files_are_errors() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "listne = \"127.0.0.1:1\"").unwrap();
    let message = error(Some(file.path()), &[]);
    assert!(message.contains("listne"), "{message}");
    assert!(message.starts_with(&file.path().display().to_string()));

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "origins = [\"https://a.com/\"]").unwrap();
    let message = error(Some(file.path()), &[]);
    assert!(
        message.starts_with(&format!(
            "{}: origins: invalid origin",
            file.path().display()
        )),
        "{message}"
    );

    let missing = error(Some(Path::new("/nonexistent/passkeyd.toml")), &[]);
    assert!(
        missing.starts_with("/nonexistent/passkeyd.toml: "),
        "{missing}"
    );
}

#[test]
fn secrets_do_not_print() {
    let config = Config::load(
        None,
        &env(&[
            ("PASSKEYD_BOOTSTRAP_API_KEY", KEY),
            (
                "PASSKEYD_DATABASE_URL",
                "postgres://passkeyd:s3cret@db:5432/passkeyd",
            ),
        ]),
    )
    .unwrap()
    .config;
    let debug = format!("{config:?}");
    assert!(!debug.contains(KEY) && !debug.contains("BBBB"), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert_eq!(
        config.database_url.to_string(),
        "postgres://passkeyd:***@db:5432/passkeyd"
    );
}

#[test]
fn the_example_file_loads_as_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let example = Config::load(Some(&path), &BTreeMap::new()).unwrap().config;
    let defaults = Config::load(None, &BTreeMap::new()).unwrap().config;
    assert_eq!(example.listen, defaults.listen);
    assert_eq!(example.rp_id, defaults.rp_id);
    assert_eq!(example.origins, defaults.origins);
    assert_eq!(example.rate_limits, defaults.rate_limits);
    assert_eq!(example.database_max_connections, 10);
}

#[test]
fn pool_size_and_master_key_are_checked() {
    let env = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
    for bad in ["0", "1001", "ten"] {
        let err = Config::load(None, &env("PASSKEYD_DATABASE_MAX_CONNECTIONS", bad)).unwrap_err();
        assert!(
            err.to_string()
                .contains("PASSKEYD_DATABASE_MAX_CONNECTIONS"),
            "{err}"
        );
    }
    let err = Config::load(None, &env("PASSKEYD_MASTER_KEY", "short")).unwrap_err();
    assert!(err.to_string().contains("PASSKEYD_MASTER_KEY"), "{err}");
    // The error never echoes the value.
    assert!(!err.to_string().contains("short"));
    let key = "A".repeat(43);
    let loaded = Config::load(None, &env("PASSKEYD_MASTER_KEY", &key))
        .unwrap()
        .config;
    assert!(loaded.master_key.is_some());
    assert!(
        !format!("{loaded:?}").contains(&key),
        "Debug must not print the key"
    );
}

#[test]
fn the_admin_key_is_off_by_default_checked_and_kept_hashed() {
    let defaults = Config::load(None, &BTreeMap::new()).unwrap().config;
    assert!(
        defaults.admin_key.is_none(),
        "no admin key means no admin API"
    );

    let key = "op-0123456789abcdefghijklmnopqrstuvwxyz";
    let loaded = Config::load(None, &env(&[("PASSKEYD_ADMIN_KEY", key)]))
        .unwrap()
        .config;
    let admin = loaded.admin_key.as_ref().unwrap();
    assert!(admin.matches(key));
    assert!(!admin.matches("op-0123456789abcdefghijklmnopqrstuvwxyZ"));
    assert!(!admin.matches(""));
    let debug = format!("{loaded:?}");
    assert!(!debug.contains(key), "{debug}");

    for bad in [
        "short",
        &"x".repeat(257),
        "has a space in it, which is not allowed here",
    ] {
        let err = error(None, &[("PASSKEYD_ADMIN_KEY", bad)]);
        assert!(err.starts_with("PASSKEYD_ADMIN_KEY: "), "{err}");
        assert!(!err.contains(bad), "the error must not echo the key: {err}");
    }

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "admin_key = \"{key}\"").unwrap();
    let from_file = Config::load(Some(file.path()), &BTreeMap::new())
        .unwrap()
        .config;
    assert!(from_file.admin_key.unwrap().matches(key));
    let mut short = tempfile::NamedTempFile::new().unwrap();
    writeln!(short, "admin_key = \"short\"").unwrap();
    let err = error(Some(short.path()), &[]);
    assert!(err.contains(": admin_key: "), "{err}");
}

#[test]
fn the_metrics_token_is_off_by_default_checked_and_kept_hashed() {
    let defaults = Config::load(None, &BTreeMap::new()).unwrap().config;
    assert!(
        defaults.metrics_token.is_none(),
        "no token means no /metrics"
    );

    let token = "metrics-0123456789abcdefghijklmnopqrstuvwxyz";
    let loaded = Config::load(None, &env(&[("PASSKEYD_METRICS_TOKEN", token)]))
        .unwrap()
        .config;
    let configured = loaded.metrics_token.as_ref().unwrap();
    assert!(configured.matches(token));
    assert!(!configured.matches("metrics-0123456789abcdefghijklmnopqrstuvwxyZ"));
    let debug = format!("{loaded:?}");
    assert!(!debug.contains(token), "{debug}");

    let err = error(None, &[("PASSKEYD_METRICS_TOKEN", "short")]);
    assert!(err.starts_with("PASSKEYD_METRICS_TOKEN: "), "{err}");

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "metrics_token = \"{token}\"").unwrap();
    let from_file = Config::load(Some(file.path()), &BTreeMap::new())
        .unwrap()
        .config;
    assert!(from_file.metrics_token.unwrap().matches(token));
}

#[test]
fn trusted_proxies_are_cidrs_or_addresses() {
    let defaults = Config::load(None, &BTreeMap::new()).unwrap().config;
    assert!(defaults.trusted_proxies.is_empty());
    assert!(!defaults.trust_forwarded_for);

    let loaded = Config::load(
        None,
        &env(&[(
            "PASSKEYD_TRUSTED_PROXIES",
            " 10.0.0.0/8, fd00::/8,192.0.2.7 ,",
        )]),
    )
    .unwrap()
    .config;
    let proxies: Vec<String> = loaded
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(proxies, ["10.0.0.0/8", "fd00::/8", "192.0.2.7/32"]);

    for bad in [
        "10.0.0.0/33",
        "10.0.0.1/8",
        "proxy.example.com",
        "10.0.0.0/8;",
    ] {
        let err = error(None, &[("PASSKEYD_TRUSTED_PROXIES", bad)]);
        assert!(
            err.starts_with("PASSKEYD_TRUSTED_PROXIES: "),
            "{bad}: {err}"
        );
    }

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "trusted_proxies = [\"172.16.0.0/12\"]").unwrap();
    let from_file = Config::load(Some(file.path()), &BTreeMap::new())
        .unwrap()
        .config;
    assert_eq!(from_file.trusted_proxies.len(), 1);
    let mut bad = tempfile::NamedTempFile::new().unwrap();
    writeln!(bad, "trusted_proxies = [\"nope\"]").unwrap();
    let err = error(Some(bad.path()), &[]);
    assert!(err.contains(": trusted_proxies: "), "{err}");
}
