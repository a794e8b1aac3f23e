//! The module layering, checked: `config` names nothing from `flow`;
//! `check` (the built-in check kinds, below both) names neither; what the
//! checks need sits lower still and names none of the three (`syntax`,
//! `spanned`, `outcome`, `credentials`, `vocab`); and nothing under
//! `flow/` but its `mod.rs` names the runner. `browser` (the DevTools
//! client under browser steps) names none of `config`, `flow` and `check`.

use std::path::Path;

/// Every non-comment line of the `.rs` files under `dir`, with its file.
fn code_lines(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for line in text.lines() {
                    if !line.trim_start().starts_with("//") {
                        out.push((p.display().to_string(), line.to_string()));
                    }
                }
            }
        }
    }
    out
}

/// The lines of `dirs` (directories or files under `src/`) that name any of
/// `above` (`crate::config`, `config::` after `super`/`crate`, …).
fn naming(dirs: &[&str], above: &[&str]) -> Vec<(String, String)> {
    dirs.iter()
        .flat_map(|d| {
            let p = src(d);
            if p.is_dir() {
                code_lines(&p)
            } else {
                let text = std::fs::read_to_string(&p).unwrap();
                text.lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(|l| (p.display().to_string(), l.to_string()))
                    .collect()
            }
        })
        .filter(|(_, l)| above.iter().any(|a| l.contains(&format!("crate::{a}"))))
        .collect()
}

fn src(sub: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub)
}

#[test]
fn config_names_nothing_from_flow() {
    let bad: Vec<_> = code_lines(&src("config"))
        .into_iter()
        .filter(|(_, l)| l.contains("crate::flow") || l.contains("flow::"))
        .collect();
    assert!(bad.is_empty(), "config imports from flow: {bad:?}");
}

#[test]
fn vocab_names_neither_config_nor_flow() {
    let bad: Vec<_> = code_lines(&src("vocab"))
        .into_iter()
        .filter(|(_, l)| l.contains("crate::flow") || l.contains("crate::config"))
        .collect();
    assert!(bad.is_empty(), "vocab imports from above: {bad:?}");
}

#[test]
fn nothing_under_flow_names_the_runner() {
    let bad: Vec<_> = code_lines(&src("flow"))
        .into_iter()
        .filter(|(f, _)| !f.ends_with("flow/mod.rs") && !f.ends_with("flow/runner.rs"))
        .filter(|(_, l)| l.contains("runner::"))
        .collect();
    assert!(bad.is_empty(), "imports of the runner under flow/: {bad:?}");
}

#[test]
fn check_names_nothing_from_config_or_flow() {
    let bad = naming(&["check"], &["config", "flow"]);
    assert!(bad.is_empty(), "check imports from above: {bad:?}");
}

#[test]
fn what_the_checks_need_names_nothing_above_it() {
    let bad = naming(
        &["syntax", "spanned.rs", "outcome", "credentials", "vocab"],
        &["config", "flow", "check"],
    );
    assert!(bad.is_empty(), "imports from above: {bad:?}");
}

#[test]
fn browser_names_nothing_from_config_flow_or_check() {
    let bad = naming(&["browser"], &["config", "flow", "check"]);
    assert!(bad.is_empty(), "browser imports from above: {bad:?}");
}
