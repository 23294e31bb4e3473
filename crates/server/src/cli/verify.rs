//! `passkeyd verify FILE...`: verifies saved ceremony cases offline.
//!
//! A case is a registration or authentication response together with what the relying party
//! expected (RP ID, origins, challenge, policy), in the schema of
//! `crates/webauthn/tests/vectors/README.md`. The case's `expect` member is never read. Output is one
//! JSON line per file on stdout (or a readable line with `--human`). Exit status: 0 when every case
//! verified, 1 when any was rejected, 2 when a file could not be read as a case or the command line
//! is wrong.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use passkeyd_webauthn::case::{parse_instant, Case, CaseReport, RunOptions};
use passkeyd_webauthn::UnixTime;

use super::trust_files::load_roots;
use serde::Serialize;

/// Arguments of `passkeyd verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Case files (JSON) to verify.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Verification time (RFC 3339) for cases without `verify_at`; default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
    pub at: Option<UnixTime>,
    /// Print one readable line per file instead of JSON.
    #[arg(long)]
    pub human: bool,
    /// Trust roots: a PEM file or a directory of them. Attestation chains must then reach one.
    #[arg(long, value_name = "DIR|FILE")]
    pub roots: Vec<PathBuf>,
    /// Trust the vendor roots bundled with passkeyd (Apple, Google, Microsoft TPM, Yubico);
    /// attestation chains must then be anchored.
    #[arg(long)]
    pub bundled_roots: bool,
    /// Accept deprecated attestation formats (android-safetynet).
    #[arg(long)]
    pub allow_legacy: bool,
    /// A FIDO Metadata Service BLOB (JWT) to consult: revoked models are refused and each
    /// model's roots anchor its attestations. Needs --mds-root.
    #[arg(long, value_name = "FILE", requires = "mds_root")]
    pub mds: Option<PathBuf>,
    /// The root certificate(s) the MDS BLOB's signing chain must reach (PEM file or directory).
    #[arg(long, value_name = "DIR|FILE")]
    pub mds_root: Vec<PathBuf>,
}

fn parse_at(text: &str) -> Result<UnixTime, String> {
    parse_instant(text).ok_or_else(|| format!("{text:?} is not an RFC 3339 instant"))
}

/// One output line. Every member is always present (null when it does not apply), so the
/// schema is stable for scripts.
#[derive(Debug, Serialize)]
struct Line<'a> {
    file: &'a str,
    ok: bool,
    code: Option<&'a str>,
    message: Option<&'a str>,
    fmt: Option<&'a str>,
    alg: Option<i64>,
    attestation_type: Option<&'a str>,
    credential_id: Option<&'a str>,
    aaguid: Option<&'a str>,
    sign_count: Option<u32>,
    user_verified: Option<bool>,
    backup_eligible: Option<bool>,
    backup_state: Option<bool>,
}

impl<'a> Line<'a> {
    fn from_report(file: &'a str, r: &'a CaseReport) -> Self {
        Self {
            file,
            ok: r.ok,
            code: r.code,
            message: r.message.as_deref(),
            fmt: r.fmt.as_deref(),
            alg: r.alg,
            attestation_type: r.attestation_type,
            credential_id: r.credential_id.as_deref(),
            aaguid: r.aaguid.as_deref(),
            sign_count: r.sign_count,
            user_verified: r.user_verified,
            backup_eligible: r.backup_eligible,
            backup_state: r.backup_state,
        }
    }

    fn human(&self) -> String {
        if self.ok {
            let mut facts = Vec::new();
            facts.extend(self.fmt.map(|f| format!("fmt {f}")));
            facts.extend(self.attestation_type.map(|t| format!("attestation {t}")));
            facts.extend(self.alg.map(|a| format!("alg {a}")));
            facts.extend(self.aaguid.map(|a| format!("aaguid {a}")));
            facts.extend(self.sign_count.map(|c| format!("sign count {c}")));
            facts.extend(self.user_verified.map(|uv| format!("user verified {uv}")));
            format!("{}: ok ({})", self.file, facts.join(", "))
        } else {
            format!(
                "{}: rejected [{}] {}",
                self.file,
                self.code.unwrap_or("?"),
                self.message.unwrap_or("")
            )
        }
    }
}

/// Runs the command; writes results to `out` and problems with the files themselves to `err`.
pub fn run(args: &VerifyArgs, out: &mut impl Write, err: &mut impl Write) -> ExitCode {
    let now = args.at.unwrap_or_else(crate::cli::now);
    let trust_anchors = match load_roots(&args.roots) {
        Ok(anchors) => anchors,
        Err(problem) => {
            let _ = writeln!(err, "passkeyd verify: --roots {problem}");
            return ExitCode::from(2);
        }
    };
    let metadata = match &args.mds {
        None => None,
        Some(path) => match crate::cli::trust_files::load_blob(path, &args.mds_root, now) {
            Ok(blob) => Some(std::sync::Arc::new(blob)),
            Err(problem) => {
                let _ = writeln!(err, "passkeyd verify: --mds {problem}");
                return ExitCode::from(2);
            }
        },
    };
    let options = RunOptions {
        trust_anchors,
        allow_legacy_formats: args.allow_legacy,
        metadata,
        use_bundled_roots: args.bundled_roots,
        ..RunOptions::new(now)
    };
    let mut any_rejected = false;
    let mut any_unusable = false;
    for path in &args.files {
        let name = path.display().to_string();
        let report = std::fs::read(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| Case::from_json(&bytes).map_err(|e| e.to_string()))
            .and_then(|case| case.run_with(&options).map_err(|e| e.to_string()));
        let report = match report {
            Ok(report) => report,
            Err(problem) => {
                any_unusable = true;
                let _ = writeln!(err, "{name}: {problem}");
                CaseReport {
                    code: Some("case_invalid"),
                    message: Some(problem),
                    ..CaseReport::default()
                }
            }
        };
        any_rejected |= !report.ok;
        let line = Line::from_report(&name, &report);
        let text = if args.human {
            line.human()
        } else {
            serde_json::to_string(&line).unwrap_or_default()
        };
        if writeln!(out, "{text}").is_err() {
            return ExitCode::from(2);
        }
    }
    if any_unusable {
        ExitCode::from(2)
    } else if any_rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
