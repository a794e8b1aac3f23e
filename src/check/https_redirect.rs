//! HTTP → HTTPS: the plain-HTTP URL must answer a permanent redirect (301, or
//! 308 when allowed) whose Location is the same host and path over HTTPS; the
//! chain is followed (at most N hops) to a final answer that must be HTTPS and
//! not an error. The whole chain is reported.

use http::Method;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckRun, Ctx, Cx, Fetched, path_of};
use crate::outcome::failure::Failure;
use crate::outcome::{CheckResult, Reason};
use crate::spanned::{S, pos_of};
use crate::syntax::template::Template;

/// Every rule id this check reports (what a findings file may name).
pub const RULES: &[&str] = &[
    "permanent-redirect",
    "location-https",
    "same-host",
    "same-path",
    "final-answer",
];

/// `http://…` must answer a permanent redirect to the same URL over HTTPS.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "httpsRedirect")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub url: S<String>,
    /// Accept 308 as well as 301 (default false).
    #[serde(default)]
    pub allow_308: bool,
    /// Hops to follow to the final answer (default 5).
    #[serde(default)]
    #[schemars(range(min = 1, max = 20))]
    pub max_hops: Option<S<i64>>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub url: Template,
    pub allow_308: bool,
    pub max_hops: u8,
}

/// The step's `https_redirect:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    let url = cx.url(&r.url, "https_redirect url", &["http"])?;
    let max_hops = match &r.max_hops {
        None => 5,
        Some(n) if (1..=20).contains(&n.value) => n.value as u8,
        Some(n) => {
            cx.err(pos_of(n), "`max_hops` must be from 1 to 20");
            5
        }
    };
    Some((
        Plan {
            url: url.clone(),
            allow_308: r.allow_308,
            max_hops,
        },
        url,
    ))
}

/// One line on what the check will judge.
pub fn describe(r: &Plan) -> String {
    format!(
        "{} to https://, same host and path, ≤ {} hops",
        if r.allow_308 { "301/308" } else { "301" },
        r.max_hops
    )
}

fn is_redirect(s: u16) -> bool {
    matches!(s, 301 | 302 | 303 | 307 | 308)
}

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    let mut run = CheckRun::new(Reason::Redirect, c.url.display());
    let start = match ctx.url(&c.url) {
        Ok(u) => u,
        Err(f) => return run.fail(f),
    };
    run.url = start.to_string();
    if start.scheme() != "http" {
        return run.fail(Failure::new(
            Reason::Request,
            format!("`{start}` is not an http:// URL: the check starts from plain HTTP"),
        ));
    }
    const WHAT: &str = "no answer to judge the redirect";
    let get = Method::GET;
    let first = match ctx.fetch(true, get.clone(), &start, &[], None).await {
        Ok(r) => r,
        Err(f) => {
            let left = run.unjudged(RULES);
            return run.unanswered(WHAT, &get, &start, f, left);
        }
    };
    if first.status >= 500 {
        // A 502 on port 80 says nothing of a redirect (nor that the site
        // "answers over plain HTTP").
        let left = run.unjudged(RULES);
        return run.not_an_answer(WHAT, &get, &start, first.status, left);
    }
    run.answered(&get, &start, first.status);
    let on = path_of(&start);
    let permanent = first.status == 301 || (c.allow_308 && first.status == 308);
    let want = if c.allow_308 { "301 or 308" } else { "301" };
    run.checks.push(
        CheckResult::new(
            "permanent-redirect",
            permanent,
            want,
            match first.status {
                302 | 303 | 307 => format!("{} (a temporary redirect)", first.status),
                308 => "308 (not allowed by this check)".into(),
                s if !is_redirect(s) => {
                    format!("{s} (no redirect: the site answers over plain HTTP)")
                }
                s => s.to_string(),
            },
        )
        .on(&on),
    );
    if !is_redirect(first.status) {
        return run;
    }
    match judge_location(&mut run, &start, &first, &on) {
        Some(next) => follow(run, c, ctx, next, &on).await,
        None => run,
    }
}

/// The first redirect's `Location`: on https://, same host and path as
/// `start`. The URL it names, to follow, when there is a usable one.
fn judge_location(
    run: &mut CheckRun,
    start: &url::Url,
    first: &Fetched,
    on: &str,
) -> Option<url::Url> {
    let Some(loc) = first.header("location") else {
        run.checks
            .push(CheckResult::new("location-https", false, "a Location header", "none").on(on));
        return None;
    };
    let next = match start.join(&loc) {
        Ok(u) => u,
        Err(e) => {
            run.checks.push(
                CheckResult::new(
                    "location-https",
                    false,
                    "a valid https:// Location",
                    format!("`{loc}` ({e})"),
                )
                .on(on),
            );
            return None;
        }
    };
    run.checks.push(
        CheckResult::new(
            "location-https",
            next.scheme() == "https",
            "Location on https://",
            format!("`{next}`"),
        )
        .on(on),
    );
    run.checks.push(
        CheckResult::new(
            "same-host",
            next.host_str() == start.host_str(),
            format!("host {}", start.host_str().unwrap_or("")),
            format!("host {}", next.host_str().unwrap_or("")),
        )
        .on(on),
    );
    run.checks.push(
        CheckResult::new(
            "same-path",
            path_of(&next) == path_of(start),
            format!("path {}", path_of(start)),
            format!("path {}", path_of(&next)),
        )
        .on(on),
    );
    Some(next)
}

/// Follows the chain from `url` (the first redirect's target) to the final
/// answer, at most `max_hops` redirects in all.
async fn follow(
    mut run: CheckRun,
    c: &Plan,
    ctx: &Ctx<'_>,
    mut url: url::Url,
    on: &str,
) -> CheckRun {
    const TARGET: &str = "the redirect's target did not answer";
    let get = Method::GET;
    run.redirects.push(url.to_string());
    loop {
        let resp = match ctx.fetch(true, get.clone(), &url, &[], None).await {
            Ok(r) => r,
            Err(f) => return run.unanswered(TARGET, &get, &url, f, vec!["final-answer".into()]),
        };
        if resp.status >= 500 {
            let left = vec!["final-answer".into()];
            return run.not_an_answer(TARGET, &get, &url, resp.status, left);
        }
        run.answered(&get, &url, resp.status);
        if is_redirect(resp.status) {
            if run.redirects.len() >= c.max_hops as usize {
                run.checks.push(
                    CheckResult::new(
                        "final-answer",
                        false,
                        format!("a final answer within {} hops", c.max_hops),
                        format!("still redirecting at {url}"),
                    )
                    .on(on),
                );
                return run;
            }
            let Some(next) = resp.header("location").and_then(|l| url.join(&l).ok()) else {
                run.checks.push(
                    CheckResult::new(
                        "final-answer",
                        false,
                        "a usable Location",
                        format!("{} without one at {url}", resp.status),
                    )
                    .on(on),
                );
                return run;
            };
            if run.redirects.contains(&next.to_string()) {
                run.checks.push(
                    CheckResult::new(
                        "final-answer",
                        false,
                        "no redirect loop",
                        format!("loop at {next}"),
                    )
                    .on(on),
                );
                return run;
            }
            run.redirects.push(next.to_string());
            url = next;
            continue;
        }
        run.bytes = resp.body.len() as u64;
        run.checks.push(
            CheckResult::new(
                "final-answer",
                resp.status < 400 && url.scheme() == "https",
                "a non-error answer over https://",
                format!("{} from {url}", resp.status),
            )
            .on(on),
        );
        return run;
    }
}
