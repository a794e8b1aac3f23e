//! Flow execution: the runner, assertion and capture evaluation, and the
//! accepted findings applied to what a run produced. Results carry only
//! redacted text.
//!
//! Imports run one way: what a run produces (`crate::outcome`), the
//! credential guard (`crate::credentials`) and the built-in checks
//! (`crate::check`) sit below this module; the runner drives the checks,
//! never the reverse. They are re-exported here under their old paths
//! (`flow::StepResult`, `flow::credentials::Guard`, `flow::checks::…`).

pub mod accept;
mod assert;
mod runner;

pub use crate::check as checks;
pub use crate::credentials;
pub(crate) use crate::credentials::admission;
pub use crate::outcome::*;
pub use crate::vocab::fmt_duration;
pub use runner::{FlowObserver, Runner};
