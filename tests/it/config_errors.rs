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
    // At the `[` that is never closed, saying so.
    case(
        "09-invalid-json-path.yaml",
        9,
        27,
        "invalid JSON path `$.data[?`: `[` is never closed: add `]`",
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
    // At the entry that is a URL, not a host name.
    case(
        "70-third-party-not-a-host.yaml",
        9,
        38,
        "third_party `https://fonts.googleapis.com/css2`: expected a bare host name like cdn.example.com (no scheme, port or path)",
    ),
    case(
        "71-third-party-without-assets.yaml",
        10,
        15,
        "`third_party` only matters with `assets: true`",
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

/// Files that are valid but need values a run must be given (a secret, an
/// environment variable): `check` validates them without those values and
/// lists what a run needs; `once` refuses to start without them, at the
/// declaration or reference, before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_lists_run_time_values_that_once_refuses_to_start_without() {
    let dir = repo_file("tests/fixtures/run-time-values");
    let cases = [
        (
            "var-without-value.yaml",
            "probe_password (secret, from --secret probe_password=… or SMOKEPROBE_VAR_PROBE_PASSWORD)",
            (4, 19),
            "variable `probe_password` has no value",
        ),
        (
            "unset-env-var.yaml",
            "SMOKEPROBE_TEST_SURELY_UNSET_42 (environment variable, read at",
            (9, 33),
            "environment variable `SMOKEPROBE_TEST_SURELY_UNSET_42` is not set",
        ),
    ];
    for (file, listed, (line, col), refusal) in cases {
        let path = dir.join(file).display().to_string();
        let out = run(vec!["check".into(), path.clone()], vec![]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{file}: {stderr}");
        assert!(stdout.contains("needs at run time:\n"), "{file}: {stdout}");
        assert!(
            stdout.contains(&format!("\n  {listed}")),
            "{file}: `{listed}` not in:\n{stdout}"
        );
        assert!(stdout.contains("ok: 1 flow(s) valid"), "{stdout}");

        let out = run(vec!["once".into(), path.clone(), "--quiet".into()], vec![]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {stdout}{stderr}");
        let prefix = format!("error: {path}:{line}:{col}: ");
        assert!(
            stderr.starts_with(&prefix) && stderr.contains(refusal),
            "{file}: want `{prefix}…{refusal}` in:\n{stderr}"
        );
        assert!(stdout.is_empty(), "{file}: a run started: {stdout}");
    }
}

/// One broken probe file: its text, extra command-line arguments, where the
/// first error must point and what it must say.
struct Snippet {
    name: &'static str,
    yaml: String,
    args: &'static [&'static str],
    line: u32,
    col: u32,
    says: &'static str,
}

/// A file with one flow whose one step ends with `tail` (8-space indented
/// keys of the step, first line `url:` or a check).
fn step_file(tail: &str) -> String {
    format!("version: 1\nflows:\n  - name: f\n    steps:\n      - name: s\n{tail}\n")
}

fn snippets() -> Vec<Snippet> {
    let s = |name, yaml: String, args, line, col, says| Snippet {
        name,
        yaml,
        args,
        line,
        col,
        says,
    };
    // 70 levels of nested lists in a JSON body: over the parser's depth limit.
    let deep = format!(
        "        url: http://127.0.0.1:9/x\n        json: {}1{}",
        "[".repeat(70),
        "]".repeat(70)
    );
    // 250 001 list items: over the parser's limit on values.
    let many = format!(
        "        url: http://127.0.0.1:9/x\n        json: [{}]",
        vec!["1"; 250_001].join(",")
    );
    let base = "vars:\n  base: https://127.0.0.1:9\n";
    vec![
        s(
            "budget as a list",
            step_file("        url: http://127.0.0.1:9/x\n        budget: [1, 2]"),
            &[],
            7,
            17,
            "budget: expected a duration like 200ms or a map of p50/p95/p99 (e.g. { p95: 200ms }), found a list",
        ),
        s(
            "budget without a unit",
            step_file("        url: http://127.0.0.1:9/x\n        budget: 200"),
            &[],
            7,
            17,
            "budget: `200` has no unit; write e.g. 200ms",
        ),
        s(
            "budget with an unknown quantile",
            step_file("        url: http://127.0.0.1:9/x\n        budget: { p95: 200ms, p90: 1s }"),
            &[],
            7,
            31,
            "unknown field `p90`, expected one of p50, p95, p99",
        ),
        s(
            "follow_redirects as a word",
            step_file("        url: http://127.0.0.1:9/x\n        follow_redirects: lots"),
            &[],
            7,
            27,
            "follow_redirects: expected true, false or a hop count from 0 to 20, found `lots`",
        ),
        s(
            "image size as a boolean",
            step_file(
                "        url: http://127.0.0.1:9/x\n        method: POST\n        multipart:\n          - { name: photo, image: { format: png, size: true } }",
            ),
            &[],
            9,
            56,
            "expected a size in bytes (5000) or with a unit (512KB, 5MB, 5MiB), found `true`",
        ),
        s(
            "variable as a list",
            format!(
                "vars:\n  a: [1]\n{}",
                step_file("        url: http://127.0.0.1:9/${a}")
            ),
            &[],
            2,
            6,
            "expected a variable's value (text, a number, true or false) or a mapping of value, secret, rate_limited, description, found a list",
        ),
        s(
            "hop count as a word",
            step_file("        https_redirect: { url: \"http://127.0.0.1:9/\", max_hops: ten }"),
            &[],
            6,
            65,
            "expected a whole number here",
        ),
        s(
            "negative regex group",
            step_file(
                "        url: http://127.0.0.1:9/x\n        capture:\n          id: { regex: \"id=(\\\\d+)\", group: -1 }",
            ),
            &[],
            8,
            44,
            "expected a whole number, 0 or more, here",
        ),
        s(
            "a version in words",
            "version: one\nflows: []\n".into(),
            &[],
            1,
            10,
            "expected a whole number, 0 or more, here",
        ),
        s(
            "flow without a name",
            "flows:\n  - name:\n    steps: []\n".into(),
            &[],
            2,
            9,
            "expected a text value here, but the value is empty",
        ),
        s(
            "a second YAML document",
            format!("{}---\nflows: []\n", step_file("        url: http://127.0.0.1:9/x")),
            &[],
            8,
            1,
            "the file must be one YAML document",
        ),
        s(
            "NaN in a JSON body",
            step_file("        url: http://127.0.0.1:9/x\n        json: { a: .nan }"),
            &[],
            7,
            20,
            "`.nan` is not a finite number",
        ),
        s(
            "a flag in words",
            step_file("        url: http://127.0.0.1:9/x\n        always: maybe"),
            &[],
            7,
            17,
            "expected true or false here",
        ),
        s(
            "status list with a word",
            step_file("        url: http://127.0.0.1:9/x\n        expect: { status: [200, ok] }"),
            &[],
            7,
            33,
            "status: expected a code (200), a list of codes ([200, 204]) or a class or range as text (\"2xx\", \"200-299\"), found `ok`",
        ),
        s(
            "header check as a list",
            step_file("        url: http://127.0.0.1:9/x\n        expect: { headers: { x-a: [1] } }"),
            &[],
            7,
            35,
            "expected a header check (a text to equal, or a mapping with one of equals, contains, matches, absent, present), found a list",
        ),
        s(
            "nested too deep",
            step_file(&deep),
            &[],
            7,
            0,
            "too large to read: lists and mappings are nested more than 64 levels deep",
        ),
        s(
            "too many values",
            step_file(&many),
            &[],
            7,
            0,
            "too large to read: the file has more than 250000 values",
        ),
        s(
            "JSON path with an open bracket",
            step_file(
                "        url: http://127.0.0.1:9/x\n        expect:\n          json:\n            - path: $.data[\n              exists: true",
            ),
            &[],
            9,
            27,
            "invalid JSON path `$.data[`: `[` is never closed: add `]`",
        ),
        s(
            "JSON path without $",
            step_file(
                "        url: http://127.0.0.1:9/x\n        expect:\n          json:\n            - { path: data.id, exists: true }",
            ),
            &[],
            9,
            23,
            "invalid JSON path `data.id`: a JSON path starts with `$` (the whole response): write `$.data.id` (at character 1)",
        ),
        s(
            "JSON path with a single =",
            step_file(
                "        url: http://127.0.0.1:9/x\n        expect:\n          json:\n            - { path: \"$.data[?@.id = 1]\", count: { min: 1 } }",
            ),
            &[],
            9,
            37,
            "`=` is not a comparison: write `==`",
        ),
        s(
            "capture JSON path",
            step_file(
                "        url: http://127.0.0.1:9/x\n        capture:\n          id: { json: \"$.data..\" }",
            ),
            &[],
            8,
            15,
            "invalid JSON path `$.data..`: `.` at the end needs a member name",
        ),
        s(
            "empty flows",
            "version: 1\nvars:\n  base: http://127.0.0.1:9\nflows: []\n".into(),
            &[],
            4,
            8,
            "`flows:` is empty: add at least one flow",
        ),
        // URLs that resolve to something without http(s)://.
        s(
            "base without a scheme from --var",
            format!("{base}{}", step_file("        url: ${base}/api/health")),
            &["--var", "base=shop.example"],
            8,
            14,
            "url resolves to `shop.example/api/health` (`base` from --var): a URL must start with http:// or https://",
        ),
        s(
            "base without a scheme from the environment, through a flow variable",
            format!(
                "{base}flows:\n  - name: f\n    vars:\n      api: ${{base}}/api\n    steps:\n      - name: s\n        url: ${{api}}/health\n"
            ),
            &["@env", "SMOKEPROBE_VAR_BASE=shop.example"],
            9,
            14,
            "url resolves to `shop.example/api/health` (`base` from SMOKEPROBE_VAR_BASE, through `api`): a URL must start with http:// or https://",
        ),
        s(
            "base without a scheme in the file, before a capture",
            "vars:\n  base: shop.example\nflows:\n  - name: f\n    steps:\n      - name: create\n        url: https://127.0.0.1:9/trips\n        capture:\n          trip_id: { json: $.id }\n      - name: get\n        url: ${base}/trips/${trip_id}\n".into(),
            &[],
            11,
            14,
            "url starts with `shop.example/trips/` (`base` set at line 2): a URL must start with http:// or https://",
        ),
        s(
            "host:port without a scheme",
            format!("{base}{}", step_file("        url: ${base}/x")),
            &["--var", "base=localhost:8080"],
            8,
            14,
            "url resolves to `localhost:8080/x` (`base` from --var): a URL must start with http:// or https://",
        ),
        s(
            "secret base without a scheme",
            format!("{base}{}", step_file("        url: ${base}/x")),
            &["--secret", "base=s3cr3t-host.example"],
            8,
            14,
            "url resolves to `***/x` (`base` from --secret): a URL must start with http:// or https://",
        ),
        s(
            "cors url and simple_request",
            format!(
                "{base}{}",
                step_file(
                    "        cors:\n          url: ${base}/api/auth/login\n          allowed_origins: [\"https://app.example\"]\n          simple_request: ${base}/api/trips"
                )
            ),
            &["--var", "base=shop.example"],
            9,
            16,
            "cors url resolves to `shop.example/api/auth/login` (`base` from --var): a URL must start with http:// or https:// (the same for 1 more URL(s) built from `base`)",
        ),
        s(
            "security_headers urls",
            format!(
                "{base}{}",
                step_file("        security_headers:\n          urls: [\"${base}/\", \"${base}/api/health\"]")
            ),
            &["--var", "base=shop.example"],
            9,
            18,
            "security_headers url resolves to `shop.example/` (`base` from --var)",
        ),
        s(
            "https_redirect url",
            format!(
                "vars:\n  http_base: http://127.0.0.1:9\n{}",
                step_file("        https_redirect: { url: \"${http_base}/\" }")
            ),
            &["--var", "http_base=shop.example"],
            8,
            32,
            "https_redirect url resolves to `shop.example/` (`http_base` from --var): a URL must start with http:// or https://",
        ),
        s(
            "tls url",
            format!("{base}{}", step_file("        tls: { url: \"${base}\" }")),
            &["--var", "base=shop.example"],
            8,
            21,
            "tls url resolves to `shop.example` (`base` from --var): a URL must start with http:// or https://",
        ),
        s(
            "error_leaks request",
            format!(
                "{base}{}",
                step_file("        error_leaks:\n          requests:\n            - { url: \"${base}/nope\" }")
            ),
            &["--var", "base=shop.example"],
            10,
            22,
            "error_leaks url resolves to `shop.example/nope` (`base` from --var)",
        ),
        s(
            "frontend url",
            format!("{base}{}", step_file("        frontend: { url: \"${base}/\" }")),
            &["--var", "base=shop.example"],
            8,
            26,
            "frontend url resolves to `shop.example/` (`base` from --var)",
        ),
        s(
            "polled step",
            format!(
                "{base}{}",
                step_file("        url: ${base}/feed\n        poll: { every: 1s, within: 5s }")
            ),
            &["--var", "base=shop.example"],
            8,
            14,
            "url resolves to `shop.example/feed` (`base` from --var)",
        ),
        s(
            "allowed origin without a scheme",
            format!(
                "vars:\n  origin: https://app.example\n{}",
                step_file(
                    "        cors:\n          url: http://127.0.0.1:9/api\n          allowed_origins: [\"${origin}\"]"
                )
            ),
            &["--var", "origin=app.example"],
            10,
            29,
            "origin resolves to `app.example` (`origin` from --var), which is not an origin",
        ),
        s(
            "invalid port through a variable",
            format!("{base}{}", step_file("        url: ${base}/x")),
            &["--var", "base=http://127.0.0.1:99999"],
            8,
            14,
            "url resolves to `http://127.0.0.1:99999/x` (`base` from --var): not a valid URL (invalid port number)",
        ),
    ]
}

/// Rust's vocabulary: type names, `Debug` output, API advice. None of it may
/// reach a person reading a validation message.
fn rust_isms(text: &str) -> Vec<String> {
    let re = regex::Regex::new(
        r"\benum\b|variant|\b[iu](8|16|32|64|128|size)\b|\bf(32|64)\b|Nodes|Some\(|None\b|\bstruct\b|::|Option<|untagged|\bRaw[A-Z]|Spanned|serde|parser error|from_str|DuplicateKeyPolicy|Policy\b",
    )
    .expect("regex");
    // `http://` and `https://` are not Rust paths.
    let text = text.replace("://", ":/");
    re.find_iter(&text)
        .map(|m| m.as_str().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_snippets_say_what_form_was_expected_at_file_line_col() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (i, c) in snippets().iter().enumerate() {
        let path = dir.path().join(format!("snippet-{i:02}.yaml"));
        std::fs::write(&path, &c.yaml).expect("write snippet");
        let mut args = vec!["check".to_string(), path.display().to_string()];
        let mut env = Vec::new();
        let mut extra = c.args.iter();
        while let Some(a) = extra.next() {
            match (*a, extra.next()) {
                ("@env", Some(kv)) => {
                    let (k, v) = kv.split_once('=').expect("K=V");
                    env.push((k.to_string(), v.to_string()));
                }
                (flag, Some(v)) => args.extend([flag.to_string(), v.to_string()]),
                (flag, None) => args.push(flag.to_string()),
            }
        }
        let out = run(args, env).await;
        let (stdout, stderr) = text(&out);
        let first = stderr.lines().next().unwrap_or("");
        let prefix = if c.col == 0 {
            format!("error: {}:{}:", path.display(), c.line)
        } else {
            format!("error: {}:{}:{}: ", path.display(), c.line, c.col)
        };
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
        let rusty = rust_isms(&stderr);
        if !rusty.is_empty() {
            problems.push(format!("Rust vocabulary in the message: {rusty:?}"));
        }
        if !stdout.is_empty() {
            problems.push("printed a plan on stdout".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n--- stderr:\n{}",
                c.name,
                problems.join("; "),
                stderr.chars().take(1500).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The whole bad-input corpus, scanned for Rust vocabulary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fixture_message_speaks_rust() {
    let mut failures = Vec::new();
    for c in CASES {
        let path = repo_file(BAD_DIR).join(c.file);
        let out = run(vec!["check".into(), path.display().to_string()], vec![]).await;
        let (_, stderr) = text(&out);
        let rusty = rust_isms(&stderr);
        if !rusty.is_empty() {
            failures.push(format!("{}: {rusty:?} in\n{stderr}", c.file));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// A URL that starts with a capture is only known at run time: a value
/// without http(s):// fails the step with reason `request` and a message
/// that says so and names the capture, for request steps and checks alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_time_url_without_a_scheme_fails_its_step_saying_so() {
    let server = demo(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("runtime.yaml");
    // `$.data.status` is `healthy`: `${state}/x` and `${state}:80/x` (which a
    // URL parser reads as scheme `healthy`) are no URLs to send.
    let capture = "      - name: health\n        url: ${base}/api/health\n        capture:\n          state: { json: $.data.status }\n";
    let yaml = format!(
        "vars:\n  base: {}\nflows:\n  - name: path\n    steps:\n{capture}      - name: use\n        url: ${{state}}/x\n  - name: scheme\n    steps:\n{capture}      - name: use\n        url: ${{state}}:80/x\n  - name: check\n    steps:\n{capture}      - name: use\n        cors: {{ url: \"${{state}}/api\", allowed_origins: [\"https://app.example\"] }}\n",
        server.base_url()
    );
    std::fs::write(&file, yaml).expect("write probe file");
    let reports = Reports::new();
    let mut args = vec![
        "once".to_string(),
        file.display().to_string(),
        "--quiet".into(),
    ];
    args.extend(reports.args());
    let out = run(args, vec![]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let report = reports.json();
    for (flow, sent) in [
        ("path", "healthy/x"),
        ("scheme", "healthy:80/x"),
        ("check", "healthy/api"),
    ] {
        let s = &step(&report, flow, "use")["last_failure"];
        assert_eq!(s["reason"], "request", "{flow}: {s}");
        let m = s["message"].as_str().unwrap_or_default();
        assert!(
            m.contains(&format!(
                "URL `{sent}` (built from `${{state}}`) does not start with http:// or https://"
            )),
            "{flow}: {m}"
        );
    }
    server.stop().await;
}
