//! The other subcommands: `demo --once` (what a newcomer runs), `check` and
//! `schema` — and that the schema describes what the parser accepts.

use serde_json::Value;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_once_probes_the_builtin_target_and_passes() {
    let out = run(vec!["demo".into(), "--once".into()], vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("listening on https://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("plain HTTP on http://127.0.0.1:"),
        "{stdout}"
    );
    for flow in [
        "health",
        "trip-lifecycle",
        "── Security ──",
        "cors-login",
        "tls-certificate",
        "https-redirect",
        "── Frontend ──",
    ] {
        assert!(stdout.contains(flow), "{flow} missing from:\n{stdout}");
    }
    assert!(stdout.contains("✅ PASSED"), "{stdout}");
    // Not a terminal: no colour codes in the checklist.
    assert!(!stdout.contains("\x1b["), "{stdout:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_rejects_unknown_fault_specs_with_usage_error() {
    let out = run(
        vec![
            "demo".into(),
            "--once".into(),
            "--fault".into(),
            "melt-cpu".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_the_plan_with_secrets_redacted() {
    let out = run(
        vec![
            "check".into(),
            repo_file("probes/contravento.yaml").display().to_string(),
            "--secret".into(),
            "password=Sup3r-Secret-Value".into(),
        ],
        vec![],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("password = ***  (secret)"), "{stdout}");
    assert!(stdout.contains("flow registration (optional)"), "{stdout}");
    assert!(
        stdout.contains("generated png image, 5000000 bytes"),
        "{stdout}"
    );
    assert!(!stdout.contains("Sup3r-Secret-Value"), "{stdout}");
    assert!(stdout.contains("ok: 18 flow(s) valid"), "{stdout}");
    assert!(
        stdout.contains("certificate: tls check ${base}"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "profile checklist over 3 URL(s) and their own assets; required: hsts, frame-options, content-type-options"
        ),
        "{stdout}"
    );
}

/// CI lints probe files without production secrets: `check` passes and says
/// what a run will need; `once` and `run` still refuse to start without it,
/// saying how to set it, before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_without_password_lists_it_and_once_and_run_refuse() {
    let probe = repo_file("probes/contravento.yaml").display().to_string();
    let out = run(vec!["check".into(), probe.clone()], vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "needs at run time:\n  password (secret, from --secret password=… or SMOKEPROBE_VAR_PASSWORD)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("password = (given at run time)  (secret)"),
        "{stdout}"
    );
    assert!(stdout.contains("ok: 18 flow(s) valid"), "{stdout}");

    // Given, it is not listed.
    let out = run(
        vec![
            "check".into(),
            probe.clone(),
            "--secret".into(),
            "password=Sup3r-Secret-Value".into(),
        ],
        vec![],
    )
    .await;
    let (stdout, _) = text(&out);
    assert!(!stdout.contains("needs at run time"), "{stdout}");

    // The findings file is checked against the flows all the same.
    let out = run(
        vec![
            "check".into(),
            probe.clone(),
            "--accept".into(),
            repo_file("probes/contravento.accepted.yaml")
                .display()
                .to_string(),
        ],
        vec![],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("accepted finding(s) valid"), "{stdout}");
    assert!(stdout.contains("needs at run time:"), "{stdout}");

    for cmd in [
        vec!["once".to_string(), probe.clone(), "--quiet".into()],
        vec![
            "run".to_string(),
            probe.clone(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ],
    ] {
        let out = run(cmd.clone(), vec![]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stdout}{stderr}");
        assert!(stderr.contains("contravento.yaml:"), "{stderr}");
        assert!(
            stderr.contains("variable `password` has no value"),
            "{stderr}"
        );
        assert!(stderr.contains("SMOKEPROBE_VAR_PASSWORD"), "{stderr}");
    }
}

/// A small structural walk: every key of `v` must be allowed by `schema`
/// (properties / additionalProperties / items / oneOf / anyOf / $ref). Returns the
/// paths that the schema does not describe.
fn undescribed(v: &Value, schema: &Value, root: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return undescribed(v, &root["$defs"][name], root, path, out);
    }
    // `oneOf` (a value of several shapes) and `anyOf` (an optional value:
    // its schema or null) alike: some alternative must describe `v`.
    if let Some(alts) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let ok = alts.iter().any(|alt| {
            let mut sub = Vec::new();
            undescribed(v, alt, root, path, &mut sub);
            sub.is_empty() && type_ok(v, alt)
        });
        if !ok {
            out.push(format!("{path}: matches no alternative"));
        }
        return;
    }
    if !type_ok(v, schema) {
        out.push(format!("{path}: wrong type"));
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                let sub = schema
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                match sub {
                    Some(s) => undescribed(val, s, root, &format!("{path}.{k}"), out),
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        out.push(format!("{path}.{k}: not in schema"))
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    undescribed(item, s, root, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn type_ok(v: &Value, schema: &Value) -> bool {
    let Some(t) = schema.get("type") else {
        return true;
    };
    let types: Vec<&str> = match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    types.iter().any(|t| match *t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_describes_the_shipped_probe_file_and_rejects_typos() {
    let out = run(vec!["schema".into()], vec![]).await;
    assert_eq!(out.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );

    let yaml = std::fs::read_to_string(repo_file("probes/contravento.yaml")).unwrap();
    let doc: Value = serde_saphyr::from_str(&yaml).expect("probe file is YAML");
    let mut problems = Vec::new();
    undescribed(&doc, &schema, &schema, "$", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");

    // The walk can fail: a typo'd key is reported.
    let typo = yaml.replacen("expect:", "expct:", 1);
    let doc: Value = serde_saphyr::from_str(&typo).unwrap();
    let mut problems = Vec::new();
    undescribed(&doc, &schema, &schema, "$", &mut problems);
    assert!(
        problems
            .iter()
            .any(|p| p.ends_with(".expct: not in schema")),
        "{problems:?}"
    );
}

/// `demo --serve-only` serves HTTPS with a CA it writes out for curl, and a
/// SIGTERM stops it cleanly and removes that file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serve_only_writes_its_ca_and_cleans_up_on_sigterm() {
    use std::io::BufRead;
    let mut child = crate::common::command()
        .args(["demo", "--serve-only"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("utf-8 line");
            let done = line.contains("serving until Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(std::time::Duration::from_secs(30), lines)
        .await
        .expect("demo prints its banner")
        .unwrap();
    let text = lines.join("\n");
    let base = text
        .split_whitespace()
        .find(|w| w.starts_with("https://127.0.0.1:"))
        .expect("https base in banner")
        .to_string();
    let ca = text
        .lines()
        .find_map(|l| l.split("(for curl --cacert): ").nth(1))
        .map(std::path::PathBuf::from)
        .expect("CA path in banner");
    let pem = std::fs::read_to_string(&ca).expect("CA file exists while serving");
    let http = smokeprobe::net::HttpFactory::new(&smokeprobe::net::NetOptions {
        ca_pems: vec![pem],
        ..Default::default()
    })
    .unwrap();
    let req = smokeprobe::net::http::Request::new(
        http::Method::GET,
        url::Url::parse(&format!("{base}/api/health")).unwrap(),
    );
    let resp = http
        .session()
        .send(req, &Default::default())
        .await
        .expect("HTTPS trusted through the written CA");
    assert_eq!(resp.status, 200);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(!ca.exists(), "{} left behind", ca.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_stands_for_its_yaml_files() {
    let out = run(
        vec![
            "check".into(),
            repo_file("probes").display().to_string(),
            "--secret".into(),
            "password=xxxxxxxx".into(),
        ],
        vec![],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("probes/contravento.yaml"), "{stdout}");
    let empty = tempfile::tempdir().unwrap();
    let out = run(
        vec!["check".into(), empty.path().display().to_string()],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("no *.yaml probe files in"),
        "{:?}",
        text(&out)
    );
}
