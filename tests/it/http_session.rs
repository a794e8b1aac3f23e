//! The hyper session (`net::http`) against in-process servers on 127.0.0.1:0:
//! scripted raw sockets where the exact bytes and their timing matter, hyper
//! servers (HTTP/1.1 and HTTP/2 over TLS with rcgen certificates) where a real
//! peer does, and axum for parsing multipart bodies back.
//!
//! Servers that sleep do so to be slow on purpose (the thing measured), never
//! to wait for the client.

use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use smokeprobe::net::http::{ErrorKind, HttpError, Part, Request, Response, SessionOptions};
use smokeprobe::net::{HttpFactory, NetOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How slow a slow server is.
const SLOW: Duration = Duration::from_millis(150);

fn factory(ca_pems: Vec<String>) -> HttpFactory {
    HttpFactory::new(&NetOptions {
        ca_pems,
        user_agent: "smokeprobe-test".into(),
        ..NetOptions::default()
    })
    .unwrap()
}

fn opts() -> SessionOptions {
    SessionOptions {
        timeout: TIMEOUT,
        ..SessionOptions::default()
    }
}

fn req(method: Method, url: &str) -> Request {
    Request::new(method, url.parse().unwrap())
}

fn get(url: &str) -> Request {
    req(Method::GET, url)
}

/// Sends `r` on a fresh session.
async fn fetch(r: Request, o: &SessionOptions) -> Result<Response, HttpError> {
    factory(vec![]).session().send(r, o).await
}

/// Accepts connections forever; each goes to `handle` with its number (from 0).
async fn serve<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(handle(s, n));
            n += 1;
        }
    });
    addr
}

/// One request's head (lower-cased) and body; `None` once the client closed.
async fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers every request on every connection with "ok"; counts connections.
async fn keep_alive_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    let addr = serve(move |mut s, _| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            while read_request(&mut s).await.is_some() {
                if s.write_all(&ok("ok")).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (addr, conns)
}

/// Answers once per connection with `response`, then holds the connection
/// open without a word.
async fn scripted(response: Vec<u8>) -> SocketAddr {
    let response = Arc::new(response);
    serve(move |mut s, _| {
        let response = response.clone();
        async move {
            if read_request(&mut s).await.is_some() {
                let _ = s.write_all(&response).await;
                std::future::pending::<()>().await;
            }
        }
    })
    .await
}

fn expect_err(r: Result<Response, HttpError>, kind: ErrorKind) -> HttpError {
    match r {
        Ok(resp) => panic!(
            "expected {kind:?}, got {} {:?}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ),
        Err(e) => {
            assert_eq!(e.kind, kind, "{}", e.message);
            assert!(!e.message.contains('\n'), "one line: {}", e.message);
            e
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

// ---- timings -------------------------------------------------------------

#[tokio::test]
async fn slow_headers_count_as_processing_and_phases_add_up() {
    let addr = serve(|mut s, _| async move {
        read_request(&mut s).await;
        tokio::time::sleep(SLOW).await;
        let _ = s.write_all(&ok("hello")).await;
    })
    .await;
    let started = Instant::now();
    let r = fetch(get(&format!("http://{addr}/")), &opts())
        .await
        .unwrap();
    let wall = started.elapsed();
    let p = r.phases;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"hello");
    assert_eq!(r.peer, Some(addr));
    assert_eq!(r.version, http::Version::HTTP_11);
    assert!(p.processing >= SLOW, "{p:?}");
    assert!(p.transfer < SLOW, "{p:?}");
    assert_eq!(p.resolve, Duration::ZERO, "an IP literal is not resolved");
    assert!(p.connect > Duration::ZERO, "{p:?}");
    assert_eq!(p.tls, Duration::ZERO, "plain HTTP has no handshake");
    assert!(!p.reused);
    assert!(p.total() <= wall, "{p:?} vs {wall:?}");
    assert!(
        wall - p.total() < Duration::from_millis(50),
        "phases {:?} should account for the wall time {wall:?}",
        p.total()
    );
}

#[tokio::test]
async fn a_body_that_stalls_counts_as_transfer() {
    let addr = serve(|mut s, _| async move {
        read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .await;
        let _ = s.flush().await;
        tokio::time::sleep(SLOW).await;
        let _ = s.write_all(b"world").await;
    })
    .await;
    let r = fetch(get(&format!("http://{addr}/")), &opts())
        .await
        .unwrap();
    assert_eq!(&r.body[..], b"helloworld");
    assert_eq!(r.wire_bytes, 10);
    assert!(r.phases.transfer >= SLOW, "{:?}", r.phases);
    assert!(r.phases.processing < SLOW, "{:?}", r.phases);
}

#[tokio::test]
async fn a_name_is_resolved_and_an_ip_literal_is_not() {
    let (addr, _) = keep_alive_server().await;
    let by_name = fetch(get(&format!("http://localhost:{}/", addr.port())), &opts())
        .await
        .unwrap();
    assert!(
        by_name.phases.resolve > Duration::ZERO,
        "{:?}",
        by_name.phases
    );
    assert_eq!(by_name.peer, Some(addr));
    let by_ip = fetch(get(&format!("http://{addr}/")), &opts())
        .await
        .unwrap();
    assert_eq!(by_ip.phases.resolve, Duration::ZERO);
}

#[tokio::test]
async fn keep_alive_within_a_session_but_not_across_sessions() {
    let (addr, conns) = keep_alive_server().await;
    let url = format!("http://localhost:{}/", addr.port());
    let f = factory(vec![]);
    let mut session = f.session();
    let first = session.send(get(&url), &opts()).await.unwrap();
    let second = session.send(get(&url), &opts()).await.unwrap();
    assert!(!first.phases.reused);
    assert!(first.phases.resolve > Duration::ZERO && first.phases.connect > Duration::ZERO);
    let p = second.phases;
    assert!(p.reused, "{p:?}");
    assert_eq!(
        (p.resolve, p.connect, p.tls),
        (Duration::ZERO, Duration::ZERO, Duration::ZERO)
    );
    assert!(p.processing > Duration::ZERO);
    assert_eq!(conns.load(Ordering::SeqCst), 1);

    let other = f.session().send(get(&url), &opts()).await.unwrap();
    assert!(!other.phases.reused);
    assert!(other.phases.connect > Duration::ZERO);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

// ---- TLS and HTTP/2 ------------------------------------------------------

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "http session test CA");
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A chain (leaf first) and key for 127.0.0.1 and localhost, signed by `ca`
/// (or by itself), expired when `expired`.
fn leaf(ca: Option<&Ca>, expired: bool) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    if expired {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let at = |t| {
            x509_parser::time::ASN1Time::from_timestamp(t)
                .unwrap()
                .to_datetime()
        };
        params.not_before = at(now - 30 * 86_400);
        params.not_after = at(now - 86_400);
    }
    let (cert, chain_tail) = match ca {
        Some(ca) => (
            params.signed_by(&key, &ca.issuer).unwrap(),
            vec![ca.der.clone()],
        ),
        None => (params.self_signed(&key).unwrap(), vec![]),
    };
    let mut chain = vec![cert.der().clone()];
    chain.extend(chain_tail);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (chain, key)
}

/// A TLS server offering `alpn`, speaking HTTP/2 or HTTP/1.1 as negotiated;
/// every request gets "ok". Counts connections.
async fn tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> (SocketAddr, Arc<AtomicUsize>) {
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    let addr = serve(move |tcp, _| {
        let acceptor = acceptor.clone();
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = hyper_util::rt::TokioIo::new(tls);
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                    Bytes::from_static(b"ok"),
                )))
            });
            if h2 {
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            }
        }
    })
    .await;
    (addr, conns)
}

#[tokio::test]
async fn https_measures_the_handshake_once_per_connection() {
    let ca = ca();
    let (chain, key) = leaf(Some(&ca), false);
    let (addr, conns) = tls_server(chain, key, &[b"http/1.1"]).await;
    let f = factory(vec![ca.pem.clone()]);
    let mut session = f.session();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/", addr.port());
        let first = session.send(get(&url), &opts()).await.unwrap();
        assert_eq!(&first.body[..], b"ok");
        assert_eq!(first.version, http::Version::HTTP_11);
        assert!(first.phases.tls > Duration::ZERO, "{:?}", first.phases);
        assert!(!first.phases.reused);
        let second = session.send(get(&url), &opts()).await.unwrap();
        assert!(second.phases.reused, "{:?}", second.phases);
        assert_eq!(second.phases.tls, Duration::ZERO);
        assert_eq!(second.phases.connect, Duration::ZERO);
    }
    // One connection per origin: 127.0.0.1 and localhost are two.
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn_and_reused() {
    let ca = ca();
    let (chain, key) = leaf(Some(&ca), false);
    let (addr, conns) = tls_server(chain, key, &[b"h2", b"http/1.1"]).await;
    let f = factory(vec![ca.pem.clone()]);
    let mut session = f.session();
    let url = format!("https://localhost:{}/", addr.port());
    let first = session.send(get(&url), &opts()).await.unwrap();
    assert_eq!(first.version, http::Version::HTTP_2);
    assert_eq!(first.status, 200);
    assert_eq!(&first.body[..], b"ok");
    assert!(first.phases.tls > Duration::ZERO);
    let mut post = req(Method::POST, &url);
    post.body = Bytes::from_static(b"payload");
    let second = session.send(post, &opts()).await.unwrap();
    assert_eq!(second.version, http::Version::HTTP_2);
    assert!(second.phases.reused, "{:?}", second.phases);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn untrusted_and_expired_certificates_are_tls_errors() {
    let ca = ca();
    let (chain, key) = leaf(None, false);
    let (self_signed, _) = tls_server(chain, key, &[]).await;
    let (chain, key) = leaf(Some(&ca), true);
    let (expired, _) = tls_server(chain, key, &[]).await;
    let f = factory(vec![ca.pem.clone()]);

    let e = expect_err(
        f.session()
            .send(get(&format!("https://{self_signed}/")), &opts())
            .await,
        ErrorKind::Tls,
    );
    assert!(
        e.message.contains("invalid peer certificate"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains(&self_signed.to_string()),
        "{}",
        e.message
    );
    assert!(e.phases.tls > Duration::ZERO && e.phases.connect > Duration::ZERO);

    let e = expect_err(
        f.session()
            .send(get(&format!("https://{expired}/")), &opts())
            .await,
        ErrorKind::Tls,
    );
    assert!(e.message.contains("certificate expired"), "{}", e.message);
}

// ---- keep-alive edge cases ------------------------------------------------

/// Answers the first request of each connection, then closes it and says so.
async fn one_request_per_connection() -> (
    SocketAddr,
    Arc<AtomicUsize>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let conns = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let c = conns.clone();
    let addr = serve(move |mut s, _| {
        c.fetch_add(1, Ordering::SeqCst);
        let tx = tx.clone();
        async move {
            if read_request(&mut s).await.is_some() {
                // No `Connection: close`: the client believes it may reuse this.
                let _ = s.write_all(&ok("ok")).await;
            }
            drop(s);
            let _ = tx.send(());
        }
    })
    .await;
    (addr, conns, rx)
}

#[tokio::test]
async fn a_connection_closed_between_requests_is_replaced() {
    let (addr, conns, mut closed) = one_request_per_connection().await;
    let url = format!("http://{addr}/");
    let mut session = factory(vec![]).session();
    let first = session.send(get(&url), &opts()).await.unwrap();
    assert!(!first.phases.reused);
    closed.recv().await.unwrap();
    let second = session.send(get(&url), &opts()).await.unwrap();
    assert_eq!(&second.body[..], b"ok");
    assert!(!second.phases.reused, "{:?}", second.phases);
    assert!(second.phases.connect > Duration::ZERO);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    // Not idempotent, but the close came before the request: hyper sees the
    // end of the idle connection before writing, so it is safe to resend.
    closed.recv().await.unwrap();
    let mut post = req(Method::POST, &url);
    post.body = Bytes::from_static(b"{}");
    let third = session.send(post, &opts()).await.unwrap();
    assert!(!third.phases.reused, "{:?}", third.phases);
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

/// Connection 0 answers its first request and reads the second without
/// answering; later connections answer everything. Counts requests by method.
async fn drops_second_request() -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let conns = Arc::new(AtomicUsize::new(0));
    let posts = Arc::new(AtomicUsize::new(0));
    let (c, p) = (conns.clone(), posts.clone());
    let addr = serve(move |mut s, n| {
        c.fetch_add(1, Ordering::SeqCst);
        let p = p.clone();
        async move {
            let mut seen = 0;
            while let Some((head, _)) = read_request(&mut s).await {
                if head.starts_with("post ") {
                    p.fetch_add(1, Ordering::SeqCst);
                }
                seen += 1;
                if n == 0 && seen == 2 {
                    return;
                }
                let _ = s.write_all(&ok("ok")).await;
            }
        }
    })
    .await;
    (addr, conns, posts)
}

#[tokio::test]
async fn a_post_the_server_may_have_seen_is_never_sent_twice() {
    let (addr, conns, posts) = drops_second_request().await;
    let url = format!("http://{addr}/");
    let mut session = factory(vec![]).session();
    session.send(get(&url), &opts()).await.unwrap();
    let mut post = req(Method::POST, &url);
    post.body = Bytes::from_static(b"{}");
    let e = expect_err(session.send(post, &opts()).await, ErrorKind::Protocol);
    assert!(e.phases.reused);
    assert_eq!(posts.load(Ordering::SeqCst), 1);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_get_lost_on_a_stale_connection_is_resent_once() {
    let (addr, conns, _) = drops_second_request().await;
    let url = format!("http://{addr}/");
    let mut session = factory(vec![]).session();
    session.send(get(&url), &opts()).await.unwrap();
    let r = session.send(get(&url), &opts()).await.unwrap();
    assert_eq!(&r.body[..], b"ok");
    assert!(!r.phases.reused);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

// ---- failures ------------------------------------------------------------

#[tokio::test]
async fn refused_connection_is_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = expect_err(
        fetch(get(&format!("http://{addr}/")), &opts()).await,
        ErrorKind::Connect,
    );
    assert!(
        e.message.contains(&format!("connect to {addr}")),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn unsupported_scheme_is_a_request_error() {
    let e = expect_err(
        fetch(get("ftp://127.0.0.1/x"), &opts()).await,
        ErrorKind::Request,
    );
    assert!(e.message.contains("ftp"), "{}", e.message);
}

#[tokio::test]
async fn a_silent_server_times_out_naming_the_phase() {
    let silent = serve(|s, _| async move {
        let _keep = s;
        std::future::pending::<()>().await;
    })
    .await;
    let o = SessionOptions {
        timeout: Duration::from_millis(300),
        ..SessionOptions::default()
    };
    let started = Instant::now();
    let e = expect_err(
        fetch(get(&format!("http://{silent}/")), &o).await,
        ErrorKind::Timeout,
    );
    let took = started.elapsed();
    assert!(
        took >= o.timeout && took < o.timeout + Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(e.message, "no response headers within 300 ms");
    assert!(
        e.phases.processing >= Duration::from_millis(250),
        "{:?}",
        e.phases
    );

    let e = expect_err(
        fetch(get(&format!("https://{silent}/")), &o).await,
        ErrorKind::Timeout,
    );
    assert_eq!(
        e.message,
        format!("TLS handshake with {silent} not complete within 300 ms")
    );
    assert!(e.phases.tls >= Duration::from_millis(250), "{:?}", e.phases);
}

#[tokio::test]
async fn garbage_instead_of_a_status_line_is_protocol() {
    let addr = scripted(b"HELLO THERE\r\n\r\n".to_vec()).await;
    let e = expect_err(
        fetch(get(&format!("http://{addr}/")), &opts()).await,
        ErrorKind::Protocol,
    );
    assert!(e.message.starts_with("invalid response"), "{}", e.message);
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_protocol() {
    let addr = serve(|mut s, _| async move {
        read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            .await;
    })
    .await;
    let e = expect_err(
        fetch(get(&format!("http://{addr}/")), &opts()).await,
        ErrorKind::Protocol,
    );
    assert!(e.message.contains("after 10 bytes"), "{}", e.message);
}

#[tokio::test]
async fn invalid_chunked_encoding_is_protocol() {
    let addr = scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n".to_vec(),
    )
    .await;
    expect_err(
        fetch(get(&format!("http://{addr}/")), &opts()).await,
        ErrorKind::Protocol,
    );
}

// ---- bodies ----------------------------------------------------------------

#[tokio::test]
async fn gzip_is_requested_decoded_and_its_headers_dropped() {
    let text = "hello, compressed world. ".repeat(200);
    let packed = gzip(text.as_bytes());
    let packed_len = packed.len();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = heads.clone();
    let addr = serve(move |mut s, _| {
        let packed = packed.clone();
        let h = h.clone();
        async move {
            while let Some((head, _)) = read_request(&mut s).await {
                h.lock().unwrap().push(head);
                let mut resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    packed.len()
                )
                .into_bytes();
                resp.extend_from_slice(&packed);
                let _ = s.write_all(&resp).await;
            }
        }
    })
    .await;
    let url = format!("http://{addr}/");
    let r = fetch(get(&url), &opts()).await.unwrap();
    assert_eq!(r.body, text.as_bytes());
    assert_eq!(r.wire_bytes, packed_len as u64);
    assert!(r.headers.get("content-encoding").is_none());
    assert!(r.headers.get("content-length").is_none());

    let raw = SessionOptions {
        decompress: false,
        ..opts()
    };
    let r = fetch(get(&url), &raw).await.unwrap();
    assert_eq!(r.body.len(), packed_len);
    assert_eq!(r.headers["content-encoding"], "gzip");

    let heads = heads.lock().unwrap();
    assert!(
        heads[0].contains("\r\naccept-encoding: gzip\r\n"),
        "{}",
        heads[0]
    );
    assert!(!heads[1].contains("accept-encoding"), "{}", heads[1]);
}

#[tokio::test]
async fn a_gzip_bomb_is_stopped_at_the_cap() {
    let bomb = gzip(&vec![0u8; 20 << 20]);
    assert!(bomb.len() < 100 << 10);
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    resp.extend_from_slice(&bomb);
    let addr = scripted(resp).await;
    let o = SessionOptions {
        max_body: 1 << 20,
        ..opts()
    };
    let e = expect_err(
        fetch(get(&format!("http://{addr}/")), &o).await,
        ErrorKind::BodyTooLarge,
    );
    assert!(e.message.contains("after decompression"), "{}", e.message);
}

#[tokio::test]
async fn invalid_gzip_is_protocol() {
    let addr = scripted(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzip at!"
            .to_vec(),
    )
    .await;
    let e = expect_err(
        fetch(get(&format!("http://{addr}/")), &opts()).await,
        ErrorKind::Protocol,
    );
    assert!(e.message.starts_with("invalid gzip body"), "{}", e.message);
}

#[tokio::test]
async fn a_declared_length_over_the_cap_fails_before_reading() {
    // Declares a gigabyte and sends nothing: only an up-front check can
    // answer before the timeout.
    let addr = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n".to_vec()).await;
    let o = SessionOptions {
        max_body: 1 << 20,
        ..opts()
    };
    let started = Instant::now();
    let e = expect_err(
        fetch(get(&format!("http://{addr}/")), &o).await,
        ErrorKind::BodyTooLarge,
    );
    assert!(started.elapsed() < TIMEOUT / 2);
    assert!(
        e.message.contains("Content-Length 1000000000"),
        "{}",
        e.message
    );

    // HEAD has no body whatever Content-Length says.
    let r = fetch(req(Method::HEAD, &format!("http://{addr}/")), &o)
        .await
        .unwrap();
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn an_endless_chunked_body_is_stopped_at_the_cap() {
    let addr = serve(|mut s, _| async move {
        read_request(&mut s).await;
        if s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
        while s.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let o = SessionOptions {
        max_body: 1 << 20,
        ..opts()
    };
    let started = Instant::now();
    let e = expect_err(
        fetch(get(&format!("http://{addr}/")), &o).await,
        ErrorKind::BodyTooLarge,
    );
    assert!(started.elapsed() < TIMEOUT);
    assert!(e.phases.transfer > Duration::ZERO);
}

#[tokio::test]
async fn request_headers_are_completed_not_overridden() {
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = heads.clone();
    let addr = serve(move |mut s, _| {
        let h = h.clone();
        async move {
            while let Some((head, body)) = read_request(&mut s).await {
                h.lock().unwrap().push((head, body));
                let _ = s.write_all(&ok("ok")).await;
            }
        }
    })
    .await;
    let url = format!("http://{addr}/path?q=1");
    let mut session = factory(vec![]).session();
    let mut post = req(Method::POST, &url);
    post.body = Bytes::from_static(b"abc");
    session.send(post, &opts()).await.unwrap();
    let mut custom = get(&url);
    custom
        .headers
        .insert("user-agent", HeaderValue::from_static("custom/1"));
    session.send(custom, &opts()).await.unwrap();
    let with_credentials = format!("http://user%40x:p%3Ass@{addr}/private");
    session.send(get(&with_credentials), &opts()).await.unwrap();

    let heads = heads.lock().unwrap();
    let (head, body) = &heads[0];
    assert!(head.starts_with("post /path?q=1 http/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nhost: {addr}\r\n")), "{head}");
    assert!(
        head.contains("\r\nuser-agent: smokeprobe-test\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\ncontent-length: 3\r\n"), "{head}");
    assert_eq!(body, b"abc");
    let (head, _) = &heads[1];
    assert!(head.contains("\r\nuser-agent: custom/1\r\n"), "{head}");
    assert!(!head.contains("smokeprobe-test"), "{head}");
    let (head, _) = &heads[2];
    assert!(head.starts_with("get /private http/1.1\r\n"), "{head}");
    // base64("user@x:p:ss"), lower-cased by the test server.
    assert!(
        head.contains("\r\nauthorization: basic dxnlckb4ona6c3m=\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn multipart_bodies_parse_back_with_axum() {
    use axum::extract::Multipart;
    async fn summarize(mut form: Multipart) -> String {
        let mut out = String::new();
        while let Some(field) = form.next_field().await.unwrap() {
            let name = field.name().unwrap_or("").to_string();
            let file = field.file_name().map(str::to_string);
            let ct = field.content_type().map(str::to_string);
            let data = field.bytes().await.unwrap();
            let sum: u64 = data.iter().map(|b| *b as u64).sum();
            out.push_str(&format!("{name}|{file:?}|{ct:?}|{}|{sum}\n", data.len()));
        }
        out
    }
    let app = axum::Router::new().route("/upload", axum::routing::post(summarize));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let sum: u64 = binary.iter().map(|b| *b as u64).sum();
    let (content_type, body) = smokeprobe::net::http::multipart(&[
        Part {
            name: "title".into(),
            filename: None,
            content_type: None,
            data: Bytes::from_static(b"A trip"),
        },
        Part {
            name: "photo".into(),
            filename: Some("road \"trip\".jpg".into()),
            content_type: Some("image/jpeg".into()),
            data: Bytes::from(binary),
        },
    ]);
    let mut r = req(Method::POST, &format!("http://{addr}/upload"));
    r.headers.insert(
        "content-type",
        HeaderValue::from_str(&content_type).unwrap(),
    );
    r.body = body;
    let resp = fetch(r, &opts()).await.unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let text_sum: u64 = b"A trip".iter().map(|b| *b as u64).sum();
    assert_eq!(
        String::from_utf8_lossy(&resp.body),
        format!(
            "title|None|None|6|{text_sum}\n\
             photo|Some(\"road %22trip%22.jpg\")|Some(\"image/jpeg\")|5000|{sum}\n"
        )
    );
}

// ---- headers only ----------------------------------------------------------

/// `send_head`: a short complete body is read and thrown away (the
/// connection is kept); a truncated, endless, over-the-cap or broken gzip
/// body never fails the request and closes the connection instead.
#[tokio::test]
async fn send_head_never_fails_on_a_body() {
    let addr = serve(|mut s, _| async move {
        while let Some((head, _)) = read_request(&mut s).await {
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let resp: Vec<u8> = match path.as_str() {
                "/truncated" => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".to_vec(),
                "/over-cap" => b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n".to_vec(),
                "/bad-gzip" => {
                    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip"
                        .to_vec()
                }
                _ => ok("{\"not\": json"),
            };
            if s.write_all(&resp).await.is_err() {
                return;
            }
            match path.as_str() {
                // Never completes: hold the connection open.
                "/truncated" => std::future::pending::<()>().await,
                "/over-cap" => {
                    let chunk = vec![b'x'; 1 << 16];
                    while s.write_all(&chunk).await.is_ok() {}
                    return;
                }
                _ => {}
            }
        }
    })
    .await;
    let o = SessionOptions {
        max_body: 1 << 20,
        ..opts()
    };
    let f = factory(vec![]);
    let mut session = f.session();
    let url = |p: &str| format!("http://{addr}{p}");
    let first = session.send_head(get(&url("/small")), &o).await.unwrap();
    assert_eq!(first.status, 200);
    assert!(first.body.is_empty());
    let again = session.send_head(get(&url("/small")), &o).await.unwrap();
    assert!(again.phases.reused, "a short body keeps the connection");
    for p in ["/truncated", "/over-cap", "/bad-gzip"] {
        let r = session
            .send_head(get(&url(p)), &o)
            .await
            .unwrap_or_else(|e| panic!("{p}: {:?} {}", e.kind, e.message));
        assert_eq!(r.status, 200, "{p}");
        assert!(r.body.is_empty(), "{p}");
        assert!(r.wire_bytes <= 128 * 1024, "{p}: {}", r.wire_bytes);
    }
    // The same through `send` fails each of them, as it must.
    for (p, kind) in [
        ("/truncated", ErrorKind::Timeout),
        ("/over-cap", ErrorKind::BodyTooLarge),
        ("/bad-gzip", ErrorKind::Protocol),
    ] {
        let o = SessionOptions {
            timeout: Duration::from_millis(500),
            ..o
        };
        expect_err(fetch(get(&url(p)), &o).await, kind);
    }
}
