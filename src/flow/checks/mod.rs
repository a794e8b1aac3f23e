//! Built-in check kinds: CORS semantics, security-header policy, HTTP→HTTPS
//! redirect, TLS certificate, leaky error responses and frontend delivery. Each
//! is one step of a flow: it sends the requests its rules need and returns one
//! [`CheckResult`] per rule and subject (URL, origin, request), some of them
//! warnings. The runner turns a [`CheckRun`] into a `StepResult`, redacted.
//!
//! Architecture invariant: nothing a target sends can panic a check; every
//! request is bounded by the step timeout and the flow deadline.

mod cors;
mod frontend;
pub mod headers;
pub mod leaks;
mod redirect;
mod tls;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::runner::{Failure, failure_of};
use super::{CheckResult, RUN_HEADER, Reason};
use crate::config::Check;
use crate::config::template::{Scope, Template};
use crate::net::HttpFactory;
use crate::net::http::{self as http_session, Session, SessionOptions};

/// What a `tls` check saw, for reports and metrics.
#[derive(Clone, Debug, Serialize)]
pub struct TlsSummary {
    pub protocol: String,
    pub cipher: String,
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    /// The leaf's not-after, RFC 3339.
    pub not_after: String,
    pub days_left: f64,
    /// Earliest not-after over the served chain, unix seconds
    /// (blackbox's `probe_ssl_earliest_cert_expiry`).
    pub earliest_expiry: i64,
    pub chain_length: usize,
}

/// Everything a check needs from the runner.
pub(super) struct Ctx<'a> {
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
}

/// The outcome of one check step, before redaction.
pub(super) struct CheckRun {
    pub checks: Vec<CheckResult>,
    /// A request that got no usable answer: fails the step with its reason.
    pub failure: Option<Failure>,
    /// Reason given when a rule (not a request) fails.
    pub rule_reason: Reason,
    pub status: Option<u16>,
    pub url: String,
    pub redirects: Vec<String>,
    pub bytes: u64,
    pub tls: Option<TlsSummary>,
}

impl CheckRun {
    fn new(rule_reason: Reason, url: String) -> Self {
        CheckRun {
            checks: Vec::new(),
            failure: None,
            rule_reason,
            status: None,
            url,
            redirects: Vec::new(),
            bytes: 0,
            tls: None,
        }
    }

    fn fail(mut self, f: Failure) -> Self {
        self.failure = Some(f);
        self
    }
}

/// A response, read whole (within the body cap).
pub(super) struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
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
        crate::config::http_url(t, &s).map_err(|m| Failure::new(Reason::Request, m))
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
        let mut req = http_session::Request::new(method, url.clone());
        req.headers = map;
        req.body = body.map(Bytes::from).unwrap_or_default();
        let opts = SessionOptions {
            decompress,
            max_body: self.max_body,
            timeout: budget,
        };
        let resp = self
            .session
            .lock()
            .await
            .send(req, &opts)
            .await
            .map_err(failure_of)?;
        Ok(Fetched {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
        })
    }
}

/// Runs one check step.
pub(super) async fn run(check: &Check, ctx: &Ctx<'_>) -> CheckRun {
    match check {
        Check::Cors(c) => cors::run(c, ctx).await,
        Check::SecurityHeaders(c) => security_headers(c, ctx).await,
        Check::HttpsRedirect(c) => redirect::run(c, ctx).await,
        Check::Tls(c) => tls::run(c, ctx).await,
        Check::ErrorLeaks(c) => error_leaks(c, ctx).await,
        Check::Frontend(c) => frontend::run(c, ctx).await,
    }
}

/// Every rule id a check kind can report (what a findings file may name).
/// `tests/it/accept.rs` checks these against what the checks really report
/// under every fault the demo target can inject.
pub fn rule_names(kind: &str) -> &'static [&'static str] {
    match kind {
        "cors" => &[
            "production-origin",
            "preflight-status",
            "allow-origin",
            "allow-methods",
            "allow-headers",
            "allow-credentials",
            "vary-origin",
            "wildcard-with-credentials",
            "foreign-origin-refused",
            "http-origin-refused",
            "localhost-origin-refused",
        ],
        "security_headers" => &[
            "status",
            "hsts",
            "hsts-subdomains",
            "hsts-preload",
            "frame-options",
            "content-type-options",
            "csp",
            "csp-unsafe",
            "referrer-policy",
            "permissions-policy",
            "server-version",
            "powered-by",
            "cookie-secure",
            "cookie-httponly",
            "cookie-samesite",
        ],
        "https_redirect" => &[
            "permanent-redirect",
            "location-https",
            "same-host",
            "same-path",
            "final-answer",
        ],
        "tls" => &["certificate-valid", "days-left", "protocol"],
        "error_leaks" => &["error-status", "no-leaks"],
        "frontend" => &[
            "html",
            "asset-status",
            "asset-type",
            "compression",
            "no-source-map",
            "bundle-size",
            "bundle-size-compressed",
        ],
        _ => &[],
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

async fn security_headers(c: &crate::config::HeadersCheck, ctx: &Ctx<'_>) -> CheckRun {
    let first = c.urls.first().map(|u| u.display()).unwrap_or_default();
    let mut run = CheckRun::new(Reason::Assertion, first);
    let mut req_headers = Vec::new();
    for (k, v) in &c.headers {
        match ctx.expand(v) {
            Ok(v) => req_headers.push((k.as_str(), v)),
            Err(f) => return run.fail(f),
        }
    }
    let hdrs: Vec<(&str, String)> = req_headers.iter().map(|(k, v)| (*k, v.clone())).collect();
    for (i, t) in c.urls.iter().enumerate() {
        let url = match ctx.url(t) {
            Ok(u) => u,
            Err(f) => return run.fail(f),
        };
        if i == 0 {
            run.url = url.to_string();
        }
        let resp = match ctx.fetch(true, Method::GET, &url, &hdrs, None).await {
            Ok(r) => r,
            Err(f) => {
                let msg = format!("{url}: {}", f.message);
                return run.fail(Failure::new(f.reason, msg));
            }
        };
        if i == 0 {
            run.status = Some(resp.status);
        }
        run.bytes += resp.body.len() as u64;
        let on = path_of(&url);
        if resp.status >= 400 {
            // Headers on an error page say little about the page that should be there.
            run.checks
                .push(CheckResult::new("status", false, "< 400", resp.status.to_string()).on(&on));
        }
        run.checks.extend(headers::evaluate(
            &resp.headers,
            &on,
            &c.rules,
            c.hsts_max_age,
        ));
        let is_html = resp
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"));
        if c.assets && is_html {
            // Static assets often sit in their own nginx `location`, where an
            // `add_header` of its own silently drops the server-level ones.
            let refs = frontend::assets(&resp.text());
            let picks = [frontend::Kind::Script, frontend::Kind::Style]
                .into_iter()
                .filter_map(|k| refs.iter().find(|(kind, _)| *kind == k));
            for (_, r) in picks {
                let Ok(asset) = url.join(r) else { continue };
                if asset.host_str() != url.host_str() {
                    continue;
                }
                let a = match ctx.fetch(true, Method::GET, &asset, &hdrs, None).await {
                    Ok(a) => a,
                    Err(f) => {
                        let msg = format!("{asset}: {}", f.message);
                        return run.fail(Failure::new(f.reason, msg));
                    }
                };
                run.bytes += a.body.len() as u64;
                let on = path_of(&asset);
                if a.status >= 400 {
                    run.checks.push(
                        CheckResult::new("status", false, "< 400", a.status.to_string()).on(&on),
                    );
                }
                run.checks
                    .extend(headers::evaluate(&a.headers, &on, &c.rules, c.hsts_max_age));
            }
        }
    }
    run
}

async fn error_leaks(c: &crate::config::LeakCheck, ctx: &Ctx<'_>) -> CheckRun {
    let first = c
        .requests
        .first()
        .map(|r| r.url.display())
        .unwrap_or_default();
    let mut run = CheckRun::new(Reason::Assertion, first);
    for (i, r) in c.requests.iter().enumerate() {
        let url = match ctx.url(&r.url) {
            Ok(u) => u,
            Err(f) => return run.fail(f),
        };
        let body = match &r.body {
            Some(b) => match ctx.expand(b) {
                Ok(b) => Some(b),
                Err(f) => return run.fail(f),
            },
            None => None,
        };
        let mut hdrs: Vec<(&str, String)> = Vec::new();
        if let Some(ct) = &r.content_type {
            hdrs.push(("content-type", ct.clone()));
        }
        let resp = match ctx.fetch(true, r.method.clone(), &url, &hdrs, body).await {
            Ok(x) => x,
            Err(f) => {
                let msg = format!("{} {url}: {}", r.method, f.message);
                return run.fail(Failure::new(f.reason, msg));
            }
        };
        if i == 0 {
            run.url = url.to_string();
            run.status = Some(resp.status);
        }
        run.bytes += resp.body.len() as u64;
        let on = format!("{} {}", r.method, path_of(&url));
        run.checks.push(
            CheckResult::new(
                "error-status",
                (400..500).contains(&resp.status),
                "a 4xx answer to a bad request",
                resp.status.to_string(),
            )
            .on(&on)
            .warning(true),
        );
        let hits = leaks::scan(&resp.text(), &c.patterns);
        run.checks.push(
            CheckResult::new(
                "no-leaks",
                hits.is_empty(),
                "no stack trace, SQL, file path or debug page",
                if hits.is_empty() {
                    "none".to_string()
                } else {
                    hits.iter()
                        .map(|(n, t)| format!("{n} `{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            )
            .on(&on),
        );
    }
    run
}

/// One line for a failed check step: each failed rule once, with every
/// subject it failed on, e.g. `hsts on /, /assets/app.js: expected …, got missing`.
pub fn summarize_failures(checks: &[CheckResult]) -> String {
    summarize_lines(checks, CheckResult::is_failure, 4).join("; ")
}

/// The checks `pick` selects, one line per (rule, expected, actual) with every
/// subject it applies to; at most `max` lines, then "and N more".
pub fn summarize_lines(
    checks: &[CheckResult],
    pick: fn(&CheckResult) -> bool,
    max: usize,
) -> Vec<String> {
    let mut groups: Vec<(&CheckResult, Vec<&str>)> = Vec::new();
    for c in checks.iter().filter(|c| pick(c)) {
        let on = c.on.as_deref().unwrap_or("");
        match groups
            .iter_mut()
            .find(|(g, _)| g.check == c.check && g.expected == c.expected && g.actual == c.actual)
        {
            Some((_, ons)) => ons.push(on),
            None => groups.push((c, vec![on])),
        }
    }
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
            format!("{}{on}: expected {}, got {}", c.check, c.expected, c.actual)
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

#[cfg(test)]
mod tests {
    use super::headers::HeaderRule;

    #[test]
    fn every_header_rule_can_be_accepted() {
        let names = super::rule_names("security_headers");
        for r in HeaderRule::ALL {
            assert!(names.contains(&r.id()), "{}", r.id());
        }
        assert_eq!(names.len(), HeaderRule::ALL.len() + 1);
    }
}
