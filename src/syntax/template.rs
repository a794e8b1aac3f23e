//! `${…}` templates: parsed once at validation time, expanded per request.
//!
//! Syntax: `${name}` (a variable or capture), `${env:NAME}`, `${file:path}`,
//! built-ins (`${run_id}`, `${now}`, `${now:-10m}`, `${timestamp}`, `${timestamp_ms}`, `${today}`,
//! `${yesterday}`, `${date:-7}`, `${uuid}`, `${random}`, `${random:N}`) and `$$`
//! for a literal `$`. Environment and file references are resolved when the plan
//! is compiled, so a missing secret is a configuration error, not a failed run.

use crate::builtins;

/// A reference inside `${…}` before compilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawRef {
    Name(String),
    Env(String),
    File(String),
    Builtin(Builtin),
}

/// Values computed at expansion time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Builtin {
    RunId,
    Now,
    /// The current UTC time shifted by this many seconds (`${now:-10m}`).
    NowOffset(i64),
    Timestamp,
    TimestampMs,
    /// Today's UTC date shifted by this many days.
    Date(i64),
    Uuid,
    Random(usize),
}

/// Names that can't be used for variables or captures because they are built-ins.
pub const BUILTIN_NAMES: &[&str] = &[
    "run_id",
    "now",
    "timestamp",
    "timestamp_ms",
    "today",
    "yesterday",
    "uuid",
    "random",
    "date",
    "env",
    "file",
];

/// A parse problem at a byte offset inside the template string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// A parsed, not yet compiled template: literal text and references with their offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Ref { r: RawRef, offset: usize },
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// Splits a template string into literal text and references.
pub fn parse(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = src;
    let mut base = 0usize;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            lit.push('$');
            base += i + 2;
            rest = stripped;
            continue;
        }
        if !after.starts_with('{') {
            lit.push('$');
            base += i + 1;
            rest = after;
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err(TemplateError {
                offset: base + i,
                message: "unclosed `${`: add the closing `}` (write `$$` for a literal `$`)".into(),
            });
        };
        let inner = after[1..end].trim();
        let r = parse_ref(inner).map_err(|message| TemplateError {
            offset: base + i,
            message,
        })?;
        if !lit.is_empty() {
            parts.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        parts.push(Piece::Ref {
            r,
            offset: base + i,
        });
        base += i + 1 + end + 1;
        rest = &after[end + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Piece::Lit(lit));
    }
    Ok(parts)
}

fn parse_ref(inner: &str) -> Result<RawRef, String> {
    if inner.is_empty() {
        return Err("empty `${}`: put a variable name inside".into());
    }
    if let Some((ns, arg)) = inner.split_once(':') {
        let arg = arg.trim();
        return match ns.trim() {
            "env" if !arg.is_empty() => Ok(RawRef::Env(arg.to_string())),
            "file" if !arg.is_empty() => Ok(RawRef::File(arg.to_string())),
            "random" => match arg.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => Ok(RawRef::Builtin(Builtin::Random(n))),
                _ => Err(format!(
                    "`${{random:{arg}}}` needs a length from 1 to 64, like `${{random:8}}`"
                )),
            },
            "date" => match arg.trim_start_matches('+').parse::<i64>() {
                Ok(n) if n.abs() <= 36_500 => Ok(RawRef::Builtin(Builtin::Date(n))),
                _ => Err(format!(
                    "`${{date:{arg}}}` needs a day offset such as `-1` or `+7`"
                )),
            },
            "now" => match parse_offset(arg) {
                Some(secs) => Ok(RawRef::Builtin(Builtin::NowOffset(secs))),
                None => Err(format!(
                    "`${{now:{arg}}}` needs a signed offset with a unit (s, m, h, d), like `-10m` or `+1h`"
                )),
            },
            "env" | "file" => Err(format!("`${{{ns}:}}` needs a name after the colon")),
            other => Err(format!(
                "unknown reference kind `{other}:`; use `env:`, `file:`, `random:`, `date:` or `now:`"
            )),
        };
    }
    let b = match inner {
        "run_id" => Builtin::RunId,
        "now" => Builtin::Now,
        "timestamp" => Builtin::Timestamp,
        "timestamp_ms" => Builtin::TimestampMs,
        "today" => Builtin::Date(0),
        "yesterday" => Builtin::Date(-1),
        "uuid" => Builtin::Uuid,
        "random" => Builtin::Random(8),
        name => {
            if !name.chars().all(is_name_char) {
                return Err(format!(
                    "`{name}` is not a valid variable name (letters, digits, `_`, `-`, `.`)"
                ));
            }
            return Ok(RawRef::Name(name.to_string()));
        }
    };
    Ok(RawRef::Builtin(b))
}

/// `-10m`, `+1h`, `-90s`, `-2d` → seconds (at most ±100 years).
fn parse_offset(arg: &str) -> Option<i64> {
    let (sign, rest) = match arg.as_bytes().first()? {
        b'-' => (-1, &arg[1..]),
        b'+' => (1, &arg[1..]),
        _ => return None,
    };
    let unit = match rest.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let n: i64 = rest[..rest.len() - 1].parse().ok()?;
    let secs = n.checked_mul(unit)?;
    (n >= 0 && secs <= 100 * 366 * 86_400).then_some(sign * secs)
}

/// A compiled template part.
#[derive(Clone, Debug)]
pub enum Part {
    Lit(String),
    /// A value resolved at compile time from the environment or a file.
    Const(String),
    /// A variable or capture looked up in the run's scope.
    Var(String),
    Builtin(Builtin),
}

/// A compiled template, ready to expand.
#[derive(Clone, Debug, Default)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// What expansion needs from the running flow.
pub trait Scope {
    fn get(&self, name: &str) -> Option<&str>;
    fn run_id(&self) -> &str;
}

impl Template {
    pub fn literal(s: &str) -> Template {
        Template {
            parts: vec![Part::Lit(s.to_string())],
        }
    }

    /// Names of variables/captures this template reads.
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// True when the template is plain text with no references at all.
    pub fn is_static(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::Lit(_) | Part::Const(_)))
    }

    /// The value of a template without references to variables or built-ins.
    pub fn static_value(&self) -> Option<String> {
        self.is_static().then(|| {
            self.parts
                .iter()
                .map(|p| match p {
                    Part::Lit(s) | Part::Const(s) => s.as_str(),
                    _ => "",
                })
                .collect()
        })
    }

    /// Expands the template. A missing variable yields `Err(name)`; validation makes
    /// that impossible except for captures that a failed step never set.
    pub fn expand(&self, scope: &dyn Scope) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) | Part::Const(s) => out.push_str(s),
                Part::Var(n) => out.push_str(scope.get(n).ok_or_else(|| n.clone())?),
                Part::Builtin(b) => push_builtin(&mut out, b, scope),
            }
        }
        Ok(out)
    }

    /// Like [`Template::expand`], with every value that is not literal text
    /// passed through `escape` (e.g. for a string inside a JSON path).
    pub fn expand_escaped(
        &self,
        scope: &dyn Scope,
        escape: impl Fn(&str) -> String,
    ) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Const(s) => out.push_str(&escape(s)),
                Part::Var(n) => out.push_str(&escape(scope.get(n).ok_or_else(|| n.clone())?)),
                Part::Builtin(b) => {
                    let mut v = String::new();
                    push_builtin(&mut v, b, scope);
                    out.push_str(&escape(&v));
                }
            }
        }
        Ok(out)
    }

    /// The template as written, with references shown as `${…}` and resolved
    /// constants hidden (they come from the environment or files: often secrets).
    pub fn display(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(&s.replace('$', "$$")),
                Part::Const(_) => out.push_str("***"),
                Part::Var(n) => {
                    out.push_str("${");
                    out.push_str(n);
                    out.push('}');
                }
                Part::Builtin(b) => out.push_str(&builtin_name(b)),
            }
        }
        out
    }
}

fn builtin_name(b: &Builtin) -> String {
    match b {
        Builtin::RunId => "${run_id}".into(),
        Builtin::Now => "${now}".into(),
        Builtin::NowOffset(s) => {
            let (n, unit) = [(86_400, "d"), (3_600, "h"), (60, "m")]
                .into_iter()
                .find(|(u, _)| *s != 0 && s % u == 0)
                .map(|(u, name)| (s / u, name))
                .unwrap_or((*s, "s"));
            format!("${{now:{n:+}{unit}}}")
        }
        Builtin::Timestamp => "${timestamp}".into(),
        Builtin::TimestampMs => "${timestamp_ms}".into(),
        Builtin::Date(0) => "${today}".into(),
        Builtin::Date(n) => format!("${{date:{n}}}"),
        Builtin::Uuid => "${uuid}".into(),
        Builtin::Random(n) => format!("${{random:{n}}}"),
    }
}

fn push_builtin(out: &mut String, b: &Builtin, scope: &dyn Scope) {
    match b {
        Builtin::RunId => out.push_str(scope.run_id()),
        Builtin::Now => out.push_str(&builtins::rfc3339_utc(builtins::unix_now())),
        Builtin::NowOffset(s) => {
            out.push_str(&builtins::rfc3339_utc(builtins::unix_now() + *s as f64))
        }
        Builtin::Timestamp => out.push_str(&(builtins::unix_now() as i64).to_string()),
        Builtin::TimestampMs => out.push_str(&((builtins::unix_now() * 1000.0) as i64).to_string()),
        Builtin::Date(n) => out.push_str(&builtins::date_utc(*n)),
        Builtin::Uuid => out.push_str(&builtins::uuid_v4()),
        Builtin::Random(n) => out.push_str(&builtins::random_alnum(*n)),
    }
}

/// The URL a request goes to, from its template and what the template
/// expanded to at run time: it must be `http://` or `https://`. Compile time
/// checks every URL whose start it knows; this catches the ones that start
/// with a capture (`${photo_url}` captured as `/storage/…` or `shop.example/…`)
/// with a reason that says so, rather than a parse error or a failure to
/// connect to scheme `shop.example`.
pub fn http_url(t: &Template, expanded: &str) -> Result<url::Url, String> {
    let from = match t.parts.first() {
        Some(Part::Var(n)) => format!(" (built from `${{{n}}}`)"),
        _ => String::new(),
    };
    let no_scheme = || {
        let hint = if expanded.starts_with('/') {
            ": it is a path; put the site's base in front of it"
        } else {
            ""
        };
        format!("URL `{expanded}`{from} does not start with http:// or https://{hint}")
    };
    match url::Url::parse(expanded) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => Err(no_scheme()),
        Err(e) => Err(format!("invalid URL `{expanded}`{from}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_refs_and_escapes() {
        let p = parse("a ${x} $${y} $5 ${env:HOME}${random:4}").unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Lit("a ".into()),
                Piece::Ref {
                    r: RawRef::Name("x".into()),
                    offset: 2
                },
                Piece::Lit(" ${y} $5 ".into()),
                Piece::Ref {
                    r: RawRef::Env("HOME".into()),
                    offset: 16
                },
                Piece::Ref {
                    r: RawRef::Builtin(Builtin::Random(4)),
                    offset: 27
                },
            ]
        );
    }

    #[test]
    fn rejects_bad_refs() {
        assert_eq!(parse("x ${abc").unwrap_err().offset, 2);
        assert!(parse("${}").is_err());
        assert!(parse("${random:0}").is_err());
        assert!(parse("${bad name}").is_err());
        assert!(parse("${nope:x}").is_err());
        assert!(parse("${now:10m}").is_err());
        assert!(parse("${now:-10y}").is_err());
        assert!(parse("${now:--1m}").is_err());
        assert!(parse("${now:-99999999999d}").is_err());
    }

    #[test]
    fn now_offsets() {
        assert_eq!(
            parse("${now:-10m}").unwrap(),
            vec![Piece::Ref {
                r: RawRef::Builtin(Builtin::NowOffset(-600)),
                offset: 0
            }]
        );
        assert_eq!(parse_offset("+2d"), Some(172_800));
        assert_eq!(parse_offset("-90s"), Some(-90));
    }
}
