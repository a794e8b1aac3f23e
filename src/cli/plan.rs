//! The flags every plan-reading subcommand shares (`PlanArgs`) and what
//! validation makes of them: the compiled plan (probe files, `--var`,
//! `--secret`, `--max-body`, `--accept`), the flows `--flow` selects, and the
//! HTTP client (`--ca-file` read).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{CliError, usage};
use crate::config::{self, Flow, Inputs, Plan, VarOverride};
use crate::flow::Runner;
use crate::net::{HttpFactory, NetOptions};

#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// Probe files (default: probes/*.yaml).
    pub files: Vec<PathBuf>,
    /// Set a variable: --var name=value (the value may use ${env:NAME}).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Set a variable and treat its value as a secret (redacted everywhere).
    // Checked in validation, not by a value parser: clap's error would show
    // the secret.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// Only these flows (repeatable); also selects optional flows. `+NAME` adds
    /// NAME (e.g. an optional flow) to the default flows instead.
    #[arg(long = "flow", value_name = "NAME")]
    pub flows: Vec<String>,
    /// Response body limit per step (e.g. 10MB).
    #[arg(long, value_name = "SIZE", value_parser = super::values::size)]
    pub max_body: Option<u64>,
    /// Extra CA certificates to trust (PEM file).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,
    /// A findings file (repeatable): rule failures accepted until a date, with
    /// a reason; they are reported but do not fail the run (docs/probe-files.md).
    #[arg(long = "accept", value_name = "FILE")]
    pub accept: Vec<PathBuf>,
}

/// A validated plan ready to run: compiled, its flows selected, its client
/// built (CA files read). Not a runner yet: a runner takes the credential
/// guard installed when it is made, and that happens after validation.
pub(super) struct Ready {
    pub plan: Plan,
    pub http: HttpFactory,
    /// Indexes into `plan.flows`, in the order they run.
    pub flows: Vec<usize>,
}

impl Ready {
    /// The flows `flows` names, in that order.
    pub fn chosen<'p>(plan: &'p Plan, flows: &[usize]) -> Vec<&'p Flow> {
        flows.iter().map(|&i| &plan.flows[i]).collect()
    }

    /// What `run`'s scheduler (and the demo's continuous mode) runs.
    pub fn job(self) -> crate::scheduler::Job {
        crate::scheduler::Job {
            runner: Runner::new(Arc::new(self.plan), self.http),
            flows: self.flows,
        }
    }
}

pub(super) fn parse_overrides(a: &PlanArgs) -> Result<Vec<VarOverride>, String> {
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
pub(super) fn default_files(files: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
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

/// The `*.yaml` and `*.yml` probe files of a directory, sorted.
fn yaml_in(dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
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
}

/// `NAME.accepted.yaml` (or `.yml`): a findings file for `--accept`.
fn is_findings_file(p: &std::path::Path) -> bool {
    p.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with(".accepted"))
}

/// Loads and validates a plan to run; its errors are exit 2.
pub(super) fn load_plan(
    a: &PlanArgs,
    sources: Option<Vec<(PathBuf, String)>>,
) -> Result<Plan, CliError> {
    compile_plan(a, sources).map_err(CliError::Invalid)
}

/// The plan, or every problem as text (usage errors prefixed `error: `).
pub(super) fn compile_plan(
    a: &PlanArgs,
    sources: Option<Vec<(PathBuf, String)>>,
) -> Result<Plan, String> {
    compile_plan_for(a, sources, false)
}

/// `lint`: a plan to read, not to run (`check`): values a run needs but
/// that were not given are listed in `Plan::needs` instead of refused.
pub(super) fn compile_plan_for(
    a: &PlanArgs,
    sources: Option<Vec<(PathBuf, String)>>,
    lint: bool,
) -> Result<Plan, String> {
    let overrides = parse_overrides(a).map_err(|e| format!("error: {e}"))?;
    let mut inputs = Inputs::from_process(&overrides);
    inputs.values_optional = lint;
    if let Some(mb) = a.max_body {
        inputs.max_body = Some(mb);
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
        plan.accepted = config::load_accepted(&a.accept, &plan, &crate::check::rule_names)
            .map_err(|errs| errs.to_string())?;
    }
    Ok(plan)
}

/// Flows to run: the named ones, or every non-optional flow (indexes into
/// `plan.flows`, in the order named).
pub(super) fn select(plan: &Plan, names: &[String]) -> Result<Vec<usize>, String> {
    let defaults = || (0..plan.flows.len()).filter(|&i| !plan.flows[i].optional);
    if names.is_empty() {
        return Ok(defaults().collect());
    }
    // `+NAME` adds a flow to the default set instead of replacing it.
    let mut out: Vec<usize> = if names.iter().any(|n| n.starts_with('+')) {
        defaults().collect()
    } else {
        Vec::new()
    };
    for n in names.iter().map(|n| n.strip_prefix('+').unwrap_or(n)) {
        let found: Vec<usize> = (0..plan.flows.len())
            .filter(|&i| plan.flows[i].name == n)
            .collect();
        if found.is_empty() {
            let known: Vec<&str> = plan.flows.iter().map(|f| f.name.as_str()).collect();
            return Err(format!("no flow named `{n}` (flows: {})", known.join(", ")));
        }
        for i in found {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

/// The HTTP client of a plan's runs: `--ca-file` (read now, so a bad file
/// stops the probe before anything runs) and the given in-memory CAs.
fn http_for(plan: &Plan, a: &PlanArgs, ca_pems: Vec<String>) -> anyhow::Result<HttpFactory> {
    HttpFactory::new(&NetOptions {
        ca_files: a.ca_files.clone(),
        ca_pems,
        user_agent: plan.settings.user_agent.clone(),
    })
}

/// `once`: the selected flows in the order named, and the client.
pub(super) fn ready_once(
    plan: Plan,
    a: &PlanArgs,
    ca_pems: Vec<String>,
) -> Result<Ready, CliError> {
    let http = http_for(&plan, a, ca_pems).map_err(|e| usage(e.to_string()))?;
    let flows = select(&plan, &a.flows).map_err(usage)?;
    Ok(Ready { plan, http, flows })
}

/// The flows a job schedules (indexes of the selected flows in plan order,
/// this shard's only), and the client.
pub(super) fn job_for(
    plan: Plan,
    a: &PlanArgs,
    ca_pems: Vec<String>,
    shard: Option<crate::scheduler::Shard>,
) -> Result<Ready, String> {
    let names: Vec<&str> = select(&plan, &a.flows)?
        .into_iter()
        .map(|i| plan.flows[i].name.as_str())
        .collect();
    let flows: Vec<usize> = plan
        .flows
        .iter()
        .enumerate()
        .filter(|(_, f)| names.contains(&f.name.as_str()))
        .filter(|(_, f)| shard.is_none_or(|s| s.owns(f)))
        .map(|(i, _)| i)
        .collect();
    let http = http_for(&plan, a, ca_pems).map_err(|e| e.to_string())?;
    Ok(Ready { plan, http, flows })
}
