//! Command line: `once`, `run`, `check`, `schema`, `rules`, `healthcheck` and
//! `demo`. Raw flags (the clap structs, with typed values where clap can
//! parse them: URLs, sizes, durations, the demo's TLS mode and faults) become
//! one validated config per subcommand (`validate`) before anything runs: no
//! request, file write, listener or task before every flag problem is an
//! exit 2. Each subcommand then returns the process exit code; `main` only
//! maps it.
//!
//! - `plan.rs` — the flags every plan-reading command shares (`PlanArgs`):
//!   probe files, variables, flow selection, the client
//! - `values.rs` — clap value parsers (http(s) URLs, sizes)
//! - `once.rs`, `run.rs`, `lint.rs` (`check`, `schema`, `rules`),
//!   `healthcheck.rs`, `demo.rs` — one subcommand each: its flags, its
//!   config, its `validate` and its `cmd_*`

use std::io::IsTerminal;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::report::ExitCode;

/// `smokeprobe demo`: only with the `demo` feature (on by default; the
/// container image is built without it).
#[cfg(feature = "demo")]
mod demo;
mod healthcheck;
mod lint;
mod once;
mod plan;
mod run;
mod values;

#[cfg(feature = "demo")]
pub use demo::{CONTRAVENTO_PROBE, DemoArgs};
pub use healthcheck::HealthcheckArgs;
pub use lint::RulesArgs;
pub use once::OnceArgs;
pub use plan::PlanArgs;
pub use run::RunArgs;

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
    // Boxed: by far the largest arguments (two URLs among them).
    Once(Box<OnceArgs>),
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

/// Every subcommand: its flags validated into its config first (`?`: a flag
/// problem is exit 2 before anything ran), then run.
async fn dispatch(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Once(a) => once::cmd_once(once::validate(*a)?).await,
        Command::Run(a) => run::cmd_run(run::validate(a)?).await,
        Command::Rules(a) => lint::cmd_rules(lint::validate_rules(a)?),
        Command::Healthcheck(a) => healthcheck::cmd_healthcheck(healthcheck::validate(a)?).await,
        Command::Check(a) => lint::cmd_check(lint::validate_check(a)?),
        Command::Schema => lint::cmd_schema(),
        #[cfg(feature = "demo")]
        Command::Demo(a) => demo::cmd_demo(demo::validate(a)?).await,
    }
}

/// A flag problem, found by a `validate` before anything runs:
/// `error: <message>`, exit 2.
fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// The probe's own setup failing while it runs (a report that cannot be
/// written, an address that is not available): not a flag problem, but
/// printed and exit-coded like one (`error: <message>`, exit 2).
fn setup_failed(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

fn color_wanted(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
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

/// Makes the process's credential guard remember refusals in the state
/// directory, so a restart never sends a refused secret again. Without a
/// directory (none configured, or it cannot be created) refusals last as
/// long as the process, and the probe says so; an existing state file that
/// cannot be read is an error (exit 2): forgetting refusals is how an
/// account gets locked. Run after validation (it may create the directory)
/// and before any runner is made (a runner takes the guard installed then).
fn install_credential_guard() -> Result<(), CliError> {
    use crate::credentials::Guard;
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
        Err(e) if exists => Err(setup_failed(format!("credential state: {e}"))),
        Err(e) => {
            tracing::warn!(
                target: "smokeprobe::credentials",
                "{e}: refused secrets are remembered only while this process runs"
            );
            Ok(())
        }
    }
}
