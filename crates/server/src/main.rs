//! The `passkeyd` command: see `passkeyd --help`.

use std::process::ExitCode;

use clap::Parser;
use passkeyd::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let (mut out, mut err) = (stdout.lock(), stderr.lock());
    match cli.command {
        Command::Verify(args) => passkeyd::cli::verify::run(&args, &mut out, &mut err),
        Command::Mds { command } => {
            passkeyd::cli::mds::run(&command, passkeyd::cli::now(), &mut out, &mut err)
        }
    }
}
