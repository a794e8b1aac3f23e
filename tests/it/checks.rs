//! The built-in check kinds against the demo target over real HTTP and TLS on
//! loopback: each check passes on the correct (default) demo target and fails,
//! with the right per-rule verdict, on each injected misconfiguration.

use std::path::PathBuf;
use std::sync::Arc;

use smokeprobe::config::load_sources;
use smokeprobe::demo::{DemoOptions, DemoServer, Faults, TlsMode};
use smokeprobe::flow::{CheckResult, FlowResult, NotFetched, Outcome, Reason, Runner, StepResult};
use smokeprobe::net::{HttpFactory, NetOptions};

use crate::common::{CountingHost, demo_with, run_first_flow};

async fn tls_demo(mode: TlsMode, faults: &[&str]) -> DemoServer {
    let mut f = Faults::default();
    for spec in faults {
        f.apply_spec(spec).expect("valid fault spec");
    }
    demo_with(DemoOptions {
        tls: Some(mode),
        faults: f,
        ..DemoOptions::default()
    })
    .await
}

async fn demo(faults: &[&str]) -> DemoServer {
    tls_demo(TlsMode::Valid, faults).await
}

/// Runs the single flow of `yaml` (vars base/http_base/api/... point at `s`).
async fn run(s: &DemoServer, flow_yaml: &str) -> FlowResult {
    let d = DemoOptions::default();
    let yaml = format!(
        "vars:\n  base: {}\n  http_base: {}\n  api: ${{base}}/api\n  origin: {}\n  username: {}\n  password: {{ secret: true }}\nflows:\n{flow_yaml}",
        s.base_url(),
        s.http_url(),
        d.cors_origins[0],
        d.username,
    );
    let ca = s.ca_pem().into_iter().collect();
    run_first_flow("checks.yaml", yaml, &d.password, ca).await
}

fn step<'a>(r: &'a FlowResult, name: &str) -> &'a StepResult {
    r.steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

/// Verdicts of `rule` (optionally only those `on` containing `on`).
fn verdicts<'a>(s: &'a StepResult, rule: &str, on: Option<&str>) -> Vec<&'a CheckResult> {
    s.checks
        .iter()
        .filter(|c| c.check == rule && on.is_none_or(|o| c.on.as_deref().unwrap_or("").contains(o)))
        .collect()
}

fn failed_rules(s: &StepResult) -> Vec<String> {
    let mut v: Vec<String> = s
        .checks
        .iter()
        .filter(|c| c.is_failure())
        .map(|c| c.check.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn warned_rules(s: &StepResult) -> Vec<String> {
    let mut v: Vec<String> = s.warnings().map(|c| c.check.clone()).collect();
    v.sort();
    v.dedup();
    v
}

#[track_caller]
fn assert_passed(s: &StepResult) {
    assert_eq!(
        s.outcome,
        Outcome::Passed,
        "{} failed: {:?} {:?}\n{:#?}",
        s.name,
        s.reason,
        s.message,
        s.checks.iter().filter(|c| !c.passed).collect::<Vec<_>>()
    );
}

const CORS: &str = r#"
  - name: cors
    steps:
      - name: preflight
        cors:
          url: ${api}/auth/login
          method: POST
          request_headers: [content-type, authorization]
          allowed_origins: ["${origin}"]
          credentials: true
          simple_request: ${api}/trips/public?limit=1
"#;

#[tokio::test]
async fn cors_passes_on_starlette() {
    let s = demo(&[]).await;
    let r = run(&s, CORS).await;
    let st = step(&r, "preflight");
    assert_passed(st);
    assert_eq!(st.kind, "cors");
    for rule in [
        "preflight-status",
        "allow-origin",
        "allow-methods",
        "allow-headers",
        "allow-credentials",
        "vary-origin",
        "foreign-origin-refused",
        "http-origin-refused",
        "localhost-origin-refused",
    ] {
        assert!(!verdicts(st, rule, None).is_empty(), "rule {rule} ran");
    }
    // The simple GET was judged too, from the allowed and a foreign origin.
    assert_eq!(verdicts(st, "allow-origin", Some("GET from")).len(), 1);
    assert_eq!(
        verdicts(st, "foreign-origin-refused", Some("GET from")).len(),
        1
    );
}

#[tokio::test]
async fn cors_wildcard_with_credentials_fails() {
    let s = demo(&["cors=wildcard"]).await;
    let r = run(&s, CORS).await;
    let st = step(&r, "preflight");
    assert_eq!(st.outcome, Outcome::Failed);
    assert_eq!(st.reason, Some(Reason::Assertion));
    let rules = failed_rules(st);
    assert!(
        rules.contains(&"wildcard-with-credentials".into()),
        "{rules:?}"
    );
    assert!(rules.contains(&"allow-origin".into()), "{rules:?}");
    let foreign = verdicts(st, "foreign-origin-refused", Some("preflight"));
    assert!(foreign[0].actual.contains("every origin"), "{foreign:?}");
}

#[tokio::test]
async fn cors_echoing_any_origin_fails() {
    let s = demo(&["cors=echo-any"]).await;
    let r = run(&s, CORS).await;
    let st = step(&r, "preflight");
    assert_eq!(st.outcome, Outcome::Failed);
    let foreign = verdicts(st, "foreign-origin-refused", Some("preflight"));
    assert!(!foreign[0].passed);
    assert!(foreign[0].actual.contains("echoed"), "{foreign:?}");
    // The allowed origin itself is still fine.
    assert!(
        verdicts(st, "allow-origin", Some("preflight"))
            .iter()
            .all(|c| c.passed)
    );
    assert!(
        st.message
            .as_deref()
            .unwrap_or("")
            .contains("foreign-origin-refused")
    );
}

#[tokio::test]
async fn cors_dev_origins_in_production_fail() {
    let s = demo(&["cors=allow-http"]).await;
    let r = run(&s, CORS).await;
    let st = step(&r, "preflight");
    assert_eq!(st.outcome, Outcome::Failed);
    let rules = failed_rules(st);
    assert!(rules.contains(&"http-origin-refused".into()), "{rules:?}");
    assert!(
        rules.contains(&"localhost-origin-refused".into()),
        "{rules:?}"
    );
    assert!(
        !rules.contains(&"foreign-origin-refused".into()),
        "{rules:?}"
    );
    // Without production rules the same target passes.
    let r = run(
        &s,
        &CORS.replace(
            "credentials: true",
            "credentials: true\n          production: false",
        ),
    )
    .await;
    assert_passed(step(&r, "preflight"));
}

#[tokio::test]
async fn cors_production_rejects_a_localhost_allow_list_entry() {
    let s = demo(&[]).await;
    let yaml = CORS.replace(
        "[\"${origin}\"]",
        "[\"${origin}\", \"http://localhost:5173\"]",
    );
    let r = run(&s, &yaml).await;
    let st = step(&r, "preflight");
    let prod = verdicts(st, "production-origin", None);
    assert_eq!(prod.len(), 1, "{:?}", st.checks);
    assert!(prod[0].actual.contains("localhost"));
    // The demo does not allow it either, so its own preflight fails too.
    assert!(!verdicts(st, "allow-origin", Some("localhost:5173"))[0].passed);
}

fn headers_flow(profile: &str, urls: &[&str]) -> String {
    format!(
        "  - name: headers\n    steps:\n      - name: headers\n        security_headers:\n          profile: {profile}\n          urls: [{}]\n",
        urls.iter()
            .map(|u| format!("\"{u}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

const SITE: [&str; 3] = [
    "${base}/",
    "${api}/health",
    "${base}/assets/index-3f9a1c.js",
];

#[tokio::test]
async fn hardened_headers_pass_checklist_and_strict() {
    let s = demo(&[]).await;
    for profile in ["checklist", "strict"] {
        let r = run(&s, &headers_flow(profile, &SITE)).await;
        let st = step(&r, "headers");
        assert_passed(st);
        // Preload is a warning even in `strict`: it is a commitment, not a header.
        let want: &[&str] = if profile == "strict" {
            &["hsts-preload"]
        } else {
            &[]
        };
        assert_eq!(warned_rules(st), want, "{profile}");
        assert_eq!(verdicts(st, "hsts", None).len(), 3);
    }
}

#[tokio::test]
async fn committed_nginx_headers_fail_where_contravento_is_weak() {
    let s = demo(&["headers=as-committed"]).await;
    let r = run(&s, &headers_flow("checklist", &SITE)).await;
    let st = step(&r, "headers");
    assert_eq!(st.outcome, Outcome::Failed);
    // HSTS is missing everywhere, framing is SAMEORIGIN on the API and absent on the SPA.
    for on in ["/", "/api/health", "/assets/index-3f9a1c.js"] {
        let h = st
            .checks
            .iter()
            .find(|c| c.check == "hsts" && c.on.as_deref() == Some(on))
            .unwrap();
        assert!(h.is_failure() && h.actual == "missing", "{h:?}");
    }
    let api_xfo = verdicts(st, "frame-options", Some("/api/health"));
    assert_eq!(api_xfo[0].actual, "X-Frame-Options `SAMEORIGIN`");
    let spa_xfo = st
        .checks
        .iter()
        .find(|c| c.check == "frame-options" && c.on.as_deref() == Some("/"))
        .unwrap();
    assert!(spa_xfo.actual.starts_with("missing"), "{spa_xfo:?}");
    // nosniff is there on the API only.
    assert!(verdicts(st, "content-type-options", Some("/api/health"))[0].passed);
    assert!(!verdicts(st, "content-type-options", Some("/assets"))[0].passed);
    // Version leak and missing CSP are warnings in the checklist profile.
    let warned = warned_rules(st);
    assert!(warned.contains(&"server-version".into()), "{warned:?}");
    assert!(warned.contains(&"csp".into()), "{warned:?}");
    let msg = st.message.clone().unwrap_or_default();
    assert!(
        msg.contains("hsts on /, /api/health, /assets/index-3f9a1c.js"),
        "{msg}"
    );
}

#[tokio::test]
async fn each_header_fault_fails_its_rule() {
    // (fault, profile, rule, expected substring of `actual`, is a warning in that profile)
    let cases: [(&str, &str, &str, &str, bool); 7] = [
        ("hsts=missing", "checklist", "hsts", "missing", false),
        (
            "hsts=short",
            "checklist",
            "hsts",
            "max-age=86400 (too short)",
            false,
        ),
        (
            "xfo=sameorigin",
            "checklist",
            "frame-options",
            "SAMEORIGIN",
            false,
        ),
        (
            "csp=unsafe",
            "checklist",
            "csp-unsafe",
            "'unsafe-inline'",
            true,
        ),
        ("csp=unsafe", "strict", "csp-unsafe", "'unsafe-eval'", false),
        (
            "server-version",
            "checklist",
            "server-version",
            "nginx/1.22.1",
            true,
        ),
        (
            "insecure-cookie",
            "strict",
            "cookie-secure",
            "cv_lang",
            false,
        ),
    ];
    for (fault, profile, rule, actual, warning) in cases {
        let s = demo(&[fault]).await;
        let r = run(&s, &headers_flow(profile, &["${base}/"])).await;
        let st = step(&r, "headers");
        let v = verdicts(st, rule, Some("/"));
        assert!(!v.is_empty(), "{fault}: rule {rule} did not run");
        assert!(!v[0].passed, "{fault}: {rule} passed");
        assert_eq!(v[0].warning, warning, "{fault}: {rule}");
        assert!(v[0].actual.contains(actual), "{fault}: {:?}", v[0]);
        let expect = if warning {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        assert_eq!(st.outcome, expect, "{fault} {profile}: {:?}", st.message);
        s.stop().await;
    }
}

#[tokio::test]
async fn no_security_headers_fails_every_required_rule() {
    let s = demo(&["no-security-headers"]).await;
    let r = run(&s, &headers_flow("checklist", &["${base}/"])).await;
    let st = step(&r, "headers");
    assert_eq!(
        failed_rules(st),
        ["content-type-options", "frame-options", "hsts"]
    );
}

const REDIRECT: &str = r#"
  - name: redirect
    steps:
      - name: http-to-https
        https_redirect:
          url: ${http_base}/trips/public?page=1
"#;

#[tokio::test]
async fn https_redirect_passes_and_reports_the_chain() {
    let s = demo(&[]).await;
    let r = run(&s, REDIRECT).await;
    let st = step(&r, "http-to-https");
    assert_passed(st);
    assert_eq!(st.status, Some(301));
    assert_eq!(
        st.redirects,
        [format!("{}/trips/public?page=1", s.base_url())]
    );
}

#[tokio::test]
async fn https_redirect_faults_fail_their_rule() {
    for (fault, rule, actual) in [
        ("redirect=none", "permanent-redirect", "no redirect"),
        (
            "redirect=302",
            "permanent-redirect",
            "302 (a temporary redirect)",
        ),
        ("redirect=root", "same-path", "path /"),
    ] {
        let s = demo(&[fault]).await;
        let r = run(&s, REDIRECT).await;
        let st = step(&r, "http-to-https");
        assert_eq!(st.outcome, Outcome::Failed, "{fault}");
        assert_eq!(st.reason, Some(Reason::Redirect), "{fault}");
        let v = verdicts(st, rule, None);
        assert!(
            !v[0].passed && v[0].actual.contains(actual),
            "{fault}: {v:?}"
        );
        s.stop().await;
    }
}

const TLS: &str = r#"
  - name: tls
    steps:
      - name: certificate
        tls:
          url: ${base}
          min_days: 14
"#;

#[tokio::test]
async fn tls_valid_certificate_passes_with_its_details() {
    let s = tls_demo(TlsMode::Valid, &[]).await;
    let r = run(&s, TLS).await;
    let st = step(&r, "certificate");
    assert_passed(st);
    let t = st.tls.as_ref().expect("certificate details");
    assert!((88.0..=91.0).contains(&t.days_left), "{}", t.days_left);
    assert!(t.sans.iter().any(|n| n == "127.0.0.1"), "{:?}", t.sans);
    assert_eq!(t.chain_length, 2);
    assert!(t.protocol.starts_with("TLSv1."), "{}", t.protocol);
}

#[tokio::test]
async fn tls_problems_fail_with_reason_tls_and_say_which() {
    for (mode, rule, text) in [
        (
            TlsMode::ExpiringSoon,
            "days-left",
            "below the 14-day threshold",
        ),
        (TlsMode::Expired, "certificate-valid", "expired"),
        (TlsMode::SelfSigned, "certificate-valid", "self-signed"),
        (
            TlsMode::WrongHost,
            "certificate-valid",
            "wrong-host.invalid",
        ),
    ] {
        let s = tls_demo(mode, &[]).await;
        let r = run(&s, TLS).await;
        let st = step(&r, "certificate");
        assert_eq!(st.outcome, Outcome::Failed, "{mode:?}");
        assert_eq!(st.reason, Some(Reason::Tls), "{mode:?}");
        let v = verdicts(st, rule, None);
        assert!(!v.is_empty() && !v[0].passed, "{mode:?}: {:?}", st.checks);
        let msg = st.message.clone().unwrap_or_default();
        assert!(msg.contains(text), "{mode:?}: {msg}");
        s.stop().await;
    }
}

const LEAKS: &str = r#"
  - name: leaks
    steps:
      - name: bad-requests
        error_leaks:
          requests:
            - { url: "${api}/smokeprobe-missing-${random:6}" }
            - { url: "${api}/auth/login", method: POST, content_type: application/json, body: '{"login": ' }
            - { url: "${api}/health", method: PUT }
"#;

#[tokio::test]
async fn error_leaks_pass_on_clean_errors_and_fail_on_tracebacks() {
    let s = demo(&[]).await;
    let r = run(&s, LEAKS).await;
    let st = step(&r, "bad-requests");
    assert_passed(st);
    assert_eq!(verdicts(st, "no-leaks", None).len(), 3);
    assert!(verdicts(st, "error-status", None).iter().all(|c| c.passed));

    s.set_faults({
        let mut f = Faults::default();
        f.apply_spec("leak-errors").unwrap();
        f
    });
    let r = run(&s, LEAKS).await;
    let st = step(&r, "bad-requests");
    assert_eq!(st.outcome, Outcome::Failed);
    let leaks = verdicts(st, "no-leaks", None);
    assert!(leaks.iter().all(|c| !c.passed), "{leaks:?}");
    assert!(
        leaks[0].actual.contains("python-traceback"),
        "{:?}",
        leaks[0]
    );
    // 500s for client mistakes are reported, as warnings.
    assert!(
        verdicts(st, "error-status", None)
            .iter()
            .all(|c| c.is_warning())
    );
}

const FRONTEND: &str = r#"
  - name: frontend
    steps:
      - name: bundle
        frontend:
          url: ${base}/
          max_total: 1.5MB
          max_total_compressed: 500KB
"#;

#[tokio::test]
async fn frontend_passes_on_the_demo_spa() {
    let s = demo(&[]).await;
    let r = run(&s, FRONTEND).await;
    let st = step(&r, "bundle");
    assert_passed(st);
    assert_eq!(
        verdicts(st, "asset-status", None).len(),
        2,
        "{:?}",
        st.checks
    );
    assert_eq!(verdicts(st, "no-source-map", None).len(), 2);
}

#[tokio::test]
async fn frontend_faults_fail_their_rule() {
    for (fault, rule) in [
        ("source-maps", "no-source-map"),
        ("big-bundle", "bundle-size"),
        ("big-bundle", "bundle-size-compressed"),
    ] {
        let s = demo(&[fault]).await;
        let r = run(&s, FRONTEND).await;
        let st = step(&r, "bundle");
        assert_eq!(st.outcome, Outcome::Failed, "{fault}");
        assert!(
            failed_rules(st).contains(&rule.to_string()),
            "{fault}: {:?}",
            failed_rules(st)
        );
        s.stop().await;
    }
    let s = demo(&["big-bundle", "no-gzip"]).await;
    let r = run(&s, FRONTEND).await;
    let st = step(&r, "bundle");
    let c = verdicts(st, "compression", Some(".js"));
    assert!(
        c[0].is_failure() && c[0].actual.starts_with("uncompressed"),
        "{c:?}"
    );
}

/// The TLS demo whose `index.html` links `fonts` (a loopback stand-in for
/// Google Fonts under another host name) before its own stylesheet.
async fn demo_linking(fonts: &CountingHost, faults: &[&str]) -> DemoServer {
    let mut f = Faults::default();
    for spec in faults {
        f.apply_spec(spec).expect("valid fault spec");
    }
    demo_with(DemoOptions {
        tls: Some(TlsMode::Valid),
        faults: f,
        fonts_url: fonts.fonts_url(),
        ..DemoOptions::default()
    })
    .await
}

fn ons<'a>(s: &'a StepResult, rule: &str) -> Vec<&'a str> {
    verdicts(s, rule, None)
        .iter()
        .map(|c| c.on.as_deref().unwrap_or(""))
        .collect()
}

const OWN_JS: &str = "/assets/index-3f9a1c.js";
const OWN_CSS: &str = "/assets/index-8b2e4d.css";

#[tokio::test]
async fn frontend_lists_a_third_party_stylesheet_and_never_fetches_it() {
    // 50 KB of third-party CSS would break both 20 KB budgets if it counted
    // (the site's own script and stylesheet are ~7 KB, ~3 KB gzipped).
    let fonts = CountingHost::start(50_000).await;
    let s = demo_linking(&fonts, &[]).await;
    let r = run(
        &s,
        r#"
  - name: frontend
    steps:
      - name: bundle
        frontend:
          url: ${base}/
          max_total: 20KB
          max_total_compressed: 20KB
"#,
    )
    .await;
    let st = step(&r, "bundle");
    assert_eq!(
        fonts.requests(),
        Vec::<String>::new(),
        "the third party was contacted"
    );
    assert_passed(st);
    assert_eq!(
        st.not_fetched,
        vec![NotFetched {
            url: fonts.fonts_url(),
            kind: "stylesheet",
            reason: "third-party",
        }]
    );
    assert_eq!(ons(st, "asset-status"), [OWN_JS, OWN_CSS]);
    assert_eq!(ons(st, "no-source-map"), [OWN_JS, OWN_CSS]);
    for rule in ["bundle-size", "bundle-size-compressed"] {
        let b = verdicts(st, rule, None);
        assert_eq!(b.len(), 1, "{rule}");
        assert!(b[0].passed, "{rule}: {:?}", b[0]);
        assert_eq!(b[0].on.as_deref(), Some("2 asset(s)"), "{rule}");
    }
    // The JSON report carries the list.
    let json = serde_json::to_value(st).unwrap();
    assert_eq!(
        json["not_fetched"],
        serde_json::json!([{ "url": fonts.fonts_url(), "kind": "stylesheet", "reason": "third-party" }])
    );
}

#[tokio::test]
async fn security_headers_assets_judge_the_sites_own_stylesheet() {
    let fonts = CountingHost::start(100).await;
    let flow = r#"
  - name: headers
    steps:
      - name: headers
        security_headers:
          profile: checklist
          assets: true
          urls: ["${base}/"]
"#;
    let s = demo_linking(&fonts, &[]).await;
    let r = run(&s, flow).await;
    let st = step(&r, "headers");
    assert_passed(st);
    assert_eq!(ons(st, "hsts"), ["/", OWN_JS, OWN_CSS]);
    let json = serde_json::to_value(st).unwrap();
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "content-type-options" && c["on"] == OWN_CSS),
        "{json:#}"
    );
    assert_eq!(st.not_fetched.len(), 1, "{:?}", st.not_fetched);
    assert_eq!(st.not_fetched[0].url, fonts.fonts_url());
    // As committed, nginx's asset `location` drops HSTS: the own stylesheet says so.
    let s = demo_linking(&fonts, &["headers=as-committed"]).await;
    let r = run(&s, flow).await;
    let st = step(&r, "headers");
    let css = verdicts(st, "hsts", Some(OWN_CSS));
    assert_eq!(css.len(), 1, "{:?}", st.checks);
    assert!(
        css[0].is_failure() && css[0].actual == "missing",
        "{:?}",
        css[0]
    );
    assert_eq!(
        fonts.requests(),
        Vec::<String>::new(),
        "the third party was contacted"
    );
}

#[tokio::test]
async fn an_opted_in_third_party_host_is_fetched_and_judged_like_the_sites_own() {
    // Under 1 KiB: no compression is required of it.
    let fonts = CountingHost::start(800).await;
    let s = demo_linking(&fonts, &[]).await;
    let fonts_url = fonts.fonts_url();
    let r = run(
        &s,
        r#"
  - name: frontend
    steps:
      - name: bundle
        frontend:
          url: ${base}/
          max_total: 20KB
          third_party: [LOCALHOST]
"#,
    )
    .await;
    let st = step(&r, "bundle");
    assert_passed(st);
    // The stylesheet, then its source map (404: not served).
    assert_eq!(
        fonts.requests(),
        ["GET /css2?family=Inter", "GET /css2.map"]
    );
    assert!(st.not_fetched.is_empty(), "{:?}", st.not_fetched);
    // Opted-in assets are named by their whole URL.
    assert_eq!(
        ons(st, "asset-status"),
        [fonts_url.as_str(), OWN_JS, OWN_CSS]
    );
    assert_eq!(ons(st, "asset-type"), [fonts_url.as_str(), OWN_JS, OWN_CSS]);
    assert_eq!(
        ons(st, "no-source-map"),
        [fonts_url.as_str(), OWN_JS, OWN_CSS]
    );
    let b = verdicts(st, "bundle-size", None);
    assert_eq!(b[0].on.as_deref(), Some("3 asset(s)"));

    // security_headers: the first stylesheet from an own or opted-in host is
    // the opted-in one; the own script is still the first script.
    let r = run(
        &s,
        r#"
  - name: headers
    steps:
      - name: headers
        security_headers:
          assets: true
          third_party: [localhost]
          urls: ["${base}/"]
"#,
    )
    .await;
    let st = step(&r, "headers");
    assert_eq!(ons(st, "hsts"), ["/", fonts_url.as_str(), OWN_JS]);
    assert!(verdicts(st, "hsts", Some(&fonts_url))[0].is_failure());
    assert!(st.not_fetched.is_empty(), "{:?}", st.not_fetched);
    assert_eq!(
        fonts.requests(),
        [
            "GET /css2?family=Inter",
            "GET /css2.map",
            "GET /css2?family=Inter"
        ]
    );
}

const UPLOADS: &str = r#"
  - name: uploads
    steps:
      - name: login
        method: POST
        url: ${api}/auth/login
        json: { login: "${username}", password: "${password}" }
        capture:
          token: { json: $.data.access_token, secret: true }
      - name: create-trip
        method: POST
        url: ${api}/trips
        headers: { authorization: "Bearer ${token}" }
        json: { title: "[probe] uploads", description: "Synthetic trip created by the smokeprobe test suite, deleted at once.", start_date: "${yesterday}" }
        expect: { status: 201 }
        capture:
          trip_id: { json: $.data.trip_id }
      - name: non-image-as-png
        method: POST
        url: ${api}/trips/${trip_id}/photos
        headers: { authorization: "Bearer ${token}" }
        multipart:
          - { name: photo, value: "not an image", filename: probe.png, content_type: image/png }
        expect: { status: 400 }
      - name: delete-trip
        always: true
        method: DELETE
        url: ${api}/trips/${trip_id}
        headers: { authorization: "Bearer ${token}" }
        expect: { status: 200 }
"#;

#[tokio::test]
async fn upload_that_trusts_the_declared_type_fails_and_the_trip_is_still_deleted() {
    let s = demo(&[]).await;
    let r = run(&s, UPLOADS).await;
    assert_eq!(r.outcome, Outcome::Passed, "{:?}", r.steps);
    let s2 = demo(&["upload-trusts-type"]).await;
    let r = run(&s2, UPLOADS).await;
    let st = step(&r, "non-image-as-png");
    assert_eq!(st.outcome, Outcome::Failed);
    assert_eq!(st.status, Some(201));
    assert_passed(step(&r, "delete-trip"));
    let left: Vec<_> = s2
        .trips()
        .into_iter()
        .filter(|t| t.title.starts_with("[probe]"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A raw HTTP/1.1 server that answers every request with `head` (status line
/// and headers, verbatim bytes) and a 2-byte body, on loopback.
async fn raw_server(head: Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
    let mut bytes = head;
    bytes.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    crate::raw_http::raw_server(std::sync::Arc::new(move |_: &crate::raw_http::Req| {
        crate::raw_http::Reply {
            bytes: bytes.clone(),
            after: crate::raw_http::After::KeepAlive,
        }
    }))
    .await
}

#[tokio::test]
async fn hostile_header_values_give_verdicts_not_panics() {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    head.extend_from_slice(b"Strict-Transport-Security: max-age=\xff\xfe\r\n");
    head.extend_from_slice(b"Strict-Transport-Security: max-age=31536000\r\n");
    head.extend_from_slice(b"X-Frame-Options: DENY\r\nX-Frame-Options: SAMEORIGIN\r\n");
    head.extend_from_slice(b"X-Content-Type-Options: \xe9\xe9nosniff\r\n");
    head.extend_from_slice(b"Access-Control-Allow-Origin: \xe9\xe9\r\n");
    head.extend_from_slice(b"Access-Control-Allow-Origin: *\r\n");
    head.extend_from_slice(b"Access-Control-Allow-Credentials: true\r\n");
    head.extend_from_slice(b"Set-Cookie: \x80=\x81; Secure\r\n");
    head.extend_from_slice(b"Content-Security-Policy: ");
    head.extend(std::iter::repeat_n(b'a', 60_000));
    head.extend_from_slice(b"\r\n");
    for i in 0..50 {
        head.extend_from_slice(format!("Vary: Origin{i}\r\n").as_bytes());
    }
    let (base, task) = raw_server(head).await;
    let yaml = format!(
        r#"
flows:
  - name: hostile
    steps:
      - name: headers
        security_headers:
          profile: strict
          urls: ["{base}/"]
      - name: cors
        always: true
        cors:
          url: {base}/api
          method: PUT
          request_headers: [authorization]
          allowed_origins: ["https://app.example.com"]
          credentials: true
          simple_request: {base}/
"#
    );
    let inputs = crate::common::inputs(&[]);
    let plan = load_sources(&[(PathBuf::from("hostile.yaml"), yaml)], &inputs).unwrap();
    let http = HttpFactory::new(&NetOptions::default()).unwrap();
    let runner = Runner::new(Arc::new(plan), http);
    let flow = runner.plan().flows[0].clone();
    let r = runner.run_flow(&flow, &()).await;
    task.abort();

    let h = step(&r, "headers");
    assert_eq!(h.outcome, Outcome::Failed);
    assert_eq!(h.reason, Some(Reason::Assertion), "{:?}", h.message);
    // The first HSTS header counts (browsers ignore the rest) and it is invalid.
    let hsts = &verdicts(h, "hsts", None)[0];
    assert!(hsts.actual.contains("no valid max-age"), "{hsts:?}");
    assert!(
        verdicts(h, "frame-options", None)[0]
            .actual
            .contains("2 conflicting"),
    );
    assert!(!verdicts(h, "content-type-options", None)[0].passed);
    // The 60 KB CSP is shown shortened.
    let csp = &verdicts(h, "csp", None)[0];
    assert!(csp.actual.chars().count() < 120, "{}", csp.actual.len());
    assert!(!verdicts(h, "cookie-httponly", None)[0].passed);

    let c = step(&r, "cors");
    assert_eq!(c.outcome, Outcome::Failed);
    let rules = failed_rules(c);
    assert!(rules.contains(&"allow-origin".into()), "{rules:?}");
    assert!(rules.contains(&"allow-methods".into()), "{rules:?}");
    // Every verdict's text is one printable line.
    for v in h.checks.iter().chain(c.checks.iter()) {
        assert!(!v.actual.chars().any(|ch| ch.is_control()), "{v:?}");
    }
}

#[tokio::test]
async fn a_dot_dot_file_name_never_reaches_the_stored_url() {
    let yaml = UPLOADS.replace(
        r#"          - { name: photo, value: "not an image", filename: probe.png, content_type: image/png }
        expect: { status: 400 }"#,
        r#"          - { name: photo, image: { format: png, size: 4KB }, filename: "../../../etc/smokeprobe.png", content_type: image/png }
        expect:
          status: [201, 400]
          body_not_contains: ["../", "etc/smokeprobe"]"#,
    );
    assert_ne!(yaml, UPLOADS);
    // The real backend stores its own name: accepted, sanitised.
    let s = demo(&[]).await;
    let r = run(&s, &yaml).await;
    let st = step(&r, "non-image-as-png");
    assert_passed(st);
    assert_eq!(st.status, Some(201));
    // A backend that keeps the client's name fails, and the trip is still deleted.
    let s = demo(&["upload-trusts-type"]).await;
    let r = run(&s, &yaml).await;
    let st = step(&r, "non-image-as-png");
    assert_eq!(st.outcome, Outcome::Failed);
    assert!(
        st.message
            .as_deref()
            .unwrap_or("")
            .contains("../../../etc/smokeprobe.png"),
        "{:?}",
        st.message
    );
    assert_passed(step(&r, "delete-trip"));
}
