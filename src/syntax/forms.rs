//! The text forms the compiler parses (durations, sizes), as JSON Schema:
//! schema-only marker types that raw fields name with
//! `#[schemars(with = "…")]` (in config/raw.rs and the check kinds' `Raw`).

use schemars::JsonSchema;

/// A duration's text form: `humantime::parse_duration`'s grammar (numbers,
/// possibly with decimals, each followed by a unit; spans may be spaced or
/// run together: `1h 30min`, `1m30s`, `1.5s`, `1d`) with at least one
/// non-zero digit (zero is an error). Longer than a day is an error the
/// pattern does not try to say.
pub const DURATION_PATTERN: &str = concat!(r"^(?=[^1-9]*[1-9])", duration_grammar!());

/// `parse_duration`'s grammar without the non-zero look-ahead (which the
/// `regex` crate does not have; a unit test compares it with humantime).
macro_rules! duration_grammar {
    () => {
        concat!(
            r"\s*(?:[0-9][0-9\s]*(?:\.\s*[0-9][0-9\s]*)?",
            r"(?:nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s",
            r"|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d",
            r"|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y)\s*)+$"
        )
    };
}
pub(crate) use duration_grammar;

/// A size's text form (`parse_size`): a number and an optional unit,
/// case-insensitive.
pub const SIZE_PATTERN: &str =
    r"^\s*(?:[0-9]+\.?[0-9]*|\.[0-9]+)\s*(?:[bB]|[kKmM][bB]?|[gG][bB]|[kKmMgG][iI][bB])?\s*$";

/// Schema only: a text field the compiler reads as a duration.
pub struct Duration;

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: numbers with units (ms, s, m or min, h, d, …), e.g. 500ms, 5s, 1h 30min, 1.5s; more than zero and at most a day (1d)",
        })
    }
}

/// Schema only: a text field the compiler reads as a size.
pub struct SizeText;

impl JsonSchema for SizeText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "sizeText".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": SIZE_PATTERN,
            "description": "A size with a unit: 512KB, 5MB (10^6), 5MiB (2^20)",
        })
    }
}
