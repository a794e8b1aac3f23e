//! Static checks of the packaging: the Dockerfile, deploy/compose.yaml, the
//! Prometheus configuration and the Kubernetes manifests. No Docker engine or
//! cluster runs here, so these parse the files and hold them to what the image
//! and the binary really accept: every host path exists, the security settings
//! are there, and the `run` command lines are parsed by the real binary.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::repo_file;

/// Where the image keeps the probe files, and the repository's copy of them.
const IMAGE_PROBES: &str = "/etc/smokeprobe/probes/";

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str::<Value>(text).unwrap_or_else(|e| panic!("{what}: invalid YAML: {e}"))
}

/// The documents of a (possibly multi-document) YAML file.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    let text = text.strip_prefix("---\n").unwrap_or(&text);
    text.split("\n---\n")
        .map(|d| yaml(d, rel))
        .filter(|v| !v.is_null())
        .collect()
}

fn s<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v}"))
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: expected a list, got {v}"))
        .iter()
        .map(|x| match x {
            Value::String(t) => t.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("{what}: expected strings, got {other}"),
        })
        .collect()
}

// ---------------------------------------------------------------- the binary

fn help(sub: &str) -> String {
    let out = crate::common::command()
        .args([sub, "--help"])
        .output()
        .expect("smokeprobe runs");
    assert!(out.status.success(), "`smokeprobe {sub} --help` failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `--flag` → whether it takes a value, from `smokeprobe SUB --help`.
fn known_flags(sub: &str) -> HashMap<String, bool> {
    let re = regex::Regex::new(r"(?m)^\s+(?:-\w, )?(--[a-z0-9-]+)( <)?").unwrap();
    re.captures_iter(&help(sub))
        .map(|c| (c[1].to_string(), c.get(2).is_some()))
        .collect()
}

/// A command line of `SUB` as a manifest gives it (after interpolation), held
/// to the real parser. Checks that every flag is known (pending ones aside),
/// that `SUB ARGS… --help` parses (clap validates each value as it reads it and
/// stops at `--help`, before anything runs), and, for `run`, that `check` with
/// the same probe files, variables and environment accepts the configuration.
fn assert_cli_accepts(what: &str, args: &[String], env: &BTreeMap<String, String>) {
    let sub = args.first().map(String::as_str).unwrap_or("");
    let flags = known_flags(sub);
    let mut kept = vec![sub.to_string()];
    let mut plan_args = Vec::new();
    let plan_flags = known_flags("check");
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        if !a.starts_with("--") {
            assert!(
                a.starts_with(IMAGE_PROBES),
                "{what}: `{a}`: probe files must be under {IMAGE_PROBES}"
            );
            kept.push(a.clone());
            plan_args.push(
                repo_file(&format!("probes/{}", &a[IMAGE_PROBES.len()..]))
                    .display()
                    .to_string(),
            );
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let takes_value = match flags.get(&name) {
            Some(t) => *t,
            None => panic!(
                "{what}: `smokeprobe {sub}` has no flag `{name}`:\n{}",
                help(sub)
            ),
        };
        let mut words = vec![a.clone()];
        if takes_value && inline.is_none() {
            let v = rest
                .next()
                .unwrap_or_else(|| panic!("{what}: `{name}` needs a value"));
            words.push(v.clone());
        }
        if plan_flags.contains_key(&name) {
            plan_args.extend(words.iter().cloned());
        }
        kept.extend(words);
    }
    let parsed = crate::common::command()
        .args(&kept)
        .arg("--help")
        .env_clear()
        .output()
        .expect("smokeprobe runs");
    assert!(
        parsed.status.success(),
        "{what}: `smokeprobe {}` is refused by the parser:\n{}",
        kept.join(" "),
        String::from_utf8_lossy(&parsed.stderr)
    );
    if sub != "run" {
        return;
    }
    let checked = crate::common::command()
        .arg("check")
        .args(&plan_args)
        .env_clear()
        .envs(env)
        .current_dir(repo_file(""))
        .output()
        .expect("smokeprobe runs");
    assert!(
        checked.status.success(),
        "{what}: `smokeprobe check {}` (with {:?}) fails:\n{}",
        plan_args.join(" "),
        env.keys().collect::<Vec<_>>(),
        String::from_utf8_lossy(&checked.stderr)
    );
}

// ---------------------------------------------------------------- Dockerfile

/// Instructions of a Dockerfile: comments dropped, continuation lines joined.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (op, args) = cur.split_once(char::is_whitespace).unwrap_or((&cur, ""));
        out.push((op.to_ascii_uppercase(), args.trim().to_string()));
        cur.clear();
    }
    out
}

fn json_list(args: &str, what: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(args)
        .unwrap_or_else(|e| panic!("{what} must be in exec (JSON) form, got `{args}`: {e}"));
    strings(&v, what)
}

#[test]
fn dockerfile_builds_static_and_runs_non_root_without_secrets() {
    let text = read("Dockerfile");
    let all = dockerfile_instructions(&text);
    let stages: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| op == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    let build = &all[stages[0]..*stages.last().unwrap()];
    let last = &all[*stages.last().unwrap()..];
    assert_eq!(last[0].1, "scratch", "the final stage is FROM scratch");

    let runs: String = build
        .iter()
        .filter(|(op, _)| op == "RUN")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in ["musl-tools", "rustup target add", "--release", "--locked"] {
        assert!(runs.contains(needle), "the builder's RUNs mention {needle}");
    }
    let builder: Vec<String> = build.iter().map(|(op, a)| format!("{op} {a}")).collect();
    assert!(
        builder
            .iter()
            .any(|l| l.contains("x86_64-unknown-linux-musl")),
        "the builder targets x86_64-unknown-linux-musl"
    );

    let one = |op: &str| -> &str {
        let found: Vec<&str> = last
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.as_str())
            .collect();
        assert_eq!(found.len(), 1, "exactly one {op} in the final stage");
        found[0]
    };
    let user = one("USER");
    assert_eq!(user, "65532:65532", "non-root numeric user");
    assert_eq!(json_list(one("ENTRYPOINT"), "ENTRYPOINT"), ["/smokeprobe"]);
    assert_eq!(one("EXPOSE"), "9477");
    let health = one("HEALTHCHECK");
    let hc_cmd = health
        .split_once("CMD")
        .map(|(_, c)| json_list(c.trim(), "HEALTHCHECK CMD"))
        .expect("HEALTHCHECK CMD […]");
    assert_eq!(
        hc_cmd[0], "/smokeprobe",
        "scratch has no curl: the binary checks itself"
    );
    assert!(
        hc_cmd.iter().any(|a| a.ends_with(":9477/-/healthy")),
        "{hc_cmd:?}"
    );

    let copies: Vec<&str> = last
        .iter()
        .filter(|(o, _)| o == "COPY")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        copies.contains(&"probes/ /etc/smokeprobe/probes/"),
        "probe files baked in: {copies:?}"
    );
    assert!(
        copies
            .iter()
            .any(|c| c.ends_with("/etc/ssl/certs/ca-certificates.crt")),
        "CA roots copied from the builder: {copies:?}"
    );

    // What the build context must hold: every COPY without --from exists and
    // is not excluded by .dockerignore.
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for p in ["target/", ".git"] {
        assert!(patterns.contains(&p), ".dockerignore lists {p}");
    }
    let ignored = |path: &str| {
        let path = path.trim_end_matches('/');
        patterns.iter().any(|p| {
            let p = p.trim_end_matches('/');
            match p.strip_prefix('*') {
                Some(ext) => !ext.contains('/') && path.ends_with(ext),
                None => path == p || path.starts_with(&format!("{p}/")),
            }
        })
    };
    for (op, a) in &all {
        if op != "COPY" || a.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = a.split_whitespace().collect();
        for src in &words[..words.len() - 1] {
            assert!(
                repo_file(src).exists(),
                "COPY {src}: no such path in the repo"
            );
            assert!(!ignored(src), "COPY {src}: excluded by .dockerignore");
        }
    }

    // The CMD is a `run` the parser accepts, configured from the environment.
    let cmd = json_list(one("CMD"), "CMD");
    let env = BTreeMap::from([(
        "SMOKEPROBE_VAR_PASSWORD".to_string(),
        "xxxxxxxx".to_string(),
    )]);
    assert_cli_accepts("Dockerfile CMD", &cmd, &env);
    assert!(
        cmd.windows(2).any(|w| w == ["--listen", "0.0.0.0:9477"]),
        "{cmd:?}"
    );

    // No secrets baked in: no variable assignment of the probe's variables,
    // no password literal, no ENV/ARG that names a credential.
    let var_assignment = regex::Regex::new(r"SMOKEPROBE_VAR_[A-Za-z0-9_]*\s*=").unwrap();
    assert!(
        !var_assignment.is_match(&text),
        "a SMOKEPROBE_VAR_… assignment in the Dockerfile"
    );
    let password = regex::Regex::new(r#"(?i)password\s*=\s*(['"]?)(.?.?)"#).unwrap();
    for c in password.captures_iter(&text) {
        assert!(
            c[2].starts_with("${"),
            "a password literal in the Dockerfile: `{}`",
            &c[0]
        );
    }
    for (op, a) in &all {
        if op == "ENV" || op == "ARG" {
            let upper = a.to_ascii_uppercase();
            for word in ["PASSWORD", "TOKEN", "SECRET", "API_KEY"] {
                assert!(
                    !upper.contains(word),
                    "{op} {a}: no credentials in the image"
                );
            }
        }
    }
}

/// `--target browser` (issue 17): the same binary beside Debian's Chromium,
/// non-root, told where Chromium is; not the default target, so the
/// production image (the last stage) stays browser-free.
#[test]
fn dockerfile_browser_target_adds_chromium_outside_the_default_image() {
    let all = dockerfile_instructions(&read("Dockerfile"));
    let from: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| op == "FROM")
        .map(|(i, _)| i)
        .collect();
    let at = from
        .iter()
        .position(|&i| all[i].1.ends_with(" AS browser"))
        .expect("a stage `FROM … AS browser`");
    assert!(
        at + 1 < from.len(),
        "the browser stage is not the default (last) target"
    );
    let stage = &all[from[at]..from[at + 1]];
    let last = &all[*from.last().unwrap()..];
    let of = |ops: &[(String, String)], op: &str| -> Vec<String> {
        ops.iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let runs = of(stage, "RUN").join("\n");
    assert!(
        runs.contains("apt-get install") && runs.contains(" chromium "),
        "the browser stage installs Debian's chromium: {runs}"
    );
    assert_eq!(of(stage, "USER"), ["65532:65532"], "non-root");
    let env = of(stage, "ENV").join(" ");
    assert!(
        env.contains("SMOKEPROBE_CHROMIUM=/usr/bin/chromium"),
        "smokeprobe is told where Chromium is: {env}"
    );
    assert!(
        of(stage, "COPY")
            .iter()
            .any(|c| c.starts_with("--from=builder /smokeprobe ")),
        "the same binary as the production image"
    );
    let entry = json_list(&of(stage, "ENTRYPOINT")[0], "ENTRYPOINT");
    let cmd = json_list(&of(stage, "CMD")[0], "CMD");
    assert!(entry[0].ends_with("/smokeprobe"), "{entry:?}");
    let env = BTreeMap::from([(
        "SMOKEPROBE_VAR_PASSWORD".to_string(),
        "xxxxxxxx".to_string(),
    )]);
    assert_cli_accepts("Dockerfile browser CMD", &cmd, &env);
    for (op, a) in last {
        assert!(
            !a.contains("chromium"),
            "the production image has no Chromium: {op} {a}"
        );
    }
}

// ------------------------------------------------------------------- compose

/// Compose interpolation of `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
/// `${NAME:?message}`, `${NAME?message}` and `$$`. A required variable that is
/// unset gets `required` (the test's stand-in for the operator's value).
fn interpolate(text: &str, env: &HashMap<String, String>, required: &str) -> String {
    let re =
        regex::Regex::new(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}").unwrap();
    re.replace_all(text, |c: &regex::Captures| {
        if &c[0] == "$$" {
            return "$".to_string();
        }
        let value = env
            .get(&c[1])
            .filter(|v| c.get(2).is_none_or(|m| m.is_empty() || !v.is_empty()));
        match (value, c.get(3).map(|m| m.as_str())) {
            (Some(v), _) => v.clone(),
            (None, Some("-")) => c[4].to_string(),
            (None, Some("?")) => required.to_string(),
            (None, _) => String::new(),
        }
    })
    .into_owned()
}

fn env_file(rel: &str) -> HashMap<String, String> {
    read(rel)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{rel}: `{l}` is not NAME=VALUE"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn compose(env: &HashMap<String, String>) -> Value {
    let text = interpolate(&read("deploy/compose.yaml"), env, "xxxxxxxx");
    yaml(&text, "deploy/compose.yaml")
}

/// `deploy/` is compose's project directory: relative paths start there.
fn from_deploy(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(p)
}

/// The short-syntax volumes of a service: (source, target).
fn volumes(svc: &Value, name: &str) -> Vec<(String, String)> {
    svc.get("volumes")
        .map(|v| strings(v, &format!("services.{name}.volumes")))
        .unwrap_or_default()
        .iter()
        .map(|v| {
            let mut parts = v.splitn(3, ':');
            let src = parts.next().unwrap().to_string();
            let dst = parts
                .next()
                .unwrap_or_else(|| panic!("services.{name}.volumes: `{v}` has no target"));
            (src, dst.to_string())
        })
        .collect()
}

#[test]
fn compose_mounts_and_builds_from_paths_that_exist() {
    let c = compose(&HashMap::new());
    let services = c["services"].as_object().expect("services");
    for name in ["smokeprobe", "prometheus", "grafana", "demo"] {
        assert!(services.contains_key(name), "service {name}");
    }
    let named: Vec<&String> = c["volumes"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    for (name, svc) in services {
        if let Some(b) = svc.get("build") {
            let ctx = from_deploy(s(&b["context"], "build.context"));
            let file = b
                .get("dockerfile")
                .map_or("Dockerfile", |d| s(d, "dockerfile"));
            assert!(
                ctx.join(file).is_file(),
                "{name}: build {} has no {file}",
                ctx.display()
            );
            assert!(
                ctx.join("Cargo.toml").is_file(),
                "{name}: build context is the repository"
            );
        }
        for (src, dst) in volumes(svc, name) {
            if src.starts_with('.') || src.starts_with('/') {
                assert!(
                    from_deploy(&src).exists(),
                    "{name}: mounts {src}, which does not exist"
                );
            } else {
                assert!(
                    named.contains(&&src),
                    "{name}: volume {src} is not declared"
                );
            }
            assert!(dst.starts_with('/'), "{name}: {dst}");
        }
        for p in svc
            .get("ports")
            .map(|p| strings(p, "ports"))
            .unwrap_or_default()
        {
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name}: port {p} is published beyond loopback"
            );
        }
    }

    let mounts = |name: &str| -> HashMap<String, String> {
        volumes(&services[name], name)
            .into_iter()
            .map(|(s, d)| (d, s))
            .collect()
    };
    let sp = mounts("smokeprobe");
    assert_eq!(sp["/etc/smokeprobe/probes"], "../probes");
    let prom = mounts("prometheus");
    assert_eq!(
        prom["/etc/prometheus/prometheus.yml"],
        "./prometheus/prometheus.yml"
    );
    assert_eq!(prom["/etc/prometheus/rules"], "./prometheus/rules");
    let graf = mounts("grafana");
    assert_eq!(graf["/etc/grafana/provisioning"], "../grafana/provisioning");
    assert_eq!(
        graf["/var/lib/grafana/dashboards/smokeprobe"],
        "../grafana/dashboards"
    );

    // The password comes from the operator's environment, required, never a literal.
    let raw = yaml(&read("deploy/compose.yaml"), "deploy/compose.yaml");
    let pw = s(
        &raw["services"]["smokeprobe"]["environment"]["SMOKEPROBE_VAR_PASSWORD"],
        "SMOKEPROBE_VAR_PASSWORD",
    );
    assert!(
        pw.starts_with("${") && pw.contains(":?"),
        "required from the environment: {pw}"
    );

    // The demo only with its profile, in smokeprobe's network namespace (it
    // listens on 127.0.0.1), and a command `demo` accepts.
    let demo = &services["demo"];
    assert_eq!(strings(&demo["profiles"], "profiles"), ["demo"]);
    assert_eq!(
        s(&demo["network_mode"], "network_mode"),
        "service:smokeprobe"
    );
    let demo_cmd = strings(&demo["command"], "demo.command");
    assert_cli_accepts("compose demo", &demo_cmd, &BTreeMap::new());
    let port = demo_cmd
        .windows(2)
        .find(|w| w[0] == "--port")
        .map(|w| w[1].clone())
        .expect("demo --port");
    let demo_env = env_file("deploy/demo.env");
    assert_eq!(
        demo_env["CONTRAVENTO_BASE"],
        format!("http://127.0.0.1:{port}")
    );
    assert_eq!(
        demo_env["CONTRAVENTO_PROBE_PASSWORD"],
        smokeprobe::demo::DemoOptions::default().password,
        "deploy/demo.env has the demo target's password"
    );
}

/// The `run` command line and the SMOKEPROBE_* environment of the compose
/// service, interpolated with `env`.
fn compose_run(env: &HashMap<String, String>) -> (Vec<String>, BTreeMap<String, String>) {
    let c = compose(env);
    let svc = &c["services"]["smokeprobe"];
    let cmd = strings(&svc["command"], "services.smokeprobe.command");
    let vars = svc["environment"]
        .as_object()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| (k.clone(), s(v, k).to_string()))
        .collect();
    (cmd, vars)
}

#[test]
fn compose_run_command_is_accepted_by_the_cli() {
    let (cmd, env) = compose_run(&HashMap::new());
    assert_eq!(cmd[0], "run");
    assert!(
        cmd.windows(2).any(|w| w == ["--listen", "0.0.0.0:9477"]),
        "{cmd:?}"
    );
    assert_cli_accepts("compose smokeprobe", &cmd, &env);
    // And with the demo profile's environment.
    let (cmd, env) = compose_run(&env_file("deploy/demo.env"));
    assert_eq!(env["SMOKEPROBE_VAR_BASE"], "http://127.0.0.1:8080");
    assert_cli_accepts("compose smokeprobe (demo.env)", &cmd, &env);
}

#[test]
fn prometheus_config_scrapes_smokeprobe_and_passes_promtool() {
    let rel = "deploy/prometheus/prometheus.yml";
    let text = read(rel);
    let p = yaml(&text, rel);
    assert_eq!(
        strings(&p["rule_files"], "rule_files"),
        ["/etc/prometheus/rules/*.yml"]
    );
    let jobs = p["scrape_configs"].as_array().expect("scrape_configs");
    let job = jobs
        .iter()
        .find(|j| j["job_name"] == "smokeprobe")
        .expect("a smokeprobe job");
    let interval = job
        .get("scrape_interval")
        .unwrap_or(&p["global"]["scrape_interval"]);
    assert_eq!(interval, "15s");
    let targets = strings(&job["static_configs"][0]["targets"], "targets");
    assert_eq!(
        targets,
        ["smokeprobe:9477"],
        "the compose service and its --listen port"
    );
    assert!(repo_file("deploy/prometheus/rules").is_dir());

    // promtool with the rule glob pointed at the repository's rules directory,
    // so the rules there are checked too.
    let dir = tempfile::tempdir().unwrap();
    let rules = repo_file("deploy/prometheus/rules");
    let local = text.replace("/etc/prometheus/rules/", &format!("{}/", rules.display()));
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, local).unwrap();
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(&cfg)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool is needed for this test: `apt-get install -y prometheus` (Debian) — .ci/run installs it ({e})")
        });
    assert!(
        out.status.success(),
        "promtool check config {rel}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- Kubernetes

const K8S: &str = "deploy/kubernetes";

/// Every document of every manifest, by kind (one of each here).
fn k8s() -> HashMap<String, (String, Value)> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(repo_file(K8S)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") {
            continue;
        }
        for doc in yaml_docs(&format!("{K8S}/{name}")) {
            let kind = s(&doc["kind"], &name).to_string();
            assert!(doc["apiVersion"].is_string(), "{name}: apiVersion");
            if kind != "Kustomization" {
                assert!(doc["metadata"]["name"].is_string(), "{name}: metadata.name");
            }
            let prev = out.insert(kind.clone(), (name.clone(), doc));
            assert!(prev.is_none(), "two {kind} documents");
        }
    }
    out
}

fn labels_match(selector: &Value, labels: &Value, what: &str) {
    let sel = selector
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no selector"));
    assert!(!sel.is_empty(), "{what}: empty selector");
    for (k, v) in sel {
        assert_eq!(&labels[k], v, "{what}: label {k}");
    }
}

#[test]
fn kubernetes_manifests_parse_and_the_kustomization_lists_what_exists() {
    let all = k8s();
    let (_, kust) = &all["Kustomization"];
    let resources = strings(&kust["resources"], "resources");
    for r in &resources {
        assert!(
            repo_file(&format!("{K8S}/{r}")).is_file(),
            "kustomization lists {r}, which does not exist"
        );
    }
    // Every manifest but the Secret template is applied.
    for (kind, (file, _)) in &all {
        if kind != "Kustomization" && kind != "Secret" {
            assert!(
                resources.contains(file),
                "{file} ({kind}) is not in kustomization.yaml"
            );
        }
    }
    assert!(
        !resources.iter().any(|r| r == "secret.yaml"),
        "the Secret template must not be applied over the real Secret"
    );
    let ns = s(&all["Namespace"].1["metadata"]["name"], "namespace").to_string();
    for (kind, (file, doc)) in &all {
        if kind != "Namespace" && kind != "Kustomization" {
            assert_eq!(doc["metadata"]["namespace"], ns.as_str(), "{file}");
        }
    }

    // The Secret is a template: a placeholder in stringData, said to be one.
    let (file, secret) = &all["Secret"];
    let pw = s(&secret["stringData"]["password"], "stringData.password");
    assert!(
        pw.contains("REPLACE-ME"),
        "{file}: a placeholder password, got `{pw}`"
    );
    assert!(secret.get("data").is_none(), "{file}: stringData only");
    assert!(
        read(&format!("{K8S}/{file}")).contains("TEMPLATE"),
        "{file}: marked as a template"
    );

    // The ConfigMap holds exactly the probe files of probes/.
    let (file, cm) = &all["ConfigMap"];
    let data = cm["data"].as_object().expect("ConfigMap data");
    let mut probes: Vec<String> = std::fs::read_dir(repo_file("probes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    probes.sort();
    assert_eq!(data.keys().cloned().collect::<Vec<_>>(), probes, "{file}");
    for p in &probes {
        assert!(
            data[p] == read(&format!("probes/{p}")).as_str(),
            "{file}: {p} differs from probes/{p}; regenerate it: sh {K8S}/gen-configmap.sh"
        );
    }
}

#[test]
fn deployment_is_non_root_read_only_probed_and_takes_the_password_from_the_secret() {
    let all = k8s();
    let (file, d) = &all["Deployment"];
    assert_eq!(d["spec"]["replicas"], 1, "{file}");
    let pod = &d["spec"]["template"]["spec"];
    labels_match(
        &d["spec"]["selector"]["matchLabels"],
        &d["spec"]["template"]["metadata"]["labels"],
        "Deployment selector",
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let uid = pod["securityContext"]["runAsUser"]
        .as_u64()
        .expect("runAsUser");
    assert_ne!(uid, 0, "runAsUser");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"], "drop"), ["ALL"]);
    assert!(
        c["resources"]["requests"].is_object() && c["resources"]["limits"]["memory"].is_string()
    );

    for (probe, path) in [
        ("livenessProbe", "/-/healthy"),
        ("readinessProbe", "/-/ready"),
    ] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], 9477, "{probe}");
    }
    let ports = c["ports"].as_array().expect("ports");
    assert!(
        ports
            .iter()
            .any(|p| p["containerPort"] == 9477 && p["name"] == "metrics")
    );

    // Probe files: the ConfigMap, mounted where the args look for them.
    let mounts = c["volumeMounts"].as_array().expect("volumeMounts");
    let probes_mount = mounts
        .iter()
        .find(|m| m["mountPath"] == IMAGE_PROBES.trim_end_matches('/'))
        .expect("the probe files mounted");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == probes_mount["name"])
        .expect("the probe volume");
    assert_eq!(
        volume["configMap"]["name"],
        all["ConfigMap"].1["metadata"]["name"]
    );
    assert!(
        mounts.iter().any(|m| m["mountPath"] == "/tmp"),
        "a writable /tmp next to the read-only root"
    );

    // The password from the Secret; no literal credential in the env.
    let env = c["env"].as_array().expect("env");
    let pw = env
        .iter()
        .find(|e| e["name"] == "SMOKEPROBE_VAR_PASSWORD")
        .expect("SMOKEPROBE_VAR_PASSWORD");
    let key_ref = &pw["valueFrom"]["secretKeyRef"];
    assert_eq!(key_ref["name"], all["Secret"].1["metadata"]["name"]);
    let key = s(&key_ref["key"], "secretKeyRef.key");
    assert!(
        all["Secret"].1["stringData"].get(key).is_some(),
        "the Secret template has `{key}`"
    );
    for e in env {
        let name = s(&e["name"], "env name").to_ascii_uppercase();
        if ["PASSWORD", "TOKEN", "SECRET"]
            .iter()
            .any(|w| name.contains(w))
        {
            assert!(e.get("value").is_none(), "{name} must come from a Secret");
        }
    }

    // terminationGracePeriodSeconds > --grace, so cleanup steps can finish.
    let args = strings(&c["args"], "args");
    let grace = args
        .windows(2)
        .find(|w| w[0] == "--grace")
        .map(|w| humantime::parse_duration(&w[1]).unwrap().as_secs())
        .unwrap_or(30);
    let period = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    assert!(
        period > grace,
        "terminationGracePeriodSeconds {period} ≤ --grace {grace}s"
    );
}

#[test]
fn deployment_args_are_accepted_by_the_cli() {
    let all = k8s();
    let c = &all["Deployment"].1["spec"]["template"]["spec"]["containers"][0];
    let mut literal = BTreeMap::new();
    let mut from_secret = BTreeMap::new();
    for e in c["env"].as_array().unwrap() {
        let name = s(&e["name"], "env name").to_string();
        match e.get("value") {
            Some(v) => literal.insert(name, s(v, "env value").to_string()),
            None => from_secret.insert(name, "xxxxxxxx".to_string()),
        };
    }
    // Kubernetes expands $(NAME) in args from the container's env.
    let dollar = regex::Regex::new(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)").unwrap();
    let args: Vec<String> = strings(&c["args"], "args")
        .iter()
        .map(|a| {
            dollar
                .replace_all(a, |m: &regex::Captures| {
                    literal
                        .get(&m[1])
                        .unwrap_or_else(|| {
                            panic!("args use $({}) but env does not define it", &m[1])
                        })
                        .clone()
                })
                .into_owned()
        })
        .collect();
    assert_eq!(args[0], "run");
    assert!(
        args.windows(2).any(|w| w == ["--listen", "0.0.0.0:9477"]),
        "{args:?}"
    );
    assert!(
        strings(&c["args"], "args")
            .windows(2)
            .any(|w| w == ["--location", "$(LOCATION)"]),
        "each location labels its probe"
    );
    let mut env = literal;
    env.extend(from_secret);
    assert_cli_accepts("Deployment args", &args, &env);
}

#[test]
fn service_monitor_selects_the_service_and_its_port() {
    let all = k8s();
    let svc = &all["Service"].1;
    let sm = &all["ServiceMonitor"].1;
    let pod_labels = &all["Deployment"].1["spec"]["template"]["metadata"]["labels"];
    labels_match(
        &svc["spec"]["selector"],
        pod_labels,
        "Service selector → pods",
    );
    labels_match(
        &sm["spec"]["selector"]["matchLabels"],
        &svc["metadata"]["labels"],
        "ServiceMonitor → Service",
    );
    let port_names: Vec<&str> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| s(&p["name"], "port name"))
        .collect();
    let endpoints = sm["spec"]["endpoints"].as_array().expect("endpoints");
    assert!(!endpoints.is_empty());
    for e in endpoints {
        assert!(
            port_names.contains(&s(&e["port"], "endpoint port")),
            "{e} vs {port_names:?}"
        );
        assert_eq!(
            e.get("path").map_or("/metrics", |p| s(p, "path")),
            "/metrics"
        );
    }
    let port = &svc["spec"]["ports"][0];
    assert_eq!(port["port"], 9477);
    let container_ports =
        &all["Deployment"].1["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        container_ports
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == port["targetPort"] || p["containerPort"] == port["targetPort"]),
        "Service targetPort {} is a container port",
        port["targetPort"]
    );
}
