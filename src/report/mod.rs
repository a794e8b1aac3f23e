//! One-shot results: per-step summaries over the samples of a run (HDR
//! percentiles against budgets), the verdict and exit code, and the
//! renderings — console checklist, JSON, JUnit, and today's findings as a
//! findings file (`--write-accepted`).

mod console;
mod findings;
mod junit;

pub use console::{ConsoleStyle, render_console};
pub use findings::render_findings;
pub use junit::render_junit;

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::{Budget, Flow};
use crate::credentials::Refusal;
use crate::flow::leftovers::LeftBehind;
use crate::flow::{FlowResult, Outcome, StepResult, fmt_duration, secs};

/// Exit codes: one value per row of the README's exit-code table.
pub mod exit {
    /// The process exit status. The meanings are the README's table, word for
    /// word in spirit; a new code needs a new row there first.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[repr(i32)]
    pub enum ExitCode {
        /// Every check and every latency budget passed (`run`: stopped cleanly).
        Passed = 0,
        /// A check or a budget failed, a latency regression, or a baseline
        /// comparison without a verdict (too few samples, or the Prometheus
        /// history could not be read).
        Failed = 1,
        /// Invalid probe files, findings files or usage; for `run`, a web
        /// endpoint that cannot be served. Nothing was probed on its account.
        Invalid = 2,
        /// Users cannot reach the site (every flow failed to connect).
        Unreachable = 3,
        /// Interrupted by Ctrl-C (128 + SIGINT), after the cleanup steps ran.
        Sigint = 130,
        /// Interrupted by SIGTERM (128 + SIGTERM), after the cleanup steps ran.
        Sigterm = 143,
    }

    impl ExitCode {
        /// The number the process exits with.
        pub fn code(self) -> i32 {
            self as i32
        }
    }

    impl std::fmt::Display for ExitCode {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", self.code())
        }
    }

    /// The JSON report's `exit_code` is the number.
    impl serde::Serialize for ExitCode {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_i32(self.code())
        }
    }
}

pub use exit::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    Unreachable,
    /// A signal stopped the run; its cleanup steps ran. No verdict on the target.
    Interrupted,
}

impl Verdict {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Verdict::Passed => ExitCode::Passed,
            Verdict::Failed => ExitCode::Failed,
            Verdict::Unreachable => ExitCode::Unreachable,
            Verdict::Interrupted => ExitCode::Sigterm,
        }
    }
}

/// Latency percentiles of one step over the samples that got a response.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    #[serde(with = "secs")]
    pub p50: Duration,
    #[serde(with = "secs")]
    pub p95: Duration,
    #[serde(with = "secs")]
    pub p99: Duration,
    #[serde(with = "secs")]
    pub max: Duration,
}

/// A budget line's verdict: e.g. p95 420 ms ≤ 500 ms.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetCheck {
    pub quantile: &'static str,
    #[serde(with = "secs")]
    pub limit: Duration,
    #[serde(with = "secs")]
    pub actual: Duration,
    pub passed: bool,
}

/// Why a flow or step summary failed when every one of its runs passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryReason {
    /// At least one run failed; the steps' `reason` says how.
    Runs,
    /// Every run passed, but a latency percentile is over its budget.
    Budget,
    /// A signal cut a run short (its cleanup steps ran).
    Interrupted,
}

impl SummaryReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryReason::Runs => "runs",
            SummaryReason::Budget => "budget",
            SummaryReason::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StepSummary {
    pub name: String,
    pub always: bool,
    /// `failed` when a sample failed or a percentile is over budget
    /// (`reason: budget` when every sample passed).
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SummaryReason>,
    pub samples: u32,
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Percentiles>,
    /// Samples behind `latency` (those the target answered).
    pub timed_samples: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budget: Vec<BudgetCheck>,
    /// The last failed sample, to show expected vs actual.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<StepResult>,
    /// The last sample (status, URL, message for skips).
    pub last: StepResult,
}

impl StepSummary {
    pub fn budget_ok(&self) -> bool {
        self.budget.iter().all(|b| b.passed)
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    pub fn latency_samples(&self) -> u32 {
        self.timed_samples
    }

    /// Budget lines over their limit, e.g. "p95 620 ms > 500 ms".
    pub fn over_budget(&self) -> Vec<String> {
        self.budget
            .iter()
            .filter(|b| !b.passed)
            .map(|b| {
                format!(
                    "{} {} > {}",
                    b.quantile,
                    fmt_duration(b.actual),
                    fmt_duration(b.limit)
                )
            })
            .collect()
    }

    fn judge(failed: u32, passed: u32, budget_ok: bool) -> (Outcome, Option<SummaryReason>) {
        if failed > 0 {
            (Outcome::Failed, Some(SummaryReason::Runs))
        } else if !budget_ok {
            (Outcome::Failed, Some(SummaryReason::Budget))
        } else if passed == 0 {
            (Outcome::Skipped, None)
        } else {
            (Outcome::Passed, None)
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowSummary {
    pub flow: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub target: String,
    /// `passed` or `failed` over every run and budget; `reason` says why a
    /// flow failed: `runs` (a run failed), `budget` (every run passed, a
    /// percentile is over budget) or `interrupted`.
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SummaryReason>,
    pub runs: u32,
    pub passed_runs: u32,
    pub failed_runs: u32,
    /// Runs a shutdown cut short (their cleanup steps ran).
    #[serde(skip_serializing_if = "is_zero")]
    pub interrupted_runs: u32,
    pub unreachable: bool,
    /// Every step is an `https_redirect` check: the flow talks only to the
    /// plain-HTTP listener, which serves no user, so it does not say whether
    /// users reach the site (exit code 3).
    #[serde(skip)]
    pub redirect_listener_only: bool,
    pub steps: Vec<StepSummary>,
    pub results: Vec<FlowResult>,
}

impl FlowSummary {
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Passed
    }

    /// Only budgets failed: every run passed.
    pub fn only_over_budget(&self) -> bool {
        self.reason == Some(SummaryReason::Budget)
    }

    /// "login p95 620 ms > 500 ms; …" for the steps over budget.
    pub fn over_budget(&self) -> Vec<String> {
        self.steps
            .iter()
            .flat_map(|s| {
                s.over_budget()
                    .into_iter()
                    .map(|b| format!("{} {b}", s.name))
            })
            .collect()
    }

    pub fn budget_failures(&self) -> usize {
        self.steps.iter().filter(|s| !s.budget_ok()).count()
    }

    /// Warnings of the last run (failed rules that do not fail the step).
    pub fn warnings(&self) -> usize {
        self.steps.iter().map(|s| s.last.warnings().count()).sum()
    }

    /// Accepted rule failures of the last run.
    pub fn accepted(&self) -> usize {
        self.steps.iter().map(|s| s.last.accepted().count()).sum()
    }
}

/// The accepted findings over a `once` run: the JSON's `accepted`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AcceptedSummary {
    /// Findings-file entries that name a flow that ran.
    pub entries: usize,
    /// Rule failures accepted in the last run of each flow (they did not fail it).
    pub accepted: usize,
    /// Entries past their `until` that matched a failure: it fails again.
    pub expired: Vec<FindingReport>,
    /// Entries that matched nothing in any run in which their step judged its
    /// rules: the finding is gone, remove the entry (the exit code is not affected).
    pub resolved: Vec<FindingReport>,
}

/// One findings-file entry, as the summary lists it.
#[derive(Clone, Debug, Serialize)]
pub struct FindingReport {
    /// `FILE:LINE`.
    pub entry: String,
    pub flow: String,
    pub step: String,
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    pub reason: String,
    pub until: String,
    /// Failed verdicts it matched, over every run.
    pub matched: u32,
}

impl AcceptedSummary {
    /// Over every run of every flow: an entry is resolved when it matched
    /// nothing in all the runs and its step judged its rules in one of them.
    pub fn of(flows: &[FlowSummary]) -> AcceptedSummary {
        let mut out = AcceptedSummary::default();
        for f in flows {
            // (report, judged in some run, expired)
            let mut seen: Vec<(FindingReport, bool, bool)> = Vec::new();
            for r in &f.results {
                for u in &r.findings {
                    let i = match seen.iter().position(|(s, _, _)| s.entry == u.entry) {
                        Some(i) => i,
                        None => {
                            seen.push((
                                FindingReport {
                                    entry: u.entry.clone(),
                                    flow: f.flow.clone(),
                                    step: u.step.clone(),
                                    rule: u.rule.clone(),
                                    on: u.on.clone(),
                                    reason: u.reason.clone(),
                                    until: u.until.clone(),
                                    matched: 0,
                                },
                                false,
                                false,
                            ));
                            seen.len() - 1
                        }
                    };
                    seen[i].0.matched += u.matched;
                    seen[i].1 |= u.judged;
                    seen[i].2 |= u.expired;
                }
            }
            out.entries += seen.len();
            out.accepted += f.accepted();
            for (rep, judged, expired) in seen {
                if rep.matched == 0 && judged {
                    out.resolved.push(rep);
                } else if expired && rep.matched > 0 {
                    out.expired.push(rep);
                }
            }
        }
        out
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct OnceReport {
    pub smokeprobe: &'static str,
    pub started_at: String,
    #[serde(with = "secs")]
    pub wall: Duration,
    pub samples: u32,
    pub verdict: Verdict,
    pub exit_code: ExitCode,
    /// What the findings files (`--accept`) did in this run.
    pub accepted: AcceptedSummary,
    pub flows: Vec<FlowSummary>,
    /// Secrets the target refused (never sent again, so the account is not
    /// locked); the checklist says so in its verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_secrets: Vec<Refusal>,
    /// Objects the probe created and could not delete: still on the target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_behind: Vec<LeftBehind>,
}

impl OnceReport {
    pub fn new(started_at: String, wall: Duration, samples: u32, flows: Vec<FlowSummary>) -> Self {
        let verdict = if flows.iter().all(|f| f.passed()) {
            Verdict::Passed
        } else if users_cannot_reach(&flows) {
            Verdict::Unreachable
        } else {
            Verdict::Failed
        };
        OnceReport {
            smokeprobe: env!("CARGO_PKG_VERSION"),
            started_at,
            wall,
            samples,
            exit_code: verdict.exit_code(),
            verdict,
            accepted: AcceptedSummary::of(&flows),
            flows,
            refused_secrets: Vec::new(),
            left_behind: Vec::new(),
        }
    }

    /// Marks the report as cut short by a signal; `code` is the exit status.
    pub fn interrupt(&mut self, code: ExitCode) {
        self.verdict = Verdict::Interrupted;
        self.exit_code = code;
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Exit code 3: every flow that says whether users reach the site reached
/// nothing (every request failed with dns, connect or tls, or got only a
/// redirect to such a failure). A flow that only checks the plain-HTTP
/// redirect listener does not say: that listener answering while HTTPS is
/// down still leaves users without a site (unless such flows are all that ran).
fn users_cannot_reach(flows: &[FlowSummary]) -> bool {
    let site: Vec<&FlowSummary> = flows.iter().filter(|f| !f.redirect_listener_only).collect();
    let judged = if site.is_empty() {
        flows.iter().collect()
    } else {
        site
    };
    !judged.is_empty() && judged.iter().all(|f| f.unreachable)
}

/// Summarises the runs of one flow, step by step.
pub fn summarize(flow: &Flow, results: Vec<FlowResult>) -> FlowSummary {
    let mut steps = Vec::with_capacity(flow.steps.len());
    for (i, step) in flow.steps.iter().enumerate() {
        let samples: Vec<&StepResult> = results.iter().filter_map(|r| r.steps.get(i)).collect();
        let count = |o: Outcome| samples.iter().filter(|s| s.outcome == o).count() as u32;
        let durations: Vec<Duration> = samples
            .iter()
            // Timed when the target answered: an HTTP status, or rules a check judged.
            .filter(|s| s.status.is_some() || !s.checks.is_empty())
            .filter_map(|s| s.duration)
            .collect();
        let latency = percentiles(&durations);
        let budget = match (latency, step.budget) {
            (Some(p), Some(b)) => budget_checks(&b, &p),
            _ => Vec::new(),
        };
        let Some(last) = samples.last() else { continue };
        let (passed, failed) = (count(Outcome::Passed), count(Outcome::Failed));
        let (outcome, reason) = StepSummary::judge(failed, passed, budget.iter().all(|b| b.passed));
        steps.push(StepSummary {
            name: step.name.clone(),
            always: step.always,
            outcome,
            reason,
            samples: samples.len() as u32,
            passed,
            failed,
            skipped: count(Outcome::Skipped),
            latency,
            timed_samples: durations.len() as u32,
            budget,
            last_failure: samples
                .iter()
                .rev()
                .find(|s| s.outcome == Outcome::Failed)
                .map(|s| (*s).clone()),
            last: (*last).clone(),
        });
    }
    let runs_with = |o: Outcome| results.iter().filter(|r| r.outcome == o).count() as u32;
    let failed_runs = runs_with(Outcome::Failed);
    let interrupted_runs = results.iter().filter(|r| r.interrupted).count() as u32;
    let reason = if failed_runs > 0 {
        Some(SummaryReason::Runs)
    } else if interrupted_runs > 0 {
        Some(SummaryReason::Interrupted)
    } else if steps.iter().any(|s| !s.budget_ok()) {
        Some(SummaryReason::Budget)
    } else {
        None
    };
    FlowSummary {
        flow: flow.name.clone(),
        group: flow.group.clone(),
        target: flow.target.clone(),
        outcome: if reason.is_some() {
            Outcome::Failed
        } else {
            Outcome::Passed
        },
        reason,
        runs: results.len() as u32,
        passed_runs: runs_with(Outcome::Passed),
        failed_runs,
        interrupted_runs,
        unreachable: !results.is_empty() && results.iter().all(|r| r.unreachable()),
        redirect_listener_only: !flow.steps.is_empty()
            && flow
                .steps
                .iter()
                .all(|s| matches!(s.check, Some(crate::config::Check::HttpsRedirect(_)))),
        steps,
        results,
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// HDR percentiles (3 significant digits, microsecond resolution up to an hour).
pub fn percentiles(durations: &[Duration]) -> Option<Percentiles> {
    if durations.is_empty() {
        return None;
    }
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok()?;
    for d in durations {
        let us = (d.as_micros() as u64).clamp(1, 3_600_000_000);
        h.record(us).ok()?;
    }
    let q = |x: f64| Duration::from_micros(h.value_at_quantile(x));
    Some(Percentiles {
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
        max: Duration::from_micros(h.max()),
    })
}

fn budget_checks(b: &Budget, p: &Percentiles) -> Vec<BudgetCheck> {
    [
        ("p50", b.p50, p.p50),
        ("p95", b.p95, p.p95),
        ("p99", b.p99, p.p99),
    ]
    .into_iter()
    .filter_map(|(q, limit, actual)| {
        limit.map(|limit| BudgetCheck {
            quantile: q,
            limit,
            actual,
            passed: actual <= limit,
        })
    })
    .collect()
}

#[cfg(test)]
mod exit_code_tests {
    use super::ExitCode;

    /// The enum and the README's exit-code table hold the same codes.
    #[test]
    fn every_exit_code_is_a_row_of_the_readme_table_and_back() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("## Exit codes")
            .nth(1)
            .expect("README has an exit-code section");
        let mut documented: Vec<i32> = table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('|').nth(1))
            .flat_map(|cell| cell.split(',').map(|c| c.trim().parse::<i32>().ok()))
            .flatten()
            .collect();
        documented.sort();
        let all = [
            ExitCode::Passed,
            ExitCode::Failed,
            ExitCode::Invalid,
            ExitCode::Unreachable,
            ExitCode::Sigint,
            ExitCode::Sigterm,
        ];
        let codes: Vec<i32> = all.iter().map(|c| c.code()).collect();
        assert_eq!(documented, codes);
        assert_eq!(serde_json::to_string(&ExitCode::Sigterm).unwrap(), "143");
    }
}
