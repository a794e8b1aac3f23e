//! Pre/post-deploy latency baselines for `once`: `--save-baseline FILE` keeps
//! every step's latency samples and results; `--baseline FILE` compares a new
//! run against them, step by step, with two rules — a step regressed when
//! either says so:
//!
//! - **p95 (the tail)**: the p95 ratio is above `--max-ratio`, the p95 grew by
//!   more than the absolute floor, and a bootstrap 95 % confidence interval of
//!   the p95 difference lies entirely above zero;
//! - **median shift (the whole distribution)**: the Hodges–Lehmann shift (the
//!   median of all pairwise differences current − baseline) is, by its
//!   one-sided 95 % lower confidence bound, above the same floor and above
//!   `--max-shift-ratio` of the baseline median, and a one-sided Mann–Whitney
//!   U test (normal approximation, tie and continuity corrected) says the
//!   current samples are larger with p < [`ALPHA`].
//!
//! The p95 alone is fragile at deploy-gate sample sizes: with 12 samples it is
//! the slowest sample, and even at 20–30 its bootstrap resamples pick up a
//! single slow baseline sample often enough that the CI includes zero, so one
//! outlier in the baseline hides a shift of every new sample. Ranks are not
//! moved by how slow an outlier is, so the shift rule still sees it.
//!
//! Below `min_samples` on either side no verdict is given: the step is
//! *inconclusive*, and so is the whole comparison (the gate fails rather than
//! passing silently). Every number behind each verdict is reported.
//!
//! Samples are kept raw (µs) rather than as a serialized HDR histogram: the
//! bootstrap resamples them, the rank test ranks them, and a deploy gate's few
//! hundred samples per step take a few kilobytes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::flow::fmt_duration;
use crate::report::OnceReport;

/// A saved run: per step, the latencies of the samples that got an answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Baseline {
    pub smokeprobe: String,
    pub created_at: String,
    pub samples: u32,
    pub steps: Vec<StepBaseline>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepBaseline {
    pub target: String,
    pub flow: String,
    pub step: String,
    pub passed: u32,
    pub failed: u32,
    /// Durations in microseconds, in run order.
    pub durations_us: Vec<u64>,
}

impl Baseline {
    pub fn from_report(r: &OnceReport) -> Baseline {
        let mut steps = Vec::new();
        for f in &r.flows {
            for (i, s) in f.steps.iter().enumerate() {
                let durations_us = f
                    .results
                    .iter()
                    .filter_map(|run| run.steps.get(i))
                    .filter(|st| st.status.is_some() || !st.checks.is_empty())
                    .filter_map(|st| st.duration)
                    .map(|d| d.as_micros() as u64)
                    .collect();
                steps.push(StepBaseline {
                    target: f.target.clone(),
                    flow: f.flow.clone(),
                    step: s.name.clone(),
                    passed: s.passed,
                    failed: s.failed,
                    durations_us,
                });
            }
        }
        Baseline {
            smokeprobe: env!("CARGO_PKG_VERSION").to_string(),
            created_at: r.started_at.clone(),
            samples: r.samples,
            steps,
        }
    }

    pub fn save(&self, path: &std::path::Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    pub fn load(path: &std::path::Path) -> Result<Baseline, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read baseline {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a smokeprobe baseline: {e}", path.display()))
    }
}

/// Significance level of the rank test, per step. A gate compares ~30 steps
/// and is rerun on every deploy: α = 1e-4 keeps the chance of any false
/// alarm from the test alone over 20 gates × 30 steps near 6 % (Bonferroni:
/// 0.05 / 600 ≈ 8e-5) even for steps whose noise is larger than the floor,
/// while a complete shift with up to three slow baseline samples at n = 20
/// still reaches p < 1e-4. Measured in the unit tests below.
pub const ALPHA: f64 = 1e-4;

/// Default fewest samples per side: the smallest n at which the nearest-rank
/// p95 is not the slowest sample (one outlier no longer sets it), and at which
/// a complete shift with three outliers in the baseline is still significant
/// at [`ALPHA`] (n = 15 tolerates one, n = 12 none).
pub const MIN_SAMPLES: usize = 20;

/// What counts as a regression.
#[derive(Clone, Copy, Debug)]
pub struct CompareOptions {
    /// New p95 / baseline p95 above this.
    pub max_ratio: f64,
    /// And the p95 (or the median shift) grew by more than this.
    pub floor: Duration,
    /// (baseline median + shift) / baseline median above this, for the shift rule.
    pub max_shift_ratio: f64,
    /// Significance level of the rank test.
    pub alpha: f64,
    /// Fewest samples on each side for a verdict; fewer is inconclusive.
    pub min_samples: usize,
    /// Bootstrap resamples.
    pub resamples: u32,
    pub seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            max_ratio: 1.25,
            floor: Duration::from_millis(20),
            max_shift_ratio: 1.10,
            alpha: ALPHA,
            min_samples: MIN_SAMPLES,
            resamples: 2000,
            seed: 0x5eed,
        }
    }
}

/// One step's comparison and the numbers behind it.
#[derive(Clone, Debug, Serialize)]
pub struct StepComparison {
    pub target: String,
    pub flow: String,
    pub step: String,
    pub n_baseline: usize,
    pub n_current: usize,
    /// Seconds.
    pub p95_baseline: f64,
    pub p95_current: f64,
    pub ratio: f64,
    pub diff: f64,
    /// Bootstrap 95 % confidence interval of the p95 difference (seconds).
    pub ci_low: f64,
    pub ci_high: f64,
    /// Either rule called a regression.
    pub regressed: bool,
    /// Prometheus baselines only: new samples above the baseline p95 …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub above_baseline_p95: Option<usize>,
    /// … and the one-sided binomial tail P(X ≥ k | n, 0.05) of that count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binomial_p: Option<f64>,
    /// Too few samples on a side to judge: not a pass.
    pub inconclusive: bool,
    /// The p95 rule called a regression.
    pub p95_regressed: bool,
    /// File baselines only (raw samples): the shift rule called a regression …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift_regressed: Option<bool>,
    /// … the medians (seconds) …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_current: Option<f64>,
    /// … the Hodges–Lehmann shift (seconds) …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<f64>,
    /// … its one-sided 95 % lower confidence bound (seconds) …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift_low: Option<f64>,
    /// … (baseline median + shift_low) / baseline median …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift_ratio: Option<f64>,
    /// … and the one-sided Mann–Whitney p-value (current larger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_p: Option<f64>,
    /// Why it is (or is not) a regression, in words.
    pub verdict: String,
}

impl StepComparison {
    /// `step`'s p95s side by side — `(samples, p95 in seconds)` of the
    /// baseline and of the current run — with their ratio and difference,
    /// and nothing judged yet: no interval, no shift, no regression, no verdict.
    pub fn unjudged(step: &StepBaseline, baseline: (usize, f64), current: (usize, f64)) -> Self {
        let ((n_baseline, p_b), (n_current, p_c)) = (baseline, current);
        StepComparison {
            target: step.target.clone(),
            flow: step.flow.clone(),
            step: step.step.clone(),
            n_baseline,
            n_current,
            p95_baseline: p_b,
            p95_current: p_c,
            ratio: if p_b > 0.0 { p_c / p_b } else { f64::INFINITY },
            diff: p_c - p_b,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            regressed: false,
            above_baseline_p95: None,
            binomial_p: None,
            inconclusive: false,
            p95_regressed: false,
            shift_regressed: None,
            median_baseline: None,
            median_current: None,
            shift: None,
            shift_low: None,
            shift_ratio: None,
            rank_p: None,
            verdict: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub source: String,
    pub steps: Vec<StepComparison>,
    pub regressed: bool,
    /// Some step had too few samples, or no step could be judged at all:
    /// the comparison cannot say "no regression".
    pub inconclusive: bool,
    /// Steps with a verdict (neither inconclusive nor without a baseline).
    pub judged: usize,
    /// The minimum samples per side that applied.
    pub min_samples: usize,
}

impl Comparison {
    /// Builds the overall result from the steps.
    pub fn new(source: String, steps: Vec<StepComparison>, judged: usize, min: usize) -> Self {
        let regressed = steps.iter().any(|s| s.regressed);
        let inconclusive = steps.iter().any(|s| s.inconclusive) || judged == 0;
        Comparison {
            source,
            steps,
            regressed,
            inconclusive,
            judged,
            min_samples: min,
        }
    }

    /// Why the comparison is inconclusive, in one line (None when it is not).
    pub fn inconclusive_reason(&self) -> Option<String> {
        if !self.inconclusive {
            return None;
        }
        let short: Vec<&StepComparison> = self.steps.iter().filter(|s| s.inconclusive).collect();
        if short.is_empty() {
            return Some("no step of this run could be compared with the baseline".to_string());
        }
        let m = self.min_samples;
        let mut fix = Vec::new();
        if short.iter().any(|s| s.n_current < m) {
            fix.push(format!("run with --samples {m}"));
        }
        if short.iter().any(|s| s.n_baseline < m) {
            fix.push(format!("a baseline with {m} samples per step"));
        }
        Some(format!(
            "{} step(s) with too few samples to judge, need {m} per side ({})",
            short.len(),
            fix.join(" and ")
        ))
    }
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Median of sorted values (mean of the middle two for an even count).
fn median(sorted: &[u64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2] as f64
    } else {
        (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
    }
}

/// Bootstrap (2.5 %, 97.5 %) of p95(current) − p95(baseline), in µs.
fn bootstrap_ci(base: &[u64], cur: &[u64], resamples: u32, seed: u64) -> (f64, f64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut diffs: Vec<f64> = Vec::with_capacity(resamples as usize);
    let (mut a, mut b) = (vec![0u64; base.len()], vec![0u64; cur.len()]);
    for _ in 0..resamples {
        for x in a.iter_mut() {
            *x = base[rng.usize(0..base.len())];
        }
        for x in b.iter_mut() {
            *x = cur[rng.usize(0..cur.len())];
        }
        a.sort_unstable();
        b.sort_unstable();
        diffs.push(pct(&b, 0.95) as f64 - pct(&a, 0.95) as f64);
    }
    diffs.sort_by(|x, y| x.total_cmp(y));
    let at = |q: f64| diffs[((q * diffs.len() as f64) as usize).min(diffs.len() - 1)];
    (at(0.025), at(0.975))
}

/// Complementary error function (Numerical Recipes' `erfcc`, Chebyshev
/// fit): relative error below 1.2e-7 everywhere, so tail p-values of 1e-7
/// are still meaningful. Hand-written: no crate in the tree has one.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// P(Z > z) for a standard normal Z.
pub(crate) fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// One-sided Mann–Whitney U test that `cur` is stochastically larger than
/// `base` (both sorted): `(U, σ_U, p)`. U counts pairs with cur > base (ties
/// ½); p from the normal approximation with the tie-corrected variance and a
/// continuity correction, which at these n overstates the exact tail a
/// little (the test errs towards "no regression").
pub(crate) fn mann_whitney(base: &[u64], cur: &[u64]) -> (f64, f64, f64) {
    let (m, n) = (base.len() as f64, cur.len() as f64);
    if base.is_empty() || cur.is_empty() {
        return (f64::NAN, f64::NAN, 1.0);
    }
    // Merge the sorted sides; average ranks within ties.
    let (mut i, mut j, mut rank) = (0usize, 0usize, 0f64);
    let (mut r_cur, mut ties) = (0f64, 0f64);
    while i < base.len() || j < cur.len() {
        let v = match (base.get(i), cur.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => unreachable!(),
        };
        let (mut tb, mut tc) = (0f64, 0f64);
        while base.get(i) == Some(&v) {
            tb += 1.0;
            i += 1;
        }
        while cur.get(j) == Some(&v) {
            tc += 1.0;
            j += 1;
        }
        let t = tb + tc;
        let avg = rank + (t + 1.0) / 2.0;
        r_cur += tc * avg;
        ties += t * t * t - t;
        rank += t;
    }
    let u = r_cur - n * (n + 1.0) / 2.0;
    let total = m + n;
    let var = m * n / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    if var <= 0.0 {
        return (u, 0.0, 1.0);
    }
    let z = (u - m * n / 2.0 - 0.5) / var.sqrt();
    (u, var.sqrt(), normal_sf(z).min(1.0))
}

/// z of a one-sided 95 % bound.
const Z_95: f64 = 1.644_854;

/// One-sided 95 % lower confidence bound of the shift (µs), the rank test's
/// own (Moses): the k-th smallest pairwise difference with
/// k = ⌊mn/2 − z·σ_U⌋. `sd` is σ_U from [`mann_whitney`].
fn shift_lower_bound(base: &[u64], cur: &[u64], sd: f64) -> f64 {
    let mn = (base.len() * cur.len()) as f64;
    let k = (mn / 2.0 - Z_95 * sd).floor().max(1.0) as usize;
    kth_difference(base, cur, k) as f64
}

/// The k-th smallest (1-based) of the m·n differences cur[j] − base[i] (both
/// sorted), found by bisection on the value with an O(m + n) count per step,
/// so 100,000 samples a side cost no 10¹⁰ pairs.
fn kth_difference(base: &[u64], cur: &[u64], k: usize) -> i64 {
    // How many differences are ≤ d: for each cur[j], the base[i] ≥ cur[j] − d.
    let count_le = |d: i64| -> usize {
        let mut i = 0usize;
        let mut count = 0usize;
        for &c in cur {
            let t = c as i64 - d;
            while i < base.len() && (base[i] as i64) < t {
                i += 1;
            }
            count += base.len() - i;
        }
        count
    };
    let mut lo = cur[0] as i64 - base[base.len() - 1] as i64;
    let mut hi = cur[cur.len() - 1] as i64 - base[0] as i64;
    while lo < hi {
        let mid = lo + (hi - lo).div_euclid(2);
        if count_le(mid) >= k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Hodges–Lehmann shift estimate: the median of all pairwise differences
/// cur − base (sorted inputs, µs). Robust: one outlier moves it by at most
/// one pair's rank.
pub(crate) fn hodges_lehmann(base: &[u64], cur: &[u64]) -> f64 {
    if base.is_empty() || cur.is_empty() {
        return f64::NAN;
    }
    let total = base.len() * cur.len();
    if total % 2 == 1 {
        kth_difference(base, cur, total / 2 + 1) as f64
    } else {
        (kth_difference(base, cur, total / 2) as f64
            + kth_difference(base, cur, total / 2 + 1) as f64)
            / 2.0
    }
}

/// A signed duration in seconds: "+12 ms", "−3.20 ms".
fn fmt_signed(secs: f64) -> String {
    let sign = if secs < 0.0 { "−" } else { "+" };
    format!("{sign}{}", fmt_secs(secs.abs()))
}

/// Fewer samples than `min` on a side: the verdict that says so.
pub(crate) fn inconclusive_verdict(n_base: usize, n_cur: usize, min: usize) -> String {
    let fix = match (n_base < min, n_cur < min) {
        (true, true) => format!("use --samples {min} and save the baseline with as many"),
        (true, false) => format!("save the baseline with --samples {min}"),
        _ => format!("use --samples {min}"),
    };
    format!("INCONCLUSIVE: {n_base} baseline / {n_cur} current samples, need {min} each ({fix})")
}

/// The p95 rule: `(regressed, words)`. `ci` is in seconds.
fn p95_rule(ratio: f64, diff: f64, ci: (f64, f64), o: &CompareOptions) -> (bool, String) {
    let floor = o.floor.as_secs_f64();
    if ratio <= o.max_ratio {
        (
            false,
            format!("p95 ratio ×{ratio:.2} ≤ ×{:.2}", o.max_ratio),
        )
    } else if diff <= floor {
        (
            false,
            format!(
                "p95 ×{ratio:.2} but only {} (floor {})",
                fmt_signed(diff),
                fmt_duration(o.floor)
            ),
        )
    } else if ci.0 <= 0.0 {
        (
            false,
            format!(
                "p95 ×{ratio:.2}, {} but the 95 % CI of the difference [{}, {}] includes 0: could be noise",
                fmt_signed(diff),
                fmt_signed(ci.0),
                fmt_signed(ci.1)
            ),
        )
    } else {
        (
            true,
            format!(
                "p95 ×{ratio:.2} > ×{:.2}, {} > {}, 95 % CI of the difference [{}, {}] excludes 0",
                o.max_ratio,
                fmt_signed(diff),
                fmt_duration(o.floor),
                fmt_signed(ci.0),
                fmt_signed(ci.1)
            ),
        )
    }
}

/// The median-shift rule: `(regressed, words)`; everything in seconds.
/// The floor and the ratio are judged on `low`, the shift's one-sided 95 %
/// lower confidence bound, not on the estimate: a whole run that a busy
/// machine made ~20 ms slower has an estimate at the floor but a bound below
/// it.
fn shift_rule(
    med_b: f64,
    med_c: f64,
    (shift, low): (f64, f64),
    shift_ratio: f64,
    p: f64,
    o: &CompareOptions,
) -> (bool, String) {
    let numbers = format!(
        "median {} → {}, shift {} (≥ {} at 95 %, ×{shift_ratio:.2}), Mann–Whitney p = {p:.2e}",
        fmt_secs(med_b),
        fmt_secs(med_c),
        fmt_signed(shift),
        fmt_signed(low)
    );
    let floor = o.floor.as_secs_f64();
    if low <= floor {
        (
            false,
            format!(
                "{numbers}: {} ≤ floor {}",
                fmt_signed(low),
                fmt_duration(o.floor)
            ),
        )
    } else if shift_ratio <= o.max_shift_ratio {
        (
            false,
            format!("{numbers}: ×{shift_ratio:.2} ≤ ×{:.2}", o.max_shift_ratio),
        )
    } else if p >= o.alpha {
        (false, format!("{numbers} ≥ {:e}: could be noise", o.alpha))
    } else {
        (
            true,
            format!(
                "{numbers}: {} > {}, ×{shift_ratio:.2} > ×{:.2}, p < {:e}",
                fmt_signed(low),
                fmt_duration(o.floor),
                o.max_shift_ratio,
                o.alpha
            ),
        )
    }
}

/// Compares one step's sorted samples (µs) with its baseline's.
fn compare_step(step: &StepBaseline, bs: &[u64], cs: &[u64], o: &CompareOptions) -> StepComparison {
    let (p_b, p_c) = (pct(bs, 0.95) as f64 / 1e6, pct(cs, 0.95) as f64 / 1e6);
    let mut s = StepComparison::unjudged(step, (bs.len(), p_b), (cs.len(), p_c));
    let (ratio, diff) = (s.ratio, s.diff);
    let min = o.min_samples.max(1);
    if bs.len() < min || cs.len() < min {
        s.inconclusive = true;
        s.verdict = inconclusive_verdict(bs.len(), cs.len(), min);
        return s;
    }
    let (l, h) = bootstrap_ci(bs, cs, o.resamples, o.seed);
    (s.ci_low, s.ci_high) = (l / 1e6, h / 1e6);
    let (med_b, med_c) = (median(bs) / 1e6, median(cs) / 1e6);
    let shift = hodges_lehmann(bs, cs) / 1e6;
    let (_, sd, p) = mann_whitney(bs, cs);
    let low = shift_lower_bound(bs, cs, sd) / 1e6;
    let shift_ratio = if med_b > 0.0 {
        (med_b + low) / med_b
    } else {
        f64::INFINITY
    };
    let (p95_hit, p95_words) = p95_rule(ratio, diff, (s.ci_low, s.ci_high), o);
    let (shift_hit, shift_words) = shift_rule(med_b, med_c, (shift, low), shift_ratio, p, o);
    s.verdict = match (p95_hit, shift_hit) {
        (true, true) => format!("REGRESSION (p95 and median shift): {p95_words}; {shift_words}"),
        (true, false) => format!("REGRESSION (p95): {p95_words}; not by the shift: {shift_words}"),
        (false, true) => {
            format!("REGRESSION (median shift): {shift_words}; not by the p95: {p95_words}")
        }
        (false, false) => format!("{p95_words}; {shift_words}"),
    };
    s.regressed = p95_hit || shift_hit;
    s.p95_regressed = p95_hit;
    s.shift_regressed = Some(shift_hit);
    s.median_baseline = Some(med_b);
    s.median_current = Some(med_c);
    s.shift = Some(shift);
    s.shift_low = Some(low);
    s.shift_ratio = Some(shift_ratio);
    s.rank_p = Some(p);
    s
}

/// Compares the current run's steps with the baseline's, step by step.
pub fn compare(
    base: &Baseline,
    current: &Baseline,
    o: &CompareOptions,
    source: &str,
) -> Comparison {
    let mut steps = Vec::new();
    for c in &current.steps {
        let Some(b) = base
            .steps
            .iter()
            .find(|b| b.target == c.target && b.flow == c.flow && b.step == c.step)
        else {
            continue;
        };
        if b.durations_us.is_empty() && c.durations_us.is_empty() {
            // A step with no latency on either side (no answer was timed).
            continue;
        }
        let (mut bs, mut cs) = (b.durations_us.clone(), c.durations_us.clone());
        bs.sort_unstable();
        cs.sort_unstable();
        steps.push(compare_step(c, &bs, &cs, o));
    }
    let judged = steps.iter().filter(|s| !s.inconclusive).count();
    Comparison::new(source.to_string(), steps, judged, o.min_samples)
}

/// Seconds as a duration; "—" for a number that is not one (a Prometheus
/// baseline without history gives NaN).
pub(crate) fn fmt_secs(x: f64) -> String {
    if x.is_finite() && x >= 0.0 {
        fmt_duration(Duration::from_secs_f64(x))
    } else {
        "—".to_string()
    }
}

/// The comparison as the checklist's last section.
pub fn render(c: &Comparison) -> String {
    let mut out = format!("── Baseline ({}) ──\n", c.source);
    for s in &c.steps {
        let mark = if s.regressed {
            "❌"
        } else if s.inconclusive {
            "❓"
        } else {
            "✅"
        };
        out.push_str(&format!(
            "{mark} {}/{}  p95 {} → {}  (n {}/{})  {}\n",
            s.flow,
            s.step,
            fmt_secs(s.p95_baseline),
            fmt_secs(s.p95_current),
            s.n_baseline,
            s.n_current,
            s.verdict
        ));
    }
    if c.regressed {
        out.push_str("❌ REGRESSION against the baseline: roll back or investigate\n");
    }
    if let Some(why) = c.inconclusive_reason() {
        out.push_str(&format!(
            "❓ INCONCLUSIVE against the baseline: {why}; not a pass\n"
        ));
    }
    if !c.regressed && !c.inconclusive {
        out.push_str("✅ no latency regression against the baseline\n");
    }
    out
}

/// Steps that passed in every sample (a failing step has no meaningful latency).
pub fn passed_only(b: &Baseline) -> Baseline {
    let mut b = b.clone();
    b.steps.retain(|s| s.failed == 0 && s.passed > 0);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(durs: &[u64]) -> Baseline {
        Baseline {
            smokeprobe: "t".into(),
            created_at: "t".into(),
            samples: durs.len() as u32,
            steps: vec![StepBaseline {
                target: "t".into(),
                flow: "f".into(),
                step: "s".into(),
                passed: durs.len() as u32,
                failed: 0,
                durations_us: durs.to_vec(),
            }],
        }
    }

    fn noisy(center_us: u64, n: usize, seed: u64) -> Vec<u64> {
        let mut r = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|_| center_us + r.u64(0..center_us / 5))
            .collect()
    }

    #[test]
    fn a_real_shift_is_a_regression_and_says_why() {
        let base = step(&noisy(50_000, 30, 1));
        let cur = step(&noisy(150_000, 30, 2));
        let c = compare(&base, &cur, &CompareOptions::default(), "file");
        assert!(c.regressed);
        let s = &c.steps[0];
        assert!(s.ratio > 2.5 && s.diff > 0.09 && s.ci_low > 0.05, "{s:?}");
        assert!(s.verdict.starts_with("REGRESSION"), "{}", s.verdict);
    }

    #[test]
    fn same_distribution_tiny_shift_and_few_samples_are_not() {
        let o = CompareOptions::default();
        // Same distribution, different draws.
        assert!(
            !compare(
                &step(&noisy(50_000, 30, 3)),
                &step(&noisy(50_000, 30, 4)),
                &o,
                "f"
            )
            .regressed
        );
        // ×2 but 5 ms: under the floor.
        let c = compare(
            &step(&noisy(5_000, 30, 5)),
            &step(&noisy(10_000, 30, 6)),
            &o,
            "f",
        );
        assert!(
            !c.regressed && c.steps[0].verdict.contains("floor"),
            "{:?}",
            c.steps[0]
        );
        // Too few samples to judge: inconclusive, not a pass.
        let c = compare(
            &step(&noisy(50_000, 3, 7)),
            &step(&noisy(500_000, 3, 8)),
            &o,
            "f",
        );
        assert!(!c.regressed && c.inconclusive, "{c:?}");
        assert!(c.steps[0].verdict.starts_with("INCONCLUSIVE"));
    }

    #[test]
    fn one_outlier_is_noise_not_a_regression() {
        // 29 fast samples and one slow one: the p95 moves, the CI says it may be noise.
        let base = noisy(50_000, 30, 9);
        let mut cur = noisy(50_000, 30, 10);
        cur[7] = 400_000;
        cur[8] = 380_000;
        let c = compare(&step(&base), &step(&cur), &CompareOptions::default(), "f");
        assert!(!c.regressed, "{:?}", c.steps[0]);
    }

    /// Log-normal samples (µs) around `median_us` with log-sd `sigma`.
    fn lognormal(r: &mut fastrand::Rng, median_us: f64, sigma: f64, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let (u1, u2) = (r.f64().max(1e-300), r.f64());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (median_us * (sigma * z).exp()) as u64
            })
            .collect()
    }

    fn sorted(mut v: Vec<u64>) -> Vec<u64> {
        v.sort_unstable();
        v
    }

    #[test]
    fn rank_statistics_match_brute_force() {
        let mut r = fastrand::Rng::with_seed(42);
        for round in 0..200 {
            let (m, n) = (r.usize(1..25), r.usize(1..25));
            // Small values: many ties.
            let hi = if round % 2 == 0 { 8 } else { 1_000_000 };
            let b = sorted((0..m).map(|_| r.u64(0..hi)).collect());
            let c = sorted((0..n).map(|_| r.u64(0..hi)).collect());
            let mut d: Vec<i64> = Vec::new();
            let mut u = 0.0;
            for &x in &b {
                for &y in &c {
                    d.push(y as i64 - x as i64);
                    u += if y > x {
                        1.0
                    } else if y == x {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            d.sort_unstable();
            let k = d.len();
            let hl = if k % 2 == 1 {
                d[k / 2] as f64
            } else {
                (d[k / 2 - 1] + d[k / 2]) as f64 / 2.0
            };
            assert_eq!(hodges_lehmann(&b, &c), hl, "{b:?} {c:?}");
            let (u_fast, _, p) = mann_whitney(&b, &c);
            assert!((u_fast - u).abs() < 1e-9, "{u_fast} {u} {b:?} {c:?}");
            assert!((0.0..=1.0).contains(&p));
        }
        // All equal: no evidence at all.
        assert_eq!(mann_whitney(&[5; 20], &[5; 20]).2, 1.0);
        // Complete separation at 20/20: z = (400 − 200 − ½) / √(400·41/12).
        let (b, c) = ((0..20).collect::<Vec<_>>(), (100..120).collect::<Vec<_>>());
        let (u, sd, p) = mann_whitney(&b, &c);
        assert_eq!(u, 400.0);
        assert!((sd - (400.0f64 * 41.0 / 12.0).sqrt()).abs() < 1e-12);
        assert!((p - 3.40e-8).abs() < 0.05e-8, "{p:e}");
        // Its 95 % lower bound of the shift: the 139th smallest of the 400
        // differences (⌊200 − 1.645 · 36.97⌋ = 139).
        let mut d: Vec<i64> = b
            .iter()
            .flat_map(|&x| c.iter().map(move |&y| y as i64 - x as i64))
            .collect();
        d.sort_unstable();
        assert_eq!(shift_lower_bound(&b, &c, sd), d[138] as f64);
    }

    #[test]
    fn normal_tail_matches_known_values() {
        for (z, p) in [
            (0.0, 0.5),
            (1.959_964, 0.025),
            (3.090_232, 1e-3),
            (3.719_016, 1e-4),
            (5.0, 2.866_516e-7),
            (-1.644_854, 0.95),
        ] {
            let got = normal_sf(z);
            assert!(
                ((got - p) / p).abs() < 1e-5,
                "P(Z > {z}) = {got:e}, want {p:e}"
            );
        }
    }

    /// `n` samples of a step, one of them a slow outlier of 5 s.
    fn with_outlier(mut v: Vec<u64>) -> Vec<u64> {
        let i = v.len() / 2;
        v[i] = 5_000_000;
        v
    }

    #[test]
    fn a_shift_of_every_sample_is_caught_despite_one_slow_baseline_outlier() {
        // +300 ms on every sample; the baseline holds one 5 s sample. The p95
        // rule is fooled (a quarter of its bootstrap resamples put the outlier
        // at the p95); the shift rule is not. Demo-like, 50 ms and 300 ms steps.
        let o = CompareOptions::default();
        let (mut by_shift, mut by_p95, mut runs) = (0, 0, 0);
        for (median, sigma) in [(1_000.0, 0.2), (50_000.0, 0.3), (300_000.0, 0.3)] {
            for seed in 0..30 {
                let mut r = fastrand::Rng::with_seed(seed);
                let base = with_outlier(lognormal(&mut r, median, sigma, MIN_SAMPLES));
                let cur: Vec<u64> = lognormal(&mut r, median, sigma, MIN_SAMPLES)
                    .into_iter()
                    .map(|x| x + 300_000)
                    .collect();
                let c = compare(&step(&base), &step(&cur), &o, "f");
                let s = &c.steps[0];
                assert!(c.regressed && !c.inconclusive, "{s:?}");
                assert_eq!(s.shift_regressed, Some(true), "{s:?}");
                by_shift += 1;
                by_p95 += usize::from(s.p95_regressed);
                runs += 1;
                let shift = s.shift.unwrap();
                assert!((0.2..0.4).contains(&shift), "{shift}");
                if seed == 0 {
                    eprintln!("{}", s.verdict);
                }
                if seed == 0 && median == 1_000.0 {
                    for part in [
                        "REGRESSION (median shift): median ",
                        " → ",
                        "shift +3",
                        "Mann–Whitney p = ",
                        "> 20 ms",
                        "> ×1.10",
                        "p < 1e-4",
                        "not by the p95: p95 ×",
                        "includes 0",
                    ] {
                        assert!(s.verdict.contains(part), "{part} missing: {}", s.verdict);
                    }
                }
            }
        }
        eprintln!(
            "+300 ms with one 5 s baseline outlier, n = {MIN_SAMPLES}: shift rule {by_shift}/{runs}, p95 rule {by_p95}/{runs}"
        );
        assert_eq!(by_shift, runs);

        // At 12 samples (the run) it is inconclusive, not a pass …
        let mut r = fastrand::Rng::with_seed(7);
        let base = with_outlier(lognormal(&mut r, 300_000.0, 0.3, 12));
        let cur: Vec<u64> = lognormal(&mut r, 300_000.0, 0.3, 12)
            .into_iter()
            .map(|x| x + 300_000)
            .collect();
        let c = compare(&step(&base), &step(&cur), &o, "f");
        assert!(c.inconclusive && !c.regressed, "{c:?}");
        assert_eq!(
            c.steps[0].verdict,
            "INCONCLUSIVE: 12 baseline / 12 current samples, need 20 each (use --samples 20 and save the baseline with as many)"
        );
        let text = render(&c);
        assert!(text.contains("❓ t/s") || text.contains("❓ f/s"), "{text}");
        assert!(
            text.contains("❓ INCONCLUSIVE against the baseline: 1 step(s) with too few samples to judge, need 20 per side (run with --samples 20 and a baseline with 20 samples per step); not a pass"),
            "{text}"
        );
        assert!(!text.contains("no latency regression"), "{text}");
        // … and where the p95 is the slowest sample, the p95 rule alone misses it.
        let c = compare(
            &step(&base),
            &step(&cur),
            &CompareOptions {
                min_samples: 12,
                ..o
            },
            "f",
        );
        let s = &c.steps[0];
        assert!(!s.p95_regressed, "{s:?}");
        assert!(!c.inconclusive);
    }

    #[test]
    fn one_side_short_says_which_side_to_fix() {
        let o = CompareOptions::default();
        let c = compare(
            &step(&noisy(50_000, 12, 1)),
            &step(&noisy(50_000, 30, 2)),
            &o,
            "f",
        );
        assert!(c.inconclusive);
        assert!(
            c.steps[0]
                .verdict
                .ends_with("(save the baseline with --samples 20)")
        );
        let c = compare(
            &step(&noisy(50_000, 30, 1)),
            &step(&noisy(50_000, 5, 2)),
            &o,
            "f",
        );
        assert!(c.steps[0].verdict.ends_with("(use --samples 20)"));
        // --min-samples lowers the bar.
        let c = compare(
            &step(&noisy(50_000, 30, 1)),
            &step(&noisy(50_000, 5, 2)),
            &CompareOptions {
                min_samples: 5,
                ..o
            },
            "f",
        );
        assert!(!c.inconclusive && !c.regressed, "{c:?}");
        // A baseline that shares no step with the run: nothing was compared.
        let mut other = step(&noisy(50_000, 30, 1));
        other.steps[0].step = "other".into();
        let c = compare(&other, &step(&noisy(50_000, 30, 2)), &o, "f");
        assert!(c.steps.is_empty() && c.inconclusive && !c.regressed);
        assert!(render(&c).contains("no step of this run could be compared"));
    }

    #[test]
    fn healthy_reruns_raise_no_false_regression_over_many_seeds() {
        // One gate's worth of steps (30), each compared 20 times against one
        // baseline of its own, as 20 healthy reruns of a gate would be: same
        // distribution on both sides, log-normal from 1 ms to 1 s with log-sd
        // 0.2–0.6 and, for a third of the steps, a 3 % chance of a ×5 sample.
        let kinds = [
            (1_000.0, 0.3),
            (5_000.0, 0.5),
            (50_000.0, 0.3),
            (150_000.0, 0.4),
            (300_000.0, 0.3),
            (300_000.0, 0.6),
            (1_000_000.0, 0.2),
            (1_000_000.0, 0.5),
            (20_000.0, 0.2),
            (500_000.0, 0.3),
        ];
        let draw = |r: &mut fastrand::Rng, k: usize| {
            let (median, sigma) = kinds[k % kinds.len()];
            let mut v = lognormal(r, median, sigma, MIN_SAMPLES);
            if k % 3 == 0 {
                for x in v.iter_mut() {
                    if r.f64() < 0.03 {
                        *x *= 5;
                    }
                }
            }
            v
        };
        let o = CompareOptions::default();
        let (mut total, mut shift_fp, mut p95_fp, mut rank_sig) = (0, 0, 0, 0);
        for k in 0..30 {
            let mut r = fastrand::Rng::with_seed(100 + k as u64);
            let base = step(&draw(&mut r, k));
            for _ in 0..20 {
                let c = compare(&base, &step(&draw(&mut r, k)), &o, "f");
                let s = &c.steps[0];
                assert!(!c.inconclusive);
                total += 1;
                shift_fp += usize::from(s.shift_regressed == Some(true));
                p95_fp += usize::from(s.p95_regressed);
                rank_sig += usize::from(s.rank_p.unwrap() < ALPHA);
            }
        }
        eprintln!(
            "healthy: {total} comparisons, shift rule {shift_fp} false regressions (rank test alone p < {ALPHA:e}: {rank_sig}), p95 rule {p95_fp}"
        );
        assert_eq!(shift_fp, 0);

        // The rank test alone under "no shift", many times: its false-positive
        // rate stays at or below α (the normal approximation is conservative here).
        let mut r = fastrand::Rng::with_seed(1);
        let (mut below_alpha, mut below_1e3, runs) = (0, 0, 40_000);
        for _ in 0..runs {
            let a = sorted(lognormal(&mut r, 300_000.0, 0.3, MIN_SAMPLES));
            let b = sorted(lognormal(&mut r, 300_000.0, 0.3, MIN_SAMPLES));
            let p = mann_whitney(&a, &b).2;
            below_alpha += usize::from(p < ALPHA);
            below_1e3 += usize::from(p < 1e-3);
        }
        eprintln!(
            "rank test, no shift: p < {ALPHA:e} in {below_alpha}/{runs}, p < 1e-3 in {below_1e3}/{runs}"
        );
        assert!(below_alpha <= 4, "{below_alpha}");
        assert!(below_1e3 <= 40, "{below_1e3}");
    }

    #[test]
    fn json_keeps_the_old_fields_and_adds_the_shift() {
        let c = compare(
            &step(&noisy(50_000, 20, 1)),
            &step(&noisy(150_000, 20, 2)),
            &CompareOptions::default(),
            "f",
        );
        let v = serde_json::to_value(&c).unwrap();
        let s = &v["steps"][0];
        for k in [
            "target",
            "flow",
            "step",
            "n_baseline",
            "n_current",
            "p95_baseline",
            "p95_current",
            "ratio",
            "diff",
            "ci_low",
            "ci_high",
            "regressed",
            "verdict",
            "inconclusive",
            "p95_regressed",
            "shift_regressed",
            "median_baseline",
            "median_current",
            "shift",
            "shift_low",
            "shift_ratio",
            "rank_p",
        ] {
            assert!(s.get(k).is_some(), "{k} missing in {s}");
        }
        assert_eq!(v["regressed"], true);
        assert_eq!(v["inconclusive"], false);
        assert_eq!(v["min_samples"], 20);
    }
}
