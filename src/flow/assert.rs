//! Judging a response: assertions and captures. Everything here is total: no
//! input a target can send makes it panic, and every verdict says what was
//! expected and what came back.

use std::cell::OnceCell;
use std::time::Duration;

use serde_json::Value;
use serde_json_path::JsonPath;

use super::CheckResult;
use crate::config::template::Scope;
use crate::config::{Assertion, Capture, CaptureSource, HeaderCheck, JsonCheck, JsonTemplate};
use crate::outcome::shorten::shorten;
use crate::vocab::fmt_duration;

/// The parts of a response that assertions look at.
pub(crate) struct Response {
    pub status: u16,
    pub headers: http::header::HeaderMap,
    pub body: bytes::Bytes,
    pub duration: Duration,
    json: OnceCell<Result<Value, String>>,
}

impl Response {
    pub fn new(
        status: u16,
        headers: http::header::HeaderMap,
        body: bytes::Bytes,
        duration: Duration,
    ) -> Self {
        Response {
            status,
            headers,
            body,
            duration,
            json: OnceCell::new(),
        }
    }

    fn json(&self) -> Result<&Value, &str> {
        self.json
            .get_or_init(|| {
                serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON: {e}"))
            })
            .as_ref()
            .map_err(|e| e.as_str())
    }

    fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    fn header(&self, name: &str) -> Option<String> {
        let vals: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!vals.is_empty()).then(|| vals.join(", "))
    }

    /// A short, single-line view of the body for messages.
    pub fn snippet(&self) -> String {
        shorten(&self.text())
    }
}

fn check(check: String, passed: bool, expected: String, actual: String) -> CheckResult {
    CheckResult::new(check, passed, expected, actual)
}

pub(crate) fn expand_json(t: &JsonTemplate, scope: &dyn Scope) -> Result<Value, String> {
    Ok(match t {
        JsonTemplate::Literal(v) => v.clone(),
        JsonTemplate::String(t) => Value::String(t.expand(scope)?),
        JsonTemplate::Array(a) => Value::Array(
            a.iter()
                .map(|x| expand_json(x, scope))
                .collect::<Result<_, _>>()?,
        ),
        JsonTemplate::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), expand_json(x, scope)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn show_nodes(nodes: &[&Value]) -> String {
    match nodes {
        [] => "nothing".into(),
        [one] => shorten(&one.to_string()),
        many => shorten(&Value::Array(many.iter().map(|v| (*v).clone()).collect()).to_string()),
    }
}

/// Equality that treats 1 and 1.0 as the same number.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Evaluates one assertion. `Err` only when a template needed a missing variable.
pub(crate) fn evaluate(
    a: &Assertion,
    r: &Response,
    scope: &dyn Scope,
) -> Result<CheckResult, String> {
    Ok(match a {
        Assertion::Status(m) => check(
            "status".into(),
            m.matches(r.status),
            m.describe(),
            r.status.to_string(),
        ),
        Assertion::Header { name, check: hc } => header(name, hc, r, scope)?,
        Assertion::ContentType(want) => content_type(want, r),
        Assertion::Json {
            path_src,
            path,
            check: jc,
        } => json(path_src, path, jc, r, scope)?,
        Assertion::BodyContains(t) => {
            let want = t.expand(scope)?;
            let ok = r.text().contains(&want);
            check("body contains".into(), ok, shorten(&want), r.snippet())
        }
        Assertion::BodyNotContains(t) => body_not_contains(t, r, scope)?,
        Assertion::BodySize { min, max } => {
            let n = r.body.len() as u64;
            let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
            check(
                "body size".into(),
                ok,
                range_text(*min, *max),
                format!("{n} bytes"),
            )
        }
        Assertion::Duration(limit) => check(
            "response time".into(),
            r.duration <= *limit,
            format!("≤ {}", fmt_duration(*limit)),
            fmt_duration(r.duration),
        ),
    })
}

/// `header:` rules: equals, contains, matches, absent, present.
fn header(
    name: &str,
    hc: &HeaderCheck,
    r: &Response,
    scope: &dyn Scope,
) -> Result<CheckResult, String> {
    Ok({
        let actual = r.header(name);
        let shown = actual.clone().unwrap_or_else(|| "(absent)".into());
        match hc {
            HeaderCheck::Equals(t) => {
                let want = t.expand(scope)?;
                let ok = actual.as_deref().is_some_and(|v| v.trim() == want);
                check(format!("header {name} equals"), ok, want, shown)
            }
            HeaderCheck::Contains(t) => {
                let want = t.expand(scope)?;
                let ok = actual
                    .as_deref()
                    .is_some_and(|v| v.to_ascii_lowercase().contains(&want.to_ascii_lowercase()));
                check(format!("header {name} contains"), ok, want, shown)
            }
            HeaderCheck::Matches(re) => {
                let ok = actual.as_deref().is_some_and(|v| re.is_match(v));
                check(
                    format!("header {name} matches"),
                    ok,
                    format!("/{}/", re.as_str()),
                    shown,
                )
            }
            HeaderCheck::Absent => check(
                format!("header {name} absent"),
                actual.is_none(),
                "(absent)".into(),
                shown,
            ),
            HeaderCheck::Present => check(
                format!("header {name} present"),
                actual.is_some(),
                "(present)".into(),
                shown,
            ),
        }
    })
}

/// `content_type:`: the media type, or the whole value when it names parameters.
fn content_type(want: &str, r: &Response) -> CheckResult {
    let actual = r.header("content-type").unwrap_or_default();
    let media = actual
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ok = if want.contains(';') {
        actual.to_ascii_lowercase().replace(' ', "") == want.replace(' ', "")
    } else {
        media == *want
    };
    check(
        "content type".into(),
        ok,
        want.to_string(),
        if actual.is_empty() {
            "(absent)".into()
        } else {
            actual
        },
    )
}

/// `json:` rules: the body parsed, the path queried, then one check.
fn json(
    path_src: &str,
    path: &JsonPath,
    jc: &JsonCheck,
    r: &Response,
    scope: &dyn Scope,
) -> Result<CheckResult, String> {
    Ok({
        let label = |what: &str| format!("json {path_src} {what}");
        let doc = match r.json() {
            Ok(v) => v,
            Err(e) => {
                return Ok(check(
                    label("(body)"),
                    false,
                    "a JSON body".into(),
                    format!("{e}; body: {}", r.snippet()),
                ));
            }
        };
        let nodes: Vec<&Value> = path.query(doc).all();
        match jc {
            JsonCheck::Exists(want) => check(
                label("exists"),
                nodes.is_empty() != *want,
                if *want {
                    "a match".into()
                } else {
                    "no match".into()
                },
                show_nodes(&nodes),
            ),
            JsonCheck::Equals(t) => {
                let want = expand_json(t, scope)?;
                let ok = nodes.len() == 1 && json_eq(nodes[0], &want);
                check(
                    label("equals"),
                    ok,
                    shorten(&want.to_string()),
                    show_nodes(&nodes),
                )
            }
            JsonCheck::Contains(t) => {
                let want = expand_json(t, scope)?;
                // Contains: any matched node equals it, or is an array holding it,
                // or is a string containing it.
                let ok = nodes.iter().any(|n| match (n, &want) {
                    (Value::Array(items), w) => items.iter().any(|i| json_eq(i, w)),
                    (Value::String(s), Value::String(w)) => s.contains(w.as_str()),
                    (n, w) => json_eq(n, w),
                });
                check(
                    label("contains"),
                    ok,
                    shorten(&want.to_string()),
                    show_nodes(&nodes),
                )
            }
            JsonCheck::Type(t) => {
                let ok = !nodes.is_empty() && nodes.iter().all(|n| t.accepts(n));
                let actual = match nodes.as_slice() {
                    [] => "nothing".to_string(),
                    ns => ns
                        .iter()
                        .map(|n| crate::config::JsonType::of(n))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                check(label("type"), ok, t.name().into(), actual)
            }
            JsonCheck::Matches(re) => {
                let ok = !nodes.is_empty()
                    && nodes.iter().all(|n| match n {
                        Value::String(s) => re.is_match(s),
                        other => re.is_match(&other.to_string()),
                    });
                check(
                    label("matches"),
                    ok,
                    format!("/{}/", re.as_str()),
                    show_nodes(&nodes),
                )
            }
            JsonCheck::Count { min, max } => {
                // Count of matched nodes, or of elements when one array matched.
                let n = match nodes.as_slice() {
                    [Value::Array(a)] => a.len() as u64,
                    ns => ns.len() as u64,
                };
                let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
                check(label("count"), ok, range_text(*min, *max), n.to_string())
            }
        }
    })
}

/// `body_not_contains:`, showing where the text was found.
fn body_not_contains(
    t: &crate::config::template::Template,
    r: &Response,
    scope: &dyn Scope,
) -> Result<CheckResult, String> {
    Ok({
        let want = t.expand(scope)?;
        let text = r.text();
        let at = text.find(&want);
        let actual = match at {
            Some(i) => {
                let start = text[..i]
                    .char_indices()
                    .rev()
                    .nth(40)
                    .map(|(j, _)| j)
                    .unwrap_or(0);
                format!("found: …{}", shorten(&text[start..]))
            }
            None => "not found".into(),
        };
        check(
            "body does not contain".into(),
            at.is_none(),
            shorten(&want),
            actual,
        )
    })
}

fn range_text(min: Option<u64>, max: Option<u64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}..={b}"),
        (Some(a), None) => format!("≥ {a}"),
        (None, Some(b)) => format!("≤ {b}"),
        (None, None) => "any".into(),
    }
}

/// Runs a capture; `Err` is a one-line reason.
pub(crate) fn capture(c: &Capture, r: &Response, scope: &dyn Scope) -> Result<String, String> {
    let dynamic;
    let (src, path) = match &c.source {
        CaptureSource::Json { src, path } => (src.as_str(), path),
        CaptureSource::JsonTemplate { src } => {
            let text = src
                .expand_escaped(scope, jsonpath_string_escape)
                .map_err(|v| format!("variable `{v}` is not set"))?;
            dynamic = JsonPath::parse(&text)
                .map_err(|e| format!("the expanded JSON path is invalid: {e}"))?;
            return json_capture(c, r, &src.display(), &dynamic);
        }
        CaptureSource::Header(h) => {
            return r
                .header(h)
                .ok_or_else(|| format!("response has no `{h}` header"));
        }
        CaptureSource::Regex { re, group } => {
            let text = r.text();
            return re
                .captures(&text)
                .and_then(|caps| caps.get(*group))
                .map(|m| m.as_str().to_string())
                .ok_or_else(|| {
                    format!("/{}/ did not match the body ({})", re.as_str(), r.snippet())
                });
        }
    };
    json_capture(c, r, src, path)
}

/// A value inside a single-quoted JSONPath string literal (RFC 9535).
fn jsonpath_string_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn json_capture(c: &Capture, r: &Response, src: &str, path: &JsonPath) -> Result<String, String> {
    let doc = r.json().map_err(|e| e.to_string())?;
    let matches = path.query(doc).all();
    if c.all {
        let list: Vec<&Value> = matches.into_iter().collect();
        return serde_json::to_string(&list).map_err(|e| e.to_string());
    }
    match matches.first() {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(format!("{src} matched nothing (body: {})", r.snippet())),
        Some(v) => Ok(v.to_string()),
    }
}

#[cfg(test)]
mod jsonpath_tests {
    use super::*;

    #[test]
    fn values_stay_inside_a_single_quoted_jsonpath_string() {
        let nasty = r"o'brien\' || 1==1 || '";
        let path = format!(
            "$.items[?@.owner == '{}'].id",
            jsonpath_string_escape(nasty)
        );
        let p = JsonPath::parse(&path).expect("escaped value keeps the path valid");
        let doc = serde_json::json!({"items": [
            {"owner": nasty, "id": 1},
            {"owner": "someone", "id": 2},
        ]});
        let ids: Vec<&Value> = p.query(&doc).all();
        assert_eq!(ids, vec![&serde_json::json!(1)]);
        let ctl = jsonpath_string_escape("a\nb");
        assert_eq!(ctl, "a\\u000ab");
    }
}
