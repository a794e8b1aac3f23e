//! TLS certificate check (placeholder until the inspector lands).

use super::{CheckRun, Ctx};
use crate::config::TlsCheck;
use crate::flow::Reason;
use crate::flow::runner::Failure;

pub(super) async fn run(c: &TlsCheck, _ctx: &Ctx<'_>) -> CheckRun {
    CheckRun::new(Reason::Tls, c.url.display()).fail(Failure::new(Reason::Tls, "not yet"))
}
