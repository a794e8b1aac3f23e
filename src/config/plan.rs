//! The compiled plan: what the runner executes. Everything here was validated
//! by `compile`; nothing downstream re-parses a template, a path or a duration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde_json_path::JsonPath;

use super::error::Pos;
use super::template::Template;
use crate::imagegen::ImageFormat;

/// A validated set of probe files.
#[derive(Clone, Debug)]
pub struct Plan {
    pub flows: Vec<Flow>,
    /// Values known to be secret at compile time (env/file secrets, secret vars
    /// without run-time parts); captured secrets are added per run.
    pub secrets: Vec<String>,
    pub settings: Settings,
    /// Accepted findings (`--accept FILE`), validated against the flows; the
    /// runner applies them at the end of every flow run.
    pub accepted: Vec<Accepted>,
    /// Lint mode only (`Inputs::values_optional`: `check`, `rules`): the
    /// values a run needs that were not given. Empty in a plan that runs.
    pub needs: Vec<RunNeed>,
}

/// A value a run needs that lint mode (`check`) was not given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunNeed {
    pub kind: NeedKind,
    /// The variable, environment variable or file.
    pub name: String,
    /// How to provide it, or what reads it.
    pub how: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NeedKind {
    /// A declared variable without a value (`secret` as declared).
    Var { secret: bool },
    /// `${env:NAME}` with NAME unset.
    Env,
    /// `${file:PATH}` that cannot be read now.
    File,
}

/// Process-wide knobs that are not per step.
#[derive(Clone, Debug)]
pub struct Settings {
    pub max_body: u64,
    pub user_agent: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_body: 10 * 1024 * 1024,
            user_agent: format!("smokeprobe/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct VarDef {
    pub name: String,
    pub value: Template,
    pub secret: bool,
    /// A 429 to a request carrying this secret is rate limiting, not a
    /// refusal (API keys); for passwords it is a lockout.
    pub rate_limited: bool,
}

#[derive(Clone, Debug)]
pub struct Flow {
    pub name: String,
    /// Target name (from the file's `target:` or its stem): a metric label.
    pub target: String,
    pub file: PathBuf,
    pub pos: Pos,
    pub description: Option<String>,
    /// Checklist heading (e.g. `Security`); flows without one are listed first.
    pub group: Option<String>,
    pub optional: bool,
    pub interval: Duration,
    pub deadline: Duration,
    /// The file's variables in dependency order (each may use the ones before it).
    pub globals: Arc<Vec<VarDef>>,
    /// The flow's own variables, evaluated after the globals at the start of a run.
    pub vars: Vec<VarDef>,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub pos: Pos,
    pub method: http::Method,
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    pub query: Vec<(String, Template)>,
    pub body: Body,
    pub timeout: Duration,
    /// Maximum redirect hops to follow; 0 means do not follow.
    pub redirects: u8,
    pub always: bool,
    /// What this cleanup step deletes (`cleans:`), shown as "left behind"
    /// when it fails; without it, the captured values it uses.
    pub cleans: Option<Template>,
    /// What a 2xx answer to this step creates and no step can delete
    /// (`leaves:`): reported as left behind, never retried.
    pub leaves: Option<Template>,
    pub poll: Option<Poll>,
    pub budget: Option<Budget>,
    pub asserts: Vec<Assertion>,
    pub captures: Vec<Capture>,
    /// Variables this step reads that come from captures of earlier steps.
    pub needs: Vec<String>,
    pub max_body: u64,
    /// A built-in check instead of a request (then `url` is the check's main URL,
    /// for display, and the request fields are unused).
    pub check: Option<Check>,
    /// Run the request once per element of a captured JSON list.
    pub for_each: Option<ForEach>,
}

/// `for_each: { in: LIST, as: ITEM, max: N }`: the step's request runs once per
/// element of the JSON array held by `LIST`, with `${ITEM}` bound to it.
#[derive(Clone, Debug)]
pub struct ForEach {
    pub list: String,
    pub item: String,
    pub max: usize,
}

/// The built-in check kinds, one module each under `crate::check`; the words
/// both sides share in `crate::vocab`.
pub use crate::check::Check;

#[derive(Clone, Debug)]
pub enum Body {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
    Text(Template),
    Multipart(Vec<PartSpec>),
}

/// A JSON value whose strings are templates.
#[derive(Clone, Debug)]
pub enum JsonTemplate {
    Literal(serde_json::Value),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

#[derive(Clone, Debug)]
pub struct PartSpec {
    pub name: String,
    pub source: PartSource,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Clone, Debug)]
pub enum PartSource {
    Value(Template),
    /// File contents, read at compile time (so a missing file is a config error).
    File(Arc<Vec<u8>>),
    Image {
        format: ImageFormat,
        size: usize,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Poll {
    pub every: Duration,
    pub within: Duration,
}

/// Latency budget for a step over the samples of a run (one-shot) or a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Budget {
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
}

#[derive(Clone, Debug)]
pub enum StatusMatch {
    One(u16),
    Set(Vec<u16>),
    Range(u16, u16),
}

impl StatusMatch {
    pub fn matches(&self, s: u16) -> bool {
        match self {
            StatusMatch::One(x) => *x == s,
            StatusMatch::Set(v) => v.contains(&s),
            StatusMatch::Range(a, b) => (*a..=*b).contains(&s),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StatusMatch::One(x) => x.to_string(),
            StatusMatch::Set(v) => v
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" or "),
            StatusMatch::Range(a, b) if a % 100 == 0 && *b == a + 99 => format!("{}xx", a / 100),
            StatusMatch::Range(a, b) => format!("{a}-{b}"),
        }
    }
}

#[derive(Clone, Debug)]
pub enum HeaderCheck {
    Equals(Template),
    Contains(Template),
    Matches(Regex),
    Absent,
    Present,
}

#[derive(Clone, Debug)]
pub enum JsonCheck {
    Equals(JsonTemplate),
    Exists(bool),
    /// Array contains an element equal to it, or string contains the substring.
    Contains(JsonTemplate),
    Type(JsonType),
    Matches(Regex),
    Count {
        min: Option<u64>,
        max: Option<u64>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

impl JsonType {
    pub fn parse(s: &str) -> Option<JsonType> {
        Some(match s {
            "string" => JsonType::String,
            "number" => JsonType::Number,
            "integer" => JsonType::Integer,
            "boolean" | "bool" => JsonType::Boolean,
            "array" => JsonType::Array,
            "object" => JsonType::Object,
            "null" => JsonType::Null,
            _ => return None,
        })
    }

    pub fn of(v: &serde_json::Value) -> &'static str {
        match v {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        }
    }

    pub fn accepts(&self, v: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (self, v) {
            (JsonType::String, V::String(_)) => true,
            (JsonType::Number, V::Number(_)) => true,
            (JsonType::Integer, V::Number(n)) => n.is_i64() || n.is_u64(),
            (JsonType::Boolean, V::Bool(_)) => true,
            (JsonType::Array, V::Array(_)) => true,
            (JsonType::Object, V::Object(_)) => true,
            (JsonType::Null, V::Null) => true,
            _ => false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Assertion {
    Status(StatusMatch),
    Header {
        name: String,
        check: HeaderCheck,
    },
    ContentType(String),
    Json {
        path_src: String,
        path: JsonPath,
        check: JsonCheck,
    },
    BodyContains(Template),
    BodyNotContains(Template),
    BodySize {
        min: Option<u64>,
        max: Option<u64>,
    },
    Duration(Duration),
}

#[derive(Clone, Debug)]
pub enum CaptureSource {
    Json {
        src: String,
        path: JsonPath,
    },
    /// A JSON path with `${…}` references, expanded (values escaped for a
    /// single-quoted JSONPath string) and parsed per run.
    JsonTemplate {
        src: Template,
    },
    Header(String),
    Regex {
        re: Regex,
        group: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Capture {
    pub name: String,
    pub source: CaptureSource,
    pub secret: bool,
    /// Every match as a JSON array (`[]` when nothing matches) instead of the first.
    pub all: bool,
}

/// One accepted finding from a findings file (`--accept FILE`): a failing
/// rule verdict of a built-in check that does not fail the run while its
/// `until` date has not passed.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub target: String,
    pub flow: String,
    pub step: String,
    pub rule: String,
    /// On the verdict's subject (`on`); `None` matches any subject.
    pub on: Option<Glob>,
    /// On the verdict's actual value; `None` matches any value.
    pub actual: Option<Glob>,
    pub reason: String,
    /// `YYYY-MM-DD` as written.
    pub until: String,
    /// `until` as a UTC day number (days since 1970-01-01), inclusive.
    pub until_day: i64,
    pub file: PathBuf,
    pub pos: Pos,
}

impl Accepted {
    /// `FILE:LINE`: names the entry in reports, metrics never see it.
    pub fn id(&self) -> String {
        format!("{}:{}", self.file.display(), self.pos.line)
    }

    /// Its `until` day is over (`today` is a UTC day number).
    pub fn expired(&self, today: i64) -> bool {
        today > self.until_day
    }

    /// Whether a failed verdict of this entry's step is the accepted finding.
    pub fn matches(&self, rule: &str, on: Option<&str>, actual: &str) -> bool {
        self.rule == rule
            && self.on.as_ref().is_none_or(|g| g.matches(on.unwrap_or("")))
            && self.actual.as_ref().is_none_or(|g| g.matches(actual))
    }
}

/// A glob as findings files write subjects: `*` is any run of characters
/// (`/` included, so `/storage/*` covers every photo URL), `?` one character,
/// `\` makes the next character literal. Everything else is itself; the
/// whole text must match. Hand-written: a dozen lines, where a crate would
/// bring path semantics we do not want.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    tokens: Vec<GlobToken>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GlobToken {
    Any,
    One,
    Char(char),
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => GlobToken::Any,
                '?' => GlobToken::One,
                '\\' => GlobToken::Char(chars.next().unwrap_or('\\')),
                c => GlobToken::Char(c),
            });
        }
        Glob {
            pattern: pattern.to_string(),
            tokens,
        }
    }

    /// `text` with `*`, `?` and `\` escaped: a glob that matches exactly it.
    pub fn escape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if matches!(c, '*' | '?' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The classic linear wildcard match: on a mismatch, the last `*` takes
    /// one more character.
    pub fn matches(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        let p = &self.tokens;
        let (mut ti, mut pi) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(GlobToken::Any) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                Some(GlobToken::One) => {
                    ti += 1;
                    pi += 1;
                }
                Some(GlobToken::Char(c)) if *c == t[ti] => {
                    ti += 1;
                    pi += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|t| *t == GlobToken::Any)
    }
}

pub use crate::syntax::template::http_url;

#[cfg(test)]
mod glob_tests {
    use super::Glob;

    #[test]
    fn globs_match_whole_subjects() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(g("/storage/*", "/storage/trip_photos/2026/12/a_b.jpg"));
        assert!(!g("/storage/*", "/api/storage/x"));
        assert!(g("/", "/"));
        assert!(!g("/", "/assets/x.js"));
        assert!(g("*", ""));
        assert!(g("/assets/*.js", "/assets/index-3f9a1c.js"));
        assert!(!g("/assets/*.js", "/assets/index-3f9a1c.css"));
        assert!(g("*SAMEORIGIN*", "X-Frame-Options `SAMEORIGIN`"));
        assert!(g("a?c", "abc") && !g("a?c", "ac"));
        assert!(g("*a*b*", "xxaxxbxx") && !g("*a*b*", "xxbxxaxx"));
        assert!(g(r"what\?", "what?") && !g(r"what\?", "whatx"));
        assert!(g(&Glob::escape("a*b?c\\"), "a*b?c\\"));
        assert!(!g(&Glob::escape("a*b"), "aXXb"));
        assert!(g("préflight *", "préflight from https://x"));
    }
}
