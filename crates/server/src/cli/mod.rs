//! The command line.

use clap::{Parser, Subcommand};

pub mod verify;

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
}
