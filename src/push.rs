//! `once --pushgateway URL`: after the run, PUT its results to a Prometheus
//! Pushgateway, one group per target (`/metrics/job/<job>/target@base64/<t>`),
//! in the classic text format (0.0.4), so the post-deploy numbers and the
//! deploy marker (`smokeprobe_deploy_info{version}`) land next to the
//! continuous probe's series in Prometheus and on the dashboards.
//!
//! A failed push is reported by the caller as a warning and never changes the
//! exit code: a monitoring outage must not turn a passing gate into a rollback.

use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use url::Url;

use crate::baseline::Comparison;
use crate::encoding::base64url;
use crate::metrics::names::{self, Name};
use crate::net::HttpFactory;
use crate::net::http::{Request, SessionOptions, basic_auth};
use crate::report::OnceReport;

/// What to push and where.
#[derive(Clone, Debug)]
pub struct PushOptions {
    pub url: Url,
    pub job: String,
    pub deploy_version: Option<String>,
}

/// One sample: its labels and value.
type Sample = (Vec<(String, String)>, f64);

/// The group's gauge families, written by prometheus-client's text encoder
/// (the same one `/metrics` uses): HELP/TYPE once per family, then its samples.
#[derive(Debug, Default)]
struct Text {
    families: Vec<(Name, Vec<Sample>)>,
}

impl Text {
    fn family(&mut self, name: Name, samples: &[(Vec<(&str, &str)>, f64)]) {
        if samples.is_empty() {
            return;
        }
        let samples = samples
            .iter()
            .map(|(labels, v)| {
                let labels = labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                (labels, *v)
            })
            .collect();
        self.families.push((name, samples));
    }

    fn render(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        // Writing into a String cannot fail; an error would be a bug in the encoder.
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
}

impl Collector for Text {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, samples) in &self.families {
            let mut m = enc.encode_descriptor(name.0, name.1, None, MetricType::Gauge)?;
            for (labels, v) in samples {
                m.encode_family(labels)?.encode_gauge(v)?;
            }
        }
        Ok(())
    }
}

/// The text exposition of one target's group. `now` is the run's end (unix s).
pub fn render_group(
    report: &OnceReport,
    cmp: Option<&Comparison>,
    target: &str,
    deploy_version: Option<&str>,
    now: f64,
) -> String {
    let mut t = Text::default();
    let flows: Vec<_> = report.flows.iter().filter(|f| f.target == target).collect();
    let per_flow =
        |f: &dyn Fn(&crate::report::FlowSummary) -> f64| -> Vec<(Vec<(&str, &str)>, f64)> {
            flows
                .iter()
                .map(|fl| (vec![("flow", fl.flow.as_str())], f(fl)))
                .collect()
        };
    t.family(
        names::PROBE_SUCCESS,
        &per_flow(&|f| if f.passed() { 1.0 } else { 0.0 }),
    );
    t.family(
        names::PROBE_DURATION,
        &per_flow(&|f| {
            f.results
                .last()
                .map(|r| r.duration.as_secs_f64())
                .unwrap_or(0.0)
        }),
    );
    let per_step = |f: &dyn Fn(&crate::report::StepSummary) -> Option<f64>| {
        let mut v: Vec<(Vec<(&str, &str)>, f64)> = Vec::new();
        for fl in &flows {
            for s in &fl.steps {
                if let Some(x) = f(s) {
                    v.push((
                        vec![("flow", fl.flow.as_str()), ("step", s.name.as_str())],
                        x,
                    ));
                }
            }
        }
        v
    };
    let secs = |d: Duration| d.as_secs_f64();
    t.family(
        names::ONCE_STEP_P50,
        &per_step(&|s| s.latency.map(|l| secs(l.p50))),
    );
    t.family(
        names::ONCE_STEP_P95,
        &per_step(&|s| s.latency.map(|l| secs(l.p95))),
    );
    t.family(
        names::ONCE_STEP_P99,
        &per_step(&|s| s.latency.map(|l| secs(l.p99))),
    );
    t.family(
        names::ONCE_STEP_FAILED,
        &per_step(&|s| Some(f64::from(s.failed))),
    );
    if let Some(c) = cmp {
        let v: Vec<(Vec<(&str, &str)>, f64)> = c
            .steps
            .iter()
            // An inconclusive step has no verdict: neither 1 nor 0.
            .filter(|s| s.target == target && !s.inconclusive)
            .map(|s| {
                (
                    vec![("flow", s.flow.as_str()), ("step", s.step.as_str())],
                    if s.regressed { 1.0 } else { 0.0 },
                )
            })
            .collect();
        t.family(names::ONCE_REGRESSED, &v);
    }
    t.family(names::ONCE_LAST_RUN, &[(vec![], now)]);
    if let Some(v) = deploy_version {
        t.family(names::DEPLOY_INFO, &[(vec![("version", v)], now)]);
    }
    t.render()
}

/// The group URL of `target` under `base`.
pub fn group_url(base: &Url, job: &str, target: &str) -> Result<Url, String> {
    let mut u = base.clone();
    {
        let mut segs = u
            .path_segments_mut()
            .map_err(|_| format!("{base} cannot be a base URL"))?;
        segs.pop_if_empty();
        segs.extend(["metrics", "job", job]);
        if target.is_empty() {
            // An empty value needs the base64 form ("=" is the empty string).
            segs.extend(["target@base64", "="]);
        } else {
            segs.extend(["target@base64", &base64url(target.as_bytes())]);
        }
    }
    u.set_username("").ok();
    u.set_password(None).ok();
    Ok(u)
}

/// PUTs one group per target. Returns how many groups were pushed, or the first
/// error (the URL in it carries no credentials).
pub async fn push(
    http: &HttpFactory,
    o: &PushOptions,
    report: &OnceReport,
    cmp: Option<&Comparison>,
    now: f64,
) -> Result<usize, String> {
    let mut targets: Vec<&str> = report.flows.iter().map(|f| f.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    let auth = if o.url.username().is_empty() {
        None
    } else {
        basic_auth(&o.url)
    };
    let opts = SessionOptions {
        timeout: Duration::from_secs(10),
        ..SessionOptions::default()
    };
    let mut session = http.session();
    for target in &targets {
        let url = group_url(&o.url, &o.job, target)?;
        let body = render_group(report, cmp, target, o.deploy_version.as_deref(), now);
        let mut req = Request::new(http::Method::PUT, url.clone());
        req.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        if let Some(a) = &auth {
            req.headers.insert(AUTHORIZATION, a.clone());
        }
        req.body = body.into();
        let resp = session
            .send(req, &opts)
            .await
            .map_err(|e| format!("PUT {url}: {} ({})", e.message, e.kind.as_str()))?;
        if !(200..300).contains(&resp.status) {
            let text = String::from_utf8_lossy(&resp.body);
            return Err(format!(
                "PUT {url}: HTTP {}: {}",
                resp.status,
                text.trim().chars().take(300).collect::<String>()
            ));
        }
    }
    Ok(targets.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_url_encodes_and_drops_credentials() {
        let base = Url::parse("http://u:p@127.0.0.1:9091/pgw/").unwrap();
        let u = group_url(&base, "smokeprobe once", "https://x/y").unwrap();
        assert_eq!(
            u.as_str(),
            format!(
                "http://127.0.0.1:9091/pgw/metrics/job/smokeprobe%20once/target@base64/{}",
                base64url(b"https://x/y")
            )
        );
    }
}
