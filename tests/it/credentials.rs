//! Credential safety against the demo target, which locks an account after
//! five consecutive wrong passwords and never lets the count decay: a wrong
//! password is sent once per value — not once per flow, reload or restart —
//! a locked account (429 `ACCOUNT_LOCKED`) is not hammered, and a
//! `rate_limited` API key's 429 is not a refusal.

use std::time::Duration;

use smokeprobe::demo::DemoOptions;

use crate::common::*;
use crate::run::{probe, sample, start_run};

fn with_password(mut args: Vec<String>, password: &str) -> Vec<String> {
    let i = args
        .iter()
        .position(|a| a.starts_with("password="))
        .expect("contravento_args sets the password");
    args[i] = format!("password={password}");
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_sent_once_across_flows_reloads_and_restarts() {
    let d = DemoOptions::default();
    // Logins take 700 ms: three flows that log in at once would all have
    // sent the password before the first 401 came back.
    let server = demo(&["latency:/api/auth/login=700ms"]).await;
    let dir = tempfile::tempdir().unwrap();

    // `once`: login, trip-lifecycle, upload-validation all carry the password.
    let reports = Reports::new();
    let mut args = with_password(contravento_args(&server, dir.path()), "Wrong-Passw0rd-1!");
    args.extend(reports.args());
    let out = run(args.clone(), Vec::new()).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(server.wrong_password_attempts(&d.username), 1, "{stdout}");
    let report = reports.json();
    let later = step(&report, "upload-validation", "login");
    let msg = later["last_failure"]["message"].as_str().unwrap();
    assert!(msg.contains("not sent") && msg.contains("401"), "{later}");
    assert!(
        stdout.contains("refused the probe's credentials")
            && stdout.contains("not retried so the account is not locked"),
        "{stdout}"
    );
    let refused = &report["refused_secrets"];
    assert_eq!(refused[0]["var"], "password", "{refused}");
    assert_eq!(refused[0]["code"], "INVALID_CREDENTIALS", "{refused}");

    // A restart with the same value: still refused, nothing sent.
    let out = run(args, Vec::new()).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.wrong_password_attempts(&d.username), 1);
    assert!(text(&out).0.contains("🔒"), "{}", text(&out).0);

    // `run`, with another wrong value, every flow every 5 s, jitter 1 s, two
    // reloads: that value is sent once in all.
    let yaml = shipped_probe_every("5s");
    let mut args = contravento_vars(&server, "Wrong-Passw0rd-2!");
    args.extend(["--max-jitter".into(), "1s".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = start_run(&yaml, &args, &[]).await;
    let refused = |m: &str| sample(m, "smokeprobe_secret_refused", &[("var", "password")]);
    p.wait_for(Duration::from_secs(30), "the refusal", |m| {
        refused(m) == Some(1.0)
    })
    .await;
    let client = http_client();
    for n in 1..=2 {
        let st = client
            .post(p.url("/-/reload"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(st, 200, "reload {n}");
    }
    let runs =
        |m: &str| sample(m, "smokeprobe_flow_runs_total", &[("flow", "login")]).unwrap_or(0.0);
    let before = runs(&p.metrics().await);
    // Two more rounds of every flow after the reloads.
    let m = p
        .wait_for(Duration::from_secs(30), "two more rounds", |m| {
            runs(m) >= before + 2.0
        })
        .await;
    assert_eq!(refused(&m), Some(1.0), "{m}");
    // Every login run failed (nothing was sent), and the counter says so.
    let failed = sample(
        &m,
        "smokeprobe_flow_failed_runs_total",
        &[("flow", "login")],
    );
    assert!(failed.is_some_and(|f| f >= 2.0 && f <= runs(&m)), "{m}");
    assert_eq!(
        server.wrong_password_attempts(&d.username),
        2,
        "one attempt for the new value, none after the reloads:\n{}",
        p.log()
    );
    let log = p.log();
    assert!(log.contains("no longer sent"), "{log}");
    assert!(!log.contains("Wrong-Passw0rd"), "{log}");
    // The status page says it too.
    let (_, page) = p.get("/", None).await;
    assert!(page.contains("REFUSED"), "{page}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_account_gets_at_most_one_login_per_process() {
    let d = DemoOptions::default();
    let server = demo(&[]).await;
    server.lock_account(&d.username);
    let dir = tempfile::tempdir().unwrap();
    // The right password, but the account is locked: 429 ACCOUNT_LOCKED.
    let mut args = contravento_args(&server, dir.path());
    args.extend(["--flow".into(), "+sweep-orphans".into()]);
    for n in 1..=3 {
        let out = run(args.clone(), Vec::new()).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stdout.contains("429 ACCOUNT_LOCKED"), "run {n}: {stdout}");
    }
    // Three processes sharing a state directory: one login in all.
    assert_eq!(server.login_attempts(&d.username), 1);
    // Processes that share nothing can each send one (the documented limit).
    let other = tempfile::tempdir().unwrap();
    let out = run(
        args,
        vec![(
            "SMOKEPROBE_STATE_DIR".into(),
            other.path().display().to_string(),
        )],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.login_attempts(&d.username), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_key_is_tried_again_after_a_429_and_a_password_is_not() {
    let server = demo(&["error:/api/cycling-types=1:429"]).await;
    let flows = "  - name: keyed\n    steps:\n      - name: types\n        url: ${base}/cycling-types\n        headers: { x-api-key: \"${key}\" }\n        expect: { status: 200 }\n";
    for (rate_limited, second_sent) in [(true, true), (false, false)] {
        let yaml = probe(&server.api_url(), flows).replace(
            "vars:\n",
            &format!("vars:\n  key: {{ secret: true, rate_limited: {rate_limited} }}\n"),
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, yaml).unwrap();
        let reports = Reports::new();
        let mut args = vec![
            "once".to_string(),
            file.display().to_string(),
            "--secret".into(),
            format!("key=k-{}", fastrand::u64(..)),
            "--samples".into(),
            "2".into(),
            "--quiet".into(),
        ];
        args.extend(reports.args());
        let out = run(args, Vec::new()).await;
        assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
        let results = &reports.json()["flows"][0]["results"];
        let second = &results[1]["steps"][0];
        assert_eq!(
            second["status"].as_u64() == Some(429),
            second_sent,
            "rate_limited: {rate_limited}: {second}"
        );
    }
    server.stop().await;
}
