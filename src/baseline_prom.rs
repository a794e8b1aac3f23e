//! `once --baseline-prometheus URL`: compare the new run with a running probe's
//! recent history, read from Prometheus, when no saved baseline file exists.
//!
//! Prometheus keeps histogram buckets, not raw samples, so the bootstrap of
//! `--baseline FILE` is not possible. Instead, per step: the baseline p95 is
//! `histogram_quantile(0.95, sum by (le) (rate(<step histogram>[W])))` and the
//! baseline's sample count the `+Inf` bucket of `sum by (le) (increase(…[W]))`.
//! Under "no shift" each new sample exceeds the baseline p95 with probability
//! 0.05, so with k of n new samples above it the one-sided binomial tail
//! P(X ≥ k | n, 0.05) below 0.01 says the shift is real. A regression needs
//! ratio > --max-ratio AND diff > --regression-floor AND that p < 0.01.
//! The median-shift rule of `--baseline FILE` needs raw samples on both sides
//! and does not apply here. Fewer than `--min-samples` new samples, or a
//! history thinner than that, is inconclusive (not a pass); a step with no
//! history at all is not judged, like a step missing from a baseline file.
//!
//! Caveat: histogram_quantile interpolates linearly inside a bucket, so the
//! baseline p95 is only as exact as the buckets around it (they are dense
//! around the step's latency budgets); the ratio and floor guard against a
//! test that is "significant" about a few microseconds.

use std::time::Duration;

use url::Url;

use crate::baseline::{Baseline, CompareOptions, Comparison, StepComparison, fmt_secs, pct};
use crate::flow::fmt_duration;
use crate::metrics::names;
use crate::net::HttpFactory;
use crate::net::http::{Request, SessionOptions};

/// Null probability that one new sample lies above the baseline p95.
pub const P_ABOVE: f64 = 0.05;
/// Significance level of the binomial test.
pub const ALPHA: f64 = 0.01;

#[derive(Clone, Debug)]
pub struct PromBaseline {
    pub url: Url,
    /// The history window W.
    pub window: Duration,
    /// The window ends this long before now.
    pub offset: Duration,
}

/// One-sided binomial tail P(X ≥ k) for X ~ Binomial(n, p), summed in log
/// space so that large n does not underflow.
pub fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    // ln C(n, i) built up incrementally.
    let mut ln_c = 0.0;
    let mut sum = 0.0;
    for i in 0..=n {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        if i >= k {
            sum += (ln_c + i as f64 * lp + (n - i) as f64 * lq).exp();
        }
    }
    sum.min(1.0)
}

fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `[W]` as Prometheus wants it (whole seconds, at least 1).
fn range(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// `(labels, value)` pairs of an instant vector.
async fn query(
    http: &HttpFactory,
    base: &Url,
    q: &str,
    at: f64,
) -> Result<Vec<(serde_json::Value, f64)>, String> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| format!("{base} cannot be a base URL"))?
        .pop_if_empty()
        .extend(["api", "v1", "query"]);
    url.query_pairs_mut()
        .append_pair("query", q)
        .append_pair("time", &format!("{at:.3}"));
    let shown = {
        let mut u = base.clone();
        u.set_username("").ok();
        u.set_password(None).ok();
        u
    };
    let mut req = Request::new(http::Method::GET, url);
    if !base.username().is_empty() {
        // Prometheus behind basic auth: the URL's credentials.
        if let Some(v) = crate::net::http::basic_auth(base) {
            req.headers.insert(http::header::AUTHORIZATION, v);
        }
    }
    let resp = http
        .session()
        .send(req, &SessionOptions::default())
        .await
        .map_err(|e| format!("query {shown}: {} ({})", e.message, e.kind.as_str()))?;
    let v: serde_json::Value = serde_json::from_slice(&resp.body).map_err(|e| {
        format!(
            "query {shown}: HTTP {} and not the query API's JSON: {e}",
            resp.status
        )
    })?;
    if v["status"] != "success" {
        return Err(format!(
            "query {shown}: {} ({q})",
            v["error"].as_str().unwrap_or("failed")
        ));
    }
    let mut out = Vec::new();
    for r in v["data"]["result"].as_array().into_iter().flatten() {
        if let Some(x) = r["value"][1].as_str().and_then(|s| s.parse::<f64>().ok()) {
            out.push((r["metric"].clone(), x));
        }
    }
    Ok(out)
}

/// Compares the current run's steps with their history in Prometheus.
pub async fn compare(
    http: &HttpFactory,
    pb: &PromBaseline,
    current: &Baseline,
    o: &CompareOptions,
) -> Result<Comparison, String> {
    let at = crate::builtins::unix_now() - pb.offset.as_secs_f64();
    let hist = format!("{}_bucket", names::STEP_DURATION.0);
    let w = range(pb.window);
    let mut steps = Vec::new();
    let mut judged_steps = 0usize;
    for c in &current.steps {
        let sel = format!(
            "{{target=\"{}\",flow=\"{}\",step=\"{}\"}}",
            label_value(&c.target),
            label_value(&c.flow),
            label_value(&c.step)
        );
        let q95 = format!("histogram_quantile(0.95, sum by (le) (rate({hist}{sel}[{w}])))");
        let qb = format!("sum by (le) (increase({hist}{sel}[{w}]))");
        let p_b = query(http, &pb.url, &q95, at)
            .await?
            .first()
            .map(|(_, x)| *x)
            .unwrap_or(f64::NAN);
        let buckets = query(http, &pb.url, &qb, at).await?;
        let n_b = buckets
            .iter()
            .find(|(m, _)| m["le"] == "+Inf")
            .map(|(_, x)| x.round().max(0.0) as usize)
            .unwrap_or(0);
        let step = judge_step(c, p_b, n_b, o, &w);
        // Judged: it had history and enough samples on both sides.
        judged_steps += usize::from(step.above_baseline_p95.is_some());
        steps.push(step);
    }
    let mut shown = pb.url.clone();
    shown.set_username("").ok();
    shown.set_password(None).ok();
    let end = if pb.offset.is_zero() {
        "now".to_string()
    } else {
        format!("{} ago", humantime::format_duration(pb.offset))
    };
    Ok(Comparison::new(
        format!(
            "Prometheus {shown}, {} window ending {end}",
            humantime::format_duration(pb.window)
        ),
        steps,
        judged_steps,
        o.min_samples,
    ))
}

/// The verdict on one step from its Prometheus history (`p_b` the p95 and
/// `n_b` the samples over `w`) and the current run's samples.
fn judge_step(
    c: &crate::baseline::StepBaseline,
    p_b: f64,
    n_b: usize,
    o: &CompareOptions,
    w: &str,
) -> StepComparison {
    let mut cs = c.durations_us.clone();
    cs.sort_unstable();
    let n = cs.len();
    let p_c = pct(&cs, 0.95) as f64 / 1e6;
    let min = o.min_samples.max(1);
    // No history at all is a step Prometheus never saw (new in this
    // deploy, like a step missing from a baseline file): not judged.
    // Thin history or too few new samples: inconclusive, not a pass.
    let no_history = !p_b.is_finite() || n_b == 0;
    let inconclusive = !no_history && (n_b < min || n < min);
    let judged = !no_history && !inconclusive;
    let (k, p) = if judged {
        let k = cs.iter().filter(|&&d| d as f64 / 1e6 > p_b).count();
        (Some(k), Some(binomial_tail(n, k, P_ABOVE)))
    } else {
        (None, None)
    };
    let mut out = StepComparison {
        above_baseline_p95: k,
        binomial_p: p,
        inconclusive,
        ..StepComparison::unjudged(c, (n_b, p_b), (n, p_c))
    };
    let (regressed, verdict) = verdict(&out, o, w);
    out.regressed = regressed;
    out.p95_regressed = regressed;
    out.verdict = verdict;
    out
}

/// Whether a step judged against its Prometheus history regressed, and the
/// verdict's words: not judged without history, inconclusive on too few
/// samples, else the ratio, the floor and the binomial test in turn.
fn verdict(s: &StepComparison, o: &CompareOptions, w: &str) -> (bool, String) {
    let (n_b, n, p_b) = (s.n_baseline, s.n_current, s.p95_baseline);
    let (ratio, diff, k, p) = (s.ratio, s.diff, s.above_baseline_p95, s.binomial_p);
    let floor = o.floor.as_secs_f64();
    let min = o.min_samples.max(1);
    let no_history = !p_b.is_finite() || n_b == 0;
    let kp = match (k, p) {
        (Some(k), Some(p)) => format!("{k}/{n} above the baseline p95, binomial p = {p:.2e}"),
        _ => String::new(),
    };
    if no_history {
        (
            false,
            format!(
                "not judged: no history in Prometheus over {w} ({n_b} samples, baseline p95 {})",
                fmt_secs(p_b)
            ),
        )
    } else if s.inconclusive {
        let fix = match (n_b < min, n < min) {
            (true, true) => format!("widen --baseline-window and use --samples {min}"),
            (true, false) => "widen --baseline-window".to_string(),
            _ => format!("use --samples {min}"),
        };
        (
            false,
            format!(
                "INCONCLUSIVE: {n_b} samples in Prometheus over {w} / {n} current samples, need {min} each ({fix})"
            ),
        )
    } else if ratio <= o.max_ratio {
        (
            false,
            format!("ratio ×{ratio:.2} ≤ ×{:.2}; {kp}", o.max_ratio),
        )
    } else if diff <= floor {
        (
            false,
            format!(
                "×{ratio:.2} but only +{} (floor {}); {kp}",
                fmt_secs(diff.max(0.0)),
                fmt_duration(o.floor)
            ),
        )
    } else if p.unwrap_or(1.0) >= ALPHA {
        (
            false,
            format!(
                "×{ratio:.2}, +{} but {kp} ≥ {ALPHA}: could be noise",
                fmt_secs(diff)
            ),
        )
    } else {
        (
            true,
            format!(
                "REGRESSION: ×{ratio:.2} > ×{:.2}, +{} > {}, {kp} < {ALPHA}",
                o.max_ratio,
                fmt_secs(diff),
                fmt_duration(o.floor)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_matches_hand_computed_values() {
        assert_eq!(binomial_tail(10, 0, 0.05), 1.0);
        // P(X ≥ 1 | 10, 0.05) = 1 − 0.95^10
        assert!((binomial_tail(10, 1, 0.05) - (1.0 - 0.95f64.powi(10))).abs() < 1e-12);
        // P(X ≥ 5 | 5, 0.05) = 0.05^5
        assert!((binomial_tail(5, 5, 0.05) - 0.05f64.powi(5)).abs() < 1e-15);
        // P(X ≥ 3 | 20, 0.05) ≈ 0.0755 (not significant); ≥ 5 ≈ 0.00257 (significant).
        assert!((binomial_tail(20, 3, 0.05) - 0.07548).abs() < 1e-4);
        assert!((binomial_tail(20, 5, 0.05) - 0.002573).abs() < 1e-5);
        // Large n does not underflow to nonsense.
        let p = binomial_tail(100_000, 5_000, 0.05);
        assert!((0.4..0.6).contains(&p), "{p}");
    }

    /// A stand-in for Prometheus' query API on 127.0.0.1: per step name, the
    /// baseline p95 (seconds) and the sample count in the window (None: no
    /// history, an empty result).
    async fn fake_prometheus(steps: Vec<(&'static str, Option<(f64, f64)>)>) -> Url {
        use axum::extract::Query;
        use std::collections::HashMap;
        let app = axum::Router::new().route(
            "/api/v1/query",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let steps = steps.clone();
                async move {
                    let query = q.get("query").cloned().unwrap_or_default();
                    let hit = steps
                        .iter()
                        .find(|(name, _)| query.contains(&format!("step=\"{name}\"")))
                        .and_then(|(_, v)| *v);
                    let result = match hit {
                        None => serde_json::json!([]),
                        Some((p95, _)) if query.starts_with("histogram_quantile") => {
                            serde_json::json!([{"metric": {}, "value": [0, p95.to_string()]}])
                        }
                        Some((_, n)) => serde_json::json!([
                            {"metric": {"le": "0.1"}, "value": [0, n.to_string()]},
                            {"metric": {"le": "+Inf"}, "value": [0, n.to_string()]}
                        ]),
                    };
                    axum::Json(serde_json::json!({
                        "status": "success",
                        "data": {"resultType": "vector", "result": result}
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    fn run_of(steps: &[(&str, usize, u64)]) -> Baseline {
        Baseline {
            smokeprobe: "t".into(),
            created_at: "t".into(),
            samples: 0,
            steps: steps
                .iter()
                .map(|(name, n, us)| crate::baseline::StepBaseline {
                    target: "t".into(),
                    flow: "f".into(),
                    step: name.to_string(),
                    passed: *n as u32,
                    failed: 0,
                    durations_us: vec![*us; *n],
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn too_few_samples_on_either_side_is_inconclusive() {
        let url = fake_prometheus(vec![
            ("ok", Some((0.010, 500.0))),
            ("thin-history", Some((0.010, 5.0))),
            ("short-run", Some((0.010, 500.0))),
            ("new-step", None),
        ])
        .await;
        let http = HttpFactory::new(&crate::net::NetOptions::default()).unwrap();
        let pb = PromBaseline {
            url,
            window: Duration::from_secs(3600),
            offset: Duration::ZERO,
        };
        let o = CompareOptions::default();
        let cur = run_of(&[
            ("ok", 20, 9_000),
            ("thin-history", 20, 9_000),
            ("short-run", 12, 300_000),
            ("new-step", 20, 9_000),
        ]);
        let c = compare(&http, &pb, &cur, &o).await.unwrap();
        let by = |name: &str| c.steps.iter().find(|s| s.step == name).unwrap();
        assert!(
            !by("ok").inconclusive && !by("ok").regressed,
            "{:?}",
            by("ok")
        );
        assert!(by("thin-history").inconclusive);
        assert!(
            by("thin-history").verdict.contains("5 samples in Prometheus over 3600s / 20 current samples, need 20 each (widen --baseline-window)"),
            "{}",
            by("thin-history").verdict
        );
        // Far slower, but 12 samples: no verdict, and not a pass either.
        let s = by("short-run");
        assert!(s.inconclusive && !s.regressed, "{s:?}");
        assert!(
            s.verdict.ends_with("need 20 each (use --samples 20)"),
            "{}",
            s.verdict
        );
        let s = by("new-step");
        assert!(!s.inconclusive && !s.regressed && s.verdict.starts_with("not judged: no history"));
        assert!(c.inconclusive && !c.regressed && c.judged == 1);
        // With --min-samples 5 both are judged: the short run is a regression.
        let c = compare(
            &http,
            &pb,
            &cur,
            &CompareOptions {
                min_samples: 5,
                ..o
            },
        )
        .await
        .unwrap();
        assert!(c.regressed && !c.inconclusive, "{c:?}");
        // Only steps without history: nothing was compared, not a pass.
        let c = compare(&http, &pb, &run_of(&[("new-step", 20, 9_000)]), &o)
            .await
            .unwrap();
        assert!(c.inconclusive && c.judged == 0);
    }
}
