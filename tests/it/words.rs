//! What the checklist and the JSON say when something fails (issue 15, "words
//! that mislead"): a failed check names the request that failed; CORS judges
//! headers and never a body; an outage is said once instead of as every rule
//! failing; an origin the probe file or the server allows explicitly is not
//! "any origin"; counted and listed failures agree; a refused credential has
//! its own reason; shortened JSON bodies keep the error's message.
//!
//! Targets are the in-process demo or a raw HTTP/1.1 server on loopback
//! whose answers each test writes byte by byte (an nginx whose backend is
//! down, a truncated body, a flood), so nothing depends on what the demo
//! happens to do today.

use std::path::PathBuf;
use std::sync::Arc;

use crate::common::*;
use crate::raw_http::{After, Reply, Req, Route, raw_server, reply};
use smokeprobe::config::{VarOverride, load_sources};
use smokeprobe::demo::DemoOptions;
use smokeprobe::flow::credentials::Guard;
use smokeprobe::flow::{CheckResult, FlowResult, Outcome, Runner, StepResult};
use smokeprobe::metrics::Metrics;
use smokeprobe::net::{HttpFactory, NetOptions};

/// A loopback URL nothing listens on (bound a moment ago, then closed).
fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// Security headers a hardened nginx adds to everything it serves itself.
const HARDENED: [(&str, &str); 6] = [
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'self'"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=()"),
];

fn with_hardened<'a>(more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h: Vec<(&str, &str)> = HARDENED.to_vec();
    h.extend_from_slice(more);
    h
}

/// nginx in front of a backend that is down: the SPA and its assets are
/// served, every `/api/*` request is nginx's own 502 page (no CORS headers).
fn nginx_backend_down() -> Route {
    Arc::new(|r: &Req| {
        if r.path.starts_with("/api/") {
            return reply(
                "502 Bad Gateway",
                &with_hardened(&[("Server", "nginx"), ("Content-Type", "text/html")]),
                NGINX_502.as_bytes(),
            );
        }
        match r.path.as_str() {
            "/" => reply(
                "200 OK",
                &with_hardened(&[("Content-Type", "text/html")]),
                b"<!doctype html><script type=module src=\"/assets/app.js\"></script>",
            ),
            "/assets/app.js" => reply(
                "200 OK",
                &with_hardened(&[("Content-Type", "application/javascript")]),
                b"app()",
            ),
            _ => reply(
                "404 Not Found",
                &with_hardened(&[("Content-Type", "text/html")]),
                b"<h1>404</h1>",
            ),
        }
    })
}

// ── Running flows ───────────────────────────────────────────────────────────

/// Runs every flow of `yaml` in-process, in order, with one in-memory
/// credential guard (`password` is a secret set to `password`).
async fn run_flows(yaml: &str, password: &str) -> Vec<FlowResult> {
    let overrides = vec![VarOverride {
        name: "password".into(),
        value: password.to_string(),
        secret: true,
    }];
    let inputs = crate::common::inputs(&overrides);
    let yaml = format!("vars:\n  password: {{ secret: true }}\n{yaml}");
    let plan = load_sources(&[(PathBuf::from("words.yaml"), yaml.clone())], &inputs)
        .unwrap_or_else(|e| panic!("probe file is valid:\n{e}\n{yaml}"));
    let http = HttpFactory::new(&NetOptions {
        user_agent: "smokeprobe-test".into(),
        ..NetOptions::default()
    })
    .expect("http factory");
    let runner = Runner::new(Arc::new(plan), http).with_guard(Arc::new(Guard::in_memory()));
    let mut out = Vec::new();
    for flow in runner.plan().flows.clone() {
        out.push(runner.run_flow(&flow, &()).await);
    }
    out
}

/// The one step of the one flow of `flows_yaml`.
async fn run_step(flows_yaml: &str) -> StepResult {
    let mut r = run_flows(flows_yaml, "unused-secret").await;
    assert_eq!(r.len(), 1);
    let mut f = r.remove(0);
    assert_eq!(f.steps.len(), 1, "{:?}", f.steps);
    f.steps.remove(0)
}

/// `once` on a probe file written to a temporary directory: (exit code,
/// console, JSON report).
async fn once(yaml: &str, extra: &[&str]) -> (i32, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.yaml");
    std::fs::write(&file, yaml).unwrap();
    let reports = Reports::new();
    let mut args = vec!["once".to_string(), file.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(reports.args());
    let out = run(args, vec![("NO_COLOR".into(), "1".into())]).await;
    let (stdout, stderr) = text(&out);
    let code = out.status.code().unwrap_or(-1);
    assert!(
        reports.json_path().exists(),
        "no JSON report (exit {code}):\n{stdout}\n{stderr}"
    );
    (code, stdout, reports.json())
}

fn failures(s: &StepResult) -> Vec<&CheckResult> {
    s.checks.iter().filter(|c| c.is_failure()).collect()
}

fn json_of(s: &StepResult) -> serde_json::Value {
    serde_json::to_value(s).unwrap()
}

/// The console lines of one step: its own line and the indented ones after it.
fn console_block<'a>(console: &'a str, step: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = console.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.starts_with("   ") && !l.starts_with("      ") && l.contains(&format!(" {step} "))
        })
        .unwrap_or_else(|| panic!("no step line for {step}:\n{console}"));
    let mut out = vec![lines[at]];
    out.extend(
        lines[at + 1..]
            .iter()
            .take_while(|l| l.starts_with("      ")),
    );
    out
}

// ── 1. A failed check names the request that failed ────────────────────────

#[tokio::test]
async fn a_failed_frontend_check_names_the_asset_that_failed() {
    let (base, task) = raw_server(Arc::new(|r: &Req| match r.path.as_str() {
        "/" => reply(
            "200 OK",
            &[("Content-Type", "text/html")],
            b"<!doctype html><script src=\"/a.js\"></script><script src=\"/b.js\"></script><link rel=stylesheet href=\"/c.css\">",
        ),
        "/a.js" | "/b.js" => reply("200 OK", &[("Content-Type", "text/javascript")], b"x()"),
        _ => reply("404 Not Found", &[("Content-Type", "text/plain")], b"nope"),
    }))
    .await;
    let yaml = format!(
        "flows:\n  - name: fe\n    steps:\n      - name: spa\n        frontend:\n          url: {base}/\n"
    );
    let s = run_step(&yaml).await;
    task.abort();
    assert_eq!(s.outcome, Outcome::Failed);
    // The step is the request that failed, not the page that was fine.
    assert_eq!(s.url, format!("{base}/c.css"), "{s:#?}");
    assert_eq!(s.status, Some(404), "{s:#?}");
    assert_eq!(s.method, "GET");
    let j = json_of(&s);
    assert_eq!(j["url"], format!("{base}/c.css"));
    assert_eq!(j["status"], 404);
    let f = failures(&s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].check, "asset-status");
    assert_eq!(f[0].on.as_deref(), Some("/c.css"));
}

#[tokio::test]
async fn a_security_headers_check_names_the_url_that_got_no_answer() {
    // The first URL answers without any security header (rule failures),
    // the second one cannot be reached at all.
    let (base, task) = raw_server(Arc::new(|_: &Req| {
        reply("200 OK", &[("Content-Type", "text/html")], b"<p>hi</p>")
    }))
    .await;
    let dead = format!("{}/health", closed_url());
    let yaml = format!(
        "flows:\n  - name: sec\n    steps:\n      - name: headers\n        security_headers:\n          profile: checklist\n          urls: [\"{base}/\", \"{dead}\"]\n"
    );
    let s = run_step(&yaml).await;
    assert_eq!(s.outcome, Outcome::Failed);
    assert_eq!(s.reason.map(|r| r.as_str()), Some("connect"), "{s:#?}");
    assert_eq!(s.url, dead, "{s:#?}");
    assert_eq!(s.status, None, "{s:#?}");
    let msg = s.message.clone().unwrap_or_default();
    assert!(msg.contains(&format!("GET {dead}")), "{msg}");

    // The checklist says it too, even though the first URL's rules failed.
    let (code, console, report) = once(&yaml, &[]).await;
    task.abort();
    assert_eq!(code, 1, "{console}");
    let block = console_block(&console, "headers");
    assert!(
        block[0].contains("---"),
        "no status for no answer: {block:?}"
    );
    assert!(
        block[1].contains("[connect]") && block[1].contains(&format!("GET {dead}")),
        "{block:?}"
    );
    let st = step(&report, "sec", "headers");
    assert_eq!(st["last_failure"]["url"], dead.as_str());
    assert_eq!(st["last_failure"]["reason"], "connect");
}

/// A CORS responder like Starlette's for one allowed origin.
fn starlette_cors(allowed: &'static str) -> impl Fn(&Req) -> Option<Reply> {
    move |r: &Req| {
        let origin = r.header("origin").unwrap_or("");
        let ok = origin == allowed;
        if r.method == "OPTIONS" {
            let mut h = vec![
                ("Vary", "Origin"),
                ("Access-Control-Allow-Credentials", "true"),
                (
                    "Access-Control-Allow-Methods",
                    "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
                ),
                (
                    "Access-Control-Allow-Headers",
                    "content-type, authorization",
                ),
                ("Content-Type", "text/plain"),
            ];
            if ok {
                h.push(("Access-Control-Allow-Origin", allowed));
                return Some(reply("200 OK", &h, b"OK"));
            }
            return Some(reply("400 Bad Request", &h, b"Disallowed CORS origin"));
        }
        None
    }
}

const ORIGIN: &str = "https://app.example";

fn cors_yaml(base: &str, simple: &str) -> String {
    format!(
        r#"flows:
  - name: cors
    steps:
      - name: preflight
        timeout: 3s
        cors:
          url: {base}/api/auth/login
          method: POST
          request_headers: [content-type, authorization]
          allowed_origins: ["{ORIGIN}"]
          credentials: true
          simple_request: {simple}
"#
    )
}

#[tokio::test]
async fn a_failed_cors_simple_request_is_named() {
    let cors = starlette_cors(ORIGIN);
    let (base, task) = raw_server(Arc::new(move |r: &Req| {
        cors(r).unwrap_or_else(|| reply("404 Not Found", &[], b""))
    }))
    .await;
    let simple = format!("{}/api/trips/public?limit=1", closed_url());
    let s = run_step(&cors_yaml(&base, &simple)).await;
    task.abort();
    assert_eq!(s.outcome, Outcome::Failed);
    assert_eq!(s.reason.map(|r| r.as_str()), Some("connect"), "{s:#?}");
    assert_eq!(s.url, simple, "{s:#?}");
    assert_eq!(s.status, None);
    let msg = s.message.clone().unwrap_or_default();
    assert!(msg.contains(&format!("GET {simple}")), "{msg}");
}

// ── 2. CORS judges headers only ─────────────────────────────────────────────

#[tokio::test]
async fn cors_never_judges_a_body() {
    let cors = starlette_cors(ORIGIN);
    let (base, task) = raw_server(Arc::new(move |r: &Req| {
        if let Some(p) = cors(r) {
            return p;
        }
        let origin = r.header("origin").unwrap_or("").to_string();
        let mut h: Vec<(&str, &str)> =
            vec![("Vary", "Origin"), ("Content-Type", "application/json")];
        let origin: &'static str = Box::leak(origin.into_boxed_str());
        if origin == ORIGIN {
            h.push(("Access-Control-Allow-Origin", origin));
            h.push(("Access-Control-Allow-Credentials", "true"));
        }
        match r.path.as_str() {
            "/feed/invalid-json" => reply("200 OK", &h, b"{\"trips\": [{\"trip_id\": "),
            "/feed/truncated" => {
                h.push(("Content-Length", "5000"));
                let mut r = reply("200 OK", &h, b"{\"trips\":[");
                r.after = After::Hold;
                r
            }
            "/feed/huge" => {
                h.push(("Content-Length", "50000000"));
                let mut r = reply("200 OK", &h, b"");
                r.after = After::Flood;
                r
            }
            "/feed/bad-gzip" => {
                h.push(("Content-Encoding", "gzip"));
                reply("200 OK", &h, b"this is not gzip at all")
            }
            _ => reply("404 Not Found", &[], b""),
        }
    }))
    .await;
    for feed in ["invalid-json", "truncated", "huge", "bad-gzip"] {
        let s = run_step(&cors_yaml(&base, &format!("{base}/feed/{feed}"))).await;
        assert_eq!(
            s.outcome,
            Outcome::Passed,
            "{feed}: {:?} {:?}\n{:#?}",
            s.reason,
            s.message,
            failures(&s)
        );
        // Both simple requests were judged on their headers.
        let judged = s
            .checks
            .iter()
            .filter(|c| c.on.as_deref().is_some_and(|o| o.starts_with("GET from")))
            .count();
        assert!(judged >= 2, "{feed}: {:#?}", s.checks);
        // Headers only: the flood was not downloaded.
        assert!(
            s.response_bytes < 1024 * 1024,
            "{feed}: {}",
            s.response_bytes
        );
    }
    task.abort();
}

// ── 3. An outage is said once ───────────────────────────────────────────────

fn outage_flows(base: &str) -> String {
    format!(
        r#"flows:
  - name: cors
    steps:
      - name: preflight
        cors:
          url: {base}/api/auth/login
          method: POST
          request_headers: [content-type, authorization]
          allowed_origins: ["{ORIGIN}"]
          credentials: true
          simple_request: {base}/api/trips/public?limit=1
  - name: headers
    steps:
      - name: site-headers
        security_headers:
          profile: checklist
          urls: ["{base}/", "{base}/api/health", "{base}/api/cycling-types"]
  - name: redirect
    steps:
      - name: http-to-https
        https_redirect:
          url: {base}/api/health
  - name: leaks
    steps:
      - name: bad-requests
        error_leaks:
          requests:
            - {{ url: "{base}/api/smokeprobe-no-such-path" }}
            - {{ url: "{base}/api/auth/login", method: POST, content_type: application/json, body: '{{"login": ' }}
  - name: frontend
    steps:
      - name: spa
        frontend:
          url: {base}/api/
"#
    )
}

fn step_of<'a>(r: &'a [FlowResult], flow: &str) -> &'a StepResult {
    &r.iter().find(|f| f.flow == flow).expect("flow").steps[0]
}

#[tokio::test]
async fn a_502_outage_is_one_failure_per_check_not_every_rule() {
    let (base, task) = raw_server(nginx_backend_down()).await;
    let yaml = outage_flows(&base);
    let r = run_flows(&yaml, "unused-secret").await;
    let expect = [
        (
            "cors",
            format!("no CORS answer: 502 Bad Gateway from OPTIONS {base}/api/auth/login"),
            "allow-origin",
        ),
        (
            "headers",
            format!("no page to judge the headers of: 502 Bad Gateway from GET {base}/api/health"),
            "/api/cycling-types",
        ),
        (
            "redirect",
            format!("no answer to judge the redirect: 502 Bad Gateway from GET {base}/api/health"),
            "permanent-redirect",
        ),
        (
            "leaks",
            format!(
                "no answer from the application: 502 Bad Gateway from GET {base}/api/smokeprobe-no-such-path"
            ),
            "POST /api/auth/login",
        ),
        (
            "frontend",
            format!("no page to judge: 502 Bad Gateway from GET {base}/api/"),
            "html",
        ),
    ];
    for (flow, message, not_judged) in &expect {
        let s = step_of(&r, flow);
        assert_eq!(s.outcome, Outcome::Failed, "{flow}");
        assert_eq!(
            s.reason.map(|r| r.as_str()),
            Some("status"),
            "{flow}: {s:#?}"
        );
        assert_eq!(s.message.as_deref(), Some(message.as_str()), "{flow}");
        assert_eq!(s.status, Some(502), "{flow}");
        // No rule failed: nothing was there to judge.
        assert!(failures(s).is_empty(), "{flow}: {:#?}", failures(s));
        let j = json_of(s);
        let nj: Vec<&str> = j["not_judged"]
            .as_array()
            .unwrap_or_else(|| panic!("{flow}: no not_judged in {j}"))
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(nj.contains(not_judged), "{flow}: {nj:?}");
    }
    // The SPA itself was judged, and passed.
    let h = step_of(&r, "headers");
    assert!(
        h.checks
            .iter()
            .any(|c| c.on.as_deref() == Some("/") && c.passed),
        "{:#?}",
        h.checks
    );

    // The checklist: one line per check, no rule list.
    let (code, console, _) = once(&yaml, &[]).await;
    task.abort();
    assert_eq!(code, 1, "{console}");
    for (flow, message, _) in &expect {
        let step = step_of(&r, flow).name.clone();
        let block = console_block(&console, &step);
        assert!(block[0].contains("502"), "{flow}: {block:?}");
        assert!(
            block[1].ends_with(&format!("[status] {message}")),
            "{flow}: {block:?}"
        );
        assert!(block[2].contains("not judged: "), "{flow}: {block:?}");
        assert!(!block.iter().any(|l| l.contains('✗')), "{flow}: {block:?}");
    }
}

#[tokio::test]
async fn a_check_that_gets_no_connection_says_so_once() {
    let dead = closed_url();
    let s = run_step(&cors_yaml(&dead, &format!("{dead}/feed"))).await;
    assert_eq!(s.reason.map(|r| r.as_str()), Some("connect"));
    let msg = s.message.clone().unwrap_or_default();
    assert!(
        msg.starts_with(&format!(
            "no CORS answer: OPTIONS {dead}/api/auth/login: connect to"
        )),
        "{msg}"
    );
    assert!(s.checks.is_empty(), "{:#?}", s.checks);
    let j = json_of(&s);
    assert!(
        j["not_judged"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "preflight-status")),
        "{j}"
    );
}

#[tokio::test]
async fn an_application_500_in_error_leaks_is_still_judged() {
    // A 500 is the application's own answer: a traceback in it is a leak.
    let (base, task) = raw_server(Arc::new(|_: &Req| {
        reply(
            "500 Internal Server Error",
            &[("Content-Type", "text/plain")],
            b"Traceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\nZeroDivisionError: division by zero",
        )
    }))
    .await;
    let yaml = format!(
        "flows:\n  - name: leaks\n    steps:\n      - name: bad\n        error_leaks:\n          requests:\n            - {{ url: \"{base}/api/x\" }}\n"
    );
    let s = run_step(&yaml).await;
    task.abort();
    assert_eq!(s.outcome, Outcome::Failed);
    assert_eq!(s.reason.map(|r| r.as_str()), Some("assertion"));
    assert!(
        failures(&s).iter().any(|c| c.check == "no-leaks"),
        "{:#?}",
        s.checks
    );
}

// ── 4. An explicitly allowed origin is not "any origin" ─────────────────────

#[tokio::test]
async fn an_explicitly_allowed_origin_is_never_called_an_echo_of_any_origin() {
    // The server's CORS_ORIGINS lists an http:// and a localhost origin
    // (dev origins left in production): a finding, but not "any origin".
    let server = demo_with(DemoOptions {
        cors_origins: vec![
            "https://contravento.example".into(),
            "http://contravento.example".into(),
            "http://localhost:3000".into(),
        ],
        ..DemoOptions::default()
    })
    .await;
    let api = server.api_url();
    let flow = |allowed: &str| {
        format!(
            r#"flows:
  - name: cors
    steps:
      - name: preflight
        cors:
          url: {api}/auth/login
          method: POST
          request_headers: [content-type, authorization]
          allowed_origins: [{allowed}]
          credentials: true
          production: true
"#
        )
    };
    let s = run_step(&flow("\"https://contravento.example\"")).await;
    assert_eq!(s.outcome, Outcome::Failed);
    for rule in ["http-origin-refused", "localhost-origin-refused"] {
        let v: Vec<&CheckResult> = s.checks.iter().filter(|c| c.check == rule).collect();
        assert_eq!(v.len(), 1, "{rule}: {:#?}", s.checks);
        assert!(!v[0].passed, "{rule}");
        assert!(
            !v[0].actual.contains("any origin"),
            "{rule}: {}",
            v[0].actual
        );
        assert!(v[0].actual.contains("allowed"), "{rule}: {}", v[0].actual);
    }
    assert!(
        s.checks
            .iter()
            .filter(|c| c.check == "foreign-origin-refused")
            .all(|c| c.passed),
        "{:#?}",
        s.checks
    );

    // The probe file allows the http:// origin itself (spelled as people
    // write it): it is sent as a browser would and judged as allowed, never
    // as a refused origin echoed back.
    let s = run_step(&flow(
        "\"https://contravento.example\", \"HTTP://ContraVento.example:80\"",
    ))
    .await;
    assert!(
        !s.checks.iter().any(|c| c.actual.contains("any origin")),
        "{:#?}",
        s.checks
    );
    assert!(
        !s.checks.iter().any(|c| c.check == "http-origin-refused"),
        "{:#?}",
        s.checks
    );
    let allow: Vec<&CheckResult> = s
        .checks
        .iter()
        .filter(|c| c.check == "allow-origin")
        .collect();
    assert_eq!(allow.len(), 2, "{:#?}", s.checks);
    assert!(allow.iter().all(|c| c.passed), "{allow:#?}");
    // Production still refuses a plain-http origin in the allow-list.
    assert!(
        s.checks
            .iter()
            .any(|c| c.check == "production-origin" && !c.passed),
        "{:#?}",
        s.checks
    );
    server.stop().await;
}

// ── 5. Counted and listed agree ─────────────────────────────────────────────

/// The number a failed check's detail line announces, and the failures
/// listed under it (`✗` lines, an "and N more" line counting N).
fn announced_and_listed(block: &[&str]) -> (usize, usize) {
    let detail = block[1];
    let after = detail.split("] ").nth(1).unwrap_or("");
    let announced: usize = after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {detail:?}"));
    let mut listed = 0;
    for l in &block[2..] {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("✗ and ") {
            listed += rest
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

#[tokio::test]
async fn the_count_of_failed_rules_matches_the_lines_listed() {
    // No security header at all on three URLs: the same failures on each
    // are one line each, with warnings and an accepted failure beside them.
    let (base, task) = raw_server(Arc::new(|_: &Req| {
        reply(
            "200 OK",
            &[("Content-Type", "text/html"), ("Server", "nginx/1.22.1")],
            b"<p>hi</p>",
        )
    }))
    .await;
    let yaml = format!(
        "flows:\n  - name: sec\n    steps:\n      - name: site-headers\n        security_headers:\n          profile: checklist\n          urls: [\"{base}/\", \"{base}/a\", \"{base}/b\"]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let accept = dir.path().join("accepted.yaml");
    std::fs::write(
        &accept,
        "version: 1\naccepted:\n  - flow: sec\n    step: site-headers\n    rule: hsts\n    reason: known\n    until: 2999-01-01\n",
    )
    .unwrap();
    let accept = accept.display().to_string();
    for extra in [vec![], vec!["--accept", accept.as_str()]] {
        let (code, console, report) = once(&yaml, &extra).await;
        assert_eq!(code, 1, "{console}");
        let block = console_block(&console, "site-headers");
        let (announced, listed) = announced_and_listed(&block);
        assert_eq!(announced, listed, "{extra:?}:\n{}", block.join("\n"));
        assert!(listed >= 2, "{block:?}");
        // The JSON message lists the same failures.
        let msg = step(&report, "sec", "site-headers")["last_failure"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        let in_json = msg.split("; ").filter(|p| !p.starts_with("and ")).count()
            + msg
                .split("; ")
                .filter_map(|p| p.strip_prefix("and "))
                .filter_map(|p| p.split(' ').next()?.parse::<usize>().ok())
                .sum::<usize>();
        assert_eq!(in_json, listed, "{msg}");
    }
    task.abort();
}

// ── 6. A refused credential has its own reason ──────────────────────────────

fn login_flows(api: &str, username: &str) -> String {
    let login = |flow: &str| {
        format!(
            r#"  - name: {flow}
    steps:
      - name: login
        method: POST
        url: {api}/auth/login
        json: {{ login: "{username}", password: "${{password}}" }}
        expect: {{ status: 200 }}
"#
        )
    };
    format!("flows:\n{}{}", login("first"), login("second"))
}

#[tokio::test]
async fn steps_after_a_refused_password_fail_with_reason_credential() {
    let server = demo(&[]).await;
    let d = DemoOptions::default();
    let yaml = login_flows(&server.api_url(), &d.username);
    let r = run_flows(&yaml, "Wrong-Passw0rd-9!").await;
    assert_eq!(server.wrong_password_attempts(&d.username), 1);
    let first = &r[0].steps[0];
    assert_eq!(first.reason.map(|r| r.as_str()), Some("status"));
    let second = &r[1].steps[0];
    assert_eq!(second.outcome, Outcome::Failed);
    assert_eq!(
        second.reason.map(|r| r.as_str()),
        Some("credential"),
        "{second:#?}"
    );
    let msg = second.message.clone().unwrap_or_default();
    assert!(msg.starts_with("not sent: `password` was refused"), "{msg}");
    assert_eq!(json_of(second)["reason"], "credential");

    // The failure-reason metric has the label.
    let plan = {
        let overrides = [VarOverride {
            name: "password".into(),
            value: "x".into(),
            secret: true,
        }];
        let inputs = crate::common::inputs(&overrides);
        load_sources(
            &[(
                PathBuf::from("words.yaml"),
                format!("vars:\n  password: {{ secret: true }}\n{yaml}"),
            )],
            &inputs,
        )
        .unwrap()
    };
    let m = Metrics::with_location(None);
    let flows: Vec<_> = plan.flows.iter().collect();
    m.configure(&flows);
    for (f, res) in plan.flows.iter().zip(r) {
        m.run_started(f, std::time::Duration::ZERO);
        m.run_finished(f, res);
    }
    let text = m.render();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("smokeprobe_step_failures_total{")
                && l.contains("flow=\"second\"")
                && l.contains("reason=\"credential\"")
        })
        .unwrap_or_else(|| panic!("no credential series:\n{text}"));
    assert!(line.ends_with(" 1"), "{line}");

    // The checklist keeps the explanation, under its own reason.
    let (_, console, _) = once(
        &format!("vars:\n  password: {{ secret: true }}\n{yaml}"),
        &["--secret", "password=Wrong-Passw0rd-8!"],
    )
    .await;
    let second = console
        .split("second")
        .nth(1)
        .unwrap_or_else(|| panic!("{console}"));
    assert!(
        second.contains("[credential] not sent: `password` was refused"),
        "{console}"
    );
    assert!(!console.contains("Wrong-Passw0rd"), "{console}");
    server.stop().await;
}

// ── 7. Shortened bodies keep the error's message ────────────────────────────

#[tokio::test]
async fn a_shortened_json_body_keeps_the_error_member() {
    let secret = "Sup3r-Secret-Value!";
    let body = format!(
        r#"{{"success":false,"data":{{"echo":"{}","trace_id":"0af7651916cd43dd8448eb211c80319c"}},"error":{{"code":"VALIDATION_ERROR","message":"El correo {secret} no es válido: dominio reservado","field":"email"}}}}"#,
        "ñ".repeat(150)
    );
    let (base, task) = raw_server(Arc::new(move |_: &Req| {
        reply(
            "400 Bad Request",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }))
    .await;
    let yaml = format!(
        r#"flows:
  - name: register
    steps:
      - name: register
        method: POST
        url: {base}/api/auth/register
        json: {{ email: "x@probe.invalid", password: "${{password}}" }}
        expect: {{ status: 201 }}
"#
    );
    let r = run_flows(&yaml, secret).await;
    let s = &r[0].steps[0];
    let msg = s.message.clone().unwrap_or_default();
    let shown = msg
        .split(" — body: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{msg}"));
    assert!(shown.contains(r#""code":"VALIDATION_ERROR""#), "{shown}");
    assert!(shown.contains(r#""field":"email""#), "{shown}");
    assert!(shown.contains("no es válido"), "{shown}");
    assert!(shown.contains(r#""success":false"#), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(
        shown.chars().count() <= 170,
        "{} chars: {shown}",
        shown.chars().count()
    );

    // The same in the JSON report and the checklist.
    let (_, console, report) = once(
        &format!("vars:\n  password: {{ secret: true }}\n{yaml}"),
        &["--secret", &format!("password={secret}")],
    )
    .await;
    task.abort();
    let m = step(&report, "register", "register")["last_failure"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains(r#""field":"email""#), "{m}");
    assert!(console.contains(r#""field":"email""#), "{console}");
    assert!(!console.contains(secret) && !m.contains(secret));
}
