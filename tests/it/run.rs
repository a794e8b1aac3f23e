//! `smokeprobe run` as a process against in-process targets on loopback: the
//! exposition passes a real `promtool check metrics`, flows keep their
//! schedules whatever another target does, reloads (HTTP and SIGHUP) refuse a
//! broken file and keep the old flows, auth guards the endpoint, SIGTERM is
//! graceful, and failed steps are logged one line each.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// A running `smokeprobe run` child process.
pub struct RunProc {
    child: Child,
    pub addr: String,
    /// stderr (the log), and stdout.
    log: Arc<Mutex<String>>,
    out: Arc<Mutex<String>>,
    /// The threads draining stdout and stderr: they end when the child does.
    drains: Vec<std::thread::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

/// Starts `smokeprobe run <dir>/probe.yaml --listen 127.0.0.1:0 <extra>` and
/// waits until it says where it serves.
pub async fn start_run(yaml: &str, extra: &[&str], env: &[(&str, &str)]) -> RunProc {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut cmd = crate::common::command();
    cmd.arg("run")
        .arg(&file)
        .args(["--listen", "127.0.0.1:0", "--max-jitter", "50ms"])
        .args(extra)
        .env("SMOKEPROBE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("smokeprobe run starts");
    let stdout = child.stdout.take().unwrap();
    let out = Arc::new(Mutex::new(String::new()));
    let out_sink = out.clone();
    // Drains stdout likewise (`run` prints little there, but a full pipe would block it).
    let out_drain = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut o = out_sink.lock().unwrap();
            o.push_str(&line);
            o.push('\n');
        }
    });
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    // Drains stderr for the whole life of the child (a full pipe would block it).
    let log_drain = std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent
                && let Some(rest) = line
                    .split("metrics at http")
                    .nth(1)
                    .map(|r| r.trim_start_matches('s').trim_start_matches("://"))
            {
                let addr = rest.split('/').next().unwrap_or_default().to_string();
                let _ = tx.send(addr);
                sent = true;
            }
            sink.lock().unwrap().push_str(&line);
            sink.lock().unwrap().push('\n');
        }
    });
    let got = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    let addr =
        got.unwrap_or_else(|_| panic!("run never said where it serves:\n{}", log.lock().unwrap()));
    RunProc {
        child,
        addr,
        log,
        out,
        drains: vec![out_drain, log_drain],
        dir,
    }
}

impl RunProc {
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> (u16, String) {
        let mut req = http_client().get(self.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("endpoint answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics", None).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls /metrics until `ok` holds (or panics after `within`).
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let m = self.metrics().await;
            if ok(&m) {
                return m;
            }
            assert!(
                start.elapsed() < within,
                "timed out waiting for {what}:\n{m}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// SIGTERM, then the exit code (within `within`) and the log.
    pub async fn terminate(self, within: Duration) -> (Option<i32>, String) {
        let (code, log, _) = self.finish(within).await;
        (code, log)
    }

    /// SIGTERM, then the exit code (within `within`), everything it wrote on
    /// stderr and everything on stdout.
    pub async fn finish(mut self, within: Duration) -> (Option<i32>, String, String) {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // The pipes close with the child: the drains end with its last lines.
                let drains = std::mem::take(&mut self.drains);
                tokio::task::spawn_blocking(move || {
                    for d in drains {
                        let _ = d.join();
                    }
                })
                .await
                .unwrap();
                return (st.code(), self.log(), self.stdout());
            }
            if start.elapsed() > within {
                let _ = self.child.kill();
                panic!("run did not exit within {within:?}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RunProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Value of the first sample of `name` whose labels include all of `labels`.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

/// A probe file over `base` with the given flows (YAML list items).
pub fn probe(base: &str, flows: &str) -> String {
    format!("target: demo\nvars:\n  base: {base}\nflows:\n{flows}")
}

pub fn promtool_check(metrics: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool is needed for this test: `apt-get install -y prometheus` (Debian) — .ci/run installs it",
        );
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n---\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const HEALTH: &str = r#"
  - name: health
    interval: 200ms
    steps:
      - name: api-health
        url: ${base}/api/health
        budget: 200ms
        expect: { status: 200 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposition_passes_promtool_and_carries_every_family() {
    let (s, _d, ca) = tls_demo_with_ca(&[]).await;
    let flows = format!(
        "{HEALTH}{}",
        r#"
  - name: security
    interval: 300ms
    steps:
      - name: certificate
        tls: { url: "${base}", min_days: 14 }
      - name: headers
        security_headers: { urls: ["${base}/"], profile: strict }
"#
    );
    let run = start_run(&probe(&s.base_url(), &flows), &["--ca-file", &ca], &[]).await;
    let (ready, _) = run.get("/-/ready", None).await;
    let m = run
        .wait_for(Duration::from_secs(20), "two runs of each flow", |m| {
            sample(m, "smokeprobe_flow_runs_total", &[("flow", "health")]).unwrap_or(0.0) >= 2.0
                && sample(m, "smokeprobe_flow_runs_total", &[("flow", "security")]).unwrap_or(0.0)
                    >= 2.0
        })
        .await;
    promtool_check(&m);
    let (status, _) = run.get("/-/ready", None).await;
    assert_eq!(status, 200);
    let _ = ready;
    let l = [("target", "demo"), ("flow", "health")];
    assert_eq!(sample(&m, "probe_success", &l), Some(1.0));
    assert!(sample(&m, "probe_duration_seconds", &l).unwrap() > 0.0);
    let st = [("flow", "health"), ("step", "api-health")];
    assert_eq!(sample(&m, "probe_http_status_code", &st), Some(200.0));
    assert_eq!(sample(&m, "smokeprobe_step_success", &st), Some(1.0));
    assert!(sample(&m, "smokeprobe_step_duration_seconds_count", &st).unwrap() >= 2.0);
    assert_eq!(
        sample(
            &m,
            "smokeprobe_step_budget_seconds",
            &[("step", "api-health"), ("percentile", "p95")]
        ),
        Some(0.2)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_step_failures_total",
            &[("step", "api-health"), ("reason", "timeout")]
        ),
        Some(0.0)
    );
    // The certificate's expiry, about 90 days out.
    let exp = sample(
        &m,
        "probe_ssl_earliest_cert_expiry",
        &[("step", "certificate")],
    )
    .unwrap();
    let days = (exp - smokeprobe::builtins::unix_now()) / 86_400.0;
    assert!((88.0..91.0).contains(&days), "{days}");
    // Strict profile on the hardened demo: only hsts-preload fails, as a warning.
    assert_eq!(
        sample(
            &m,
            "smokeprobe_check_rule_failures",
            &[("rule", "hsts-preload"), ("severity", "warning")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_check_rule_failures",
            &[("rule", "hsts"), ("severity", "required")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "smokeprobe_config_last_reload_successful", &[]),
        Some(1.0)
    );
    // The process's own series: Linux reads them from /proc/self.
    if cfg!(target_os = "linux") {
        for name in [
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
            "process_threads",
        ] {
            assert!(
                sample(&m, name, &[]).is_some_and(|v| v > 0.0),
                "{name} missing or zero:\n{m}"
            );
        }
        assert!(sample(&m, "process_cpu_seconds_total", &[]).is_some_and(|v| v >= 0.0));
        let start = sample(&m, "process_start_time_seconds", &[]).unwrap();
        assert!(start <= smokeprobe::builtins::unix_now() + 1.0);
    }
    // One schedule per flow at least.
    assert!(sample(&m, "smokeprobe_runtime_alive_tasks", &[]).is_some_and(|v| v >= 2.0));
    // No label value is an id or a URL.
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.contains("://"), "URL in a label: {line}");
    }
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    s.stop().await;
}

/// A raw TCP server that accepts connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_delays_no_other_flow() {
    let (s, _d, ca) = tls_demo_with_ca(&[]).await;
    let (hole, task) = black_hole().await;
    let flows = format!(
        "{HEALTH}
  - name: hangs
    interval: 300ms
    steps:
      - name: never-answers
        url: {hole}/api/health
        timeout: 1s
"
    );
    let run = start_run(&probe(&s.base_url(), &flows), &["--ca-file", &ca], &[]).await;
    let started = Instant::now();
    let m = run
        .wait_for(Duration::from_secs(30), "two timeouts", |m| {
            sample(
                m,
                "smokeprobe_step_failures_total",
                &[("step", "never-answers"), ("reason", "timeout")],
            )
            .unwrap_or(0.0)
                >= 2.0
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let health_runs = sample(&m, "smokeprobe_flow_runs_total", &[("flow", "health")]).unwrap();
    // Every 200 ms, whatever the other flow does. Generous bounds: this machine
    // is shared; a flow held up by the 1 s timeouts would miss most of its slots.
    assert!(
        health_runs >= (elapsed / 0.2) * 0.6,
        "health ran {health_runs} times in {elapsed:.2} s"
    );
    // No health run started 250 ms late (being held by a 1 s timeout would be ~1 s).
    let lag_ok = sample(
        &m,
        "smokeprobe_schedule_lag_seconds_bucket",
        &[("flow", "health"), ("le", "0.25")],
    )
    .unwrap();
    let lag_all = sample(
        &m,
        "smokeprobe_schedule_lag_seconds_count",
        &[("flow", "health")],
    )
    .unwrap();
    assert_eq!(lag_ok, lag_all, "late health runs:\n{m}");
    // The hanging flow's runs (1 s timeout, 300 ms interval) were skipped, not queued.
    assert!(
        sample(
            &m,
            "smokeprobe_flow_skipped_runs_total",
            &[("flow", "hangs")]
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(sample(&m, "probe_success", &[("flow", "hangs")]), Some(0.0));
    assert_eq!(
        sample(&m, "probe_success", &[("flow", "health")]),
        Some(1.0)
    );
    // One log line per failed step, with flow, step and reason.
    let log = run.log();
    assert!(
        log.lines().any(|l| l.contains("step failed")
            && l.contains("flow=hangs")
            && l.contains("step=never-answers")
            && l.contains("reason=\"timeout\"")),
        "{log}"
    );
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    task.abort();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_reload_keeps_the_old_flows_running() {
    let (s, _d, ca) = tls_demo_with_ca(&[]).await;
    let yaml = probe(&s.base_url(), HEALTH);
    let run = start_run(&yaml, &["--ca-file", &ca], &[]).await;
    run.wait_for(Duration::from_secs(20), "a health run", |m| {
        sample(m, "smokeprobe_flow_runs_total", &[("flow", "health")]).unwrap_or(0.0) >= 1.0
    })
    .await;
    // Break the file and ask for a reload over HTTP.
    let file = run.dir.path().join("probe.yaml");
    std::fs::write(
        &file,
        format!("{yaml}\n  - name: broken\n    steps: nope\n"),
    )
    .unwrap();
    let resp = http_client()
        .post(run.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("probe.yaml:"), "{body}");
    let m = run.metrics().await;
    assert_eq!(
        sample(&m, "smokeprobe_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "smokeprobe_config_reloads_total",
            &[("result", "failure")]
        ),
        Some(1.0)
    );
    let before = sample(&m, "smokeprobe_flow_runs_total", &[("flow", "health")]).unwrap();
    run.wait_for(Duration::from_secs(20), "health still running", |m| {
        sample(m, "smokeprobe_flow_runs_total", &[("flow", "health")]).unwrap_or(0.0)
            >= before + 2.0
    })
    .await;
    assert!(run.log().contains("reload refused"), "{}", run.log());

    // A good file over SIGHUP: the new flow appears and the failure clears.
    let good = probe(
        &s.base_url(),
        &format!(
            "{HEALTH}\n  - name: feed\n    interval: 200ms\n    steps:\n      - name: public\n        url: ${{base}}/api/trips/public?limit=1\n"
        ),
    );
    std::fs::write(&file, good).unwrap();
    run.signal("HUP");
    run.wait_for(Duration::from_secs(20), "the reloaded flow", |m| {
        sample(m, "smokeprobe_flow_runs_total", &[("flow", "feed")]).unwrap_or(0.0) >= 1.0
            && sample(m, "smokeprobe_config_last_reload_successful", &[]) == Some(1.0)
    })
    .await;
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_auth_guards_metrics_but_not_health() {
    let (s, d, ca) = tls_demo_with_ca(&[]).await;
    let token = d.path().join("token");
    std::fs::write(&token, "s3cret-t0ken\n").unwrap();
    let run = start_run(
        &probe(&s.base_url(), HEALTH),
        &[
            "--ca-file",
            &ca,
            "--web-bearer-token-file",
            &token.display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.get("/metrics", None).await.0, 401);
    assert_eq!(run.get("/metrics", Some("Bearer wrong")).await.0, 401);
    let (status, body) = run.get("/metrics", Some("Bearer s3cret-t0ken")).await;
    assert_eq!(status, 200);
    assert!(body.contains("smokeprobe_build_info"));
    // The scheme is case-insensitive (RFC 7235 §2.1), the token is not.
    assert_eq!(
        run.get("/metrics", Some("bearer s3cret-t0ken")).await.0,
        200
    );
    assert_eq!(
        run.get("/metrics", Some("bearer S3CRET-T0KEN")).await.0,
        401
    );
    assert_eq!(run.get("/-/healthy", None).await.0, 200);
    // The status page, its JSON and its assets are guarded like /metrics.
    for path in ["/", "/?part=main", "/api/status", "/static/status.js?v=1"] {
        assert_eq!(run.get(path, None).await.0, 401, "{path}");
        assert_eq!(
            run.get(path, Some("Bearer s3cret-t0ken")).await.0,
            200,
            "{path}"
        );
    }
    let resp = http_client()
        .post(run.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(!run.log().contains("s3cret-t0ken"));
    let (code, log) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    assert!(!log.contains("s3cret-t0ken"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_flow_clean_up_and_exits_zero() {
    // Publishing takes 1.5 s: SIGTERM lands mid-flow, the cleanup must still run.
    let (s, _d, ca) = tls_demo_with_ca(&["latency:POST:/api/trips/=1500ms"]).await;
    let d = smokeprobe::demo::DemoOptions::default();
    let flows = r#"
  - name: lifecycle
    interval: 30s
    steps:
      - name: login
        method: POST
        url: ${base}/api/auth/login
        json: { login: "probe", password: "${env:DEMO_PW}" }
        capture:
          token: { json: $.data.access_token, secret: true }
      - name: create
        method: POST
        url: ${base}/api/trips
        headers: { authorization: "Bearer ${token}" }
        json: { title: "[probe] sigterm", description: "Synthetic trip created by the smokeprobe test suite, deleted at once.", start_date: "${yesterday}" }
        expect: { status: 201 }
        capture:
          trip_id: { json: $.data.trip_id }
      - name: publish
        method: POST
        url: ${base}/api/trips/${trip_id}/publish
        headers: { authorization: "Bearer ${token}" }
      - name: delete
        always: true
        method: DELETE
        url: ${base}/api/trips/${trip_id}
        headers: { authorization: "Bearer ${token}" }
        expect: { status: 200 }
"#;
    let run = start_run(
        &probe(&s.base_url(), flows),
        &["--ca-file", &ca],
        &[("DEMO_PW", &d.password)],
    )
    .await;
    // Wait until the trip exists (the run is inside the slow publish).
    let start = Instant::now();
    while !s.trips().iter().any(|t| t.title == "[probe] sigterm") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "trip never created:\n{}",
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, log) = run.terminate(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !s.trips().iter().any(|t| t.title.starts_with("[probe]")),
        "synthetic trip left behind: {:?}\n{log}",
        s.trips()
    );
    assert!(!log.contains(&d.password), "password in the log");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_are_measured_and_a_reused_connection_pays_no_handshake() {
    let (s, _d, ca) = tls_demo_with_ca(&["latency:/api/cycling-types=30ms"]).await;
    // By name, so that resolving is a real step.
    let base = format!("https://localhost:{}", s.addr().port());
    let flows = r#"
  - name: phases
    interval: 200ms
    steps:
      - name: first
        url: ${base}/api/health
      - name: second
        url: ${base}/api/cycling-types
"#;
    let run = start_run(&probe(&base, flows), &["--ca-file", &ca], &[]).await;
    let m = run
        .wait_for(Duration::from_secs(20), "a finished run", |m| {
            sample(m, "probe_success", &[("flow", "phases")]) == Some(1.0)
        })
        .await;
    let phase = |step: &str, p: &str| {
        sample(
            &m,
            "probe_http_duration_seconds",
            &[("step", step), ("phase", p)],
        )
        .unwrap_or_else(|| panic!("{step}/{p} missing:\n{m}"))
    };
    for p in ["resolve", "connect", "tls", "processing"] {
        assert!(phase("first", p) > 0.0, "first/{p} is zero:\n{m}");
    }
    // Same host, kept-alive connection: nothing spent on resolve, connect, tls.
    for p in ["resolve", "connect", "tls"] {
        assert_eq!(phase("second", p), 0.0, "second/{p}:\n{m}");
    }
    // The injected 30 ms is server time: it lands in processing, not transfer.
    assert!(phase("second", "processing") >= 0.030, "{m}");
    assert!(phase("second", "transfer") < 0.030, "{m}");
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_serves_tls_with_basic_auth() {
    let (s, d, ca) = tls_demo_with_ca(&[]).await;
    // A self-signed certificate for the endpoint, trusted by the test client only.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_pem, key_pem) = (d.path().join("web.pem"), d.path().join("web.key"));
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let basic = d.path().join("basic");
    std::fs::write(&basic, "prom:pa55-w0rd\n").unwrap();
    let run = start_run(
        &probe(&s.base_url(), HEALTH),
        &[
            "--ca-file",
            &ca,
            "--web-tls-cert",
            &cert_pem.display().to_string(),
            "--web-tls-key",
            &key_pem.display().to_string(),
            "--web-basic-auth-file",
            &basic.display().to_string(),
        ],
        &[],
    )
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .unwrap();
    let url = format!("https://{}/metrics", run.addr);
    let denied = client.get(&url).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    assert_eq!(
        denied.headers()["www-authenticate"],
        "Basic realm=\"smokeprobe\""
    );
    let ok = client
        .get(&url)
        .basic_auth("prom", Some("pa55-w0rd"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(ok.text().await.unwrap().contains("smokeprobe_build_info"));
    // Plain HTTP on the TLS port gets nowhere.
    assert!(
        http_client()
            .get(format!("http://{}/metrics", run.addr))
            .send()
            .await
            .map(|r| r.status().as_u16() != 200)
            .unwrap_or(true)
    );
    let (code, log) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    assert!(!log.contains("pa55-w0rd"));
    s.stop().await;
}

/// A step that works but is slower than its budget is **slow**: a third
/// state on the status page and in /api/status, and
/// `smokeprobe_step_over_budget` = 1, while `probe_success` and
/// `smokeprobe_step_success` keep saying it worked (blackbox meaning). A step
/// within its budget stays `passed` with the gauge at 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_over_its_budget_is_slow_not_failed() {
    let server = demo(&["latency:/api/cycling-types=120ms"]).await;
    let flows = r#"
  - name: reference
    interval: 300ms
    steps:
      - name: cycling-types
        url: ${base}/api/cycling-types
        budget: 50ms
        expect: { status: 200 }
  - name: health
    interval: 300ms
    steps:
      - name: api-health
        url: ${base}/api/health
        budget: 5s
        expect: { status: 200 }
"#;
    let run = start_run(&probe(&server.base_url(), flows), &[], &[]).await;
    let m = run
        .wait_for(Duration::from_secs(30), "both flows ran", |m| {
            sample(m, "smokeprobe_step_over_budget", &[("flow", "reference")]).is_some()
                && sample(m, "smokeprobe_step_over_budget", &[("flow", "health")]).is_some()
        })
        .await;
    let over = |flow: &str| {
        sample(
            &m,
            "smokeprobe_step_over_budget",
            &[("flow", flow), ("percentile", "p95")],
        )
    };
    assert_eq!(over("reference"), Some(1.0), "{m}");
    assert_eq!(over("health"), Some(0.0), "{m}");
    assert_eq!(
        sample(&m, "probe_success", &[("flow", "reference")]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "smokeprobe_step_success", &[("flow", "reference")]),
        Some(1.0),
        "{m}"
    );
    promtool_check(&m);

    let (code, body) = run.get("/api/status", None).await;
    assert_eq!(code, 200, "{body}");
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    let flow = |name: &str| {
        st["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flow"] == name)
            .unwrap_or_else(|| panic!("{name} in {st}"))
            .clone()
    };
    let reference = flow("reference");
    assert_eq!(reference["state"], "slow", "{reference}");
    assert_eq!(reference["steps"][0]["state"], "slow", "{reference}");
    assert_eq!(
        reference["steps"][0]["over_budget"][0], "p95",
        "{reference}"
    );
    assert_eq!(flow("health")["state"], "passed", "{st}");
    assert_eq!(st["summary"]["slow"], 1, "{st}");
    assert_eq!(st["summary"]["failing"], 0, "{st}");

    let (code, page) = run.get("/", None).await;
    assert_eq!(code, 200);
    assert!(page.contains("class=\"badge slow\""), "{page}");
    assert!(page.contains("1 of 2 flows slow"), "{page}");
    assert!(
        page.contains("<title>⚠ 1 slow · smokeprobe</title>"),
        "{page}"
    );
    server.stop().await;
}
