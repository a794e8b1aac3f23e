//! `once --pushgateway`: a real Pushgateway (Debian's `prometheus-pushgateway`,
//! installed by `.ci/run`) receives the run's series and the deploy marker;
//! an unreachable Pushgateway is a warning that leaves the exit code alone.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

pub struct Pushgateway {
    child: Child,
    pub url: String,
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_pushgateway() -> Pushgateway {
    let port = free_port();
    let child = Command::new("prometheus-pushgateway")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--persistence.file=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "prometheus-pushgateway is needed for this test: `apt-get install -y prometheus-pushgateway` (Debian) — .ci/run installs it",
        );
    let p = Pushgateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait_ready(
        &format!("{}/-/ready", p.url),
        Duration::from_secs(30),
        "pushgateway",
    )
    .await;
    p
}

/// The value of the first exposed sample whose line starts with `name{` and
/// contains every one of `labels`.
fn sample_value(exposition: &str, name: &str, labels: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn once_pushes_results_and_a_deploy_marker() {
    let pg = start_pushgateway().await;
    let (s, d, _ca) = tls_demo_with_ca(&[]).await;
    let mut args = contravento_args(&s, d.path());
    args.extend(
        [
            "--flow",
            "health",
            "--samples",
            "5",
            "--pushgateway",
            &pg.url,
            "--deploy-version",
            "v1.2.3",
        ]
        .map(String::from),
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let o = run(args, vec![]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("pushed 1 group(s)"), "{err}");

    let m = get_text(format!("{}/metrics", pg.url)).await;
    let job = "job=\"smokeprobe_once\"";
    let marker = sample_value(
        &m,
        "smokeprobe_deploy_info",
        &[job, "version=\"v1.2.3\"", "target="],
    )
    .unwrap_or_else(|| panic!("no deploy marker in\n{m}"));
    assert!(
        marker >= before.floor() && marker < before + 120.0,
        "marker {marker} is the run's time ({before})"
    );
    assert_eq!(
        sample_value(&m, "probe_success", &[job, "flow=\"health\""]),
        Some(1.0),
        "{m}"
    );
    let p95 = sample_value(
        &m,
        "smokeprobe_once_step_p95_seconds",
        &[job, "flow=\"health\"", "step="],
    )
    .unwrap_or_else(|| panic!("no step p95 in\n{m}"));
    assert!(p95 > 0.0 && p95 < 5.0, "p95 {p95}");
    assert_eq!(
        sample_value(
            &m,
            "smokeprobe_once_step_failed_samples",
            &[job, "flow=\"health\""]
        ),
        Some(0.0),
        "{m}"
    );
    assert!(
        sample_value(&m, "smokeprobe_once_last_run_timestamp_seconds", &[job]).is_some(),
        "{m}"
    );
    // The demo's target label is the configured one, not something the push made up.
    let target_line = m
        .lines()
        .find(|l| l.starts_with("smokeprobe_deploy_info{"))
        .unwrap();
    assert!(!target_line.contains("target=\"\""), "{target_line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_push_is_a_warning_not_a_rollback() {
    let closed = free_port();
    let (s, d, _ca) = tls_demo_with_ca(&[]).await;
    let mut args = contravento_args(&s, d.path());
    args.extend(
        [
            "--flow",
            "health",
            "--samples",
            "2",
            "--pushgateway",
            &format!("http://127.0.0.1:{closed}"),
            "--deploy-version",
            "v9",
        ]
        .map(String::from),
    );
    let o = run(args, vec![]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("warning: pushgateway:"), "{err}");
    assert!(err.contains("exit code unchanged"), "{err}");
}
