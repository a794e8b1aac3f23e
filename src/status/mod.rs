//! The status page of `smokeprobe run`: what it shows ([`Snapshot`], built by
//! `metrics::Metrics::snapshot` from the same state `/metrics` reads, and
//! served as JSON at `/api/status`) and how it is drawn ([`html`]: one
//! server-rendered page, readable without JavaScript, whose small embedded
//! script re-fetches the page's `<main>` every few seconds).
//!
//! Every string here either comes from the configuration (names, groups,
//! descriptions) or from a `FlowResult`, whose text the runner already
//! redacted; the page escapes all of it (maud's `html!` in [`html`]).

pub mod html;

use serde::Serialize;

/// Everything the page and `/api/status` show, at one instant.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// When this was taken, unix seconds.
    pub now: f64,
    pub generated_at: String,
    pub probe: ProbeHealth,
    pub summary: Summary,
    pub flows: Vec<FlowStatus>,
}

/// The probe's own health.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeHealth {
    pub version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub started_at: String,
    pub uptime_seconds: f64,
    /// Every flow scheduled at start has finished a run (`/-/ready`).
    pub ready: bool,
    pub flows_configured: usize,
    /// `None` before the first load was reported.
    pub last_reload_successful: Option<bool>,
    /// The last successful (re)load, RFC 3339; `None` if there was none.
    pub last_reload_success_at: Option<String>,
    pub reloads_succeeded: u64,
    pub reloads_failed: u64,
    /// The largest schedule lag among each flow's last run (seconds).
    pub schedule_lag_last_max_seconds: f64,
    /// Mean schedule lag over every run since start (seconds).
    pub schedule_lag_mean_seconds: f64,
    pub runs_total: u64,
    pub skipped_runs_total: u64,
    /// From `/proc/self` (Linux only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident_memory_bytes: Option<f64>,
    /// Every secret variable the flows have used, and whether the target
    /// refused its value (then nothing carrying it is sent).
    pub secrets: Vec<crate::credentials::SecretState>,
    /// Objects the probe created and could not delete yet (retried).
    pub left_behind: Vec<crate::flow::leftovers::LeftBehind>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub flows: usize,
    /// Flows whose last run passed (slow ones included).
    pub passing: usize,
    /// Passing flows with a step whose window percentile is over its budget.
    pub slow: usize,
    pub failing: usize,
    /// No finished run yet.
    pub pending: usize,
    /// Rule failures accepted by a findings file (`--accept`) in the flows'
    /// last runs: they did not fail them.
    pub accepted: usize,
    /// Findings-file entries that matched nothing in their flow's last run.
    pub resolved: usize,
    /// Findings-file entries past their `until` day.
    pub expired: usize,
}

/// `passed`, `slow` (passed, but a percentile over the 5m window is above
/// its budget; for a flow: one of its steps is slow), `failed`, `skipped` (a
/// step an earlier failure skipped) or `pending` (no finished run yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Passed,
    Slow,
    Failed,
    Skipped,
    Pending,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Passed => "passed",
            State::Slow => "slow",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::Pending => "pending",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowStatus {
    pub target: String,
    pub flow: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub interval_seconds: f64,
    pub state: State,
    /// The last finished run (`None` before the first).
    pub last_run: Option<LastRun>,
    pub consecutive_failures: u64,
    pub runs: u64,
    pub skipped_runs: u64,
    pub steps: Vec<StepStatus>,
    /// Rule failures of the last run that a findings file accepted.
    pub accepted: usize,
    /// The findings-file entries naming this flow, after its last run.
    pub findings: Vec<FindingStatus>,
}

/// A findings-file entry (`--accept`), after its flow's last run.
#[derive(Clone, Debug, Serialize)]
pub struct FindingStatus {
    /// `FILE:LINE`.
    pub entry: String,
    pub step: String,
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    pub reason: String,
    pub until: String,
    /// `active`, `expired` (its failures fail again) or `resolved` (it
    /// matched nothing: remove it).
    pub state: &'static str,
    /// Failed verdicts it matched in the last run.
    pub matched: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    /// Unix seconds, for "… ago".
    pub finished_unix: f64,
    pub duration_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepStatus {
    pub name: String,
    /// `request` or the built-in check kind (`cors`, `security_headers`, …).
    pub kind: &'static str,
    /// A cleanup step (`always: true`).
    pub always: bool,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// The failure reason (`status`, `assertion`, `timeout`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// What went wrong, or why the step was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub budget: Percentiles,
    /// The HDR window the page shows (`5m`), and its quantiles.
    pub window: String,
    pub quantiles: Percentiles,
    pub samples: u64,
    /// Percentiles of `window` above their budget (`p95`, …).
    pub over_budget: Vec<&'static str>,
    /// Every configured window (1m, 5m, 15m).
    pub windows: Vec<Window>,
    /// The last run's verdicts: assertions of a request step, rules × subjects
    /// of a built-in check.
    pub checks: Vec<Check>,
    /// Failed verdicts that fail the step (accepted ones are not counted).
    pub failed_checks: usize,
    pub warnings: usize,
    /// Failed verdicts a findings file accepted.
    pub accepted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// The last runs, oldest first (for the sparkline).
    pub history: Vec<HistoryPoint>,
}

/// p50/p95/p99 in seconds; `None` where there is no budget or no sample.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Percentiles {
    pub fn get(&self, q: &str) -> Option<f64> {
        match q {
            "p50" => self.p50,
            "p95" => self.p95,
            "p99" => self.p99,
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Window {
    pub window: String,
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// The sample ring dropped samples still inside this window.
    pub saturated: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    pub passed: bool,
    pub warning: bool,
    pub expected: String,
    pub actual: String,
    /// The findings-file entry that accepts this failure (or did, `expired`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<crate::flow::Acceptance>,
}

impl Check {
    /// Failed, not a warning, not accepted: this is why its step is red.
    pub fn is_failure(&self) -> bool {
        !self.passed && !self.warning && !self.is_accepted()
    }

    /// Failed, and accepted by an entry still in force.
    pub fn is_accepted(&self) -> bool {
        !self.passed && !self.warning && self.accepted.as_ref().is_some_and(|a| !a.expired)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Certificate {
    pub days_left: f64,
    pub not_after: String,
    pub subject: String,
    pub issuer: String,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct HistoryPoint {
    /// `None` when no response came back.
    pub seconds: Option<f64>,
    pub passed: bool,
}
