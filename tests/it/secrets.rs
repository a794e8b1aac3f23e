//! Canary secrets, given through every channel the probe has — `--secret
//! name=value` on the command line, `--secret name=${env:…}`, a `secret: true`
//! variable valued `${env:…}`, a `secret: true` variable filled from
//! `SMOKEPROBE_VAR_…`, `${env:…}` right in a step, `${file:…}`, a captured
//! token, a captured cookie and the Pushgateway's password in `--pushgateway` —
//! and every token the target handed out never appear in anything the probe
//! writes: `once`'s stdout and stderr (text and JSON logs at trace), its JSON
//! and JUnit reports, its saved baseline, what it pushed to a real
//! Pushgateway, `check`'s output, and `run`'s stdout, logs (both formats),
//! `/metrics` and status page (`/`, its refresh fragment and `/api/status`) — not whole, not JSON-escaped, not XML-escaped, not
//! percent-encoded, not as a 12-character piece of any of those. The steps fail
//! on purpose so that URLs, redirect chains, expected values and response
//! bodies carrying the secrets are printed; a non-secret control value next to
//! them is printed in the clear, which proves the scans look at text that does
//! carry the values.

use std::time::Duration;

use smokeprobe::demo::{DemoOptions, DemoServer, Faults};

use crate::common::*;
use crate::pushgateway::start_pushgateway;
use crate::run::{sample, start_run};

/// The value the demo's `insecure-cookie` fault sets on the SPA HTML: the
/// probe captures it as a secret and sends it back in a `cookie:` header.
const DEMO_COOKIE: &str = "cv_lang=es; Path=/";

const CONTROL: &str = "control-value-not-secret";

/// `{file}` is the absolute path of the file secret.
const PROBE: &str = r#"
version: 1
target: canary
vars:
  base: https://127.0.0.1:9
  http_base: http://127.0.0.1:9
  authority: 127.0.0.1:9
  username: probe
  # --secret password=<literal> (the demo target's password: the login proves it was sent)
  password: { secret: true }
  # --secret cli_env=${env:CANARY_CLI_ENV}
  cli_env: { secret: true }
  env_pw: { value: "${env:CANARY_ENV}", secret: true }
  # SMOKEPROBE_VAR_API_KEY
  api_key: { secret: true }
  visible: control-value-not-secret
  # Long enough that the expected text of `secret-cut` is shortened inside the password.
  pad: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
flows:
  - name: leaky
    interval: 300ms
    steps:
      - name: login
        method: POST
        url: ${base}/api/auth/login
        json: { login: "${username}", password: "${password}" }
        expect: { status: 200 }
        capture:
          token: { json: $.data.access_token, secret: true }
      - name: cookie
        url: ${base}/
        headers: { authorization: "Bearer ${token}" }
        capture:
          cookie: { header: set-cookie, secret: true }
      # Fails on purpose: its URL carries every secret and the control value.
      - name: secret-in-url
        url: ${base}/api/health
        query: { pw: "${password}", ce: "${cli_env}", e: "${env_pw}", k: "${api_key}", f: "${file:{file}}", ie: "${env:CANARY_INLINE_ENV}", t: "${token}", ck: "${cookie}", c: "${visible}" }
        headers: { authorization: "Bearer ${token}", cookie: "${cookie}", x-api-key: "${api_key}", x-file: "${file:{file}}" }
        expect: { status: 201 }
      # Fails on purpose over plain HTTP: the redirect chain carries them too.
      - name: secret-in-redirect
        always: true
        url: ${http_base}/api/health
        follow_redirects: 2
        query: { pw: "${password}", ce: "${cli_env}", e: "${env_pw}", k: "${api_key}", f: "${file:{file}}", ie: "${env:CANARY_INLINE_ENV}", t: "${token}", ck: "${cookie}", c: "${visible}" }
        expect: { status: 201 }
      # Fails on purpose: a password in the URL itself (sent as Basic auth).
      - name: secret-in-userinfo
        always: true
        url: https://probe:${cli_env}@${authority}/api/health
        expect: { status: 201 }
      # Fails on purpose: every assertion expects a secret.
      - name: secret-expected
        always: true
        url: ${base}/api/health
        headers: { cookie: "${cookie}" }
        expect:
          status: 200
          body_contains: ["${env_pw}"]
          json:
            - { path: $.data.status, equals: "${cli_env}" }
            - { path: $.data.status, equals: "${api_key}" }
            - { path: $.data.status, equals: "${token}" }
            - { path: $.data.status, equals: "${file:{file}}" }
            - { path: $.data.status, equals: "${visible}" }
          headers: { x-nope: { equals: "${cookie}" } }
      # Fails on purpose: shown, its expected text is cut inside the password.
      - name: secret-cut
        always: true
        url: ${base}/api/health
        expect: { body_contains: ["${pad}${password}"] }
      # Fails on purpose: the new token is shown as the actual value, in the
      # step whose secret capture therefore never happens.
      - name: token-in-body
        always: true
        method: POST
        url: ${base}/api/auth/login
        json: { login: "${username}", password: "${password}" }
        expect:
          status: 200
          json:
            - { path: $.data.access_token, equals: "not-the-token" }
        capture:
          token2: { json: $.data.access_token, secret: true }
      # Fails on purpose: the body shown holds an access and a refresh token
      # that the probe file never declared.
      - name: tokens-in-status-body
        always: true
        method: POST
        url: ${base}/api/auth/login
        json: { login: "${username}", password: "${password}" }
        expect: { status: 201 }
"#;

/// The demo target (TLS, `insecure-cookie`), the probe file and every secret
/// of one test.
struct Scenario {
    server: DemoServer,
    _ca_dir: tempfile::TempDir,
    ca: String,
    dir: tempfile::TempDir,
    /// `--secret password=…` literally; also the demo's password.
    password: String,
    /// `--secret cli_env=${env:CANARY_CLI_ENV}`.
    cli_env: String,
    /// `env_pw: { value: "${env:CANARY_ENV}", secret: true }`.
    env_pw: String,
    /// `api_key: { secret: true }` ← `SMOKEPROBE_VAR_API_KEY`.
    api_key: String,
    /// `${file:…}`.
    file: String,
    /// `${env:CANARY_INLINE_ENV}` right in a step.
    inline_env: String,
}

impl Scenario {
    async fn start() -> Scenario {
        let password = canary("cli");
        let mut faults = Faults::default();
        faults.apply_spec("insecure-cookie").unwrap();
        let (server, ca_dir, ca) = tls_demo_opts_with_ca(DemoOptions {
            password: password.clone(),
            faults,
            ..DemoOptions::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let s = Scenario {
            server,
            _ca_dir: ca_dir,
            ca,
            dir,
            password,
            cli_env: canary("clienv"),
            env_pw: canary("env"),
            api_key: canary("spvar"),
            file: canary("file"),
            inline_env: canary("inline"),
        };
        std::fs::write(s.file_path(), format!("{}\n", s.file)).unwrap();
        std::fs::write(s.probe_path(), s.probe_yaml()).unwrap();
        s
    }

    fn file_path(&self) -> std::path::PathBuf {
        self.dir.path().join("file-secret.txt")
    }

    fn probe_path(&self) -> std::path::PathBuf {
        self.dir.path().join("canary.yaml")
    }

    fn probe_yaml(&self) -> String {
        PROBE.replace("{file}", &self.file_path().display().to_string())
    }

    /// The environment every command gets: the env-borne secrets, trace logs.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("CANARY_CLI_ENV", self.cli_env.as_str()),
            ("CANARY_ENV", self.env_pw.as_str()),
            ("SMOKEPROBE_VAR_API_KEY", self.api_key.as_str()),
            ("CANARY_INLINE_ENV", self.inline_env.as_str()),
            ("SMOKEPROBE_LOG", "trace"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    /// What `once`, `check` and `run` take besides the probe file.
    fn plan_args(&self) -> Vec<String> {
        vec![
            "--var".into(),
            format!("base={}", self.server.base_url()),
            "--var".into(),
            format!("http_base={}", self.server.http_url()),
            "--var".into(),
            format!("authority={}", self.server.addr()),
            "--secret".into(),
            format!("password={}", self.password),
            "--secret".into(),
            "cli_env=${env:CANARY_CLI_ENV}".into(),
            "--ca-file".into(),
            self.ca.clone(),
        ]
    }

    fn cmd(&self, global: &[&str], sub: &str, extra: &[String]) -> Vec<String> {
        let mut args: Vec<String> = global.iter().map(|s| s.to_string()).collect();
        args.push(sub.into());
        args.push(self.probe_path().display().to_string());
        args.extend(self.plan_args());
        args.extend(extra.iter().cloned());
        args
    }

    /// Every secret of the scenario, and every token the target issued so far
    /// (call it after the runs).
    fn scan(&self, more: &[(&str, &str)]) -> LeakScan {
        let mut scan = LeakScan::new();
        scan.secret("the CLI --secret literal", &self.password)
            .secret("the CLI --secret ${env:…}", &self.cli_env)
            .secret("the ${env:…} secret variable", &self.env_pw)
            .secret("the SMOKEPROBE_VAR_ secret variable", &self.api_key)
            .secret("the ${file:…} secret", &self.file)
            .secret("the ${env:…} in a step", &self.inline_env)
            .secret("the captured cookie", DEMO_COOKIE);
        for (what, v) in more {
            scan.secret(what, v);
        }
        for t in &self.server.issued_tokens() {
            scan.secret("a token the target issued", t);
        }
        scan
    }
}

#[test]
fn the_scan_finds_every_form_and_piece_of_a_secret() {
    let secret = "pw-AbCdEfGh\"@ IjKlMnOp!";
    let mut scan = LeakScan::new();
    scan.secret("the secret", secret);
    // Whole, in each form: found as that form (not merely as a piece).
    for form in [
        secret,
        r#"pw-AbCdEfGh\"@ IjKlMnOp!"#,
        r#"pw-AbCdEfGh\\\"@ IjKlMnOp!"#,
        "pw-AbCdEfGh&quot;@ IjKlMnOp!",
        "pw-AbCdEfGh%22%40%20IjKlMnOp%21",
        "pw-AbCdEfGh%22%40+IjKlMnOp%21",
        "pw-AbCdEfGh%22@%20IjKlMnOp!",
        "pw-AbCdEfGh%22%40%20IjKlMnOp!",
    ] {
        let text = format!("before {form} after");
        let found = scan.find(&text).unwrap_or_else(|| panic!("{text:?}"));
        assert!(
            found.starts_with(&format!("the secret ({form:?})")),
            "{form:?}: {found}"
        );
    }
    // What a cut leaves: twelve characters are enough.
    for piece in [
        "expected xxxx pw-AbCdEfGh\"…",
        "found: …Gh\"@ IjKlMnOp! and more",
    ] {
        let found = scan.find(piece).unwrap_or_else(|| panic!("{piece:?}"));
        assert!(found.starts_with("part of the secret"), "{found}");
    }
    for clean in ["pw=*** and pw-AbCd…", "IjKlMnO", "control-value-not-secret"] {
        assert_eq!(scan.find(clean), None, "{clean:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_never_writes_a_secret_anywhere() {
    let sc = Scenario::start().await;
    let pg = start_pushgateway().await;
    let push_password = canary("push");
    let mut push_url = url::Url::parse(&pg.url).unwrap();
    push_url.set_username("pusher").unwrap();
    push_url.set_password(Some(&push_password)).unwrap();
    let reports = Reports::new();
    let baseline = reports.dir.path().join("baseline.json");

    // Text logs at trace, the reports, the baseline and a push.
    let mut extra = reports.args();
    extra.extend([
        "--save-baseline".into(),
        baseline.display().to_string(),
        "--pushgateway".into(),
        push_url.to_string(),
        "--deploy-version".into(),
        "v-canary".into(),
    ]);
    let text_run = run(sc.cmd(&[], "once", &extra), sc.env()).await;
    let (text_out, text_err) = text(&text_run);
    assert_eq!(
        text_run.status.code(),
        Some(1),
        "stdout:\n{text_out}\nstderr:\n{text_err}"
    );
    assert!(text_err.contains("pushed 1 group(s)"), "{text_err}");
    // Trace really is on: the TLS library's handshake is logged.
    assert!(text_err.contains("TRACE rustls"), "{text_err}");

    let report = reports.json();
    let raw_json = std::fs::read_to_string(reports.json_path()).unwrap();
    let junit = reports.junit();
    let saved = std::fs::read_to_string(&baseline).unwrap();
    let pushed = get_text(format!("{}/metrics", pg.url)).await;

    // The secrets went out: the login worked with the password, the token and
    // the cookie were captured (so the later steps sent them).
    for ok in ["login", "cookie"] {
        assert_eq!(step(&report, "leaky", ok)["passed"], 1, "{ok}: {report}");
    }
    // Redacted where they would have been, next to the control value in the clear.
    let url = step(&report, "leaky", "secret-in-url")["last"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    for q in [
        "pw=***", "ce=***", "e=***", "k=***", "f=***", "ie=***", "t=***", "ck=***",
    ] {
        assert!(url.contains(q), "{q} in {url}");
    }
    assert!(url.contains(&format!("c={CONTROL}")), "{url}");
    let redirects = step(&report, "leaky", "secret-in-redirect")["last"]["redirects"].to_string();
    assert!(
        redirects.contains("pw=***") && redirects.contains(CONTROL),
        "{redirects}"
    );
    let userinfo = step(&report, "leaky", "secret-in-userinfo")["last"]["url"].to_string();
    assert!(
        userinfo.contains("https://probe:***@127.0.0.1"),
        "{userinfo}"
    );
    let expected = step(&report, "leaky", "secret-expected")["last"]["checks"].to_string();
    assert!(
        expected.contains(r#""expected":"***""#) && expected.contains(CONTROL),
        "{expected}"
    );
    let cut = step(&report, "leaky", "secret-cut")["last"]["checks"].to_string();
    assert!(cut.contains("xxxx***…"), "{cut}");
    let body = step(&report, "leaky", "tokens-in-status-body")["last"]["message"].to_string();
    assert!(
        body.contains(r#"access_token\":\"***\""#) && body.contains(r#"refresh_token\":\"***\""#),
        "{body}"
    );
    assert!(
        pushed.contains(r#"flow="leaky""#) && pushed.contains(r#"version="v-canary""#),
        "{pushed}"
    );
    assert!(saved.contains("secret-in-url"), "{saved}");
    assert!(junit.contains(CONTROL), "{junit}");
    assert!(text_out.contains("secret-in-url"), "{text_out}");

    // JSON logs at trace.
    let json_run = run(sc.cmd(&["--log-format", "json"], "once", &[]), sc.env()).await;
    let (json_out, json_err) = text(&json_run);
    assert_eq!(json_run.status.code(), Some(1), "{json_out}\n{json_err}");
    assert!(json_err.contains(r#""level":"TRACE""#), "{json_err}");

    // Waiting for health that never comes prints why on both streams.
    let wait = [
        "--wait-healthy",
        "1s",
        "--wait-interval",
        "300ms",
        "--health-flow",
        "leaky",
    ]
    .map(String::from);
    let wait_run = run(sc.cmd(&[], "once", &wait), sc.env()).await;
    let (wait_out, wait_err) = text(&wait_run);
    assert_eq!(wait_run.status.code(), Some(3), "{wait_out}\n{wait_err}");
    assert!(wait_out.contains("UNHEALTHY"), "{wait_out}");
    assert!(wait_err.contains("waiting for health"), "{wait_err}");

    // Three logins per run, each an access and a refresh token.
    assert!(sc.server.issued_tokens().len() >= 18);
    let scan = sc.scan(&[("the Pushgateway password", &push_password)]);
    for (name, text) in [
        ("once stdout (text logs)", &text_out),
        ("once stderr (text logs, trace)", &text_err),
        ("the JSON report", &raw_json),
        ("the JSON report, re-serialized", &report.to_string()),
        ("the JUnit report", &junit),
        ("the saved baseline", &saved),
        ("the Pushgateway's /metrics", &pushed),
        ("once stdout (JSON logs)", &json_out),
        ("once stderr (JSON logs, trace)", &json_err),
        ("once --wait-healthy stdout", &wait_out),
        ("once --wait-healthy stderr", &wait_err),
    ] {
        scan.assert_clean(name, text);
    }
    sc.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_never_prints_a_secret() {
    let sc = Scenario::start().await;
    let mut outputs = Vec::new();
    for global in [&[][..], &["--log-format", "json"][..]] {
        let o = run(sc.cmd(global, "check", &[]), sc.env()).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
        for shown in [
            "password = ***",
            "cli_env = ***",
            "env_pw = ***",
            "api_key = ***",
            CONTROL,
        ] {
            assert!(out.contains(shown), "{shown} in\n{out}");
        }
        // `${file:…}` is shown as `***` where the template uses it.
        assert!(
            out.contains("- secret-in-url: GET ${base}/api/health"),
            "{out}"
        );
        outputs.push((format!("check {global:?} stdout"), out));
        outputs.push((format!("check {global:?} stderr"), err));
    }
    // (No run happened, so the target issued no tokens to look for.)
    let scan = sc.scan(&[]);
    for (name, text) in &outputs {
        scan.assert_clean(name, text);
    }
    sc.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_never_logs_or_exports_a_secret() {
    let sc = Scenario::start().await;
    let mut outputs = Vec::new();
    for format in ["text", "json"] {
        let mut extra = sc.plan_args();
        extra.extend(["--log-format".into(), format.into()]);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let env = sc.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let proc = start_run(&sc.probe_yaml(), &extra, &env).await;
        // Several scrapes, each after more runs have failed (runs are counted
        // when they start, failures when they finish).
        for runs in [1.0, 2.0, 3.0] {
            let m = proc
                .wait_for(Duration::from_secs(30), "failed runs", |m| {
                    sample(
                        m,
                        "smokeprobe_step_failures_total",
                        &[("step", "secret-in-url"), ("reason", "status")],
                    )
                    .unwrap_or(0.0)
                        >= runs
                })
                .await;
            assert_eq!(
                sample(&m, "probe_success", &[("flow", "leaky")]),
                Some(0.0),
                "{m}"
            );
            outputs.push((
                format!("run ({format} logs) /metrics after {runs} run(s)"),
                m,
            ));
            // The status page, its refresh fragment and its JSON show the
            // failed steps' URLs, messages and expected/actual values.
            for path in ["/", "/?part=main", "/api/status"] {
                let (status, body) = proc.get(path, None).await;
                assert_eq!(status, 200, "{path}: {body}");
                assert!(body.contains(CONTROL), "{path} shows no URL:\n{body}");
                assert!(body.contains("pw=***"), "{path}:\n{body}");
                outputs.push((
                    format!("run ({format} logs) {path} after {runs} run(s)"),
                    body,
                ));
            }
        }
        let (code, log, out) = proc.finish(Duration::from_secs(30)).await;
        assert_eq!(code, Some(0), "{log}");
        // The failed steps were logged, with their (redacted) messages.
        let failed = log
            .lines()
            .filter(|l| l.contains("step failed") && l.contains("secret-expected"))
            .collect::<Vec<_>>();
        assert!(!failed.is_empty(), "{log}");
        assert!(failed.iter().all(|l| l.contains("expected ***")), "{log}");
        assert!(
            log.contains(match format {
                "text" => "TRACE rustls",
                _ => r#""level":"TRACE""#,
            }),
            "{log}"
        );
        outputs.push((format!("run stderr ({format} logs, trace)"), log));
        outputs.push((format!("run stdout ({format} logs)"), out));
    }
    assert!(sc.server.issued_tokens().len() >= 18);
    let scan = sc.scan(&[]);
    for (name, text) in &outputs {
        scan.assert_clean(name, text);
    }
    sc.server.stop().await;
}
