//! Serde types that mirror the probe-file YAML one to one. Nothing here is
//! validated beyond its shape: `compile` turns these into a [`super::Plan`].
//! Fields that later checks may complain about are `Spanned` so that the
//! complaint can point at the right line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    #[serde(default)]
    pub version: Option<S<u32>>,
    /// Name of the target this file probes (a metric label; defaults to the file stem).
    #[serde(default)]
    pub target: Option<S<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, S<RawVar>>,
    #[serde(default)]
    pub defaults: RawDefaults,
    pub flows: Vec<S<RawFlow>>,
}

/// A variable: a plain scalar, or a mapping with options.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawVar {
    Text(String),
    Number(f64),
    Bool(bool),
    Full(RawVarFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVarFull {
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    #[serde(default)]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    pub deadline: Option<S<String>>,
    #[serde(default)]
    pub interval: Option<S<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub max_body: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Opt-in flows run only when selected by name (`--flow NAME`).
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub interval: Option<S<String>>,
    #[serde(default)]
    pub deadline: Option<S<String>>,
    /// Flow-level variables, evaluated once at the start of every run.
    #[serde(default)]
    pub vars: BTreeMap<String, S<String>>,
    pub steps: Vec<S<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Required; optional here so that a missing one is reported at the step.
    #[serde(default)]
    pub name: Option<S<String>>,
    #[serde(default)]
    pub method: Option<S<String>>,
    /// Required; optional here so that a missing one is reported at the step.
    #[serde(default)]
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
    pub timeout: Option<S<String>>,
    /// `false` (default), `true` (up to 10 hops) or a hop count.
    #[serde(default)]
    pub follow_redirects: Option<S<RawRedirects>>,
    /// Cleanup: runs even when an earlier step failed.
    #[serde(default)]
    pub always: bool,
    #[serde(default)]
    pub poll: Option<S<RawPoll>>,
    #[serde(default)]
    pub budget: Option<S<RawBudget>>,
    #[serde(default)]
    pub expect: Option<RawExpect>,
    #[serde(default)]
    pub capture: BTreeMap<String, S<RawCapture>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawRedirects {
    Flag(bool),
    Hops(i64),
}

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    pub format: S<String>,
    pub size: S<RawSize>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    /// Time between attempts.
    pub every: S<String>,
    /// Give up after this long.
    pub within: S<String>,
}

/// `budget: 500ms` (p95) or `budget: {p50: …, p95: …, p99: …}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawBudget {
    P95(String),
    Full(RawBudgetFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudgetFull {
    #[serde(default)]
    pub p50: Option<String>,
    #[serde(default)]
    pub p95: Option<String>,
    #[serde(default)]
    pub p99: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
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
    pub duration: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStatus {
    One(i64),
    Many(Vec<i64>),
    Text(String),
}

/// A header check: a plain string means "equals".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawHeaderCheck {
    Equals(String),
    Full(RawHeaderCheckFull),
}

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRange {
    #[serde(default)]
    pub min: Option<RawSize>,
    #[serde(default)]
    pub max: Option<RawSize>,
}

#[derive(Debug, Deserialize)]
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
}
