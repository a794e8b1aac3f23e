//! Reading YAML (probe files, findings files) with serde-saphyr, and saying
//! what went wrong in the words of someone writing the file.
//!
//! serde-saphyr's own messages are written for the Rust programmer who calls
//! it: they name Rust types (`invalid i64`, `use Option<String>`), print
//! `Debug` output (`budget breached: Nodes { nodes: 250001 }`) and suggest
//! API calls (`use from_str_multiple`). [`Words`] is our
//! `MessageFormatter`: every error variant a probe file can produce is put in
//! plain words here, and [`clean_yaml_message`] catches what remains (serde's
//! generic `invalid type: …, expected …`, untagged enums).
//!
//! Architecture invariant: no message that reaches a user names a Rust type;
//! `tests/it/config_errors.rs` runs a corpus of broken files and scans every
//! message for Rust vocabulary.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Error, MessageFormatter};

use super::error::Pos;

/// Parses one YAML document: the value, or where and what is wrong.
pub(crate) fn parse<T: DeserializeOwned>(source: &str) -> Result<T, (Pos, String)> {
    let opts = serde_saphyr::options! {};
    serde_saphyr::from_str_with_options(source, opts).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos::from_loc(&l))
            .filter(Pos::is_known)
            .unwrap_or(Pos { line: 1, col: 1 });
        let render = serde_saphyr::render_options! {
            formatter: &Words,
            snippets: serde_saphyr::SnippetMode::Off,
        };
        (pos, clean_yaml_message(&e.render_with_options(render)))
    })
}

/// serde-saphyr's messages, in the words of someone writing a probe file.
struct Words;

impl MessageFormatter for Words {
    fn format_message<'a>(&self, err: &'a Error) -> Cow<'a, str> {
        match err {
            Error::WithSnippet { error, .. } | Error::AliasError { error, .. } => {
                self.format_message(error)
            }
            Error::Budget { breach, .. } => Cow::Owned(breach_words(breach)),
            Error::InvalidScalar { ty, .. } => Cow::Owned(scalar_words(ty)),
            Error::InvalidBooleanStrict { .. } => Cow::Borrowed("expected true or false here"),
            Error::NullIntoString { .. } | Error::InvalidCharNull { .. } => {
                Cow::Borrowed("expected a text value here, but the value is empty")
            }
            Error::MultipleDocuments { .. } => Cow::Borrowed(
                "the file must be one YAML document: remove the `---` line that starts a second one",
            ),
            Error::NonFiniteFloat { value, .. } => Cow::Owned(format!(
                "`{value}` is not a finite number (JSON has no NaN or infinity)"
            )),
            Error::SerdeInvalidType {
                unexpected,
                expected,
                ..
            }
            | Error::SerdeInvalidValue {
                unexpected,
                expected,
                ..
            } => Cow::Owned(serde_expected_found(expected, unexpected)),
            Error::BytesNotSupportedMissingBinaryTag { .. }
            | Error::BinaryNotUtf8 { .. }
            | Error::CannotBorrowTransformedString { .. }
            | Error::TaggedScalarCannotDeserializeIntoString { .. } => {
                Cow::Borrowed("expected a plain text value here")
            }
            Error::UnknownAnchor { .. } => {
                Cow::Borrowed("`*` refers to an anchor (`&name`) that is not defined before it")
            }
            Error::MergeKeyNotAllowed { .. } | Error::MergeValueNotMapOrSeqOfMaps { .. } => {
                Cow::Borrowed("a `<<` merge key needs a mapping (or a list of mappings) to merge")
            }
            Error::Eof { .. } => Cow::Borrowed("the file ends in the middle of a value"),
            _ => serde_saphyr::DefaultMessageFormatter.format_message(err),
        }
    }
}

/// The parser's resource limits (serde-saphyr's defaults, which we use).
fn breach_words(b: &BudgetBreach) -> String {
    let limits = serde_saphyr::Budget::default();
    let what = match b {
        BudgetBreach::Depth { .. } => format!(
            "lists and mappings are nested more than {} levels deep",
            limits.max_depth
        ),
        BudgetBreach::Nodes { .. } => format!(
            "the file has more than {} values (keys, items and scalars)",
            limits.max_nodes
        ),
        BudgetBreach::Events { .. } => {
            format!("the file has more than {} YAML elements", limits.max_events)
        }
        BudgetBreach::Aliases { .. } => {
            format!(
                "the file uses more than {} aliases (`*name`)",
                limits.max_aliases
            )
        }
        BudgetBreach::Anchors { .. } => {
            format!(
                "the file defines more than {} anchors (`&name`)",
                limits.max_anchors
            )
        }
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => format!(
            "{aliases} aliases (`*name`) expand {anchors} anchors: aliases may not multiply the file's size"
        ),
        BudgetBreach::ScalarBytes { .. } => format!(
            "its text values add up to more than {} MiB",
            limits.max_total_scalar_bytes / (1024 * 1024)
        ),
        BudgetBreach::InputBytes { .. } => format!(
            "the file is larger than {} MiB",
            limits.max_reader_input_bytes.unwrap_or(0) / (1024 * 1024)
        ),
        BudgetBreach::Documents { .. } => {
            "the file must be one YAML document (it has many `---` lines)".to_string()
        }
        BudgetBreach::MergeKeys { .. } => format!(
            "the file uses more than {} merge keys (`<<`)",
            limits.max_merge_keys
        ),
        BudgetBreach::SequenceUnbalanced => "a list or mapping ends that never started".to_string(),
        _ => "aliases (`*name`) expand to too much repeated content".to_string(),
    };
    format!("too large to read: {what}")
}

fn scalar_words(ty: &str) -> String {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            "expected a whole number, 0 or more, here".to_string()
        }
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
            "expected a whole number here".to_string()
        }
        "f32" | "f64" => "expected a number here".to_string(),
        "bool" | "boolean" => "expected true or false here".to_string(),
        "char" => "expected a single character here".to_string(),
        _ => "this value has the wrong form here".to_string(),
    }
}

/// serde's `invalid type: U, expected E`, turned around: what the value should
/// be, then what it is. An `expected` of the form `key: what` (our own
/// visitors, see `config::raw`) becomes `key: expected what`.
fn serde_expected_found(expected: &str, unexpected: &str) -> String {
    let found = match unexpected {
        "sequence" => "a list".to_string(),
        "map" => "a mapping".to_string(),
        "unit value" | "null" | "Option value" => "an empty value".to_string(),
        u => {
            // `integer `5``, `string "x"`, `boolean `true``, `floating point `1.5``
            let u = u
                .replace("floating point", "the number")
                .replace("integer", "the number")
                .replace("string ", "")
                .replace("boolean ", "");
            u.replace('"', "`")
        }
    };
    match rust_free(expected) {
        Some(e) => expected_found(e, &found),
        None => format!("this value has the wrong form here (found {found})"),
    }
}

/// `key: what` + found → `key: expected what, found …`; without a key,
/// `expected what, found …`.
pub(crate) fn expected_found(expected: &str, found: &str) -> String {
    match expected.split_once(": ") {
        Some((key, what)) if is_key(key) => format!("{key}: expected {what}, found {found}"),
        _ => format!("expected {expected}, found {found}"),
    }
}

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
}

/// `expected` as serde's derive writes it names the Rust type (`struct
/// RawPoll`, `u64`): those say nothing to a user.
fn rust_free(expected: &str) -> Option<&str> {
    let rusty = expected.starts_with("struct ")
        || expected.starts_with("enum ")
        || expected.starts_with("tuple")
        || expected.contains("::")
        || matches!(
            expected,
            "u8" | "u16"
                | "u32"
                | "u64"
                | "usize"
                | "i8"
                | "i16"
                | "i32"
                | "i64"
                | "isize"
                | "f32"
                | "f64"
                | "a string"
                | "a boolean"
        );
    (!rusty).then_some(expected)
}

/// serde-saphyr's plain message, without its own location prefix/suffix, in
/// the words of someone writing the file.
pub(crate) fn clean_yaml_message(s: &str) -> String {
    let first = s.lines().next().unwrap_or(s).trim();
    let msg = first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .trim_end_matches('.');
    // Drop a trailing " at line N, column M" that duplicates our own position.
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    // The parser's vocabulary, in the words of someone writing the file.
    let plain = [
        (
            "expected sequence start",
            "expected a list here (`- item` lines or `[a, b]`)",
        ),
        (
            "expected mapping start",
            "expected a mapping here (`key: value` lines or `{ key: value }`)",
        ),
        (
            "expected string scalar",
            "expected a single text value here, not a list or a mapping",
        ),
    ];
    for (jargon, words) in plain {
        if msg.starts_with(jargon) {
            return words.to_string();
        }
    }
    // `invalid u32` and friends, should one get past `Words`.
    if let Some(ty) = msg.strip_prefix("invalid ")
        && !ty.contains(' ')
    {
        return scalar_words(ty);
    }
    if let Some(key) = msg.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
        return format!("duplicate key `{key}`: each key may appear once in a mapping");
    }
    // An untagged enum anywhere (none are left in `config::raw`; a new one
    // must not bring its Rust name back).
    if msg.contains("untagged enum") || msg.contains("did not match any variant") {
        return "this value has the wrong form here".to_string();
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_phrases_become_sentences() {
        assert_eq!(
            serde_expected_found("budget: a duration like 200ms", "sequence"),
            "budget: expected a duration like 200ms, found a list"
        );
        assert_eq!(
            serde_expected_found("struct RawPoll", "string \"5s\""),
            "this value has the wrong form here (found `5s`)"
        );
        assert_eq!(
            clean_yaml_message("invalid i64 at line 3, column 4"),
            "expected a whole number here"
        );
        assert_eq!(
            clean_yaml_message("data did not match any variant of untagged enum RawThing"),
            "this value has the wrong form here"
        );
    }
}
