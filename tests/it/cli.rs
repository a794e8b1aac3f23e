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

/// A bad value of a typed flag of `once` (a URL that does not parse or is
/// not http(s), a size that is not one) is exit 2 naming the flag and the
/// value, and nothing ran: no request reached the target, no report was
/// written. The same command with good values does both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_typed_once_flag_is_exit_2_before_anything_runs() {
    let s = demo(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("health.yaml");
    std::fs::write(
        &probe,
        "version: 1\nvars:\n  base: http://127.0.0.1:9\nflows:\n  - name: health\n    steps:\n      - name: health\n        url: ${base}/api/health\n",
    )
    .unwrap();
    let once = |extra: &[&str]| {
        let reports = Reports::new();
        let mut args = vec![
            "once".to_string(),
            probe.display().to_string(),
            "--quiet".into(),
            "--var".into(),
            format!("base={}", s.base_url()),
        ];
        args.extend(reports.args());
        args.extend(extra.iter().map(|x| x.to_string()));
        (args, reports)
    };
    for (flag, value) in [
        ("--pushgateway", "push.example:9091"),
        ("--pushgateway", "ftp://push.example:9091"),
        ("--baseline-prometheus", "http://[::1"),
        ("--baseline-prometheus", "ftp://prometheus.example:9090"),
        ("--max-body", "10XB"),
    ] {
        let (args, reports) = once(&[flag, value]);
        let out = run(args, vec![]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value}: {stdout}{stderr}"
        );
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '{flag} <")),
            "{flag} {value}: {stderr}"
        );
        assert!(
            !reports.json_path().exists(),
            "{flag} {value}: report written"
        );
        assert_eq!(s.request_count(), 0, "{flag} {value}: a request was sent");
    }
    let (_, stderr) = text(&run(once(&["--pushgateway", "ftp://p.example"]).0, vec![]).await);
    assert!(stderr.contains("an http:// or https:// URL"), "{stderr}");
    let (_, stderr) = text(&run(once(&["--max-body", "10XB"]).0, vec![]).await);
    assert!(stderr.contains("`10XB` is not a size"), "{stderr}");

    // The same run with good values sends and writes.
    let (args, reports) = once(&["--max-body", "1MB"]);
    let out = run(args, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(reports.json_path().exists());
    assert!(s.request_count() > 0);
    s.stop().await;
}

/// `healthcheck`'s URL is typed too: a non-http(s) URL is exit 2 (a flag
/// problem), not exit 1 (unhealthy), and nothing connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthcheck_url_that_is_not_http_is_exit_2_and_connects_nowhere() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for url in [
        format!("ftp://127.0.0.1:{port}/-/healthy"),
        format!("127.0.0.1:{port}/-/healthy"),
    ] {
        let out = run(vec!["healthcheck".into(), url.clone()], vec![]).await;
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{url}' for '[URL]'")),
            "{stderr}"
        );
        assert!(listener.accept().is_err(), "{url}: a connection was made");
    }
    // A good URL to the same port connects (and gets no HTTP answer: 1).
    let out = run(
        vec![
            "healthcheck".into(),
            format!("http://127.0.0.1:{port}/-/healthy"),
            "--timeout".into(),
            "1s".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(listener.accept().is_ok(), "the good URL connected");
}

/// `demo`'s `--tls` mode and `--fault` specs are typed: an unknown one is
/// exit 2 naming the flag and the value (and the valid modes), before the
/// target starts (no banner).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_demo_tls_mode_or_fault_is_exit_2_before_the_target_starts() {
    for (flag, value, lists) in [
        ("--tls", "expired-ish", "expiring-soon"),
        ("--tls", "self_signed", "wrong-host"),
        ("--fault", "melt-cpu", "valid faults are"),
        (
            "--fault",
            "latency:/api=fast",
            "the delay must look like 800ms",
        ),
    ] {
        let out = run(
            vec!["demo".into(), "--once".into(), flag.into(), value.into()],
            vec![],
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '{flag} <")),
            "{flag} {value}: {stderr}"
        );
        assert!(stderr.contains(lists), "{flag} {value}: {stderr}");
        assert!(
            !stdout.contains("listening on"),
            "{flag} {value}: the target started: {stdout}"
        );
    }
    // The help still lists every mode.
    let out = crate::common::command()
        .args(["demo", "--help"])
        .output()
        .unwrap();
    let (help, _) = text(&out);
    for mode in [
        "valid",
        "expiring-soon",
        "expired",
        "self-signed",
        "wrong-host",
        "off",
    ] {
        assert!(help.contains(mode), "{mode} missing from --help:\n{help}");
    }
}
