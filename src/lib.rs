//! smokeprobe: a post-deploy synthetic monitoring probe.
//!
//! Probe files (YAML) are parsed and validated into a [`config::Plan`]; the
//! [`flow`] runner executes its flows over real HTTP and emits results that the
//! [`report`] module turns into a checklist, JSON and JUnit. [`demo`] is a
//! ContraVento-compatible target used by `smokeprobe demo` and by the tests.

pub mod baseline;
pub mod baseline_prom;
pub mod browser;
pub mod builtins;
pub mod check;
pub mod cli;
pub mod config;
pub mod continuous;
pub mod credentials;
#[cfg(feature = "demo")]
pub mod demo;
pub(crate) mod encoding;
pub mod flow;
pub mod imagegen;
pub mod metrics;
pub mod net;
pub mod oneshot;
pub mod outcome;
pub mod push;
pub mod redact;
pub mod report;
pub mod rules;
pub mod scheduler;
pub mod server;
pub mod spanned;
pub mod status;
pub mod syntax;
pub mod vocab;

#[cfg(test)]
mod layering;
