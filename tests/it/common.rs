//! Shared helpers: the demo target in-process on port 0, the smokeprobe binary
//! as a child process (as a deploy script would run it), temporary files.

use std::path::{Path, PathBuf};
use std::process::Output;

use smokeprobe::demo::{DemoOptions, DemoServer, Faults, TlsMode};

pub const BIN: &str = env!("CARGO_BIN_EXE_smokeprobe");

/// The binary as a command whose credential state (refused secrets, see
/// `flow::credentials`) lives in a directory of this test process's own, so
/// a password one test gets refused never keeps another test from sending it
/// (nextest runs each test in its own process; the spawns of one test share it).
pub fn command() -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.env("SMOKEPROBE_STATE_DIR", state_dir());
    c
}

/// This test process's credential state directory (under target/tmp).
pub fn state_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "state-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&d).expect("test state directory");
        d
    })
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// What the demo's `index.html` links as its third-party stylesheet in tests
/// that leave [`DemoOptions::fonts_url`] at its default (Google Fonts): a
/// closed port on loopback under another host name than the demo's, so a
/// probe that wrongly fetched it fails with a connect error and never
/// contacts a real internet host.
pub const NO_FONTS_URL: &str = "http://localhost:9/css2?family=Inter";

pub async fn demo_with(mut opts: DemoOptions) -> DemoServer {
    if opts.fonts_url == DemoOptions::default().fonts_url {
        opts.fonts_url = NO_FONTS_URL.to_string();
    }
    DemoServer::start(opts)
        .await
        .expect("demo target starts on 127.0.0.1:0")
}

/// The plain-HTTP demo target with `faults`.
pub async fn demo(faults: &[&str]) -> DemoServer {
    demo_tls(None, faults).await
}

/// The demo target with `faults`, over TLS when `tls` is set (then
/// `http_url()` is its plain-HTTP redirect listener and `ca_pem()` its CA).
pub async fn demo_tls(tls: Option<TlsMode>, faults: &[&str]) -> DemoServer {
    let mut f = Faults::default();
    for spec in faults {
        f.apply_spec(spec).expect("valid fault spec");
    }
    demo_with(DemoOptions {
        faults: f,
        tls,
        ..DemoOptions::default()
    })
    .await
}

/// Runs the binary with args and extra environment, off the async runtime so
/// the in-process target keeps serving.
pub async fn run(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        // The caller's environment comes last so it can set SMOKEPROBE_LOG.
        command()
            .args(&args)
            .env_remove("NO_COLOR")
            .env("SMOKEPROBE_LOG", "info")
            .envs(env)
            .output()
            .expect("smokeprobe binary runs")
    })
    .await
    .expect("join")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Arguments that point the shipped probe file at a demo target; its CA (if
/// it serves TLS) is written into `dir` and trusted with `--ca-file`.
pub fn contravento_args(server: &DemoServer, dir: &Path) -> Vec<String> {
    let d = DemoOptions::default();
    let mut ca = Vec::new();
    if let Some(pem) = server.ca_pem() {
        let path = dir.join("demo-ca.pem");
        std::fs::write(&path, pem).expect("CA file written");
        ca = vec!["--ca-file".to_string(), path.display().to_string()];
    }
    let mut args: Vec<String> = vec![
        "once".into(),
        repo_file("probes/contravento.yaml").display().to_string(),
    ];
    args.extend(contravento_vars(server, &d.password));
    args.push("--quiet".into());
    args.extend(ca);
    args
}

/// The `--var`/`--secret` arguments that point the shipped probe file at
/// `server`, logging in with `password`.
pub fn contravento_vars(server: &DemoServer, password: &str) -> Vec<String> {
    let d = DemoOptions::default();
    vec![
        "--var".into(),
        format!("base={}", server.base_url()),
        "--var".into(),
        format!("http_base={}", server.http_url()),
        "--var".into(),
        format!("username={}", d.username),
        "--secret".into(),
        format!("password={password}"),
        "--var".into(),
        format!("allowed_origin={}", d.cors_origins[0]),
    ]
}

/// The shipped probe file with its default interval (60 s) set to `every`,
/// for `run` tests that need several rounds.
pub fn shipped_probe_every(every: &str) -> String {
    std::fs::read_to_string(repo_file("probes/contravento.yaml"))
        .expect("the shipped probe file")
        .replace("  interval: 60s", &format!("  interval: {every}"))
}

pub struct Reports {
    pub dir: tempfile::TempDir,
}

impl Reports {
    pub fn new() -> Self {
        Reports {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn json_path(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }
    pub fn junit_path(&self) -> PathBuf {
        self.dir.path().join("report.xml")
    }
    pub fn args(&self) -> Vec<String> {
        vec![
            "--json".into(),
            self.json_path().display().to_string(),
            "--junit".into(),
            self.junit_path().display().to_string(),
        ]
    }
    pub fn json(&self) -> serde_json::Value {
        let t = std::fs::read_to_string(self.json_path()).expect("JSON report written");
        serde_json::from_str(&t).expect("JSON report parses")
    }
    pub fn junit(&self) -> String {
        std::fs::read_to_string(self.junit_path()).expect("JUnit report written")
    }
}

/// (flow, step) pairs whose summary outcome is `failed` in a JSON report, with
/// the reason (or "budget" when only a latency budget failed).
pub fn red_steps(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for f in report["flows"].as_array().expect("flows") {
        for s in f["steps"].as_array().expect("steps") {
            let budget_failed = s["budget"]
                .as_array()
                .is_some_and(|b| b.iter().any(|x| x["passed"] == false));
            if s["failed"].as_u64().unwrap_or(0) > 0 {
                let reason = s["last_failure"]["reason"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string();
                out.push((
                    f["flow"].as_str().unwrap().into(),
                    s["name"].as_str().unwrap().into(),
                    reason,
                ));
            } else if budget_failed {
                out.push((
                    f["flow"].as_str().unwrap().into(),
                    s["name"].as_str().unwrap().into(),
                    "budget".into(),
                ));
            }
        }
    }
    out.sort();
    out
}

pub fn step<'a>(report: &'a serde_json::Value, flow: &str, step: &str) -> &'a serde_json::Value {
    report["flows"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["flow"] == flow))
        .and_then(|f| f["steps"].as_array())
        .and_then(|ss| ss.iter().find(|s| s["name"] == step))
        .unwrap_or_else(|| panic!("no step {flow}/{step} in report"))
}

/// A reqwest client for talking to local servers (reqwest is built without a
/// default crypto provider: give it one, with no roots, for plain HTTP).
pub fn http_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// The TLS demo target with `faults`, and its CA written to a temporary file
/// for `--ca-file` (the directory lives as long as the returned guard).
pub async fn tls_demo_with_ca(faults: &[&str]) -> (DemoServer, tempfile::TempDir, String) {
    let s = demo_tls(Some(TlsMode::Valid), faults).await;
    with_ca_file(s)
}

/// The demo target with `opts` over TLS (`opts.tls` defaults to a valid
/// certificate), and its CA file as for [`tls_demo_with_ca`].
pub async fn tls_demo_opts_with_ca(
    mut opts: DemoOptions,
) -> (DemoServer, tempfile::TempDir, String) {
    opts.tls.get_or_insert(TlsMode::Valid);
    with_ca_file(demo_with(opts).await)
}

fn with_ca_file(s: DemoServer) -> (DemoServer, tempfile::TempDir, String) {
    let d = tempfile::tempdir().expect("tempdir");
    let ca = d.path().join("ca.pem");
    std::fs::write(&ca, s.ca_pem().expect("a TLS demo has a CA")).expect("CA written");
    let ca = ca.display().to_string();
    (s, d, ca)
}

/// A port that was free a moment ago on 127.0.0.1 (for tools that cannot be
/// told to bind port 0 and report it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Polls `url` until it answers 2xx; panics after `within` naming `what`.
pub async fn wait_ready(url: &str, within: std::time::Duration, what: &str) {
    let start = std::time::Instant::now();
    loop {
        if let Ok(r) = http_client().get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(start.elapsed() < within, "{what} did not become ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A made-up secret for leak tests: `label`, 16 random characters and `"`,
/// `@`, space and `!`, so that its JSON-escaped form and each of its
/// URL-encoded forms (query, path, user name or password) differ from it and
/// from each other (and so must be looked for separately).
pub fn canary(label: &str) -> String {
    let r = smokeprobe::builtins::random_alnum(16);
    format!("{label}-{}\"@ {}!", &r[..8], &r[8..])
}

/// Looks for secrets in output text: each value whole and in every form it
/// could be written in (JSON-escaped once and twice, percent-encoded strictly,
/// as a form and minimally), and any 12-character run of any of those forms
/// (what is left of a secret that a shortened line cut through).
#[derive(Default)]
pub struct LeakScan {
    /// (what, form) — whole forms.
    forms: Vec<(String, String)>,
    /// 12-character run → what it belongs to.
    runs: std::collections::HashMap<String, String>,
}

const RUN: usize = 12;

impl LeakScan {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret; `what` names it in failure messages.
    pub fn secret(&mut self, what: &str, value: &str) -> &mut Self {
        let json = |s: &str| {
            let q = serde_json::to_string(s).expect("a string serializes");
            q[1..q.len() - 1].to_string()
        };
        let pct = |s: &str, keep: &dyn Fn(u8) -> bool| {
            s.bytes()
                .map(|b| {
                    if keep(b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        let strict = pct(value, &|b| {
            b.is_ascii_alphanumeric() || b"-._~".contains(&b)
        });
        let form = url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
        let minimal = pct(value, &|b| {
            b.is_ascii_graphic() && !b"\"#<>?`{}%/".contains(&b)
        });
        let userinfo = pct(value, &|b| {
            b.is_ascii_graphic() && !b"\"#<>?`{}/:;=@[\\]^|".contains(&b)
        });
        let xml = value
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let forms = [
            value.to_string(),
            json(value),
            json(&json(value)),
            xml,
            strict,
            form,
            minimal,
            userinfo,
        ];
        for f in forms {
            let chars: Vec<char> = f.chars().collect();
            for w in chars.windows(RUN) {
                self.runs
                    .entry(w.iter().collect())
                    .or_insert_with(|| what.to_string());
            }
            if !self.forms.iter().any(|(_, x)| *x == f) {
                self.forms.push((what.to_string(), f));
            }
        }
        self
    }

    /// Panics, naming `output` and the secret, if `text` holds any of them.
    pub fn assert_clean(&self, output: &str, text: &str) {
        if let Some(leak) = self.find(text) {
            panic!("{output} leaks {leak}");
        }
    }

    /// The first secret (whole, in one of its forms, or a 12-character piece)
    /// found in `text`, with the text around it.
    pub fn find(&self, text: &str) -> Option<String> {
        let around = |at: usize| {
            let mut start = at.saturating_sub(200);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (at + 200).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text[start..end].to_string()
        };
        for (what, form) in &self.forms {
            if let Some(at) = text.find(form.as_str()) {
                return Some(format!("{what} ({form:?}):\n…{}…", around(at)));
            }
        }
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        for (i, w) in chars.windows(RUN).enumerate() {
            let run: String = w.iter().map(|(_, c)| c).collect();
            if let Some(what) = self.runs.get(&run) {
                return Some(format!(
                    "part of {what} ({run:?}):\n…{}…",
                    around(chars[i].0)
                ));
            }
        }
        None
    }
}

/// GET `url` on loopback and return the body as text (panics on any failure).
pub async fn get_text(url: String) -> String {
    http_client()
        .get(url)
        .send()
        .await
        .expect("GET answers")
        .text()
        .await
        .expect("GET body")
}

/// A stand-in for a third-party host (Google Fonts, a CDN) on loopback that
/// records every request it gets: `GET /css2?…` answers 200 `text/css` with
/// `body_len` bytes, a path ending in `.map` 404 (no source map). Its URLs use
/// the name `localhost`, a host name other than the demo's `127.0.0.1`, so a
/// check sees it as a third party without any real internet host involved.
pub struct CountingHost {
    pub port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingHost {
    pub async fn start(body_len: usize) -> CountingHost {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("counting host binds 127.0.0.1:0");
        let port = l.local_addr().expect("local address").port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = l.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    loop {
                        let end = loop {
                            if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                                break p + 4;
                            }
                            match sock.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        };
                        let head: Vec<u8> = got.drain(..end).collect();
                        let line = String::from_utf8_lossy(&head)
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .trim_end_matches(" HTTP/1.1")
                            .to_string();
                        let map = line.split('?').next().unwrap_or("").ends_with(".map");
                        seen.lock().unwrap().push(line);
                        let resp = if map {
                            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()
                        } else {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: text/css; charset=utf-8\r\ncontent-length: {body_len}\r\n\r\n"
                            )
                            .into_bytes();
                            r.extend(std::iter::repeat_n(b' ', body_len));
                            r
                        };
                        if sock.write_all(&resp).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        CountingHost {
            port,
            requests,
            task,
        }
    }

    /// The stylesheet URL the demo's `index.html` links when
    /// [`DemoOptions::fonts_url`] is set to it.
    pub fn fonts_url(&self) -> String {
        format!("http://localhost:{}/css2?family=Inter", self.port)
    }

    /// Every request line received so far (`GET /css2?family=Inter`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for CountingHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a test compiles a probe file with: `overrides` as if given on the
/// command line, no environment, default settings, values required.
pub fn inputs(overrides: &[smokeprobe::config::VarOverride]) -> smokeprobe::config::Inputs<'_> {
    smokeprobe::config::Inputs {
        overrides,
        env: &|_| None,
        settings: smokeprobe::config::Settings::default(),
        max_body: None,
        values_optional: false,
    }
}

/// Compiles `yaml` (named `file` in messages) with `password` as the value
/// of the secret variable `password`, and runs its first flow in-process
/// against a target whose CA is `ca_pems` (the process's credential guard
/// is shared by runs).
pub async fn run_first_flow(
    file: &str,
    yaml: String,
    password: &str,
    ca_pems: Vec<String>,
) -> smokeprobe::flow::FlowResult {
    use smokeprobe::config::{VarOverride, load_sources};
    let overrides = vec![VarOverride {
        name: "password".into(),
        value: password.into(),
        secret: true,
    }];
    let inputs = crate::common::inputs(&overrides);
    let plan = load_sources(&[(PathBuf::from(file), yaml.clone())], &inputs)
        .unwrap_or_else(|e| panic!("probe file is valid:\n{e}\n{yaml}"));
    let http = smokeprobe::net::HttpFactory::new(&smokeprobe::net::NetOptions {
        ca_pems,
        user_agent: "smokeprobe-test".into(),
        ..smokeprobe::net::NetOptions::default()
    })
    .expect("http factory");
    let runner = smokeprobe::flow::Runner::new(std::sync::Arc::new(plan), http);
    let flow = runner.plan().flows[0].clone();
    runner.run_flow(&flow, &()).await
}
