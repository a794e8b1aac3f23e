//! Text for a message: one line, credential-named JSON members masked, at
//! most [`SHOW`] characters, a cut marked `…`. Below the runner, the checks
//! and step failures, which all show a target's text this way; shortening
//! comes before redaction, so the redactor sees every cut.

pub(crate) const SHOW: usize = 160;

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
