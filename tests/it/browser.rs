//! The browser engine (`smokeprobe::browser`) against Debian's headless
//! Chromium and loopback pages served by a tiny server here: what a page
//! shows is collected with its text, URL and status; Web Vitals are
//! measured; pages share nothing; a killed or frozen Chromium fails only
//! its pages and is replaced; shutdown leaves no process behind; and
//! without Chromium the error says how to get it.

use std::collections::HashMap;
use std::time::Duration;

use smokeprobe::browser::{Browser, BrowserError, BrowserOptions, Wait, locate};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const T: Duration = Duration::from_secs(20);

/// Serves `pages` (path → HTML; anything else is a 404) on 127.0.0.1;
/// returns its origin.
async fn serve(pages: Vec<(&'static str, String)>) -> String {
    let pages: HashMap<&'static str, String> = pages.into_iter().collect();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let pages = pages.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or(path);
                let (status, body) = match pages.get(path) {
                    Some(b) => ("200 OK", b.clone()),
                    None => ("404 Not Found", "not here".to_string()),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
                     content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    origin
}

fn browser(concurrency: usize) -> Browser {
    Browser::new(BrowserOptions {
        concurrency,
        loopback_only: true,
        ..BrowserOptions::default()
    })
    .expect("Chromium is installed (apt-get install chromium; .ci/run installs it)")
}

/// The processes whose process group is `pgid`, zombies left out (a
/// zombie has ended; only its parent's wait, here the container's init's,
/// would remove it).
fn live_group(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // pid (comm) state ppid pgrp …: comm may hold spaces.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            f[0] != "Z" && f[2] == pgid.to_string()
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let rest = &s[s.rfind(')').unwrap() + 2..];
        !rest.starts_with('Z')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_console_errors_and_failed_requests_are_collected_with_their_text() {
    let closed = crate::common::free_port();
    let origin = serve(vec![(
        "/",
        format!(
            r#"<!doctype html><title>broken</title><p>broken page</p>
            <img src="/missing.png">
            <script>
              console.error("console says boom", 42);
              fetch("http://127.0.0.1:{closed}/api/trips").catch(() => {{}});
              setTimeout(() => {{ throw new Error("uncaught boom"); }}, 0);
            </script>"#
        ),
    )])
    .await;
    let b = browser(2);
    let page = b.page().await.unwrap();
    page.goto(&format!("{origin}/"), T).await.unwrap();
    let deadline = tokio::time::Instant::now() + T;
    let ev = loop {
        let ev = page.evidence();
        if (!ev.exceptions.is_empty() && ev.failed_requests.len() >= 2)
            || tokio::time::Instant::now() > deadline
        {
            break ev;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        ev.exceptions
            .iter()
            .any(|e| e.message.contains("uncaught boom")),
        "{ev:?}"
    );
    assert!(
        ev.console_errors
            .iter()
            .any(|c| c.source == "console" && c.text == "console says boom 42"),
        "{ev:?}"
    );
    let missing = ev
        .failed_requests
        .iter()
        .find(|r| r.url == format!("{origin}/missing.png"))
        .unwrap_or_else(|| panic!("the 404 image is listed: {ev:?}"));
    assert_eq!(
        (missing.status, missing.method.as_str()),
        (Some(404), "GET")
    );
    let refused = ev
        .failed_requests
        .iter()
        .find(|r| r.url == format!("http://127.0.0.1:{closed}/api/trips"))
        .unwrap_or_else(|| panic!("the request to a closed port is listed: {ev:?}"));
    assert_eq!(refused.status, None);
    assert_eq!(
        refused.error.as_deref(),
        Some("net::ERR_CONNECTION_REFUSED"),
        "{refused:?}"
    );
    assert_eq!(refused.resource, "Fetch");
    page.close().await.unwrap();

    // A clean page collects nothing (Chromium asks for the site's icon by
    // itself: a missing one would be a 404 and a console error).
    let clean = serve(vec![
        ("/", "<!doctype html><title>ok</title><p>fine".into()),
        ("/favicon.ico", String::new()),
    ])
    .await;
    let page = b.page().await.unwrap();
    page.goto(&format!("{clean}/"), T).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(page.evidence(), Default::default());
    page.close().await.unwrap();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vitals_are_measured_and_only_a_shifting_page_has_layout_shift() {
    let hero = r#"<h1 id="hero" style="font-size:64px;margin:0">Cycle the world, one trip at a time</h1>
        <p style="font-size:24px">Public trips from riders everywhere. Lorem ipsum dolor sit amet,
        consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.</p>"#;
    let origin = serve(vec![
        (
            "/static",
            format!("<!doctype html><title>static</title>{hero}"),
        ),
        (
            "/shift",
            format!(
                r#"<!doctype html><title>shift</title><div id="top"></div>{hero}
                <script>
                  setTimeout(() => {{
                    const d = document.getElementById('top');
                    d.style.height = '400px';
                  }}, 300);
                </script>"#
            ),
        ),
    ])
    .await;
    let b = browser(2);
    let mut measured = Vec::new();
    for path in ["/static", "/shift"] {
        let page = b.page().await.unwrap();
        page.goto(&format!("{origin}{path}"), T).await.unwrap();
        page.wait_for(&Wait::Selector("#hero".into()), T)
            .await
            .unwrap();
        // Past the shift, and one more frame for the observers.
        tokio::time::sleep(Duration::from_millis(800)).await;
        measured.push(page.vitals().await.unwrap());
        page.close().await.unwrap();
    }
    let (still, shifting) = (measured[0], measured[1]);
    for v in [still, shifting] {
        let lcp = v.lcp.expect("an LCP");
        let fcp = v.fcp.expect("an FCP");
        let ttfb = v.ttfb.expect("a TTFB");
        assert!(lcp > Duration::ZERO && lcp < T, "{v:?}");
        assert!(fcp > Duration::ZERO && fcp <= lcp, "{v:?}");
        assert!(ttfb > Duration::ZERO && ttfb <= fcp, "{v:?}");
        assert!(v.tbt.is_some(), "{v:?}");
    }
    assert!(still.cls.unwrap() < 0.01, "{still:?}");
    assert!(shifting.cls.unwrap() > 0.1, "{shifting:?}");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_share_no_cookies_or_storage_and_wait_for_a_slot() {
    let origin = serve(vec![(
        "/",
        "<!doctype html><title>jar</title><p>jar".to_string(),
    )])
    .await;
    let b = browser(2);
    let first = b.page().await.unwrap();
    first.goto(&format!("{origin}/"), T).await.unwrap();
    first
        .eval("document.cookie = 'session=abc; max-age=3600'; localStorage.setItem('k', 'v')")
        .await
        .unwrap();
    assert_eq!(
        first.eval("document.cookie").await.unwrap(),
        "session=abc",
        "the page's own cookie is there"
    );
    // Open at the same time, and one after the first has closed.
    let second = b.page().await.unwrap();
    second.goto(&format!("{origin}/"), T).await.unwrap();
    assert_eq!(second.eval("document.cookie").await.unwrap(), "");
    assert_eq!(
        second.eval("localStorage.getItem('k')").await.unwrap(),
        serde_json::Value::Null
    );
    // Two pages are open: a third waits.
    let third = tokio::time::timeout(Duration::from_millis(500), b.page()).await;
    assert!(third.is_err(), "a third page opened beside two");
    first.close().await.unwrap();
    let third = tokio::time::timeout(T, b.page()).await.unwrap().unwrap();
    third.goto(&format!("{origin}/"), T).await.unwrap();
    assert_eq!(third.eval("document.cookie").await.unwrap(), "");
    second.close().await.unwrap();
    third.close().await.unwrap();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_form_is_filled_submitted_and_lands_on_the_dashboard() {
    let origin = serve(vec![
        (
            "/login",
            r#"<!doctype html><title>login</title>
            <form id="f"><input id="login" value="stale"><input id="password" type="password">
            <button id="go" type="submit">Sign in</button></form>
            <script>
              document.getElementById('f').addEventListener('submit', (e) => {
                e.preventDefault();
                const u = document.getElementById('login').value;
                const p = document.getElementById('password').value;
                if (u === 'rider' && p === 's3cret!') location.href = '/dashboard';
                else document.body.append('wrong: ' + u + '/' + p);
              });
            </script>"#
                .to_string(),
        ),
        (
            "/dashboard",
            "<!doctype html><title>dash</title><h1>Welcome back</h1>".to_string(),
        ),
    ])
    .await;
    let b = browser(2);
    let page = b.page().await.unwrap();
    // By click.
    page.goto(&format!("{origin}/login"), T).await.unwrap();
    page.fill("#login", "rider").await.unwrap();
    page.fill("#password", "s3cret!").await.unwrap();
    page.click("#go").await.unwrap();
    page.wait_for(&Wait::Text("Welcome back".into()), T)
        .await
        .unwrap();
    assert_eq!(page.url().await.unwrap(), format!("{origin}/dashboard"));
    let png = page.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);
    // By Enter, with a wrong password: the page says what it received.
    page.goto(&format!("{origin}/login"), T).await.unwrap();
    page.fill("#login", "rider").await.unwrap();
    page.fill("#password", "nope").await.unwrap();
    page.press("Enter").await.unwrap();
    page.wait_for(&Wait::Text("wrong: rider/nope".into()), T)
        .await
        .unwrap();
    assert_eq!(page.url().await.unwrap(), format!("{origin}/login"));
    // What is not there is said in words.
    let e = page.click("#nothing").await.unwrap_err();
    assert_eq!(e.to_string(), "no element matches `#nothing`");
    let e = page
        .wait_for(&Wait::Selector(".never".into()), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "timed out after 300 ms waiting for an element matching `.never`"
    );
    assert!(matches!(
        page.press("Hyper").await,
        Err(BrowserError::UnknownKey(_))
    ));
    page.close().await.unwrap();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_and_reading_the_url_survive_a_page_that_keeps_navigating() {
    // Each document replaces itself after 15 ms: checks keep landing in a
    // document that is going away.
    let origin = serve(vec![(
        "/",
        "<!doctype html><p>steady</p><script>setTimeout(() => \
         location.replace('/?' + Date.now()), 15)</script>"
            .to_string(),
    )])
    .await;
    let b = browser(2);
    let page = b.page().await.unwrap();
    page.goto(&format!("{origin}/"), T).await.unwrap();
    for _ in 0..60 {
        page.wait_for(&Wait::Text("steady".into()), T)
            .await
            .unwrap();
        assert!(page.url().await.unwrap().starts_with(&origin));
    }
    page.close().await.unwrap();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_chromium_fails_its_page_saying_so_and_the_next_page_works() {
    let origin = serve(vec![("/", "<!doctype html><p>hello".to_string())]).await;
    let b = browser(2);
    let page = b.page().await.unwrap();
    page.goto(&format!("{origin}/"), T).await.unwrap();
    let pid = b.pid().await.expect("Chromium runs");
    let st = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let e = tokio::time::timeout(T, async {
        loop {
            match page.eval("1 + 1").await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => break e,
            }
        }
    })
    .await
    .expect("the page's calls fail once Chromium is gone");
    assert_eq!(e, BrowserError::Crashed);
    assert!(e.to_string().contains("the browser crashed"), "{e}");
    // The dead page keeps failing the same way, and closes quietly.
    assert_eq!(page.url().await.unwrap_err(), BrowserError::Crashed);
    page.close().await.unwrap();
    assert!(live_group(pid).is_empty(), "the old group is gone");

    let next = b.page().await.expect("a new Chromium starts");
    next.goto(&format!("{origin}/"), T).await.unwrap();
    assert_eq!(next.eval("1 + 1").await.unwrap(), 2);
    assert_ne!(b.pid().await, Some(pid));
    next.close().await.unwrap();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_chromium_is_killed_when_a_call_times_out_and_replaced() {
    let origin = serve(vec![("/", "<!doctype html><p>hello".to_string())]).await;
    let b = Browser::new(BrowserOptions {
        call_timeout: Duration::from_secs(2),
        loopback_only: true,
        ..BrowserOptions::default()
    })
    .unwrap();
    let page = b.page().await.unwrap();
    page.goto(&format!("{origin}/"), T).await.unwrap();
    let pid = b.pid().await.unwrap();
    let group = live_group(pid);
    let st = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let e = page.eval("1 + 1").await.unwrap_err();
    assert!(
        matches!(&e, BrowserError::Hung { method, .. } if method == "Runtime.evaluate"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the browser hung (no answer to Runtime.evaluate within 2.00 s); it was killed and a new \
         one is started for the next run"
    );
    assert!(
        group.iter().all(|p| !alive(*p)),
        "the frozen group was killed"
    );
    drop(page);
    let next = b.page().await.unwrap();
    next.goto(&format!("{origin}/"), T).await.unwrap();
    next.close().await.unwrap();
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_process_of_chromium_behind() {
    let origin = serve(vec![("/", "<!doctype html><p>hello".to_string())]).await;
    let b = browser(2);
    let page = b.page().await.unwrap();
    page.goto(&format!("{origin}/"), T).await.unwrap();
    let pid = b.pid().await.unwrap();
    let group = live_group(pid);
    assert!(group.len() >= 3, "Chromium runs helpers: {group:?}");
    b.shutdown().await;
    let left: Vec<u32> = group.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running after shutdown: {left:?}");
    assert!(live_group(pid).is_empty());
    assert_eq!(page.eval("1").await.unwrap_err(), BrowserError::ShutDown);
    assert!(matches!(b.page().await, Err(BrowserError::ShutDown)));

    // Dropping the last handle does the same.
    let b = browser(2);
    let page = b.page().await.unwrap();
    let pid = b.pid().await.unwrap();
    let group = live_group(pid);
    drop(page);
    drop(b);
    let left: Vec<u32> = group.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running after drop: {left:?}");
}

#[test]
fn without_chromium_the_error_names_both_ways_to_set_it_and_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let e = locate(None, None, Some(empty.path().as_os_str())).unwrap_err();
    let words = e.to_string();
    for part in [
        "--chromium PATH",
        "SMOKEPROBE_CHROMIUM",
        "apt-get install chromium",
    ] {
        assert!(words.contains(part), "{words}");
    }
    let nowhere = empty.path().join("chromium");
    let e = locate(Some(&nowhere), None, None).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "--chromium names {}, which is not an executable file",
            nowhere.display()
        )),
        "{e}"
    );
    let e = locate(None, Some(nowhere.as_os_str()), None).unwrap_err();
    assert!(
        e.to_string().starts_with("SMOKEPROBE_CHROMIUM names"),
        "{e}"
    );
    // On PATH, each name is found.
    let fake = empty.path().join("chromium-browser");
    std::fs::write(&fake, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(locate(None, None, Some(empty.path().as_os_str())), Ok(fake));
}

/// A real probe's page loads its site by name (`loopback_only` off, the
/// default); the tests' option resolves no name at all. `localhost` is the
/// one name that stays on loopback either way it resolves (127.0.0.1 or ::1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_resolve_host_names_unless_the_browser_is_held_to_loopback() {
    let origin = serve(vec![(
        "/",
        "<!doctype html><title>named</title><p>by name</p>".to_string(),
    )])
    .await;
    let by_name = origin.replace("127.0.0.1", "localhost");
    let real = Browser::new(BrowserOptions::default()).expect("Chromium is installed");
    let page = real.page().await.unwrap();
    page.goto(&format!("{by_name}/"), T).await.unwrap();
    assert_eq!(page.eval("document.title").await.unwrap(), "named");
    page.close().await.unwrap();
    real.shutdown().await;

    let held = browser(1);
    let page = held.page().await.unwrap();
    let err = page
        .goto(&format!("{by_name}/"), T)
        .await
        .expect_err("no name resolves when held to loopback");
    assert!(err.to_string().contains("NAME_NOT_RESOLVED"), "{err}");
    page.close().await.unwrap();
    held.shutdown().await;
}
