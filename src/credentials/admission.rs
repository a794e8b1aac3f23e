//! The secrets a request carries and the credential guard's say on them:
//! which secret variables a request holds, waiting for the guard's
//! permission, and telling it what the answer said. Shared by request steps
//! (the runner) and built-in checks; sits next to the guard (`credentials`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderMap;

use super::{Guard, Refusal, Ticket, Verdict};
use crate::outcome::Reason;
use crate::outcome::failure::{Failure, error_code};
use crate::vocab::fmt_duration;

/// A secret variable and the forms a request can carry it in, computed once
/// per run rather than for every request.
#[derive(Clone)]
pub(crate) struct Credential {
    pub(crate) name: String,
    raw: String,
    json_escaped: String,
    form_encoded: String,
    /// The value's fingerprint in the credential guard.
    pub(crate) fingerprint: String,
    /// A 429 to a request carrying it is rate limiting, not a refusal.
    pub(crate) rate_limited: bool,
}

impl Credential {
    pub(crate) fn new(name: &str, raw: &str, rate_limited: bool, guard: &Guard) -> Credential {
        let json = serde_json::to_string(raw).unwrap_or_default();
        Credential {
            name: name.to_string(),
            raw: raw.to_string(),
            json_escaped: json.trim_matches('"').to_string(),
            form_encoded: url::form_urlencoded::byte_serialize(raw.as_bytes()).collect(),
            fingerprint: guard.fingerprint(raw),
            rate_limited,
        }
    }
}

/// Names of the secret variables whose value a request carries (in the URL,
/// a header or the body, as is or JSON-escaped).
pub(crate) fn credentials_in<'s>(
    credentials: &'s [Credential],
    url: &url::Url,
    headers: &HeaderMap,
    body: &Bytes,
) -> Vec<&'s Credential> {
    fn has(hay: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && memchr::memmem::find(hay, needle).is_some()
    }
    credentials
        .iter()
        .filter(|c| {
            let raw = c.raw.as_bytes();
            has(body, raw)
                || has(body, c.json_escaped.as_bytes())
                || has(body, c.form_encoded.as_bytes())
                || url.as_str().contains(c.raw.as_str())
                || url.as_str().contains(&c.form_encoded)
                || headers.values().any(|h| has(h.as_bytes(), raw))
        })
        .collect()
}

/// Waits up to `wait` until the guard lets a request carrying `used`
/// (variable, fingerprint) go; `None` when it carries no secret. A refused
/// value fails at once (reason `credential`, final: never retried); running
/// out of time fails with `timeout`, naming `budget`. Shared by request
/// steps and built-in checks.
pub(crate) async fn admit(
    guard: &Arc<Guard>,
    used: &[(String, String)],
    wait: Duration,
    budget: Duration,
) -> Result<Option<Ticket>, Failure> {
    if used.is_empty() {
        return Ok(None);
    }
    match tokio::time::timeout(wait, guard.admit(used)).await {
        Ok(Ok(t)) => Ok(Some(t)),
        Ok(Err(refusal)) => {
            let mut f = Failure::new(Reason::Credential, refused_note(&refusal));
            f.final_ = true;
            Err(f)
        }
        Err(_) => {
            let names: Vec<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
            Err(Failure::new(
                Reason::Timeout,
                format!(
                    "not sent: waited {} for the first request carrying `{}` to be answered (a value is tried alone so a wrong one is sent once)",
                    fmt_duration(budget),
                    names.join("`, `")
                ),
            ))
        }
    }
}

/// Tells the guard what an answer (`status`, `body`) said of the secrets a
/// request carried: a 401, 423 or 429 (unless the secret is `rate_limited`)
/// that `failed` the step refuses them; any other answer accepts them.
/// `by` is `flow/step`. Shared by request steps and built-in checks.
pub(crate) fn settle_ticket(
    ticket: Ticket,
    by: &str,
    credentials: &[Credential],
    status: u16,
    body: &[u8],
    failed: bool,
) {
    let code = || error_code(body);
    let newly = ticket.settle(by, |var| {
        let rate_limited = credentials.iter().any(|c| c.name == var && c.rate_limited);
        match status {
            401 | 423 if failed => Verdict::Refused {
                status,
                code: code(),
            },
            429 if failed && !rate_limited => Verdict::Refused {
                status,
                code: code(),
            },
            401 | 423 | 429 => Verdict::Unknown,
            _ => Verdict::Accepted,
        }
    });
    if !newly.is_empty() {
        tracing::warn!(
            target: "smokeprobe::credentials",
            variables = %newly.join(", "),
            status,
            step = %by,
            "the target refused a secret: requests carrying it are no longer sent (account lockout protection) until its value changes"
        );
    }
}

/// Why a request carrying a refused secret was not sent.
pub(crate) fn refused_note(r: &Refusal) -> String {
    format!(
        "not sent: `{}` was refused ({}); sending it again could lock the account. Set a new value: the same value stays refused across reloads and restarts",
        r.var,
        r.describe()
    )
}
