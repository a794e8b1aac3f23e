//! Serde types that mirror the probe-file YAML one to one. Nothing here is
//! validated beyond its shape: `compile` turns these into a [`super::Plan`].
//! Fields that later checks may complain about are [`S`] (spanned) so that the
//! complaint can point at the right line and column. Every type also
//! describes itself as JSON Schema (`JsonSchema`, for `smokeprobe schema`,
//! see `schema.rs`); the by-shape values below describe their shapes by hand.
//!
//! Values of more than one shape (`budget: 200ms` or `budget: { p95: … }`)
//! are enums with a hand-written `Deserialize` (bottom of the file) rather
//! than serde's `untagged`: an untagged enum's error names the Rust type
//! (`data did not match any variant of untagged enum RawBudget`) and it
//! accepts a list where a mapping is meant (`budget: [200ms]` was a p50).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

pub use crate::spanned::S;

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "probeFile")]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    #[serde(default)]
    pub version: Option<S<u32>>,
    /// Name of the target this file probes (a metric label; defaults to the file stem).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]{1,64}$"))]
    pub target: Option<S<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, S<RawVar>>,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[schemars(length(min = 1))]
    pub flows: S<Vec<S<RawFlow>>>,
}

/// A variable: a plain scalar, or a mapping with options.
#[derive(Debug)]
pub enum RawVar {
    Text(String),
    Number(f64),
    Bool(bool),
    Full(RawVarFull),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "varOptions")]
#[serde(deny_unknown_fields)]
pub struct RawVarFull {
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub secret: bool,
    /// A secret the target rate-limits (an API key): a 429 to a request
    /// carrying it means "slow down", not "refused".
    #[serde(default)]
    pub rate_limited: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "defaults")]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub deadline: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub interval: Option<S<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    #[serde(default)]
    /// Largest response body read (default 10MB).
    #[schemars(with = "Option<RawSize>")]
    pub max_body: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "flow")]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]{1,64}$"))]
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Heading the flow is listed under in the checklist (e.g. `Security`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub group: Option<S<String>>,
    /// Opt-in flows run only when selected by name (`--flow NAME`).
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub interval: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub deadline: Option<S<String>>,
    /// Flow-level variables, evaluated once at the start of every run.
    #[serde(default)]
    pub vars: BTreeMap<String, S<String>>,
    #[schemars(length(min = 1))]
    pub steps: Vec<S<RawStep>>,
}

/// The keys of the built-in check kinds: a step has a `url` (a request) or
/// exactly one of these (`compile::checks::kinds`, checked by a test).
pub const CHECK_KEYS: &[&str] = &[
    "cors",
    "security_headers",
    "https_redirect",
    "tls",
    "error_leaks",
    "frontend",
    "api_docs",
    "login_timing",
];

/// The keys of a request that a check step may not have
/// (`compile::checks::request_fields`, checked by a test).
pub const REQUEST_KEYS: &[&str] = &[
    "url",
    "method",
    "headers",
    "query",
    "json",
    "form",
    "body",
    "multipart",
    "follow_redirects",
    "poll",
    "expect",
    "capture",
];

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "step")]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Required; optional here so that a missing one is reported at the step.
    #[serde(default)]
    #[schemars(
        description = "The step's name (1-64 characters).",
        length(min = 1, max = 64)
    )]
    pub name: Option<S<String>>,
    #[serde(default)]
    pub method: Option<S<String>>,
    /// Required; optional here so that a missing one is reported at the step.
    #[serde(default)]
    #[schemars(description = "The request's URL (a template); a check step has none.")]
    pub url: Option<S<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub query: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub json: Option<S<serde_json::Value>>,
    #[serde(default)]
    pub form: Option<BTreeMap<String, S<String>>>,
    #[serde(default)]
    pub body: Option<S<String>>,
    #[serde(default)]
    pub multipart: Option<Vec<S<RawPart>>>,
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub timeout: Option<S<String>>,
    /// `false` (default), `true` (up to 10 hops) or a hop count.
    #[serde(default)]
    pub follow_redirects: Option<S<RawRedirects>>,
    /// Cleanup: runs even when an earlier step failed.
    #[serde(default)]
    pub always: bool,
    /// What a cleanup step deletes, in words (a template): named as "left
    /// behind" when the step fails.
    #[serde(default)]
    pub cleans: Option<S<String>>,
    /// What a 2xx answer to this step creates that no step can delete, in
    /// words (a template): reported as left behind, never retried.
    #[serde(default)]
    pub leaves: Option<S<String>>,
    #[serde(default)]
    pub poll: Option<S<RawPoll>>,
    #[serde(default)]
    pub budget: Option<S<RawBudget>>,
    #[serde(default)]
    pub expect: Option<RawExpect>,
    #[serde(default)]
    pub capture: BTreeMap<String, S<RawCapture>>,
    // Built-in check kinds: a step has either a `url` (a request) or one of these.
    #[serde(default)]
    pub cors: Option<S<RawCors>>,
    #[serde(default)]
    pub security_headers: Option<S<RawSecurityHeaders>>,
    #[serde(default)]
    pub https_redirect: Option<S<RawHttpsRedirect>>,
    #[serde(default)]
    pub tls: Option<S<RawTls>>,
    #[serde(default)]
    pub error_leaks: Option<S<RawErrorLeaks>>,
    #[serde(default)]
    pub frontend: Option<S<RawFrontend>>,
    #[serde(default)]
    pub api_docs: Option<S<RawApiDocs>>,
    #[serde(default)]
    pub login_timing: Option<S<RawLoginTiming>>,
    #[serde(default)]
    pub for_each: Option<S<RawForEach>>,
}

/// `for_each: { in: LIST, as: ITEM, max: N }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "forEach")]
#[serde(deny_unknown_fields)]
pub struct RawForEach {
    #[serde(rename = "in")]
    pub list: String,
    #[serde(rename = "as")]
    pub item: String,
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub max: Option<usize>,
}

/// CORS semantics of one endpoint for one method.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "cors")]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub url: S<String>,
    /// The method of the real request the preflight asks about (default GET).
    #[serde(default)]
    pub method: Option<S<String>>,
    /// Headers the real request sends (`Access-Control-Request-Headers`).
    #[serde(default)]
    pub request_headers: Vec<S<String>>,
    #[schemars(length(min = 1))]
    pub allowed_origins: Vec<S<String>>,
    /// An origin that must be refused (default: a random `https://….invalid`).
    #[serde(default)]
    pub disallowed_origin: Option<S<String>>,
    /// `true`: allowed origins must get `Access-Control-Allow-Credentials: true`;
    /// `false`: they must not. Unset: not checked.
    #[serde(default)]
    pub credentials: Option<bool>,
    /// Production rules: `http://` and `localhost` origins must be refused (default true).
    #[serde(default)]
    pub production: Option<bool>,
    /// URL of a simple (non-preflighted) cross-origin GET to check as well.
    #[serde(default)]
    pub simple_request: Option<S<String>>,
}

/// Security-header policy over a list of URLs.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "securityHeaders")]
#[serde(deny_unknown_fields)]
pub struct RawSecurityHeaders {
    #[schemars(length(min = 1))]
    pub urls: Vec<S<String>>,
    /// `checklist` (default) or `strict`.
    #[serde(default)]
    pub profile: Option<S<String>>,
    /// Minimum HSTS max-age in seconds (default 31536000).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub hsts_max_age: Option<S<i64>>,
    /// Rules made required / warnings / ignored, overriding the profile.
    #[serde(default)]
    pub require: Vec<S<String>>,
    #[serde(default)]
    pub warn: Vec<S<String>>,
    #[serde(default)]
    pub ignore: Vec<S<String>>,
    /// Request headers sent to every URL.
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// Also judge the first script and stylesheet each HTML page references
    /// on the page's own host (nginx drops server-level headers in a
    /// `location` that adds its own).
    #[serde(default)]
    pub assets: bool,
    /// Other hosts whose assets count as the site's own for `assets`.
    #[serde(default)]
    pub third_party: Vec<S<String>>,
}

/// `http://…` must answer a permanent redirect to the same URL over HTTPS.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "httpsRedirect")]
#[serde(deny_unknown_fields)]
pub struct RawHttpsRedirect {
    pub url: S<String>,
    /// Accept 308 as well as 301 (default false).
    #[serde(default)]
    pub allow_308: bool,
    /// Hops to follow to the final answer (default 5).
    #[serde(default)]
    #[schemars(range(min = 1, max = 20))]
    pub max_hops: Option<S<i64>>,
}

/// The certificate a TLS endpoint presents.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "tls")]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// `https://host[:port]` (a path is ignored).
    pub url: S<String>,
    /// Fail when the earliest expiry in the chain is closer than this (default 14).
    #[serde(default)]
    #[schemars(range(min = 0, max = 3650))]
    pub min_days: Option<S<i64>>,
    /// SNI / name to verify, when it differs from the URL's host.
    #[serde(default)]
    pub server_name: Option<S<String>>,
}

/// Requests that must fail without leaking internals.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "errorLeaks")]
#[serde(deny_unknown_fields)]
pub struct RawErrorLeaks {
    #[schemars(length(min = 1))]
    pub requests: Vec<S<RawLeakRequest>>,
    /// Extra patterns (name → regex), on top of the built-in list.
    #[serde(default)]
    pub patterns: BTreeMap<String, S<String>>,
    /// Built-in pattern groups to leave out.
    #[serde(default)]
    pub ignore: Vec<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "leakRequest")]
#[serde(deny_unknown_fields)]
pub struct RawLeakRequest {
    pub url: S<String>,
    #[serde(default)]
    pub method: Option<S<String>>,
    #[serde(default)]
    pub body: Option<S<String>>,
    #[serde(default)]
    pub content_type: Option<S<String>>,
}

/// The SPA's HTML and the assets it references.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "frontend")]
#[serde(deny_unknown_fields)]
pub struct RawFrontend {
    pub url: S<String>,
    /// Budget for the sum of the assets' uncompressed sizes.
    #[serde(default)]
    pub max_total: Option<S<RawSize>>,
    /// Budget for the sum of the assets' sizes as transferred (compressed).
    #[serde(default)]
    pub max_total_compressed: Option<S<RawSize>>,
    /// Assets of 1 KiB or more must be served compressed (default true).
    #[serde(default)]
    pub require_compression: Option<bool>,
    /// Source maps may be served (default false).
    #[serde(default)]
    pub allow_source_maps: bool,
    /// Other hosts whose assets are fetched and judged like the site's own
    /// (default none: third-party assets are listed, never fetched).
    #[serde(default)]
    pub third_party: Vec<S<String>>,
}

/// The API description (`/openapi.json`, `/docs`, `/redoc`) under an API base
/// must not be public.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "apiDocs")]
#[serde(deny_unknown_fields)]
pub struct RawApiDocs {
    pub base: S<String>,
    /// `warning` (default) or `required`.
    #[serde(default)]
    pub level: Option<S<String>>,
}

/// Logins of a random unknown user and of the probe's real account must take
/// about the same time (user enumeration by timing).
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "loginTiming")]
#[serde(deny_unknown_fields)]
pub struct RawLoginTiming {
    /// The login endpoint (JSON POST).
    pub url: S<String>,
    /// The real account's user name (sent as is).
    pub username: S<String>,
    /// The real account's password: must come from a secret variable.
    pub password: S<String>,
    /// JSON member names of the body (default `username` and `password`).
    #[serde(default)]
    pub username_field: Option<S<String>>,
    #[serde(default)]
    pub password_field: Option<S<String>>,
    /// Logins of each kind per run (default 5, 3 to 20).
    #[serde(default)]
    #[schemars(range(min = 3, max = 20))]
    pub samples: Option<S<i64>>,
    /// A finding when the slower median is more than this many times the
    /// faster one (default 3) …
    #[serde(default)]
    #[schemars(extend("exclusiveMinimum" = 1), range(max = 1000))]
    pub factor: Option<S<f64>>,
    /// … and at least this much slower (default 20ms).
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub floor: Option<S<String>>,
    /// `warning` (default) or `required`.
    #[serde(default)]
    pub level: Option<S<String>>,
}

#[derive(Debug)]
pub enum RawRedirects {
    Flag(bool),
    Hops(i64),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "part")]
#[serde(deny_unknown_fields)]
pub struct RawPart {
    pub name: S<String>,
    #[serde(default)]
    pub value: Option<S<String>>,
    #[serde(default)]
    pub file: Option<S<String>>,
    #[serde(default)]
    pub image: Option<S<RawImage>>,
    #[serde(default)]
    pub filename: Option<S<String>>,
    #[serde(default)]
    pub content_type: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "image")]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    pub format: S<String>,
    pub size: S<RawSize>,
}

#[derive(Debug)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "poll")]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    /// Time between attempts.
    #[schemars(with = "Duration")]
    pub every: S<String>,
    /// Give up after this long.
    #[schemars(with = "Duration")]
    pub within: S<String>,
}

/// `budget: 500ms` (p95) or `budget: {p50: …, p95: …, p99: …}`.
#[derive(Debug)]
pub enum RawBudget {
    P95(String),
    Full(RawBudgetFull),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "percentiles")]
#[serde(deny_unknown_fields)]
pub struct RawBudgetFull {
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub p50: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub p95: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub p99: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "expect")]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    #[serde(default)]
    pub status: Option<S<RawStatus>>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<RawHeaderCheck>>,
    #[serde(default)]
    pub content_type: Option<S<String>>,
    #[serde(default)]
    pub json: Vec<S<RawJsonCheck>>,
    #[serde(default)]
    pub body_contains: Vec<S<String>>,
    #[serde(default)]
    pub body_not_contains: Vec<S<String>>,
    #[serde(default)]
    pub body_size: Option<S<RawRange>>,
    /// Response-time limit for this single request.
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub duration: Option<S<String>>,
}

#[derive(Debug)]
pub enum RawStatus {
    One(i64),
    Many(Vec<i64>),
    Text(String),
}

/// A header check: a plain string means "equals".
#[derive(Debug)]
pub enum RawHeaderCheck {
    Equals(String),
    Full(RawHeaderCheckFull),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "headerCheckOptions")]
#[serde(deny_unknown_fields)]
pub struct RawHeaderCheckFull {
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub matches: Option<String>,
    #[serde(default)]
    pub absent: Option<bool>,
    #[serde(default)]
    pub present: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "jsonCheck")]
#[serde(deny_unknown_fields)]
pub struct RawJsonCheck {
    pub path: S<String>,
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default)]
    pub contains: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub matches: Option<String>,
    #[serde(default)]
    pub count: Option<RawRange>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "range")]
#[serde(deny_unknown_fields)]
pub struct RawRange {
    #[serde(default)]
    pub min: Option<RawSize>,
    #[serde(default)]
    pub max: Option<RawSize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "capture")]
#[serde(deny_unknown_fields)]
pub struct RawCapture {
    #[serde(default)]
    pub json: Option<String>,
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub group: Option<usize>,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub all: bool,
}

/// A findings file (`--accept FILE`): rule failures a team has accepted for
/// a while, each with a reason and an end date.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "findingsFile")]
#[serde(deny_unknown_fields)]
pub struct RawAcceptFile {
    #[serde(default)]
    pub version: Option<S<u32>>,
    pub accepted: Vec<S<RawAccepted>>,
}

/// One accepted finding: which rule failure (flow, step, rule, and optionally
/// the subject and the actual value, as globs), why, and until when.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "finding")]
#[serde(deny_unknown_fields)]
pub struct RawAccepted {
    /// Only needed when two probe files of different targets share the flow name.
    #[serde(default)]
    pub target: Option<S<String>>,
    pub flow: S<String>,
    pub step: S<String>,
    pub rule: S<String>,
    /// Glob on the verdict's subject (`/storage/*`); absent: any subject.
    #[serde(default)]
    pub on: Option<S<String>>,
    /// Glob on the verdict's actual value (`*SAMEORIGIN*`); absent: any value.
    #[serde(default)]
    pub actual: Option<S<String>>,
    pub reason: S<String>,
    /// `YYYY-MM-DD`, inclusive.
    pub until: S<String>,
}

// ---------------------------------------------------------------------------
// Values of more than one shape. Each visitor's `expecting` is what a user
// reads after "expected" (`config::yaml` turns serde's `invalid type: U,
// expected E` around); a `key: ` prefix names the key.

const STATUS_FORMS: &str = "status: a code (200), a list of codes ([200, 204]) or a class or range as text (\"2xx\", \"200-299\")";
const HEADER_CHECK_FORMS: &str = "a header check (a text to equal, or a mapping with one of equals, contains, matches, absent, present)";
const BUDGET_FORMS: &str =
    "budget: a duration like 200ms or a map of p50/p95/p99 (e.g. { p95: 200ms })";
const SIZE_FORMS: &str = "a size in bytes (5000) or with a unit (512KB, 5MB, 5MiB)";
const REDIRECT_FORMS: &str = "follow_redirects: true, false or a hop count from 0 to 20";
const VAR_FORMS: &str = "a variable's value (text, a number, true or false) or a mapping of value, secret, rate_limited, description";

fn whole<E: de::Error>(v: u64) -> Result<i64, E> {
    i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large a number here")))
}

/// Which shapes a scalar-or-mapping value accepts, and how each becomes `T`.
trait Shapes: Sized {
    const EXPECTING: &'static str;
    fn text<E: de::Error>(s: &str) -> Result<Self, E> {
        Err(wrong::<E>(Self::EXPECTING, &format!("`{s}`")))
    }
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Err(wrong::<E>(Self::EXPECTING, &format!("the number {n}")))
    }
    fn float<E: de::Error>(n: f64) -> Result<Self, E> {
        Err(wrong::<E>(Self::EXPECTING, &format!("the number {n}")))
    }
    fn boolean<E: de::Error>(b: bool) -> Result<Self, E> {
        Err(wrong::<E>(Self::EXPECTING, &format!("`{b}`")))
    }
    fn list<'de, A: SeqAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(wrong::<A::Error>(Self::EXPECTING, "a list"))
    }
    fn map<'de, A: MapAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(wrong::<A::Error>(Self::EXPECTING, "a mapping"))
    }
}

/// A custom error (not serde's `invalid_type`): serde-saphyr places a custom
/// error at the value, an `invalid_type` at the key before it.
fn wrong<E: de::Error>(expecting: &str, found: &str) -> E {
    E::custom(super::yaml::expected_found(expecting, found))
}

struct ShapeVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Shapes> Visitor<'de> for ShapeVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::text(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::int(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::int(whole(v)?)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
        T::int(i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large a number here")))?)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<T, E> {
        T::int(i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large a number here")))?)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::float(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::boolean(v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::list(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
}

fn shaped<'de, D: Deserializer<'de>, T: Shapes>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(ShapeVisitor(std::marker::PhantomData))
}

fn map_into<'de, A: MapAccess<'de>, T: Deserialize<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(de::value::MapAccessDeserializer::new(map))
}

impl Shapes for RawVar {
    const EXPECTING: &'static str = VAR_FORMS;
    fn text<E: de::Error>(s: &str) -> Result<Self, E> {
        Ok(RawVar::Text(s.to_string()))
    }
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Ok(RawVar::Number(n as f64))
    }
    fn float<E: de::Error>(n: f64) -> Result<Self, E> {
        Ok(RawVar::Number(n))
    }
    fn boolean<E: de::Error>(b: bool) -> Result<Self, E> {
        Ok(RawVar::Bool(b))
    }
    fn map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        map_into(map).map(RawVar::Full)
    }
}

impl Shapes for RawRedirects {
    const EXPECTING: &'static str = REDIRECT_FORMS;
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Ok(RawRedirects::Hops(n))
    }
    fn boolean<E: de::Error>(b: bool) -> Result<Self, E> {
        Ok(RawRedirects::Flag(b))
    }
}

impl Shapes for RawSize {
    const EXPECTING: &'static str = SIZE_FORMS;
    fn text<E: de::Error>(s: &str) -> Result<Self, E> {
        Ok(RawSize::Text(s.to_string()))
    }
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Ok(RawSize::Bytes(n))
    }
}

impl Shapes for RawBudget {
    const EXPECTING: &'static str = BUDGET_FORMS;
    fn text<E: de::Error>(s: &str) -> Result<Self, E> {
        Ok(RawBudget::P95(s.to_string()))
    }
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Err(E::custom(format!(
            "budget: `{n}` has no unit; write e.g. {n}ms (a budget is a duration like 200ms or a map of p50/p95/p99, e.g. {{ p95: 200ms }})"
        )))
    }
    fn float<E: de::Error>(n: f64) -> Result<Self, E> {
        Err(E::custom(format!(
            "budget: `{n}` has no unit; write e.g. {n}s (a budget is a duration like 200ms or a map of p50/p95/p99, e.g. {{ p95: 200ms }})"
        )))
    }
    fn map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        map_into(map).map(RawBudget::Full)
    }
}

impl Shapes for RawStatus {
    const EXPECTING: &'static str = STATUS_FORMS;
    fn text<E: de::Error>(s: &str) -> Result<Self, E> {
        Ok(RawStatus::Text(s.to_string()))
    }
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Ok(RawStatus::One(n))
    }
    fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut codes = Vec::new();
        while let Some(StatusCode(c)) = seq.next_element()? {
            codes.push(c);
        }
        Ok(RawStatus::Many(codes))
    }
}

/// One code of a `status` list.
struct StatusCode(i64);

impl Shapes for StatusCode {
    const EXPECTING: &'static str = STATUS_FORMS;
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Ok(StatusCode(n))
    }
}

impl Shapes for RawHeaderCheck {
    const EXPECTING: &'static str = HEADER_CHECK_FORMS;
    fn text<E: de::Error>(s: &str) -> Result<Self, E> {
        Ok(RawHeaderCheck::Equals(s.to_string()))
    }
    // `x-count: 5` and `x-flag: true` mean the header's text.
    fn int<E: de::Error>(n: i64) -> Result<Self, E> {
        Ok(RawHeaderCheck::Equals(n.to_string()))
    }
    fn boolean<E: de::Error>(b: bool) -> Result<Self, E> {
        Ok(RawHeaderCheck::Equals(b.to_string()))
    }
    fn map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        map_into(map).map(RawHeaderCheck::Full)
    }
}

macro_rules! deserialize_by_shape {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                shaped(d)
            }
        }
    )*};
}

deserialize_by_shape!(
    RawVar,
    RawRedirects,
    RawSize,
    RawBudget,
    RawStatus,
    StatusCode,
    RawHeaderCheck
);

// ---------------------------------------------------------------------------
// The JSON Schema of the values above (`smokeprobe schema`): the shapes each
// hand-written `Deserialize` accepts, and the text forms the compiler parses.

/// A duration's text form: `humantime::parse_duration`'s grammar (numbers,
/// possibly with decimals, each followed by a unit; spans may be spaced or
/// run together: `1h 30min`, `1m30s`, `1.5s`, `1d`) with at least one
/// non-zero digit (zero is an error). Longer than a day is an error the
/// pattern does not try to say.
pub const DURATION_PATTERN: &str = concat!(r"^(?=[^1-9]*[1-9])", duration_grammar!());

/// `parse_duration`'s grammar without the non-zero look-ahead (which the
/// `regex` crate does not have; a unit test compares it with humantime).
macro_rules! duration_grammar {
    () => {
        concat!(
            r"\s*(?:[0-9][0-9\s]*(?:\.\s*[0-9][0-9\s]*)?",
            r"(?:nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s",
            r"|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d",
            r"|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y)\s*)+$"
        )
    };
}
use duration_grammar;

/// A size's text form (`parse_size`): a number and an optional unit,
/// case-insensitive.
pub const SIZE_PATTERN: &str =
    r"^\s*(?:[0-9]+\.?[0-9]*|\.[0-9]+)\s*(?:[bB]|[kKmM][bB]?|[gG][bB]|[kKmMgG][iI][bB])?\s*$";

/// Schema only: a text field the compiler reads as a duration.
pub struct Duration;

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: numbers with units (ms, s, m or min, h, d, …), e.g. 500ms, 5s, 1h 30min, 1.5s; more than zero and at most a day (1d)",
        })
    }
}

/// Schema only: a text field the compiler reads as a size.
pub struct SizeText;

impl JsonSchema for SizeText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "sizeText".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": SIZE_PATTERN,
            "description": "A size with a unit: 512KB, 5MB (10^6), 5MiB (2^20)",
        })
    }
}

/// A hand-written schema for a type whose `Deserialize` is by shape: its
/// `$defs` name and its schema (built with the generator, for references).
macro_rules! schema_by_shape {
    ($($t:ty => $name:literal, |$g:ident| $schema:expr;)*) => {$(
        impl JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema($g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $schema
            }
        }
    )*};
}

schema_by_shape! {
    RawVar => "var", |g| schemars::json_schema!({
        "description": VAR_FORMS,
        "oneOf": [{ "type": ["string", "number", "boolean"] }, g.subschema_for::<RawVarFull>()],
    });
    RawRedirects => "followRedirects", |_g| schemars::json_schema!({
        "description": REDIRECT_FORMS,
        "oneOf": [{ "type": "boolean" }, { "type": "integer", "minimum": 0, "maximum": 20 }],
    });
    RawSize => "size", |g| schemars::json_schema!({
        "description": SIZE_FORMS,
        "oneOf": [{ "type": "integer", "minimum": 0 }, g.subschema_for::<SizeText>()],
    });
    RawBudget => "budget", |g| schemars::json_schema!({
        "description": BUDGET_FORMS,
        "oneOf": [g.subschema_for::<Duration>(), g.subschema_for::<RawBudgetFull>()],
    });
    RawStatus => "status", |g| schemars::json_schema!({
        "description": STATUS_FORMS,
        "oneOf": [
            g.subschema_for::<StatusCode>(),
            { "type": "array", "minItems": 1, "items": g.subschema_for::<StatusCode>() },
            { "type": "string", "description": "a class (\"2xx\") or a range (\"200-299\")" },
        ],
    });
    StatusCode => "statusCode", |_g| schemars::json_schema!({
        "type": "integer",
        "minimum": 100,
        "maximum": 599,
    });
    RawHeaderCheck => "headerCheck", |g| schemars::json_schema!({
        "description": HEADER_CHECK_FORMS,
        "oneOf": [{ "type": ["string", "integer", "boolean"] }, g.subschema_for::<RawHeaderCheckFull>()],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_pattern_is_humantimes_grammar() {
        let grammar = regex::Regex::new(concat!("^", duration_grammar!())).unwrap();
        for text in [
            "5s",
            "500ms",
            "1h 30min",
            "1h30m",
            "1d",
            "1.5s",
            "5 s",
            "2 hours 1 min",
            "1. 5s",
            "10 µs",
            "3days",
            "1w",
            "1M",
            "1y",
            "0s",
            "0.5ms",
            "1 2s",
            " 5s ",
            "5",
            "5 parsecs",
            "s",
            "5s5",
            "-5s",
            "5sec x",
            "1.s",
            ".5s",
            "5S",
            "5mins",
            "5m s",
            "1h,30m",
            "",
        ] {
            assert_eq!(
                grammar.is_match(text),
                humantime::parse_duration(text.trim()).is_ok(),
                "{text:?}"
            );
        }
        assert!(DURATION_PATTERN.starts_with("^(?=[^1-9]*[1-9])"));
    }
}
