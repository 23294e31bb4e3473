//! The summary of a run, as JSON and as text.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use crate::cli::Ceremony;
use crate::raw_verify::RawVerify;
use crate::user::Timing;

/// Everything a run measured. The JSON form is `--json`'s output; its field names are stable.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) tool: &'static str,
    pub(crate) label: String,
    pub(crate) target: String,
    #[serde(serialize_with = "ceremony_name")]
    pub(crate) ceremony: Ceremony,
    pub(crate) algorithm: &'static str,
    pub(crate) discoverable: bool,
    pub(crate) users: usize,
    pub(crate) concurrency: usize,
    pub(crate) threads: usize,
    pub(crate) warmup_seconds: f64,
    pub(crate) setup: SetupSummary,
    /// Wall time of the measured run.
    pub(crate) seconds: f64,
    pub(crate) authentication: Option<CeremonySummary>,
    pub(crate) registration: Option<CeremonySummary>,
    pub(crate) total: Totals,
    /// Failed calls by kind (route, status, error code), setup included.
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) error_samples: Vec<String>,
    /// The server's CPU time over the measured run, with `--server-pid`.
    pub(crate) server_cpu: Option<CpuSummary>,
    /// The load generator's own CPU time over the measured run: near 1.0 per thread means the
    /// load generator, not the server, was the limit.
    pub(crate) loadgen_cpu: Option<CpuSummary>,
}

fn ceremony_name<S: serde::Serializer>(ceremony: &Ceremony, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match ceremony {
        Ceremony::Authentication => "authentication",
        Ceremony::Registration => "registration",
        Ceremony::Mixed => "mixed",
    })
}

/// The users registered before the measured run.
#[derive(Debug, Serialize)]
pub(crate) struct SetupSummary {
    pub(crate) registered: usize,
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
}

/// One kind of ceremony in the measured run.
#[derive(Debug, Serialize)]
pub(crate) struct CeremonySummary {
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) per_second: f64,
    /// The whole ceremony: both round trips and the authenticator's signature.
    pub(crate) latency_ms: Latency,
    /// The `.../request` round trip.
    pub(crate) request_ms: Latency,
    /// The `.../response` round trip (verification).
    pub(crate) response_ms: Latency,
    /// The software authenticator's time between the two.
    pub(crate) client_ms: Latency,
}

impl CeremonySummary {
    /// `None` when the run made no such ceremony.
    pub(crate) fn new(timings: &[Timing], errors: u64, seconds: f64) -> Option<Self> {
        if timings.is_empty() && errors == 0 {
            return None;
        }
        Some(Self {
            ok: timings.len() as u64,
            errors,
            per_second: timings.len() as f64 / seconds,
            latency_ms: Latency::of(timings.iter().map(Timing::total)),
            request_ms: Latency::of(timings.iter().map(|t| t.begin)),
            response_ms: Latency::of(timings.iter().map(|t| t.finish)),
            client_ms: Latency::of(timings.iter().map(|t| t.client)),
        })
    }
}

/// Latency percentiles in milliseconds (nearest rank); all zero when nothing succeeded.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

impl Latency {
    fn of(durations: impl Iterator<Item = Duration>) -> Self {
        let mut ms: Vec<f64> = durations.map(|d| d.as_secs_f64() * 1e3).collect();
        if ms.is_empty() {
            return Self::default();
        }
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[index.clamp(1, ms.len()) - 1]
        };
        Self {
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

/// All ceremonies of the measured run.
#[derive(Debug, Serialize)]
pub(crate) struct Totals {
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) per_second: f64,
}

/// CPU time of a process over the measured run.
#[derive(Debug, Serialize)]
pub(crate) struct CpuSummary {
    pub(crate) pid: Option<u32>,
    pub(crate) seconds: f64,
    /// CPU seconds per wall second (1.0 = one core busy all the time).
    pub(crate) utilization: f64,
    /// CPU microseconds per successful ceremony.
    pub(crate) us_per_ceremony: Option<f64>,
}

pub(crate) fn print_summary(summary: &Summary, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, summary)?;
        return writeln!(out);
    }
    let label = if summary.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", summary.label)
    };
    writeln!(
        out,
        "{label}{} against {}: {} users ({}{}), concurrency {}, {} thread(s)",
        match summary.ceremony {
            Ceremony::Authentication => "authentication",
            Ceremony::Registration => "registration",
            Ceremony::Mixed => "mixed ceremonies",
        },
        summary.target,
        summary.users,
        summary.algorithm,
        if summary.discoverable {
            ", discoverable"
        } else {
            ""
        },
        summary.concurrency,
        summary.threads,
    )?;
    writeln!(
        out,
        "setup: {} users registered in {:.2} s, {} errors; warm-up {:.1} s",
        summary.setup.registered,
        summary.setup.seconds,
        summary.setup.errors,
        summary.warmup_seconds,
    )?;
    for (name, ceremony) in [
        ("authentication", &summary.authentication),
        ("registration", &summary.registration),
    ] {
        let Some(c) = ceremony else { continue };
        writeln!(
            out,
            "{name}: {} ok, {} errors in {:.2} s = {:.1}/s",
            c.ok, c.errors, summary.seconds, c.per_second
        )?;
        for (part, l) in [
            ("ceremony", &c.latency_ms),
            ("  request", &c.request_ms),
            ("  response", &c.response_ms),
            ("  client", &c.client_ms),
        ] {
            writeln!(
                out,
                "  {part:<11} ms  p50 {:>8.3}  p95 {:>8.3}  p99 {:>8.3}  max {:>8.3}",
                l.p50, l.p95, l.p99, l.max
            )?;
        }
    }
    writeln!(
        out,
        "total: {} ok, {} errors, {:.1} ceremonies/s",
        summary.total.ok, summary.total.errors, summary.total.per_second
    )?;
    for (name, cpu) in [
        ("server CPU", &summary.server_cpu),
        ("loadgen CPU", &summary.loadgen_cpu),
    ] {
        if let Some(cpu) = cpu {
            let per = cpu
                .us_per_ceremony
                .map_or(String::new(), |us| format!(", {us:.1} µs per ceremony"));
            writeln!(
                out,
                "{name}: {:.2} s ({:.0}% of one core){per}",
                cpu.seconds,
                cpu.utilization * 100.0
            )?;
        }
    }
    if !summary.errors.is_empty() {
        writeln!(out, "errors:")?;
        for (kind, n) in &summary.errors {
            writeln!(out, "  {n:>8}  {kind}")?;
        }
        for sample in &summary.error_samples {
            writeln!(out, "  e.g. {sample}")?;
        }
    }
    Ok(())
}

pub(crate) fn print_raw_verify(result: &RawVerify, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, result)?;
        return writeln!(out);
    }
    writeln!(
        out,
        "raw verify, {}: {} checks in {:.2} s; per check: median {:.2} µs, fastest round \
         {:.2} µs, mean {:.2} µs = {:.0}/s (median)",
        result.algorithm,
        result.checks,
        result.seconds,
        result.median_ns / 1e3,
        result.min_ns / 1e3,
        result.mean_ns / 1e3,
        result.per_second,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let latency = Latency::of((1..=100).map(Duration::from_millis));
        assert_eq!(latency.p50, 50.0);
        assert_eq!(latency.p95, 95.0);
        assert_eq!(latency.p99, 99.0);
        assert_eq!(latency.max, 100.0);
        assert_eq!(latency.mean, 50.5);
        let one = Latency::of(std::iter::once(Duration::from_millis(7)));
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
    }
}
