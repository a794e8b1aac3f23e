//! The one integration-test binary: real HTTP over loopback against in-process
//! targets on port 0, and the real `smokeprobe` binary as a child process.

mod accept;
mod architecture;
mod baseline_prom;
mod browser;
mod checks;
mod chromium;
mod cleanup;
mod cli;
mod common;
mod config_errors;
mod credentials;
mod dashboards;
mod demo_target;
mod exposure;
mod faults;
mod gate;
mod http_session;
mod imagegen;
mod once;
mod packaging;
mod post_deploy;
mod prometheus_e2e;
mod properties;
mod pushgateway;
mod raw_http;
mod rules;
mod run;
mod schema;
mod secrets;
mod status_page;
// Reads the probe's process metrics, which exist on Linux only.
#[cfg(target_os = "linux")]
mod soak;
mod spa;
mod tls_inspect;
mod words;
