//! What a check kind's validation asks of the probe-file compiler: report a
//! problem at a position, and read templates, URLs, durations, sizes,
//! regexes, header names and methods the way every step does. Implemented
//! by `config::compile` for the step being compiled (the names in scope, the
//! captures the step needs), so a kind compiles without knowing the
//! compiler. The helpers more than one kind uses are written over it here.

use std::time::Duration;

use regex::Regex;

use crate::spanned::{S, pos_of};
use crate::syntax::RawSize;
use crate::syntax::error::Pos;
use crate::syntax::template::Template;
use crate::vocab::headers::Level;

pub trait Cx {
    /// A problem at `pos`: the probe file is refused with `msg`.
    fn err(&mut self, pos: Pos, msg: impl Into<String>);

    /// A template; its `${…}` must name a variable or an earlier capture
    /// (then the step needs it). None after an error.
    fn template(&mut self, s: &S<String>) -> Option<Template>;

    /// A URL template (`key` names it in messages); what it resolves to at
    /// compile time must parse and use one of `schemes`.
    fn url(&mut self, s: &S<String>, key: &str, schemes: &[&str]) -> Option<Template>;

    /// The value of `t` when compile time knows all of it: (value, value with
    /// secrets as `***`, which variable it comes from in words when it does).
    fn known_value(&self, t: &Template) -> Option<(String, String, Option<String>)>;

    /// An HTTP method in any case (GET when absent).
    fn method(&mut self, m: Option<&S<String>>) -> http::Method;

    /// `name` must be a valid HTTP header name.
    fn header_name(&mut self, pos: Pos, name: &str);

    fn regex(&mut self, pos: Pos, src: &str) -> Option<Regex>;

    fn size(&mut self, pos: Pos, s: &RawSize) -> Option<u64>;

    /// A duration, `default` when absent or invalid (then an error).
    fn duration_or(&mut self, s: Option<&S<String>>, default: Duration) -> Duration;

    /// Whether `name` is a secret variable of the flow being compiled.
    fn is_secret_var(&self, name: &str) -> bool;

    /// `third_party:` entries: bare host names (no scheme, port, path or
    /// wildcard), as the URL parser normalises them (lowercase, punycode).
    fn hosts(&mut self, list: &[S<String>]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for h in list {
            let text = h.value.trim();
            let parsed = if text.contains('*') {
                Err("wildcards are not supported: list each host".to_string())
            } else {
                url::Host::parse(text).map_err(|_| {
                    "expected a bare host name like cdn.example.com (no scheme, port or path)"
                        .to_string()
                })
            };
            match parsed {
                Ok(host) => {
                    let host = host.to_string();
                    if !out.contains(&host) {
                        out.push(host);
                    }
                }
                Err(why) => self.err(pos_of(h), format!("third_party `{}`: {why}", h.value)),
            }
        }
        out
    }

    /// `level: warning | required` of a single-rule check (warning by default:
    /// the checklist does not demand these rules).
    fn level(&mut self, l: Option<&S<String>>) -> Level {
        match l.map(|l| (l, l.value.as_str())) {
            None | Some((_, "warning")) => Level::Warning,
            Some((_, "required")) => Level::Required,
            Some((l, other)) => {
                self.err(
                    pos_of(l),
                    format!("unknown level `{other}`: use `warning` (the default) or `required`"),
                );
                Level::Warning
            }
        }
    }
}
