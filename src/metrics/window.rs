//! Sliding-window latency quantiles per step (p50/p95/p99/max over the last
//! 1 m, 5 m, 15 m), with HDR semantics at 3 significant digits and a fixed,
//! small memory footprint.
//!
//! # Design
//!
//! A continuously running probe records *one* duration per step per flow run,
//! and flows run every 10 s … 5 min. A 15-minute window therefore holds 3 … 90
//! samples. Keeping a full `hdrhistogram::Histogram` (3 significant digits,
//! 1 µs … 1 h: 23,552 `u64` counters, 184 KB) per window, or a ring of
//! time-sliced histograms per step, would spend hundreds of kilobytes per step
//! to summarise a few dozen numbers, and clearing/merging those counters at
//! every scrape would cost more than the samples themselves.
//!
//! So each step keeps a bounded ring of raw samples `(timestamp, duration)` —
//! 8 bytes each (`u32` milliseconds since a per-step base, `u32` microseconds)
//! — and computes the quantiles at read time:
//!
//! - **Capacity** is derived from the flow interval and the longest window:
//!   `ceil(longest / interval) * 2 + 16`, capped by [`WindowSpec::max_samples`]
//!   (default [`DEFAULT_MAX_SAMPLES`] = 4096). The factor 2 and the 16 leave room
//!   for jitter, retries and manually triggered runs. The ring is allocated once,
//!   in [`StepWindows::new`] (and written once there, so that its pages are
//!   resident from the start), and never grows: memory per step is constant,
//!   in the allocation and in RSS, from creation on (see
//!   [`StepWindows::memory_bytes`]). A 10 s flow with
//!   the default windows keeps 196 samples: ~1.7 KB per step, ~1.7 MB for
//!   1,000 single-step flows.
//! - **Eviction** happens on every record and read: by time (older than the
//!   longest window) and by capacity (the oldest sample goes when the ring is
//!   full). If capacity evicts a sample that was still inside a window, that
//!   window covers less time than its name says; [`WindowQuantiles::saturated`]
//!   reports it instead of hiding it.
//! - **Windows are suffixes of the ring**, because samples are kept in time
//!   order. A read finds each window's start by binary search, copies that
//!   suffix into a caller-provided [`Scratch`] buffer and selects the three ranks
//!   with `select_nth_unstable` (O(n), no sort, no allocation once the scratch
//!   buffer has grown). Measured in a release build: recording costs ~15 ns;
//!   reading 1,000 steps of a 10 s flow (3 windows each, 12,000 series) takes
//!   ~1 ms, and ~34 ms if every ring is full at the 4096 cap (flows every
//!   100 ms), which is the price of that cap.
//!
//! # HDR semantics, reproduced exactly
//!
//! The values are what `hdrhistogram::Histogram::<u64>::new_with_bounds(1,
//! 3_600_000_000, 3)` would report for the same samples (the tests check this
//! against the real crate):
//!
//! - `value_at_quantile(q)`: take the sample of 1-based rank
//!   `max(1, ceil(q * count))` (computed in `f64`, as the crate does), and report
//!   the *highest equivalent value* of its bucket.
//! - `max()`: the highest equivalent value of the largest sample.
//! - Highest equivalent value, for a lowest discernible value of 1 and 3
//!   significant digits (2048 sub-buckets): values below 2048 µs are exact;
//!   above, each power-of-two range `[2^k, 2^(k+1))` is split into 1024 steps of
//!   `2^(k-10)` µs, and a value is rounded *up* to the last value of its step.
//!   Example: 12 345 µs lies in `[8192, 16384)`, steps of 8 µs, so it reads back
//!   as 12 351 µs. The relative error is below 1/1024 (< 0.1 %).
//!
//! Durations are clamped to 1 µs … 1 h before recording, so zero and absurd
//! values neither panic nor distort the ring's `u32` storage.
//!
//! # Time
//!
//! Time is injected (`now: Instant` on every call) so tests are deterministic.
//! Timestamps have millisecond resolution; a sample recorded at `t` belongs to a
//! window `w` at time `now` iff `now - t < w`. A `now` earlier than one already
//! seen is treated as the latest one seen, which keeps the ring in time order
//! when callers on different threads race.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Durations are clamped to this range (microseconds) before recording.
pub const LOWEST_MICROS: u64 = 1;
/// One hour: far beyond any step timeout, and it fits in a `u32`.
pub const HIGHEST_MICROS: u64 = 3_600_000_000;
/// Default cap on the samples kept per step.
pub const DEFAULT_MAX_SAMPLES: usize = 4096;

/// Windows longer than this are clamped: the ring's `u32` millisecond offsets
/// need headroom above the longest window (see `REBASE_AFTER_MS`).
const MAX_WINDOW_MS: u32 = 7 * 24 * 3600 * 1000;
/// Once the base is this far behind `now`, offsets are shifted back. It is
/// larger than any window and leaves 2^31 ms of headroom below `u32::MAX`.
const REBASE_AFTER_MS: u64 = 1 << 31;
/// Extra slots beyond `2 × expected samples`, for short windows and jitter.
const CAPACITY_SLACK: usize = 16;

/// Which sliding windows to keep, and how many samples at most per step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window lengths, reported in this order. Millisecond resolution,
    /// clamped to 1 ms … 7 days.
    pub windows: Vec<Duration>,
    /// Upper bound on the ring capacity of one step (at least 1).
    pub max_samples: usize,
}

impl Default for WindowSpec {
    fn default() -> Self {
        WindowSpec {
            windows: vec![
                Duration::from_secs(60),
                Duration::from_secs(5 * 60),
                Duration::from_secs(15 * 60),
            ],
            max_samples: DEFAULT_MAX_SAMPLES,
        }
    }
}

/// HDR-rounded quantiles of the samples in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantiles {
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// One window's summary, as read at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowQuantiles {
    pub window: Duration,
    /// Samples inside the window.
    pub count: u64,
    /// `None` when the window holds no sample (export nothing, not zero).
    pub quantiles: Option<Quantiles>,
    /// The ring was full and dropped a sample that was still inside this
    /// window: the quantiles cover less time than `window`.
    pub saturated: bool,
}

/// Reusable buffer for [`StepWindows::read`]; one per scrape, shared by all
/// steps, so reading allocates nothing once it has grown.
#[derive(Debug, Default)]
pub struct Scratch {
    values: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Milliseconds since `StepWindows::base_ms`.
    at: u32,
    micros: u32,
}

/// The sliding windows of one step.
#[derive(Debug)]
pub struct StepWindows {
    samples: VecDeque<Sample>,
    capacity: usize,
    windows_ms: Box<[u32]>,
    longest_ms: u32,
    /// The first `now` seen; timestamps are milliseconds since it.
    origin: Option<Instant>,
    base_ms: u64,
    latest_ms: u64,
    /// Timestamp of the newest sample dropped because the ring was full.
    capacity_evicted_ms: Option<u64>,
}

impl StepWindows {
    /// A step whose flow runs every `interval`. The ring is allocated here,
    /// once, and never grows.
    pub fn new(interval: Duration, spec: &WindowSpec) -> Self {
        let windows_ms: Box<[u32]> = spec
            .windows
            .iter()
            .map(|w| {
                u32::try_from(w.as_millis()).map_or(MAX_WINDOW_MS, |ms| ms.clamp(1, MAX_WINDOW_MS))
            })
            .collect();
        let longest_ms = windows_ms.iter().copied().max().unwrap_or(0);
        let capacity = capacity_for(interval, longest_ms, spec.max_samples);
        let mut samples = VecDeque::with_capacity(capacity);
        // Write every slot once, so the ring's pages are resident from the
        // start: memory is then constant in RSS too, not only in the
        // allocation (otherwise RSS creeps up for as long as the ring fills,
        // up to 32 KB per step at the cap, which looks like a leak).
        samples.resize(
            capacity,
            Sample {
                at: u32::MAX,
                micros: u32::MAX,
            },
        );
        samples.clear();
        StepWindows {
            samples,
            capacity,
            windows_ms,
            longest_ms,
            origin: None,
            base_ms: 0,
            latest_ms: 0,
            capacity_evicted_ms: None,
        }
    }

    /// Records one step duration, clamped to 1 µs … 1 h.
    pub fn record(&mut self, now: Instant, d: Duration) {
        let t = self.clock(now);
        self.evict(t);
        if self.samples.len() >= self.capacity {
            if let Some(old) = self.samples.pop_front() {
                self.capacity_evicted_ms = Some(self.base_ms + u64::from(old.at));
            }
        }
        let micros = u64::try_from(d.as_micros())
            .unwrap_or(HIGHEST_MICROS)
            .clamp(LOWEST_MICROS, HIGHEST_MICROS);
        self.samples.push_back(Sample {
            // `evict` keeps `t - base_ms` below `REBASE_AFTER_MS`.
            at: (t - self.base_ms) as u32,
            micros: micros as u32,
        });
    }

    /// One entry per configured window, in [`WindowSpec::windows`] order.
    /// Takes `&mut self` because it drops expired samples.
    pub fn read(&mut self, now: Instant, scratch: &mut Scratch) -> Vec<WindowQuantiles> {
        let t = self.clock(now);
        self.evict(t);
        self.windows_ms
            .iter()
            .map(|&w| {
                let start = self
                    .samples
                    .partition_point(|s| t - (self.base_ms + u64::from(s.at)) >= u64::from(w));
                scratch.values.clear();
                scratch
                    .values
                    .extend(self.samples.range(start..).map(|s| s.micros));
                WindowQuantiles {
                    window: Duration::from_millis(u64::from(w)),
                    count: scratch.values.len() as u64,
                    quantiles: hdr_quantiles(&mut scratch.values),
                    saturated: self
                        .capacity_evicted_ms
                        .is_some_and(|e| t - e < u64::from(w)),
                }
            })
            .collect()
    }

    /// Heap and inline bytes owned by this step. Constant for the life of
    /// the value: the ring is preallocated.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.samples.capacity() * std::mem::size_of::<Sample>()
            + self.windows_ms.len() * std::mem::size_of::<u32>()
    }

    /// Samples the ring can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn clock(&mut self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        let ms =
            u64::try_from(now.saturating_duration_since(origin).as_millis()).unwrap_or(u64::MAX);
        self.latest_ms = self.latest_ms.max(ms);
        self.latest_ms
    }

    fn evict(&mut self, t: u64) {
        let longest = u64::from(self.longest_ms);
        while let Some(s) = self.samples.front() {
            if t - (self.base_ms + u64::from(s.at)) < longest {
                break;
            }
            self.samples.pop_front();
        }
        if t - self.base_ms >= REBASE_AFTER_MS {
            // Every sample left is younger than `longest`, so its timestamp is
            // above `t - longest` and the shifted offsets stay non-negative.
            let new_base = t - longest;
            let shift = (new_base - self.base_ms) as u32;
            for s in &mut self.samples {
                s.at -= shift;
            }
            self.base_ms = new_base;
        }
    }
}

fn capacity_for(interval: Duration, longest_ms: u32, max_samples: usize) -> usize {
    let interval_ms = interval.as_millis().max(1);
    let per_window = u128::from(longest_ms).div_ceil(interval_ms);
    let wanted = usize::try_from(per_window)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .saturating_add(CAPACITY_SLACK);
    wanted.min(max_samples.max(1))
}

/// `hdrhistogram`'s `highest_equivalent` for a lowest discernible value of 1
/// and 3 significant digits: 2048 sub-buckets, so unit resolution below 2048
/// and 1024 steps per power of two above.
fn highest_equivalent(v: u64) -> u64 {
    let magnitude = 63 - (v | 2047).leading_zeros() - 10;
    v | ((1u64 << magnitude) - 1)
}

/// `hdrhistogram`'s `value_at_quantile` rank: 1-based, `ceil(q * n)`, at least 1.
fn rank(q: f64, n: usize) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n)
}

/// Quantiles of `values` (µs) with HDR rounding. Reorders `values`.
fn hdr_quantiles(values: &mut [u32]) -> Option<Quantiles> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (i50, i95, i99) = (rank(0.5, n) - 1, rank(0.95, n) - 1, rank(0.99, n) - 1);
    // Select the largest rank first; each smaller rank is then selected within
    // the prefix that is already known to hold the smaller values.
    let (_, &mut p99, above) = values.select_nth_unstable(i99);
    let max = above.iter().copied().max().unwrap_or(p99).max(p99);
    let p95 = if i95 < i99 {
        *values[..i99].select_nth_unstable(i95).1
    } else {
        p99
    };
    let p50 = if i50 < i95 {
        *values[..i95].select_nth_unstable(i50).1
    } else {
        p95
    };
    let d = |v: u32| Duration::from_micros(highest_equivalent(u64::from(v)));
    Some(Quantiles {
        p50: d(p50),
        p95: d(p95),
        p99: d(p99),
        max: d(max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    const MIN: Duration = Duration::from_secs(60);

    fn reference() -> Histogram<u64> {
        Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).expect("valid bounds")
    }

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn highest_equivalent_matches_hdrhistogram() {
        let h = reference();
        let mut rng = fastrand::Rng::with_seed(7);
        let edges = (0..32).flat_map(|k| {
            let p = 1u64 << k;
            [p.saturating_sub(1), p, p + 1]
        });
        let random = (0..20_000).map(|_| rng.u64(1..=HIGHEST_MICROS));
        for v in edges
            .chain(random)
            .filter(|&v| (1..=HIGHEST_MICROS).contains(&v))
        {
            assert_eq!(highest_equivalent(v), h.highest_equivalent(v), "value {v}");
        }
        assert_eq!(highest_equivalent(12_345), 12_351);
        assert_eq!(highest_equivalent(2047), 2047);
        assert_eq!(highest_equivalent(2048), 2049);
    }

    #[test]
    fn quantiles_match_hdrhistogram_on_random_sets() {
        let mut rng = fastrand::Rng::with_seed(11);
        for n in (1..=120).chain([199, 200, 201, 999, 1000, 4096]) {
            let values: Vec<u32> = (0..n).map(|_| rng.u32(1..=5_000_000)).collect();
            let mut h = reference();
            for &v in &values {
                h.record(u64::from(v)).expect("in range");
            }
            let q = hdr_quantiles(&mut values.clone()).expect("non-empty");
            assert_eq!(q.p50, us(h.value_at_quantile(0.5)), "n={n}");
            assert_eq!(q.p95, us(h.value_at_quantile(0.95)), "n={n}");
            assert_eq!(q.p99, us(h.value_at_quantile(0.99)), "n={n}");
            assert_eq!(q.max, us(h.max()), "n={n}");
        }
    }

    #[test]
    fn small_known_set_reads_back_hdr_rounded() {
        let t0 = Instant::now();
        let mut w = StepWindows::new(Duration::from_secs(10), &WindowSpec::default());
        let mut scratch = Scratch::default();
        // 1..=9 ms, then 12_345 µs: p50 is the 5th sample, p95 and p99 the 10th.
        for (i, v) in (1..=9).map(|ms| ms * 1000).chain([12_345]).enumerate() {
            w.record(t0 + Duration::from_secs(i as u64), us(v));
        }
        let read = w.read(t0 + Duration::from_secs(10), &mut scratch);
        assert_eq!(read.len(), 3);
        let one_min = read[0];
        assert_eq!(one_min.window, MIN);
        assert_eq!(one_min.count, 10);
        assert!(!one_min.saturated);
        assert_eq!(
            one_min.quantiles,
            Some(Quantiles {
                // 5000 lies in [4096, 8192): steps of 4 µs, rounded up to 5003.
                p50: us(5003),
                p95: us(12_351),
                p99: us(12_351),
                max: us(12_351),
            })
        );
    }

    #[test]
    fn single_sample_and_exact_small_values() {
        let t0 = Instant::now();
        let mut w = StepWindows::new(Duration::from_secs(10), &WindowSpec::default());
        w.record(t0, us(1500));
        let read = w.read(t0, &mut Scratch::default());
        let q = read[0].quantiles.expect("one sample");
        // Below 2048 µs HDR has unit resolution.
        assert_eq!(
            (q.p50, q.p95, q.p99, q.max),
            (us(1500), us(1500), us(1500), us(1500))
        );
    }

    #[test]
    fn samples_age_out_of_the_short_window_but_stay_in_the_longer_ones() {
        let t0 = Instant::now();
        let mut w = StepWindows::new(Duration::from_secs(30), &WindowSpec::default());
        let mut scratch = Scratch::default();
        w.record(t0, Duration::from_millis(900));
        w.record(t0 + Duration::from_secs(30), Duration::from_millis(100));

        let at = |s: u64| t0 + Duration::from_secs(s);
        // 59.999 s after the first sample it is still inside the 1 m window.
        let read = w.read(t0 + Duration::from_millis(59_999), &mut scratch);
        assert_eq!(read[0].count, 2);

        // At exactly 60 s it is out of 1 m, still in 5 m and 15 m.
        let read = w.read(at(60), &mut scratch);
        assert_eq!(read.iter().map(|r| r.count).collect::<Vec<_>>(), [1, 2, 2]);
        assert_eq!(
            read[0].quantiles.expect("one left").max,
            us(highest_equivalent(100_000))
        );
        assert_eq!(
            read[1].quantiles.expect("two").max,
            us(highest_equivalent(900_000))
        );

        let read = w.read(at(30 + 60), &mut scratch);
        assert_eq!(read[0].count, 0);
        assert_eq!(read[0].quantiles, None);
        assert_eq!(read[1].count, 2);

        let read = w.read(at(5 * 60), &mut scratch);
        assert_eq!(read.iter().map(|r| r.count).collect::<Vec<_>>(), [0, 1, 2]);

        let read = w.read(at(30 + 15 * 60), &mut scratch);
        assert!(read.iter().all(|r| r.count == 0 && r.quantiles.is_none()));
    }

    #[test]
    fn capacity_bounds_memory_and_flags_saturated_windows() {
        let t0 = Instant::now();
        let spec = WindowSpec::default();
        // 15 min / 10 s = 90 expected samples: capacity 2 * 90 + 16.
        let mut w = StepWindows::new(Duration::from_secs(10), &spec);
        assert_eq!(w.capacity(), 196);
        let before = w.memory_bytes();
        let mut scratch = Scratch::default();
        // A flow that actually runs every second fills the ring.
        for i in 0..10_000u64 {
            w.record(
                t0 + Duration::from_secs(i),
                Duration::from_millis(i % 500 + 1),
            );
            assert_eq!(w.memory_bytes(), before);
        }
        let read = w.read(t0 + Duration::from_secs(9_999), &mut scratch);
        assert_eq!(w.memory_bytes(), before);
        assert_eq!(read[0].count, 60);
        assert!(!read[0].saturated);
        assert_eq!(read[1].count, 196);
        assert!(read[1].saturated);
        assert!(read[2].saturated);

        // Capped by max_samples for fast flows.
        let fast = StepWindows::new(Duration::from_millis(10), &spec);
        assert_eq!(fast.capacity(), DEFAULT_MAX_SAMPLES);
        let zero = StepWindows::new(Duration::ZERO, &spec);
        assert_eq!(zero.capacity(), DEFAULT_MAX_SAMPLES);
        // 5-minute flows keep few samples.
        let slow = StepWindows::new(Duration::from_secs(300), &spec);
        assert_eq!(slow.capacity(), 3 * 2 + 16);
    }

    #[test]
    fn zero_and_huge_durations_are_clamped() {
        let t0 = Instant::now();
        let mut w = StepWindows::new(Duration::from_secs(10), &WindowSpec::default());
        w.record(t0, Duration::ZERO);
        w.record(t0, Duration::MAX);
        w.record(t0, Duration::from_secs(7200));
        let read = w.read(t0, &mut Scratch::default());
        let q = read[0].quantiles.expect("three samples");
        assert_eq!(q.p50, us(highest_equivalent(HIGHEST_MICROS)));
        assert_eq!(q.max, us(highest_equivalent(HIGHEST_MICROS)));
        assert!(q.max >= Duration::from_secs(3600));

        let mut w = StepWindows::new(Duration::from_secs(10), &WindowSpec::default());
        w.record(t0, Duration::ZERO);
        w.record(t0, Duration::from_nanos(10));
        let q = w.read(t0, &mut Scratch::default())[0]
            .quantiles
            .expect("two");
        assert_eq!((q.p50, q.max), (us(1), us(1)));
    }

    #[test]
    fn time_going_backwards_or_far_forward_is_harmless() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        let mut w = StepWindows::new(Duration::from_secs(10), &WindowSpec::default());
        let mut scratch = Scratch::default();
        w.record(later, us(3000));
        // An earlier `now` (another thread's stale Instant) counts as `later`.
        w.record(t0, us(1000));
        let read = w.read(t0, &mut scratch);
        assert_eq!(read[0].count, 2);

        // Far beyond the u32 offset range: the ring rebases instead of wrapping.
        let mut t = later;
        for _ in 0..3 {
            t += Duration::from_millis(REBASE_AFTER_MS + 12_345);
            w.record(t, us(2000));
            w.record(t + Duration::from_secs(30), us(4000));
            let read = w.read(t + Duration::from_secs(61), &mut scratch);
            assert_eq!(read.iter().map(|r| r.count).collect::<Vec<_>>(), [1, 2, 2]);
        }
    }

    #[test]
    fn custom_windows_are_reported_in_spec_order() {
        let spec = WindowSpec {
            windows: vec![Duration::from_secs(300), Duration::from_secs(10)],
            max_samples: 100,
        };
        let t0 = Instant::now();
        let mut w = StepWindows::new(Duration::from_secs(1), &spec);
        assert_eq!(w.capacity(), 100);
        for i in 0..20 {
            w.record(t0 + Duration::from_secs(i), us(1000 + i));
        }
        let read = w.read(t0 + Duration::from_secs(19), &mut Scratch::default());
        assert_eq!(read[0].window, Duration::from_secs(300));
        assert_eq!(read[0].count, 20);
        assert_eq!(read[1].window, Duration::from_secs(10));
        assert_eq!(read[1].count, 10);

        let empty = WindowSpec {
            windows: vec![],
            max_samples: 0,
        };
        let mut w = StepWindows::new(Duration::from_secs(1), &empty);
        w.record(t0, us(5));
        assert!(w.read(t0, &mut Scratch::default()).is_empty());
    }

    /// Box-Muller: one standard normal variate.
    fn normal(rng: &mut fastrand::Rng) -> f64 {
        let u1 = 1.0 - rng.f64(); // (0, 1]: ln stays finite
        let u2 = rng.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// 95 % lognormal around 20 ms, 5 % lognormal around 300 ms, in µs.
    fn mixture(rng: &mut fastrand::Rng) -> u64 {
        let (median_us, sigma) = if rng.f64() < 0.95 {
            (20_000.0, 0.3)
        } else {
            (300_000.0, 0.4)
        };
        (median_us * (sigma * normal(rng)).exp()).round() as u64
    }

    fn exact(sorted: &[u64], q: f64) -> u64 {
        sorted[rank(q, sorted.len()) - 1]
    }

    #[test]
    fn accuracy_on_100k_samples_of_a_mixture() {
        const N: u64 = 100_000;
        let spec = WindowSpec {
            max_samples: N as usize,
            ..WindowSpec::default()
        };
        let t0 = Instant::now();
        let mut w = StepWindows::new(Duration::from_millis(1), &spec);
        let mut rng = fastrand::Rng::with_seed(2026);
        let samples: Vec<u64> = (0..N).map(|_| mixture(&mut rng)).collect();
        let mut full = reference();
        let mut last_minute = reference();
        for (i, &v) in samples.iter().enumerate() {
            w.record(t0 + Duration::from_millis(i as u64), us(v));
            full.record(v).expect("in range");
            if i as u64 >= N - 60_000 {
                last_minute.record(v).expect("in range");
            }
        }
        let read = w.read(t0 + Duration::from_millis(N - 1), &mut Scratch::default());
        assert_eq!(read[0].count, 60_000);
        assert_eq!(read[1].count, N);
        assert_eq!(read[2].count, N);
        assert!(read.iter().all(|r| !r.saturated));

        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let q = read[1].quantiles.expect("samples");
        for (got, quantile) in [(q.p50, 0.5), (q.p95, 0.95), (q.p99, 0.99)] {
            let truth = exact(&sorted, quantile) as f64;
            let rel = (got.as_micros() as f64 - truth).abs() / truth;
            assert!(rel <= 0.01, "q={quantile}: {got:?} vs {truth} µs ({rel})");
            // And it is exactly what a full HDR histogram says.
            assert_eq!(got, us(full.value_at_quantile(quantile)));
        }
        assert_eq!(q.max, us(full.max()));
        assert_eq!(q.max, us(highest_equivalent(sorted[sorted.len() - 1])));

        let q1 = read[0].quantiles.expect("samples");
        assert_eq!(q1.p95, us(last_minute.value_at_quantile(0.95)));
        assert_eq!(q1.p99, us(last_minute.value_at_quantile(0.99)));
    }
}
