//! A ContraVento-compatible demo target: an in-process HTTP server that behaves
//! like one ContraVento production host — nginx in front of the FastAPI backend —
//! so that `smokeprobe demo` can show the probe working and the integration tests
//! have a realistic target with injectable [`Faults`]. All state is in memory.
//!
//! By default the target is a *correct* deployment, so every built-in check
//! passes: hardened security headers on every response, Starlette CORS with the
//! configured origins only, gzip for the SPA, no source maps, uploads decoded
//! and stored under server-made names, FastAPI's terse 404/405/400 answers.
//! Two things stay as on the real deployment, and the probe warns about them:
//! `/openapi.json` is public, and a login costs [`DemoOptions::login_cost`]
//! for an existing account and nothing for an unknown user. Each
//! misconfiguration a check must catch is a fault (see [`FaultSpec`] for the
//! `--fault` strings), read per request, so faults switch at run time.
//!
//! Code map: [`nginx`] is the front (routing between SPA, `/api` and `/storage`,
//! body cap, the security-header policy, the HTTP → HTTPS redirector, injected
//! latency/errors); [`assets`] the SPA (a small real JavaScript app with the
//! real one's routes and markers) and its delivery (gzip, source maps, bundle
//! size, the `spa-*` faults); [`tls`] certificates, the rustls config and the TLS
//! listener; [`cors`] is the backend's Starlette CORS middleware; [`backend`]
//! routes like Starlette; [`api`] and [`trips`] are the handlers, over the data
//! in [`store`]; [`envelope`] holds the response conventions (and the debug-mode
//! tracebacks of `leak-errors`); [`faults`] the fault model and its control
//! endpoint.
//!
//! TLS: with [`DemoOptions::tls`] set, [`DemoServer::start`] binds two listeners
//! on `127.0.0.1`: the HTTPS site (same app, tokio-rustls, ALPN `http/1.1` only,
//! a certificate chain generated in memory from a "smokeprobe demo CA" whose PEM
//! is [`DemoServer::ca_pem`]; [`TlsMode`] picks a valid, expiring-soon, expired,
//! self-signed or wrong-host leaf) and a plain-HTTP listener
//! ([`DemoServer::http_url`]) that plays nginx's `listen 80` block: `301` to
//! `https://<host>:<https port><path and query>` (faults: `redirect=302`,
//! `redirect=root`, `redirect=none`). Without TLS there is one plain listener,
//! exactly as before.
//!
//! Demo-only endpoints: `GET /__demo/faults` returns the active faults as JSON and
//! `PUT /__demo/faults` (JSON body = [`Faults`]) replaces them; `GET /__demo/state`
//! returns a [`DemoSnapshot`] (trips, session/user/request counts, each
//! account's login counters — also [`DemoServer::login_attempts`] and
//! [`DemoServer::wrong_password_attempts`]); all on the
//! same listener (the HTTPS one with TLS). They exist only in this demo; a real
//! deployment has no such thing.
//!
//! Architecture invariant: nothing a client sends can panic the server (bodies
//! are capped at 10 MB, JSON and multipart errors are 400s, lookups never index,
//! failed TLS handshakes only drop their connection); memory is bounded by
//! per-collection caps and by keeping only photo metadata.

mod api;
mod assets;
mod backend;
mod cors;
mod ctx;
mod envelope;
mod faults;
mod headers;
mod nginx;
mod store;
mod tls;
mod trips;

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::{Listener, ListenerExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use faults::{
    CorsMode, ErrorFault, FaultSpec, Faults, HeaderProfile, HstsMode, LatencyFault, RedirectMode,
};
pub use store::OTHER_USERNAME;
pub use tls::TlsMode;

use store::Store;

/// How long [`serve`] waits for open connections to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the demo target starts with.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The seeded, verified account the probe logs in with.
    pub username: String,
    pub email: String,
    /// Also the password of the second seeded account, [`OTHER_USERNAME`].
    pub password: String,
    /// Origins the backend's CORS middleware allows (`CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// Faults injected from the start.
    pub faults: Faults,
    /// Serve the site over HTTPS with this certificate, plus a plain-HTTP
    /// listener that redirects to it; `None` (the default) is plain HTTP only.
    pub tls: Option<TlsMode>,
    /// How long the fifth consecutive wrong password locks an account: 15
    /// minutes, as on the real backend (tests shorten it to see a lock expire).
    pub lockout_duration: Duration,
    /// The third-party stylesheet `index.html` links before the site's own
    /// (with a `preconnect` to its origin): Google Fonts, as in the real
    /// `index.html`. The demo never serves it and the probe never fetches it;
    /// tests point it at a loopback listener of their own to see that.
    pub fonts_url: String,
    /// What checking an existing account's password costs, like bcrypt on
    /// the real backend (0.25–0.85 s there): an unknown user answers at once,
    /// so the timing tells which usernames exist, as it does on the real app.
    /// [`DEFAULT_LOGIN_COST`] keeps the many logins of the tests fast; the
    /// `login-cost=…` fault changes it at run time, `login-constant-time`
    /// makes unknown users pay it too.
    pub login_cost: Duration,
}

/// The demo's default [`DemoOptions::login_cost`].
pub const DEFAULT_LOGIN_COST: Duration = Duration::from_millis(50);

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            username: "probe".to_owned(),
            email: "probe@contravento.example".to_owned(),
            password: "Demo-Passw0rd!".to_owned(),
            cors_origins: vec![
                "https://contravento.example".to_owned(),
                "https://www.contravento.example".to_owned(),
            ],
            faults: Faults::default(),
            tls: None,
            lockout_duration: store::LOCKOUT_DURATION,
            fonts_url: assets::GOOGLE_FONTS_URL.to_owned(),
            login_cost: DEFAULT_LOGIN_COST,
        }
    }
}

/// One trip as the tests see it (e.g. to check no `[probe]` trip is left behind).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TripSummary {
    pub id: String,
    pub title: String,
    /// `"draft"` or `"published"`.
    pub status: String,
    /// The owner's username.
    pub owner: String,
    /// Number of photos attached.
    pub photos: usize,
}

/// What `GET /__demo/state` returns: the data the target holds, for tests that
/// run it as a separate process (no synthetic trip left, sessions bounded).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoSnapshot {
    /// Every trip, oldest first (the two seeded ones included).
    pub trips: Vec<TripSummary>,
    /// Access tokens held (capped; expired ones are dropped as new ones are issued).
    pub sessions: usize,
    pub users: usize,
    pub requests: u64,
    /// Every account (seeded and registered) by username, with its login counters.
    pub accounts: BTreeMap<String, AccountSnapshot>,
}

/// One account's logins as the demo saw them (in [`DemoSnapshot::accounts`]).
/// Only requests whose `login` names the account count; unknown logins count
/// nowhere.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountSnapshot {
    /// Every `POST /api/auth/login` naming the account, whatever the answer
    /// (see [`DemoServer::login_attempts`]).
    pub login_attempts: u32,
    /// Those of them with a wrong password, locked or not; never reset (see
    /// [`DemoServer::wrong_password_attempts`]).
    pub wrong_password_attempts: u32,
    /// Consecutive wrong passwords: the lockout counter (see
    /// [`DemoServer::failed_logins`]).
    pub failed_logins: u32,
    /// Whether a login now would be refused with 429 `ACCOUNT_LOCKED`.
    pub locked: bool,
}

/// The demo target's shared state; cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct DemoState {
    inner: Arc<Shared>,
}

struct Shared {
    /// Read on every request: a short read lock and an `Arc` clone.
    faults: RwLock<Arc<Faults>>,
    store: Mutex<Store>,
    cors_origins: Vec<String>,
    requests: AtomicU64,
    /// `index.html`, linking [`DemoOptions::fonts_url`].
    index: Arc<assets::Asset>,
    /// Unix time the state was created: the `feed_hides_new` replica's horizon.
    started_at: f64,
    /// [`DemoOptions::login_cost`].
    login_cost: Duration,
}

impl DemoState {
    pub fn new(opts: DemoOptions) -> DemoState {
        let started_at = crate::builtins::unix_now();
        DemoState {
            inner: Arc::new(Shared {
                store: Mutex::new(Store::seeded(&opts, started_at)),
                faults: RwLock::new(Arc::new(opts.faults)),
                index: assets::index(&opts.fonts_url),
                cors_origins: opts.cors_origins,
                requests: AtomicU64::new(0),
                started_at,
                login_cost: opts.login_cost,
            }),
        }
    }

    /// The SPA's `index.html` (see [`DemoOptions::fonts_url`]).
    fn index(&self) -> &Arc<assets::Asset> {
        &self.inner.index
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        Faults::clone(&self.fault_snapshot())
    }

    /// Replaces the faults; requests already running keep the ones they started with.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .inner
            .faults
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(faults);
    }

    /// Every trip, oldest first.
    pub fn trips(&self) -> Vec<TripSummary> {
        let store = self.store();
        let mut trips: Vec<_> = store.trips.values().collect();
        trips.sort_by_key(|t| t.seq);
        trips
            .into_iter()
            .map(|t| TripSummary {
                id: t.trip_id.clone(),
                title: t.title.clone(),
                status: t.status().to_owned(),
                owner: store
                    .users
                    .get(t.owner)
                    .map(|u| u.username.clone())
                    .unwrap_or_default(),
                photos: t.photos.len(),
            })
            .collect()
    }

    /// Trips and counters, as `GET /__demo/state` reports them.
    pub fn snapshot(&self) -> DemoSnapshot {
        let trips = self.trips();
        let store = self.store();
        let now = Instant::now();
        let accounts = store
            .users
            .iter()
            .enumerate()
            .map(|(user, u)| {
                let a = store.account_stats(user, now);
                (
                    u.username.clone(),
                    AccountSnapshot {
                        login_attempts: a.login_attempts,
                        wrong_password_attempts: a.wrong_password_attempts,
                        failed_logins: a.failed_logins,
                        locked: a.locked,
                    },
                )
            })
            .collect();
        DemoSnapshot {
            trips,
            sessions: store.session_count(),
            users: store.users.len(),
            requests: self.request_count(),
            accounts,
        }
    }

    /// Requests received so far (all paths, including `/__demo/faults`).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Consecutive wrong passwords of `username` (the lockout counter).
    pub fn failed_logins(&self, username: &str) -> u32 {
        self.store().failed_logins(username)
    }

    /// Every login attempt of `username` with a wrong password, ever.
    pub fn wrong_password_attempts(&self, username: &str) -> u32 {
        self.store()
            .account(username)
            .map_or(0, |a| a.wrong_password_attempts)
    }

    /// Every `POST /api/auth/login` naming `username`, whatever the answer.
    pub fn login_attempts(&self, username: &str) -> u32 {
        self.store()
            .account(username)
            .map_or(0, |a| a.login_attempts)
    }

    /// Locks `username` now, as five wrong passwords would (no-op if unknown).
    pub fn lock_account(&self, username: &str) {
        let mut store = self.store();
        if let Some(user) = store.user_named(username) {
            store.lock(user, Instant::now());
        }
    }

    /// Every access and refresh token the target has issued (and not evicted):
    /// what a test looks for in the probe's output to prove none leaked.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.store().issued_tokens()
    }

    fn count_request(&self) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn fault_snapshot(&self) -> Arc<Faults> {
        self.inner
            .faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.inner
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn cors_origins(&self) -> &[String] {
        &self.inner.cors_origins
    }

    fn started_at(&self) -> f64 {
        self.inner.started_at
    }

    /// What checking an existing account's password costs under `faults`.
    fn login_cost(&self, faults: &Faults) -> Duration {
        faults.login_cost.unwrap_or(self.inner.login_cost)
    }
}

/// Serves the demo target on `listener` until `shutdown` is cancelled, then waits
/// (at most a few seconds) for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    state: DemoState,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_plain(listener, nginx::router(state, false), shutdown).await
}

/// Serves `app` over plain HTTP on `listener` (see [`serve`]).
async fn serve_plain(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Small responses must not wait for delayed ACKs: latency is measured here.
        let _ = tcp.set_nodelay(true);
    });
    serve_app(listener, app, shutdown).await
}

/// Serves the demo target over TLS on `listener` (see [`serve`]); the socket is
/// closed by the time this returns.
async fn serve_tls(
    listener: TcpListener,
    state: DemoState,
    config: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let (listener, acceptor) = tls::TlsListener::spawn(listener, config, shutdown.clone())?;
    let result = serve_app(listener, nginx::router(state, true), shutdown).await;
    // A join error means the acceptor panicked or was aborted: it is gone either way.
    let _ = acceptor.await;
    result
}

async fn serve_app<L>(listener: L, app: Router, shutdown: CancellationToken) -> io::Result<()>
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    let server =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let grace_expired = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => result,
        () = grace_expired => Ok(()),
    }
}

/// A running demo target on a background task.
pub struct DemoServer {
    addr: SocketAddr,
    /// The plain-HTTP listener when TLS is on.
    http_addr: Option<SocketAddr>,
    tls: Option<TlsMode>,
    ca_pem: Option<String>,
    state: DemoState,
    shutdown: CancellationToken,
    task: JoinHandle<io::Result<()>>,
}

impl DemoServer {
    /// Starts on `127.0.0.1` with a free port (two, with TLS: the HTTPS site and
    /// the plain-HTTP redirector).
    pub async fn start(opts: DemoOptions) -> io::Result<DemoServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        DemoServer::start_on(listener, opts).await
    }

    /// Starts on an already bound listener. With [`DemoOptions::tls`] that
    /// listener serves HTTPS and the plain-HTTP listener is bound on
    /// `127.0.0.1` with a free port.
    pub async fn start_on(listener: TcpListener, opts: DemoOptions) -> io::Result<DemoServer> {
        let addr = listener.local_addr()?;
        let tls_mode = opts.tls;
        let state = DemoState::new(opts);
        let shutdown = CancellationToken::new();
        let Some(mode) = tls_mode else {
            let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
            return Ok(DemoServer {
                addr,
                http_addr: None,
                tls: None,
                ca_pem: None,
                state,
                shutdown,
                task,
            });
        };
        let certs = tls::DemoTls::generate(mode, crate::builtins::unix_now() as u64)?;
        let plain = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let http_addr = plain.local_addr()?;
        let https = serve_tls(listener, state.clone(), certs.config, shutdown.clone());
        let redirect = serve_plain(
            plain,
            nginx::redirect_router(state.clone(), addr.port()),
            shutdown.clone(),
        );
        let task = tokio::spawn(async move {
            let (https, redirect) = tokio::join!(https, redirect);
            https.and(redirect)
        });
        Ok(DemoServer {
            addr,
            http_addr: Some(http_addr),
            tls: Some(mode),
            ca_pem: Some(certs.ca_pem),
            state,
            shutdown,
            task,
        })
    }

    /// The site's address (the HTTPS one when TLS is on).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The frontend host: `http://127.0.0.1:40123`, or `https://127.0.0.1:40123`
    /// when TLS is on.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The plain-HTTP listener: the redirector when TLS is on, otherwise the
    /// site itself (then equal to [`base_url`](Self::base_url)).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr.unwrap_or(self.addr))
    }

    /// The API base: [`base_url`](Self::base_url) + `/api`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url())
    }

    /// The certificate mode, `None` for plain HTTP.
    pub fn tls_mode(&self) -> Option<TlsMode> {
        self.tls
    }

    /// PEM of the demo CA (the one root a client should trust), when TLS is on.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    pub fn state(&self) -> &DemoState {
        &self.state
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    pub fn trips(&self) -> Vec<TripSummary> {
        self.state.trips()
    }

    pub fn request_count(&self) -> u64 {
        self.state.request_count()
    }

    /// Consecutive wrong passwords of `username`: the lockout counter, reset
    /// only by a right password outside a lock (a lock's expiry leaves it at
    /// 5, so the next wrong password locks again). 0 for an unknown user.
    pub fn failed_logins(&self, username: &str) -> u32 {
        self.state.failed_logins(username)
    }

    /// Every login attempt for the account `username` (exact username) with a
    /// wrong password, ever: never reset, and counting the attempts refused
    /// because the account was locked — and those answered by `db-down` or
    /// an injected `error:` fault, since it counts what was *sent*. 0 for an
    /// unknown user. [`lock_account`](Self::lock_account) does not add to it.
    pub fn wrong_password_attempts(&self, username: &str) -> u32 {
        self.state.wrong_password_attempts(username)
    }

    /// Every `POST /api/auth/login` whose `login` (username or e-mail, any
    /// case) names the account `username`, whatever the outcome: 200, 401,
    /// 429, 400 `EMAIL_NOT_VERIFIED` or a missing password, `db-down`'s 500,
    /// an injected `error:` fault. 0 for an unknown user. A body whose JSON
    /// does not parse names no account and counts nowhere.
    pub fn login_attempts(&self, username: &str) -> u32 {
        self.state.login_attempts(username)
    }

    /// Locks the account `username` now, as if five wrong passwords had just
    /// been sent: logins are 429 `ACCOUNT_LOCKED` for
    /// [`DemoOptions::lockout_duration`], and afterwards the first wrong
    /// password locks it again. The request counters
    /// ([`login_attempts`](Self::login_attempts),
    /// [`wrong_password_attempts`](Self::wrong_password_attempts)) are not
    /// changed: no request was sent. Does nothing for an unknown user.
    pub fn lock_account(&self, username: &str) {
        self.state.lock_account(username);
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.issued_tokens()
    }

    /// Stops accepting (on both listeners with TLS), lets open requests finish
    /// and waits for the server task; the sockets are closed when this returns.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        // A join error means the task panicked or was aborted: nothing left to stop.
        let _ = (&mut self.task).await;
    }
}

impl Drop for DemoServer {
    /// A server dropped without [`stop`](Self::stop) still shuts down.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
