//! The status page as HTML, rendered on the server: it is complete without
//! JavaScript (a `<noscript>` refresh reloads it), and `status.js` then
//! replaces its `<main>` with a fresh one (`?part=main`) every few seconds
//! instead of reloading. The stylesheet and script are embedded in the binary
//! and served from `/static/…` (no CDN, no web fonts), so the page's CSP can
//! forbid every inline script and style.
//!
//! Every value goes through [`html_escape`] (through [`Esc`] in format
//! strings): names from the configuration and, above all, everything a target
//! sent back (messages, expected/actual values, URLs, certificate subjects).

use std::fmt::{self, Write as _};
use std::time::Duration;

use super::{FlowStatus, ProbeHealth, Snapshot, State, StepStatus};
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

/// `&`, `<`, `>`, `"` and `'` as character references: safe in text and in
/// quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = write_escaped(&mut out, s);
    out
}

fn write_escaped(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.write_str(&s[last..i])?;
        out.write_str(rep)?;
        last = i + 1;
    }
    out.write_str(&s[last..])
}

/// Escapes its text when formatted: `write!(o, "<td>{}</td>", Esc(value))`.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0)
    }
}

/// The whole page.
pub fn page(s: &Snapshot) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{}</title>\n\
         <link rel=\"stylesheet\" href=\"/static/status.css?v={v}\">\n\
         <link rel=\"icon\" href=\"/static/favicon.svg\">\n\
         <noscript><meta http-equiv=\"refresh\" content=\"{NOSCRIPT_REFRESH_SECONDS}\"></noscript>\n\
         <script src=\"/static/status.js?v={v}\" defer></script>\n\
         </head>\n<body>\n\
         <div class=\"bar\"><span class=\"brand\">smokeprobe</span>\
         <span id=\"live\" class=\"live\" aria-live=\"polite\">reloads every {NOSCRIPT_REFRESH_SECONDS} s</span></div>\n",
        Esc(&title(s)),
        v = ASSET_VERSION,
    );
    main(&mut o, s);
    o.push_str("</body>\n</html>\n");
    o
}

/// The `<main>` element alone (and the title), for the script's refresh.
pub fn main_part(s: &Snapshot) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let _ = writeln!(o, "<title>{}</title>", Esc(&title(s)));
    main(&mut o, s);
    o
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

fn main(o: &mut String, s: &Snapshot) {
    let sum = &s.summary;
    let (class, headline) = if sum.failing > 0 {
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
    };
    let _ = write!(
        o,
        "<main id=\"status\" data-refresh=\"{REFRESH_SECONDS}\">\n\
         <section class=\"overall {class}\"><h1>{}</h1>\
         <p>as of <time datetime=\"{}\">{}</time></p>",
        Esc(&headline),
        Esc(&s.generated_at),
        Esc(&human_time(&s.generated_at)),
    );
    jump_links(o, s);
    o.push_str("</section>\n");
    left_behind(o, &s.probe);
    health(o, &s.probe);
    let mut group: Option<Option<&str>> = None;
    for f in &s.flows {
        let g = f.group.as_deref();
        if group != Some(g) {
            if group.is_some() {
                o.push_str("</section>\n");
            }
            let _ = writeln!(
                o,
                "<section class=\"group\"><h2>{}</h2>",
                Esc(g.unwrap_or("Flows"))
            );
            group = Some(g);
        }
        flow(o, f, s.now);
    }
    if group.is_some() {
        o.push_str("</section>\n");
    }
    o.push_str("</main>\n");
}

/// The flow card's anchor (`#target/flow`): names are label-safe, so the id
/// is unique and needs no escaping beyond the usual.
fn anchor(f: &FlowStatus) -> String {
    format!("{}/{}", f.target, f.flow)
}

/// The banner's links straight to what is failing (the first failed step
/// and why), then to the flows whose failures are accepted and to the
/// findings-file entries to act on: the flows sit far below on a long page.
fn jump_links(o: &mut String, s: &Snapshot) {
    let failing: Vec<&FlowStatus> = s
        .flows
        .iter()
        .filter(|f| f.state == State::Failed)
        .collect();
    if !failing.is_empty() {
        o.push_str("<ul class=\"jump\">");
        for f in failing {
            let _ = write!(
                o,
                "<li><a href=\"#{}\">{}</a>",
                Esc(&anchor(f)),
                Esc(&f.flow)
            );
            if let Some(st) = f.steps.iter().find(|st| st.state == State::Failed) {
                let _ = write!(
                    o,
                    " <span class=\"why\">{} · {}",
                    Esc(&st.name),
                    Esc(st.reason.unwrap_or("failed"))
                );
                if let Some(m) = &st.message {
                    // The card below has the whole of it.
                    let short: String = m.chars().take(140).collect();
                    let more = if short.len() < m.len() { "…" } else { "" };
                    let _ = write!(o, ": {}{more}", Esc(&short));
                }
                o.push_str("</span>");
            }
            o.push_str("</li>");
        }
        o.push_str("</ul>");
    }
    let with = |pick: &dyn Fn(&FlowStatus) -> bool| -> String {
        s.flows
            .iter()
            .filter(|f| pick(f))
            .map(|f| format!("<a href=\"#{}\">{}</a>", Esc(&anchor(f)), Esc(&f.flow)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sum = &s.summary;
    if sum.accepted > 0 {
        let _ = write!(
            o,
            "<p class=\"accepted-note\">⚠ {} accepted rule failure{} (not failing): {}</p>",
            sum.accepted,
            if sum.accepted == 1 { "" } else { "s" },
            with(&|f| f.accepted > 0)
        );
    }
    for (n, state, what) in [
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
    ] {
        if n > 0 {
            let _ = write!(
                o,
                "<p class=\"finding-note {state}\">{n} {what}: {}</p>",
                with(&|f| f.findings.iter().any(|x| x.state == state))
            );
        }
    }
}

fn health(o: &mut String, p: &ProbeHealth) {
    o.push_str("<section class=\"health\"><h2>Probe</h2><dl class=\"tiles\">\n");
    let tile = |o: &mut String, class: &str, name: &str, value: &str| {
        let _ = writeln!(
            o,
            "<div class=\"tile {class}\"><dt>{}</dt><dd>{}</dd></div>",
            Esc(name),
            Esc(value)
        );
    };
    tile(o, "", "version", p.version);
    if let Some(l) = &p.location {
        tile(o, "", "location", l);
    }
    tile(
        o,
        "",
        "uptime",
        &human_span(Duration::from_secs_f64(p.uptime_seconds)),
    );
    tile(o, "", "flows", &p.flows_configured.to_string());
    tile(
        o,
        if p.ready { "ok" } else { "warn" },
        "ready",
        if p.ready {
            "yes"
        } else {
            "no: first round running"
        },
    );
    let reload = match (p.last_reload_successful, &p.last_reload_success_at) {
        (Some(false), _) => ("bad", "failed: old configuration runs".to_string()),
        (_, Some(at)) => ("ok", format!("ok · {}", human_time(at))),
        _ => ("", "—".to_string()),
    };
    tile(o, reload.0, "last reload", &reload.1);
    tile(
        o,
        if p.schedule_lag_last_max_seconds > 1.0 {
            "warn"
        } else {
            ""
        },
        "schedule lag",
        &format!(
            // The worst of each flow's latest start, and the mean since start.
            "{} latest · {} mean",
            fmt_duration(Duration::from_secs_f64(p.schedule_lag_last_max_seconds)),
            fmt_duration(Duration::from_secs_f64(p.schedule_lag_mean_seconds)),
        ),
    );
    tile(
        o,
        "",
        "runs",
        &format!("{} · {} skipped", p.runs_total, p.skipped_runs_total),
    );
    if let Some(b) = p.resident_memory_bytes {
        tile(o, "", "memory", &format!("{:.1} MB", b / 1e6));
    }
    for sec in &p.secrets {
        match &sec.refused {
            Some(r) => tile(
                o,
                "bad",
                &format!("secret {}", sec.var),
                &format!(
                    "REFUSED: {}; not sent again (the account is not locked) until its value changes",
                    r.describe()
                ),
            ),
            None => tile(o, "ok", &format!("secret {}", sec.var), "accepted"),
        }
    }
    tile(
        o,
        if p.left_behind.is_empty() {
            "ok"
        } else {
            "bad"
        },
        "left behind",
        &match (
            p.left_behind.iter().filter(|l| l.deletable).count(),
            p.left_behind.iter().filter(|l| !l.deletable).count(),
        ) {
            (0, 0) => "nothing".to_string(),
            (n, 0) => format!("{n} object(s), retried"),
            (0, k) => format!("{k} object(s) no step can delete"),
            (n, k) => format!("{n} object(s), retried; {k} no step can delete"),
        },
    );
    o.push_str("</dl></section>\n");
}

/// Objects the probe could not delete, loud and at the top.
fn left_behind(o: &mut String, p: &ProbeHealth) {
    if p.left_behind.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<section class=\"left-behind failed\" id=\"left-behind\"><h2>Left behind on the target: {}</h2><ul>",
        p.left_behind.len()
    );
    for l in &p.left_behind {
        let attempts = if l.deletable {
            format!(", {} attempt(s)", l.attempts)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "<li><strong>{}</strong> — {}/{}, since <time datetime=\"{}\">{}</time>{}: {}</li>",
            Esc(&l.what),
            Esc(&l.flow),
            Esc(&l.step),
            Esc(&l.since),
            Esc(&human_time(&l.since)),
            attempts,
            Esc(&l.why)
        );
    }
    o.push_str("</ul></section>\n");
}

fn flow(o: &mut String, f: &FlowStatus, now: f64) {
    let state = f.state.as_str();
    let accepted = f.state == State::Passed && f.accepted > 0;
    let _ = write!(
        o,
        "<article class=\"flow {state}{}\" id=\"{}\" data-flow=\"{}\" data-target=\"{}\" data-state=\"{state}\">\n\
         <header><h3>{}<span class=\"name\">{}</span> <span class=\"target\">{}</span></h3>\n<p class=\"when\">",
        if accepted { " accepted" } else { "" },
        Esc(&anchor(f)),
        Esc(&f.flow),
        Esc(&f.target),
        if accepted {
            ACCEPTED_BADGE
        } else {
            badge(f.state)
        },
        Esc(&f.flow),
        Esc(&f.target),
    );
    match &f.last_run {
        Some(r) => {
            let ago = Duration::from_secs_f64((now - r.finished_unix).max(0.0));
            let _ = write!(
                o,
                "last run <time datetime=\"{}\" title=\"{}\">{} ago</time> · took {}",
                Esc(&r.finished_at),
                Esc(&r.finished_at),
                Esc(&human_span(ago)),
                Esc(&fmt_duration(Duration::from_secs_f64(r.duration_seconds))),
            );
        }
        None => o.push_str("no run finished yet"),
    }
    let _ = write!(
        o,
        " · every {}",
        Esc(&human_span(Duration::from_secs_f64(f.interval_seconds)))
    );
    if f.consecutive_failures > 1 {
        let _ = write!(
            o,
            " · <strong>{} failures in a row</strong>",
            f.consecutive_failures
        );
    }
    o.push_str("</p>");
    if let Some(d) = &f.description {
        let _ = write!(o, "<p class=\"desc\">{}</p>", Esc(d));
    }
    for x in f.findings.iter().filter(|x| x.state != "active") {
        let subject =
            x.on.as_deref()
                .map(|on| format!(" on {on}"))
                .unwrap_or_default();
        let text = if x.state == "resolved" {
            format!(
                "resolved: remove it ({}): {} › {}{subject} no longer fails",
                x.entry, x.step, x.rule
            )
        } else {
            format!(
                "expired: {} › {}{subject} was accepted until {} ({}): it fails again",
                x.step, x.rule, x.until, x.entry
            )
        };
        let _ = write!(o, "<p class=\"finding {}\">{}</p>", x.state, Esc(&text));
    }
    o.push_str("</header>\n<ol class=\"steps\">\n");
    for s in &f.steps {
        step(o, f, s);
    }
    o.push_str("</ol>\n</article>\n");
}

/// A pass that holds because failures were accepted.
const ACCEPTED_BADGE: &str = "<span class=\"badge accepted\">OK ⚠</span>";

fn badge(s: State) -> &'static str {
    match s {
        State::Passed => "<span class=\"badge passed\">OK</span>",
        State::Slow => {
            "<span class=\"badge slow\" title=\"works, but over its latency budget\">SLOW</span>"
        }
        State::Failed => "<span class=\"badge failed\">FAIL</span>",
        State::Skipped => "<span class=\"badge skipped\">SKIP</span>",
        State::Pending => "<span class=\"badge pending\">…</span>",
    }
}

fn step(o: &mut String, f: &FlowStatus, s: &StepStatus) {
    let state = s.state.as_str();
    let key = format!("{}/{}/{}", f.target, f.flow, s.name);
    let accepted = s.state == State::Passed && s.accepted > 0;
    let _ = write!(
        o,
        "<li class=\"step {state}{}\" data-flow=\"{}\" data-step=\"{}\" data-state=\"{state}\">\n\
         <div class=\"head\">{}<span class=\"name\">{}</span>",
        if accepted { " accepted" } else { "" },
        Esc(&f.flow),
        Esc(&s.name),
        if accepted {
            ACCEPTED_BADGE
        } else {
            badge(s.state)
        },
        Esc(&s.name),
    );
    let what = match (&s.method, s.kind) {
        (Some(m), "request") => m.clone(),
        (_, kind) => kind.replace('_', " "),
    };
    let _ = write!(o, " <span class=\"kind\">{}", Esc(&what));
    if let Some(code) = s.status.filter(|_| s.kind == "request") {
        let _ = write!(o, " → {code}");
    }
    if s.always {
        o.push_str(" · cleanup");
    }
    o.push_str("</span></div>\n");
    latency(o, s);
    if s.state == State::Failed {
        failure(o, s);
    } else if s.state == State::Skipped
        && let Some(m) = &s.message
    {
        let _ = writeln!(o, "<p class=\"skipped-why\">{}</p>", Esc(m));
    }
    accepted_list(o, s);
    if let Some(c) = &s.certificate {
        let class = if c.days_left < 14.0 { "warn" } else { "ok" };
        let _ = writeln!(
            o,
            "<p class=\"cert {class}\">certificate: <strong>{:.0} days left</strong> (until {}) · {} · issued by {}</p>",
            c.days_left.floor(),
            Esc(&human_time(&c.not_after)),
            Esc(&c.subject),
            Esc(&c.issuer),
        );
    }
    verdicts(o, s, &key);
    o.push_str("</li>\n");
}

fn latency(o: &mut String, s: &StepStatus) {
    o.push_str("<div class=\"lat\">");
    let has_budget = s.budget.p50.is_some() || s.budget.p95.is_some() || s.budget.p99.is_some();
    if s.samples == 0 && !has_budget {
        o.push_str("<span class=\"none\">no latency samples yet</span>");
    } else {
        for q in ["p50", "p95", "p99"] {
            let v = s.quantiles.get(q);
            let b = s.budget.get(q);
            if v.is_none() && b.is_none() {
                continue;
            }
            let over = s.over_budget.contains(&q);
            let _ = write!(
                o,
                "<span class=\"q{}\"><b>{q}</b> {}",
                if over { " over" } else { "" },
                Esc(&v.map_or_else(|| "–".to_string(), secs))
            );
            if let Some(b) = b {
                let _ = write!(
                    o,
                    " <span class=\"budget\">{} {}</span>",
                    if over { "&gt;" } else { "≤" },
                    Esc(&secs(b))
                );
            }
            o.push_str("</span>");
        }
        let _ = write!(
            o,
            "<span class=\"win\">{} window · {} sample{}</span>",
            Esc(&s.window),
            s.samples,
            if s.samples == 1 { "" } else { "s" }
        );
    }
    o.push_str("</div>\n");
    sparkline(o, s);
}

/// The last runs as an inline SVG: latency as a line scaled to the slowest
/// run, the p95 budget as a dashed line when it is in that range, failed
/// runs as red dots (on the floor when no response came back).
fn sparkline(o: &mut String, s: &StepStatus) {
    const W: f64 = 180.0;
    const H: f64 = 32.0;
    let h = &s.history;
    if h.is_empty() {
        return;
    }
    // The runs kept so far span the whole width (a lone run sits at the right).
    let step = W / (h.len().max(2) - 1) as f64;
    let slowest = h.iter().filter_map(|p| p.seconds).fold(0.0, f64::max);
    let budget = s.budget.p95.or(s.budget.p99).or(s.budget.p50);
    let top = slowest.max(1e-6) * 1.15;
    let y = |v: f64| H - 2.0 - (v / top) * (H - 4.0);
    let x = |i: usize| W - (h.len() - 1 - i) as f64 * step;
    let failed = h.iter().filter(|p| !p.passed).count();
    let latest = h
        .last()
        .and_then(|p| p.seconds)
        .map_or_else(|| "no response".to_string(), secs);
    let _ = write!(
        o,
        "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"last {} runs: slowest {}, latest {}, {} failed\">",
        h.len(),
        Esc(&secs(slowest)),
        Esc(&latest),
        failed
    );
    if let Some(b) = budget.filter(|b| *b <= top) {
        let _ = write!(
            o,
            "<line class=\"budget\" x1=\"0\" x2=\"{W}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
            y = y(b)
        );
    }
    let mut line = String::new();
    for (i, p) in h.iter().enumerate() {
        if let Some(v) = p.seconds {
            let _ = write!(line, "{:.1},{:.1} ", x(i), y(v));
        }
    }
    if !line.is_empty() {
        let _ = write!(
            o,
            "<polyline class=\"line\" points=\"{}\"/>",
            line.trim_end()
        );
    }
    for (i, p) in h.iter().enumerate().filter(|(_, p)| !p.passed) {
        let _ = write!(
            o,
            "<circle class=\"bad\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.2\"/>",
            x(i),
            p.seconds.map_or(H - 2.0, y)
        );
    }
    o.push_str("</svg>\n");
}

/// Why a red step is red: the reason, the message, and each failed
/// assertion or rule with what was expected and what came back.
fn failure(o: &mut String, s: &StepStatus) {
    o.push_str("<div class=\"failure\">");
    let _ = write!(
        o,
        "<p><span class=\"reason\">{}</span>",
        Esc(s.reason.unwrap_or("failed"))
    );
    if let Some(m) = &s.message {
        let _ = write!(o, " <span class=\"msg\">{}</span>", Esc(m));
    }
    o.push_str("</p>");
    if let Some(u) = &s.url {
        let _ = write!(
            o,
            "<p class=\"url\">{} {}",
            Esc(s.method.as_deref().unwrap_or("")),
            Esc(u)
        );
        if let Some(a) = s.attempts.filter(|a| *a > 1) {
            let _ = write!(o, " · {a} attempts");
        }
        o.push_str("</p>");
    }
    let failed: Vec<_> = s.checks.iter().filter(|c| c.is_failure()).collect();
    if !failed.is_empty() {
        checks_table(o, failed.into_iter());
    }
    o.push_str("</div>\n");
}

/// The accepted failures of a step at a glance, one line per findings-file
/// entry: which rule, on how many subjects, until when and why.
fn accepted_list(o: &mut String, s: &StepStatus) {
    let mut entries: Vec<(&crate::flow::Acceptance, &str, usize)> = Vec::new();
    for c in s.checks.iter().filter(|c| c.is_accepted()) {
        let Some(a) = &c.accepted else { continue };
        match entries.iter_mut().find(|(e, _, _)| e.entry == a.entry) {
            Some((_, _, n)) => *n += 1,
            None => entries.push((a, &c.check, 1)),
        }
    }
    if entries.is_empty() {
        return;
    }
    o.push_str("<ul class=\"accepted-list\">");
    for (a, rule, n) in entries {
        let _ = write!(
            o,
            "<li>⚠ <b>{}</b> on {n} subject{} · accepted until {}: {}</li>",
            Esc(rule),
            if n == 1 { "" } else { "s" },
            Esc(&a.until),
            Esc(&a.reason)
        );
    }
    o.push_str("</ul>\n");
}

/// Every verdict of the last run, folded: a check's rules × subjects (with
/// warnings), a request's assertions.
fn verdicts(o: &mut String, s: &StepStatus, key: &str) {
    if s.checks.is_empty() {
        return;
    }
    let what = if s.kind == "request" {
        "assertion"
    } else {
        "rule"
    };
    let total = s.checks.len();
    let passed = s.checks.iter().filter(|c| c.passed).count();
    let _ = write!(
        o,
        "<details class=\"verdicts\" data-key=\"{}\"><summary>{passed}/{total} {what}{} passed",
        Esc(key),
        if total == 1 { "" } else { "s" }
    );
    if s.failed_checks > 0 {
        let _ = write!(
            o,
            " · <span class=\"bad\">{} failed</span>",
            s.failed_checks
        );
    }
    if s.accepted > 0 {
        let _ = write!(
            o,
            " · <span class=\"accepted\">⚠ {} accepted</span>",
            s.accepted
        );
    }
    if s.warnings > 0 {
        let _ = write!(
            o,
            " · <span class=\"warn\">{} warning{}</span>",
            s.warnings,
            if s.warnings == 1 { "" } else { "s" }
        );
    }
    o.push_str("</summary>");
    checks_table(o, s.checks.iter());
    o.push_str("</details>\n");
}

fn checks_table<'a>(o: &mut String, checks: impl Iterator<Item = &'a super::Check>) {
    o.push_str(
        "<div class=\"scroll\"><table class=\"checks\"><thead><tr><th>verdict</th><th>check</th>\
         <th>expected</th><th>actual</th></tr></thead><tbody>",
    );
    for c in checks {
        let (class, verdict) = match (c.passed, c.warning) {
            (true, _) => ("passed", "pass"),
            (false, true) => ("warn", "warning"),
            (false, false) if c.is_accepted() => ("accepted", "⚠ accepted"),
            (false, false) => ("failed", "FAIL"),
        };
        let _ = write!(
            o,
            "<tr class=\"{class}\"><td>{verdict}</td><td>{}",
            Esc(&c.check)
        );
        if let Some(on) = &c.on {
            let _ = write!(o, "<span class=\"on\">{}</span>", Esc(on));
        }
        let _ = write!(
            o,
            "</td><td>{}</td><td>{}",
            Esc(&c.expected),
            Esc(&c.actual)
        );
        match &c.accepted {
            Some(a) if a.expired => {
                let _ = write!(
                    o,
                    "<span class=\"note\">accepted until {} expired ({})</span>",
                    Esc(&a.until),
                    Esc(&a.entry)
                );
            }
            Some(a) => {
                let _ = write!(
                    o,
                    "<span class=\"note\">accepted until {}: {}</span>",
                    Esc(&a.until),
                    Esc(&a.reason)
                );
            }
            None => {}
        }
        o.push_str("</td></tr>");
    }
    o.push_str("</tbody></table></div>");
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
        assert_eq!(format!("{}", Esc("a<b")), "a&lt;b");
    }

    /// Every string a snapshot holds set to markup: none of it comes out as
    /// markup, and each shows up escaped.
    #[test]
    fn the_page_escapes_every_value() {
        use crate::status::*;
        const H: &str = "<x a='1'>&\"";
        let h = || H.to_string();
        let snap = Snapshot {
            now: 100.0,
            generated_at: h(),
            probe: ProbeHealth {
                version: "<x>",
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
                secrets: vec![crate::flow::credentials::SecretState {
                    var: h(),
                    refused: Some(crate::flow::credentials::Refusal {
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
            flows: vec![flow(State::Failed), flow(State::Passed)],
        };
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

    fn flow(state: State) -> crate::status::FlowStatus {
        use crate::status::*;
        const H: &str = "<x a='1'>&\"";
        let h = || H.to_string();
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
