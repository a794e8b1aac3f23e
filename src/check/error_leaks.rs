//! Requests that must fail without leaking internals: each one's answer
//! should be a 4xx (a warning otherwise) and carry nothing of the leak
//! catalogue (`leaks.rs`: stack traces, SQL, server file paths, debug
//! pages) nor of the step's own patterns. A proxy's 502/503/504 or no
//! answer fails the check once, leaving the rest of the requests unjudged.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::leaks::{self, LeakPattern};
use super::{CheckRun, Ctx, Cx, path_of};
use crate::outcome::{CheckResult, Reason};
use crate::spanned::{S, pos_of};
use crate::syntax::template::Template;

/// Every rule id this check reports (what a findings file may name).
pub const RULES: &[&str] = &["error-status", "no-leaks"];

/// Requests that must fail without leaking internals.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "errorLeaks")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    #[schemars(length(min = 1))]
    pub requests: Vec<S<RawLeakRequest>>,
    /// Extra patterns (name → regex), on top of the built-in list.
    #[serde(default)]
    pub patterns: BTreeMap<String, S<String>>,
    /// Built-in pattern groups to leave out.
    #[serde(default)]
    pub ignore: Vec<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "leakRequest")]
#[serde(deny_unknown_fields)]
pub struct RawLeakRequest {
    pub url: S<String>,
    #[serde(default)]
    pub method: Option<S<String>>,
    #[serde(default)]
    pub body: Option<S<String>>,
    #[serde(default)]
    pub content_type: Option<S<String>>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub requests: Vec<Request>,
    pub patterns: Arc<Vec<LeakPattern>>,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: http::Method,
    pub url: Template,
    pub body: Option<Template>,
    pub content_type: Option<String>,
}

/// The step's `error_leaks:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    if r.requests.is_empty() {
        cx.err(
            pos_of(c),
            "`error_leaks` needs at least one entry in `requests` (e.g. an unknown path, a malformed JSON body, a wrong method)",
        );
    }
    let mut requests = Vec::new();
    for q in &r.requests {
        let url = cx.url(&q.value.url, "error_leaks url", &["http", "https"]);
        let method = cx.method(q.value.method.as_ref());
        let body = match &q.value.body {
            Some(b) => cx.template(b),
            None => None,
        };
        if let Some(ct) = &q.value.content_type
            && http::header::HeaderValue::from_str(&ct.value).is_err()
        {
            cx.err(pos_of(ct), "content type is not a valid header value");
        }
        if let Some(url) = url {
            requests.push(Request {
                method,
                url,
                body,
                content_type: q.value.content_type.as_ref().map(|c| c.value.clone()),
            });
        }
    }
    let mut ignore = Vec::new();
    for g in &r.ignore {
        if leaks::GROUPS.contains(&g.value.as_str()) {
            ignore.push(g.value.clone());
        } else {
            cx.err(
                pos_of(g),
                format!(
                    "unknown pattern group `{}`; the groups are {}",
                    g.value,
                    leaks::GROUPS.join(", ")
                ),
            );
        }
    }
    let mut patterns = leaks::builtin(&ignore);
    for (name, re) in &r.patterns {
        if let Some(re) = cx.regex(pos_of(re), &re.value) {
            patterns.push(LeakPattern {
                name: name.clone(),
                re,
            });
        }
    }
    let first = requests.first().map(|q| q.url.clone())?;
    Some((
        Plan {
            requests,
            patterns: Arc::new(patterns),
        },
        first,
    ))
}

/// One line on what the check will judge.
pub fn describe(l: &Plan) -> String {
    format!(
        "{} bad request(s) against {} leak patterns",
        l.requests.len(),
        l.patterns.len()
    )
}

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    let first = c
        .requests
        .first()
        .map(|r| r.url.display())
        .unwrap_or_default();
    // A proxy's 502/503/504 means the application did not answer: its page
    // says nothing of how the application reports errors. A 500 is the
    // application's own answer, and judged (a traceback in it is a leak).
    const WHAT: &str = "no answer from the application";
    let mut run = CheckRun::new(Reason::Assertion, first);
    // This request as sent (`${random}` and all), and the ones after it.
    let left = |i: usize, url: &url::Url| -> Vec<String> {
        let this = format!("{} {}", c.requests[i].method, path_of(url));
        let rest = c.requests[i + 1..].iter().map(|r| {
            let p = ctx
                .url(&r.url)
                .map(|u| path_of(&u))
                .unwrap_or_else(|_| r.url.display());
            format!("{} {p}", r.method)
        });
        std::iter::once(this).chain(rest).collect()
    };
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
        if i == 0 {
            run.url = url.to_string();
        }
        let resp = match ctx.fetch(true, r.method.clone(), &url, &hdrs, body).await {
            Ok(x) => x,
            Err(f) => return run.unanswered(WHAT, &r.method, &url, f, left(i, &url)),
        };
        if matches!(resp.status, 502..=504) {
            return run.not_an_answer(WHAT, &r.method, &url, resp.status, left(i, &url));
        }
        run.answered(&r.method, &url, resp.status);
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
        run.checks
            .push(leaks::verdict("no-leaks", &resp.body, &c.patterns).on(&on));
    }
    run
}
