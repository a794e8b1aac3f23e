//! The JSON Schema of the probe-file format, printed by `smokeprobe schema` for
//! editor completion (e.g. `# yaml-language-server: $schema=smokeprobe.schema.json`).

pub const SCHEMA: &str = include_str!("schema.json");
