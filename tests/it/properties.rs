//! Property tests for the parsers that read what users write: probe files never
//! make `load_sources` panic (every rejection carries a line and column), and the
//! `${…}` template parser never panics, points its offsets at a `$` and turns `$$`
//! back into `$`.

use std::path::PathBuf;

use proptest::prelude::*;
use smokeprobe::config::template::{self, Part, Piece, RawRef, Scope, Template};
use smokeprobe::config::{ConfigErrors, Inputs, Settings, load_sources};

const CASES: u32 = 384;

/// A path that does not exist, so `file:` references in generated input read nothing.
fn probe_path() -> PathBuf {
    PathBuf::from("/nonexistent-smokeprobe-proptest/probe.yaml")
}

/// Runs the whole config pipeline on one source and checks the shape of the result.
fn check_source(source: &str) -> Result<(), TestCaseError> {
    let no_env = |_: &str| None;
    let inputs = Inputs {
        overrides: &[],
        env: &no_env,
        settings: Settings::default(),
        max_body: None,
        values_optional: true,
    };
    let path = probe_path();
    match load_sources(&[(path.clone(), source.to_string())], &inputs) {
        Ok(_) => {}
        Err(ConfigErrors(errors)) => {
            prop_assert!(!errors.is_empty(), "Err without any error");
            // At most one line past the end: some parsers report the end of input there.
            let max_line = source.split('\n').count() as u32 + 1;
            for e in &errors {
                prop_assert_eq!(&e.file, &path);
                prop_assert!(
                    e.pos.line >= 1 && e.pos.col >= 1,
                    "error without a position: {:?}",
                    e
                );
                prop_assert!(e.pos.line <= max_line, "line past the end: {:?}", e);
                prop_assert!(!e.message.is_empty());
            }
            // Rendering (snippet and caret) must not panic either.
            let shown = ConfigErrors(errors).to_string();
            prop_assert!(shown.starts_with("error: "));
        }
    }
    Ok(())
}

// ---- near-valid probe files from a small grammar ----

#[derive(Clone, Debug)]
enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "5s", "0s", "-2s", "500ms", "every minute", "-1", "0", "99", "200", "3650",
            "true", "false", "~", "null", "\"\"", "\"  \"", "[]", "{}", "[200, 204]",
            "[200, \"abc\"]", "{p95: fast}", "{p95: 200ms}", "2xx", "2xx-ish", "GET", "POST",
            "\"GET /x\"", "http://127.0.0.1:9/health", "https://app.example.com/api",
            "${base}/health", "${base", "${env:}", "${env:HOME}", "${nope:x}", "${}",
            "${random:0}", "${date:+7}", "${run_id}", "$$5", "$.data[0].id", "$.data[?",
            "\"(unclosed\"", "[hsts]", "[hsts, csp]", "checklist", "paranoid", "jpeg", "gif",
            "64KiB", "5MB", "{format: jpeg, size: 1KiB}", "\"a: b\"", "'quoted ${x}'", "&a",
            "*a", "!!str x", "|", ">-", "#", "- x", ":", "? k",
        ])
        .prop_map(str::to_string),
        1 => "[a-z0-9${}:. \\-\\[\\]\"'#&*!|>]{0,16}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "version",
        "target",
        "vars",
        "defaults",
        "flows",
        "name",
        "group",
        "optional",
        "interval",
        "deadline",
        "steps",
        "method",
        "url",
        "headers",
        "query",
        "json",
        "form",
        "body",
        "multipart",
        "timeout",
        "follow_redirects",
        "always",
        "poll",
        "every",
        "within",
        "budget",
        "p50",
        "p95",
        "expect",
        "status",
        "content_type",
        "path",
        "type",
        "equals",
        "exists",
        "count",
        "min",
        "max",
        "capture",
        "header",
        "regex",
        "secret",
        "value",
        "file",
        "image",
        "format",
        "size",
        "cors",
        "allowed_origins",
        "security_headers",
        "urls",
        "profile",
        "require",
        "ignore",
        "https_redirect",
        "tls",
        "min_days",
        "error_leaks",
        "patterns",
        "frontend",
        "max_body",
        "expct",
        "base",
        "Authorization",
        "$.x",
        "",
    ])
    .prop_map(str::to_string)
}

fn node() -> impl Strategy<Value = Node> {
    scalar()
        .prop_map(Node::Scalar)
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec((key(), inner.clone()), 0..4).prop_map(Node::Map),
                prop::collection::vec(inner, 0..3).prop_map(Node::Seq),
            ]
        })
}

/// Mostly a plausible value, sometimes any scalar from the pool.
fn mostly(good: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(good).prop_map(str::to_string),
        1 => scalar(),
    ]
}

fn step_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "method",
        "headers",
        "query",
        "json",
        "form",
        "body",
        "multipart",
        "timeout",
        "follow_redirects",
        "always",
        "poll",
        "budget",
        "expect",
        "capture",
        "cors",
        "security_headers",
        "https_redirect",
        "tls",
        "error_leaks",
        "frontend",
        "expct",
    ])
    .prop_map(str::to_string)
}

fn sc(s: &str) -> Node {
    Node::Scalar(s.to_string())
}

fn map(entries: Vec<(&str, Node)>) -> Node {
    Node::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A step key with a value of about the right shape (or, rarely, anything).
fn step_extra() -> impl Strategy<Value = (String, Node)> {
    let v = |good: &'static [&'static str]| mostly(good).prop_map(Node::Scalar);
    let field = prop::sample::select(vec!["json", "header", "regex", "group", "secret"]);
    prop_oneof![
        v(&["GET", "POST", "DELETE"]).prop_map(|n| ("method".to_string(), n)),
        v(&["5s", "500ms"]).prop_map(|n| ("timeout".to_string(), n)),
        v(&["true", "false", "3"]).prop_map(|n| ("follow_redirects".to_string(), n)),
        (v(&["1s", "2s"]), v(&["30s", "1m"]))
            .prop_map(|(e, w)| ("poll".to_string(), map(vec![("every", e), ("within", w)]))),
        v(&["500ms", "{p95: 200ms}", "{p50: 1s, p95: 2s}"]).prop_map(|n| ("budget".to_string(), n)),
        (
            v(&["200", "[200, 204]", "2xx"]),
            prop::option::of((v(&["$.id", "$.data[0]"]), v(&["string", "1", "true"]))),
            prop::option::of(v(&["ok", "${user}"])),
        )
            .prop_map(|(status, json, contains)| {
                let mut e = vec![("status", status)];
                if let Some((path, val)) = json {
                    e.push((
                        "json",
                        Node::Seq(vec![map(vec![("path", path), ("type", val)])]),
                    ));
                }
                if let Some(c) = contains {
                    e.push(("body_contains", Node::Seq(vec![c])));
                }
                ("expect".to_string(), map(e))
            }),
        (
            v(&["token", "id"]),
            prop::collection::vec((field, v(&["$.token", "Location", "id=(\\d+)", "1"])), 1..3),
        )
            .prop_map(|(name, fields)| {
                let Node::Scalar(name) = name else {
                    unreachable!()
                };
                let fields = fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                (
                    "capture".to_string(),
                    Node::Map(vec![(name, Node::Map(fields))]),
                )
            }),
        v(&["Bearer ${env:TOKEN}", "Bearer ${token}", "${password}"])
            .prop_map(|a| ("headers".to_string(), map(vec![("Authorization", a)]))),
        v(&["{login: probe}", "{login: \"${user}\"}", "[1, 2]"])
            .prop_map(|j| ("json".to_string(), j)),
        (
            prop::sample::select(vec!["value", "file", "image"]),
            v(&[
                "x",
                "photo.jpg",
                "{format: jpeg, size: 1KiB}",
                "{format: png, size: 1}"
            ]),
        )
            .prop_map(|(k, val)| {
                let part = map(vec![("name", sc("photo")), (k, val)]);
                ("multipart".to_string(), Node::Seq(vec![part]))
            }),
        (v(&["https://app.example.com"]), v(&["14", "-1", "4000"]))
            .prop_map(|(u, d)| ("tls".to_string(), map(vec![("url", u), ("min_days", d)]))),
        (
            v(&["[https://app.example.com/]"]),
            v(&["[hsts]", "[csp, hsts]", "[nope]"])
        )
            .prop_map(|(u, r)| (
                "security_headers".to_string(),
                map(vec![("urls", u), ("require", r)])
            )),
        (
            v(&["https://app.example.com/api"]),
            v(&["[https://app.example.com]", "[]"])
        )
            .prop_map(|(u, o)| (
                "cors".to_string(),
                map(vec![("url", u), ("allowed_origins", o)])
            )),
        (step_key(), node()),
    ]
}

fn step() -> impl Strategy<Value = Node> {
    (
        mostly(&["ping", "login", "list", "upload"]),
        prop::option::weighted(0.9, mostly(&["${base}/health", "http://127.0.0.1:9/x"])),
        prop::collection::vec(step_extra(), 0..4),
    )
        .prop_map(|(name, url, extra)| {
            let mut m = vec![("name".to_string(), Node::Scalar(name))];
            if let Some(u) = url {
                m.push(("url".into(), Node::Scalar(u)));
            }
            m.extend(extra);
            Node::Map(m)
        })
}

fn flow() -> impl Strategy<Value = Node> {
    (
        mostly(&["health", "login", "trips"]),
        prop::option::weighted(0.2, scalar()),
        prop::collection::vec(step(), 1..3),
    )
        .prop_map(|(name, group, steps)| {
            let mut m = vec![("name".to_string(), Node::Scalar(name))];
            if let Some(g) = group {
                m.push(("group".into(), Node::Scalar(g)));
            }
            m.push(("steps".into(), Node::Seq(steps)));
            Node::Map(m)
        })
}

fn defaults() -> impl Strategy<Value = Node> {
    let key = prop::sample::select(vec![
        "timeout", "deadline", "interval", "max_body", "headers",
    ])
    .prop_map(str::to_string);
    prop::collection::vec(
        (key, mostly(&["5s", "2m", "1MiB"]).prop_map(Node::Scalar)),
        1..3,
    )
    .prop_map(Node::Map)
}

fn document() -> impl Strategy<Value = Node> {
    (
        prop::option::of(mostly(&["1"])),
        prop::collection::vec(
            (
                mostly(&["base", "user", "password"]),
                mostly(&["http://127.0.0.1:9", "probe", "{secret: true}"]),
            ),
            0..3,
        ),
        prop::option::weighted(0.3, defaults()),
        prop::collection::vec(flow(), 1..3),
        prop::collection::vec((key(), node()), 0..2),
    )
        .prop_map(|(version, vars, defaults, flows, extra)| {
            let mut m = Vec::new();
            if let Some(v) = version {
                m.push(("version".to_string(), Node::Scalar(v)));
            }
            if !vars.is_empty() {
                let vars: std::collections::BTreeMap<_, _> = vars.into_iter().collect();
                let vars = vars
                    .into_iter()
                    .map(|(k, v)| (k, Node::Scalar(v)))
                    .collect();
                m.push(("vars".into(), Node::Map(vars)));
            }
            if let Some(d) = defaults {
                m.push(("defaults".into(), d));
            }
            m.push(("flows".into(), Node::Seq(flows)));
            // Now and then a stray top-level key.
            m.extend(extra.into_iter().take(1).filter(|(k, _)| k.len() % 5 == 0));
            Node::Map(m)
        })
}

fn render(node: &Node, indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match node {
        Node::Scalar(s) => out.push(format!("{pad}{s}")),
        Node::Map(entries) => {
            for (k, v) in entries {
                match v {
                    Node::Scalar(s) => out.push(format!("{pad}{k}: {s}")),
                    Node::Map(e) if e.is_empty() => out.push(format!("{pad}{k}: {{}}")),
                    Node::Seq(e) if e.is_empty() => out.push(format!("{pad}{k}: []")),
                    _ => {
                        out.push(format!("{pad}{k}:"));
                        render(v, indent + 2, out);
                    }
                }
            }
        }
        Node::Seq(items) => {
            for item in items {
                match item {
                    Node::Scalar(s) => out.push(format!("{pad}- {s}")),
                    _ => {
                        out.push(format!("{pad}-"));
                        render(item, indent + 2, out);
                    }
                }
            }
        }
    }
}

/// What happens to a rendered line: mostly nothing, sometimes the mistakes people
/// make by hand (an indentation off by one, a tab, a lost or doubled line).
#[derive(Clone, Copy, Debug)]
enum Edit {
    Keep,
    Indent,
    Dedent,
    Tab,
    Drop,
    Twice,
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            250 => Just(Edit::Keep),
            1 => Just(Edit::Indent),
            1 => Just(Edit::Dedent),
            1 => Just(Edit::Tab),
            1 => Just(Edit::Drop),
            1 => Just(Edit::Twice),
        ],
        1..64,
    )
}

fn near_valid_yaml() -> impl Strategy<Value = String> {
    (document(), edits()).prop_map(|(doc, edits)| {
        let mut lines = Vec::new();
        render(&doc, 0, &mut lines);
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let line = match edits[i % edits.len()] {
                Edit::Keep => line.clone(),
                Edit::Indent => format!(" {line}"),
                Edit::Dedent => line.strip_prefix(' ').unwrap_or(line).to_string(),
                Edit::Tab => match line.strip_prefix("  ") {
                    Some(rest) => format!("\t{rest}"),
                    None => format!("\t{line}"),
                },
                Edit::Drop => continue,
                Edit::Twice => format!("{line}\n{line}"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn load_sources_never_panics_on_arbitrary_text(source in any::<String>()) {
        check_source(&source)?;
    }

    #[test]
    fn load_sources_never_panics_on_yaml_like_text(
        source in "([ \t-]{0,4}[a-z_${}:\\[\\]{},\"'#&*!|>.0-9 ]{0,20}\n){0,12}"
    ) {
        check_source(&source)?;
    }

    #[test]
    fn load_sources_never_panics_on_near_valid_probe_files(source in near_valid_yaml()) {
        check_source(&source)?;
    }
}

// ---- templates ----

struct TestScope;

impl Scope for TestScope {
    fn get(&self, name: &str) -> Option<&str> {
        // Some names are set, some are not (a capture a failed step never set).
        (name.len() % 2 == 0).then_some("value")
    }

    fn run_id(&self) -> &str {
        "run-1"
    }
}

/// Compiles parsed pieces the way the config compiler does, without a plan:
/// environment and file references become constants.
fn compile(pieces: &[Piece]) -> Template {
    let parts = pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(s) => Part::Lit(s.clone()),
            Piece::Ref { r, .. } => match r {
                RawRef::Name(n) => Part::Var(n.clone()),
                RawRef::Env(_) | RawRef::File(_) => Part::Const("secret".into()),
                RawRef::Builtin(b) => Part::Builtin(b.clone()),
            },
        })
        .collect();
    Template { parts }
}

/// Strings made mostly of the pieces templates are built from, so `${…}` shows up.
fn template_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(vec![
                "$", "$$", "${", "}", "{", " ", ":", "env:", "file:", "random:", "date:",
                "-7", "+3", "64", "0", "99999999999999999999", "x", "a.b-c_d", "run_id", "now",
                "timestamp", "timestamp_ms", "today", "yesterday", "uuid", "random", "é",
                "\u{1F600}", "\u{0}",
            ])
            .prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

fn check_template(src: &str) -> Result<(), TestCaseError> {
    match template::parse(src) {
        Err(e) => {
            prop_assert!(e.offset < src.len(), "offset {} past the end", e.offset);
            prop_assert!(
                src[e.offset..].starts_with('$'),
                "error offset {} is not at a `$`",
                e.offset
            );
            prop_assert!(!e.message.is_empty());
        }
        Ok(pieces) => {
            for p in &pieces {
                if let Piece::Ref { offset, .. } = p {
                    let at = src.get(*offset..).unwrap_or("");
                    prop_assert!(
                        at.starts_with("${"),
                        "reference offset {} is not at `${{`",
                        offset
                    );
                }
            }
            let t = compile(&pieces);
            let expanded = t.expand(&TestScope);
            if let Err(name) = &expanded {
                prop_assert!(
                    name.len() % 2 == 1,
                    "`{}` is set but was reported missing",
                    name
                );
            }
            // What `display` writes parses back to the same template (when nothing
            // was hidden as `***`).
            if !t.parts.iter().any(|p| matches!(p, Part::Const(_))) {
                let shown = t.display();
                let again = template::parse(&shown);
                prop_assert!(again.is_ok(), "display `{}` does not parse", shown);
                let again = compile(&again.unwrap());
                prop_assert_eq!(format!("{:?}", again.parts), format!("{:?}", t.parts));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn template_parse_never_panics_on_arbitrary_text(src in any::<String>()) {
        check_template(&src)?;
    }

    #[test]
    fn template_parse_never_panics_on_template_like_text(src in template_text()) {
        check_template(&src)?;
    }

    #[test]
    fn escaped_dollars_round_trip(text in any::<String>()) {
        let escaped = text.replace('$', "$$");
        let pieces = template::parse(&escaped).expect("text with every `$` doubled parses");
        let t = compile(&pieces);
        prop_assert!(t.is_static());
        prop_assert_eq!(t.static_value().unwrap(), text.clone());
        prop_assert_eq!(t.expand(&TestScope).unwrap(), text);
    }
}
