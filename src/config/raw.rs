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
pub use crate::syntax::RawSize;
pub use crate::syntax::forms::{DURATION_PATTERN, Duration, SIZE_PATTERN, SizeText};

use crate::check::{self, RawCheck};

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

/// The keys of the built-in check kinds (`check::KEYS`, made from its one
/// list of kinds): a step has a `url` (a request) or exactly one of these.
pub use crate::check::KEYS as CHECK_KEYS;

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
    pub cors: Option<S<check::cors::Raw>>,
    #[serde(default)]
    pub security_headers: Option<S<check::security_headers::Raw>>,
    #[serde(default)]
    pub https_redirect: Option<S<check::https_redirect::Raw>>,
    #[serde(default)]
    pub tls: Option<S<check::tls::Raw>>,
    #[serde(default)]
    pub error_leaks: Option<S<check::error_leaks::Raw>>,
    #[serde(default)]
    pub frontend: Option<S<check::frontend::Raw>>,
    #[serde(default)]
    pub api_docs: Option<S<check::api_docs::Raw>>,
    #[serde(default)]
    pub login_timing: Option<S<check::login_timing::Raw>>,
    #[serde(default)]
    pub for_each: Option<S<RawForEach>>,
}

impl RawStep {
    /// The built-in checks this step sets (more than one is an error). Every
    /// field is named here, none with `..`: a new field is a compile error
    /// until it is placed, so a check kind's key is never silently ignored.
    pub fn checks(&self) -> Vec<RawCheck<'_>> {
        let RawStep {
            name: _,
            method: _,
            url: _,
            headers: _,
            query: _,
            json: _,
            form: _,
            body: _,
            multipart: _,
            timeout: _,
            follow_redirects: _,
            always: _,
            cleans: _,
            leaves: _,
            poll: _,
            budget: _,
            expect: _,
            capture: _,
            for_each: _,
            cors,
            security_headers,
            https_redirect,
            tls,
            error_leaks,
            frontend,
            api_docs,
            login_timing,
        } = self;
        [
            cors.as_ref().map(RawCheck::Cors),
            security_headers.as_ref().map(RawCheck::SecurityHeaders),
            https_redirect.as_ref().map(RawCheck::HttpsRedirect),
            tls.as_ref().map(RawCheck::Tls),
            error_leaks.as_ref().map(RawCheck::ErrorLeaks),
            frontend.as_ref().map(RawCheck::Frontend),
            api_docs.as_ref().map(RawCheck::ApiDocs),
            login_timing.as_ref().map(RawCheck::LoginTiming),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
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
    use crate::syntax::forms::duration_grammar;

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
