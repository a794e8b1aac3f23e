//! The SPA files nginx serves from disk: `index.html`, one hashed JS bundle and
//! one hashed stylesheet (the ones `index.html` names), the `/trips/public`
//! route's chunk and the hero photo, with `index.html` as the fallback for
//! every other path (`try_files $uri /index.html`) — so a missing
//! `/assets/*.js.map` is a 200 `text/html` answer, which a source-map check
//! must treat as "not served".
//!
//! The app is plain ES2020 in `spa/` (no build step): `app.js` the entry
//! (client-side routes `/`, `/trips/public`, `/login`, `/dashboard` with the
//! real SPA's markers; see the README), `trips.js` the route chunk it imports,
//! `app.css`. Like Vite's build, the entry has its configuration baked in: the
//! demo writes a `CONFIG` object into it per build ([`SpaBuild`]: the API base,
//! `/api` or `spa-api-base`'s URL, and the `spa-js-error` / `spa-layout-shift`
//! switches). The hero photo is a generated ~300 KB JPEG (`image/jpeg`, not
//! compressed, immutable).
//!
//! Like the real one, `index.html` links a third-party stylesheet (Google
//! Fonts, with a `preconnect`) before the site's own script and stylesheet; its
//! URL is [`DemoOptions::fonts_url`](super::DemoOptions::fonts_url), so a test
//! can point it at a loopback listener of its own and see that the probe never
//! fetches it. The demo never serves that URL itself.
//!
//! Delivery as nginx with `gzip on; gzip_vary on; gzip_types text/css
//! application/javascript;` does it: JS (`application/javascript`), CSS
//! (`text/css`) and HTML are gzip-compressed (`Content-Encoding: gzip`) when the
//! request's `Accept-Encoding` includes gzip and sent as is otherwise, both with
//! `Vary: Accept-Encoding`. Hashed assets are `Cache-Control: public,
//! max-age=31536000, immutable`.
//!
//! Faults: `source-maps` (the bundle ends with `//# sourceMappingURL=…` and
//! `/assets/index-3f9a1c.js.map` is a 200 `application/json` source map),
//! `big-bundle` (the bundle is ~2 MB of deterministic pseudo-random minified-ish
//! code that stays well over 600 KB gzipped), `no-gzip` (never compressed, no
//! `Vary`), `insecure-cookie` (the HTML sets `cv_lang=es; Path=/`),
//! `spa-js-error`, `spa-layout-shift` and `spa-api-base` (bundle builds, see
//! above), `spa-slow-lcp` ([`delay_for`]: the hero photo after 3 s) and
//! `spa-missing-chunk` ([`is_missing`]: nginx answers the chunk with its 404
//! page). Every variant is built (and compressed) once and then served from
//! memory (at most 32 bundle builds at once).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, SET_COOKIE, VARY,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::Faults;
use super::headers::{HeaderPolicy, mark_spa_html};
use crate::imagegen::{self, ImageFormat};

pub(super) const APP_JS_PATH: &str = "/assets/index-3f9a1c.js";
pub(super) const APP_CSS_PATH: &str = "/assets/index-8b2e4d.css";
pub(super) const SOURCE_MAP_PATH: &str = "/assets/index-3f9a1c.js.map";
/// The `/trips/public` route's chunk (what the entry imports as `./trips-5c7e2a.js`).
pub(super) const TRIPS_CHUNK_PATH: &str = "/assets/trips-5c7e2a.js";
/// The landing page's hero photo (the largest contentful paint).
pub(super) const HERO_PATH: &str = "/assets/hero-9d4f1b.jpg";
/// The size `big-bundle` pads the JS bundle to.
const BIG_BUNDLE_BYTES: usize = 2 * 1024 * 1024;
const INSECURE_COOKIE: &str = "cv_lang=es; Path=/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The third-party stylesheet the real `index.html` links (the default of
/// [`DemoOptions::fonts_url`](super::DemoOptions::fonts_url)).
pub(super) const GOOGLE_FONTS_URL: &str =
    "https://fonts.googleapis.com/css2?family=Inter:wght@400;500;600;700&display=swap";

/// `index.html` linking `fonts_url` (and preconnecting to its origin) before
/// the site's own script and stylesheet, as Vite's build of the real one does.
/// The URL is written as Google's snippet has it (a raw `&`); only a `"` is
/// escaped, so no URL can break the tag.
fn index_html(fonts_url: &str) -> String {
    let origin = url::Url::parse(fonts_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let attr = |s: &str| s.replace('"', "&quot;");
    format!(
        r#"<!doctype html>
<html lang="es">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <link rel="preconnect" href="{origin}" />
    <link href="{fonts}" rel="stylesheet" />
    <title>ContraVento</title>
    <script type="module" crossorigin src="/assets/index-3f9a1c.js"></script>
    <link rel="stylesheet" crossorigin href="/assets/index-8b2e4d.css">
  </head>
  <body>
    <div id="root"></div>
  </body>
</html>
"#,
        origin = attr(&origin),
        fonts = attr(fonts_url),
    )
}

/// The app's entry (`src/demo/spa/app.js`); `__CV_CONFIG__` is replaced by
/// its build's [`SpaBuild`] as JSON.
const APP_JS: &str = include_str!("spa/app.js");
/// The `/trips/public` route's chunk, loaded by `import()` from the entry.
const TRIPS_JS: &str = include_str!("spa/trips.js");
/// The API base of the proxy build (`VITE_USE_PROXY=true`).
const PROXY_API_BASE: &str = "/api";
/// The hero photo: a generated JPEG of this many bytes (~1000 × 750 px).
const HERO_BYTES: usize = 300 * 1024;
/// How long the hero photo takes to answer with `spa-slow-lcp`.
pub(super) const SLOW_HERO: Duration = Duration::from_secs(3);
/// Bundle builds kept at once (one per API base a fault names); beyond it the
/// cache starts again, so no sequence of fault documents grows it without bound.
const MAX_CACHED: usize = 32;

const SOURCE_MAP_COMMENT: &str = "//# sourceMappingURL=index-3f9a1c.js.map\n";

const APP_CSS: &str = include_str!("spa/app.css");

const SOURCE_MAP: &str = r#"{"version":3,"file":"index-3f9a1c.js","sources":["../../src/main.tsx","../../src/api/client.ts"],"sourcesContent":["import { createRoot } from \"react-dom/client\";\nimport { App } from \"./App\";\n\nconst root = document.getElementById(\"root\");\nif (root) {\n  root.textContent = \"ContraVento\";\n}\n","export const API_BASE = import.meta.env.VITE_API_URL ?? \"/api\";\n\nexport function latestTrips() {\n  return fetch(`${API_BASE}/trips/public?limit=1`).catch(() => undefined);\n}\n"],"names":["root","document","getElementById","textContent","fetch","API_BASE","latestTrips"],"mappings":"AAAA,CAAC,WAAW,MAAMA,EAAEC,SAASC,eAAe,QAAQ,GAAGF,EAAE,CAACA,EAAEG,YAAY,cAAc,CAACC,MAAM,yBAAyB"}
"#;

/// One file as nginx serves it: its bytes and their gzip encoding.
pub(super) struct Asset {
    content_type: &'static str,
    identity: Bytes,
    gzip: Bytes,
}

/// The demo's `index.html` for its `fonts_url`, built and compressed once per
/// demo state (the other files are the same for every demo and cached).
pub(super) fn index(fonts_url: &str) -> Arc<Asset> {
    let body = index_html(fonts_url).into_bytes();
    Arc::new(Asset {
        content_type: "text/html",
        gzip: Bytes::from(gzip(&body)),
        identity: Bytes::from(body),
    })
}

/// What a bundle build bakes in: the API base and the faults that live in
/// the app's code (written into `CONFIG` at the top of the entry).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SpaBuild {
    api_base: String,
    /// `spa-js-error`: the entry throws before it renders anything.
    crash: bool,
    /// `spa-layout-shift`: a banner is inserted above the page once it has painted.
    layout_shift: bool,
}

impl SpaBuild {
    fn of(faults: &Faults) -> SpaBuild {
        SpaBuild {
            api_base: faults
                .spa_api_base
                .clone()
                .unwrap_or_else(|| PROXY_API_BASE.to_owned()),
            crash: faults.spa_js_error,
            layout_shift: faults.spa_layout_shift,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum AssetId {
    Css,
    Js {
        big: bool,
        source_map: bool,
        build: SpaBuild,
    },
    TripsChunk,
}

/// The asset, built and compressed on first use.
fn asset(id: AssetId) -> Arc<Asset> {
    static CACHE: OnceLock<Mutex<HashMap<AssetId, Arc<Asset>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if cache.len() >= MAX_CACHED && !cache.contains_key(&id) {
        cache.clear();
    }
    cache
        .entry(id.clone())
        .or_insert_with(|| Arc::new(build(&id)))
        .clone()
}

/// The entry script of `build`.
fn app_js(build: &SpaBuild) -> String {
    // A JSON object is a JavaScript expression.
    let config = serde_json::to_string(build).unwrap_or_else(|_| "{}".to_owned());
    APP_JS.replacen("__CV_CONFIG__", &config, 1)
}

fn build(id: &AssetId) -> Asset {
    let (content_type, body) = match id {
        AssetId::Css => ("text/css", APP_CSS.as_bytes().to_vec()),
        AssetId::TripsChunk => ("application/javascript", TRIPS_JS.as_bytes().to_vec()),
        AssetId::Js {
            big,
            source_map,
            build,
        } => {
            let mut js = app_js(build);
            if *big {
                js.push_str(&big_bundle_filler(
                    BIG_BUNDLE_BYTES.saturating_sub(js.len()),
                ));
            }
            if *source_map {
                js.push_str(SOURCE_MAP_COMMENT);
            }
            ("application/javascript", js.into_bytes())
        }
    };
    Asset {
        content_type,
        gzip: Bytes::from(gzip(&body)),
        identity: Bytes::from(body),
    }
}

/// The hero photo's bytes, generated once.
fn hero() -> Bytes {
    static HERO: OnceLock<Bytes> = OnceLock::new();
    HERO.get_or_init(|| Bytes::from(imagegen::generate(ImageFormat::Jpeg, HERO_BYTES, 0x4e20)))
        .clone()
}

/// What nginx waits before it answers `path` under `faults` (the hero photo
/// with `spa-slow-lcp`), besides the latency faults.
pub(super) fn delay_for(path: &str, faults: &Faults) -> Duration {
    if faults.spa_slow_lcp && path == HERO_PATH {
        SLOW_HERO
    } else {
        Duration::ZERO
    }
}

/// Whether `path` is a file missing from disk, which nginx answers with its
/// own 404 page (`location /assets/ { try_files $uri =404; }` for the chunk
/// of `spa-missing-chunk`; every other path falls back to `index.html`).
pub(super) fn is_missing(path: &str, faults: &Faults) -> bool {
    faults.spa_missing_chunk && path == TRIPS_CHUNK_PATH
}

/// About `len` bytes of minified-looking JS built from a fixed-seed generator:
/// string constants of random base64-ish text, which gzip cannot shrink much.
fn big_bundle_filler(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = fastrand::Rng::with_seed(0x00c0_ffee_b1c1_c1e5);
    let mut out = String::with_capacity(len + 160);
    let mut n = 0u32;
    while out.len() < len {
        out.push_str(&format!("var _v{n:x}=\""));
        for _ in 0..120 {
            out.push(char::from(ALPHABET[rng.usize(..ALPHABET.len())]));
        }
        out.push_str("\";\n");
        n += 1;
    }
    out
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 2), Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// Whether `Accept-Encoding` lists gzip (or `*`) with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut params = item.split(';').map(str::trim);
            let coding = params.next().unwrap_or_default();
            let zero_q = params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero_q
        })
}

/// A GET or HEAD for a path that is neither `/api` nor `/storage`; `index` is
/// the demo's `index.html` (see [`index`]).
pub(super) fn static_file(
    path: &str,
    req_headers: &HeaderMap,
    faults: &Faults,
    policy: &HeaderPolicy,
    index: &Arc<Asset>,
) -> Response {
    let id = match path {
        APP_JS_PATH => Some(AssetId::Js {
            big: faults.big_bundle,
            source_map: faults.source_maps,
            build: SpaBuild::of(faults),
        }),
        APP_CSS_PATH => Some(AssetId::Css),
        TRIPS_CHUNK_PATH => Some(AssetId::TripsChunk),
        HERO_PATH => {
            // Not in `gzip_types`: sent as is, without `Vary`.
            let mut resp = ([(CONTENT_TYPE, ImageFormat::Jpeg.mime())], hero()).into_response();
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
            return resp;
        }
        SOURCE_MAP_PATH if faults.source_maps => {
            let mut resp = ([(CONTENT_TYPE, "application/json")], SOURCE_MAP).into_response();
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
            return resp;
        }
        _ => None,
    };
    let is_index = id.is_none();
    let asset = id.map_or_else(|| index.clone(), asset);
    let compress = !faults.no_gzip && accepts_gzip(req_headers);
    let body = if compress {
        asset.gzip.clone()
    } else {
        asset.identity.clone()
    };
    let mut resp = ([(CONTENT_TYPE, asset.content_type)], body).into_response();
    let headers = resp.headers_mut();
    if !faults.no_gzip {
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if compress {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if is_index {
        if policy.cookie {
            headers.insert(SET_COOKIE, HeaderValue::from_static(INSECURE_COOKIE));
        }
        mark_spa_html(&mut resp);
    } else {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_links_google_fonts_before_the_sites_own_stylesheet() {
        let html = index_html(GOOGLE_FONTS_URL);
        let preconnect = html
            .find(r#"<link rel="preconnect" href="https://fonts.googleapis.com" />"#)
            .expect("preconnect");
        let fonts = html
            .find(&format!(
                r#"<link href="{GOOGLE_FONTS_URL}" rel="stylesheet" />"#
            ))
            .expect("fonts stylesheet");
        let own = html.find(APP_CSS_PATH).expect("own stylesheet");
        assert!(preconnect < fonts && fonts < own, "{html}");
    }

    #[test]
    fn index_follows_the_configured_fonts_url() {
        let html = index_html("http://localhost:4711/css2?family=Inter");
        assert!(html.contains(r#"<link rel="preconnect" href="http://localhost:4711" />"#));
        assert!(html.contains(
            r#"<link href="http://localhost:4711/css2?family=Inter" rel="stylesheet" />"#
        ));
        assert!(!html.contains("googleapis"), "{html}");
        // A quote cannot end the attribute early.
        assert!(index_html("http://x/\"><script>").contains("http://x/&quot;><script>"));
    }
}
