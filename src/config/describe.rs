//! `smokeprobe check`: the resolved plan as a person reads it. Templates are
//! shown as written (`${…}`), values from the environment or files as `***`,
//! secret variables as `***`.

use std::fmt::Write;

use super::plan::*;
use crate::vocab::fmt_duration;

/// The plan as `check` prints it: each file's variables, each flow and its
/// steps, then warnings, accepted findings and what a run needs.
pub fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    let mut last_file = None;
    for f in &plan.flows {
        if last_file != Some(&f.file) {
            file_header(&mut out, plan, f);
            last_file = Some(&f.file);
        }
        let _ = writeln!(
            out,
            "flow {}{}: every {}, deadline {}, {} step(s)",
            f.name,
            if f.optional { " (optional)" } else { "" },
            fmt_duration(f.interval),
            fmt_duration(f.deadline),
            f.steps.len()
        );
        for v in &f.vars {
            let _ = writeln!(out, "  var {} = {}", v.name, v.value.display());
        }
        for s in &f.steps {
            step(&mut out, s);
        }
    }
    short_secrets(&mut out, plan);
    accepted(&mut out, &plan.accepted, super::accept::today());
    if !plan.needs.is_empty() {
        let _ = writeln!(out, "needs at run time:");
        for n in &plan.needs {
            let _ = writeln!(out, "  {} ({})", n.name, n.how);
        }
    }
    let _ = writeln!(out, "ok: {} flow(s) valid", plan.flows.len());
    if !plan.accepted.is_empty() {
        let _ = writeln!(out, "ok: {} accepted finding(s) valid", plan.accepted.len());
    }
    out
}

/// The heading of a probe file's flows: its path, target and global variables.
fn file_header(out: &mut String, plan: &Plan, f: &Flow) {
    let _ = writeln!(out, "# {} (target {})", f.file.display(), f.target);
    let _ = writeln!(out, "vars:");
    for v in f.globals.iter() {
        let needed = plan
            .needs
            .iter()
            .any(|n| matches!(n.kind, NeedKind::Var { .. }) && n.name == v.name);
        let shown = if needed {
            "(given at run time)".to_string()
        } else if v.secret {
            "***".to_string()
        } else {
            v.value.display()
        };
        let _ = writeln!(
            out,
            "  {} = {}{}",
            v.name,
            shown,
            if v.secret { "  (secret)" } else { "" }
        );
    }
}

/// One step: its line (what it sends where, and its settings), then its
/// check, body, expectations and captures, one line each.
fn step(out: &mut String, s: &Step) {
    let what = match &s.check {
        Some(c) => format!("{} check", c.kind()),
        None => s.method.to_string(),
    };
    let _ = writeln!(
        out,
        "  - {}: {what} {}  [{}]",
        s.name,
        s.url.display(),
        step_settings(s).join(", ")
    );
    if let Some(c) = &s.check {
        let _ = writeln!(out, "      {}", c.describe());
    }
    if let Some(b) = body(&s.body) {
        let _ = writeln!(out, "      {b}");
    }
    if !s.asserts.is_empty() {
        let _ = writeln!(out, "      expect: {} check(s)", s.asserts.len());
    }
    if !s.captures.is_empty() {
        let names: Vec<String> = s
            .captures
            .iter()
            .map(|c| {
                if c.secret {
                    format!("{} (secret)", c.name)
                } else {
                    c.name.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "      capture: {}", names.join(", "));
    }
}

/// A step's settings, as its line lists them in brackets.
fn step_settings(s: &Step) -> Vec<String> {
    let mut extras = vec![format!("timeout {}", fmt_duration(s.timeout))];
    if s.always {
        extras.push("always".into());
    }
    if let Some(l) = &s.leaves {
        extras.push(format!("leaves \"{}\"", l.display()));
    }
    if let Some(p) = s.poll {
        extras.push(format!(
            "poll every {} within {}",
            fmt_duration(p.every),
            fmt_duration(p.within)
        ));
    }
    if let Some(fe) = &s.for_each {
        extras.push(format!(
            "for each `{}` in `{}` (≤ {})",
            fe.item, fe.list, fe.max
        ));
    }
    if s.redirects > 0 {
        extras.push(format!("follow ≤ {} redirects", s.redirects));
    }
    if let Some(b) = s.budget {
        for (q, d) in [("p50", b.p50), ("p95", b.p95), ("p99", b.p99)] {
            if let Some(d) = d {
                extras.push(format!("budget {q} ≤ {}", fmt_duration(d)));
            }
        }
    }
    extras
}

/// What a request body is, in a few words (None: no body).
fn body(body: &Body) -> Option<String> {
    match body {
        Body::None => None,
        Body::Json(_) => Some("json body".to_string()),
        Body::Form(f) => Some(format!("form body ({} fields)", f.len())),
        Body::Text(_) => Some("text body".to_string()),
        Body::Multipart(parts) => Some(format!(
            "multipart: {}",
            parts
                .iter()
                .map(|p| match &p.source {
                    PartSource::Value(_) => format!("{} (value)", p.name),
                    PartSource::File(b) => format!("{} (file, {} bytes)", p.name, b.len()),
                    PartSource::Image { format, size } => format!(
                        "{} (generated {} image, {} bytes)",
                        p.name,
                        format.extension(),
                        size
                    ),
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// A warning for each secret too short to be redacted reliably.
fn short_secrets(out: &mut String, plan: &Plan) {
    let short = plan
        .flows
        .iter()
        .flat_map(|f| f.globals.iter())
        .filter(|v| v.secret)
        .filter_map(|v| v.value.static_value().map(|val| (v.name.as_str(), val)))
        .chain(
            plan.secrets
                .iter()
                .map(|s| ("(from ${env:…}/${file:…})", s.clone())),
        )
        .filter(|(_, val)| !val.is_empty() && val.len() < crate::redact::MIN_SECRET_LEN)
        .map(|(n, _)| n)
        .collect::<std::collections::BTreeSet<_>>();
    for name in short {
        let _ = writeln!(
            out,
            "warning: secret {name} is shorter than {} characters and cannot be redacted reliably",
            crate::redact::MIN_SECRET_LEN
        );
    }
}

/// What the findings files accept, and for how much longer.
fn accepted(out: &mut String, entries: &[Accepted], today: i64) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "accepted findings (judged by the UTC date, today {}):",
        super::accept::day_text(today)
    );
    for e in entries {
        let left = e.until_day - today;
        let when = if left < 0 {
            format!("EXPIRED since {} (fails again)", e.until)
        } else if left == 0 {
            format!("until {} (last day)", e.until)
        } else {
            format!("until {} ({left} day(s) left)", e.until)
        };
        let _ = writeln!(
            out,
            "  {} › {} › {}{}{}  {when}  ({})",
            e.flow,
            e.step,
            e.rule,
            e.on.as_ref()
                .map(|g| format!(" on {}", g.as_str()))
                .unwrap_or_default(),
            e.actual
                .as_ref()
                .map(|g| format!(" got {}", g.as_str()))
                .unwrap_or_default(),
            e.id()
        );
        let _ = writeln!(out, "      {}", e.reason);
    }
}
