//! What a probe file's values are written in, below everything that reads
//! them: templates (`${…}`, parsed and expanded), positions and the
//! `file:line:col` errors that point at them, sizes (`5000`, `512KB`), and
//! the JSON Schema of the text forms (`forms`).
//! `config` re-exports `error` and `template`, so their paths there stay.

pub mod error;
pub mod forms;
pub mod template;

/// A size as written: bytes (`5000`) or text with a unit (`512KB`), checked
/// by the compiler. Its `Deserialize` and `JsonSchema` are in `config/raw.rs`,
/// with the other values of more than one shape.
#[derive(Debug)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}
