//! The generated JSON Schema (`smokeprobe schema`) judged by an independent
//! validator, `check-jsonschema` (PyPI; `.ci/run` installs it into
//! `.ci/.venv` and exports `SMOKEPROBE_CHECK_JSONSCHEMA`): every good probe
//! file of the repository validates, and what the compiler refuses by its
//! shape (two check kinds in a step, a typo'd key, a duration without a
//! unit, …) does not. Where the two could disagree (durations), each case is
//! put to both.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

const INSTALL: &str = "python3 -m venv .ci/.venv && .ci/.venv/bin/pip install check-jsonschema==0.39.0, \
     then SMOKEPROBE_CHECK_JSONSCHEMA=$PWD/.ci/.venv/bin/check-jsonschema (what .ci/run does)";

/// `$SMOKEPROBE_CHECK_JSONSCHEMA`, else the one `.ci/run` installed in
/// `.ci/.venv` (so the README's test command works after one `.ci/run`), else
/// `check-jsonschema` on `PATH`; never a skip: without the validator the test
/// fails and says how to install it.
fn validator() -> PathBuf {
    if let Some(p) = std::env::var_os("SMOKEPROBE_CHECK_JSONSCHEMA") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SMOKEPROBE_CHECK_JSONSCHEMA={} is not a file; install it: {INSTALL}",
            p.display()
        );
        return p;
    }
    let venv = repo_file(".ci/.venv/bin/check-jsonschema");
    if venv.is_file() {
        return venv;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("check-jsonschema"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("check-jsonschema is not installed and SMOKEPROBE_CHECK_JSONSCHEMA is unset; install it: {INSTALL}")
        })
}

/// `smokeprobe schema`, written to a file in `dir`.
fn schema_file(dir: &Path) -> PathBuf {
    let out = command().arg("schema").output().expect("smokeprobe runs");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let path = dir.join("smokeprobe.schema.json");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// check-jsonschema over `files` (YAML instances).
fn validate(schema: &Path, files: &[PathBuf]) -> Output {
    std::process::Command::new(validator())
        .arg("--schemafile")
        .arg(schema)
        .args(files)
        .output()
        .expect("check-jsonschema runs")
}

fn check(file: &Path) -> Output {
    command()
        .arg("check")
        .arg(file)
        .output()
        .expect("smokeprobe runs")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The shipped probe files (not the findings file next to them) and every
/// probe file under tests/ but the broken ones of `config_errors`.
fn good_probe_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    yaml_files(&repo_file("probes"), &mut files);
    files.retain(|f| !f.to_string_lossy().ends_with(".accepted.yaml"));
    let mut under_tests = Vec::new();
    yaml_files(&repo_file("tests"), &mut under_tests);
    let bad = repo_file("tests/fixtures/bad");
    files.extend(under_tests.into_iter().filter(|f| !f.starts_with(&bad)));
    files.sort();
    files
}

#[test]
fn every_good_probe_file_validates_against_the_generated_schema() {
    let files = good_probe_files();
    for must in ["probes/contravento.yaml", "tests/fixtures/every-key.yaml"] {
        assert!(files.contains(&repo_file(must)), "{must} in {files:?}");
    }
    for f in &files {
        let out = check(f);
        assert_eq!(
            out.status.code(),
            Some(0),
            "`smokeprobe check {}` refuses a good fixture: {:?}",
            f.display(),
            text(&out)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = validate(&schema_file(dir.path()), &files);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// `every-key.yaml` uses every key of the format: the schema's properties
/// all appear in it (so a key added to the raw types needs a line there).
#[test]
fn the_every_key_fixture_uses_every_key_of_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schema_file(dir.path())).unwrap()).unwrap();
    let yaml = std::fs::read_to_string(repo_file("tests/fixtures/every-key.yaml")).unwrap();
    let mut missing = Vec::new();
    let defs = schema["$defs"].as_object().unwrap();
    for (def, s) in defs
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain([("(root)", &schema)])
    {
        if matches!(def, "findingsFile" | "finding") {
            continue;
        }
        for key in s["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys())
        {
            let used = yaml.contains(&format!("{key}:")) || yaml.contains(&format!("{{ {key}:"));
            if !used {
                missing.push(format!("{def}.{key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys every-key.yaml never uses: {missing:?}"
    );
}

fn every_key_with(dir: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let yaml = std::fs::read_to_string(repo_file("tests/fixtures/every-key.yaml")).unwrap();
    let edited = edit(&yaml);
    assert_ne!(edited, yaml, "{name}: the edit changed nothing");
    // The multipart part names the fixture itself, relative to the file.
    std::fs::write(dir.join("every-key.yaml"), &yaml).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, edited).unwrap();
    path
}

#[test]
fn a_step_with_two_check_kinds_is_refused_by_the_schemas_one_of() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema_file(dir.path());
    let two = every_key_with(dir.path(), "two-kinds.yaml", |y| {
        y.replacen(
            "      - name: cors\n",
            "      - name: cors\n        tls: { url: https://app.example }\n",
            1,
        )
    });
    let out = check(&two);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("this one has `cors` and `tls`"),
        "{:?}",
        text(&out)
    );

    let out = validate(&schema, &[two]);
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    // The second flow's first step, as both the cors and the tls alternative.
    assert!(stdout.contains("$.flows[1].steps[0]"), "{stdout}{stderr}");
    for alt in ["'cors check'", "'tls check'"] {
        assert!(stdout.contains(alt), "{alt}: {stdout}{stderr}");
    }
}

#[test]
fn a_typo_key_is_refused_at_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema_file(dir.path());
    for (name, from, to, path) in [
        (
            "step.yaml",
            "        expect:\n",
            "        expct:\n",
            "$.flows[0].steps[0]",
        ),
        (
            "check.yaml",
            "          min_days:",
            "          min_day:",
            "$.flows[1].steps[3].tls",
        ),
        ("top.yaml", "defaults:\n", "default:\n", "$:"),
    ] {
        let file = every_key_with(dir.path(), name, |y| y.replacen(from, to, 1));
        let out = check(&file);
        assert_eq!(out.status.code(), Some(2), "{name}: {:?}", text(&out));
        let out = validate(&schema, &[file]);
        let (stdout, stderr) = text(&out);
        assert_ne!(out.status.code(), Some(0), "{name}: {stdout}{stderr}");
        let key = to.trim().trim_end_matches(':');
        assert!(
            stdout.contains(path) && stdout.contains(&format!("'{key}' was unexpected")),
            "{name}: {stdout}{stderr}"
        );
    }
}

/// Each value put to both the compiler (`smokeprobe check`) and the schema,
/// as a step's `timeout`, a flow's `interval` or a step's `budget`; the two
/// must agree on whether the file is good.
#[test]
fn durations_and_shapes_are_judged_alike_by_the_compiler_and_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema_file(dir.path());
    let cases: &[(&str, &str, bool)] = &[
        ("timeout", "1h 30min", true),
        ("timeout", "1d", true),
        ("interval", "1d", true),
        ("timeout", "5 s", true),
        ("timeout", "1m30s", true),
        ("timeout", "1.5s", true),
        ("timeout", "250ms", true),
        ("budget", "{ p50: 100ms, p99: 2s }", true),
        ("timeout", "5", false),
        ("timeout", "\"5\"", false),
        ("timeout", "5 parsecs", false),
        ("timeout", "0s", false),
        ("timeout", "-5s", false),
        ("timeout", "[5s]", false),
        ("interval", "5S", false),
        ("budget", "200", false),
        ("budget", "[200ms]", false),
        ("budget", "{ p90: 200ms }", false),
    ];
    let mut files = Vec::new();
    for (i, (key, value, _)) in cases.iter().enumerate() {
        let (flow_line, step_line) = match *key {
            "interval" => (format!("    interval: {value}\n"), String::new()),
            _ => (String::new(), format!("        {key}: {value}\n")),
        };
        let yaml = format!(
            "flows:\n  - name: f\n{flow_line}    steps:\n      - name: s\n        url: http://127.0.0.1:9/\n{step_line}"
        );
        let file = dir.path().join(format!("case-{i:02}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        files.push(file);
    }
    // One validator run over all of them: it names each file it refuses.
    let out = validate(&schema, &files);
    let (report, _) = text(&out);
    let mut disagree = Vec::new();
    for (i, ((key, value, good), file)) in cases.iter().zip(&files).enumerate() {
        let compiler = check(file).status.code() == Some(0);
        let schema_ok = !report.contains(&format!("case-{i:02}.yaml::"));
        if compiler != *good || schema_ok != *good {
            disagree.push(format!(
                "{key}: {value} (expected {}): compiler {compiler}, schema {schema_ok}",
                if *good { "good" } else { "refused" },
            ));
        }
    }
    assert_ne!(
        out.status.code(),
        Some(0),
        "the refused cases are refused: {report}"
    );
    assert!(disagree.is_empty(), "{disagree:#?}");
}
