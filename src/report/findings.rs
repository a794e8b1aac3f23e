//! `once --write-accepted FILE`: today's findings as a findings file to start
//! from. Every rule failure of the run becomes an entry (`until` in 90 days,
//! a reason to write); a failure an `--accept` entry already matched keeps
//! that entry as it is; entries that matched nothing are left out.
//!
//! Subjects that carry ids (a photo URL, a hashed asset name, a random
//! origin) are written as globs that cover the next run's ids too, so the
//! file works as written; the header asks for a review anyway.

use std::fmt::Write;

use super::OnceReport;
use crate::config::{Accepted, Glob};

/// How long a written entry is accepted for.
pub const DEFAULT_DAYS: i64 = 90;

/// The file's text and the number of entries in it.
pub fn render_findings(
    r: &OnceReport,
    entries: &[Accepted],
    probe_files: &str,
    today: i64,
) -> (String, usize) {
    let until = crate::config::accept::day_text(today + DEFAULT_DAYS);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Accepted findings written by `smokeprobe once --write-accepted` on {} (UTC)\n\
         # from {probe_files}: every rule that failed in that run.\n\
         # Review each entry before committing it: say why it is accepted (`reason`),\n\
         # check its subject glob (`on`: `*` matches anything, `/` included) and keep\n\
         # `until` short. Use it with `--accept FILE`; see docs/probe-files.md.\n\
         version: 1\naccepted:",
        crate::config::accept::day_text(today)
    );
    let targets = {
        let mut t: Vec<&str> = r.flows.iter().map(|f| f.target.as_str()).collect();
        t.sort();
        t.dedup();
        t.len()
    };
    let mut n = 0;
    for f in &r.flows {
        let mut kept: Vec<&Accepted> = Vec::new();
        // (step, rule, subject glob) → the first verdict seen, for its comment.
        let mut new: Vec<(String, String, Option<String>, String)> = Vec::new();
        for res in &f.results {
            for s in res.steps.iter().filter(|s| s.kind != "request") {
                for c in s.checks.iter().filter(|c| !c.passed && !c.warning) {
                    if let Some(a) = &c.accepted {
                        if let Some(e) = entries.iter().find(|e| e.id() == a.entry)
                            && !kept.iter().any(|k| k.id() == a.entry)
                        {
                            kept.push(e);
                        }
                        continue;
                    }
                    let on = c.on.as_deref().map(generalize);
                    if !new
                        .iter()
                        .any(|(st, ru, o, _)| *st == s.name && *ru == c.check && *o == on)
                    {
                        new.push((
                            s.name.clone(),
                            c.check.clone(),
                            on,
                            format!("expected {}, got {}", c.expected, c.actual),
                        ));
                    }
                }
            }
        }
        kept.sort_by_key(|e| (e.file.clone(), e.pos.line));
        for e in kept {
            if e.expired(today) {
                let _ = writeln!(
                    out,
                    "  # kept from {}: EXPIRED on {}, fix it or give it a new `until`",
                    e.id(),
                    e.until
                );
            } else {
                let _ = writeln!(out, "  # kept from {}", e.id());
            }
            entry(
                &mut out,
                (targets > 1).then_some(f.target.as_str()),
                &f.flow,
                &e.step,
                &e.rule,
                e.on.as_ref().map(|g| g.as_str()),
                e.actual.as_ref().map(|g| g.as_str()),
                &e.reason,
                &e.until,
            );
            n += 1;
        }
        for (step, rule, on, seen) in new {
            let _ = writeln!(out, "  # {}", one_line(&seen));
            entry(
                &mut out,
                (targets > 1).then_some(f.target.as_str()),
                &f.flow,
                &step,
                &rule,
                on.as_deref(),
                None,
                "TODO: why this is accepted",
                &until,
            );
            n += 1;
        }
    }
    if n == 0 {
        out.push_str(" []\n");
    }
    (out, n)
}

#[allow(clippy::too_many_arguments)]
fn entry(
    out: &mut String,
    target: Option<&str>,
    flow: &str,
    step: &str,
    rule: &str,
    on: Option<&str>,
    actual: Option<&str>,
    reason: &str,
    until: &str,
) {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut first = "  - ";
    let mut field = |out: &mut String, k: &str, v: String| {
        let _ = writeln!(out, "{first}{k}: {v}");
        first = "    ";
    };
    if let Some(t) = target {
        field(out, "target", q(t));
    }
    field(out, "flow", q(flow));
    field(out, "step", q(step));
    field(out, "rule", q(rule));
    if let Some(o) = on {
        field(out, "on", q(o));
    }
    if let Some(a) = actual {
        field(out, "actual", q(a));
    }
    field(out, "reason", q(reason));
    field(out, "until", until.to_string());
}

/// A comment stays one line whatever a target sent.
fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 160 {
        format!("{}…", flat.chars().take(160).collect::<String>())
    } else {
        flat
    }
}

/// A subject as a glob that still matches next run's: a path is cut at its
/// first segment that looks generated (all digits, or a run of six or more
/// hex digits with a digit in it: dates, UUIDs, build hashes) and ends in
/// `*`; elsewhere such runs become `*`. The rest is matched literally.
pub fn generalize(subject: &str) -> String {
    subject
        .split(' ')
        .map(|tok| {
            if tok.starts_with('/') {
                path_glob(tok)
            } else if let Some((scheme, rest)) = tok.split_once("://") {
                match rest.find('/') {
                    Some(i) => format!(
                        "{}://{}{}",
                        Glob::escape(scheme),
                        runs_glob(&rest[..i]),
                        path_glob(&rest[i..])
                    ),
                    None => format!("{}://{}", Glob::escape(scheme), runs_glob(rest)),
                }
            } else {
                runs_glob(tok)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn path_glob(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    match (1..segs.len()).find(|&i| generated(segs[i])) {
        Some(i) => format!("{}/*", Glob::escape(&segs[..i].join("/"))),
        None => Glob::escape(path),
    }
}

fn generated(seg: &str) -> bool {
    let seg = seg.split('?').next().unwrap_or(seg);
    (!seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit())) || hex_run(seg).is_some()
}

/// The first run of ≥ 6 hex digits holding a digit: (start, end) in bytes.
fn hex_run(s: &str) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_hexdigit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            if i - start >= 6 && b[start..i].iter().any(u8::is_ascii_digit) {
                return Some((start, i));
            }
        } else {
            i += 1;
        }
    }
    None
}

fn runs_glob(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((a, b)) = hex_run(rest) {
        out.push_str(&Glob::escape(&rest[..a]));
        out.push('*');
        rest = &rest[b..];
    }
    out.push_str(&Glob::escape(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::generalize;

    #[test]
    fn ids_become_globs() {
        let g = generalize;
        assert_eq!(g("/"), "/");
        assert_eq!(g("/api/health"), "/api/health");
        assert_eq!(g("/assets/index-3f9a1c.js"), "/assets/*");
        assert_eq!(
            g("/storage/trip_photos/2026/12/5c1e0a2b-1111-4222-8333-db08847c1b5e/x_optimized.jpg"),
            "/storage/trip_photos/*"
        );
        assert_eq!(
            g("preflight from https://smokeprobe-7b85f2d6.invalid"),
            "preflight from https://smokeprobe-*.invalid"
        );
        assert_eq!(g("GET /api/smokeprobe-no-such-path-ab12cd34"), "GET /api/*");
        assert_eq!(
            g("/trips/public?page=1"),
            "/trips/public?page=1".replace('?', "\\?")
        );
        assert_eq!(
            g("preflight from http://localhost:3000"),
            "preflight from http://localhost:3000"
        );
    }
}
