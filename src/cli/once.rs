//! `smokeprobe once`: its flags, the validated `OnceConfig` (plan compiled,
//! flows and health flows selected, client built, baseline file read, the
//! Prometheus and Pushgateway targets typed) and the run: wait until
//! healthy, each flow N times, reports, baseline comparison, push.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::plan::{PlanArgs, Ready, load_plan, ready_once};
use super::{
    CliError, CmdResult, color_wanted, install_credential_guard, interrupt_on_signal, setup_failed,
    usage,
};
use crate::baseline::{Baseline, CompareOptions, Comparison};
use crate::baseline_prom::PromBaseline;
use crate::config::Plan;
use crate::flow::Runner;
use crate::oneshot::{OnceOptions, run_once};
use crate::push::PushOptions;
use crate::report::{ConsoleStyle, ExitCode, OnceReport, render_console, render_junit};

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
    #[arg(long, value_name = "URL", value_parser = super::values::http_url)]
    pub baseline_prometheus: Option<url::Url>,
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
    #[arg(long, value_name = "URL", value_parser = super::values::http_url)]
    pub pushgateway: Option<url::Url>,
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

/// `once`, validated: everything a run needs, nothing sent yet.
pub(super) struct OnceConfig {
    ready: Ready,
    settings: Settings,
}

/// `once`'s flags beyond the plan, validated.
struct Settings {
    /// `--wait-healthy`: the health flows and how long to wait.
    wait: Option<WaitHealthy>,
    samples: u32,
    min_samples: u32,
    /// Not `--quiet`.
    progress: bool,
    no_color: bool,
    reports: Reports,
    save_baseline: Option<PathBuf>,
    write_accepted: Option<PathBuf>,
    /// `--baseline`: the file and what it holds.
    baseline: Option<(PathBuf, Baseline)>,
    prometheus: Option<PromBaseline>,
    compare: CompareOptions,
    push: Option<PushOptions>,
}

struct WaitHealthy {
    /// Indexes of the health flows in the plan.
    flows: Vec<usize>,
    within: Duration,
    every: Duration,
}

/// `--json`, `--junit`.
struct Reports {
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
}

/// The flags into a config: the probe files compiled, `--flow` and
/// `--health-flow` found in them, `--ca-file` and `--baseline` read.
pub(super) fn validate(a: OnceArgs) -> Result<OnceConfig, CliError> {
    let plan = load_plan(&a.plan, None)?;
    let ready = ready_once(plan, &a.plan, Vec::new())?;
    let wait = match a.wait_healthy {
        Some(within) => Some(WaitHealthy {
            flows: health_flows(&ready.plan, &a.health_flows)?,
            within,
            every: a.wait_interval,
        }),
        None => None,
    };
    let baseline = match a.baseline {
        Some(p) => {
            let b = Baseline::load(&p).map_err(usage)?;
            Some((p, b))
        }
        None => None,
    };
    let settings = Settings {
        wait,
        samples: a.samples,
        min_samples: a.min_samples,
        progress: !a.quiet,
        no_color: a.no_color,
        reports: Reports {
            json: a.json,
            junit: a.junit,
        },
        save_baseline: a.save_baseline,
        write_accepted: a.write_accepted,
        baseline,
        prometheus: a.baseline_prometheus.map(|url| PromBaseline {
            url,
            window: a.baseline_window,
            offset: a.baseline_offset,
        }),
        compare: CompareOptions {
            max_ratio: a.max_ratio,
            floor: a.regression_floor,
            max_shift_ratio: a.max_shift_ratio,
            min_samples: a.min_samples as usize,
            ..Default::default()
        },
        push: a.pushgateway.map(|url| PushOptions {
            url,
            job: a.push_job,
            deploy_version: a.deploy_version,
        }),
    };
    Ok(OnceConfig { ready, settings })
}

/// `--health-flow` names (plan order): at least one must exist.
fn health_flows(plan: &Plan, names: &[String]) -> Result<Vec<usize>, CliError> {
    let found: Vec<usize> = (0..plan.flows.len())
        .filter(|&i| names.contains(&plan.flows[i].name))
        .collect();
    if found.is_empty() {
        return Err(usage(format!(
            "--wait-healthy: no flow named {} in the probe files (use --health-flow NAME)",
            names.join(", ")
        )));
    }
    Ok(found)
}

pub(super) async fn cmd_once(config: OnceConfig) -> CmdResult {
    install_credential_guard()?;
    let stop = CancellationToken::new();
    let (Ready { plan, http, flows }, c) = (config.ready, config.settings);
    let runner = Runner::new(Arc::new(plan), http).stop_on(stop.clone());
    let flows = Ready::chosen(runner.plan(), &flows);
    let signalled = interrupt_on_signal(stop);
    let interrupted = || signalled.get().copied();
    if let Some(w) = &c.wait
        && let Err(code) = wait_healthy(&runner, w, c.progress, interrupted).await
    {
        return Ok(code);
    }
    warn_few_samples(&c);
    let opts = OnceOptions {
        samples: c.samples,
        progress: c.progress && std::io::stderr().is_terminal(),
    };
    let mut report = run_once(&runner, &flows, &opts).await;
    if let Some(code) = interrupted() {
        report.interrupt(code);
    }
    let style = ConsoleStyle {
        color: color_wanted(c.no_color),
    };
    print!("{}", render_console(&report, style));
    if let Some(code) = interrupted() {
        // Partial results: reported as they are, but neither saved as a
        // baseline, compared, nor pushed as the deploy's verdict.
        if let Err(e) = write_reports(&report, &c.reports) {
            eprintln!("{e}");
        }
        return Ok(code);
    }
    let current = Baseline::from_report(&report);
    save_baseline(&c, &current)?;
    let code = write_reports(&report, &c.reports)?;
    write_accepted(c.write_accepted.as_ref(), &report, runner.plan())?;
    let (code, comparison) = compare(&c, &runner, &current, code).await;
    push(c.push.as_ref(), &runner, &report, comparison.as_ref()).await;
    Ok(code)
}

/// `--wait-healthy`: returns once the health flows pass, or the exit code
/// to end with (3 when they never did, the signal's when interrupted).
async fn wait_healthy(
    runner: &Runner,
    w: &WaitHealthy,
    progress: bool,
    interrupted: impl Fn() -> Option<ExitCode>,
) -> Result<(), ExitCode> {
    let health = Ready::chosen(runner.plan(), &w.flows);
    match crate::oneshot::wait_healthy(runner, &health, w.within, w.every, progress).await {
        Ok((attempts, took)) => {
            eprintln!(
                "healthy after {attempts} attempt(s), {}",
                crate::flow::fmt_duration(took)
            );
            Ok(())
        }
        Err(_) if interrupted().is_some() => Err(interrupted().unwrap_or(ExitCode::Sigterm)),
        Err(e) => {
            println!("❌ UNHEALTHY: {e}");
            Err(ExitCode::Unreachable)
        }
    }
}

/// Warnings (before the run) that a comparison will be inconclusive.
fn warn_few_samples(c: &Settings) {
    let min = c.min_samples;
    let comparing = c.baseline.is_some() || c.prometheus.is_some();
    if comparing && c.samples < min {
        eprintln!(
            "warning: --samples {} is below --min-samples {min}: the baseline comparison will be inconclusive (exit 1); use --samples {min}",
            c.samples
        );
    }
    if let Some((_, b)) = &c.baseline
        && b.samples < min
    {
        eprintln!(
            "warning: the baseline was saved with --samples {}, below --min-samples {min}: the comparison will be inconclusive (exit 1); save it with --samples {min}",
            b.samples
        );
    }
}

/// `--save-baseline`.
fn save_baseline(c: &Settings, current: &Baseline) -> Result<(), CliError> {
    let Some(p) = &c.save_baseline else {
        return Ok(());
    };
    current.save(p).map_err(setup_failed)?;
    let min = c.min_samples;
    if c.samples < min {
        eprintln!(
            "warning: baseline saved with {} sample(s) per step; comparing with it needs {min} (--min-samples): save it with --samples {min}",
            c.samples
        );
    }
    Ok(())
}

/// `--write-accepted`: the run's failures as a findings file.
fn write_accepted(
    path: Option<&PathBuf>,
    report: &OnceReport,
    plan: &Plan,
) -> Result<(), CliError> {
    let Some(path) = path else {
        return Ok(());
    };
    let files = report_sources(plan);
    let (text, n) = crate::report::render_findings(
        report,
        &plan.accepted,
        &files,
        crate::config::accept::today(),
    );
    match std::fs::write(path, text) {
        Ok(()) => eprintln!(
            "wrote {n} accepted finding(s) to {}: review each reason, subject and `until` before using it with --accept",
            path.display()
        ),
        Err(e) => {
            return Err(setup_failed(format!(
                "cannot write {}: {e}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// `--baseline` or `--baseline-prometheus`: the comparison printed, and the
/// exit code after it.
async fn compare(
    c: &Settings,
    runner: &Runner,
    current: &Baseline,
    mut code: ExitCode,
) -> (ExitCode, Option<Comparison>) {
    let mut comparison = None;
    if let Some((path, base)) = &c.baseline {
        let cmp = crate::baseline::compare(
            &crate::baseline::passed_only(base),
            &crate::baseline::passed_only(current),
            &c.compare,
            &path.display().to_string(),
        );
        print!("{}", crate::baseline::render(&cmp));
        code = baseline_verdict(&cmp, code);
        comparison = Some(cmp);
    }
    if let Some(pb) = &c.prometheus {
        let current = crate::baseline::passed_only(current);
        match crate::baseline_prom::compare(runner.http(), pb, &current, &c.compare).await {
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
    (code, comparison)
}

/// `--pushgateway`: a failed push is a warning, never the exit code.
async fn push(
    o: Option<&PushOptions>,
    runner: &Runner,
    report: &OnceReport,
    comparison: Option<&Comparison>,
) {
    let Some(o) = o else {
        return;
    };
    let now = crate::builtins::unix_now();
    match crate::push::push(runner.http(), o, report, comparison, now).await {
        Ok(n) => eprintln!("pushed {n} group(s) to the Pushgateway"),
        // Deliberately not an error exit: see docs/post-deploy.md.
        Err(e) => eprintln!("warning: pushgateway: {e} (exit code unchanged)"),
    }
}

/// The exit code after a baseline comparison: a regression or an
/// inconclusive comparison fails a run that otherwise passed, with a line
/// saying which.
fn baseline_verdict(cmp: &Comparison, code: ExitCode) -> ExitCode {
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

/// `--json`, `--junit`; the exit code is the report's.
fn write_reports(report: &OnceReport, to: &Reports) -> CmdResult {
    for (path, text) in [
        (&to.json, to.json.as_ref().map(|_| report.to_json())),
        (&to.junit, to.junit.as_ref().map(|_| render_junit(report))),
    ] {
        if let (Some(p), Some(t)) = (path, text)
            && let Err(e) = std::fs::write(p, t)
        {
            return Err(setup_failed(format!("cannot write {}: {e}", p.display())));
        }
    }
    Ok(report.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comparison_without_a_verdict_fails_a_passing_run_with_1() {
        assert_eq!(unverdicted_comparison(ExitCode::Passed), ExitCode::Failed);
        assert_eq!(
            unverdicted_comparison(ExitCode::Unreachable),
            ExitCode::Unreachable
        );
    }
}
