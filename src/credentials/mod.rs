//! Credential safety: the probe must never lock its own account.
//!
//! ContraVento locks an account for 15 minutes after five consecutive wrong
//! passwords, and the count never decays. A probe that sends a wrong password
//! from three flows at once, or again after every reload, locks its account
//! by itself. So, per secret *value* and per process:
//!
//! - the first request that carries a value no answer has judged yet runs
//!   alone; other requests carrying it wait for that answer (bounded by their
//!   step's time), then go (accepted) or are not sent (refused);
//! - a 401, 423 or 429 answer (ContraVento's `ACCOUNT_LOCKED`) that fails the
//!   step marks the value refused — 429 only for secrets not declared
//!   `rate_limited` (an API key's 429 means "slow down");
//! - a refused value is never sent again by this process, across reloads,
//!   and — when a state directory is available — across restarts: refusals
//!   are kept in `credentials.json` as salted HMAC-SHA-256 fingerprints
//!   (never the value), so only a *new* value is tried (once).
//!
//! The limit, documented in docs/reliability.md: N separate processes
//! without a shared state directory can still send N attempts.
//!
//! `admission` is how a request (a step's or a built-in check's) goes
//! through the guard. Below `flow` and `check`, which both send requests.

pub(crate) mod admission;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::{Deserialize, Serialize};

use crate::builtins;

/// A value's fingerprint: HMAC-SHA-256 under the guard's salt, hex.
pub type Fingerprint = String;

/// Why a secret is not sent any more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The variable that held the value when it was refused.
    pub var: String,
    /// The answer that refused it (401, 423 or 429).
    pub status: u16,
    /// The target's error code (`INVALID_CREDENTIALS`, `ACCOUNT_LOCKED`), if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `flow/step` whose request was refused.
    pub by: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

impl Refusal {
    /// "401 INVALID_CREDENTIALS to trip-lifecycle/login at …".
    pub fn describe(&self) -> String {
        let code = self
            .code
            .as_deref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        format!("{}{code} to {} at {}", self.status, self.by, self.at)
    }
}

/// The state of one secret variable as this process last used it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SecretState {
    pub var: String,
    /// Set when the value in use is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

#[derive(Clone, Debug)]
enum Entry {
    /// One request carrying it is out; the others wait.
    Probing,
    /// The target answered a request carrying it without refusing it.
    Accepted,
    Refused(Refusal),
}

#[derive(Default)]
struct State {
    entries: HashMap<Fingerprint, Entry>,
    /// Each variable's value as last used (for metrics and pages).
    current: HashMap<String, Fingerprint>,
}

/// The persisted refusals.
#[derive(Default, Serialize, Deserialize)]
struct StateFile {
    /// Hex; the HMAC key of every fingerprint in the file.
    salt: String,
    #[serde(default)]
    refused: Vec<StoredRefusal>,
}

#[derive(Serialize, Deserialize)]
struct StoredRefusal {
    fingerprint: Fingerprint,
    #[serde(flatten)]
    refusal: Refusal,
}

/// Refused stored entries kept in the file (oldest are forgotten first).
const MAX_STORED: usize = 64;

/// Per-process credential gate. Share one (see [`Guard::shared`]).
pub struct Guard {
    key: ring::hmac::Key,
    /// Hex of the HMAC key, written back with the refusals.
    salt: String,
    state: Mutex<State>,
    changed: tokio::sync::Notify,
    file: Option<PathBuf>,
}

static SHARED: OnceLock<Arc<Guard>> = OnceLock::new();

impl Guard {
    /// A guard that remembers refusals only while the process lives.
    pub fn in_memory() -> Guard {
        let salt: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        Guard::with_salt(&salt, None)
    }

    fn with_salt(salt: &[u8], file: Option<PathBuf>) -> Guard {
        Guard {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, salt),
            salt: crate::encoding::hex(salt),
            state: Mutex::new(State::default()),
            changed: tokio::sync::Notify::new(),
            file,
        }
    }

    /// A guard whose refusals persist in `dir/credentials.json` (created if
    /// missing). An unreadable or corrupt file is an error: silently
    /// forgetting refusals is how an account gets locked.
    pub fn persistent(dir: &Path) -> Result<Guard, String> {
        let path = dir.join("credentials.json");
        let stored: Option<StateFile> = match std::fs::read_to_string(&path) {
            Ok(text) => Some(serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{} is not a smokeprobe credential state file ({e}); move it away to start afresh",
                    path.display()
                )
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let fresh = stored.is_none();
        let file = stored.unwrap_or_else(|| StateFile {
            salt: crate::encoding::hex(&(0..32).map(|_| fastrand::u8(..)).collect::<Vec<_>>()),
            refused: Vec::new(),
        });
        let salt = crate::encoding::unhex(&file.salt)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{}: `salt` is not hex", path.display()))?;
        let guard = Guard::with_salt(&salt, Some(path.clone()));
        {
            let mut st = guard.lock();
            for r in file.refused {
                st.entries.insert(r.fingerprint, Entry::Refused(r.refusal));
            }
        }
        if fresh {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            guard.save()?;
        }
        Ok(guard)
    }

    /// Sets the process's guard (the CLI does, before any runner exists).
    /// Later calls keep the first guard.
    pub fn install(guard: Guard) -> Arc<Guard> {
        let _ = SHARED.set(Arc::new(guard));
        Guard::shared()
    }

    /// The process's guard: every runner, and every reload's runner, shares
    /// it. In memory unless [`Guard::install`] gave a persistent one.
    pub fn shared() -> Arc<Guard> {
        SHARED.get_or_init(|| Arc::new(Guard::in_memory())).clone()
    }

    /// Where refusals persist, if they do.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The state directory a process uses: `$SMOKEPROBE_STATE_DIR` (empty:
    /// none), else `$XDG_STATE_HOME/smokeprobe`, else
    /// `$HOME/.local/state/smokeprobe`.
    pub fn default_dir() -> Option<PathBuf> {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(v) = std::env::var_os("SMOKEPROBE_STATE_DIR") {
            return (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some(x) = env("XDG_STATE_HOME") {
            return Some(PathBuf::from(x).join("smokeprobe"));
        }
        env("HOME").map(|h| PathBuf::from(h).join(".local/state/smokeprobe"))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fingerprint of a secret value.
    pub fn fingerprint(&self, value: &str) -> Fingerprint {
        crate::encoding::hex(ring::hmac::sign(&self.key, value.as_bytes()).as_ref())
    }

    /// Waits until requests carrying `used` (variable, fingerprint) may be
    /// sent: at once for accepted values; alone for a value not judged yet
    /// (the returned ticket says which values this request probes); never
    /// for a refused value (`Err`, without waiting). Cancel-safe: dropping
    /// the future gives nothing up.
    pub async fn admit(
        self: &Arc<Self>,
        used: &[(String, Fingerprint)],
    ) -> Result<Ticket, Refusal> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                for (var, fp) in used {
                    st.current.insert(var.clone(), fp.clone());
                }
                if let Some(r) = used.iter().find_map(|(_, fp)| match st.entries.get(fp) {
                    Some(Entry::Refused(r)) => Some(r.clone()),
                    _ => None,
                }) {
                    return Err(r);
                }
                let busy = used
                    .iter()
                    .any(|(_, fp)| matches!(st.entries.get(fp), Some(Entry::Probing)));
                if !busy {
                    let mut probing = Vec::new();
                    for (var, fp) in used {
                        if !st.entries.contains_key(fp) {
                            st.entries.insert(fp.clone(), Entry::Probing);
                            probing.push((var.clone(), fp.clone()));
                        }
                    }
                    return Ok(Ticket {
                        guard: self.clone(),
                        used: used.to_vec(),
                        probing,
                    });
                }
            }
            notified.await;
        }
    }

    /// Whether a value is refused.
    pub fn refusal(&self, fp: &str) -> Option<Refusal> {
        match self.lock().entries.get(fp) {
            Some(Entry::Refused(r)) => Some(r.clone()),
            _ => None,
        }
    }

    /// Every secret variable this process has used, with its value's state.
    pub fn secrets(&self) -> Vec<SecretState> {
        let st = self.lock();
        let mut out: Vec<SecretState> = st
            .current
            .iter()
            .map(|(var, fp)| SecretState {
                var: var.clone(),
                refused: match st.entries.get(fp) {
                    Some(Entry::Refused(r)) => Some(r.clone()),
                    _ => None,
                },
            })
            .collect();
        out.sort_by(|a, b| a.var.cmp(&b.var));
        out
    }

    fn save(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let refused: Vec<StoredRefusal> = {
            let st = self.lock();
            let mut v: Vec<StoredRefusal> = st
                .entries
                .iter()
                .filter_map(|(fp, e)| match e {
                    Entry::Refused(r) => Some(StoredRefusal {
                        fingerprint: fp.clone(),
                        refusal: r.clone(),
                    }),
                    _ => None,
                })
                .collect();
            v.sort_by(|a, b| b.refusal.at.cmp(&a.refusal.at));
            v.truncate(MAX_STORED);
            v
        };
        // Another process sharing the directory may have refused values
        // since we read the file: keep its entries too.
        let mut refused = refused;
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(on_disk) = serde_json::from_str::<StateFile>(&text)
            && on_disk.salt == self.salt
        {
            for r in on_disk.refused {
                if !refused.iter().any(|x| x.fingerprint == r.fingerprint) {
                    refused.push(r);
                }
            }
            refused.truncate(MAX_STORED);
        }
        let salt = self.salt.clone();
        let text = serde_json::to_string_pretty(&StateFile { salt, refused })
            .map_err(|e| e.to_string())?;
        let tmp = path.with_extension("json.tmp");
        write_private(&tmp, &text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(text.as_bytes())
}

/// What an answer said about a secret a request carried.
pub enum Verdict {
    /// Answered without refusing it.
    Accepted,
    Refused {
        status: u16,
        code: Option<String>,
    },
    /// Says nothing about it (no answer, or rate limiting of an API key).
    Unknown,
}

/// Permission to send one request carrying some secrets. Settle it with
/// the answer's verdict; dropped unsettled, the values it probed go back to
/// "not judged yet" and the next waiting request probes them.
pub struct Ticket {
    guard: Arc<Guard>,
    used: Vec<(String, Fingerprint)>,
    probing: Vec<(String, Fingerprint)>,
}

impl Ticket {
    /// The variables the request carried.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.used.iter().map(|(v, _)| v.as_str())
    }

    /// Records what the answer said of each carried secret (`verdict(var)`);
    /// `by` is `flow/step`. Returns the variables newly refused.
    pub fn settle(mut self, by: &str, verdict: impl Fn(&str) -> Verdict) -> Vec<String> {
        let mut newly = Vec::new();
        {
            let mut st = self.guard.lock();
            for (var, fp) in &self.used {
                match verdict(var) {
                    Verdict::Accepted => {
                        if !matches!(st.entries.get(fp), Some(Entry::Refused(_))) {
                            st.entries.insert(fp.clone(), Entry::Accepted);
                        }
                    }
                    Verdict::Refused { status, code } => {
                        if !matches!(st.entries.get(fp), Some(Entry::Refused(_))) {
                            st.entries.insert(
                                fp.clone(),
                                Entry::Refused(Refusal {
                                    var: var.clone(),
                                    status,
                                    code,
                                    by: by.to_string(),
                                    at: builtins::rfc3339_utc(builtins::unix_now()),
                                }),
                            );
                            newly.push(var.clone());
                        }
                    }
                    Verdict::Unknown => {
                        if matches!(st.entries.get(fp), Some(Entry::Probing))
                            && self.probing.iter().any(|(_, p)| p == fp)
                        {
                            st.entries.remove(fp);
                        }
                    }
                }
            }
        }
        self.probing.clear();
        self.guard.changed.notify_waiters();
        if !newly.is_empty()
            && let Err(e) = self.guard.save()
        {
            tracing::error!(
                target: "smokeprobe::credentials",
                "could not persist a refused credential: {e}; a restart would try it once more"
            );
        }
        newly
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.probing.is_empty() {
            return;
        }
        {
            let mut st = self.guard.lock();
            for (_, fp) in &self.probing {
                if matches!(st.entries.get(fp), Some(Entry::Probing)) {
                    st.entries.remove(fp);
                }
            }
        }
        self.guard.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn used(g: &Guard, var: &str, value: &str) -> Vec<(String, Fingerprint)> {
        vec![(var.to_string(), g.fingerprint(value))]
    }

    #[tokio::test]
    async fn the_first_request_runs_alone_and_a_refusal_stops_the_waiters() {
        let g = Arc::new(Guard::in_memory());
        let u = used(&g, "password", "wrong");
        let first = g.admit(&u).await.expect("first goes");
        // A second request carrying the same value waits for the first's answer.
        let g2 = g.clone();
        let u2 = u.clone();
        let waiter = tokio::spawn(async move { g2.admit(&u2).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        let newly = first.settle("login/login", |_| Verdict::Refused {
            status: 401,
            code: Some("INVALID_CREDENTIALS".into()),
        });
        assert_eq!(newly, vec!["password".to_string()]);
        let r = waiter.await.unwrap().expect_err("refused");
        assert_eq!(r.status, 401);
        assert_eq!(r.by, "login/login");
        // A new value is tried.
        assert!(g.admit(&used(&g, "password", "right")).await.is_ok());
    }

    #[tokio::test]
    async fn an_accepted_value_lets_requests_run_together_and_an_unanswered_probe_hands_over() {
        let g = Arc::new(Guard::in_memory());
        let u = used(&g, "key", "k");
        let t = g.admit(&u).await.unwrap();
        drop(t); // no answer (timeout): the next request probes
        let t = g.admit(&u).await.unwrap();
        t.settle("f/s", |_| Verdict::Accepted);
        let a = g.admit(&u).await.unwrap();
        let b = g.admit(&u).await.unwrap(); // concurrently: no waiting
        drop((a, b));
        assert_eq!(g.secrets()[0].refused, None);
    }

    #[tokio::test]
    async fn refusals_survive_a_restart_by_fingerprint_only() {
        let dir = tempfile::tempdir().unwrap();
        let g = Arc::new(Guard::persistent(dir.path()).unwrap());
        let t = g
            .admit(&used(&g, "password", "S3cret-value!"))
            .await
            .unwrap();
        t.settle("login/login", |_| Verdict::Refused {
            status: 429,
            code: Some("ACCOUNT_LOCKED".into()),
        });
        let text = std::fs::read_to_string(dir.path().join("credentials.json")).unwrap();
        assert!(!text.contains("S3cret-value!"), "{text}");
        let again = Arc::new(Guard::persistent(dir.path()).unwrap());
        let r = again
            .admit(&used(&again, "password", "S3cret-value!"))
            .await
            .map(|_| ())
            .expect_err("still refused after a restart");
        assert_eq!(r.code.as_deref(), Some("ACCOUNT_LOCKED"));
        assert!(again.admit(&used(&again, "password", "new")).await.is_ok());
        // A corrupt file is an error, not a silent fresh start.
        std::fs::write(dir.path().join("credentials.json"), "{").unwrap();
        assert!(Guard::persistent(dir.path()).is_err());
    }
}
