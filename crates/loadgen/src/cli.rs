//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use passkeyd_webauthn::CoseAlgorithm;

/// How long a run lasts when neither `--duration` nor `--count` is given.
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(20);

/// Full WebAuthn ceremonies over HTTP against a server speaking passkeyd's native API.
///
/// Example: `passkeyd-loadgen --url http://127.0.0.1:8080 --api-key sk_... --users 200
/// --concurrency 16 --duration 20s`.
#[derive(Debug, Parser)]
#[command(name = "passkeyd-loadgen", version)]
pub(crate) struct Args {
    /// Base URL of the server (the native routes are under `/webauthn/...`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) url: String,

    /// Secret API key, sent as `x-api-key` (peers that do not check keys ignore it).
    #[arg(
        long,
        env = "PASSKEYD_API_KEY",
        hide_env_values = true,
        default_value = ""
    )]
    pub(crate) api_key: String,

    /// The origin the software authenticator writes into `clientDataJSON`.
    #[arg(long, default_value = "http://localhost:8080")]
    pub(crate) origin: String,

    /// Users to register before the measured run; authentications cycle through them.
    #[arg(long, short = 'u', default_value_t = 200)]
    pub(crate) users: usize,

    /// Ceremonies in flight at once.
    #[arg(long, short = 'c', default_value_t = 16)]
    pub(crate) concurrency: usize,

    /// Length of the measured run (`20s`, `500ms`, `2m`, or seconds); default 20 s.
    #[arg(long, short = 'd', value_parser = parse_duration, conflicts_with = "count")]
    pub(crate) duration: Option<Duration>,

    /// Run this many ceremonies instead of running for a duration.
    #[arg(long, short = 'n')]
    pub(crate) count: Option<u64>,

    /// Unrecorded ceremonies before the measured run, for as long as this (`0s` for none).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub(crate) warmup: Duration,

    /// Which ceremonies the measured run makes.
    #[arg(long, value_enum, default_value_t = Ceremony::Authentication)]
    pub(crate) ceremony: Ceremony,

    /// With `--ceremony mixed`: the share of ceremonies that are registrations (0 to 1).
    #[arg(long, default_value_t = 0.1, value_parser = parse_share)]
    pub(crate) registration_share: f64,

    /// Credential algorithm, by COSE name (`ES256`, `EdDSA`, `ES384`, `ES512`, `PS256`, `RS256`,
    /// `ML-DSA-44`, ...).
    #[arg(long, short = 'a', default_value = "ES256", value_parser = parse_algorithm)]
    pub(crate) algorithm: CoseAlgorithm,

    /// Sign in without a user name (`{}`), as discoverable credentials and conditional UI do;
    /// by default the request names the user (`{"userName"}`).
    #[arg(long)]
    pub(crate) discoverable: bool,

    /// Prefix of the user names this run creates; default `loadgen-<random>-` so that runs
    /// against one server never collide.
    #[arg(long)]
    pub(crate) user_prefix: Option<String>,

    /// Tokio worker threads; default: the cores this process may run on (`taskset` counts).
    #[arg(long)]
    pub(crate) threads: Option<usize>,

    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub(crate) timeout: Duration,

    /// Process ID of the server, when it runs on this machine: its CPU time over the measured
    /// run is read from `/proc/<pid>/stat` and reported per ceremony.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,

    /// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
    #[arg(long, default_value_t = 100)]
    pub(crate) clk_tck: u64,

    /// A name for this run in the report (e.g. the server under test).
    #[arg(long, default_value = "")]
    pub(crate) label: String,

    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,

    /// Also write the JSON summary to this file.
    #[arg(long)]
    pub(crate) json_out: Option<PathBuf>,

    /// Exit 0 even when some ceremonies failed (by default: 1 if any failed, 2 if none succeeded
    /// or the run could not start).
    #[arg(long)]
    pub(crate) allow_errors: bool,

    /// Do no HTTP: time aws-lc-rs P-256 verification of distinct messages on this thread for
    /// `--duration` (default 20 s; a few seconds suffice) and print it.
    #[arg(long)]
    pub(crate) raw_verify: bool,
}

/// The ceremonies of the measured run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Ceremony {
    /// Sign-ins by the users registered first.
    Authentication,
    /// New users, each registering a new credential.
    Registration,
    /// Authentications with a share of registrations (`--registration-share`).
    Mixed,
}

/// The cores this process may run on.
pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(index) => text.split_at(index),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 20s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown unit `{other}` (ms, s or m)")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("`{text}` is not a share between 0 and 1")),
    }
}

fn parse_algorithm(text: &str) -> Result<CoseAlgorithm, String> {
    CoseAlgorithm::DEFAULT
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(text) || a.to_i64().to_string() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = CoseAlgorithm::DEFAULT.iter().map(|a| a.name()).collect();
            format!("unknown algorithm `{text}`; one of {}", names.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn algorithms() {
        assert_eq!(parse_algorithm("es256"), Ok(CoseAlgorithm::Es256));
        assert_eq!(parse_algorithm("ML-DSA-44"), Ok(CoseAlgorithm::MlDsa44));
        assert_eq!(parse_algorithm("-8"), Ok(CoseAlgorithm::EdDsa));
        assert!(parse_algorithm("RS1").is_err());
    }

    #[test]
    fn shares() {
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert!(parse_share("1.5").is_err());
    }

    #[test]
    fn command_line() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
