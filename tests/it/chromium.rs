//! Debian's headless Chromium driven over the Chrome DevTools Protocol, for
//! tests of the status page as a browser renders it. The protocol runs over
//! `--remote-debugging-pipe` (JSON messages ending in NUL on file descriptors
//! 3 and 4), connected through two named pipes, so no WebSocket client and no
//! TCP port are needed. Chromium is told to resolve no name at all and to
//! skip its background traffic: it only ever talks to 127.0.0.1.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const INSTALL: &str = "Chromium is needed for the status page tests: \
                       `apt-get install -y chromium` (Debian) — .ci/run installs it";

/// How long one protocol call may take (a full-page screenshot on a busy
/// shared machine is the slowest).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Chromium {
    child: Child,
    to: std::fs::File,
    from: Receiver<Value>,
    next_id: u64,
    /// Events received while waiting for answers (method, params).
    pub events: Vec<(String, Value)>,
    pending: VecDeque<Value>,
    /// Attached page session.
    session: String,
    _dir: tempfile::TempDir,
}

impl Chromium {
    /// Starts headless Chromium and opens one page (about:blank), `width` ×
    /// `height` CSS pixels (`mobile` emulates a phone: touch, meta viewport).
    pub fn start(width: u32, height: u32, mobile: bool) -> Chromium {
        let ok = Command::new("chromium")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "{INSTALL}");
        let dir = tempfile::tempdir().expect("tempdir");
        let (to_path, from_path) = (dir.path().join("to"), dir.path().join("from"));
        for p in [&to_path, &from_path] {
            let st = Command::new("mkfifo").arg(p).status().expect("mkfifo runs");
            assert!(st.success(), "mkfifo {}", p.display());
        }
        // The shell opens the pipes as fds 3 and 4, then becomes Chromium.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec chromium "$@" 3<"$CDP_TO" 4>"$CDP_FROM""#)
            .arg("chromium")
            // The flags the probe's own browser starts with, held to loopback.
            .args(smokeprobe::browser::FLAGS)
            .arg(smokeprobe::browser::LOOPBACK_ONLY)
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .env("CDP_TO", &to_path)
            .env("CDP_FROM", &from_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(INSTALL);
        // Same order as the shell: opening a FIFO blocks until its other end opens.
        let to = std::fs::OpenOptions::new()
            .write(true)
            .open(&to_path)
            .expect("Chromium's command pipe opens");
        let from = std::fs::File::open(&from_path).expect("Chromium's event pipe opens");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || read_messages(from, tx));
        let mut c = Chromium {
            child,
            to,
            from: rx,
            next_id: 0,
            events: Vec::new(),
            pending: VecDeque::new(),
            session: String::new(),
            _dir: dir,
        };
        let target = c.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = c.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        c.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        c.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
        // Console messages and CSP violations arrive as events.
        c.call("Log.enable", json!({}));
        c.call("Runtime.enable", json!({}));
        c
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("Chromium is gone ({e}) while sending {method}"));
        let start = Instant::now();
        loop {
            let left = CALL_TIMEOUT.saturating_sub(start.elapsed());
            let m = match self.pending.pop_front() {
                Some(m) => m,
                None => match self.from.recv_timeout(left) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        panic!("Chromium did not answer {method} within {CALL_TIMEOUT:?}")
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        panic!("Chromium exited while answering {method}")
                    }
                },
            };
            if m["id"].as_u64() == Some(id) {
                if let Some(e) = m.get("error") {
                    panic!("{method} failed: {e}");
                }
                return m["result"].clone();
            }
            if let Some(ev) = m["method"].as_str() {
                self.events.push((ev.to_string(), m["params"].clone()));
            }
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(s))
    }

    /// Navigates and waits until the page has loaded (its deferred script
    /// included).
    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        let start = Instant::now();
        // `complete` of the about:blank being replaced would be a false start:
        // also wait for the URL to be the new one.
        let check = format!(
            "document.readyState === 'complete' && location.href === {}",
            json!(url)
        );
        while self.eval(&check) != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{url} did not load"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is `true`; panics naming `what` after `within`.
    pub fn wait_for(&mut self, within: Duration, what: &str, expr: &str) {
        let start = Instant::now();
        while self.eval(expr) != json!(true) {
            assert!(start.elapsed() < within, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the whole page (not only the viewport), written to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let width = self.eval("document.documentElement.scrollWidth");
        let height = self.eval("document.documentElement.scrollHeight");
        let r = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            }),
        );
        let png = base64_decode(r["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Turns on the `Network` domain's events (call before [`goto`](Self::goto)):
    /// what [`requests`](Self::requests) reads.
    pub fn enable_network(&mut self) {
        self.call("Network.enable", json!({}));
    }

    /// Every request the page sent so far (with [`enable_network`](Self::enable_network)),
    /// in order: its URL and what became of it.
    pub fn requests(&self) -> Vec<NetRequest> {
        let mut out: Vec<(String, NetRequest)> = Vec::new();
        for (m, p) in &self.events {
            let id = p["requestId"].as_str().unwrap_or_default().to_string();
            let text = |v: &Value| v.as_str().map(str::to_string);
            if m == "Network.requestWillBeSent" {
                out.push((
                    id,
                    NetRequest {
                        url: text(&p["request"]["url"]).unwrap_or_default(),
                        method: text(&p["request"]["method"]).unwrap_or_default(),
                        status: None,
                        failure: None,
                        blocked: None,
                    },
                ));
                continue;
            }
            let Some((_, r)) = out.iter_mut().rev().find(|(i, _)| *i == id) else {
                continue;
            };
            match m.as_str() {
                "Network.responseReceived" => r.status = p["response"]["status"].as_u64(),
                "Network.loadingFailed" => {
                    r.failure = text(&p["errorText"]);
                    r.blocked = text(&p["blockedReason"]);
                }
                _ => {}
            }
        }
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// The uncaught exceptions the page threw so far: their descriptions
    /// (`TypeError: … at …`) or texts.
    pub fn exceptions(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|(m, _)| m == "Runtime.exceptionThrown")
            .map(|(_, p)| {
                let d = &p["exceptionDetails"];
                d["exception"]["description"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| d["text"].to_string())
            })
            .collect()
    }

    /// Log entries and console messages at `error` level seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(m, p)| match m.as_str() {
                "Log.entryAdded" if p["entry"]["level"] == "error" => {
                    Some(p["entry"]["text"].to_string())
                }
                "Runtime.consoleAPICalled" if p["type"] == "error" => Some(p.to_string()),
                "Runtime.exceptionThrown" => Some(p.to_string()),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Closing the browser ends its helper processes with it.
        self.next_id += 1;
        let msg = format!("{{\"id\":{},\"method\":\"Browser.close\"}}\0", self.next_id);
        let _ = self.to.write_all(msg.as_bytes());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request of the page, as the `Network` domain reported it.
#[derive(Clone, Debug)]
pub struct NetRequest {
    pub url: String,
    pub method: String,
    /// The response's status, if one came.
    pub status: Option<u64>,
    /// `net::ERR_…` when it failed.
    pub failure: Option<String>,
    /// Why the browser blocked it (`csp`, `mixed-content`, …).
    pub blocked: Option<String>,
}

/// Splits the pipe's bytes at NULs into JSON messages.
fn read_messages(mut from: std::fs::File, tx: std::sync::mpsc::Sender<Value>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.iter().position(|b| *b == 0) {
            let msg: Vec<u8> = buf.drain(..=end).collect();
            if let Ok(v) = serde_json::from_slice(&msg[..msg.len() - 1])
                && tx.send(v).is_err()
            {
                return;
            }
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {s}"))
}

/// `target/test-artifacts/` (next to the test binary's profile directory),
/// created if needed.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(crate::common::BIN)
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("test-artifacts"))
        .expect("the binary lives in target/<profile>/");
    std::fs::create_dir_all(&dir).expect("test-artifacts directory");
    dir
}

#[test]
fn base64_decodes_what_chromium_sends() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
    assert_eq!(base64_decode(""), b"");
}
