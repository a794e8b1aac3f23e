//! Built-in check kinds: CORS semantics, security-header policy, HTTP→HTTPS
//! redirect, TLS certificate, leaky error responses, frontend delivery, the
//! API description in production and user enumeration by login timing. Each
//! is one step of a flow: it sends the requests its rules need and returns one
//! [`CheckResult`](crate::outcome::CheckResult) per rule and subject (URL,
//! origin, request), some of them warnings. The runner turns a [`CheckRun`]
//! into a `StepResult`, redacted.
//!
//! One file per kind holds all of it: its raw type (`Raw`, what the probe
//! file says), its compiled type (`Plan`), its validation (`compile`, over
//! the compiler's [`Cx`]), its rule ids (`RULES`), its runner (`run`) and its
//! line in `smokeprobe check` (`describe`). The `kinds!` list below names
//! every kind once and makes the [`Check`] enum and every dispatch from it, so
//! adding a kind is: a new file, its `mod` line and its line in that list,
//! and its field in `config::raw::RawStep` (plus its line in
//! `RawStep::checks`, which the compiler demands).
//!
//! Below `config` and `flow`: this module imports nothing of either. The
//! shared machinery is in `run.rs` (what a check runs on) and `cx.rs` (what
//! its validation asks of the compiler); `headers.rs` and `leaks.rs` are the
//! rule evaluations also used outside their kind (`leaks` by every request
//! step's error response).
//!
//! Architecture invariant: nothing a target sends can panic a check; every
//! request is bounded by the step timeout and the flow deadline.

pub mod api_docs;
pub mod cors;
pub mod error_leaks;
pub mod frontend;
pub mod https_redirect;
pub mod login_timing;
pub mod security_headers;
pub mod tls;

pub mod headers;
pub mod leaks;

mod cx;
mod run;

pub use cx::Cx;
pub use run::*;

use crate::spanned::S;
use crate::syntax::template::Template;
use crate::vocab::headers::Level;

/// The check kinds, each `Variant => module`; the module's name is the key in
/// the probe file (and the step's `kind` in reports). Each module provides
/// `Raw`, `Plan`, `RULES`, `compile`, `run` and `describe`. (Its `mod` line
/// is above, outside the macro, so that rustfmt sees the file.)
macro_rules! kinds {
    ($($variant:ident => $kind:ident,)*) => {
        /// The keys of the check kinds in the probe file, in this list's
        /// order: a step has a `url` (a request) or exactly one of these.
        pub const KEYS: &[&str] = &[$(stringify!($kind),)*];

        /// A built-in check, compiled.
        #[derive(Clone, Debug)]
        pub enum Check {
            $($variant($kind::Plan),)*
        }

        /// The built-in check a raw step sets (see `RawStep::checks`).
        #[derive(Clone, Copy, Debug)]
        pub enum RawCheck<'a> {
            $($variant(&'a S<$kind::Raw>),)*
        }

        impl Check {
            /// The key in the probe file, also the step's `kind` in reports.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Check::$variant(_) => stringify!($kind),)*
                }
            }

            /// One line on what the check will judge (`smokeprobe check`).
            pub fn describe(&self) -> String {
                match self {
                    $(Check::$variant(p) => $kind::describe(p),)*
                }
            }
        }

        impl RawCheck<'_> {
            /// The key in the probe file.
            pub fn key(&self) -> &'static str {
                match self {
                    $(RawCheck::$variant(_) => stringify!($kind),)*
                }
            }

            /// The check and its main URL (shown for the step); None after
            /// an error, which `cx` holds.
            pub fn compile(self, cx: &mut impl Cx) -> Option<(Check, Template)> {
                match self {
                    $(RawCheck::$variant(raw) => {
                        $kind::compile(raw, cx).map(|(p, url)| (Check::$variant(p), url))
                    })*
                }
            }
        }

        /// Runs one check step.
        pub(crate) async fn run(check: &Check, ctx: &Ctx<'_>) -> CheckRun {
            match check {
                $(Check::$variant(p) => $kind::run(p, ctx).await,)*
            }
        }

        /// Every rule id a check kind can report (what a findings file may
        /// name). `tests/it/accept.rs` checks these against what the checks
        /// really report under every fault the demo target can inject.
        pub fn rule_names(kind: &str) -> &'static [&'static str] {
            match kind {
                $(stringify!($kind) => $kind::RULES,)*
                _ => &[],
            }
        }
    };
}

kinds! {
    Cors => cors,
    SecurityHeaders => security_headers,
    HttpsRedirect => https_redirect,
    Tls => tls,
    ErrorLeaks => error_leaks,
    Frontend => frontend,
    ApiDocs => api_docs,
    LoginTiming => login_timing,
}

/// How `smokeprobe check` words a single-rule check's level.
fn level_word(l: Level) -> &'static str {
    match l {
        Level::Required => "required",
        _ => "a warning",
    }
}
