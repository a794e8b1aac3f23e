//! Headless Chromium driven over the DevTools protocol, our own client: the
//! engine under browser steps. Below `config`, `flow` and `check`, naming
//! none of them.
//!
//! - [`Browser`] — one per probe process: finds Chromium ([`locate`]), starts
//!   it on first use (`process.rs`: headless, loopback only, its own
//!   temporary profile and process group), bounds the pages open at once
//!   (a semaphore, [`BrowserOptions::concurrency`], default 2), and starts a
//!   new Chromium when the last one crashed or hung. Every protocol call
//!   waits at most [`BrowserOptions::call_timeout`] (`cdp.rs`: one reader
//!   task routes answers by id and events by session); a call that times out
//!   kills that Chromium, and only the pages it held fail, with an error
//!   saying the browser crashed or hung. [`Browser::shutdown`] (and dropping
//!   the last handle) ends Chromium and everything it started.
//! - [`Page`] (`page.rs`) — one per run: a fresh browser context (no cookies
//!   or storage shared with any other page), navigation and actions, and the
//!   evidence collected meanwhile (`evidence.rs`: uncaught exceptions,
//!   console errors, failed requests) and the Web Vitals measured in the page
//!   (`vitals.js`).

mod cdp;
mod evidence;
mod page;
mod process;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub use evidence::{ConsoleError, Evidence, Exception, FailedRequest, Vitals};
pub use page::{Page, Wait};
pub use process::{FLAGS, LOOPBACK_ONLY, NAMES, locate};

use crate::vocab::fmt_duration;

/// What went wrong, in words a probe's user reads (no protocol dumps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "no Chromium found (looked for chromium, chromium-browser and google-chrome on PATH): \
         give its path with --chromium PATH or the SMOKEPROBE_CHROMIUM environment variable, \
         or install it (Debian: apt-get install chromium)"
    )]
    NotFound,
    #[error(
        "{from} names {}, which is not an executable file: give Chromium's path with \
         --chromium PATH or the SMOKEPROBE_CHROMIUM environment variable, or install it \
         (Debian: apt-get install chromium)", path.display()
    )]
    NotExecutable { path: PathBuf, from: &'static str },
    #[error("Chromium did not start: {0}")]
    Start(String),
    #[error("the browser crashed (Chromium exited); a new one is started for the next run")]
    Crashed,
    #[error(
        "the browser hung (no answer to {method} within {}); it was killed and a new one is \
         started for the next run", fmt_duration(*within)
    )]
    Hung { method: String, within: Duration },
    #[error("the browser refused {method}: {message}")]
    Protocol { method: String, message: String },
    #[error("{url} did not load: {error}")]
    Navigation { url: String, error: String },
    #[error("timed out after {} waiting for {what}", fmt_duration(*within))]
    Timeout { what: String, within: Duration },
    #[error("no element matches `{0}`")]
    NoElement(String),
    #[error("the element `{0}` is not visible (it has no size)")]
    NotVisible(String),
    #[error("the page's script threw: {0}")]
    Script(String),
    #[error("`{0}` is not a key this browser can press")]
    UnknownKey(String),
    #[error("the screenshot is not a PNG image")]
    Screenshot,
    #[error("the browser has been shut down")]
    ShutDown,
}

/// The longest Chromium may take to start and answer its first call.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How the browser is run.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// `--chromium PATH`; without it `SMOKEPROBE_CHROMIUM`, then `PATH`.
    pub chromium: Option<PathBuf>,
    /// Pages open at once (`--browser-concurrency`); a page waits for a slot.
    pub concurrency: usize,
    /// The longest any one protocol call may take before Chromium counts
    /// as hung.
    pub call_timeout: Duration,
    /// Resolve no host name at all (tests: the page reaches only 127.0.0.1
    /// and ::1). Off for a real probe, whose pages load the site by name.
    pub loopback_only: bool,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            chromium: None,
            concurrency: 2,
            call_timeout: Duration::from_secs(30),
            loopback_only: false,
        }
    }
}

/// The process's browser: a handle, cheap to clone.
#[derive(Clone)]
pub struct Browser {
    inner: Arc<Inner>,
}

struct Inner {
    exe: PathBuf,
    call_timeout: Duration,
    loopback_only: bool,
    pages: Arc<Semaphore>,
    current: tokio::sync::Mutex<Option<Arc<Instance>>>,
    shut: AtomicBool,
}

impl Browser {
    /// Finds Chromium (see [`locate`]); starts nothing yet.
    pub fn new(options: BrowserOptions) -> Result<Browser, BrowserError> {
        let env = std::env::var_os("SMOKEPROBE_CHROMIUM");
        let path = std::env::var_os("PATH");
        let exe = locate(options.chromium.as_deref(), env.as_deref(), path.as_deref())?;
        Ok(Browser {
            inner: Arc::new(Inner {
                exe,
                call_timeout: options.call_timeout,
                loopback_only: options.loopback_only,
                pages: Arc::new(Semaphore::new(options.concurrency.max(1))),
                current: tokio::sync::Mutex::new(None),
                shut: AtomicBool::new(false),
            }),
        })
    }

    /// The Chromium executable in use.
    pub fn executable(&self) -> &Path {
        &self.inner.exe
    }

    /// The PID of the running Chromium (also its process group's id), if
    /// one is running.
    pub async fn pid(&self) -> Option<u32> {
        let cur = self.inner.current.lock().await;
        cur.as_ref().filter(|i| i.alive()).map(|i| i.pid)
    }

    /// A new page in a fresh browser context, once a slot is free; starts
    /// Chromium if none is running (or the last one crashed or hung).
    pub async fn page(&self) -> Result<Page, BrowserError> {
        let permit = self
            .inner
            .pages
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| BrowserError::ShutDown)?;
        let instance = self.instance().await?;
        Page::open(instance, permit).await
    }

    /// The running Chromium, started (again) if needed.
    async fn instance(&self) -> Result<Arc<Instance>, BrowserError> {
        let mut cur = self.inner.current.lock().await;
        if self.inner.shut.load(Ordering::SeqCst) {
            return Err(BrowserError::ShutDown);
        }
        if let Some(i) = cur.as_ref()
            && i.alive()
        {
            return Ok(i.clone());
        }
        if let Some(old) = cur.take() {
            old.kill();
        }
        let i = Arc::new(
            Instance::start(
                &self.inner.exe,
                self.inner.call_timeout,
                self.inner.loopback_only,
            )
            .await?,
        );
        *cur = Some(i.clone());
        Ok(i)
    }

    /// Closes Chromium (asking first, then killing its process group) and
    /// reaps it; pages still open fail from now on, and so does
    /// [`Browser::page`].
    pub async fn shutdown(&self) {
        self.inner.shut.store(true, Ordering::SeqCst);
        self.inner.pages.close();
        let Some(i) = self.inner.current.lock().await.take() else {
            return;
        };
        if i.alive() {
            // Asked to close, Chromium ends its helpers itself; the kill
            // that follows catches whatever did not.
            let close = i.conn.call(None, "Browser.close", json!({}));
            let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
            let end = tokio::time::Instant::now() + Duration::from_secs(3);
            while !i.process.lock().unwrap().exited() && tokio::time::Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        i.fail(BrowserError::ShutDown);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(i) = self.current.get_mut().take() {
            i.fail(BrowserError::ShutDown);
        }
    }
}

/// One started Chromium: its process and its connection.
pub(crate) struct Instance {
    pid: u32,
    conn: cdp::Connection,
    process: Mutex<process::Process>,
    /// Why this Chromium may no longer be used, once it may not.
    failed: Mutex<Option<BrowserError>>,
}

impl Instance {
    async fn start(
        exe: &Path,
        call_timeout: Duration,
        loopback_only: bool,
    ) -> Result<Instance, BrowserError> {
        let (process, pipes) = process::Process::start(exe, loopback_only)?;
        let i = Instance {
            pid: process.pid(),
            conn: cdp::Connection::new(pipes, call_timeout),
            process: Mutex::new(process),
            failed: Mutex::new(None),
        };
        // Starting takes longer than any call (a cold start on a busy
        // machine: seconds).
        let within = call_timeout.max(START_TIMEOUT);
        match i
            .conn
            .call_within(within, None, "Browser.getVersion", json!({}))
            .await
        {
            Ok(_) => Ok(i),
            Err(e) => {
                i.kill();
                Err(BrowserError::Start(match e {
                    cdp::CallError::Closed => "it exited at once".to_string(),
                    cdp::CallError::Timeout => {
                        format!("no answer within {}", fmt_duration(within))
                    }
                    cdp::CallError::Protocol(m) => m,
                }))
            }
        }
    }

    /// Whether this Chromium can still be used.
    fn alive(&self) -> bool {
        self.failed.lock().unwrap().is_none()
            && !self.conn.is_closed()
            && !self.process.lock().unwrap().exited()
    }

    /// A protocol call; a closed pipe or a timeout ends this Chromium.
    async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, BrowserError> {
        if let Some(e) = self.failed.lock().unwrap().clone() {
            return Err(e);
        }
        match self.conn.call(session, method, params).await {
            Ok(v) => Ok(v),
            Err(cdp::CallError::Protocol(message)) => Err(BrowserError::Protocol {
                method: method.to_string(),
                message,
            }),
            Err(cdp::CallError::Closed) => Err(self.fail(BrowserError::Crashed)),
            Err(cdp::CallError::Timeout) => Err(self.fail(BrowserError::Hung {
                method: method.to_string(),
                within: self.conn_timeout(),
            })),
        }
    }

    fn conn_timeout(&self) -> Duration {
        self.conn.timeout()
    }

    /// Marks this Chromium unusable (the first reason stays) and kills it;
    /// returns the reason every later call gets.
    fn fail(&self, why: BrowserError) -> BrowserError {
        let why = self.failed.lock().unwrap().get_or_insert(why).clone();
        self.kill();
        why
    }

    fn kill(&self) {
        self.process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kill();
    }
}
