//! Pre/post-deploy latency baselines for `once`: `--save-baseline FILE` keeps
//! every step's latency samples and results; `--baseline FILE` compares a new
//! run against them and calls a regression only when all three hold:
//! the p95 ratio is above a threshold, the p95 grew by more than an absolute
//! floor, and a bootstrap 95 % confidence interval of the p95 difference lies
//! entirely above zero (the shift is real at the sample sizes used, not noise
//! of a shared, busy machine). Every number behind the verdict is reported.
//!
//! Samples are kept raw (µs) rather than as a serialized HDR histogram: the
//! bootstrap resamples them, and a deploy gate's few hundred samples per step
//! take a few kilobytes.

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

/// What counts as a regression.
#[derive(Clone, Copy, Debug)]
pub struct CompareOptions {
    /// New p95 / baseline p95 above this.
    pub max_ratio: f64,
    /// And the p95 grew by more than this.
    pub floor: Duration,
    /// Fewest samples on each side for a verdict.
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
            min_samples: 10,
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
    pub regressed: bool,
    /// Prometheus baselines only: new samples above the baseline p95 …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub above_baseline_p95: Option<usize>,
    /// … and the one-sided binomial tail P(X ≥ k | n, 0.05) of that count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binomial_p: Option<f64>,
    /// Why it is (or is not) a regression, in words.
    pub verdict: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub source: String,
    pub steps: Vec<StepComparison>,
    pub regressed: bool,
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
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
        let (mut bs, mut cs) = (b.durations_us.clone(), c.durations_us.clone());
        bs.sort_unstable();
        cs.sort_unstable();
        let (p_b, p_c) = (pct(&bs, 0.95) as f64 / 1e6, pct(&cs, 0.95) as f64 / 1e6);
        let enough = bs.len() >= o.min_samples && cs.len() >= o.min_samples;
        let (ci_low, ci_high) = if enough {
            let (l, h) = bootstrap_ci(&bs, &cs, o.resamples, o.seed);
            (l / 1e6, h / 1e6)
        } else {
            (f64::NAN, f64::NAN)
        };
        let ratio = if p_b > 0.0 { p_c / p_b } else { f64::INFINITY };
        let diff = p_c - p_b;
        let floor = o.floor.as_secs_f64();
        let (regressed, verdict) = if !enough {
            (
                false,
                format!(
                    "not judged: {} baseline and {} current samples (need {} each)",
                    bs.len(),
                    cs.len(),
                    o.min_samples
                ),
            )
        } else if ratio <= o.max_ratio {
            (false, format!("ratio ×{ratio:.2} ≤ ×{:.2}", o.max_ratio))
        } else if diff <= floor {
            (
                false,
                format!(
                    "×{ratio:.2} but only +{} (floor {})",
                    fmt_duration(Duration::from_secs_f64(diff.max(0.0))),
                    fmt_duration(o.floor)
                ),
            )
        } else if ci_low <= 0.0 {
            (
                false,
                format!(
                    "×{ratio:.2}, +{} but the 95 % CI of the difference includes 0: could be noise",
                    fmt_duration(Duration::from_secs_f64(diff))
                ),
            )
        } else {
            (
                true,
                format!(
                    "REGRESSION: ×{ratio:.2} > ×{:.2}, +{} > {}, 95 % CI of the difference [+{}, +{}] excludes 0",
                    o.max_ratio,
                    fmt_duration(Duration::from_secs_f64(diff)),
                    fmt_duration(o.floor),
                    fmt_duration(Duration::from_secs_f64(ci_low.max(0.0))),
                    fmt_duration(Duration::from_secs_f64(ci_high.max(0.0)))
                ),
            )
        };
        steps.push(StepComparison {
            target: c.target.clone(),
            flow: c.flow.clone(),
            step: c.step.clone(),
            n_baseline: bs.len(),
            n_current: cs.len(),
            p95_baseline: p_b,
            p95_current: p_c,
            ratio,
            diff,
            ci_low,
            ci_high,
            regressed,
            above_baseline_p95: None,
            binomial_p: None,
            verdict,
        });
    }
    let regressed = steps.iter().any(|s| s.regressed);
    Comparison {
        source: source.to_string(),
        steps,
        regressed,
    }
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
        let mark = if s.regressed { "❌" } else { "✅" };
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
    out.push_str(if c.regressed {
        "❌ REGRESSION against the baseline: roll back or investigate\n"
    } else {
        "✅ no latency regression against the baseline\n"
    });
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
        // Too few samples to judge.
        let c = compare(
            &step(&noisy(50_000, 3, 7)),
            &step(&noisy(500_000, 3, 8)),
            &o,
            "f",
        );
        assert!(!c.regressed && c.steps[0].verdict.starts_with("not judged"));
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
}
