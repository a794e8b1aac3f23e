//! Findings files (`--accept FILE`): the rule failures a team accepts for a
//! while. Parsed and validated like probe files (serde-saphyr, every problem
//! with file:line:col and a sentence in the writer's words) and checked
//! against the compiled plan, so that an entry naming a flow, step or rule
//! that does not exist is an error rather than an entry that silently
//! matches nothing.
//!
//! Which rules a check kind has is the check's business (`check::rule_names`);
//! the caller passes that knowledge in (`rules_of`), so config still knows
//! nothing of the flow layer.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrors, Pos};
use super::plan::{Accepted, Flow, Glob, Plan};
use super::raw::{RawAcceptFile, RawAccepted, S};
use crate::builtins;

/// The rule ids a check kind (`security_headers`, `cors`, …) can report.
pub type RulesOf<'a> = &'a dyn Fn(&str) -> &'static [&'static str];

/// The check kinds whose rules can be accepted, for messages.
const KINDS: &str =
    "cors, security_headers, https_redirect, tls, error_leaks, frontend, api_docs, login_timing";

/// Reads and validates findings files against `plan`.
pub fn load_accepted(
    paths: &[PathBuf],
    plan: &Plan,
    rules_of: RulesOf,
) -> Result<Vec<Accepted>, ConfigErrors> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::read_to_string(p) {
            Ok(s) => sources.push((p.clone(), s)),
            Err(e) => errors.push(ConfigError::file_level(
                p,
                format!("cannot read findings file: {e}"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    load_accepted_sources(&sources, plan, rules_of)
}

/// Validates findings files given as (path, text).
pub fn load_accepted_sources(
    sources: &[(PathBuf, String)],
    plan: &Plan,
    rules_of: RulesOf,
) -> Result<Vec<Accepted>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut out: Vec<Accepted> = Vec::new();
    for (path, source) in sources {
        let mut c = FileCheck {
            file: path,
            source,
            errors: Vec::new(),
        };
        for a in c.file(plan, rules_of) {
            let same = out.iter().find(|b| {
                (&b.target, &b.flow, &b.step, &b.rule) == (&a.target, &a.flow, &a.step, &a.rule)
                    && b.on == a.on
                    && b.actual == a.actual
            });
            match same {
                Some(b) => c.err(
                    a.pos,
                    format!(
                        "the same finding is already accepted at {}: keep one entry",
                        b.id()
                    ),
                ),
                None => out.push(a),
            }
        }
        c.errors.sort_by_key(|e| (e.pos.line, e.pos.col));
        errors.extend(c.errors);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

struct FileCheck<'a> {
    file: &'a Path,
    source: &'a str,
    errors: Vec<ConfigError>,
}

fn pos_of<T>(s: &S<T>) -> Pos {
    Pos::from_loc(&s.referenced)
}

/// `a, b, c` (at most 12, then `…`).
fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    let mut s = v.iter().take(12).copied().collect::<Vec<_>>().join(", ");
    if v.len() > 12 {
        s.push_str(", …");
    }
    s
}

impl FileCheck<'_> {
    fn err(&mut self, pos: Pos, msg: impl Into<String>) {
        self.errors
            .push(ConfigError::new(self.file, self.source, pos, msg));
    }

    fn file(&mut self, plan: &Plan, rules_of: RulesOf) -> Vec<Accepted> {
        if self.source.trim().is_empty() {
            self.err(
                Pos { line: 1, col: 1 },
                "findings file is empty: it needs an `accepted:` list (`accepted: []` when nothing is accepted)",
            );
            return Vec::new();
        }
        let raw: RawAcceptFile = match super::yaml::parse(self.source) {
            Ok(r) => r,
            Err((pos, msg)) => {
                self.err(pos, findings_words(&msg));
                return Vec::new();
            }
        };
        if let Some(v) = &raw.version
            && v.value != 1
        {
            self.err(
                pos_of(v),
                format!(
                    "unsupported findings-file version {}: this smokeprobe reads version 1",
                    v.value
                ),
            );
        }
        raw.accepted
            .iter()
            .filter_map(|e| self.entry(&e.value, pos_of(e), plan, rules_of))
            .collect()
    }

    fn entry(
        &mut self,
        e: &RawAccepted,
        pos: Pos,
        plan: &Plan,
        rules_of: RulesOf,
    ) -> Option<Accepted> {
        let flow = self.flow(e, plan)?;
        let Some(si) = flow.steps.iter().position(|s| s.name == e.step.value) else {
            self.err(
                pos_of(&e.step),
                format!(
                    "flow `{}` has no step `{}` (steps: {})",
                    flow.name,
                    e.step.value,
                    list(flow.steps.iter().map(|s| s.name.as_str()))
                ),
            );
            return None;
        };
        let step = &flow.steps[si];
        let Some(check) = &step.check else {
            self.err(
                pos_of(&e.step),
                format!(
                    "step `{}` of flow `{}` is a request: only the rules of built-in checks ({KINDS}) can be accepted; a request's assertions are fixed in the probe file",
                    step.name, flow.name
                ),
            );
            return None;
        };
        let gated: Vec<&str> = flow.steps[si + 1..]
            .iter()
            .filter(|s| !s.always)
            .map(|s| s.name.as_str())
            .collect();
        if !gated.is_empty() {
            self.err(
                pos_of(&e.step),
                format!(
                    "step `{}` of flow `{}` is followed by steps that run only when it passes ({}): they would still be skipped when it fails, accepted or not; move the check to the end of the flow (cleanup steps may follow) or into a flow of its own",
                    step.name,
                    flow.name,
                    gated.join(", ")
                ),
            );
            return None;
        }
        let rules = rules_of(check.kind());
        if !rules.contains(&e.rule.value.as_str()) {
            self.err(
                pos_of(&e.rule),
                format!(
                    "`{}` is not a rule of a {} check (rules: {})",
                    e.rule.value,
                    check.kind(),
                    rules.join(", ")
                ),
            );
            return None;
        }
        let on = self.glob(e.on.as_ref(), "on", "subject");
        let actual = self.glob(e.actual.as_ref(), "actual", "actual value");
        let reason = e.reason.value.trim();
        if reason.is_empty() {
            self.err(
                pos_of(&e.reason),
                "`reason` is empty: say why this failure is accepted (a ticket, a decision, a date)",
            );
        }
        let until = e.until.value.trim();
        let until_day = match builtins::parse_date(until) {
            Some((y, m, d)) => builtins::days_from_civil(y, m, d),
            None => {
                self.err(
                    pos_of(&e.until),
                    format!(
                        "`until` must be a date YYYY-MM-DD (e.g. 2027-03-03; the day itself is still accepted), got `{until}`"
                    ),
                );
                return None;
            }
        };
        if reason.is_empty() {
            return None;
        }
        Some(Accepted {
            target: flow.target.clone(),
            flow: flow.name.clone(),
            step: step.name.clone(),
            rule: e.rule.value.clone(),
            on: on?,
            actual: actual?,
            reason: reason.to_string(),
            until: until.to_string(),
            until_day,
            file: self.file.to_path_buf(),
            pos,
        })
    }

    /// The flow an entry names (and its target, when given).
    fn flow<'p>(&mut self, e: &RawAccepted, plan: &'p Plan) -> Option<&'p Flow> {
        if let Some(t) = &e.target
            && !plan.flows.iter().any(|f| f.target == t.value)
        {
            let mut targets: Vec<&str> = plan.flows.iter().map(|f| f.target.as_str()).collect();
            targets.dedup();
            self.err(
                pos_of(t),
                format!(
                    "no target `{}` in the probe files (targets: {})",
                    t.value,
                    list(targets.into_iter())
                ),
            );
            return None;
        }
        let found: Vec<&Flow> = plan
            .flows
            .iter()
            .filter(|f| f.name == e.flow.value)
            .filter(|f| e.target.as_ref().is_none_or(|t| t.value == f.target))
            .collect();
        match found.as_slice() {
            [one] => Some(one),
            [] => {
                self.err(
                    pos_of(&e.flow),
                    format!(
                        "no flow named `{}` in the probe files (flows: {})",
                        e.flow.value,
                        list(plan.flows.iter().map(|f| f.name.as_str()))
                    ),
                );
                None
            }
            many => {
                self.err(
                    pos_of(&e.flow),
                    format!(
                        "flow `{}` exists for targets {}: add `target:` to say which",
                        e.flow.value,
                        list(many.iter().map(|f| f.target.as_str()))
                    ),
                );
                None
            }
        }
    }

    /// `Some(None)` when absent, `None` when invalid (reported).
    fn glob(&mut self, g: Option<&S<String>>, key: &str, what: &str) -> Option<Option<Glob>> {
        let Some(g) = g else { return Some(None) };
        if g.value.is_empty() {
            self.err(
                pos_of(g),
                format!("`{key}` is empty: leave it out to accept the failure on any {what}"),
            );
            return None;
        }
        Some(Some(Glob::new(&g.value)))
    }
}

/// serde's words for a findings file, in the words of someone writing one.
fn findings_words(msg: &str) -> String {
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        return match field {
            "accepted" => "a findings file needs an `accepted:` list of entries".to_string(),
            f => format!(
                "this accepted finding has no `{f}`: every entry needs flow, step, rule, reason and until"
            ),
        };
    }
    msg.to_string()
}

/// Today as a UTC day number, the clock `until` is judged by.
pub fn today() -> i64 {
    (builtins::unix_now() / 86_400.0).floor() as i64
}

/// A UTC day number as `YYYY-MM-DD`.
pub fn day_text(day: i64) -> String {
    let (y, m, d) = builtins::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}
