//! The headers the demo's nginx adds ([`HeaderPolicy`]), as the faults in
//! force configure them: hardened by default, the committed config's
//! `location /api/` headers only with `headers=as-committed`, none with
//! `no-security-headers`. Used by the proxy (`nginx.rs`) and the SPA's
//! static files (`assets.rs`).
//!
//! The hardened CSP lets the SPA work: its own module script and chunk
//! (`script-src` from `default-src 'self'`), its fetches to `/api`
//! (`connect-src`, same) and the hero photo (`img-src 'self'`). It blocks the
//! Google Fonts stylesheet `index.html` links (`style-src` from `default-src
//! 'self'`): third-party, and the page renders without it. With
//! `spa-api-base=URL` the CSP's `connect-src` also allows that URL's origin, so
//! what fails in the browser is the request itself (refused, CORS), as on the
//! real deployment, not the CSP. `spa-csp-blocks` puts a CSP on the SPA's HTML
//! (any profile) whose `script-src` allows only a CDN the build does not use:
//! the app's own script is refused.

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
/// `spa-csp-blocks`: scripts only from a CDN the build does not load from,
/// written first so that it is the `script-src` a browser obeys.
const CSP_BLOCKS_SCRIPTS: &str = "script-src https://cdn.contravento.example";

/// Marks a response as the SPA's `index.html` (see [`mark_spa_html`]).
#[derive(Clone, Copy, Debug)]
struct SpaHtml;

/// Marks `resp` as the SPA's HTML, which gets [`HeaderPolicy`]'s HTML-only
/// headers when the `server` block's are added.
pub(super) fn mark_spa_html(resp: &mut Response) {
    resp.extensions_mut().insert(SpaHtml);
}

/// The headers nginx adds, as the faults in force configure it.
pub(super) struct HeaderPolicy {
    /// Added to every response.
    everywhere: Vec<(HeaderName, HeaderValue)>,
    /// Added to answers proxied from the backend (`location /api/`).
    api: Vec<(HeaderName, HeaderValue)>,
    /// Added (over `everywhere`) to the SPA's HTML.
    html: Vec<(HeaderName, HeaderValue)>,
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
            html: Vec::new(),
            server: if committed || faults.server_version {
                SERVER_VERSIONED
            } else {
                SERVER_BARE
            },
            cookie: faults.insecure_cookie,
        };
        if faults.server_version {
            policy
                .api
                .push((X_POWERED_BY, HeaderValue::from_static(POWERED_BY)));
        }
        if faults.no_security_headers || committed {
            if committed && !faults.no_security_headers {
                policy
                    .api
                    .extend(COMMITTED_API_HEADERS.map(|(n, v)| (n, HeaderValue::from_static(v))));
            }
            if faults.spa_csp_blocks {
                policy.html.push((
                    CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP_BLOCKS_SCRIPTS),
                ));
            }
            return policy;
        }
        match faults.hsts {
            HstsMode::Full => policy.everywhere.push((
                STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS_FULL),
            )),
            HstsMode::Short => policy.everywhere.push((
                STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS_SHORT),
            )),
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
        let csp = match api_origin(faults) {
            Some(origin) => format!("{csp}; connect-src 'self' {origin}"),
            None => csp.to_owned(),
        };
        if faults.spa_csp_blocks {
            policy.html.push((
                CONTENT_SECURITY_POLICY,
                header_value(format!("{CSP_BLOCKS_SCRIPTS}; {csp}")),
            ));
        }
        policy.everywhere.extend([
            (X_FRAME_OPTIONS, HeaderValue::from_static(xfo)),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (CONTENT_SECURITY_POLICY, header_value(csp)),
            (
                REFERRER_POLICY,
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            ),
            (
                PERMISSIONS_POLICY,
                HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
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
    /// On the SPA's HTML (see [`mark_spa_html`]) its own headers follow.
    pub(super) fn add_everywhere(&self, resp: &mut Response) {
        insert_all(resp, &self.everywhere);
        if resp.extensions().get::<SpaHtml>().is_some() {
            insert_all(resp, &self.html);
        }
        resp.headers_mut()
            .insert(SERVER, HeaderValue::from_static(self.server));
    }
}

fn insert_all(resp: &mut Response, headers: &[(HeaderName, HeaderValue)]) {
    for (name, value) in headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
}

/// The origin of `spa-api-base`'s URL when it is another one than the site's
/// (an absolute http(s) URL).
fn api_origin(faults: &Faults) -> Option<String> {
    let url = url::Url::parse(faults.spa_api_base.as_deref()?).ok()?;
    let origin = url.origin().ascii_serialization();
    // A host name may hold `;` or `,`, which would end the directive.
    let plain = origin
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:/[]".contains(&b));
    (matches!(url.scheme(), "http" | "https") && plain).then_some(origin)
}

/// A header value built from ASCII text (a CSP made of constants and a URL
/// origin); anything else would be a bug, answered with an empty value.
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}
