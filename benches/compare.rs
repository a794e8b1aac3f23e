//! The performance harness: smokeprobe side by side with blackbox_exporter (and
//! Hurl and curl when installed) against one ground-truth target on loopback, in
//! one run, so every ratio compares figures measured minutes apart on the same
//! machine state.
//!
//!     cargo bench --bench compare              # the full run (~4 min)
//!     cargo bench --bench compare -- --quick   # a smoke run (~1 min)
//!
//! Prints a markdown report and writes it to target/bench/report.md; see
//! docs/performance.md for what each figure means and the last results.
//!
//! The target is a hyper server on one thread of this process. It delays each
//! request by a known amount drawn from a fixed mixture (per client, the same
//! seeded sequence) and records the true time it spent in the handler, so a
//! tool's timing error is (what it reported) − (what the server spent),
//! matched request by request. CPU per check is utime+stime from /proc over a
//! fixed-rate window divided by the checks the target saw from that tool.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};

const BIN: &str = env!("CARGO_BIN_EXE_smokeprobe");

// ── the ground-truth target ────────────────────────────────────────────────

#[derive(Default)]
struct Truth {
    /// Per client: true handler time of each /check request, in order (µs).
    delays: HashMap<&'static str, Vec<f64>>,
    /// Per client: requests of any path.
    counts: HashMap<&'static str, u64>,
    /// Per client: the next index into its delay sequence.
    next: HashMap<&'static str, u64>,
}

fn client_of(ua: &str) -> &'static str {
    let ua = ua.to_ascii_lowercase();
    if ua.starts_with("smokeprobe") {
        "smokeprobe"
    } else if ua.contains("blackbox") {
        "blackbox"
    } else if ua.starts_with("hurl") {
        "hurl"
    } else if ua.starts_with("curl") {
        "curl"
    } else if ua.starts_with("raw") {
        "raw"
    } else {
        "other"
    }
}

/// The known delay of request `i` of any client: 50 % uniform 0.2–2 ms, 40 %
/// uniform 2–8 ms, 10 % uniform 15–25 ms (a fast API with a slow tail).
fn delay_of(i: u64) -> Duration {
    let mut rng = fastrand::Rng::with_seed(0x5eed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let p = rng.f64();
    let (lo, hi) = if p < 0.5 {
        (200.0, 2_000.0)
    } else if p < 0.9 {
        (2_000.0, 8_000.0)
    } else {
        (15_000.0, 25_000.0)
    };
    Duration::from_nanos(((lo + rng.f64() * (hi - lo)) * 1000.0) as u64)
}

struct Target {
    addr: SocketAddr,
    truth: Arc<Mutex<Truth>>,
    /// The OS thread id of the server thread (for pinning).
    tid: u32,
}

impl Target {
    fn start() -> Target {
        let truth: Arc<Mutex<Truth>> = Arc::default();
        let t = truth.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse().ok())
                .unwrap_or(0);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send((listener.local_addr().unwrap(), tid)).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let t = t.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| handle(req, t.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        let (addr, tid) = rx.recv().unwrap();
        Target { addr, truth, tid }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn count(&self, client: &str) -> u64 {
        self.truth
            .lock()
            .unwrap()
            .counts
            .get(client)
            .copied()
            .unwrap_or(0)
    }

    fn delays(&self, client: &str) -> Vec<f64> {
        self.truth
            .lock()
            .unwrap()
            .delays
            .get(client)
            .cloned()
            .unwrap_or_default()
    }

    fn reset(&self) {
        *self.truth.lock().unwrap() = Truth::default();
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    truth: Arc<Mutex<Truth>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let start = Instant::now();
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let client = client_of(ua);
    let check = req.uri().path() == "/check";
    let i = {
        let mut t = truth.lock().unwrap();
        *t.counts.entry(client).or_default() += 1;
        if check {
            let n = t.next.entry(client).or_default();
            *n += 1;
            *n - 1
        } else {
            0
        }
    };
    if check {
        tokio::time::sleep(delay_of(i)).await;
    }
    let body = Bytes::from_static(br#"{"status":"ok","service":"bench"}"#);
    let resp = Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    if check {
        let us = start.elapsed().as_secs_f64() * 1e6;
        truth
            .lock()
            .unwrap()
            .delays
            .entry(client)
            .or_default()
            .push(us);
    }
    Ok(resp)
}

// ── processes and /proc ────────────────────────────────────────────────────

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads, dead ones included), seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clk_tck()
}

/// Private (anonymous) resident memory in MB: what the process allocated, as
/// opposed to pages of its executable and libraries mapped from the page cache.
fn anon_mb(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// (VmRSS, VmHWM) in MB.
fn rss_mb(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

fn pin(pid_or_tid: u32, cpu: u32) {
    let _ = Command::new("taskset")
        .args(["-pc", &cpu.to_string(), &pid_or_tid.to_string()])
        .stdout(Stdio::null())
        .status();
}

fn unpin(pid_or_tid: u32) {
    let _ = Command::new("taskset")
        .args(["-pc", "0-1", &pid_or_tid.to_string()])
        .stdout(Stdio::null())
        .status();
}

/// Pins every thread of a process (taskset -a).
fn pin_all(pid: u32, cpu: u32) {
    let _ = Command::new("taskset")
        .args(["-apc", &cpu.to_string(), &pid.to_string()])
        .stdout(Stdio::null())
        .status();
}

struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let err = child.stderr.take().unwrap();
        let stderr: Arc<Mutex<String>> = Arc::default();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Proc { child, stderr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stderr line containing `needle`; returns the text after it.
    fn wait_line(&self, needle: &str, within: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(rest) = self
                .stderr
                .lock()
                .unwrap()
                .lines()
                .find_map(|l| l.split_once(needle).map(|(_, r)| r.to_string()))
            {
                return rest;
            }
            assert!(
                start.elapsed() < within,
                "no `{needle}` on stderr:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP/1.1 GET on a fresh connection: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: bench-driver\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sum of the samples of `name` (all label sets) in an exposition.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let n = l.split(['{', ' ']).next().unwrap_or("");
            n == name
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Bucket counts of histogram `name` summed over its label sets: (le, count).
fn histogram(text: &str, name: &str) -> Vec<(f64, f64)> {
    let bucket = format!("{name}_bucket");
    let mut by_le: Vec<(f64, f64)> = Vec::new();
    for l in text.lines().filter(|l| l.starts_with(&bucket)) {
        let Some(le) = l
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|v| {
                if v == "+Inf" {
                    f64::INFINITY
                } else {
                    v.parse().unwrap_or(0.0)
                }
            })
        else {
            continue;
        };
        let v: f64 = l
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0.0);
        match by_le.iter_mut().find(|(x, _)| *x == le) {
            Some(e) => e.1 += v,
            None => by_le.push((le, v)),
        }
    }
    by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
    by_le
}

/// Prometheus-style quantile from cumulative buckets (linear within a bucket).
fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = buckets.last().map(|b| b.1).unwrap_or(0.0);
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, c) in buckets {
        if c >= rank {
            if le.is_infinite() {
                return prev.0;
            }
            let span = c - prev.1;
            let frac = if span > 0.0 {
                (rank - prev.1) / span
            } else {
                0.0
            };
            return prev.0 + (le - prev.0) * frac;
        }
        prev = (le, c);
    }
    prev.0
}

fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    // Nearest rank.
    let idx = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[idx]
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|f| f.is_file())
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

// ── the measurements ──────────────────────────────────────────────────────

struct Cfg {
    fidelity_n: usize,
    cpu_window: Duration,
    rate_hz: u64,
    oneshot_n: usize,
    scale_flows: usize,
    scale_window: Duration,
}

/// One timing-error series: (reported − true) in µs.
fn errors(reported_us: &[f64], truth_us: &[f64]) -> Vec<f64> {
    reported_us
        .iter()
        .zip(truth_us)
        .map(|(r, t)| r - t)
        .collect()
}

fn smokeprobe_probe(base: &str, interval: &str, path: &str) -> String {
    format!(
        "target: bench\nvars:\n  base: {base}\nflows:\n  - name: check\n    interval: {interval}\n    deadline: 5s\n    steps:\n      - name: check\n        url: ${{base}}{path}\n        timeout: 5s\n        expect:\n          status: 200\n          json:\n            - {{ path: $.status, equals: ok }}\n"
    )
}

const BLACKBOX_YML: &str = r#"modules:
  http_json:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ['"status":"ok"']
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"#;

fn start_blackbox(dir: &Path) -> Option<(Proc, String)> {
    let bin = which("prometheus-blackbox-exporter").or_else(|| which("blackbox_exporter"))?;
    let cfg = write(dir, "blackbox.yml", BLACKBOX_YML);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let p = Proc::spawn(
        Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address={listen}")),
    );
    let start = Instant::now();
    while TcpStream::connect(&listen).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "blackbox_exporter did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((p, listen))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn probe_path(target: &Target, path: &str) -> String {
    format!(
        "/probe?module=http_json&target={}",
        target.url(path).replace(':', "%3A").replace('/', "%2F")
    )
}

/// blackbox's own account of the request: the sum of its HTTP phases (s → µs).
fn blackbox_reported_us(body: &str) -> Option<f64> {
    if metric_sum(body, "probe_success") != 1.0 {
        return None;
    }
    Some(metric_sum(body, "probe_http_duration_seconds") * 1e6)
}

struct Fidelity {
    name: &'static str,
    errors: Vec<f64>,
    note: String,
}

fn fidelity_smokeprobe(target: &Target, dir: &Path, n: usize) -> (Fidelity, String) {
    let probe = write(
        dir,
        "fidelity.yaml",
        &smokeprobe_probe(&format!("http://{}", target.addr), "1m", "/check"),
    );
    let out = dir.join("fidelity.json");
    let st = Command::new(BIN)
        .args([
            "once",
            probe.to_str().unwrap(),
            "--samples",
            &n.to_string(),
            "-q",
            "--no-color",
            "--json",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "smokeprobe once failed");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let flow = &report["flows"][0];
    let reported: Vec<f64> = flow["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["steps"][0]["duration"].as_f64().unwrap() * 1e6)
        .collect();
    let truth = target.delays("smokeprobe");
    assert_eq!(
        reported.len(),
        truth.len(),
        "every sample reached the target"
    );
    let exact_p95 = percentile(&reported, 0.95);
    let hdr_p95 = flow["steps"][0]["latency"]["p95"].as_f64().unwrap() * 1e6;
    let hdr = format!(
        "HDR p95 {:.1} µs vs exact p95 {:.1} µs of the same {} samples: {:+.3} %",
        hdr_p95,
        exact_p95,
        reported.len(),
        (hdr_p95 - exact_p95) / exact_p95 * 100.0
    );
    (
        Fidelity {
            name: "smokeprobe",
            errors: errors(&reported, &truth),
            note: "step duration (fresh connection, JSON assertion)".into(),
        },
        hdr,
    )
}

fn fidelity_blackbox(target: &Target, bb: &str, n: usize) -> Fidelity {
    let path = probe_path(target, "/check");
    let mut reported = Vec::with_capacity(n);
    for _ in 0..n {
        let (_, body) = http_get(bb, &path);
        reported.push(blackbox_reported_us(&body).expect("blackbox probe succeeded"));
    }
    let truth = target.delays("blackbox");
    Fidelity {
        name: "blackbox_exporter",
        errors: errors(&reported, &truth),
        note: "sum of probe_http_duration_seconds phases".into(),
    }
}

/// A raw socket client: the floor of what can be measured on this machine.
fn fidelity_raw(target: &Target, n: usize) -> Fidelity {
    let mut reported = Vec::with_capacity(n);
    let addr = target.addr.to_string();
    for _ in 0..n {
        let t0 = Instant::now();
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_nodelay(true).unwrap();
        write!(
            s,
            "GET /check HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: raw\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        reported.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let truth = target.delays("raw");
    Fidelity {
        name: "raw socket (floor)",
        errors: errors(&reported, &truth),
        note: "connect + write + read to EOF, in this process".into(),
    }
}

struct CpuRow {
    name: &'static str,
    placement: &'static str,
    checks: u64,
    cpu_us_per_check: f64,
    rss_idle: f64,
    anon_idle: f64,
    rss_peak: f64,
}

/// smokeprobe run: one flow every 1/rate s; CPU over the window ÷ checks seen.
fn cpu_smokeprobe(target: &Target, dir: &Path, cfg: &Cfg, pinned: bool) -> CpuRow {
    let interval = format!("{}ms", 1000 / cfg.rate_hz);
    let probe = write(
        dir,
        "cpu.yaml",
        &smokeprobe_probe(&format!("http://{}", target.addr), &interval, "/fast"),
    );
    let p = Proc::spawn(
        Command::new(BIN)
            .args([
                "run",
                probe.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--max-jitter",
                "0s",
            ])
            .env("SMOKEPROBE_LOG", "warn"),
    );
    p.wait_line("metrics at", Duration::from_secs(10));
    if pinned {
        pin_all(p.pid(), 1);
    }
    let idle = (rss_mb(p.pid()).0, anon_mb(p.pid()));
    // The probe keeps its own schedule: the harness only waits.
    let wait = || std::thread::sleep(Duration::from_millis(10));
    measure_cpu(
        target,
        "smokeprobe",
        p.pid(),
        cfg,
        idle,
        wait,
        "smokeprobe run",
        pinned,
    )
}

#[allow(clippy::too_many_arguments)]
fn measure_cpu(
    target: &Target,
    client: &'static str,
    pid: u32,
    cfg: &Cfg,
    idle: (f64, f64),
    mut drive: impl FnMut(),
    name: &'static str,
    pinned: bool,
) -> CpuRow {
    // Warm-up.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(2) {
        drive();
    }
    let c0 = cpu_secs(pid);
    let n0 = target.count(client);
    let start = Instant::now();
    while start.elapsed() < cfg.cpu_window {
        drive();
    }
    let c1 = cpu_secs(pid);
    let n1 = target.count(client);
    let checks = n1 - n0;
    let (_, peak) = rss_mb(pid);
    CpuRow {
        name,
        placement: if pinned {
            "co-pinned (CPU 1)"
        } else {
            "unpinned"
        },
        checks,
        cpu_us_per_check: (c1 - c0) * 1e6 / checks.max(1) as f64,
        rss_idle: idle.0,
        anon_idle: idle.1,
        rss_peak: peak,
    }
}

fn cpu_blackbox(target: &Target, dir: &Path, cfg: &Cfg, pinned: bool) -> Option<CpuRow> {
    let (p, bb) = start_blackbox(dir)?;
    if pinned {
        pin_all(p.pid(), 1);
    }
    let idle = (rss_mb(p.pid()).0, anon_mb(p.pid()));
    let path = probe_path(target, "/fast");
    let period = Duration::from_nanos(1_000_000_000 / cfg.rate_hz);
    let mut next = Instant::now();
    let drive = || {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += period;
        if Instant::now() > next + period {
            next = Instant::now();
        }
        let (st, _) = http_get(&bb, &path);
        assert_eq!(st, 200);
    };
    Some(measure_cpu(
        target,
        "blackbox",
        p.pid(),
        cfg,
        idle,
        drive,
        "blackbox_exporter",
        pinned,
    ))
}

fn time_runs(n: usize, mut f: impl FnMut()) -> f64 {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    median(&v)
}

struct Scale {
    flows: usize,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    cpu_pct: f64,
    checks_per_s: f64,
    rss: f64,
    rss_peak: f64,
    series: usize,
    render_ms: f64,
    startup_ms: f64,
}

fn scale(target: &Target, dir: &Path, cfg: &Cfg) -> Scale {
    let mut yaml = format!(
        "target: bench\nvars:\n  base: http://{}\nflows:\n",
        target.addr
    );
    for i in 0..cfg.scale_flows {
        let _ = write!(
            yaml,
            "  - name: f{i:04}\n    interval: 10s\n    steps:\n      - name: check\n        url: ${{base}}/fast\n        expect:\n          status: 200\n          json:\n            - {{ path: $.status, equals: ok }}\n"
        );
    }
    let probe = write(dir, "scale.yaml", &yaml);
    let spawn = || {
        Proc::spawn(
            Command::new("taskset")
                .args([
                    "-c",
                    "0",
                    BIN,
                    "run",
                    probe.to_str().unwrap(),
                    "--listen",
                    "127.0.0.1:0",
                ])
                .args(["--max-jitter", "10s", "--concurrency", "64"])
                .env("SMOKEPROBE_LOG", "warn"),
        )
    };
    // Startup: spawn → serving /metrics, median of 5.
    let startup_ms = time_runs(5, || {
        let p = spawn();
        p.wait_line("metrics at", Duration::from_secs(30));
    });
    let p = spawn();
    let addr = p
        .wait_line("metrics at http://", Duration::from_secs(30))
        .split('/')
        .next()
        .unwrap()
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_secs(12)); // every flow has run once
    let m0 = http_get(&addr, "/metrics").1;
    let c0 = cpu_secs(p.pid());
    let n0 = target.count("smokeprobe");
    let t0 = Instant::now();
    std::thread::sleep(cfg.scale_window);
    let m1 = http_get(&addr, "/metrics").1;
    let c1 = cpu_secs(p.pid());
    let n1 = target.count("smokeprobe");
    let wall = t0.elapsed().as_secs_f64();
    let h0 = histogram(&m0, "smokeprobe_schedule_lag_seconds");
    let h1 = histogram(&m1, "smokeprobe_schedule_lag_seconds");
    let delta: Vec<(f64, f64)> = h1
        .iter()
        .map(|(le, c)| {
            let before = h0.iter().find(|(l, _)| l == le).map(|x| x.1).unwrap_or(0.0);
            (*le, c - before)
        })
        .collect();
    let series = m1
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let render_ms = time_runs(10, || {
        let _ = http_get(&addr, "/metrics");
    });
    let (rss, rss_peak) = rss_mb(p.pid());
    Scale {
        flows: cfg.scale_flows,
        lag_p50_ms: bucket_quantile(&delta, 0.5) * 1000.0,
        lag_p99_ms: bucket_quantile(&delta, 0.99) * 1000.0,
        cpu_pct: (c1 - c0) / wall * 100.0,
        checks_per_s: (n1 - n0) as f64 / wall,
        rss,
        rss_peak,
        series,
        render_ms,
        startup_ms,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let cfg = if quick {
        Cfg {
            fidelity_n: 100,
            cpu_window: Duration::from_secs(4),
            rate_hz: 200,
            oneshot_n: 10,
            scale_flows: 300,
            scale_window: Duration::from_secs(5),
        }
    } else {
        Cfg {
            fidelity_n: 400,
            cpu_window: Duration::from_secs(15),
            rate_hz: 200,
            oneshot_n: 30,
            scale_flows: 1000,
            scale_window: Duration::from_secs(30),
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let target = Target::start();
    let mut out = String::new();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let _ = writeln!(
        out,
        "# smokeprobe performance run\n\n{} · {cpus} CPU(s) · {}\n",
        Command::new("uname")
            .arg("-srm")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        if quick { "quick run" } else { "full run" }
    );
    eprintln!("target on {} (thread {})", target.addr, target.tid);
    let blackbox_available =
        which("prometheus-blackbox-exporter").is_some() || which("blackbox_exporter").is_some();

    // 1. Timing fidelity.
    eprintln!("fidelity: {} sequential checks per tool", cfg.fidelity_n);
    target.reset();
    let mut fid = vec![fidelity_raw(&target, cfg.fidelity_n)];
    let (sp, hdr_line) = fidelity_smokeprobe(&target, dir, cfg.fidelity_n);
    fid.push(sp);
    if blackbox_available {
        let (bbp, bb) = start_blackbox(dir).unwrap();
        fid.push(fidelity_blackbox(&target, &bb, cfg.fidelity_n));
        drop(bbp);
    }

    // 2. CPU and memory per check.
    let mut cpu = Vec::new();
    for pinned in [false, true] {
        if pinned {
            pin(target.tid, 1);
        }
        eprintln!(
            "cpu: {} checks/s for {:?} ({})",
            cfg.rate_hz,
            cfg.cpu_window,
            if pinned { "co-pinned" } else { "unpinned" }
        );
        cpu.push(cpu_smokeprobe(&target, dir, &cfg, pinned));
        if let Some(r) = cpu_blackbox(&target, dir, &cfg, pinned) {
            cpu.push(r);
        }
        if pinned {
            unpin(target.tid);
        }
    }

    // 3. One-shot processes.
    eprintln!("one-shot: {} runs each", cfg.oneshot_n);
    let one = write(
        dir,
        "one.yaml",
        &smokeprobe_probe(&format!("http://{}", target.addr), "1m", "/fast"),
    );
    let once_ms = time_runs(cfg.oneshot_n, || {
        let st = Command::new(BIN)
            .args(["once", one.to_str().unwrap(), "-q"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    });
    let three_yaml = format!(
        "target: bench\nvars:\n  base: http://{}\nflows:\n  - name: three\n    steps:\n{}",
        target.addr,
        (1..=3)
            .map(|i| format!("      - name: r{i}\n        url: ${{base}}/fast\n        expect:\n          status: 200\n          json:\n            - {{ path: $.status, equals: ok }}\n"))
            .collect::<String>()
    );
    let three = write(dir, "three.yaml", &three_yaml);
    let once3_ms = time_runs(cfg.oneshot_n, || {
        let st = Command::new(BIN)
            .args(["once", three.to_str().unwrap(), "-q"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    });
    let curl_ms = which("curl").map(|_| {
        time_runs(cfg.oneshot_n, || {
            let st = Command::new("curl")
                .args(["-sf", "-o", "/dev/null", &target.url("/fast")])
                .status()
                .unwrap();
            assert!(st.success());
        })
    });
    let hurl_ms = which("hurl").map(|_| {
        let entry = format!(
            "GET {}\nHTTP 200\n[Asserts]\njsonpath \"$.status\" == \"ok\"\n\n",
            target.url("/fast")
        );
        let file = write(dir, "three.hurl", &entry.repeat(3));
        time_runs(cfg.oneshot_n, || {
            let st = Command::new("hurl")
                .arg("--test")
                .arg(&file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        })
    });

    // 4. Scale.
    eprintln!("scale: {} flows at 10 s on CPU 0", cfg.scale_flows);
    pin(target.tid, 1);
    let sc = scale(&target, dir, &cfg);
    unpin(target.tid);

    // ── report ──
    let _ = writeln!(
        out,
        "## Timing error (reported − true server time), {} sequential checks each\n",
        cfg.fidelity_n
    );
    let _ = writeln!(
        out,
        "| client | median | p95 | what is reported |\n|---|---:|---:|---|"
    );
    for f in &fid {
        let _ = writeln!(
            out,
            "| {} | {:.0} µs | {:.0} µs | {} |",
            f.name,
            median(&f.errors),
            percentile(&f.errors, 0.95),
            f.note
        );
    }
    let _ = writeln!(out, "\n{hdr_line}\n");
    let get = |n: &str| fid.iter().find(|f| f.name == n);
    if let (Some(s), Some(b)) = (get("smokeprobe"), get("blackbox_exporter")) {
        let _ = writeln!(
            out,
            "Ratios: median error {:.2}× blackbox's (target ≤ 0.5); p95 error {:.2} ms (target ≤ 1 ms).\n",
            median(&s.errors) / median(&b.errors),
            percentile(&s.errors, 0.95) / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "## CPU and memory, {} checks/s for {:?} after 2 s warm-up\n",
        cfg.rate_hz, cfg.cpu_window
    );
    let _ = writeln!(
        out,
        "| process | placement | checks | CPU µs/check | RSS idle | of it private (anon) | RSS peak |\n|---|---|---:|---:|---:|---:|---:|"
    );
    for r in &cpu {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.1} MB | {:.1} MB | {:.1} MB |",
            r.name, r.placement, r.checks, r.cpu_us_per_check, r.rss_idle, r.anon_idle, r.rss_peak
        );
    }
    for placement in ["unpinned", "co-pinned (CPU 1)"] {
        let s = cpu
            .iter()
            .find(|r| r.name == "smokeprobe run" && r.placement == placement);
        let b = cpu
            .iter()
            .find(|r| r.name == "blackbox_exporter" && r.placement == placement);
        if let (Some(s), Some(b)) = (s, b) {
            let _ = writeln!(
                out,
                "\n{placement}: CPU per check {:.3}× blackbox's (target ≤ {}), idle RSS {:.2}× (target ≤ 0.5), private memory {:.2}×.",
                s.cpu_us_per_check / b.cpu_us_per_check,
                if placement == "unpinned" {
                    "0.10"
                } else {
                    "0.12"
                },
                s.rss_idle / b.rss_idle,
                s.anon_idle / b.anon_idle
            );
        }
    }
    let _ = writeln!(
        out,
        "\n## One-shot processes (median wall of {} runs)\n",
        cfg.oneshot_n
    );
    let _ = writeln!(out, "| command | wall |\n|---|---:|");
    let _ = writeln!(out, "| smokeprobe once, 1 check | {once_ms:.2} ms |");
    let _ = writeln!(
        out,
        "| smokeprobe once, 3-request flow | {once3_ms:.2} ms |"
    );
    match curl_ms {
        Some(c) => {
            let _ = writeln!(out, "| curl, 1 request | {c:.2} ms |");
        }
        None => {
            let _ = writeln!(out, "| curl | not installed |");
        }
    }
    match hurl_ms {
        Some(h) => {
            let _ = writeln!(out, "| hurl --test, 3-request flow | {h:.2} ms |");
            let _ = writeln!(
                out,
                "\n3-request flow: {:.2}× Hurl's wall time (target ≤ 0.6).",
                once3_ms / h
            );
        }
        None => {
            let _ = writeln!(out, "| hurl | not installed: no ratio |");
        }
    }
    if let Some(c) = curl_ms {
        let _ = writeln!(out, "\n1 check: {:.2}× curl's wall time.", once_ms / c);
    }
    let _ = writeln!(
        out,
        "\n## Scale: {} flows every 10 s, smokeprobe on CPU 0, target on CPU 1\n",
        sc.flows
    );
    let _ = writeln!(out, "| figure | value |\n|---|---:|");
    let _ = writeln!(out, "| checks/s | {:.1} |", sc.checks_per_s);
    let _ = writeln!(
        out,
        "| schedule lag p50 / p99 | {:.2} ms / {:.2} ms |",
        sc.lag_p50_ms, sc.lag_p99_ms
    );
    let _ = writeln!(out, "| CPU | {:.1} % of one core |", sc.cpu_pct);
    let _ = writeln!(
        out,
        "| RSS / peak | {:.1} MB / {:.1} MB |",
        sc.rss, sc.rss_peak
    );
    let _ = writeln!(out, "| /metrics series | {} |", sc.series);
    let _ = writeln!(
        out,
        "| /metrics render (GET, median of 10) | {:.1} ms ({:.2} ms per 10k series) |",
        sc.render_ms,
        sc.render_ms / sc.series as f64 * 10_000.0
    );
    let _ = writeln!(
        out,
        "| startup to serving /metrics | {:.1} ms |",
        sc.startup_ms
    );
    println!("{out}");
    let report_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&report_dir);
    let _ = std::fs::write(report_dir.join("report.md"), &out);
    eprintln!("written to {}", report_dir.join("report.md").display());
}
