//! What a run produces, below the runner and the checks (which both produce
//! it): `result` (`FlowResult`, `StepResult`, `CheckResult`, the fixed set of
//! failure `Reason`s), `failure` (why an attempt got no usable answer),
//! `leftovers` (what a run left on the target) and `shorten` (a target's
//! text as a message shows it). `flow` re-exports all of it.

pub mod failure;
pub mod leftovers;
mod result;
pub mod shorten;

pub use result::*;

/// Header that identifies synthetic traffic in the target's logs.
pub const RUN_HEADER: &str = "x-smokeprobe-run";
