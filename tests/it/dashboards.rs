//! The Grafana dashboards (`grafana/dashboards/*.json`). Statically: each is a
//! Grafana 10/11 model (schemaVersion 39, unique panel ids, rows included),
//! every panel reads from the `datasource` variable, the filter variables are
//! there, and every metric a query names is documented in docs/metrics.md.
//! End to end: a real Prometheus scrapes `smokeprobe run`, and every query of
//! every panel and variable returns data once the template variables are
//! replaced as Grafana does for "All" (the deploy annotation only has to
//! parse: its metric does not exist yet).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;

use crate::common::*;
use crate::prometheus_e2e::{Prometheus, start_prometheus};
use crate::run::{probe, start_run};

const DASHBOARDS: [&str; 4] = [
    "smokeprobe-overview",
    "smokeprobe-flow",
    "smokeprobe-security",
    "smokeprobe-probe",
];

/// Variables every dashboard has.
const REQUIRED_VARS: [&str; 4] = ["datasource", "location", "target", "flow"];

/// What Grafana puts for its built-in interval variables (a 1 s scrape
/// interval gives a `$__rate_interval` of a few seconds; 30 s is safe).
const BUILTINS: [(&str, &str); 3] = [
    ("__rate_interval", "30s"),
    ("__interval", "15s"),
    ("__range", "5m"),
];

/// Every dashboard JSON in grafana/dashboards, by file stem.
fn load() -> BTreeMap<String, Value> {
    let dir = repo_file("grafana/dashboards");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("grafana/dashboards exists") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        out.insert(stem, json);
    }
    for name in DASHBOARDS {
        assert!(
            out.contains_key(name),
            "grafana/dashboards/{name}.json missing"
        );
    }
    out
}

/// Every panel, the ones nested in (collapsed) rows included.
fn panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(ps: &'a Value, out: &mut Vec<&'a Value>) {
        for p in ps.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

fn variables(d: &Value) -> &[Value] {
    d["templating"]["list"]
        .as_array()
        .map_or(&[], |v| v.as_slice())
}

fn is_datasource_var(v: &Value) -> bool {
    v == "${datasource}"
        || (v["uid"] == "${datasource}" && (v["type"].is_null() || v["type"] == "prometheus"))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Panel,
    Variable,
    Annotation,
}

#[derive(Debug)]
struct Query {
    /// "dashboard / panel title / refId", "dashboard / $var", "dashboard / annotation name".
    origin: String,
    /// Panel title (or variable name), to find a result again.
    key: String,
    kind: Kind,
    expr: String,
}

/// Every PromQL (or `label_values`) query of a dashboard.
fn queries(name: &str, d: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(d).into_iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().unwrap_or("?");
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_default().to_string();
            out.push(Query {
                origin: format!("{name} / {title} / {}", t["refId"].as_str().unwrap_or("?")),
                key: title.to_string(),
                kind: Kind::Panel,
                expr,
            });
        }
    }
    for v in variables(d).iter().filter(|v| v["type"] == "query") {
        let q = &v["query"];
        let expr = q.as_str().or(q["query"].as_str()).unwrap_or_default();
        let var = v["name"].as_str().unwrap_or("?");
        out.push(Query {
            origin: format!("{name} / ${var}"),
            key: var.to_string(),
            kind: Kind::Variable,
            expr: expr.to_string(),
        });
    }
    for a in annotations(d)
        .into_iter()
        .filter(|a| is_datasource_var(&a["datasource"]))
    {
        let expr = a["expr"].as_str().or(a["target"]["expr"].as_str());
        let title = a["name"].as_str().unwrap_or("?");
        out.push(Query {
            origin: format!("{name} / annotation {title}"),
            key: title.to_string(),
            kind: Kind::Annotation,
            expr: expr.unwrap_or_default().to_string(),
        });
    }
    out
}

fn annotations(d: &Value) -> Vec<&Value> {
    d["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

/// What each variable stands for in a query sent straight to Prometheus: a
/// query variable as "All" (`.*`, its `allValue`), a custom one as its current
/// value, plus Grafana's interval variables.
fn substitution_values(d: &Value) -> BTreeMap<String, String> {
    let mut vals: BTreeMap<String, String> = BUILTINS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for v in variables(d) {
        let name = v["name"].as_str().unwrap().to_string();
        let value = match v["type"].as_str() {
            Some("query") => ".*".to_string(),
            Some("datasource") => "prometheus".to_string(),
            _ => v["current"]["value"]
                .as_str()
                .unwrap_or_else(|| panic!("variable {name} has no single current value"))
                .to_string(),
        };
        vals.insert(name, value);
    }
    vals
}

/// Replaces `$name`, `${name}`, `${name:format}` and `[[name]]`; the names
/// it does not know are the error.
fn substitute(expr: &str, values: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
    let re = Regex::new(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]").unwrap();
    let mut unknown = Vec::new();
    let out = re.replace_all(expr, |c: &regex::Captures| {
        let name = c.get(1).or(c.get(2)).or(c.get(3)).unwrap().as_str();
        match values.get(name) {
            Some(v) => v.clone(),
            None => {
                unknown.push(name.to_string());
                String::new()
            }
        }
    });
    let out = out.into_owned();
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(unknown)
    }
}

/// Metric names (`smokeprobe_*`, `probe_*`) a query uses, histogram suffixes
/// stripped.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let re = Regex::new(r"\b(?:smokeprobe|probe)_[a-z0-9_]+\b").unwrap();
    re.find_iter(expr)
        .map(|m| {
            let n = m.as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n)
                .to_string()
        })
        .collect()
}

#[test]
fn dashboards_are_grafana_models_wired_to_the_datasource_variable_and_documented_metrics() {
    let docs = std::fs::read_to_string(repo_file("docs/metrics.md")).unwrap();
    let matcher = Regex::new(r#"(\w+)\s*(=~|!~|!=|=)\s*"\$\{?(\w+)"#).unwrap();
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for (name, d) in &load() {
        let mut problem = |m: String| problems.push(format!("{name}: {m}"));
        let schema = d["schemaVersion"].as_u64().unwrap_or(0);
        if schema < 39 {
            problem(format!("schemaVersion {schema} < 39"));
        }
        // The uid is what links and provisioning refer to: keep it the file name.
        let uid = d["uid"].as_str().unwrap_or_default();
        if uid != name {
            problem(format!("uid {uid:?} is not the file name"));
        }
        if !uids.insert(uid.to_string()) {
            problem(format!("uid {uid:?} used twice"));
        }

        let mut ids = BTreeSet::new();
        for p in panels(d) {
            let title = p["title"].as_str().unwrap_or("?");
            match p["id"].as_u64() {
                Some(id) if ids.insert(id) => {}
                Some(id) => problem(format!("panel id {id} used twice ({title})")),
                None => problem(format!("panel {title:?} has no id")),
            }
            if p["gridPos"]["w"].as_u64().is_none() {
                problem(format!("panel {title:?} has no gridPos"));
            }
            if p["type"] == "row" {
                continue;
            }
            if !is_datasource_var(&p["datasource"]) {
                problem(format!(
                    "panel {title:?}: datasource {} is not ${{datasource}}",
                    p["datasource"]
                ));
            }
            let targets = p["targets"].as_array().map_or(&[][..], |t| t.as_slice());
            if targets.is_empty() {
                problem(format!("panel {title:?} has no query"));
            }
            for t in targets {
                if !t["datasource"].is_null() && !is_datasource_var(&t["datasource"]) {
                    problem(format!(
                        "panel {title:?}: a query's datasource is not ${{datasource}}"
                    ));
                }
                if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                    problem(format!("panel {title:?}: a query has no expr"));
                }
            }
        }

        let vars = variables(d);
        let var = |n: &str| vars.iter().find(|v| v["name"] == n);
        for n in REQUIRED_VARS {
            if var(n).is_none() {
                problem(format!("no template variable {n}"));
            }
        }
        if let Some(ds) = var("datasource")
            && (ds["type"] != "datasource" || ds["query"] != "prometheus")
        {
            problem("$datasource is not a datasource variable of type prometheus".into());
        }
        // Without --location the label is absent: "All" must match that too.
        if let Some(l) = var("location")
            && l["allValue"] != ".*"
        {
            problem("$location's All is not .*".into());
        }
        let mut multi = BTreeSet::new();
        for v in vars.iter().filter(|v| v["type"] == "query") {
            let n = v["name"].as_str().unwrap_or("?");
            if v["multi"] != true || v["includeAll"] != true {
                problem(format!("${n} is not multi-select with All"));
            }
            if !is_datasource_var(&v["datasource"]) {
                problem(format!("${n} does not query ${{datasource}}"));
            }
            multi.insert(n.to_string());
        }

        if !annotations(d).iter().any(|a| {
            is_datasource_var(&a["datasource"])
                && a["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("smokeprobe_deploy_info"))
                && a["useValueForTime"] != true
        }) {
            problem("no deploy annotation on smokeprobe_deploy_info".into());
        }

        let values = substitution_values(d);
        for q in queries(name, d) {
            if let Err(unknown) = substitute(&q.expr, &values) {
                problem(format!("{}: unknown variables {unknown:?}", q.origin));
            }
            // A multi-value variable expands to a regex (`a|b`, `.*`).
            for c in matcher.captures_iter(&q.expr) {
                if multi.contains(&c[3]) && matches!(&c[2], "=" | "!=") {
                    problem(format!(
                        "{}: `{}` needs =~ for a multi-value variable",
                        q.origin, &c[0]
                    ));
                }
            }
            for m in metric_names(&q.expr) {
                if !docs.contains(&format!("`{m}`")) {
                    problem(format!("{}: {m} is not in docs/metrics.md", q.origin));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `label_values(MATCHER, LABEL)` → (label, matcher).
fn parse_label_values(q: &str) -> Option<(String, String)> {
    let re = Regex::new(r"^\s*label_values\((.+),\s*(\w+)\s*\)\s*$").unwrap();
    re.captures(q).map(|c| (c[2].to_string(), c[1].to_string()))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn label_set(result: &Value, label: &str) -> BTreeSet<String> {
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["metric"][label].as_str().map(str::to_string))
        .collect()
}

fn first_value(result: &Value) -> f64 {
    result[0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs one query until it returns data (or `deadline`); the answer's
/// `data.result` / `data`, or why it failed.
async fn run_query(
    prom: &Prometheus,
    q: &Query,
    expr: &str,
    deadline: Instant,
) -> Result<Value, String> {
    loop {
        let (answer, data) = if q.kind == Kind::Variable {
            let (label, m) = parse_label_values(expr)
                .ok_or_else(|| format!("not label_values(metric{{…}}, label): {expr}"))?;
            let a = prom.label_values(&label, &m).await;
            let d = a["data"].clone();
            (a, d)
        } else {
            let a = prom.query(expr).await;
            let d = a["data"]["result"].clone();
            (a, d)
        };
        if answer["status"] != "success" {
            return Err(format!("query failed: {expr}\n  {answer}"));
        }
        // Legitimately empty: the deploy marker does not exist yet, and this
        // probe runs without --location.
        let may_be_empty =
            q.kind == Kind::Annotation || (q.kind == Kind::Variable && q.key == "location");
        let empty = data.as_array().is_none_or(|a| a.is_empty());
        if !empty || may_be_empty {
            return Ok(data);
        }
        if Instant::now() > deadline {
            return Err(format!("no data: {expr}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let (s, _d, ca) = tls_demo_with_ca(&[]).await;
    // Every family the dashboards read: a request step with budgets, a flow
    // that fails on purpose (so the failure panels have rows), a tls check
    // (certificate expiry) and a strict security_headers check (whose
    // hsts-preload warning fails on the hardened demo).
    let flows = r#"
  - name: health
    interval: 200ms
    steps:
      - name: api-health
        url: ${base}/api/health
        budget: { p50: 100ms, p95: 200ms, p99: 400ms }
        expect: { status: 200 }
  - name: broken
    interval: 250ms
    steps:
      - name: wrong-status
        url: ${base}/api/health
        expect: { status: 418 }
  - name: security
    interval: 300ms
    steps:
      - name: certificate
        tls: { url: "${base}", min_days: 14 }
      - name: headers
        security_headers: { urls: ["${base}/"], profile: strict }
"#;
    let run = start_run(&probe(&s.base_url(), flows), &["--ca-file", &ca], &[]).await;
    let prom = start_prometheus(&run.addr).await;
    // rate() and increase() need two scrapes in their range; wait for four.
    prom.query_until(
        "count_over_time(smokeprobe_flow_runs_total{flow=\"security\"}[1m]) >= 4",
        Duration::from_secs(30),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut failures = Vec::new();
    let mut results: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut count = 0;
    for (name, dash) in &load() {
        let values = substitution_values(dash);
        for q in queries(name, dash) {
            let expr = substitute(&q.expr, &values)
                .unwrap_or_else(|u| panic!("{}: unknown variables {u:?}", q.origin));
            count += 1;
            match run_query(&prom, &q, &expr, deadline).await {
                Ok(data) => {
                    results.entry((name.clone(), q.key.clone())).or_insert(data);
                }
                Err(e) => failures.push(format!("{}: {e}", q.origin)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} dashboard queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{count} dashboard queries answered");

    let r = |d: &str, k: &str| {
        results
            .get(&(d.to_string(), k.to_string()))
            .unwrap_or_else(|| panic!("no result for {d} / {k}"))
    };
    // Variables list what exists; the security dashboard's flows are those
    // that run a built-in check, found by metric, not by name.
    assert_eq!(strings(r("smokeprobe-overview", "target")), ["demo"]);
    assert_eq!(
        strings(r("smokeprobe-overview", "flow")),
        ["broken", "health", "security"]
    );
    assert_eq!(strings(r("smokeprobe-security", "flow")), ["security"]);
    assert_eq!(strings(r("smokeprobe-probe", "job")), ["smokeprobe"]);
    assert!(strings(r("smokeprobe-flow", "step")).contains(&"api-health".to_string()));
    // And a few panels say what the target did.
    assert_eq!(
        first_value(r("smokeprobe-overview", "Flows failing now")),
        1.0
    );
    let failing = r("smokeprobe-overview", "Failing steps (time range)");
    assert_eq!(
        label_set(failing, "step"),
        BTreeSet::from(["wrong-status".to_string()])
    );
    assert_eq!(
        label_set(failing, "reason"),
        BTreeSet::from(["status".to_string()])
    );
    assert_eq!(
        label_set(r("smokeprobe-security", "Security flows: last run"), "flow"),
        BTreeSet::from(["security".to_string()])
    );
    let days = first_value(r("smokeprobe-security", "Certificate: days left"));
    assert!((88.0..91.0).contains(&days), "certificate days left {days}");
    let rules = r("smokeprobe-security", "Failing rules (last run)");
    assert_eq!(
        label_set(rules, "rule"),
        BTreeSet::from(["hsts-preload".to_string()])
    );
    assert_eq!(
        label_set(rules, "severity"),
        BTreeSet::from(["warning".to_string()])
    );

    drop(prom);
    let (code, _) = run.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    s.stop().await;
}
