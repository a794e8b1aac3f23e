//! What every check kind runs on: the runner's context ([`Ctx`]: the
//! session, the deadline, the credential guard, and `fetch`), the outcome of
//! one check step ([`CheckRun`]: its verdicts, the requests it sent and the
//! one that got no usable answer), and the one-line summaries of failed
//! rules the runner and the reports show.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::credentials::Guard;
use crate::credentials::admission::{Credential, admit, credentials_in, settle_ticket};
use crate::net::HttpFactory;
use crate::net::http::{self as http_session, Session, SessionOptions};
use crate::outcome::failure::{Failure, failure_of};
use crate::outcome::{CheckResult, NotFetched, RUN_HEADER, Reason, StepResult, TlsSummary};
use crate::syntax::template::{Scope, Template};

/// Everything a check needs from the runner.
pub(crate) struct Ctx<'a> {
    /// The run's session (keep-alive with the steps around the check).
    pub session: tokio::sync::Mutex<Session>,
    pub http: &'a HttpFactory,
    pub scope: &'a (dyn Scope + Sync),
    pub run_id: &'a str,
    /// Per request.
    pub timeout: Duration,
    /// For the whole check (flow deadline, or the cleanup allowance).
    pub until: Instant,
    pub max_body: u64,
    /// The process's credential guard: a request carrying a secret
    /// variable's value waits for it, and is not sent once it is refused.
    pub guard: &'a std::sync::Arc<Guard>,
    /// The run's secret variables.
    pub credentials: &'a [Credential],
    /// `flow/step`, for refusals.
    pub by: String,
}

/// The outcome of one check step, before redaction.
pub(crate) struct CheckRun {
    pub checks: Vec<CheckResult>,
    /// A request that got no usable answer: fails the step with its reason.
    pub failure: Option<Failure>,
    /// Reason given when a rule (not a request) fails.
    pub rule_reason: Reason,
    /// The check's own URL: what the step shows before any request was sent.
    pub url: String,
    pub redirects: Vec<String>,
    pub bytes: u64,
    pub tls: Option<TlsSummary>,
    /// Assets listed instead of fetched (third-party, not opted in).
    pub not_fetched: Vec<NotFetched>,
    /// What was left unjudged when a request got no usable answer: rule ids,
    /// or the subjects (URL paths, requests, assets) of a check with many.
    pub not_judged: Vec<String>,
    /// Every request sent, in order.
    requests: Vec<Sent>,
    /// The request that got no usable answer (an index into `requests`).
    unanswered: Option<usize>,
}

/// One request a check sent, and the verdicts on its answer.
struct Sent {
    method: Method,
    url: String,
    status: Option<u16>,
    /// Verdicts given before its answer: those from here on judge it.
    from: usize,
}

/// A status with its reason phrase: `502 Bad Gateway`.
pub(super) fn status_text(status: u16) -> String {
    match http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(r) => format!("{status} {r}"),
        None => status.to_string(),
    }
}

impl CheckRun {
    pub(super) fn new(rule_reason: Reason, url: String) -> Self {
        CheckRun {
            checks: Vec::new(),
            failure: None,
            rule_reason,
            url,
            redirects: Vec::new(),
            bytes: 0,
            tls: None,
            not_fetched: Vec::new(),
            not_judged: Vec::new(),
            requests: Vec::new(),
            unanswered: None,
        }
    }

    /// Fails before any request (a variable that is not set, a bad URL).
    pub(super) fn fail(mut self, f: Failure) -> Self {
        self.failure = Some(f);
        self
    }

    /// `method url` got an answer with `status`: the verdicts given from
    /// now on judge it.
    pub(super) fn answered(&mut self, method: &Method, url: &url::Url, status: u16) {
        self.requests.push(Sent {
            method: method.clone(),
            url: url.to_string(),
            status: Some(status),
            from: self.checks.len(),
        });
    }

    /// `method url` got no answer at all (`f`): the step fails with its
    /// reason, saying `what` could not be judged, and `not_judged` stays so.
    pub(super) fn unanswered(
        mut self,
        what: &str,
        method: &Method,
        url: &url::Url,
        f: Failure,
        not_judged: Vec<String>,
    ) -> Self {
        self.mark_unanswered(what, method, url, f, not_judged);
        self
    }

    /// [`unanswered`](Self::unanswered) in place.
    pub(super) fn mark_unanswered(
        &mut self,
        what: &str,
        method: &Method,
        url: &url::Url,
        f: Failure,
        not_judged: Vec<String>,
    ) {
        self.unanswered = Some(self.requests.len());
        self.requests.push(Sent {
            method: method.clone(),
            url: url.to_string(),
            status: None,
            from: self.checks.len(),
        });
        self.not_judged = not_judged;
        let message = format!("{what}: {method} {url}: {}", f.message);
        self.failure = Some(Failure::new(f.reason, message));
    }

    /// `method url` was answered `status` by something that is not what the
    /// check judges (a 502 from a proxy whose backend is down): the step
    /// fails once with reason `status` instead of failing every rule.
    pub(super) fn not_an_answer(
        mut self,
        what: &str,
        method: &Method,
        url: &url::Url,
        status: u16,
        not_judged: Vec<String>,
    ) -> Self {
        self.mark_not_an_answer(what, method, url, status, not_judged);
        self
    }

    /// [`not_an_answer`](Self::not_an_answer) in place.
    pub(super) fn mark_not_an_answer(
        &mut self,
        what: &str,
        method: &Method,
        url: &url::Url,
        status: u16,
        not_judged: Vec<String>,
    ) {
        self.unanswered = Some(self.requests.len());
        self.answered(method, url, status);
        self.not_judged = not_judged;
        let message = format!("{what}: {} from {method} {url}", status_text(status));
        self.failure = Some(Failure::new(Reason::Status, message));
    }

    /// The last answered request's body cannot be read (an invalid gzip
    /// stream): fails the step with `f`, shown as that request.
    pub(super) fn broken(mut self, f: Failure) -> Self {
        self.unanswered = self.requests.len().checked_sub(1);
        self.fail(f)
    }

    /// The rules of `all` that have no verdict yet (what is left unjudged).
    pub(super) fn unjudged(&self, all: &[&str]) -> Vec<String> {
        all.iter()
            .filter(|r| !self.checks.iter().any(|c| c.check == **r))
            .map(|r| r.to_string())
            .collect()
    }

    /// Whether the target answered anything but a redirect (a TLS check:
    /// judged a certificate): the site was reached, whatever failed after.
    pub fn reached(&self) -> bool {
        self.requests
            .iter()
            .any(|r| r.status.is_some_and(|s| !(300..400).contains(&s)))
            || (self.requests.is_empty() && !self.checks.is_empty())
    }

    /// The request the step is shown as (method, URL, status): the one that
    /// got no usable answer, else the one whose answer failed the first
    /// failing rule, else the first one sent; the check's own URL when it
    /// sent nothing.
    pub fn shown(&self) -> (Option<&Method>, &str, Option<u16>) {
        let pick = match self.unanswered {
            Some(i) => self.requests.get(i),
            None => self
                .checks
                .iter()
                .position(|c| c.is_failure())
                .and_then(|at| self.requests.iter().rev().find(|r| r.from <= at))
                .or(self.requests.first()),
        };
        match pick {
            Some(r) => (Some(&r.method), r.url.as_str(), r.status),
            None => (None, self.url.as_str(), None),
        }
    }
}

/// A response, read whole (within the body cap).
pub(crate) struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Request sent → body read, without connection setup (resolve,
    /// connect, TLS): what the server's work and the round trip cost.
    pub time: Duration,
    /// Body bytes as they crossed the wire (read, even when not kept).
    pub wire_bytes: u64,
}

impl Fetched {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    }

    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

impl Ctx<'_> {
    pub fn expand(&self, t: &Template) -> Result<String, Failure> {
        t.expand(self.scope)
            .map_err(|v| Failure::new(Reason::Request, format!("variable `{v}` is not set")))
    }

    pub fn url(&self, t: &Template) -> Result<url::Url, Failure> {
        let s = self.expand(t)?;
        crate::syntax::template::http_url(t, &s).map_err(|m| Failure::new(Reason::Request, m))
    }

    /// One request, bounded by the step timeout and the check's deadline;
    /// `decompress` false keeps the body as it crossed the wire.
    pub async fn fetch(
        &self,
        decompress: bool,
        method: Method,
        url: &url::Url,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Fetched, Failure> {
        self.send(Some(decompress), method, url, headers, body)
            .await
    }

    /// One request for its status and headers only: the body is never read
    /// into memory nor judged (`Fetched::body` is empty), so nothing in it
    /// can fail the check.
    pub async fn fetch_head(
        &self,
        method: Method,
        url: &url::Url,
        headers: &[(&str, String)],
    ) -> Result<Fetched, Failure> {
        self.send(None, method, url, headers, None).await
    }

    /// `decompress` None: headers only.
    async fn send(
        &self,
        decompress: Option<bool>,
        method: Method,
        url: &url::Url,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Fetched, Failure> {
        let left = self.until.saturating_duration_since(Instant::now());
        let budget = self.timeout.min(left);
        if budget.is_zero() {
            return Err(Failure::new(
                Reason::Timeout,
                "flow deadline reached before the request",
            ));
        }
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Failure::new(Reason::Request, format!("header `{k}`: {e}")))?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                Failure::new(
                    Reason::Request,
                    format!("header `{k}` has a value that is not valid in HTTP"),
                )
            })?;
            map.append(name, value);
        }
        if let Ok(v) = HeaderValue::from_str(self.run_id) {
            map.insert(HeaderName::from_static(RUN_HEADER), v);
        }
        let body = body.map(Bytes::from).unwrap_or_default();
        // A secret goes through the credential guard, as in a request step.
        let used: Vec<(String, String)> = credentials_in(self.credentials, url, &map, &body)
            .into_iter()
            .map(|c| (c.name.clone(), c.fingerprint.clone()))
            .collect();
        let started = Instant::now();
        let ticket = admit(self.guard, &used, budget, budget).await?;
        let mut req = http_session::Request::new(method, url.clone());
        req.headers = map;
        req.body = body;
        let opts = SessionOptions {
            decompress: decompress.unwrap_or(false),
            max_body: self.max_body,
            timeout: budget.saturating_sub(started.elapsed()),
        };
        let mut session = self.session.lock().await;
        let resp = match decompress {
            Some(_) => session.send(req, &opts).await,
            None => session.send_head(req, &opts).await,
        }
        .map_err(failure_of)?;
        drop(session);
        if let Some(ticket) = ticket {
            // A check's request carrying a secret fails on a refusal.
            let refused = matches!(resp.status, 401 | 423 | 429);
            settle_ticket(
                ticket,
                &self.by,
                self.credentials,
                resp.status,
                &resp.body,
                refused,
            );
        }
        Ok(Fetched {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
            time: resp.phases.processing + resp.phases.transfer,
            wire_bytes: resp.wire_bytes,
        })
    }
}

/// Path and query of a URL: what results name as `on` (short, and the same
/// whatever the host).
pub(super) fn path_of(u: &url::Url) -> String {
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// The paths of `urls` (unexpanded when they cannot be expanded): what a
/// check that stopped at one of them leaves unjudged.
pub(super) fn paths_of(ctx: &Ctx<'_>, urls: &[Template]) -> Vec<String> {
    urls.iter()
        .map(|t| {
            ctx.url(t)
                .map(|u| path_of(&u))
                .unwrap_or_else(|_| t.display())
        })
        .collect()
}

/// One line for a failed check step: each failed rule once, with every
/// subject it failed on, e.g. `hsts on /, /assets/app.js: expected …, got missing`.
/// The same groups, and as many, as the console lists (up to 4 here, then
/// "and N more").
pub fn summarize_failures(checks: &[CheckResult]) -> String {
    summarize_lines(checks, CheckResult::is_failure, 4).join("; ")
}

/// Whether a failed check step failed by its rules (then its message is the
/// summary of the failed rules), not because a request got no usable answer.
pub fn failed_by_rules(step: &StepResult) -> bool {
    step.kind != "request"
        && step.checks.iter().any(|c| c.is_failure())
        && step.message.as_deref() == Some(&summarize_failures(&step.checks))
}

/// The checks `pick` selects, one line per (rule, expected, actual, accepting
/// entry) with every subject it applies to; at most `max` lines, then "and N
/// more".
pub fn summarize_lines(
    checks: &[CheckResult],
    pick: fn(&CheckResult) -> bool,
    max: usize,
) -> Vec<String> {
    summarize_with(checks, pick, max, |_| String::new())
}

/// How many lines [`summarize_lines`] has for `pick` without a limit: the
/// number a summary may announce ("N rule failure(s)").
pub fn count_lines(checks: &[CheckResult], pick: fn(&CheckResult) -> bool) -> usize {
    groups(checks, pick).len()
}

type Group<'a> = (&'a CheckResult, Vec<&'a str>);

fn groups(checks: &[CheckResult], pick: fn(&CheckResult) -> bool) -> Vec<Group<'_>> {
    let entry = |c: &CheckResult| c.accepted.as_ref().map(|a| a.entry.clone());
    let mut groups: Vec<Group<'_>> = Vec::new();
    for c in checks.iter().filter(|c| pick(c)) {
        let on = c.on.as_deref().unwrap_or("");
        match groups.iter_mut().find(|(g, _)| {
            g.check == c.check
                && g.expected == c.expected
                && g.actual == c.actual
                && entry(g) == entry(c)
        }) {
            Some((_, ons)) => ons.push(on),
            None => groups.push((c, vec![on])),
        }
    }
    groups
}

/// [`summarize_lines`], each line followed by `note` of its group (the
/// acceptance of its verdicts, say).
pub fn summarize_with(
    checks: &[CheckResult],
    pick: fn(&CheckResult) -> bool,
    max: usize,
    note: impl Fn(&CheckResult) -> String,
) -> Vec<String> {
    let groups = groups(checks, pick);
    let total = groups.len();
    let mut lines: Vec<String> = groups
        .iter()
        .take(max)
        .map(|(c, ons)| {
            let ons: Vec<String> = ons
                .iter()
                .filter(|o| !o.is_empty())
                .map(|o| elide(o, 60))
                .collect();
            let on = if ons.is_empty() {
                String::new()
            } else {
                format!(" on {}", ons.join(", "))
            };
            format!(
                "{}{on}: expected {}, got {}{}",
                c.check,
                c.expected,
                c.actual,
                note(c)
            )
        })
        .collect();
    if total > max {
        lines.push(format!("and {} more", total - max));
    }
    lines
}

/// Long subjects (photo URLs with two UUIDs) keep their start and end.
fn elide(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max / 2).collect();
    let tail: String = s.chars().skip(n - (max / 2 - 1)).collect();
    format!("{head}…{tail}")
}
