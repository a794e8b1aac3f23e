//! Security-header policy over a list of URLs: each response's headers
//! judged by the rules of `headers.rs` at the levels of the chosen profile
//! and the step's `require`/`warn`/`ignore`; with `assets: true`, also the
//! first own script and stylesheet of each HTML page (picked and placed as
//! `frontend` does: a third-party asset is listed, never fetched). A 5xx or
//! no answer fails the check once, leaving the rest of the URLs unjudged.

use std::collections::{BTreeMap, HashMap};

use http::Method;
use schemars::JsonSchema;
use serde::Deserialize;

use super::headers::{self, HeaderRule, Level, PROFILES};
use super::{CheckRun, Ctx, Cx, Fetched, frontend, path_of, paths_of};
use crate::outcome::{CheckResult, Reason};
use crate::spanned::{S, pos_of};
use crate::syntax::error::Pos;
use crate::syntax::template::Template;

/// Every rule id this check reports (what a findings file may name): the
/// page's status and the header rules.
pub const RULES: &[&str] = &[
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
];

/// Security-header policy over a list of URLs.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "securityHeaders")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    #[schemars(length(min = 1))]
    pub urls: Vec<S<String>>,
    /// `checklist` (default) or `strict`.
    #[serde(default)]
    pub profile: Option<S<String>>,
    /// Minimum HSTS max-age in seconds (default 31536000).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub hsts_max_age: Option<S<i64>>,
    /// Rules made required / warnings / ignored, overriding the profile.
    #[serde(default)]
    pub require: Vec<S<String>>,
    #[serde(default)]
    pub warn: Vec<S<String>>,
    #[serde(default)]
    pub ignore: Vec<S<String>>,
    /// Request headers sent to every URL.
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// Also judge the first script and stylesheet each HTML page references
    /// on the page's own host (nginx drops server-level headers in a
    /// `location` that adds its own).
    #[serde(default)]
    pub assets: bool,
    /// Other hosts whose assets count as the site's own for `assets`.
    #[serde(default)]
    pub third_party: Vec<S<String>>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub urls: Vec<Template>,
    pub profile: String,
    pub hsts_max_age: u64,
    /// Every rule with the level it runs at.
    pub rules: Vec<(HeaderRule, Level)>,
    pub headers: Vec<(String, Template)>,
    /// Also judge the first own script and stylesheet of each HTML page.
    pub assets: bool,
    /// Host names (lowercase) whose assets count as own.
    pub third_party: Vec<String>,
}

/// The step's `security_headers:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    if r.urls.is_empty() {
        cx.err(
            pos_of(c),
            "`security_headers` needs at least one URL in `urls`",
        );
    }
    let mut urls = Vec::new();
    for u in &r.urls {
        if let Some(t) = cx.url(u, "security_headers url", &["http", "https"]) {
            urls.push(t);
        }
    }
    let profile = profile(r, cx);
    let rules = rules(r, &profile, cx);
    let hsts_max_age = match &r.hsts_max_age {
        None => 31_536_000,
        Some(n) if n.value >= 0 => n.value as u64,
        Some(n) => {
            cx.err(
                pos_of(n),
                "`hsts_max_age` is in seconds and cannot be negative",
            );
            0
        }
    };
    let mut hdrs = Vec::new();
    for (k, v) in &r.headers {
        cx.header_name(pos_of(v), k);
        if let Some(t) = cx.template(v) {
            hdrs.push((k.to_ascii_lowercase(), t));
        }
    }
    let third_party = cx.hosts(&r.third_party);
    if !r.assets
        && let Some(h) = r.third_party.first()
    {
        cx.err(
            pos_of(h),
            "`third_party` only matters with `assets: true` (it names hosts whose assets count as the site's own)",
        );
    }
    let first = urls.first().cloned()?;
    Some((
        Plan {
            urls,
            profile,
            hsts_max_age,
            rules,
            headers: hdrs,
            assets: r.assets,
            third_party,
        },
        first,
    ))
}

/// `profile:`, `checklist` when absent (or unknown, then an error).
fn profile(r: &Raw, cx: &mut impl Cx) -> String {
    match &r.profile {
        None => "checklist".to_string(),
        Some(p) if PROFILES.contains(&p.value.as_str()) => p.value.clone(),
        Some(p) => {
            cx.err(
                pos_of(p),
                format!(
                    "unknown profile `{}`: use {}",
                    p.value,
                    PROFILES.join(" or ")
                ),
            );
            "checklist".to_string()
        }
    }
}

/// Every header rule at its level: the profile's, overridden by the
/// step's `require`, `warn` and `ignore` (each rule listed once at most).
fn rules(r: &Raw, profile: &str, cx: &mut impl Cx) -> Vec<(HeaderRule, Level)> {
    let mut rules: Vec<(HeaderRule, Level)> = HeaderRule::ALL
        .iter()
        .map(|r| (*r, r.level_in(profile)))
        .collect();
    let mut seen: HashMap<HeaderRule, Pos> = HashMap::new();
    for (list, level) in [
        (&r.require, Level::Required),
        (&r.warn, Level::Warning),
        (&r.ignore, Level::Off),
    ] {
        for id in list {
            match HeaderRule::parse(&id.value) {
                Some(rule) => {
                    if let Some(prev) = seen.insert(rule, pos_of(id)) {
                        cx.err(
                            pos_of(id),
                            format!(
                                "rule `{}` is already listed at line {}",
                                id.value, prev.line
                            ),
                        );
                    }
                    if let Some(e) = rules.iter_mut().find(|(r, _)| *r == rule) {
                        e.1 = level;
                    }
                }
                None => cx.err(
                    pos_of(id),
                    format!(
                        "unknown security-header rule `{}`; the rules are {}",
                        id.value,
                        HeaderRule::ALL
                            .iter()
                            .map(|r| r.id())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
    }
    rules
}

/// One line on what the check will judge.
pub fn describe(h: &Plan) -> String {
    {
        let req: Vec<&str> = h
            .rules
            .iter()
            .filter(|(_, l)| *l == Level::Required)
            .map(|(r, _)| r.id())
            .collect();
        format!(
            "profile {} over {} URL(s){}; required: {}",
            h.profile,
            h.urls.len(),
            match (h.assets, h.third_party.is_empty()) {
                (false, _) => String::new(),
                (true, true) => " and their own assets".to_string(),
                (true, false) => format!(
                    " and their own assets (also from {})",
                    h.third_party.join(", ")
                ),
            },
            req.join(", ")
        )
    }
}

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    // Headers on a proxy's 502 page, or on nothing, say nothing of the site.
    const WHAT: &str = "no page to judge the headers of";
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
        let get = Method::GET;
        // This URL as sent (`${random}` and all), and the ones after it.
        let left = || {
            let mut v = vec![path_of(&url)];
            v.extend(paths_of(ctx, &c.urls[i + 1..]));
            v
        };
        let resp = match ctx.fetch(true, get.clone(), &url, &hdrs, None).await {
            Ok(r) => r,
            Err(f) => return run.unanswered(WHAT, &get, &url, f, left()),
        };
        if resp.status >= 500 {
            return run.not_an_answer(WHAT, &get, &url, resp.status, left());
        }
        run.answered(&get, &url, resp.status);
        run.bytes += resp.body.len() as u64;
        judge(&mut run, c, &resp, &path_of(&url));
        let is_html = resp
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"));
        if c.assets && is_html {
            // Static assets often sit in their own nginx `location`, where an
            // `add_header` of its own silently drops the server-level ones. The
            // site's own first script and stylesheet (or an opted-in host's) are
            // judged; every third-party one is listed, never fetched.
            let picks = pick_assets(&mut run, c, &url, &resp);
            // The picks as sent, for what an unanswered one leaves unjudged.
            let pick_paths: Vec<String> = picks
                .iter()
                .map(|(a, at)| frontend::subject(a, *at))
                .collect();
            for (n, (asset, at)) in picks.into_iter().enumerate() {
                let asset_left = || {
                    let mut v = pick_paths[n..].to_vec();
                    v.extend(left().into_iter().skip(1));
                    v
                };
                let a = match ctx.fetch(true, get.clone(), &asset, &hdrs, None).await {
                    Ok(a) => a,
                    Err(f) => return run.unanswered(WHAT, &get, &asset, f, asset_left()),
                };
                if a.status >= 500 {
                    return run.not_an_answer(WHAT, &get, &asset, a.status, asset_left());
                }
                run.answered(&get, &asset, a.status);
                run.bytes += a.body.len() as u64;
                judge(&mut run, c, &a, &frontend::subject(&asset, at));
            }
        }
    }
    run
}

/// The page's status (an error page says little about the page that should
/// be there) and its headers, by the rules.
fn judge(run: &mut CheckRun, c: &Plan, r: &Fetched, on: &str) {
    if r.status >= 400 {
        run.checks
            .push(CheckResult::new("status", false, "< 400", r.status.to_string()).on(on));
    }
    run.checks
        .extend(headers::evaluate(&r.headers, on, &c.rules, c.hsts_max_age));
}

/// The first own script and stylesheet an HTML page references (or an
/// opted-in host's); every third-party one is listed, never fetched.
fn pick_assets(
    run: &mut CheckRun,
    c: &Plan,
    url: &url::Url,
    page: &Fetched,
) -> Vec<(url::Url, frontend::Place)> {
    let mut picks: Vec<(url::Url, frontend::Place)> = Vec::new();
    let (mut script, mut style) = (false, false);
    for (kind, r) in frontend::assets(&page.text()) {
        let Ok(asset) = url.join(&r) else { continue };
        let at = frontend::place(url, &asset, &c.third_party);
        if !at.fetched() {
            frontend::list_not_fetched(&mut run.not_fetched, &asset, kind.label(), at);
            continue;
        }
        let first = if kind.is_script() {
            &mut script
        } else {
            &mut style
        };
        if !*first {
            *first = true;
            picks.push((asset, at));
        }
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::{HeaderRule, RULES};

    #[test]
    fn every_header_rule_can_be_accepted() {
        for r in HeaderRule::ALL {
            assert!(RULES.contains(&r.id()), "{}", r.id());
        }
        assert_eq!(RULES.len(), HeaderRule::ALL.len() + 1);
    }
}
