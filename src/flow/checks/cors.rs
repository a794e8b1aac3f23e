//! CORS semantics of one endpoint, judged the way a browser would use them:
//! preflights from each allowed origin must be answered for exactly that origin
//! and cover the real request; a foreign origin must get no
//! `Access-Control-Allow-Origin` at all (a stray `Allow-Credentials` there is
//! harmless and not judged); `*` with credentials and echoing any origin fail;
//! in production, `http://` and `localhost` origins must be refused too.

use http::Method;

use super::{CheckRun, Ctx, Fetched};
use crate::builtins;
use crate::config::CorsCheck;
use crate::flow::{CheckResult, Reason};

/// Methods a browser never preflights for, so they need not be listed.
const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];
/// Headers a browser never lists in `Access-Control-Request-Headers`.
const SAFELISTED_HEADERS: [&str; 3] = ["accept", "accept-language", "content-language"];

fn list(v: Option<String>) -> Vec<String> {
    v.map(|v| {
        v.split(',')
            .map(|x| x.trim().to_ascii_lowercase())
            .filter(|x| !x.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn shown(v: &Option<String>) -> String {
    match v {
        None => "no Access-Control-Allow-Origin".into(),
        Some(v) => {
            if v.chars().count() > 100 {
                // The cut mark lets redaction find a secret the cut went through.
                let t: String = v.chars().take(100).collect();
                format!("`{t}…`")
            } else {
                format!("`{v}`")
            }
        }
    }
}

pub(super) async fn run(c: &CorsCheck, ctx: &Ctx<'_>) -> CheckRun {
    let mut run = CheckRun::new(Reason::Assertion, c.url.display());
    let url = match ctx.url(&c.url) {
        Ok(u) => u,
        Err(f) => return run.fail(f),
    };
    run.url = url.to_string();
    let mut allowed = Vec::new();
    for t in &c.allowed_origins {
        match ctx.expand(t) {
            Ok(o) => allowed.push(o.trim_end_matches('/').to_string()),
            Err(f) => return run.fail(f),
        }
    }
    let foreign = match &c.disallowed_origin {
        Some(t) => match ctx.expand(t) {
            Ok(o) => o,
            Err(f) => return run.fail(f),
        },
        None => format!("https://smokeprobe-{}.invalid", builtins::random_hex(8)),
    };
    // A preflight as a browser sends it for the configured request.
    let preflight = async |origin: &str| {
        let mut h = vec![
            ("origin", origin.to_string()),
            ("access-control-request-method", c.method.to_string()),
        ];
        if !c.request_headers.is_empty() {
            h.push((
                "access-control-request-headers",
                c.request_headers.join(","),
            ));
        }
        ctx.fetch(true, Method::OPTIONS, &url, &h, None).await
    };

    for (i, origin) in allowed.iter().enumerate() {
        let on = format!("preflight from {origin}");
        if c.production {
            let bad = dev_origin(origin);
            if let Some(why) = bad {
                run.checks.push(
                    CheckResult::new(
                        "production-origin",
                        false,
                        "allowed origins are https:// and not localhost",
                        format!("`{origin}` is {why}"),
                    )
                    .on(&on),
                );
            }
        }
        let resp = match preflight(origin).await {
            Ok(r) => r,
            Err(f) => return run.fail(f),
        };
        if i == 0 {
            run.status = Some(resp.status);
        }
        judge_allowed(&mut run, c, &resp, origin, &on, true);
    }

    let mut refused = vec![("foreign-origin-refused", foreign)];
    if c.production {
        let host = allowed
            .first()
            .and_then(|o| url::Url::parse(o).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "example.com".into());
        refused.push(("http-origin-refused", format!("http://{host}")));
        refused.push(("localhost-origin-refused", "http://localhost:3000".into()));
    }
    for (rule, origin) in refused {
        if allowed.contains(&origin) {
            continue;
        }
        let resp = match preflight(&origin).await {
            Ok(r) => r,
            Err(f) => return run.fail(f),
        };
        judge_refused(
            &mut run,
            &resp,
            rule,
            &origin,
            &format!("preflight from {origin}"),
        );
    }

    if let Some(t) = &c.simple_request {
        let simple = match ctx.url(t) {
            Ok(u) => u,
            Err(f) => return run.fail(f),
        };
        if let Some(origin) = allowed.first() {
            let on = format!("GET from {origin}");
            match ctx
                .fetch(
                    true,
                    Method::GET,
                    &simple,
                    &[("origin", origin.clone())],
                    None,
                )
                .await
            {
                Ok(r) => judge_allowed(&mut run, c, &r, origin, &on, false),
                Err(f) => return run.fail(f),
            }
        }
        let origin = format!("https://smokeprobe-{}.invalid", builtins::random_hex(8));
        match ctx
            .fetch(
                true,
                Method::GET,
                &simple,
                &[("origin", origin.clone())],
                None,
            )
            .await
        {
            Ok(r) => judge_refused(
                &mut run,
                &r,
                "foreign-origin-refused",
                &origin,
                &format!("GET from {origin}"),
            ),
            Err(f) => return run.fail(f),
        }
    }
    run
}

/// Why an origin has no place in a production allow-list, if it has none.
fn dev_origin(origin: &str) -> Option<&'static str> {
    let u = url::Url::parse(origin).ok()?;
    let host = u.host_str().unwrap_or("");
    if host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1" || host == "[::1]"
    {
        Some("a localhost origin")
    } else if u.scheme() == "http" {
        Some("a plain-http origin")
    } else {
        None
    }
}

/// Rules for an origin that must be allowed; `preflight` false for a simple request.
fn judge_allowed(
    run: &mut CheckRun,
    c: &CorsCheck,
    r: &Fetched,
    origin: &str,
    on: &str,
    preflight: bool,
) {
    let acao = r.header("access-control-allow-origin");
    let creds = r
        .header("access-control-allow-credentials")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if preflight {
        run.checks.push(
            CheckResult::new(
                "preflight-status",
                (200..300).contains(&r.status),
                "2xx",
                r.status.to_string(),
            )
            .on(on),
        );
    }
    let wildcard = acao.as_deref() == Some("*");
    let origin_ok = acao.as_deref() == Some(origin) || (wildcard && c.credentials == Some(false));
    run.checks.push(
        CheckResult::new(
            "allow-origin",
            origin_ok,
            format!("Access-Control-Allow-Origin `{origin}`"),
            shown(&acao),
        )
        .on(on),
    );
    if wildcard && creds {
        run.checks.push(wildcard_with_credentials(on));
    }
    if preflight {
        let methods = list(r.header("access-control-allow-methods"));
        let m = c.method.as_str();
        let covered = SAFELISTED_METHODS.contains(&m)
            || methods.iter().any(|x| x.eq_ignore_ascii_case(m))
            || (methods.iter().any(|x| x == "*") && !creds);
        run.checks.push(
            CheckResult::new(
                "allow-methods",
                covered,
                format!("{m} allowed"),
                if methods.is_empty() {
                    "no Access-Control-Allow-Methods".into()
                } else {
                    format!("`{}`", methods.join(", ").to_uppercase())
                },
            )
            .on(on),
        );
        let allowed = list(r.header("access-control-allow-headers"));
        let star = allowed.iter().any(|x| x == "*") && !creds;
        let missing: Vec<&String> = c
            .request_headers
            .iter()
            .filter(|h| !SAFELISTED_HEADERS.contains(&h.as_str()))
            // `*` never covers Authorization.
            .filter(|h| !(allowed.contains(h) || (star && h.as_str() != "authorization")))
            .collect();
        if !c.request_headers.is_empty() {
            run.checks.push(
                CheckResult::new(
                    "allow-headers",
                    missing.is_empty(),
                    format!("{} allowed", c.request_headers.join(", ")),
                    if missing.is_empty() {
                        format!("`{}`", allowed.join(", "))
                    } else {
                        format!(
                            "{} missing from `{}`",
                            missing
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            allowed.join(", ")
                        )
                    },
                )
                .on(on),
            );
        }
    }
    if let Some(want) = c.credentials {
        run.checks.push(
            CheckResult::new(
                "allow-credentials",
                creds == want,
                if want {
                    "Access-Control-Allow-Credentials: true"
                } else {
                    "no Access-Control-Allow-Credentials"
                },
                match r.header("access-control-allow-credentials") {
                    Some(v) => format!("`{v}`"),
                    None => "absent".into(),
                },
            )
            .on(on),
        );
    }
    if !wildcard {
        let vary = list(r.header("vary"));
        run.checks.push(
            CheckResult::new(
                "vary-origin",
                vary.iter().any(|v| v == "origin" || v == "*"),
                "Vary: Origin",
                if vary.is_empty() {
                    "no Vary".into()
                } else {
                    format!("Vary `{}`", vary.join(", "))
                },
            )
            .on(on),
        );
    }
}

fn wildcard_with_credentials(on: &str) -> CheckResult {
    CheckResult::new(
        "wildcard-with-credentials",
        false,
        "never `*` together with Allow-Credentials: true",
        "`*` with credentials",
    )
    .on(on)
}

/// Rules for an origin that must be refused: no Allow-Origin for it.
fn judge_refused(run: &mut CheckRun, r: &Fetched, rule: &str, origin: &str, on: &str) {
    let acao = r.header("access-control-allow-origin");
    let creds = r
        .header("access-control-allow-credentials")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (passed, actual) = match acao.as_deref() {
        None => (true, "no Access-Control-Allow-Origin".to_string()),
        Some("*") => (false, "`*`: every origin is allowed".to_string()),
        Some(v) if v == origin => (false, format!("`{v}` echoed: any origin is allowed")),
        Some("null") => (false, "`null` allowed".to_string()),
        // Another, fixed origin: the browser blocks this one.
        Some(v) => (true, format!("only `{v}`")),
    };
    run.checks
        .push(CheckResult::new(rule, passed, "no Access-Control-Allow-Origin", actual).on(on));
    if acao.as_deref() == Some("*") && creds {
        run.checks.push(wildcard_with_credentials(on));
    }
}
