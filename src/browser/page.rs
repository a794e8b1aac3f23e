//! One page in its own browser context: navigation, the actions a browser
//! step takes, and what the page showed meanwhile.
//!
//! The context (`Target.createBrowserContext`) is the page's alone: no
//! cookies, storage or cache are shared with any other page, and closing the
//! page disposes it. The target is attached with `flatten: true`, so its
//! commands and events carry its session id over the one pipe. Actions are
//! real input where it matters (a click is a mouse press and release at the
//! element's centre, typing is `Input.insertText`, a key is a key event), so
//! a covered or invisible element behaves as it would for a user.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::evidence::Collector;
use super::{BrowserError, Evidence, Instance, Vitals};

/// The Web Vitals script (`vitals.js`).
const VITALS: &str = include_str!("vitals.js");

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// What [`Page::wait_for`] waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// An element matching a CSS selector.
    Selector(String),
    /// Text in the page's rendered text (`document.body.innerText`).
    Text(String),
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::Selector(s) => write!(f, "an element matching `{s}`"),
            Wait::Text(t) => write!(f, "the text {t:?}"),
        }
    }
}

/// A page of the browser: see the module comment.
pub struct Page {
    instance: Arc<Instance>,
    context: String,
    session: String,
    collector: Arc<Mutex<Collector>>,
    closed: bool,
    _permit: OwnedSemaphorePermit,
}

impl Page {
    pub(super) async fn open(
        instance: Arc<Instance>,
        permit: OwnedSemaphorePermit,
    ) -> Result<Page, BrowserError> {
        let ctx = instance
            .call(
                None,
                "Target.createBrowserContext",
                json!({"disposeOnDetach": true}),
            )
            .await?;
        let context = str_of(&ctx, "browserContextId")?;
        let mut page = Page {
            instance,
            context,
            session: String::new(),
            collector: Arc::new(Mutex::new(Collector::default())),
            closed: false,
            _permit: permit,
        };
        let target = page
            .instance
            .call(
                None,
                "Target.createTarget",
                json!({"url": "about:blank", "browserContextId": page.context}),
            )
            .await?;
        let target = str_of(&target, "targetId")?;
        let attached = page
            .instance
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await?;
        page.session = str_of(&attached, "sessionId")?;
        let collector = page.collector.clone();
        page.instance.conn.route(
            &page.session,
            Box::new(move |method, params| {
                collector
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .event(method, params);
            }),
        );
        for domain in ["Page", "Runtime", "Log", "Network"] {
            page.call(&format!("{domain}.enable"), json!({})).await?;
        }
        page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": VITALS}),
        )
        .await?;
        Ok(page)
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.instance
            .call(Some(&self.session), method, params)
            .await
    }

    /// Navigates to `url` and waits for its load event (scripts, styles and
    /// images loaded), at most `timeout`.
    pub async fn goto(&self, url: &str, timeout: Duration) -> Result<(), BrowserError> {
        let loads = self.collector.lock().unwrap().loads;
        let end = Instant::now() + timeout;
        let nav = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = nav.get("errorText").and_then(Value::as_str)
            && !error.is_empty()
        {
            return Err(BrowserError::Navigation {
                url: url.to_string(),
                error: error.to_string(),
            });
        }
        loop {
            if self.collector.lock().unwrap().loads > loads {
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() >= end {
                return Err(BrowserError::Timeout {
                    what: format!("{url} to load"),
                    within: timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The error of a Chromium that has gone, if it has.
    fn check_alive(&self) -> Result<(), BrowserError> {
        if let Some(e) = self.instance.failed.lock().unwrap().clone() {
            return Err(e);
        }
        if self.instance.conn.is_closed() {
            return Err(self.instance.fail(BrowserError::Crashed));
        }
        Ok(())
    }

    /// Evaluates a JavaScript expression (a promise is awaited) and returns
    /// its value as JSON.
    pub async fn eval(&self, expression: &str) -> Result<Value, BrowserError> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "returnByValue": true,
                    "awaitPromise": true,
                    // A page stuck in a loop is stopped before the call's
                    // own timeout would count Chromium as hung.
                    "timeout": self.instance.conn_timeout().as_millis() as u64 / 2,
                }),
            )
            .await?;
        if let Some(d) = r.get("exceptionDetails") {
            let message = d["exception"]["description"]
                .as_str()
                .or_else(|| d["text"].as_str())
                .unwrap_or("an exception");
            return Err(BrowserError::Script(message.to_string()));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Waits until `what` is in the page, at most `timeout`.
    pub async fn wait_for(&self, what: &Wait, timeout: Duration) -> Result<(), BrowserError> {
        let check = match what {
            Wait::Selector(s) => format!("document.querySelector({}) !== null", json!(s)),
            Wait::Text(t) => format!(
                "!!document.body && document.body.innerText.includes({})",
                json!(t)
            ),
        };
        let end = Instant::now() + timeout;
        loop {
            // A selector that does not parse is the probe file's error,
            // not a wait: it is reported at once. A document replaced
            // while the check ran (a click that navigates) is a "not yet".
            match self.eval(&check).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                Err(e) if navigated(&e) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= end {
                return Err(BrowserError::Timeout {
                    what: what.to_string(),
                    within: timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Replaces the value of the field matching `selector` with `text`, as
    /// typing it would (input events included).
    pub async fn fill(&self, selector: &str, text: &str) -> Result<(), BrowserError> {
        let script = format!(
            r#"(() => {{
                const el = document.querySelector({sel});
                if (!el) return 'missing';
                el.scrollIntoView({{block: 'center'}});
                el.focus();
                if ('value' in el) {{
                    const proto = Object.getPrototypeOf(el);
                    const set = Object.getOwnPropertyDescriptor(proto, 'value');
                    if (set && set.set) set.set.call(el, ''); else el.value = '';
                    el.dispatchEvent(new Event('input', {{bubbles: true}}));
                }} else {{
                    document.getSelection().selectAllChildren(el);
                }}
                return document.activeElement === el ? 'ok' : 'unfocusable';
            }})()"#,
            sel = json!(selector)
        );
        match self.eval(&script).await?.as_str() {
            Some("ok") => {}
            Some("missing") => return Err(BrowserError::NoElement(selector.to_string())),
            _ => return Err(BrowserError::NotVisible(selector.to_string())),
        }
        if !text.is_empty() {
            self.call("Input.insertText", json!({"text": text})).await?;
        }
        Ok(())
    }

    /// Clicks the centre of the element matching `selector` with the mouse.
    pub async fn click(&self, selector: &str) -> Result<(), BrowserError> {
        let script = format!(
            r#"(() => {{
                const el = document.querySelector({sel});
                if (!el) return null;
                el.scrollIntoView({{block: 'center', inline: 'center'}});
                const r = el.getBoundingClientRect();
                return [r.left + r.width / 2, r.top + r.height / 2, r.width * r.height];
            }})()"#,
            sel = json!(selector)
        );
        let at = self.eval(&script).await?;
        let Some([x, y, area]) = at.as_array().and_then(|a| {
            let f: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
            <[f64; 3]>::try_from(f).ok()
        }) else {
            return Err(BrowserError::NoElement(selector.to_string()));
        };
        if area <= 0.0 {
            return Err(BrowserError::NotVisible(selector.to_string()));
        }
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        )
        .await?;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await?;
        }
        Ok(())
    }

    /// Presses and releases `key` (`Enter`, `Tab`, `Escape`, `Backspace`,
    /// `Delete`, `ArrowUp`/`Down`/`Left`/`Right`, `Home`, `End`, `PageUp`,
    /// `PageDown`, `Space`, or one printable character) in the focused
    /// element.
    pub async fn press(&self, key: &str) -> Result<(), BrowserError> {
        let Some((key_name, code, vk, text)) = key_event(key) else {
            return Err(BrowserError::UnknownKey(key.to_string()));
        };
        let mut down = json!({
            "type": if text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": key_name, "code": code, "windowsVirtualKeyCode": vk,
        });
        if let Some(t) = &text {
            down["text"] = json!(t);
            down["unmodifiedText"] = json!(t);
        }
        self.call("Input.dispatchKeyEvent", down).await?;
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key_name, "code": code, "windowsVirtualKeyCode": vk}),
        )
        .await?;
        Ok(())
    }

    /// The page's current URL (of the document being loaded, if one is).
    pub async fn url(&self) -> Result<String, BrowserError> {
        let end = Instant::now() + self.instance.conn_timeout();
        loop {
            match self.eval("location.href").await {
                Ok(v) => return Ok(v.as_str().unwrap_or_default().to_string()),
                Err(e) if navigated(&e) && Instant::now() < end => {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>, BrowserError> {
        use base64::Engine as _;
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let png = r["data"]
            .as_str()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .ok_or(BrowserError::Screenshot)?;
        if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(BrowserError::Screenshot);
        }
        Ok(png)
    }

    /// The page's Web Vitals so far (read at the end of a run: LCP and CLS
    /// grow while the page renders).
    pub async fn vitals(&self) -> Result<Vitals, BrowserError> {
        let v = self
            .eval("window.__smokeprobeVitals ? window.__smokeprobeVitals() : null")
            .await?;
        Ok(Vitals::from_page(&v))
    }

    /// What the page showed so far: exceptions, console errors, failed
    /// requests.
    pub fn evidence(&self) -> Evidence {
        self.collector.lock().unwrap().evidence.clone()
    }

    /// Disposes the page's browser context (its cookies, storage and
    /// target); frees its slot.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        self.closed = true;
        self.instance.conn.unroute(&self.session);
        if self.check_alive().is_err() {
            return Ok(());
        }
        self.instance
            .call(
                None,
                "Target.disposeBrowserContext",
                json!({"browserContextId": self.context}),
            )
            .await
            .map(|_| ())
    }
}

impl Drop for Page {
    /// A page dropped without [`Page::close`] still has its context
    /// disposed, in the background.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        self.instance.conn.unroute(&self.session);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let instance = self.instance.clone();
            let context = std::mem::take(&mut self.context);
            rt.spawn(async move {
                let params = json!({"browserContextId": context});
                let _ = instance
                    .call(None, "Target.disposeBrowserContext", params)
                    .await;
            });
        }
    }
}

/// Whether `e` says the document was replaced while a script ran in it
/// (Chromium's words for a navigation racing an evaluation).
fn navigated(e: &BrowserError) -> bool {
    let text = match e {
        BrowserError::Protocol { message, .. } => message,
        BrowserError::Script(message) => message,
        _ => return false,
    };
    [
        "Inspected target navigated or closed",
        "Execution context was destroyed",
        "Cannot find context with specified id",
    ]
    .iter()
    .any(|m| text.contains(m))
}

fn str_of(v: &Value, key: &str) -> Result<String, BrowserError> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BrowserError::Protocol {
            method: key.to_string(),
            message: "missing in the answer".to_string(),
        })
}

/// `key` as a DevTools key event: key, code, Windows virtual key code and
/// the text it types.
fn key_event(key: &str) -> Option<(String, String, u32, Option<String>)> {
    let named = |k: &str, code: &str, vk: u32, text: Option<&str>| {
        Some((
            k.to_string(),
            code.to_string(),
            vk,
            text.map(str::to_string),
        ))
    };
    match key {
        "Enter" => named("Enter", "Enter", 13, Some("\r")),
        "Tab" => named("Tab", "Tab", 9, None),
        "Escape" => named("Escape", "Escape", 27, None),
        "Backspace" => named("Backspace", "Backspace", 8, None),
        "Delete" => named("Delete", "Delete", 46, None),
        "Space" | " " => named(" ", "Space", 32, Some(" ")),
        "ArrowLeft" => named("ArrowLeft", "ArrowLeft", 37, None),
        "ArrowUp" => named("ArrowUp", "ArrowUp", 38, None),
        "ArrowRight" => named("ArrowRight", "ArrowRight", 39, None),
        "ArrowDown" => named("ArrowDown", "ArrowDown", 40, None),
        "Home" => named("Home", "Home", 36, None),
        "End" => named("End", "End", 35, None),
        "PageUp" => named("PageUp", "PageUp", 33, None),
        "PageDown" => named("PageDown", "PageDown", 34, None),
        _ => {
            let mut chars = key.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return None;
            };
            if c.is_control() {
                return None;
            }
            let upper = c.to_ascii_uppercase();
            let (code, vk) = if upper.is_ascii_alphabetic() {
                (format!("Key{upper}"), upper as u32)
            } else if c.is_ascii_digit() {
                (format!("Digit{c}"), c as u32)
            } else {
                (String::new(), 0)
            };
            Some((c.to_string(), code, vk, Some(c.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_replaced_document_counts_as_a_navigation_race() {
        let raced = BrowserError::Protocol {
            method: "Runtime.evaluate".into(),
            message: "Inspected target navigated or closed".into(),
        };
        assert!(navigated(&raced));
        assert!(!navigated(&BrowserError::Script("TypeError: x".into())));
        assert!(!navigated(&BrowserError::Crashed));
    }

    #[test]
    fn keys_are_named_keys_or_one_printable_character() {
        assert_eq!(key_event("Enter").unwrap().3.as_deref(), Some("\r"));
        assert_eq!(key_event("a").unwrap().1, "KeyA");
        assert_eq!(key_event("7").unwrap().2, '7' as u32);
        assert!(key_event("Enterr").is_none());
        assert!(key_event("ab").is_none());
        assert!(key_event("\u{7}").is_none());
    }
}
