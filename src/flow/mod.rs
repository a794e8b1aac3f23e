//! Flow execution: the runner, assertion and capture evaluation, and the results
//! it emits. Results carry only redacted text.
//!
//! Imports run one way: `result` (what a run reports) and `failure` (why an
//! attempt got no answer) sit below everything; `admission` (the secrets a
//! request carries and the credential guard's say on them) below the runner
//! and the checks; the runner drives the checks, never the reverse.

pub mod accept;
mod admission;
mod assert;
pub mod checks;
pub mod credentials;
mod failure;
pub mod leftovers;
mod result;
mod runner;

pub use crate::vocab::fmt_duration;
pub use result::*;
pub use runner::{FlowObserver, Runner};

/// Header that identifies synthetic traffic in the target's logs.
pub const RUN_HEADER: &str = "x-smokeprobe-run";
