//! The status page as HTML, rendered on the server: it is complete without
//! JavaScript (a `<noscript>` refresh reloads it), and `status.js` then
//! replaces its `<main>` with a fresh one (`?part=main`) every few seconds
//! instead of reloading. The stylesheet and script are embedded in the binary
//! and served from `/static/…` (no CDN, no web fonts), so the page's CSP can
//! forbid every inline script and style.
//!
//! The markup is written with [`maud`]'s `html!`, which escapes every value
//! spliced into it: names from the configuration and, above all, everything
//! a target sent back (messages, expected/actual values, URLs, certificate
//! subjects) can only come out as text. The one piece of raw markup is the
//! doctype. `finish` also writes `'` as a character reference, as
//! [`html_escape`] does.
//!
//! The `"\n"` literals keep the page's source one block per line.

use std::time::Duration;

use maud::{Markup, PreEscaped, html};

use super::{Check, FlowStatus, ProbeHealth, Snapshot, State, StepStatus};
use crate::flow::fmt_duration;

pub const CSS: &str = include_str!("status.css");
pub const JS: &str = include_str!("status.js");
pub const FAVICON: &str = include_str!("favicon.svg");
/// The stylesheet and script URLs carry the version, so a browser never
/// keeps an old one after an upgrade.
const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Seconds between two refreshes of the page (script, or `<noscript>` reload).
pub const REFRESH_SECONDS: u32 = 3;
const NOSCRIPT_REFRESH_SECONDS: u32 = 10;

/// `&`, `<`, `>`, `"` and `'` as character references, exactly as the page
/// writes a value: safe in text and in quoted attribute values.
pub fn html_escape(s: &str) -> String {
    finish(html! { (s) })
}

/// The rendered markup as the page's text. maud escapes `&`, `<`, `>` and
/// `"`; a `'` becomes `&#39;` here too, so that no value can close a quote
/// of either kind. Doing it on the whole page is exact: a character
/// reference reads as `'` everywhere but in an inline script or style, and
/// the page has none (its CSP forbids them).
fn finish(m: Markup) -> String {
    let s = m.into_string();
    if s.contains('\'') {
        s.replace('\'', "&#39;")
    } else {
        s
    }
}

/// The whole page.
pub fn page(s: &Snapshot) -> String {
    let v = ASSET_VERSION;
    finish(html! {
        (PreEscaped("<!doctype html>\n"))
        html lang="en" {
            "\n"
            head {
                "\n" meta charset="utf-8";
                "\n" meta name="viewport" content="width=device-width, initial-scale=1";
                "\n" meta name="color-scheme" content="light dark";
                "\n" title { (title(s)) }
                "\n" link rel="stylesheet" href={ "/static/status.css?v=" (v) };
                "\n" link rel="icon" href="/static/favicon.svg";
                "\n" noscript { meta http-equiv="refresh" content=(NOSCRIPT_REFRESH_SECONDS); }
                "\n" script src={ "/static/status.js?v=" (v) } defer {}
                "\n"
            }
            "\n"
            body {
                "\n"
                div.bar {
                    span.brand { "smokeprobe" }
                    span id="live" class="live" aria-live="polite" {
                        "reloads every " (NOSCRIPT_REFRESH_SECONDS) " s"
                    }
                }
                "\n"
                (main(s))
            }
            "\n"
        }
        "\n"
    })
}

/// The `<main>` element alone (and the title), for the script's refresh.
pub fn main_part(s: &Snapshot) -> String {
    finish(html! {
        title { (title(s)) }
        "\n"
        (main(s))
    })
}

fn title(s: &Snapshot) -> String {
    let sum = &s.summary;
    if sum.failing > 0 {
        format!("✗ {} failing · smokeprobe", sum.failing)
    } else if sum.slow > 0 {
        format!("⚠ {} slow · smokeprobe", sum.slow)
    } else if sum.pending > 0 && sum.passing == 0 {
        "… starting · smokeprobe".to_string()
    } else {
        "✓ passing · smokeprobe".to_string()
    }
}

/// The banner's class and headline.
fn headline(s: &Snapshot) -> (&'static str, String) {
    let sum = &s.summary;
    if sum.failing > 0 {
        (
            "failed",
            format!("{} of {} flows failing", sum.failing, sum.flows),
        )
    } else if sum.slow > 0 {
        (
            "slow",
            format!(
                "{} of {} flows slow: they work, but a step is over its latency budget",
                sum.slow, sum.flows
            ),
        )
    } else if sum.pending > 0 {
        (
            "pending",
            format!(
                "{} of {} flows passing, {} not run yet",
                sum.passing, sum.flows, sum.pending
            ),
        )
    } else if sum.flows == 0 {
        ("pending", "No flows configured".to_string())
    } else {
        ("passed", format!("All {} flows passing", sum.flows))
    }
}

fn main(s: &Snapshot) -> Markup {
    let (class, headline) = headline(s);
    html! {
        main id="status" data-refresh=(REFRESH_SECONDS) {
            "\n"
            section.overall.(class) {
                h1 { (headline) }
                p { "as of " time datetime=(s.generated_at) { (human_time(&s.generated_at)) } }
                (jump_links(s))
            }
            "\n"
            (left_behind(&s.probe))
            (health(&s.probe))
            // One section per run of flows in the same group.
            @for flows in s.flows.chunk_by(|a, b| a.group == b.group) {
                section.group {
                    h2 { (flows[0].group.as_deref().unwrap_or("Flows")) }
                    "\n"
                    @for f in flows { (flow(f, s.now)) }
                }
                "\n"
            }
        }
        "\n"
    }
}

/// The flow card's anchor (`#target/flow`): names are label-safe, so the id
/// is unique and needs no escaping beyond the usual.
fn anchor(f: &FlowStatus) -> String {
    format!("{}/{}", f.target, f.flow)
}

/// A link to a flow's card.
fn flow_link(f: &FlowStatus) -> Markup {
    html! { a href={ "#" (anchor(f)) } { (f.flow) } }
}

/// The banner's links straight to what is failing (the first failed step
/// and why), then to the flows whose failures are accepted and to the
/// findings-file entries to act on: the flows sit far below on a long page.
fn jump_links(s: &Snapshot) -> Markup {
    let failing: Vec<&FlowStatus> = s
        .flows
        .iter()
        .filter(|f| f.state == State::Failed)
        .collect();
    html! {
        @if !failing.is_empty() {
            ul.jump {
                @for f in failing {
                    li {
                        (flow_link(f))
                        @if let Some(st) = f.steps.iter().find(|st| st.state == State::Failed) {
                            " " (why(st))
                        }
                    }
                }
            }
        }
        (finding_notes(s))
    }
}

/// Why a flow in the banner failed: its first failed step, the reason and
/// the start of the message (the card below has the whole of it).
fn why(st: &StepStatus) -> Markup {
    html! {
        span.why {
            (st.name) " · " (st.reason.unwrap_or("failed"))
            @if let Some(m) = &st.message {
                @let short: String = m.chars().take(140).collect();
                ": " (short)
                @if short.len() < m.len() { "…" }
            }
        }
    }
}

/// The banner's notes on accepted failures and on findings-file entries
/// past their date or resolved, each with links to the flows.
fn finding_notes(s: &Snapshot) -> Markup {
    let links = |pick: &dyn Fn(&FlowStatus) -> bool| {
        html! {
            @for (i, f) in s.flows.iter().filter(|f| pick(f)).enumerate() {
                @if i > 0 { ", " }
                (flow_link(f))
            }
        }
    };
    let sum = &s.summary;
    let findings = [
        (
            sum.expired,
            "expired",
            "accepted finding(s) past their date, failing again",
        ),
        (
            sum.resolved,
            "resolved",
            "accepted finding(s) resolved: remove them from the findings file",
        ),
    ];
    html! {
        @if sum.accepted > 0 {
            p.accepted-note {
                "⚠ " (sum.accepted) " accepted rule failure"
                @if sum.accepted != 1 { "s" }
                " (not failing): " (links(&|f| f.accepted > 0))
            }
        }
        @for (n, state, what) in findings {
            @if n > 0 {
                p.finding-note.(state) {
                    (n) " " (what) ": "
                    (links(&|f| f.findings.iter().any(|x| x.state == state)))
                }
            }
        }
    }
}

/// One tile of the probe's health: its class (`ok`, `warn`, `bad` or
/// none), name and value.
type Tile = (&'static str, String, String);

fn health(p: &ProbeHealth) -> Markup {
    html! {
        section.health {
            h2 { "Probe" }
            dl.tiles {
                "\n"
                @for (class, name, value) in health_tiles(p) {
                    div class={ "tile " (class) } { dt { (name) } dd { (value) } }
                    "\n"
                }
            }
        }
        "\n"
    }
}

fn health_tiles(p: &ProbeHealth) -> Vec<Tile> {
    let tile = |class, name: &str, value: String| (class, name.to_string(), value);
    let mut tiles = vec![tile("", "version", p.version.to_string())];
    if let Some(l) = &p.location {
        tiles.push(tile("", "location", l.clone()));
    }
    tiles.push(tile(
        "",
        "uptime",
        human_span(Duration::from_secs_f64(p.uptime_seconds)),
    ));
    tiles.push(tile("", "flows", p.flows_configured.to_string()));
    tiles.push(if p.ready {
        tile("ok", "ready", "yes".to_string())
    } else {
        tile("warn", "ready", "no: first round running".to_string())
    });
    let (class, reload) = match (p.last_reload_successful, &p.last_reload_success_at) {
        (Some(false), _) => ("bad", "failed: old configuration runs".to_string()),
        (_, Some(at)) => ("ok", format!("ok · {}", human_time(at))),
        _ => ("", "—".to_string()),
    };
    tiles.push(tile(class, "last reload", reload));
    tiles.push(tile(
        if p.schedule_lag_last_max_seconds > 1.0 {
            "warn"
        } else {
            ""
        },
        "schedule lag",
        format!(
            // The worst of each flow's latest start, and the mean since start.
            "{} latest · {} mean",
            fmt_duration(Duration::from_secs_f64(p.schedule_lag_last_max_seconds)),
            fmt_duration(Duration::from_secs_f64(p.schedule_lag_mean_seconds)),
        ),
    ));
    tiles.push(tile(
        "",
        "runs",
        format!("{} · {} skipped", p.runs_total, p.skipped_runs_total),
    ));
    if let Some(b) = p.resident_memory_bytes {
        tiles.push(tile("", "memory", format!("{:.1} MB", b / 1e6)));
    }
    for sec in &p.secrets {
        let name = format!("secret {}", sec.var);
        tiles.push(match &sec.refused {
            Some(r) => tile(
                "bad",
                &name,
                format!(
                    "REFUSED: {}; not sent again (the account is not locked) until its value changes",
                    r.describe()
                ),
            ),
            None => tile("ok", &name, "accepted".to_string()),
        });
    }
    let retried = p.left_behind.iter().filter(|l| l.deletable).count();
    let stuck = p.left_behind.len() - retried;
    tiles.push(tile(
        if p.left_behind.is_empty() {
            "ok"
        } else {
            "bad"
        },
        "left behind",
        match (retried, stuck) {
            (0, 0) => "nothing".to_string(),
            (n, 0) => format!("{n} object(s), retried"),
            (0, k) => format!("{k} object(s) no step can delete"),
            (n, k) => format!("{n} object(s), retried; {k} no step can delete"),
        },
    ));
    tiles
}

/// Objects the probe could not delete, loud and at the top.
fn left_behind(p: &ProbeHealth) -> Markup {
    html! {
        @if !p.left_behind.is_empty() {
            section.left-behind.failed #left-behind {
                h2 { "Left behind on the target: " (p.left_behind.len()) }
                ul {
                    "\n"
                    @for l in &p.left_behind {
                        li {
                            strong { (l.what) }
                            " — " (l.flow) "/" (l.step) ", since "
                            time datetime=(l.since) { (human_time(&l.since)) }
                            @if l.deletable { ", " (l.attempts) " attempt(s)" }
                            ": " (l.why)
                        }
                        "\n"
                    }
                }
            }
            "\n"
        }
    }
}

fn flow(f: &FlowStatus, now: f64) -> Markup {
    let state = f.state.as_str();
    let accepted = f.state == State::Passed && f.accepted > 0;
    html! {
        article.flow.(state).accepted[accepted] id=(anchor(f))
            data-flow=(f.flow) data-target=(f.target) data-state=(state) {
            "\n"
            header {
                h3 {
                    (if accepted { accepted_badge() } else { badge(f.state) })
                    span.name { (f.flow) }
                    " "
                    span.target { (f.target) }
                }
                "\n"
                p.when { (when(f, now)) }
                @if let Some(d) = &f.description {
                    p.desc { (d) }
                }
                (findings(f))
            }
            "\n"
            ol.steps {
                "\n"
                @for s in &f.steps { (step(f, s)) }
            }
            "\n"
        }
        "\n"
    }
}

/// When the flow last ran, how long it took, how often it runs, and its
/// failure streak.
fn when(f: &FlowStatus, now: f64) -> Markup {
    html! {
        @match &f.last_run {
            Some(r) => {
                @let ago = Duration::from_secs_f64((now - r.finished_unix).max(0.0));
                "last run "
                time datetime=(r.finished_at) title=(r.finished_at) { (human_span(ago)) " ago" }
                " · took " (fmt_duration(Duration::from_secs_f64(r.duration_seconds)))
            }
            None => "no run finished yet",
        }
        " · every " (human_span(Duration::from_secs_f64(f.interval_seconds)))
        @if f.consecutive_failures > 1 {
            " · " strong { (f.consecutive_failures) " failures in a row" }
        }
    }
}

/// The flow's findings-file entries to act on: expired or resolved.
fn findings(f: &FlowStatus) -> Markup {
    html! {
        @for x in f.findings.iter().filter(|x| x.state != "active") {
            @let subject = x.on.as_deref().map(|on| format!(" on {on}")).unwrap_or_default();
            p.finding.(x.state) {
                @if x.state == "resolved" {
                    "resolved: remove it (" (x.entry) "): " (x.step) " › " (x.rule) (subject)
                    " no longer fails"
                } @else {
                    "expired: " (x.step) " › " (x.rule) (subject) " was accepted until "
                    (x.until) " (" (x.entry) "): it fails again"
                }
            }
        }
    }
}

/// A pass that holds because failures were accepted.
fn accepted_badge() -> Markup {
    html! { span.badge.accepted { "OK ⚠" } }
}

fn badge(s: State) -> Markup {
    html! {
        @match s {
            State::Passed => span.badge.passed { "OK" },
            State::Slow => span.badge.slow title="works, but over its latency budget" { "SLOW" },
            State::Failed => span.badge.failed { "FAIL" },
            State::Skipped => span.badge.skipped { "SKIP" },
            State::Pending => span.badge.pending { "…" },
        }
    }
}

fn step(f: &FlowStatus, s: &StepStatus) -> Markup {
    let state = s.state.as_str();
    let accepted = s.state == State::Passed && s.accepted > 0;
    html! {
        li.step.(state).accepted[accepted] data-flow=(f.flow) data-step=(s.name) data-state=(state) {
            "\n"
            div.head {
                (if accepted { accepted_badge() } else { badge(s.state) })
                span.name { (s.name) }
                " "
                span.kind { (step_kind(s)) }
            }
            "\n"
            (latency(s))
            (sparkline(s))
            @if s.state == State::Failed {
                (failure(s))
            } @else if s.state == State::Skipped {
                @if let Some(m) = &s.message {
                    p.skipped-why { (m) }
                    "\n"
                }
            }
            (accepted_list(s))
            @if let Some(c) = &s.certificate {
                p.cert.(if c.days_left < 14.0 { "warn" } else { "ok" }) {
                    "certificate: " strong { (format!("{:.0}", c.days_left.floor())) " days left" }
                    " (until " (human_time(&c.not_after)) ") · " (c.subject) " · issued by " (c.issuer)
                }
                "\n"
            }
            (verdicts(s, &format!("{}/{}/{}", f.target, f.flow, s.name)))
        }
        "\n"
    }
}

/// A request's method and status, or a check's kind; and whether it is a
/// cleanup step.
fn step_kind(s: &StepStatus) -> Markup {
    html! {
        @match (&s.method, s.kind) {
            (Some(m), "request") => (m),
            (_, kind) => (kind.replace('_', " ")),
        }
        @if let Some(code) = s.status.filter(|_| s.kind == "request") {
            " → " (code)
        }
        @if s.always { " · cleanup" }
    }
}

fn latency(s: &StepStatus) -> Markup {
    let has_budget = s.budget.p50.is_some() || s.budget.p95.is_some() || s.budget.p99.is_some();
    html! {
        div.lat {
            @if s.samples == 0 && !has_budget {
                span.none { "no latency samples yet" }
            } @else {
                @for q in ["p50", "p95", "p99"] {
                    @let (v, b) = (s.quantiles.get(q), s.budget.get(q));
                    @let over = s.over_budget.contains(&q);
                    @if v.is_some() || b.is_some() {
                        span.q.over[over] {
                            b { (q) } " " (v.map_or_else(|| "–".to_string(), secs))
                            @if let Some(budget) = b {
                                " " span.budget { (if over { ">" } else { "≤" }) " " (secs(budget)) }
                            }
                        }
                    }
                }
                span.win {
                    (s.window) " window · " (s.samples) " sample"
                    @if s.samples != 1 { "s" }
                }
            }
        }
        "\n"
    }
}

/// The last runs as an inline SVG: latency as a line scaled to the slowest
/// run, the p95 budget as a dashed line when it is in that range, failed
/// runs as red dots (on the floor when no response came back).
fn sparkline(s: &StepStatus) -> Markup {
    const W: f64 = 180.0;
    const H: f64 = 32.0;
    let h = &s.history;
    if h.is_empty() {
        return html! {};
    }
    // The runs kept so far span the whole width (a lone run sits at the right).
    let step = W / (h.len().max(2) - 1) as f64;
    let slowest = h.iter().filter_map(|p| p.seconds).fold(0.0, f64::max);
    let budget = s.budget.p95.or(s.budget.p99).or(s.budget.p50);
    let top = slowest.max(1e-6) * 1.15;
    let y = |v: f64| format!("{:.1}", H - 2.0 - (v / top) * (H - 4.0));
    let x = |i: usize| format!("{:.1}", W - (h.len() - 1 - i) as f64 * step);
    let failed = h.iter().filter(|p| !p.passed).count();
    let latest = h
        .last()
        .and_then(|p| p.seconds)
        .map_or_else(|| "no response".to_string(), secs);
    let points: Vec<String> = h
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some(format!("{},{}", x(i), y(p.seconds?))))
        .collect();
    html! {
        svg.spark viewBox={ "0 0 " (W) " " (H) } preserveAspectRatio="none" role="img"
            aria-label={
                "last " (h.len()) " runs: slowest " (secs(slowest)) ", latest " (latest)
                ", " (failed) " failed"
            } {
            @if let Some(b) = budget.filter(|b| *b <= top) {
                line.budget x1="0" x2=(W) y1=(y(b)) y2=(y(b)) {}
            }
            @if !points.is_empty() {
                polyline.line points=(points.join(" ")) {}
            }
            @for (i, p) in h.iter().enumerate().filter(|(_, p)| !p.passed) {
                circle.bad cx=(x(i)) cy=(p.seconds.map_or(format!("{:.1}", H - 2.0), y)) r="2.2" {}
            }
        }
        "\n"
    }
}

/// Why a red step is red: the reason, the message, and each failed
/// assertion or rule with what was expected and what came back.
fn failure(s: &StepStatus) -> Markup {
    let failed: Vec<&Check> = s.checks.iter().filter(|c| c.is_failure()).collect();
    html! {
        div.failure {
            p {
                span.reason { (s.reason.unwrap_or("failed")) }
                @if let Some(m) = &s.message {
                    " " span.msg { (m) }
                }
            }
            @if let Some(u) = &s.url {
                p.url {
                    (s.method.as_deref().unwrap_or("")) " " (u)
                    @if let Some(a) = s.attempts.filter(|a| *a > 1) {
                        " · " (a) " attempts"
                    }
                }
            }
            @if !failed.is_empty() {
                (checks_table(failed))
            }
        }
        "\n"
    }
}

/// The accepted failures of a step at a glance, one line per findings-file
/// entry: which rule, on how many subjects, until when and why.
fn accepted_list(s: &StepStatus) -> Markup {
    let mut entries: Vec<(&crate::flow::Acceptance, &str, usize)> = Vec::new();
    for c in s.checks.iter().filter(|c| c.is_accepted()) {
        let Some(a) = &c.accepted else { continue };
        match entries.iter_mut().find(|(e, _, _)| e.entry == a.entry) {
            Some((_, _, n)) => *n += 1,
            None => entries.push((a, &c.check, 1)),
        }
    }
    html! {
        @if !entries.is_empty() {
            ul.accepted-list {
                @for (a, rule, n) in entries {
                    li {
                        "⚠ " b { (rule) } " on " (n) " subject"
                        @if n != 1 { "s" }
                        " · accepted until " (a.until) ": " (a.reason)
                    }
                }
            }
            "\n"
        }
    }
}

/// Every verdict of the last run, folded: a check's rules × subjects (with
/// warnings), a request's assertions.
fn verdicts(s: &StepStatus, key: &str) -> Markup {
    if s.checks.is_empty() {
        return html! {};
    }
    let what = if s.kind == "request" {
        "assertion"
    } else {
        "rule"
    };
    let total = s.checks.len();
    let passed = s.checks.iter().filter(|c| c.passed).count();
    html! {
        details.verdicts data-key=(key) {
            summary {
                (passed) "/" (total) " " (what)
                @if total != 1 { "s" }
                " passed"
                @if s.failed_checks > 0 {
                    " · " span.bad { (s.failed_checks) " failed" }
                }
                @if s.accepted > 0 {
                    " · " span.accepted { "⚠ " (s.accepted) " accepted" }
                }
                @if s.warnings > 0 {
                    " · " span.warn {
                        (s.warnings) " warning"
                        @if s.warnings != 1 { "s" }
                    }
                }
            }
            (checks_table(s.checks.iter()))
        }
        "\n"
    }
}

fn checks_table<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Markup {
    html! {
        div.scroll {
            table.checks {
                thead { tr { th { "verdict" } th { "check" } th { "expected" } th { "actual" } } }
                tbody {
                    @for c in checks { (check_row(c)) }
                }
            }
        }
    }
}

fn check_row(c: &Check) -> Markup {
    let (class, verdict) = match (c.passed, c.warning) {
        (true, _) => ("passed", "pass"),
        (false, true) => ("warn", "warning"),
        (false, false) if c.is_accepted() => ("accepted", "⚠ accepted"),
        (false, false) => ("failed", "FAIL"),
    };
    html! {
        tr.(class) {
            td { (verdict) }
            td {
                (c.check)
                @if let Some(on) = &c.on {
                    span.on { (on) }
                }
            }
            td { (c.expected) }
            td {
                (c.actual)
                @match &c.accepted {
                    Some(a) if a.expired => {
                        span.note { "accepted until " (a.until) " expired (" (a.entry) ")" }
                    }
                    Some(a) => {
                        span.note { "accepted until " (a.until) ": " (a.reason) }
                    }
                    None => {}
                }
            }
        }
    }
}

fn secs(v: f64) -> String {
    fmt_duration(Duration::from_secs_f64(v.max(0.0)))
}

/// `2026-11-26T06:56:35.123Z` → `2026-11-26 06:56:35 UTC`.
fn human_time(rfc3339: &str) -> String {
    match rfc3339.split_once('T') {
        Some((d, t)) if t.len() >= 8 => format!("{d} {} UTC", &t[..8]),
        _ => rfc3339.to_string(),
    }
}

/// `3 d 4 h`, `2 h 5 min`, `5 min 3 s`, `1 min`, `12 s`, `0.5 s`: the two
/// largest units, without a zero second one.
fn human_span(d: Duration) -> String {
    let s = d.as_secs();
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    if s >= 86_400 {
        two(s / 86_400, "d", s % 86_400 / 3600, "h")
    } else if s >= 3600 {
        two(s / 3600, "h", s % 3600 / 60, "min")
    } else if s >= 60 {
        two(s / 60, "min", s % 60, "s")
    } else if s >= 1 || d.is_zero() {
        format!("{s} s")
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            html_escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(html_escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(html_escape("a<b"), "a&lt;b");
    }

    /// Every string a snapshot holds set to markup: none of it comes out as
    /// markup, and each shows up escaped.
    #[test]
    fn the_page_escapes_every_value() {
        let snap = snapshot("<x a='1'>&\"");
        for out in [page(&snap), main_part(&snap)] {
            assert!(!out.contains("<x"), "{out}");
            assert!(!out.contains("'1'"), "{out}");
            // Names, group, description, message, URL, rules, subjects,
            // expected/actual, certificate, time stamps, accepted findings'
            // reasons and entries, the banner's links: dozens of them.
            assert!(
                out.matches("&lt;x a=&#39;1&#39;&gt;&amp;&quot;").count() > 60,
                "{out}"
            );
            // The banner links to the failing flow's card by its id.
            assert!(
                out.contains("<a href=\"#&lt;x a=&#39;1&#39;&gt;&amp;&quot;/&lt;x"),
                "{out}"
            );
            assert!(
                out.contains("id=\"&lt;x a=&#39;1&#39;&gt;&amp;&quot;/&lt;x"),
                "{out}"
            );
            assert!(out.contains("class=\"badge accepted\""), "{out}");
        }
    }

    /// A target's markup in every field the page shows (names, description,
    /// messages, expected/actual values, certificate, findings, secrets,
    /// objects left behind): the page's own script is its one `<script`,
    /// the fragment has none, and no element or attribute comes from it.
    #[test]
    fn a_target_s_markup_in_every_field_stays_text() {
        const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let snap = snapshot(HOSTILE);
        for (out, own) in [(page(&snap), 1), (main_part(&snap), 0)] {
            assert_eq!(out.matches("<script").count(), own, "{out}");
            assert!(!out.contains("<img"), "{out}");
            assert!(
                out.matches(
                    "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
                )
                .count()
                    > 60,
                "{out}"
            );
        }
    }

    /// Escaping holds by construction: maud's `html!` escapes whatever is
    /// spliced into it, so text can only become markup through
    /// `PreEscaped` or a `Render` impl written here. The one raw piece is
    /// the doctype.
    #[test]
    fn the_only_raw_markup_is_the_doctype() {
        let code = include_str!("html.rs");
        let code = &code[..code.find("#[cfg(test)]").unwrap()];
        let raw: Vec<&str> = code
            .lines()
            .filter(|l| l.contains("PreEscaped(") || l.contains("Render for"))
            .map(str::trim)
            .collect();
        assert_eq!(raw, [r#"(PreEscaped("<!doctype html>\n"))"#], "{raw:#?}");
        assert!(page(&snapshot("")).starts_with("<!doctype html>\n<html lang=\"en\">"));
    }

    /// A snapshot with `hostile` in every string it holds, and every part
    /// of the page shown: a failing and an accepted flow, a refused secret,
    /// an object left behind, findings of every state.
    fn snapshot(hostile: &str) -> Snapshot {
        use crate::status::*;
        let h = || hostile.to_string();
        Snapshot {
            now: 100.0,
            generated_at: h(),
            probe: ProbeHealth {
                version: hostile.to_string().leak(),
                location: Some(h()),
                started_at: h(),
                uptime_seconds: 1.0,
                ready: true,
                flows_configured: 1,
                last_reload_successful: Some(true),
                last_reload_success_at: Some(h()),
                reloads_succeeded: 1,
                reloads_failed: 0,
                schedule_lag_last_max_seconds: 0.0,
                schedule_lag_mean_seconds: 0.0,
                runs_total: 1,
                skipped_runs_total: 0,
                resident_memory_bytes: None,
                secrets: vec![crate::credentials::SecretState {
                    var: h(),
                    refused: Some(crate::credentials::Refusal {
                        var: h(),
                        status: 401,
                        code: Some(h()),
                        by: h(),
                        at: h(),
                    }),
                }],
                left_behind: vec![crate::flow::leftovers::LeftBehind {
                    target: h(),
                    flow: h(),
                    step: h(),
                    what: h(),
                    why: h(),
                    since: h(),
                    attempts: 1,
                    deletable: true,
                    values: vec![],
                }],
            },
            summary: Summary {
                flows: 2,
                failing: 1,
                passing: 1,
                accepted: 1,
                resolved: 1,
                expired: 1,
                ..Summary::default()
            },
            flows: vec![flow(State::Failed, hostile), flow(State::Passed, hostile)],
        }
    }

    fn flow(state: State, hostile: &str) -> crate::status::FlowStatus {
        use crate::status::*;
        let h = || hostile.to_string();
        let check = |passed, warning| Check {
            check: h(),
            on: Some(h()),
            passed,
            warning,
            expected: h(),
            actual: h(),
            accepted: None,
        };
        let accepted = |expired| Check {
            accepted: Some(crate::flow::Acceptance {
                reason: h(),
                until: h(),
                expired,
                entry: h(),
            }),
            ..check(false, false)
        };
        let step = |state| StepStatus {
            name: h(),
            kind: "request",
            always: false,
            state,
            method: Some(h()),
            url: Some(h()),
            status: Some(500),
            duration_seconds: Some(0.1),
            attempts: Some(2),
            reason: Some("assertion"),
            message: Some(h()),
            budget: Percentiles::default(),
            window: h(),
            quantiles: Percentiles::default(),
            samples: 1,
            over_budget: vec![],
            windows: vec![],
            checks: vec![
                check(false, false),
                check(false, true),
                check(true, false),
                accepted(false),
                accepted(true),
            ],
            failed_checks: 2,
            warnings: 1,
            accepted: 1,
            certificate: Some(Certificate {
                days_left: 3.0,
                not_after: h(),
                subject: h(),
                issuer: h(),
            }),
            history: vec![HistoryPoint {
                seconds: Some(0.1),
                passed: false,
            }],
        };
        FlowStatus {
            target: h(),
            flow: h(),
            group: Some(h()),
            description: Some(h()),
            interval_seconds: 1.0,
            state,
            last_run: Some(LastRun {
                run_id: h(),
                started_at: h(),
                finished_at: h(),
                finished_unix: 99.0,
                duration_seconds: 0.1,
            }),
            consecutive_failures: 2,
            runs: 2,
            skipped_runs: 0,
            steps: vec![step(state), step(State::Skipped)],
            accepted: 1,
            findings: ["active", "expired", "resolved"]
                .into_iter()
                .map(|state| FindingStatus {
                    entry: h(),
                    step: h(),
                    rule: h(),
                    on: Some(h()),
                    reason: h(),
                    until: h(),
                    state,
                    matched: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn spans_read_like_a_person_would_say_them() {
        assert_eq!(human_span(Duration::from_secs(12)), "12 s");
        assert_eq!(human_span(Duration::from_millis(500)), "0.5 s");
        assert_eq!(human_span(Duration::from_secs(3 * 3600 + 300)), "3 h 5 min");
        assert_eq!(human_span(Duration::from_secs(60)), "1 min");
        assert_eq!(human_span(Duration::from_secs(86_400 + 59)), "1 d");
        assert_eq!(
            human_time("2026-11-26T06:56:35.123Z"),
            "2026-11-26 06:56:35 UTC"
        );
    }
}
