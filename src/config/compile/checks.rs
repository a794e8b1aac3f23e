//! Check steps: which built-in check kind a step sets (`cors:`,
//! `security_headers:`, …; see `crate::check`, where each kind validates
//! itself) and what the compiler lends a kind's validation ([`StepCx`], the
//! [`Cx`] of the step being compiled). A check step takes no request
//! fields: the check sends its own requests.

use std::time::Duration;

use regex::Regex;

use super::{Compiler, StepNames, pos_of};
use crate::check::{Check, Cx, RawCheck};
use crate::config::error::Pos;
use crate::config::raw::*;
use crate::config::template::Template;

/// Keys of a request step that make no sense on a check step.
pub(in crate::config) fn request_fields(rs: &RawStep) -> Vec<&'static str> {
    let mut v = Vec::new();
    let fields: [(&str, bool); 12] = [
        ("url", rs.url.is_some()),
        ("method", rs.method.is_some()),
        ("headers", !rs.headers.is_empty()),
        ("query", !rs.query.is_empty()),
        ("json", rs.json.is_some()),
        ("form", rs.form.is_some()),
        ("body", rs.body.is_some()),
        ("multipart", rs.multipart.is_some()),
        ("follow_redirects", rs.follow_redirects.is_some()),
        ("poll", rs.poll.is_some()),
        ("expect", rs.expect.is_some()),
        ("capture", !rs.capture.is_empty()),
    ];
    for (k, set) in fields {
        if set {
            v.push(k);
        }
    }
    v
}

/// The check kinds a step sets, by key.
pub(in crate::config) fn kinds(rs: &RawStep) -> Vec<&'static str> {
    rs.checks().iter().map(RawCheck::key).collect()
}

impl Compiler<'_> {
    /// The step's check and its main URL (shown for the step).
    pub(super) fn check(
        &mut self,
        rs: &RawStep,
        names: &mut StepNames<'_>,
    ) -> Option<(Check, Template)> {
        let first = *rs.checks().first()?;
        first.compile(&mut StepCx { c: self, names })
    }

    /// An HTTP method in any case (GET when absent).
    pub(super) fn method(&mut self, m: Option<&S<String>>) -> http::Method {
        match m {
            None => http::Method::GET,
            Some(m) => {
                let up = m.value.to_ascii_uppercase();
                match http::Method::from_bytes(up.as_bytes()) {
                    Ok(x) if !up.is_empty() && up.chars().all(|c| c.is_ascii_uppercase()) => x,
                    _ => {
                        self.err(pos_of(m), format!("`{}` is not an HTTP method", m.value));
                        http::Method::GET
                    }
                }
            }
        }
    }
}

/// The step being compiled, as a check kind's validation sees it: the names
/// in scope, and the captures the step needs (added as its templates use
/// them).
struct StepCx<'s, 'a, 'n> {
    c: &'s mut Compiler<'a>,
    names: &'s mut StepNames<'n>,
}

impl Cx for StepCx<'_, '_, '_> {
    fn err(&mut self, pos: Pos, msg: impl Into<String>) {
        self.c.err(pos, msg);
    }

    fn template(&mut self, s: &S<String>) -> Option<Template> {
        self.c.template(s, self.names)
    }

    fn url(&mut self, s: &S<String>, key: &str, schemes: &[&str]) -> Option<Template> {
        let t = self.template(s)?;
        self.c.check_url_value(pos_of(s), key, &t, schemes);
        Some(t)
    }

    fn known_value(&self, t: &Template) -> Option<(String, String, Option<String>)> {
        self.c.known_value(t)
    }

    fn method(&mut self, m: Option<&S<String>>) -> http::Method {
        self.c.method(m)
    }

    fn header_name(&mut self, pos: Pos, name: &str) {
        self.c.check_header_name(pos, name);
    }

    fn regex(&mut self, pos: Pos, src: &str) -> Option<Regex> {
        self.c.regex(pos, src)
    }

    fn size(&mut self, pos: Pos, s: &RawSize) -> Option<u64> {
        self.c.size(pos, s)
    }

    fn duration_or(&mut self, s: Option<&S<String>>, default: Duration) -> Duration {
        self.c.duration_opt(s, default)
    }

    fn is_secret_var(&self, name: &str) -> bool {
        self.c.secret_vars.contains(name)
    }
}
