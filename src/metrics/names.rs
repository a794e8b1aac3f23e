//! Every metric name and help text, in one place (the only module that knows
//! them). Names follow the Prometheus conventions: base units in the name,
//! `_total` on counters (prometheus-client appends it: the names here do not
//! carry it), `_timestamp_seconds` for times, `_info` for build data.
//! blackbox_exporter's names are kept where the meaning is the same so that
//! existing dashboards keep working. docs/metrics.md documents each one.

/// (name, help)
pub type Name = (&'static str, &'static str);

// blackbox_exporter-compatible, per flow.
pub const PROBE_SUCCESS: Name = (
    "probe_success",
    "Whether the last run of the flow passed (1) or failed (0).",
);
pub const PROBE_DURATION: Name = (
    "probe_duration_seconds",
    "Wall time of the last run of the flow, cleanup steps included.",
);
// blackbox_exporter-compatible, per step (an extra `step` label).
pub const PROBE_HTTP_STATUS: Name = (
    "probe_http_status_code",
    "HTTP status of the step's last response (absent for built-in checks and before any response).",
);
pub const PROBE_HTTP_DURATION: Name = (
    "probe_http_duration_seconds",
    "Duration of each phase of the step's last request: resolve, connect, tls, processing (request sent to response headers), transfer (body).",
);
pub const PROBE_SSL_EARLIEST_CERT_EXPIRY: Name = (
    "probe_ssl_earliest_cert_expiry",
    "Earliest not-after (unix seconds) in the certificate chain a tls check saw.",
);

// smokeprobe's own, per step.
pub const STEP_DURATION: Name = (
    "smokeprobe_step_duration_seconds",
    "Step duration (request sent to body read, redirects and poll attempt included; whole check for built-in checks), with buckets dense around the step's latency budgets.",
);
pub const STEP_SUCCESS: Name = (
    "smokeprobe_step_success",
    "Whether the step passed (1), failed (0) in the flow's last run; absent while it was skipped.",
);
pub const STEP_RUNS: Name = ("smokeprobe_step_runs", "Step runs that were not skipped.");
pub const STEP_FAILURES: Name = (
    "smokeprobe_step_failures",
    "Failed step runs, by reason (dns, connect, tls, timeout, protocol, redirect, status, assertion, capture, body_too_large, request, credential).",
);
pub const STEP_WINDOW_QUANTILE: Name = (
    "smokeprobe_step_latency_window_seconds",
    "Step duration quantiles over a sliding window (HDR histogram, 3 significant digits): absent while the window holds no sample.",
);
pub const STEP_WINDOW_COUNT: Name = (
    "smokeprobe_step_latency_window_samples",
    "Samples in the sliding window behind smokeprobe_step_latency_window_seconds.",
);
pub const STEP_BUDGET: Name = (
    "smokeprobe_step_budget_seconds",
    "The step's latency budget per percentile (p50, p95, p99), from the probe file (for dashboards and alert rules).",
);
pub const STEP_OVER_BUDGET: Name = (
    "smokeprobe_step_over_budget",
    "1 while the step's percentile over the 5m window is above its budget (the step is slow; smokeprobe_step_success and probe_success still say whether it worked), 0 when within; absent while the window holds no sample.",
);
pub const CHECK_RULE_FAILURES: Name = (
    "smokeprobe_check_rule_failures",
    "Subjects (URLs, origins, requests) a built-in check rule failed on in the last run; severity is required or warning. Failures a findings file accepts are counted in smokeprobe_check_rule_accepted_failures instead.",
);
pub const CHECK_RULE_ACCEPTED: Name = (
    "smokeprobe_check_rule_accepted_failures",
    "Subjects a built-in check rule failed on in the last run whose failure an entry of a findings file (--accept) accepts: they do not fail the step. Present for the rules the findings files name.",
);
pub const ACCEPTED_FINDINGS: Name = (
    "smokeprobe_accepted_findings",
    "Findings-file entries (--accept) naming the rule, by state after the flow's last run: active (in force), expired (past its until day: the failures it matched fail again), resolved (its step judged its rules and it matched nothing: remove it).",
);
pub const ACCEPTED_FINDING_EXPIRY: Name = (
    "smokeprobe_accepted_finding_expiry_timestamp_seconds",
    "When the first findings-file entry naming the rule stops applying: the end of its until day (UTC), unix seconds. Alert some days before.",
);

pub const FLOW_CONSECUTIVE_FAILURES: Name = (
    "smokeprobe_flow_consecutive_failures",
    "Runs of the flow that failed in a row (0 after a pass): alert on N consecutive failures.",
);

// Per flow: the schedule.
pub const FLOW_RUNS: Name = ("smokeprobe_flow_runs", "Flow runs started.");
pub const FLOW_FAILED_RUNS: Name = (
    "smokeprobe_flow_failed_runs",
    "Flow runs that finished failed (a step failed; accepted findings do not count).",
);
pub const FLOW_SKIPPED: Name = (
    "smokeprobe_flow_skipped_runs",
    "Scheduled runs not started because the previous run of the flow was still going.",
);
pub const SCHEDULE_LAG: Name = (
    "smokeprobe_schedule_lag_seconds",
    "Delay between a run's scheduled time and its start.",
);
pub const FLOW_INTERVAL: Name = (
    "smokeprobe_flow_interval_seconds",
    "The flow's configured interval.",
);

// The probe itself.
pub const BUILD_INFO: Name = (
    "smokeprobe_build_info",
    "Build information; the value is always 1.",
);
pub const CONFIG_RELOAD_SUCCESS: Name = (
    "smokeprobe_config_last_reload_successful",
    "Whether the last configuration reload succeeded.",
);
pub const CONFIG_RELOAD_TIME: Name = (
    "smokeprobe_config_last_reload_success_timestamp_seconds",
    "When the configuration was last loaded successfully (unix seconds).",
);
pub const CONFIG_RELOADS: Name = (
    "smokeprobe_config_reloads",
    "Configuration reload attempts, by result (success, failure).",
);
pub const FLOWS_CONFIGURED: Name = (
    "smokeprobe_flows",
    "Flows scheduled by the running configuration.",
);
pub const SECRET_REFUSED: Name = (
    "smokeprobe_secret_refused",
    "1 when the target refused the value of this secret variable (401, 423 or 429): requests carrying it are not sent again until the value changes.",
);
pub const LEFT_BEHIND: Name = (
    "smokeprobe_left_behind_objects",
    "Objects the flow created and could not delete, still on the target (retried on later runs until gone; what a `leaves:` step created is never retried).",
);
pub const LEFT_BEHIND_DROPPED: Name = (
    "smokeprobe_left_behind_dropped",
    "Left-behind objects no longer retried or listed because the bounded list was full (find them with sweep-orphans).",
);

// The process itself (the Prometheus process collector's names; Linux only,
// read from /proc/self at scrape time) and its tokio runtime.
pub const PROCESS_RESIDENT_MEMORY: Name = (
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
);
pub const PROCESS_VIRTUAL_MEMORY: Name = (
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
);
pub const PROCESS_OPEN_FDS: Name = ("process_open_fds", "Number of open file descriptors.");
pub const PROCESS_MAX_FDS: Name = (
    "process_max_fds",
    "Maximum number of open file descriptors (soft limit).",
);
pub const PROCESS_CPU: Name = (
    "process_cpu_seconds",
    "Total user and system CPU time spent in seconds.",
);
pub const PROCESS_START_TIME: Name = (
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
);
pub const PROCESS_THREADS: Name = ("process_threads", "Number of OS threads in the process.");
pub const RUNTIME_ALIVE_TASKS: Name = (
    "smokeprobe_runtime_alive_tasks",
    "Tasks alive in the probe's tokio runtime (scheduled flows, runs in flight, connections being served).",
);

// `once --pushgateway`: the run's results, pushed per target (docs/post-deploy.md).
pub const ONCE_STEP_P50: Name = (
    "smokeprobe_once_step_p50_seconds",
    "p50 of the step's duration over the samples of the last `once` run that got a response.",
);
pub const ONCE_STEP_P95: Name = (
    "smokeprobe_once_step_p95_seconds",
    "p95 of the step's duration over the samples of the last `once` run that got a response.",
);
pub const ONCE_STEP_P99: Name = (
    "smokeprobe_once_step_p99_seconds",
    "p99 of the step's duration over the samples of the last `once` run that got a response.",
);
pub const ONCE_STEP_FAILED: Name = (
    "smokeprobe_once_step_failed_samples",
    "Samples of the last `once` run in which the step failed.",
);
pub const ONCE_REGRESSED: Name = (
    "smokeprobe_once_regressed",
    "Whether the step's latency regressed against the baseline in the last `once` run (1) or not (0); absent without a baseline comparison and for a step whose comparison was inconclusive (too few samples).",
);
pub const ONCE_LAST_RUN: Name = (
    "smokeprobe_once_last_run_timestamp_seconds",
    "When the last `once` run that pushed these series finished (unix seconds).",
);
pub const DEPLOY_INFO: Name = (
    "smokeprobe_deploy_info",
    "A deploy marker pushed by `once --deploy-version`: the value is the run's time (unix seconds); the dashboards' Deploys annotation reads it.",
);

/// Label values of `smokeprobe_accepted_findings{state}`.
pub const FINDING_STATES: [&str; 3] = ["active", "expired", "resolved"];

/// Label values of `probe_http_duration_seconds{phase}`.
pub const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];
