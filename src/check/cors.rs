//! CORS semantics of one endpoint, judged the way a browser would use them:
//! preflights from each allowed origin must be answered for exactly that origin
//! and cover the real request; a foreign origin must get no
//! `Access-Control-Allow-Origin` at all (a stray `Allow-Credentials` there is
//! harmless and not judged); `*` with credentials and echoing any origin fail;
//! in production, `http://` and `localhost` origins must be refused too.
//! Only headers are read, never a body; a request that gets no CORS answer
//! at all (no answer, or a 5xx without any `Access-Control-*` header: a proxy
//! whose backend is down) fails the check once, leaving the rest unjudged.

use http::Method;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckRun, Ctx, Cx, Fetched};
use crate::builtins;
use crate::outcome::failure::Failure;
use crate::outcome::{CheckResult, Reason};
use crate::spanned::{S, pos_of};
use crate::syntax::template::Template;

/// Every rule id this check reports (what a findings file may name).
pub const RULES: &[&str] = &[
    "production-origin",
    "preflight-status",
    "allow-origin",
    "allow-methods",
    "allow-headers",
    "allow-credentials",
    "vary-origin",
    "wildcard-with-credentials",
    "foreign-origin-refused",
    "http-origin-refused",
    "localhost-origin-refused",
];

/// CORS semantics of one endpoint for one method.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "cors")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub url: S<String>,
    /// The method of the real request the preflight asks about (default GET).
    #[serde(default)]
    pub method: Option<S<String>>,
    /// Headers the real request sends (`Access-Control-Request-Headers`).
    #[serde(default)]
    pub request_headers: Vec<S<String>>,
    #[schemars(length(min = 1))]
    pub allowed_origins: Vec<S<String>>,
    /// An origin that must be refused (default: a random `https://….invalid`).
    #[serde(default)]
    pub disallowed_origin: Option<S<String>>,
    /// `true`: allowed origins must get `Access-Control-Allow-Credentials: true`;
    /// `false`: they must not. Unset: not checked.
    #[serde(default)]
    pub credentials: Option<bool>,
    /// Production rules: `http://` and `localhost` origins must be refused (default true).
    #[serde(default)]
    pub production: Option<bool>,
    /// URL of a simple (non-preflighted) cross-origin GET to check as well.
    #[serde(default)]
    pub simple_request: Option<S<String>>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub url: Template,
    pub method: http::Method,
    /// Lower-case header names the real request sends.
    pub request_headers: Vec<String>,
    pub allowed_origins: Vec<Template>,
    /// None: a random `https://smokeprobe-….invalid` per run.
    pub disallowed_origin: Option<Template>,
    pub credentials: Option<bool>,
    pub production: bool,
    pub simple_request: Option<Template>,
}

/// The step's `cors:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    let url = cx.url(&r.url, "cors url", &["http", "https"]);
    let method = cx.method(r.method.as_ref());
    let mut request_headers = Vec::new();
    for h in &r.request_headers {
        cx.header_name(pos_of(h), &h.value);
        request_headers.push(h.value.to_ascii_lowercase());
    }
    if r.allowed_origins.is_empty() {
        cx.err(
            pos_of(c),
            "`cors` needs at least one entry in `allowed_origins`",
        );
    }
    let mut allowed = Vec::new();
    for o in &r.allowed_origins {
        if let Some(t) = origin(o, cx) {
            allowed.push(t);
        }
    }
    let disallowed = match &r.disallowed_origin {
        Some(o) => Some(origin(o, cx)?),
        None => None,
    };
    let simple = match &r.simple_request {
        Some(u) => Some(cx.url(u, "simple_request", &["http", "https"])?),
        None => None,
    };
    let url = url?;
    Some((
        Plan {
            url: url.clone(),
            method,
            request_headers,
            allowed_origins: allowed,
            disallowed_origin: disallowed,
            credentials: r.credentials,
            production: r.production.unwrap_or(true),
            simple_request: simple,
        },
        url,
    ))
}

/// An origin: scheme://host[:port], nothing after it (when static).
fn origin(o: &S<String>, cx: &mut impl Cx) -> Option<Template> {
    let t = cx.template(o)?;
    if let Some((text, shown, blame)) = cx.known_value(&t) {
        let ok = url::Url::parse(&text).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && (u.path() == "/" || u.path().is_empty())
                && !text.trim_end_matches('/').ends_with(':')
                && u.query().is_none()
        }) && !text.ends_with('/');
        if !ok {
            let what = match blame {
                Some(b) => format!("origin resolves to `{shown}` ({b}), which"),
                None => format!("`{shown}`"),
            };
            cx.err(
                pos_of(o),
                format!("{what} is not an origin: write scheme://host[:port], e.g. https://app.example.com"),
            );
        }
    }
    Some(t)
}

/// One line on what the check will judge.
pub fn describe(c: &Plan) -> String {
    format!(
        "{} from {} allowed origin(s){}{}{}",
        c.method,
        c.allowed_origins.len(),
        match c.credentials {
            Some(true) => ", with credentials",
            Some(false) => ", without credentials",
            None => "",
        },
        if c.production {
            ", production rules"
        } else {
            ""
        },
        if c.simple_request.is_some() {
            ", plus a simple GET"
        } else {
            ""
        }
    )
}

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

/// An origin as a browser sends it (`Origin` is the serialized origin:
/// lower-case scheme and host, no default port, no path), so that an origin
/// a probe file spells `HTTP://Example.com:80/` is the one it means.
fn serialized(origin: &str) -> String {
    let t = origin.trim().trim_end_matches('/');
    match url::Url::parse(t) {
        Ok(u) if u.origin().is_tuple() => u.origin().ascii_serialization(),
        _ => t.to_string(),
    }
}

/// A preflight is answered by the CORS layer itself (2xx or 4xx); a 5xx
/// without a single `Access-Control-*` header came from something in front
/// of it or instead of it (a proxy whose backend is down): nothing to judge.
fn no_cors_answer(r: &Fetched) -> bool {
    r.status >= 500
        && !r
            .headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-"))
}

const WHAT: &str = "no CORS answer";

/// One CORS request's answer, counted and recorded on `run`; `None` when
/// there is none to judge (the step has failed then): no answer at all, or
/// a 5xx the CORS layer did not make (judged anyway with `any_status`).
/// What the check has not judged yet of `rules` is listed as not judged.
fn answer(
    run: &mut CheckRun,
    got: Result<Fetched, Failure>,
    method: &Method,
    url: &url::Url,
    rules: &[&str],
    any_status: bool,
) -> Option<Fetched> {
    let resp = match got {
        Ok(r) => r,
        Err(f) => {
            let left = run.unjudged(rules);
            run.mark_unanswered(WHAT, method, url, f, left);
            return None;
        }
    };
    run.bytes += resp.wire_bytes;
    if !any_status && no_cors_answer(&resp) {
        let left = run.unjudged(rules);
        run.mark_not_an_answer(WHAT, method, url, resp.status, left);
        return None;
    }
    run.answered(method, url, resp.status);
    Some(resp)
}

/// An origin that must be refused: (its rule, the origin, whether the probe
/// made it up).
type Refused = (&'static str, String, bool);

/// The allowed origins as a browser sends them, and the origins that must
/// be refused: a foreign one (made up unless the step names one) and, in
/// production, `http://` and `localhost` ones; an origin the probe file
/// allows is judged as allowed, never as refused.
fn origins(c: &Plan, ctx: &Ctx<'_>) -> Result<(Vec<String>, Vec<Refused>), Failure> {
    let mut allowed: Vec<String> = Vec::new();
    for t in &c.allowed_origins {
        let o = serialized(&ctx.expand(t)?);
        if !allowed.contains(&o) {
            allowed.push(o);
        }
    }
    // Only an origin the probe made up proves that any origin is echoed.
    let (foreign, invented) = match &c.disallowed_origin {
        Some(t) => (serialized(&ctx.expand(t)?), false),
        None => (
            format!("https://smokeprobe-{}.invalid", builtins::random_hex(8)),
            true,
        ),
    };
    let mut refused = vec![("foreign-origin-refused", foreign, invented)];
    if c.production {
        let host = allowed
            .first()
            .and_then(|o| url::Url::parse(o).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "example.com".into());
        refused.push(("http-origin-refused", format!("http://{host}"), false));
        refused.push((
            "localhost-origin-refused",
            "http://localhost:3000".into(),
            false,
        ));
    }
    // The probe file allows it: judged as allowed, never as refused.
    refused.retain(|(_, o, _)| !allowed.contains(o));
    Ok((allowed, refused))
}

/// The rules the check will judge: what a request that gets no answer
/// leaves unjudged.
fn rules_of(c: &Plan, refused: &[Refused]) -> Vec<&'static str> {
    let mut rules = vec!["preflight-status", "allow-origin", "allow-methods"];
    if !c.request_headers.is_empty() {
        rules.push("allow-headers");
    }
    if c.credentials.is_some() {
        rules.push("allow-credentials");
    }
    rules.push("vary-origin");
    rules.extend(refused.iter().map(|(r, _, _)| *r));
    if c.simple_request.is_some() && !rules.contains(&"foreign-origin-refused") {
        rules.push("foreign-origin-refused");
    }
    rules
}

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    let mut run = CheckRun::new(Reason::Assertion, c.url.display());
    let url = match ctx.url(&c.url) {
        Ok(u) => u,
        Err(f) => return run.fail(f),
    };
    run.url = url.to_string();
    let (allowed, refused) = match origins(c, ctx) {
        Ok(o) => o,
        Err(f) => return run.fail(f),
    };
    let rules = rules_of(c, &refused);

    // A preflight as a browser sends it for the configured request. Only
    // headers are read: a body (a preflight's, or a broken feed's) is never
    // judged, and never fails the check.
    let options = Method::OPTIONS;
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
        ctx.fetch_head(options.clone(), &url, &h).await
    };

    for origin in &allowed {
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
        let got = preflight(origin).await;
        let Some(resp) = answer(&mut run, got, &options, &url, &rules, false) else {
            return run;
        };
        judge_allowed(&mut run, c, &resp, origin, &on, true);
    }

    for (rule, origin, invented) in refused {
        let got = preflight(&origin).await;
        let Some(resp) = answer(&mut run, got, &options, &url, &rules, false) else {
            return run;
        };
        let on = format!("preflight from {origin}");
        judge_refused(&mut run, &resp, rule, &origin, invented, &on);
    }

    match &c.simple_request {
        Some(t) => simple_request(run, c, ctx, t, allowed.first(), &rules).await,
        None => run,
    }
}

/// A simple (non-preflighted) GET from the first allowed origin, judged as
/// allowed, and one from a made-up origin, judged as refused.
async fn simple_request(
    mut run: CheckRun,
    c: &Plan,
    ctx: &Ctx<'_>,
    t: &Template,
    first_allowed: Option<&String>,
    rules: &[&str],
) -> CheckRun {
    let simple = match ctx.url(t) {
        Ok(u) => u,
        Err(f) => return run.fail(f),
    };
    let get = Method::GET;
    if let Some(origin) = first_allowed {
        let on = format!("GET from {origin}");
        let h = [("origin", origin.clone())];
        let got = ctx.fetch_head(get.clone(), &simple, &h).await;
        let Some(r) = answer(&mut run, got, &get, &simple, rules, false) else {
            return run;
        };
        judge_allowed(&mut run, c, &r, origin, &on, false);
    }
    // From a refused origin no Allow-Origin is the right answer whatever
    // the status (the application ran, and the browser blocks it).
    let origin = format!("https://smokeprobe-{}.invalid", builtins::random_hex(8));
    let h = [("origin", origin.clone())];
    let got = ctx.fetch_head(get.clone(), &simple, &h).await;
    let Some(r) = answer(&mut run, got, &get, &simple, rules, true) else {
        return run;
    };
    let on = format!("GET from {origin}");
    judge_refused(&mut run, &r, "foreign-origin-refused", &origin, true, &on);
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
    c: &Plan,
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
        run.checks.push(allow_methods(c, r, creds).on(on));
        run.checks
            .extend(allow_headers(c, r, creds).map(|v| v.on(on)));
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

/// `allow-methods`: a preflight's answer covers the request's method.
fn allow_methods(c: &Plan, r: &Fetched, creds: bool) -> CheckResult {
    let methods = list(r.header("access-control-allow-methods"));
    let m = c.method.as_str();
    let covered = SAFELISTED_METHODS.contains(&m)
        || methods.iter().any(|x| x.eq_ignore_ascii_case(m))
        || (methods.iter().any(|x| x == "*") && !creds);
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
}

/// `allow-headers`, when the request sends headers: a preflight's answer
/// covers every one a browser would list.
fn allow_headers(c: &Plan, r: &Fetched, creds: bool) -> Option<CheckResult> {
    let allowed = list(r.header("access-control-allow-headers"));
    let star = allowed.iter().any(|x| x == "*") && !creds;
    let missing: Vec<&String> = c
        .request_headers
        .iter()
        .filter(|h| !SAFELISTED_HEADERS.contains(&h.as_str()))
        // `*` never covers Authorization.
        .filter(|h| !(allowed.contains(h) || (star && h.as_str() != "authorization")))
        .collect();
    (!c.request_headers.is_empty()).then(|| {
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
    })
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
/// `invented`: the probe made the origin up, so an echo of it means any
/// origin is echoed; a fixed one (`http://HOST`, `http://localhost:3000`, a
/// configured `disallowed_origin`) echoed is only that origin allowed.
fn judge_refused(
    run: &mut CheckRun,
    r: &Fetched,
    rule: &str,
    origin: &str,
    invented: bool,
    on: &str,
) {
    let acao = r.header("access-control-allow-origin");
    let creds = r
        .header("access-control-allow-credentials")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (passed, actual) = match acao.as_deref() {
        None => (true, "no Access-Control-Allow-Origin".to_string()),
        Some("*") => (false, "`*`: every origin is allowed".to_string()),
        Some(v) if v == origin && invented => {
            (false, format!("`{v}` echoed: any origin is allowed"))
        }
        Some(v) if v == origin => (
            false,
            match dev_origin(v) {
                Some(why) => format!("`{v}` allowed ({why})"),
                None => format!("`{v}` allowed"),
            },
        ),
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
