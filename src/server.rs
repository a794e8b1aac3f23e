//! The web endpoint of `smokeprobe run`: the status page at `/` (HTML, with
//! its stylesheet and script under `/static/`) and the same data as JSON at
//! `/api/status`, `/metrics` (Prometheus text format),
//! `/-/healthy` (the process serves), `/-/ready` (every flow finished its first
//! run since start; a reload does not make a serving probe unready), `POST /-/reload` (reload the probe files; an
//! invalid configuration is refused and the old one keeps running).
//! Optional bearer or basic auth guards everything but the two health
//! endpoints (orchestrators probe those without credentials). Like every
//! server here it takes a bound listener and a shutdown token.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::encoding::base64;
use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::scheduler::Progress;
use crate::status::html;

/// Reloads the configuration; Ok(summary) or Err(what is wrong).
pub type ReloadFn = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Credentials the endpoint demands.
#[derive(Clone)]
pub enum Auth {
    Bearer(String),
    Basic { user: String, password: String },
}

impl std::fmt::Debug for Auth {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::Basic { user, .. } => write!(f, "Basic({user}:***)"),
        }
    }
}

impl Auth {
    /// The scheme of the `Authorization` header (and of the challenge).
    fn scheme(&self) -> &'static str {
        match self {
            Auth::Bearer(_) => "Bearer",
            Auth::Basic { .. } => "Basic",
        }
    }

    /// The credentials that follow the scheme.
    fn credentials(&self) -> String {
        match self {
            Auth::Bearer(t) => t.clone(),
            Auth::Basic { user, password } => base64(format!("{user}:{password}").as_bytes()),
        }
    }

    /// Whether an `Authorization` header value carries these credentials: the
    /// scheme compared case-insensitively (RFC 7235 §2.1: `bearer` is
    /// `Bearer`), the credentials in constant time.
    fn accepts(&self, given: &[u8]) -> bool {
        let Some(sp) = given.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, credentials) = (&given[..sp], &given[sp + 1..]);
        let scheme_ok = scheme.eq_ignore_ascii_case(self.scheme().as_bytes());
        let credentials_ok: bool = credentials.ct_eq(self.credentials().as_bytes()).into();
        scheme_ok & credentials_ok
    }
}

#[derive(Clone)]
pub struct WebState {
    pub metrics: Arc<Metrics>,
    pub progress: Arc<Progress>,
    pub reload: ReloadFn,
    pub auth: Option<Auth>,
}

pub fn router(state: WebState) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/-/reload", post(reload))
        .route("/", get(index))
        .route("/api/status", get(api_status))
        .route("/static/{*file}", get(static_file))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_auth));
    Router::new()
        .route("/-/healthy", get(|| async { "smokeprobe is healthy\n" }))
        .route("/-/ready", get(ready))
        .merge(guarded)
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Same over TLS (certificate and key from PEM files).
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let (tls, acceptor) =
        crate::net::tls_listener::TlsListener::spawn(listener, config, shutdown.clone())?;
    let r = axum::serve(tls, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    acceptor.abort();
    r
}

async fn require_auth(State(s): State<WebState>, req: Request, next: Next) -> Response {
    let Some(auth) = &s.auth else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if auth.accepts(given) {
        return next.run(req).await;
    }
    let challenge = match auth {
        Auth::Bearer(_) => "Bearer",
        Auth::Basic { .. } => "Basic realm=\"smokeprobe\"",
    };
    let mut resp = (StatusCode::UNAUTHORIZED, "unauthorized\n").into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    resp
}

async fn metrics(State(s): State<WebState>) -> Response {
    let body = tokio::task::spawn_blocking(move || s.metrics.render())
        .await
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

async fn ready(State(s): State<WebState>) -> Response {
    if s.progress.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first round of flows has not finished\n",
        )
            .into_response()
    }
}

async fn reload(State(s): State<WebState>) -> Response {
    let f = s.reload.clone();
    match tokio::task::spawn_blocking(move || f()).await {
        Ok(Ok(summary)) => (StatusCode::OK, format!("{summary}\n")).into_response(),
        Ok(Err(e)) => (
            StatusCode::BAD_REQUEST,
            format!("reload refused, the previous configuration keeps running:\n{e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "reload failed\n").into_response(),
    }
}

/// The page's own security headers: no inline script or style can run even
/// if a value ever escaped escaping; nothing is loaded from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn page_headers(content_type: &'static str) -> [(header::HeaderName, &'static str); 5] {
    [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ]
}

async fn snapshot(s: &WebState) -> Option<crate::status::Snapshot> {
    let (metrics, ready) = (s.metrics.clone(), s.progress.ready());
    tokio::task::spawn_blocking(move || metrics.snapshot(ready))
        .await
        .ok()
}

/// The status page (`?part=main`: its `<main>` only, for the script's refresh).
async fn index(State(s): State<WebState>, uri: Uri) -> Response {
    // (Not axum's `Query`: one fixed parameter is not worth a deserializer in the binary.)
    let main_only = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "part=main"));
    let Some(snap) = snapshot(&s).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "status unavailable\n").into_response();
    };
    let body = if main_only {
        html::main_part(&snap)
    } else {
        html::page(&snap)
    };
    (page_headers("text/html; charset=utf-8"), body).into_response()
}

/// The status page's data as JSON.
async fn api_status(State(s): State<WebState>) -> Response {
    let Some(snap) = snapshot(&s).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "status unavailable\n").into_response();
    };
    match serde_json::to_string_pretty(&snap) {
        Ok(body) => (page_headers("application/json"), body).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "status unavailable\n").into_response(),
    }
}

/// The page's stylesheet, script and icon: embedded in the binary; the page
/// asks for the first two with the version in the query string, so they may
/// be cached for long.
async fn static_file(uri: Uri) -> Response {
    let (content_type, body) = match uri.path() {
        "/static/status.css" => ("text/css; charset=utf-8", html::CSS),
        "/static/status.js" => ("text/javascript; charset=utf-8", html::JS),
        "/static/favicon.svg" => ("image/svg+xml", html::FAVICON),
        _ => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_debug_hides_secrets() {
        let a = Auth::Basic {
            user: "prom".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{a:?}").contains("hunter22"));
        assert!(!format!("{:?}", Auth::Bearer("tok-123".into())).contains("tok-123"));
    }

    #[test]
    fn auth_scheme_is_case_insensitive_and_credentials_exact() {
        let bearer = Auth::Bearer("tok-123".into());
        for ok in ["Bearer tok-123", "bearer tok-123", "BEARER tok-123"] {
            assert!(bearer.accepts(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "Bearer tok-124",
            "Bearer TOK-123",
            "Bearer tok-1234",
            "Bearertok-123",
            "Basic tok-123",
            "tok-123",
            "",
        ] {
            assert!(!bearer.accepts(bad.as_bytes()), "{bad}");
        }
        let basic = Auth::Basic {
            user: "Aladdin".into(),
            password: "open sesame".into(),
        };
        for ok in [
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        ] {
            assert!(basic.accepts(ok.as_bytes()), "{ok}");
        }
        assert!(!basic.accepts(b"Basic qWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        assert!(!basic.accepts(b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
    }
}
