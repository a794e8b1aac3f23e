//! The runner: executes one flow run — its variables, its steps in order, polls,
//! redirects, captures, cleanup steps — over one fresh HTTP session, and returns a
//! [`FlowResult`] whose text is already redacted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION};

use super::admission::{Credential, admit, credentials_in, settle_ticket};
use super::assert::{self, Response};
use super::checks;
use super::credentials::{Guard, Ticket};
use super::failure::{Failure, failure_of};
use super::leftovers::{self, LeftBehind, Leftovers};
use super::{CheckResult, FlowResult, Outcome, PhaseTimes, RUN_HEADER, Reason, StepResult};
use crate::builtins;
use crate::config::template::Scope;
use crate::config::{Assertion, Body, Check, Flow, ForEach, PartSource, Plan, Step};
use crate::imagegen::{self, ImageFormat};
use crate::net::HttpFactory;
use crate::net::http::{self as http_session, Session, SessionOptions};
use crate::redact::Redactor;
use crate::vocab::fmt_duration;
use tokio_util::sync::CancellationToken;

/// Why an object a `leaves:` step created is left behind.
pub const LEAVES_WHY: &str = "created on purpose; no step can delete it (`leaves:`)";

/// How much of an error response the `error-leak` rule scans: a traceback
/// or debug page shows its tell-tale lines near the top.
const LEAK_SCAN_MAX: usize = 256 * 1024;

/// The message of a step a shutdown kept from running (or abandoned).
pub const INTERRUPTED: &str = "interrupted: the probe is shutting down (cleanup steps still run)";

/// Told about each step as it finishes (progress display, events).
pub trait FlowObserver: Send + Sync {
    fn step_finished(&self, _flow: &Flow, _step: &StepResult) {}
}

impl FlowObserver for () {}

/// Executes flows of a plan. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Runner {
    plan: Arc<Plan>,
    http: HttpFactory,
    /// Cancelled when the probe shuts down: runs skip their remaining steps
    /// and go straight to their cleanup (`always`) steps.
    stop: CancellationToken,
    /// The process's credential gate (shared by every runner, so by every
    /// reload too): a secret value is tried alone first and never sent again
    /// once refused, so a wrong password costs one attempt, not a locked
    /// account.
    guard: Arc<Guard>,
    /// The process's left-behind objects, retried on later runs.
    leftovers: Arc<Leftovers>,
}

/// Variables of one flow run.
#[derive(Clone)]
struct RunScope {
    values: HashMap<String, String>,
    run_id: String,
    /// The secret variables: passwords and API keys, not captures.
    credentials: Vec<Credential>,
}

impl Scope for RunScope {
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
    fn run_id(&self) -> &str {
        &self.run_id
    }
}

/// What a step runs with besides the step itself: the run's session (taken
/// over by a check, replaced after an abandoned request), flow, variables
/// and redactor, and when the step must give up. References only: every
/// step's future carries one pointer to it.
struct StepRun<'a> {
    session: &'a mut Session,
    flow: &'a Flow,
    scope: &'a mut RunScope,
    redactor: &'a mut Redactor,
    until: Instant,
}

impl StepRun<'_> {
    /// The same run, giving up at `until` instead (a step's own time).
    fn until(&mut self, until: Instant) -> StepRun<'_> {
        StepRun {
            session: self.session,
            flow: self.flow,
            scope: self.scope,
            redactor: self.redactor,
            until,
        }
    }
}

/// A response and how we got it.
struct Attempt {
    response: Response,
    ttfb: Duration,
    redirects: Vec<String>,
    url: String,
    /// Permission from the credential guard for the secrets the request
    /// carried (settled with the verdict on the answer).
    ticket: Option<Ticket>,
    /// Of the last hop.
    phases: PhaseTimes,
}

impl Runner {
    pub fn new(plan: Arc<Plan>, http: HttpFactory) -> Self {
        Runner {
            plan,
            http,
            stop: CancellationToken::new(),
            guard: Guard::shared(),
            leftovers: Leftovers::shared(),
        }
    }

    /// Objects this process created and could not delete (yet).
    pub fn leftovers(&self) -> &Arc<Leftovers> {
        &self.leftovers
    }

    /// This runner with its own credential guard instead of the process's.
    pub fn with_guard(mut self, guard: Arc<Guard>) -> Self {
        self.guard = guard;
        self
    }

    /// The credential guard (refused secrets, for metrics and reports).
    pub fn guard(&self) -> &Arc<Guard> {
        &self.guard
    }

    /// This runner, interrupted by `stop`: once it is cancelled, a run in
    /// flight abandons its current step (unless it is a cleanup step), skips
    /// the rest and still runs every `always` step with its own timeout.
    pub fn stop_on(mut self, stop: CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    /// Whether the probe is shutting down (no new runs should start).
    pub fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves once the probe starts shutting down.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The HTTP factory the flows use (its TLS configuration is shared by
    /// `once`'s Pushgateway and Prometheus requests).
    pub fn http(&self) -> &HttpFactory {
        &self.http
    }

    /// Runs one flow once. Never panics on anything a target sends; returns
    /// within the flow deadline plus the cleanup steps' own timeouts.
    pub async fn run_flow(&self, flow: &Flow, observer: &dyn FlowObserver) -> FlowResult {
        let started = Instant::now();
        let started_at = builtins::rfc3339_utc(builtins::unix_now());
        let run_id = format!("{}-{}", flow.name, builtins::random_hex(12));
        let (mut scope, mut redactor) = self.run_scope(flow, run_id.clone());
        let deadline = started + flow.deadline;
        let mut steps = Vec::with_capacity(flow.steps.len());
        let mut failed = false;
        let mut interrupted = false;
        let mut left: Vec<LeftBehind> = Vec::new();
        // One session per run: fresh connections, kept alive between its steps.
        let mut session = self.http.session();
        let mut run = StepRun {
            session: &mut session,
            flow,
            scope: &mut scope,
            redactor: &mut redactor,
            until: deadline,
        };
        for step in &flow.steps {
            let result = self
                .step_result(&mut run, step, failed, &mut interrupted)
                .await;
            let result = self.settle_step(&mut run, step, result, &mut left).await;
            if result.outcome == Outcome::Failed {
                failed = true;
            }
            if result.message.as_deref() == Some(INTERRUPTED) {
                interrupted = true;
            }
            observer.step_finished(flow, &result);
            steps.push(result);
        }
        // Earlier runs' left-behind objects, with this run's fresh login;
        // this run's own join the list only afterwards (their delete was
        // just tried).
        let cleaned_up = if self.stop.is_cancelled() {
            Vec::new()
        } else {
            self.retry_left_behind(&mut run).await
        };
        self.report_left_behind(flow, &left);
        let mut result = FlowResult {
            flow: flow.name.clone(),
            group: flow.group.clone(),
            target: flow.target.clone(),
            run_id,
            started_at,
            outcome: if failed {
                Outcome::Failed
            } else if interrupted {
                Outcome::Skipped
            } else {
                Outcome::Passed
            },
            interrupted,
            duration: started.elapsed(),
            steps,
            left_behind: left,
            cleaned_up,
            findings: Vec::new(),
        };
        // Accepted findings (`--accept`): the one place every mode goes through.
        super::accept::apply(
            &self.plan.accepted,
            &mut result,
            crate::config::accept::today(),
        );
        result
    }

    /// A run's variables (globals, then the flow's), expanded in order, and
    /// the redactor that knows its secret values.
    fn run_scope(&self, flow: &Flow, run_id: String) -> (RunScope, Redactor) {
        let mut redactor = Redactor::new(self.plan.secrets.iter().cloned());
        let mut scope = RunScope {
            values: HashMap::new(),
            run_id,
            credentials: Vec::new(),
        };
        for v in flow.globals.iter().chain(flow.vars.iter()) {
            // Validation guarantees every variable a variable uses is defined earlier.
            let value = v.value.expand(&scope).unwrap_or_default();
            if v.secret {
                redactor.add(value.clone());
                if !value.is_empty() {
                    scope.credentials.push(Credential::new(
                        &v.name,
                        &value,
                        v.rate_limited,
                        &self.guard,
                    ));
                }
            }
            scope.values.insert(v.name.clone(), value);
        }
        (scope, redactor)
    }

    /// One step's result: skipped (shutdown, an earlier failure, a missing
    /// capture) or run, abandoned on shutdown when that loses nothing.
    /// `run.until` is the flow's deadline.
    async fn step_result(
        &self,
        run: &mut StepRun<'_>,
        step: &Step,
        failed: bool,
        interrupted: &mut bool,
    ) -> StepResult {
        if !step.always && (*interrupted || self.stop.is_cancelled()) {
            *interrupted = true;
            skipped(step, Outcome::Skipped, None, INTERRUPTED.into())
        } else if failed && !step.always {
            skipped(
                step,
                Outcome::Skipped,
                None,
                "an earlier step failed".into(),
            )
        } else if let Some(missing) = step
            .needs
            .iter()
            .find(|n| !run.scope.values.contains_key(*n))
        {
            skipped(
                step,
                Outcome::Skipped,
                None,
                format!("`{missing}` was never captured"),
            )
        } else {
            // Cleanup steps get their own timeout even past the flow deadline:
            // otherwise a slow flow would leave its synthetic data behind.
            let until = if step.always {
                cleanup_until(step)
            } else {
                run.until
            };
            // A shutdown abandons a request only when that loses nothing:
            // a POST in flight may be creating the very object the
            // cleanup steps must delete, so it runs to its end (within
            // its timeout) and its captures are taken.
            let abandonable = step.check.is_some()
                || matches!(step.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let mut step_run = run.until(until);
            let result = self.run_step(&mut step_run, step);
            if step.always || !abandonable {
                result.await
            } else {
                tokio::select! {
                    r = result => r,
                    _ = self.stop.cancelled() => {
                        *interrupted = true;
                        // The abandoned request may have left a connection
                        // mid-exchange: cleanup starts on fresh ones.
                        *run.session = self.http.session();
                        skipped(step, Outcome::Skipped, None, INTERRUPTED.into())
                    }
                }
            }
        }
    }

    /// After a step: a cleanup refused with 401 logs in again and retries;
    /// a failed cleanup or a created object joins the left-behind list.
    async fn settle_step(
        &self,
        run: &mut StepRun<'_>,
        step: &Step,
        mut result: StepResult,
        left: &mut Vec<LeftBehind>,
    ) -> StepResult {
        if step.always && result.outcome == Outcome::Failed && result.status == Some(401) {
            result = self.login_again_and_retry(run, step, result).await;
        }
        if step.always && result.outcome == Outcome::Failed && cleans(step) {
            left.push(self.left_behind(run, step, &result));
        }
        if let Some(leaves) = &step.leaves
            && result.status.is_some_and(|s| (200..300).contains(&s))
        {
            left.push(self.created(run, step, leaves));
        }
        result
    }

    /// Logs each object this run left behind and keeps the ones later runs
    /// retry (or that must be deleted by hand) in the process's list.
    fn report_left_behind(&self, flow: &Flow, left: &[LeftBehind]) {
        for l in left {
            let what = if l.deletable {
                format!("{} ({}); retried on later runs", l.what, l.why)
            } else {
                format!("{} — {}: delete it by hand (never retried)", l.what, l.why)
            };
            tracing::error!(
                target: "smokeprobe::cleanup",
                flow = %flow.name,
                step = %l.step,
                "LEFT BEHIND on the target: {what}"
            );
            if !l.deletable || step_retryable(flow, &l.step) {
                self.leftovers.add(l.clone());
            }
        }
    }

    /// A cleanup step refused with 401 — its token expired mid-run — logs in
    /// again once (the earlier steps that captured its secret values, through
    /// the credential guard) and is tried once more.
    async fn login_again_and_retry(
        &self,
        run: &mut StepRun<'_>,
        step: &Step,
        first: StepResult,
    ) -> StepResult {
        let flow = run.flow;
        let secret_needs: Vec<&String> = step
            .needs
            .iter()
            .filter(|n| secret_captures(flow).any(|c| c == n.as_str()))
            .collect();
        let producers: Vec<&Step> = flow
            .steps
            .iter()
            .take_while(|s| !std::ptr::eq(*s, step))
            .filter(|s| {
                s.captures
                    .iter()
                    .any(|c| c.secret && secret_needs.contains(&&c.name))
            })
            .collect();
        if producers.is_empty() {
            return first;
        }
        for p in &producers {
            let until = Instant::now() + p.timeout;
            let r = self.run_step(&mut run.until(until), p).await;
            if r.outcome != Outcome::Passed {
                let mut first = first;
                first.message = Some(format!(
                    "{} — logging in again (`{}`) failed too: {}",
                    first.message.unwrap_or_default(),
                    p.name,
                    r.message.unwrap_or_default()
                ));
                return first;
            }
        }
        let until = cleanup_until(step);
        let mut r = self.run_step(&mut run.until(until), step).await;
        let names: Vec<&str> = producers.iter().map(|p| p.name.as_str()).collect();
        let what = format!(
            "401 at first (token expired?); logged in again (`{}`) and retried",
            names.join("`, `")
        );
        r.message = Some(match r.message.take() {
            Some(m) => format!("{what}: {m}"),
            None => what,
        });
        r
    }

    /// What a failed cleanup step leaves on the target.
    fn left_behind(&self, run: &StepRun<'_>, step: &Step, result: &StepResult) -> LeftBehind {
        let (flow, scope) = (run.flow, &*run.scope);
        let values: Vec<(String, String)> = step
            .needs
            .iter()
            .filter(|n| !secret_captures(flow).any(|c| c == n.as_str()))
            .filter_map(|n| scope.values.get(n).map(|v| (n.clone(), v.clone())))
            .collect();
        let described = step.cleans.as_ref().and_then(|t| t.expand(scope).ok());
        let what = described.unwrap_or_else(|| {
            values
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        LeftBehind {
            target: flow.target.clone(),
            flow: flow.name.clone(),
            step: step.name.clone(),
            what: run.redactor.redact(&what),
            why: result.message.clone().unwrap_or_else(|| "failed".into()),
            since: builtins::rfc3339_utc(builtins::unix_now()),
            attempts: 1,
            deletable: true,
            values,
        }
    }

    /// What a `leaves:` step's 2xx answer created: left behind for good.
    fn created(
        &self,
        run: &StepRun<'_>,
        step: &Step,
        leaves: &crate::config::template::Template,
    ) -> LeftBehind {
        let (flow, scope) = (run.flow, &*run.scope);
        let secret = |n: &str| {
            secret_captures(flow).any(|c| c == n) || scope.credentials.iter().any(|c| c.name == n)
        };
        // The values it names tell one object from another (two runs that
        // register the same fixed name are one user).
        let values: Vec<(String, String)> = leaves
            .var_names()
            .filter(|n| !secret(n))
            .filter_map(|n| scope.values.get(n).map(|v| (n.to_string(), v.clone())))
            .collect();
        let what = leaves.expand(scope).unwrap_or_else(|_| leaves.display());
        LeftBehind {
            target: flow.target.clone(),
            flow: flow.name.clone(),
            step: step.name.clone(),
            what: run.redactor.redact(&what),
            why: LEAVES_WHY.into(),
            since: builtins::rfc3339_utc(builtins::unix_now()),
            attempts: 0,
            deletable: false,
            values,
        }
    }

    /// Retries deleting objects earlier runs of `flow` left behind, with this
    /// run's variables (a fresh token) and each object's own values. Returns
    /// what is now gone; the rest goes back on the list.
    async fn retry_left_behind(&self, run: &mut StepRun<'_>) -> Vec<String> {
        let flow = run.flow;
        let mut gone = Vec::new();
        for mut item in self
            .leftovers
            .take(&flow.target, &flow.name, leftovers::RETRIES_PER_RUN)
        {
            // A reload that removed the step: nothing left to delete it with.
            let Some(step) = flow.steps.iter().find(|s| s.name == item.step) else {
                tracing::error!(
                    target: "smokeprobe::cleanup",
                    flow = %flow.name,
                    "LEFT BEHIND: {} — step `{}` no longer exists, so it is not retried",
                    item.what,
                    item.step
                );
                continue;
            };
            let mut s = run.scope.clone();
            s.values.extend(item.values.iter().cloned());
            if step.needs.iter().any(|n| !s.values.contains_key(n)) {
                // This run never logged in: try again on the next one.
                self.leftovers.add_back(item);
                continue;
            }
            let mut step_run = StepRun {
                session: run.session,
                flow,
                scope: &mut s,
                redactor: run.redactor,
                until: cleanup_until(step),
            };
            let r = self.run_step(&mut step_run, step).await;
            let deleted = r.outcome == Outcome::Passed
                || (step.method == Method::DELETE && matches!(r.status, Some(404 | 410)));
            if deleted {
                tracing::info!(
                    target: "smokeprobe::cleanup",
                    flow = %flow.name,
                    step = %step.name,
                    "deleted what an earlier run left behind: {} (since {})",
                    item.what,
                    item.since
                );
                gone.push(format!("{} (left behind since {})", item.what, item.since));
            } else {
                item.attempts += 1;
                item.why = r.message.unwrap_or_else(|| "failed".into());
                self.leftovers.add_back(item);
            }
        }
        gone
    }

    async fn run_step(&self, run: &mut StepRun<'_>, step: &Step) -> StepResult {
        // Boxed: a check's future is many times a request's, and an unboxed
        // one would make every step's future that big — copied several times
        // per run (measured: ~13k instructions of memcpy per request step).
        if let Some(check) = &step.check {
            return Box::pin(self.run_check(run, check, step)).await;
        }
        if let Some(fe) = &step.for_each {
            return Box::pin(self.run_each(run, step, fe)).await;
        }
        self.run_request(run, step).await
    }

    /// A `for_each` step: its request once per element of the list, in order,
    /// stopping at the first failure. One result: the last request's (or the
    /// failed one's), with the attempts and time of all of them.
    async fn run_each(&self, run: &mut StepRun<'_>, step: &Step, fe: &ForEach) -> StepResult {
        let start = Instant::now();
        let raw = run.scope.values.get(&fe.list).cloned().unwrap_or_default();
        let items: Vec<String> = match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(serde_json::Value::Array(v)) => v
                .into_iter()
                .map(|x| match x {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            _ => {
                let mut r = skipped(
                    step,
                    Outcome::Failed,
                    Some(Reason::Capture),
                    format!(
                        "for_each: `{}` is not a JSON list (capture it with `all: true`)",
                        fe.list
                    ),
                );
                r.url = run.redactor.redact(&r.url);
                return r;
            }
        };
        // Elements of a secret list are secrets too.
        if run.redactor.redact(&raw) != raw {
            for it in &items {
                run.redactor.add(it.clone());
            }
        }
        let total = items.len();
        let mut last: Option<StepResult> = None;
        let mut attempts = 0;
        for (i, item) in items.into_iter().take(fe.max).enumerate() {
            run.scope.values.insert(fe.item.clone(), item);
            let mut r = self.run_request(run, step).await;
            attempts += r.attempts;
            let failed = r.outcome == Outcome::Failed;
            if failed {
                let msg = r.message.take().unwrap_or_default();
                r.message = Some(format!("item {} of {total}: {msg}", i + 1));
            }
            last = Some(r);
            if failed {
                break;
            }
        }
        run.scope.values.remove(&fe.item);
        let mut r = match last {
            Some(r) => r,
            None => {
                let mut r = skipped(
                    step,
                    Outcome::Passed,
                    None,
                    format!("`{}` is empty: nothing to do", fe.list),
                );
                r.url = run.redactor.redact(&r.url);
                r
            }
        };
        r.attempts = attempts;
        r.duration = Some(start.elapsed());
        if r.outcome == Outcome::Passed && total > fe.max {
            r.message = Some(format!(
                "{} of {total} items done (max: {}); the rest wait for the next run",
                fe.max, fe.max
            ));
        }
        r
    }

    /// A request step: its request (polled if asked), judged.
    async fn run_request(&self, run: &mut StepRun<'_>, step: &Step) -> StepResult {
        let mut attempts = 0u32;
        let first = Instant::now();
        let mut url_shown = String::new();
        loop {
            attempts += 1;
            let attempt_start = Instant::now();
            let remaining = run.until.saturating_duration_since(attempt_start);
            let budget = step.timeout.min(remaining);
            let url = Self::build_url(step, run.scope);
            if let Ok(u) = &url {
                url_shown = u.to_string();
            } else if url_shown.is_empty() {
                url_shown = step.url.display();
            }
            let outcome = self.attempt_within(run, step, &url, budget).await;
            let mut result = request_result(
                step,
                run.redactor.redact(&url_shown),
                attempts,
                step.poll.map(|_| first.elapsed()),
            );
            let retryable = match outcome {
                Err(f) => {
                    result.outcome = Outcome::Failed;
                    result.reason = Some(f.reason);
                    result.message = Some(run.redactor.redact(&f.message));
                    result.duration = Some(attempt_start.elapsed());
                    // Polling waits out a target that is not answering yet, but not a
                    // step that already ran out of time, nor a body over the cap
                    // (downloading it again would only cost the cap again).
                    !matches!(f.reason, Reason::Timeout | Reason::BodyTooLarge) && !f.final_
                }
                Ok(a) => self.take_answer(a, run, step, &mut result),
            };
            let Some(poll) = step.poll else {
                return result;
            };
            if result.outcome == Outcome::Passed {
                return result;
            }
            let elapsed = first.elapsed();
            let next = Instant::now() + poll.every;
            if !retryable || elapsed + poll.every > poll.within || next >= run.until {
                let msg = result.message.take().unwrap_or_default();
                result.message = Some(format!(
                    "still failing after {attempts} attempt(s) over {}: {msg}",
                    fmt_duration(elapsed)
                ));
                return result;
            }
            if step.always {
                tokio::time::sleep(poll.every).await;
            } else {
                // A shutdown ends the polling of a non-cleanup step (with its
                // last attempt's result); a cleanup step keeps trying.
                tokio::select! {
                    _ = tokio::time::sleep(poll.every) => {}
                    _ = self.stop.cancelled() => {
                        return skipped(step, Outcome::Skipped, None, INTERRUPTED.into());
                    }
                }
            }
        }
    }

    /// One attempt of a request step, bounded by `budget` (what is left of
    /// the step's timeout and the flow's deadline); a timeout says which of
    /// the two ran out.
    async fn attempt_within(
        &self,
        run: &mut StepRun<'_>,
        step: &Step,
        url: &Result<url::Url, Failure>,
        budget: Duration,
    ) -> Result<Attempt, Failure> {
        let flow = run.flow;
        if budget.is_zero() {
            return Err(Failure::new(
                Reason::Timeout,
                format!(
                    "flow deadline ({}) reached before the step started",
                    fmt_duration(flow.deadline)
                ),
            ));
        }
        let attempt = async {
            match url {
                Ok(u) => self.attempt(run.session, step, run.scope, u, budget).await,
                Err(f) => Err(Failure::new(f.reason, f.message.clone())),
            }
        };
        match tokio::time::timeout(budget, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                Reason::Timeout,
                if budget < step.timeout {
                    format!("flow deadline ({}) reached", fmt_duration(flow.deadline))
                } else {
                    format!(
                        "no complete response within the step timeout ({})",
                        fmt_duration(step.timeout)
                    )
                },
            )),
        }
    }

    /// An answer into the step's result: its status, timings and redirects,
    /// judged, the secrets it carried settled with the guard. Whether polling
    /// may try again.
    fn take_answer(
        &self,
        a: Attempt,
        run: &mut StepRun<'_>,
        step: &Step,
        result: &mut StepResult,
    ) -> bool {
        result.status = Some(a.response.status);
        result.duration = Some(a.response.duration);
        result.ttfb = Some(a.ttfb);
        result.phases = Some(a.phases);
        result.response_bytes = a.response.body.len() as u64;
        result.redirects = a.redirects.iter().map(|u| run.redactor.redact(u)).collect();
        result.url = run.redactor.redact(&a.url);
        self.judge(run, step, &a.response, result);
        if let Some(ticket) = a.ticket {
            let failed = result.outcome == Outcome::Failed;
            self.settle(ticket, run, step, &a.response, failed);
        }
        // Never poll past a refused credential or a lockout.
        !matches!(a.response.status, 401 | 423 | 429)
    }

    /// A built-in check step: its rules' verdicts, redacted; the step fails on a
    /// request that got no answer or on a failed rule that is not a warning.
    async fn run_check(&self, run: &mut StepRun<'_>, check: &Check, step: &Step) -> StepResult {
        let (flow, scope, redactor) = (run.flow, &*run.scope, &*run.redactor);
        // Checks speak HTTPS on most hops (and the TLS check needs the roots).
        self.http.warm_tls();
        let start = Instant::now();
        let taken = std::mem::replace(run.session, self.http.session());
        let ctx = checks::Ctx {
            session: tokio::sync::Mutex::new(taken),
            http: &self.http,
            scope,
            run_id: &scope.run_id,
            timeout: step.timeout,
            until: run.until,
            max_body: step.max_body,
            guard: &self.guard,
            credentials: &scope.credentials,
            by: format!("{}/{}", flow.name, step.name),
        };
        let ran = checks::run(check, &ctx).await;
        *run.session = ctx.session.into_inner();
        let mut result = skipped(step, Outcome::Passed, None, String::new());
        result.message = None;
        result.attempts = 1;
        result.duration = Some(start.elapsed());
        // The step is shown as the request that failed it (or the first one).
        let (method, url, status) = ran.shown();
        if let Some(m) = method {
            result.method = m.to_string();
        }
        result.status = status;
        result.url = redactor.redact(url);
        result.reached = ran.reached();
        result.not_judged = ran.not_judged.iter().map(|s| redactor.redact(s)).collect();
        result.redirects = ran.redirects.iter().map(|u| redactor.redact(u)).collect();
        result.response_bytes = ran.bytes;
        result.tls = ran.tls;
        result.not_fetched = ran
            .not_fetched
            .into_iter()
            .map(|mut n| {
                n.url = redactor.redact(&n.url);
                n
            })
            .collect();
        result.checks = ran
            .checks
            .into_iter()
            .map(|mut c| {
                c.expected = redactor.redact(&c.expected);
                c.actual = redactor.redact(&c.actual);
                c.on = c.on.map(|o| redactor.redact(&o));
                c
            })
            .collect();
        if let Some(f) = ran.failure {
            result.outcome = Outcome::Failed;
            result.reason = Some(f.reason);
            result.message = Some(redactor.redact(&f.message));
        } else if result.checks.iter().any(|c| c.is_failure()) {
            result.outcome = Outcome::Failed;
            result.reason = Some(ran.rule_reason);
            result.message = Some(checks::summarize_failures(&result.checks));
        }
        result
    }

    /// Checks assertions and runs captures; fills outcome, reason and message.
    fn judge(&self, run: &mut StepRun<'_>, step: &Step, resp: &Response, result: &mut StepResult) {
        let (scope, redactor) = (&mut *run.scope, &mut *run.redactor);
        // A secret capture's value is secret as soon as the response holds it,
        // even when this step fails (and so never takes the capture): otherwise
        // the failure message below could show it.
        for c in step.captures.iter().filter(|c| c.secret) {
            if let Ok(v) = assert::capture(c, resp, &*scope) {
                redactor.add(v);
            }
        }
        let mut checks: Vec<CheckResult> = Vec::new();
        let has_status = step
            .asserts
            .iter()
            .any(|a| matches!(a, Assertion::Status(_)));
        if !has_status {
            // No explicit status: an error status is never a pass.
            checks.push(CheckResult::new(
                "status",
                resp.status < 400,
                "< 400",
                resp.status.to_string(),
            ));
        }
        for a in &step.asserts {
            match assert::evaluate(a, resp, scope) {
                Ok(c) => checks.push(c),
                Err(var) => checks.push(CheckResult::new(
                    "template",
                    false,
                    format!("variable `{var}`"),
                    "undefined",
                )),
            }
        }
        if resp.status >= 400 {
            // Every error response, expected or not, is held to the leak
            // catalogue: a failed upload that names a server path is a
            // finding even though the step already failed for its status.
            checks.push(
                checks::leaks::verdict(
                    "error-leak",
                    &resp.body[..resp.body.len().min(LEAK_SCAN_MAX)],
                    checks::leaks::catalogue(),
                )
                .warning(true),
            );
        }
        for c in checks.iter_mut() {
            c.expected = redactor.redact(&c.expected);
            c.actual = redactor.redact(&c.actual);
        }
        if let Some(bad) = checks.iter().find(|c| !c.passed && !c.warning) {
            let status_failed = bad.check == "status";
            result.outcome = Outcome::Failed;
            result.reason = Some(if status_failed {
                Reason::Status
            } else {
                Reason::Assertion
            });
            let mut msg = format!(
                "{}: expected {}, got {}",
                bad.check, bad.expected, bad.actual
            );
            if status_failed {
                msg.push_str(&format!(" — body: {}", redactor.redact(&resp.snippet())));
            }
            result.message = Some(msg);
            result.checks = checks;
            return;
        }
        result.checks = checks;
        for c in &step.captures {
            match assert::capture(c, resp, scope) {
                Ok(v) => {
                    if c.secret {
                        redactor.add(v.clone());
                    }
                    scope.values.insert(c.name.clone(), v);
                }
                Err(e) => {
                    result.outcome = Outcome::Failed;
                    result.reason = Some(Reason::Capture);
                    result.message = Some(redactor.redact(&format!("capture `{}`: {e}", c.name)));
                    return;
                }
            }
        }
    }

    /// One request (plus the redirects it is allowed to follow) and its body.
    async fn attempt(
        &self,
        session: &mut Session,
        step: &Step,
        scope: &RunScope,
        url: &url::Url,
        budget: Duration,
    ) -> Result<Attempt, Failure> {
        let mut url = url.clone();
        let mut headers = Self::request_headers(step, scope)?;
        let (content_type, body) = self.body(&step.body, scope)?;
        if let Some(ct) = content_type
            && !headers.contains_key(CONTENT_TYPE)
        {
            headers.insert(CONTENT_TYPE, ct);
        }
        let used: Vec<(String, String)> = credentials_in(&scope.credentials, &url, &headers, &body)
            .into_iter()
            .map(|c| (c.name.clone(), c.fingerprint.clone()))
            .collect();
        // Bounded by the attempt's own timeout, which the caller applies
        // around the whole attempt: waiting for the first answer to a value
        // is part of this step's time.
        let ticket = admit(
            &self.guard,
            &used,
            budget.saturating_sub(Duration::from_millis(5)),
            budget,
        )
        .await?;
        let mut method = step.method.clone();
        let mut body = body;
        let mut redirects = Vec::new();
        if url.scheme() == "https" {
            // Loading the roots (first HTTPS request only) is not the target's time.
            self.http.warm_tls();
        }
        let start = Instant::now();
        loop {
            let opts = SessionOptions {
                decompress: true,
                max_body: step.max_body,
                timeout: budget.saturating_sub(start.elapsed()),
            };
            let mut req = http_session::Request::new(method.clone(), url.clone());
            req.headers = headers.clone();
            req.body = body.clone();
            let resp = session.send(req, &opts).await.map_err(failure_of)?;
            let status = resp.status;
            let is_redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
            if step.redirects > 0 && is_redirect {
                let next = Self::redirect_target(step, &url, &resp, &redirects)?;
                if next.host_str() != url.host_str()
                    || next.port_or_known_default() != url.port_or_known_default()
                {
                    // Credentials never follow a redirect to another host.
                    strip_credentials(&mut headers);
                }
                if status == 303 || ((status == 301 || status == 302) && method == Method::POST) {
                    method = Method::GET;
                    body = Bytes::new();
                    headers.remove(CONTENT_TYPE);
                }
                redirects.push(next.to_string());
                url = next;
                continue;
            }
            let p = resp.phases;
            let ttfb = start.elapsed().saturating_sub(p.transfer);
            return Ok(Attempt {
                response: Response::new(status, resp.headers, resp.body, start.elapsed()),
                ttfb,
                redirects,
                url: url.to_string(),
                ticket,
                phases: phase_times(p),
            });
        }
    }

    /// The step's headers, expanded, and the run's id header.
    fn request_headers(step: &Step, scope: &RunScope) -> Result<HeaderMap, Failure> {
        let expand = |t| expand(t, scope);
        let mut headers = HeaderMap::new();
        for (k, v) in &step.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Failure::new(Reason::Request, format!("header `{k}`: {e}")))?;
            let value = HeaderValue::from_str(&expand(v)?).map_err(|_| {
                Failure::new(
                    Reason::Request,
                    format!("header `{k}` has a value that is not valid in HTTP"),
                )
            })?;
            headers.insert(name, value);
        }
        headers.insert(
            HeaderName::from_static(RUN_HEADER),
            HeaderValue::from_str(scope.run_id()).unwrap_or(HeaderValue::from_static("invalid")),
        );
        Ok(headers)
    }

    /// Where a redirect from `url` leads, after `redirects` (the hops so
    /// far): a failure past the step's limit, without a usable Location, or
    /// on a loop.
    fn redirect_target(
        step: &Step,
        url: &url::Url,
        resp: &http_session::Response,
        redirects: &[String],
    ) -> Result<url::Url, Failure> {
        let status = resp.status;
        if redirects.len() >= step.redirects as usize {
            return Err(Failure::new(
                Reason::Redirect,
                format!("more than {} redirects (last: {url})", step.redirects),
            ));
        }
        let Some(loc) = resp.headers.get(LOCATION).and_then(|l| l.to_str().ok()) else {
            return Err(Failure::new(
                Reason::Redirect,
                format!("{status} without a usable Location header"),
            ));
        };
        let next = url
            .join(loc)
            .map_err(|e| Failure::new(Reason::Redirect, format!("bad Location `{loc}`: {e}")))?;
        if redirects.contains(&next.to_string()) || &next == url {
            return Err(Failure::new(
                Reason::Redirect,
                format!("redirect loop at {next}"),
            ));
        }
        Ok(next)
    }

    /// Tells the guard what the answer said of the secrets a request
    /// carried: a 401, 423 or 429 (unless the secret is `rate_limited`) that
    /// failed the step refuses them; any other answer accepts them.
    fn settle(
        &self,
        ticket: Ticket,
        run: &StepRun<'_>,
        step: &Step,
        resp: &Response,
        failed: bool,
    ) {
        let by = format!("{}/{}", run.flow.name, step.name);
        settle_ticket(
            ticket,
            &by,
            &run.scope.credentials,
            resp.status,
            &resp.body,
            failed,
        );
    }

    /// The step's URL with its query, expanded once per attempt (so what is
    /// reported is what was sent, `${uuid}` and all).
    fn build_url(step: &Step, scope: &RunScope) -> Result<url::Url, Failure> {
        let expand = |t| expand(t, scope);
        let mut url = crate::config::http_url(&step.url, &expand(&step.url)?)
            .map_err(|m| Failure::new(Reason::Request, m))?;
        if !step.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &step.query {
                q.append_pair(k, &expand(v)?);
            }
        }
        Ok(url)
    }

    /// The request body and its content type.
    fn body(&self, body: &Body, scope: &RunScope) -> Result<(Option<HeaderValue>, Bytes), Failure> {
        let missing =
            |v: String| Failure::new(Reason::Request, format!("variable `{v}` is not set"));
        Ok(match body {
            Body::None => (None, Bytes::new()),
            Body::Json(t) => {
                let v = assert::expand_json(t, scope).map_err(missing)?;
                (
                    Some(HeaderValue::from_static("application/json")),
                    Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
                )
            }
            Body::Form(fields) => {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in fields {
                    ser.append_pair(k, &v.expand(scope).map_err(missing)?);
                }
                (
                    Some(HeaderValue::from_static(
                        "application/x-www-form-urlencoded",
                    )),
                    Bytes::from(ser.finish()),
                )
            }
            Body::Text(t) => (None, Bytes::from(t.expand(scope).map_err(missing)?)),
            Body::Multipart(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    let data = match &p.source {
                        PartSource::Value(t) => Bytes::from(t.expand(scope).map_err(missing)?),
                        PartSource::File(bytes) => Bytes::from_owner(ArcBytes(bytes.clone())),
                        PartSource::Image { format, size } => generated_image(*format, *size),
                    };
                    if let Some(ct) = &p.content_type
                        && HeaderValue::from_str(ct).is_err()
                    {
                        return Err(Failure::new(
                            Reason::Request,
                            format!("content type `{ct}` is not valid in HTTP"),
                        ));
                    }
                    out.push(http_session::Part {
                        name: p.name.clone(),
                        filename: p.filename.clone(),
                        content_type: p.content_type.clone(),
                        data,
                    });
                }
                let (ct, body) = http_session::multipart(&out);
                (HeaderValue::from_str(&ct).ok(), body)
            }
        })
    }
}

fn expand(t: &crate::config::template::Template, scope: &RunScope) -> Result<String, Failure> {
    t.expand(scope)
        .map_err(|v| Failure::new(Reason::Request, format!("variable `{v}` is not set")))
}

/// Removes every header that can carry a credential: the standard ones and any
/// whose name says it holds a token, key, secret or session.
fn strip_credentials(headers: &mut HeaderMap) {
    const HINTS: [&str; 6] = ["auth", "token", "key", "secret", "session", "cookie"];
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| HINTS.iter().any(|h| n.as_str().contains(h)))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

struct ArcBytes(Arc<Vec<u8>>);
impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Generated images are made once per (format, size) and shared: a 5 MB image
/// per flow run would cost more than the rest of the run.
fn generated_image(format: ImageFormat, size: usize) -> Bytes {
    static CACHE: OnceLock<Mutex<HashMap<(u8, usize), Bytes>>> = OnceLock::new();
    let key = (format as u8, size);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(b) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return b;
    }
    let b = Bytes::from(imagegen::generate(format, size, size as u64));
    if let Ok(mut c) = cache.lock() {
        c.insert(key, b.clone());
    }
    b
}

/// When a cleanup step must give up: its own time (its timeout, or its
/// polling window if longer) from now, even past the flow deadline.
fn cleanup_until(step: &Step) -> Instant {
    Instant::now()
        + step
            .timeout
            .max(step.poll.map(|p| p.within).unwrap_or_default())
}

/// A cleanup step that deletes something (rather than one that checks a
/// deletion happened): `cleans:` says so, or its method deletes.
fn cleans(step: &Step) -> bool {
    step.cleans.is_some() || step.method == Method::DELETE
}

/// Left-behind objects of this step can be retried on a later run (one
/// request per object; a `for_each` sweep retries itself).
fn step_retryable(flow: &Flow, step: &str) -> bool {
    flow.steps
        .iter()
        .any(|s| s.name == step && s.for_each.is_none())
}

/// Names of the flow's secret captures (tokens): a retry takes them from
/// the run that retries, never from the run that failed.
fn secret_captures(flow: &Flow) -> impl Iterator<Item = &str> {
    flow.steps
        .iter()
        .flat_map(|s| s.captures.iter())
        .filter(|c| c.secret)
        .map(|c| c.name.as_str())
}

/// The session's per-request phases as a step result shows them.
fn phase_times(p: http_session::Phases) -> PhaseTimes {
    PhaseTimes {
        resolve: p.resolve,
        connect: p.connect,
        tls: p.tls,
        processing: p.processing,
        transfer: p.transfer,
        reused: p.reused,
    }
}

/// A request step's result before its attempt is judged: passed, nothing
/// received yet.
fn request_result(
    step: &Step,
    url: String,
    attempts: u32,
    poll_elapsed: Option<Duration>,
) -> StepResult {
    StepResult {
        url,
        attempts,
        poll_elapsed,
        ..blank(step, Outcome::Passed)
    }
}

fn skipped(step: &Step, outcome: Outcome, reason: Option<Reason>, message: String) -> StepResult {
    StepResult {
        reason,
        message: Some(message),
        ..blank(step, outcome)
    }
}

/// The step's result with `outcome` and nothing sent or received.
fn blank(step: &Step, outcome: Outcome) -> StepResult {
    StepResult {
        name: step.name.clone(),
        kind: step.check.as_ref().map(|c| c.kind()).unwrap_or("request"),
        always: step.always,
        outcome,
        reason: None,
        message: None,
        method: step.method.to_string(),
        url: step.url.display(),
        status: None,
        duration: None,
        ttfb: None,
        attempts: 0,
        poll_elapsed: None,
        redirects: Vec::new(),
        response_bytes: 0,
        checks: Vec::new(),
        not_fetched: Vec::new(),
        not_judged: Vec::new(),
        reached: false,
        tls: None,
        phases: None,
    }
}
