//! The bad-input corpus: every file in `tests/fixtures/bad/` is malformed in
//! exactly one way, and `smokeprobe check` must reject it with exit code 2 and
//! an error that points at the offending token (`FILE:LINE:COL: message`).
//! A malformed file must also stop `once` before anything is sent.

use std::collections::BTreeSet;

use crate::common::*;

const BAD_DIR: &str = "tests/fixtures/bad";

/// A fixture, where its first error must point (1-based line and column, checked
/// by eye against the file) and a distinctive part of the message.
struct Case {
    file: &'static str,
    line: u32,
    col: u32,
    says: &'static str,
}

const fn case(file: &'static str, line: u32, col: u32, says: &'static str) -> Case {
    Case {
        file,
        line,
        col,
        says,
    }
}

const CASES: &[Case] = &[
    // `method:` is indented one column less than the step's other keys.
    case(
        "01-yaml-bad-indent.yaml",
        7,
        8,
        "did not find expected '-' indicator",
    ),
    // The flow sequence `[200, 204` is never closed: points at the `[`.
    case(
        "02-yaml-unclosed-bracket.yaml",
        8,
        19,
        "unclosed bracket '['",
    ),
    case(
        "04-unknown-step-key.yaml",
        7,
        9,
        "unknown field `expct`, expected one of",
    ),
    case("03-steps-not-a-list.yaml", 3, 12, "expected a list here"),
    // At the step, not at its last key.
    case("06-missing-url.yaml", 4, 9, "step `ping` has no `url`"),
    case(
        "05-unknown-top-level-key.yaml",
        3,
        1,
        "unknown field `flow`, expected one of",
    ),
    // At the `${` of `${api_version}`, not at the start of the URL.
    case(
        "07-undefined-var-in-url.yaml",
        8,
        26,
        "undefined variable `api_version` (known here: base)",
    ),
    case(
        "08-capture-used-before-defined.yaml",
        8,
        28,
        "`trip_id` is used before it is captured",
    ),
    case(
        "09-invalid-json-path.yaml",
        9,
        21,
        "invalid JSON path `$.data[?`",
    ),
    // At the header check (`matches:`), whose regex has an unclosed group.
    case("10-invalid-header-regex.yaml", 10, 15, "unclosed group"),
    case(
        "11-negative-duration.yaml",
        7,
        18,
        "duration `-5s` is negative",
    ),
    case("12-zero-duration.yaml", 3, 12, "duration `0s` is zero"),
    case(
        "13-unparseable-duration.yaml",
        4,
        15,
        "`every minute` is not a duration",
    ),
    // At the second `health`, naming the line of the first.
    case(
        "14-duplicate-flow-name.yaml",
        7,
        11,
        "duplicate flow name `health` (first defined at line 3)",
    ),
    case(
        "15-duplicate-step-name.yaml",
        7,
        15,
        "duplicate step name `ping` in flow `health` (first at line 5)",
    ),
    case(
        "16-missing-multipart-file.yaml",
        10,
        19,
        "cannot read multipart file",
    ),
    // At the `${env:…}`, after `Bearer `.
    case(
        "17-unset-env-var.yaml",
        9,
        33,
        "environment variable `SMOKEPROBE_TEST_SURELY_UNSET_42` is not set",
    ),
    case(
        "18-bad-status-code.yaml",
        8,
        19,
        "999 is not an HTTP status code",
    ),
    // At the step that has both `json` and `form`.
    case(
        "19-two-body-kinds.yaml",
        5,
        9,
        "only one of `json`, `form`, `body` and `multipart`",
    ),
    case(
        "20-invalid-method.yaml",
        6,
        17,
        "`GET /health` is not an HTTP method",
    ),
    case("21-empty-file.yaml", 1, 1, "probe file is empty"),
    case(
        "22-var-without-value.yaml",
        4,
        19,
        "variable `probe_password` has no value",
    ),
    case(
        "23-unknown-reference-kind.yaml",
        6,
        42,
        "unknown reference kind `nope:`",
    ),
    case(
        "24-variable-cycle.yaml",
        3,
        6,
        "variable `a` refers to itself through other variables (a cycle)",
    ),
    case(
        "25-poll-within-below-every.yaml",
        7,
        15,
        "`poll.within` must be at least `poll.every`",
    ),
    case(
        "26-image-format-gif.yaml",
        10,
        30,
        "image format `gif` is not supported",
    ),
    case(
        "27-error-after-declared-base.yaml",
        14,
        19,
        "status `2xx-ish` is not understood",
    ),
    // Check steps: at the step when the step's shape is wrong, else at the value.
    case(
        "28-check-step-with-url.yaml",
        4,
        9,
        "is a `cors` check, which sends its own requests: remove `url`",
    ),
    case(
        "29-two-checks-in-one-step.yaml",
        4,
        9,
        "a step runs one check, this one has `https_redirect` and `tls`",
    ),
    case(
        "30-unknown-header-rule.yaml",
        7,
        23,
        "unknown security-header rule `x-xss-protection`",
    ),
    case(
        "31-unknown-header-profile.yaml",
        6,
        20,
        "unknown profile `paranoid`: use checklist or strict",
    ),
    case(
        "32-https-redirect-from-https.yaml",
        6,
        16,
        "must start with http://",
    ),
    case(
        "33-cors-origin-with-path.yaml",
        8,
        29,
        "is not an origin: write scheme://host[:port]",
    ),
    case("34-leak-pattern-bad-regex.yaml", 9, 28, "invalid regex"),
    case(
        "35-tls-min-days-negative.yaml",
        7,
        21,
        "`min_days` must be from 0 to 3650",
    ),
    case(
        "36-cors-without-allowed-origins.yaml",
        6,
        11,
        "`cors` needs at least one entry in `allowed_origins`",
    ),
    case(
        "37-empty-group.yaml",
        3,
        12,
        "`group` must be 1-64 characters",
    ),
    // A header line indented with a tab (then two spaces): at the token after them.
    case(
        "38-tab-indentation.yaml",
        7,
        4,
        "tabs disallowed within this context",
    ),
    // At the second `timeout` of the step.
    case(
        "39-duplicate-yaml-key.yaml",
        7,
        9,
        "duplicate key `timeout`: each key may appear once in a mapping",
    ),
    case(
        "40-unclosed-template.yaml",
        7,
        14,
        "unclosed `${`: add the closing `}`",
    ),
    case(
        "41-env-without-name.yaml",
        8,
        33,
        "`${env:}` needs a name after the colon",
    ),
    // At the capture's mapping.
    case(
        "42-capture-json-and-header.yaml",
        9,
        18,
        "capture `token` needs exactly one of `json`, `header` and `regex`",
    ),
    // At the budget's mapping: `p95` itself carries no position.
    case(
        "43-budget-not-a-duration.yaml",
        6,
        17,
        "`fast` is not a duration",
    ),
    case(
        "44-poll-every-negative.yaml",
        7,
        18,
        "duration `-2s` is negative",
    ),
    case("45-max-body-negative.yaml", 3, 13, "`-1` is not a size"),
    // At the part that has both `file` and `image`.
    case(
        "46-multipart-file-and-image.yaml",
        8,
        13,
        "multipart part `photo` needs exactly one of `value`, `file` and `image`",
    ),
    case(
        "47-follow-redirects-too-many.yaml",
        6,
        27,
        "a hop count from 0 to 20",
    ),
    // At the JSON check (`path:`): `type` itself carries no position.
    case(
        "48-unknown-json-type.yaml",
        8,
        15,
        "unknown JSON type `list`",
    ),
    // At the item that is not a code, in words, not Rust types.
    case(
        "49-status-list-with-text.yaml",
        7,
        25,
        "status: expected a code (200), a list of codes ([200, 204]) or a class or range as text (\"2xx\", \"200-299\"), found `abc`",
    ),
    case(
        "50-check-step-with-expect.yaml",
        4,
        9,
        "is a `tls` check, which sends its own requests: remove `expect`",
    ),
    // At the `hsts` in `ignore`, naming the line where it is required.
    case(
        "51-header-required-and-ignored.yaml",
        8,
        20,
        "rule `hsts` is already listed at line 7",
    ),
    case(
        "52-group-empty-string.yaml",
        3,
        12,
        "`group` must be 1-64 characters",
    ),
    case(
        "53-for-each-unknown-list.yaml",
        5,
        19,
        "for_each: `in: ids` names no variable or earlier capture",
    ),
    case(
        "54-for-each-item-hides-variable.yaml",
        11,
        19,
        "`as: base` would hide the variable or capture `base`",
    ),
    case(
        "55-for-each-on-a-check.yaml",
        7,
        19,
        "a `security_headers` check can't be repeated",
    ),
    case(
        "56-now-offset-without-unit.yaml",
        5,
        50,
        "`${now:-10}` needs a signed offset with a unit",
    ),
    case(
        "57-capture-all-on-header.yaml",
        7,
        20,
        "`all` only applies to `json`",
    ),
];

#[tokio::test]
async fn every_bad_fixture_is_rejected_at_the_right_position() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo_file(BAD_DIR))
        .expect("fixture directory")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    let in_table: BTreeSet<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    assert_eq!(
        on_disk, in_table,
        "every fixture in {BAD_DIR} needs exactly one row in CASES"
    );

    let mut failures = Vec::new();
    for c in CASES {
        let path = repo_file(BAD_DIR).join(c.file);
        let out = run(vec!["check".into(), path.display().to_string()], vec![]).await;
        let (stdout, stderr) = text(&out);
        // The first error is the one this fixture is about.
        let first = stderr.lines().next().unwrap_or("");
        let prefix = format!("error: {}:{}:{}: ", path.display(), c.line, c.col);
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, want 2", out.status.code()));
        }
        if !first.starts_with(&prefix) {
            problems.push(format!("first line does not start with `{prefix}`"));
        }
        if !first.contains(c.says) {
            problems.push(format!("first line does not say `{}`", c.says));
        }
        if !stdout.is_empty() {
            problems.push("printed a plan on stdout".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n--- stderr:\n{stderr}",
                c.file,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_sends_nothing_when_a_later_step_is_malformed() {
    let server = demo_with(smokeprobe::demo::DemoOptions::default()).await;
    let bad = repo_file(BAD_DIR).join("27-error-after-declared-base.yaml");
    let once = |file: String| {
        vec![
            "once".to_string(),
            file,
            "--var".into(),
            format!("base={}", server.base_url()),
            "--quiet".into(),
        ]
    };

    let before = server.request_count();
    let out = run(once(bad.display().to_string()), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.starts_with(&format!("error: {}:14:19: ", bad.display())),
        "{stderr}"
    );
    assert_eq!(
        server.request_count(),
        before,
        "a request reached the target although the probe file is invalid"
    );

    // The same file with the error fixed does reach this target, so the count
    // above stayed still because of the error, not because of a wrong `base`.
    let dir = tempfile::tempdir().expect("tempdir");
    let fixed = dir.path().join("fixed.yaml");
    let source = std::fs::read_to_string(&bad).expect("fixture");
    std::fs::write(&fixed, source.replace("2xx-ish", "2xx")).expect("write fixed copy");
    let out = run(once(fixed.display().to_string()), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(server.request_count() >= before + 2);
    server.stop().await;
}
