//! Injectable faults of the demo target: the data model (also the JSON of the
//! demo-only `/__demo/faults` endpoint), the `--fault` spec parser, request
//! matching, and the control endpoint itself.
//!
//! `GET /__demo/faults` returns the active [`Faults`] as JSON and
//! `PUT /__demo/faults` (JSON body = `Faults`, missing fields take their defaults)
//! replaces them. `GET /__demo/state` returns what the target holds
//! ([`DemoSnapshot`](super::DemoSnapshot): every trip, the session, user and
//! request counts, and each account's login counters), so a test running the
//! demo as a separate process can check that no synthetic trip was left behind
//! and how often the probe sent a password. These endpoints exist only in the
//! demo target; a real ContraVento deployment has nothing like them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::Json;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::DemoState;

/// Faults currently injected into the demo target. The default injects nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Delays added before a matching request is handled (all matching delays add up).
    pub latency: Vec<LatencyFault>,
    /// Random server errors on matching requests (the first one that fires wins).
    pub errors: Vec<ErrorFault>,
    /// The database is unreachable: `/health` still says healthy, every DB-backed
    /// endpoint answers 500 (`/trips/public` with `PUBLIC_FEED_ERROR`).
    pub db_down: bool,
    /// The backend is down (stopped, crashed, not yet started): nginx answers
    /// every `/api/*` and `/storage/*` request with its own HTML
    /// `502 Bad Gateway` page, while the SPA (`/`, its client-side routes, its
    /// assets) is still served.
    pub backend_down: bool,
    /// Every photo upload is refused as "not a valid image".
    pub reject_photos: bool,
    /// Publishing a trip answers 500.
    pub publish_fails: bool,
    /// Trips published after the server started never show up in the public feed.
    pub feed_hides_new: bool,
    /// nginx adds no security headers at all (the `Server` header stays).
    pub no_security_headers: bool,
    /// How the backend answers CORS.
    pub cors: CorsMode,
    /// 500 responses carry a Python traceback and an SQL statement, and the
    /// requests a leak check sends (an unknown `/api` path, a malformed JSON
    /// body, a wrong method) answer a debug-mode 500 traceback instead of their
    /// 404 / 400 / 405.
    pub leak_errors: bool,
    /// Which security headers nginx adds: hardened (default) or the committed config.
    pub headers: HeaderProfile,
    /// The `Strict-Transport-Security` of the hardened profile.
    pub hsts: HstsMode,
    /// `X-Frame-Options: SAMEORIGIN` instead of `DENY` (hardened profile).
    pub xfo_sameorigin: bool,
    /// The CSP allows `'unsafe-inline' 'unsafe-eval'` scripts (hardened profile).
    pub csp_unsafe: bool,
    /// `Server: nginx/1.22.1` everywhere and `X-Powered-By` on `/api`.
    pub server_version: bool,
    /// The SPA HTML sets a cookie without `Secure`, `HttpOnly` or `SameSite`.
    pub insecure_cookie: bool,
    /// What the plain-HTTP listener does when TLS is on.
    pub redirect: RedirectMode,
    /// Photo uploads trust the declared part type (no decoding) and build
    /// `photo_url` from the client's file name.
    pub upload_trusts_type: bool,
    /// The JS bundle references a source map and `/assets/*.js.map` serves it.
    pub source_maps: bool,
    /// The JS bundle is ~2 MB (and > 600 KB gzipped).
    pub big_bundle: bool,
    /// nginx never compresses responses.
    pub no_gzip: bool,
    /// Access tokens issued while this is set expire after it instead of 15
    /// minutes (`expires_in` says so, in whole seconds rounded down). JSON: a
    /// string like `"1s"` or `"300ms"` (millisecond precision), or null.
    #[serde(with = "opt_duration")]
    pub token_ttl: Option<Duration>,
    /// What checking an existing account's password costs (the real app:
    /// two bcrypt rounds, 0.25–0.85 s), instead of
    /// [`DemoOptions::login_cost`](super::DemoOptions::login_cost). JSON:
    /// `"300ms"`, `"0ms"` or null.
    #[serde(with = "opt_cost")]
    pub login_cost: Option<Duration>,
    /// A login for an unknown user pays the same cost as one for an existing
    /// account (a fixed app: its timing tells nothing).
    pub login_constant_time: bool,
    /// The storage directory is read-only: a photo upload answers the real
    /// app's 403 `FORBIDDEN` with the server's file path in its message.
    pub storage_readonly: bool,
    /// FastAPI's `/docs` (Swagger UI) and `/redoc` are served too, besides
    /// the `/openapi.json` the real deployment already serves.
    pub docs_public: bool,
    /// The SPA's bundle throws on load, before it renders anything: a white
    /// screen, HTTP 200 everywhere.
    pub spa_js_error: bool,
    /// The API base baked into the SPA's bundle instead of `/api` (a build
    /// without `VITE_USE_PROXY=true`): the browser calls this URL, while the
    /// API itself stays healthy. The `--fault` form `spa-api-base=localhost`
    /// is `http://localhost:8000`, the real build's fallback. JSON: the URL
    /// as a string, or null.
    pub spa_api_base: Option<String>,
    /// The SPA's HTML carries a CSP whose `script-src` refuses the app's own script.
    pub spa_csp_blocks: bool,
    /// The landing page's hero photo (its largest contentful paint) answers
    /// after 3 s.
    pub spa_slow_lcp: bool,
    /// The SPA inserts a banner above the page after it has painted: a
    /// layout shift (CLS well over 0.1).
    pub spa_layout_shift: bool,
    /// The `/trips/public` route's chunk (`/assets/trips-5c7e2a.js`) is 404:
    /// that route fails to render.
    pub spa_missing_chunk: bool,
}

/// `Option<Duration>` as `"300ms"` in JSON, zero allowed.
mod opt_cost {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            None => s.serialize_none(),
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::parse_cost(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `Option<Duration>` as `"1s"` / `"300ms"` (the `--fault` spelling) in JSON.
mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            None => s.serialize_none(),
            Some(d) if d.subsec_nanos() == 0 => s.serialize_str(&format!("{}s", d.as_secs())),
            // Millisecond precision, like the spec parser.
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::parse_ttl(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The security-header set nginx adds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderProfile {
    /// A correct deployment: HSTS, `X-Frame-Options: DENY`, nosniff, CSP,
    /// Referrer-Policy and Permissions-Policy on every response, `Server: nginx`.
    #[default]
    Hardened,
    /// Today's committed ContraVento nginx: four headers on `/api/*` only, no
    /// HSTS, CSP or Permissions-Policy, `Server: nginx/1.22.1`.
    AsCommitted,
}

/// `Strict-Transport-Security` in the hardened profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HstsMode {
    /// `max-age=31536000; includeSubDomains`.
    #[default]
    Full,
    /// No HSTS header.
    Missing,
    /// `max-age=86400`.
    Short,
}

/// What nginx's `listen 80` server block does when the demo runs with TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedirectMode {
    /// `301` to `https://<host>:<https port><path and query>`.
    #[default]
    #[serde(rename = "301")]
    Permanent,
    /// `302` instead of `301`.
    #[serde(rename = "302")]
    Found,
    /// `301` to `https://<host>:<https port>/`, dropping the path.
    #[serde(rename = "root")]
    Root,
    /// No redirect: the plain listener serves the whole site itself.
    #[serde(rename = "none")]
    None,
}

/// Delay requests whose path starts with `path` (and, if set, whose method is `method`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyFault {
    /// Prefix of the request path as the client sent it, e.g. `/api/auth/login`.
    pub path: String,
    pub method: Option<String>,
    pub delay_ms: u64,
    /// A uniformly random extra delay in `0..=jitter_ms` (a known distribution:
    /// its p95 is `delay_ms + 0.95 × jitter_ms`).
    pub jitter_ms: u64,
}

/// Answer `status` with probability `rate` to requests matching `path`/`method`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorFault {
    /// Prefix of the request path as the client sent it.
    pub path: String,
    pub method: Option<String>,
    /// Probability in `0..=1`.
    pub rate: f64,
    pub status: u16,
}

impl Default for ErrorFault {
    fn default() -> Self {
        ErrorFault {
            path: String::new(),
            method: None,
            rate: 1.0,
            status: 500,
        }
    }
}

/// CORS behaviour of the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorsMode {
    /// Starlette's CORSMiddleware with the configured origins and credentials.
    #[default]
    Starlette,
    /// `access-control-allow-origin: *` together with `allow-credentials: true`.
    WildcardWithCredentials,
    /// Any `Origin` is echoed back as allowed.
    EchoAny,
    /// The configured origins plus any `http://` origin and any origin on
    /// `localhost` / `127.0.0.1` (dev origins left in production).
    AllowHttp,
}

/// One `--fault` spec, parsed. See [`FaultSpec::from_str`] for the forms.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultSpec {
    Latency(LatencyFault),
    Error(ErrorFault),
    DbDown,
    BackendDown,
    RejectPhotos,
    PublishFails,
    FeedHidesNew,
    NoSecurityHeaders,
    Cors(CorsMode),
    LeakErrors,
    Headers(HeaderProfile),
    Hsts(HstsMode),
    XfoSameorigin,
    CspUnsafe,
    ServerVersion,
    InsecureCookie,
    Redirect(RedirectMode),
    UploadTrustsType,
    SourceMaps,
    BigBundle,
    NoGzip,
    TokenTtl(Duration),
    LoginCost(Duration),
    LoginConstantTime,
    StorageReadonly,
    DocsPublic,
    SpaJsError,
    /// The API base URL, normalized (no trailing `/`).
    SpaApiBase(String),
    SpaCspBlocks,
    SpaSlowLcp,
    SpaLayoutShift,
    SpaMissingChunk,
}

const VALID_FORMS: &str = "valid faults are latency:[METHOD:]PATH=DURATION[..DURATION] \
(e.g. latency:/api/auth/login=800ms, latency:POST:/api/trips=300ms or latency:/api/health=50ms..150ms), \
error:[METHOD:]PATH=RATE[:STATUS] (e.g. error:/api/trips=0.5:500), db-down, backend-down, reject-photos, \
publish-fails, feed-hides-new, leak-errors, upload-trusts-type, \
cors=wildcard, cors=echo-any, cors=allow-http, cors=starlette, \
headers=as-committed, headers=hardened, no-security-headers, hsts=missing, hsts=short, \
hsts=full, xfo=sameorigin, csp=unsafe, server-version, insecure-cookie, \
redirect=302, redirect=root, redirect=none, redirect=301, \
source-maps, big-bundle, no-gzip, token-ttl=DURATION (e.g. token-ttl=1s), \
login-cost=DURATION (e.g. login-cost=300ms), login-constant-time, storage-readonly, docs-public, \
spa-js-error, spa-api-base=URL (e.g. spa-api-base=localhost for http://localhost:8000), \
spa-csp-blocks, spa-slow-lcp, spa-layout-shift and spa-missing-chunk";

impl FromStr for FaultSpec {
    type Err = String;

    /// Parses `latency:[METHOD:]PATH=800ms|2s`, `error:[METHOD:]PATH=RATE[:STATUS]`
    /// (status defaults to 500), `db-down`, `backend-down`, `reject-photos`, `publish-fails`,
    /// `feed-hides-new`, `leak-errors`, `upload-trusts-type`,
    /// `cors=starlette|wildcard|echo-any|allow-http`, `headers=hardened|as-committed`,
    /// `no-security-headers`, `hsts=full|missing|short`, `xfo=sameorigin`,
    /// `csp=unsafe`, `server-version`, `insecure-cookie`,
    /// `redirect=301|302|root|none`, `source-maps`, `big-bundle`, `no-gzip`,
    /// `token-ttl=DURATION` (`1s`, `300ms`; whole milliseconds, 1 ms to an hour),
    /// `login-cost=DURATION` (`300ms`, `0ms`; up to a minute),
    /// `login-constant-time`, `storage-readonly`, `docs-public`,
    /// `spa-js-error`, `spa-api-base=URL` (an http(s) URL, or `localhost` for
    /// `http://localhost:8000`), `spa-csp-blocks`, `spa-slow-lcp`,
    /// `spa-layout-shift` and `spa-missing-chunk`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let spec = spec.trim();
        let simple = match spec {
            "db-down" => Some(FaultSpec::DbDown),
            "backend-down" => Some(FaultSpec::BackendDown),
            "reject-photos" => Some(FaultSpec::RejectPhotos),
            "publish-fails" => Some(FaultSpec::PublishFails),
            "feed-hides-new" => Some(FaultSpec::FeedHidesNew),
            "no-security-headers" => Some(FaultSpec::NoSecurityHeaders),
            "leak-errors" => Some(FaultSpec::LeakErrors),
            "cors=wildcard" | "cors=wildcard-with-credentials" => {
                Some(FaultSpec::Cors(CorsMode::WildcardWithCredentials))
            }
            "cors=echo-any" => Some(FaultSpec::Cors(CorsMode::EchoAny)),
            "cors=starlette" => Some(FaultSpec::Cors(CorsMode::Starlette)),
            "cors=allow-http" => Some(FaultSpec::Cors(CorsMode::AllowHttp)),
            "headers=hardened" => Some(FaultSpec::Headers(HeaderProfile::Hardened)),
            "headers=as-committed" => Some(FaultSpec::Headers(HeaderProfile::AsCommitted)),
            "hsts=full" => Some(FaultSpec::Hsts(HstsMode::Full)),
            "hsts=missing" => Some(FaultSpec::Hsts(HstsMode::Missing)),
            "hsts=short" => Some(FaultSpec::Hsts(HstsMode::Short)),
            "xfo=sameorigin" => Some(FaultSpec::XfoSameorigin),
            "csp=unsafe" => Some(FaultSpec::CspUnsafe),
            "server-version" => Some(FaultSpec::ServerVersion),
            "insecure-cookie" => Some(FaultSpec::InsecureCookie),
            "redirect=301" => Some(FaultSpec::Redirect(RedirectMode::Permanent)),
            "redirect=302" => Some(FaultSpec::Redirect(RedirectMode::Found)),
            "redirect=root" => Some(FaultSpec::Redirect(RedirectMode::Root)),
            "redirect=none" => Some(FaultSpec::Redirect(RedirectMode::None)),
            "upload-trusts-type" => Some(FaultSpec::UploadTrustsType),
            "source-maps" => Some(FaultSpec::SourceMaps),
            "big-bundle" => Some(FaultSpec::BigBundle),
            "no-gzip" => Some(FaultSpec::NoGzip),
            "login-constant-time" => Some(FaultSpec::LoginConstantTime),
            "storage-readonly" => Some(FaultSpec::StorageReadonly),
            "docs-public" => Some(FaultSpec::DocsPublic),
            "spa-js-error" => Some(FaultSpec::SpaJsError),
            "spa-csp-blocks" => Some(FaultSpec::SpaCspBlocks),
            "spa-slow-lcp" => Some(FaultSpec::SpaSlowLcp),
            "spa-layout-shift" => Some(FaultSpec::SpaLayoutShift),
            "spa-missing-chunk" => Some(FaultSpec::SpaMissingChunk),
            _ => None,
        };
        if let Some(fault) = simple {
            return Ok(fault);
        }
        if let Some(value) = spec.strip_prefix("token-ttl=") {
            return parse_ttl(value)
                .map(FaultSpec::TokenTtl)
                .map_err(|e| format!("fault {spec:?}: {e}"));
        }
        if let Some(value) = spec.strip_prefix("spa-api-base=") {
            return parse_api_base(value)
                .map(FaultSpec::SpaApiBase)
                .map_err(|e| format!("fault {spec:?}: {e}"));
        }
        if let Some(value) = spec.strip_prefix("login-cost=") {
            return parse_cost(value)
                .map(FaultSpec::LoginCost)
                .map_err(|e| format!("fault {spec:?}: {e}"));
        }
        if let Some(rest) = spec.strip_prefix("latency:") {
            let (method, path, value) = split_target(spec, rest)?;
            let bad = || {
                format!(
                    "fault {spec:?}: the delay must look like 800ms, 2s or 50ms..150ms (uniform)"
                )
            };
            let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            let (delay_ms, jitter_ms) = match value.split_once("..") {
                Some((lo, hi)) => {
                    let lo = ms(parse_delay(lo).ok_or_else(bad)?);
                    let hi = ms(parse_delay(hi).ok_or_else(bad)?);
                    if hi < lo {
                        return Err(bad());
                    }
                    (lo, hi - lo)
                }
                None => (ms(parse_delay(value).ok_or_else(bad)?), 0),
            };
            return Ok(FaultSpec::Latency(LatencyFault {
                path,
                method,
                delay_ms,
                jitter_ms,
            }));
        }
        if let Some(rest) = spec.strip_prefix("error:") {
            let (method, path, value) = split_target(spec, rest)?;
            let (rate, status) = value.split_once(':').unwrap_or((value, "500"));
            let rate = rate
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("fault {spec:?}: the rate must be a number from 0 to 1"))?;
            let status = status
                .parse::<u16>()
                .ok()
                .filter(|s| (400..=599).contains(s))
                .ok_or_else(|| format!("fault {spec:?}: the status must be from 400 to 599"))?;
            return Ok(FaultSpec::Error(ErrorFault {
                path,
                method,
                rate,
                status,
            }));
        }
        Err(format!("unknown fault {spec:?}; {VALID_FORMS}"))
    }
}

/// Splits `[METHOD:]PATH=VALUE` (the part after `latency:` / `error:`).
fn split_target<'a>(
    spec: &str,
    rest: &'a str,
) -> Result<(Option<String>, String, &'a str), String> {
    let (target, value) = rest
        .split_once('=')
        .ok_or_else(|| format!("fault {spec:?} lacks '=': {VALID_FORMS}"))?;
    let (method, path) = match target.split_once(':') {
        Some((m, p)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
            (Some(m.to_ascii_uppercase()), p)
        }
        _ => (None, target),
    };
    if !path.starts_with('/') {
        return Err(format!(
            "fault {spec:?}: the path must start with '/': {VALID_FORMS}"
        ));
    }
    Ok((method, path.to_owned(), value))
}

/// A `token-ttl` value: `1s`, `1.5s`, `300ms`, rounded to whole milliseconds;
/// at least 1 ms, at most an hour.
fn parse_ttl(value: &str) -> Result<Duration, String> {
    parse_delay(value)
        .map(|d| Duration::from_millis((d.as_secs_f64() * 1000.0).round() as u64))
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            format!(
                "the token lifetime {value:?} must look like 1s or 300ms, \
                 from 1ms to 3600s"
            )
        })
}

/// What a build without the proxy flag calls: the real bundle's fallback.
const LOCALHOST_API: &str = "http://localhost:8000";

/// A `spa-api-base` value: `localhost`, or an http(s) URL with a host and
/// no query or fragment; a trailing `/` is dropped.
fn parse_api_base(value: &str) -> Result<String, String> {
    if value == "localhost" {
        return Ok(LOCALHOST_API.to_owned());
    }
    let bad = || {
        format!(
            "the API base {value:?} must be an http:// or https:// URL \
             (e.g. http://127.0.0.1:8000) or localhost"
        )
    };
    let url = url::Url::parse(value).map_err(|_| bad())?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !ok {
        return Err(bad());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A `login-cost` value: `300ms`, `0.5s`, `0ms`, whole milliseconds, at most a minute.
fn parse_cost(value: &str) -> Result<Duration, String> {
    parse_delay(value)
        .map(|d| Duration::from_millis((d.as_secs_f64() * 1000.0).round() as u64))
        .filter(|d| *d <= Duration::from_secs(60))
        .ok_or_else(|| {
            format!("the login cost {value:?} must look like 300ms or 0.5s, from 0ms to 60s")
        })
}

fn parse_delay(value: &str) -> Option<Duration> {
    let (number, scale) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, 0.001)
    } else {
        (value.strip_suffix('s')?, 1.0)
    };
    let n: f64 = number.parse().ok()?;
    (n.is_finite() && n >= 0.0 && n * scale <= 3600.0).then(|| Duration::from_secs_f64(n * scale))
}

impl fmt::Display for CorsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CorsMode::Starlette => "starlette",
            CorsMode::WildcardWithCredentials => "wildcard-with-credentials",
            CorsMode::EchoAny => "echo-any",
            CorsMode::AllowHttp => "allow-http",
        })
    }
}

fn matches(path_prefix: &str, method: Option<&str>, req_method: &Method, req_path: &str) -> bool {
    req_path.starts_with(path_prefix)
        && method.is_none_or(|m| m.eq_ignore_ascii_case(req_method.as_str()))
}

impl Faults {
    /// Adds one parsed fault (lists grow, switches turn on, modes are replaced).
    pub fn apply(&mut self, spec: FaultSpec) {
        match spec {
            FaultSpec::Latency(l) => self.latency.push(l),
            FaultSpec::Error(e) => self.errors.push(e),
            FaultSpec::DbDown => self.db_down = true,
            FaultSpec::BackendDown => self.backend_down = true,
            FaultSpec::RejectPhotos => self.reject_photos = true,
            FaultSpec::PublishFails => self.publish_fails = true,
            FaultSpec::FeedHidesNew => self.feed_hides_new = true,
            FaultSpec::NoSecurityHeaders => self.no_security_headers = true,
            FaultSpec::Cors(mode) => self.cors = mode,
            FaultSpec::LeakErrors => self.leak_errors = true,
            FaultSpec::Headers(profile) => self.headers = profile,
            FaultSpec::Hsts(mode) => self.hsts = mode,
            FaultSpec::XfoSameorigin => self.xfo_sameorigin = true,
            FaultSpec::CspUnsafe => self.csp_unsafe = true,
            FaultSpec::ServerVersion => self.server_version = true,
            FaultSpec::InsecureCookie => self.insecure_cookie = true,
            FaultSpec::Redirect(mode) => self.redirect = mode,
            FaultSpec::UploadTrustsType => self.upload_trusts_type = true,
            FaultSpec::SourceMaps => self.source_maps = true,
            FaultSpec::BigBundle => self.big_bundle = true,
            FaultSpec::NoGzip => self.no_gzip = true,
            FaultSpec::TokenTtl(ttl) => self.token_ttl = Some(ttl),
            FaultSpec::LoginCost(cost) => self.login_cost = Some(cost),
            FaultSpec::LoginConstantTime => self.login_constant_time = true,
            FaultSpec::StorageReadonly => self.storage_readonly = true,
            FaultSpec::DocsPublic => self.docs_public = true,
            FaultSpec::SpaJsError => self.spa_js_error = true,
            FaultSpec::SpaApiBase(url) => self.spa_api_base = Some(url),
            FaultSpec::SpaCspBlocks => self.spa_csp_blocks = true,
            FaultSpec::SpaSlowLcp => self.spa_slow_lcp = true,
            FaultSpec::SpaLayoutShift => self.spa_layout_shift = true,
            FaultSpec::SpaMissingChunk => self.spa_missing_chunk = true,
        }
    }

    /// Parses one `--fault` spec and applies it; the error lists the valid forms.
    pub fn apply_spec(&mut self, spec: &str) -> Result<(), String> {
        self.apply(spec.parse()?);
        Ok(())
    }

    /// Whether no fault at all is injected.
    pub fn is_empty(&self) -> bool {
        *self == Faults::default()
    }

    /// Total injected delay for a request (zero when nothing matches).
    pub(super) fn delay_for(&self, method: &Method, path: &str) -> Duration {
        let ms = self
            .latency
            .iter()
            .filter(|l| matches(&l.path, l.method.as_deref(), method, path))
            .fold(0u64, |sum, l| {
                let jitter = if l.jitter_ms > 0 {
                    fastrand::u64(0..=l.jitter_ms)
                } else {
                    0
                };
                sum.saturating_add(l.delay_ms).saturating_add(jitter)
            });
        Duration::from_millis(ms)
    }

    /// The status of an error fault that fires for this request, if any.
    pub(super) fn injected_status(&self, method: &Method, path: &str) -> Option<StatusCode> {
        self.errors
            .iter()
            .filter(|e| matches(&e.path, e.method.as_deref(), method, path))
            .find(|e| fastrand::f64() < e.rate)
            .map(|e| StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
    }
}

/// Largest fault document `PUT /__demo/faults` accepts.
const MAX_CONTROL_BODY: usize = 64 * 1024;

/// The demo-only control endpoint (see the module docs).
pub(super) async fn control(state: &DemoState, req: Request) -> Response {
    match req.uri().path() {
        "/__demo/faults" => {}
        "/__demo/state" if req.method() == Method::GET => {
            return Json(state.snapshot()).into_response();
        }
        "/__demo/state" => return method_not_allowed("GET"),
        _ => {
            return (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response();
        }
    }
    match *req.method() {
        Method::GET => Json(state.faults()).into_response(),
        Method::PUT => {
            let parsed = match to_bytes(req.into_body(), MAX_CONTROL_BODY).await {
                Ok(body) => serde_json::from_slice::<Faults>(&body).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match parsed {
                Ok(faults) => {
                    state.set_faults(faults.clone());
                    Json(faults).into_response()
                }
                Err(e) => (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": format!("invalid faults document: {e}")})),
                )
                    .into_response(),
            }
        }
        _ => method_not_allowed("GET, PUT"),
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut resp = (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"detail": "Method Not Allowed"})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}
