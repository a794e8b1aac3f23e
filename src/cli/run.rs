//! `smokeprobe run`: its flags, the validated `RunConfig` (plan compiled and
//! sharded, client built, web credentials and TLS files read) and the run:
//! bind `--listen`, then the scheduler and the web endpoint until SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::plan::{PlanArgs, Ready, compile_plan, job_for};
use super::{CliError, CmdResult, install_credential_guard, setup_failed, shutdown_signal, usage};
use crate::report::ExitCode;
use crate::scheduler::{ScheduleOptions, Shard};
use crate::server::Auth;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Address of /metrics, /-/healthy, /-/ready and /-/reload.
    // Kept as text: binding it is a run-time act (after validation).
    #[arg(long, default_value = "127.0.0.1:9477", value_name = "ADDR")]
    pub listen: String,
    /// Flow runs in flight at once, over all flows.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Largest random offset of a flow's schedule (spreads flows that share an interval).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub max_jitter: Duration,
    /// On SIGTERM, how long runs in flight get to finish (cleanup steps included).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Require `Authorization: Bearer <token>` (the token is the file's first line).
    #[arg(long, value_name = "FILE", conflicts_with = "web_basic_auth_file")]
    pub web_bearer_token_file: Option<PathBuf>,
    /// Require HTTP basic auth (the file's first line is `user:password`).
    #[arg(long, value_name = "FILE")]
    pub web_basic_auth_file: Option<PathBuf>,
    /// Run only this shard of the flows (i/n): replicas with shards 1/n … n/n
    /// run every flow exactly once between them.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Add `location="NAME"` to every series (where this probe runs).
    #[arg(long, value_name = "NAME")]
    pub location: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM) ...
    #[arg(long, value_name = "PEM", requires = "web_tls_key")]
    pub web_tls_cert: Option<PathBuf>,
    /// ... and this private key (PEM).
    #[arg(long, value_name = "PEM", requires = "web_tls_cert")]
    pub web_tls_key: Option<PathBuf>,
}

/// `run`, validated: the first job's plan and client, and what the web
/// endpoint serves with; nothing bound or scheduled yet.
pub(super) struct RunConfig {
    first: Ready,
    /// Compiled again on every reload (the files may have changed).
    plan: PlanArgs,
    shard: Option<Shard>,
    listen: String,
    auth: Option<Auth>,
    tls: Option<Arc<rustls::ServerConfig>>,
    location: Option<String>,
    schedule: ScheduleOptions,
}

/// The flags into a config: the probe files compiled and sharded,
/// `--ca-file`, the web credential files and the TLS files read.
pub(super) fn validate(a: RunArgs) -> Result<RunConfig, CliError> {
    let first = compile_plan(&a.plan, None)
        .and_then(|p| job_for(p, &a.plan, Vec::new(), a.shard))
        .map_err(CliError::Invalid)?;
    let auth = web_auth(&a).map_err(usage)?;
    let tls = match (&a.web_tls_cert, &a.web_tls_key) {
        (Some(c), Some(k)) => Some(
            crate::net::tls_listener::server_config_from_files(c, k)
                .map_err(|e| usage(format!("web TLS: {e}")))?,
        ),
        _ => None,
    };
    Ok(RunConfig {
        first,
        plan: a.plan,
        shard: a.shard,
        listen: a.listen,
        auth,
        tls,
        location: a.location,
        schedule: ScheduleOptions {
            max_jitter: a.max_jitter,
            concurrency: a.concurrency as usize,
            grace: a.grace,
        },
    })
}

/// The first line of a credentials file, trimmed.
fn first_line(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(line)
}

fn web_auth(a: &RunArgs) -> Result<Option<Auth>, String> {
    if let Some(p) = &a.web_bearer_token_file {
        return Ok(Some(Auth::Bearer(first_line(p)?)));
    }
    if let Some(p) = &a.web_basic_auth_file {
        let line = first_line(p)?;
        let Some((user, password)) = line.split_once(':') else {
            return Err(format!("{}: expected `user:password`", p.display()));
        };
        return Ok(Some(Auth::Basic {
            user: user.to_string(),
            password: password.to_string(),
        }));
    }
    Ok(None)
}

pub(super) async fn cmd_run(c: RunConfig) -> CmdResult {
    install_credential_guard()?;
    let first = c.first.job();
    let listener = match tokio::net::TcpListener::bind(&c.listen).await {
        Ok(l) => l,
        Err(e) => return Err(setup_failed(format!("cannot listen on {}: {e}", c.listen))),
    };
    let (plan_args, shard) = (c.plan, c.shard);
    let load: crate::continuous::Loader = Arc::new(move || {
        compile_plan(&plan_args, None)
            .and_then(|p| job_for(p, &plan_args, Vec::new(), shard))
            .map(Ready::job)
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(target: "smokeprobe::run", "shutting down: letting runs in flight finish");
        stop.cancel();
    });
    let scheme = if c.tls.is_some() { "https" } else { "http" };
    let n = first.flows.len();
    let web = crate::continuous::WebOptions {
        listener,
        location: c.location,
        auth: c.auth,
        tls: c.tls,
    };
    let result = crate::continuous::run(first, load, web, c.schedule, shutdown, |h| {
        tracing::info!(
            target: "smokeprobe::run",
            flows = n,
            "probing; metrics at {scheme}://{}/metrics",
            h.addr
        );
        eprintln!(
            "smokeprobe: {n} flow(s) scheduled; metrics at {scheme}://{addr}/metrics, status page at {scheme}://{addr}/",
            addr = h.addr
        );
    })
    .await;
    web_endpoint_result(result)
}

/// How `run` ends: cleanly stopped (0), or its web endpoint could not be
/// served (2, like a `--listen` address that is not available: the probe's
/// own setup failed, not a check).
fn web_endpoint_result(result: std::io::Result<()>) -> CmdResult {
    match result {
        Ok(()) => Ok(ExitCode::Passed),
        Err(e) => Err(setup_failed(format!("web endpoint: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_web_endpoint_that_cannot_be_served_is_exit_2_not_a_failed_check() {
        let err = web_endpoint_result(Err(std::io::Error::other("boom"))).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Invalid);
        assert_eq!(err.to_string(), "error: web endpoint: boom");
        assert_eq!(web_endpoint_result(Ok(())), Ok(ExitCode::Passed));
    }
}
