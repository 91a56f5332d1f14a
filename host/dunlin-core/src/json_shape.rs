//! Checking settings given as JSON against the shape their type serialises to, so that a
//! misspelt key is an error naming that key instead of a setting silently left at its default.

use serde_json::{Map, Value};

use crate::text::quoted;

/// The longest key or value a message quotes, in bytes.
pub const SHOWN_BYTES: usize = 80;

/// The dotted path of the first key of `given` that `known` lacks, looking into the objects
/// both have under the same key (`contact-window.begin`). `known` is a full example of the
/// shape, e.g. the type's default serialised.
pub fn unknown_key(given: &Map<String, Value>, known: &Map<String, Value>) -> Option<String> {
    given
        .iter()
        .find_map(|(key, value)| match (known.get(key), value) {
            (None, _) => Some(key.clone()),
            (Some(Value::Object(inner_known)), Value::Object(inner)) => {
                unknown_key(inner, inner_known).map(|path| format!("{key}.{path}"))
            }
            (Some(_), _) => None,
        })
}

/// The message for an unknown key: the key, bounded and escaped, and the keys there are.
pub fn unknown_key_message(path: &str, known: &Map<String, Value>) -> String {
    let names: Vec<&str> = known.keys().map(String::as_str).collect();
    format!(
        "unknown field {}; the fields are {}",
        quoted(path, SHOWN_BYTES),
        names.join(", ")
    )
}

/// What kind of JSON value `value` is, for messages ("an array").
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn unknown_keys_are_found_at_any_depth() {
        let known = object(json!({"a": 1, "w": {"start": "08:00", "end": "21:00"}}));
        let check = |given: Value| unknown_key(&object(given), &known);
        assert_eq!(check(json!({})), None);
        assert_eq!(check(json!({"a": 2, "w": {"start": "09:00"}})), None);
        assert_eq!(check(json!({"b": 2})), Some("b".to_owned()));
        assert_eq!(
            check(json!({"w": {"start": "09:00", "begin": "x"}})),
            Some("w.begin".to_owned())
        );
        // A value of the wrong type is for the deserialiser to name, not an unknown key.
        assert_eq!(check(json!({"w": 3})), None);
    }

    #[test]
    fn the_message_quotes_the_key_bounded() {
        let known = object(json!({"a": 1, "b": 2}));
        let long = format!("x\u{1b}[2J{}", "y".repeat(500));
        let message = unknown_key_message(&long, &known);
        assert!(
            message.starts_with(r#"unknown field "x\u{1b}[2J"#),
            "{message}"
        );
        assert!(message.ends_with("the fields are a, b"), "{message}");
        assert!(message.len() < 200, "{message}");
    }
}
