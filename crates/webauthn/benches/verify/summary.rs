//! The summary printed after criterion's report: throughput, and the ratios the goals are set in.

use crate::groups::ES256_VARIANTS;
use crate::timing::Results;
use crate::{
    ALGORITHM_VECTORS, GENERATED_ALGORITHMS, GOAL_OVER_WEBAUTHN_RS, GOAL_RAW_FRACTION,
    GOAL_REGISTRATIONS_PER_SEC,
};

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

pub(crate) fn print_summary(results: &Results) {
    let per_item = |id: &str| results.ns_per_item(id);
    println!();
    println!("== passkeyd-webauthn verify: summary (criterion's samples from this run) ==");
    println!("{:<52} {:>12} {:>14}", "benchmark", "time/op", "ops/s");
    for id in results.ids() {
        if let Some(ns) = per_item(&id) {
            println!("{id:<52} {:>12} {:>14}", format_ns(ns), format_rate(ns));
        }
    }
    print_es256(results);
    print_registration(results);
    print_algorithms(results);
}

/// The ES256 comparison: passkeyd against the raw check (the limit) and against webauthn-rs.
fn print_es256(results: &Results) {
    let es256 = |name: &str| results.ns_per_item(&format!("es256_auth_x64/{name}"));
    let (Some(raw), Some(verify), Some(json)) = (
        es256("raw_unparsed"),
        es256("passkeyd_verify"),
        es256("passkeyd_from_json_verify"),
    ) else {
        return;
    };
    println!();
    println!("ES256 authentication, the same 64 assertions, criterion's estimates:");
    println!(
        "  {:<36} {:>10} {:>10} {:>16}",
        "variant", "time", "checks/s", "x raw throughput"
    );
    for name in ES256_VARIANTS {
        if let Some(ns) = es256(name) {
            println!(
                "  {name:<36} {:>10} {:>10} {:>16.3}",
                format_ns(ns),
                format_rate(ns),
                raw / ns
            );
        }
    }
    println!(
        "  (a) verify_authentication: {:.3}x raw throughput (goal >= {GOAL_RAW_FRACTION}: {}; \
         overhead {} per check)",
        raw / verify,
        verdict(raw / verify >= GOAL_RAW_FRACTION),
        format_ns(verify - raw),
    );
    println!(
        "  (b) from_json + verify_authentication: {:.3}x raw throughput (overhead {})",
        raw / json,
        format_ns(json - raw),
    );
    if let (Some(wrs), Some(wrs_json)) = (
        es256("webauthn_rs_core_verify"),
        es256("webauthn_rs_core_from_json_verify"),
    ) {
        println!(
            "  passkeyd over webauthn-rs-core 0.6: (a) {:.2}x, (b) from JSON {:.2}x \
             (goal >= {GOAL_OVER_WEBAUTHN_RS}: {})",
            wrs / verify,
            wrs_json / json,
            verdict(wrs / verify >= GOAL_OVER_WEBAUTHN_RS),
        );
    }

    let Some(first) = results.paired("es256_auth_x64", "raw_unparsed", "raw_unparsed") else {
        return;
    };
    println!();
    println!(
        "ES256 authentication, interleaved batches ({} rounds of 64; every variant under the \
         same load, so trust these ratios when the machine is busy):",
        first.rounds
    );
    println!(
        "  {:<36} {:>10} {:>10} {:>18} {:>14}",
        "variant", "min", "median", "x raw (median)", "x raw (min)"
    );
    for name in ES256_VARIANTS {
        if let Some(p) = results.paired("es256_auth_x64", name, "raw_unparsed") {
            println!(
                "  {name:<36} {:>10} {:>10} {:>18.3} {:>14.3}",
                format_ns(p.min),
                format_ns(p.median),
                1.0 / p.median_ratio,
                1.0 / p.min_ratio,
            );
        }
    }
    let against_raw = |name| results.paired("es256_auth_x64", name, "raw_unparsed");
    if let (Some(a), Some(b)) = (
        against_raw("passkeyd_verify"),
        against_raw("passkeyd_from_json_verify"),
    ) {
        println!(
            "  GOAL full check >= {GOAL_RAW_FRACTION}x raw throughput: (a) {:.3}x {}, \
             (b) from JSON {:.3}x {}",
            1.0 / a.median_ratio,
            verdict(1.0 / a.median_ratio >= GOAL_RAW_FRACTION),
            1.0 / b.median_ratio,
            verdict(1.0 / b.median_ratio >= GOAL_RAW_FRACTION),
        );
    }
    let over = |wrs, pkd| results.paired("es256_auth_x64", wrs, pkd);
    if let (Some(a), Some(b)) = (
        over("webauthn_rs_core_verify", "passkeyd_verify"),
        over(
            "webauthn_rs_core_from_json_verify",
            "passkeyd_from_json_verify",
        ),
    ) {
        println!(
            "  GOAL passkeyd >= {GOAL_OVER_WEBAUTHN_RS}x webauthn-rs-core throughput: (a) {:.2}x \
             {}, (b) from JSON {:.2}x {}",
            a.median_ratio,
            verdict(a.median_ratio >= GOAL_OVER_WEBAUTHN_RS),
            b.median_ratio,
            verdict(b.median_ratio >= GOAL_OVER_WEBAUTHN_RS),
        );
    }
    if let Some(p) = over("webauthn_rs_core_verify", "raw_unparsed") {
        println!(
            "  for information: webauthn-rs-core reaches {:.3}x raw aws-lc-rs throughput",
            1.0 / p.median_ratio
        );
    }
}

fn print_registration(results: &Results) {
    let per_item = |id: &str| results.ns_per_item(id);
    println!();
    for variant in ["passkeyd_minimal", "passkeyd_browser_json"] {
        let Some(ns) = per_item(&format!("es256_registration_none_x64/{variant}")) else {
            continue;
        };
        // The fastest interleaved batch: what an idle machine would give.
        let best = results
            .paired("es256_registration_none_x64", variant, variant)
            .map_or(ns, |p| p.min);
        println!(
            "ES256 `none` registration ({variant}): {}/s (criterion), {}/s (fastest batch)  \
             (GOAL >= {}/s: {})",
            format_rate(ns),
            format_rate(best),
            format_count(GOAL_REGISTRATIONS_PER_SEC),
            verdict(1e9 / ns >= GOAL_REGISTRATIONS_PER_SEC),
        );
    }
}

fn print_algorithms(results: &Results) {
    let per_item = |id: &str| results.ns_per_item(id);
    let mut header = false;
    let names = ALGORITHM_VECTORS
        .iter()
        .map(|(name, _)| *name)
        .chain(GENERATED_ALGORITHMS.iter().map(|(name, _)| *name));
    for name in names {
        let raw = per_item(&format!("auth_by_algorithm/{name}/raw"));
        let passkeyd = per_item(&format!("auth_by_algorithm/{name}/passkeyd"));
        let (Some(raw), Some(passkeyd)) = (raw, passkeyd) else {
            continue;
        };
        if !header {
            println!();
            println!(
                "Authentication per algorithm (one assertion): criterion's estimates, then \
                 interleaved calls (min, and median of per-round time ratios)"
            );
            println!(
                "  {:<10} {:>11} {:>11} {:>11} {:>7} {:>11} {:>11} {:>8} {:>8}",
                "algorithm",
                "raw",
                "passkeyd",
                "passkeyd/s",
                "ratio",
                "min raw",
                "min pkd",
                "min rat",
                "med rat",
            );
            header = true;
        }
        let label = format!("auth_by_algorithm/{name}");
        let raw_min = results.paired(&label, "raw", "raw").map(|p| p.min);
        let paired = results.paired(&label, "passkeyd", "raw");
        let cell = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
        println!(
            "  {name:<10} {:>11} {:>11} {:>11} {:>7.3} {:>11} {:>11} {:>8} {:>8}",
            format_ns(raw),
            format_ns(passkeyd),
            format_rate(passkeyd),
            passkeyd / raw,
            cell(raw_min.map(format_ns)),
            cell(paired.as_ref().map(|p| format_ns(p.min))),
            cell(paired.as_ref().map(|p| format!("{:.3}", p.min_ratio))),
            cell(paired.as_ref().map(|p| format!("{:.3}", p.median_ratio))),
        );
    }
}

pub(crate) fn format_ns(ns: f64) -> String {
    if ns.abs() >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns.abs() >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub(crate) fn format_rate(ns_per_op: f64) -> String {
    format_count(1e9 / ns_per_op)
}

/// A count with thousands separators.
pub(crate) fn format_count(count: f64) -> String {
    let digits = format!("{:.0}", count.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
