//! `once --baseline-prometheus`: a real Prometheus scrapes `smokeprobe run`
//! against the demo; a healthy `once` passes the comparison with its numbers
//! printed, and one after injected latency fails with REGRESSION.

use std::time::Duration;

use crate::common::*;
use crate::prometheus_e2e::start_prometheus;
use crate::run::{probe, sample, start_run};
use smokeprobe::demo::Faults;

const FLOWS: &str = r#"
  - name: health
    interval: 100ms
    steps:
      - name: api-health
        url: ${base}/api/health
        budget: 200ms
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_compares_with_the_running_probes_history() {
    let (s, d, ca) = tls_demo_with_ca(&[]).await;
    let yaml = probe(&s.base_url(), FLOWS);
    let file = d.path().join("probe.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let run = start_run(&yaml, &["--ca-file", &ca], &[]).await;
    let prom = start_prometheus(&run.addr).await;
    // ~15 s of history: enough runs, and Prometheus has them over the window.
    run.wait_for(Duration::from_secs(60), "100 runs", |m| {
        sample(
            m,
            "smokeprobe_step_duration_seconds_count",
            &[("step", "api-health")],
        )
        .unwrap_or(0.0)
            >= 100.0
    })
    .await;
    prom.query_until(
        "sum(increase(smokeprobe_step_duration_seconds_count{step=\"api-health\"}[20s])) > 50",
        Duration::from_secs(60),
    )
    .await;
    // The history stops here, so the injected latency below cannot leak into it.
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));

    let once = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "once".into(),
            file.display().to_string(),
            "--ca-file".into(),
            ca.clone(),
            "--quiet".into(),
            "--samples".into(),
            "20".into(),
            "--baseline-prometheus".into(),
            prom.url.clone(),
            "--baseline-window".into(),
            "20s".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        run_bin(args)
    };

    let o = once(&[]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("── Baseline (Prometheus "), "{out}");
    assert!(
        out.contains("above the baseline p95, binomial p = "),
        "{out}"
    );
    assert!(out.contains("no latency regression"), "{out}");

    let mut f = Faults::default();
    f.apply_spec("latency:/api/health=80ms").unwrap();
    s.set_faults(f);
    let o = once(&[]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("REGRESSION: ×"), "{out}");
    assert!(out.contains("20/20 above the baseline p95"), "{out}");
    eprintln!("{out}");

    // An unreachable Prometheus: no verdict, so no pass: exit 1 as for an
    // inconclusive comparison (2 means invalid input, nothing sent).
    let closed = free_port();
    s.set_faults(Faults::default());
    let mut args: Vec<String> = vec![
        "once".into(),
        file.display().to_string(),
        "--ca-file".into(),
        ca.clone(),
        "--quiet".into(),
        "--baseline-prometheus".into(),
        format!("http://127.0.0.1:{closed}"),
    ];
    args.push("--samples".into());
    args.push("2".into());
    let o = run_bin(args).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("error: baseline-prometheus:"), "{err}");
    drop(prom);
    s.stop().await;
}

async fn run_bin(args: Vec<String>) -> std::process::Output {
    run(args, vec![]).await
}
