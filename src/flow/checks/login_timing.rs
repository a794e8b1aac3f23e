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

use super::{CheckRun, Ctx, path_of};
use crate::builtins::random_alnum;
use crate::config::{Level, LoginTimingCheck};
use crate::flow::failure::{Failure, error_code};
use crate::flow::{CheckResult, Reason, fmt_duration};

pub(super) const RULE: &str = "login-timing";

pub(super) async fn run(c: &LoginTimingCheck, ctx: &Ctx<'_>) -> CheckRun {
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
    let body = |user: &str, password: &str| {
        let mut m = serde_json::Map::new();
        m.insert(c.username_field.clone(), user.into());
        m.insert(c.password_field.clone(), password.into());
        serde_json::Value::Object(m).to_string()
    };
    let real_body = body(&username, &password);
    let headers = [
        ("content-type", "application/json".to_string()),
        ("accept", "application/json".to_string()),
    ];
    let mut unknown = Vec::with_capacity(c.samples as usize);
    let mut real = Vec::with_capacity(c.samples as usize);
    for _ in 0..c.samples {
        let nobody = loop {
            let n = format!("probe_nobody_{}", random_alnum(12).to_ascii_lowercase());
            if !n.eq_ignore_ascii_case(&username) {
                break n;
            }
        };
        let fake = format!("Nb-{}!7", random_alnum(16));
        let r = match ctx
            .fetch(
                true,
                Method::POST,
                &url,
                &headers,
                Some(body(&nobody, &fake)),
            )
            .await
        {
            Ok(r) => r,
            Err(f) => {
                let msg = format!("POST {url} (unknown user): {}", f.message);
                return run.fail(Failure::new(f.reason, msg));
            }
        };
        run.bytes += r.body.len() as u64;
        match r.status {
            429 => {
                return run.fail(Failure::new(
                    Reason::Status,
                    format!(
                        "POST {url} (unknown user) answered 429: the endpoint is rate limiting, no timing verdict"
                    ),
                ));
            }
            400..=499 => unknown.push(r.time),
            s => {
                let what = if s < 400 {
                    "a random unknown user was not refused"
                } else {
                    "no timing verdict"
                };
                return run.fail(Failure::new(
                    Reason::Status,
                    format!("POST {url} (unknown user) answered {s}: {what}"),
                ));
            }
        }
        let r = match ctx
            .fetch(true, Method::POST, &url, &headers, Some(real_body.clone()))
            .await
        {
            Ok(r) => r,
            // A refused password is not sent (the guard's note says why).
            Err(f) if f.final_ => return run.fail(f),
            Err(f) => {
                let msg = format!("POST {url} (real login): {}", f.message);
                return run.fail(Failure::new(f.reason, msg));
            }
        };
        run.bytes += r.body.len() as u64;
        run.answered(&Method::POST, &url, r.status);
        if !(200..300).contains(&r.status) {
            let code = error_code(&r.body)
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            let refused = if matches!(r.status, 401 | 423 | 429) {
                "; the password is refused and not sent again"
            } else {
                ""
            };
            return run.fail(Failure::new(
                Reason::Status,
                format!(
                    "POST {url} (real login) answered {}{code}: no timing verdict without a successful login{refused}",
                    r.status
                ),
            ));
        }
        real.push(r.time);
    }
    let (mu, mr) = (median(&mut unknown), median(&mut real));
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
    run.checks.push(
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
        .on(format!("POST {}", path_of(&url)))
        .warning(c.level == Level::Warning),
    );
    run
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
