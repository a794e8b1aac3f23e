//! API description in production: `/openapi.json`, `/docs` (Swagger UI) and
//! `/redoc` under an API base are each one verdict of the rule
//! `api-docs-public` (a warning unless the step says `level: required`).
//!
//! A path only counts as served when its answer *is* the thing: the OpenAPI
//! document is JSON with an `openapi` or `swagger` member, `/docs` is Swagger
//! UI's HTML, `/redoc` ReDoc's. An SPA host answers every unknown path with
//! its `index.html` and 200, and that is not an API description.

use http::Method;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckRun, Ctx, Cx, Fetched, level_word, path_of};
use crate::outcome::failure::Failure;
use crate::outcome::{CheckResult, Reason};
use crate::spanned::S;
use crate::syntax::template::Template;
use crate::vocab::headers::Level;

const RULE: &str = "api-docs-public";

/// The one rule this check reports.
pub const RULES: &[&str] = &[RULE];

/// The API description (`/openapi.json`, `/docs`, `/redoc`) under an API base
/// must not be public.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "apiDocs")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub base: S<String>,
    /// `warning` (default) or `required`.
    #[serde(default)]
    pub level: Option<S<String>>,
}

/// `/openapi.json`, `/docs` and `/redoc` under `base` must not be served.
#[derive(Clone, Debug)]
pub struct Plan {
    pub base: Template,
    /// `Required` or `Warning`.
    pub level: Level,
}

/// The step's `api_docs:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    let base = cx.url(&r.base, "api_docs base", &["http", "https"]);
    let level = cx.level(r.level.as_ref());
    let base = base?;
    Some((
        Plan {
            base: base.clone(),
            level,
        },
        base,
    ))
}

/// One line on what the check will judge.
pub fn describe(d: &Plan) -> String {
    format!(
        "/openapi.json, /docs and /redoc not public ({})",
        level_word(d.level)
    )
}

const EXPECTED: &str = "not public in production";

#[derive(Clone, Copy)]
enum Doc {
    OpenApi,
    SwaggerUi,
    Redoc,
}

const DOCS: [(&str, Doc); 3] = [
    ("/openapi.json", Doc::OpenApi),
    ("/docs", Doc::SwaggerUi),
    ("/redoc", Doc::Redoc),
];

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    let base = match ctx.expand(&c.base) {
        Ok(b) => b,
        Err(f) => return CheckRun::new(Reason::Assertion, c.base.display()).fail(f),
    };
    let mut run = CheckRun::new(Reason::Assertion, base.clone());
    let base = base.trim_end_matches('/');
    let mut server_errors = Vec::new();
    for (i, (path, doc)) in DOCS.iter().enumerate() {
        let text = format!("{base}{path}");
        let url = match url::Url::parse(&text) {
            Ok(u) => u,
            Err(e) => {
                return run.fail(Failure::new(
                    Reason::Request,
                    format!("invalid URL `{text}`: {e}"),
                ));
            }
        };
        if i == 0 {
            run.url = url.to_string();
        }
        let accept = match doc {
            Doc::OpenApi => "application/json",
            _ => "text/html",
        };
        let resp = match ctx
            .fetch(true, Method::GET, &url, &[("accept", accept.into())], None)
            .await
        {
            Ok(r) => r,
            Err(f) => {
                let msg = format!("GET {url}: {}", f.message);
                return run.fail(Failure::new(f.reason, msg));
            }
        };
        run.answered(&Method::GET, &url, resp.status);
        run.bytes += resp.body.len() as u64;
        if resp.status >= 500 {
            server_errors.push(resp.status);
        }
        let served = served(*doc, &resp);
        run.checks.push(
            CheckResult::new(
                RULE,
                served.is_none(),
                EXPECTED,
                served.unwrap_or_else(|| not_served(*doc, &resp)),
            )
            .on(path_of(&url))
            .warning(c.level == Level::Warning),
        );
    }
    if server_errors.len() == DOCS.len() {
        // A backend that is down says nothing about what it serves when up
        // (a single 5xx, e.g. a debug-mode error page for `/docs`, is just
        // "not served").
        run.checks.clear();
        let mut codes: Vec<String> = server_errors.iter().map(u16::to_string).collect();
        codes.dedup();
        return run.fail(Failure::new(
            Reason::Status,
            format!(
                "no verdict on the API description: {base}/openapi.json, /docs and /redoc all answered {}",
                codes.join(" or ")
            ),
        ));
    }
    run
}

/// What the answer is, when it is the API description (`None`: it is not).
fn served(doc: Doc, r: &Fetched) -> Option<String> {
    if !(200..300).contains(&r.status) {
        return None;
    }
    let text = r.text();
    match doc {
        Doc::OpenApi => {
            let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            let (kind, version) = ["openapi", "swagger"]
                .into_iter()
                .find_map(|k| v.get(k).and_then(|x| x.as_str()).map(|x| (k, x)))?;
            let name = if kind == "openapi" {
                "an OpenAPI"
            } else {
                "a Swagger"
            };
            let paths = v
                .get("paths")
                .and_then(|p| p.as_object())
                .map_or(0, |p| p.len());
            Some(format!(
                "served: {name} {} document describing {paths} path(s)",
                short(version)
            ))
        }
        Doc::SwaggerUi => (text.contains("SwaggerUIBundle")
            || text.contains("id=\"swagger-ui\"")
            || text.contains("swagger-ui-bundle.js"))
        .then(|| "served: Swagger UI (interactive API docs)".to_string()),
        Doc::Redoc => (text.contains("<redoc")
            || text.contains("redoc.standalone.js")
            || text.contains("Redoc.init("))
        .then(|| "served: ReDoc (API reference)".to_string()),
    }
}

/// Why an answer is not the API description, in words.
fn not_served(doc: Doc, r: &Fetched) -> String {
    if !(200..300).contains(&r.status) {
        return format!("not served ({})", r.status);
    }
    let ct = r
        .header("content-type")
        .map(|t| t.split(';').next().unwrap_or_default().trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "no content type".into());
    let what = match doc {
        Doc::OpenApi => "not an OpenAPI document",
        Doc::SwaggerUi => "not Swagger UI",
        Doc::Redoc => "not ReDoc",
    };
    let fallback = if ct.eq_ignore_ascii_case("text/html") {
        ": the site's fallback page?"
    } else {
        ""
    };
    format!("not served ({} {ct}, {what}{fallback})", r.status)
}

/// A version string as the document states it, kept short and printable.
fn short(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control())
        .take(20)
        .collect::<String>()
}
