//! scripts/post-deploy-check.sh, run with bash as a deploy pipeline would:
//! healthy demo → 0 with reports written; the same deploy with +80 ms on the
//! health endpoint against the saved baseline → 1. The password goes in via
//! the environment and never shows up in the output.

use std::process::Output;

use smokeprobe::demo::{DemoOptions, Faults};

use crate::common::*;

const SCRIPT: &str = "scripts/post-deploy-check.sh";

#[test]
fn the_script_parses() {
    let o = std::process::Command::new("bash")
        .arg("-n")
        .arg(repo_file(SCRIPT))
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

async fn script(env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(repo_file(SCRIPT))
            .current_dir(repo_file(""))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SMOKEPROBE_STATE_DIR", state_dir())
            .envs(env)
            .output()
            .expect("bash runs the script")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_deploy_passes_and_slow_deploy_fails_against_the_baseline() {
    let (s, d, ca) = tls_demo_with_ca(&[]).await;
    let o = DemoOptions::default();
    let reports = d.path().join("reports");
    let baseline = d.path().join("baseline.json");
    let env = |extra: &[(&str, String)]| {
        let mut e: Vec<(String, String)> = vec![
            ("SMOKEPROBE".into(), BIN.into()),
            (
                "SMOKEPROBE_VARS".into(),
                format!(
                    "base={} http_base={} username={} allowed_origin={}",
                    s.base_url(),
                    s.http_url(),
                    o.username,
                    o.cors_origins[0]
                ),
            ),
            ("SMOKEPROBE_PASSWORD".into(), o.password.clone()),
            ("CA_FILE".into(), ca.clone()),
            ("FLOWS".into(), "health".into()),
            ("WAIT_HEALTHY".into(), "10s".into()),
            ("SAMPLES".into(), "20".into()),
            ("REPORT_DIR".into(), reports.display().to_string()),
        ];
        e.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        e
    };

    // Before the deploy: a passing run saved as the baseline.
    let out = script(env(&[("SAVE_BASELINE", baseline.display().to_string())])).await;
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{so}\nstderr:\n{se}");
    assert!(se.contains("post-deploy check: exit 0 (passed)"), "{se}");
    assert!(reports.join("junit.xml").exists() && reports.join("report.json").exists());
    assert!(!so.contains(&o.password) && !se.contains(&o.password));

    // The same version again: no regression.
    let out = script(env(&[("BASELINE_FILE", baseline.display().to_string())])).await;
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{so}\nstderr:\n{se}");
    assert!(so.contains("no latency regression"), "{so}");

    // A slow deploy.
    let mut f = Faults::default();
    f.apply_spec("latency:/api/health=80ms").unwrap();
    s.set_faults(f);
    let out = script(env(&[("BASELINE_FILE", baseline.display().to_string())])).await;
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{so}\nstderr:\n{se}");
    assert!(so.contains("REGRESSION"), "{so}");
    assert!(se.contains("post-deploy check: exit 1 (FAILED"), "{se}");
    assert!(!so.contains(&o.password) && !se.contains(&o.password));
    s.stop().await;
}

#[test]
fn the_github_actions_example_runs_the_gate_and_publishes_junit() {
    let text = std::fs::read_to_string(repo_file("deploy/ci/github-actions.yml")).unwrap();
    let v: serde_json::Value =
        serde_saphyr::from_str(&text).expect("deploy/ci/github-actions.yml is valid YAML");
    let steps = v["jobs"]["deploy"]["steps"].as_array().expect("steps");
    let gate = steps
        .iter()
        .position(|s| s["run"].as_str() == Some("scripts/post-deploy-check.sh"))
        .expect("a step runs the script");
    let deploy = steps
        .iter()
        .position(|s| s["name"] == "Deploy")
        .expect("a deploy step");
    assert!(deploy < gate, "the gate runs after the deploy");
    assert!(
        steps[gate].get("continue-on-error").is_none(),
        "a failing gate fails the job"
    );
    let junit = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.contains("junit")))
        .expect("a JUnit report action");
    assert_eq!(junit["if"], "always()");
    assert_eq!(
        junit["with"]["report_paths"],
        format!(
            "{}/junit.xml",
            steps[gate]["env"]["REPORT_DIR"].as_str().unwrap()
        )
    );
    assert!(
        steps[gate]["env"]["SMOKEPROBE_PASSWORD"]
            .as_str()
            .unwrap()
            .contains("secrets."),
        "the password comes from a secret"
    );
}
