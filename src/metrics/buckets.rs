//! Histogram bucket bounds (seconds) placed around a step's latency budgets.
//!
//! # Why
//!
//! Prometheus' `histogram_quantile` finds the bucket the requested rank falls
//! into and interpolates linearly inside it, so its error is bounded by the
//! width of that bucket. A generic geometric layout (1-2-5, ×2) puts 200 ms and
//! 500 ms in the same bucket, and "is p95 over its 500 ms budget?" becomes a
//! guess. What we know in advance is *where* the answer matters: at the
//! budgets. So the bounds are:
//!
//! - a coarse **base grid** from 1 ms up to the timeout, so every duration
//!   lands in some finite bucket: 1-2-5 per decade when there are budgets,
//!   1-1.5-2-3-5-7 per decade when there are none (the bucket allowance is then
//!   better spent on an even grid);
//! - the **timeout** itself as the last bound (a step cannot legitimately take
//!   longer; later observations fall into `+Inf`);
//! - a **dense set around each budget** `B`: `B × {0.5, 0.6, 0.7, 0.8, 0.85,
//!   0.9, 0.95, 1, 1.05, 1.1, 1.2, 1.5}`. Base-grid points inside
//!   `[0.5 B, 1.5 B]` are dropped: the dense points already cover that span.
//!
//! Two consequences for alerting:
//!
//! - Each budget is a bucket bound **exactly**, so the cumulative count
//!   `le="B"` is exact, and `histogram_quantile(0.95, …) > B` is decided
//!   without interpolation error: the rank lies above `B` iff more than 5 % of
//!   the samples do. (The bucket ratio `1 - bucket{le="B"} / count` is the
//!   cheaper and exact way to alert on "more than 5 % over budget".)
//! - Between `0.9 B` and `1.1 B` adjacent bounds are at most ~5.6 % apart, so
//!   the *value* of an interpolated quantile there is off by at most that much
//!   and, with linear interpolation over a smooth distribution, by about 1 %
//!   at worst in practice (see the tests), against up to ~18 % for the plain
//!   grid of [`default_buckets`] on the same samples.
//!
//! Every bucket is one more time series per step, so the list is capped at
//! [`MAX_BUCKETS`] (40). When the candidates exceed it, points are removed one
//! at a time, least important tier first (base grid and outer dense points,
//! then the ±5 %/±10 % neighbours, then budgets and timeout), choosing the
//! point whose removal leaves the smallest gap (ratio of its neighbours), so
//! the list thins out evenly instead of losing a whole region. The smallest and
//! largest bounds are never removed.
//!
//! Values are computed in integer microseconds and dense points are rounded to
//! 3 significant digits, so they print as `0.45`, not `0.44999999`.

use std::time::Duration;

/// Upper bound on the bucket count returned (excluding the implicit `+Inf`).
pub const MAX_BUCKETS: usize = 40;

const MS: u64 = 1000;

/// Importance when the list must be thinned; higher survives longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    Filler = 0,
    NearBudget = 1,
    Anchor = 2,
}

/// Multipliers in per mille of the budget, with their tier.
const AROUND_BUDGET: [(u64, Tier); 12] = [
    (500, Tier::Filler),
    (600, Tier::Filler),
    (700, Tier::Filler),
    (800, Tier::Filler),
    (850, Tier::Filler),
    (900, Tier::NearBudget),
    (950, Tier::NearBudget),
    (1000, Tier::Anchor),
    (1050, Tier::NearBudget),
    (1100, Tier::NearBudget),
    (1200, Tier::Filler),
    (1500, Tier::Filler),
];

/// Mantissas per decade, in tenths.
const GRID_WITH_BUDGETS: &[u64] = &[10, 20, 50];
const GRID_WITHOUT_BUDGETS: &[u64] = &[10, 15, 20, 30, 50, 70];

/// Bucket bounds in seconds, sorted and unique, at most [`MAX_BUCKETS`], the
/// last one equal to `timeout`. Zero budgets are ignored.
pub fn for_budgets(budgets: &[Duration], timeout: Duration) -> Vec<f64> {
    let budgets: Vec<u64> = budgets
        .iter()
        .map(|b| micros(*b))
        .filter(|&b| b > 0)
        .collect();
    let timeout = micros(timeout).max(1);
    let grid = if budgets.is_empty() {
        GRID_WITHOUT_BUDGETS
    } else {
        GRID_WITH_BUDGETS
    };

    let mut points: Vec<(u64, Tier)> = Vec::new();
    points.push((MS.min(timeout), Tier::Anchor));
    points.push((timeout, Tier::Anchor));
    for v in base_grid(grid, timeout) {
        // Inside a budget's dense span the grid adds nothing but series.
        let (v2, spans) = (2 * u128::from(v), |b: u64| {
            (u128::from(b), 3 * u128::from(b))
        });
        if !budgets
            .iter()
            .any(|&b| (spans(b).0..=spans(b).1).contains(&v2))
        {
            points.push((v, Tier::Filler));
        }
    }
    for &b in &budgets {
        for (per_mille, tier) in AROUND_BUDGET {
            let v = if per_mille == 1000 {
                b
            } else {
                round_3_significant(b, per_mille)
            };
            points.push((v, tier));
        }
    }

    // Sort by value, most important first, so dedup keeps the strongest tier.
    points.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    points.dedup_by_key(|p| p.0);
    thin(&mut points, MAX_BUCKETS);
    points.iter().map(|&(us, _)| us as f64 / 1e6).collect()
}

/// Buckets for a step without budgets: a 1-1.5-2-3-5-7 grid (adjacent bounds
/// at most 5/3 apart) from 1 ms to `timeout`. Same as `for_budgets(&[], timeout)`.
pub fn default_buckets(timeout: Duration) -> Vec<f64> {
    for_budgets(&[], timeout)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Grid values (µs) from 1 ms up to, not including, `timeout`.
fn base_grid(mantissas: &[u64], timeout: u64) -> Vec<u64> {
    let mut out = Vec::new();
    // Decade in units of 1/10 of the mantissa: 1 ms = 10 × 100 µs.
    let mut unit: u64 = MS / 10;
    loop {
        for &m in mantissas {
            let Some(v) = m.checked_mul(unit) else {
                return out;
            };
            if v >= timeout {
                return out;
            }
            out.push(v);
        }
        let Some(next) = unit.checked_mul(10) else {
            return out;
        };
        unit = next;
    }
}

/// `budget × per_mille / 1000`, rounded to 3 significant digits but never
/// finer than 1 µs, in integer arithmetic so the seconds print cleanly.
fn round_3_significant(budget_us: u64, per_mille: u64) -> u64 {
    // In nanoseconds: µs × (per_mille / 1000) = ns × per_mille / 1000 / 1000.
    let ns = u128::from(budget_us) * u128::from(per_mille);
    let digits = ns.checked_ilog10().unwrap_or(0) + 1;
    let step = 10u128.pow(digits.saturating_sub(3)).max(1000);
    let rounded = (ns + step / 2) / step * step;
    u64::try_from(rounded / 1000).unwrap_or(u64::MAX).max(1)
}

/// Removes points until at most `max` remain: lowest tier first, and within a
/// tier the point whose neighbours are closest (smallest gap after removal).
fn thin(points: &mut Vec<(u64, Tier)>, max: usize) {
    while points.len() > max && points.len() > 2 {
        let victim = (1..points.len() - 1)
            .min_by(|&i, &j| {
                let gap = |k: usize| points[k + 1].0 as f64 / points[k - 1].0 as f64;
                points[i]
                    .1
                    .cmp(&points[j].1)
                    .then(gap(i).total_cmp(&gap(j)))
            })
            .expect("more than two points");
        points.remove(victim);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn secs(d: Duration) -> f64 {
        d.as_micros() as f64 / 1e6
    }

    fn check_shape(buckets: &[f64], timeout: Duration) {
        assert!(!buckets.is_empty());
        assert!(
            buckets.len() <= MAX_BUCKETS,
            "{} buckets: {buckets:?}",
            buckets.len()
        );
        assert!(
            buckets.windows(2).all(|w| w[0] < w[1]),
            "sorted, unique: {buckets:?}"
        );
        assert!(buckets.iter().all(|v| v.is_finite() && *v > 0.0));
        assert!(*buckets.last().expect("non-empty") >= secs(timeout));
        assert!(buckets[0] <= 0.001, "covers 1 ms: {buckets:?}");
        for v in buckets {
            let text = v.to_string();
            let decimals = text.split('.').nth(1).map_or(0, str::len);
            assert!(decimals <= 6, "sane decimals: {text}");
        }
    }

    #[test]
    fn typical_budgets_give_the_expected_list() {
        let got = for_budgets(&[ms(200), ms(500), ms(2000)], ms(10_000));
        check_shape(&got, ms(10_000));
        // The three 0.85 points are the ones thinned away (smallest gaps).
        let expected = [
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, //
            0.1, 0.12, 0.14, 0.16, 0.18, 0.19, 0.2, 0.21, 0.22, 0.24, //
            0.25, 0.3, 0.35, 0.4, 0.45, 0.475, 0.5, 0.525, 0.55, 0.6, 0.75, //
            1.0, 1.2, 1.4, 1.6, 1.8, 1.9, 2.0, 2.1, 2.2, 2.4, 3.0, //
            5.0, 10.0,
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn each_budget_is_a_bound_with_close_neighbours() {
        let cases: &[(&[Duration], Duration)] = &[
            (&[ms(200), ms(500), ms(2000)], ms(10_000)),
            (&[ms(123), ms(456), ms(789)], ms(5000)),
            (&[ms(333)], ms(30_000)),
            (&[ms(50), ms(60), ms(70), ms(80), ms(3000)], ms(60_000)),
            (&[Duration::from_micros(1_234_567)], ms(2000)),
            (&[ms(300), ms(300)], ms(1000)),
        ];
        for &(budgets, timeout) in cases {
            let got = for_budgets(budgets, timeout);
            check_shape(&got, timeout);
            for &b in budgets {
                let b = secs(b);
                let i = got
                    .iter()
                    .position(|&v| v == b)
                    .unwrap_or_else(|| panic!("{b} in {got:?}"));
                let (below, above) = (got[i - 1], got[i + 1]);
                assert!(below >= 0.94 * b && below < b, "just below {b}: {got:?}");
                assert!(above <= 1.06 * b && above > b, "just above {b}: {got:?}");
            }
        }
    }

    #[test]
    fn many_budgets_and_long_timeouts_stay_bounded() {
        let budgets: Vec<Duration> = (1..=30).map(|i| ms(i * 37)).collect();
        let got = for_budgets(&budgets, ms(3_600_000));
        check_shape(&got, ms(3_600_000));
        assert_eq!(got.len(), MAX_BUCKETS);

        let got = default_buckets(ms(3_600_000));
        check_shape(&got, ms(3_600_000));
        assert_eq!(got.len(), MAX_BUCKETS);
    }

    #[test]
    fn default_buckets_are_an_even_grid_up_to_the_timeout() {
        let got = default_buckets(ms(10_000));
        check_shape(&got, ms(10_000));
        assert_eq!(got, for_budgets(&[], ms(10_000)));
        assert_eq!(&got[..7], [0.001, 0.0015, 0.002, 0.003, 0.005, 0.007, 0.01]);
        assert_eq!(got.len(), 25);
        assert_eq!(*got.last().expect("non-empty"), 10.0);
        // Adjacent bounds at most 5/3 apart (3 → 5).
        assert!(got.windows(2).all(|w| w[1] / w[0] <= 5.0 / 3.0 + 1e-9));

        // A timeout off the grid is itself the last bound.
        let got = default_buckets(ms(4000));
        check_shape(&got, ms(4000));
        assert_eq!(got[got.len() - 2..], [3.0, 4.0]);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        check_shape(&for_budgets(&[Duration::ZERO], ms(10_000)), ms(10_000));
        let tiny = for_budgets(&[], Duration::from_micros(200));
        assert_eq!(tiny, [0.0002]);
        let huge = for_budgets(&[Duration::MAX], Duration::MAX);
        assert!(huge.len() <= MAX_BUCKETS && huge.windows(2).all(|w| w[0] < w[1]));
        // A budget above the timeout still gets its bounds.
        let over = for_budgets(&[ms(20_000)], ms(10_000));
        check_shape(&over, ms(10_000));
        assert!(over.contains(&20.0));
    }

    /// Prometheus' classic `histogram_quantile` (promql/quantile.go,
    /// `bucketQuantile`): cumulative counts per upper bound, the last bound
    /// `+Inf`; linear interpolation inside the bucket holding the rank, lower
    /// bound 0 for the first bucket, and the second-highest bound when the rank
    /// falls into `+Inf`.
    fn histogram_quantile(q: f64, bounds: &[(f64, f64)]) -> f64 {
        assert_eq!(bounds.last().map(|b| b.0), Some(f64::INFINITY));
        if bounds.len() < 2 {
            return f64::NAN;
        }
        let observations = bounds[bounds.len() - 1].1;
        if observations == 0.0 {
            return f64::NAN;
        }
        let mut rank = q * observations;
        let b = bounds[..bounds.len() - 1].partition_point(|&(_, count)| count < rank);
        if b == bounds.len() - 1 {
            return bounds[bounds.len() - 2].0;
        }
        if b == 0 && bounds[0].0 <= 0.0 {
            return bounds[0].0;
        }
        let (bucket_end, mut count) = bounds[b];
        let mut bucket_start = 0.0;
        if b > 0 {
            bucket_start = bounds[b - 1].0;
            count -= bounds[b - 1].1;
            rank -= bounds[b - 1].1;
        }
        bucket_start + (bucket_end - bucket_start) * (rank / count)
    }

    /// `sorted` must be sorted ascending.
    fn cumulative(buckets: &[f64], sorted: &[f64]) -> Vec<(f64, f64)> {
        let mut out: Vec<(f64, f64)> = buckets
            .iter()
            .map(|&le| (le, sorted.partition_point(|&s| s <= le) as f64))
            .collect();
        out.push((f64::INFINITY, sorted.len() as f64));
        out
    }

    #[test]
    fn prometheus_quantile_reference_behaves_like_promql() {
        let h = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)];
        assert_eq!(histogram_quantile(0.5, &h), 1.5);
        assert_eq!(histogram_quantile(0.1, &h), 0.3);
        // Rank in +Inf: the highest finite bound.
        assert_eq!(histogram_quantile(0.9, &h), 2.0);
        assert!(histogram_quantile(0.5, &[(f64::INFINITY, 0.0)]).is_nan());
    }

    fn normal(rng: &mut fastrand::Rng) -> f64 {
        let u1 = 1.0 - rng.f64();
        let u2 = rng.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// For budgets spread over three decades and true p95s from 0.9 to 1.1 of
    /// the budget, the interpolated p95 stays within 5 % of the sample p95 and
    /// is on the same side of the budget. The plain grid of
    /// [`default_buckets`] misses that bound on the same samples, so the test
    /// does discriminate between layouts.
    #[test]
    fn p95_near_the_budget_is_estimated_within_five_percent() {
        const N: usize = 10_000;
        let budgets = [ms(200), ms(500), ms(2000)];
        let buckets = for_budgets(&budgets, ms(10_000));
        let plain = default_buckets(ms(10_000));
        let mut rng = fastrand::Rng::with_seed(95);
        let (mut worst, mut worst_plain) = (0.0_f64, 0.0_f64);
        for budget in budgets.map(secs) {
            for sigma in [0.2_f64, 0.5, 1.0] {
                for step in 0..=10 {
                    let target = budget * (0.9 + 0.02 * f64::from(step));
                    // Lognormal whose theoretical p95 is `target` (z_0.95 = 1.645).
                    let median = target / (1.645 * sigma).exp();
                    let mut samples: Vec<f64> = (0..N)
                        .map(|_| median * (sigma * normal(&mut rng)).exp())
                        .collect();
                    samples.sort_unstable_by(f64::total_cmp);
                    // The sample Prometheus' rank (0.95 × N, an integer here) points at.
                    let truth = samples[N * 95 / 100 - 1];
                    let estimate = histogram_quantile(0.95, &cumulative(&buckets, &samples));
                    let err = (estimate - truth).abs() / truth;
                    worst = worst.max(err);
                    assert!(
                        err <= 0.05,
                        "budget {budget}, sigma {sigma}: estimate {estimate} vs {truth} ({err})"
                    );
                    assert_eq!(
                        estimate > budget,
                        truth > budget,
                        "budget {budget}: {estimate} vs {truth}"
                    );
                    let estimate = histogram_quantile(0.95, &cumulative(&plain, &samples));
                    worst_plain = worst_plain.max((estimate - truth).abs() / truth);
                }
            }
        }
        // Linear interpolation over ~5 % buckets does far better than the
        // width bound (about 1 % at worst here).
        assert!(worst < 0.02, "worst relative error {worst}");
        assert!(worst_plain > 0.05, "plain grid worst error {worst_plain}");
    }
}
