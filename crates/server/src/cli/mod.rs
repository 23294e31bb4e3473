//! The command line.

use clap::{Parser, Subcommand};

pub mod mds;
pub mod verify;

use passkeyd_webauthn::UnixTime;

/// The current time, for commands that verify something now.
pub fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// passkeyd: a self-hosted passkey (WebAuthn) authentication server.
#[derive(Debug, Parser)]
#[command(name = "passkeyd", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check saved WebAuthn payloads offline and say exactly which check failed.
    Verify(verify::VerifyArgs),
    /// Manage the FIDO Metadata Service BLOB the server consults.
    Mds {
        /// What to do with it.
        #[command(subcommand)]
        command: mds::MdsCommand,
    },
}
