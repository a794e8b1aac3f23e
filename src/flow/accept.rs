//! Accepted findings applied to a flow run's result: every failed,
//! non-warning verdict that an entry of a findings file (`--accept FILE`)
//! matches is marked accepted, and the step's and the flow's outcome, reason
//! and message are recomputed so that only the failures nobody accepted fail
//! them. An expired entry still marks its verdicts (the reports say "accepted
//! until … expired") but they fail as before.
//!
//! Called once, at the end of `Runner::run_flow`, so `once`, `run`,
//! `--wait-healthy` and the demo all see the same verdicts; the result keeps
//! what each entry did ([`FindingUse`]) for the reports' "resolved" lines
//! and the metrics.

use super::checks::{failed_by_rules, summarize_failures};
use super::{Acceptance, FindingUse, FlowResult, Outcome, StepResult};
use crate::config::Accepted;

/// Applies `entries` (all of the plan's; those of other flows are ignored)
/// to one run's result. `today` is a UTC day number.
pub fn apply(entries: &[Accepted], result: &mut FlowResult, today: i64) {
    let mine: Vec<&Accepted> = entries
        .iter()
        .filter(|e| e.flow == result.flow && e.target == result.target)
        .collect();
    if mine.is_empty() {
        return;
    }
    let mut uses: Vec<FindingUse> = mine.iter().map(|e| finding_use(e, today)).collect();
    for step in &mut result.steps {
        apply_step(&mine, &mut uses, step);
    }
    // As the runner decides it: any failed step fails the run; otherwise an
    // interrupted run is skipped.
    result.outcome = if result.steps.iter().any(|s| s.outcome == Outcome::Failed) {
        Outcome::Failed
    } else if result.interrupted {
        Outcome::Skipped
    } else {
        Outcome::Passed
    };
    result.findings = uses;
}

fn finding_use(e: &Accepted, today: i64) -> FindingUse {
    FindingUse {
        entry: e.id(),
        step: e.step.clone(),
        rule: e.rule.clone(),
        on: e.on.as_ref().map(|g| g.as_str().to_string()),
        reason: e.reason.clone(),
        until: e.until.clone(),
        expired: e.expired(today),
        matched: 0,
        judged: false,
    }
}

/// One step of a run: marks its matched failures and recomputes its outcome,
/// counting in `uses` (parallel to `mine`) what each entry did.
fn apply_step(mine: &[&Accepted], uses: &mut [FindingUse], step: &mut StepResult) {
    if step.kind == "request" || step.outcome == Outcome::Skipped {
        return;
    }
    // A check step fails either because a rule failed (its message is
    // then the summary of the failed rules) or because a request got no
    // usable answer; only the first is the rules' verdict.
    let by_rules = match step.outcome {
        Outcome::Failed => failed_by_rules(step),
        _ => true,
    };
    for (i, e) in mine.iter().enumerate() {
        if e.step == step.name && by_rules {
            uses[i].judged = true;
        }
    }
    let mut changed = false;
    for c in &mut step.checks {
        if c.passed || c.warning {
            continue;
        }
        let fits =
            |e: &&Accepted| e.step == step.name && e.matches(&c.check, c.on.as_deref(), &c.actual);
        // An entry still in force wins over an expired one.
        let Some(i) = (0..mine.len())
            .find(|&i| fits(&mine[i]) && !uses[i].expired)
            .or_else(|| (0..mine.len()).find(|&i| fits(&mine[i])))
        else {
            continue;
        };
        uses[i].matched += 1;
        let e = mine[i];
        c.accepted = Some(Acceptance {
            reason: e.reason.clone(),
            until: e.until.clone(),
            expired: uses[i].expired,
            entry: uses[i].entry.clone(),
        });
        changed = true;
    }
    if changed && by_rules && step.outcome == Outcome::Failed {
        if step.checks.iter().any(|c| c.is_failure()) {
            step.message = Some(summarize_failures(&step.checks));
        } else {
            step.outcome = Outcome::Passed;
            step.reason = None;
            step.message = None;
        }
    }
}

/// A step that just finished, as [`apply`] will leave it at the end of the
/// run: for what watches steps as they finish (the scheduler's "step failed"
/// log line, `once`'s progress), so an accepted failure is not reported as
/// one. `None` when no entry names the step (it stays as it is).
pub fn settle(
    entries: &[Accepted],
    target: &str,
    flow: &str,
    step: &StepResult,
) -> Option<StepResult> {
    if step.outcome != Outcome::Failed || step.kind == "request" {
        return None;
    }
    let mine: Vec<&Accepted> = entries
        .iter()
        .filter(|e| e.flow == flow && e.target == target && e.step == step.name)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let today = crate::config::accept::today();
    let mut uses: Vec<FindingUse> = mine.iter().map(|e| finding_use(e, today)).collect();
    let mut s = step.clone();
    apply_step(&mine, &mut uses, &mut s);
    Some(s)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::config::{Glob, Pos};
    use crate::flow::{CheckResult, Reason, StepResult};

    fn entry(rule: &str, on: Option<&str>, until_day: i64) -> Accepted {
        Accepted {
            target: "t".into(),
            flow: "sec".into(),
            step: "headers".into(),
            rule: rule.into(),
            on: on.map(Glob::new),
            actual: None,
            reason: format!("because {rule}"),
            until: "2027-03-03".into(),
            until_day,
            file: PathBuf::from("f.accepted.yaml"),
            pos: Pos { line: 7, col: 5 },
        }
    }

    fn result(checks: Vec<CheckResult>) -> FlowResult {
        let message = summarize_failures(&checks);
        let failed = checks.iter().any(|c| c.is_failure());
        let step = |name: &str, always: bool, outcome, checks, message| StepResult {
            name: name.into(),
            kind: if name == "headers" {
                "security_headers"
            } else {
                "request"
            },
            always,
            outcome,
            reason: (outcome == Outcome::Failed).then_some(Reason::Assertion),
            message,
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
            not_fetched: vec![],
            not_judged: vec![],
            reached: false,
            tls: None,
            phases: None,
        };
        FlowResult {
            flow: "sec".into(),
            group: None,
            target: "t".into(),
            run_id: "r".into(),
            started_at: String::new(),
            outcome: if failed {
                Outcome::Failed
            } else {
                Outcome::Passed
            },
            interrupted: false,
            duration: Duration::ZERO,
            left_behind: Vec::new(),
            cleaned_up: Vec::new(),
            steps: vec![
                step(
                    "headers",
                    false,
                    if failed {
                        Outcome::Failed
                    } else {
                        Outcome::Passed
                    },
                    checks,
                    failed.then_some(message),
                ),
                step("cleanup", true, Outcome::Passed, vec![], None),
            ],
            findings: vec![],
        }
    }

    fn fail(rule: &str, on: &str) -> CheckResult {
        CheckResult::new(rule, false, "x", "missing").on(on)
    }

    #[test]
    fn only_unaccepted_failures_fail() {
        let today = 100;
        let mut r = result(vec![
            fail("hsts", "/"),
            fail("hsts", "/storage/a.jpg"),
            fail("frame-options", "/"),
            CheckResult::new("csp", false, "x", "missing")
                .on("/")
                .warning(true),
            CheckResult::new("content-type-options", true, "x", "nosniff").on("/"),
        ]);
        let entries = [entry("hsts", None, today), entry("csp", None, today)];
        apply(&entries, &mut r, today);
        assert_eq!(r.outcome, Outcome::Failed);
        let s = &r.steps[0];
        assert_eq!(s.outcome, Outcome::Failed);
        assert_eq!(
            s.message.as_deref(),
            Some("frame-options on /: expected x, got missing")
        );
        assert_eq!(s.accepted().count(), 2);
        // A warning is never accepted: the csp entry matched nothing.
        assert_eq!(r.findings[0].matched, 2);
        assert!(r.findings[1].resolved());

        let mut r = result(vec![fail("hsts", "/"), fail("frame-options", "/")]);
        let entries = [
            entry("hsts", Some("/"), today),
            entry("frame-options", Some("/*"), today),
        ];
        apply(&entries, &mut r, today);
        assert_eq!(r.outcome, Outcome::Passed);
        assert_eq!(r.steps[0].outcome, Outcome::Passed);
        assert_eq!((r.steps[0].reason, &r.steps[0].message), (None, &None));
        let a = r.steps[0].checks[0].accepted.as_ref().unwrap();
        assert_eq!(a.entry, "f.accepted.yaml:7");
        assert!(!a.expired);
    }

    #[test]
    fn an_expired_entry_marks_but_does_not_accept() {
        let mut r = result(vec![fail("hsts", "/")]);
        // Accepted until day 99, inclusive; today is day 100.
        apply(&[entry("hsts", None, 99)], &mut r, 100);
        assert_eq!(r.outcome, Outcome::Failed);
        let c = &r.steps[0].checks[0];
        assert!(c.is_failure() && c.is_expired_acceptance());
        assert_eq!(r.findings[0].matched, 1);
        assert!(!r.findings[0].resolved());
        // On its last day it still holds.
        let mut r = result(vec![fail("hsts", "/")]);
        apply(&[entry("hsts", None, 100)], &mut r, 100);
        assert_eq!(r.outcome, Outcome::Passed);
        // An entry in force wins over an expired one for the same failure.
        let mut r = result(vec![fail("hsts", "/")]);
        apply(
            &[entry("hsts", None, 99), entry("hsts", Some("/"), 100)],
            &mut r,
            100,
        );
        assert_eq!(r.outcome, Outcome::Passed);
        assert!(r.findings[0].resolved() && !r.findings[1].resolved());
    }

    #[test]
    fn a_step_settles_as_the_run_will() {
        let today = crate::config::accept::today();
        let r = result(vec![fail("hsts", "/"), fail("frame-options", "/")]);
        let step = &r.steps[0];
        let hsts = [entry("hsts", None, today)];
        let settled = settle(&hsts, "t", "sec", step).unwrap();
        assert_eq!(settled.outcome, Outcome::Failed);
        assert_eq!(
            settled.message.as_deref(),
            Some("frame-options on /: expected x, got missing")
        );
        let both = [
            entry("hsts", None, today),
            entry("frame-options", None, today),
        ];
        assert_eq!(
            settle(&both, "t", "sec", step).unwrap().outcome,
            Outcome::Passed
        );
        assert!(settle(&both, "t", "other", step).is_none());
        assert!(settle(&both, "t", "sec", &r.steps[1]).is_none());
    }

    #[test]
    fn a_failed_request_is_not_a_rule_failure() {
        let mut r = result(vec![fail("hsts", "/")]);
        r.steps[0].reason = Some(Reason::Timeout);
        r.steps[0].message = Some("https://x/api: timed out".into());
        apply(&[entry("hsts", None, 100)], &mut r, 100);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(r.steps[0].reason, Some(Reason::Timeout));
        // It says nothing about whether the finding is gone.
        assert!(!r.findings[0].judged);
        // A skipped step neither.
        let mut r = result(vec![]);
        r.steps[0].outcome = Outcome::Skipped;
        apply(&[entry("hsts", None, 100)], &mut r, 100);
        assert!(!r.findings[0].judged && !r.findings[0].resolved());
    }
}
