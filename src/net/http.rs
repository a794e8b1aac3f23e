//! An HTTP client session on hyper that reports where each request's time
//! went: DNS resolution, TCP connect, TLS handshake, processing (request sent →
//! response headers) and transfer (reading the body).
//!
//! reqwest hides its connection pool, so it cannot say whether a request paid
//! for a new connection or how long each part of it took. Here the session owns
//! its connections: a flow run gets a fresh [`Session`] (so its first request
//! measures a real connect and handshake, like a new visitor would), and the
//! session keeps one idle connection per origin so the run's later steps reuse
//! it, as a browser would. A request on a reused connection reports zero
//! resolve/connect/tls and `reused = true` — the timings are what happened, not
//! an estimate.
//!
//! [`Session::send_head`] is for checks that judge headers only (CORS): the
//! body is never kept or judged, so nothing in it can fail the request.
//!
//! What it deliberately does not do: follow redirects (the runner follows them
//! per step so it can report the chain and strip credentials), use proxies, or
//! retry — except resending once on a new connection when a kept-alive one turns
//! out to have been closed by the server while idle, and then only when the
//! request cannot have been processed (or is idempotent).
//!
//! Architecture invariant: nothing a server sends can panic a session; every
//! failure is an [`HttpError`] with a kind from a fixed set and a one-line message.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::{Host, Position, Url};

use super::HttpFactory;
use crate::encoding::base64;

/// Where the time of one request went. A reused connection has zero
/// `resolve`, `connect` and `tls`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phases {
    /// DNS lookup; zero for IP literals and reused connections.
    pub resolve: Duration,
    /// TCP connect, including addresses that were tried and refused.
    pub connect: Duration,
    /// TLS handshake (and the HTTP/2 connection preface, if any).
    pub tls: Duration,
    /// From starting to send the request (body included) to the response
    /// headers; includes a failed attempt on a kept-alive connection the
    /// server had closed, before the request was sent again on a new one.
    pub processing: Duration,
    /// Reading the response body.
    pub transfer: Duration,
    /// The request went over a connection kept alive from an earlier request.
    pub reused: bool,
}

impl Phases {
    pub fn total(&self) -> Duration {
        self.resolve + self.connect + self.tls + self.processing + self.transfer
    }
}

/// Why a request got no usable response. Maps one-to-one onto the flow
/// failure reasons of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Dns,
    Connect,
    Tls,
    Timeout,
    Protocol,
    BodyTooLarge,
    /// The request itself cannot be sent (bad URL scheme, refused header).
    Request,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Request => "request",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    pub kind: ErrorKind,
    /// One line, precise enough to act on ("connect to 127.0.0.1:9: Connection refused …").
    pub message: String,
    /// What was measured before it failed; the phase that failed holds the
    /// time spent in it.
    pub phases: Phases,
}

/// One request. Headers are sent as given, plus `Host` (HTTP/1), `User-Agent`,
/// `Content-Length` and `Accept-Encoding` when they are missing.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: http::Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: http::Method, url: Url) -> Self {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub version: http::Version,
    /// As received, except that a decoded gzip body loses its
    /// `Content-Encoding` and `Content-Length` (they describe what crossed the
    /// wire, not `body`).
    pub headers: HeaderMap,
    /// Decompressed when the session options say so.
    pub body: Bytes,
    /// Body bytes as received, before decompression (chunk framing excluded).
    pub wire_bytes: u64,
    pub phases: Phases,
    pub peer: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug)]
pub struct SessionOptions {
    /// Ask for gzip and decode it (the body cap applies after decoding).
    pub decompress: bool,
    /// Largest body accepted, in bytes (after decompression).
    pub max_body: u64,
    /// For the whole request: connect, handshake, headers and body.
    pub timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            decompress: true,
            max_body: 10 * 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

impl HttpFactory {
    /// A session for one flow run: no connections yet, the process's shared
    /// TLS configuration. Cheap (an `Arc` clone).
    pub fn session(&self) -> Session {
        let ua = self.user_agent();
        Session {
            factory: self.clone(),
            user_agent: (!ua.is_empty())
                .then(|| HeaderValue::from_str(ua).ok())
                .flatten(),
            idle: HashMap::new(),
        }
    }
}

/// The connections of one flow run. Keeps at most one idle connection per
/// (scheme, host, port); dropping the session closes them.
pub struct Session {
    factory: HttpFactory,
    user_agent: Option<HeaderValue>,
    idle: HashMap<Origin, Conn>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

/// A live connection: the handle to send on and the task driving the socket.
struct Conn {
    sender: Sender,
    peer: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    // A connection is dropped when it failed, timed out or its session ended:
    // in every case nobody will read from it again, so stop it now rather
    // than leave a task waiting on a server that may never close.
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

type Sent = Result<http::Response<Incoming>, TrySendError<http::Request<Full<Bytes>>>>;

impl Sender {
    fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    async fn ready(&mut self) -> hyper::Result<()> {
        match self {
            Sender::H1(s) => s.ready().await,
            Sender::H2(s) => s.ready().await,
        }
    }

    async fn send(&mut self, req: http::Request<Full<Bytes>>) -> Sent {
        match self {
            Sender::H1(s) => s.try_send_request(req).await,
            Sender::H2(s) => s.try_send_request(req).await,
        }
    }
}

/// A request checked and turned into what hyper needs, before any I/O.
struct Prepared {
    method: http::Method,
    origin: Origin,
    host: Host<String>,
    /// `host[:port]` as the Host header and HTTP/2 `:authority` carry it.
    authority: HeaderValue,
    /// Origin-form for HTTP/1 (`/path?query`).
    path: http::Uri,
    /// Absolute form for HTTP/2, which takes scheme and authority from it.
    absolute: http::Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Prepared {
    fn build(&self, h2: bool) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.headers_mut() = self.headers.clone();
        if h2 {
            *req.uri_mut() = self.absolute.clone();
            *req.version_mut() = http::Version::HTTP_2;
        } else {
            *req.uri_mut() = self.path.clone();
            // hyper's HTTP/1 client sends only the headers it is given.
            if !self.headers.contains_key(header::HOST) {
                req.headers_mut()
                    .insert(header::HOST, self.authority.clone());
            }
        }
        req
    }

    /// RFC 9110 §9.2.2: what may be sent again when the first attempt's fate
    /// is unknown.
    fn idempotent(&self) -> bool {
        use http::Method;
        [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ]
        .contains(&self.method)
    }

    /// A response that has no body whatever its headers say.
    fn bodyless(&self, status: u16) -> bool {
        self.method == http::Method::HEAD || status == 204 || status == 304 || status < 200
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Resolve,
    Connect,
    Tls,
    Processing,
    Transfer,
}

/// Timings as they accumulate. Lives outside the timed future so that a
/// timeout can still say which phase was waiting and what was measured.
struct Progress {
    phases: Phases,
    running: Option<(Phase, Instant)>,
    /// The address being connected to, for messages.
    addr: Option<SocketAddr>,
    host: String,
    wire: u64,
}

impl Progress {
    fn new(host: String) -> Self {
        Progress {
            phases: Phases::default(),
            running: None,
            addr: None,
            host,
            wire: 0,
        }
    }

    fn start(&mut self, phase: Phase) {
        self.end();
        self.running = Some((phase, Instant::now()));
    }

    fn end(&mut self) {
        if let Some((phase, since)) = self.running.take() {
            let p = &mut self.phases;
            let slot = match phase {
                Phase::Resolve => &mut p.resolve,
                Phase::Connect => &mut p.connect,
                Phase::Tls => &mut p.tls,
                Phase::Processing => &mut p.processing,
                Phase::Transfer => &mut p.transfer,
            };
            *slot += since.elapsed();
        }
    }

    fn fail(&mut self, kind: ErrorKind, message: impl Into<String>) -> HttpError {
        self.end();
        HttpError {
            kind,
            message: message.into(),
            phases: self.phases,
        }
    }

    fn timed_out(&mut self, timeout: Duration) -> HttpError {
        let t = fmt_duration(timeout);
        let addr = self
            .addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| self.host.clone());
        let message = match self.running.map(|(p, _)| p) {
            Some(Phase::Resolve) => format!("no DNS answer for {} within {t}", self.host),
            Some(Phase::Connect) => format!("connect to {addr} timed out (no answer within {t})"),
            Some(Phase::Tls) => format!("TLS handshake with {addr} not complete within {t}"),
            Some(Phase::Processing) => format!("no response headers within {t}"),
            Some(Phase::Transfer) => format!(
                "body not complete within {t} ({} bytes received)",
                self.wire
            ),
            None => format!("no complete response within {t}"),
        };
        self.fail(ErrorKind::Timeout, message)
    }
}

/// How much of a body [`Session::send_head`] reads (and throws away) so the
/// connection can serve the next request; a longer body closes it instead.
const DISCARD_MAX: u64 = 64 * 1024;
/// How long [`Session::send_head`] waits for the rest of a body it throws
/// away (at most half of what is left of the request's timeout): a body that
/// is slow, truncated or endless closes the connection rather than delay the
/// answer.
const DISCARD_WAIT: Duration = Duration::from_millis(250);

/// What to do with a response body.
#[derive(Clone, Copy)]
enum BodyMode {
    /// Read it whole, within the cap (decoding gzip if asked).
    Read,
    /// Never judge it: read at most [`DISCARD_MAX`] of it, for at most
    /// [`DISCARD_WAIT`] and half of what is left until `deadline`, to keep
    /// the connection, and throw it away; nothing about it can fail the
    /// request.
    Discard { deadline: tokio::time::Instant },
}

impl Session {
    /// Sends one request and reads its whole body, within `opts.timeout`.
    /// Never follows redirects.
    pub async fn send(
        &mut self,
        req: Request,
        opts: &SessionOptions,
    ) -> Result<Response, HttpError> {
        self.send_with(req, opts, None).await
    }

    /// Sends one request for its status and headers only: the body is never
    /// kept, decoded or judged (the response's `body` is empty), so a broken,
    /// truncated or endless body cannot fail it. What is already on its way
    /// is read and thrown away (up to 64 KiB, briefly) so the connection can
    /// be kept; otherwise the connection is closed. `opts.decompress` and
    /// `opts.max_body` do not apply.
    pub async fn send_head(
        &mut self,
        req: Request,
        opts: &SessionOptions,
    ) -> Result<Response, HttpError> {
        let deadline = tokio::time::Instant::now() + opts.timeout;
        let opts = SessionOptions {
            decompress: false,
            ..*opts
        };
        self.send_with(req, &opts, Some(deadline)).await
    }

    async fn send_with(
        &mut self,
        req: Request,
        opts: &SessionOptions,
        discard: Option<tokio::time::Instant>,
    ) -> Result<Response, HttpError> {
        let prepared = self.prepare(req, opts).map_err(|message| HttpError {
            kind: ErrorKind::Request,
            message,
            phases: Phases::default(),
        })?;
        let mode = match discard {
            Some(deadline) => BodyMode::Discard { deadline },
            None => BodyMode::Read,
        };
        let mut progress = Progress::new(prepared.origin.host.clone());
        // On timeout the future is dropped, and with it the connection it had
        // taken out of the pool: a connection with a request half-done on it
        // is never reused.
        let result = tokio::time::timeout(
            opts.timeout,
            self.exchange(&prepared, opts, mode, &mut progress),
        )
        .await;
        match result {
            Ok(r) => r,
            Err(_) => Err(progress.timed_out(opts.timeout)),
        }
    }

    fn prepare(&self, req: Request, opts: &SessionOptions) -> Result<Prepared, String> {
        let url = &req.url;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            s => {
                return Err(format!(
                    "unsupported URL scheme `{s}` (only http and https)"
                ));
            }
        };
        let host = url
            .host()
            .ok_or_else(|| format!("URL `{url}` has no host"))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let host_str = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.to_string(),
        };
        let path = &url[Position::BeforePath..Position::AfterQuery];
        let path = if path.is_empty() { "/" } else { path };
        let bad_url = |e: http::uri::InvalidUri| format!("URL `{url}` cannot be sent: {e}");
        let absolute: http::Uri = format!("{}://{authority}{path}", url.scheme())
            .parse()
            .map_err(bad_url)?;
        let path: http::Uri = path.parse().map_err(bad_url)?;
        let authority = HeaderValue::from_str(&authority)
            .map_err(|_| format!("host `{authority}` is not valid in a header"))?;

        let mut headers = req.headers;
        // As browsers and reqwest do: credentials in the URL become Basic auth,
        // and never travel in the request line.
        if !headers.contains_key(header::AUTHORIZATION)
            && let Some(v) = basic_auth(url)
        {
            headers.insert(header::AUTHORIZATION, v);
        }
        if let Some(ua) = &self.user_agent
            && !headers.contains_key(header::USER_AGENT)
        {
            headers.insert(header::USER_AGENT, ua.clone());
        }
        if opts.decompress && !headers.contains_key(header::ACCEPT_ENCODING) {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        }
        // The body is always sent whole with its length: a stale or
        // hand-written length would make the server wait or misread the next
        // request.
        headers.remove(header::TRANSFER_ENCODING);
        let has_body_method =
            [http::Method::POST, http::Method::PUT, http::Method::PATCH].contains(&req.method);
        if !req.body.is_empty() || has_body_method {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(req.body.len()));
        } else {
            headers.remove(header::CONTENT_LENGTH);
        }
        Ok(Prepared {
            method: req.method,
            origin: Origin {
                https,
                host: host_str.to_string(),
                port,
            },
            host,
            authority,
            path,
            absolute,
            headers,
            body: req.body,
        })
    }

    async fn exchange(
        &mut self,
        p: &Prepared,
        opts: &SessionOptions,
        mode: BodyMode,
        progress: &mut Progress,
    ) -> Result<Response, HttpError> {
        // A connection the server closed while it sat idle is of no use.
        let mut pooled = self
            .idle
            .remove(&p.origin)
            .filter(|c| !c.sender.is_closed());
        loop {
            let (mut conn, reused) = match pooled.take() {
                Some(c) => (c, true),
                None => (self.connect(p, progress).await?, false),
            };
            progress.phases.reused = reused;
            progress.addr = Some(conn.peer);
            progress.start(Phase::Processing);
            if let Err(e) = conn.sender.ready().await {
                if reused {
                    continue;
                }
                return Err(progress.fail(
                    ErrorKind::Protocol,
                    format!(
                        "connection closed before the request was sent: {}",
                        chain(&e)
                    ),
                ));
            }
            match conn.sender.send(p.build(conn.sender.is_h2())).await {
                Ok(resp) => {
                    return match mode {
                        BodyMode::Read => self.read(p, conn, resp, opts, progress).await,
                        BodyMode::Discard { deadline } => {
                            Ok(self.discard(p, conn, resp, deadline, progress).await)
                        }
                    };
                }
                Err(e) => {
                    // hyper hands the request back only when none of it was
                    // written: safe to send again whatever the method. Otherwise
                    // the server may have acted on it, and only an idempotent
                    // request may go twice.
                    let unsent = e.message().is_some();
                    let e = e.into_error();
                    if reused && (unsent || (p.idempotent() && closed_while_idle(&e))) {
                        continue;
                    }
                    let (kind, message) = classify_send_error(&e);
                    return Err(progress.fail(kind, message));
                }
            }
        }
    }

    /// Resolve, connect, TLS and the HTTP handshake, each timed.
    async fn connect(&self, p: &Prepared, progress: &mut Progress) -> Result<Conn, HttpError> {
        let port = p.origin.port;
        let addrs: Vec<SocketAddr> = match &p.host {
            Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(*ip), port)],
            Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(*ip), port)],
            Host::Domain(name) => {
                progress.start(Phase::Resolve);
                let found = tokio::net::lookup_host((name.as_str(), port))
                    .await
                    .map_err(|e| {
                        progress.fail(ErrorKind::Dns, format!("cannot resolve {name}: {e}"))
                    })?;
                let mut addrs: Vec<SocketAddr> = Vec::new();
                for a in found {
                    if !addrs.contains(&a) {
                        addrs.push(a);
                    }
                }
                if addrs.is_empty() {
                    return Err(progress.fail(ErrorKind::Dns, format!("{name} has no addresses")));
                }
                addrs
            }
        };
        progress.start(Phase::Connect);
        let mut failures = Vec::new();
        let mut connected = None;
        for addr in addrs {
            progress.addr = Some(addr);
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    connected = Some((s, addr));
                    break;
                }
                Err(e) => failures.push(format!("connect to {addr}: {e}")),
            }
        }
        let Some((tcp, peer)) = connected else {
            return Err(progress.fail(ErrorKind::Connect, failures.join("; ")));
        };
        // Requests are written whole; Nagle would only hold back their tail.
        let _ = tcp.set_nodelay(true);
        let handshake_failed = |progress: &mut Progress, e: hyper::Error| {
            progress.fail(
                ErrorKind::Protocol,
                format!("HTTP handshake with {peer}: {}", chain(&e)),
            )
        };
        let (sender, task) = if p.origin.https {
            progress.start(Phase::Tls);
            let name = match &p.host {
                Host::Domain(d) => ServerName::try_from(d.clone()).map_err(|e| {
                    progress.fail(
                        ErrorKind::Request,
                        format!("`{d}` is not a valid TLS server name: {e}"),
                    )
                })?,
                Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(*ip).into()),
                Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(*ip).into()),
            };
            let connector = &self
                .factory
                .tls()
                .map_err(|e| progress.fail(ErrorKind::Tls, e))?
                .connector;
            // Boxed, like the handshake below: a TLS stream (rustls state and
            // buffers) is ~7 KB, and inline it would make every request's
            // future that big, HTTP or not — copied several times per check.
            let tls = Box::pin(connector.connect(name, tcp))
                .await
                .map_err(|e| progress.fail(ErrorKind::Tls, tls_message(&e, peer)))?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            Box::pin(handshake(tls, h2))
                .await
                .map_err(|e| handshake_failed(progress, e))?
        } else {
            handshake(tcp, false)
                .await
                .map_err(|e| handshake_failed(progress, e))?
        };
        progress.end();
        Ok(Conn { sender, peer, task })
    }

    /// Reads the body within the cap, then puts the connection back for the
    /// next request to the same origin.
    async fn read(
        &mut self,
        p: &Prepared,
        conn: Conn,
        resp: http::Response<Incoming>,
        opts: &SessionOptions,
        progress: &mut Progress,
    ) -> Result<Response, HttpError> {
        progress.start(Phase::Transfer);
        let (parts, mut body) = resp.into_parts();
        let status = parts.status.as_u16();
        let mut headers = parts.headers;
        let max = opts.max_body;
        let gzip = opts.decompress && !p.bodyless(status) && is_gzip(&headers);
        if !gzip
            && !p.bodyless(status)
            && let Some(len) = content_length(&headers)
            && len > max
        {
            return Err(progress.fail(
                ErrorKind::BodyTooLarge,
                format!("Content-Length {len} is over the {max}-byte body limit"),
            ));
        }
        let reserve = content_length(&headers).unwrap_or(0).min(max).min(1 << 20) as usize;
        let mut sink = Sink::new(gzip, max, reserve);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                let wire = progress.wire;
                progress.fail(
                    ErrorKind::Protocol,
                    format!("reading the body (after {wire} bytes): {}", chain(&e)),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            progress.wire += data.len() as u64;
            sink.write(&data)
                .map_err(|(kind, m)| progress.fail(kind, m))?;
        }
        let (body, decoded) = sink.finish().map_err(|(kind, m)| progress.fail(kind, m))?;
        progress.end();
        if decoded {
            headers.remove(header::CONTENT_ENCODING);
            headers.remove(header::CONTENT_LENGTH);
        }
        let peer = Some(conn.peer);
        self.idle.insert(p.origin.clone(), conn);
        Ok(Response {
            status,
            version: parts.version,
            headers,
            body,
            wire_bytes: progress.wire,
            phases: progress.phases,
            peer,
        })
    }
}

impl Session {
    /// The status and headers of `resp`; its body is read and thrown away
    /// when it ends soon enough (then the connection is kept), else the
    /// connection is closed. Never fails.
    async fn discard(
        &mut self,
        p: &Prepared,
        conn: Conn,
        resp: http::Response<Incoming>,
        deadline: tokio::time::Instant,
        progress: &mut Progress,
    ) -> Response {
        progress.start(Phase::Transfer);
        let (parts, mut body) = resp.into_parts();
        let status = parts.status.as_u16();
        let now = tokio::time::Instant::now();
        let by = now + DISCARD_WAIT.min(deadline.saturating_duration_since(now) / 2);
        let ended = p.bodyless(status)
            || tokio::time::timeout_at(by, async {
                while let Some(frame) = body.frame().await {
                    let Ok(frame) = frame else {
                        return false;
                    };
                    if let Ok(data) = frame.into_data() {
                        progress.wire += data.len() as u64;
                        if progress.wire > DISCARD_MAX {
                            return false;
                        }
                    }
                }
                true
            })
            .await
            .unwrap_or(false);
        progress.end();
        let peer = Some(conn.peer);
        if ended {
            self.idle.insert(p.origin.clone(), conn);
        }
        // Otherwise `conn` is dropped here: a connection with a body still
        // on it can serve nothing else.
        Response {
            status,
            version: parts.version,
            headers: parts.headers,
            body: Bytes::new(),
            wire_bytes: progress.wire,
            phases: progress.phases,
            peer,
        }
    }
}

async fn handshake<T>(io: T, h2: bool) -> hyper::Result<(Sender, tokio::task::JoinHandle<()>)>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if h2 {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok((Sender::H2(sender), task))
    } else {
        let (sender, conn) = http1::handshake(io).await?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok((Sender::H1(sender), task))
    }
}

/// Where the body goes: straight into the buffer, or through a gzip decoder
/// into it. Either way the buffer never holds more than the cap.
enum Sink {
    Plain(Capped),
    /// Created on the first byte: an empty "gzip" body (an error page, a
    /// HEAD-like answer) is just empty.
    Gzip(Option<Box<flate2::write::MultiGzDecoder<Capped>>>, Capped),
}

type SinkError = (ErrorKind, String);

impl Sink {
    fn new(gzip: bool, max: u64, reserve: usize) -> Self {
        let mut capped = Capped::new(max);
        if !gzip {
            capped.buf.reserve(reserve);
        }
        if gzip {
            Sink::Gzip(None, capped)
        } else {
            Sink::Plain(capped)
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), SinkError> {
        match self {
            Sink::Plain(c) => c.write_all(data).map_err(|_| c.too_large(false)),
            Sink::Gzip(dec, spare) => {
                let dec = dec.get_or_insert_with(|| {
                    let c = std::mem::replace(spare, Capped::new(spare.max));
                    Box::new(flate2::write::MultiGzDecoder::new(c))
                });
                dec.write_all(data)
                    .map_err(|e| gzip_error(dec.get_ref(), &e))
            }
        }
    }

    /// The body, and whether it was decoded from gzip.
    fn finish(self) -> Result<(Bytes, bool), SinkError> {
        match self {
            Sink::Plain(c) => Ok((c.buf.freeze(), false)),
            Sink::Gzip(None, c) => Ok((c.buf.freeze(), false)),
            Sink::Gzip(Some(mut dec), _) => {
                if let Err(e) = dec.try_finish() {
                    return Err(gzip_error(dec.get_ref(), &e));
                }
                match dec.finish() {
                    Ok(c) => Ok((c.buf.freeze(), true)),
                    Err(e) => Err((ErrorKind::Protocol, format!("invalid gzip body: {e}"))),
                }
            }
        }
    }
}

fn gzip_error(c: &Capped, e: &std::io::Error) -> SinkError {
    if c.over() {
        c.too_large(true)
    } else {
        (ErrorKind::Protocol, format!("invalid gzip body: {e}"))
    }
}

/// A buffer that refuses any write that would take it past `max`.
struct Capped {
    buf: BytesMut,
    max: u64,
    /// A write was refused: tells a full buffer from a gzip error.
    refused: bool,
}

impl Capped {
    fn new(max: u64) -> Self {
        Capped {
            buf: BytesMut::new(),
            max,
            refused: false,
        }
    }

    fn over(&self) -> bool {
        self.refused
    }

    fn too_large(&self, decoded: bool) -> SinkError {
        let after = if decoded { " after decompression" } else { "" };
        (
            ErrorKind::BodyTooLarge,
            format!("body grew past the {}-byte limit{after}", self.max),
        )
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + data.len() as u64 > self.max {
            self.refused = true;
            return Err(std::io::Error::other("body limit"));
        }
        self.buf.put_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn is_gzip(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_ENCODING).is_some_and(|v| {
        let v = String::from_utf8_lossy(v.as_bytes());
        let v = v.trim();
        v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip")
    })
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The server closed a kept-alive connection just as the request went out:
/// the classic race of a keep-alive timeout, not an answer.
fn closed_while_idle(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() {
        return true;
    }
    io_error(e).is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        )
    })
}

fn io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut src = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        src = s.source();
    }
    None
}

/// Errors before the response headers.
fn classify_send_error(e: &hyper::Error) -> (ErrorKind, String) {
    if e.is_user() {
        (
            ErrorKind::Request,
            format!("request refused by the HTTP client: {}", chain(e)),
        )
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        (
            ErrorKind::Protocol,
            format!("invalid response: {}", chain(e)),
        )
    } else if e.is_incomplete_message() {
        (
            ErrorKind::Protocol,
            "connection closed before the response headers".into(),
        )
    } else {
        (
            ErrorKind::Protocol,
            format!("waiting for the response headers: {}", chain(e)),
        )
    }
}

fn tls_message(e: &std::io::Error, peer: SocketAddr) -> String {
    let detail = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(tls) => tls.to_string(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "connection closed by the server".to_string()
        }
        None => e.to_string(),
    };
    format!("TLS handshake with {peer}: {detail}")
}

/// An error and its sources on one line, without repeating what an outer
/// message already says.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src = Some(e);
    while let Some(s) = src {
        let text = s.to_string().replace(['\r', '\n'], " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    parts.join(": ")
}

/// `Authorization: Basic …` from a URL's (percent-encoded) user and password,
/// marked sensitive; None when the URL carries no credentials.
pub fn basic_auth(url: &Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let pair = format!(
        "{}:{}",
        percent_decode(url.username()),
        percent_decode(url.password().unwrap_or(""))
    );
    let mut v = HeaderValue::from_str(&format!("Basic {}", base64(pair.as_bytes()))).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// One part of a multipart/form-data body.
#[derive(Clone, Debug)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// Builds a multipart/form-data body (RFC 7578): returns the Content-Type
/// header value (with its boundary) and the body.
///
/// Names and filenames are escaped as browsers do (WHATWG HTML: `"` → `%22`,
/// CR → `%0D`, LF → `%0A`), since that is what server-side parsers expect.
/// The boundary is random (128 bits), so it cannot plausibly occur in a part.
pub fn multipart(parts: &[Part]) -> (String, Bytes) {
    let boundary = format!(
        "smokeprobe-{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    );
    let size: usize = parts
        .iter()
        .map(|p| p.data.len() + p.name.len() + 160 + boundary.len())
        .sum::<usize>()
        + boundary.len()
        + 8;
    let mut body = BytesMut::with_capacity(size);
    for p in parts {
        body.put_slice(b"--");
        body.put_slice(boundary.as_bytes());
        body.put_slice(b"\r\nContent-Disposition: form-data; name=\"");
        body.put_slice(escape_field(&p.name).as_bytes());
        body.put_slice(b"\"");
        if let Some(f) = &p.filename {
            body.put_slice(b"; filename=\"");
            body.put_slice(escape_field(f).as_bytes());
            body.put_slice(b"\"");
        }
        body.put_slice(b"\r\n");
        if let Some(ct) = &p.content_type {
            body.put_slice(b"Content-Type: ");
            // A line break would end the part's headers early.
            body.put_slice(ct.replace(['\r', '\n'], " ").as_bytes());
            body.put_slice(b"\r\n");
        }
        body.put_slice(b"\r\n");
        body.put_slice(&p.data);
        body.put_slice(b"\r\n");
    }
    body.put_slice(b"--");
    body.put_slice(boundary.as_bytes());
    body.put_slice(b"--\r\n");
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.freeze(),
    )
}

fn escape_field(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_total_is_the_sum() {
        let p = Phases {
            resolve: Duration::from_millis(1),
            connect: Duration::from_millis(2),
            tls: Duration::from_millis(3),
            processing: Duration::from_millis(4),
            transfer: Duration::from_millis(5),
            reused: false,
        };
        assert_eq!(p.total(), Duration::from_millis(15));
    }

    #[test]
    fn url_credentials_are_percent_decoded() {
        // Their base64 is crate::encoding's (vectors tested there).
        assert_eq!(percent_decode("a%40b%3Ac%2"), "a@b:c%2");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_duration(Duration::from_secs(10)), "10 s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(fmt_duration(Duration::from_millis(250)), "250 ms");
    }

    #[test]
    fn gzip_sink_caps_after_decompression_and_rejects_garbage() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();

        let mut ok = Sink::new(true, 10_000, 0);
        for chunk in gz.chunks(7) {
            ok.write(chunk).unwrap();
        }
        let (body, decoded) = ok.finish().unwrap();
        assert!(decoded);
        assert_eq!(body.len(), 10_000);

        let mut small = Sink::new(true, 9_999, 0);
        let err = gz
            .chunks(7)
            .try_for_each(|c| small.write(c))
            .and_then(|_| small.finish().map(|_| ()))
            .unwrap_err();
        assert_eq!(err.0, ErrorKind::BodyTooLarge);

        let mut bad = Sink::new(true, 10_000, 0);
        let err = bad
            .write(b"this is not gzip")
            .and_then(|_| bad.finish().map(|_| ()))
            .unwrap_err();
        assert_eq!(err.0, ErrorKind::Protocol, "{}", err.1);

        let mut truncated = Sink::new(true, 10_000, 0);
        let err = truncated
            .write(&gz[..gz.len() - 4])
            .and_then(|_| truncated.finish().map(|_| ()))
            .unwrap_err();
        assert_eq!(err.0, ErrorKind::Protocol, "{}", err.1);
    }

    #[test]
    fn multipart_escapes_names_and_closes_the_body() {
        let (ct, body) = multipart(&[Part {
            name: "a\"b".into(),
            filename: Some("x\r\n.txt".into()),
            content_type: Some("text/plain".into()),
            data: Bytes::from_static(b"hello"),
        }]);
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(
            text,
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"a%22b\"; \
                 filename=\"x%0D%0A.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
                 --{boundary}--\r\n"
            )
        );
    }
}
