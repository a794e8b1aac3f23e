//! The checklist a person reads in seconds: one line per flow and step, the
//! failing check with expected vs actual, percentiles against budgets, and a
//! final verdict line. Colour only when asked (a terminal without NO_COLOR).

use std::fmt::Write;

use super::{FlowSummary, OnceReport, StepSummary, SummaryReason, Verdict};
use crate::check::{count_lines, failed_by_rules, summarize_lines, summarize_with};
use crate::flow::fmt_duration;
use crate::flow::{Acceptance, CheckResult, Outcome};

#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleStyle {
    pub color: bool,
}

impl ConsoleStyle {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "✅",
        Outcome::Failed => "❌",
        Outcome::Skipped => "⏭ ",
    }
}

/// A pass that holds only because failures were accepted.
const ACCEPTED_MARK: &str = "⚠ ";

/// `  (accepted until 2027-03-03: reason)`, `  (accepted until 2026-11-30 expired)`.
fn acceptance_note(a: &Acceptance) -> String {
    if a.expired {
        format!(" — accepted until {} expired ({})", a.until, a.entry)
    } else {
        format!(" — accepted until {}: {}", a.until, a.reason)
    }
}

/// The accepted failures, one summary line per (rule, expected, actual)
/// and entry, each ending with what the entry says.
fn accepted_lines(checks: &[CheckResult]) -> Vec<String> {
    summarize_with(checks, CheckResult::is_accepted, 12, note)
}

/// What a failed verdict's acceptance says, if it has one.
fn note(c: &CheckResult) -> String {
    c.accepted.as_ref().map(acceptance_note).unwrap_or_default()
}

pub fn render_console(r: &OnceReport, style: ConsoleStyle) -> String {
    let mut out = String::new();
    let width = r
        .flows
        .iter()
        .flat_map(|f| f.steps.iter().map(|s| s.name.chars().count() + 3))
        .chain(r.flows.iter().map(|f| f.flow.chars().count()))
        .max()
        .unwrap_or(10)
        .min(48);
    // Ungrouped flows first, then each group (e.g. "Security") under its heading.
    let mut groups: Vec<Option<&str>> = Vec::new();
    for f in &r.flows {
        let g = f.group.as_deref();
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups.sort_by_key(|g| g.is_some());
    let headed = groups.iter().any(|g| g.is_some());
    for g in groups {
        if headed {
            let _ = writeln!(
                out,
                "{}",
                style.bold(&format!("── {} ──", g.unwrap_or("Flows")))
            );
        }
        for f in r.flows.iter().filter(|f| f.group.as_deref() == g) {
            flow_block(&mut out, f, r.samples, width, style);
        }
    }
    findings_block(&mut out, r, style);
    let line = verdict_line(r, style);
    trouble_block(&mut out, r, style);
    let _ = writeln!(out, "{}", style.bold(&line));
    let _ = writeln!(
        out,
        "{}",
        style.dim(&format!(
            "wall time {} · exit code {}",
            fmt_duration(r.wall),
            r.exit_code
        ))
    );
    out
}

/// The last line but one: the verdict and, for a failure, which flows.
fn verdict_line(r: &OnceReport, style: ConsoleStyle) -> String {
    let failed: Vec<&FlowSummary> = r.flows.iter().filter(|f| !f.passed()).collect();
    let budgets: usize = r.flows.iter().map(|f| f.budget_failures()).sum();
    let warnings: usize = r.flows.iter().map(|f| f.warnings()).sum();
    let accepted: usize = r.flows.iter().map(|f| f.accepted()).sum();
    let notes: Vec<String> = [
        (accepted, "accepted rule failure(s)"),
        (warnings, "warning(s)"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    match r.verdict {
        Verdict::Passed => style.green(&format!(
            "✅ PASSED: {} flow(s), {} sample(s) each, all checks and budgets met{}",
            r.flows.len(),
            r.samples,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            }
        )),
        Verdict::Unreachable => style.red(&format!(
            "❌ UNREACHABLE: no flow reached the site ({})",
            failed
                .iter()
                .find(|f| f.unreachable && !f.redirect_listener_only)
                .or(failed.first())
                .and_then(|f| f.steps.iter().find_map(|s| s.last_failure.as_ref()))
                .and_then(|s| s.message.clone())
                .unwrap_or_default()
        )),
        Verdict::Interrupted => style.red(&format!(
            "⏹ INTERRUPTED: stopped by a signal after {} flow(s); cleanup steps ran{}",
            r.flows.len(),
            match failed.iter().filter(|f| f.failed_runs > 0).count() {
                0 => String::new(),
                n => format!(" ({n} flow(s) had already failed)"),
            }
        )),
        Verdict::Failed => style.red(&format!(
            "❌ FAILED: {} of {} flow(s) failed ({}){}",
            failed.len(),
            r.flows.len(),
            failed
                .iter()
                .map(|f| if f.only_over_budget() {
                    format!("{} over budget", f.flow)
                } else {
                    f.flow.clone()
                })
                .collect::<Vec<_>>()
                .join(", "),
            if budgets > 0 {
                format!(", {budgets} step(s) over their latency budget")
            } else {
                String::new()
            }
        )),
    }
}

/// Refused credentials and objects left on the target, above the verdict.
fn trouble_block(out: &mut String, r: &OnceReport, style: ConsoleStyle) {
    for r in &r.refused_secrets {
        let _ = writeln!(
            out,
            "{}",
            style.red(&format!(
                "🔒 the target refused the probe's credentials: `{}` ({}); not retried so the account is not locked — set the right value (the same value stays refused across runs)",
                r.var,
                r.describe()
            ))
        );
    }
    if !r.left_behind.is_empty() {
        // What no step can delete (`leaves:`) is expected: yellow, and only
        // "by hand" helps; a failed delete is red and may be swept.
        let failed_deletes = r.left_behind.iter().any(|l| l.deletable);
        let paint = |s: &str| {
            if failed_deletes {
                style.red(s)
            } else {
                style.yellow(s)
            }
        };
        let advice = if failed_deletes {
            "created and could not delete (delete them, or run --flow +sweep-orphans)"
        } else {
            "created and no step can delete (delete them by hand)"
        };
        let _ = writeln!(
            out,
            "{}",
            paint(&format!(
                "⚠ LEFT BEHIND on the target: {} object(s) the probe {advice}:",
                r.left_behind.len()
            ))
        );
        for l in &r.left_behind {
            let line = if l.deletable {
                style.red(&format!(
                    "   • {} — {}/{}, {} attempt(s): {}",
                    l.what, l.flow, l.step, l.attempts, l.why
                ))
            } else {
                style.yellow(&format!(
                    "   • {} — {}/{}: {}",
                    l.what, l.flow, l.step, l.why
                ))
            };
            let _ = writeln!(out, "{line}");
        }
    }
}

/// After the checklist: the findings-file entries whose date has passed
/// (their failures fail again) and those that matched nothing (remove them).
fn findings_block(out: &mut String, r: &OnceReport, style: ConsoleStyle) {
    let a = &r.accepted;
    let what = |f: &super::FindingReport| {
        format!(
            "{} › {} › {}{}",
            f.flow,
            f.step,
            f.rule,
            f.on.as_deref()
                .map(|o| format!(" on {o}"))
                .unwrap_or_default()
        )
    };
    for f in &a.expired {
        let _ = writeln!(
            out,
            "{}",
            style.red(&format!(
                "✗ expired: {} was accepted until {} ({}): it fails again; fix it or give it a new `until`",
                what(f),
                f.until,
                f.entry
            ))
        );
    }
    for f in &a.resolved {
        let _ = writeln!(
            out,
            "{}",
            style.yellow(&format!(
                "resolved: remove it ({}): {} no longer fails",
                f.entry,
                what(f)
            ))
        );
    }
}

fn flow_block(out: &mut String, f: &FlowSummary, samples: u32, width: usize, style: ConsoleStyle) {
    let o = if f.passed() {
        Outcome::Passed
    } else if f.failed_runs == 0 && f.interrupted_runs > 0 {
        Outcome::Skipped
    } else {
        Outcome::Failed
    };
    let flow_mark = if o == Outcome::Passed && f.accepted() > 0 {
        ACCEPTED_MARK
    } else {
        mark(o)
    };
    let runs = if f.interrupted_runs > 0 {
        "interrupted".to_string()
    } else if samples > 1 {
        format!("{}/{} runs passed", f.passed_runs, f.runs)
    } else {
        String::new()
    };
    let total = f
        .results
        .last()
        .map(|r| fmt_duration(r.duration))
        .unwrap_or_default();
    // Every run passed yet the flow failed: say it is the latency, on the
    // flow's own line, so "12/12 runs passed" never stands alone next to ❌.
    let over = if f.only_over_budget() {
        format!(
            "{} ",
            style.red(&format!("over budget: {} ·", f.over_budget().join("; ")))
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} {}  {}{}",
        flow_mark,
        style.bold(&format!("{:<width$}", f.flow)),
        over,
        style.dim(&format!(
            "{runs}{}{total}",
            if runs.is_empty() { "" } else { " · " }
        ))
    );
    for s in &f.steps {
        step_line(out, s, samples, width, style);
    }
}

/// The line under a step: why it failed (or was skipped), its certificate,
/// or how many attempts a poll took.
fn step_detail(s: &StepSummary, o: Outcome, samples: u32, style: ConsoleStyle) -> Option<String> {
    match o {
        Outcome::Failed if s.reason == Some(SummaryReason::Budget) => Some(style.red(&format!(
            "[budget] over budget: {} over {} sample(s); every sample passed its checks",
            s.over_budget().join(", "),
            s.latency_samples()
        ))),
        Outcome::Failed => s.last_failure.as_ref().map(|f| {
            let reason = f.reason.map(|r| r.as_str()).unwrap_or("failed");
            let failed_runs = if samples > 1 {
                format!(" ({} of {} runs)", s.failed, s.samples)
            } else {
                String::new()
            };
            let line = if failed_by_rules(f) {
                // Listed one per line below: as many as announced.
                format!(
                    "{} rule failure(s){failed_runs}:",
                    count_lines(&f.checks, CheckResult::is_failure)
                )
            } else {
                format!("{}{failed_runs}", f.message.as_deref().unwrap_or_default())
            };
            style.red(&format!("[{reason}] {line}"))
        }),
        Outcome::Skipped => s
            .last
            .message
            .as_ref()
            .map(|m| style.dim(&format!("skipped: {m}"))),
        Outcome::Passed if s.last.tls.is_some() => s.last.tls.as_ref().map(|t| {
            style.dim(&format!(
                "{} · {:.1} days left · expires {} · issuer {}",
                t.protocol, t.days_left, t.not_after, t.issuer
            ))
        }),
        Outcome::Passed => s
            .last
            .poll_elapsed
            .filter(|_| s.last.attempts > 1)
            .map(|e| {
                style.dim(&format!(
                    "passed after {} attempts, {}",
                    s.last.attempts,
                    fmt_duration(e)
                ))
            }),
    }
}

/// A step's rule verdicts: for a failed check what was not judged and every
/// failed rule, then accepted failures, warnings and assets not fetched.
fn verdict_lines(out: &mut String, s: &StepSummary, o: Outcome, style: ConsoleStyle) {
    // Built-in checks: what a request without a usable answer left
    // unjudged, every failed rule on its own line, then the warnings.
    if s.last.kind != "request" {
        let shown = s.last_failure.as_ref().unwrap_or(&s.last);
        if o == Outcome::Failed {
            if !shown.not_judged.is_empty() {
                let _ = writeln!(
                    out,
                    "      {}",
                    style.dim(&format!("not judged: {}", shown.not_judged.join(", ")))
                );
            }
            // The same groups as counted above (an expired acceptance is a
            // failure again, and says so).
            for line in summarize_with(&shown.checks, CheckResult::is_failure, 12, note) {
                let _ = writeln!(out, "      {}", style.red(&format!("✗ {line}")));
            }
        }
        for line in accepted_lines(&shown.checks) {
            let _ = writeln!(out, "      {}", style.yellow(&format!("⚠ {line}")));
        }
    }
    // Warnings of every step: a request step's are its `error-leak` findings.
    let shown = s.last_failure.as_ref().unwrap_or(&s.last);
    for line in summarize_lines(&shown.checks, CheckResult::is_warning, 12) {
        let _ = writeln!(out, "      {}", style.yellow(&format!("⚠ {line}")));
    }
    for n in &shown.not_fetched {
        let line = n.line(&short_url(&n.url, 72));
        let _ = writeln!(out, "      {}", style.dim(&format!("· {line}")));
    }
}

fn step_line(out: &mut String, s: &StepSummary, samples: u32, width: usize, style: ConsoleStyle) {
    let o = s.outcome();
    let name = if s.always {
        format!("{} ↺", s.name)
    } else {
        s.name.clone()
    };
    let status = s
        .last
        .status
        .map(|c| c.to_string())
        .unwrap_or_else(|| "---".into());
    let timing = match &s.latency {
        Some(p) if samples > 1 => format!(
            "p50 {} · p95 {} · p99 {}",
            fmt_duration(p.p50),
            fmt_duration(p.p95),
            fmt_duration(p.p99)
        ),
        Some(p) => fmt_duration(p.p50),
        None => String::new(),
    };
    let budget = s
        .budget
        .iter()
        .map(|b| {
            let t = format!(
                "{} {} {} {}",
                b.quantile,
                fmt_duration(b.actual),
                if b.passed { "≤" } else { ">" },
                fmt_duration(b.limit)
            );
            if b.passed {
                style.dim(&format!("budget {t}"))
            } else {
                style.red(&format!("OVER BUDGET {t}"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let step_mark = if o == Outcome::Passed && s.last.accepted().next().is_some() {
        ACCEPTED_MARK
    } else {
        mark(o)
    };
    let _ = writeln!(
        out,
        "   {} {:<w$} {:>3}  {:<12} {}",
        step_mark,
        name,
        status,
        timing,
        budget,
        w = width
    );
    let detail = step_detail(s, o, samples, style);
    if let Some(d) = detail {
        let _ = writeln!(out, "      {d}");
    }
    verdict_lines(out, s, o, style);
}

/// A long URL for one checklist line: up to its query (`…` after the `?`),
/// or its first `max` characters; the JSON has it whole.
fn short_url(url: &str, max: usize) -> String {
    if url.chars().count() <= max {
        return url.to_string();
    }
    match url.find('?') {
        Some(q) if url[..q].chars().count() < max => format!("{}…", &url[..=q]),
        _ => format!("{}…", url.chars().take(max - 1).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::short_url;

    #[test]
    fn long_urls_are_cut_at_their_query() {
        let fonts =
            "https://fonts.googleapis.com/css2?family=Inter:wght@400;500;600;700&display=swap";
        assert_eq!(short_url(fonts, 72), "https://fonts.googleapis.com/css2?…");
        assert_eq!(
            short_url("http://localhost:9/css2?family=Inter", 72),
            "http://localhost:9/css2?family=Inter"
        );
        let long = format!("https://cdn.example/{}", "a".repeat(100));
        let cut = short_url(&long, 72);
        assert_eq!(cut.chars().count(), 72);
        assert!(cut.ends_with('…'));
    }
}

#[cfg(test)]
mod counts {
    use proptest::prelude::*;

    use super::*;
    use crate::check::summarize_failures;
    use crate::flow::{Reason, StepResult};

    fn verdict((rule, actual, on, kind): (usize, usize, usize, usize)) -> CheckResult {
        let rules = ["hsts", "frame-options", "csp", "allow-origin"];
        let mut c = CheckResult::new(
            rules[rule],
            kind == 0,
            "something",
            ["missing", "short", "`SAMEORIGIN`"][actual],
        )
        .on(["/", "/api/health", "/assets/app.js"][on]);
        match kind {
            2 => c = c.warning(true),
            3 | 4 => {
                c.accepted = Some(Acceptance {
                    reason: "known".into(),
                    until: "2999-01-01".into(),
                    expired: kind == 4,
                    entry: format!("accepted.yaml:{}", 3 + rule),
                })
            }
            _ => {}
        }
        c
    }

    fn step(checks: Vec<CheckResult>) -> StepSummary {
        let failed = checks.iter().any(|c| c.is_failure());
        let last = StepResult {
            name: "site-headers".into(),
            kind: "security_headers",
            always: false,
            outcome: if failed {
                Outcome::Failed
            } else {
                Outcome::Passed
            },
            reason: failed.then_some(Reason::Assertion),
            message: failed.then(|| summarize_failures(&checks)),
            method: "GET".into(),
            url: "https://x/".into(),
            status: Some(200),
            duration: None,
            ttfb: None,
            attempts: 1,
            poll_elapsed: None,
            redirects: vec![],
            response_bytes: 0,
            checks,
            not_judged: vec![],
            reached: false,
            not_fetched: vec![],
            tls: None,
            phases: None,
        };
        StepSummary {
            name: last.name.clone(),
            always: false,
            outcome: if failed {
                Outcome::Failed
            } else {
                Outcome::Passed
            },
            reason: failed.then_some(super::SummaryReason::Runs),
            timed_samples: 0,
            samples: 1,
            passed: u32::from(!failed),
            failed: u32::from(failed),
            skipped: 0,
            latency: None,
            budget: vec![],
            last_failure: failed.then(|| last.clone()),
            last,
        }
    }

    /// The count in `[assertion] N rule failure(s):` and the failures listed
    /// (`✗` lines, "and K more" counting K).
    fn announced_and_listed(text: &str) -> (Option<usize>, usize) {
        let announced = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("[assertion] "))
            .and_then(|r| r.split(' ').next()?.parse().ok());
        let mut listed = 0;
        for l in text.lines().map(str::trim) {
            if let Some(r) = l.strip_prefix("✗ and ") {
                listed += r
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0);
            } else if l.starts_with('✗') {
                listed += 1;
            }
        }
        (announced, listed)
    }

    proptest! {
        /// Over any mix of passed, failed, warning, accepted and expired
        /// verdicts: the announced count is the number of ✗ lines, the JSON
        /// message lists as many, and no failure is listed twice.
        #[test]
        fn counted_and_listed_failures_agree(
            raw in proptest::collection::vec((0usize..4, 0usize..3, 0usize..3, 0usize..5), 0..60)
        ) {
            let checks: Vec<CheckResult> = raw.into_iter().map(verdict).collect();
            let s = step(checks.clone());
            let mut out = String::new();
            step_line(&mut out, &s, 1, 20, ConsoleStyle::default());
            let (announced, listed) = announced_and_listed(&out);
            let failing = checks.iter().filter(|c| c.is_failure()).count();
            if failing == 0 {
                prop_assert_eq!(announced, None, "{}", out);
                prop_assert_eq!(listed, 0, "{}", out);
            } else {
                prop_assert_eq!(announced, Some(listed), "{}", out);
                let msg = s.last.message.clone().unwrap_or_default();
                let in_json = msg.split("; ").filter(|p| !p.starts_with("and ")).count()
                    + msg
                        .split("; ")
                        .filter_map(|p| p.strip_prefix("and "))
                        .filter_map(|p| p.split(' ').next()?.parse::<usize>().ok())
                        .sum::<usize>();
                prop_assert_eq!(in_json, listed, "{}\n{}", msg, out);
                // Every ✗ line is distinct.
                let lines: Vec<&str> = out.lines().map(str::trim).filter(|l| l.starts_with('✗')).collect();
                let mut uniq = lines.clone();
                uniq.sort();
                uniq.dedup();
                prop_assert_eq!(uniq.len(), lines.len(), "{}", out);
            }
        }
    }
}
