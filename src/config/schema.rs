//! The JSON Schema of the probe-file format, printed by `smokeprobe schema` for
//! editor completion (e.g. `# yaml-language-server: $schema=smokeprobe.schema.json`).
//!
//! Generated from the raw types (`config/raw.rs`, `#[derive(JsonSchema)]`,
//! serde's attributes honoured; the values of more than one shape describe
//! their shapes by hand), then a small transform adds what a derive can't
//! say: the file's identity, "a step is a request or exactly one check" as a
//! `oneOf`, and the vocabularies (profiles, rule ids, leak groups) from the
//! lists the compiler checks against.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::raw::{CHECK_KEYS, REQUEST_KEYS, RawFile};
use crate::vocab::{headers, leaks};

const ID: &str = "https://smokeprobe.dev/schema/probe-file-v1.json";
const TITLE: &str = "smokeprobe probe file";

/// The schema, as pretty-printed JSON.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&schema()).expect("a schema is JSON")
}

/// The schema (draft 2020-12).
pub fn schema() -> Schema {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RawFile>();
    let root = schema
        .as_object_mut()
        .expect("the root schema is an object");
    root.insert("$id".into(), ID.into());
    root.insert("title".into(), TITLE.into());
    root.insert("required".into(), json!(["flows"]));
    root["properties"]["version"] = json!({ "const": 1, "description": "The format's version: 1" });
    let defs = root
        .get_mut("$defs")
        .and_then(Value::as_object_mut)
        .expect("the schema has $defs");
    step_rules(def(defs, "step"));
    vocabularies(defs);
    drop_null_defaults(root);
    schema
}

/// `"default": null` (serde's default of an optional key) says nothing.
fn drop_null_defaults(v: &mut Map<String, Value>) {
    if v.get("default") == Some(&Value::Null) {
        v.remove("default");
    }
    for child in v.values_mut() {
        match child {
            Value::Object(m) => drop_null_defaults(m),
            Value::Array(a) => a
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(drop_null_defaults),
            _ => {}
        }
    }
}

fn def<'a>(defs: &'a mut Map<String, Value>, name: &str) -> &'a mut Map<String, Value> {
    defs.get_mut(name)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no $defs/{name}"))
}

fn property<'a>(def: &'a mut Map<String, Value>, name: &str) -> &'a mut Map<String, Value> {
    def.get_mut("properties")
        .and_then(|p| p.get_mut(name))
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no property {name}"))
}

/// A step needs a name, and is a request (`url`, no check key) or exactly
/// one check (its key, none of the request's keys, no `for_each`, no
/// `leaves`): the compiler's rules, as one alternative per kind.
fn step_rules(step: &mut Map<String, Value>) {
    step.insert("required".into(), json!(["name"]));
    // Absent, or a value the compiler reads as absent (null; an empty mapping
    // for the mappings).
    let unset = |key: &str| match key {
        "headers" | "query" | "capture" => json!({ "type": "object", "maxProperties": 0 }),
        _ => json!({ "type": "null" }),
    };
    let mut request = Map::new();
    for k in CHECK_KEYS {
        request.insert(k.to_string(), unset(k));
    }
    let mut alternatives = vec![json!({
        "title": "request step",
        "required": ["url"],
        "properties": request,
    })];
    for kind in CHECK_KEYS {
        let mut props = Map::new();
        for k in REQUEST_KEYS.iter().chain(&["for_each", "leaves"]) {
            props.insert(k.to_string(), unset(k));
        }
        props.insert(kind.to_string(), json!({ "type": "object" }));
        alternatives.push(json!({
            "title": format!("{kind} check"),
            "required": [kind],
            "properties": props,
        }));
    }
    // Under `allOf`: the step's own `properties` stay the one place that
    // describes its keys (`additionalProperties: false`).
    step.insert("allOf".into(), json!([{ "oneOf": alternatives }]));
    step.insert(
        "description".into(),
        format!(
            "A request (url) or exactly one built-in check ({}); a check step takes no request keys",
            CHECK_KEYS.join(", ")
        )
        .into(),
    );
}

/// Words the compiler accepts from a fixed list, from that list.
fn vocabularies(defs: &mut Map<String, Value>) {
    let rules: Vec<&str> = headers::HeaderRule::ALL.iter().map(|r| r.id()).collect();
    let sh = def(defs, "securityHeaders");
    one_of_words(property(sh, "profile"), &headers::PROFILES);
    for list in ["require", "warn", "ignore"] {
        property(sh, list).insert("items".into(), json!({ "enum": rules }));
    }
    property(def(defs, "errorLeaks"), "ignore")
        .insert("items".into(), json!({ "enum": leaks::GROUPS }));
    for kind in ["apiDocs", "loginTiming"] {
        one_of_words(property(def(defs, kind), "level"), &["warning", "required"]);
    }
    one_of_words(
        property(def(defs, "jsonCheck"), "type"),
        &[
            "string", "number", "integer", "boolean", "bool", "array", "object", "null",
        ],
    );
    property(def(defs, "image"), "format").insert(
        "pattern".into(),
        // png, jpeg or jpg, in any case.
        "^([pP][nN][gG]|[jJ][pP][eE]?[gG])$".into(),
    );
}

/// An optional text that must be one of `words` (or null: unset).
fn one_of_words(prop: &mut Map<String, Value>, words: &[&str]) {
    let mut e: Vec<Value> = words.iter().map(|w| Value::from(*w)).collect();
    e.push(Value::Null);
    prop.insert("enum".into(), e.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile::checks;
    use crate::config::raw::RawStep;

    fn step(yaml: &str) -> RawStep {
        serde_saphyr::from_str(yaml).expect("a step")
    }

    #[test]
    fn request_keys_are_the_fields_a_check_step_refuses() {
        let every_field = step(
            "name: all\n\
             url: u\n\
             method: POST\n\
             headers: { a: b }\n\
             query: { a: b }\n\
             json: {}\n\
             form: { a: b }\n\
             body: b\n\
             multipart: [{ name: a, value: b }]\n\
             follow_redirects: true\n\
             poll: { every: 1s, within: 5s }\n\
             expect: {}\n\
             capture: { a: { json: $.a } }\n",
        );
        assert_eq!(checks::request_fields(&every_field), REQUEST_KEYS);
    }

    /// A key added to the step is classified here: a check kind
    /// (`CHECK_KEYS`), a request key (`REQUEST_KEYS`) or one both may have.
    #[test]
    fn every_step_key_is_a_check_a_request_key_or_common() {
        let schema = schema();
        let props = schema.as_value()["$defs"]["step"]["properties"]
            .as_object()
            .unwrap();
        let common = [
            "name", "timeout", "always", "cleans", "leaves", "budget", "for_each",
        ];
        let mut known: Vec<&str> = CHECK_KEYS.iter().chain(REQUEST_KEYS).copied().collect();
        known.extend(common);
        known.sort();
        let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, known);
    }

    #[test]
    fn the_schema_keeps_its_identity_and_says_no_rust() {
        let text = schema_json();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(v["$id"], ID);
        assert_eq!(v["title"], TITLE);
        for rust in [
            "Raw",
            "Spanned",
            "Option<",
            "Vec<",
            "String",
            "BTreeMap",
            "\"default\": null",
        ] {
            assert!(!text.contains(rust), "{rust} in the schema");
        }
    }
}
