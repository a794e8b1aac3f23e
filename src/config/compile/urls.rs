//! URLs checked before anything is sent. A URL template is resolved as far as
//! the values known when the plan is compiled go (variables from the file,
//! `--var`/`--secret`, `SMOKEPROBE_VAR_*`, `${env:…}`, `${file:…}`, flow
//! variables), and what it resolves to must start with `http://` or
//! `https://` (written out in the file, the one scheme a check needs):
//! `--var base=shop.example`
//! is exit code 2 at the URL's line and column, not a confusing failure of
//! every step. A URL that starts with a capture (`${photo_url}`) or a
//! built-in is only known at run time; the runner checks it then
//! ([`crate::config::http_url`]).

use std::collections::HashMap;

use super::{Compiler, Pos};
use crate::config::template::{Part, Template};

/// Where a variable's value came from, for the message that blames it.
#[derive(Clone, Debug)]
pub(super) enum VarOrigin {
    Cli { secret: bool },
    Env(String),
    File(Pos),
    Flow(Pos),
}

impl VarOrigin {
    fn words(&self) -> String {
        match self {
            VarOrigin::Cli { secret: false } => "from --var".into(),
            VarOrigin::Cli { secret: true } => "from --secret".into(),
            VarOrigin::Env(k) => format!("from {k}"),
            VarOrigin::File(p) => format!("set at line {}", p.line),
            VarOrigin::Flow(p) => format!("the flow's variable at line {}", p.line),
        }
    }
}

/// A variable as far as compile time knows it (`value` is `None` when only a
/// run will have it: `check` without the secrets).
#[derive(Clone, Debug)]
pub(super) struct KnownVar {
    pub value: Option<Template>,
    pub origin: VarOrigin,
    pub secret: bool,
}

/// A URL that can't be right, waiting to be reported (several URLs built from
/// the same variable are reported once).
pub(super) struct UrlProblem {
    pos: Pos,
    /// The variable the URL starts with, and the problem: the same pair is
    /// one error.
    group: Option<(String, String)>,
    message: String,
}

/// A template resolved from its start as far as compile-time values go.
struct Resolved {
    text: String,
    /// `text` with secret values as `***`.
    shown: String,
    /// Every part was known.
    complete: bool,
    /// The variables the start of the URL comes from, outermost first
    /// (`${api}/x` with `api: ${base}/api`: api, base).
    chain: Vec<String>,
}

fn resolve(
    t: &Template,
    known: &HashMap<String, KnownVar>,
    is_secret: &dyn Fn(&str) -> bool,
    depth: u32,
) -> Resolved {
    let mut r = Resolved {
        text: String::new(),
        shown: String::new(),
        complete: true,
        chain: Vec::new(),
    };
    for (i, part) in t.parts.iter().enumerate() {
        match part {
            Part::Lit(s) => {
                r.text.push_str(s);
                r.shown.push_str(s);
            }
            Part::Const(s) => {
                r.text.push_str(s);
                r.shown.push_str(if is_secret(s) { "***" } else { s });
            }
            Part::Var(n) => {
                let var = known.get(n);
                let Some((value, secret)) = var
                    .and_then(|v| v.value.as_ref().map(|t| (t, v.secret)))
                    .filter(|_| depth < 16)
                else {
                    r.complete = false;
                    break;
                };
                let sub = resolve(value, known, is_secret, depth + 1);
                if i == 0 {
                    r.chain.push(n.clone());
                    r.chain.extend(sub.chain);
                }
                r.text.push_str(&sub.text);
                r.shown
                    .push_str(if secret { "***" } else { sub.shown.as_str() });
                if !sub.complete {
                    r.complete = false;
                    break;
                }
            }
            Part::Builtin(_) => {
                r.complete = false;
                break;
            }
        }
    }
    r
}

/// `http:// or https://`.
fn scheme_list(schemes: &[&str]) -> String {
    schemes
        .iter()
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(" or ")
}

impl Compiler<'_> {
    /// The value of `t` when compile time knows all of it: (value, value with
    /// secrets as `***`, which variable it comes from in words when it does).
    pub(super) fn known_value(&self, t: &Template) -> Option<(String, String, Option<String>)> {
        let is_secret = |s: &str| self.secrets.iter().any(|x| x == s);
        let r = resolve(t, &self.known, &is_secret, 0);
        if !r.complete {
            return None;
        }
        let blame = self.blame(&r.chain);
        Some((r.text, r.shown, blame))
    }

    /// `` `base` from --var, through `api` `` for a chain [api, base].
    fn blame(&self, chain: &[String]) -> Option<String> {
        let root = chain.last()?;
        let origin = self
            .known
            .get(root)
            .map(|v| v.origin.words())
            .unwrap_or_default();
        let through = match &chain[..chain.len() - 1] {
            [] => String::new(),
            via => format!(
                ", through {}",
                via.iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Some(format!("`{root}` {origin}{through}"))
    }

    /// Checks a URL template `key` (`url`, `simple_request`, …) at `pos`:
    /// what it resolves to must use one of `schemes`.
    pub(super) fn check_url_value(&mut self, pos: Pos, key: &str, t: &Template, schemes: &[&str]) {
        let is_secret = |s: &str| self.secrets.iter().any(|x| x == s);
        let r = resolve(t, &self.known, &is_secret, 0);
        // The one scheme a check needs (`https://` for `tls`) is required of
        // a URL written out in the file. Through a variable any web URL
        // passes here: one probe file serves an HTTPS production and a
        // plain-HTTP staging (running only the flows that make sense there),
        // and the check itself says so when it runs.
        let schemes = if r.complete && r.chain.is_empty() {
            schemes
        } else {
            &["http", "https"][..]
        };
        let wanted = scheme_list(schemes);
        let lower = r.text.trim_start().to_ascii_lowercase();
        let invalid = if r.complete {
            match url::Url::parse(&r.text) {
                Ok(u) if schemes.contains(&u.scheme()) => return,
                Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => None,
                Err(e) => Some(e),
            }
        } else {
            // Decided only when the known start rules every scheme out.
            let settled = schemes.iter().any(|s| {
                let prefix = format!("{s}://");
                lower.starts_with(&prefix) || prefix.starts_with(&lower)
            });
            if settled {
                return;
            }
            None
        };
        let blame = self.blame(&r.chain);
        let shown = &r.shown;
        let message = match (&invalid, &blame, r.complete) {
            (Some(e), None, _) => format!("`{shown}` is not a valid URL: {e}"),
            (Some(e), Some(b), _) => {
                format!("{key} resolves to `{shown}` ({b}): not a valid URL ({e})")
            }
            (None, None, true) => format!("{key} `{shown}`: a URL must start with {wanted}"),
            (None, None, false) => {
                format!("{key} starts with `{shown}`: a URL must start with {wanted}")
            }
            (None, Some(b), true) => {
                format!("{key} resolves to `{shown}` ({b}): a URL must start with {wanted}")
            }
            (None, Some(b), false) => {
                format!("{key} starts with `{shown}` ({b}): a URL must start with {wanted}")
            }
        };
        // URLs built from the same variable with the same problem are one error.
        let group = r.chain.last().map(|root| {
            let what = match &invalid {
                Some(e) => e.to_string(),
                None => wanted,
            };
            (root.clone(), what)
        });
        self.url_problems.push(UrlProblem {
            pos,
            group,
            message,
        });
    }

    /// Reports the URL problems: one error per URL, except that the URLs
    /// built from the same variable are one error, at the first of them.
    pub(super) fn report_url_problems(&mut self) {
        let problems = std::mem::take(&mut self.url_problems);
        let mut groups: Vec<Vec<UrlProblem>> = Vec::new();
        for p in problems {
            match groups
                .iter_mut()
                .find(|g| p.group.is_some() && g[0].group == p.group)
            {
                Some(g) => g.push(p),
                None => groups.push(vec![p]),
            }
        }
        for g in groups {
            let first = &g[0];
            let message = match (&first.group, g.len() - 1) {
                (Some((root, _)), n) if n > 0 => format!(
                    "{} (the same for {n} more URL(s) built from `{root}`)",
                    first.message
                ),
                _ => first.message.clone(),
            };
            self.err(first.pos, message);
        }
    }
}
