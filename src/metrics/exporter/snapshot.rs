//! The status page's view of the exporter's state: the last result of every
//! flow, each step's window quantiles against its budgets and its last runs,
//! and the probe's own health. Reads the same state (and the same HDR
//! windows) as the Prometheus exposition, under the same lock.

use std::sync::Arc;
use std::time::Instant;

use super::{BUDGET_WINDOW, FlowSeries, Metrics, StepSeries, budget_verdicts, window_label};
use crate::builtins::{rfc3339_utc, unix_now};
use crate::flow::{Outcome, StepResult};
use crate::metrics::process::ProcessSample;
use crate::metrics::window::WindowQuantiles;
use crate::status::{
    Certificate, Check, FindingStatus, FlowStatus, HistoryPoint, LastRun, Percentiles, ProbeHealth,
    Snapshot, State, StepStatus, Summary, Window,
};

impl Metrics {
    /// What the status page and `/api/status` show; `ready` is the scheduler's
    /// readiness (`/-/ready`).
    pub fn snapshot(self: &Arc<Self>, ready: bool) -> Snapshot {
        let process = ProcessSample::read();
        let now_unix = unix_now();
        let now = Instant::now();
        let mut guard = self.state();
        let st = &mut *guard;
        let mut flows = Vec::with_capacity(st.flows.len());
        let (mut runs_total, mut skipped_total, mut lag_sum, mut lag_count) = (0, 0, 0.0, 0);
        let mut lag_last_max: f64 = 0.0;
        for ((target, name), f) in st.flows.iter_mut() {
            runs_total += f.runs;
            skipped_total += f.skipped;
            lag_sum += f.lag.sum;
            lag_count += f.lag.count;
            if f.runs > 0 {
                lag_last_max = lag_last_max.max(f.last_lag);
            }
            let steps = f
                .steps
                .iter_mut()
                .enumerate()
                .map(|(i, s)| {
                    let windows = s.windows.read(now, &mut st.scratch);
                    let res = f
                        .last
                        .as_ref()
                        .and_then(|r| r.steps.get(i))
                        .filter(|r| r.name == s.name);
                    step_status(s, res, &windows)
                })
                .collect();
            flows.push((f.order, flow_status(target, name, f, steps)));
        }
        // Checklist order, as the console prints it: flows without a group
        // first, then each group where its first flow is, flows in file order.
        let group_rank = |g: &Option<String>| -> usize {
            flows
                .iter()
                .filter(|(_, f)| g.is_some() && f.group == *g)
                .map(|(o, _)| *o + 1)
                .min()
                .unwrap_or(0)
        };
        let ranks: Vec<usize> = flows.iter().map(|(_, f)| group_rank(&f.group)).collect();
        let mut keyed: Vec<((usize, usize), FlowStatus)> = flows
            .into_iter()
            .zip(ranks)
            .map(|((o, f), r)| ((r, o), f))
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        let flows: Vec<FlowStatus> = keyed.into_iter().map(|(_, f)| f).collect();
        let mut summary = Summary {
            flows: flows.len(),
            ..Summary::default()
        };
        for f in &flows {
            match f.state {
                State::Passed => summary.passing += 1,
                State::Slow => {
                    summary.passing += 1;
                    summary.slow += 1;
                }
                State::Failed => summary.failing += 1,
                _ => summary.pending += 1,
            }
            summary.accepted += f.accepted;
            summary.resolved += f.findings.iter().filter(|x| x.state == "resolved").count();
            summary.expired += f.findings.iter().filter(|x| x.state == "expired").count();
        }
        let probe = ProbeHealth {
            version: env!("CARGO_PKG_VERSION"),
            location: self.location.clone(),
            started_at: rfc3339_utc(self.started),
            uptime_seconds: (now_unix - self.started).max(0.0),
            ready,
            flows_configured: flows.len(),
            last_reload_successful: st.reload_ok,
            last_reload_success_at: (st.reload_success_at > 0.0)
                .then(|| rfc3339_utc(st.reload_success_at)),
            reloads_succeeded: st.reloads[0],
            reloads_failed: st.reloads[1],
            schedule_lag_last_max_seconds: lag_last_max,
            schedule_lag_mean_seconds: if lag_count == 0 {
                0.0
            } else {
                lag_sum / lag_count as f64
            },
            runs_total,
            skipped_runs_total: skipped_total,
            resident_memory_bytes: process.resident_bytes,
            secrets: crate::credentials::Guard::shared().secrets(),
            left_behind: crate::flow::leftovers::Leftovers::shared().list(),
        };
        Snapshot {
            now: now_unix,
            generated_at: rfc3339_utc(now_unix),
            probe,
            summary,
            flows,
        }
    }
}

fn flow_status(target: &str, name: &str, f: &FlowSeries, steps: Vec<StepStatus>) -> FlowStatus {
    let state = match f.last.as_ref().map(|r| r.outcome) {
        None => State::Pending,
        Some(Outcome::Passed) if steps.iter().any(|s| s.state == State::Slow) => State::Slow,
        Some(Outcome::Passed) => State::Passed,
        Some(_) => State::Failed,
    };
    FlowStatus {
        target: target.to_string(),
        flow: name.to_string(),
        group: f.group.clone(),
        description: f.description.clone(),
        interval_seconds: f.interval.as_secs_f64(),
        state,
        last_run: f.last.as_ref().map(|r| LastRun {
            run_id: r.run_id.clone(),
            started_at: r.started_at.clone(),
            finished_at: rfc3339_utc(f.finished_at),
            finished_unix: f.finished_at,
            duration_seconds: r.duration.as_secs_f64(),
        }),
        consecutive_failures: f.consecutive_failures,
        runs: f.runs,
        skipped_runs: f.skipped,
        accepted: steps.iter().map(|s| s.accepted).sum(),
        steps,
        findings: f
            .last
            .iter()
            .flat_map(|r| r.findings.iter())
            .map(|u| FindingStatus {
                entry: u.entry.clone(),
                step: u.step.clone(),
                rule: u.rule.clone(),
                on: u.on.clone(),
                reason: u.reason.clone(),
                until: u.until.clone(),
                state: if u.resolved() {
                    "resolved"
                } else if u.expired {
                    "expired"
                } else {
                    "active"
                },
                matched: u.matched,
            })
            .collect(),
    }
}

fn step_status(
    s: &StepSeries,
    res: Option<&StepResult>,
    windows: &[WindowQuantiles],
) -> StepStatus {
    let mut budget = Percentiles::default();
    for (q, v) in &s.budget {
        match *q {
            "p50" => budget.p50 = Some(*v),
            "p95" => budget.p95 = Some(*v),
            _ => budget.p99 = Some(*v),
        }
    }
    let over_budget: Vec<&'static str> = budget_verdicts(s, windows)
        .into_iter()
        .filter(|(_, over)| *over)
        .map(|(q, _)| q)
        .collect();
    let windows: Vec<Window> = windows
        .iter()
        .map(|w| Window {
            window: window_label(w.window),
            count: w.count,
            p50: w.quantiles.map(|q| q.p50.as_secs_f64()),
            p95: w.quantiles.map(|q| q.p95.as_secs_f64()),
            p99: w.quantiles.map(|q| q.p99.as_secs_f64()),
            max: w.quantiles.map(|q| q.max.as_secs_f64()),
            saturated: w.saturated,
        })
        .collect();
    let shown_label = window_label(BUDGET_WINDOW);
    let shown = windows
        .iter()
        .find(|w| w.window == shown_label)
        .or_else(|| windows.first());
    let quantiles = shown.map_or_else(Percentiles::default, |w| Percentiles {
        p50: w.p50,
        p95: w.p95,
        p99: w.p99,
    });
    let state = match res.map(|r| r.outcome) {
        None => State::Pending,
        // It worked, but over the window it is slower than its budget.
        Some(Outcome::Passed) if !over_budget.is_empty() => State::Slow,
        Some(Outcome::Passed) => State::Passed,
        Some(Outcome::Failed) => State::Failed,
        Some(Outcome::Skipped) => State::Skipped,
    };
    let checks: Vec<Check> = res
        .map(|r| {
            r.checks
                .iter()
                .map(|c| Check {
                    check: c.check.clone(),
                    on: c.on.clone(),
                    passed: c.passed,
                    warning: c.warning,
                    expected: c.expected.clone(),
                    actual: c.actual.clone(),
                    accepted: c.accepted.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    StepStatus {
        name: s.name.clone(),
        kind: s.kind,
        always: s.always,
        state,
        method: res
            .filter(|r| !r.method.is_empty())
            .map(|r| r.method.clone()),
        url: res.filter(|r| !r.url.is_empty()).map(|r| r.url.clone()),
        status: res.and_then(|r| r.status),
        duration_seconds: res.and_then(|r| r.duration).map(|d| d.as_secs_f64()),
        attempts: res.filter(|r| r.attempts > 0).map(|r| r.attempts),
        reason: res
            .filter(|r| r.outcome == Outcome::Failed)
            .and_then(|r| r.reason)
            .map(|r| r.as_str()),
        message: res.and_then(|r| r.message.clone()),
        budget,
        window: shown.map_or_else(String::new, |w| w.window.clone()),
        quantiles,
        samples: shown.map_or(0, |w| w.count),
        over_budget,
        windows,
        failed_checks: checks.iter().filter(|c| c.is_failure()).count(),
        warnings: checks.iter().filter(|c| !c.passed && c.warning).count(),
        accepted: checks.iter().filter(|c| c.is_accepted()).count(),
        checks,
        certificate: res.and_then(|r| r.tls.as_ref()).map(|t| Certificate {
            days_left: t.days_left,
            not_after: t.not_after.clone(),
            subject: t.subject.clone(),
            issuer: t.issuer.clone(),
        }),
        history: s
            .history
            .points()
            .into_iter()
            .map(|p| HistoryPoint {
                seconds: p.micros.map(|m| f64::from(m) / 1e6),
                passed: p.passed,
            })
            .collect(),
    }
}
