//! `smokeprobe demo`: starts the built-in ContraVento-compatible target
//! (src/demo/) and probes it with the built-in probe file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{
    CmdResult, PlanArgs, color_wanted, compile_plan, job_for, load_plan, runner_for,
    shutdown_signal, usage,
};
use crate::config::Flow;
use crate::demo::{DemoOptions, DemoServer, Faults, TlsMode};
use crate::oneshot::{OnceOptions, run_once};
use crate::report::{ConsoleStyle, ExitCode, render_console};

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
    /// (/docs and /redoc served).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// The demo's certificate: valid, expiring-soon, expired, self-signed,
    /// wrong-host (generated at start by a demo CA the probe trusts), or off
    /// for plain HTTP only (the TLS and redirect checks then fail).
    #[arg(long, default_value = "valid", value_name = "MODE")]
    pub tls: String,
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

pub(super) async fn cmd_demo(a: DemoArgs) -> CmdResult {
    let mut faults = Faults::default();
    for spec in &a.faults {
        if let Err(e) = faults.apply_spec(spec) {
            return Err(usage(e));
        }
    }
    let tls = match a.tls.as_str() {
        "off" => None,
        m => match m.parse::<TlsMode>() {
            Ok(t) => Some(t),
            Err(e) => return Err(usage(format!("--tls: {e} (or off)"))),
        },
    };
    let opts = DemoOptions {
        faults,
        tls,
        ..DemoOptions::default()
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", a.port)).await {
        Ok(l) => l,
        Err(e) => {
            return Err(usage(format!("cannot listen on 127.0.0.1:{}: {e}", a.port)));
        }
    };
    let server = match DemoServer::start_on(listener, opts.clone()).await {
        Ok(s) => s,
        Err(e) => return Err(usage(format!("demo target failed to start: {e}"))),
    };
    let base = server.base_url();
    let http_base = server.http_url();
    println!("smokeprobe demo: a ContraVento-compatible target is listening on {base}");
    if server.ca_pem().is_some() {
        println!("  plain HTTP on {http_base} (redirects to HTTPS)");
    }
    let mut curl_ca = String::new();
    let mut ca_file = None;
    if let Some(pem) = server.ca_pem().filter(|_| !a.once) {
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
    if a.serve_only {
        println!("serving until Ctrl-C");
        shutdown_signal().await;
        server.stop().await;
        remove_ca(ca_file);
        return Ok(ExitCode::Passed);
    }
    let plan_args = PlanArgs {
        files: Vec::new(),
        vars: vec![
            format!("base={base}"),
            format!("http_base={http_base}"),
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
    };
    let sources = vec![(
        PathBuf::from("probes/contravento.yaml (built in)"),
        CONTRAVENTO_PROBE.to_string(),
    )];
    let plan = load_plan(&plan_args, Some(sources))?;
    let runner = runner_for(plan, &plan_args, server.ca_pem().into_iter().collect())?;
    let flows: Vec<&Flow> = runner.plan().flows.iter().filter(|f| !f.optional).collect();
    let once_opts = OnceOptions {
        samples: a.samples.max(1),
        progress: std::io::stderr().is_terminal(),
    };
    let style = ConsoleStyle {
        color: color_wanted(false),
    };
    let pass = |title: String| {
        let runner = &runner;
        let flows = &flows;
        let once_opts = &once_opts;
        async move {
            println!("\n── {title} ──");
            let report = run_once(runner, flows, once_opts).await;
            print!("{}", render_console(&report, style));
            report
        }
    };
    let first = pass("probing the healthy demo target with probes/contravento.yaml".into()).await;
    if a.once {
        server.stop().await;
        return Ok(first.exit_code);
    }
    if !a.no_tour && a.faults.is_empty() {
        let mut f = Faults::default();
        for spec in [
            "latency:/api/auth/login=700ms",
            "reject-photos",
            "headers=as-committed",
        ] {
            let _ = f.apply_spec(spec);
        }
        server.set_faults(f);
        pass(
            "injecting faults: login +700 ms (auth budget is 500 ms p95), photo uploads rejected, \
             security headers as today's nginx config sets them"
                .into(),
        )
        .await;
        server.set_faults(Faults::default());
        println!(
            "\nfaults cleared; the demo target has no [probe] trips left: {}",
            server
                .trips()
                .iter()
                .all(|t| !t.title.starts_with("[probe]"))
        );
    }
    // Continuous mode: the scheduler and /metrics, like `smokeprobe run`.
    let interval = a.interval;
    let ca: Vec<String> = server.ca_pem().into_iter().collect();
    let demo_job = {
        let plan_args = plan_args.clone();
        move || -> Result<crate::scheduler::Job, String> {
            let sources = vec![(
                PathBuf::from("probes/contravento.yaml (built in)"),
                CONTRAVENTO_PROBE.to_string(),
            )];
            let mut plan = compile_plan(&plan_args, Some(sources))?;
            for f in &mut plan.flows {
                f.interval = interval;
            }
            job_for(plan, &plan_args, ca.clone(), None)
        }
    };
    let first = match demo_job() {
        Ok(j) => j,
        Err(e) => return Err(usage(e)),
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", a.metrics_port)).await {
        Ok(l) => l,
        Err(e) => {
            return Err(usage(format!(
                "cannot listen on 127.0.0.1:{}: {e}",
                a.metrics_port
            )));
        }
    };
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
    server.stop().await;
    remove_ca(ca_file);
    Ok(ExitCode::Passed)
}

/// The demo CA written for curl lives only as long as the demo.
fn remove_ca(path: Option<PathBuf>) {
    if let Some(p) = path {
        let _ = std::fs::remove_file(p);
    }
}
