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
use crate::vocab::fmt_duration;

/// The parts of a response that assertions look at.
pub(crate) struct Response {
    pub status: u16,
    pub headers: http::header::HeaderMap,
    pub body: bytes::Bytes,
    pub duration: Duration,
    json: OnceCell<Result<Value, String>>,
}

const SHOW: usize = 160;

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

/// Masks the string values of JSON members whose name says they hold a
/// credential (`access_token`, `password`, `api_key`, `session_id`, …).
/// Declared secrets are redacted by value; this covers the ones a target hands
/// out that the probe file never named (a refresh token in a login response
/// shown because the step failed).
pub(crate) fn mask_credentials(s: &str) -> std::borrow::Cow<'_, str> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r#"(?i)("[^"\\]*(?:token|passw|secret|api[-_]?key|cookie|session|authorization|credential)[^"\\]*"\s*:\s*)"(?:[^"\\]|\\.)*""#,
        )
        .expect("a valid regex")
    });
    if !s.contains('"') {
        return std::borrow::Cow::Borrowed(s);
    }
    re.replace_all(s, r#"$1"***""#)
}

/// Text for a message: one line, credential members masked, at most
/// [`SHOW`] characters (then cut, and the cut marked `…`). A JSON object
/// too long to show whole keeps the members that explain an error (`error`,
/// `message`, `detail`, …) and elides the rest, rather than being cut before
/// them. The cut marks let the redactor find a secret a cut went through, so
/// shortening comes before redaction.
pub(crate) fn shorten(s: &str) -> String {
    let s = mask_credentials(s);
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() > SHOW {
        if let Some(j) = json_excerpt(flat, SHOW) {
            return j;
        }
        let cut: String = flat.chars().take(SHOW).collect();
        format!("{cut}…")
    } else if flat.is_empty() {
        "(empty)".into()
    } else {
        flat.to_string()
    }
}

/// Members of a JSON error body that say what went wrong (ContraVento's
/// `error: {code, message, field}`, FastAPI's `detail`, RFC 7807's `title`
/// and `detail`, OAuth's `error_description`, JSON:API's `errors`).
const EXPLAINS: [&str; 7] = [
    "error",
    "errors",
    "error_description",
    "message",
    "detail",
    "title",
    "code",
];

/// Members whose whole text is at most this long are kept when there is
/// room (`"success":false`, `"status":400`).
const SHORT_MEMBER: usize = 24;

/// Strings inside the kept members are cut to no less than this many
/// characters to make room.
const MIN_STRING: usize = 16;

/// A JSON object shortened to about `max` characters around the members that
/// explain an error: those kept whole if they fit (with the short members
/// that fit too), else with their longest strings cut (short members kept
/// for context unless even that leaves no room), every run of other members
/// shown as `…`, e.g.
/// `{"success":false,…,"error":{"code":"VALIDATION_ERROR","message":"…","field":"email"}}`.
/// None when `text` is not a JSON object or has no such member.
fn json_excerpt(text: &str, max: usize) -> Option<String> {
    if !text.starts_with('{') || serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return None;
    }
    let members = json::members(text)?;
    let explains = |key: &str, value: &str| {
        let k = key.trim_matches('"');
        EXPLAINS.iter().any(|e| e.eq_ignore_ascii_case(k))
            && !matches!(value, "null" | "false" | "\"\"" | "[]" | "{}")
    };
    // (text, kept, explains)
    let mut parts: Vec<(String, bool, bool)> = members
        .iter()
        .map(|(k, v)| {
            let v = json::compact(v);
            let why = explains(k, &v);
            (format!("{k}:{v}"), why, why)
        })
        .collect();
    if !parts.iter().any(|p| p.2) {
        return None;
    }
    let render = |parts: &[(String, bool, bool)]| {
        let mut out: Vec<&str> = Vec::new();
        for (text, keep, _) in parts {
            if *keep {
                out.push(text);
            } else if out.last() != Some(&"…") {
                out.push("…");
            }
        }
        format!("{{{}}}", out.join(","))
    };
    let len = |parts: &[(String, bool, bool)]| render(parts).chars().count();
    let short = |p: &(String, bool, bool)| !p.2 && p.0.chars().count() <= SHORT_MEMBER;
    if len(&parts) <= max {
        // The explaining members fit whole: short ones too, while they fit.
        for i in 0..parts.len() {
            if short(&parts[i]) {
                parts[i].1 = true;
                if len(&parts) > max {
                    parts[i].1 = false;
                }
            }
        }
        return Some(render(&parts));
    }
    // They do not: keep the short ones for context (`"success":false`)
    // while their strings are cut.
    for p in parts.iter_mut() {
        p.1 = p.1 || short(p);
    }
    // Make room in the explaining members: cut their longest strings.
    while len(&parts) > max {
        let over = len(&parts) - max;
        let Some((i, range, chars)) = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.2)
            .flat_map(|(i, (t, _, _))| {
                json::string_values(t).into_iter().map(move |r| {
                    let chars = t[r.clone()].chars().count();
                    (i, r, chars)
                })
            })
            .filter(|(_, _, chars)| *chars > MIN_STRING + 2)
            .max_by_key(|(_, _, chars)| *chars)
        else {
            break;
        };
        let keep_chars = chars.saturating_sub(over + 1).max(MIN_STRING);
        let t = &parts[i].0;
        let cut = json::cut_string(&t[range.clone()], keep_chars);
        if cut.chars().count() >= chars {
            break;
        }
        parts[i].0 = format!("{}{cut}{}", &t[..range.start], &t[range.end..]);
    }
    // Still too long: the short members go, last first.
    for i in (0..parts.len()).rev() {
        if len(&parts) <= max {
            break;
        }
        if !parts[i].2 {
            parts[i].1 = false;
        }
    }
    let out = render(&parts);
    if out.chars().count() > max {
        let cut: String = out.chars().take(max).collect();
        return Some(format!("{cut}…"));
    }
    Some(out)
}

/// A small scanner over JSON text that serde_json has already accepted:
/// spans of an object's members in their order (serde_json's maps are
/// sorted), whitespace removal and string cuts that never split an escape or
/// a UTF-8 character.
mod json {
    use std::ops::Range;

    /// Byte length of the string starting at `s` (which starts with `"`).
    fn string_len(s: &str) -> Option<usize> {
        let b = s.as_bytes();
        let mut i = 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }

    /// Byte length of the value starting at `s`.
    fn value_len(s: &str) -> Option<usize> {
        let b = s.as_bytes();
        match b.first()? {
            b'"' => string_len(s),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut i = 0;
                while i < b.len() {
                    match b[i] {
                        b'"' => {
                            i += string_len(&s[i..])?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                None
            }
            _ => Some(
                b.iter()
                    .position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
                    .unwrap_or(b.len()),
            ),
        }
    }

    fn skip_ws(s: &str, i: usize) -> usize {
        i + s[i..].len() - s[i..].trim_start().len()
    }

    /// (key with its quotes, value) of every member of the object `s`.
    pub(super) fn members(s: &str) -> Option<Vec<(&str, &str)>> {
        let mut out = Vec::new();
        let mut i = skip_ws(s, s.find('{')? + 1);
        while s[i..].starts_with('"') {
            let k = string_len(&s[i..])?;
            let key = &s[i..i + k];
            i = skip_ws(s, i + k);
            i = skip_ws(s, i + s[i..].strip_prefix(':').map(|_| 1)?);
            let v = value_len(&s[i..])?;
            out.push((key, &s[i..i + v]));
            i = skip_ws(s, i + v);
            match s[i..].chars().next()? {
                ',' => i = skip_ws(s, i + 1),
                _ => break,
            }
        }
        Some(out)
    }

    /// `s` without the whitespace between tokens.
    pub(super) fn compact(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let (mut in_str, mut esc) = (false, false);
        for c in s.chars() {
            if in_str {
                out.push(c);
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    in_str = false;
                }
            } else if !c.is_whitespace() {
                out.push(c);
                in_str = c == '"';
            }
        }
        out
    }

    /// Byte ranges of the string values (not the keys) in compact `s`.
    pub(super) fn string_values(s: &str) -> Vec<Range<usize>> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'"' {
                let Some(n) = string_len(&s[i..]) else {
                    break;
                };
                if b.get(i + n) != Some(&b':') {
                    out.push(i..i + n);
                }
                i += n;
            } else {
                i += 1;
            }
        }
        out
    }

    /// The string `s` (with its quotes) cut to about `chars` characters,
    /// the cut marked `…` inside the quotes; an escape stays whole.
    pub(super) fn cut_string(s: &str, chars: usize) -> String {
        let inner = &s[1..s.len() - 1];
        let mut out = String::from("\"");
        let mut n = 0;
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            if n + 3 >= chars {
                break;
            }
            out.push(c);
            n += 1;
            if c == '\\' {
                // `\n`, `\"`, or `\uXXXX`: never split.
                if let Some(e) = it.next() {
                    out.push(e);
                    n += 1;
                    if e == 'u' {
                        for h in it.by_ref().take(4) {
                            out.push(h);
                            n += 1;
                        }
                    }
                }
            }
        }
        out.push_str("…\"");
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_masks_credential_members() {
        let body = r#"{"data":{"access_token":"abc123","expires_in":900,"refresh_token":"x\"y","user":{"username":"probe"}},"Password" : "hunter2","api-key":"k","sessionId":"s"}"#;
        assert_eq!(
            shorten(body),
            r#"{"data":{"access_token":"***","expires_in":900,"refresh_token":"***","user":{"username":"probe"}},"Password" : "***","api-key":"***","sessionId":"***"}"#
        );
        // Names that are not credentials, and non-string values, stay.
        let plain = r#"{"status":"healthy","token_count":3,"title":"token"}"#;
        assert_eq!(shorten(plain), plain);
    }

    /// The real backend's answer to a registration with a reserved e-mail
    /// domain: the old cut lost the field and half the message.
    #[test]
    fn a_long_error_body_keeps_its_error_member() {
        let body = r#"{"success":false,"data":null,"error":{"code":"VALIDATION_ERROR","message":"Error de validación en el campo 'email': value is not a valid email address: The part after the @-sign is a special-use or reserved name that cannot be used with email.","field":"email"}}"#;
        let s = shorten(body);
        assert!(s.chars().count() <= SHOW, "{s}");
        assert!(
            s.starts_with(r#"{"success":false,"data":null,"error":{"code":"VALIDATION_ERROR","message":"Error de validación en el campo 'email'"#),
            "{s}"
        );
        assert!(s.ends_with(r#"…","field":"email"}}"#), "{s}");
    }

    #[test]
    fn members_around_the_error_are_elided_not_the_error() {
        let body = format!(
            r#"{{"success":false,"data":{{"trips":[{}]}},"error":{{"code":"FORBIDDEN","message":"[Errno 13] Permission denied: 'storage/trip_photos/x.jpg'"}},"meta":{{"took":"{}"}}}}"#,
            r#"{"trip_id":"c2fc34e3-0000-4000-8000-000000000000"},"#.repeat(20) + "{}",
            "x".repeat(300)
        );
        assert_eq!(
            shorten(&body),
            r#"{"success":false,…,"error":{"code":"FORBIDDEN","message":"[Errno 13] Permission denied: 'storage/trip_photos/x.jpg'"},…}"#
        );
        // FastAPI's `detail`, pretty-printed: whitespace between tokens goes.
        let body = format!(
            "{{\n  \"debug\": \"{}\",\n  \"detail\": \"Method Not Allowed\"\n}}",
            "y".repeat(200)
        );
        assert_eq!(shorten(&body), r#"{…,"detail":"Method Not Allowed"}"#);
    }

    #[test]
    fn other_bodies_are_cut_as_before() {
        let cut = |s: &str| format!("{}…", s.chars().take(SHOW).collect::<String>());
        // Not JSON, JSON without an explaining member, a JSON array.
        let html = format!("<html><body>{}</body></html>", "é".repeat(300));
        assert_eq!(shorten(&html), cut(&html));
        let data = format!(r#"{{"data":"{}","error":null}}"#, "z".repeat(300));
        assert_eq!(shorten(&data), cut(&data));
        let list = format!(r#"[{{"message":"{}"}}]"#, "w".repeat(300));
        assert_eq!(shorten(&list), cut(&list));
        // Broken JSON that looks like it.
        let broken = format!(r#"{{"error":{{"message":"{}""#, "v".repeat(300));
        assert_eq!(shorten(&broken), cut(&broken));
    }

    #[test]
    fn a_cut_never_splits_an_escape_or_a_character() {
        let msg = "\\u00e9\\\"ñ😀".repeat(60);
        let body = format!(r#"{{"error":{{"message":"{msg}","code":"E"}}}}"#);
        let s = shorten(&body);
        assert!(s.chars().count() <= SHOW + 1, "{s}");
        assert!(s.contains(r#""code":"E""#), "{s}");
        // Every escape before the cut mark is whole.
        let head = s.split('…').next().unwrap();
        let tail = head.rsplit("\\").next().unwrap();
        assert!(tail.starts_with('"') || tail.starts_with("u00e9"), "{s}");
    }

    proptest::proptest! {
        /// Whatever the body: no panic, never much over the limit, and an
        /// error member that fits is shown whole.
        #[test]
        fn shortened_json_stays_short_and_keeps_a_short_error(
            pad in proptest::collection::vec(("[a-z_]{1,12}", "\\PC{0,80}"), 0..12),
            code in "[A-Z_]{1,20}",
            message in "\\PC{0,40}",
            error_at in 0usize..12,
        ) {
            let mut members: Vec<(String, serde_json::Value)> = pad
                .into_iter()
                .filter(|(k, _)| !EXPLAINS.contains(&k.as_str()))
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let error = serde_json::json!({"code": code, "message": message});
            let at = error_at.min(members.len());
            members.insert(at, ("error".to_string(), error.clone()));
            let body = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k.clone())))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let s = shorten(&body);
            proptest::prop_assert!(s.chars().count() <= SHOW + 1, "{}", s);
            let whole = format!(r#""error":{}"#, mask_credentials(&error.to_string()).trim());
            if whole.chars().count() + 2 <= SHOW && !whole.chars().any(|c| c.is_control()) {
                proptest::prop_assert!(s.contains(&whole), "{} not in {}", whole, s);
            }
        }
    }
}
