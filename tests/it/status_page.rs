//! The status page of `smokeprobe run`, as Debian's headless Chromium renders
//! it: the real binary probing the in-process demo target with the shipped
//! probe file (every 2 s) plus a flow whose failing assertion shows a value
//! the target stored, `<script>` and all. The page lists every flow and step,
//! a fault injected into the target turns the right step red in the page
//! already open (the script's refresh, no reload), target text is shown as
//! text, the page fits a 375 px phone, works with JavaScript off, loads nothing it
//! is not allowed to, and screenshots are saved under
//! `target/test-artifacts/`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smokeprobe::demo::{DemoOptions, Faults};

use crate::chromium::{Chromium, artifacts_dir};
use crate::common::*;
use crate::run::start_run;

/// What the demo stores as a trip title and sends back: markup that would
/// run if the page inserted it as HTML.
const HOSTILE: &str = "[probe] <script>alert(1)</script><img src=x onerror=alert(2)>";

/// Creates a trip whose title is [`HOSTILE`], then reads it back expecting
/// another title: the failed assertion's actual value is the target's text.
const ECHO_FLOW: &str = r#"
  - name: target-echo
    description: A failing assertion whose actual value comes from the target.
    steps:
      - name: login
        method: POST
        url: ${api}/auth/login
        json: { login: "${username}", password: "${password}" }
        capture:
          token: { json: $.data.access_token, secret: true }
      - name: create
        method: POST
        url: ${api}/trips
        headers: { authorization: "Bearer ${token}" }
        json: { title: "HOSTILE", description: "Synthetic trip created by the smokeprobe status page test, deleted at once.", start_date: "${yesterday}" }
        expect: { status: 201 }
        capture:
          trip_id: { json: $.data.trip_id }
      - name: read-back
        url: ${api}/trips/${trip_id}
        headers: { authorization: "Bearer ${token}" }
        expect:
          json:
            - { path: $.data.title, equals: "[probe] a plain title" }
      - name: delete
        always: true
        method: DELETE
        url: ${api}/trips/${trip_id}
        headers: { authorization: "Bearer ${token}" }
"#;

/// The shipped probe file, every flow every 2 s, plus [`ECHO_FLOW`].
fn probe_file() -> String {
    let shipped = std::fs::read_to_string(repo_file("probes/contravento.yaml")).unwrap();
    assert_eq!(shipped.matches("\n  interval: 60s\n").count(), 1);
    let fast = shipped.replace("\n  interval: 60s\n", "\n  interval: 2s\n");
    // `flows:` is the file's last key: the extra flow joins the list.
    assert!(fast.trim_end().lines().last().unwrap().starts_with("  "));
    let hostile = serde_json::to_string(HOSTILE).unwrap();
    format!(
        "{}\n{}",
        fast.trim_end(),
        ECHO_FLOW.replace("\"HOSTILE\"", &hostile)
    )
}

async fn status_json(url: &str) -> Value {
    let r = http_client()
        .get(url)
        .send()
        .await
        .expect("/api/status answers");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.expect("/api/status is JSON")
}

fn step_of<'a>(status: &'a Value, flow: &str, step: &str) -> &'a Value {
    status["flows"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["flow"] == flow))
        .and_then(|f| f["steps"].as_array())
        .and_then(|ss| ss.iter().find(|s| s["name"] == step))
        .unwrap_or_else(|| panic!("no step {flow}/{step} in {status}"))
}

/// A JavaScript expression: the `data-state` of a step's element.
fn step_state(flow: &str, step: &str) -> String {
    format!(
        "(document.querySelector('li.step[data-flow=\"{flow}\"][data-step=\"{step}\"]') || {{dataset: {{}}}}).dataset.state"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_status_page_and_sees_a_fault_turn_its_step_red() {
    let (s, _d, ca) = tls_demo_opts_with_ca(DemoOptions::default()).await;
    let d = DemoOptions::default();
    let vars = [
        format!("base={}", s.base_url()),
        format!("http_base={}", s.http_url()),
        format!("username={}", d.username),
        format!("allowed_origin={}", d.cors_origins[0]),
    ];
    let password = format!("password={}", d.password);
    let mut args: Vec<&str> = vec!["--ca-file", &ca, "--secret", &password];
    for v in &vars {
        args.extend(["--var", v]);
    }
    let run = start_run(&probe_file(), &args, &[]).await;
    let page = run.url("/");

    // Every flow has finished a run: the shipped ones pass, the echo fails.
    let start = Instant::now();
    let status = loop {
        let st = status_json(&run.url("/api/status")).await;
        if st["summary"]["pending"] == 0 {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "flows still pending: {st}\n{}",
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let flows: Vec<(String, Vec<String>)> = status["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let steps = f["steps"].as_array().unwrap();
            (
                f["flow"].as_str().unwrap().to_string(),
                steps
                    .iter()
                    .map(|s| s["name"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(flows.len(), 17, "{status}");
    assert_eq!(status["probe"]["flows_configured"], 17);
    assert_eq!(status["probe"]["last_reload_successful"], true);
    assert_not_red(&step_of(&status, "health", "api-health")["state"]);
    let echo = step_of(&status, "target-echo", "read-back");
    assert_eq!(echo["state"], "failed", "{echo}");
    assert_eq!(echo["reason"], "assertion");
    let failed: Vec<&Value> = echo["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{echo}");
    // JSON carries the target's text as it is.
    assert_eq!(
        failed[0]["actual"],
        serde_json::to_string(HOSTILE).unwrap(),
        "{echo}"
    );
    // The certificate check's days left, about 90.
    let days = step_of(&status, "tls-certificate", "certificate")["certificate"]["days_left"]
        .as_f64()
        .unwrap();
    assert!((88.0..91.0).contains(&days), "{days}");

    let artifacts = artifacts_dir();
    let (phone_png, desktop_png) = (
        artifacts.join("status-page-phone.png"),
        artifacts.join("status-page-desktop.png"),
    );
    let flows_json = json!(flows).to_string();
    // Chromium's protocol calls block: keep them off the runtime's workers
    // so the in-process demo target keeps answering.
    tokio::task::block_in_place(|| {
        let mut c = Chromium::start(375, 812, true);
        c.goto(&page);

        // The target's markup is text, and no element came from it.
        let echo = c.eval(
            "(() => {
                const step = document.querySelector('li.step[data-flow=\"target-echo\"][data-step=\"read-back\"]');
                return {
                    state: step.dataset.state,
                    text: step.querySelector('.failure').textContent,
                    inside: step.querySelectorAll('script, img, iframe, object').length,
                    scripts: [...document.scripts].map(s => s.src),
                    images: document.images.length,
                };
            })()",
        );
        assert_eq!(echo["state"], "failed", "{echo}");
        let text = echo["text"].as_str().unwrap();
        assert!(
            text.contains("<script>alert(1)</script><img src=x onerror=alert(2)>"),
            "{text}"
        );
        assert!(text.contains("[probe] a plain title"), "{text}");
        assert_eq!(echo["inside"], 0, "{echo}");
        assert_eq!(echo["images"], 0, "{echo}");
        let scripts = echo["scripts"].as_array().unwrap();
        assert_eq!(scripts.len(), 1, "{echo}");
        assert!(
            scripts[0]
                .as_str()
                .unwrap()
                .starts_with(&run.url("/static/status.js")),
            "{echo}"
        );

        // Every flow, in the API's order, with every step.
        let rendered = c.eval(&format!(
            "(() => {{
                const want = {flows_json};
                const got = [...document.querySelectorAll('article.flow')].map(a => a.dataset.flow);
                const missing = [];
                for (const [f, steps] of want)
                    for (const s of steps)
                        if (!document.querySelector(`li.step[data-flow=\"${{f}}\"][data-step=\"${{s}}\"]`))
                            missing.push(f + '/' + s);
                return {{ got, missing }};
            }})()"
        ));
        let want: Vec<&str> = flows.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(rendered["got"], json!(want), "{rendered}");
        assert_eq!(rendered["missing"], json!([]), "{rendered}");
        assert_not_red(&c.eval(&step_state("health", "api-health")));
        assert_eq!(
            c.eval("document.querySelector('.overall h1').textContent"),
            "1 of 17 flows failing"
        );
        // The probe's own health is on the page.
        let tiles = c.eval("document.querySelector('.health').textContent");
        for shown in [
            "version",
            "uptime",
            "flows17",
            "ready",
            "last reload",
            "schedule lag",
        ] {
            assert!(
                tiles.as_str().unwrap().contains(shown),
                "{shown} in {tiles}"
            );
        }
        assert!(
            c.eval(
                "document.querySelector('li.step[data-step=\"certificate\"] .cert').textContent"
            )
            .as_str()
            .unwrap()
            .contains("days left")
        );
        // A phone's width: nothing sticks out sideways.
        assert_eq!(
            c.eval("document.documentElement.scrollWidth <= window.innerWidth"),
            true,
            "the page is wider than a 375 px phone"
        );

        // A fault: /api/health answers 503. The page already open turns the
        // step red by itself (the script swaps in fresh markup); the marker
        // set now proves the document was never reloaded.
        c.eval("window.__sameDocument = 'yes'");
        let mut f = Faults::default();
        f.apply_spec("error:GET:/api/health=1:503").unwrap();
        s.set_faults(f);
        c.wait_for(
            Duration::from_secs(60),
            "health/api-health to turn red in the open page",
            &format!("{} === 'failed'", step_state("health", "api-health")),
        );
        assert_eq!(c.eval("window.__sameDocument"), "yes", "the page reloaded");
        // With scripts on, the <noscript> reload is inert.
        assert_eq!(
            c.eval("document.querySelectorAll('meta[http-equiv=refresh]').length"),
            0
        );
        assert!(
            c.eval("Number(document.documentElement.dataset.refreshes)")
                .as_f64()
                .unwrap()
                >= 1.0
        );
        let red = c.eval(
            "(() => {
                const step = document.querySelector('li.step[data-flow=\"health\"][data-step=\"api-health\"]');
                return {
                    flow: step.closest('article').dataset.state,
                    reason: step.querySelector('.reason').textContent,
                    failure: step.querySelector('.failure').textContent,
                };
            })()",
        );
        assert_eq!(red["flow"], "failed", "{red}");
        assert_eq!(red["reason"], "status", "{red}");
        assert!(
            red["failure"]
                .as_str()
                .unwrap()
                .contains("expected 200, got 503"),
            "{red}"
        );
        // The SPA is its own flow: still green; other flows are untouched.
        assert_not_red(&c.eval(&step_state("spa", "spa-root")));
        assert_not_red(&c.eval(&step_state("login", "login")));
        assert_not_red(&c.eval(&step_state("db-liveness", "public-feed-page")));
        // The refreshed markup is still only text from the target.
        assert_eq!(
            c.eval("document.scripts.length + document.images.length"),
            1
        );

        c.screenshot(&phone_png);
        c.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        c.screenshot(&desktop_png);

        // With JavaScript off the server-rendered page is complete, and it
        // falls back to reloading itself.
        c.call(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": true}),
        );
        c.goto(&format!("{page}?nojs"));
        // (`eval` still works: only the page's own scripts are disabled.)
        assert_eq!(
            c.eval("document.querySelectorAll('article.flow').length"),
            17
        );
        assert_eq!(c.eval(&step_state("health", "api-health")), "failed");
        assert_eq!(
            c.eval("document.getElementById('live').textContent"),
            "reloads every 10 s"
        );
        assert_eq!(
            c.eval("document.querySelectorAll('meta[http-equiv=refresh]').length"),
            1
        );
        // Nothing was blocked by the page's CSP, nothing failed to load, no
        // script error.
        assert_eq!(c.errors(), Vec::<String>::new());
    });
    println!(
        "status page screenshots: {} and {}",
        phone_png.display(),
        desktop_png.display()
    );
    assert!(std::fs::metadata(&phone_png).unwrap().len() > 10_000);

    let (code, log) = run.terminate(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{log}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_endpoint_serves_the_page_data_and_the_page_forbids_inline_code() {
    let s = demo(&[]).await;
    let flows = r#"
  - name: health
    interval: 200ms
    steps:
      - name: api-health
        url: ${base}/api/health
        budget: { p50: 100ms, p95: 200ms }
        expect: { status: 200 }
"#;
    let run = start_run(
        &crate::run::probe(&s.base_url(), flows),
        &["--location", "eu-1"],
        &[],
    )
    .await;
    let start = Instant::now();
    let st = loop {
        let st = status_json(&run.url("/api/status")).await;
        if st["flows"][0]["steps"][0]["samples"].as_u64().unwrap_or(0) >= 3 {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(st["probe"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(st["probe"]["location"], "eu-1");
    assert_eq!(st["probe"]["ready"], true);
    assert_eq!(st["summary"]["passing"], 1);
    let f = &st["flows"][0];
    assert_eq!(
        (&f["target"], &f["flow"]),
        (&json!("demo"), &json!("health"))
    );
    assert_eq!(f["interval_seconds"], 0.2);
    assert_eq!(f["state"], "passed");
    assert!(
        f["last_run"]["finished_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let step = &f["steps"][0];
    assert_eq!(step["kind"], "request");
    assert_eq!(step["status"], 200);
    assert_eq!(step["budget"]["p95"], 0.2);
    assert_eq!(step["budget"]["p99"], Value::Null);
    assert_eq!(step["window"], "5m");
    assert!(step["quantiles"]["p95"].as_f64().unwrap() > 0.0);
    assert_eq!(
        step["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["window"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["1m", "5m", "15m"]
    );
    let history = step["history"].as_array().unwrap();
    assert!(history.len() >= 3 && history.len() <= 60, "{step}");
    assert!(history.iter().all(|p| p["passed"] == true));
    assert_eq!(step["checks"][0]["check"], "status");

    // The page and its refresh fragment: strict headers, one script, from us.
    for path in ["/", "/?part=main"] {
        let r = http_client().get(run.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body = r.text().await.unwrap();
        assert!(body.contains("<main id=\"status\""), "{body}");
        assert!(!body.contains("<style"), "inline style in {path}");
        assert!(!body.contains(" style="), "inline style in {path}");
        let scripts = body.matches("<script").count();
        assert_eq!(scripts, usize::from(path == "/"), "{body}");
        // Every resource it loads is ours (a relative URL on this origin).
        for attr in ["src=\"", "href=\""] {
            for (i, _) in body.match_indices(attr) {
                let url = &body[i + attr.len()..];
                assert!(
                    url.starts_with('/'),
                    "{path}: {}",
                    &url[..url.len().min(60)]
                );
            }
        }
    }
    for (path, ty) in [
        ("/static/status.css?v=1", "text/css; charset=utf-8"),
        ("/static/status.js?v=1", "text/javascript; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let r = http_client().get(run.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ty, "{path}");
        let body = r.text().await.unwrap();
        // Nothing from elsewhere: no URL to another host, no web font.
        assert!(!body.contains("://") || path.ends_with(".svg"), "{path}");
        assert!(
            !body.contains("@import") && !body.contains("@font-face"),
            "{path}"
        );
    }
    assert_eq!(run.get("/static/nope.js", None).await.0, 404);
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    s.stop().await;
}

/// A healthy step is `passed`, or `slow` when a loaded machine (2 cores, the
/// suite in parallel) pushed it over its latency budget: both are "not red",
/// which is what these tests judge. Anything else (failed, skipped, pending)
/// fails the test.
fn assert_not_red(state: &Value) {
    assert!(
        state == "passed" || state == "slow",
        "a healthy step shows {state}, not passed (or slow)"
    );
}
