//! `passkeyd-loadgen`: full WebAuthn ceremonies over HTTP against any server that speaks
//! passkeyd's native ceremony API, at a fixed concurrency, with throughput and latency figures.
//!
//! It plays every browser and authenticator at once. First it registers `--users` users, each
//! with a credential of its own from the `passkeyd-webauthn` software authenticator (ES256 unless
//! `--algorithm` says otherwise), through the server's registration routes. Then `--concurrency`
//! workers run ceremonies back to back for `--duration` (or `--count` ceremonies): an
//! authentication is `POST /webauthn/authentication/request`, a signature over the challenge,
//! and `POST /webauthn/authentication/response`; a registration is the same on the registration
//! routes with a new user and a new key. Every response is checked (the server must name the
//! user who signed), so a count of successes is a count of ceremonies the server accepted.
//!
//! It prints throughput, p50/p95/p99/max latency and the errors by kind, as text or as JSON
//! (`--json`). Given `--server-pid`, it also reads the server's CPU time (Linux `/proc`) at the
//! start and end of the measured window and reports CPU time per ceremony. `--raw-verify` instead
//! times bare aws-lc-rs P-256 signature checks on the calling thread, the floor a verifier pays.
//!
//! Nothing here is a test: the load is bounded in time and count and goes to the URL given,
//! which should be a server on this machine.

mod api;
mod cli;
mod cpu;
mod raw_verify;
mod report;
mod run;
mod user;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Args;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("passkeyd-loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    if args.raw_verify {
        let result = raw_verify::measure(args.duration.unwrap_or(cli::DEFAULT_DURATION));
        report::print_raw_verify(&result, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let threads = args.threads.unwrap_or_else(cli::available_cores);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let summary = runtime.block_on(run::run(&args, threads))?;
    report::print_summary(&summary, args.json)?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)?;
    }
    // A run in which the server accepted nothing is a failed run; scripts check the exit status.
    Ok(if summary.total.ok == 0 {
        ExitCode::from(2)
    } else if summary.total.errors > 0 && !args.allow_errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
