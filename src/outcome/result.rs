//! What a flow run reports: each step's outcome, its checks' verdicts and
//! timings, and why it failed. Results carry only redacted text.

use std::time::Duration;

use serde::Serialize;

use super::leftovers;

/// Why a step failed: a small fixed set, usable as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Dns,
    Connect,
    Tls,
    Timeout,
    Protocol,
    Redirect,
    Status,
    Assertion,
    Capture,
    BodyTooLarge,
    Request,
    /// Not sent: the request carries a secret the target refused earlier
    /// (sending it again could lock the account; see `credentials`).
    Credential,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::Dns,
        Reason::Connect,
        Reason::Tls,
        Reason::Timeout,
        Reason::Protocol,
        Reason::Redirect,
        Reason::Status,
        Reason::Assertion,
        Reason::Capture,
        Reason::BodyTooLarge,
        Reason::Request,
        Reason::Credential,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Dns => "dns",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::Timeout => "timeout",
            Reason::Protocol => "protocol",
            Reason::Redirect => "redirect",
            Reason::Status => "status",
            Reason::Assertion => "assertion",
            Reason::Capture => "capture",
            Reason::BodyTooLarge => "body_too_large",
            Reason::Request => "request",
            Reason::Credential => "credential",
        }
    }

    /// The target could not be reached at all (no HTTP response).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Reason::Dns | Reason::Connect | Reason::Tls)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// One assertion's verdict, with what was expected and what came back.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub check: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    /// What the rule was applied to (a URL path, an origin, a request), for
    /// checks that apply one rule to several things.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// A warning: reported, but a failure does not fail the step.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
    /// A findings-file entry matched this failure: it does not fail the step
    /// unless the entry has expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

/// An asset a check listed instead of fetching (see [`StepResult::not_fetched`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotFetched {
    pub url: String,
    /// `script`, `module preload`, `stylesheet` or `source map`.
    pub kind: &'static str,
    /// `third-party` (another host, not opted in with `third_party:`) or
    /// `not-http` (a `data:` or other non-HTTP URL: nothing to fetch).
    pub reason: &'static str,
}

impl NotFetched {
    /// The checklist's line, e.g. `third-party, not fetched:
    /// https://fonts.googleapis.com/css2?… (stylesheet)`.
    pub fn line(&self, url: &str) -> String {
        let why = match self.reason {
            "not-http" => "not http(s)",
            other => other,
        };
        format!("{why}, not fetched: {url} ({})", self.kind)
    }
}

/// Why a failed verdict does not fail its step (or, expired, no longer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Acceptance {
    pub reason: String,
    /// `YYYY-MM-DD`, inclusive.
    pub until: String,
    /// `until` has passed: the failure fails again.
    pub expired: bool,
    /// The entry, `FILE:LINE`.
    pub entry: String,
}

impl CheckResult {
    pub fn new(
        check: impl Into<String>,
        passed: bool,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        CheckResult {
            check: check.into(),
            passed,
            expected: expected.into(),
            actual: actual.into(),
            on: None,
            warning: false,
            accepted: None,
        }
    }

    pub fn on(mut self, what: impl Into<String>) -> Self {
        self.on = Some(what.into());
        self
    }

    pub fn warning(mut self, warning: bool) -> Self {
        self.warning = warning;
        self
    }

    /// Failed, not a warning and not accepted: this fails the step.
    pub fn is_failure(&self) -> bool {
        !self.passed && !self.warning && !self.is_accepted()
    }

    /// Failed, but accepted by an entry that has not expired.
    pub fn is_accepted(&self) -> bool {
        !self.passed && !self.warning && self.accepted.as_ref().is_some_and(|a| !a.expired)
    }

    /// Failed, and the entry that accepted it has expired.
    pub fn is_expired_acceptance(&self) -> bool {
        !self.passed && !self.warning && self.accepted.as_ref().is_some_and(|a| a.expired)
    }

    /// Failed, but only a warning.
    pub fn is_warning(&self) -> bool {
        !self.passed && self.warning
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    pub name: String,
    /// `request`, or the built-in check kind (`cors`, `security_headers`, …).
    pub kind: &'static str,
    pub always: bool,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// One line saying what went wrong (or why the step was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Request sent → body fully read, including redirects followed (last attempt).
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub duration: Option<Duration>,
    /// Request sent → response headers (last attempt).
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub ttfb: Option<Duration>,
    pub attempts: u32,
    /// For polled steps: first attempt → the attempt that passed (or gave up).
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub poll_elapsed: Option<Duration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<String>,
    pub response_bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    /// Assets a `frontend` or `security_headers` check found in the HTML and
    /// left alone: on a host other than the page's that the check's
    /// `third_party:` does not list (or not http(s) at all). Never fetched,
    /// never in a total, never judged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_fetched: Vec<NotFetched>,
    /// What a built-in check could not judge because a request got no usable
    /// answer (no answer, or a 5xx from something other than what it judges):
    /// rule ids, or for a check with many subjects (URLs, requests, assets)
    /// the subjects left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_judged: Vec<String>,
    /// A built-in check got an answer from the target that was not a
    /// redirect (or judged a certificate): it reached the site, whatever
    /// failed after. Decides exit code 3 with [`FlowResult::unreachable`].
    #[serde(skip)]
    pub reached: bool,
    /// What a `tls` check saw of the certificate chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
    /// Where the last request's time went (request steps that got a response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<PhaseTimes>,
}

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

/// Phases of one request: a request on a kept-alive connection spends nothing
/// on resolve, connect and tls, and says so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PhaseTimes {
    #[serde(with = "secs")]
    pub resolve: Duration,
    #[serde(with = "secs")]
    pub connect: Duration,
    #[serde(with = "secs")]
    pub tls: Duration,
    /// Request sent (body included) → response headers.
    #[serde(with = "secs")]
    pub processing: Duration,
    /// Response headers → body read.
    #[serde(with = "secs")]
    pub transfer: Duration,
    /// The request went over a connection an earlier step opened.
    pub reused: bool,
}

impl PhaseTimes {
    /// In the order of `probe_http_duration_seconds{phase}`.
    pub fn as_array(&self) -> [Duration; 5] {
        [
            self.resolve,
            self.connect,
            self.tls,
            self.processing,
            self.transfer,
        ]
    }
}

impl StepResult {
    /// Failed checks that are only warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.is_warning())
    }

    /// Failed checks that an (unexpired) findings-file entry accepts.
    pub fn accepted(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.is_accepted())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowResult {
    pub flow: String,
    /// The checklist heading (`group:` in the probe file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub target: String,
    pub run_id: String,
    pub started_at: String,
    /// `skipped` only when a shutdown interrupted a run that had not failed.
    pub outcome: Outcome,
    /// A shutdown (SIGTERM, Ctrl-C) stopped the run before its last step; its
    /// cleanup steps still ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    #[serde(with = "secs")]
    pub duration: Duration,
    pub steps: Vec<StepResult>,
    /// What this run's failed cleanup steps left on the target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_behind: Vec<leftovers::LeftBehind>,
    /// Objects earlier runs left behind that this run deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleaned_up: Vec<String>,
    /// The findings-file entries that name this flow, and what each did in
    /// this run (reports aggregate them: the JSON's `accepted` summary).
    #[serde(skip)]
    pub findings: Vec<FindingUse>,
}

/// What one accepted-findings entry did in one flow run.
#[derive(Clone, Debug, Serialize)]
pub struct FindingUse {
    /// `FILE:LINE`.
    pub entry: String,
    pub step: String,
    pub rule: String,
    /// The subject glob, when the entry has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    pub reason: String,
    pub until: String,
    pub expired: bool,
    /// Failed verdicts it matched.
    pub matched: u32,
    /// Its step ran and judged its rules, so `matched == 0` means the
    /// finding is gone (a step that was skipped or got no answer says nothing).
    pub judged: bool,
}

impl FindingUse {
    /// Its step judged its rules and nothing failed that it names.
    pub fn resolved(&self) -> bool {
        self.judged && self.matched == 0
    }
}

impl FlowResult {
    /// The first failed step that is not a cleanup step (what to show first).
    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps
            .iter()
            .find(|s| s.outcome == Outcome::Failed && !s.always)
            .or_else(|| self.steps.iter().find(|s| s.outcome == Outcome::Failed))
    }

    /// True when the run reached nothing a user could use: it failed, its
    /// first failure was network-level (dns, connect, tls), and no step got
    /// an answer, except answers that only redirected to a place the step
    /// then could not reach (the plain-HTTP listener of a site whose HTTPS
    /// is down answers 301, and the HTTPS it points to refuses the
    /// connection).
    pub fn unreachable(&self) -> bool {
        let reached_nothing = |s: &StepResult| match s.outcome {
            Outcome::Skipped => true,
            Outcome::Passed => false,
            // A check that judged rules (a certificate, say) reached the
            // target, unless it ended in a network failure after redirects.
            Outcome::Failed if s.kind != "request" => !s.reached,
            Outcome::Failed => {
                (s.status.is_none() && s.checks.is_empty())
                    || (s.reason.is_some_and(|r| r.is_unreachable())
                        && s.status.is_none_or(|c| (300..400).contains(&c)))
            }
        };
        self.outcome == Outcome::Failed
            && self.steps.iter().all(reached_nothing)
            && self
                .first_failure()
                .and_then(|s| s.reason)
                .is_some_and(|r| r.is_unreachable())
    }
}

/// Durations serialize as float seconds in every report.
pub(crate) mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod opt_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}
