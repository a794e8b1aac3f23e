//! What a deployment gives away, judged against the demo target over real
//! HTTP(S) on loopback: the API description served in production
//! (`api_docs`), user enumeration by login timing (`login_timing`, which
//! never sends a wrong password for the real account), and error responses
//! of request steps held to the leak catalogue (`error-leak`: the upload that
//! answers 403 with a server file path).

use std::path::PathBuf;

use smokeprobe::config::load_sources;
use smokeprobe::demo::{DemoOptions, DemoServer, Faults, TlsMode};
use smokeprobe::flow::{CheckResult, FlowResult, Outcome, Reason, StepResult};

use crate::common::*;

/// The TLS demo target with `faults` (a login cost is one: `login-cost=300ms`).
async fn target(faults: &[&str]) -> DemoServer {
    demo_tls(Some(TlsMode::Valid), faults).await
}

fn faults(specs: &[&str]) -> Faults {
    let mut f = Faults::default();
    for spec in specs {
        f.apply_spec(spec).expect("valid fault spec");
    }
    f
}

fn plan_yaml(s: &DemoServer, flow_yaml: &str) -> String {
    let d = DemoOptions::default();
    format!(
        "vars:\n  base: {}\n  api: ${{base}}/api\n  username: {}\n  password: {{ secret: true }}\nflows:\n{flow_yaml}",
        s.base_url(),
        d.username,
    )
}

/// Runs the single flow of `flow_yaml` in-process with `password` as the
/// secret `password` (the process's credential guard is shared by runs).
async fn run_flow(s: &DemoServer, flow_yaml: &str, password: &str) -> FlowResult {
    let ca = s.ca_pem().into_iter().collect();
    run_first_flow("exposure.yaml", plan_yaml(s, flow_yaml), password, ca).await
}

fn only_step(r: &FlowResult) -> &StepResult {
    assert_eq!(r.steps.len(), 1, "{r:#?}");
    &r.steps[0]
}

/// The verdict of `rule` on a subject ending in `on`.
#[track_caller]
fn verdict<'a>(s: &'a StepResult, rule: &str, on: &str) -> &'a CheckResult {
    s.checks
        .iter()
        .find(|c| c.check == rule && c.on.as_deref().unwrap_or("").ends_with(on))
        .unwrap_or_else(|| panic!("no {rule} verdict on {on}: {:#?}", s.checks))
}

const API_DOCS: &str = r#"
  - name: docs
    steps:
      - name: api-description
        api_docs:
          base: ${api}
"#;

#[tokio::test]
async fn api_docs_warns_on_a_public_openapi_document_and_not_on_the_spa_fallback() {
    let s = target(&[]).await;

    // The contract: /openapi.json is public in production, /docs and /redoc are not.
    let r = run_flow(&s, API_DOCS, &DemoOptions::default().password).await;
    let st = only_step(&r);
    assert_eq!(st.kind, "api_docs");
    assert_eq!(
        st.outcome,
        Outcome::Passed,
        "a warning fails nothing: {st:#?}"
    );
    let openapi = verdict(st, "api-docs-public", "/api/openapi.json");
    assert!(openapi.is_warning(), "{openapi:#?}");
    assert!(
        openapi.actual.contains("OpenAPI 3.1.0"),
        "{}",
        openapi.actual
    );
    for path in ["/api/docs", "/api/redoc"] {
        let v = verdict(st, "api-docs-public", path);
        assert!(v.passed, "{v:#?}");
        assert_eq!(v.actual, "not served (404)");
    }

    // The frontend host answers every unknown path with index.html, 200
    // text/html: that is not an API description.
    let spa = API_DOCS.replace("base: ${api}", "base: ${base}");
    let r = run_flow(&s, &spa, &DemoOptions::default().password).await;
    let st = only_step(&r);
    assert_eq!(st.outcome, Outcome::Passed, "{st:#?}");
    for path in ["/openapi.json", "/docs", "/redoc"] {
        let v = verdict(st, "api-docs-public", path);
        assert!(v.passed, "{path} is the SPA's fallback, not docs: {v:#?}");
        assert!(
            v.actual.starts_with("not served (200 text/html") && v.actual.contains("fallback"),
            "{}",
            v.actual
        );
    }

    // FastAPI's docs pages left on: Swagger UI and ReDoc are recognised.
    s.set_faults(faults(&["docs-public"]));
    let r = run_flow(&s, API_DOCS, &DemoOptions::default().password).await;
    let st = only_step(&r);
    assert!(
        verdict(st, "api-docs-public", "/api/docs")
            .actual
            .contains("Swagger UI")
    );
    assert!(
        verdict(st, "api-docs-public", "/api/redoc")
            .actual
            .contains("ReDoc")
    );
    assert_eq!(st.warnings().count(), 3, "{st:#?}");

    // A debug-mode error page on /docs is not the docs; a backend that
    // answers nothing but 5xx gets no verdict at all.
    s.set_faults(faults(&["leak-errors"]));
    let r = run_flow(&s, API_DOCS, &DemoOptions::default().password).await;
    let st = only_step(&r);
    assert_eq!(st.outcome, Outcome::Passed, "{st:#?}");
    assert_eq!(
        verdict(st, "api-docs-public", "/api/docs").actual,
        "not served (500)"
    );
    s.set_faults(faults(&["error:/api=1:502"]));
    let r = run_flow(&s, API_DOCS, &DemoOptions::default().password).await;
    let st = only_step(&r);
    assert_eq!(st.outcome, Outcome::Failed, "{st:#?}");
    assert_eq!(st.reason, Some(Reason::Status));
    assert!(st.checks.is_empty(), "{st:#?}");
    let msg = st.message.as_deref().unwrap_or("");
    assert!(
        msg.starts_with("no verdict on the API description: ")
            && msg.ends_with("/api/openapi.json, /docs and /redoc all answered 502"),
        "{msg}"
    );
    s.set_faults(Faults::default());

    // `level: required` makes the finding fail the step.
    let required = API_DOCS.replace("base: ${api}", "base: ${api}\n          level: required");
    let r = run_flow(&s, &required, &DemoOptions::default().password).await;
    let st = only_step(&r);
    assert_eq!(st.outcome, Outcome::Failed, "{st:#?}");
    assert_eq!(st.reason, Some(Reason::Assertion));
    assert!(
        st.message
            .as_deref()
            .unwrap_or("")
            .contains("api-docs-public on /api/openapi.json"),
        "{:?}",
        st.message
    );
    s.stop().await;
}

const LOGIN_TIMING: &str = r#"
  - name: timing
    steps:
      - name: unknown-vs-real
        login_timing:
          url: ${api}/auth/login
          username: ${username}
          password: ${password}
          username_field: login
          samples: 3
          factor: 3
          floor: 20ms
"#;

/// An app that checks the password hash only for existing accounts
/// (300 ms, like bcrypt) answers unknown users at once: a finding, with the
/// correct password sent exactly three times and never a wrong one.
#[tokio::test]
async fn login_timing_warns_when_only_existing_accounts_pay_the_hash() {
    let d = DemoOptions::default();
    let s = target(&["login-cost=300ms"]).await;
    let r = run_flow(&s, LOGIN_TIMING, &d.password).await;
    let st = only_step(&r);
    assert_eq!(st.kind, "login_timing");
    assert_eq!(st.outcome, Outcome::Passed, "a warning: {st:#?}");
    let v = verdict(st, "login-timing", "POST /api/auth/login");
    assert!(v.is_warning(), "{v:#?}");
    for words in [
        "for an unknown user vs",
        "for the real login, 3 logins each (×",
        "tells which usernames exist",
    ] {
        assert!(v.actual.contains(words), "{words:?} in {}", v.actual);
    }
    assert!(
        v.expected.contains("not over ×3 and 20 ms apart"),
        "{}",
        v.expected
    );
    assert_eq!(s.login_attempts(&d.username), 3);
    assert_eq!(s.wrong_password_attempts(&d.username), 0);
    assert_eq!(s.failed_logins(&d.username), 0);
    s.stop().await;
}

/// The fixed app: unknown users pay the same cost, so the rule passes.
#[tokio::test]
async fn login_timing_passes_when_unknown_users_pay_the_same_cost() {
    let d = DemoOptions::default();
    let s = target(&["login-cost=300ms", "login-constant-time"]).await;
    let r = run_flow(&s, LOGIN_TIMING, &d.password).await;
    let st = only_step(&r);
    assert_eq!(st.outcome, Outcome::Passed, "{st:#?}");
    let v = verdict(st, "login-timing", "POST /api/auth/login");
    assert!(v.passed, "{v:#?}");
    assert!(v.actual.contains("3 logins each"), "{}", v.actual);
    assert_eq!(s.login_attempts(&d.username), 3);
    assert_eq!(s.wrong_password_attempts(&d.username), 0);
    s.stop().await;
}

/// A password the target refuses is sent once: the check fails with the
/// refusal and the next run does not send it again.
#[tokio::test]
async fn login_timing_sends_a_refused_password_once() {
    let d = DemoOptions::default();
    let s = target(&["login-cost=0ms"]).await;
    let wrong = format!("Wrong-{}!1", smokeprobe::builtins::random_alnum(8));
    let r = run_flow(&s, LOGIN_TIMING, &wrong).await;
    let st = only_step(&r);
    assert_eq!(st.outcome, Outcome::Failed, "{st:#?}");
    let msg = st.message.clone().unwrap_or_default();
    assert!(
        msg.contains("(real login) answered 401 INVALID_CREDENTIALS"),
        "{msg}"
    );
    assert!(!msg.contains(&wrong), "{msg}");
    let r = run_flow(&s, LOGIN_TIMING, &wrong).await;
    let msg = only_step(&r).message.clone().unwrap_or_default();
    assert!(
        msg.starts_with("not sent: `password` was refused (401 INVALID_CREDENTIALS to timing/unknown-vs-real at "),
        "{msg}"
    );
    assert_eq!(s.wrong_password_attempts(&d.username), 1);
    assert_eq!(s.login_attempts(&d.username), 1);
    s.stop().await;
}

/// The password must be a secret variable, or the credential guard would
/// not see it: refused before anything is sent.
#[test]
fn login_timing_refuses_a_password_that_is_not_a_secret_variable() {
    let yaml = "vars:\n  api: https://127.0.0.1:9/api\nflows:\n  - name: timing\n    steps:\n      - name: t\n        login_timing:\n          url: ${api}/auth/login\n          username: probe\n          password: Plain-Passw0rd!\n          samples: 2\n";
    let inputs = crate::common::inputs(&[]);
    let err = load_sources(&[(PathBuf::from("t.yaml"), yaml.into())], &inputs)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("t.yaml:10:21") && err.contains("`password` must come from a secret variable"),
        "{err}"
    );
    assert!(
        err.contains("t.yaml:11:20") && err.contains("`samples` must be from 3 to 20"),
        "{err}"
    );
}

/// The shipped probe file against the healthy demo (default faults, default
/// login cost): exit 0, and its only warnings are the two true findings the
/// contract implies — /openapi.json is public, and the login timing tells
/// which usernames exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_file_warns_about_public_openapi_and_login_timing() {
    let d = DemoOptions::default();
    let s = demo_tls(Some(TlsMode::Valid), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let reports = Reports::new();
    let mut args = contravento_args(&s, dir.path());
    args.extend(reports.args());
    let out = run(args, vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let mut warned = Vec::new();
    for f in reports.json()["flows"].as_array().unwrap() {
        for res in f["results"].as_array().unwrap() {
            for st in res["steps"].as_array().unwrap() {
                for c in st["checks"].as_array().into_iter().flatten() {
                    if c["passed"] == false && c["warning"] == true {
                        warned.push(format!(
                            "{}/{} {} {}",
                            f["flow"].as_str().unwrap(),
                            st["name"].as_str().unwrap(),
                            c["check"].as_str().unwrap(),
                            c["on"].as_str().unwrap_or("")
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(
        warned,
        [
            "api-docs/api-description api-docs-public /api/openapi.json",
            "login-timing/unknown-vs-real login-timing POST /api/auth/login",
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("⚠ api-docs-public on /api/openapi.json")
            && stdout.contains("⚠ login-timing on POST /api/auth/login"),
        "{stdout}"
    );
    assert_eq!(s.wrong_password_attempts(&d.username), 0);
    s.stop().await;
}

/// Read-only storage: the upload answers the real app's 403 with the server
/// file path in its message. The upload step fails for its status, and its
/// error response is an `error-leak` finding in the checklist and the JSON;
/// the trip is still deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_naming_a_server_path_is_an_error_leak_finding() {
    let s = demo_tls(Some(TlsMode::Valid), &["storage-readonly"]).await;
    let dir = tempfile::tempdir().unwrap();
    let reports = Reports::new();
    let mut args = contravento_args(&s, dir.path());
    args.extend(["--flow".into(), "trip-lifecycle".into()]);
    args.extend(reports.args());
    let out = run(args, vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let report = reports.json();
    let upload = &report["flows"][0]["results"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["name"] == "upload-photo")
        .cloned()
        .expect("upload-photo step");
    assert_eq!(upload["status"], 403, "{upload}");
    assert_eq!(upload["outcome"], "failed", "{upload}");
    assert_eq!(upload["reason"], "status", "{upload}");
    let leak = upload["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "error-leak")
        .unwrap_or_else(|| panic!("no error-leak verdict: {upload}"));
    assert_eq!(leak["passed"], false, "{leak}");
    assert_eq!(leak["warning"], true, "{leak}");
    let actual = leak["actual"].as_str().unwrap();
    assert!(
        actual.starts_with("os-error-path `[Errno 13] Permission denied: 'storage/trip_photos/"),
        "{actual}"
    );
    assert!(
        stdout.contains("⚠ error-leak: expected no stack trace, SQL, file path or debug page, got os-error-path `[Errno 13] Permission denied: 'storage/trip_photos/"),
        "{stdout}"
    );
    // The trip is still deleted; the draft-is-private 403 before it is clean.
    assert!(
        s.trips().iter().all(|t| !t.title.starts_with("[probe]")),
        "{:?}",
        s.trips()
    );
    let draft = report["flows"][0]["results"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["name"] == "draft-is-private")
        .cloned()
        .unwrap();
    let clean = draft["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "error-leak")
        .cloned()
        .unwrap_or_else(|| panic!("the expected 403 is judged too: {draft}"));
    assert_eq!(clean["passed"], true, "{clean}");
    assert_eq!(clean["actual"], "none", "{clean}");
    s.stop().await;
}
