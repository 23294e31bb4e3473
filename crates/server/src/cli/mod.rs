//! The command line.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use passkeyd_webauthn::UnixTime;

pub mod api_key;
pub mod doctor;
pub mod export;
pub mod import;
pub mod mds;
pub mod policy;
pub mod seed;
pub mod serve;
pub mod tenant;
pub mod trust_files;
pub mod verify;
pub mod webhooks;

use crate::config::{Config, DEFAULT_FILE};

/// The current time, for commands that verify something now.
pub fn now() -> UnixTime {
    crate::state::system_now()
}

/// passkeyd: a self-hosted passkey (WebAuthn) authentication server.
#[derive(Debug, Parser)]
#[command(name = "passkeyd", version, about)]
pub struct Cli {
    /// Configuration file (TOML); by default ./passkeyd.toml if it exists.
    #[arg(long, global = true, env = "PASSKEYD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The configuration file to read: the one named, or `passkeyd.toml` in the working
    /// directory if there is one.
    pub fn config_file(&self) -> Option<PathBuf> {
        self.config
            .clone()
            .or_else(|| Some(PathBuf::from(DEFAULT_FILE)).filter(|p| Path::new(p).is_file()))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage API keys (directly on the database).
    ApiKey {
        /// What to do.
        #[command(subcommand)]
        command: api_key::ApiKeyCommand,
    },
    /// Check the configuration, the database and (with --url) the running deployment, and say
    /// what would make passkeys fail, with a stable code per finding.
    Doctor(doctor::DoctorArgs),
    /// Write a tenant's users and credentials as JSON Lines (docs/export-format.md).
    Export(export::ExportArgs),
    /// Bring users and credentials into a tenant (passkeyd, Hanko or Kratos records).
    Import(import::ImportArgs),
    /// Manage the FIDO Metadata Service BLOB the server consults.
    Mds {
        /// What to do with it.
        #[command(subcommand)]
        command: mds::MdsCommand,
    },
    /// Create or update the database schema, then exit.
    Migrate,
    /// Manage tenants' Cedar policies (directly on the database).
    Policy {
        /// What to do.
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Fill a tenant with many made-up users and credentials (for scale benchmarks).
    Seed(seed::SeedArgs),
    /// Run the HTTP server.
    Serve,
    /// Manage tenants (directly on the database).
    Tenant {
        /// What to do.
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Check saved WebAuthn payloads offline and say exactly which check failed.
    Verify(verify::VerifyArgs),
    /// Webhook deliveries: the log and redeliveries (directly on the database).
    Webhooks {
        /// What to do.
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
    },
}

/// Runs a command that needs the configuration (everything but `verify` and `mds import`).
/// `shutdown` ends `serve`; messages for the user go to `out`, failures to `err`.
pub async fn run(
    command: Command,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    out: &mut impl Write,
    err: &mut impl Write,
) -> ExitCode {
    let result = match command {
        Command::Doctor(args) => return doctor::run(&args, &config, out, err).await,
        Command::Serve => serve::serve(config, shutdown, out).await,
        Command::Migrate => serve::migrate(&config, out).await,
        Command::Tenant { command } => tenant::run(command, &config, out).await,
        Command::ApiKey { command } => api_key::run(command, &config, out).await,
        Command::Policy { command } => policy::run(command, &config, out).await,
        Command::Seed(args) => seed::run(args, &config, out).await,
        Command::Webhooks { command } => webhooks::run(command, &config, out).await,
        Command::Export(args) => export::run(args, &config, out).await,
        Command::Import(args) => import::run(args, &config, out).await,
        Command::Mds { command } => mds::run_configured(&command, &config, out).await,
        Command::Verify(_) => Err("this command needs no server configuration".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Best effort: if stderr is gone there is nowhere left to report to.
            let _ = writeln!(err, "passkeyd: {message}");
            ExitCode::FAILURE
        }
    }
}
