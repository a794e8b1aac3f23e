//! Flow results → Prometheus series. One place turns what the scheduler and the
//! runner report (a run started late, a run skipped, a run finished) into
//! counters, gauges, per-step histograms and HDR window quantiles, and renders
//! them in the classic text format (0.0.4) that `promtool check metrics` and
//! every Prometheus accept.
//!
//! The state is ours, not prometheus-client's metric objects: each step has its
//! own histogram buckets (placed around its budgets), which a `Family` cannot
//! express, and window quantiles are computed at scrape time. A custom
//! `Collector` writes it all through prometheus-client's encoder, which owns
//! the format details (escaping, `_total`, float formatting).
//!
//! Label values come only from the configuration (target, flow, step, rule) or
//! small fixed sets (phase, reason, window, quantile, severity, result,
//! state). Accepted findings are labelled by rule, never by subject or entry.
//!
//! The process's own series (`process_*`, read from `/proc/self`, and the
//! runtime's alive tasks) are read at scrape time too, before the state lock
//! is taken, so a slow `/proc` never holds up the runs reporting results.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::buckets;
use super::history::History;
use super::names::{self, Name};
use super::process::ProcessSample;
use super::window::{Scratch, StepWindows, WindowSpec};

mod snapshot;
use crate::config::Flow;
use crate::flow::{FlowResult, Outcome, Reason};

/// The metrics of a running probe. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Metrics {
    state: Mutex<State>,
    /// `location` label on every series (`--location`), for several probes.
    location: Option<String>,
    /// When the probe started (unix seconds), for the status page's uptime.
    started: f64,
}

#[derive(Default)]
struct State {
    /// (target, flow) → series.
    flows: BTreeMap<(String, String), FlowSeries>,
    reload_ok: Option<bool>,
    reload_success_at: f64,
    reloads: [u64; 2],
    /// Secret variables of the configured flows (the `var` label values).
    secret_vars: std::collections::BTreeSet<String>,
    scratch: Scratch,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("flows", &self.flows.len())
            .finish()
    }
}

/// Lag buckets: a healthy scheduler starts within milliseconds; seconds mean
/// the probe (or its host) is overloaded.
const LAG_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

struct Hist {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Hist {
    fn new(bounds: Vec<f64>) -> Hist {
        let n = bounds.len();
        Hist {
            bounds,
            counts: vec![0; n],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
    }

    /// (upper bound, count in that bucket), as the encoder wants them.
    fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
            .collect()
    }
}

struct FlowSeries {
    /// Position in the configuration (the status page lists flows in it).
    order: usize,
    interval: Duration,
    group: Option<String>,
    description: Option<String>,
    /// The last finished run (already redacted), for the status page.
    last: Option<FlowResult>,
    /// When `last` finished, unix seconds.
    finished_at: f64,
    /// Schedule lag of the last run that started.
    last_lag: f64,
    success: Option<bool>,
    consecutive_failures: u64,
    duration: f64,
    runs: u64,
    skipped: u64,
    /// Finished runs that failed.
    failed_runs: u64,
    lag: Hist,
    steps: Vec<StepSeries>,
}

/// A rule's findings-file entries after the flow's last run.
#[derive(Default)]
struct Findings {
    /// Subjects whose failure was accepted.
    accepted: u64,
    /// Entries per state, in the order of [`names::FINDING_STATES`].
    states: [u64; 3],
    /// The earliest end of an entry's `until` day, unix seconds.
    expiry: Option<f64>,
}

struct StepSeries {
    name: String,
    hist: Hist,
    success: Option<bool>,
    status: Option<u16>,
    phases: Option<[f64; 5]>,
    runs: u64,
    failures: BTreeMap<&'static str, u64>,
    windows: StepWindows,
    budget: Vec<(&'static str, f64)>,
    cert_expiry: Option<i64>,
    /// (rule, severity) → subjects failing in the last run (accepted ones not counted).
    rules: BTreeMap<(String, &'static str), u64>,
    /// Rules the findings files name → what their entries did in the last run.
    findings: BTreeMap<String, Findings>,
    is_check: bool,
    kind: &'static str,
    always: bool,
    /// The last runs, for the status page's sparkline.
    history: History,
}

impl StepSeries {
    fn new(step: &crate::config::Step, interval: Duration, spec: &WindowSpec) -> StepSeries {
        let budgets: Vec<(&'static str, Duration)> = step
            .budget
            .map(|b| {
                [("p50", b.p50), ("p95", b.p95), ("p99", b.p99)]
                    .into_iter()
                    .filter_map(|(q, d)| d.map(|d| (q, d)))
                    .collect()
            })
            .unwrap_or_default();
        let bounds = if budgets.is_empty() {
            buckets::default_buckets(step.timeout)
        } else {
            let ds: Vec<Duration> = budgets.iter().map(|(_, d)| *d).collect();
            buckets::for_budgets(&ds, step.timeout)
        };
        StepSeries {
            name: step.name.clone(),
            hist: Hist::new(bounds),
            success: None,
            status: None,
            phases: None,
            runs: 0,
            failures: BTreeMap::new(),
            windows: StepWindows::new(interval, spec),
            budget: budgets
                .into_iter()
                .map(|(q, d)| (q, d.as_secs_f64()))
                .collect(),
            cert_expiry: None,
            rules: BTreeMap::new(),
            findings: BTreeMap::new(),
            is_check: step.check.is_some(),
            kind: step.check.as_ref().map_or("request", |c| c.kind()),
            always: step.always,
            history: History::default(),
        }
    }
}

fn key(flow: &Flow) -> (String, String) {
    (flow.target.clone(), flow.name.clone())
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            state: Mutex::new(State::default()),
            location: None,
            started: crate::builtins::unix_now(),
        }
    }
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Metrics whose every series carries `location="<name>"`.
    pub fn with_location(location: Option<String>) -> Arc<Metrics> {
        Arc::new(Metrics {
            location,
            ..Metrics::default()
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the flows the probe runs (at start and after a reload). Series of
    /// flows and steps that still exist keep their values; the rest go away.
    pub fn configure(&self, flows: &[&Flow]) {
        let spec = WindowSpec::default();
        let mut st = self.state();
        st.secret_vars = flows
            .iter()
            .flat_map(|f| f.globals.iter().chain(f.vars.iter()))
            .filter(|v| v.secret)
            .map(|v| v.name.clone())
            .collect();
        let mut old = std::mem::take(&mut st.flows);
        for (order, f) in flows.iter().enumerate() {
            let k = key(f);
            let mut series = old.remove(&k).unwrap_or_else(|| FlowSeries {
                order,
                interval: f.interval,
                group: None,
                description: None,
                last: None,
                finished_at: 0.0,
                last_lag: 0.0,
                success: None,
                consecutive_failures: 0,
                duration: 0.0,
                runs: 0,
                skipped: 0,
                failed_runs: 0,
                lag: Hist::new(LAG_BUCKETS.to_vec()),
                steps: Vec::new(),
            });
            let mut old_steps: BTreeMap<String, StepSeries> = series
                .steps
                .drain(..)
                .map(|s| (s.name.clone(), s))
                .collect();
            series.interval = f.interval;
            series.order = order;
            series.group = f.group.clone();
            series.description = f.description.clone();
            series.steps = f
                .steps
                .iter()
                .map(|s| {
                    old_steps
                        .remove(&s.name)
                        .unwrap_or_else(|| StepSeries::new(s, f.interval, &spec))
                })
                .collect();
            st.flows.insert(k, series);
        }
    }

    /// A configuration load or reload: success or failure.
    pub fn reload_result(&self, ok: bool) {
        let mut st = self.state();
        st.reload_ok = Some(ok);
        st.reloads[usize::from(!ok)] += 1;
        if ok {
            st.reload_success_at = crate::builtins::unix_now();
        }
    }

    /// A run started, `lag` after its scheduled time.
    pub fn run_started(&self, flow: &Flow, lag: Duration) {
        if let Some(f) = self.state().flows.get_mut(&key(flow)) {
            f.runs += 1;
            f.lag.observe(lag.as_secs_f64());
            f.last_lag = lag.as_secs_f64();
        }
    }

    /// A run was due while the previous one was still going.
    pub fn run_skipped(&self, flow: &Flow) {
        if let Some(f) = self.state().flows.get_mut(&key(flow)) {
            f.skipped += 1;
        }
    }

    /// A run finished: every step's outcome, duration, phases and verdicts.
    /// The result is kept (until the next run) for the status page.
    pub fn run_finished(&self, flow: &Flow, r: FlowResult) {
        let now = Instant::now();
        let mut st = self.state();
        let Some(f) = st.flows.get_mut(&key(flow)) else {
            return;
        };
        f.success = Some(r.outcome == Outcome::Passed);
        if r.outcome == Outcome::Failed {
            f.failed_runs += 1;
        }
        f.consecutive_failures = if r.outcome == Outcome::Passed {
            0
        } else {
            f.consecutive_failures + 1
        };
        f.duration = r.duration.as_secs_f64();
        for (series, res) in f.steps.iter_mut().zip(r.steps.iter()) {
            if series.name != res.name {
                continue;
            }
            if res.outcome == Outcome::Skipped {
                series.success = None;
                continue;
            }
            series.runs += 1;
            series.success = Some(res.outcome == Outcome::Passed);
            series.status = res.status;
            series.phases = res.phases.map(|p| p.as_array().map(|d| d.as_secs_f64()));
            if let Some(reason) = res.reason.filter(|_| res.outcome == Outcome::Failed) {
                *series.failures.entry(reason.as_str()).or_default() += 1;
            }
            // A duration is a latency sample only when the target answered.
            let answered = res.status.is_some() || !res.checks.is_empty();
            if let (Some(d), true) = (res.duration, answered) {
                series.hist.observe(d.as_secs_f64());
                series.windows.record(now, d);
            }
            series.history.push(
                res.duration.filter(|_| answered),
                res.outcome == Outcome::Passed,
            );
            series.kind = res.kind;
            if let Some(t) = &res.tls {
                series.cert_expiry = Some(t.earliest_expiry);
            }
            if series.is_check {
                series.rules.clear();
                for c in &res.checks {
                    let sev = if c.warning { "warning" } else { "required" };
                    *series.rules.entry((c.check.clone(), sev)).or_default() +=
                        u64::from(!c.passed && !c.is_accepted());
                }
            }
        }
        // Accepted findings: from every step of the last run, skipped ones
        // included (their entries are still in force or expired).
        for series in f.steps.iter_mut() {
            series.findings.clear();
        }
        for u in &r.findings {
            let Some(series) = f.steps.iter_mut().find(|s| s.name == u.step) else {
                continue;
            };
            let accepted = r
                .steps
                .iter()
                .find(|s| s.name == u.step)
                .map(|s| {
                    s.accepted()
                        .filter(|c| c.accepted.as_ref().is_some_and(|a| a.entry == u.entry))
                        .count() as u64
                })
                .unwrap_or(0);
            let state = if u.resolved() {
                2
            } else if u.expired {
                1
            } else {
                0
            };
            let end = crate::builtins::parse_date(&u.until)
                .map(|(y, m, d)| (crate::builtins::days_from_civil(y, m, d) + 1) as f64 * 86_400.0);
            let fs = series.findings.entry(u.rule.clone()).or_default();
            fs.accepted += accepted;
            fs.states[state] += 1;
            fs.expiry = match (fs.expiry, end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        f.finished_at = crate::builtins::unix_now();
        f.last = Some(r);
    }

    /// The exposition, Prometheus text format 0.0.4.
    pub fn render(self: &Arc<Self>) -> String {
        let mut registry = match &self.location {
            Some(l) => Registry::with_labels(
                [(
                    std::borrow::Cow::Borrowed("location"),
                    std::borrow::Cow::Owned(l.clone()),
                )]
                .into_iter(),
            ),
            None => Registry::default(),
        };
        registry.register_collector(Box::new(Exposition(self.clone())));
        let mut out = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# smokeprobe: metrics could not be encoded");
        }
        out
    }
}

/// Content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug)]
struct Exposition(Arc<Metrics>);

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn family<F>(
    enc: &mut DescriptorEncoder,
    name: Name,
    kind: MetricType,
    rows: F,
) -> Result<(), std::fmt::Error>
where
    F: FnOnce(&mut prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error>,
{
    let mut m = enc.encode_descriptor(name.0, name.1, None, kind)?;
    rows(&mut m)
}

fn gauge(
    m: &mut prometheus_client::encoding::MetricEncoder,
    labels: &Labels,
    v: f64,
) -> Result<(), std::fmt::Error> {
    m.encode_family(labels)?.encode_gauge(&v)
}

fn counter(
    m: &mut prometheus_client::encoding::MetricEncoder,
    labels: &Labels,
    v: u64,
) -> Result<(), std::fmt::Error> {
    m.encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

impl Collector for Exposition {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let process = ProcessSample::read();
        // Absent outside a tokio runtime (unit tests rendering directly).
        let alive_tasks = tokio::runtime::Handle::try_current()
            .ok()
            .map(|h| h.metrics().num_alive_tasks());
        encode_process(&mut enc, &process, alive_tasks)?;
        let now = Instant::now();
        let mut guard = self.0.state();
        let st = &mut *guard;
        // Window quantiles first: reading them needs the state mutably.
        let mut windows: Vec<(usize, usize, Vec<super::window::WindowQuantiles>)> = Vec::new();
        for (fi, f) in st.flows.values_mut().enumerate() {
            for (si, s) in f.steps.iter_mut().enumerate() {
                windows.push((fi, si, s.windows.read(now, &mut st.scratch)));
            }
        }
        let st = &*st;
        let flows: Vec<(&(String, String), &FlowSeries)> = st.flows.iter().collect();
        let rows = Rows {
            // Owned label storage so rows can borrow it.
            flow_labels: flows
                .iter()
                .map(|(k, _)| vec![("target", k.0.clone()), ("flow", k.1.clone())])
                .collect(),
            flows,
            windows,
        };
        encode_probe_families(&mut enc, st, &rows)?;
        encode_flow_families(&mut enc, &rows)?;
        encode_step_families(&mut enc, &rows)?;
        encode_finding_families(&mut enc, &rows)?;
        encode_window_families(&mut enc, &rows)
    }
}

/// What one scrape encodes: every flow's series in order, their labels, and
/// each step's window quantiles (read once, under the lock).
struct Rows<'a> {
    flows: Vec<(&'a (String, String), &'a FlowSeries)>,
    flow_labels: Vec<Vec<(&'static str, String)>>,
    windows: Vec<(usize, usize, Vec<super::window::WindowQuantiles>)>,
}

impl Rows<'_> {
    /// `target`, `flow` of flow `i`.
    fn flow(&self, i: usize) -> Labels<'_> {
        self.flow_labels[i]
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect()
    }

    /// `target`, `flow`, `step` (owned: the caller borrows them as labels).
    fn step(&self, i: usize, s: &str) -> Vec<(&'static str, String)> {
        let mut l = self.flow_labels[i].clone();
        l.push(("step", s.to_string()));
        l
    }
}

/// Runs `$body` for every step of every flow with `$l` its labels.
macro_rules! each_step {
    ($rows:ident, $m:ident, |$l:ident, $f:ident, $s:ident, $fi:ident, $si:ident| $body:block) => {{
        for ($fi, (_, $f)) in $rows.flows.iter().enumerate() {
            for ($si, $s) in $f.steps.iter().enumerate() {
                let owned = $rows.step($fi, &$s.name);
                let $l: Labels = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let _ = ($si, &$f);
                $body
            }
        }
        Ok(())
    }};
}

/// The probe's own families: build, configuration, secrets, left-behind
/// objects, reloads.
fn encode_probe_families(
    enc: &mut DescriptorEncoder,
    st: &State,
    rows: &Rows,
) -> Result<(), std::fmt::Error> {
    family(enc, names::BUILD_INFO, MetricType::Gauge, |m| {
        let l: Labels = vec![("version", env!("CARGO_PKG_VERSION"))];
        gauge(m, &l, 1.0)
    })?;
    family(enc, names::FLOWS_CONFIGURED, MetricType::Gauge, |m| {
        gauge(m, &vec![], rows.flows.len() as f64)
    })?;
    // Every secret variable of the configuration, 0 until refused, so an
    // alert on `== 1` never waits on a series that does not exist yet.
    let secrets = crate::credentials::Guard::shared().secrets();
    family(enc, names::SECRET_REFUSED, MetricType::Gauge, |m| {
        for var in &st.secret_vars {
            let refused = secrets.iter().any(|s| &s.var == var && s.refused.is_some());
            gauge(
                m,
                &vec![("var", var.as_str())],
                f64::from(u8::from(refused)),
            )?;
        }
        Ok(())
    })?;
    let leftovers = crate::flow::leftovers::Leftovers::shared();
    let left = leftovers.list();
    family(enc, names::LEFT_BEHIND, MetricType::Gauge, |m| {
        for (i, (k, _)) in rows.flows.iter().enumerate() {
            let n = left
                .iter()
                .filter(|l| l.target == k.0 && l.flow == k.1)
                .count();
            gauge(m, &rows.flow(i), n as f64)?;
        }
        Ok(())
    })?;
    family(enc, names::LEFT_BEHIND_DROPPED, MetricType::Counter, |m| {
        counter(m, &vec![], leftovers.dropped())
    })?;
    if let Some(ok) = st.reload_ok {
        family(enc, names::CONFIG_RELOAD_SUCCESS, MetricType::Gauge, |m| {
            gauge(m, &vec![], f64::from(u8::from(ok)))
        })?;
        family(enc, names::CONFIG_RELOAD_TIME, MetricType::Gauge, |m| {
            gauge(m, &vec![], st.reload_success_at)
        })?;
        family(enc, names::CONFIG_RELOADS, MetricType::Counter, |m| {
            counter(m, &vec![("result", "success")], st.reloads[0])?;
            counter(m, &vec![("result", "failure")], st.reloads[1])
        })?;
    }
    Ok(())
}

/// Per-flow families: blackbox-style success and duration, runs, lag.
fn encode_flow_families(enc: &mut DescriptorEncoder, rows: &Rows) -> Result<(), std::fmt::Error> {
    family(enc, names::PROBE_SUCCESS, MetricType::Gauge, |m| {
        for (i, (_, f)) in rows.flows.iter().enumerate() {
            if let Some(ok) = f.success {
                gauge(m, &rows.flow(i), f64::from(u8::from(ok)))?;
            }
        }
        Ok(())
    })?;
    family(enc, names::PROBE_DURATION, MetricType::Gauge, |m| {
        for (i, (_, f)) in rows.flows.iter().enumerate() {
            if f.success.is_some() {
                gauge(m, &rows.flow(i), f.duration)?;
            }
        }
        Ok(())
    })?;
    family(
        enc,
        names::FLOW_CONSECUTIVE_FAILURES,
        MetricType::Gauge,
        |m| {
            for (i, (_, f)) in rows.flows.iter().enumerate() {
                if f.success.is_some() {
                    gauge(m, &rows.flow(i), f.consecutive_failures as f64)?;
                }
            }
            Ok(())
        },
    )?;
    family(enc, names::FLOW_INTERVAL, MetricType::Gauge, |m| {
        for (i, (_, f)) in rows.flows.iter().enumerate() {
            gauge(m, &rows.flow(i), f.interval.as_secs_f64())?;
        }
        Ok(())
    })?;
    family(enc, names::FLOW_RUNS, MetricType::Counter, |m| {
        for (i, (_, f)) in rows.flows.iter().enumerate() {
            counter(m, &rows.flow(i), f.runs)?;
        }
        Ok(())
    })?;
    family(enc, names::FLOW_FAILED_RUNS, MetricType::Counter, |m| {
        for (i, (_, f)) in rows.flows.iter().enumerate() {
            counter(m, &rows.flow(i), f.failed_runs)?;
        }
        Ok(())
    })?;
    family(enc, names::FLOW_SKIPPED, MetricType::Counter, |m| {
        for (i, (_, f)) in rows.flows.iter().enumerate() {
            counter(m, &rows.flow(i), f.skipped)?;
        }
        Ok(())
    })?;
    family(enc, names::SCHEDULE_LAG, MetricType::Histogram, |m| {
        for (i, (_, f)) in rows.flows.iter().enumerate() {
            m.encode_family(&rows.flow(i))?
                .encode_histogram::<NoLabelSet>(f.lag.sum, f.lag.count, &f.lag.buckets(), None)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Per-step families from the last run and the counters (the rules' and
/// findings' are `encode_finding_families`).
fn encode_step_families(enc: &mut DescriptorEncoder, rows: &Rows) -> Result<(), std::fmt::Error> {
    family(enc, names::PROBE_HTTP_STATUS, MetricType::Gauge, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            if let (Some(code), false) = (s.status, s.is_check) {
                gauge(m, &l, f64::from(code))?;
            }
        })
    })?;
    family(enc, names::PROBE_HTTP_DURATION, MetricType::Gauge, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            if let Some(p) = s.phases {
                for (phase, v) in names::PHASES.iter().zip(p) {
                    let mut l = l.clone();
                    l.push(("phase", phase));
                    gauge(m, &l, v)?;
                }
            }
        })
    })?;
    family(
        enc,
        names::PROBE_SSL_EARLIEST_CERT_EXPIRY,
        MetricType::Gauge,
        |m| {
            each_step!(rows, m, |l, f, s, fi, si| {
                if let Some(t) = s.cert_expiry {
                    gauge(m, &l, t as f64)?;
                }
            })
        },
    )?;
    family(enc, names::STEP_DURATION, MetricType::Histogram, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            m.encode_family(&l)?.encode_histogram::<NoLabelSet>(
                s.hist.sum,
                s.hist.count,
                &s.hist.buckets(),
                None,
            )?;
        })
    })?;
    family(enc, names::STEP_SUCCESS, MetricType::Gauge, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            if let Some(ok) = s.success {
                gauge(m, &l, f64::from(u8::from(ok)))?;
            }
        })
    })?;
    family(enc, names::STEP_RUNS, MetricType::Counter, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            counter(m, &l, s.runs)?;
        })
    })?;
    family(enc, names::STEP_FAILURES, MetricType::Counter, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            // Every reason is exported (at 0 too), so rate() works from the first failure.
            for r in Reason::ALL {
                let mut l = l.clone();
                l.push(("reason", r.as_str()));
                counter(m, &l, s.failures.get(r.as_str()).copied().unwrap_or(0))?;
            }
        })
    })?;
    family(enc, names::STEP_BUDGET, MetricType::Gauge, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            for (q, v) in &s.budget {
                let mut l = l.clone();
                l.push(("percentile", q));
                gauge(m, &l, *v)?;
            }
        })
    })?;
    Ok(())
}

/// Per-step families of the check rules' failures and the accepted findings.
fn encode_finding_families(
    enc: &mut DescriptorEncoder,
    rows: &Rows,
) -> Result<(), std::fmt::Error> {
    family(enc, names::CHECK_RULE_FAILURES, MetricType::Gauge, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            for ((rule, sev), n) in &s.rules {
                let mut l = l.clone();
                l.push(("rule", rule));
                l.push(("severity", sev));
                gauge(m, &l, *n as f64)?;
            }
        })
    })?;
    family(enc, names::CHECK_RULE_ACCEPTED, MetricType::Gauge, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            for (rule, fs) in &s.findings {
                let mut l = l.clone();
                l.push(("rule", rule));
                gauge(m, &l, fs.accepted as f64)?;
            }
        })
    })?;
    family(enc, names::ACCEPTED_FINDINGS, MetricType::Gauge, |m| {
        each_step!(rows, m, |l, f, s, fi, si| {
            for (rule, fs) in &s.findings {
                for (state, n) in names::FINDING_STATES.iter().zip(fs.states) {
                    let mut l = l.clone();
                    l.push(("rule", rule));
                    l.push(("state", state));
                    gauge(m, &l, n as f64)?;
                }
            }
        })
    })?;
    family(
        enc,
        names::ACCEPTED_FINDING_EXPIRY,
        MetricType::Gauge,
        |m| {
            each_step!(rows, m, |l, f, s, fi, si| {
                for (rule, fs) in &s.findings {
                    if let Some(t) = fs.expiry {
                        let mut l = l.clone();
                        l.push(("rule", rule));
                        gauge(m, &l, t)?;
                    }
                }
            })
        },
    )?;
    Ok(())
}

/// Per-step families from the sliding windows (read in `encode`).
fn encode_window_families(enc: &mut DescriptorEncoder, rows: &Rows) -> Result<(), std::fmt::Error> {
    family(enc, names::STEP_OVER_BUDGET, MetricType::Gauge, |m| {
        for (fi, si, ws) in &rows.windows {
            let s = &rows.flows[*fi].1.steps[*si];
            let owned = rows.step(*fi, &s.name);
            for (q, over) in budget_verdicts(s, ws) {
                let mut l: Labels = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                l.push(("percentile", q));
                gauge(m, &l, f64::from(u8::from(over)))?;
            }
        }
        Ok(())
    })?;
    family(enc, names::STEP_WINDOW_QUANTILE, MetricType::Gauge, |m| {
        for (fi, si, ws) in &rows.windows {
            let s = &rows.flows[*fi].1.steps[*si];
            let owned = rows.step(*fi, &s.name);
            for w in ws {
                let Some(qs) = w.quantiles else { continue };
                let wl = window_label(w.window);
                for (q, v) in [("p50", qs.p50), ("p95", qs.p95), ("p99", qs.p99)] {
                    let mut l: Labels = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    l.push(("window", &wl));
                    // Not `quantile`: Prometheus reserves that label for summaries.
                    l.push(("percentile", q));
                    gauge(m, &l, v.as_secs_f64())?;
                }
            }
        }
        Ok(())
    })?;
    family(enc, names::STEP_WINDOW_COUNT, MetricType::Gauge, |m| {
        for (fi, si, ws) in &rows.windows {
            let s = &rows.flows[*fi].1.steps[*si];
            let owned = rows.step(*fi, &s.name);
            for w in ws {
                let wl = window_label(w.window);
                let mut l: Labels = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                l.push(("window", &wl));
                gauge(m, &l, w.count as f64)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn encode_process(
    enc: &mut DescriptorEncoder,
    p: &ProcessSample,
    alive_tasks: Option<usize>,
) -> Result<(), std::fmt::Error> {
    let gauges = [
        (names::PROCESS_RESIDENT_MEMORY, p.resident_bytes),
        (names::PROCESS_VIRTUAL_MEMORY, p.virtual_bytes),
        (names::PROCESS_OPEN_FDS, p.open_fds),
        (names::PROCESS_MAX_FDS, p.max_fds),
        (names::PROCESS_START_TIME, p.start_time_seconds),
        (names::PROCESS_THREADS, p.threads),
        (names::RUNTIME_ALIVE_TASKS, alive_tasks.map(|n| n as f64)),
    ];
    for (name, value) in gauges {
        if let Some(v) = value {
            family(enc, name, MetricType::Gauge, |m| gauge(m, &vec![], v))?;
        }
    }
    if let Some(v) = p.cpu_seconds {
        family(enc, names::PROCESS_CPU, MetricType::Counter, |m| {
            m.encode_family(&Labels::new())?
                .encode_counter::<NoLabelSet, _, u64>(&v, None)
        })?;
    }
    Ok(())
}

/// `1m`, `5m`, `15m`, `30s`, `1h`.
/// The window that decides whether a step is slow (and that the status page
/// shows next to the budgets).
const BUDGET_WINDOW: Duration = Duration::from_secs(300);

/// Each budgeted percentile of `s` and whether the [`BUDGET_WINDOW`] (or the
/// first window, when it is not configured) is over it. Nothing while the
/// window holds no sample.
fn budget_verdicts(
    s: &StepSeries,
    windows: &[super::window::WindowQuantiles],
) -> Vec<(&'static str, bool)> {
    let Some(q) = windows
        .iter()
        .find(|w| w.window == BUDGET_WINDOW)
        .or_else(|| windows.first())
        .and_then(|w| w.quantiles)
    else {
        return Vec::new();
    };
    s.budget
        .iter()
        .map(|(p, limit)| {
            let v = match *p {
                "p50" => q.p50,
                "p95" => q.p95,
                _ => q.p99,
            };
            (*p, v.as_secs_f64() > *limit)
        })
        .collect()
}

fn window_label(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
