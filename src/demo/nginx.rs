//! The nginx in front of the demo backend, as on a ContraVento production host:
//! serves the SPA (with `index.html` as the fallback for every other GET, which
//! is why `GET /health` on the frontend host is 200 text/html), proxies `/api/*`
//! to the backend with `/api` stripped and `/storage/*` as is, caps request bodies
//! at 10 MB with an HTML 413, adds its security headers on `/api` only, and signs
//! every response `Server: nginx/1.22.1`. Injected latency and error faults are
//! applied here, on the path as the client sent it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HOST, LOCATION, REFERRER_POLICY, SERVER,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::cors::Cors;
use super::envelope::ApiError;
use super::{DemoState, Faults, backend, faults, trips};

/// nginx's `client_max_body_size 10m`.
pub(super) const MAX_BODY: usize = 10 * 1024 * 1024;
const SERVER_NAME: &str = "nginx/1.22.1";
/// After refusing a body nginx keeps reading (and discarding) it for a while, so
/// the client gets to read the 413 instead of a connection reset.
const LINGER_BYTES: usize = 64 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(10);

/// What the committed nginx config adds with `add_header` in `location /api/`.
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (X_FRAME_OPTIONS, "SAMEORIGIN"),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (X_XSS_PROTECTION, "1; mode=block"),
    (REFERRER_POLICY, "strict-origin-when-cross-origin"),
];

const APP_JS_PATH: &str = "/assets/index-3f9a1c.js";
const APP_CSS_PATH: &str = "/assets/index-8b2e4d.css";

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="es">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>ContraVento</title>
    <script type="module" crossorigin src="/assets/index-3f9a1c.js"></script>
    <link rel="stylesheet" crossorigin href="/assets/index-8b2e4d.css">
  </head>
  <body>
    <div id="root"></div>
  </body>
</html>
"#;

const APP_JS: &str = r#"(function(){const r=document.getElementById("root");if(r){r.textContent="ContraVento";}fetch("/api/trips/public?limit=1").catch(function(){});})();
"#;

const APP_CSS: &str = "body{margin:0;font-family:system-ui,sans-serif}#root{min-height:100vh}\n";

/// The whole demo host as one axum app: every request goes through [`front`].
pub(super) fn router(state: DemoState) -> Router {
    Router::new()
        .fallback(front)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn front(State(state): State<DemoState>, req: Request) -> Response {
    state.count_request();
    let mut resp = dispatch(&state, req).await;
    resp.headers_mut()
        .insert(SERVER, HeaderValue::from_static(SERVER_NAME));
    resp
}

async fn dispatch(state: &DemoState, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/__demo/") {
        return faults::control(state, req).await;
    }
    let faults = state.fault_snapshot();
    let delay = faults.delay_for(req.method(), &path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if declared_length(req.headers()).is_some_and(|n| n > MAX_BODY as u64) {
        return refuse_declared_body(req).await;
    }
    let injected = faults.injected_status(req.method(), &path);
    if path == "/api" {
        // `location /api/ { proxy_pass …; }` answers its bare prefix with a 301.
        let target = absolute_url(req.headers(), "/api/");
        return with_location(error_page(StatusCode::MOVED_PERMANENTLY), &target);
    }
    if let Some(api_path) = path.strip_prefix("/api").filter(|p| p.starts_with('/')) {
        return proxy_api(state, faults.clone(), req, api_path, injected).await;
    }
    if let Some(status) = injected {
        return injected_error(status, &faults);
    }
    if path.starts_with("/storage/") {
        return trips::storage(state, req.method(), &path);
    }
    static_file(req.method(), &path)
}

/// `location /api/`: buffer the body (nginx's `proxy_request_buffering on`), let the
/// backend (CORS middleware first) answer, then add the security headers.
async fn proxy_api(
    state: &DemoState,
    faults: Arc<Faults>,
    req: Request,
    path: &str,
    injected: Option<StatusCode>,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match buffer_body(body).await {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    let req = axum::http::Request::from_parts(parts, body);
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
    if !faults.no_security_headers {
        for (name, value) in SECURITY_HEADERS {
            resp.headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
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
async fn refuse_declared_body(req: Request) -> Response {
    let waits_for_continue = req
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !waits_for_continue {
        drain(req.into_body().into_data_stream()).await;
    }
    error_page(StatusCode::PAYLOAD_TOO_LARGE)
}

/// Reads a whole request body of at most [`MAX_BODY`] bytes (chunked bodies have
/// no Content-Length to check up front).
async fn buffer_body(body: Body) -> Result<Bytes, Response> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(error_page(StatusCode::BAD_REQUEST));
        };
        if buf.len() + chunk.len() > MAX_BODY {
            drain(stream).await;
            return Err(error_page(StatusCode::PAYLOAD_TOO_LARGE));
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

/// The SPA: two hashed assets, and `index.html` for every other path
/// (`try_files $uri /index.html`).
fn static_file(method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return error_page(StatusCode::METHOD_NOT_ALLOWED);
    }
    let (content_type, body) = match path {
        APP_JS_PATH => ("application/javascript", APP_JS),
        APP_CSS_PATH => ("text/css", APP_CSS),
        _ => ("text/html", INDEX_HTML),
    };
    let mut resp = ([(CONTENT_TYPE, content_type)], body).into_response();
    if path.starts_with("/assets/") && content_type != "text/html" {
        resp.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    resp
}

/// One of nginx's built-in HTML error pages.
fn error_page(status: StatusCode) -> Response {
    let reason = match status {
        StatusCode::METHOD_NOT_ALLOWED => "Not Allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or_default(),
    };
    let title = format!("{} {reason}", status.as_u16());
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
         <center><h1>{title}</h1></center>\r\n<hr><center>{SERVER_NAME}</center>\r\n\
         </body>\r\n</html>\r\n"
    );
    (status, [(CONTENT_TYPE, "text/html")], body).into_response()
}

/// `http://<Host header><path>`, as nginx and Starlette build redirect targets.
pub(super) fn absolute_url(headers: &HeaderMap, path: &str) -> String {
    match headers.get(HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("http://{host}{path}"),
        _ => path.to_owned(),
    }
}

pub(super) fn with_location(mut resp: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, value);
    }
    resp
}
