//! Command line: `once`, `check`, `schema`, `demo`. Each subcommand returns the
//! process exit code; `main` only maps it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Flow, Inputs, Plan, VarOverride};
use crate::flow::Runner;
use crate::net::{HttpFactory, NetOptions};
use crate::oneshot::{OnceOptions, run_once};
use crate::report::{ConsoleStyle, ExitCode, OnceReport, render_console, render_junit};

/// `smokeprobe demo`: only with the `demo` feature (on by default; the
/// container image is built without it).
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
pub use demo::{CONTRAVENTO_PROBE, DemoArgs};

#[derive(Parser, Debug)]
#[command(
    name = "smokeprobe",
    version,
    about = "Post-deploy synthetic monitoring probe: multi-step HTTP smoke flows, checklists and Prometheus metrics",
    // The last of a repeated option wins (a wrapper script's defaults can be
    // overridden by appending).
    args_override_self = true
)]
pub struct Cli {
    /// Log format on stderr: text (for people) or json (for log pipelines).
    /// The level comes from SMOKEPROBE_LOG (default: warn; `run` logs at info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Threads that run flows and serve endpoints. 1 (the default) keeps every
    /// request of a check on one thread: no cross-thread wake-ups inside a
    /// measurement, and the least CPU per check. More only helps a probe that
    /// saturates a core (see docs/performance.md).
    #[arg(long, global = true, env = "SMOKEPROBE_THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the flows once (N samples each), print a checklist, exit non-zero on failure.
    Once(OnceArgs),
    /// Run the flows continuously, each on its interval, and serve Prometheus metrics.
    Run(RunArgs),
    /// Validate probe files and print the resolved plan (secrets redacted).
    Check(PlanArgs),
    /// Print the JSON Schema of the probe-file format (for editor completion).
    Schema,
    /// Print Prometheus alerting rules for every latency budget in the probe files.
    Rules(RulesArgs),
    /// GET a URL and exit 0 on a 2xx answer (the container image's HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
    /// Start the built-in ContraVento-compatible demo target and probe it.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// Probe files (default: probes/*.yaml).
    pub files: Vec<PathBuf>,
    /// Set a variable: --var name=value (the value may use ${env:NAME}).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Set a variable and treat its value as a secret (redacted everywhere).
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// Only these flows (repeatable); also selects optional flows. `+NAME` adds
    /// NAME (e.g. an optional flow) to the default flows instead.
    #[arg(long = "flow", value_name = "NAME")]
    pub flows: Vec<String>,
    /// Response body limit per step (e.g. 10MB).
    #[arg(long, value_name = "SIZE")]
    pub max_body: Option<String>,
    /// Extra CA certificates to trust (PEM file).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// A findings file (repeatable): rule failures accepted until a date, with
    /// a reason; they are reported but do not fail the run (docs/probe-files.md).
    #[arg(long = "accept", value_name = "FILE")]
    pub accept: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct OnceArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Runs per flow, to estimate percentiles honestly.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub samples: u32,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Never colour the checklist (NO_COLOR is honoured too).
    #[arg(long)]
    pub no_color: bool,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// First wait (up to this long) until the health flow(s) pass; exit 3 if they never do.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub wait_healthy: Option<Duration>,
    /// The flows that say "healthy" for --wait-healthy (repeatable).
    #[arg(long = "health-flow", value_name = "NAME", default_value = "health")]
    pub health_flows: Vec<String>,
    /// Time between health attempts while waiting.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub wait_interval: Duration,
    /// Save every step's latency samples and results (a pre-deploy baseline).
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    /// Compare with a saved baseline: exit 1 on a latency regression.
    #[arg(long, value_name = "FILE", conflicts_with = "baseline_prometheus")]
    pub baseline: Option<PathBuf>,
    /// Compare with a running probe's history in this Prometheus instead
    /// (histogram p95 and a binomial test): exit 1 on a latency regression.
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub baseline_prometheus: Option<String>,
    /// The history window for --baseline-prometheus.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub baseline_window: Duration,
    /// The window ends this long ago (0: now), e.g. the time since the deploy began.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub baseline_offset: Duration,
    /// A regression needs the p95 above this many times the baseline's ...
    #[arg(long, default_value_t = 1.25)]
    pub max_ratio: f64,
    /// ... and this much slower in absolute terms (and a bootstrap 95 % CI above 0);
    /// the median-shift rule needs its shift's 95 % lower bound above this floor too.
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    pub regression_floor: Duration,
    /// The median-shift rule (Hodges–Lehmann shift, Mann–Whitney p < 1e-4) needs
    /// (baseline median + the shift's 95 % lower bound) above this many times
    /// the baseline median.
    #[arg(long, default_value_t = 1.10)]
    pub max_shift_ratio: f64,
    /// Fewest samples per step on each side for a verdict: fewer makes the
    /// comparison inconclusive (exit 1), never a silent pass.
    #[arg(long, default_value_t = crate::baseline::MIN_SAMPLES as u32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub min_samples: u32,
    /// After the run, PUT its results to this Prometheus Pushgateway (one group
    /// per target). A failed push is a warning: the exit code stays the run's.
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub pushgateway: Option<String>,
    /// The `job` of the pushed groups.
    #[arg(long, value_name = "NAME", default_value = "smokeprobe_once")]
    pub push_job: String,
    /// Push a deploy marker smokeprobe_deploy_info{version="VERSION"} (needs --pushgateway).
    #[arg(long, value_name = "VERSION", requires = "pushgateway")]
    pub deploy_version: Option<String>,
    /// Write every failing rule of this run to FILE as a findings file to start
    /// from (`until` in 90 days, a TODO reason); entries of --accept files that
    /// still match are kept as they are. The exit code stays the run's.
    #[arg(long, value_name = "FILE")]
    pub write_accepted: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// How long a percentile must stay over budget before the alert fires.
    #[arg(long = "for", default_value = "10m", value_parser = humantime::parse_duration)]
    pub for_: Duration,
    /// Shortest evaluation window (widened to ten runs of slower flows).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub window: Duration,
    /// Fewest samples in the window before a percentile is judged.
    #[arg(long, default_value_t = 10)]
    pub min_samples: u32,
}

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// e.g. http://127.0.0.1:9477/-/healthy
    #[arg(default_value = "http://127.0.0.1:9477/-/healthy")]
    pub url: String,
    /// Give up after this long.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Address of /metrics, /-/healthy, /-/ready and /-/reload.
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
    pub shard: Option<crate::scheduler::Shard>,
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

/// Why a command stopped before it had a verdict: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// A usage error, printed as `error: <message>`.
    Usage(String),
    /// Probe-file or findings-file errors, already formatted (file:line:col).
    Invalid(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Invalid
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(msg) => write!(f, "error: {msg}"),
            CliError::Invalid(text) => f.write_str(text),
        }
    }
}

/// What a command ends with: its exit code, or the error that stopped it.
pub type CmdResult = Result<ExitCode, CliError>;

/// Runs the parsed command; returns the exit code (errors are printed here).
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

async fn dispatch(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Once(a) => cmd_once(a).await,
        Command::Run(a) => cmd_run(a).await,
        Command::Rules(a) => cmd_rules(a),
        Command::Healthcheck(a) => cmd_healthcheck(a).await,
        Command::Check(a) => cmd_check(a),
        Command::Schema => {
            println!("{}", crate::config::schema::schema_json());
            Ok(ExitCode::Passed)
        }
        #[cfg(feature = "demo")]
        Command::Demo(a) => demo::cmd_demo(a).await,
    }
}

fn parse_overrides(a: &PlanArgs) -> Result<Vec<VarOverride>, String> {
    let mut out = Vec::new();
    for (list, secret) in [(&a.vars, false), (&a.secrets, true)] {
        for kv in list {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(format!(
                    "`{}` is not NAME=VALUE",
                    if secret { "--secret …" } else { kv.as_str() }
                ));
            };
            out.push(VarOverride {
                name: k.trim().to_string(),
                value: v.to_string(),
                secret,
            });
        }
    }
    Ok(out)
}

/// The probe files: the arguments (a directory stands for its `*.yaml` and
/// `*.yml` files, as a mounted ConfigMap is), or `./probes` when none.
fn default_files(files: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let yaml_in = |dir: &std::path::Path| -> Result<Vec<PathBuf>, String> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            // Findings files live next to the probe files; they are not probe files.
            .filter(|p| !is_findings_file(p))
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(format!("no *.yaml probe files in {}", dir.display()));
        }
        Ok(found)
    };
    if files.is_empty() {
        return yaml_in(std::path::Path::new("probes")).map_err(|_| {
            "no probe files given and none in ./probes: pass probe files as arguments".to_string()
        });
    }
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            out.extend(yaml_in(f)?);
        } else {
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// `NAME.accepted.yaml` (or `.yml`): a findings file for `--accept`.
fn is_findings_file(p: &std::path::Path) -> bool {
    p.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with(".accepted"))
}

/// Loads and validates; prints errors and returns None on failure.
fn load_plan(a: &PlanArgs, sources: Option<Vec<(PathBuf, String)>>) -> Result<Plan, CliError> {
    compile_plan(a, sources).map_err(CliError::Invalid)
}

/// The plan, or every problem as text (usage errors prefixed `error: `).
fn compile_plan(a: &PlanArgs, sources: Option<Vec<(PathBuf, String)>>) -> Result<Plan, String> {
    compile_plan_for(a, sources, false)
}

/// `lint`: a plan to read, not to run (`check`): values a run needs but
/// that were not given are listed in `Plan::needs` instead of refused.
fn compile_plan_for(
    a: &PlanArgs,
    sources: Option<Vec<(PathBuf, String)>>,
    lint: bool,
) -> Result<Plan, String> {
    let overrides = parse_overrides(a).map_err(|e| format!("error: {e}"))?;
    let mut inputs = Inputs::from_process(&overrides);
    inputs.values_optional = lint;
    if let Some(mb) = &a.max_body {
        inputs.max_body = config::parse_size(mb)
            .map(Some)
            .ok_or_else(|| format!("error: --max-body `{mb}` is not a size"))?;
    }
    let result = match sources {
        Some(s) => config::load_sources(&s, &inputs),
        None => {
            let files = default_files(&a.files).map_err(|e| format!("error: {e}"))?;
            config::load(&files, &inputs)
        }
    };
    let mut plan = result.map_err(|errs| errs.to_string())?;
    if !a.accept.is_empty() {
        plan.accepted = config::load_accepted(&a.accept, &plan, &crate::flow::checks::rule_names)
            .map_err(|errs| errs.to_string())?;
    }
    Ok(plan)
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Flows to run: the named ones, or every non-optional flow.
fn select<'p>(plan: &'p Plan, names: &[String]) -> Result<Vec<&'p Flow>, String> {
    let defaults = || plan.flows.iter().filter(|f| !f.optional);
    if names.is_empty() {
        return Ok(defaults().collect());
    }
    // `+NAME` adds a flow to the default set instead of replacing it.
    let mut out: Vec<&Flow> = if names.iter().any(|n| n.starts_with('+')) {
        defaults().collect()
    } else {
        Vec::new()
    };
    for n in names.iter().map(|n| n.strip_prefix('+').unwrap_or(n)) {
        let found: Vec<&Flow> = plan.flows.iter().filter(|f| f.name == n).collect();
        if found.is_empty() {
            let known: Vec<&str> = plan.flows.iter().map(|f| f.name.as_str()).collect();
            return Err(format!("no flow named `{n}` (flows: {})", known.join(", ")));
        }
        for f in found {
            if !out.iter().any(|o| std::ptr::eq(*o, f)) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn runner_for(plan: Plan, a: &PlanArgs, ca_pems: Vec<String>) -> Result<Runner, CliError> {
    let net = NetOptions {
        ca_files: a.ca_files.clone(),
        ca_pems,
        user_agent: plan.settings.user_agent.clone(),
    };
    let http = HttpFactory::new(&net).map_err(|e| usage(e.to_string()))?;
    Ok(Runner::new(Arc::new(plan), http))
}

fn color_wanted(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

async fn cmd_once(a: OnceArgs) -> CmdResult {
    let plan = load_plan(&a.plan, None)?;
    install_credential_guard()?;
    let stop = CancellationToken::new();
    let runner = runner_for(plan, &a.plan, Vec::new())?.stop_on(stop.clone());
    let flows = match select(runner.plan(), &a.plan.flows) {
        Ok(f) => f,
        Err(e) => return Err(usage(e)),
    };
    let signalled = interrupt_on_signal(stop);
    let interrupted = || signalled.get().copied();
    let progress = !a.quiet;
    if let Some(within) = a.wait_healthy {
        let health: Vec<&Flow> = runner
            .plan()
            .flows
            .iter()
            .filter(|f| a.health_flows.contains(&f.name))
            .collect();
        if health.is_empty() {
            return Err(usage(format!(
                "--wait-healthy: no flow named {} in the probe files (use --health-flow NAME)",
                a.health_flows.join(", ")
            )));
        }
        match crate::oneshot::wait_healthy(&runner, &health, within, a.wait_interval, progress)
            .await
        {
            Ok((attempts, took)) => eprintln!(
                "healthy after {attempts} attempt(s), {}",
                crate::flow::fmt_duration(took)
            ),
            Err(_) if interrupted().is_some() => {
                return Ok(interrupted().unwrap_or(ExitCode::Sigterm));
            }
            Err(e) => {
                println!("❌ UNHEALTHY: {e}");
                return Ok(ExitCode::Unreachable);
            }
        }
    }
    let baseline = match &a.baseline {
        Some(p) => match crate::baseline::Baseline::load(p) {
            Ok(b) => Some(b),
            Err(e) => return Err(usage(e)),
        },
        None => None,
    };
    let min = a.min_samples;
    let comparing = a.baseline.is_some() || a.baseline_prometheus.is_some();
    if comparing && a.samples < min {
        eprintln!(
            "warning: --samples {} is below --min-samples {min}: the baseline comparison will be inconclusive (exit 1); use --samples {min}",
            a.samples
        );
    }
    if let Some(b) = &baseline
        && b.samples < min
    {
        eprintln!(
            "warning: the baseline was saved with --samples {}, below --min-samples {min}: the comparison will be inconclusive (exit 1); save it with --samples {min}",
            b.samples
        );
    }
    let cmp_opts = crate::baseline::CompareOptions {
        max_ratio: a.max_ratio,
        floor: a.regression_floor,
        max_shift_ratio: a.max_shift_ratio,
        min_samples: min as usize,
        ..Default::default()
    };
    let opts = OnceOptions {
        samples: a.samples,
        progress: progress && std::io::stderr().is_terminal(),
    };
    let mut report = run_once(&runner, &flows, &opts).await;
    if let Some(code) = interrupted() {
        report.interrupt(code);
    }
    print!(
        "{}",
        render_console(
            &report,
            ConsoleStyle {
                color: color_wanted(a.no_color)
            }
        )
    );
    if let Some(code) = interrupted() {
        // Partial results: reported as they are, but neither saved as a
        // baseline, compared, nor pushed as the deploy's verdict.
        if let Err(e) = write_reports(&report, a.json.as_ref(), a.junit.as_ref()) {
            eprintln!("{e}");
        }
        return Ok(code);
    }
    let current = crate::baseline::Baseline::from_report(&report);
    if let Some(p) = &a.save_baseline {
        current.save(p).map_err(usage)?;
        if a.samples < min {
            eprintln!(
                "warning: baseline saved with {} sample(s) per step; comparing with it needs {min} (--min-samples): save it with --samples {min}",
                a.samples
            );
        }
    }
    let mut code = write_reports(&report, a.json.as_ref(), a.junit.as_ref())?;
    if let Some(path) = &a.write_accepted {
        let files = report_sources(runner.plan());
        let (text, n) = crate::report::render_findings(
            &report,
            &runner.plan().accepted,
            &files,
            crate::config::accept::today(),
        );
        match std::fs::write(path, text) {
            Ok(()) => eprintln!(
                "wrote {n} accepted finding(s) to {}: review each reason, subject and `until` before using it with --accept",
                path.display()
            ),
            Err(e) => return Err(usage(format!("cannot write {}: {e}", path.display()))),
        }
    }
    let mut comparison = None;
    if let Some(base) = baseline {
        let source = a
            .baseline
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let cmp = crate::baseline::compare(
            &crate::baseline::passed_only(&base),
            &crate::baseline::passed_only(&current),
            &cmp_opts,
            &source,
        );
        print!("{}", crate::baseline::render(&cmp));
        code = baseline_verdict(&cmp, code);
        comparison = Some(cmp);
    }
    if let Some(url) = &a.baseline_prometheus {
        let pb = crate::baseline_prom::PromBaseline {
            url: parsed_url(url),
            window: a.baseline_window,
            offset: a.baseline_offset,
        };
        let current = crate::baseline::passed_only(&current);
        match crate::baseline_prom::compare(runner.http(), &pb, &current, &cmp_opts).await {
            Ok(cmp) => {
                print!("{}", crate::baseline::render(&cmp));
                code = baseline_verdict(&cmp, code);
                comparison = Some(cmp);
            }
            Err(e) => {
                // No verdict is possible: not a pass, not a regression. Like a
                // comparison without enough samples, that fails the gate (1);
                // 2 would say the input was invalid and nothing was sent.
                eprintln!("error: baseline-prometheus: {e}");
                code = unverdicted_comparison(code);
            }
        }
    }
    if let Some(url) = &a.pushgateway {
        let o = crate::push::PushOptions {
            url: parsed_url(url),
            job: a.push_job.clone(),
            deploy_version: a.deploy_version.clone(),
        };
        let now = crate::builtins::unix_now();
        match crate::push::push(runner.http(), &o, &report, comparison.as_ref(), now).await {
            Ok(n) => eprintln!("pushed {n} group(s) to the Pushgateway"),
            // Deliberately not an error exit: see docs/post-deploy.md.
            Err(e) => eprintln!("warning: pushgateway: {e} (exit code unchanged)"),
        }
    }
    Ok(code)
}

/// The exit code after a baseline comparison: a regression or an
/// inconclusive comparison fails a run that otherwise passed, with a line
/// saying which.
fn baseline_verdict(cmp: &crate::baseline::Comparison, code: ExitCode) -> ExitCode {
    if code != ExitCode::Passed {
        return code;
    }
    if cmp.regressed {
        println!(
            "exit code {}: latency regression against the baseline",
            ExitCode::Failed
        );
        ExitCode::Failed
    } else if let Some(why) = cmp.inconclusive_reason() {
        println!(
            "exit code {}: baseline comparison inconclusive: {why}",
            ExitCode::Failed
        );
        ExitCode::Failed
    } else {
        code
    }
}

/// The exit code when a baseline comparison could give no verdict at all
/// (the Prometheus history could not be read): a run that passed fails, as
/// an inconclusive comparison does; a worse code stays.
fn unverdicted_comparison(code: ExitCode) -> ExitCode {
    if code == ExitCode::Passed {
        ExitCode::Failed
    } else {
        code
    }
}

/// The probe files a plan came from, for a written file's header.
fn report_sources(plan: &Plan) -> String {
    let mut files: Vec<String> = plan
        .flows
        .iter()
        .map(|f| f.file.display().to_string())
        .collect();
    files.dedup();
    files.join(", ")
}

/// An http(s) URL, checked at parse time but kept as text (a `Url` would make
/// `OnceArgs` much larger than the other subcommands' arguments).
fn http_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") || u.cannot_be_a_base() {
        return Err("an http:// or https:// URL".into());
    }
    Ok(s.to_string())
}

fn parsed_url(s: &str) -> url::Url {
    url::Url::parse(s).expect("checked by http_url when parsing the command line")
}

fn write_reports(
    report: &OnceReport,
    json: Option<&PathBuf>,
    junit: Option<&PathBuf>,
) -> CmdResult {
    for (path, text) in [
        (json, json.map(|_| report.to_json())),
        (junit, junit.map(|_| render_junit(report))),
    ] {
        if let (Some(p), Some(t)) = (path, text)
            && let Err(e) = std::fs::write(p, t)
        {
            return Err(usage(format!("cannot write {}: {e}", p.display())));
        }
    }
    Ok(report.exit_code)
}

/// Validates without running: the secrets need not be given (the values a
/// run needs are listed), so CI can lint probe files without them.
fn cmd_check(a: PlanArgs) -> CmdResult {
    let plan = compile_plan_for(&a, None, true).map_err(CliError::Invalid)?;
    print!("{}", crate::config::describe::describe(&plan));
    Ok(ExitCode::Passed)
}

/// Ctrl-C, or SIGTERM from a supervisor (`kill`, `docker stop`): either way the
/// demo stops cleanly and removes what it wrote.
async fn shutdown_signal() {
    termination_signal().await;
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM; returns the exit status a process
/// killed by that signal would have (128 + its number).
async fn termination_signal() -> ExitCode {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => ExitCode::Sigint,
                _ = term.recv() => ExitCode::Sigterm,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::Sigint
}

/// `once` on SIGINT/SIGTERM: the token is cancelled, so runs in flight skip
/// to their cleanup steps and no new run starts; the returned cell then holds
/// the exit status to end with. A second signal exits at once.
fn interrupt_on_signal(stop: CancellationToken) -> Arc<std::sync::OnceLock<ExitCode>> {
    let code = Arc::new(std::sync::OnceLock::new());
    let cell = code.clone();
    tokio::spawn(async move {
        let first = termination_signal().await;
        let _ = cell.set(first);
        stop.cancel();
        eprintln!("interrupted: running cleanup steps, then exiting (signal again to exit now)");
        let second = termination_signal().await;
        std::process::exit(second.code());
    });
    code
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

fn web_auth(a: &RunArgs) -> Result<Option<crate::server::Auth>, String> {
    use crate::server::Auth;
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

/// Makes the process's credential guard remember refusals in the state
/// directory, so a restart never sends a refused secret again. Without a
/// directory (none configured, or it cannot be created) refusals last as
/// long as the process, and the probe says so; an existing state file that
/// cannot be read is an error (exit 2): forgetting refusals is how an
/// account gets locked.
fn install_credential_guard() -> Result<(), CliError> {
    use crate::flow::credentials::Guard;
    let Some(dir) = Guard::default_dir() else {
        tracing::warn!(
            target: "smokeprobe::credentials",
            "no state directory (set SMOKEPROBE_STATE_DIR): refused secrets are remembered only while this process runs"
        );
        return Ok(());
    };
    let exists = dir.join("credentials.json").exists();
    match Guard::persistent(&dir) {
        Ok(g) => {
            Guard::install(g);
            Ok(())
        }
        Err(e) if exists => Err(usage(format!("credential state: {e}"))),
        Err(e) => {
            tracing::warn!(
                target: "smokeprobe::credentials",
                "{e}: refused secrets are remembered only while this process runs"
            );
            Ok(())
        }
    }
}

/// The flows a job schedules: indexes of the selected flows in the plan.
fn job_for(
    plan: Plan,
    a: &PlanArgs,
    ca_pems: Vec<String>,
    shard: Option<crate::scheduler::Shard>,
) -> Result<crate::scheduler::Job, String> {
    let names: Vec<String> = select(&plan, &a.flows)?
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let flows: Vec<usize> = plan
        .flows
        .iter()
        .enumerate()
        .filter(|(_, f)| names.contains(&f.name))
        .filter(|(_, f)| shard.is_none_or(|s| s.owns(f)))
        .map(|(i, _)| i)
        .collect();
    let net = NetOptions {
        ca_files: a.ca_files.clone(),
        ca_pems,
        user_agent: plan.settings.user_agent.clone(),
    };
    let http = HttpFactory::new(&net).map_err(|e| e.to_string())?;
    Ok(crate::scheduler::Job {
        runner: Runner::new(Arc::new(plan), http),
        flows,
    })
}

async fn cmd_run(a: RunArgs) -> CmdResult {
    let shard = a.shard;
    install_credential_guard()?;
    let first = compile_plan(&a.plan, None)
        .and_then(|p| job_for(p, &a.plan, Vec::new(), shard))
        .map_err(CliError::Invalid)?;
    let auth = match web_auth(&a) {
        Ok(x) => x,
        Err(e) => return Err(usage(e)),
    };
    let tls = match (&a.web_tls_cert, &a.web_tls_key) {
        (Some(c), Some(k)) => match crate::net::tls_listener::server_config_from_files(c, k) {
            Ok(cfg) => Some(cfg),
            Err(e) => return Err(usage(format!("web TLS: {e}"))),
        },
        _ => None,
    };
    let listener = match tokio::net::TcpListener::bind(&a.listen).await {
        Ok(l) => l,
        Err(e) => return Err(usage(format!("cannot listen on {}: {e}", a.listen))),
    };
    let plan_args = a.plan.clone();
    let load: crate::continuous::Loader = Arc::new(move || {
        compile_plan(&plan_args, None).and_then(|p| job_for(p, &plan_args, Vec::new(), shard))
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(target: "smokeprobe::run", "shutting down: letting runs in flight finish");
        stop.cancel();
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    let opts = crate::scheduler::ScheduleOptions {
        max_jitter: a.max_jitter,
        concurrency: a.concurrency as usize,
        grace: a.grace,
    };
    let n = first.flows.len();
    let web = crate::continuous::WebOptions {
        listener,
        location: a.location.clone(),
        auth,
        tls,
    };
    let result = crate::continuous::run(first, load, web, opts, shutdown, |h| {
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
        Err(e) => Err(usage(format!("web endpoint: {e}"))),
    }
}

fn cmd_rules(a: RulesArgs) -> CmdResult {
    if !a.plan.accept.is_empty() {
        return Err(usage(
            "--accept has no effect on `rules` (alerting rules come from budgets only)",
        ));
    }
    // Rules need the structure and the budgets, not the secrets: variables
    // without a value are allowed here.
    let overrides = match parse_overrides(&a.plan) {
        Ok(o) => o,
        Err(e) => return Err(usage(e)),
    };
    let mut inputs = Inputs::from_process(&overrides);
    inputs.values_optional = true;
    let files = match default_files(&a.plan.files) {
        Ok(f) => f,
        Err(e) => return Err(usage(e)),
    };
    let plan = match config::load(&files, &inputs) {
        Ok(p) => p,
        Err(errs) => return Err(CliError::Invalid(errs.to_string())),
    };
    // Every flow, optional ones too: a budget is a budget wherever it runs.
    let flows: Vec<&Flow> = if a.plan.flows.is_empty() {
        plan.flows.iter().collect()
    } else {
        match select(&plan, &a.plan.flows) {
            Ok(f) => f,
            Err(e) => return Err(usage(e)),
        }
    };
    let sources = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let opts = crate::rules::RuleOptions {
        for_: a.for_,
        window: a.window,
        min_samples: a.min_samples,
    };
    print!(
        "{}",
        crate::rules::budget_rules(&plan, &flows, &sources, &opts)
    );
    Ok(ExitCode::Passed)
}

async fn cmd_healthcheck(a: HealthcheckArgs) -> CmdResult {
    let url = match url::Url::parse(&a.url) {
        Ok(u) => u,
        Err(e) => return Err(usage(format!("`{}` is not a URL: {e}", a.url))),
    };
    let http = match HttpFactory::new(&NetOptions::default()) {
        Ok(h) => h,
        Err(e) => return Err(usage(e.to_string())),
    };
    let opts = crate::net::http::SessionOptions {
        timeout: a.timeout,
        ..Default::default()
    };
    let req = crate::net::http::Request::new(http::Method::GET, url);
    match http.session().send(req, &opts).await {
        Ok(r) if (200..300).contains(&r.status) => Ok(ExitCode::Passed),
        Ok(r) => {
            eprintln!("unhealthy: {} answered {}", a.url, r.status);
            Ok(ExitCode::Failed)
        }
        Err(e) => {
            eprintln!("unhealthy: {}: {e}", a.url);
            Ok(ExitCode::Failed)
        }
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

    #[test]
    fn a_comparison_without_a_verdict_fails_a_passing_run_with_1() {
        assert_eq!(unverdicted_comparison(ExitCode::Passed), ExitCode::Failed);
        assert_eq!(
            unverdicted_comparison(ExitCode::Unreachable),
            ExitCode::Unreachable
        );
    }
}
