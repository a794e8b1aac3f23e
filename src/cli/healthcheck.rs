//! `smokeprobe healthcheck`: GET a URL, exit 0 on a 2xx answer (the
//! container image's HEALTHCHECK), 1 otherwise.

use std::time::Duration;

use clap::Args;

use super::{CliError, CmdResult, usage};
use crate::net::{HttpFactory, NetOptions};
use crate::report::ExitCode;

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// e.g. http://127.0.0.1:9477/-/healthy
    #[arg(default_value = "http://127.0.0.1:9477/-/healthy",
          value_parser = super::values::http_url)]
    pub url: url::Url,
    /// Give up after this long.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// `healthcheck`, validated: the URL and the client.
pub(super) struct HealthcheckConfig {
    url: url::Url,
    http: HttpFactory,
    timeout: Duration,
}

pub(super) fn validate(a: HealthcheckArgs) -> Result<HealthcheckConfig, CliError> {
    let http = HttpFactory::new(&NetOptions::default()).map_err(|e| usage(e.to_string()))?;
    Ok(HealthcheckConfig {
        url: a.url,
        http,
        timeout: a.timeout,
    })
}

pub(super) async fn cmd_healthcheck(c: HealthcheckConfig) -> CmdResult {
    let opts = crate::net::http::SessionOptions {
        timeout: c.timeout,
        ..Default::default()
    };
    let req = crate::net::http::Request::new(http::Method::GET, c.url.clone());
    match c.http.session().send(req, &opts).await {
        Ok(r) if (200..300).contains(&r.status) => Ok(ExitCode::Passed),
        Ok(r) => {
            eprintln!("unhealthy: {} answered {}", c.url, r.status);
            Ok(ExitCode::Failed)
        }
        Err(e) => {
            eprintln!("unhealthy: {}: {e}", c.url);
            Ok(ExitCode::Failed)
        }
    }
}
