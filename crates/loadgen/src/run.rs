//! A run: register the users, warm up, then the measured ceremonies at a fixed concurrency.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use passkeyd_webauthn::json::base64url_encode;
use passkeyd_webauthn::test_util::random_bytes;
use tokio::sync::Mutex;

use crate::api::{Api, Failure};
use crate::cli::{Args, Ceremony, DEFAULT_DURATION};
use crate::cpu::{self, Process};
use crate::report::{CeremonySummary, CpuSummary, SetupSummary, Summary, Totals};
use crate::user::{Authenticator, Timing, User};

/// Error messages kept verbatim, per run, to show what went wrong.
const ERROR_SAMPLES: usize = 5;

/// Which ceremony one step of a worker makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Authentication,
    Registration,
}

/// What one phase's workers saw.
#[derive(Debug, Default)]
struct Tally {
    authentications: Vec<Timing>,
    registrations: Vec<Timing>,
    failed_authentications: u64,
    failed_registrations: u64,
    errors: BTreeMap<String, u64>,
    samples: Vec<String>,
}

impl Tally {
    fn fail(&mut self, kind: Kind, failure: &Failure) {
        match kind {
            Kind::Authentication => self.failed_authentications += 1,
            Kind::Registration => self.failed_registrations += 1,
        }
        *self.errors.entry(failure.kind()).or_default() += 1;
        if self.samples.len() < ERROR_SAMPLES {
            self.samples.push(failure.to_string());
        }
    }

    fn merge(&mut self, other: Tally) {
        self.authentications.extend(other.authentications);
        self.registrations.extend(other.registrations);
        self.failed_authentications += other.failed_authentications;
        self.failed_registrations += other.failed_registrations;
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        for sample in other.samples {
            if self.samples.len() < ERROR_SAMPLES {
                self.samples.push(sample);
            }
        }
    }
}

/// When a phase stops.
#[derive(Debug, Clone, Copy)]
enum Until {
    Deadline(Instant),
    Count(u64),
}

/// Everything the workers share.
#[derive(Debug)]
struct Shared {
    api: Api,
    authenticator: Authenticator,
    users: Vec<Mutex<User>>,
    /// Next user to sign in (round robin).
    next_user: AtomicUsize,
    /// Ceremonies claimed in the current phase.
    claimed: AtomicU64,
    ceremony: Ceremony,
    registration_share: f64,
    discoverable: bool,
    prefix: String,
}

impl Shared {
    fn kind(&self, index: u64) -> Kind {
        match self.ceremony {
            Ceremony::Authentication => Kind::Authentication,
            Ceremony::Registration => Kind::Registration,
            // Spread the share evenly: ceremony k registers when the running count of
            // registrations `floor(k * share)` steps up.
            Ceremony::Mixed => {
                let share = self.registration_share;
                let step = |k: u64| (k as f64 * share).floor();
                if step(index + 1) > step(index) {
                    Kind::Registration
                } else {
                    Kind::Authentication
                }
            }
        }
    }

    async fn worker(self: Arc<Self>, until: Until, phase: &'static str) -> Tally {
        let mut tally = Tally::default();
        loop {
            if let Until::Deadline(deadline) = until {
                if Instant::now() >= deadline {
                    break;
                }
            }
            let index = self.claimed.fetch_add(1, Ordering::Relaxed);
            if let Until::Count(count) = until {
                if index >= count {
                    break;
                }
            }
            match self.kind(index) {
                Kind::Authentication => {
                    let slot = self.next_user.fetch_add(1, Ordering::Relaxed) % self.users.len();
                    let mut user = self.users[slot].lock().await;
                    match self
                        .authenticator
                        .authenticate(&self.api, &mut user, self.discoverable)
                        .await
                    {
                        Ok(timing) => tally.authentications.push(timing),
                        Err(failure) => tally.fail(Kind::Authentication, &failure),
                    }
                }
                Kind::Registration => {
                    let name = format!("{}{phase}{index}", self.prefix);
                    let credential = self.authenticator.new_credential();
                    match self
                        .authenticator
                        .register(&self.api, name, credential)
                        .await
                    {
                        Ok((_, timing)) => tally.registrations.push(timing),
                        Err(failure) => tally.fail(Kind::Registration, &failure),
                    }
                }
            }
        }
        tally
    }

    /// Runs `concurrency` workers until `until`; returns what they saw and the phase's wall time
    /// (to the end of the last ceremony, as ceremonies in flight at a deadline are finished).
    async fn phase(
        self: &Arc<Self>,
        concurrency: usize,
        until: Until,
        phase: &'static str,
    ) -> anyhow::Result<(Tally, Duration)> {
        self.claimed.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(Arc::clone(self).worker(until, phase)))
            .collect();
        let mut tally = Tally::default();
        for worker in workers {
            tally.merge(worker.await.context("a worker panicked")?);
        }
        Ok((tally, start.elapsed()))
    }
}

/// Registers `count` users, `concurrency` at a time.
async fn register_users(
    api: &Api,
    authenticator: &Authenticator,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<User>, Tally, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency.min(count).max(1))
        .map(|_| {
            let (api, authenticator, next) = (api.clone(), authenticator.clone(), next.clone());
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut users = Vec::new();
                let mut tally = Tally::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let credential = authenticator.new_credential();
                    let name = format!("{prefix}{index}");
                    match authenticator.register(&api, name, credential).await {
                        Ok((user, timing)) => {
                            users.push(user);
                            tally.registrations.push(timing);
                        }
                        Err(failure) => tally.fail(Kind::Registration, &failure),
                    }
                }
                (users, tally)
            })
        })
        .collect();
    let mut users = Vec::with_capacity(count);
    let mut tally = Tally::default();
    for task in tasks {
        let (some, seen) = task.await.context("a setup task panicked")?;
        users.extend(some);
        tally.merge(seen);
    }
    Ok((users, tally, start.elapsed()))
}

/// The whole run, as the summary reports it.
pub(crate) async fn run(args: &Args, threads: usize) -> anyhow::Result<Summary> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let needs_users = args.ceremony != Ceremony::Registration;
    if needs_users && args.users == 0 {
        bail!("--users must be at least 1 to sign in");
    }
    let api = Api::new(&args.url, &args.api_key, args.concurrency, args.timeout)?;
    let authenticator = Authenticator {
        algorithm: args.algorithm,
        origin: args.origin.clone(),
        // Replaced by the RP ID the server's creation options name.
        rp_id: "localhost".to_owned(),
    };
    let prefix = match &args.user_prefix {
        Some(prefix) => prefix.clone(),
        None => format!("loadgen-{}-", base64url_encode(&random_bytes(6))),
    };

    let users = if needs_users { args.users } else { 0 };
    let (users, setup, setup_time) =
        register_users(&api, &authenticator, &prefix, users, args.concurrency).await?;
    if needs_users && users.is_empty() {
        let why = setup.samples.first().map_or("", String::as_str);
        bail!("no user could be registered: {why}");
    }
    let shared = Arc::new(Shared {
        api,
        authenticator,
        users: users.into_iter().map(Mutex::new).collect(),
        next_user: AtomicUsize::new(0),
        claimed: AtomicU64::new(0),
        ceremony: args.ceremony,
        registration_share: args.registration_share,
        discoverable: args.discoverable,
        prefix,
    });

    if !args.warmup.is_zero() {
        let until = Until::Deadline(Instant::now() + args.warmup);
        shared.phase(args.concurrency, until, "w").await?;
    }

    let until = match args.count {
        Some(count) => Until::Count(count),
        None => Until::Deadline(Instant::now() + args.duration.unwrap_or(DEFAULT_DURATION)),
    };
    let server = args.server_pid.map(Process::Pid);
    let server_before = server.and_then(|p| cpu::cpu_time(p, args.clk_tck));
    let own_before = cpu::cpu_time(Process::This, args.clk_tck);
    let (tally, elapsed) = shared.phase(args.concurrency, until, "r").await?;
    let server_after = server.and_then(|p| cpu::cpu_time(p, args.clk_tck));
    let own_after = cpu::cpu_time(Process::This, args.clk_tck);

    let ok = (tally.authentications.len() + tally.registrations.len()) as u64;
    let errors = tally.failed_authentications + tally.failed_registrations;
    let seconds = elapsed.as_secs_f64();
    let cpu_summary = |pid, before: Option<Duration>, after: Option<Duration>| {
        let used = after?.checked_sub(before?)?.as_secs_f64();
        Some(CpuSummary {
            pid,
            seconds: used,
            utilization: used / seconds,
            us_per_ceremony: (ok > 0).then(|| used * 1e6 / ok as f64),
        })
    };
    let mut error_samples = setup.samples.clone();
    error_samples.extend(tally.samples.iter().cloned());
    let mut error_kinds = setup.errors.clone();
    for (kind, n) in &tally.errors {
        *error_kinds.entry(kind.clone()).or_default() += n;
    }
    Ok(Summary {
        tool: "passkeyd-loadgen",
        label: args.label.clone(),
        target: args.url.clone(),
        ceremony: args.ceremony,
        algorithm: args.algorithm.name(),
        discoverable: args.discoverable,
        users: shared.users.len(),
        concurrency: args.concurrency,
        threads,
        warmup_seconds: args.warmup.as_secs_f64(),
        setup: SetupSummary {
            registered: shared.users.len(),
            errors: setup.failed_registrations,
            seconds: setup_time.as_secs_f64(),
        },
        seconds,
        authentication: CeremonySummary::new(
            &tally.authentications,
            tally.failed_authentications,
            seconds,
        ),
        registration: CeremonySummary::new(
            &tally.registrations,
            tally.failed_registrations,
            seconds,
        ),
        total: Totals {
            ok,
            errors,
            per_second: ok as f64 / seconds,
        },
        errors: error_kinds,
        error_samples,
        server_cpu: cpu_summary(args.server_pid, server_before, server_after),
        loadgen_cpu: cpu_summary(None, own_before, own_after),
    })
}
