//! The certificate a TLS endpoint presents: trusted chain for the right host
//! and currently valid (an expired, self-signed, unknown-issuer or wrong-host
//! certificate fails saying which), enough days left before the earliest
//! expiry in the served chain, and a modern protocol. The handshake is made by
//! the network layer's inspector, which records the chain and the verdict a
//! normal client would reach, so one connection answers every rule.

use std::time::Instant;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckRun, Ctx, Cx};
use crate::builtins;
use crate::net::tls_inspect::{InspectError, TlsInspection};
use crate::outcome::failure::Failure;
use crate::outcome::{CheckResult, Reason, TlsSummary};
use crate::spanned::{S, pos_of};
use crate::syntax::template::Template;

/// Every rule id this check reports (what a findings file may name).
pub const RULES: &[&str] = &["certificate-valid", "days-left", "protocol"];

/// The certificate a TLS endpoint presents.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "tls")]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// `https://host[:port]` (a path is ignored).
    pub url: S<String>,
    /// Fail when the earliest expiry in the chain is closer than this (default 14).
    #[serde(default)]
    #[schemars(range(min = 0, max = 3650))]
    pub min_days: Option<S<i64>>,
    /// SNI / name to verify, when it differs from the URL's host.
    #[serde(default)]
    pub server_name: Option<S<String>>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub url: Template,
    pub min_days: u32,
    pub server_name: Option<Template>,
}

/// The step's `tls:` validated: its plan, and its main URL (shown for the
/// step). None after an error, which `cx` holds.
pub fn compile(c: &S<Raw>, cx: &mut impl Cx) -> Option<(Plan, Template)> {
    let r = &c.value;
    let url = cx.url(&r.url, "tls url", &["https"]);
    let min_days = match &r.min_days {
        None => 14,
        Some(n) if (0..=3650).contains(&n.value) => n.value as u32,
        Some(n) => {
            cx.err(pos_of(n), "`min_days` must be from 0 to 3650");
            14
        }
    };
    let server_name = match &r.server_name {
        Some(s) => Some(cx.template(s)?),
        None => None,
    };
    let url = url?;
    Some((
        Plan {
            url: url.clone(),
            min_days,
            server_name,
        },
        url,
    ))
}

/// One line on what the check will judge.
pub fn describe(t: &Plan) -> String {
    format!("trusted, right host, ≥ {} days left", t.min_days)
}

pub(crate) async fn run(c: &Plan, ctx: &Ctx<'_>) -> CheckRun {
    let mut run = CheckRun::new(Reason::Tls, c.url.display());
    let url = match ctx.url(&c.url) {
        Ok(u) => u,
        Err(f) => return run.fail(f),
    };
    run.url = url.to_string();
    if url.scheme() != "https" {
        return run.fail(Failure::new(
            Reason::Request,
            format!("`{url}` is not an https:// URL"),
        ));
    }
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let sni = match &c.server_name {
        Some(t) => match ctx.expand(t) {
            Ok(s) => s,
            Err(f) => return run.fail(f),
        },
        None => host.clone(),
    };
    let budget = ctx
        .timeout
        .min(ctx.until.saturating_duration_since(Instant::now()));
    if budget.is_zero() {
        return run.fail(Failure::new(
            Reason::Timeout,
            "flow deadline reached before the handshake",
        ));
    }
    let inspector = match ctx.http.tls_inspector() {
        Ok(i) => i,
        Err(e) => {
            return run.fail(Failure::new(Reason::Tls, e));
        }
    };
    let inspection = match inspector.inspect(&host, port, &sni, budget).await {
        Ok(i) => i,
        Err(e) => {
            let reason = match e {
                InspectError::InvalidServerName(_) => Reason::Request,
                InspectError::Dns(_) => Reason::Dns,
                InspectError::Connect(_) => Reason::Connect,
                InspectError::Handshake(_) => Reason::Tls,
                InspectError::Timeout { .. } => Reason::Timeout,
            };
            // One connection answers every rule: none of them is judged.
            run.not_judged = ["certificate-valid", "days-left", "protocol"]
                .map(String::from)
                .to_vec();
            return run.fail(Failure::new(reason, e.to_string()));
        }
    };
    judge(&mut run, c, &inspection, &format!("{sni}:{port}"), &sni);
    run
}

/// The verdicts on one handshake's certificate chain and protocol, and the
/// summary the step shows.
fn judge(run: &mut CheckRun, c: &Plan, inspection: &TlsInspection, on: &str, sni: &str) {
    let now = builtins::unix_now() as i64;
    let leaf = inspection.chain.first();
    run.checks.push(
        CheckResult::new(
            "certificate-valid",
            inspection.verification.is_ok(),
            format!("a trusted, current certificate for {sni}"),
            match &inspection.verification {
                Ok(()) => format!(
                    "valid, issued by {}",
                    leaf.map(|l| l.issuer.as_str()).unwrap_or("?")
                ),
                Err(p) => p.message_at(now),
            },
        )
        .on(on),
    );
    run.checks.extend(days_left(c, inspection, now, on));
    let modern = matches!(inspection.protocol.as_str(), "TLSv1.2" | "TLSv1.3");
    run.checks.push(
        CheckResult::new(
            "protocol",
            modern,
            "TLS 1.2 or newer",
            format!("{} {}", inspection.protocol, inspection.cipher),
        )
        .on(on),
    );
    if let Some(l) = leaf {
        run.tls = Some(TlsSummary {
            protocol: inspection.protocol.clone(),
            cipher: inspection.cipher.clone(),
            subject: l.subject.clone(),
            issuer: l.issuer.clone(),
            sans: l.sans.clone(),
            not_after: builtins::rfc3339_utc(l.not_after as f64),
            days_left: l.days_left(now),
            earliest_expiry: inspection.earliest_not_after().unwrap_or(l.not_after),
            chain_length: inspection.chain.len(),
        });
    }
}

/// `days-left`: the earliest expiry in the served chain against `min_days`.
fn days_left(c: &Plan, inspection: &TlsInspection, now: i64, on: &str) -> Option<CheckResult> {
    let earliest = inspection.earliest_not_after()?;
    let days = (earliest - now) as f64 / 86_400.0;
    let which = inspection
        .chain
        .iter()
        .position(|c| c.not_after == earliest)
        .map(|i| {
            if i == 0 {
                "the leaf".to_string()
            } else {
                format!("chain certificate `{}`", inspection.chain[i].subject)
            }
        })
        .unwrap_or_default();
    let date = builtins::rfc3339_utc(earliest as f64);
    let ok = days >= c.min_days as f64;
    Some(
        CheckResult::new(
            "days-left",
            ok,
            format!(
                "≥ {} days before the earliest expiry in the chain",
                c.min_days
            ),
            if ok {
                format!("{days:.1} days ({which} expires {date})")
            } else {
                format!(
                    "{days:.1} days, below the {}-day threshold ({which} expires {date})",
                    c.min_days
                )
            },
        )
        .on(on),
    )
}
