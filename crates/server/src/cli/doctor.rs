//! `passkeyd doctor [--tenant ID] [--url PUBLIC_URL] [--json]`: reads the configuration and
//! the database and says what would make passkeys fail or the deployment unsafe, per tenant,
//! each finding with a stable code and a severity (the checks: [`crate::diagnosis`]). With
//! `--url` it also fetches what a browser would see of the running deployment through its
//! proxy ([`crate::diagnosis::remote`]).
//!
//! Output: one line per finding, `severity code [tenant]: message`, or with `--json` one JSON
//! object per line (`code`, `severity`, `tenant`, `message`). Exit status, as `passkeyd
//! verify`'s: 0 when nothing is an error (warnings allowed), 1 when a finding is an error, 2
//! when the doctor could not look (database unreachable, unknown tenant, bad URL).

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use crate::config::Config;
use crate::diagnosis::{self, Finding, Severity};
use crate::settings::TenantSettings;
use crate::store::{self, StoreError};
use crate::tenant::TenantId;

/// Arguments of `passkeyd doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only this tenant (the server-wide checks run too).
    #[arg(long, value_parser = super::tenant::parse_id)]
    pub tenant: Option<TenantId>,
    /// The deployment's public URL (through its proxy), e.g. `https://login.example.com`: fetch
    /// /healthz, the /.well-known files and the demo page, and send a CORS preflight from
    /// each of the tenants' origins.
    #[arg(long, value_name = "PUBLIC_URL", value_parser = parse_url)]
    pub url: Option<reqwest::Url>,
    /// One JSON object per finding instead of readable lines.
    #[arg(long)]
    pub json: bool,
}

fn parse_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!("{text:?}: expected an http or https URL"));
    }
    Ok(url)
}

/// Runs the doctor; findings go to `out`, a reason it could not look to `err`.
pub async fn run(
    args: &DoctorArgs,
    config: &Config,
    out: &mut impl Write,
    err: &mut impl Write,
) -> ExitCode {
    let (findings, looked) = examine(args, config).await;
    for finding in &findings {
        let line = if args.json {
            serde_json::to_string(finding).unwrap_or_default()
        } else {
            human(finding)
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::from(2);
        }
    }
    if let Err(problem) = looked {
        let _ = writeln!(err, "passkeyd doctor: {problem}");
        return ExitCode::from(2);
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn human(finding: &Finding) -> String {
    match &finding.tenant {
        Some(tenant) => format!(
            "{:<7} {} [tenant {tenant}]: {}",
            finding.severity, finding.code, finding.message
        ),
        None => format!(
            "{:<7} {}: {}",
            finding.severity, finding.code, finding.message
        ),
    }
}

/// Every finding, and whether the doctor could look at everything it was asked to.
async fn examine(args: &DoctorArgs, config: &Config) -> (Vec<Finding>, Result<(), String>) {
    let now = super::now();
    let mut found = diagnosis::config_findings(config);
    let store = match store::open(config).await {
        Ok(store) => store,
        Err(e) => {
            found.push(Finding::server(
                "database_unreachable",
                Severity::Error,
                format!("cannot open {}: {e}", config.database_url),
            ));
            return (found, Err("the database cannot be opened".to_owned()));
        }
    };
    let tenants = match &args.tenant {
        Some(id) => match store.tenant(id).await {
            Ok(tenant) => Ok(vec![tenant]),
            Err(StoreError::NotFound) => Err(format!("no tenant {id}")),
            Err(e) => Err(e.to_string()),
        },
        None => store.tenants().await.map_err(|e| e.to_string()),
    };
    let database_now = store.database_time().await;
    let mds = crate::service::mds::status(&*store, config, now)
        .await
        .map_err(|e| e.to_string());
    store.close().await;
    let tenants = match tenants {
        Ok(tenants) => tenants,
        Err(problem) => return (found, Err(problem)),
    };
    match database_now {
        Ok(database_now) => found.extend(diagnosis::clock_finding(now.0, database_now)),
        Err(e) => found.push(Finding::server(
            "database_unreachable",
            Severity::Error,
            format!("the database does not tell its time: {e}"),
        )),
    }
    let requiring: Vec<String> = tenants
        .iter()
        .filter(|t| {
            TenantSettings::from_map(&t.settings).is_ok_and(|s| {
                s.attestation_policy.require_trusted || s.attestation_policy.require_fresh_mds
            })
        })
        .map(|t| t.id.to_string())
        .collect();
    found.extend(diagnosis::mds_findings(
        &diagnosis::mds_state(mds),
        &requiring,
    ));
    if found.is_empty() {
        found.push(Finding::server(
            "server_ok",
            Severity::Ok,
            format!(
                "{}: configuration, clock and MDS: nothing found",
                config.database_url
            ),
        ));
    }
    for tenant in &tenants {
        found.extend(diagnosis::tenant_findings(tenant));
    }
    if let Some(url) = &args.url {
        found.extend(diagnosis::remote::findings(url, &tenants).await);
    }
    (found, Ok(()))
}
