//! The demo target's SPA as Debian's headless Chromium runs it: the real
//! SPA's routes and markers (landing hero, `/trips/public` cards from the API,
//! `/login` landing on `/dashboard`, the alert of a wrong password) under the
//! demo's hardened CSP, and each `spa-*` fault as a browser sees it — the
//! exception of `spa-js-error`, the refused URL of `spa-api-base`, the CSP
//! violation of `spa-csp-blocks`, the late hero of `spa-slow-lcp` (LCP), the
//! layout shift of `spa-layout-shift` (CLS), the 404 chunk of
//! `spa-missing-chunk` — while every page answers HTTP 200. The delivery of
//! the new files (types, caching, the faults' headers) is checked over plain
//! HTTP first.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smokeprobe::demo::{DemoOptions, DemoServer, OTHER_USERNAME};

use crate::chromium::{Chromium, NetRequest};
use crate::common::*;

const CHUNK: &str = "/assets/trips-5c7e2a.js";
const HERO: &str = "/assets/hero-9d4f1b.jpg";
const BUNDLE: &str = "/assets/index-3f9a1c.js";
const WAIT: Duration = Duration::from_secs(20);

/// A fresh headless Chromium (1280 × 800) with network events on, at `url`.
fn open(url: &str) -> Chromium {
    let mut c = Chromium::start(1280, 800, false);
    c.enable_network();
    c.goto(url);
    c
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `document.querySelector(sel)?.textContent`, trimmed ("" when absent).
fn text_of(c: &mut Chromium, sel: &str) -> String {
    let v = c.eval(&format!(
        "(document.querySelector({}) || {{textContent: ''}}).textContent.trim()",
        js(sel)
    ));
    v.as_str().unwrap_or_default().to_string()
}

fn count(c: &mut Chromium, sel: &str) -> u64 {
    c.eval(&format!("document.querySelectorAll({}).length", js(sel)))
        .as_u64()
        .unwrap()
}

fn wait_for_selector(c: &mut Chromium, sel: &str) {
    c.wait_for(
        WAIT,
        sel,
        &format!("document.querySelector({}) !== null", js(sel)),
    );
}

/// The requests whose URL ends with `suffix`.
fn requests_to(c: &Chromium, suffix: &str) -> Vec<NetRequest> {
    c.requests()
        .into_iter()
        .filter(|r| {
            r.url
                .split('?')
                .next()
                .unwrap_or_default()
                .ends_with(suffix)
        })
        .collect()
}

/// The requests to `base` that have been answered or have failed by now.
fn settled(c: &Chromium, base: &str) -> Vec<NetRequest> {
    c.requests()
        .into_iter()
        .filter(|r| r.url.starts_with(base) && (r.status.is_some() || r.failure.is_some()))
        .collect()
}

/// Polls until Chromium has reported an uncaught exception; returns them all.
fn wait_for_exception(c: &mut Chromium) -> Vec<String> {
    let start = Instant::now();
    loop {
        // Every call collects the events that arrived meanwhile.
        c.eval("1");
        let ex = c.exceptions();
        if !ex.is_empty() {
            return ex;
        }
        assert!(
            start.elapsed() < WAIT,
            "no exception; errors: {:?}",
            c.errors()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The page's last largest-contentful-paint entry within a second from now:
/// `{url, start, tag}` (null if none).
fn lcp(c: &mut Chromium) -> Value {
    c.eval(
        "new Promise((resolve) => {
           let last = null;
           new PerformanceObserver((list) => {
             const e = list.getEntries().at(-1);
             last = {url: e.url, start: e.startTime, tag: e.element && e.element.tagName};
           }).observe({type: 'largest-contentful-paint', buffered: true});
           // A paint that is due is reported with a later frame.
           setTimeout(() => resolve(last), 1000);
         })",
    )
}

/// The page's cumulative layout shift so far (shifts without recent input).
fn cls(c: &mut Chromium) -> f64 {
    c.eval(
        "new Promise((resolve) => {
           let cls = 0;
           new PerformanceObserver((list) => {
             for (const e of list.getEntries()) if (!e.hadRecentInput) cls += e.value;
           }).observe({type: 'layout-shift', buffered: true});
           setTimeout(() => resolve(cls), 300);
         })",
    )
    .as_f64()
    .unwrap()
}

/// How long the hero photo took to answer (`responseStart - requestStart`, ms).
fn hero_wait_ms(c: &mut Chromium, base: &str) -> f64 {
    c.eval(&format!(
        "(() => {{ const e = performance.getEntriesByName({})[0]; return e.responseStart - e.requestStart; }})()",
        js(&format!("{base}{HERO}"))
    ))
    .as_f64()
    .unwrap()
}

/// Error-level console and log entries that are not the third-party fonts
/// stylesheet (which the hardened CSP blocks: `NO_FONTS_URL`).
fn own_errors(c: &Chromium) -> Vec<String> {
    c.errors()
        .into_iter()
        .filter(|e| !e.contains("localhost:9"))
        .collect()
}

/// Fills the login form and submits it with a click.
fn submit_login(c: &mut Chromium, login: &str, password: &str) {
    wait_for_selector(c, "#login");
    c.eval(&format!(
        "(() => {{
           const set = (sel, v) => {{ const i = document.querySelector(sel); i.value = v;
             i.dispatchEvent(new Event('input', {{bubbles: true}})); }};
           set('#login', {}); set('#password', {});
           document.querySelector('form button[type=submit]').click();
           return true;
         }})()",
        js(login),
        js(password)
    ));
}

fn pathname(c: &mut Chromium) -> String {
    c.eval("location.pathname").as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------
// Delivery over HTTP.

async fn get(s: &DemoServer, path: &str) -> reqwest::Response {
    http_client()
        .get(format!("{}{path}", s.base_url()))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_spa_files_are_delivered_like_the_bundle_and_the_faults_change_only_theirs() {
    let s = demo(&[]).await;
    let chunk = get(&s, CHUNK).await;
    assert_eq!(chunk.status(), 200);
    assert_eq!(chunk.headers()["content-type"], "application/javascript");
    assert_eq!(
        chunk.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(chunk.text().await.unwrap().contains("public-trip-card"));
    let hero = get(&s, HERO).await;
    assert_eq!(hero.headers()["content-type"], "image/jpeg");
    assert!(hero.headers().get("vary").is_none());
    let bytes = hero.bytes().await.unwrap();
    let info = smokeprobe::imagegen::sniff(&bytes).expect("a real JPEG");
    assert!(info.width >= 800 && info.height >= 450, "{info:?}");
    let html = get(&s, "/").await;
    let csp = html.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    let bundle = get(&s, BUNDLE).await.text().await.unwrap();
    assert!(
        bundle.contains(r#"const CONFIG = {"apiBase":"/api","crash":false,"layoutShift":false};"#)
    );

    // spa-csp-blocks: only the HTML's CSP changes.
    s.set_faults(faults(&["spa-csp-blocks", "spa-api-base=localhost"]));
    let html = get(&s, "/trips/public").await;
    assert_eq!(html.status(), 200);
    let csp = html.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("script-src https://cdn.contravento.example; default-src 'self';"),
        "{csp}"
    );
    assert!(
        csp.ends_with("; connect-src 'self' http://localhost:8000"),
        "{csp}"
    );
    let on_js = get(&s, BUNDLE).await;
    let csp = on_js.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    let bundle = on_js.text().await.unwrap();
    assert!(
        bundle.contains(r#""apiBase":"http://localhost:8000""#),
        "{bundle}"
    );

    // spa-missing-chunk: nginx's 404 for the chunk, the SPA fallback elsewhere.
    s.set_faults(faults(&["spa-missing-chunk", "spa-slow-lcp"]));
    let missing = get(&s, CHUNK).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "text/html");
    assert_eq!(get(&s, "/assets/trips-000000.js").await.status(), 200);
    // spa-slow-lcp: the hero photo, and only it, answers after 3 s.
    let t = Instant::now();
    assert_eq!(get(&s, BUNDLE).await.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(2));
    let t = Instant::now();
    assert_eq!(get(&s, HERO).await.status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        t.elapsed()
    );
    s.stop().await;
}

fn faults(specs: &[&str]) -> smokeprobe::demo::Faults {
    let mut f = smokeprobe::demo::Faults::default();
    for spec in specs {
        f.apply_spec(spec).unwrap();
    }
    f
}

// ---------------------------------------------------------------------------
// The healthy app in Chromium.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_renders_its_hero_as_the_lcp_without_layout_shift() {
    let s = demo(&[]).await;
    let base = s.base_url();
    let mut c = open(&format!("{base}/"));
    wait_for_selector(&mut c, ".hero h1");
    assert_eq!(
        text_of(&mut c, ".hero h1"),
        "Rutas en bicicleta por toda España"
    );
    let nav = c.eval(
        "[...document.querySelectorAll('nav a')].map((a) => [a.textContent, a.getAttribute('href')])",
    );
    assert_eq!(
        nav,
        json!([["Rutas", "/trips/public"], ["Login", "/login"]])
    );
    c.wait_for(
        WAIT,
        "the hero photo",
        "document.querySelector('.hero__image').complete && document.querySelector('.hero__image').naturalWidth > 0",
    );
    c.screenshot(&crate::chromium::artifacts_dir().join("spa-landing.png"));
    let lcp = lcp(&mut c);
    let dbg = c.eval("(() => { const i = document.querySelector('.hero__image'); const r = i.getBoundingClientRect(); return [i.naturalWidth, i.naturalHeight, r.width, r.height, r.top]; })()");
    assert_eq!(lcp["url"], json!(format!("{base}{HERO}")), "{lcp} {dbg}");
    assert_eq!(lcp["tag"], "IMG");
    assert!(lcp["start"].as_f64().unwrap() < 2500.0, "{lcp}");
    // Past the time a late banner would come.
    std::thread::sleep(Duration::from_millis(1500));
    let cls = cls(&mut c);
    assert!(cls < 0.01, "CLS {cls}");
    assert_eq!(count(&mut c, ".promo-banner"), 0);
    // The hardened CSP lets the app's own files load; only fonts are refused.
    assert_eq!(own_errors(&c), Vec::<String>::new());
    let own = settled(&c, &base);
    assert!(own.len() >= 4, "{own:?}");
    for r in own {
        assert_eq!((r.status, &r.failure), (Some(200), &None), "{r:?}");
    }
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trips_public_renders_a_card_per_public_trip_and_says_when_it_cannot() {
    let s = demo(&[]).await;
    let base = s.base_url();
    let feed: Value = get(&s, "/api/trips/public?limit=20")
        .await
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = feed["trips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert!(!titles.is_empty());

    // From the landing page, by the nav link (client-side routing).
    let mut c = open(&format!("{base}/"));
    wait_for_selector(&mut c, "nav a[href='/trips/public']");
    c.eval("document.querySelector(\"nav a[href='/trips/public']\").click(), true");
    wait_for_selector(&mut c, "article.public-trip-card");
    assert_eq!(pathname(&mut c), "/trips/public");
    assert_eq!(text_of(&mut c, "h1"), "Explora Viajes en Bicicleta");
    let shown = c.eval(
        "[...document.querySelectorAll('article.public-trip-card h2')].map((h) => h.textContent)",
    );
    assert_eq!(shown, json!(titles));
    assert_eq!(count(&mut c, ".public-feed__error"), 0);
    let chunk = requests_to(&c, CHUNK);
    assert_eq!(chunk.len(), 1, "{chunk:?}");
    assert_eq!(chunk[0].status, Some(200));
    let api = requests_to(&c, "/api/trips/public");
    assert_eq!(api.len(), 1, "{api:?}");
    assert_eq!(api[0].status, Some(200));
    assert_eq!(own_errors(&c), Vec::<String>::new());

    // An API error: the error element, not cards.
    s.set_faults(faults(&["db-down"]));
    c.goto(&format!("{base}/trips/public"));
    wait_for_selector(&mut c, ".public-feed__error");
    assert_eq!(
        text_of(&mut c, ".public-feed__error"),
        "Error al cargar viajes"
    );
    assert_eq!(count(&mut c, "article.public-trip-card"), 0);
    drop(c);
    s.stop().await;

    // No public trips (the seeded ones belong to the other rider, who is
    // then the probe account and seeds none): the empty state.
    let s = demo_with(DemoOptions {
        username: OTHER_USERNAME.to_string(),
        ..DemoOptions::default()
    })
    .await;
    let mut c = open(&format!("{}/trips/public", s.base_url()));
    wait_for_selector(&mut c, ".public-feed__empty");
    assert_eq!(count(&mut c, "article.public-trip-card"), 0);
    assert_eq!(count(&mut c, ".public-feed__error"), 0);
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_the_form_lands_on_the_dashboard_about_a_second_later() {
    let s = demo(&[]).await;
    let d = DemoOptions::default();
    let mut c = open(&format!("{}/login", s.base_url()));
    submit_login(&mut c, &d.username, &d.password);
    c.wait_for(
        WAIT,
        "the success message",
        &format!(
            "document.querySelector('[role=status]').textContent === {}",
            js("Inicio de sesión exitoso! Redirigiendo...")
        ),
    );
    let seen = Instant::now();
    assert_eq!(pathname(&mut c), "/login");
    c.wait_for(WAIT, "/dashboard", "location.pathname === '/dashboard'");
    assert!(
        seen.elapsed() >= Duration::from_millis(500),
        "{:?}",
        seen.elapsed()
    );
    wait_for_selector(&mut c, ".dashboard h1");
    assert_eq!(
        text_of(&mut c, ".dashboard h1"),
        format!("Hola, {}", d.username)
    );
    let login = requests_to(&c, "/api/auth/login");
    assert_eq!(login.len(), 1, "{login:?}");
    assert_eq!(
        (login[0].method.as_str(), login[0].status),
        ("POST", Some(200))
    );
    assert_eq!(s.login_attempts(&d.username), 1);
    assert_eq!(own_errors(&c), Vec::<String>::new());
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_the_alert_and_stays_on_the_login_page() {
    let s = demo(&[]).await;
    let d = DemoOptions::default();
    let mut c = open(&format!("{}/login", s.base_url()));
    submit_login(&mut c, &d.username, "not-the-password");
    c.wait_for(
        WAIT,
        "the alert",
        "!document.querySelector('[role=alert]').hidden",
    );
    assert_eq!(
        text_of(&mut c, "[role=alert]"),
        "Usuario o contraseña incorrectos"
    );
    assert_eq!(text_of(&mut c, "[role=status]"), "");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(pathname(&mut c), "/login");
    assert_eq!(s.wrong_password_attempts(&d.username), 1);
    assert_eq!(s.login_attempts(&d.username), 1);
    drop(c);
    s.stop().await;
}

// ---------------------------------------------------------------------------
// Each fault as the browser sees it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_js_error_is_a_white_screen_with_http_200_everywhere() {
    let s = demo(&["spa-js-error"]).await;
    let base = s.base_url();
    let mut c = open(&format!("{base}/"));
    let ex = wait_for_exception(&mut c);
    assert!(
        ex.iter().any(|e| e
            .contains("TypeError: Cannot read properties of undefined (reading 'VITE_API_URL')")),
        "{ex:?}"
    );
    assert_eq!(count(&mut c, "#root *"), 0);
    // The page, its script and its stylesheet (and whatever else has been
    // answered by now, e.g. the favicon): all 200.
    for path in ["/", BUNDLE, "/assets/index-8b2e4d.css"] {
        let r = requests_to(&c, path);
        assert_eq!(r.len(), 1, "{path}: {r:?}");
    }
    for r in settled(&c, &base) {
        assert_eq!((r.status, &r.failure), (Some(200), &None), "{r:?}");
    }
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_api_base_sends_the_browser_to_a_url_that_refuses_it() {
    let closed = free_port();
    let s = demo(&[&format!("spa-api-base=http://127.0.0.1:{closed}")]).await;
    let mut c = open(&format!("{}/trips/public", s.base_url()));
    wait_for_selector(&mut c, ".public-feed__error");
    assert_eq!(count(&mut c, "article.public-trip-card"), 0);
    let to = format!("http://127.0.0.1:{closed}/trips/public?limit=20");
    let failed: Vec<NetRequest> = c.requests().into_iter().filter(|r| r.url == to).collect();
    assert_eq!(failed.len(), 1, "{:?}", c.requests());
    assert_eq!(
        failed[0].failure.as_deref(),
        Some("net::ERR_CONNECTION_REFUSED"),
        "{failed:?}"
    );
    // The request itself failed: the demo's CSP allowed it.
    assert_eq!(failed[0].blocked, None, "{failed:?}");
    assert!(requests_to(&c, "/api/trips/public").is_empty());

    // The login form says it cannot reach the server.
    c.goto(&format!("{}/login", s.base_url()));
    let d = DemoOptions::default();
    submit_login(&mut c, &d.username, &d.password);
    c.wait_for(
        WAIT,
        "the alert",
        "!document.querySelector('[role=alert]').hidden",
    );
    assert_eq!(
        text_of(&mut c, "[role=alert]"),
        "No se pudo conectar con el servidor"
    );
    assert_eq!(s.login_attempts(&d.username), 0);
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_csp_blocks_refuses_the_apps_own_script() {
    let s = demo(&["spa-csp-blocks"]).await;
    let base = s.base_url();
    let mut c = open(&format!("{base}/"));
    let bundle = format!("{base}{BUNDLE}");
    let start = Instant::now();
    let violation = loop {
        c.eval("1");
        let found = c.events.iter().find_map(|(m, p)| {
            let text = p["entry"]["text"].as_str().unwrap_or_default();
            (m == "Log.entryAdded"
                && text.contains("Content Security Policy")
                && text.contains(&bundle))
            .then(|| text.to_string())
        });
        if let Some(v) = found {
            break v;
        }
        assert!(
            start.elapsed() < WAIT,
            "no CSP violation; errors: {:?}",
            c.errors()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        violation.contains("script-src https://cdn.contravento.example"),
        "{violation}"
    );
    let js = requests_to(&c, BUNDLE);
    assert!(
        js.iter().all(|r| r.blocked.as_deref() == Some("csp")),
        "{js:?}"
    );
    assert_eq!(count(&mut c, "#root *"), 0);
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_slow_lcp_makes_the_hero_the_late_largest_contentful_paint() {
    let s = demo(&["spa-slow-lcp"]).await;
    let base = s.base_url();
    let mut c = open(&format!("{base}/"));
    c.wait_for(
        WAIT,
        "the hero photo",
        "document.querySelector('.hero__image').complete && document.querySelector('.hero__image').naturalWidth > 0",
    );
    let lcp = lcp(&mut c);
    assert_eq!(lcp["url"], json!(format!("{base}{HERO}")), "{lcp}");
    assert!(lcp["start"].as_f64().unwrap() >= 2900.0, "{lcp}");
    let waited = hero_wait_ms(&mut c, &base);
    assert!(waited >= 2900.0, "the hero answered after {waited} ms");
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_layout_shift_moves_the_page_by_more_than_a_tenth() {
    let s = demo(&["spa-layout-shift"]).await;
    let mut c = open(&format!("{}/", s.base_url()));
    wait_for_selector(&mut c, ".promo-banner");
    // The shift is reported with the next frame.
    std::thread::sleep(Duration::from_millis(300));
    let cls = cls(&mut c);
    assert!(cls > 0.1, "CLS {cls}");
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_missing_chunk_is_a_404_and_the_route_does_not_render() {
    let s = demo(&["spa-missing-chunk"]).await;
    let base = s.base_url();
    let mut c = open(&format!("{base}/trips/public"));
    let ex = wait_for_exception(&mut c);
    let chunk = format!("{base}{CHUNK}");
    assert!(ex.iter().any(|e| e.contains(&chunk)), "{ex:?}");
    let r = requests_to(&c, CHUNK);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].status, Some(404));
    assert_eq!(count(&mut c, "article.public-trip-card"), 0);
    assert_eq!(count(&mut c, "h1"), 0);
    assert_eq!(count(&mut c, ".public-feed__error"), 0);
    // The other routes do not need the chunk.
    c.goto(&format!("{base}/"));
    wait_for_selector(&mut c, ".hero h1");
    drop(c);
    s.stop().await;
}
