//! JUnit XML: one test suite per flow, one test case per step (over all samples),
//! so CI systems show the failing step and its message. A step that passes
//! only because its failures were accepted (`--accept`) is a skipped case
//! whose message is each entry's "accepted until DATE: reason".

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::OnceReport;
use crate::flow::{CheckResult, Outcome};

pub fn render_junit(r: &OnceReport) -> String {
    let mut report = Report::new("smokeprobe");
    report.set_time(r.wall);
    for f in &r.flows {
        let mut suite = TestSuite::new(format!("{}/{}", f.target, f.flow));
        for s in &f.steps {
            let accepted = accepted_message(&s.last.checks);
            let status = match s.outcome() {
                // Passing only because failures were accepted: CI shows it
                // as skipped, with the reason, rather than as a plain pass.
                Outcome::Passed if !accepted.is_empty() => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(accepted);
                    st
                }
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Skipped => {
                    let mut st = TestCaseStatus::skipped();
                    if let Some(m) = &s.last.message {
                        st.set_message(m.clone());
                    }
                    st
                }
                Outcome::Failed => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    if let Some(fail) = &s.last_failure {
                        st.set_type(fail.reason.map(|r| r.as_str()).unwrap_or("failed"));
                        st.set_message(fail.message.clone().unwrap_or_default());
                        let mut detail: Vec<String> =
                            fail.checks.iter().map(verdict_line).collect();
                        if !fail.not_judged.is_empty() {
                            detail.push(format!("not judged: {}", fail.not_judged.join(", ")));
                        }
                        st.set_description(format!(
                            "{} {}\n{}",
                            fail.method,
                            fail.url,
                            detail.join("\n")
                        ));
                    } else if let Some(b) = s.budget.iter().find(|b| !b.passed) {
                        st.set_type("budget");
                        st.set_message(format!(
                            "{} {:.1} ms over budget {:.1} ms",
                            b.quantile,
                            b.actual.as_secs_f64() * 1000.0,
                            b.limit.as_secs_f64() * 1000.0
                        ));
                    }
                    st
                }
            };
            let mut case = TestCase::new(s.name.clone(), status);
            // Built-in checks carry every rule's verdict, warnings included.
            let shown = s.last_failure.as_ref().unwrap_or(&s.last);
            if shown.kind != "request" && !shown.checks.is_empty() {
                let mut lines: Vec<String> = shown.checks.iter().map(verdict_line).collect();
                // Third-party assets the check listed instead of fetching.
                lines.extend(
                    shown
                        .not_fetched
                        .iter()
                        .map(|n| format!("INFO {}", n.line(&n.url))),
                );
                case.set_system_out(lines.join("\n"));
            }
            case.set_classname(format!("{}.{}", f.target, f.flow));
            if let Some(p) = s.latency {
                case.set_time(p.p50);
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- junit serialization failed: {e} -->"))
}

/// `accepted until 2027-03-03: reason` for each entry that accepted one of
/// `checks` (`; `-separated), or empty.
fn accepted_message(checks: &[CheckResult]) -> String {
    let mut notes: Vec<String> = Vec::new();
    for a in checks
        .iter()
        .filter(|c| c.is_accepted())
        .filter_map(|c| c.accepted.as_ref())
    {
        let note = format!("accepted until {}: {}", a.until, a.reason);
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    notes.join("; ")
}

/// `PASS|WARN|ACCEPTED|FAIL rule on subject: expected …, got …`
fn verdict_line(c: &CheckResult) -> String {
    let note = match &c.accepted {
        Some(a) if a.expired => format!(" (accepted until {} expired)", a.until),
        Some(a) => format!(" (accepted until {}: {})", a.until, a.reason),
        None => String::new(),
    };
    format!(
        "{} {}{}: expected {}, got {}{note}",
        if c.passed {
            "PASS"
        } else if c.warning {
            "WARN"
        } else if c.is_accepted() {
            "ACCEPTED"
        } else {
            "FAIL"
        },
        c.check,
        c.on.as_deref()
            .map(|o| format!(" on {o}"))
            .unwrap_or_default(),
        c.expected,
        c.actual
    )
}
