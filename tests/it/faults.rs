//! The fault matrix: one in-process raw-socket server per misbehaviour on
//! 127.0.0.1:0 (plain TCP, or TLS with rcgen certificates), and a one-step
//! flow run against it in-process. Each case asserts the step failed with the
//! expected reason and a one-line message, within the step timeout plus
//! slack, without a panic. docs/reliability.md lists the cases and the
//! messages seen.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use smokeprobe::config::load_sources;
use smokeprobe::flow::{Outcome, Reason, Runner, StepResult};
use smokeprobe::net::{HttpFactory, NetOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use x509_parser::time::ASN1Time;

/// The step timeout every case runs with.
const TIMEOUT: Duration = Duration::from_secs(2);
/// What "finished within its timeout" allows on a busy shared machine.
const SLACK: Duration = Duration::from_secs(3);
const MB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// The fault server

/// Serves every connection to 127.0.0.1:0 with `handler`; the accept loop
/// (and any handler still hanging) ends with the test's runtime.
async fn fault_server<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(handler(tcp));
        }
    });
    addr
}

/// Reads a request head (up to the blank line); `None` if the peer went away.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// A server that reads the request, writes `bytes` and closes.
async fn replies(bytes: Vec<u8>) -> SocketAddr {
    let bytes = Arc::new(bytes);
    fault_server(move |mut s| {
        let bytes = bytes.clone();
        async move {
            if read_head(&mut s).await.is_some() {
                let _ = s.write_all(&bytes).await;
                let _ = s.shutdown().await;
            }
        }
    })
    .await
}

/// Sends an RST instead of a FIN: linger 0, then drop. tokio deprecates
/// `set_linger` because a *non-zero* linger blocks the thread on drop; a zero
/// linger never blocks, and socket2 is not a dependency.
#[allow(deprecated)]
fn reset(s: TcpStream) {
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Never returns (the runtime drops it at the end of the test).
async fn hang() {
    std::future::pending::<()>().await
}

// ---------------------------------------------------------------------------
// Running a one-step flow

struct Run {
    step: StepResult,
    elapsed: Duration,
}

/// Runs a one-step flow: `url`, then `extra` (YAML lines at step indentation).
async fn run_step(url: &str, extra: &str, ca_pems: Vec<String>) -> Run {
    let yaml = format!(
        "defaults:\n  timeout: 2s\n  max_body: 1MB\nflows:\n  - name: fault\n    steps:\n      - name: probe\n        url: \"{url}\"\n{extra}"
    );
    let inputs = crate::common::inputs(&[]);
    let plan = load_sources(&[(PathBuf::from("faults.yaml"), yaml.clone())], &inputs)
        .unwrap_or_else(|e| panic!("probe file is valid:\n{e}\n{yaml}"));
    let http = HttpFactory::new(&NetOptions {
        ca_pems,
        user_agent: "smokeprobe-faults".into(),
        ..NetOptions::default()
    })
    .expect("http factory");
    let runner = Runner::new(Arc::new(plan), http);
    let flow = runner.plan().flows[0].clone();
    let start = Instant::now();
    // On its own task so that a panic in the runner is reported as such.
    let task = tokio::spawn(async move { runner.run_flow(&flow, &()).await });
    let result = tokio::time::timeout(TIMEOUT + SLACK, task)
        .await
        .unwrap_or_else(|_| panic!("{url}: the flow did not finish within {TIMEOUT:?} + {SLACK:?}"))
        .unwrap_or_else(|e| panic!("{url}: the runner panicked: {e}"));
    let elapsed = start.elapsed();
    let step = result.steps.into_iter().next().expect("one step result");
    Run { step, elapsed }
}

/// The case failed with `reason`, a one-line message, within the bound.
#[track_caller]
fn assert_fails(case: &str, run: &Run, reason: Reason) {
    let s = &run.step;
    let msg = s.message.clone().unwrap_or_default();
    eprintln!(
        "FAULT {case}: {:?} {:?} in {:?}: {msg}",
        s.outcome, s.reason, run.elapsed
    );
    assert_eq!(s.outcome, Outcome::Failed, "{case}: {s:#?}");
    assert_eq!(s.reason, Some(reason), "{case}: {msg}");
    assert!(!msg.trim().is_empty(), "{case}: empty message");
    assert!(
        !msg.contains('\n'),
        "{case}: message is not one line: {msg:?}"
    );
    assert!(
        run.elapsed < TIMEOUT + SLACK,
        "{case}: took {:?}",
        run.elapsed
    );
}

async fn plain(addr: SocketAddr, extra: &str) -> Run {
    run_step(&format!("http://{addr}/"), extra, vec![]).await
}

const EXPECT_200: &str = "        expect:\n          status: 200\n";

/// VmRSS of this process in kB (each nextest test is its own process).
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

#[track_caller]
fn assert_rss_bounded(case: &str, before: u64) {
    let after = rss_kb();
    let grown_mb = after.saturating_sub(before) / 1024;
    eprintln!("FAULT {case}: RSS {before} kB -> {after} kB");
    assert!(grown_mb < 50, "{case}: RSS grew by {grown_mb} MB");
}

// ---------------------------------------------------------------------------
// Connection-level faults

#[tokio::test]
async fn connection_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let r = plain(addr, "").await;
    assert_fails("connection refused", &r, Reason::Connect);
}

#[tokio::test]
async fn close_without_reading() {
    let addr = fault_server(|s| async move { drop(s) }).await;
    let r = plain(addr, "").await;
    assert_fails("close on accept", &r, Reason::Protocol);
}

#[tokio::test]
async fn close_without_response() {
    let addr = replies(Vec::new()).await;
    let r = plain(addr, "").await;
    assert_fails("close without response", &r, Reason::Protocol);
}

#[tokio::test]
async fn reset_before_headers() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        reset(s);
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("reset before headers", &r, Reason::Protocol);
}

#[tokio::test]
async fn reset_mid_headers() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        let _ = s.flush().await;
        reset(s);
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("reset mid-headers", &r, Reason::Protocol);
}

#[tokio::test]
async fn reset_mid_body() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            .await;
        let _ = s.write_all(&[b'x'; 100]).await;
        let _ = s.flush().await;
        reset(s);
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("reset mid-body", &r, Reason::Protocol);
}

#[tokio::test]
async fn never_answers() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        hang().await;
        drop(s);
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("accepts, never answers", &r, Reason::Timeout);
}

#[tokio::test]
async fn slowloris_headers() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let head = b"HTTP/1.1 200 OK\r\nX-Slow: ";
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for b in head.iter().copied().chain(std::iter::repeat(b'a')) {
            tick.tick().await;
            if s.write_all(&[b]).await.is_err() {
                return;
            }
        }
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("slowloris headers", &r, Reason::Timeout);
}

#[tokio::test]
async fn headers_then_stall() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            .await;
        hang().await;
        drop(s);
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("headers, then no body", &r, Reason::Timeout);
}

#[tokio::test]
async fn slow_body() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            .await;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..1000 {
            tick.tick().await;
            if s.write_all(b"x").await.is_err() {
                return;
            }
        }
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("slow body", &r, Reason::Timeout);
}

// ---------------------------------------------------------------------------
// Bodies: size caps (after decompression) and framing

#[tokio::test]
async fn never_ending_chunked_body() {
    let before = rss_kb();
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let mut chunk = b"10000\r\n".to_vec();
        chunk.extend_from_slice(&[b'x'; 0x10000]);
        chunk.extend_from_slice(b"\r\n");
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("never-ending chunked body", &r, Reason::BodyTooLarge);
    assert_rss_bounded("never-ending chunked body", before);
}

#[tokio::test]
async fn huge_body_without_length() {
    let before = rss_kb();
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .await;
        let block = vec![b'x'; 64 * 1024];
        for _ in 0..(100 * MB / block.len()) {
            if s.write_all(&block).await.is_err() {
                return;
            }
        }
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("huge body, no Content-Length", &r, Reason::BodyTooLarge);
    assert_rss_bounded("huge body, no Content-Length", before);
}

#[tokio::test]
async fn huge_declared_length() {
    let addr = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n")
            .await;
        hang().await;
        drop(s);
    })
    .await;
    let r = plain(addr, "").await;
    assert_fails("Content-Length: 10 GB", &r, Reason::BodyTooLarge);
}

#[tokio::test]
async fn poll_does_not_download_a_too_large_body_again() {
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = connections.clone();
    let addr = fault_server(move |mut s| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = read_head(&mut s).await;
            let _ = s
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
                )
                .await;
            let _ = s.write_all(&vec![b'x'; 2_000_000]).await;
        }
    })
    .await;
    let r = plain(addr, "        poll: { every: 50ms, within: 1s }\n").await;
    assert_fails("over the cap, polled", &r, Reason::BodyTooLarge);
    assert_eq!(r.step.attempts, 1, "{:?}", r.step.message);
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn gzip_bomb() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; MB];
    for _ in 0..50 {
        enc.write_all(&zeros).unwrap();
    }
    let gz = enc.finish().unwrap();
    drop(zeros);
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    resp.extend_from_slice(&gz);
    let before = rss_kb();
    let addr = replies(resp).await;
    let r = plain(addr, "").await;
    assert_fails(
        &format!("gzip bomb ({} kB → 50 MB)", gz.len() / 1024),
        &r,
        Reason::BodyTooLarge,
    );
    assert_rss_bounded("gzip bomb", before);
}

#[tokio::test]
async fn invalid_gzip() {
    let addr = replies(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 11\r\n\r\nnot gzip!!!"
            .to_vec(),
    )
    .await;
    let r = plain(addr, "").await;
    assert_fails("invalid gzip body", &r, Reason::Protocol);
}

#[tokio::test]
async fn content_length_mismatch() {
    let addr = replies(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".to_vec()).await;
    let r = plain(addr, "").await;
    assert_fails("Content-Length 100, 10 sent", &r, Reason::Protocol);
}

#[tokio::test]
async fn invalid_chunk_encoding() {
    let addr = replies(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n".to_vec(),
    )
    .await;
    let r = plain(addr, "").await;
    assert_fails("invalid chunk size", &r, Reason::Protocol);
}

// ---------------------------------------------------------------------------
// Status line and headers

#[tokio::test]
async fn non_utf8_header_bytes() {
    let addr = replies(
        b"HTTP/1.1 200 OK\r\nX-Bin: \xff\xfe\x80latin\xe9\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    )
    .await;
    let r = plain(addr, EXPECT_200).await;
    let s = &r.step;
    eprintln!(
        "FAULT non-UTF-8 header: {:?} {:?} {:?} status {:?}",
        s.outcome, s.reason, s.message, s.status
    );
    assert!(r.elapsed < TIMEOUT + SLACK);
    // Header values are opaque bytes in HTTP: the response is usable.
    assert_eq!(s.outcome, Outcome::Passed, "{s:#?}");
    assert_eq!(s.status, Some(200));
}

#[tokio::test]
async fn ten_thousand_headers() {
    let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..10_000 {
        resp.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    resp.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let addr = replies(resp).await;
    let r = plain(addr, "").await;
    assert_fails("10 000 headers", &r, Reason::Protocol);
}

#[tokio::test]
async fn one_megabyte_header() {
    let mut resp = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    resp.extend(std::iter::repeat_n(b'a', MB));
    resp.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let addr = replies(resp).await;
    let r = plain(addr, "").await;
    assert_fails("one 1 MB header", &r, Reason::Protocol);
}

#[tokio::test]
async fn http09_response() {
    let addr = replies(b"hello, this is not HTTP/1.x\n".to_vec()).await;
    let r = plain(addr, "").await;
    assert_fails("HTTP/0.9 style (no status line)", &r, Reason::Protocol);
}

#[tokio::test]
async fn garbage_status_line() {
    let addr = replies(b"HTTP/1.1 abc Nope\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    let r = plain(addr, "").await;
    assert_fails("garbage status line", &r, Reason::Protocol);
}

#[tokio::test]
async fn status_999() {
    let addr = replies(b"HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    let r = plain(addr, EXPECT_200).await;
    assert_fails("status 999", &r, Reason::Status);
    assert_eq!(r.step.status, Some(999));
}

// ---------------------------------------------------------------------------
// Redirects

fn redirect_to(location: &str) -> Vec<u8> {
    format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

/// The request path of a request head.
fn path_of(head: &str) -> String {
    head.split_whitespace().nth(1).unwrap_or("").to_string()
}

#[tokio::test]
async fn redirect_loop() {
    let addr = fault_server(|mut s| async move {
        let Some(head) = read_head(&mut s).await else {
            return;
        };
        let next = if path_of(&head) == "/a" { "/b" } else { "/a" };
        let _ = s.write_all(&redirect_to(next)).await;
    })
    .await;
    let r = run_step(
        &format!("http://{addr}/a"),
        "        follow_redirects: 5\n",
        vec![],
    )
    .await;
    assert_fails("redirect loop /a ↔ /b", &r, Reason::Redirect);
}

#[tokio::test]
async fn endless_redirects() {
    let addr = fault_server(|mut s| async move {
        let Some(head) = read_head(&mut s).await else {
            return;
        };
        let n: u64 = path_of(&head).trim_start_matches('/').parse().unwrap_or(0);
        let _ = s.write_all(&redirect_to(&format!("/{}", n + 1))).await;
    })
    .await;
    let r = run_step(
        &format!("http://{addr}/0"),
        "        follow_redirects: 5\n",
        vec![],
    )
    .await;
    assert_fails("endless distinct redirects", &r, Reason::Redirect);
    let msg = r.step.message.as_deref().unwrap_or("");
    assert!(msg.contains("more than 5 redirects"), "{msg}");
}

#[tokio::test]
async fn redirect_to_another_host_drops_credentials() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let addr = fault_server(move |mut s| {
        let log = log.clone();
        async move {
            let Some(head) = read_head(&mut s).await else {
                return;
            };
            let port = s.local_addr().unwrap().port();
            log.lock().unwrap().push(head.clone());
            let resp = match path_of(&head).as_str() {
                // Same host first (credentials kept), then another host.
                "/start" => redirect_to("/same-host"),
                "/same-host" => redirect_to(&format!("http://localhost:{port}/other-host")),
                _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            };
            let _ = s.write_all(&resp).await;
        }
    })
    .await;
    let r = run_step(
        &format!("http://127.0.0.1:{}/start", addr.port()),
        "        follow_redirects: 5\n        headers:\n          authorization: Bearer s3cret\n          x-api-key: k3y\n          accept: text/plain\n",
        vec![],
    )
    .await;
    let s = &r.step;
    assert_eq!(s.outcome, Outcome::Passed, "{s:#?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    let lower: Vec<String> = seen.iter().map(|h| h.to_ascii_lowercase()).collect();
    for head in &lower[..2] {
        assert!(head.contains("authorization: bearer s3cret"), "{head}");
        assert!(head.contains("host: 127.0.0.1:"), "{head}");
    }
    let third = &lower[2];
    eprintln!(
        "FAULT cross-host redirect: request to the other host:\n{}",
        seen[2]
    );
    assert!(third.contains("host: localhost:"), "{third}");
    assert!(
        !third.contains("authorization"),
        "credentials crossed hosts:\n{third}"
    );
    assert!(
        !third.contains("x-api-key"),
        "credentials crossed hosts:\n{third}"
    );
    assert!(third.contains("accept: text/plain"), "{third}");
}

// ---------------------------------------------------------------------------
// JSON bodies

fn json_response(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

const JSON_ASSERT: &str = "        expect:\n          status: 200\n          json:\n            - { path: $.ok, equals: true }\n";

#[tokio::test]
async fn invalid_json() {
    let addr = replies(json_response(b"{\"ok\": tru")).await;
    let r = plain(addr, JSON_ASSERT).await;
    assert_fails("invalid JSON", &r, Reason::Assertion);
}

#[tokio::test]
async fn deeply_nested_json() {
    let addr = replies(json_response(&vec![b'['; 100_000])).await;
    let r = plain(addr, JSON_ASSERT).await;
    assert_fails("100 000 nested [", &r, Reason::Assertion);
}

// ---------------------------------------------------------------------------
// TLS

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "smokeprobe faults CA");
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf for `sans` valid from `from` to `to` (unix seconds), signed by `ca`
/// or by itself.
fn leaf(
    ca: Option<&Ca>,
    sans: &[&str],
    from: i64,
    to: i64,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = ASN1Time::from_timestamp(from).unwrap().to_datetime();
    params.not_after = ASN1Time::from_timestamp(to).unwrap().to_datetime();
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// A TLS server with `cert` offering `alpn`; after the handshake `handler`
/// gets the stream.
async fn tls_server<F, Fut>(
    cert: (CertificateDer<'static>, PrivateKeyDer<'static>),
    alpn: &[&[u8]],
    handler: F,
) -> SocketAddr
where
    F: Fn(tokio_rustls::server::TlsStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.0], cert.1)
    .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let handler = Arc::new(handler);
    fault_server(move |tcp| {
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                handler(tls).await;
            }
        }
    })
    .await
}

async fn ok_over<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    if read_head(&mut s).await.is_some() {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
        let _ = s.shutdown().await;
    }
}

#[tokio::test]
async fn tls_expired_certificate() {
    let ca = ca();
    let cert = leaf(Some(&ca), &["localhost"], now() - 30 * DAY, now() - DAY);
    let addr = tls_server(cert, &[b"http/1.1"], ok_over).await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run_step(&url, "", vec![ca.pem.clone()]).await;
    assert_fails("TLS expired certificate", &r, Reason::Tls);
}

#[tokio::test]
async fn tls_self_signed_certificate() {
    let cert = leaf(None, &["localhost"], now() - DAY, now() + 30 * DAY);
    let addr = tls_server(cert, &[b"http/1.1"], ok_over).await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run_step(&url, "", vec![]).await;
    assert_fails("TLS self-signed certificate", &r, Reason::Tls);
}

#[tokio::test]
async fn tls_wrong_host() {
    let ca = ca();
    let cert = leaf(Some(&ca), &["other.example"], now() - DAY, now() + 30 * DAY);
    let addr = tls_server(cert, &[b"http/1.1"], ok_over).await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run_step(&url, "", vec![ca.pem.clone()]).await;
    assert_fails("TLS certificate for another host", &r, Reason::Tls);
}

#[tokio::test]
async fn tls_valid_control() {
    // The same server set-up with a good certificate passes, so the TLS
    // failures above are the certificates' doing.
    let ca = ca();
    let cert = leaf(Some(&ca), &["localhost"], now() - DAY, now() + 30 * DAY);
    let addr = tls_server(cert, &[b"http/1.1"], ok_over).await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run_step(&url, EXPECT_200, vec![ca.pem.clone()]).await;
    assert_eq!(r.step.outcome, Outcome::Passed, "{:#?}", r.step);
}

#[tokio::test]
async fn tls_handshake_stall() {
    let addr = fault_server(|mut s| async move {
        // Read the ClientHello, never answer it.
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        hang().await;
        drop(s);
    })
    .await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run_step(&url, "", vec![]).await;
    assert_fails("TLS handshake stall", &r, Reason::Timeout);
}

#[tokio::test]
async fn plain_http_on_tls_port() {
    let addr = fault_server(|mut s| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    })
    .await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run_step(&url, "", vec![]).await;
    assert_fails("plain HTTP answer to a ClientHello", &r, Reason::Tls);
}

#[tokio::test]
async fn http2_garbage_after_alpn() {
    let ca = ca();
    let cert = leaf(Some(&ca), &["localhost"], now() - DAY, now() + 30 * DAY);
    let addr = tls_server(cert, &[b"h2"], |mut tls| async move {
        let _ = tls
            .write_all(b"this is not an HTTP/2 SETTINGS frame at all\r\n\r\n")
            .await;
        let _ = tls.flush().await;
        let mut buf = [0u8; 4096];
        while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run_step(&url, "", vec![ca.pem.clone()]).await;
    assert_fails("HTTP/2 garbage after ALPN h2", &r, Reason::Protocol);
}

// ---------------------------------------------------------------------------
// Isolation

#[tokio::test]
async fn other_flows_are_unaffected_by_a_hanging_target() {
    let hanging = fault_server(|mut s| async move {
        let _ = read_head(&mut s).await;
        hang().await;
        drop(s);
    })
    .await;
    let healthy = fault_server(ok_over).await;
    let (stuck, fine) = tokio::join!(plain(hanging, ""), plain(healthy, EXPECT_200));
    assert_fails("hanging target (concurrent)", &stuck, Reason::Timeout);
    assert_eq!(fine.step.outcome, Outcome::Passed, "{:#?}", fine.step);
    eprintln!(
        "FAULT healthy flow alongside: passed in {:?} (hanging one: {:?})",
        fine.elapsed, stuck.elapsed
    );
    // The healthy flow finished well before the hanging one timed out.
    assert!(
        fine.elapsed < TIMEOUT,
        "healthy flow took {:?}",
        fine.elapsed
    );
}
