//! Timing: criterion drives the iterations; every sample is also kept here for the summary, and
//! [`interleave`] times variants call by call in turn so that their ratio survives a busy machine.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};

#[expect(
    clippy::disallowed_methods,
    reason = "the bench measures wall time; the crate under test never reads a clock"
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// The wall time of `iters` calls of `routine`. Never inlined, so that profilers see every timed
/// region as one frame (`valgrind --tool=callgrind --toggle-collect='verify::time_iters*'`).
#[inline(never)]
pub(crate) fn time_iters<R>(iters: u64, routine: &mut impl FnMut() -> R) -> Duration {
    let start = now();
    for _ in 0..iters {
        black_box(routine());
    }
    start.elapsed()
}

/// One benchmark's samples: `(iterations, elapsed)` for every call criterion made, warm-up first.
pub(crate) struct Samples {
    pub(crate) id: String,
    pub(crate) items: u64,
    pub(crate) sample_size: usize,
    pub(crate) calls: Vec<(u64, Duration)>,
}

/// Variants timed call by call in turn (see [`interleave`]): nanoseconds per item, one row per
/// variant, one column per round.
pub(crate) struct Interleaved {
    pub(crate) label: String,
    pub(crate) names: Vec<&'static str>,
    pub(crate) rounds: Vec<Vec<f64>>,
}

impl Interleaved {
    pub(crate) fn row(&self, name: &str) -> Option<&[f64]> {
        let index = self.names.iter().position(|n| *n == name)?;
        Some(&self.rounds[index])
    }

    /// `name` against `base`, round by round.
    pub(crate) fn paired(&self, name: &str, base: &str) -> Option<Paired> {
        let (row, base) = (self.row(name)?, self.row(base)?);
        let mut ratios: Vec<f64> = row.iter().zip(base).map(|(v, b)| v / b).collect();
        Some(Paired {
            rounds: row.len(),
            min: min(row),
            median: median(&mut row.to_vec()),
            median_ratio: median(&mut ratios),
            min_ratio: min(row) / min(base),
        })
    }
}

/// One variant of an [`Interleaved`] measurement against its baseline.
pub(crate) struct Paired {
    pub(crate) rounds: usize,
    /// The fastest round: the one least disturbed by other work on the machine.
    pub(crate) min: f64,
    pub(crate) median: f64,
    /// The median over rounds of (this variant / the baseline in the same round).
    pub(crate) median_ratio: f64,
    pub(crate) min_ratio: f64,
}

#[derive(Default)]
pub(crate) struct Results {
    pub(crate) samples: RefCell<Vec<Samples>>,
    pub(crate) interleaved: RefCell<Vec<Interleaved>>,
    /// A measuring run (not `--test`, `--list` or `--profile-time`).
    pub(crate) measuring: bool,
}

impl Results {
    pub(crate) fn record(
        &self,
        id: &str,
        items: u64,
        sample_size: usize,
        iters: u64,
        elapsed: Duration,
    ) {
        let mut all = self.samples.borrow_mut();
        let index = match all.iter().position(|s| s.id == id) {
            Some(index) => index,
            None => {
                all.push(Samples {
                    id: id.to_owned(),
                    items,
                    sample_size,
                    calls: Vec::new(),
                });
                all.len() - 1
            }
        };
        all[index].calls.push((iters, elapsed));
    }

    /// Nanoseconds per item: the least-squares slope through the origin of the measurement
    /// samples (criterion calls the routine for the warm-up first, then once per sample), which is
    /// criterion's own point estimate under linear sampling and the mean under flat sampling.
    pub(crate) fn ns_per_item(&self, id: &str) -> Option<f64> {
        let all = self.samples.borrow();
        let samples = all.iter().find(|s| s.id == id)?;
        let skip = samples.calls.len().saturating_sub(samples.sample_size);
        let (xy, xx) =
            samples.calls[skip..]
                .iter()
                .fold((0.0, 0.0), |(xy, xx), (iters, elapsed)| {
                    let x = *iters as f64;
                    (xy + x * elapsed.as_nanos() as f64, xx + x * x)
                });
        (xx > 0.0).then(|| xy / xx / samples.items as f64)
    }

    pub(crate) fn ids(&self) -> Vec<String> {
        self.samples.borrow().iter().map(|s| s.id.clone()).collect()
    }

    /// Whether criterion measured every one of `ids` (they were not filtered out).
    pub(crate) fn measured(&self, ids: &[String]) -> bool {
        self.measuring && ids.iter().all(|id| self.ns_per_item(id).is_some())
    }

    pub(crate) fn paired(&self, label: &str, name: &str, base: &str) -> Option<Paired> {
        let all = self.interleaved.borrow();
        all.iter().find(|i| i.label == label)?.paired(name, base)
    }
}

/// Times one call of each routine in turn, rotating which goes first, until `budget` has passed.
/// Criterion measures one benchmark after another, so on a shared machine a change of load
/// between them skews their ratio; here every round compares the variants under the same load.
pub(crate) fn interleave<R>(
    label: &str,
    routines: &mut [(&'static str, &mut dyn FnMut() -> R)],
    items: u64,
    budget: Duration,
) -> Interleaved {
    let mut rounds = vec![Vec::new(); routines.len()];
    let start = now();
    let mut round = 0;
    while round < 10 || (start.elapsed() < budget && round < 100_000) {
        for k in 0..routines.len() {
            let index = (round + k) % routines.len();
            let routine = &mut routines[index].1;
            let elapsed = time_iters(1, &mut || routine());
            rounds[index].push(elapsed.as_nanos() as f64 / items as f64);
        }
        round += 1;
    }
    Interleaved {
        label: label.to_owned(),
        names: routines.iter().map(|(name, _)| *name).collect(),
        rounds,
    }
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub(crate) fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// A criterion group whose benchmarks also report to [`Results`].
pub(crate) struct Group<'c, 'r> {
    inner: BenchmarkGroup<'c, WallTime>,
    name: &'static str,
    sample_size: usize,
    results: &'r Results,
}

impl<'c, 'r> Group<'c, 'r> {
    pub(crate) fn new(
        criterion: &'c mut Criterion,
        results: &'r Results,
        name: &'static str,
        sample_size: usize,
        warm_up: Duration,
        measurement: Duration,
    ) -> Self {
        let mut inner = criterion.benchmark_group(name);
        inner
            .sample_size(sample_size)
            .warm_up_time(warm_up)
            .measurement_time(measurement);
        Self {
            inner,
            name,
            sample_size,
            results,
        }
    }

    /// Benchmarks `routine`, which handles `items` assertions (or registrations) per call.
    pub(crate) fn bench<R>(&mut self, name: &str, items: u64, mut routine: impl FnMut() -> R) {
        let id = format!("{}/{name}", self.name);
        let (results, sample_size) = (self.results, self.sample_size);
        self.inner.throughput(Throughput::Elements(items));
        self.inner.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let elapsed = time_iters(iters, &mut routine);
                results.record(&id, items, sample_size, iters, elapsed);
                elapsed
            });
        });
    }

    pub(crate) fn finish(self) {
        self.inner.finish();
    }
}
