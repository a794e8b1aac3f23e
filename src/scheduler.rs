//! The continuous mode's scheduler: every flow on its own fixed-rate schedule
//! (run k is due at `phase + k × interval`, so nothing drifts), with a random
//! phase per flow within the jitter bound so flows sharing an interval do not
//! fire together. A flow never runs twice at once: a run that is due while the
//! previous one is still going is counted as skipped, not queued. A global
//! semaphore bounds concurrent runs; a run waiting for it shows up as schedule
//! lag. Each run is its own task, so a target that hangs delays nothing but its
//! own flow, and only until the flow deadline.
//!
//! Reload swaps the plan: the schedules of the old plan stop, runs in flight
//! finish (with their cleanup steps), and the new plan's flows start — a flow
//! that keeps its name keeps its "still running" state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Flow;
use crate::flow::{FlowResult, Outcome, Runner, StepResult};
use crate::metrics::Metrics;

/// (target, flow) → "a run of it is in flight", kept across reloads.
type RunningFlags = HashMap<(String, String), Arc<AtomicBool>>;

/// Scheduler settings.
#[derive(Clone, Debug)]
pub struct ScheduleOptions {
    /// Largest random phase offset of a flow's schedule (capped at its interval).
    pub max_jitter: Duration,
    /// Runs in flight at once, over all flows.
    pub concurrency: usize,
    /// On shutdown, how long runs in flight may take to finish.
    pub grace: Duration,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        ScheduleOptions {
            max_jitter: Duration::from_secs(10),
            concurrency: 32,
            grace: Duration::from_secs(30),
        }
    }
}

/// What the scheduler runs: a runner over a plan and the flows to schedule.
#[derive(Clone)]
pub struct Job {
    pub runner: Runner,
    /// Indexes into `runner.plan().flows`.
    pub flows: Vec<usize>,
}

/// Shared between the scheduler, the server (readiness) and the caller.
#[derive(Default)]
pub struct Progress {
    /// Flows (by target/name) that finished at least one run since start.
    done: Mutex<HashMap<(String, String), ()>>,
    expected: Mutex<usize>,
}

impl Progress {
    /// Ready once every flow scheduled at start has finished its first run.
    pub fn ready(&self) -> bool {
        let expected = *self.expected.lock().unwrap_or_else(PoisonError::into_inner);
        self.done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            >= expected
    }

    fn reset(&self, expected: usize) {
        *self.expected.lock().unwrap_or_else(PoisonError::into_inner) = expected;
        self.done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn finished(&self, flow: &Flow) {
        self.done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((flow.target.clone(), flow.name.clone()), ());
    }
}

/// Runs `jobs` (the latest value of the watch) until `shutdown`, then waits
/// up to `grace` for runs in flight.
pub async fn run(
    mut jobs: watch::Receiver<Job>,
    metrics: Arc<Metrics>,
    progress: Arc<Progress>,
    opts: ScheduleOptions,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let running: Arc<Mutex<RunningFlags>> = Arc::default();
    // Runs are detached tasks (a schedule that stops on reload must not
    // cancel a run mid-flow, which would skip its cleanup); shutdown waits
    // for them at the end.
    let runs = TaskTracker::new();
    let mut first_round = true;
    loop {
        let job = jobs.borrow_and_update().clone();
        let flows: Vec<Flow> = job
            .flows
            .iter()
            .filter_map(|i| job.runner.plan().flows.get(*i).cloned())
            .collect();
        metrics.configure(&flows.iter().collect::<Vec<_>>());
        // Readiness means "the first round since start has run": a reload
        // does not make a serving probe unready.
        if first_round {
            progress.reset(flows.len());
            first_round = false;
        }
        let generation = shutdown.child_token();
        let mut schedules: JoinSet<()> = JoinSet::new();
        for flow in flows {
            let flag = running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((flow.target.clone(), flow.name.clone()))
                .or_default()
                .clone();
            schedules.spawn(schedule_flow(
                flow,
                // A shutdown interrupts runs in flight (straight to their
                // cleanup steps); a reload does not.
                job.runner.clone().stop_on(shutdown.clone()),
                flag,
                metrics.clone(),
                progress.clone(),
                permits.clone(),
                opts.max_jitter,
                generation.clone(),
                runs.clone(),
            ));
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                generation.cancel();
                while schedules.join_next().await.is_some() {}
                break;
            }
            changed = jobs.changed() => {
                generation.cancel();
                while schedules.join_next().await.is_some() {}
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    runs.close();
    let _ = tokio::time::timeout(opts.grace, runs.wait()).await;
}

#[allow(clippy::too_many_arguments)]
async fn schedule_flow(
    flow: Flow,
    runner: Runner,
    running: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    progress: Arc<Progress>,
    permits: Arc<Semaphore>,
    max_jitter: Duration,
    stop: CancellationToken,
    runs: TaskTracker,
) {
    let interval = flow.interval.max(Duration::from_millis(1));
    let jitter = max_jitter.min(interval);
    let phase = if jitter.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_nanos(fastrand::u64(0..jitter.as_nanos() as u64))
    };
    let start = Instant::now() + phase;
    let flow = Arc::new(flow);
    let mut k: u32 = 0;
    loop {
        let due = start + interval * k;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        // After a stall (a suspended host, say), the missed slots are skipped
        // runs, not a burst of catch-up runs.
        let now = Instant::now();
        let behind = (now.saturating_duration_since(due).as_nanos() / interval.as_nanos()) as u32;
        if behind > 0 {
            for _ in 0..behind {
                metrics.run_skipped(&flow);
            }
            k += behind;
        }
        let slot_due = start + interval * k;
        k += 1;
        if running.swap(true, Ordering::AcqRel) {
            metrics.run_skipped(&flow);
            continue;
        }
        let (runner, metrics, progress, permits, running, flow) = (
            runner.clone(),
            metrics.clone(),
            progress.clone(),
            permits.clone(),
            running.clone(),
            flow.clone(),
        );
        runs.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let lag = Instant::now().saturating_duration_since(slot_due);
            metrics.run_started(&flow, lag);
            let observer = LogObserver(&runner.plan().accepted);
            let result = runner.run_flow(&flow, &observer).await;
            // An interrupted run says nothing about the target: its verdict
            // and latencies are not recorded.
            log_run(&result);
            if !result.interrupted {
                metrics.run_finished(&flow, result);
            }
            progress.finished(&flow);
            running.store(false, Ordering::Release);
        });
    }
}

/// One log line per failed step as it happens (messages are already
/// redacted); a failure the findings files accept is not one.
struct LogObserver<'a>(&'a [crate::config::Accepted]);

impl crate::flow::FlowObserver for LogObserver<'_> {
    fn step_finished(&self, flow: &Flow, step: &StepResult) {
        let settled = crate::flow::accept::settle(self.0, &flow.target, &flow.name, step);
        let step = settled.as_ref().unwrap_or(step);
        if step.outcome == Outcome::Failed {
            tracing::warn!(
                target: "smokeprobe::step",
                flow = %flow.name,
                target_name = %flow.target,
                step = %step.name,
                reason = step.reason.map(|r| r.as_str()).unwrap_or("failed"),
                status = step.status.unwrap_or(0),
                error = step.message.as_deref().unwrap_or(""),
                "step failed"
            );
        }
    }
}

/// Failed runs at info (their failed steps were logged as warnings), passed
/// runs at debug: a probe running every few seconds must not flood the log.
fn log_run(r: &FlowResult) {
    let ms = r.duration.as_secs_f64() * 1000.0;
    if r.interrupted {
        let cleanup_failed = r
            .steps
            .iter()
            .any(|s| s.always && s.outcome == Outcome::Failed);
        tracing::info!(target: "smokeprobe::flow", flow = %r.flow, target_name = %r.target, duration_ms = ms, cleanup_failed, "flow interrupted by shutdown; its cleanup steps ran");
    } else if r.outcome == Outcome::Passed {
        tracing::debug!(target: "smokeprobe::flow", flow = %r.flow, target_name = %r.target, duration_ms = ms, "flow passed");
    } else {
        tracing::info!(target: "smokeprobe::flow", flow = %r.flow, target_name = %r.target, duration_ms = ms, "flow failed");
    }
}

/// `--shard i/n`: this probe runs the flows whose stable hash falls in slot i
/// of n. Several replicas with the same files and shards 1/n … n/n run every
/// flow exactly once between them; no coordination, nothing to elect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard: write i/n with 1 ≤ i ≤ n, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether `flow` belongs to this shard: FNV-1a over "target/flow", so the
    /// split is the same on every machine, build and run.
    pub fn owns(&self, flow: &Flow) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in flow
            .target
            .bytes()
            .chain(std::iter::once(b'/'))
            .chain(flow.name.bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h % u64::from(self.count) == u64::from(self.index - 1)
    }
}
