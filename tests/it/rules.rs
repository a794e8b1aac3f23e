//! Prometheus rules: the shipped files pass `promtool check rules` and their
//! unit tests (`promtool test rules`: every alert fires when it should and
//! stays quiet when it should not); the budget rules are exactly what
//! `smokeprobe rules` generates from the shipped probe file; and against a real
//! Prometheus scraping `smokeprobe run`, the over-budget alert fires once
//! latency is injected into the demo target. Also: `--shard` and `healthcheck`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use smokeprobe::demo::Faults;

use crate::common::*;
use crate::prometheus_e2e::start_prometheus_with;
use crate::run::{probe, sample, start_run};

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo_file("deploy/prometheus"))
        .output()
        .expect(
            "promtool is needed for this test: `apt-get install -y prometheus` (Debian) — .ci/run installs it",
        );
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn shipped_rules_pass_promtool_check_and_their_unit_tests() {
    let (ok, out) = promtool(&[
        "check",
        "rules",
        "rules/smokeprobe.yml",
        "rules/contravento-budgets.yml",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&[
        "test",
        "rules",
        "tests/smokeprobe_test.yml",
        "tests/budgets_test.yml",
    ]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("SUCCESS").count(), 2, "{out}");
}

#[test]
fn budget_rules_are_generated_from_the_probe_file() {
    let out = crate::common::command()
        .args(["rules", "probes/contravento.yaml"])
        .current_dir(repo_file(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = String::from_utf8(out.stdout).unwrap();
    let shipped =
        std::fs::read_to_string(repo_file("deploy/prometheus/rules/contravento-budgets.yml"))
            .unwrap();
    assert_eq!(
        fresh, shipped,
        "deploy/prometheus/rules/contravento-budgets.yml is stale: regenerate it with \
         `smokeprobe rules probes/contravento.yaml > deploy/prometheus/rules/contravento-budgets.yml`"
    );
    // One alert per budget in the file: the 500 ms auth budget is there.
    assert!(fresh.contains("step=\"login\"}[15m]))) > 0.5"), "{fresh}");
    assert_eq!(
        fresh.matches("- alert: SmokeprobeStepOverBudget").count(),
        12
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_over_budget_alert_fires_under_injected_latency() {
    let (s, d, ca) = tls_demo_with_ca(&[]).await;
    let flows = r#"
  - name: health
    interval: 200ms
    steps:
      - name: api-health
        url: ${base}/api/health
        budget: 100ms
"#;
    let yaml = probe(&s.base_url(), flows);
    let file = d.path().join("probe.yaml");
    std::fs::write(&file, &yaml).unwrap();
    // Short windows so that the test takes seconds, not minutes.
    let out = crate::common::command()
        .arg("rules")
        .arg(&file)
        .args(["--window", "10s", "--for", "1s", "--min-samples", "5"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rules = d.path().join("budgets.yml");
    std::fs::write(&rules, &out.stdout).unwrap();

    let run = start_run(&yaml, &["--ca-file", &ca], &[]).await;
    let prom = start_prometheus_with(&run.addr, &[PathBuf::from(&rules)]).await;
    let firing =
        "ALERTS{alertname=\"SmokeprobeStepOverBudget\",alertstate=\"firing\",flow=\"health\"}";
    let expr = "histogram_quantile(0.95, sum by (location, le) (rate(smokeprobe_step_duration_seconds_bucket{step=\"api-health\"}[10s]))) > 0.1";
    // Healthy: the expression is evaluated (enough data) and empty.
    let start = Instant::now();
    loop {
        let v = prom
            .query(
                "sum(increase(smokeprobe_step_duration_seconds_count{step=\"api-health\"}[10s]))",
            )
            .await;
        let n: f64 = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0.0);
        if n >= 10.0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no data: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let healthy = prom.query(expr).await;
    assert_eq!(
        healthy["data"]["result"].as_array().unwrap().len(),
        0,
        "{healthy}"
    );
    assert_eq!(
        prom.query(firing).await["data"]["result"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // 150 ms on every health call: p95 over the 100 ms budget.
    let mut f = Faults::default();
    f.apply_spec("latency:/api/health=150ms").unwrap();
    s.set_faults(f);
    let p95 = prom.query_until(expr, Duration::from_secs(60)).await;
    assert!(p95 > 0.1, "{p95}");
    let _ = prom.query_until(firing, Duration::from_secs(60)).await;
    let m = run.metrics().await;
    assert_eq!(
        sample(&m, "probe_success", &[("flow", "health")]),
        Some(1.0)
    );
    drop(prom);
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    s.stop().await;
}

#[test]
fn shards_split_every_flow_exactly_once() {
    use smokeprobe::config::{Inputs, load};
    use smokeprobe::scheduler::Shard;
    let mut inputs = Inputs::from_process(&[]);
    inputs.values_optional = true;
    let plan = load(&[repo_file("probes/contravento.yaml")], &inputs).unwrap();
    for n in 1..=5u32 {
        let shards: Vec<Shard> = (1..=n)
            .map(|i| format!("{i}/{n}").parse().unwrap())
            .collect();
        for f in &plan.flows {
            let owners = shards.iter().filter(|s| s.owns(f)).count();
            assert_eq!(owners, 1, "{} in {n} shards", f.name);
        }
    }
    for bad in ["0/2", "3/2", "1/0", "x/2", "2"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_run_every_flow_once_and_label_their_location() {
    let (s, _d, ca) = tls_demo_with_ca(&[]).await;
    let names: Vec<String> = (1..=8).map(|i| format!("flow-{i}")).collect();
    let flows: String = names
        .iter()
        .map(|n| {
            format!(
                "  - name: {n}\n    interval: 200ms\n    steps:\n      - name: ping\n        url: ${{base}}/api/health\n"
            )
        })
        .collect();
    let yaml = probe(&s.base_url(), &flows);
    let a = start_run(
        &yaml,
        &["--ca-file", &ca, "--shard", "1/2", "--location", "eu-west"],
        &[],
    )
    .await;
    let b = start_run(
        &yaml,
        &["--ca-file", &ca, "--shard", "2/2", "--location", "us-east"],
        &[],
    )
    .await;
    let ran = |m: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| sample(m, "probe_success", &[("flow", n.as_str())]).is_some())
            .cloned()
            .collect()
    };
    let ma = a
        .wait_for(Duration::from_secs(20), "shard 1 ran", |m| {
            !ran(m).is_empty()
        })
        .await;
    let mb = b
        .wait_for(Duration::from_secs(20), "shard 2 ran", |m| {
            !ran(m).is_empty()
        })
        .await;
    // Every flow ran on the shard that owns it (configured = scheduled).
    let (ra, rb) = (ran(&ma), ran(&mb));
    assert_eq!(
        sample(&ma, "smokeprobe_flows", &[]).unwrap()
            + sample(&mb, "smokeprobe_flows", &[]).unwrap(),
        8.0
    );
    let ma = a
        .wait_for(Duration::from_secs(20), "all of shard 1", |m| {
            ran(m).len() as f64 == sample(m, "smokeprobe_flows", &[]).unwrap_or(-1.0)
        })
        .await;
    let mb = b
        .wait_for(Duration::from_secs(20), "all of shard 2", |m| {
            ran(m).len() as f64 == sample(m, "smokeprobe_flows", &[]).unwrap_or(-1.0)
        })
        .await;
    let _ = (ra, rb);
    let (ra, rb) = (ran(&ma), ran(&mb));
    let mut all: Vec<String> = ra.iter().chain(rb.iter()).cloned().collect();
    all.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(all, want, "shard 1 ran {ra:?}, shard 2 ran {rb:?}");
    assert!(ra.iter().all(|f| !rb.contains(f)), "{ra:?} / {rb:?}");
    // Every series says where it was measured.
    assert!(
        ma.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.contains("location=\"eu-west\"")),
        "{ma}"
    );
    assert!(mb.contains("location=\"us-east\""));

    // The image's HEALTHCHECK: exit 0 against a healthy probe, 1 against nothing.
    let ok = crate::common::command()
        .args(["healthcheck", &a.url("/-/healthy")])
        .status()
        .unwrap();
    assert_eq!(ok.code(), Some(0));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = crate::common::command()
        .args([
            "healthcheck",
            &format!("http://{closed}/-/healthy"),
            "--timeout",
            "2s",
        ])
        .status()
        .unwrap();
    assert_eq!(down.code(), Some(1));
    let (ca_code, _) = a.terminate(Duration::from_secs(20)).await;
    let (cb_code, _) = b.terminate(Duration::from_secs(20)).await;
    assert_eq!((ca_code, cb_code), (Some(0), Some(0)));
    s.stop().await;
}
