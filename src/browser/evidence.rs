//! What a page shows while it runs, collected from the protocol's events on
//! the reader task: uncaught exceptions, console errors, failed requests
//! (network errors, requests blocked by CSP, CORS or mixed content, and
//! responses with status ≥ 400), and the Web Vitals read back from the page.
//! Each list keeps its first [`KEEP`] entries and counts the rest.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

/// Entries kept per list.
pub const KEEP: usize = 100;
/// Requests in flight remembered (for the method and URL of a failure).
const IN_FLIGHT: usize = 4096;

/// An uncaught exception (or unhandled rejection) in the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// The error's text, as the console shows it (with its stack).
    pub message: String,
    pub url: Option<String>,
    /// 1-based.
    pub line: Option<u64>,
}

/// A console message at error level: `console.error` (`source`
/// `console`), or a browser log entry (`source` as Chromium names it:
/// `network`, `security`, `javascript`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleError {
    pub source: String,
    pub text: String,
    pub url: Option<String>,
}

/// A request that got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRequest {
    pub url: String,
    pub method: String,
    /// What the page asked for (`Document`, `Script`, `Fetch`, …).
    pub resource: String,
    /// The status of an answer ≥ 400.
    pub status: Option<u16>,
    /// The network error (`net::ERR_CONNECTION_REFUSED`, …).
    pub error: Option<String>,
    /// Why the browser blocked it (`csp`, `mixed-content`, `cors: …`).
    pub blocked: Option<String>,
}

/// Everything collected from one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    pub exceptions: Vec<Exception>,
    pub console_errors: Vec<ConsoleError>,
    pub failed_requests: Vec<FailedRequest>,
    /// Entries past [`KEEP`] in any list, counted only.
    pub omitted: u64,
}

/// Web Vitals measured in the page (a metric the page never produced, such
/// as LCP on a page that painted nothing, is `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Vitals {
    /// Time to first byte of the document (navigation timing).
    pub ttfb: Option<Duration>,
    /// First contentful paint.
    pub fcp: Option<Duration>,
    /// Largest contentful paint (the last candidate so far).
    pub lcp: Option<Duration>,
    /// Cumulative layout shift: the largest session window of shifts
    /// without recent input, unitless.
    pub cls: Option<f64>,
    /// Total blocking time: the part over 50 ms of each long task after FCP.
    pub tbt: Option<Duration>,
}

impl Vitals {
    /// From the object the page script returns (milliseconds).
    pub(super) fn from_page(v: &Value) -> Vitals {
        let ms = |k: &str| {
            v.get(k)
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite() && *x >= 0.0)
                .map(|x| Duration::from_secs_f64(x / 1000.0))
        };
        Vitals {
            ttfb: ms("ttfb"),
            fcp: ms("fcp"),
            lcp: ms("lcp"),
            cls: v
                .get("cls")
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite()),
            tbt: ms("tbt"),
        }
    }
}

/// The collector behind a page's event sink.
#[derive(Default)]
pub(super) struct Collector {
    pub evidence: Evidence,
    /// Main-frame load events seen.
    pub loads: u64,
    requests: HashMap<String, (String, String)>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn push<T>(list: &mut Vec<T>, omitted: &mut u64, item: T) {
    if list.len() < KEEP {
        list.push(item);
    } else {
        *omitted += 1;
    }
}

impl Collector {
    pub fn event(&mut self, method: &str, p: &Value) {
        let ev = &mut self.evidence;
        match method {
            "Page.loadEventFired" => self.loads += 1,
            "Runtime.exceptionThrown" => {
                let d = &p["exceptionDetails"];
                let message = text(&d["exception"]["description"])
                    .or_else(|| text(&d["exception"]["value"]))
                    .or_else(|| text(&d["text"]))
                    .unwrap_or_else(|| "an exception".to_string());
                let line = d["lineNumber"].as_u64().map(|l| l + 1);
                push(
                    &mut ev.exceptions,
                    &mut ev.omitted,
                    Exception {
                        message,
                        url: text(&d["url"]),
                        line,
                    },
                );
            }
            "Runtime.consoleAPICalled" if p["type"] == "error" => {
                let args = p["args"].as_array().map(Vec::as_slice).unwrap_or_default();
                let message = args
                    .iter()
                    .map(|a| {
                        a["value"]
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| a["description"].as_str().map(str::to_string))
                            .unwrap_or_else(|| a["value"].to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                push(
                    &mut ev.console_errors,
                    &mut ev.omitted,
                    ConsoleError {
                        source: "console".to_string(),
                        text: message,
                        url: text(&p["stackTrace"]["callFrames"][0]["url"]),
                    },
                );
            }
            "Log.entryAdded" if p["entry"]["level"] == "error" => {
                let e = &p["entry"];
                push(
                    &mut ev.console_errors,
                    &mut ev.omitted,
                    ConsoleError {
                        source: text(&e["source"]).unwrap_or_else(|| "other".to_string()),
                        text: text(&e["text"]).unwrap_or_default(),
                        url: text(&e["url"]),
                    },
                );
            }
            "Network.requestWillBeSent" => {
                if let Some(id) = text(&p["requestId"])
                    && (self.requests.len() < IN_FLIGHT || self.requests.contains_key(&id))
                {
                    let r = &p["request"];
                    let method = text(&r["method"]).unwrap_or_else(|| "GET".to_string());
                    self.requests
                        .insert(id, (method, text(&r["url"]).unwrap_or_default()));
                }
            }
            "Network.responseReceived" => {
                let r = &p["response"];
                let status = r["status"].as_u64().unwrap_or(0);
                if status >= 400 {
                    let id = p["requestId"].as_str().unwrap_or_default();
                    let method = self.requests.get(id).map_or("GET", |m| m.0.as_str());
                    let failed = FailedRequest {
                        url: text(&r["url"]).unwrap_or_default(),
                        method: method.to_string(),
                        resource: text(&p["type"]).unwrap_or_else(|| "Other".to_string()),
                        status: u16::try_from(status).ok(),
                        error: None,
                        blocked: None,
                    };
                    push(&mut ev.failed_requests, &mut ev.omitted, failed);
                }
            }
            "Network.loadingFinished" => {
                if let Some(id) = p["requestId"].as_str() {
                    self.requests.remove(id);
                }
            }
            "Network.loadingFailed" => {
                let id = p["requestId"].as_str().unwrap_or_default();
                let (method, url) = self.requests.remove(id).unwrap_or_default();
                let cors = p["corsErrorStatus"]["corsError"]
                    .as_str()
                    .map(|c| format!("cors: {c}"));
                let blocked = text(&p["blockedReason"]).or(cors);
                // A request the page itself gave up (a navigation away, an
                // aborted fetch) failed nothing.
                if p["canceled"] == true && blocked.is_none() {
                    return;
                }
                let failed = FailedRequest {
                    url,
                    method: if method.is_empty() {
                        "GET".to_string()
                    } else {
                        method
                    },
                    resource: text(&p["type"]).unwrap_or_else(|| "Other".to_string()),
                    status: None,
                    error: text(&p["errorText"]),
                    blocked,
                };
                push(&mut ev.failed_requests, &mut ev.omitted, failed);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_blocked_request_keeps_its_url_and_reason_and_a_canceled_one_is_dropped() {
        let mut c = Collector::default();
        for (id, url) in [("1", "http://127.0.0.1/a.js"), ("2", "http://127.0.0.1/b")] {
            c.event(
                "Network.requestWillBeSent",
                &json!({"requestId": id, "request": {"url": url, "method": "POST"}}),
            );
        }
        c.event(
            "Network.loadingFailed",
            &json!({"requestId": "1", "type": "Script", "errorText": "net::ERR_BLOCKED_BY_CLIENT",
                    "canceled": false, "blockedReason": "csp"}),
        );
        c.event(
            "Network.loadingFailed",
            &json!({"requestId": "2", "errorText": "net::ERR_ABORTED", "canceled": true}),
        );
        assert_eq!(
            c.evidence.failed_requests,
            vec![FailedRequest {
                url: "http://127.0.0.1/a.js".into(),
                method: "POST".into(),
                resource: "Script".into(),
                status: None,
                error: Some("net::ERR_BLOCKED_BY_CLIENT".into()),
                blocked: Some("csp".into()),
            }]
        );
        assert!(c.requests.is_empty(), "finished requests are forgotten");
    }

    #[test]
    fn lists_stop_at_keep_and_count_the_rest() {
        let mut c = Collector::default();
        for _ in 0..KEEP + 5 {
            c.event(
                "Log.entryAdded",
                &json!({"entry": {"level": "error", "source": "network", "text": "x"}}),
            );
        }
        assert_eq!(c.evidence.console_errors.len(), KEEP);
        assert_eq!(c.evidence.omitted, 5);
    }
}
