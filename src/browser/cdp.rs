//! The DevTools protocol over Chromium's pipe: JSON messages ending in NUL.
//!
//! One writer (behind a lock) and one reader task. The reader routes each
//! answer to its caller by `id` and each event to the sink registered for
//! its `sessionId` (a page's collector, called on the reader task: it must
//! be quick and never block). Every call waits at most the connection's
//! timeout. When the pipe closes (Chromium exited or was killed) the
//! connection is dead: calls waiting and every later call fail at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;

/// What a page's event sink is given: the event's method and params.
pub type Sink = Box<dyn Fn(&str, &Value) + Send + Sync>;

/// Why a call got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The pipe closed before the answer came.
    Closed,
    /// No answer within the timeout.
    Timeout,
    /// Chromium answered with an error (its message).
    Protocol(String),
}

#[derive(Default)]
struct Routes {
    answers: HashMap<u64, oneshot::Sender<Result<Value, String>>>,
    sinks: HashMap<String, Arc<Sink>>,
}

/// A live protocol connection to one Chromium.
pub struct Connection {
    to: tokio::sync::Mutex<tokio::net::unix::pipe::Sender>,
    routes: Arc<Mutex<Routes>>,
    closed: Arc<AtomicBool>,
    next_id: AtomicU64,
    timeout: Duration,
    reader: tokio::task::JoinHandle<()>,
}

impl Connection {
    pub fn new(pipes: super::process::Pipes, timeout: Duration) -> Connection {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let closed = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read(pipes.from, routes.clone(), closed.clone()));
        Connection {
            to: tokio::sync::Mutex::new(pipes.to),
            routes,
            closed,
            next_id: AtomicU64::new(0),
            timeout,
            reader,
        }
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the pipe has closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A command to the browser (`session` None) or to a page's session,
    /// answered within the connection's timeout.
    pub async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, CallError> {
        self.call_within(self.timeout, session, method, params)
            .await
    }

    /// [`Connection::call`] with its own timeout.
    pub async fn call_within(
        &self,
        timeout: Duration,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, CallError> {
        if self.is_closed() {
            return Err(CallError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        let (tx, rx) = oneshot::channel();
        self.routes.lock().unwrap().answers.insert(id, tx);
        let exchange = async {
            self.to
                .lock()
                .await
                .write_all(&bytes)
                .await
                .map_err(|_| CallError::Closed)?;
            match rx.await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(CallError::Protocol(e)),
                Err(_) => Err(CallError::Closed),
            }
        };
        let r = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout),
        };
        self.routes.lock().unwrap().answers.remove(&id);
        r
    }

    /// Sends the events of `session` to `sink` from now on.
    pub fn route(&self, session: &str, sink: Sink) {
        self.routes
            .lock()
            .unwrap()
            .sinks
            .insert(session.to_string(), Arc::new(sink));
    }

    /// Stops routing the events of `session`.
    pub fn unroute(&self, session: &str) {
        self.routes.lock().unwrap().sinks.remove(session);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The reader task: splits the pipe at NULs, routes each message.
async fn read(
    mut from: tokio::net::unix::pipe::Receiver,
    routes: Arc<Mutex<Routes>>,
    closed: Arc<AtomicBool>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut start = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = memchr::memchr(0, &buf[start..]).map(|i| start + i) {
            if let Ok(m) = serde_json::from_slice::<Value>(&buf[..end]) {
                dispatch(&routes, m);
            }
            buf.drain(..=end);
            start = 0;
        }
    }
    closed.store(true, Ordering::SeqCst);
    // Dropping the senders wakes every waiting caller with `Closed`.
    let mut r = routes.lock().unwrap();
    r.answers.clear();
    r.sinks.clear();
}

fn dispatch(routes: &Mutex<Routes>, m: Value) {
    if let Some(id) = m.get("id").and_then(Value::as_u64) {
        let tx = routes.lock().unwrap().answers.remove(&id);
        if let Some(tx) = tx {
            let answer = match m.get("error") {
                Some(e) => Err(e
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| e.to_string(), str::to_string)),
                None => Ok(m.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = tx.send(answer);
        }
        return;
    }
    let (Some(method), Some(session)) = (
        m.get("method").and_then(Value::as_str),
        m.get("sessionId").and_then(Value::as_str),
    ) else {
        return;
    };
    let sink = routes.lock().unwrap().sinks.get(session).cloned();
    if let Some(sink) = sink {
        sink(method, m.get("params").unwrap_or(&Value::Null));
    }
}
