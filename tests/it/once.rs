//! `smokeprobe once` with the shipped probe file against the demo target:
//! healthy → exit 0 with every step timed; each injected fault turns exactly
//! the right step red with the right reason and exit code; cleanup always runs.

use smokeprobe::demo::TlsMode;

use crate::common::*;

fn owned(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = v
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    v.sort();
    v
}

async fn once_against(
    faults: &[&str],
    extra: &[&str],
) -> (std::process::Output, Reports, smokeprobe::demo::DemoServer) {
    let server = demo_tls(Some(TlsMode::Valid), faults).await;
    let reports = Reports::new();
    let mut args = contravento_args(&server, reports.dir.path());
    args.extend(reports.args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run(args, vec![]).await;
    (out, reports, server)
}

fn assert_no_probe_trips(server: &smokeprobe::demo::DemoServer) {
    let left: Vec<_> = server
        .trips()
        .into_iter()
        .filter(|t| t.title.starts_with("[probe]"))
        .collect();
    assert!(left.is_empty(), "synthetic trips left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_probe_passes_against_healthy_demo() {
    let (out, reports, server) = once_against(&[], &[]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("PASSED"), "{stdout}");
    let report = reports.json();
    assert_eq!(report["verdict"], "passed");
    let flows = report["flows"].as_array().unwrap();
    let names: Vec<&str> = flows.iter().map(|f| f["flow"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "health",
            "spa",
            "db-liveness",
            "reference-data",
            "login",
            "login-rejects-unknown-user",
            "trip-lifecycle",
            "cors-login",
            "security-headers",
            "https-redirect",
            "tls-certificate",
            "error-leaks",
            "api-docs",
            "login-timing",
            "upload-validation",
            "frontend-delivery"
        ],
        "optional registration flow must not run unless selected"
    );
    // Every step of every flow ran, passed and has a timing.
    for f in flows {
        for s in f["steps"].as_array().unwrap() {
            assert_eq!(
                s["passed"], 1,
                "{}/{} did not pass: {s}",
                f["flow"], s["name"]
            );
            let d = s["latency"]["p50"].as_f64().unwrap_or(0.0);
            assert!(d > 0.0, "{}/{} has no timing", f["flow"], s["name"]);
            let r = &f["results"][0]["steps"];
            assert!(
                r.as_array()
                    .unwrap()
                    .iter()
                    .all(|x| x["duration"].as_f64().unwrap() > 0.0)
            );
        }
    }
    let lifecycle = step(&report, "trip-lifecycle", "upload-photo");
    assert!(lifecycle["last"]["status"] == 201);
    let junit = reports.junit();
    assert!(
        junit.contains("<testsuite name=\"contravento/trip-lifecycle\""),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    assert_no_probe_trips(&server);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_login_goes_over_the_auth_budget() {
    let (out, reports, server) = once_against(&["latency:POST:/api/auth/login=650ms"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let report = reports.json();
    assert_eq!(
        red_steps(&report),
        owned(&[
            ("login", "login", "budget"),
            ("login-rejects-unknown-user", "unknown-user", "budget"),
            ("trip-lifecycle", "login", "budget"),
        ])
    );
    let b = &step(&report, "login", "login")["budget"][0];
    assert_eq!(b["quantile"], "p95");
    assert!(b["actual"].as_f64().unwrap() >= 0.65, "{b}");
    let (stdout, _) = text(&out);
    assert!(stdout.contains("OVER BUDGET p95"), "{stdout}");
    // Every run passed: the flow says why it is red, on its own line and in
    // the JSON, instead of "1/1 runs passed" next to ❌.
    let flow = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flow"] == "login")
        .unwrap();
    assert_eq!(flow["failed_runs"], 0, "{flow}");
    assert_eq!(flow["outcome"], "failed", "{flow}");
    assert_eq!(flow["reason"], "budget", "{flow}");
    let s = step(&report, "login", "login");
    assert_eq!(
        (&s["outcome"], &s["reason"]),
        (&"failed".into(), &"budget".into())
    );
    let health = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flow"] == "health")
        .unwrap();
    assert_eq!(health["outcome"], "passed", "{health}");
    assert!(health.get("reason").is_none(), "{health}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("❌ login "))
        .unwrap_or_else(|| panic!("flow line of login: {stdout}"));
    assert!(line.contains("over budget: login p95 "), "{line}");
    assert!(
        stdout.contains("[budget] over budget: p95 "),
        "the step says why: {stdout}"
    );
    let verdict = stdout.lines().find(|l| l.contains("FAILED:")).unwrap();
    assert!(verdict.contains("login over budget"), "{verdict}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_down_keeps_health_green_and_turns_db_checks_red() {
    let (out, reports, server) = once_against(&["db-down"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let report = reports.json();
    let red = red_steps(&report);
    assert!(
        !red.iter().any(|(f, ..)| f == "health"),
        "health must stay green: {red:?}"
    );
    assert!(
        red.contains(&(
            "db-liveness".into(),
            "public-feed-page".into(),
            "status".into()
        )),
        "{red:?}"
    );
    assert!(
        red.contains(&(
            "reference-data".into(),
            "cycling-types".into(),
            "status".into()
        )),
        "{red:?}"
    );
    let msg = step(&report, "db-liveness", "public-feed-page")["last_failure"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("expected 200, got 500"), "{msg}");
    server.stop().await;
}

/// The backend is down and nginx answers 502 for it: the API health flow is
/// red with the status, and the SPA — its own flow now, not a step after
/// the API's — is judged on its own and stays green. Every flow got an HTTP
/// answer, so the exit code is 1 (a check failed), not 3 (unreachable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_down_fails_api_health_with_502_while_the_spa_flow_passes() {
    let (out, reports, server) = once_against(&["backend-down"], &[]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let report = reports.json();
    assert_eq!(report["verdict"], "failed", "{report}");
    let flow = |name: &str| {
        report["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flow"] == name)
            .unwrap_or_else(|| panic!("no flow {name}"))
            .clone()
    };
    let spa = flow("spa");
    assert_eq!(
        (spa["passed_runs"].as_u64(), spa["failed_runs"].as_u64()),
        (Some(1), Some(0)),
        "{spa}"
    );
    let root = step(&report, "spa", "spa-root");
    assert_eq!(root["passed"], 1, "{root}");
    assert_eq!(root["last"]["status"], 200, "{root}");
    assert_eq!(
        flow("frontend-delivery")["failed_runs"],
        0,
        "the SPA's assets are served"
    );

    let health = flow("health");
    assert_eq!(health["failed_runs"], 1, "{health}");
    let api = step(&report, "health", "api-health");
    let failure = &api["last_failure"];
    assert_eq!(failure["reason"], "status", "{api}");
    assert_eq!(failure["status"], 502, "{api}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("expected 200, got 502"),
        "{api}"
    );
    let red = red_steps(&report);
    assert!(!red.iter().any(|(f, ..)| f == "spa"), "{red:?}");
    assert!(stdout.contains("✅ spa"), "{stdout}");
    assert!(stdout.contains("❌ health"), "{stdout}");
    assert_no_probe_trips(&server);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_photo_fails_upload_and_cleanup_still_runs() {
    let (out, reports, server) = once_against(&["reject-photos"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let report = reports.json();
    assert_eq!(
        red_steps(&report),
        owned(&[
            ("trip-lifecycle", "upload-photo", "status"),
            ("upload-validation", "upload-photo", "status")
        ])
    );
    for skipped in ["fetch-photo", "publish", "appears-in-feed"] {
        assert_eq!(
            step(&report, "trip-lifecycle", skipped)["skipped"],
            1,
            "{skipped}"
        );
    }
    for cleanup in ["delete-trip", "trip-is-gone"] {
        assert_eq!(
            step(&report, "trip-lifecycle", cleanup)["passed"],
            1,
            "{cleanup}"
        );
    }
    let (stdout, _) = text(&out);
    assert!(stdout.contains("upload-photo"), "{stdout}");
    assert!(stdout.contains("expected 201, got 400"), "{stdout}");
    assert_no_probe_trips(&server);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_publish_is_reported_and_trip_deleted() {
    let (out, reports, server) =
        once_against(&["publish-fails"], &["--flow", "trip-lifecycle"]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let report = reports.json();
    assert_eq!(
        red_steps(&report),
        owned(&[("trip-lifecycle", "publish", "status")])
    );
    assert_eq!(step(&report, "trip-lifecycle", "delete-trip")["passed"], 1);
    assert_no_probe_trips(&server);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trip_never_in_feed_fails_the_poll() {
    let (out, reports, server) =
        once_against(&["feed-hides-new"], &["--flow", "trip-lifecycle"]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let report = reports.json();
    assert_eq!(
        red_steps(&report),
        owned(&[("trip-lifecycle", "appears-in-feed", "assertion")])
    );
    let s = step(&report, "trip-lifecycle", "appears-in-feed");
    let attempts = s["last_failure"]["attempts"].as_u64().unwrap();
    assert!(attempts >= 10, "polled only {attempts} times");
    let waited = s["last_failure"]["poll_elapsed"].as_f64().unwrap();
    assert!(
        waited >= 14.0,
        "gave up after {waited}s, before the 15 s poll window"
    );
    assert!(
        s["last_failure"]["message"]
            .as_str()
            .unwrap()
            .contains("still failing after")
    );
    assert_no_probe_trips(&server);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_exits_unreachable() {
    // A port that was just free: nothing listens there.
    let port = free_port();
    let reports = Reports::new();
    let d = smokeprobe::demo::DemoOptions::default();
    let mut args = vec![
        "once".to_string(),
        repo_file("probes/contravento.yaml").display().to_string(),
        "--var".into(),
        format!("base=https://127.0.0.1:{port}"),
        "--var".into(),
        format!("http_base=http://127.0.0.1:{port}"),
        "--secret".into(),
        format!("password={}", d.password),
        "--quiet".into(),
    ];
    args.extend(reports.args());
    let out = run(args, vec![]).await;
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let report = reports.json();
    assert_eq!(report["verdict"], "unreachable");
    let first = &step(&report, "health", "api-health")["last_failure"];
    assert_eq!(first["reason"], "connect", "{first}");
    let (stdout, _) = text(&out);
    assert!(stdout.contains("UNREACHABLE"), "{stdout}");
}

/// Exit code 3 means users cannot reach the site: the HTTPS base refuses
/// every connection while the plain-HTTP redirect listener still answers
/// (its 301 goes to the demo's own HTTPS, which does answer: the flow that
/// checks the listener passes). That flow talks to nobody but the listener
/// and does not make the site reachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_base_down_is_unreachable_although_the_redirect_listener_answers() {
    let (server, _ca_dir, ca) = tls_demo_with_ca(&[]).await;
    let closed = free_port();
    let reports = Reports::new();
    let d = smokeprobe::demo::DemoOptions::default();
    let mut args = vec![
        "once".to_string(),
        repo_file("probes/contravento.yaml").display().to_string(),
        "--var".into(),
        format!("base=https://127.0.0.1:{closed}"),
        "--var".into(),
        format!("http_base={}", server.http_url()),
        "--secret".into(),
        format!("password={}", d.password),
        "--ca-file".into(),
        ca,
        "--quiet".into(),
        "--no-color".into(),
    ];
    args.extend(reports.args());
    let out = run(args, vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let report = reports.json();
    assert_eq!(report["verdict"], "unreachable");
    // The listener answered, and where it pointed answered too.
    let redirect = step(&report, "https-redirect", "http-to-https");
    assert_eq!(redirect["passed"], 1, "{redirect}");
    assert_eq!(redirect["last"]["status"], 301, "{redirect}");
    let first = &step(&report, "health", "api-health")["last_failure"];
    assert_eq!(first["reason"], "connect", "{first}");
    assert!(
        stdout.contains("UNREACHABLE: no flow reached the site (connect to 127.0.0.1:"),
        "{stdout}"
    );
    server.stop().await;
}

/// A plain-HTTP listener whose 301s point at an HTTPS port that refuses
/// connections (nginx's `listen 80` up, `listen 443` down): every request
/// of the site fails to connect, so exit code 3, whether the redirect check
/// runs with the other flows or alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_refused_https_reaches_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let closed = free_port();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http_port = listener.local_addr().expect("addr").port();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = answered.clone();
    let listener_task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let answer = format!(
                    "HTTP/1.1 301 Moved Permanently\r\nLocation: https://127.0.0.1:{closed}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("site.yaml");
    std::fs::write(
        &file,
        format!(
            "vars:\n  base: https://127.0.0.1:{closed}\n  http_base: http://127.0.0.1:{http_port}\nflows:\n  - name: health\n    steps:\n      - name: api\n        url: ${{base}}/api/health\n        expect: {{ status: 200 }}\n  - name: https-redirect\n    steps:\n      - name: http-to-https\n        https_redirect: {{ url: \"${{http_base}}/trips\" }}\n"
        ),
    )
    .expect("probe file");
    for flows in [vec![], vec!["--flow", "https-redirect"]] {
        let reports = Reports::new();
        let mut args = vec![file.display().to_string(), "--quiet".into()];
        args.insert(0, "once".into());
        args.extend(flows.iter().map(|f| f.to_string()));
        args.extend(reports.args());
        let before = answered.load(std::sync::atomic::Ordering::SeqCst);
        let out = run(args, vec![]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{flows:?}: {stdout}\n{stderr}");
        assert_eq!(reports.json()["verdict"], "unreachable");
        let redirect = step(&reports.json(), "https-redirect", "http-to-https").clone();
        assert_eq!(redirect["last_failure"]["reason"], "connect", "{redirect}");
        // The step is shown as the request that failed it: the HTTPS
        // target the 301 pointed at, which answered nothing.
        let failed = &redirect["last_failure"];
        assert_eq!(failed["status"], serde_json::Value::Null, "{redirect}");
        assert!(
            failed["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{redirect}"
        );
        assert_eq!(
            answered.load(std::sync::atomic::Ordering::SeqCst),
            before + 1,
            "the plain-HTTP listener answered the check once"
        );
    }
    listener_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_give_percentiles_per_step() {
    let (out, reports, server) = once_against(&[], &["--flow", "health", "--samples", "20"]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let report = reports.json();
    let s = step(&report, "health", "api-health");
    assert_eq!(s["samples"], 20);
    let (p50, p95, p99) = (
        s["latency"]["p50"].as_f64().unwrap(),
        s["latency"]["p95"].as_f64().unwrap(),
        s["latency"]["p99"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p95 && p95 <= p99, "{p50} {p95} {p99}");
    assert_eq!(report["flows"][0]["results"].as_array().unwrap().len(), 20);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("20/20 runs passed"), "{stdout}");
    server.stop().await;
}

/// Today's real ContraVento headers (the committed nginx config): the Security
/// group fails with exactly which header is missing where, warnings are shown
/// apart from failures, and JSON and JUnit carry every rule's verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_nginx_headers_fail_the_security_group_precisely() {
    let (out, reports, server) = once_against(
        &["headers=as-committed"],
        &["--flow", "security-headers", "--flow", "health"],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let report = reports.json();
    assert_eq!(
        red_steps(&report),
        owned(&[("security-headers", "site-headers", "assertion")])
    );
    // Console: the Security heading, one ✗ line per failed rule, ⚠ for warnings.
    let flows_at = stdout.find("── Flows ──").expect("flows heading");
    let security_at = stdout.find("── Security ──").expect("security heading");
    assert!(flows_at < security_at, "{stdout}");
    assert!(
        stdout.contains(
            "✗ hsts on /, /assets/index-3f9a1c.js, /assets/index-8b2e4d.css, /api/health, /api/cycling-types: expected Strict-Transport-Security max-age ≥ 31536000, got missing"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ frame-options on /api/health, /api/cycling-types: expected X-Frame-Options DENY (or CSP frame-ancestors 'none'), got X-Frame-Options `SAMEORIGIN`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("⚠ server-version on /, /assets/index-3f9a1c.js, /assets/index-8b2e4d.css, /api/health, /api/cycling-types: expected Server without a version, got `nginx/1.22.1`"),
        "{stdout}"
    );
    // JSON: every verdict, warnings marked.
    let checks = step(&report, "security-headers", "site-headers")["last_failure"]["checks"]
        .as_array()
        .expect("verdicts")
        .clone();
    let find = |rule: &str, on: &str| {
        checks
            .iter()
            .find(|c| c["check"] == rule && c["on"] == on)
            .unwrap_or_else(|| panic!("{rule} on {on}"))
            .clone()
    };
    assert_eq!(find("hsts", "/")["passed"], false);
    assert!(find("hsts", "/").get("warning").is_none());
    assert_eq!(find("content-type-options", "/api/health")["passed"], true);
    // The SPA's own assets were judged too, and get nothing from nginx.
    assert_eq!(
        find("content-type-options", "/assets/index-3f9a1c.js")["passed"],
        false
    );
    assert_eq!(find("csp", "/")["warning"], true);
    assert_eq!(
        report["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flow"] == "security-headers")
            .unwrap()["group"],
        "Security"
    );
    // JUnit: the rule verdicts in system-out, the failure message names the rules.
    let junit = reports.junit();
    assert!(junit.contains("FAIL hsts on /: expected"), "{junit}");
    assert!(
        junit.contains("PASS content-type-options on /api/health"),
        "{junit}"
    );
    assert!(junit.contains("WARN csp on /"), "{junit}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_that_trusts_the_client_fails_upload_validation() {
    let (out, reports, server) =
        once_against(&["upload-trusts-type"], &["--flow", "upload-validation"]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let report = reports.json();
    assert_eq!(
        red_steps(&report),
        owned(&[("upload-validation", "non-image-as-png", "status")])
    );
    // The trip it created was deleted anyway.
    assert_eq!(
        step(&report, "upload-validation", "delete-trip")["passed"],
        1
    );
    assert_no_probe_trips(&server);
    server.stop().await;
}

/// The real `index.html` links Google Fonts before the site's own stylesheet:
/// the shipped file lists it, fetches nothing from it, and judges the site's
/// own stylesheet's headers. The stand-in is a loopback listener under another
/// host name (`localhost`, the demo being `127.0.0.1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_probe_lists_the_third_party_stylesheet_and_never_fetches_it() {
    let fonts = CountingHost::start(50_000).await;
    let server = demo_with(smokeprobe::demo::DemoOptions {
        tls: Some(TlsMode::Valid),
        fonts_url: fonts.fonts_url(),
        ..smokeprobe::demo::DemoOptions::default()
    })
    .await;
    let reports = Reports::new();
    let mut args = contravento_args(&server, reports.dir.path());
    args.extend(reports.args());
    for f in ["frontend-delivery", "security-headers"] {
        args.extend(["--flow".to_string(), f.to_string()]);
    }
    let out = run(args, vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        fonts.requests(),
        Vec::<String>::new(),
        "the third party was contacted"
    );
    let line = format!(
        "· third-party, not fetched: {} (stylesheet)",
        fonts.fonts_url()
    );
    assert_eq!(stdout.matches(&line).count(), 2, "{stdout}");
    let junit = reports.junit();
    let info = format!(
        "INFO third-party, not fetched: {} (stylesheet)",
        fonts.fonts_url()
    );
    assert_eq!(junit.matches(&info).count(), 2, "{junit}");
    let report = reports.json();
    let listed = serde_json::json!([{
        "url": fonts.fonts_url(), "kind": "stylesheet", "reason": "third-party"
    }]);
    let spa = step(&report, "frontend-delivery", "spa-bundle");
    assert_eq!(spa["last"]["not_fetched"], listed, "{spa:#}");
    let sizes: Vec<&str> = spa["last"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "bundle-size")
        .filter_map(|c| c["on"].as_str())
        .collect();
    assert_eq!(sizes, ["2 asset(s)"]);
    let headers = step(&report, "security-headers", "site-headers");
    assert_eq!(headers["last"]["not_fetched"], listed, "{headers:#}");
    let judged: Vec<&str> = headers["last"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "hsts")
        .filter_map(|c| c["on"].as_str())
        .collect();
    assert_eq!(
        judged,
        [
            "/",
            "/assets/index-3f9a1c.js",
            "/assets/index-8b2e4d.css",
            "/api/health",
            "/api/cycling-types"
        ]
    );
}
