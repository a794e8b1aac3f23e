//! CORS as the ContraVento backend answers it: Starlette's `CORSMiddleware` with
//! `allow_origins=CORS_ORIGINS`, `allow_credentials=True`, `allow_methods=["*"]`,
//! `allow_headers=["*"]`, plus the misconfigurations a probe must catch
//! ([`CorsMode`]: `*` with credentials, an echo of any origin, and `http://` /
//! `localhost` dev origins accepted in production).
//!
//! Starlette quirks reproduced on purpose: a preflight from a disallowed origin is
//! a 400 `Disallowed CORS origin` that still carries
//! `access-control-allow-credentials: true` (and methods, max-age, `vary`), and a
//! simple request from a disallowed origin still gets `allow-credentials` — only
//! `access-control-allow-origin` tells allowed from disallowed.

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::CorsMode;

/// Starlette expands `allow_methods=["*"]` to this list.
const ALLOW_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

/// What `cors=allow-http` lets through besides the configured origins: any
/// `http://` origin and any origin on `localhost` / `127.0.0.1`.
fn dev_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    url.scheme() == "http" || matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// The CORS view of one request: its `Origin` and the policy that judges it.
pub(super) struct Cors<'a> {
    mode: CorsMode,
    allowed: &'a [String],
    origin: Option<HeaderValue>,
}

impl<'a> Cors<'a> {
    pub fn new(mode: CorsMode, allowed: &'a [String], headers: &HeaderMap) -> Cors<'a> {
        Cors {
            mode,
            allowed,
            origin: headers.get(ORIGIN).cloned(),
        }
    }

    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        match self.mode {
            CorsMode::Starlette => origin
                .to_str()
                .is_ok_and(|o| self.allowed.iter().any(|a| a == o)),
            CorsMode::WildcardWithCredentials | CorsMode::EchoAny => true,
            CorsMode::AllowHttp => origin
                .to_str()
                .is_ok_and(|o| self.allowed.iter().any(|a| a == o) || dev_origin(o)),
        }
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`); `None` for any other request.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response> {
        let origin = self.origin.as_ref()?;
        let requested_method = headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
        if method != Method::OPTIONS {
            return None;
        }
        let mut out = HeaderMap::new();
        let mut failures = Vec::new();
        if self.mode == CorsMode::WildcardWithCredentials {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else {
            out.insert(VARY, HeaderValue::from_static("Origin"));
            if self.origin_allowed(origin) {
                out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            } else {
                failures.push("origin");
            }
        }
        out.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        if let Some(requested_headers) = headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested_headers.clone());
        }
        out.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if !ALLOW_METHODS
            .split(", ")
            .any(|m| requested_method.as_bytes() == m.as_bytes())
        {
            failures.push("method");
        }
        let (status, body) = if failures.is_empty() {
            (StatusCode::OK, "OK".to_owned())
        } else {
            (
                StatusCode::BAD_REQUEST,
                format!("Disallowed CORS {}", failures.join(", ")),
            )
        };
        Some((status, out, body).into_response())
    }

    /// Adds the headers of a simple (non-preflight) cross-origin response.
    pub fn decorate(&self, resp: &mut Response) {
        let Some(origin) = &self.origin else {
            return;
        };
        let headers = resp.headers_mut();
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if self.mode == CorsMode::WildcardWithCredentials {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else if self.origin_allowed(origin) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
    }
}
