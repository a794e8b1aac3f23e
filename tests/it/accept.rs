//! Accepted findings (`--accept FILE`) through the real binary against the
//! in-process demo target in `headers=as-committed` mode (today's ContraVento
//! nginx): the shipped probe file plus the shipped findings file passes, and
//! still fails on a widened CORS policy, a lost redirect or a new leak; an
//! expired entry fails again; a resolved entry is reported; a broken findings
//! file is exit 2 with file:line:col; `--write-accepted` writes a file that
//! works; `run` shows it all in its metrics and its status page.
//!
//! The shipped file's `until` is a real date (90 days after it was written).
//! So that these tests do not break the day it passes, they use a copy whose
//! dates are moved relative to today; the one test of the shipped file as it
//! is checks only what does not depend on the date.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use smokeprobe::builtins::{date_utc, parse_date};
use smokeprobe::demo::{DemoServer, Faults, TlsMode};

use crate::common::*;

const SHIPPED: &str = "probes/contravento.accepted.yaml";

fn shipped() -> String {
    std::fs::read_to_string(repo_file(SHIPPED)).expect("the shipped findings file")
}

/// The shipped findings file with every `until` set to `days` from today
/// (UTC); `first_until`, when given, for the first entry instead.
fn shipped_until(days: i64, first_until: Option<i64>) -> String {
    let mut n = 0;
    let mut out = String::new();
    for line in shipped().lines() {
        match line.split_once("until: ") {
            Some((indent, date)) if indent.trim().is_empty() => {
                assert!(parse_date(date.trim()).is_some(), "`{line}`");
                let d = if n == 0 {
                    first_until.unwrap_or(days)
                } else {
                    days
                };
                out.push_str(&format!("{indent}until: {}\n", date_utc(d)));
                n += 1;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    assert_eq!(n, 9, "the shipped file has nine entries");
    out
}

/// `(reason, line of the entry)` of every entry of a findings file.
fn entries(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("- flow:") || line.trim_start().starts_with("- target:") {
            start = i + 1;
        }
        if let Some(r) = line.trim_start().strip_prefix("reason: ") {
            out.push((r.trim().to_string(), start));
        }
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("file written");
    p
}

/// `once` with the shipped probe file against `s`, then `extra`.
fn once_args(s: &DemoServer, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = contravento_args(s, dir);
    a.push("--no-color".into());
    a.extend(extra.iter().map(|x| x.to_string()));
    a
}

fn faults(specs: &[&str]) -> Faults {
    let mut f = Faults::default();
    for s in specs {
        f.apply_spec(s).expect("fault spec");
    }
    f
}

/// Every failed verdict of the last run of every flow that is not a
/// warning: (flow, step, check JSON).
fn failed_rules(report: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for f in report["flows"].as_array().unwrap() {
        let last = f["results"].as_array().unwrap().last().unwrap();
        for s in last["steps"].as_array().unwrap() {
            for c in s["checks"].as_array().into_iter().flatten() {
                if c["passed"] == false && c["warning"] != true && s["kind"] != "request" {
                    out.push((
                        f["flow"].as_str().unwrap().to_string(),
                        s["name"].as_str().unwrap().to_string(),
                        c.clone(),
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_shipped_findings_pass_as_committed_and_anything_else_still_fails() {
    let s = demo_tls(Some(TlsMode::Valid), &["headers=as-committed"]).await;
    let r = Reports::new();
    let findings = shipped_until(90, None);
    let until = date_utc(90);
    let file = write(r.dir.path(), "contravento.accepted.yaml", &findings);
    let file_s = file.display().to_string();
    let mut args = once_args(&s, r.dir.path(), &["--accept", &file_s]);
    args.extend(r.args());
    let out = run(args.clone(), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The only ⚠ are the accepted findings and warning-level rules: the
    // profile's advisories and the API description and login timing that
    // today's ContraVento really shows (issue 15).
    let warning_rules = [
        "csp",
        "referrer-policy",
        "permissions-policy",
        "server-version",
        "api-docs-public",
        "login-timing",
    ];
    for l in stdout.lines().map(str::trim_start) {
        let Some(rest) = l.strip_prefix("⚠ ") else {
            continue;
        };
        let rest = rest.trim_start();
        let rule = rest.split_whitespace().next().unwrap_or_default();
        let flow_or_step = !rest.contains(": expected ");
        assert!(
            flow_or_step
                || l.contains(&format!("accepted until {until}: "))
                || warning_rules.contains(&rule),
            "unexpected ⚠ line: {l}\n{stdout}"
        );
    }
    for rule in ["api-docs-public", "login-timing"] {
        assert!(
            stdout.contains(&format!("⚠ {rule} on ")),
            "{rule} warns:\n{stdout}"
        );
    }

    // The checklist: every accepted finding as ⚠ with its date and reason,
    // the two flows that hold them not ❌, the verdict counting them.
    for (reason, line) in entries(&findings) {
        let shown = format!("accepted until {until}: {reason}");
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with("⚠ ") && l.ends_with(&shown)),
            "entry at line {line} not shown as ⚠ …{shown}:\n{stdout}"
        );
    }
    for flow in ["security-headers", "upload-validation"] {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(flow))
            .unwrap_or_else(|| panic!("no line for {flow}:\n{stdout}"));
        assert!(line.starts_with("⚠ "), "{line}");
    }
    assert!(!stdout.contains('❌'), "{stdout}");
    assert!(!stdout.contains("resolved:"), "{stdout}");
    let verdict = stdout.lines().find(|l| l.contains("PASSED")).unwrap();
    assert!(verdict.contains("16 accepted rule failure(s)"), "{verdict}");

    // JSON: each failed rule carries its entry; the summary counts them.
    let report = r.json();
    assert_eq!(report["verdict"], "passed");
    let failed = failed_rules(&report);
    assert_eq!(failed.len(), 16, "{failed:?}");
    for (flow, step, c) in &failed {
        let a = &c["accepted"];
        assert_eq!(a["until"], until.as_str(), "{flow}/{step}: {c}");
        assert_eq!(a["expired"], false, "{c}");
        assert!(
            a["entry"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{file_s}:")),
            "{c}"
        );
        assert!(
            [
                "security-headers/site-headers",
                "upload-validation/photo-headers"
            ]
            .contains(&format!("{flow}/{step}").as_str()),
            "{flow}/{step}"
        );
    }
    let sum = &report["accepted"];
    assert_eq!(sum["entries"], 9, "{sum}");
    assert_eq!(sum["accepted"], 16, "{sum}");
    assert_eq!(sum["expired"], serde_json::json!([]), "{sum}");
    assert_eq!(sum["resolved"], serde_json::json!([]), "{sum}");

    // JUnit: the two steps are skipped, with the entries' words.
    let junit = r.junit();
    assert!(junit.contains("failures=\"0\""), "{junit}");
    for case in ["site-headers", "photo-headers"] {
        let at = junit.find(&format!("<testcase name=\"{case}\"")).unwrap();
        let rest = &junit[at..];
        let end = rest.find("</testcase>").unwrap();
        assert!(
            rest[..end].contains(&format!("<skipped message=\"accepted until {until}: ")),
            "{}",
            &rest[..end]
        );
    }
    assert!(junit.contains("ACCEPTED hsts on /:"), "{junit}");

    // Anything the file does not accept still fails the gate: a widened CORS
    // policy, a lost HTTP → HTTPS redirect, a new leak.
    for (fault, flow) in [
        ("cors=echo-any", "cors-login"),
        ("redirect=none", "https-redirect"),
        ("leak-errors", "error-leaks"),
    ] {
        s.set_faults(faults(&["headers=as-committed", fault]));
        let out = run(args.clone(), vec![]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{fault}:\n{stdout}\n{stderr}");
        let red: Vec<String> = red_steps(&r.json())
            .into_iter()
            .map(|(f, _, _)| f)
            .collect();
        assert_eq!(red, vec![flow.to_string()], "{fault}:\n{stdout}");
        assert!(
            stdout.contains(&format!("❌ FAILED: 1 of 16 flow(s) failed ({flow})")),
            "{fault}:\n{stdout}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_an_expired_entry_fails_again() {
    let s = demo_tls(Some(TlsMode::Valid), &["headers=as-committed"]).await;
    let r = Reports::new();
    // The first entry (HSTS on the site) ended yesterday; the rest hold.
    let findings = shipped_until(90, Some(-1));
    let yesterday = date_utc(-1);
    let line = entries(&findings)[0].1;
    let file = write(r.dir.path(), "contravento.accepted.yaml", &findings);
    let file_s = file.display().to_string();
    let mut args = once_args(
        &s,
        r.dir.path(),
        &["--accept", &file_s, "--flow", "security-headers"],
    );
    args.extend(r.args());
    let out = run(args, vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let hsts = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("✗ hsts on /"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        hsts.ends_with(&format!(
            "— accepted until {yesterday} expired ({file_s}:{line})"
        )),
        "{hsts}"
    );
    // The other rules of the step are still accepted.
    assert!(
        stdout.contains(&format!("accepted until {}: ", date_utc(90))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "✗ expired: security-headers › site-headers › hsts was accepted until {yesterday} ({file_s}:{line})"
        )),
        "{stdout}"
    );
    let report = r.json();
    let expired = report["accepted"]["expired"].as_array().unwrap();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["entry"], format!("{file_s}:{line}"));
    assert_eq!(expired[0]["rule"], "hsts");
    assert_eq!(expired[0]["matched"], 5);
    let failed = failed_rules(&report);
    let hsts: Vec<&Value> = failed
        .iter()
        .map(|(_, _, c)| c)
        .filter(|c| c["check"] == "hsts")
        .collect();
    assert_eq!(hsts.len(), 5);
    assert!(hsts.iter().all(|c| c["accepted"]["expired"] == true));
    assert_eq!(
        step(&report, "security-headers", "site-headers")["last_failure"]["message"]
            .as_str()
            .unwrap()
            .matches("hsts on")
            .count(),
        1
    );
    let junit = r.junit();
    assert!(junit.contains("failures=\"1\""), "{junit}");
    assert!(
        junit.contains(&format!("(accepted until {yesterday} expired)")),
        "{junit}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_a_resolved_entry_is_reported_and_does_not_fail() {
    let s = demo_tls(Some(TlsMode::Valid), &["headers=as-committed"]).await;
    let r = Reports::new();
    // nosniff is there on the API: this entry matches nothing.
    let mut findings = shipped_until(90, None);
    findings.push_str(&format!(
        "  - flow: security-headers\n    step: site-headers\n    rule: content-type-options\n    on: /api/*\n    reason: nosniff was missing on the API once\n    until: {}\n",
        date_utc(30)
    ));
    let line = entries(&findings).last().unwrap().1;
    let file = write(r.dir.path(), "contravento.accepted.yaml", &findings);
    let file_s = file.display().to_string();
    let mut args = once_args(
        &s,
        r.dir.path(),
        &["--accept", &file_s, "--flow", "security-headers"],
    );
    args.extend(r.args());
    let out = run(args, vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let resolved = format!(
        "resolved: remove it ({file_s}:{line}): security-headers › site-headers › content-type-options on /api/* no longer fails"
    );
    assert!(stdout.contains(&resolved), "{stdout}");
    // After the checklist, before the verdict.
    let at = stdout.find(&resolved).unwrap();
    assert!(at > stdout.find("site-headers").unwrap());
    assert!(at < stdout.find("✅ PASSED").unwrap(), "{stdout}");
    let report = r.json();
    let res = report["accepted"]["resolved"].as_array().unwrap();
    // Only this one: the photo entries' flow did not run, so they say nothing.
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(res[0]["entry"], format!("{file_s}:{line}"));
    assert_eq!(res[0]["on"], "/api/*");
    assert_eq!(res[0]["matched"], 0);
    assert_eq!(report["accepted"]["entries"], 7);
    s.stop().await;
}

/// The shipped file as it is, whatever today's date: it parses, `check`
/// lists it, it accepts only standing findings of the security-header
/// checks, and against the as-committed demo every entry matches and every
/// failing rule is one of its entries (accepted or, after its date, expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_shipped_file_parses_and_matches_the_as_committed_findings() {
    let d = tempfile::tempdir().unwrap();
    let out = run(
        vec![
            "check".into(),
            repo_file("probes/contravento.yaml").display().to_string(),
            "--secret".into(),
            "password=not-the-real-one".into(),
            "--accept".into(),
            repo_file(SHIPPED).display().to_string(),
        ],
        vec![],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("ok: 9 accepted finding(s) valid"),
        "{stdout}"
    );
    for (reason, _) in entries(&shipped()) {
        assert!(stdout.contains(&reason), "{reason}\n{stdout}");
    }

    // Only standing header findings of the real app: never CORS, redirect,
    // TLS, leak or upload rules, never nosniff on the API (it has it).
    let raw: smokeprobe::config::raw::RawAcceptFile =
        serde_saphyr::from_str(&shipped()).expect("the shipped file parses");
    let mut untils = Vec::new();
    for e in &raw.accepted {
        let e = &e.value;
        let at = format!("{}/{}", e.flow.value, e.step.value);
        assert!(
            [
                "security-headers/site-headers",
                "upload-validation/photo-headers"
            ]
            .contains(&at.as_str()),
            "{at}"
        );
        assert!(
            ["hsts", "frame-options", "content-type-options"].contains(&e.rule.value.as_str()),
            "{at}: {}",
            e.rule.value
        );
        if e.rule.value == "content-type-options" {
            assert!(e.on.as_ref().is_some_and(|o| !o.value.starts_with("/api")));
        }
        untils.push(e.until.value.clone());
    }
    untils.dedup();
    assert_eq!(untils.len(), 1, "one date for the whole file: {untils:?}");

    let s = demo_tls(Some(TlsMode::Valid), &["headers=as-committed"]).await;
    let r = Reports::new();
    let shipped_path = repo_file(SHIPPED).display().to_string();
    let mut args = once_args(&s, d.path(), &["--accept", &shipped_path]);
    args.extend(r.args());
    let out = run(args, vec![]).await;
    let (stdout, stderr) = text(&out);
    let report = r.json();
    let sum = &report["accepted"];
    assert_eq!(sum["entries"], 9, "{sum}");
    assert_eq!(sum["resolved"], serde_json::json!([]), "{stdout}");
    let failed = failed_rules(&report);
    assert_eq!(failed.len(), 16, "{stdout}");
    for (flow, step, c) in &failed {
        assert!(
            c["accepted"]["entry"]
                .as_str()
                .is_some_and(|e| e.starts_with(&format!("{shipped_path}:"))),
            "{flow}/{step}: a failing rule the shipped file does not name: {c}"
        );
    }
    // Within its dates it passes; after them it fails, saying so.
    let expired = sum["expired"].as_array().unwrap().len();
    assert!(expired == 0 || expired == 9, "{sum}");
    assert_eq!(
        out.status.code(),
        Some(if expired == 0 { 0 } else { 1 }),
        "{stdout}\n{stderr}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_a_broken_findings_file_is_exit_2_with_file_line_col() {
    let d = tempfile::tempdir().unwrap();
    let bad = write(
        d.path(),
        "bad.accepted.yaml",
        "accepted:\n  - flow: security-header\n    step: site-headers\n    rule: hsts\n    reason: x\n    until: 2027-03-03\n  - flow: security-headers\n    step: site-headers\n    rule: hst\n    reason: x\n    until: 2027-03-03\n  - flow: security-headers\n    step: site-headers\n    rule: hsts\n    reason: x\n    until: 03/03/2027\n  - flow: login\n    step: login\n    rule: status\n    reason: x\n    until: 2027-03-03\n",
    );
    let bad_s = bad.display().to_string();
    let check = |accept: String| {
        vec![
            "check".to_string(),
            repo_file("probes/contravento.yaml").display().to_string(),
            "--secret".into(),
            "password=xxxxxxxxxx".into(),
            "--accept".into(),
            accept,
        ]
    };
    let out = run(check(bad_s.clone()), vec![]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for want in [
        format!("{bad_s}:2:11: no flow named `security-header` in the probe files (flows: health,"),
        format!(
            "{bad_s}:9:11: `hst` is not a rule of a security_headers check (rules: status, hsts,"
        ),
        format!("{bad_s}:16:12: `until` must be a date YYYY-MM-DD"),
        format!(
            "{bad_s}:18:11: step `login` of flow `login` is a request: only the rules of built-in checks"
        ),
        format!("4 errors in {bad_s}"),
    ] {
        assert!(stderr.contains(&want), "{want}\nin:\n{stderr}");
    }
    // The snippet and caret, as for probe files.
    assert!(
        stderr.contains("9 |     rule: hst\n  |           ^"),
        "{stderr}"
    );

    // Shapes serde complains about, in the writer's words: no Rust type names.
    for (yaml, want) in [
        (
            "accepted:\n  - flow: security-headers\n    step: site-headers\n    rule: hsts\n    until: 2027-03-03\n",
            ":5:5: this accepted finding has no `reason`: every entry needs flow, step, rule, reason and until",
        ),
        (
            "accepted:\n  - flow: security-headers\n    step: site-headers\n    rule: hsts\n    reason: x\n    untill: 2027-03-03\n",
            ":6:5: unknown field `untill`, expected one of target, flow, step, rule, on, actual, reason, until",
        ),
        (
            "accepted:\n  - flow: security-headers\n    step: site-headers\n    rule: hsts\n    reason: [a, b]\n    until: 2027-03-03\n",
            ":5:13: expected a single text value here, not a list or a mapping",
        ),
        (
            "flows: []\n",
            ":1:1: unknown field `flows`, expected one of version, accepted",
        ),
        (
            "version: x\naccepted: []\n",
            ":1:10: expected a whole number, 0 or more, here",
        ),
        (
            "",
            ":1:1: findings file is empty: it needs an `accepted:` list",
        ),
    ] {
        let f = write(d.path(), "shape.accepted.yaml", yaml);
        let out = run(check(f.display().to_string()), vec![]).await;
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(want), "{yaml}: {stderr}");
        for rust in ["Raw", "Spanned", "struct ", "enum ", "serde"] {
            assert!(!stderr.contains(rust), "{rust} in: {stderr}");
        }
    }

    // A check step that later steps depend on cannot be accepted: those
    // steps would still be skipped when it fails.
    let probe = write(
        d.path(),
        "site.yaml",
        "target: site\nvars:\n  base: http://127.0.0.1:9\nflows:\n  - name: sec\n    steps:\n      - name: headers\n        security_headers:\n          urls: [\"${base}/\"]\n      - name: after\n        url: ${base}/x\n      - name: cleanup\n        always: true\n        url: ${base}/y\n",
    );
    let gated = write(
        d.path(),
        "site.accepted.yaml",
        "accepted:\n  - flow: sec\n    step: headers\n    rule: hsts\n    reason: x\n    until: 2027-03-03\n",
    );
    let out = run(
        vec![
            "check".into(),
            probe.display().to_string(),
            "--accept".into(),
            gated.display().to_string(),
        ],
        vec![],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":3:11: step `headers` of flow `sec` is followed by steps that run only when it passes (after)"),
        "{stderr}"
    );

    // `once` refuses it before sending anything.
    let s = demo(&[]).await;
    let args = once_args(&s, d.path(), &["--accept", &bad_s]);
    let out = run(args, vec![]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert_eq!(s.request_count(), 0);
    // A directory of probe files leaves findings files out.
    let out = run(
        vec![
            "check".into(),
            d.path().display().to_string(),
            "--accept".into(),
            gated.display().to_string(),
        ],
        vec![],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        !stderr.contains("accepted.yaml:1:1: unknown field"),
        "{stderr}"
    );
    assert!(stderr.contains("is followed by steps"), "{stdout}{stderr}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_write_accepted_starts_a_findings_file_that_works() {
    let s = demo_tls(Some(TlsMode::Valid), &["headers=as-committed"]).await;
    let d = tempfile::tempdir().unwrap();
    let written = d.path().join("today.accepted.yaml");
    let w = written.display().to_string();
    let out = run(once_args(&s, d.path(), &["--write-accepted", &w]), vec![]).await;
    let (stdout, stderr) = text(&out);
    // Writing it changes nothing about this run's verdict.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("wrote 13 accepted finding(s) to {w}")),
        "{stderr}"
    );
    let file = std::fs::read_to_string(&written).unwrap();
    assert_eq!(
        file.matches("reason: \"TODO: why this is accepted\"")
            .count(),
        13
    );
    assert_eq!(
        file.matches(&format!("until: {}\n", date_utc(90))).count(),
        13,
        "{file}"
    );
    // Ids in subjects became globs: the next run's photo and asset names match.
    assert!(file.contains("on: \"/storage/trip_photos/*\""), "{file}");
    assert!(file.contains("on: \"/assets/*\""), "{file}");
    assert!(!file.contains("_optimized.jpg"), "{file}");

    let out = run(once_args(&s, d.path(), &["--accept", &w]), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}\n{file}");
    assert!(
        stdout.contains(&format!(
            "accepted until {}: TODO: why this is accepted",
            date_utc(90)
        )),
        "{stdout}"
    );
    s.stop().await;
}

/// The rule names a findings file may use are exactly those the checks
/// report: every verdict of every check under a wide set of faults is one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_rule_names_cover_every_verdict_the_checks_report() {
    let s = demo_tls(Some(TlsMode::Valid), &[]).await;
    let d = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for specs in [
        &[][..],
        &[
            "headers=as-committed",
            "cors=echo-any",
            "redirect=302",
            "leak-errors",
            "source-maps",
            "no-gzip",
            "insecure-cookie",
        ][..],
        &[
            "cors=wildcard",
            "redirect=root",
            "csp=unsafe",
            "hsts=short",
            "server-version",
            "big-bundle",
            "upload-trusts-type",
        ][..],
        &["cors=allow-http", "redirect=none", "no-security-headers"][..],
    ] {
        s.set_faults(faults(specs));
        let r = Reports::new();
        let mut args = once_args(&s, d.path(), &[]);
        args.extend(r.args());
        run(args, vec![]).await;
        for f in r.json()["flows"].as_array().unwrap() {
            for res in f["results"].as_array().unwrap() {
                for st in res["steps"].as_array().unwrap() {
                    let kind = st["kind"].as_str().unwrap().to_string();
                    if kind == "request" {
                        continue;
                    }
                    for c in st["checks"].as_array().into_iter().flatten() {
                        seen.insert((kind.clone(), c["check"].as_str().unwrap().to_string()));
                    }
                }
            }
        }
    }
    let unknown: Vec<&(String, String)> = seen
        .iter()
        .filter(|(k, c)| !smokeprobe::flow::checks::rule_names(k).contains(&c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "rules missing from rule_names: {unknown:?}"
    );
    // And the runs saw plenty of them.
    assert!(seen.len() > 30, "{seen:?}");
    s.stop().await;
}

/// `run` with the findings: accepted failures are told apart from failing
/// ones in the metrics (promtool-clean), the status page's banner links to
/// the failing flow, and the accepted verdicts are ⚠ with date and reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_run_exposes_findings_in_metrics_and_the_status_page() {
    let (s, _d, ca) = crate::common::tls_demo_with_ca(&["headers=as-committed"]).await;
    let o = smokeprobe::demo::DemoOptions::default();
    let dir = tempfile::tempdir().unwrap();
    // The photos' HSTS entry (the 7th) ended yesterday; one entry is resolved.
    let mut findings = shipped_until(90, None);
    let photo_hsts = "    rule: hsts\n    on: /storage/*\n    actual: missing\n";
    let at = findings.find(photo_hsts).expect("the photos' HSTS entry");
    let until_at = at + findings[at..].find("until: ").unwrap();
    let end = until_at + findings[until_at..].find('\n').unwrap();
    findings.replace_range(until_at..end, &format!("until: {}", date_utc(-1)));
    findings.push_str(&format!(
        "  - flow: security-headers\n    step: site-headers\n    rule: content-type-options\n    on: /api/*\n    reason: nosniff was missing on the API once\n    until: {}\n",
        date_utc(30)
    ));
    let file = write(dir.path(), "contravento.accepted.yaml", &findings);
    let shipped_probe = std::fs::read_to_string(repo_file("probes/contravento.yaml")).unwrap();
    let vars = [
        format!("base={}", s.base_url()),
        format!("http_base={}", s.http_url()),
        format!("username={}", o.username),
        format!("allowed_origin={}", o.cors_origins[0]),
    ];
    let password = format!("password={}", o.password);
    let file_s = file.display().to_string();
    let mut args: Vec<&str> = vec!["--ca-file", &ca, "--secret", &password, "--accept", &file_s];
    for v in &vars {
        args.extend(["--var", v]);
    }
    let run = crate::run::start_run(&shipped_probe, &args, &[]).await;
    let start = Instant::now();
    let status = loop {
        let (code, body) = run.get("/api/status", None).await;
        assert_eq!(code, 200, "{body}");
        let st: Value = serde_json::from_str(&body).unwrap();
        if st["summary"]["pending"] == 0 {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{st}\n{}",
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sum = &status["summary"];
    assert_eq!(sum["failing"], 1, "{sum}\n{}", run.log());
    assert_eq!(sum["resolved"], 1, "{sum}");
    assert_eq!(sum["expired"], 1, "{sum}");
    assert_eq!(sum["accepted"], 15, "{sum}");
    let flow = |name: &str| -> Value {
        status["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flow"] == name)
            .unwrap()
            .clone()
    };
    let sec = flow("security-headers");
    assert_eq!(sec["state"], "passed", "{sec}");
    assert_eq!(sec["accepted"], 13);
    let resolved: Vec<&Value> = sec["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["state"] == "resolved")
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["rule"], "content-type-options");
    let up = flow("upload-validation");
    assert_eq!(up["state"], "failed", "{up}");

    let m = run.metrics().await;
    crate::run::promtool_check(&m);
    let sample = crate::run::sample;
    let site = [("flow", "security-headers"), ("step", "site-headers")];
    let with = |extra: &[(&'static str, &'static str)], base: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert_eq!(
        sample(&m, "probe_success", &[("flow", "security-headers")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_check_rule_accepted_failures",
            &with(&[("rule", "hsts")], &site)
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_check_rule_failures",
            &with(&[("rule", "hsts"), ("severity", "required")], &site)
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_accepted_findings",
            &with(
                &[("rule", "content-type-options"), ("state", "resolved")],
                &site
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_accepted_findings",
            &with(&[("rule", "frame-options"), ("state", "active")], &site)
        ),
        Some(3.0)
    );
    let photo = [("flow", "upload-validation"), ("step", "photo-headers")];
    assert_eq!(
        sample(
            &m,
            "smokeprobe_accepted_findings",
            &with(&[("rule", "hsts"), ("state", "expired")], &photo)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_check_rule_failures",
            &with(&[("rule", "hsts"), ("severity", "required")], &photo)
        ),
        Some(1.0)
    );
    // The end of yesterday is the start of today (UTC).
    let today_start = (smokeprobe::builtins::unix_now() / 86_400.0).floor() * 86_400.0;
    assert_eq!(
        sample(
            &m,
            "smokeprobe_accepted_finding_expiry_timestamp_seconds",
            &with(&[("rule", "hsts")], &photo)
        ),
        Some(today_start)
    );
    // Labels are rules, never subjects or entries.
    for l in m.lines().filter(|l| l.contains("accepted")) {
        assert!(!l.contains("/storage") && !l.contains(".yaml"), "{l}");
    }

    // The page: the banner links to the failing flow's card; the accepted
    // verdicts read ⚠ with date and reason.
    let page = run.url("/");
    let until = date_utc(90);
    let reason = entries(&findings)[0].0.clone();
    let artifacts = crate::chromium::artifacts_dir();
    let png = artifacts.join("status-page-accepted.png");
    tokio::task::block_in_place(|| {
        let mut c = crate::chromium::Chromium::start(375, 812, true);
        c.goto(&page);
        let banner = c.eval(
            "[...document.querySelectorAll('.overall .jump a')].map(a => a.getAttribute('href'))",
        );
        assert_eq!(
            banner,
            serde_json::json!(["#contravento/upload-validation"])
        );
        c.eval("document.querySelector('.overall .jump a').click()");
        let target = c.eval(
            "(() => { const t = document.querySelector(':target');
                      const r = t.getBoundingClientRect();
                      const bar = document.querySelector('.bar').getBoundingClientRect().bottom;
                      return { flow: t.dataset.flow, state: t.dataset.state, hash: location.hash,
                               top: r.top, bar, scrolled: scrollY,
                               visible: r.top >= bar - 1 && r.top < innerHeight }; })()",
        );
        assert_eq!(target["flow"], "upload-validation", "{target}");
        assert_eq!(target["state"], "failed", "{target}");
        assert_eq!(target["hash"], "#contravento/upload-validation");
        assert_eq!(target["visible"], true, "{target}");
        // The script's refresh swaps in fresh markup: the card the link led
        // to keeps its id and stays where the reader is.
        c.eval("window.__before = Number(document.documentElement.dataset.refreshes || 0)");
        c.wait_for(
            Duration::from_secs(30),
            "a refresh",
            "Number(document.documentElement.dataset.refreshes || 0) > window.__before",
        );
        let after = c.eval(
            "(() => { const t = document.getElementById(location.hash.slice(1));
                      const r = t.getBoundingClientRect();
                      return { flow: t.dataset.flow, visible: r.top >= 0 && r.top < innerHeight }; })()",
        );
        assert_eq!(after["flow"], "upload-validation", "{after}");
        assert_eq!(after["visible"], true, "{after}");
        let sec = c.eval(
            "(() => { const a = document.querySelector('article.flow[data-flow=\"security-headers\"]');
                      const row = a.querySelector('tr.accepted');
                      return { badge: a.querySelector('h3 .badge').textContent, cls: a.className,
                               verdict: row.cells[0].textContent,
                               note: row.querySelector('.note').textContent,
                               glance: a.querySelector('.accepted-list li').textContent,
                               links: [...document.querySelectorAll('.overall .accepted-note a')].map(x => x.textContent),
                               resolved: a.querySelector('.finding.resolved').textContent }; })()",
        );
        assert_eq!(sec["badge"], "OK ⚠", "{sec}");
        assert!(sec["cls"].as_str().unwrap().contains("accepted"), "{sec}");
        assert_eq!(sec["verdict"], "⚠ accepted", "{sec}");
        assert_eq!(
            sec["note"],
            format!("accepted until {until}: {reason}").as_str(),
            "{sec}"
        );
        assert_eq!(
            sec["glance"],
            format!("⚠ hsts on 5 subjects · accepted until {until}: {reason}").as_str(),
            "{sec}"
        );
        assert_eq!(
            sec["links"],
            serde_json::json!(["security-headers", "upload-validation"]),
            "{sec}"
        );
        assert!(
            sec["resolved"]
                .as_str()
                .unwrap()
                .starts_with(&format!("resolved: remove it ({file_s}:")),
            "{sec}"
        );
        let expired = c.eval(
            "document.querySelector('article.flow[data-flow=\"upload-validation\"] .finding.expired').textContent",
        );
        assert!(
            expired
                .as_str()
                .unwrap()
                .contains(&format!("accepted until {} ({file_s}:", date_utc(-1))),
            "{expired}"
        );
        assert_eq!(
            c.eval("document.documentElement.scrollWidth <= window.innerWidth"),
            true,
            "the page is wider than a 375 px phone"
        );
        c.screenshot(&png);
        assert_eq!(c.errors(), Vec::<String>::new());
    });
    println!("status page with accepted findings: {}", png.display());
    let (code, log) = run.terminate(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{log}");
    // One "step failed" line for the expired finding, none for accepted ones.
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("step failed")).collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert!(failed[0].contains("photo-headers"), "{log}");
    assert!(!failed[0].contains("frame-options"), "{}", failed[0]);
    s.stop().await;
}

/// `scripts/post-deploy-check.sh` with its defaults uses the shipped
/// findings file, so today's ContraVento passes the gate; a copy whose dates
/// are moved keeps the exit-0 check independent of the date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_post_deploy_script_uses_the_shipped_findings() {
    let (s, d, ca) = crate::common::tls_demo_with_ca(&["headers=as-committed"]).await;
    let o = smokeprobe::demo::DemoOptions::default();
    let reports = d.path().join("reports");
    let copy = write(d.path(), "copy.accepted.yaml", &shipped_until(90, None));
    let script = |extra: Vec<(&'static str, String)>| {
        let mut env: Vec<(String, String)> = vec![
            ("SMOKEPROBE".into(), BIN.into()),
            (
                "SMOKEPROBE_VARS".into(),
                format!(
                    "base={} http_base={} username={} allowed_origin={}",
                    s.base_url(),
                    s.http_url(),
                    o.username,
                    o.cors_origins[0]
                ),
            ),
            ("SMOKEPROBE_PASSWORD".into(), o.password.clone()),
            ("CA_FILE".into(), ca.clone()),
            (
                "FLOWS".into(),
                "security-headers upload-validation cors-login".into(),
            ),
            ("WAIT_HEALTHY".into(), "0".into()),
            ("SAMPLES".into(), "1".into()),
            ("REPORT_DIR".into(), reports.display().to_string()),
        ];
        env.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg(repo_file("scripts/post-deploy-check.sh"))
                .current_dir(repo_file(""))
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(env)
                .output()
                .expect("bash runs the script")
        })
    };
    let report = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap()
    };

    // The defaults: the shipped file, whatever its dates say today.
    let out = script(vec![]).await.unwrap();
    let (so, se) = text(&out);
    let r = report();
    assert_eq!(r["accepted"]["entries"], 9, "{so}\n{se}");
    let expired = r["accepted"]["expired"].as_array().unwrap().len();
    assert_eq!(
        out.status.code(),
        Some(i32::from(expired > 0)),
        "{so}\n{se}"
    );
    assert!(
        failed_rules(&r)
            .iter()
            .all(|(_, _, c)| c["accepted"]["entry"].is_string()),
        "{so}"
    );

    // Within its dates: exit 0. `none` turns the findings off: exit 1.
    let out = script(vec![
        ("PROBE_FILES", "probes/contravento.yaml".into()),
        ("ACCEPT_FILES", copy.display().to_string()),
    ])
    .await
    .unwrap();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(se.contains("post-deploy check: exit 0 (passed)"), "{se}");
    let out = script(vec![("ACCEPT_FILES", "none".into())]).await.unwrap();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    assert_eq!(report()["accepted"]["entries"], 0);
    s.stop().await;
}
