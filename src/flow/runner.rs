//! The runner: executes one flow run — its variables, its steps in order, polls,
//! redirects, captures, cleanup steps — over one fresh client, and returns a
//! [`FlowResult`] whose text is already redacted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::assert::{self, Response, fmt_duration};
use super::checks;
use super::{CheckResult, FlowResult, Outcome, Reason, StepResult};
use crate::builtins;
use crate::config::template::Scope;
use crate::config::{Assertion, Body, Check, Flow, PartSource, Plan, Step};
use crate::imagegen::{self, ImageFormat};
use crate::net::HttpFactory;
use crate::redact::Redactor;

/// Header that identifies synthetic traffic in the target's logs.
pub const RUN_HEADER: &str = "x-smokeprobe-run";

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
}

/// Variables of one flow run.
struct RunScope {
    values: HashMap<String, String>,
    run_id: String,
}

impl Scope for RunScope {
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
    fn run_id(&self) -> &str {
        &self.run_id
    }
}

/// Why an attempt produced no response.
pub(super) struct Failure {
    pub reason: Reason,
    pub message: String,
}

impl Failure {
    pub(super) fn new(reason: Reason, message: impl Into<String>) -> Self {
        Failure {
            reason,
            message: message.into(),
        }
    }
}

/// A response and how we got it.
struct Attempt {
    response: Response,
    ttfb: Duration,
    redirects: Vec<String>,
    url: String,
}

impl Runner {
    pub fn new(plan: Arc<Plan>, http: HttpFactory) -> Self {
        Runner { plan, http }
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Runs one flow once. Never panics on anything a target sends; returns
    /// within the flow deadline plus the cleanup steps' own timeouts.
    pub async fn run_flow(&self, flow: &Flow, observer: &dyn FlowObserver) -> FlowResult {
        let started = Instant::now();
        let started_at = builtins::rfc3339_utc(builtins::unix_now());
        let run_id = format!("{}-{}", flow.name, builtins::random_hex(12));
        let mut redactor = Redactor::new(self.plan.secrets.iter().cloned());
        let mut scope = RunScope {
            values: HashMap::new(),
            run_id: run_id.clone(),
        };
        for v in flow.globals.iter().chain(flow.vars.iter()) {
            // Validation guarantees every variable a variable uses is defined earlier.
            let value = v.value.expand(&scope).unwrap_or_default();
            if v.secret {
                redactor.add(value.clone());
            }
            scope.values.insert(v.name.clone(), value);
        }
        let deadline = started + flow.deadline;
        let mut steps = Vec::with_capacity(flow.steps.len());
        let mut failed = false;
        let client = match self.http.client() {
            Ok(c) => Some(c),
            Err(e) => {
                failed = true;
                let msg = format!("cannot build HTTP client: {e}");
                for step in &flow.steps {
                    steps.push(skipped(
                        step,
                        Outcome::Failed,
                        Some(Reason::Request),
                        msg.clone(),
                    ));
                }
                None
            }
        };
        if let Some(client) = client {
            for step in &flow.steps {
                let result = if failed && !step.always {
                    skipped(
                        step,
                        Outcome::Skipped,
                        None,
                        "an earlier step failed".into(),
                    )
                } else if let Some(missing) =
                    step.needs.iter().find(|n| !scope.values.contains_key(*n))
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
                        Instant::now()
                            + step
                                .timeout
                                .max(step.poll.map(|p| p.within).unwrap_or_default())
                    } else {
                        deadline
                    };
                    self.run_step(&client, flow, step, &mut scope, &mut redactor, until)
                        .await
                };
                if result.outcome == Outcome::Failed {
                    failed = true;
                }
                observer.step_finished(flow, &result);
                steps.push(result);
            }
        }
        FlowResult {
            flow: flow.name.clone(),
            group: flow.group.clone(),
            target: flow.target.clone(),
            run_id,
            started_at,
            outcome: if failed {
                Outcome::Failed
            } else {
                Outcome::Passed
            },
            duration: started.elapsed(),
            steps,
        }
    }

    async fn run_step(
        &self,
        client: &reqwest::Client,
        flow: &Flow,
        step: &Step,
        scope: &mut RunScope,
        redactor: &mut Redactor,
        until: Instant,
    ) -> StepResult {
        if let Some(check) = &step.check {
            return self
                .run_check(client, check, step, scope, redactor, until)
                .await;
        }
        let mut attempts = 0u32;
        let first = Instant::now();
        let mut url_shown = String::new();
        loop {
            attempts += 1;
            let attempt_start = Instant::now();
            let remaining = until.saturating_duration_since(attempt_start);
            let budget = step.timeout.min(remaining);
            let url = Self::build_url(step, scope);
            if let Ok(u) = &url {
                url_shown = u.to_string();
            } else if url_shown.is_empty() {
                url_shown = step.url.display();
            }
            let outcome = if budget.is_zero() {
                Err(Failure::new(
                    Reason::Timeout,
                    format!(
                        "flow deadline ({}) reached before the step started",
                        fmt_duration(flow.deadline)
                    ),
                ))
            } else {
                let attempt = async {
                    match &url {
                        Ok(u) => self.attempt(client, step, scope, u).await,
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
            };
            let mut result = StepResult {
                name: step.name.clone(),
                kind: "request",
                always: step.always,
                outcome: Outcome::Passed,
                reason: None,
                message: None,
                method: step.method.to_string(),
                url: redactor.redact(&url_shown),
                status: None,
                duration: None,
                ttfb: None,
                attempts,
                poll_elapsed: step.poll.map(|_| first.elapsed()),
                redirects: Vec::new(),
                response_bytes: 0,
                checks: Vec::new(),
                tls: None,
                phases: None,
            };
            let retryable = match outcome {
                Err(f) => {
                    result.outcome = Outcome::Failed;
                    result.reason = Some(f.reason);
                    result.message = Some(redactor.redact(&f.message));
                    result.duration = Some(attempt_start.elapsed());
                    // Polling waits out a target that is not answering yet, but not a
                    // step that already ran out of time.
                    f.reason != Reason::Timeout
                }
                Ok(a) => {
                    result.status = Some(a.response.status);
                    result.duration = Some(a.response.duration);
                    result.ttfb = Some(a.ttfb);
                    result.response_bytes = a.response.body.len() as u64;
                    result.redirects = a.redirects.iter().map(|u| redactor.redact(u)).collect();
                    result.url = redactor.redact(&a.url);
                    self.judge(step, &a.response, scope, redactor, &mut result);
                    true
                }
            };
            let Some(poll) = step.poll else {
                return result;
            };
            if result.outcome == Outcome::Passed {
                return result;
            }
            let elapsed = first.elapsed();
            let next = Instant::now() + poll.every;
            if !retryable || elapsed + poll.every > poll.within || next >= until {
                let msg = result.message.take().unwrap_or_default();
                result.message = Some(format!(
                    "still failing after {attempts} attempt(s) over {}: {msg}",
                    fmt_duration(elapsed)
                ));
                return result;
            }
            tokio::time::sleep(poll.every).await;
        }
    }

    /// A built-in check step: its rules' verdicts, redacted; the step fails on a
    /// request that got no answer or on a failed rule that is not a warning.
    async fn run_check(
        &self,
        client: &reqwest::Client,
        check: &Check,
        step: &Step,
        scope: &RunScope,
        redactor: &Redactor,
        until: Instant,
    ) -> StepResult {
        let start = Instant::now();
        let ctx = checks::Ctx {
            client,
            http: &self.http,
            scope,
            run_id: &scope.run_id,
            timeout: step.timeout,
            until,
            max_body: step.max_body,
        };
        let run = checks::run(check, &ctx).await;
        let mut result = skipped(step, Outcome::Passed, None, String::new());
        result.message = None;
        result.attempts = 1;
        result.duration = Some(start.elapsed());
        result.status = run.status;
        result.url = redactor.redact(&run.url);
        result.redirects = run.redirects.iter().map(|u| redactor.redact(u)).collect();
        result.response_bytes = run.bytes;
        result.tls = run.tls;
        result.checks = run
            .checks
            .into_iter()
            .map(|mut c| {
                c.expected = redactor.redact(&c.expected);
                c.actual = redactor.redact(&c.actual);
                c.on = c.on.map(|o| redactor.redact(&o));
                c
            })
            .collect();
        if let Some(f) = run.failure {
            result.outcome = Outcome::Failed;
            result.reason = Some(f.reason);
            result.message = Some(redactor.redact(&f.message));
        } else if result.checks.iter().any(|c| c.is_failure()) {
            result.outcome = Outcome::Failed;
            result.reason = Some(run.rule_reason);
            result.message = Some(checks::summarize_failures(&result.checks));
        }
        result
    }

    /// Checks assertions and runs captures; fills outcome, reason and message.
    fn judge(
        &self,
        step: &Step,
        resp: &Response,
        scope: &mut RunScope,
        redactor: &mut Redactor,
        result: &mut StepResult,
    ) {
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
        for c in checks.iter_mut() {
            c.expected = redactor.redact(&c.expected);
            c.actual = redactor.redact(&c.actual);
        }
        if let Some(bad) = checks.iter().find(|c| !c.passed) {
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
            match assert::capture(c, resp) {
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
        client: &reqwest::Client,
        step: &Step,
        scope: &RunScope,
        url: &reqwest::Url,
    ) -> Result<Attempt, Failure> {
        let expand = |t| expand(t, scope);
        let mut url = url.clone();
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
        let mut method = step.method.clone();
        let mut send_body = true;
        let mut redirects = Vec::new();
        let start = Instant::now();
        loop {
            let mut req = client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if send_body {
                req = self.with_body(req, &step.body, scope)?;
            }
            let resp = req.send().await.map_err(classify)?;
            let status = resp.status().as_u16();
            let is_redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
            if step.redirects > 0 && is_redirect {
                if redirects.len() >= step.redirects as usize {
                    return Err(Failure::new(
                        Reason::Redirect,
                        format!("more than {} redirects (last: {url})", step.redirects),
                    ));
                }
                let Some(loc) = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                else {
                    return Err(Failure::new(
                        Reason::Redirect,
                        format!("{status} without a usable Location header"),
                    ));
                };
                let next = url.join(loc).map_err(|e| {
                    Failure::new(Reason::Redirect, format!("bad Location `{loc}`: {e}"))
                })?;
                if redirects.contains(&next.to_string()) || next == url {
                    return Err(Failure::new(
                        Reason::Redirect,
                        format!("redirect loop at {next}"),
                    ));
                }
                if next.host_str() != url.host_str()
                    || next.port_or_known_default() != url.port_or_known_default()
                {
                    // Credentials never follow a redirect to another host.
                    strip_credentials(&mut headers);
                }
                if status == 303
                    || ((status == 301 || status == 302) && method == reqwest::Method::POST)
                {
                    method = reqwest::Method::GET;
                    send_body = false;
                    headers.remove(reqwest::header::CONTENT_TYPE);
                }
                redirects.push(next.to_string());
                url = next;
                continue;
            }
            let ttfb = start.elapsed();
            let resp_headers = resp.headers().clone();
            let body = read_capped(resp, step.max_body).await?;
            return Ok(Attempt {
                response: Response::new(status, resp_headers, body, start.elapsed()),
                ttfb,
                redirects,
                url: url.to_string(),
            });
        }
    }

    /// The step's URL with its query, expanded once per attempt (so what is
    /// reported is what was sent, `${uuid}` and all).
    fn build_url(step: &Step, scope: &RunScope) -> Result<reqwest::Url, Failure> {
        let expand = |t| expand(t, scope);
        let mut url = reqwest::Url::parse(&expand(&step.url)?)
            .map_err(|e| Failure::new(Reason::Request, format!("invalid URL: {e}")))?;
        if !step.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &step.query {
                q.append_pair(k, &expand(v)?);
            }
        }
        Ok(url)
    }

    fn with_body(
        &self,
        req: reqwest::RequestBuilder,
        body: &Body,
        scope: &RunScope,
    ) -> Result<reqwest::RequestBuilder, Failure> {
        let missing =
            |v: String| Failure::new(Reason::Request, format!("variable `{v}` is not set"));
        Ok(match body {
            Body::None => req,
            Body::Json(t) => {
                let v = assert::expand_json(t, scope).map_err(missing)?;
                req.header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(&v).unwrap_or_default())
            }
            Body::Form(fields) => {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in fields {
                    ser.append_pair(k, &v.expand(scope).map_err(missing)?);
                }
                req.header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(ser.finish())
            }
            Body::Text(t) => req.body(t.expand(scope).map_err(missing)?),
            Body::Multipart(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for p in parts {
                    let mut part = match &p.source {
                        PartSource::Value(t) => {
                            reqwest::multipart::Part::text(t.expand(scope).map_err(missing)?)
                        }
                        PartSource::File(bytes) => {
                            let b = Bytes::from_owner(ArcBytes(bytes.clone()));
                            let len = b.len() as u64;
                            reqwest::multipart::Part::stream_with_length(
                                reqwest::Body::from(b),
                                len,
                            )
                        }
                        PartSource::Image { format, size } => {
                            let b = generated_image(*format, *size);
                            let len = b.len() as u64;
                            reqwest::multipart::Part::stream_with_length(
                                reqwest::Body::from(b),
                                len,
                            )
                        }
                    };
                    if let Some(f) = &p.filename {
                        part = part.file_name(f.clone());
                    }
                    if let Some(ct) = &p.content_type {
                        part = part.mime_str(ct).map_err(|e| {
                            Failure::new(Reason::Request, format!("content type `{ct}`: {e}"))
                        })?;
                    }
                    form = form.part(p.name.clone(), part);
                }
                req.multipart(form)
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

/// Reads a body, failing as soon as it grows past `max` (after decompression).
pub(super) async fn read_capped(mut resp: reqwest::Response, max: u64) -> Result<Bytes, Failure> {
    if let Some(len) = resp.content_length()
        && len > max
    {
        return Err(Failure::new(
            Reason::BodyTooLarge,
            format!("Content-Length {len} is over the {max}-byte body limit"),
        ));
    }
    let mut buf = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() as u64 + chunk.len() as u64 > max {
                    return Err(Failure::new(
                        Reason::BodyTooLarge,
                        format!("body grew past the {max}-byte limit"),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => {
                let f = classify(e);
                return Err(Failure::new(
                    if f.reason == Reason::Timeout {
                        Reason::Timeout
                    } else {
                        Reason::Protocol
                    },
                    format!("reading the body: {}", f.message),
                ));
            }
        }
    }
}

/// Maps a client error to a reason and a one-line message.
pub(super) fn classify(e: reqwest::Error) -> Failure {
    let chain = error_chain(&e);
    let lower = chain.to_ascii_lowercase();
    let mut tls = false;
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = src {
        if s.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some())
        {
            tls = true;
        }
        src = s.source();
    }
    let reason = if e.is_timeout() {
        Reason::Timeout
    } else if tls {
        Reason::Tls
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        Reason::Dns
    } else if e.is_connect() {
        Reason::Connect
    } else if e.is_builder() {
        Reason::Request
    } else {
        Reason::Protocol
    };
    Failure::new(reason, chain)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    assert::shorten(&parts.join(": "))
}

fn skipped(step: &Step, outcome: Outcome, reason: Option<Reason>, message: String) -> StepResult {
    StepResult {
        name: step.name.clone(),
        kind: step.check.as_ref().map(|c| c.kind()).unwrap_or("request"),
        always: step.always,
        outcome,
        reason,
        message: Some(message),
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
        tls: None,
        phases: None,
    }
}
