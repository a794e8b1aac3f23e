//! `smokeprobe once`: run each selected flow N times, one after another (so
//! runs do not compete for the target and the latencies are honest), then
//! summarise into a report with a verdict.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::builtins;
use crate::config::Flow;
use crate::flow::{FlowObserver, Outcome, Runner, StepResult, fmt_duration};
use crate::report::{self, OnceReport};

#[derive(Clone, Debug)]
pub struct OnceOptions {
    pub samples: u32,
    /// Show progress on stderr while a long run goes.
    pub progress: bool,
}

struct Progress<'a> {
    enabled: bool,
    /// The findings files' entries: an accepted failure shows as `accepted`.
    accepted: &'a [crate::config::Accepted],
}

impl FlowObserver for Progress<'_> {
    fn step_finished(&self, flow: &Flow, step: &StepResult) {
        if self.enabled {
            let settled =
                crate::flow::accept::settle(self.accepted, &flow.target, &flow.name, step);
            let mark = match settled.as_ref().unwrap_or(step).outcome {
                Outcome::Passed if settled.is_some() => "accepted",
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => "skipped",
            };
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K  {} › {} {mark}", flow.name, step.name);
            let _ = err.flush();
        }
    }
}

pub async fn run_once(runner: &Runner, flows: &[&Flow], opts: &OnceOptions) -> OnceReport {
    let started_at = builtins::rfc3339_utc(builtins::unix_now());
    let start = Instant::now();
    let progress = Progress {
        enabled: opts.progress,
        accepted: &runner.plan().accepted,
    };
    let samples = opts.samples.max(1);
    let mut summaries = Vec::with_capacity(flows.len());
    for (i, flow) in flows.iter().enumerate() {
        let mut results = Vec::with_capacity(samples as usize);
        for n in 0..samples {
            if runner.stopping() {
                break;
            }
            if opts.progress {
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K[{}/{}] {} (run {}/{})",
                    i + 1,
                    flows.len(),
                    flow.name,
                    n + 1,
                    samples
                );
                let _ = err.flush();
            }
            results.push(runner.run_flow(flow, &progress).await);
        }
        if !results.is_empty() {
            summaries.push(report::summarize(flow, results));
        }
    }
    if opts.progress {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    let mut report = OnceReport::new(started_at, start.elapsed(), samples, summaries);
    report.refused_secrets = runner
        .guard()
        .secrets()
        .into_iter()
        .filter_map(|s| s.refused)
        .collect();
    report.left_behind = runner.leftovers().list();
    report
}

/// Runs the health flows until they all pass (Ok: attempts, time taken) or
/// `within` runs out (Err: what was still failing). Progress goes to stderr.
pub async fn wait_healthy(
    runner: &Runner,
    flows: &[&Flow],
    within: Duration,
    every: Duration,
    progress: bool,
) -> Result<(u32, Duration), String> {
    let start = std::time::Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let mut failure = None;
        for f in flows {
            let r = runner.run_flow(f, &()).await;
            if r.outcome != Outcome::Passed && failure.is_none() {
                failure = Some(match r.first_failure() {
                    Some(s) => format!(
                        "{}/{}: [{}] {}",
                        r.flow,
                        s.name,
                        s.reason.map(|x| x.as_str()).unwrap_or("failed"),
                        s.message.clone().unwrap_or_default()
                    ),
                    None => format!("{} failed", r.flow),
                });
            }
        }
        let elapsed = start.elapsed();
        let Some(why) = failure else {
            return Ok((attempts, elapsed));
        };
        if runner.stopping() {
            return Err(format!("interrupted; last: {why}"));
        }
        if elapsed + every > within {
            return Err(format!(
                "not healthy within {} ({attempts} attempt(s)); last: {why}",
                fmt_duration(within)
            ));
        }
        if progress {
            eprintln!(
                "waiting for health: attempt {attempts}, {} of {}: {why}",
                fmt_duration(elapsed),
                fmt_duration(within)
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = runner.stopped() => {}
        }
    }
}
