//! JSON paths (RFC 9535, `serde_json_path`), and what is wrong with one that
//! does not parse, in words: the parser itself says `at position 6, parser
//! error`, which tells the person writing the probe file neither what is
//! wrong nor what it expected.

use serde_json_path::JsonPath;

/// A problem in a JSON path: where (a byte offset into the path) and what.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PathProblem {
    pub offset: usize,
    /// What is wrong, with the character it is at.
    pub what: String,
}

impl PathProblem {
    /// The whole sentence, naming the path as written.
    pub fn message(&self, written: &str) -> String {
        format!("invalid JSON path `{written}`: {}", self.what)
    }
}

const EXAMPLES: &str =
    "JSON paths look like `$.data.items[0].id` or `$.data[?@.id == 1]` (RFC 9535)";

/// Parses `src`; on failure, says what is wrong and where.
pub(crate) fn parse(src: &str) -> Result<JsonPath, PathProblem> {
    let err = match JsonPath::parse(src) {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let (offset, what) = diagnose(src).unwrap_or_else(|| {
        let at = err.position().min(src.len());
        (at, from_parser(src, at, err.message()))
    });
    let chars = src[..offset.min(src.len())].chars().count() + 1;
    Err(PathProblem {
        offset,
        what: format!("{what} (at character {chars})"),
    })
}

/// The mistakes a person makes, found before asking the parser.
fn diagnose(src: &str) -> Option<(usize, String)> {
    if src.trim().is_empty() {
        return Some((0, format!("the path is empty; {EXAMPLES}")));
    }
    if !src.starts_with('$') {
        let fixed = if src.starts_with(['.', '[']) {
            format!("${src}")
        } else {
            format!("$.{src}")
        };
        return Some((
            0,
            format!("a JSON path starts with `$` (the whole response): write `{fixed}`"),
        ));
    }
    // Brackets, parentheses and quotes, quote-aware.
    let mut open: Vec<(usize, char)> = Vec::new();
    let mut quote: Option<(usize, char)> = None;
    let mut escaped = false;
    for (i, c) in src.char_indices() {
        if let Some((_, q)) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some((i, c)),
            '[' | '(' => open.push((i, c)),
            ']' | ')' => {
                let want = if c == ']' { '[' } else { '(' };
                match open.pop() {
                    Some((_, o)) if o == want => {}
                    Some((at, o)) => {
                        return Some((
                            at,
                            format!("`{o}` is closed by `{c}`: close it with `{}`", closer(o)),
                        ));
                    }
                    None => {
                        return Some((
                            i,
                            format!("`{c}` closes nothing: there is no `{want}` before it"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some((at, q)) = quote {
        return Some((
            at,
            format!("the quoted name that starts here is never closed: add the closing {q}"),
        ));
    }
    if let Some(&(at, o)) = open.last() {
        let hint = if o == '[' {
            " (e.g. `$.data[0]`, `$.data['a b']`, `$.data[?@.id == 1]`)"
        } else {
            ""
        };
        return Some((
            at,
            format!("`{o}` is never closed: add `{}`{hint}", closer(o)),
        ));
    }
    None
}

fn closer(open: char) -> char {
    if open == '[' { ']' } else { ')' }
}

/// The parser's position and message, in words.
fn from_parser(src: &str, at: usize, message: &str) -> String {
    let rest = &src[at..];
    let next = rest.chars().next();
    let message = message
        .strip_prefix("in long-hand segment, ")
        .or_else(|| message.strip_prefix("in dot member name, "))
        .unwrap_or(message);
    if let Some(name) = message
        .strip_prefix("function name '")
        .and_then(|m| m.split('\'').next())
    {
        return format!(
            "function `{name}` does not exist (the functions are length, count, match, search and value)"
        );
    }
    if message.starts_with("must start with lowercase alpha") {
        return match next {
            None => "`.` at the end needs a member name after it (e.g. `$.data`) or `*`".into(),
            Some('.') => {
                "`...` is not a path: `..` (descendants) needs a name, `*` or `[…]` after it".into()
            }
            Some(c) if c.is_ascii_digit() => format!(
                "a name after `.` can't start with a digit: write `[{c}…]` for an index or `['{c}…']` for a member"
            ),
            Some(c) => format!(
                "a name after `.` starts with a letter or `_`, not `{c}`: write `['…']` for other names"
            ),
        };
    }
    match next {
        None => format!("the path ends too early; {EXAMPLES}"),
        Some(' ') => format!("unexpected space; {EXAMPLES}"),
        Some('=') if !rest.starts_with("==") => {
            "`=` is not a comparison: write `==` (or !=, <, <=, >, >=)".into()
        }
        Some('-') | Some(':') if src[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') => {
            "a name after `.` has only letters, digits and `_`: write `['a-b']` for other names"
                .into()
        }
        Some(_) if rest.starts_with("and ") || rest.starts_with("or ") => {
            "write `&&` for and, `||` for or".into()
        }
        Some(c) if message.starts_with("expected closing ']'") => {
            format!("expected `]` or an operator (==, !=, <, >, &&, ||), not `{c}`")
        }
        Some(c) => format!("unexpected `{c}`; {EXAMPLES}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(src: &str) -> (usize, String) {
        let p = parse(src).expect_err(src);
        (p.offset, p.message(src))
    }

    #[test]
    fn every_mistake_is_named_in_words_at_its_place() {
        let cases: &[(&str, usize, &str)] = &[
            ("$.data[", 6, "`[` is never closed: add `]`"),
            ("$.data[?", 6, "`[` is never closed"),
            (
                "data.x",
                0,
                "starts with `$` (the whole response): write `$.data.x`",
            ),
            (".data", 0, "write `$.data`"),
            ("", 0, "the path is empty"),
            (
                "$.a['b",
                4,
                "the quoted name that starts here is never closed",
            ),
            ("$.a]", 3, "`]` closes nothing"),
            ("$.a[?(@.b == 1]", 5, "`(` is closed by `]`"),
            ("$.", 2, "`.` at the end needs a member name"),
            ("$.a.0", 4, "can't start with a digit: write `[0…]`"),
            ("$.a[?@.b = 1]", 9, "`=` is not a comparison: write `==`"),
            ("$.a[?@.b == 1 and @.c]", 14, "write `&&` for and"),
            ("$.a[?foo(@)]", 5, "function `foo` does not exist"),
            ("$.a-b", 3, "write `['a-b']`"),
            ("$.a b", 3, "unexpected space"),
        ];
        for (src, offset, says) in cases {
            let (o, m) = problem(src);
            assert!(m.contains(says), "{src}: {m}");
            assert_eq!(o, *offset, "{src}: {m}");
            assert!(!m.contains("parser error"), "{src}: {m}");
            assert!(m.contains("(at character "), "{src}: {m}");
        }
        assert!(parse("$.data[?@.id == 1].name").is_ok());
    }
}
