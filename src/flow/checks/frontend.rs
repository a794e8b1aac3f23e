//! Frontend delivery: the SPA root answers 200 `text/html`; every script,
//! module preload and stylesheet it references loads with the right content
//! type, compressed when it is worth it; the bundle stays within its budgets
//! (uncompressed and as transferred); no source map is served. Requests here go
//! through a client that does not decompress, so sizes and encodings are what
//! crossed the wire.

use std::io::Read;
use std::sync::LazyLock;

use http::Method;
use regex::Regex;

use super::{CheckRun, Ctx, Fetched, path_of};
use crate::config::FrontendCheck;
use crate::flow::runner::Failure;
use crate::flow::{CheckResult, Reason};

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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Script,
    Style,
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
                .map(|m| m.as_str().trim().to_string())
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
                    href.map(|h| (Kind::Script, h))
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

pub(super) async fn run(c: &FrontendCheck, ctx: &Ctx<'_>) -> CheckRun {
    let mut run = CheckRun::new(Reason::Assertion, c.url.display());
    let url = match ctx.url(&c.url) {
        Ok(u) => u,
        Err(f) => return run.fail(f),
    };
    run.url = url.to_string();
    const PAGE: &str = "no page to judge";
    const ASSET: &str = "no answer for an asset";
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
    let get = Method::GET;
    let gzip = [("accept-encoding", "gzip".to_string())];
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
    let on = path_of(&url);
    let ct = root.header("content-type").unwrap_or_default();
    let is_html = ct.to_ascii_lowercase().starts_with("text/html");
    run.checks.push(
        CheckResult::new(
            "html",
            root.status == 200 && is_html,
            "200 text/html",
            format!(
                "{} {}",
                root.status,
                if ct.is_empty() {
                    "no content type"
                } else {
                    &ct
                }
            ),
        )
        .on(&on),
    );
    let html = match encoded(&root).as_deref() {
        None => root.text().into_owned(),
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let mut d = flate2::read::GzDecoder::new(&root.body[..]).take(ctx.max_body);
            let mut s = Vec::new();
            if let Err(e) = d.read_to_end(&mut s) {
                return run.broken(Failure::new(
                    Reason::Protocol,
                    format!("GET {url}: the HTML's gzip body is invalid: {e}"),
                ));
            }
            String::from_utf8_lossy(&s).into_owned()
        }
        Some(e) => {
            return run.broken(Failure::new(
                Reason::Protocol,
                format!(
                    "GET {url}: the HTML came back `{e}`-encoded although only gzip was accepted"
                ),
            ));
        }
    };
    if !is_html || root.status != 200 {
        return run;
    }
    let refs = assets(&html);
    let (mut total, mut total_wire, mut unknown) = (0u64, 0u64, 0usize);
    // What an asset without an answer leaves unjudged: it and the ones after it.
    let left = |from: usize| -> Vec<String> {
        refs[from..]
            .iter()
            .map(|(_, r)| {
                url.join(r)
                    .map(|a| path_of(&a))
                    .unwrap_or_else(|_| r.clone())
            })
            .collect()
    };
    for (i, (kind, r)) in refs.iter().enumerate() {
        let Ok(asset) = url.join(r) else {
            run.checks.push(
                CheckResult::new("asset-status", false, "a loadable URL", format!("`{r}`"))
                    .on(r.as_str()),
            );
            continue;
        };
        let on = path_of(&asset);
        let resp = match ctx.fetch(false, get.clone(), &asset, &gzip, None).await {
            Ok(x) => x,
            Err(f) => return run.unanswered(ASSET, &get, &asset, f, left(i)),
        };
        if resp.status >= 500 {
            return run.not_an_answer(ASSET, &get, &asset, resp.status, left(i));
        }
        run.answered(&get, &asset, resp.status);
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
            continue;
        }
        let ct = resp
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (want, ok) = match kind {
            Kind::Script => (
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
                return run.broken(Failure::new(Reason::Protocol, format!("GET {asset}: {e}")));
            }
        };
        total_wire += wire;
        match size {
            Some(s) => total += s,
            None => {
                unknown += 1;
                total += wire;
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
                    .on(&on),
                );
                continue;
            }
            let Ok(map_url) = asset.join(&map_ref) else {
                continue;
            };
            let m = match ctx.fetch(false, get.clone(), &map_url, &gzip, None).await {
                Ok(x) => x,
                Err(f) => {
                    let what = "no answer for a source map";
                    return run.unanswered(what, &get, &map_url, f, left(i));
                }
            };
            run.answered(&get, &map_url, m.status);
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
                        path_of(&map_url)
                    ),
                )
                .on(&on),
            );
        }
    }
    let label = format!("{} asset(s)", refs.len());
    let approx = if unknown > 0 {
        format!(" ({unknown} counted as transferred: encoding not decodable here)")
    } else {
        String::new()
    };
    if let Some(max) = c.max_total {
        run.checks.push(
            CheckResult::new(
                "bundle-size",
                total <= max,
                format!("≤ {} uncompressed", kb(max)),
                format!("{}{approx}", kb(total)),
            )
            .on(&label),
        );
    }
    if let Some(max) = c.max_total_compressed {
        run.checks.push(
            CheckResult::new(
                "bundle-size-compressed",
                total_wire <= max,
                format!("≤ {} transferred", kb(max)),
                kb(total_wire),
            )
            .on(&label),
        );
    }
    run
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
                (Kind::Script, "/assets/vendor.js".to_string()),
                (Kind::Style, "/assets/index.css".to_string()),
            ]
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
