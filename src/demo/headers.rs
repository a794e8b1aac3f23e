//! The headers the demo's nginx adds ([`HeaderPolicy`]), as the faults in
//! force configure them: hardened by default, the committed config's
//! `location /api/` headers only with `headers=as-committed`, none with
//! `no-security-headers`. Used by the proxy (`nginx.rs`) and the SPA's
//! static files (`assets.rs`).

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, SERVER, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

use super::Faults;
use super::faults::{HeaderProfile, HstsMode};

/// `server_tokens on`, as in the committed config.
const SERVER_VERSIONED: &str = "nginx/1.22.1";
/// `server_tokens off`.
const SERVER_BARE: &str = "nginx";

/// What the committed nginx config adds with `add_header` in `location /api/`.
const COMMITTED_API_HEADERS: [(HeaderName, &str); 4] = [
    (X_FRAME_OPTIONS, "SAMEORIGIN"),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (X_XSS_PROTECTION, "1; mode=block"),
    (REFERRER_POLICY, "strict-origin-when-cross-origin"),
];

const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");
const HSTS_FULL: &str = "max-age=31536000; includeSubDomains";
const HSTS_SHORT: &str = "max-age=86400";
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
base-uri 'self'; frame-ancestors 'none'";
const CSP_UNSAFE: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; \
img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";
/// With `xfo=sameorigin` the CSP allows same-origin framing too: browsers obey
/// `frame-ancestors` over X-Frame-Options, so a DENY-grade CSP would hide it.
const CSP_SAMEORIGIN: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
base-uri 'self'; frame-ancestors 'self'";
const POWERED_BY: &str = "FastAPI/0.115.0";

/// The headers nginx adds, as the faults in force configure it.
pub(super) struct HeaderPolicy {
    /// Added to every response.
    everywhere: Vec<(HeaderName, &'static str)>,
    /// Added to answers proxied from the backend (`location /api/`).
    api: Vec<(HeaderName, &'static str)>,
    server: &'static str,
    /// The SPA HTML sets an insecure cookie.
    pub cookie: bool,
}

impl HeaderPolicy {
    pub fn new(faults: &Faults) -> HeaderPolicy {
        let committed = faults.headers == HeaderProfile::AsCommitted;
        let mut policy = HeaderPolicy {
            everywhere: Vec::new(),
            api: Vec::new(),
            server: if committed || faults.server_version {
                SERVER_VERSIONED
            } else {
                SERVER_BARE
            },
            cookie: faults.insecure_cookie,
        };
        if faults.server_version {
            policy.api.push((X_POWERED_BY, POWERED_BY));
        }
        if faults.no_security_headers {
            return policy;
        }
        if committed {
            policy.api.extend(COMMITTED_API_HEADERS);
            return policy;
        }
        match faults.hsts {
            HstsMode::Full => policy
                .everywhere
                .push((STRICT_TRANSPORT_SECURITY, HSTS_FULL)),
            HstsMode::Short => policy
                .everywhere
                .push((STRICT_TRANSPORT_SECURITY, HSTS_SHORT)),
            HstsMode::Missing => {}
        }
        let xfo = if faults.xfo_sameorigin {
            "SAMEORIGIN"
        } else {
            "DENY"
        };
        let csp = if faults.csp_unsafe {
            CSP_UNSAFE
        } else if faults.xfo_sameorigin {
            CSP_SAMEORIGIN
        } else {
            CSP
        };
        policy.everywhere.extend([
            (X_FRAME_OPTIONS, xfo),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CONTENT_SECURITY_POLICY, csp),
            (REFERRER_POLICY, "strict-origin-when-cross-origin"),
            (
                PERMISSIONS_POLICY,
                "camera=(), microphone=(), geolocation=()",
            ),
        ]);
        policy
    }

    /// The `Server` header (also signed at the bottom of error pages).
    pub fn server(&self) -> &'static str {
        self.server
    }

    /// What `location /api/` adds to a proxied answer.
    pub(super) fn add_api(&self, resp: &mut Response) {
        insert_all(resp, &self.api);
    }

    /// What the `server` block adds to every response.
    pub(super) fn add_everywhere(&self, resp: &mut Response) {
        insert_all(resp, &self.everywhere);
        resp.headers_mut()
            .insert(SERVER, HeaderValue::from_static(self.server));
    }
}

fn insert_all(resp: &mut Response, headers: &[(HeaderName, &'static str)]) {
    for (name, value) in headers {
        resp.headers_mut()
            .insert(name.clone(), HeaderValue::from_static(value));
    }
}
