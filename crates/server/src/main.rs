//! The `passkeyd` command: see `passkeyd --help`.

use std::process::ExitCode;

use clap::Parser;
use passkeyd::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            passkeyd::cli::verify::run(&args, &mut stdout.lock(), &mut stderr.lock())
        }
    }
}
