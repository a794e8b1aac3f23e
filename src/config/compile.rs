//! Validation: raw YAML types → [`Plan`]. Every problem is collected with its
//! file, line and column; nothing is sent to any target unless this succeeds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use super::error::{ConfigError, ConfigErrors, Pos};
use super::plan::*;
use super::raw::*;
use super::template::{self, BUILTIN_NAMES, Part, Piece, RawRef, Template};
use crate::imagegen::{self, ImageFormat};
use crate::spanned::pos_of;

pub(super) mod checks;
mod urls;

use urls::{KnownVar, UrlProblem, VarOrigin};

/// A variable set from the command line (`--var name=value`, `--secret name=value`).
#[derive(Clone, Debug)]
pub struct VarOverride {
    pub name: String,
    pub value: String,
    pub secret: bool,
}

/// Where values from outside the probe files come from.
pub struct Inputs<'a> {
    pub overrides: &'a [VarOverride],
    /// Looks up an environment variable (tests pass their own).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub settings: Settings,
    /// `--max-body` from the command line (wins over `defaults.max_body`).
    pub max_body: Option<u64>,
    /// Lint mode, for commands that read the plan and never run it (`check`,
    /// `rules`): a variable without a value, an unset `${env:…}` and an
    /// unreadable `${file:…}` are not errors but [`Plan::needs`], so a
    /// repository's CI can validate probe files without production secrets.
    pub values_optional: bool,
}

impl Inputs<'_> {
    pub fn from_process(overrides: &[VarOverride]) -> Inputs<'_> {
        Inputs {
            overrides,
            env: &|k| std::env::var(k).ok(),
            settings: Settings::default(),
            max_body: None,
            values_optional: false,
        }
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const MAX_IMAGE: usize = 64 * 1024 * 1024;
const MAX_FILE_PART: u64 = 64 * 1024 * 1024;

/// Reads, parses and validates probe files into one plan.
pub fn load(paths: &[PathBuf], inputs: &Inputs) -> Result<Plan, ConfigErrors> {
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(s) => sources.push((path.clone(), s)),
            Err(e) => errors.push(ConfigError::file_level(
                path,
                format!("cannot read probe file: {e}"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    load_sources(&sources, inputs)
}

/// Validates probe files given as (path, text): the path names them in errors and
/// anchors relative `file:` references.
pub fn load_sources(sources: &[(PathBuf, String)], inputs: &Inputs) -> Result<Plan, ConfigErrors> {
    let mut errors = Vec::new();
    let mut flows = Vec::new();
    let mut secrets = Vec::new();
    let mut needs: Vec<RunNeed> = Vec::new();
    let mut seen_flows: HashMap<(String, String), PathBuf> = HashMap::new();
    let mut used_overrides = HashSet::new();
    for (path, source) in sources {
        let mut c = Compiler {
            file: path.clone(),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            source,
            errors: Vec::new(),
            secrets: Vec::new(),
            inputs,
            secret_vars: HashSet::new(),
            known: HashMap::new(),
            url_problems: Vec::new(),
            needs: Vec::new(),
        };
        if let Some(file_flows) = c.compile_source(&mut used_overrides) {
            for f in file_flows {
                let key = (f.target.clone(), f.name.clone());
                if let Some(prev) = seen_flows.get(&key) {
                    c.err(
                        f.pos,
                        format!(
                            "flow `{}` of target `{}` is also defined in {}: flow names must be unique per target",
                            f.name,
                            f.target,
                            prev.display()
                        ),
                    );
                } else {
                    seen_flows.insert(key, path.clone());
                    flows.push(f);
                }
            }
        }
        // Report in reading order, whatever order the checks ran in.
        c.errors.sort_by_key(|e| (e.pos.line, e.pos.col));
        errors.extend(c.errors);
        secrets.extend(c.secrets);
        for n in c.needs {
            if !needs.iter().any(|m| m.name == n.name && m.kind == n.kind) {
                needs.push(n);
            }
        }
    }
    for o in inputs.overrides {
        if !used_overrides.contains(&o.name) && errors.is_empty() {
            errors.push(ConfigError::command_line(
                format!(
                    "`{} {}` sets a variable that no probe file declares; declare it under `vars:` (declared names are checked to catch typos)",
                    if o.secret { "--secret" } else { "--var" },
                    o.name
                ),
            ));
        }
    }
    if errors.is_empty() && flows.is_empty() {
        errors.push(ConfigError::command_line(
            "no flows to run: give at least one probe file with a flow",
        ));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    secrets.sort();
    secrets.dedup();
    Ok(Plan {
        flows,
        secrets,
        settings: inputs.settings.clone(),
        accepted: Vec::new(),
        needs,
    })
}

struct Compiler<'a> {
    file: PathBuf,
    dir: PathBuf,
    source: &'a str,
    errors: Vec<ConfigError>,
    secrets: Vec<String>,
    inputs: &'a Inputs<'a>,
    /// The secret variables of the flow being compiled (a `login_timing`
    /// password must be one, so the credential guard sees it).
    secret_vars: HashSet<String>,
    /// The variables in scope with what compile time knows of their values
    /// (globals, plus the flow's own while a flow compiles): URLs are
    /// resolved through them.
    known: HashMap<String, KnownVar>,
    url_problems: Vec<UrlProblem>,
    /// Lint mode: what a run will need that was not given.
    needs: Vec<RunNeed>,
}

/// What a name may refer to while compiling a step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Var,
    /// Captured by an earlier step of the same flow.
    Capture,
    /// Captured by a later step (index), so not yet available.
    LaterCapture(usize),
}

/// What a template of a step may name (`known`) and the captures the
/// step's templates need so far (`needs`, added as they are used): carried
/// through every part of a step's validation.
struct StepNames<'n> {
    known: &'n HashMap<String, NameKind>,
    needs: Vec<String>,
}

impl<'n> StepNames<'n> {
    /// Nothing needed yet (also the throwaway of a template whose needs do
    /// not count: a variable's, a default header's, a `cleans` or `leaves`
    /// description).
    fn new(known: &'n HashMap<String, NameKind>) -> Self {
        StepNames {
            known,
            needs: Vec::new(),
        }
    }

    /// The captures the step needs, sorted, each once.
    fn into_needs(mut self) -> Vec<String> {
        self.needs.sort();
        self.needs.dedup();
        self.needs
    }
}

impl<'a> Compiler<'a> {
    fn err(&mut self, pos: Pos, msg: impl Into<String>) {
        self.errors
            .push(ConfigError::new(&self.file, self.source, pos, msg));
    }

    /// Position of a byte offset inside a single-line scalar that starts at `pos`.
    fn pos_in(&self, pos: Pos, text: &str, offset: usize) -> Pos {
        if !pos.is_known() || text[..offset.min(text.len())].contains('\n') {
            return pos;
        }
        let line = self.source.lines().nth(pos.line as usize - 1).unwrap_or("");
        let quoted = line
            .chars()
            .nth(pos.col as usize - 1)
            .is_some_and(|c| c == '"' || c == '\'');
        let chars = text[..offset.min(text.len())].chars().count() as u32;
        Pos {
            line: pos.line,
            col: pos.col + chars + quoted as u32,
        }
    }

    /// One probe file: its target, global variables, defaults and flows;
    /// None when it has an error.
    fn compile_source(&mut self, used_overrides: &mut HashSet<String>) -> Option<Vec<Flow>> {
        if self.source.trim().is_empty() {
            self.err(
                Pos { line: 1, col: 1 },
                "probe file is empty: it needs at least a `flows:` list",
            );
            return None;
        }
        let raw: RawFile = match super::yaml::parse(self.source) {
            Ok(r) => r,
            Err((pos, msg)) => {
                self.err(pos, msg);
                return None;
            }
        };
        let target = self.file_target(&raw)?;
        let globals = Arc::new(self.compile_globals(&raw.vars, used_overrides));
        let global_names: HashSet<String> = globals.iter().map(|v| v.name.clone()).collect();
        let secret_globals: HashSet<String> = globals
            .iter()
            .filter(|v| v.secret)
            .map(|v| v.name.clone())
            .collect();

        let d = &raw.defaults;
        let timeout = self.duration_opt(d.timeout.as_ref(), DEFAULT_TIMEOUT);
        let deadline = self.duration_opt(d.deadline.as_ref(), DEFAULT_DEADLINE);
        let interval = self.duration_opt(d.interval.as_ref(), DEFAULT_INTERVAL);
        let max_body = self.default_max_body(d);
        let default_headers = self.default_headers(d, &global_names);

        if raw.flows.value.is_empty() {
            self.err(
                pos_of(&raw.flows),
                "`flows:` is empty: add at least one flow",
            );
        }
        let mut flows = Vec::new();
        let mut flow_names = HashMap::new();
        for rf in &raw.flows.value {
            let name = &rf.value.name;
            if !valid_label(&name.value) {
                self.err(
                    pos_of(name),
                    format!(
                        "flow name `{}` must be 1-64 characters of letters, digits, `_`, `-`, `.` (it is a metric label)",
                        name.value
                    ),
                );
            }
            if let Some(prev) = flow_names.insert(name.value.clone(), pos_of(name)) {
                self.err(
                    pos_of(name),
                    format!(
                        "duplicate flow name `{}` (first defined at line {})",
                        name.value, prev.line
                    ),
                );
            }
            let ctx = FlowDefaults {
                timeout,
                max_body,
                headers: &default_headers,
            };
            if let Some(f) =
                self.compile_flow(&rf.value, pos_of(rf), &global_names, &secret_globals, &ctx)
            {
                flows.push(Flow {
                    target: target.clone(),
                    file: self.file.clone(),
                    globals: globals.clone(),
                    interval: f.interval.unwrap_or(interval),
                    deadline: f.deadline.unwrap_or(deadline),
                    ..f.flow
                });
            }
        }
        self.report_url_problems();
        if self.errors.is_empty() {
            Some(flows)
        } else {
            None
        }
    }

    /// The file's target name (its `target:`, else the file's stem), after
    /// checking its `version:`; None when the name is not a valid label.
    fn file_target(&mut self, raw: &RawFile) -> Option<String> {
        if let Some(v) = &raw.version
            && v.value != 1
        {
            self.err(
                pos_of(v),
                format!(
                    "unsupported probe-file version {}: this smokeprobe reads version 1",
                    v.value
                ),
            );
        }
        match &raw.target {
            Some(t) if valid_label(&t.value) => Some(t.value.clone()),
            Some(t) => {
                self.err(
                    pos_of(t),
                    "target name must be 1-64 characters of letters, digits, `_`, `-`, `.` (it is a metric label)",
                );
                None
            }
            None => Some(
                self.file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "default".into()),
            ),
        }
    }

    /// The file's `defaults.max_body`: the command line wins over the file,
    /// which wins over the built-in default.
    fn default_max_body(&mut self, d: &RawDefaults) -> u64 {
        match (&self.inputs.max_body, &d.max_body) {
            (Some(cli), _) => *cli,
            (None, Some(s)) => self
                .size(pos_of(s), &RawSize::Text(s.value.clone()))
                .unwrap_or(0),
            (None, None) => self.inputs.settings.max_body,
        }
    }

    /// The file's `defaults.headers`, names lowercased; their values may use
    /// the global variables.
    fn default_headers(
        &mut self,
        d: &RawDefaults,
        global_names: &HashSet<String>,
    ) -> Vec<(String, Template)> {
        let mut default_headers = Vec::new();
        for (k, v) in &d.headers {
            self.check_header_name(pos_of(v), k);
            let names: HashMap<String, NameKind> = global_names
                .iter()
                .map(|n| (n.clone(), NameKind::Var))
                .collect();
            if let Some(t) = self.template(v, &mut StepNames::new(&names)) {
                default_headers.push((k.to_ascii_lowercase(), t));
            }
        }
        default_headers
    }

    /// The global variables: each one's value chosen and compiled, then
    /// ordered so each comes after the ones it uses.
    fn compile_globals(
        &mut self,
        vars: &BTreeMap<String, S<RawVar>>,
        used_overrides: &mut HashSet<String>,
    ) -> Vec<VarDef> {
        let mut defs: Vec<GlobalDef> = Vec::new();
        for (name, v) in vars {
            if let Some(def) = self.global_def(name, v, used_overrides) {
                defs.push(def);
            }
        }
        let names: HashMap<String, NameKind> = defs
            .iter()
            .map(|d| (d.name.clone(), NameKind::Var))
            .collect();
        let mut compiled = Vec::new();
        for GlobalDef {
            name,
            pos,
            value,
            secret,
            from_cli,
            rate_limited,
            origin,
            known,
        } in defs
        {
            let mut consts = Vec::new();
            let before = self.errors.len();
            let t =
                self.template_with_consts(pos, &value, &mut StepNames::new(&names), &mut consts);
            if let Some(flag_secret) = from_cli {
                // The value came from the command line: say so, not the file's line.
                let flag = if flag_secret { "--secret" } else { "--var" };
                for e in &mut self.errors[before..] {
                    e.file = PathBuf::from("<command line>");
                    e.pos = Pos::default();
                    e.snippet = None;
                    e.message = format!("{flag} {name}: {}", e.message);
                }
            }
            if let Some(t) = t {
                if secret || consts.iter().any(|(_, from_file)| *from_file) {
                    self.secrets.extend(consts.iter().map(|(c, _)| c.clone()));
                }
                self.known.insert(
                    name.clone(),
                    KnownVar {
                        value: known.then(|| t.clone()),
                        origin,
                        secret,
                    },
                );
                compiled.push((
                    VarDef {
                        name,
                        value: t,
                        secret,
                        rate_limited,
                    },
                    pos,
                ));
            }
        }
        self.order_vars(compiled)
    }

    /// One global variable before its template is compiled: its name checked
    /// and its value taken from `--var`/`--secret`, else `SMOKEPROBE_VAR_*`,
    /// else the file (in lint mode a missing one is a need); None when the
    /// name or the file's value is unusable.
    fn global_def(
        &mut self,
        name: &str,
        v: &S<RawVar>,
        used_overrides: &mut HashSet<String>,
    ) -> Option<GlobalDef> {
        let pos = pos_of(v);
        if !valid_var_name(name) {
            self.err(
                pos,
                format!("variable name `{name}` must be letters, digits, `_` or `-`, starting with a letter or `_`"),
            );
            return None;
        }
        if BUILTIN_NAMES.contains(&name) {
            self.err(
                pos,
                format!("`{name}` is a built-in name; pick another variable name"),
            );
            return None;
        }
        let rate_limited = matches!(&v.value, RawVar::Full(f) if f.rate_limited);
        let (file_value, mut secret) = self.file_value(name, pos, &v.value)?;
        let cli = self.inputs.overrides.iter().rev().find(|o| o.name == name);
        let env_key = format!(
            "SMOKEPROBE_VAR_{}",
            name.to_ascii_uppercase().replace('-', "_")
        );
        let mut known = true;
        let (value, origin) = if let Some(o) = cli {
            used_overrides.insert(name.to_owned());
            secret |= o.secret;
            (o.value.clone(), VarOrigin::Cli { secret: o.secret })
        } else if let Some(e) = (self.inputs.env)(&env_key) {
            // Taken literally: an environment value is data, not a template.
            (e.replace('$', "$$"), VarOrigin::Env(env_key.clone()))
        } else if let Some(fv) = file_value {
            (fv, VarOrigin::File(pos))
        } else if self.inputs.values_optional {
            known = false;
            self.needs.push(RunNeed {
                kind: NeedKind::Var { secret },
                name: name.to_owned(),
                how: if secret {
                    format!("secret, from --secret {name}=… or {env_key}")
                } else {
                    format!("from --var {name}=… or {env_key}")
                },
            });
            (String::new(), VarOrigin::File(pos))
        } else {
            self.err(
                pos,
                format!(
                    "variable `{name}` has no value: pass `--var {name}=…` (or `--secret {name}=…`) or set {env_key}"
                ),
            );
            // Still defined, so its uses are not reported as undefined too.
            known = false;
            (String::new(), VarOrigin::File(pos))
        };
        Some(GlobalDef {
            name: name.to_owned(),
            pos,
            value,
            secret,
            from_cli: cli.map(|o| o.secret),
            rate_limited,
            origin,
            known,
        })
    }

    /// The value a probe file gives a variable (None: none given) and whether
    /// the file says it is secret; None when the value is a list or a map.
    fn file_value(&mut self, name: &str, pos: Pos, v: &RawVar) -> Option<(Option<String>, bool)> {
        Some(match v {
            RawVar::Text(s) => (Some(s.clone()), false),
            RawVar::Number(n) => (Some(fmt_number(*n)), false),
            RawVar::Bool(b) => (Some(b.to_string()), false),
            RawVar::Full(f) => (
                match &f.value {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
                    Some(_) => {
                        self.err(
                            pos,
                            format!(
                                "variable `{name}`: `value` must be a string, number or boolean"
                            ),
                        );
                        return None;
                    }
                },
                f.secret,
            ),
        })
    }

    /// Orders variables so each comes after the ones it uses; reports cycles.
    fn order_vars(&mut self, vars: Vec<(VarDef, Pos)>) -> Vec<VarDef> {
        let index: HashMap<String, usize> = vars
            .iter()
            .enumerate()
            .map(|(i, (v, _))| (v.name.clone(), i))
            .collect();
        // 0 = unvisited, 1 = in progress, 2 = done
        let mut state = vec![0u8; vars.len()];
        let mut order = Vec::new();
        fn visit(
            i: usize,
            vars: &[(VarDef, Pos)],
            index: &HashMap<String, usize>,
            state: &mut [u8],
            order: &mut Vec<usize>,
        ) -> Result<(), usize> {
            match state[i] {
                2 => return Ok(()),
                1 => return Err(i),
                _ => {}
            }
            state[i] = 1;
            for dep in vars[i].0.value.var_names() {
                if let Some(&j) = index.get(dep) {
                    visit(j, vars, index, state, order)?;
                }
            }
            state[i] = 2;
            order.push(i);
            Ok(())
        }
        for i in 0..vars.len() {
            if let Err(j) = visit(i, &vars, &index, &mut state, &mut order) {
                let (v, pos) = &vars[j];
                self.err(
                    *pos,
                    format!(
                        "variable `{}` refers to itself through other variables (a cycle)",
                        v.name
                    ),
                );
                // Keep every name defined so uses elsewhere don't add knock-on errors.
                return vars.into_iter().map(|(v, _)| v).collect();
            }
        }
        // A variable whose secret value feeds another: the other is secret too.
        let mut out: Vec<VarDef> = order.into_iter().map(|i| vars[i].0.clone()).collect();
        let mut secret_names: HashSet<String> = out
            .iter()
            .filter(|v| v.secret)
            .map(|v| v.name.clone())
            .collect();
        for v in out.iter_mut() {
            if !v.secret && v.value.var_names().any(|n| secret_names.contains(n)) {
                v.secret = true;
                secret_names.insert(v.name.clone());
            }
        }
        out
    }

    /// One flow: its variables (known to its URLs while it compiles), its
    /// steps; the interval and deadline it sets, if any.
    fn compile_flow(
        &mut self,
        rf: &RawFlow,
        pos: Pos,
        globals: &HashSet<String>,
        secret_globals: &HashSet<String>,
        d: &FlowDefaults,
    ) -> Option<CompiledFlow> {
        if let Some(g) = &rf.group
            && (g.value.trim().is_empty() || g.value.len() > 64)
        {
            self.err(pos_of(g), "`group` must be 1-64 characters");
        }
        let interval = rf.interval.as_ref().and_then(|s| self.duration(s));
        let deadline = rf.deadline.as_ref().and_then(|s| self.duration(s));
        if rf.steps.is_empty() {
            self.err(pos, format!("flow `{}` has no steps", rf.name.value));
        }
        let mut names: HashMap<String, NameKind> =
            globals.iter().map(|n| (n.clone(), NameKind::Var)).collect();
        let flow_vars = self.flow_vars(&rf.vars, &mut names, secret_globals);
        self.secret_vars = secret_globals.clone();
        self.secret_vars.extend(
            flow_vars
                .iter()
                .filter(|v| v.secret)
                .map(|v| v.name.clone()),
        );
        // The flow's variables are known to its URLs (and hide globals of the
        // same name), for this flow only.
        let globals_known = self.known.clone();
        for v in &flow_vars {
            let at = rf.vars.get(&v.name).map(pos_of).unwrap_or(pos);
            self.known.insert(
                v.name.clone(),
                KnownVar {
                    value: Some(v.value.clone()),
                    origin: VarOrigin::Flow(at),
                    secret: v.secret,
                },
            );
        }

        // Captures of later steps are known, so "used before defined" can say where.
        for (i, st) in rf.steps.iter().enumerate() {
            for cname in st.value.capture.keys() {
                names
                    .entry(cname.clone())
                    .or_insert(NameKind::LaterCapture(i));
            }
        }
        let steps = self.compile_steps(rf, &mut names, d);
        self.known = globals_known;
        Some(CompiledFlow {
            flow: Flow {
                name: rf.name.value.clone(),
                target: String::new(),
                file: PathBuf::new(),
                pos,
                description: rf.description.clone(),
                group: rf.group.as_ref().map(|g| g.value.trim().to_string()),
                optional: rf.optional,
                interval: Duration::ZERO,
                deadline: Duration::ZERO,
                globals: Arc::new(Vec::new()),
                vars: flow_vars,
                steps,
            },
            interval,
            deadline,
        })
    }

    /// The flow's own variables, which may use globals and each other: their
    /// names put in `names`, their templates compiled (secret when they use a
    /// secret global), ordered so each comes after the ones it uses.
    fn flow_vars(
        &mut self,
        vars: &BTreeMap<String, S<String>>,
        names: &mut HashMap<String, NameKind>,
        secret_globals: &HashSet<String>,
    ) -> Vec<VarDef> {
        let mut flow_vars = Vec::new();
        for (name, v) in vars {
            if !valid_var_name(name) || BUILTIN_NAMES.contains(&name.as_str()) {
                self.err(
                    pos_of(v),
                    format!("`{name}` can't be used as a variable name"),
                );
                continue;
            }
            names.insert(name.clone(), NameKind::Var);
        }
        for (name, v) in vars {
            if let Some(t) = self.template(v, &mut StepNames::new(names)) {
                let secret = t.var_names().any(|n| secret_globals.contains(n));
                flow_vars.push((
                    VarDef {
                        name: name.clone(),
                        value: t,
                        secret,
                        rate_limited: false,
                    },
                    pos_of(v),
                ));
            }
        }
        self.order_vars(flow_vars)
    }

    /// The flow's steps, in order: each needs a name unique in the flow, and
    /// its captures come into scope for the steps after it.
    fn compile_steps(
        &mut self,
        rf: &RawFlow,
        names: &mut HashMap<String, NameKind>,
        d: &FlowDefaults,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut step_names = HashMap::new();
        for (i, rs) in rf.steps.iter().enumerate() {
            let Some(sname) = &rs.value.name else {
                self.err(
                    pos_of(rs),
                    "step has no `name`: every step needs one (it labels results and metrics)",
                );
                continue;
            };
            if let Some(prev) = step_names.insert(sname.value.clone(), pos_of(sname)) {
                self.err(
                    pos_of(sname),
                    format!(
                        "duplicate step name `{}` in flow `{}` (first at line {})",
                        sname.value, rf.name.value, prev.line
                    ),
                );
            }
            if let Some(s) = self.compile_step(&rs.value, sname, pos_of(rs), names, d) {
                steps.push(s);
            }
            for (cname, c) in &rs.value.capture {
                match names.get(cname) {
                    Some(NameKind::Var) => self.err(
                        pos_of(c),
                        format!(
                            "capture `{cname}` has the same name as a variable; rename one of them"
                        ),
                    ),
                    Some(NameKind::LaterCapture(j)) if *j != i => self.err(
                        pos_of(c),
                        format!(
                            "`{cname}` is captured by two steps; give each capture its own name"
                        ),
                    ),
                    _ => {}
                }
                if BUILTIN_NAMES.contains(&cname.as_str()) || !valid_var_name(cname) {
                    self.err(
                        pos_of(c),
                        format!("`{cname}` can't be used as a capture name"),
                    );
                }
                names.insert(cname.clone(), NameKind::Capture);
            }
        }
        steps
    }

    /// One step: its name, `for_each`, `cleans` and `leaves`, then either its
    /// one check kind or its request.
    fn compile_step(
        &mut self,
        rs: &RawStep,
        name: &S<String>,
        pos: Pos,
        names: &HashMap<String, NameKind>,
        d: &FlowDefaults,
    ) -> Option<Step> {
        if name.value.trim().is_empty() || name.value.len() > 64 {
            self.err(pos_of(name), "step name must be 1-64 characters");
        }
        let with_item;
        let mut names = StepNames::new(names);
        let for_each = rs
            .for_each
            .as_ref()
            .and_then(|fe| self.for_each(fe, &mut names));
        // The item of a `for_each` is a variable of this step only (known even
        // when the `for_each` is invalid, so its uses add no knock-on errors).
        if let Some(fe) = &rs.for_each
            && !names.known.contains_key(&fe.value.item)
        {
            let mut n = names.known.clone();
            n.insert(fe.value.item.clone(), NameKind::Var);
            with_item = n;
            names.known = &with_item;
        }
        let cleans = rs.cleans.as_ref().and_then(|c| {
            if !rs.always {
                self.err(
                    pos_of(c),
                    "`cleans` says what a cleanup step deletes: it needs `always: true`",
                );
            }
            // Not a need: a description that cannot be expanded falls back
            // to the captured values.
            self.template(c, &mut StepNames::new(names.known))
        });
        let leaves = rs
            .leaves
            .as_ref()
            .and_then(|l| self.leaves(rs, l, names.known));
        let kinds = checks::kinds(rs);
        if kinds.len() > 1 {
            self.err_kinds(pos, &kinds);
            return None;
        }
        if let Some(kind) = kinds.first() {
            self.check_step_fields(rs, name, pos, kind);
            let (check, url) = self.check(rs, &mut names)?;
            let timeout = self.duration_opt(rs.timeout.as_ref(), d.timeout);
            let budget = rs.budget.as_ref().and_then(|b| self.budget(b));
            let needs = names.into_needs();
            return Some(Step {
                name: name.value.clone(),
                pos,
                method: http::Method::GET,
                url,
                headers: Vec::new(),
                query: Vec::new(),
                body: Body::None,
                timeout,
                redirects: 0,
                always: rs.always,
                cleans,
                leaves,
                poll: None,
                budget,
                asserts: Vec::new(),
                captures: Vec::new(),
                needs,
                max_body: d.max_body,
                check: Some(check),
                for_each: None,
            });
        }
        let step = self.request_step(rs, name, pos, names, d)?;
        Some(Step {
            cleans,
            leaves,
            for_each,
            ..step
        })
    }

    /// A request step but for what every step has (`cleans`, `leaves`,
    /// `for_each`: the caller's): its request, timeout, redirects, polling,
    /// budget, expectations and captures; None without a usable `url`.
    fn request_step(
        &mut self,
        rs: &RawStep,
        name: &S<String>,
        pos: Pos,
        mut names: StepNames<'_>,
        d: &FlowDefaults,
    ) -> Option<Step> {
        let Some(raw_url) = &rs.url else {
            self.err(pos, format!("step `{}` has no `url`", name.value));
            return None;
        };
        let method = self.method(rs.method.as_ref());
        let url = self.template(raw_url, &mut names);
        if let Some(t) = &url {
            self.check_url_value(pos_of(raw_url), "url", t, &["http", "https"]);
        }
        let (headers, query) = self.headers_and_query(rs, d, &mut names);
        let body = self.request_body(rs, pos, &mut names);
        let timeout = self.duration_opt(rs.timeout.as_ref(), d.timeout);
        let redirects = self.redirects(rs);
        let poll = self.poll(rs);
        let budget = rs.budget.as_ref().and_then(|b| self.budget(b));
        let mut asserts = Vec::new();
        if let Some(e) = &rs.expect {
            self.expect(e, &mut names, &mut asserts);
        }
        let mut captures = Vec::new();
        for (name, c) in &rs.capture {
            if let Some(cap) = self.capture(name, c, &mut names) {
                captures.push(cap);
            }
        }
        let needs = names.into_needs();
        Some(Step {
            name: name.value.clone(),
            pos,
            method,
            url: url?,
            headers,
            query,
            body,
            timeout,
            redirects,
            always: rs.always,
            cleans: None,
            leaves: None,
            poll,
            budget,
            asserts,
            captures,
            needs,
            max_body: d.max_body,
            check: None,
            for_each: None,
        })
    }

    /// A step holding two check kinds.
    fn err_kinds(&mut self, pos: Pos, kinds: &[&str]) {
        self.err(
            pos,
            format!(
                "a step runs one check, this one has {}: split it into steps",
                kinds
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        );
    }

    /// What a check step may not have: `for_each`, and the fields of a request.
    fn check_step_fields(&mut self, rs: &RawStep, name: &S<String>, pos: Pos, kind: &str) {
        if let Some(fe) = &rs.for_each {
            self.err(
                pos_of(fe),
                format!("`for_each` repeats a request; a `{kind}` check can't be repeated"),
            );
        }
        let extra = checks::request_fields(rs);
        if !extra.is_empty() {
            self.err(
                pos,
                format!(
                    "step `{}` is a `{kind}` check, which sends its own requests: remove {}",
                    name.value,
                    extra
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    /// A request step's headers (over the flow's defaults) and query.
    fn headers_and_query(
        &mut self,
        rs: &RawStep,
        d: &FlowDefaults,
        names: &mut StepNames<'_>,
    ) -> (Pairs, Pairs) {
        let mut headers = d.headers.to_vec();
        for (k, v) in &rs.headers {
            self.check_header_name(pos_of(v), k);
            if let Some(t) = self.template(v, names) {
                let k = k.to_ascii_lowercase();
                headers.retain(|(n, _)| *n != k);
                headers.push((k, t));
            }
        }
        let mut query = Vec::new();
        for (k, v) in &rs.query {
            if let Some(t) = self.template(v, names) {
                query.push((k.clone(), t));
            }
        }
        (headers, query)
    }

    /// A request step's body: at most one of `json`, `form`, `body`, `multipart`.
    fn request_body(&mut self, rs: &RawStep, pos: Pos, names: &mut StepNames<'_>) -> Body {
        let bodies = how_many(&[
            rs.json.is_some(),
            rs.form.is_some(),
            rs.body.is_some(),
            rs.multipart.is_some(),
        ]);
        if bodies > 1 {
            self.err(
                pos,
                "a step can have only one of `json`, `form`, `body` and `multipart`",
            );
        }
        if let Some(j) = &rs.json {
            Body::Json(self.json_template(pos_of(j), &j.value, names))
        } else if let Some(f) = &rs.form {
            let mut fields = Vec::new();
            for (k, v) in f {
                if let Some(t) = self.template(v, names) {
                    fields.push((k.clone(), t));
                }
            }
            Body::Form(fields)
        } else if let Some(b) = &rs.body {
            self.template(b, names)
                .map(Body::Text)
                .unwrap_or(Body::None)
        } else if let Some(parts) = &rs.multipart {
            let mut specs = Vec::new();
            for p in parts {
                if let Some(s) = self.part(p, names) {
                    specs.push(s);
                }
            }
            if specs.is_empty() && self.errors.is_empty() {
                self.err(pos, "`multipart` needs at least one part");
            }
            Body::Multipart(specs)
        } else {
            Body::None
        }
    }

    /// `follow_redirects:` as a hop count.
    fn redirects(&mut self, rs: &RawStep) -> u8 {
        match &rs.follow_redirects {
            None => 0,
            Some(r) => match r.value {
                RawRedirects::Flag(true) => 10,
                RawRedirects::Flag(false) => 0,
                RawRedirects::Hops(n) if (0..=20).contains(&n) => n as u8,
                RawRedirects::Hops(_) => {
                    self.err(
                        pos_of(r),
                        "`follow_redirects` must be true, false or a hop count from 0 to 20",
                    );
                    0
                }
            },
        }
    }

    /// `poll:`: `within` at least `every`.
    fn poll(&mut self, rs: &RawStep) -> Option<Poll> {
        rs.poll.as_ref().and_then(|p| {
            let every = self.duration(&p.value.every)?;
            let within = self.duration(&p.value.within)?;
            if within < every {
                self.err(pos_of(p), "`poll.within` must be at least `poll.every`");
                return None;
            }
            Some(Poll { every, within })
        })
    }

    /// `leaves:`: what a 2xx answer to a request step creates and no step
    /// can delete. It may name the step's own captures (it is expanded after
    /// the step), and is no need: a value the answer lacked leaves the text
    /// unexpanded rather than the step skipped.
    fn leaves(
        &mut self,
        rs: &RawStep,
        l: &S<String>,
        names: &HashMap<String, NameKind>,
    ) -> Option<Template> {
        let conflict = if rs.cleans.is_some() {
            Some("`cleans` (it deletes what it names)")
        } else if !checks::kinds(rs).is_empty() {
            Some("a built-in check (checks create nothing)")
        } else if rs.for_each.is_some() {
            Some("`for_each` (name what one request creates in its own step)")
        } else if rs.poll.is_some() {
            Some("`poll` (every 2xx attempt would create another one)")
        } else {
            None
        };
        if let Some(what) = conflict {
            self.err(
                pos_of(l),
                format!(
                    "`leaves` says what this step creates and no step can delete; it can't go with {what}"
                ),
            );
            return None;
        }
        let mut own = names.clone();
        for cname in rs.capture.keys() {
            own.insert(cname.clone(), NameKind::Capture);
        }
        self.template(l, &mut StepNames::new(&own))
    }

    fn for_each(&mut self, fe: &S<RawForEach>, names: &mut StepNames<'_>) -> Option<ForEach> {
        let pos = pos_of(fe);
        let RawForEach { list, item, max } = &fe.value;
        let mut ok = true;
        match names.known.get(list) {
            Some(NameKind::Var) => {}
            Some(NameKind::Capture) => names.needs.push(list.clone()),
            Some(NameKind::LaterCapture(_)) => {
                self.err(
                    pos,
                    format!("for_each: `{list}` is used before it is captured: it is captured by a later step"),
                );
                ok = false;
            }
            None => {
                self.err(
                    pos,
                    format!("for_each: `in: {list}` names no variable or earlier capture (capture a list with `all: true`)"),
                );
                ok = false;
            }
        }
        if BUILTIN_NAMES.contains(&item.as_str()) || !valid_var_name(item) {
            self.err(
                pos,
                format!("for_each: `{item}` can't be used as the item's name"),
            );
            ok = false;
        } else if names.known.contains_key(item) {
            self.err(
                pos,
                format!("for_each: `as: {item}` would hide the variable or capture `{item}`; pick another name"),
            );
            ok = false;
        }
        let max = max.unwrap_or(100);
        if !(1..=10_000).contains(&max) {
            self.err(
                pos,
                format!("for_each: `max` must be from 1 to 10000, not {max}"),
            );
            ok = false;
        }
        ok.then(|| ForEach {
            list: list.clone(),
            item: item.clone(),
            max,
        })
    }

    fn part(&mut self, p: &S<RawPart>, names: &mut StepNames<'_>) -> Option<PartSpec> {
        let rp = &p.value;
        let count = how_many(&[rp.value.is_some(), rp.file.is_some(), rp.image.is_some()]);
        if count != 1 {
            self.err(
                pos_of(p),
                format!(
                    "multipart part `{}` needs exactly one of `value`, `file` and `image`",
                    rp.name.value
                ),
            );
            return None;
        }
        let mut filename = rp.filename.as_ref().map(|f| f.value.clone());
        let mut content_type = rp.content_type.as_ref().map(|c| c.value.clone());
        let source = if let Some(v) = &rp.value {
            PartSource::Value(self.template(v, names)?)
        } else if let Some(f) = &rp.file {
            let path = self.dir.join(&f.value);
            let meta = std::fs::metadata(&path);
            match meta {
                Ok(m) if m.len() > MAX_FILE_PART => {
                    self.err(
                        pos_of(f),
                        format!("file `{}` is larger than 64 MiB", path.display()),
                    );
                    return None;
                }
                Err(e) => {
                    self.err(
                        pos_of(f),
                        format!("cannot read multipart file `{}`: {e}", path.display()),
                    );
                    return None;
                }
                Ok(_) => {}
            }
            match std::fs::read(&path) {
                Ok(bytes) => {
                    if filename.is_none() {
                        filename = path.file_name().map(|n| n.to_string_lossy().into_owned());
                    }
                    PartSource::File(Arc::new(bytes))
                }
                Err(e) => {
                    self.err(
                        pos_of(f),
                        format!("cannot read multipart file `{}`: {e}", path.display()),
                    );
                    return None;
                }
            }
        } else {
            let img = rp.image.as_ref()?;
            let Some(format) = ImageFormat::parse(&img.value.format.value) else {
                self.err(
                    pos_of(&img.value.format),
                    format!(
                        "image format `{}` is not supported: use `png` or `jpeg`",
                        img.value.format.value
                    ),
                );
                return None;
            };
            let size = self.size(pos_of(&img.value.size), &img.value.size.value)? as usize;
            if size > MAX_IMAGE {
                self.err(
                    pos_of(&img.value.size),
                    "generated images are limited to 64 MiB",
                );
                return None;
            }
            if size < imagegen::min_size(format) {
                self.err(
                    pos_of(&img.value.size),
                    format!(
                        "a {} image can't be smaller than {} bytes",
                        format.extension(),
                        imagegen::min_size(format)
                    ),
                );
                return None;
            }
            filename.get_or_insert_with(|| format!("probe.{}", format.extension()));
            content_type.get_or_insert_with(|| format.mime().to_string());
            PartSource::Image { format, size }
        };
        Some(PartSpec {
            name: rp.name.value.clone(),
            source,
            filename,
            content_type,
        })
    }

    fn budget(&mut self, b: &S<RawBudget>) -> Option<Budget> {
        let pos = pos_of(b);
        let parse = |c: &mut Self, s: &Option<String>| -> Option<Option<Duration>> {
            match s {
                None => Some(None),
                Some(t) => c.duration_at(pos, t).map(Some),
            }
        };
        let budget = match &b.value {
            RawBudget::P95(s) => Budget {
                p95: Some(self.duration_at(pos, s)?),
                ..Budget::default()
            },
            RawBudget::Full(f) => Budget {
                p50: parse(self, &f.p50)?,
                p95: parse(self, &f.p95)?,
                p99: parse(self, &f.p99)?,
            },
        };
        if budget == Budget::default() {
            self.err(pos, "`budget` needs at least one of p50, p95, p99");
            return None;
        }
        Some(budget)
    }

    /// A step's `expect:`, as assertions in the order the file's keys are read.
    fn expect(&mut self, e: &RawExpect, names: &mut StepNames<'_>, out: &mut Vec<Assertion>) {
        if let Some(s) = &e.status
            && let Some(m) = self.status(s)
        {
            out.push(Assertion::Status(m));
        }
        for (name, hc) in &e.headers {
            self.expect_header(name, hc, names, out);
        }
        if let Some(ct) = &e.content_type {
            out.push(Assertion::ContentType(ct.value.to_ascii_lowercase()));
        }
        for jc in &e.json {
            self.expect_json(jc, names, out);
        }
        for b in &e.body_contains {
            if let Some(t) = self.template(b, names) {
                out.push(Assertion::BodyContains(t));
            }
        }
        for b in &e.body_not_contains {
            if let Some(t) = self.template(b, names) {
                out.push(Assertion::BodyNotContains(t));
            }
        }
        if let Some(r) = &e.body_size
            && let Some((min, max)) = self.range(pos_of(r), &r.value)
        {
            out.push(Assertion::BodySize { min, max });
        }
        if let Some(d) = &e.duration
            && let Some(d) = self.duration(d)
        {
            out.push(Assertion::Duration(d));
        }
    }

    /// The checks of one header under `expect.headers` (one value: equals).
    fn expect_header(
        &mut self,
        name: &str,
        hc: &S<RawHeaderCheck>,
        names: &mut StepNames<'_>,
        out: &mut Vec<Assertion>,
    ) {
        let pos = pos_of(hc);
        self.check_header_name(pos, name);
        let name = name.to_ascii_lowercase();
        let checks: Vec<HeaderCheck> = match &hc.value {
            RawHeaderCheck::Equals(v) => self
                .template_at(pos, v, names)
                .map(HeaderCheck::Equals)
                .into_iter()
                .collect(),
            RawHeaderCheck::Full(f) => {
                let mut v = Vec::new();
                let tmpl = |c: &mut Self, s: &String, names: &mut StepNames<'_>| {
                    c.template_at(pos, s, names)
                };
                if let Some(s) = &f.equals {
                    v.extend(tmpl(self, s, names).map(HeaderCheck::Equals));
                }
                if let Some(s) = &f.contains {
                    v.extend(tmpl(self, s, names).map(HeaderCheck::Contains));
                }
                if let Some(s) = &f.matches {
                    v.extend(self.regex(pos, s).map(HeaderCheck::Matches));
                }
                match f.absent {
                    Some(true) => v.push(HeaderCheck::Absent),
                    Some(false) => v.push(HeaderCheck::Present),
                    None => {}
                }
                match f.present {
                    Some(true) => v.push(HeaderCheck::Present),
                    Some(false) => v.push(HeaderCheck::Absent),
                    None => {}
                }
                if v.is_empty() && self.errors.is_empty() {
                    self.err(
                        pos,
                        format!("header check for `{name}` needs one of equals, contains, matches, absent, present"),
                    );
                }
                v
            }
        };
        for check in checks {
            out.push(Assertion::Header {
                name: name.clone(),
                check,
            });
        }
    }

    /// The checks of one `expect.json` entry, all on the same path.
    fn expect_json(
        &mut self,
        jc: &S<RawJsonCheck>,
        names: &mut StepNames<'_>,
        out: &mut Vec<Assertion>,
    ) {
        let pos = pos_of(jc);
        let j = &jc.value;
        let path = match super::json_path::parse(&j.path.value) {
            Ok(p) => p,
            Err(problem) => {
                let at = self.pos_in(pos_of(&j.path), &j.path.value, problem.offset);
                self.err(at, problem.message(&j.path.value));
                return;
            }
        };
        let mut checks = Vec::new();
        if let Some(v) = &j.equals {
            checks.push(JsonCheck::Equals(self.json_template(pos, v, names)));
        }
        if let Some(b) = j.exists {
            checks.push(JsonCheck::Exists(b));
        }
        if let Some(v) = &j.contains {
            checks.push(JsonCheck::Contains(self.json_template(pos, v, names)));
        }
        if let Some(t) = &j.kind {
            match JsonType::parse(t) {
                Some(t) => checks.push(JsonCheck::Type(t)),
                None => self.err(
                    pos,
                    format!("unknown JSON type `{t}`: use string, number, integer, boolean, array, object or null"),
                ),
            }
        }
        if let Some(r) = &j.matches
            && let Some(re) = self.regex(pos, r)
        {
            checks.push(JsonCheck::Matches(re));
        }
        if let Some(r) = &j.count
            && let Some((min, max)) = self.range(pos, r)
        {
            checks.push(JsonCheck::Count { min, max });
        }
        if checks.is_empty() && j.matches.is_none() && j.kind.is_none() {
            self.err(
                pos,
                "JSON check needs one of equals, exists, contains, type, matches, count",
            );
        }
        for check in checks {
            out.push(Assertion::Json {
                path_src: j.path.value.clone(),
                path: path.clone(),
                check,
            });
        }
    }

    fn status(&mut self, s: &S<RawStatus>) -> Option<StatusMatch> {
        let pos = pos_of(s);
        let code = |c: &mut Self, n: i64| -> Option<u16> {
            if (100..=599).contains(&n) {
                Some(n as u16)
            } else {
                c.err(pos, format!("{n} is not an HTTP status code (100-599)"));
                None
            }
        };
        match &s.value {
            RawStatus::One(n) => code(self, *n).map(StatusMatch::One),
            RawStatus::Many(v) if v.is_empty() => {
                self.err(pos, "status list is empty");
                None
            }
            RawStatus::Many(v) => {
                let codes: Option<Vec<u16>> = v.iter().map(|n| code(self, *n)).collect();
                codes.map(StatusMatch::Set)
            }
            RawStatus::Text(t) => {
                let t = t.trim();
                let bad = |c: &mut Self| {
                    c.err(
                        pos,
                        format!("status `{t}` is not understood: use 200, [200, 201], \"2xx\" or \"200-299\""),
                    );
                    None
                };
                if t.len() == 3 && t.ends_with("xx") {
                    match t[..1].parse::<u16>() {
                        Ok(d) if (1..=5).contains(&d) => {
                            Some(StatusMatch::Range(d * 100, d * 100 + 99))
                        }
                        _ => bad(self),
                    }
                } else if let Some((a, b)) = t.split_once('-') {
                    match (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                        (Ok(a), Ok(b)) if a <= b => {
                            Some(StatusMatch::Range(code(self, a)?, code(self, b)?))
                        }
                        _ => bad(self),
                    }
                } else if let Ok(n) = t.parse::<i64>() {
                    code(self, n).map(StatusMatch::One)
                } else {
                    bad(self)
                }
            }
        }
    }

    fn capture(
        &mut self,
        name: &str,
        c: &S<RawCapture>,
        names: &mut StepNames<'_>,
    ) -> Option<Capture> {
        let pos = pos_of(c);
        let rc = &c.value;
        let n = how_many(&[rc.json.is_some(), rc.header.is_some(), rc.regex.is_some()]);
        if n != 1 {
            self.err(
                pos,
                format!("capture `{name}` needs exactly one of `json`, `header` and `regex`"),
            );
            return None;
        }
        if rc.group.is_some() && rc.regex.is_none() {
            self.err(
                pos,
                format!("capture `{name}`: `group` only applies to `regex`"),
            );
        }
        if rc.all && rc.json.is_none() {
            self.err(
                pos,
                format!("capture `{name}`: `all` only applies to `json`"),
            );
        }
        let source = if let Some(p) = rc.json.as_ref().filter(|p| p.contains("${")) {
            let src = self.template_at(pos, p, names)?;
            // Checked with every reference replaced by a plain value: what is
            // left must already be a valid path.
            let probe: String = src
                .parts
                .iter()
                .map(|part| match part {
                    Part::Lit(s) => s.as_str(),
                    _ => "x",
                })
                .collect();
            if let Err(problem) = super::json_path::parse(&probe) {
                self.err(pos, problem.message(p));
                return None;
            }
            CaptureSource::JsonTemplate { src }
        } else if let Some(p) = &rc.json {
            match super::json_path::parse(p) {
                Ok(path) => CaptureSource::Json {
                    src: p.clone(),
                    path,
                },
                Err(problem) => {
                    self.err(pos, problem.message(p));
                    return None;
                }
            }
        } else if let Some(h) = &rc.header {
            self.check_header_name(pos, h);
            CaptureSource::Header(h.to_ascii_lowercase())
        } else {
            let re = self.regex(pos, rc.regex.as_deref().unwrap_or_default())?;
            let groups = re.captures_len() - 1;
            let group = rc.group.unwrap_or(if groups >= 1 { 1 } else { 0 });
            if group > groups {
                self.err(
                    pos,
                    format!("capture `{name}`: the regex has {groups} group(s), not {group}"),
                );
                return None;
            }
            CaptureSource::Regex { re, group }
        };
        Some(Capture {
            name: name.to_string(),
            source,
            secret: rc.secret,
            all: rc.all,
        })
    }

    fn regex(&mut self, pos: Pos, src: &str) -> Option<Regex> {
        match regex::RegexBuilder::new(src).size_limit(1 << 20).build() {
            Ok(r) => Some(r),
            Err(e) => {
                self.err(
                    pos,
                    format!("invalid regex `{src}`: {}", one_line(&e.to_string())),
                );
                None
            }
        }
    }

    fn range(&mut self, pos: Pos, r: &RawRange) -> Option<(Option<u64>, Option<u64>)> {
        let min = match &r.min {
            Some(s) => Some(self.size(pos, s)?),
            None => None,
        };
        let max = match &r.max {
            Some(s) => Some(self.size(pos, s)?),
            None => None,
        };
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            self.err(pos, format!("range min {a} is above max {b}"));
            return None;
        }
        if min.is_none() && max.is_none() {
            self.err(pos, "range needs `min`, `max` or both");
            return None;
        }
        Some((min, max))
    }

    fn size(&mut self, pos: Pos, s: &RawSize) -> Option<u64> {
        match s {
            RawSize::Bytes(n) if *n >= 0 => Some(*n as u64),
            RawSize::Bytes(n) => {
                self.err(pos, format!("size {n} is negative"));
                None
            }
            RawSize::Text(t) => match parse_size(t) {
                Some(n) => Some(n),
                None => {
                    self.err(
                        pos,
                        format!(
                            "`{t}` is not a size: use bytes (5000) or a unit (512KB, 5MB, 5MiB)"
                        ),
                    );
                    None
                }
            },
        }
    }

    fn duration(&mut self, s: &S<String>) -> Option<Duration> {
        self.duration_at(pos_of(s), &s.value)
    }

    fn duration_at(&mut self, pos: Pos, s: &str) -> Option<Duration> {
        let t = s.trim();
        if t.starts_with('-') {
            self.err(pos, format!("duration `{t}` is negative"));
            return None;
        }
        match humantime::parse_duration(t) {
            Ok(d) if d.is_zero() => {
                self.err(pos, format!("duration `{t}` is zero"));
                None
            }
            Ok(d) if d > Duration::from_secs(24 * 3600) => {
                self.err(pos, format!("duration `{t}` is longer than a day"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.err(
                    pos,
                    format!("`{t}` is not a duration ({e}); write e.g. 500ms, 5s, 2m"),
                );
                None
            }
        }
    }

    fn duration_opt(&mut self, s: Option<&S<String>>, default: Duration) -> Duration {
        s.and_then(|s| self.duration(s)).unwrap_or(default)
    }

    fn check_header_name(&mut self, pos: Pos, name: &str) {
        if http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            self.err(pos, format!("`{name}` is not a valid HTTP header name"));
        }
    }

    fn template(&mut self, s: &S<String>, names: &mut StepNames<'_>) -> Option<Template> {
        self.template_at(pos_of(s), &s.value, names)
    }

    fn template_at(&mut self, pos: Pos, text: &str, names: &mut StepNames<'_>) -> Option<Template> {
        let mut consts = Vec::new();
        let t = self.template_with_consts(pos, text, names, &mut consts)?;
        // Secrets read inline from the environment or a file stay secret.
        self.secrets.extend(consts.into_iter().map(|(c, _)| c));
        Some(t)
    }

    /// Compiles a template; `consts` receives (value, came_from_file) for every
    /// `${env:…}`/`${file:…}` it resolved.
    fn template_with_consts(
        &mut self,
        pos: Pos,
        text: &str,
        names: &mut StepNames<'_>,
        consts: &mut Vec<(String, bool)>,
    ) -> Option<Template> {
        let raw = match template::parse(text) {
            Ok(r) => r,
            Err(e) => {
                let p = self.pos_in(pos, text, e.offset);
                self.err(p, e.message);
                return None;
            }
        };
        let mut parts = Vec::new();
        let mut ok = true;
        for rp in raw {
            match rp {
                Piece::Lit(l) => parts.push(Part::Lit(l)),
                Piece::Ref { r, offset } => {
                    let p = self.pos_in(pos, text, offset);
                    match r {
                        RawRef::Builtin(b) => parts.push(Part::Builtin(b)),
                        RawRef::Name(n) => match names.known.get(&n) {
                            Some(NameKind::Var) => parts.push(Part::Var(n)),
                            Some(NameKind::Capture) => {
                                names.needs.push(n.clone());
                                parts.push(Part::Var(n));
                            }
                            Some(NameKind::LaterCapture(_)) => {
                                self.err(
                                    p,
                                    format!("`{n}` is used before it is captured: it is captured by a later step"),
                                );
                                ok = false;
                            }
                            None => {
                                let mut known: Vec<&str> = names
                                    .known
                                    .iter()
                                    .filter(|(_, k)| !matches!(k, NameKind::LaterCapture(_)))
                                    .map(|(k, _)| k.as_str())
                                    .collect();
                                known.sort();
                                let hint = if known.is_empty() {
                                    "no variables are defined".to_string()
                                } else {
                                    format!("known here: {}", known.join(", "))
                                };
                                self.err(p, format!("undefined variable `{n}` ({hint})"));
                                ok = false;
                            }
                        },
                        RawRef::Env(name) => match (self.inputs.env)(&name) {
                            Some(v) => {
                                consts.push((v.clone(), false));
                                parts.push(Part::Const(v));
                            }
                            None if self.inputs.values_optional => {
                                self.need(NeedKind::Env, &name, "environment variable", p);
                                parts.push(Part::Var(format!("env:{name}")));
                            }
                            None => {
                                self.err(p, format!("environment variable `{name}` is not set"));
                                ok = false;
                            }
                        },
                        RawRef::File(f) => {
                            let path = self.dir.join(&f);
                            match std::fs::read_to_string(&path) {
                                Ok(v) => {
                                    let v = v.trim_end_matches(['\n', '\r']).to_string();
                                    consts.push((v.clone(), true));
                                    parts.push(Part::Const(v));
                                }
                                Err(e) if self.inputs.values_optional => {
                                    let what = format!("file, unreadable now: {e}");
                                    self.need(
                                        NeedKind::File,
                                        &path.display().to_string(),
                                        &what,
                                        p,
                                    );
                                    parts.push(Part::Var(format!("file:{f}")));
                                }
                                Err(e) => {
                                    self.err(p, format!("cannot read `{}`: {e}", path.display()));
                                    ok = false;
                                }
                            }
                        }
                    }
                }
            }
        }
        ok.then_some(Template { parts })
    }

    /// Lint mode: `name` (an environment variable or a file) is read when a
    /// run compiles the plan; `at` is where the probe file refers to it. Its
    /// place in the template is a `${env:NAME}`/`${file:PATH}` variable that
    /// nothing defines: lint plans are read, never run.
    fn need(&mut self, kind: NeedKind, name: &str, what: &str, at: Pos) {
        let file = self.file.display().to_string();
        self.needs.push(RunNeed {
            kind,
            name: name.to_string(),
            how: format!("{what}, read at {file}:{}:{}", at.line, at.col),
        });
    }

    fn json_template(
        &mut self,
        pos: Pos,
        v: &serde_json::Value,
        names: &mut StepNames<'_>,
    ) -> JsonTemplate {
        use serde_json::Value as V;
        match v {
            V::String(s) if s.contains('$') => match self.template_at(pos, s, names) {
                Some(t) => JsonTemplate::String(t),
                None => JsonTemplate::Literal(V::Null),
            },
            V::Array(a) => JsonTemplate::Array(
                a.iter()
                    .map(|x| self.json_template(pos, x, names))
                    .collect(),
            ),
            V::Object(o) => JsonTemplate::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.json_template(pos, x, names)))
                    .collect(),
            ),
            other => JsonTemplate::Literal(other.clone()),
        }
    }
}

/// A global variable before its value is compiled.
struct GlobalDef {
    name: String,
    pos: Pos,
    /// The value's template text.
    value: String,
    secret: bool,
    /// Set by `--secret` (true) or `--var` (false).
    from_cli: Option<bool>,
    rate_limited: bool,
    origin: VarOrigin,
    /// False when only a run will have the value (lint mode, or an error).
    known: bool,
}

/// Named templates: a request's headers or query.
type Pairs = Vec<(String, Template)>;

struct FlowDefaults<'a> {
    timeout: Duration,
    max_body: u64,
    headers: &'a [(String, Template)],
}

struct CompiledFlow {
    flow: Flow,
    interval: Option<Duration>,
    deadline: Option<Duration>,
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn valid_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `5000`, `512KB`, `5MB` (10^6), `5MiB` (2^20), `1.5MB`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "kib" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && (0.0..1e15).contains(&v)).then_some(v.round() as u64)
}

/// How many of a set of mutually exclusive keys are given.
fn how_many(set: &[bool]) -> usize {
    set.iter().filter(|b| **b).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5MB"), Some(5_000_000));
        assert_eq!(parse_size("5MiB"), Some(5 * 1024 * 1024));
        assert_eq!(parse_size("1.5 kb"), Some(1500));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }
}
