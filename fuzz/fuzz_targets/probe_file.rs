//! Any bytes, read as UTF-8 (lossily), through the whole probe-file pipeline:
//! `load_sources` must return Ok or errors that carry a position, never panic.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use smokeprobe::config::{ConfigErrors, Inputs, Settings, load_sources};

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data).into_owned();
    let no_env = |_: &str| None;
    let inputs = Inputs {
        overrides: &[],
        env: &no_env,
        settings: Settings::default(),
        max_body: None,
        values_optional: true,
    };
    // A directory that does not exist, so `file:` references read nothing.
    let path = PathBuf::from("/nonexistent-smokeprobe-fuzz/probe.yaml");
    if let Err(ConfigErrors(errors)) = load_sources(&[(path, source)], &inputs) {
        assert!(!errors.is_empty());
        for e in &errors {
            assert!(e.pos.line >= 1 && e.pos.col >= 1, "no position: {e:?}");
        }
        // Rendering the snippet and caret must not panic either.
        let _ = ConfigErrors(errors).to_string();
    }
});
