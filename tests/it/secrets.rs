//! A canary secret given through `${env:…}` (and `${file:…}`, and a captured
//! token) never appears in anything the probe writes: stdout, stderr (with the
//! most verbose logging), the JSON and JUnit reports, or `check` output — even
//! when failing steps print URLs and response bodies that contain it.

use crate::common::*;
use smokeprobe::demo::DemoOptions;

const PROBE: &str = r#"
version: 1
target: canary
vars:
  base: http://127.0.0.1:9
  username: probe
  password: { secret: true }
  visible: control-value-not-secret
flows:
  - name: leaky
    steps:
      - name: login
        method: POST
        url: ${base}/api/auth/login
        json: { login: "${username}", password: "${password}" }
        expect: { status: 200 }
        capture:
          token: { json: $.data.access_token, secret: true }
      # Fails on purpose: its URL carries the password, the token and the control value.
      - name: secret-in-url
        url: ${base}/api/health
        query: { pw: "${password}", t: "${token}", c: "${visible}" }
        headers: { x-file-secret: "${file:file-secret.txt}" }
        expect: { status: 201 }
      # Fails on purpose: the body it prints contains the token (always: it runs
      # although the step before failed).
      - name: token-in-body
        always: true
        method: POST
        url: ${base}/api/auth/login
        json: { login: "${username}", password: "${password}" }
        expect:
          status: 200
          json:
            - { path: $.data.access_token, equals: "not-the-token" }
            - { path: $.data.access_token, equals: "${password}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_secret_never_leaks() {
    let canary = format!("Canary-{}-Pw!", smokeprobe::builtins::random_alnum(16));
    let file_canary = format!("file-canary-{}", smokeprobe::builtins::random_alnum(16));
    let server = demo_with(DemoOptions {
        password: canary.clone(),
        ..DemoOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("canary.yaml");
    std::fs::write(&probe, PROBE).unwrap();
    std::fs::write(
        dir.path().join("file-secret.txt"),
        format!("{file_canary}\n"),
    )
    .unwrap();
    let reports = Reports::new();
    let env = vec![
        ("CANARY_PW".to_string(), canary.clone()),
        ("SMOKEPROBE_LOG".to_string(), "trace".to_string()),
    ];
    let mut args = vec![
        "once".to_string(),
        probe.display().to_string(),
        "--var".into(),
        format!("base={}", server.base_url()),
        "--secret".into(),
        "password=${env:CANARY_PW}".into(),
    ];
    args.extend(reports.args());
    let out = run(args.clone(), env.clone()).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // The login worked, so the canary really was sent to the target.
    let report = reports.json();
    assert_eq!(step(&report, "leaky", "login")["passed"], 1, "{report}");
    let url = step(&report, "leaky", "secret-in-url")["last"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    // Redacted where it would have been; the non-secret control value is shown,
    // which proves the scan below looks at text that does carry the values.
    assert!(url.contains("pw=***") && url.contains("t=***"), "{url}");
    assert!(url.contains("control-value-not-secret"), "{url}");
    let body_msg = step(&report, "leaky", "token-in-body")["last_failure"].to_string();
    assert!(body_msg.contains("***"), "{body_msg}");

    let check = run(
        vec![
            "check".into(),
            probe.display().to_string(),
            "--secret".into(),
            "password=${env:CANARY_PW}".into(),
        ],
        env,
    )
    .await;
    let (check_out, check_err) = text(&check);
    assert_eq!(check.status.code(), Some(0), "{check_err}");
    assert!(check_out.contains("password = ***"), "{check_out}");

    let outputs = [
        ("stdout", stdout),
        ("stderr", stderr),
        ("json", serde_json::to_string(&report).unwrap()),
        (
            "raw json",
            std::fs::read_to_string(reports.json_path()).unwrap(),
        ),
        ("junit", reports.junit()),
        ("check stdout", check_out),
        ("check stderr", check_err),
    ];
    for (name, text) in &outputs {
        for secret in [&canary, &file_canary] {
            assert!(
                !text.contains(secret.as_str()),
                "{name} leaks a secret:\n{text}"
            );
        }
        // JSON-escaped and URL-encoded forms of the canary too.
        assert!(
            !text.contains(&canary.replace('!', "%21")),
            "{name} leaks the URL-encoded canary"
        );
    }
    server.stop().await;
}
