//! The subcommands that read probe files and print, never run them: `check`
//! (the resolved plan), `schema` (the probe-file format) and `rules`
//! (Prometheus alerting rules for the latency budgets). Secrets need not be
//! given: the values a run needs are listed, not refused.

use std::time::Duration;

use clap::Args;

use super::plan::{PlanArgs, Ready, compile_plan_for, default_files, parse_overrides, select};
use super::{CliError, CmdResult, usage};
use crate::config::{self, Inputs, Plan};
use crate::report::ExitCode;
use crate::rules::RuleOptions;

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

/// `check`, validated: the lint plan.
pub(super) struct CheckConfig {
    plan: Plan,
}

/// Validates without running: the secrets need not be given (the values a
/// run needs are listed), so CI can lint probe files without them.
pub(super) fn validate_check(a: PlanArgs) -> Result<CheckConfig, CliError> {
    let plan = compile_plan_for(&a, None, true).map_err(CliError::Invalid)?;
    Ok(CheckConfig { plan })
}

pub(super) fn cmd_check(c: CheckConfig) -> CmdResult {
    print!("{}", crate::config::describe::describe(&c.plan));
    Ok(ExitCode::Passed)
}

pub(super) fn cmd_schema() -> CmdResult {
    println!("{}", crate::config::schema::schema_json());
    Ok(ExitCode::Passed)
}

/// `rules`, validated: the plan (values optional), the flows whose budgets
/// become alerts, and the files named in the header.
pub(super) struct RulesConfig {
    plan: Plan,
    /// Indexes into `plan.flows`.
    flows: Vec<usize>,
    sources: String,
    opts: RuleOptions,
}

pub(super) fn validate_rules(a: RulesArgs) -> Result<RulesConfig, CliError> {
    if !a.plan.accept.is_empty() {
        return Err(usage(
            "--accept has no effect on `rules` (alerting rules come from budgets only)",
        ));
    }
    // Rules need the structure and the budgets, not the secrets: variables
    // without a value are allowed here.
    let overrides = parse_overrides(&a.plan).map_err(usage)?;
    let mut inputs = Inputs::from_process(&overrides);
    inputs.values_optional = true;
    let files = default_files(&a.plan.files).map_err(usage)?;
    let plan = config::load(&files, &inputs).map_err(|errs| CliError::Invalid(errs.to_string()))?;
    // Every flow, optional ones too: a budget is a budget wherever it runs.
    let flows: Vec<usize> = if a.plan.flows.is_empty() {
        (0..plan.flows.len()).collect()
    } else {
        select(&plan, &a.plan.flows).map_err(usage)?
    };
    let sources = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(RulesConfig {
        plan,
        flows,
        sources,
        opts: RuleOptions {
            for_: a.for_,
            window: a.window,
            min_samples: a.min_samples,
        },
    })
}

pub(super) fn cmd_rules(c: RulesConfig) -> CmdResult {
    let flows = Ready::chosen(&c.plan, &c.flows);
    print!(
        "{}",
        crate::rules::budget_rules(&c.plan, &flows, &c.sources, &c.opts)
    );
    Ok(ExitCode::Passed)
}
