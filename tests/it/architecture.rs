//! The house rules ARCHITECTURE.md states, checked on the source itself:
//! no import cycle between modules, and no metric name spelled outside
//! `src/metrics/`. The source is read as text (comments stripped); the
//! module graph comes from `use` trees and `crate::`/`super::` paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::repo_file;

/// Every `.rs` file under `src/`: (module path, code without comments).
fn modules() -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    walk(&repo_file("src"), &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<(Vec<String>, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(repo_file("src")).unwrap();
            let mut parts: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            out.push((parts, strip_comments(&text)));
        }
    }
}

/// The code of a file without `//` comments (doc comments included) and
/// without the contents of string literals, so neither counts as a use.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
                kept.push('"');
            } else if !in_str {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { '\0' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The paths a `use` tree names: `a::{b, c::{d, e}}` → a::b, a::c::d, a::c::e.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let t = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![t.trim_end_matches("::").to_string()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(expand)
        .map(|i| {
            if i == "self" {
                prefix.to_string()
            } else {
                format!("{prefix}::{i}")
            }
        })
        .collect()
}

/// Module paths one file's code refers to, resolved to absolute segments.
fn references(me: &[String], is_dir_module: bool, code: &str) -> Vec<Vec<String>> {
    let mut paths: Vec<String> = Vec::new();
    // `use` statements (trees with braces).
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let stmt_start = at + 4;
        rest = &rest[stmt_start..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        let tree: String = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        paths.extend(expand(&tree));
        rest = &rest[end..];
    }
    // Inline paths: `crate::a::b`, `super::x`.
    for (i, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if code[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let p: String = code[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        paths.push(p);
    }
    // The module a `super::` chain starts from: a file module's parent is
    // its directory's module; a `mod.rs` module's parent is one up.
    let parent_of_me: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
    let _ = is_dir_module;
    let mut out = Vec::new();
    for p in paths {
        let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
        let (mut base, mut i) = match segs.first() {
            Some(&"crate") => (Vec::new(), 1),
            Some(&"super") => (parent_of_me.clone(), 1),
            Some(&"self") => (me.to_vec(), 1),
            _ => continue,
        };
        while segs.get(i) == Some(&"super") {
            base.pop();
            i += 1;
        }
        base.extend(segs[i..].iter().map(|s| s.to_string()));
        if !out.contains(&base) {
            out.push(base);
        }
    }
    out
}

/// Edges between sibling subtrees: a reference from `a` to `b` becomes an
/// edge between the children of their deepest common module that hold them
/// (nothing when one holds the other: a module using its parent's or its
/// own children's items).
fn sibling_edges() -> BTreeMap<Vec<String>, BTreeSet<(String, String, String)>> {
    let mods = modules();
    let known: BTreeSet<Vec<String>> = mods.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<(String, String, String)>> = BTreeMap::new();
    for (me, code) in &mods {
        let file = if me.is_empty() {
            "lib".to_string()
        } else {
            me.join("::")
        };
        for r in references(me, false, code) {
            // The longest prefix that is a module.
            let target = (0..=r.len())
                .rev()
                .map(|n| r[..n].to_vec())
                .find(|p| known.contains(p))
                .unwrap_or_default();
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == me.len() || common == target.len() {
                continue;
            }
            edges.entry(me[..common].to_vec()).or_default().insert((
                me[common].clone(),
                target[common].clone(),
                format!("{file} → {}", target.join("::")),
            ));
        }
    }
    edges
}

/// One cycle among the siblings under `parent`, if any: the modules on it
/// and, for each hop, a file that makes it.
fn find_cycle(edges: &BTreeSet<(String, String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (a, b, why) in edges {
        next.entry(a).or_default().push((b, why));
    }
    fn dfs<'a>(
        n: &'a str,
        next: &BTreeMap<&'a str, Vec<(&'a str, &'a str)>>,
        stack: &mut Vec<(&'a str, &'a str)>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|(m, _)| *m == n) {
            return Some(stack[at..].iter().map(|(_, why)| why.to_string()).collect());
        }
        if !done.insert(n) {
            return None;
        }
        for (b, why) in next.get(n).into_iter().flatten() {
            stack.push((n, why));
            if let Some(c) = dfs(b, next, stack, done) {
                return Some(c);
            }
            stack.pop();
        }
        None
    }
    let mut done = BTreeSet::new();
    for start in next.keys() {
        let mut stack = Vec::new();
        if let Some(c) = dfs(start, &next, &mut stack, &mut done) {
            return Some(c);
        }
    }
    None
}

/// Cycles among sibling modules, one per parent module that has one.
fn import_cycles() -> Vec<String> {
    sibling_edges()
        .iter()
        .filter_map(|(parent, e)| {
            find_cycle(e).map(|c| {
                format!(
                    "under `{}`: {}",
                    if parent.is_empty() {
                        "crate".to_string()
                    } else {
                        parent.join("::")
                    },
                    c.join(" → then ")
                )
            })
        })
        .collect()
}

#[test]
fn the_cycle_finder_sees_a_cycle_and_a_one_way_graph() {
    let e = |v: &[(&str, &str)]| -> BTreeSet<(String, String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string(), format!("{a}→{b}")))
            .collect()
    };
    assert!(find_cycle(&e(&[("a", "b"), ("b", "c")])).is_none());
    assert_eq!(
        find_cycle(&e(&[("a", "b"), ("b", "c"), ("c", "a")])).map(|c| c.len()),
        Some(3)
    );
    assert_eq!(
        expand("crate::flow::{runner::{Failure, failure_of}, checks, self}"),
        vec![
            "crate::flow::runner::Failure",
            "crate::flow::runner::failure_of",
            "crate::flow::checks",
            "crate::flow",
        ]
    );
    // A file that imports its sibling's item through `super::`.
    let r = references(
        &["flow".into(), "checks".into()],
        false,
        "use super::runner::Failure;\n",
    );
    assert_eq!(r, vec![vec!["flow", "runner", "Failure"]]);
}

#[test]
fn no_import_cycle_between_modules() {
    let cycles = import_cycles();
    let allowed: &[&str] = ALLOWED_CYCLES;
    let unexpected: Vec<&String> = cycles
        .iter()
        .filter(|c| !allowed.iter().any(|a| c.starts_with(a)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "import cycles between sibling modules (make the imports run one way):\n{}",
        unexpected
            .iter()
            .map(|c| format!("  {c}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Parents whose children still import each other in a circle; each entry
/// is a known debt of issue 16, to be removed when it is paid.
const ALLOWED_CYCLES: &[&str] = &[];

#[test]
fn no_metric_name_is_spelled_outside_the_metrics_module() {
    let names_rs = std::fs::read_to_string(repo_file("src/metrics/names.rs")).unwrap();
    let names: Vec<String> = names_rs
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let q = l.strip_prefix('"')?;
            let name = &q[..q.find('"')?];
            (name.starts_with("smokeprobe_")
                || name.starts_with("probe_")
                || name.starts_with("process_"))
            .then(|| name.to_string())
        })
        .collect();
    assert!(
        names.len() > 20,
        "metric names read from names.rs: {names:?}"
    );
    let mut found = Vec::new();
    let mut files = Vec::new();
    collect_rs(&repo_file("src"), &mut files);
    for p in files {
        let rel = p.strip_prefix(repo_file("src")).unwrap().to_path_buf();
        if rel.starts_with("metrics") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for name in &names {
                if line.contains(name.as_str()) {
                    found.push(format!("src/{}:{}: {name}", rel.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "metric names belong to src/metrics/names.rs; use its constants:\n{}",
        found.join("\n")
    );
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}
