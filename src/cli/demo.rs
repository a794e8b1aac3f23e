//! `smokeprobe demo`: starts the built-in ContraVento-compatible target
//! (src/demo/) and probes it with the built-in probe file: its flags (the
//! TLS mode and the faults typed by clap), the validated `DemoConfig`, and
//! the run: serve, a healthy pass, the guided tour, then continuous mode.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::plan::{PlanArgs, Ready, compile_plan, job_for, load_plan, ready_once};
use super::{CliError, CmdResult, color_wanted, setup_failed, shutdown_signal};
use crate::config::Flow;
use crate::demo::{DemoOptions, DemoServer, FaultSpec, Faults, TlsMode};
use crate::flow::Runner;
use crate::oneshot::{OnceOptions, run_once};
use crate::report::{ConsoleStyle, ExitCode, OnceReport, render_console};

/// The probe file shipped with smokeprobe, built in for `demo`.
pub const CONTRAVENTO_PROBE: &str = include_str!("../../probes/contravento.yaml");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Probe the demo target once, print the checklist and exit with its code.
    #[arg(long)]
    pub once: bool,
    /// Only serve the demo target (no probing) until Ctrl-C.
    #[arg(long, conflicts_with = "once")]
    pub serve_only: bool,
    /// Port on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Inject a fault from the start (repeatable): latency:/api/auth/login=800ms,
    /// error:/api/trips=0.5:500, db-down, backend-down, reject-photos, publish-fails,
    /// feed-hides-new, no-security-headers, headers=as-committed, hsts=missing,
    /// hsts=short, xfo=sameorigin, csp=unsafe, server-version, insecure-cookie,
    /// cors=wildcard, cors=echo-any, cors=allow-http, redirect=302, redirect=root,
    /// redirect=none, leak-errors, upload-trusts-type, source-maps, big-bundle, no-gzip,
    /// token-ttl=1s (access tokens expire after that instead of 15 minutes),
    /// login-cost=300ms (what checking an existing account's password costs;
    /// default 50ms), login-constant-time (unknown users pay it too),
    /// storage-readonly (uploads answer 403 with the file path), docs-public
    /// (/docs and /redoc served); the SPA in a browser: spa-js-error (the bundle
    /// throws on load), spa-api-base=URL (the bundle calls URL instead of /api;
    /// spa-api-base=localhost is http://localhost:8000), spa-csp-blocks (a CSP on
    /// the HTML refuses the app's script), spa-slow-lcp (the hero photo answers
    /// after 3 s), spa-layout-shift (a late banner above the page), spa-missing-chunk
    /// (the /trips/public chunk is 404).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<FaultSpec>,
    /// The demo's certificate: valid, expiring-soon, expired, self-signed,
    /// wrong-host (generated at start by a demo CA the probe trusts), or off
    /// for plain HTTP only (the TLS and redirect checks then fail).
    #[arg(long, value_enum, ignore_case = true, default_value_t = DemoTls::Valid,
          value_name = "MODE")]
    pub tls: DemoTls,
    /// Interval of every flow in continuous mode.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Port of the continuous mode's /metrics on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub metrics_port: u16,
    /// Runs per flow in each pass.
    #[arg(long, default_value_t = 1)]
    pub samples: u32,
    /// Skip the guided tour (healthy pass, then a pass with faults) and just loop.
    #[arg(long)]
    pub no_tour: bool,
}

/// `--tls`: a demo certificate ([`TlsMode`]), or none.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoTls {
    /// Signed by the demo CA, valid.
    Valid,
    /// Signed by the demo CA, expires in 5 days.
    ExpiringSoon,
    /// Signed by the demo CA, expired yesterday.
    Expired,
    /// Not signed by the demo CA.
    SelfSigned,
    /// Signed by the demo CA, valid, but for another host name.
    WrongHost,
    /// Plain HTTP only.
    Off,
}

impl DemoTls {
    fn mode(self) -> Option<TlsMode> {
        match self {
            DemoTls::Valid => Some(TlsMode::Valid),
            DemoTls::ExpiringSoon => Some(TlsMode::ExpiringSoon),
            DemoTls::Expired => Some(TlsMode::Expired),
            DemoTls::SelfSigned => Some(TlsMode::SelfSigned),
            DemoTls::WrongHost => Some(TlsMode::WrongHost),
            DemoTls::Off => None,
        }
    }
}

/// `demo`, validated: the target's options (faults, certificate) and what
/// to do with it; nothing bound yet.
pub(super) struct DemoConfig {
    once: bool,
    serve_only: bool,
    port: u16,
    target: DemoOptions,
    /// The guided tour: not `--no-tour`, and no `--fault` given.
    tour: bool,
    interval: Duration,
    metrics_port: u16,
    samples: u32,
}

pub(super) fn validate(a: DemoArgs) -> Result<DemoConfig, CliError> {
    let tour = !a.no_tour && a.faults.is_empty();
    let mut faults = Faults::default();
    for spec in a.faults {
        faults.apply(spec);
    }
    Ok(DemoConfig {
        once: a.once,
        serve_only: a.serve_only,
        port: a.port,
        target: DemoOptions {
            faults,
            tls: a.tls.mode(),
            ..DemoOptions::default()
        },
        tour,
        interval: a.interval,
        metrics_port: a.metrics_port,
        samples: a.samples.max(1),
    })
}

pub(super) async fn cmd_demo(c: DemoConfig) -> CmdResult {
    let listener = listen_on(c.port).await?;
    let server = match DemoServer::start_on(listener, c.target.clone()).await {
        Ok(s) => s,
        Err(e) => return Err(setup_failed(format!("demo target failed to start: {e}"))),
    };
    let (ca_file, curl_ca) = announce(&server, c.once);
    if c.serve_only {
        println!("serving until Ctrl-C");
        shutdown_signal().await;
        server.stop().await;
        remove_ca(ca_file);
        return Ok(ExitCode::Passed);
    }
    let plan_args = plan_args(&server, &c.target);
    let code = guided(&c, &server, &plan_args).await?;
    if c.once {
        server.stop().await;
        return Ok(code);
    }
    continuous(&c, &server, plan_args, &curl_ca).await?;
    server.stop().await;
    remove_ca(ca_file);
    Ok(ExitCode::Passed)
}

async fn listen_on(port: u16) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| setup_failed(format!("cannot listen on 127.0.0.1:{port}: {e}")))
}

/// The banner; without `--once`, the demo CA written out for curl. Returns
/// that file and the `--cacert` option naming it.
fn announce(server: &DemoServer, once: bool) -> (Option<PathBuf>, String) {
    let base = server.base_url();
    println!("smokeprobe demo: a ContraVento-compatible target is listening on {base}");
    if server.ca_pem().is_some() {
        println!("  plain HTTP on {} (redirects to HTTPS)", server.http_url());
    }
    let mut curl_ca = String::new();
    let mut ca_file = None;
    if let Some(pem) = server.ca_pem().filter(|_| !once) {
        // Written out so that curl and a separate `smokeprobe once` can trust it too.
        let path =
            std::env::temp_dir().join(format!("smokeprobe-demo-ca-{}.pem", server.addr().port()));
        match std::fs::write(&path, &pem) {
            Ok(()) => {
                println!(
                    "  demo CA certificate (for curl --cacert): {}",
                    path.display()
                );
                curl_ca = format!(" --cacert {}", path.display());
                ca_file = Some(path);
            }
            Err(e) => println!("  cannot write the demo CA certificate: {e}"),
        }
    }
    println!("  API {base}/api · SPA {base}/ · faults: GET/PUT {base}/__demo/faults");
    (ca_file, curl_ca)
}

/// The variables and secret the built-in probe file needs for this target.
fn plan_args(server: &DemoServer, opts: &DemoOptions) -> PlanArgs {
    PlanArgs {
        files: Vec::new(),
        vars: vec![
            format!("base={}", server.base_url()),
            format!("http_base={}", server.http_url()),
            format!("username={}", opts.username),
            format!(
                "allowed_origin={}",
                opts.cors_origins.first().cloned().unwrap_or_default()
            ),
        ],
        secrets: vec![format!("password={}", opts.password)],
        flows: Vec::new(),
        max_body: None,
        ca_files: Vec::new(),
        accept: Vec::new(),
    }
}

/// The built-in probe file, as a source for the plan.
fn builtin_sources() -> Vec<(PathBuf, String)> {
    vec![(
        PathBuf::from("probes/contravento.yaml (built in)"),
        CONTRAVENTO_PROBE.to_string(),
    )]
}

/// The healthy pass and, unless `--once`, the guided tour (a pass with
/// faults, then the faults cleared). Returns the healthy pass's exit code.
async fn guided(c: &DemoConfig, server: &DemoServer, plan_args: &PlanArgs) -> CmdResult {
    let plan = load_plan(plan_args, Some(builtin_sources()))?;
    let Ready { plan, http, flows } =
        ready_once(plan, plan_args, server.ca_pem().into_iter().collect())?;
    let runner = Runner::new(Arc::new(plan), http);
    let flows = Ready::chosen(runner.plan(), &flows);
    let opts = OnceOptions {
        samples: c.samples,
        progress: std::io::stderr().is_terminal(),
    };
    let title = "probing the healthy demo target with probes/contravento.yaml";
    let first = pass(title, &runner, &flows, &opts).await;
    if c.once || !c.tour {
        return Ok(first.exit_code);
    }
    let mut f = Faults::default();
    for spec in [
        "latency:/api/auth/login=700ms",
        "reject-photos",
        "headers=as-committed",
    ] {
        let _ = f.apply_spec(spec);
    }
    server.set_faults(f);
    let title = "injecting faults: login +700 ms (auth budget is 500 ms p95), photo uploads rejected, \
                 security headers as today's nginx config sets them";
    pass(title, &runner, &flows, &opts).await;
    server.set_faults(Faults::default());
    println!(
        "\nfaults cleared; the demo target has no [probe] trips left: {}",
        server
            .trips()
            .iter()
            .all(|t| !t.title.starts_with("[probe]"))
    );
    Ok(first.exit_code)
}

/// One pass over the flows, its checklist printed under a title.
async fn pass(title: &str, runner: &Runner, flows: &[&Flow], opts: &OnceOptions) -> OnceReport {
    println!("\n── {title} ──");
    let report = run_once(runner, flows, opts).await;
    let style = ConsoleStyle {
        color: color_wanted(false),
    };
    print!("{}", render_console(&report, style));
    report
}

/// Continuous mode: the scheduler and /metrics, like `smokeprobe run`,
/// until Ctrl-C.
async fn continuous(
    c: &DemoConfig,
    server: &DemoServer,
    plan_args: PlanArgs,
    curl_ca: &str,
) -> Result<(), CliError> {
    let interval = c.interval;
    let ca: Vec<String> = server.ca_pem().into_iter().collect();
    let demo_job = move || -> Result<crate::scheduler::Job, String> {
        let mut plan = compile_plan(&plan_args, Some(builtin_sources()))?;
        for f in &mut plan.flows {
            f.interval = interval;
        }
        job_for(plan, &plan_args, ca.clone(), None).map(Ready::job)
    };
    let first = demo_job().map_err(setup_failed)?;
    let listener = listen_on(c.metrics_port).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.cancel();
    });
    let web = crate::continuous::WebOptions {
        listener,
        location: None,
        auth: None,
        tls: None,
    };
    let opts = crate::scheduler::ScheduleOptions {
        max_jitter: interval.min(Duration::from_secs(5)),
        ..Default::default()
    };
    let base = server.base_url();
    let result = crate::continuous::run(first, Arc::new(demo_job), web, opts, shutdown, |h| {
        println!(
            "\nprobing every flow every {} until Ctrl-C; failed steps are logged below\n  status:   http://{addr}/\n  metrics:  http://{addr}/metrics\n  faults:   curl{curl_ca} -X PUT {base}/__demo/faults -d '{{\"db_down\":true}}'",
            humantime::format_duration(interval),
            addr = h.addr
        );
    })
    .await;
    if let Err(e) = result {
        eprintln!("error: metrics endpoint: {e}");
    }
    Ok(())
}

/// The demo CA written for curl lives only as long as the demo.
fn remove_ca(path: Option<PathBuf>) {
    if let Some(p) = path {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// `--tls`'s names are the demo's own names of its certificates.
    #[test]
    fn every_tls_flag_value_is_the_demo_mode_of_that_name() {
        for v in DemoTls::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            match v.mode() {
                Some(mode) => assert_eq!(mode.to_string(), name),
                None => assert_eq!(name, "off"),
            }
        }
    }
}
