//! `smokeprobe run` (and the demo's continuous part): the scheduler, the web
//! endpoint and reloads (SIGHUP or `POST /-/reload`) wired together. A reload
//! that fails keeps the running configuration, says why in the log and sets
//! `smokeprobe_config_last_reload_successful` to 0. Shutdown (the token) stops
//! scheduling, lets runs in flight finish their cleanup within the grace
//! period, then stops the web endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::scheduler::{self, Job, Progress, ScheduleOptions};
use crate::server::{self, Auth, ReloadFn, WebState};

/// Builds a fresh job from the configuration sources (files on disk).
pub type Loader = Arc<dyn Fn() -> Result<Job, String> + Send + Sync>;

pub struct WebOptions {
    pub listener: TcpListener,
    /// `location` label on every series.
    pub location: Option<String>,
    pub auth: Option<Auth>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What a running probe exposes to its caller (the demo prints the URL).
pub struct Handles {
    pub metrics: Arc<Metrics>,
    pub progress: Arc<Progress>,
    pub addr: SocketAddr,
    pub reload: ReloadFn,
}

/// Runs until `shutdown`; `started` is told the addresses once serving.
pub async fn run(
    first: Job,
    load: Loader,
    web: WebOptions,
    opts: ScheduleOptions,
    shutdown: CancellationToken,
    started: impl FnOnce(&Handles),
) -> std::io::Result<()> {
    let metrics = Metrics::with_location(web.location.clone());
    metrics.reload_result(true);
    let progress = Arc::new(Progress::default());
    let (tx, rx) = watch::channel(first);
    let reload: ReloadFn = {
        let metrics = metrics.clone();
        Arc::new(move || match load() {
            Ok(job) => {
                let n = job.flows.len();
                // A receiver is gone only at shutdown; nothing left to reload then.
                let _ = tx.send(job);
                metrics.reload_result(true);
                tracing::info!(target: "smokeprobe::config", flows = n, "configuration reloaded");
                Ok(format!("reloaded: {n} flow(s) scheduled"))
            }
            Err(e) => {
                metrics.reload_result(false);
                tracing::error!(
                    target: "smokeprobe::config",
                    error = %e,
                    "reload refused; the previous configuration keeps running"
                );
                Err(e)
            }
        })
    };
    let addr = web.listener.local_addr()?;
    let state = WebState {
        metrics: metrics.clone(),
        progress: progress.clone(),
        reload: reload.clone(),
        auth: web.auth,
    };
    let router = server::router(state);
    let web_stop = CancellationToken::new();
    let server = match web.tls {
        Some(cfg) => tokio::spawn(server::serve_tls(
            web.listener,
            cfg,
            router,
            web_stop.clone(),
        )),
        None => tokio::spawn(server::serve(web.listener, router, web_stop.clone())),
    };
    let hup = tokio::spawn(reload_on_sighup(reload.clone(), shutdown.clone()));
    started(&Handles {
        metrics: metrics.clone(),
        progress: progress.clone(),
        addr,
        reload,
    });
    scheduler::run(rx, metrics, progress, opts, shutdown).await;
    hup.abort();
    web_stop.cancel();
    match server.await {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}

async fn reload_on_sighup(reload: ReloadFn, stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = hup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    tracing::info!(target: "smokeprobe::config", "SIGHUP: reloading the probe files");
                    let r = reload.clone();
                    let _ = tokio::task::spawn_blocking(move || r()).await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    stop.cancelled().await;
}
