//! Soak: `smokeprobe run` as a process doing ≥ 100,000 flow runs against the
//! demo target (another process, so the probe's RSS is measured alone) in
//! accelerated time — realistic flows (health, the public feed with JSON
//! assertions, a login → create → publish → delete lifecycle, CORS and
//! security headers) on intervals of a few milliseconds, several copies of
//! each running at once.
//!
//! The probe's own `/metrics` is read while it runs. After a warm-up (the
//! first 10 % of the runs) the resident memory, open descriptors and alive
//! tokio tasks are recorded; at the end, RSS (the largest of a few samples)
//! must be within 5 % of the warm-up value, and descriptors and tasks within
//! what the runs in flight can hold. No step may fail, the probe must stop
//! cleanly on SIGTERM, and the demo must hold no synthetic trip afterwards
//! (every `always` cleanup ran).
//!
//! `SMOKEPROBE_SOAK_RUNS` overrides the number of runs (default 100,000, what
//! CI runs). The summary line (`SOAK …`) is printed to stderr; nextest shows it
//! on failure, `--success-output immediate` always. docs/reliability.md
//! ("Soak") has the numbers of a measured run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use smokeprobe::demo::DemoOptions;

use crate::common::*;
use crate::run::{promtool_check, start_run};

/// Copies of each flow: runs in flight at once, at most (a flow never
/// overlaps itself), and the `--concurrency` given to the probe.
const COPIES: usize = 4;
const FLOW_KINDS: usize = 4;
const CONCURRENCY: usize = COPIES * FLOW_KINDS;
/// "Accelerated time": every flow is due every few milliseconds; a run that
/// is still going when its next slot comes skips that slot.
const INTERVAL: &str = "2ms";
/// How often /metrics is read.
const SCRAPE_EVERY: Duration = Duration::from_millis(500);
/// Samples read after the last run is counted; the largest RSS of them is judged.
const END_SAMPLES: usize = 5;
/// The probe stalled (no run finished) for this long: fail rather than hang.
const STALL: Duration = Duration::from_secs(60);

fn soak_runs() -> u64 {
    match std::env::var("SMOKEPROBE_SOAK_RUNS") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("SMOKEPROBE_SOAK_RUNS={v:?} is not a number of runs")),
        Err(_) => 100_000,
    }
}

/// The probe file: `COPIES` of each flow. Flow names must be unique; the
/// copies share everything else.
fn soak_probe(base: &str) -> String {
    let mut y = format!(
        r#"version: 1
target: soak
vars:
  base: {base}
  api: ${{base}}/api
  username: probe
  allowed_origin: https://contravento.example
defaults:
  timeout: 5s
  deadline: 20s
  interval: {INTERVAL}
  headers: {{ accept: application/json }}
flows:
"#
    );
    for i in 1..=COPIES {
        y.push_str(&format!(
            r#"  - name: health-{i}
    steps:
      - name: api-health
        url: ${{api}}/health
        expect:
          status: 200
          content_type: application/json
          json:
            - {{ path: $.success, equals: true }}
            - {{ path: $.data.status, equals: healthy }}
  - name: feed-{i}
    steps:
      - name: public-feed
        url: ${{api}}/trips/public
        query: {{ page: "1", limit: "5" }}
        expect:
          status: 200
          json:
            - {{ path: $.pagination.total, type: integer }}
            - {{ path: $.trips, type: array }}
  - name: lifecycle-{i}
    steps:
      - name: login
        method: POST
        url: ${{api}}/auth/login
        json: {{ login: "${{username}}", password: "${{env:SOAK_PASSWORD}}" }}
        expect: {{ status: 200 }}
        capture:
          token: {{ json: $.data.access_token, secret: true }}
      - name: create-trip
        method: POST
        url: ${{api}}/trips
        headers: {{ authorization: "Bearer ${{token}}" }}
        json:
          title: "[probe] soak ${{run_id}}"
          description: "Synthetic trip created by the soak test; deleted at once."
          start_date: "${{yesterday}}"
          tags: [probe]
        expect:
          status: 201
          json:
            - {{ path: $.data.status, equals: draft }}
        capture:
          trip_id: {{ json: $.data.trip_id }}
      - name: publish
        method: POST
        url: ${{api}}/trips/${{trip_id}}/publish
        headers: {{ authorization: "Bearer ${{token}}" }}
        expect:
          status: 200
          json:
            - {{ path: $.data.status, equals: published }}
      - name: delete-trip
        always: true
        method: DELETE
        url: ${{api}}/trips/${{trip_id}}
        headers: {{ authorization: "Bearer ${{token}}" }}
        expect: {{ status: 200 }}
  - name: security-{i}
    steps:
      - name: cors-login
        cors:
          url: ${{api}}/auth/login
          method: POST
          request_headers: [content-type, authorization]
          allowed_origins: ["${{allowed_origin}}"]
          credentials: true
          simple_request: ${{api}}/trips/public?limit=1
      - name: headers
        security_headers:
          urls: ["${{base}}/", "${{api}}/health"]
"#
        ));
    }
    y
}

/// `smokeprobe demo --serve-only --tls off --port 0` as a child process,
/// without the demo's bcrypt-like login cost (the soak measures the probe,
/// and its tens of thousands of logins would otherwise wait for it).
struct DemoProc {
    child: Child,
    base: String,
}

impl DemoProc {
    fn start() -> DemoProc {
        let mut child = crate::common::command()
            .args(["demo", "--serve-only", "--tls", "off", "--port", "0"])
            .args(["--fault", "login-cost=0ms"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("smokeprobe demo starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address, then keeps draining (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the demo says where it listens");
        DemoProc { child, base }
    }

    /// VmRSS of the demo process, in bytes (for the summary only).
    fn rss(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        smokeprobe::metrics::process::parse_status(&status).resident_bytes
    }
}

impl Drop for DemoProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of every sample of `name` (all label sets).
fn total(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let n = series.split('{').next()?;
            (n == name).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// What the soak watches in one scrape.
#[derive(Clone, Copy, Debug)]
struct Reading {
    at: Duration,
    runs: f64,
    rss: f64,
    fds: f64,
    tasks: f64,
    failures: f64,
}

fn reading(m: &str, at: Duration) -> Reading {
    let one = |name: &str| {
        crate::run::sample(m, name, &[]).unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    Reading {
        at,
        runs: total(m, "smokeprobe_flow_runs_total"),
        rss: one("process_resident_memory_bytes"),
        fds: one("process_open_fds"),
        tasks: one("smokeprobe_runtime_alive_tasks"),
        failures: total(m, "smokeprobe_step_failures_total"),
    }
}

fn mb(bytes: f64) -> f64 {
    bytes / 1_048_576.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_100k_flow_runs_without_growth() {
    let target = soak_runs();
    let demo = tokio::task::spawn_blocking(DemoProc::start)
        .await
        .expect("demo start joins");
    let password = DemoOptions::default().password;
    let run = start_run(
        &soak_probe(&demo.base),
        &["--concurrency", &CONCURRENCY.to_string(), "--grace", "20s"],
        &[("SOAK_PASSWORD", &password)],
    )
    .await;
    // One client, one kept-alive connection: the scrapes do not add descriptors.
    let client = http_client();
    let url = run.url("/metrics");
    let scrape = || async {
        let resp = client.get(&url).send().await.expect("/metrics answers");
        assert_eq!(resp.status().as_u16(), 200);
        resp.text().await.expect("/metrics body")
    };

    let started = Instant::now();
    let mut warm: Option<Reading> = None;
    let mut last = reading(&scrape().await, started.elapsed());
    let mut progressed_at = Instant::now();
    while last.runs < target as f64 {
        tokio::time::sleep(SCRAPE_EVERY).await;
        let r = reading(&scrape().await, started.elapsed());
        assert_eq!(
            r.failures,
            0.0,
            "a step failed during the soak (after {} runs):\n{}",
            r.runs,
            run.log()
        );
        if r.runs > last.runs {
            progressed_at = Instant::now();
        }
        assert!(
            progressed_at.elapsed() < STALL,
            "no flow run started for {STALL:?} (at {} runs):\n{}",
            r.runs,
            run.log()
        );
        if warm.is_none() && r.runs >= target as f64 / 10.0 {
            warm = Some(r);
        }
        last = r;
    }
    let warm = warm.expect("a warm-up reading");
    let mut end = Vec::with_capacity(END_SAMPLES);
    let mut final_metrics = String::new();
    for _ in 0..END_SAMPLES {
        final_metrics = scrape().await;
        end.push(reading(&final_metrics, started.elapsed()));
        tokio::time::sleep(SCRAPE_EVERY).await;
    }
    let last = *end.last().expect("end readings");
    let max = |f: fn(&Reading) -> f64| end.iter().map(f).fold(f64::MIN, f64::max);
    let (rss_end, fds_end, tasks_end) = (max(|r| r.rss), max(|r| r.fds), max(|r| r.tasks));
    promtool_check(&final_metrics);

    // Stop the probe the way an orchestrator does: runs in flight finish,
    // their cleanup steps included.
    let (code, log) = run.terminate(Duration::from_secs(60)).await;
    let state: serde_json::Value = client
        .get(format!("{}/__demo/state", demo.base))
        .send()
        .await
        .expect("the demo still answers")
        .json()
        .await
        .expect("demo state is JSON");
    let trips = state["trips"].as_array().expect("trips");
    let orphans: Vec<&serde_json::Value> = trips
        .iter()
        .filter(|t| {
            t["owner"] == "probe"
                || t["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("[probe]"))
        })
        .collect();

    let secs = last.at.as_secs_f64();
    let growth = (rss_end / warm.rss - 1.0) * 100.0;
    eprintln!(
        "SOAK runs={:.0} wall={secs:.1}s runs/s={:.0} rss warm-up={:.1}MB (at {:.0} runs, {:.1}s) end={:.1}MB ({growth:+.2} %) \
         fds warm-up={:.0} end-max={fds_end:.0} tasks warm-up={:.0} end-max={tasks_end:.0} concurrency={CONCURRENCY} \
         step-failures={:.0} | demo: rss={:.1}MB sessions={} requests={} trips={} orphans={}",
        last.runs,
        last.runs / secs,
        mb(warm.rss),
        warm.runs,
        warm.at.as_secs_f64(),
        mb(rss_end),
        warm.fds,
        warm.tasks,
        last.failures,
        demo.rss().map(mb).unwrap_or(f64::NAN),
        state["sessions"],
        state["requests"],
        trips.len(),
        orphans.len(),
    );

    assert!(
        rss_end < warm.rss * 1.05,
        "RSS grew {growth:.2} % after warm-up: {:.1} MB at {:.0} runs → {:.1} MB at {:.0} runs",
        mb(warm.rss),
        warm.runs,
        mb(rss_end),
        last.runs
    );
    // Each run in flight holds at most one connection (one origin, one idle
    // connection per origin per run) and two tasks (the run and the driver of
    // its connection); at most CONCURRENCY runs are in flight, so the warm-up
    // and end readings can differ by that much without anything leaking. The
    // +2 covers the metrics endpoint's own connection and task being replaced
    // between readings.
    assert!(
        fds_end <= warm.fds + CONCURRENCY as f64 + 2.0,
        "open descriptors grew: {} at warm-up → {fds_end} at the end",
        warm.fds
    );
    assert!(
        tasks_end <= warm.tasks + 2.0 * CONCURRENCY as f64 + 2.0,
        "alive tasks grew: {} at warm-up → {tasks_end} at the end",
        warm.tasks
    );
    assert_eq!(last.failures, 0.0, "{log}");
    assert_eq!(code, Some(0), "the probe did not stop cleanly:\n{log}");
    assert!(
        orphans.is_empty(),
        "synthetic trips left behind: {orphans:?}"
    );
    // The two seeded trips, nothing else.
    assert_eq!(trips.len(), 2, "{state}");
}
