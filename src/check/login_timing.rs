//! User enumeration by login timing: the rule `login-timing` compares the
//! median answer time of `samples` logins of a random unknown user with the
//! median of as many logins of the probe's real account, with its *correct*
//! password. A real app that hashes only when the user exists (bcrypt:
//! hundreds of milliseconds) answers an unknown user in milliseconds, which
//! tells an attacker which usernames exist.
//!
//! Safety: the unknown user is `probe_nobody_<random>` with a random password
//! (always refused, locks nothing); the real login carries the secret
//! password variable, so every one of them passes the credential guard (the
//! first alone; none once the password is refused). No wrong password is
//! ever sent for the real account.
//!
//! A finding needs both: the slower median over `factor` × the faster, and
//! the two more than `floor` apart (2 ms vs 7 ms is no finding). Times are
//! request sent → body read, without connection setup; the two kinds
//! alternate so a drift of the network or the server hits both alike.

use std::time::Duration;

use http::Method;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckRun, Ctx, Cx, level_word, path_of};
use crate::builtins::random_alnum;
use crate::outcome::failure::{Failure, error_code};
use crate::outcome::{CheckResult, Reason};
use crate::spanned::{S, pos_of};
use crate::syntax::template::Template;
use crate::vocab::fmt_duration;
use crate::vocab::headers::Level;

const RULE: &str = "login-timing";

/// The one rule this check reports.
pub const RULES: &[&str] = &[RULE];

/// Logins of a random unknown user and of the probe's real account must take
/// about the same time (user enumeration by timing).
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "loginTiming")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The login endpoint (JSON POST).
    pub url: S<String>,
    /// The real account's user name (sent as is).
    pub username: S<String>,
    /// The real account's password: must come from a secret variable.
    pub password: S<String>,
    /// JSON member names of the body (default `username` and `password`).
    #[serde(default)]
    pub username_field: Option<S<String>>,
    #[serde(default)]
    pub password_field: Option<S<String>>,
    /// Logins of each kind per run (default 5, 3 to 20).
    #[serde(default)]
    #[schemars(range(min = 3, max = 20))]
    pub samples: Option<S<i64>>,
    /// A finding when the slower median is more than this many times the
    /// faster one (default 3) …
    #[serde(default)]
    #[schemars(extend("exclusiveMinimum" = 1), range(max = 1000))]
    pub factor: Option<S<f64>>,
    /// … and at least this much slower (default 20ms).
    #[serde(default)]
    #[schemars(with = "Option<crate::syntax::forms::Duration>")]
    pub floor: Option<S<String>>,
    /// `warning` (default) or `required`.
    #[serde(default)]
    pub level: Option<S<String>>,
}

/// The median login time of a random unknown user against the probe's real,
/// correct login (never a wrong password for the real account).
#[derive(Clone, Debug)]
pub struct Plan {
    pub url: Template,
    pub username: Template,
    /// References a secret variable (checked at compile time), so every
    /// request carrying it passes the credential guard.
    pub password: Template,
    pub username_field: String,
    pub password_field: String,
    /// Logins of each kind per run.
    pub samples: u32,
    /// A finding needs the slower median over `factor` × the faster one …
    pub factor: f64,
    /// … and more than `floor` apart.
    pub floor: Duration,
    /// `Required` or `Warning`.
    pub level: Level,
}

/// The step's `login_timing:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    let url = cx.url(&r.url, "login_timing url", &["http", "https"]);
    let username = cx.template(&r.username);
    let password = cx.template(&r.password);
    if let Some(p) = &password
        && !p.var_names().any(|n| cx.is_secret_var(n))
    {
        cx.err(
            pos_of(&r.password),
            "`password` must come from a secret variable (e.g. `${password}` with `password: { secret: true }` under `vars:`): the credential guard then never sends a refused password again",
        );
    }
    let mut field = |f: Option<&S<String>>, default: &str| match f {
        None => default.to_string(),
        Some(f) if !f.value.trim().is_empty() => f.value.clone(),
        Some(f) => {
            cx.err(pos_of(f), "a JSON member name cannot be empty");
            default.to_string()
        }
    };
    let username_field = field(r.username_field.as_ref(), "username");
    let password_field = field(r.password_field.as_ref(), "password");
    if username_field == password_field {
        cx.err(
            pos_of(c),
            format!("`username_field` and `password_field` are both `{username_field}`"),
        );
    }
    let samples = match &r.samples {
        None => 5,
        Some(n) if (3..=20).contains(&n.value) => n.value as u32,
        Some(n) => {
            cx.err(
                pos_of(n),
                "`samples` must be from 3 to 20 (logins of each kind per run)",
            );
            5
        }
    };
    let factor = match &r.factor {
        None => 3.0,
        Some(f) if f.value.is_finite() && f.value > 1.0 && f.value <= 1000.0 => f.value,
        Some(f) => {
            cx.err(
                pos_of(f),
                "`factor` must be a number above 1 and at most 1000 (e.g. 3: the slower median is over 3 times the faster)",
            );
            3.0
        }
    };
    let floor = cx.duration_or(r.floor.as_ref(), std::time::Duration::from_millis(20));
    let level = cx.level(r.level.as_ref());
    let url = url?;
    Some((
        Plan {
            url: url.clone(),
            username: username?,
            password: password?,
            username_field,
            password_field,
            samples,
            factor,
            floor,
            level,
        },
        url,
    ))
}

/// One line on what the check will judge.
pub fn describe(t: &Plan) -> String {
    format!(
        "{} unknown-user and {} real logins: medians not over ×{} and {} apart ({})",
        t.samples,
        t.samples,
        t.factor,
        fmt_duration(t.floor),
        level_word(t.level)
    )
}

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    let mut run = CheckRun::new(Reason::Assertion, c.url.display());
    let (url, username, password) = match (
        ctx.url(&c.url),
        ctx.expand(&c.username),
        ctx.expand(&c.password),
    ) {
        (Ok(u), Ok(n), Ok(p)) => (u, n, p),
        (Err(f), _, _) | (_, Err(f), _) | (_, _, Err(f)) => return run.fail(f),
    };
    run.url = url.to_string();
    let real_body = login_body(c, &username, &password);
    let mut unknown = Vec::with_capacity(c.samples as usize);
    let mut real = Vec::with_capacity(c.samples as usize);
    for _ in 0..c.samples {
        match unknown_login(&mut run, c, ctx, &url, &username).await {
            Ok(t) => unknown.push(t),
            Err(f) => return run.fail(f),
        }
        match real_login(&mut run, ctx, &url, &real_body).await {
            Ok(t) => real.push(t),
            Err(f) => return run.fail(f),
        }
    }
    run.checks.push(verdict(c, &url, &mut unknown, &mut real));
    run
}

/// The login request's JSON body.
fn login_body(c: &Plan, user: &str, password: &str) -> String {
    let mut m = serde_json::Map::new();
    m.insert(c.username_field.clone(), user.into());
    m.insert(c.password_field.clone(), password.into());
    serde_json::Value::Object(m).to_string()
}

fn json_headers() -> [(&'static str, String); 2] {
    [
        ("content-type", "application/json".to_string()),
        ("accept", "application/json".to_string()),
    ]
}

/// One login of a random unknown user (never `username`) with a random
/// password: its time, or why there is no timing verdict (it must be
/// refused with a 4xx other than 429).
async fn unknown_login(
    run: &mut CheckRun,
    c: &Plan,
    ctx: &Ctx<'_>,
    url: &url::Url,
    username: &str,
) -> Result<Duration, Failure> {
    let nobody = loop {
        let n = format!("probe_nobody_{}", random_alnum(12).to_ascii_lowercase());
        if !n.eq_ignore_ascii_case(username) {
            break n;
        }
    };
    let fake = format!("Nb-{}!7", random_alnum(16));
    let body = Some(login_body(c, &nobody, &fake));
    let r = match ctx
        .fetch(true, Method::POST, url, &json_headers(), body)
        .await
    {
        Ok(r) => r,
        Err(f) => {
            let msg = format!("POST {url} (unknown user): {}", f.message);
            return Err(Failure::new(f.reason, msg));
        }
    };
    run.bytes += r.body.len() as u64;
    match r.status {
        429 => Err(Failure::new(
            Reason::Status,
            format!(
                "POST {url} (unknown user) answered 429: the endpoint is rate limiting, no timing verdict"
            ),
        )),
        400..=499 => Ok(r.time),
        s => {
            let what = if s < 400 {
                "a random unknown user was not refused"
            } else {
                "no timing verdict"
            };
            Err(Failure::new(
                Reason::Status,
                format!("POST {url} (unknown user) answered {s}: {what}"),
            ))
        }
    }
}

/// One login of the real account with its correct password (through the
/// credential guard): its time, or why there is no timing verdict (it must
/// succeed).
async fn real_login(
    run: &mut CheckRun,
    ctx: &Ctx<'_>,
    url: &url::Url,
    body: &str,
) -> Result<Duration, Failure> {
    let r = match ctx
        .fetch(
            true,
            Method::POST,
            url,
            &json_headers(),
            Some(body.to_string()),
        )
        .await
    {
        Ok(r) => r,
        // A refused password is not sent (the guard's note says why).
        Err(f) if f.final_ => return Err(f),
        Err(f) => {
            let msg = format!("POST {url} (real login): {}", f.message);
            return Err(Failure::new(f.reason, msg));
        }
    };
    run.bytes += r.body.len() as u64;
    run.answered(&Method::POST, url, r.status);
    if !(200..300).contains(&r.status) {
        let code = error_code(&r.body)
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let refused = if matches!(r.status, 401 | 423 | 429) {
            "; the password is refused and not sent again"
        } else {
            ""
        };
        return Err(Failure::new(
            Reason::Status,
            format!(
                "POST {url} (real login) answered {}{code}: no timing verdict without a successful login{refused}",
                r.status
            ),
        ));
    }
    Ok(r.time)
}

/// The rule's verdict on the two medians.
fn verdict(
    c: &Plan,
    url: &url::Url,
    unknown: &mut [Duration],
    real: &mut [Duration],
) -> CheckResult {
    let (mu, mr) = (median(unknown), median(real));
    let (lo, hi) = if mu <= mr { (mu, mr) } else { (mr, mu) };
    let ratio = hi.as_secs_f64() / lo.as_secs_f64().max(1e-6);
    let leaks = ratio > c.factor && hi - lo > c.floor;
    let tail = if !leaks {
        ""
    } else if mu < mr {
        ": an unknown user is refused faster, so the answer time tells which usernames exist"
    } else {
        ": an unknown user is refused slower, so the answer time tells which usernames exist"
    };
    CheckResult::new(
        RULE,
        !leaks,
        format!(
            "an unknown user's login as slow as a real one (not over ×{} and {} apart)",
            trim_factor(c.factor),
            fmt_duration(c.floor)
        ),
        format!(
            "median {} for an unknown user vs {} for the real login, {} logins each (×{ratio:.1}){tail}",
            fmt_duration(mu),
            fmt_duration(mr),
            c.samples
        ),
    )
    .on(format!("POST {}", path_of(url)))
    .warning(c.level == Level::Warning)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// `3` rather than `3.0`, `2.5` as is.
fn trim_factor(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(9), ms(1), ms(5)]), ms(5));
        assert_eq!(median(&mut [ms(1), ms(3), ms(9), ms(5)]), ms(4));
        assert_eq!(median(&mut []), Duration::ZERO);
        assert_eq!(trim_factor(3.0), "3");
        assert_eq!(trim_factor(2.5), "2.5");
    }
}
