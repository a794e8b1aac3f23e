//! Frontend delivery: the SPA root answers 200 `text/html`; every script,
//! module preload and stylesheet it references loads with the right content
//! type, compressed when it is worth it; the bundle stays within its budgets
//! (uncompressed and as transferred); no source map is served. Requests here go
//! through a client that does not decompress, so sizes and encodings are what
//! crossed the wire.
//!
//! Only the site's own assets are fetched (see [`place`]): a third-party
//! stylesheet (Google Fonts) or script (a CAPTCHA widget) is listed in the
//! result as not fetched, never requested, never in a total, never judged —
//! unless the check's `third_party:` names its host.

use std::io::Read;
use std::sync::LazyLock;

use http::Method;
use regex::Regex;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckRun, Ctx, Cx, Fetched, path_of};
use crate::outcome::failure::Failure;
use crate::outcome::{CheckResult, NotFetched, Reason};
use crate::spanned::{S, pos_of};
use crate::syntax::RawSize;
use crate::syntax::template::Template;

/// Every rule id this check reports (what a findings file may name).
pub const RULES: &[&str] = &[
    "html",
    "asset-status",
    "asset-type",
    "compression",
    "no-source-map",
    "bundle-size",
    "bundle-size-compressed",
];

/// The SPA's HTML and the assets it references.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "frontend")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub url: S<String>,
    /// Budget for the sum of the assets' uncompressed sizes.
    #[serde(default)]
    pub max_total: Option<S<RawSize>>,
    /// Budget for the sum of the assets' sizes as transferred (compressed).
    #[serde(default)]
    pub max_total_compressed: Option<S<RawSize>>,
    /// Assets of 1 KiB or more must be served compressed (default true).
    #[serde(default)]
    pub require_compression: Option<bool>,
    /// Source maps may be served (default false).
    #[serde(default)]
    pub allow_source_maps: bool,
    /// Other hosts whose assets are fetched and judged like the site's own
    /// (default none: third-party assets are listed, never fetched).
    #[serde(default)]
    pub third_party: Vec<S<String>>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub url: Template,
    pub max_total: Option<u64>,
    pub max_total_compressed: Option<u64>,
    pub require_compression: bool,
    pub allow_source_maps: bool,
    /// Host names (lowercase) whose assets are fetched and judged like own.
    pub third_party: Vec<String>,
}

/// The step's `frontend:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    let url = cx.url(&r.url, "frontend url", &["http", "https"]);
    let max_total = match &r.max_total {
        Some(s) => Some(cx.size(pos_of(s), &s.value)?),
        None => None,
    };
    let max_total_compressed = match &r.max_total_compressed {
        Some(s) => Some(cx.size(pos_of(s), &s.value)?),
        None => None,
    };
    let third_party = cx.hosts(&r.third_party);
    let url = url?;
    Some((
        Plan {
            url: url.clone(),
            max_total,
            max_total_compressed,
            require_compression: r.require_compression.unwrap_or(true),
            allow_source_maps: r.allow_source_maps,
            third_party,
        },
        url,
    ))
}

/// One line on what the check will judge.
pub fn describe(f: &Plan) -> String {
    format!(
        "{}{}{}{}",
        if f.third_party.is_empty() {
            "own assets".to_string()
        } else {
            format!("own assets and those on {}", f.third_party.join(", "))
        },
        f.max_total
            .map(|m| format!(", ≤ {m} bytes uncompressed"))
            .unwrap_or_default(),
        f.max_total_compressed
            .map(|m| format!(", ≤ {m} bytes transferred"))
            .unwrap_or_default(),
        if f.allow_source_maps {
            ""
        } else {
            ", no source maps"
        }
    )
}

/// Assets smaller than this need not be compressed.
const COMPRESS_FROM: u64 = 1024;

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?is)<(script|link)\b([^>]{0,2000})>"#).expect("static regex"));
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)\b(src|href|rel)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#)
        .expect("static regex")
});
static MAP_COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[#@] sourceMappingURL=([^\s*'\x22]+)").expect("static regex"));

/// What the HTML references: `<script src>`, `<link rel=modulepreload>` (a
/// script too) or `<link rel=stylesheet>`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Script,
    Preload,
    Style,
}

impl Kind {
    pub fn is_script(self) -> bool {
        matches!(self, Kind::Script | Kind::Preload)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Script => "script",
            Kind::Preload => "module preload",
            Kind::Style => "stylesheet",
        }
    }
}

/// Whose an asset is, seen from the page that references it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Place {
    /// On the page's own host.
    Own,
    /// On another host that the check's `third_party:` lists: judged like own.
    OptedIn,
    /// On another host: listed, never fetched.
    ThirdParty,
    /// Not an http(s) URL (`data:`, `blob:`): nothing to fetch.
    NotHttp,
}

impl Place {
    pub fn fetched(self) -> bool {
        matches!(self, Place::Own | Place::OptedIn)
    }
}

/// Where `asset` (already resolved against `page`, so relative and
/// protocol-relative references have their host) lives. "Own" means the same
/// host name as the page — compared without regard to case or a trailing
/// dot, whatever the scheme (http or https) and port: a site's assets on
/// another port or scheme of its own host are still its own (the probe
/// contacts no one new). Another name, even a subdomain, is a third party
/// unless `opted_in` lists it.
pub(super) fn place(page: &url::Url, asset: &url::Url, opted_in: &[String]) -> Place {
    if !matches!(asset.scheme(), "http" | "https") {
        return Place::NotHttp;
    }
    let Some(host) = asset.host_str() else {
        return Place::NotHttp;
    };
    let same = |a: &str, b: &str| {
        let trim = |h: &str| h.strip_suffix('.').unwrap_or(h).to_string();
        trim(a).eq_ignore_ascii_case(&trim(b))
    };
    if page.host_str().is_some_and(|p| same(p, host)) {
        Place::Own
    } else if opted_in.iter().any(|h| same(h, host)) {
        Place::OptedIn
    } else {
        Place::ThirdParty
    }
}

/// What a verdict on an asset is `on`: its path on the page's own host, the
/// whole URL on an opted-in third-party host (a path alone would not say whose).
pub(super) fn subject(asset: &url::Url, place: Place) -> String {
    match place {
        Place::OptedIn => asset.to_string(),
        _ => path_of(asset),
    }
}

/// Records an asset that is not fetched, once per URL.
pub(super) fn list_not_fetched(
    out: &mut Vec<NotFetched>,
    asset: &url::Url,
    kind: &'static str,
    place: Place,
) {
    let url = asset.to_string();
    if out.iter().any(|n| n.url == url) {
        return;
    }
    out.push(NotFetched {
        url,
        kind,
        reason: match place {
            Place::NotHttp => "not-http",
            _ => "third-party",
        },
    });
}

/// An attribute value with the HTML character references a URL may carry
/// (`&amp;` in a query string above all) decoded.
fn unescape(v: &str) -> String {
    if !v.contains('&') {
        return v.to_string();
    }
    v.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// (kind, reference) for every script and stylesheet in the HTML, in order.
pub(super) fn assets(html: &str) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = Vec::new();
    for t in TAG.captures_iter(html) {
        let tag = t[1].to_ascii_lowercase();
        let (mut src, mut href, mut rel) = (None, None, String::new());
        for a in ATTR.captures_iter(&t[2]) {
            let v = a
                .get(2)
                .or(a.get(3))
                .or(a.get(4))
                .map(|m| unescape(m.as_str().trim()))
                .unwrap_or_default();
            match a[1].to_ascii_lowercase().as_str() {
                "src" => src = Some(v),
                "href" => href = Some(v),
                _ => rel = v.to_ascii_lowercase(),
            }
        }
        let found = match tag.as_str() {
            "script" => src.map(|s| (Kind::Script, s)),
            _ => {
                let rels: Vec<&str> = rel.split_whitespace().collect();
                if rels.contains(&"stylesheet") {
                    href.map(|h| (Kind::Style, h))
                } else if rels.contains(&"modulepreload") {
                    href.map(|h| (Kind::Preload, h))
                } else {
                    None
                }
            }
        };
        if let Some(a) = found
            && !a.1.is_empty()
            && !out.iter().any(|(_, r)| *r == a.1)
        {
            out.push(a);
        }
    }
    out
}

/// Decoded size of a body as transferred; None when the encoding is one we
/// cannot decode here (then the wire size is all we know).
fn decoded_len(r: &Fetched, cap: u64) -> Result<Option<u64>, String> {
    match r
        .header("content-encoding")
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => Ok(Some(r.body.len() as u64)),
        Some("gzip") | Some("x-gzip") => {
            let mut d = flate2::read::GzDecoder::new(&r.body[..]).take(cap + 1);
            let mut sink = Vec::new();
            let n = d
                .read_to_end(&mut sink)
                .map_err(|e| format!("invalid gzip body: {e}"))? as u64;
            if n > cap {
                return Err(format!("decompresses past the {cap}-byte body limit"));
            }
            Ok(Some(n))
        }
        Some(_) => Ok(None),
    }
}

fn encoded(r: &Fetched) -> Option<String> {
    r.header("content-encoding")
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
}

fn kb(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.2} MB", n as f64 / 1e6)
    } else {
        format!("{:.1} KB", n as f64 / 1e3)
    }
}

/// `html`: the page answers 200 `text/html`. Whether it does (then its
/// assets are judged).
fn judge_page(run: &mut CheckRun, page: &Fetched, on: &str) -> bool {
    let ct = page.header("content-type").unwrap_or_default();
    let is_html = ct.to_ascii_lowercase().starts_with("text/html");
    run.checks.push(
        CheckResult::new(
            "html",
            page.status == 200 && is_html,
            "200 text/html",
            format!(
                "{} {}",
                page.status,
                if ct.is_empty() {
                    "no content type"
                } else {
                    &ct
                }
            ),
        )
        .on(on),
    );
    page.status == 200 && is_html
}

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    let mut run = CheckRun::new(Reason::Assertion, c.url.display());
    let url = match ctx.url(&c.url) {
        Ok(u) => u,
        Err(f) => return run.fail(f),
    };
    run.url = url.to_string();
    const PAGE: &str = "no page to judge";
    let rules = rules_of(c);
    let get = Method::GET;
    let root = match ctx
        .fetch(
            false,
            get.clone(),
            &url,
            &[
                ("accept", "text/html".into()),
                ("accept-encoding", "gzip".into()),
            ],
            None,
        )
        .await
    {
        Ok(r) => r,
        Err(f) => {
            let left = run.unjudged(&rules);
            return run.unanswered(PAGE, &get, &url, f, left);
        }
    };
    if root.status >= 500 {
        let left = run.unjudged(&rules);
        return run.not_an_answer(PAGE, &get, &url, root.status, left);
    }
    run.answered(&get, &url, root.status);
    run.bytes += root.body.len() as u64;
    let page_ok = judge_page(&mut run, &root, &path_of(&url));
    let html = match page_html(&root, &url, ctx.max_body) {
        Ok(h) => h,
        Err(f) => return run.broken(f),
    };
    if !page_ok {
        return run;
    }
    let refs = assets(&html);
    let mut totals = Totals::default();
    // What an asset without an answer leaves unjudged: it and the ones after
    // it that the check would have fetched.
    let left = |from: usize| -> Vec<String> {
        refs[from..]
            .iter()
            .filter_map(|(_, r)| match url.join(r) {
                Ok(a) => {
                    let at = place(&url, &a, &c.third_party);
                    at.fetched().then(|| subject(&a, at))
                }
                Err(_) => Some(r.clone()),
            })
            .collect()
    };
    for (i, (kind, r)) in refs.iter().enumerate() {
        let Ok(asset) = url.join(r) else {
            totals.judged += 1;
            run.checks.push(
                CheckResult::new("asset-status", false, "a loadable URL", format!("`{r}`"))
                    .on(r.as_str()),
            );
            continue;
        };
        let at = place(&url, &asset, &c.third_party);
        if !at.fetched() {
            list_not_fetched(&mut run.not_fetched, &asset, kind.label(), at);
            continue;
        }
        totals.judged += 1;
        if let Err(stop) =
            judge_asset(c, ctx, &mut run, &url, (*kind, &asset, at), &mut totals).await
        {
            return match stop {
                Stop::Unanswered(what, u, f) => run.unanswered(what, &get, &u, f, left(i)),
                Stop::NotAnAnswer(what, u, s) => run.not_an_answer(what, &get, &u, s, left(i)),
                Stop::Broken(f) => run.broken(f),
            };
        }
    }
    push_totals(c, &mut run, &totals);
    run
}

/// The rules a frontend check judges, for listing what an unanswered page
/// leaves unjudged.
fn rules_of(c: &Plan) -> Vec<&'static str> {
    let mut rules = vec!["html", "asset-status", "asset-type"];
    if c.require_compression {
        rules.push("compression");
    }
    if !c.allow_source_maps {
        rules.push("no-source-map");
    }
    if c.max_total.is_some() {
        rules.push("bundle-size");
    }
    if c.max_total_compressed.is_some() {
        rules.push("bundle-size-compressed");
    }
    rules
}

/// The page's HTML, gunzipped when it came compressed (only gzip is accepted).
fn page_html(root: &Fetched, url: &url::Url, max_body: u64) -> Result<String, Failure> {
    Ok(match encoded(root).as_deref() {
        None => root.text().into_owned(),
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let mut d = flate2::read::GzDecoder::new(&root.body[..]).take(max_body);
            let mut s = Vec::new();
            if let Err(e) = d.read_to_end(&mut s) {
                return Err(Failure::new(
                    Reason::Protocol,
                    format!("GET {url}: the HTML's gzip body is invalid: {e}"),
                ));
            }
            String::from_utf8_lossy(&s).into_owned()
        }
        Some(e) => {
            return Err(Failure::new(
                Reason::Protocol,
                format!(
                    "GET {url}: the HTML came back `{e}`-encoded although only gzip was accepted"
                ),
            ));
        }
    })
}

/// Why judging one asset stopped the whole check.
enum Stop {
    /// No answer for `url` (`what` names it).
    Unanswered(&'static str, url::Url, Failure),
    /// A 5xx for `url`: not an answer to judge.
    NotAnAnswer(&'static str, url::Url, u16),
    /// An answer that could not be read.
    Broken(Failure),
}

/// What the bundle-size rules add up over the judged assets.
#[derive(Default)]
struct Totals {
    /// Decoded bytes (transferred ones where the encoding is not decodable).
    total: u64,
    /// Transferred bytes.
    wire: u64,
    /// Assets counted as transferred.
    unknown: usize,
    judged: usize,
}

/// Fetches one of the page's own assets and judges it: `asset-status`,
/// `asset-type`, `compression`, then its source map.
async fn judge_asset(
    c: &Plan,
    ctx: &Ctx<'_>,
    run: &mut CheckRun,
    url: &url::Url,
    (kind, asset, at): (Kind, &url::Url, Place),
    totals: &mut Totals,
) -> Result<(), Stop> {
    const ASSET: &str = "no answer for an asset";
    let gzip = [("accept-encoding", "gzip".to_string())];
    let on = subject(asset, at);
    let resp = match ctx.fetch(false, Method::GET, asset, &gzip, None).await {
        Ok(x) => x,
        Err(f) => return Err(Stop::Unanswered(ASSET, asset.clone(), f)),
    };
    if resp.status >= 500 {
        return Err(Stop::NotAnAnswer(ASSET, asset.clone(), resp.status));
    }
    run.answered(&Method::GET, asset, resp.status);
    run.bytes += resp.body.len() as u64;
    run.checks.push(
        CheckResult::new(
            "asset-status",
            resp.status == 200,
            "200",
            resp.status.to_string(),
        )
        .on(&on),
    );
    if resp.status != 200 {
        return Ok(());
    }
    let ct = resp
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (want, ok) = match kind {
        Kind::Script | Kind::Preload => (
            "a JavaScript content type",
            ct.contains("javascript") || ct.contains("ecmascript"),
        ),
        Kind::Style => ("text/css", ct.starts_with("text/css")),
    };
    run.checks.push(
        CheckResult::new(
            "asset-type",
            ok,
            want,
            if ct.is_empty() {
                "no content type".to_string()
            } else {
                ct.clone()
            },
        )
        .on(&on),
    );
    let wire = resp.body.len() as u64;
    let size = match decoded_len(&resp, ctx.max_body) {
        Ok(s) => s,
        Err(e) => {
            return Err(Stop::Broken(Failure::new(
                Reason::Protocol,
                format!("GET {asset}: {e}"),
            )));
        }
    };
    totals.wire += wire;
    match size {
        Some(s) => totals.total += s,
        None => {
            totals.unknown += 1;
            totals.total += wire;
        }
    }
    if c.require_compression && size.unwrap_or(wire) >= COMPRESS_FROM {
        let enc = encoded(&resp);
        run.checks.push(
            CheckResult::new(
                "compression",
                enc.is_some(),
                "served compressed (gzip accepted)",
                match enc {
                    Some(e) => format!("{e}, {} → {}", kb(size.unwrap_or(wire)), kb(wire)),
                    None => format!("uncompressed, {}", kb(wire)),
                },
            )
            .on(&on),
        );
    }
    if !c.allow_source_maps {
        source_map(c, ctx, run, url, asset, &resp, &on).await?;
    }
    Ok(())
}

/// `no-source-map`: the map an asset names (a header, its closing comment, or
/// `<asset>.map`) must not be served.
async fn source_map(
    c: &Plan,
    ctx: &Ctx<'_>,
    run: &mut CheckRun,
    url: &url::Url,
    asset: &url::Url,
    resp: &Fetched,
    on: &str,
) -> Result<(), Stop> {
    let gzip = [("accept-encoding", "gzip".to_string())];
    let map_ref = resp
        .header("sourcemap")
        .or_else(|| resp.header("x-sourcemap"))
        .or_else(|| {
            // The comment sits at the end of the file (only look there).
            let text = resp.text();
            let tail: String = text
                .chars()
                .rev()
                .take(512)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            MAP_COMMENT.captures(&tail).map(|m| m[1].to_string())
        })
        .unwrap_or_else(|| format!("{}.map", asset.path()));
    if map_ref.starts_with("data:") {
        // An inline map ships the sources inside the bundle itself.
        run.checks.push(
            CheckResult::new(
                "no-source-map",
                false,
                "not served (an error or the HTML fallback)",
                "an inline (data:) source map is embedded in the asset",
            )
            .on(on),
        );
        return Ok(());
    }
    let Ok(map_url) = asset.join(&map_ref) else {
        return Ok(());
    };
    let map_at = place(url, &map_url, &c.third_party);
    if !map_at.fetched() {
        // A map on someone else's host is not the site serving it.
        list_not_fetched(&mut run.not_fetched, &map_url, "source map", map_at);
        return Ok(());
    }
    let m = match ctx.fetch(false, Method::GET, &map_url, &gzip, None).await {
        Ok(x) => x,
        Err(f) => {
            let what = "no answer for a source map";
            return Err(Stop::Unanswered(what, map_url, f));
        }
    };
    run.answered(&Method::GET, &map_url, m.status);
    let mct = m
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    // An SPA fallback answers every path with index.html: that is not a map.
    let served = m.status == 200 && !mct.starts_with("text/html");
    run.checks.push(
        CheckResult::new(
            "no-source-map",
            !served,
            "not served (an error or the HTML fallback)",
            format!(
                "{} {} for {}",
                m.status,
                if mct.is_empty() {
                    "no content type"
                } else {
                    &mct
                },
                subject(&map_url, map_at)
            ),
        )
        .on(on),
    );
    Ok(())
}

/// `bundle-size` and `bundle-size-compressed` over the judged assets.
fn push_totals(c: &Plan, run: &mut CheckRun, t: &Totals) {
    // The totals are the site's own bundle (and opted-in hosts'): third-party
    // files are someone else's weight.
    let label = format!("{} asset(s)", t.judged);
    let approx = if t.unknown > 0 {
        format!(
            " ({} counted as transferred: encoding not decodable here)",
            t.unknown
        )
    } else {
        String::new()
    };
    if let Some(max) = c.max_total {
        run.checks.push(
            CheckResult::new(
                "bundle-size",
                t.total <= max,
                format!("≤ {} uncompressed", kb(max)),
                format!("{}{approx}", kb(t.total)),
            )
            .on(&label),
        );
    }
    if let Some(max) = c.max_total_compressed {
        run.checks.push(
            CheckResult::new(
                "bundle-size-compressed",
                t.wire <= max,
                format!("≤ {} transferred", kb(max)),
                kb(t.wire),
            )
            .on(&label),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_scripts_preloads_and_stylesheets() {
        let html = r#"<!doctype html><head>
        <script type="module" crossorigin src="/assets/index-3f9a1c.js"></script>
        <link rel="modulepreload" href='/assets/vendor.js'>
        <link rel=stylesheet href=/assets/index.css>
        <link rel="icon" href="/favicon.svg">
        <script>inline()</script>
        <SCRIPT SRC="/assets/index-3f9a1c.js"></SCRIPT>"#;
        assert_eq!(
            assets(html),
            vec![
                (Kind::Script, "/assets/index-3f9a1c.js".to_string()),
                (Kind::Preload, "/assets/vendor.js".to_string()),
                (Kind::Style, "/assets/index.css".to_string()),
            ]
        );
    }

    fn at(page: &str, reference: &str, opted_in: &[&str]) -> Place {
        let page = url::Url::parse(page).unwrap();
        let asset = page.join(reference).unwrap();
        let opted: Vec<String> = opted_in.iter().map(|h| h.to_string()).collect();
        place(&page, &asset, &opted)
    }

    #[test]
    fn own_means_the_pages_host_name() {
        let page = "https://contravento.example/";
        // Relative, root-relative and absolute on the same host.
        assert_eq!(at(page, "assets/app.js", &[]), Place::Own);
        assert_eq!(at(page, "/assets/app.js", &[]), Place::Own);
        assert_eq!(
            at(page, "https://contravento.example/assets/app.css", &[]),
            Place::Own
        );
        // Protocol-relative takes the page's scheme; its host decides.
        assert_eq!(at(page, "//contravento.example/a.css", &[]), Place::Own);
        assert_eq!(at(page, "//cdn.example/a.css", &[]), Place::ThirdParty);
        // Host names compare without case (and a trailing dot).
        assert_eq!(
            at(page, "HTTPS://ContraVento.EXAMPLE/a.js", &[]),
            Place::Own
        );
        assert_eq!(
            at(
                "https://CONTRAVENTO.example/",
                "https://contravento.example./a.js",
                &[]
            ),
            Place::Own
        );
        // Another port or scheme of the same host is still the site's own.
        assert_eq!(
            at(page, "https://contravento.example:8443/a.js", &[]),
            Place::Own
        );
        assert_eq!(at(page, "http://contravento.example/a.js", &[]), Place::Own);
        assert_eq!(
            at("http://127.0.0.1:8080/", "http://127.0.0.1:9090/a.css", &[]),
            Place::Own
        );
        // Another host, even a subdomain or the same address under another name.
        assert_eq!(
            at(page, "https://fonts.googleapis.com/css2?family=Inter", &[]),
            Place::ThirdParty
        );
        assert_eq!(
            at(page, "https://www.contravento.example/a.js", &[]),
            Place::ThirdParty
        );
        assert_eq!(
            at("http://127.0.0.1:8080/", "http://localhost:8080/a.css", &[]),
            Place::ThirdParty
        );
        // Opted in by host name, whatever its case in the probe file.
        assert_eq!(
            at(page, "https://CDN.example/a.js", &["cdn.example"]),
            Place::OptedIn
        );
        assert_eq!(
            at(page, "https://cdn.example:444/a.js", &["cdn.example"]),
            Place::OptedIn
        );
        assert_eq!(
            at(page, "https://other.example/a.js", &["cdn.example"]),
            Place::ThirdParty
        );
        // Nothing to fetch.
        assert_eq!(at(page, "data:text/css,body{}", &[]), Place::NotHttp);
        assert_eq!(
            at(page, "ftp://contravento.example/a.js", &[]),
            Place::NotHttp
        );
    }

    #[test]
    fn opted_in_assets_are_named_by_their_whole_url() {
        let u = url::Url::parse("https://cdn.example/x/a.js?v=1").unwrap();
        assert_eq!(
            subject(&u, Place::OptedIn),
            "https://cdn.example/x/a.js?v=1"
        );
        assert_eq!(subject(&u, Place::Own), "/x/a.js?v=1");
    }

    #[test]
    fn not_fetched_assets_are_listed_once() {
        let mut out = Vec::new();
        let g = url::Url::parse("https://fonts.googleapis.com/css2?family=Inter").unwrap();
        list_not_fetched(&mut out, &g, Kind::Style.label(), Place::ThirdParty);
        list_not_fetched(&mut out, &g, Kind::Style.label(), Place::ThirdParty);
        let d = url::Url::parse("data:text/javascript,1").unwrap();
        list_not_fetched(&mut out, &d, Kind::Script.label(), Place::NotHttp);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].line(&out[0].url),
            "third-party, not fetched: https://fonts.googleapis.com/css2?family=Inter (stylesheet)"
        );
        assert_eq!(
            out[1].line(&out[1].url),
            "not http(s), not fetched: data:text/javascript,1 (script)"
        );
    }

    #[test]
    fn character_references_in_urls_are_decoded() {
        let html = r#"<link href="https://fonts.googleapis.com/css2?family=Inter&amp;display=swap" rel="stylesheet">"#;
        assert_eq!(
            assets(html),
            vec![(
                Kind::Style,
                "https://fonts.googleapis.com/css2?family=Inter&display=swap".to_string()
            )]
        );
    }

    #[test]
    fn garbage_html_finds_nothing_and_does_not_panic() {
        assert!(assets("<script src=\"").is_empty());
        assert!(assets("<link rel=stylesheet>").is_empty());
        let big = "<script ".repeat(10_000);
        assert!(assets(&big).is_empty());
    }
}
