//! The checklist a person reads in seconds: one line per flow and step, the
//! failing check with expected vs actual, percentiles against budgets, and a
//! final verdict line. Colour only when asked (a terminal without NO_COLOR).

use std::fmt::Write;

use super::{FlowSummary, OnceReport, StepSummary, Verdict};
use crate::flow::checks::summarize_lines;
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

/// The checks `pick` selects, one summary line per (rule, expected, actual)
/// and entry, each ending with what the entry says.
fn accepted_lines(checks: &[CheckResult], pick: fn(&CheckResult) -> bool) -> Vec<String> {
    let mut entries: Vec<&Acceptance> = Vec::new();
    for a in checks
        .iter()
        .filter(|c| pick(c))
        .filter_map(|c| c.accepted.as_ref())
    {
        if !entries.iter().any(|e| e.entry == a.entry) {
            entries.push(a);
        }
    }
    let mut out = Vec::new();
    for a in entries {
        let mine: Vec<CheckResult> = checks
            .iter()
            .filter(|c| pick(c) && c.accepted.as_ref().is_some_and(|x| x.entry == a.entry))
            .cloned()
            .collect();
        let note = acceptance_note(a);
        for line in summarize_lines(&mine, |_| true, 12) {
            out.push(format!("{line}{note}"));
        }
    }
    out
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
    let line = match r.verdict {
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
                .map(|f| f.flow.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if budgets > 0 {
                format!(", {budgets} latency budget(s) exceeded")
            } else {
                String::new()
            }
        )),
    };
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
        let _ = writeln!(
            out,
            "{}",
            style.red(&format!(
                "⚠ LEFT BEHIND on the target: {} object(s) the probe created and could not delete (delete them, or run --flow +sweep-orphans):",
                r.left_behind.len()
            ))
        );
        for l in &r.left_behind {
            let _ = writeln!(
                out,
                "{}",
                style.red(&format!(
                    "   • {} — {}/{}, {} attempt(s): {}",
                    l.what, l.flow, l.step, l.attempts, l.why
                ))
            );
        }
    }
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
    let _ = writeln!(
        out,
        "{} {}  {}",
        flow_mark,
        style.bold(&format!("{:<width$}", f.flow)),
        style.dim(&format!(
            "{runs}{}{total}",
            if runs.is_empty() { "" } else { " · " }
        ))
    );
    for s in &f.steps {
        step_line(out, s, samples, width, style);
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
    let detail = match o {
        Outcome::Failed => s.last_failure.as_ref().map(|f| {
            let reason = f.reason.map(|r| r.as_str()).unwrap_or("failed");
            let failed_runs = if samples > 1 {
                format!(" ({} of {} runs)", s.failed, s.samples)
            } else {
                String::new()
            };
            let failed_rules = f.checks.iter().filter(|c| c.is_failure()).count();
            let message = if f.kind != "request" && failed_rules > 0 {
                // The rules are listed one per line below.
                format!("{failed_rules} rule verdict(s) failed")
            } else {
                f.message.clone().unwrap_or_default()
            };
            style.red(&format!("[{reason}] {message}{failed_runs}"))
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
    };
    if let Some(d) = detail {
        let _ = writeln!(out, "      {d}");
    }
    // Built-in checks: every failed rule on its own line, then the warnings.
    if s.last.kind != "request" {
        let shown = s.last_failure.as_ref().unwrap_or(&s.last);
        if o == Outcome::Failed {
            let plain = |c: &CheckResult| c.is_failure() && !c.is_expired_acceptance();
            for line in summarize_lines(&shown.checks, plain, 12)
                .into_iter()
                .chain(accepted_lines(
                    &shown.checks,
                    CheckResult::is_expired_acceptance,
                ))
            {
                let _ = writeln!(out, "      {}", style.red(&format!("✗ {line}")));
            }
        }
        for line in accepted_lines(&shown.checks, CheckResult::is_accepted) {
            let _ = writeln!(out, "      {}", style.yellow(&format!("⚠ {line}")));
        }
        for line in summarize_lines(&shown.checks, CheckResult::is_warning, 12) {
            let _ = writeln!(out, "      {}", style.yellow(&format!("⚠ {line}")));
        }
    }
}
