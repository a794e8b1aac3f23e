//! The nginx in front of the demo backend, as on a ContraVento production host:
//! serves the SPA (see [`assets`](super::assets): `index.html` is the fallback for
//! every other GET, which is why `GET /health` on the frontend host is 200
//! text/html; JS, CSS and HTML are gzipped for clients that accept it), proxies
//! `/api/*` to the backend with `/api` stripped and `/storage/*` as is, caps
//! request bodies at 10 MB with an HTML 413, and adds its headers. With the
//! `backend-down` fault every `/api/*` and `/storage/*` request gets nginx's own
//! HTML `502 Bad Gateway` page (after the body cap, as nginx reads a request
//! body before it connects upstream) while the SPA is still served. Injected
//! latency and error faults are applied here, on the path as the client sent it,
//! and so are the SPA's delivery faults: `spa-slow-lcp` delays the hero photo,
//! `spa-missing-chunk` answers its route chunk with nginx's own 404 page.
//! (So is the demo's count of each account's login attempts, which must include
//! the requests an injected error answers before the backend sees them.)
//!
//! Headers ([`HeaderPolicy`], computed per request from the faults). By default
//! (a correct deployment, `add_header … always` at `server` level) every response
//! — SPA, assets, `/storage`, `/api`, error pages, 413s, redirects — carries
//! `Strict-Transport-Security: max-age=31536000; includeSubDomains`,
//! `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, a strict
//! `Content-Security-Policy`, `Referrer-Policy: strict-origin-when-cross-origin`,
//! `Permissions-Policy: camera=(), microphone=(), geolocation=()` and
//! `Server: nginx` (`server_tokens off`); no cookies are set. The
//! `headers=as-committed` fault is today's committed ContraVento config: four
//! headers (`X-Frame-Options: SAMEORIGIN`, nosniff, `X-XSS-Protection`,
//! `Referrer-Policy`) on proxied `/api/*` answers only, nothing on the SPA,
//! assets or `/storage`, no HSTS/CSP/Permissions-Policy, `Server: nginx/1.22.1`.
//! `no-security-headers` drops them all; `hsts=missing|short`, `xfo=sameorigin`,
//! `csp=unsafe`, `server-version` (`Server: nginx/1.22.1` everywhere plus
//! `X-Powered-By` on `/api`) and `insecure-cookie` (the SPA HTML sets
//! `cv_lang=es` without `Secure`/`HttpOnly`/`SameSite`) each break one thing.
//!
//! With TLS (see [`tls`](super::tls)) the site is served over HTTPS and
//! [`redirect_router`] plays the `listen 80` server block: a `301` to
//! `https://<host without port>:<https port><path and query>` for every method
//! and path, or — by the `redirect` fault — a `302`, a redirect that drops the
//! path, or no redirect at all (the plain listener serves the whole site).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HOST};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::cors::Cors;
use super::envelope::{ApiError, Https, absolute_url, with_location};
use super::faults::RedirectMode;
use super::headers::HeaderPolicy;
use super::{DemoState, Faults, api, assets, backend, faults, trips};

/// nginx's `client_max_body_size 10m`.
pub(super) const MAX_BODY: usize = 10 * 1024 * 1024;
/// After refusing a body nginx keeps reading (and discarding) it for a while, so
/// the client gets to read the 413 instead of a connection reset.
const LINGER_BYTES: usize = 64 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(10);

/// The whole demo host as one axum app: every request goes through [`front`].
/// `https` marks it as the TLS site.
pub(super) fn router(state: DemoState, https: bool) -> Router {
    let app = if https {
        Router::new().fallback(front_https)
    } else {
        Router::new().fallback(front_plain)
    };
    app.layer(DefaultBodyLimit::max(MAX_BODY)).with_state(state)
}

async fn front_plain(State(state): State<DemoState>, req: Request) -> Response {
    front(&state, req).await
}

async fn front_https(State(state): State<DemoState>, mut req: Request) -> Response {
    req.extensions_mut().insert(Https);
    front(&state, req).await
}

async fn front(state: &DemoState, req: Request) -> Response {
    state.count_request();
    let faults = state.fault_snapshot();
    let policy = HeaderPolicy::new(&faults);
    let mut resp = dispatch(state, faults, &policy, req).await;
    policy.add_everywhere(&mut resp);
    resp
}

/// The plain-HTTP listener of a TLS demo: nginx's `listen 80` server block.
#[derive(Clone)]
struct PlainSite {
    state: DemoState,
    https_port: u16,
}

/// The app of the plain-HTTP listener when TLS is on (see the module docs).
pub(super) fn redirect_router(state: DemoState, https_port: u16) -> Router {
    Router::new()
        .fallback(redirect_front)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(PlainSite { state, https_port })
}

async fn redirect_front(State(site): State<PlainSite>, req: Request) -> Response {
    let faults = site.state.fault_snapshot();
    let (status, path) = match faults.redirect {
        RedirectMode::None => return front(&site.state, req).await,
        RedirectMode::Permanent => (StatusCode::MOVED_PERMANENTLY, path_and_query(&req)),
        RedirectMode::Found => (StatusCode::FOUND, path_and_query(&req)),
        RedirectMode::Root => (StatusCode::MOVED_PERMANENTLY, "/".to_owned()),
    };
    site.state.count_request();
    let policy = HeaderPolicy::new(&faults);
    let host = host_without_port(req.headers());
    let target = format!("https://{host}:{}{path}", site.https_port);
    let mut resp = with_location(error_page(status, policy.server()), &target);
    policy.add_everywhere(&mut resp);
    resp
}

fn path_and_query(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
}

/// nginx's `$host`: the Host header without its port, lower-cased; `127.0.0.1`
/// when it is absent or not a plausible host name / IP literal.
fn host_without_port(headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .trim();
    let bare = if host.starts_with('[') {
        host.find(']').map_or("", |end| &host[..=end])
    } else {
        host.split(':').next().unwrap_or_default()
    };
    let valid = if let Some(inner) = bare.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !bare.is_empty()
            && bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    if valid {
        bare.to_ascii_lowercase()
    } else {
        "127.0.0.1".to_owned()
    }
}

async fn dispatch(
    state: &DemoState,
    faults: Arc<Faults>,
    policy: &HeaderPolicy,
    req: Request,
) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/__demo/") {
        return faults::control(state, req).await;
    }
    let delay = faults.delay_for(req.method(), &path) + assets::delay_for(&path, &faults);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if declared_length(req.headers()).is_some_and(|n| n > MAX_BODY as u64) {
        return refuse_declared_body(req, policy).await;
    }
    let injected = faults.injected_status(req.method(), &path);
    if path == "/api" {
        // `location /api/ { proxy_pass …; }` answers its bare prefix with a 301.
        let target = absolute_url(req.headers(), req.extensions(), "/api/");
        return with_location(
            error_page(StatusCode::MOVED_PERMANENTLY, policy.server()),
            &target,
        );
    }
    if let Some(api_path) = path.strip_prefix("/api").filter(|p| p.starts_with('/')) {
        return proxy_api(state, faults.clone(), policy, req, api_path, injected).await;
    }
    if let Some(status) = injected {
        return injected_error(status, &faults);
    }
    if path.starts_with("/storage/") {
        if faults.backend_down {
            return error_page(StatusCode::BAD_GATEWAY, policy.server());
        }
        return trips::storage(state, req.method(), &path);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error_page(StatusCode::METHOD_NOT_ALLOWED, policy.server());
    }
    if assets::is_missing(&path, &faults) {
        return error_page(StatusCode::NOT_FOUND, policy.server());
    }
    assets::static_file(&path, req.headers(), &faults, policy, state.index())
}

/// `location /api/`: buffer the body (nginx's `proxy_request_buffering on`), let the
/// backend (CORS middleware first) answer, then add the security headers.
async fn proxy_api(
    state: &DemoState,
    faults: Arc<Faults>,
    policy: &HeaderPolicy,
    req: Request,
    path: &str,
    injected: Option<StatusCode>,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match buffer_body(body, policy).await {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    let req = axum::http::Request::from_parts(parts, body);
    if req.method() == Method::POST && path == "/auth/login" {
        // The demo's own tally of what each account was sent, whatever answers it.
        api::note_login_attempt(state, req.body());
    }
    if faults.backend_down {
        // `connect() failed (111: Connection refused) while connecting to
        // upstream`: nginx's own page, no CORS (that is the backend's), the
        // location's headers as on any answer.
        let mut resp = error_page(StatusCode::BAD_GATEWAY, policy.server());
        policy.add_api(&mut resp);
        return resp;
    }
    let cors = Cors::new(faults.cors, state.cors_origins(), req.headers());
    let mut resp = match cors.preflight(req.method(), req.headers()) {
        Some(preflight) => preflight,
        None => {
            let mut resp = match injected {
                Some(status) => injected_error(status, &faults),
                None => backend::handle(state, faults.clone(), req, path).await,
            };
            cors.decorate(&mut resp);
            resp
        }
    };
    policy.add_api(&mut resp);
    resp
}

/// The backend's answer when an error fault fires.
fn injected_error(status: StatusCode, faults: &Faults) -> Response {
    ApiError::server(
        status,
        "INTERNAL_ERROR",
        "Error interno del servidor",
        faults.leak_errors,
    )
    .into_response()
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// 413 for a declared Content-Length over the cap. Unless the client waits for
/// `100 Continue` (then it never sends the body), the body is drained first.
async fn refuse_declared_body(req: Request, policy: &HeaderPolicy) -> Response {
    let waits_for_continue = req
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !waits_for_continue {
        drain(req.into_body().into_data_stream()).await;
    }
    error_page(StatusCode::PAYLOAD_TOO_LARGE, policy.server())
}

/// Reads a whole request body of at most [`MAX_BODY`] bytes (chunked bodies have
/// no Content-Length to check up front).
async fn buffer_body(body: Body, policy: &HeaderPolicy) -> Result<Bytes, Response> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(error_page(StatusCode::BAD_REQUEST, policy.server()));
        };
        if buf.len() + chunk.len() > MAX_BODY {
            drain(stream).await;
            return Err(error_page(StatusCode::PAYLOAD_TOO_LARGE, policy.server()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

async fn drain(mut stream: BodyDataStream) {
    let discard = async {
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match stream.next().await {
                Some(Ok(chunk)) => discarded += chunk.len(),
                _ => break,
            }
        }
    };
    // Give up on endless or stalled bodies; the connection is then just closed.
    let _ = tokio::time::timeout(LINGER_TIME, discard).await;
}

/// One of nginx's built-in HTML error pages.
/// `server` is the signature at the bottom (`nginx` or `nginx/1.22.1`).
fn error_page(status: StatusCode, server: &str) -> Response {
    let reason = match status {
        StatusCode::METHOD_NOT_ALLOWED => "Not Allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or_default(),
    };
    let title = format!("{} {reason}", status.as_u16());
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
         <center><h1>{title}</h1></center>\r\n<hr><center>{server}</center>\r\n\
         </body>\r\n</html>\r\n"
    );
    (status, [(CONTENT_TYPE, "text/html")], body).into_response()
}
