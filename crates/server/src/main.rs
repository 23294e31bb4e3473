//! The `passkeyd` command: see `passkeyd --help`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use passkeyd::cli::{Cli, Command};
use passkeyd::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Unlocked handles: holding the stderr lock here would block every logging worker thread.
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let file = cli.config_file();
    let command = match cli.command {
        Command::Verify(args) => return passkeyd::cli::verify::run(&args, &mut out, &mut err),
        Command::Mds { command } if command.needs_no_config() => {
            return passkeyd::cli::mds::run(&command, passkeyd::cli::now(), &mut out, &mut err)
        }
        other => other,
    };
    // The only place the process environment is read.
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("PASSKEYD_"))
        .collect();
    let loaded = match Config::load(file.as_deref(), &env) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("passkeyd: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = std::env::var("RUST_LOG").ok();
    passkeyd::telemetry::init(loaded.config.log_format, filter.as_deref());
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("passkeyd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = passkeyd::cli::run(
        command,
        loaded.config,
        passkeyd::cli::serve::shutdown_signal(),
        &mut out,
        &mut err,
    );
    runtime.block_on(run)
}
