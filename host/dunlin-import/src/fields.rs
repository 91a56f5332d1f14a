//! Reading typed fields out of a raw row, collecting every problem with the field's name.
//!
//! Each accessor returns `None` both for an absent optional field and for a bad one; a bad one
//! also leaves a message in [`Fields::errors`], which is what decides whether the row loads.

use std::collections::BTreeMap;

use chrono::Datelike;
use dunlin_core::text::quoted;
use dunlin_core::{Currency, Date};
use dunlin_store::validate::{is_known_currency, MAX_AMOUNT_MINOR, MAX_ID_LEN};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde_json::{Map, Value};

/// A raw row being turned into a record.
pub(crate) struct Fields {
    fields: Map<String, Value>,
    pub errors: Vec<String>,
}

/// Whether a string anywhere in `value` (keys of objects included) holds a NUL character.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

impl Fields {
    /// The row's fields. A NUL character in any name or text is the row's error at once:
    /// PostgreSQL stores no text holding one, and SQLite would, so the two stores would not
    /// agree on the row.
    pub fn new(fields: Map<String, Value>) -> Self {
        let mut errors = Vec::new();
        for (name, value) in &fields {
            if name.contains('\0') || holds_nul(value) {
                errors.push(format!(
                    "{} holds a NUL character, which no text may hold",
                    quoted(name, 64)
                ));
            }
        }
        Fields { fields, errors }
    }

    fn fail(&mut self, message: String) {
        self.errors.push(message);
    }

    /// The value as text: strings as they are, numbers and booleans as written.
    pub fn text(&mut self, name: &str) -> Option<String> {
        let text = match self.fields.get(name)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                self.fail(format!("{name} must be text"));
                return None;
            }
        };
        (!text.is_empty()).then_some(text)
    }

    pub fn required_text(&mut self, name: &str) -> Option<String> {
        let before = self.errors.len();
        let text = self.text(name);
        if text.is_none() && self.errors.len() == before {
            self.fail(format!("{name} is missing"));
        }
        text
    }

    /// An id or code: required, at most [`MAX_ID_LEN`] bytes.
    pub fn id(&mut self, name: &str) -> Option<String> {
        let id = self.required_text(name)?;
        if id.len() > MAX_ID_LEN {
            self.fail(format!(
                "{name} is {} bytes long; at most {MAX_ID_LEN}",
                id.len()
            ));
            return None;
        }
        Some(id)
    }

    pub fn date(&mut self, name: &str) -> Option<Date> {
        let text = self.text(name)?;
        // chrono's `%Y-%m-%d` also takes `2026-1-1` and `+2026-01-01`; the format is exact.
        let parsed = is_iso_date_shape(&text)
            .then(|| Date::parse_from_str(&text, "%Y-%m-%d").ok())
            .flatten();
        match parsed {
            Some(date) if (1900..=9999).contains(&date.year()) => Some(date),
            Some(date) => {
                self.fail(format!("{name} {date} is outside the years 1900 to 9999"));
                None
            }
            None => {
                self.fail(format!(
                    "{name} {text:?} is not a date (expected YYYY-MM-DD)"
                ));
                None
            }
        }
    }

    pub fn required_date(&mut self, name: &str) -> Option<Date> {
        if !self.fields.contains_key(name) {
            self.fail(format!("{name} is missing"));
            return None;
        }
        self.date(name)
    }

    /// Minor units: a whole number from 0 to [`MAX_AMOUNT_MINOR`].
    pub fn amount(&mut self, name: &str) -> Option<i64> {
        let value = match self.fields.get(name)? {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(v), _) => Ok(v),
                (None, Some(f)) if f.fract() == 0.0 && f < 0.0 => {
                    Err(format!("{name} {n} is negative"))
                }
                (None, Some(f)) if f.fract() == 0.0 || n.is_u64() => Err(format!(
                    "{name} {n} is too large (at most {MAX_AMOUNT_MINOR} minor units)"
                )),
                _ => Err(format!(
                    "{name} {n} is not a whole number of minor units (cents, not euros)"
                )),
            },
            Value::String(s) => parse_minor(name, s.trim()),
            _ => Err(format!("{name} must be a whole number of minor units")),
        };
        match value {
            Ok(v) if v < 0 => self.fail(format!("{name} {v} is negative")),
            Ok(v) if v > MAX_AMOUNT_MINOR => self.fail(format!(
                "{name} {v} is too large (at most {MAX_AMOUNT_MINOR} minor units)"
            )),
            Ok(v) => return Some(v),
            Err(message) => self.fail(message),
        }
        None
    }

    pub fn required_amount(&mut self, name: &str) -> Option<i64> {
        if !self.fields.contains_key(name) {
            self.fail(format!("{name} is missing"));
            return None;
        }
        self.amount(name)
    }

    /// A count such as failed attempts; 0 when absent.
    pub fn count(&mut self, name: &str) -> Option<u32> {
        let Some(text) = self.text(name) else {
            return Some(0);
        };
        match digits_only(&text).then(|| text.parse::<u32>()) {
            Some(Ok(n)) => Some(n),
            _ => {
                self.fail(format!(
                    "{name} {text:?} is not a count (a whole number, 0 or more)"
                ));
                None
            }
        }
    }

    /// A known ISO 4217 code; lower case is accepted.
    pub fn currency(&mut self, name: &str) -> Option<Currency> {
        let Some(text) = self.text(name) else {
            self.fail(format!("{name} is missing"));
            return None;
        };
        match Currency::new(&text.to_ascii_uppercase()) {
            Ok(c) if is_known_currency(c) => Some(c),
            _ => {
                self.fail(format!("{name} {text:?} is not a known ISO 4217 code"));
                None
            }
        }
    }

    /// One of a closed set of kebab-case names, e.g. a payment method.
    pub fn choice<T: DeserializeOwned>(&mut self, name: &str, expected: &str) -> Option<T> {
        let text = self.text(name)?;
        let parsed: Result<T, serde::de::value::Error> =
            T::deserialize(text.as_str().into_deserializer());
        match parsed {
            Ok(v) => Some(v),
            Err(_) => {
                self.fail(format!("{name} {text:?} is unknown; expected {expected}"));
                None
            }
        }
    }

    pub fn required_choice<T: DeserializeOwned>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Option<T> {
        if !self.fields.contains_key(name) {
            self.fail(format!("{name} is missing"));
            return None;
        }
        self.choice(name, expected)
    }

    /// A list: a JSON array, or text with items separated by `;`.
    pub fn list(&mut self, name: &str) -> Option<Vec<String>> {
        let items: Vec<String> = match self.fields.get(name)? {
            Value::String(s) => s.split(';').map(|i| i.trim().to_owned()).collect(),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.trim().to_owned()),
                        _ => {
                            self.fail(format!("{name} must be a list of text"));
                            return None;
                        }
                    }
                }
                out
            }
            _ => {
                self.fail(format!(
                    "{name} must be a list (an array, or text separated by ';')"
                ));
                return None;
            }
        };
        Some(items.into_iter().filter(|i| !i.is_empty()).collect())
    }

    /// A list of closed-set names, e.g. channels.
    pub fn choice_list<T: DeserializeOwned>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Option<Vec<T>> {
        let items = self.list(name)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let parsed: Result<T, serde::de::value::Error> =
                T::deserialize(item.as_str().into_deserializer());
            match parsed {
                Ok(v) => out.push(v),
                Err(_) => {
                    self.fail(format!("{name}: {item:?} is unknown; expected {expected}"));
                    return None;
                }
            }
        }
        Some(out)
    }

    /// The fields named `<prefix><key>`, by key (e.g. `meta.region` for prefix `meta.`).
    pub fn prefixed(&mut self, prefix: &str) -> BTreeMap<String, String> {
        let keys: Vec<String> = self
            .fields
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        let mut out = BTreeMap::new();
        for key in keys {
            if let Some(value) = self.text(&key) {
                out.insert(key[prefix.len()..].to_owned(), value);
            }
        }
        out
    }
}

/// Whether `text` is `YYYY-MM-DD`: four, two and two ASCII digits.
fn is_iso_date_shape(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// Whether `text` is one or more ASCII digits: Rust's integer parsers also take a `+`.
fn digits_only(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn parse_minor(name: &str, text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits_only(digits) {
        return Err(format!(
            "{name} {text:?} is not a whole number of minor units (cents, not euros)"
        ));
    }
    match text.parse::<i64>() {
        Ok(v) => Ok(v),
        Err(_) if text.starts_with('-') => Err(format!("{name} {text} is negative")),
        Err(_) => Err(format!(
            "{name} {text} is too large (at most {MAX_AMOUNT_MINOR} minor units)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(name: &str, value: Value) -> Fields {
        let mut map = Map::new();
        map.insert(name.to_owned(), value);
        Fields::new(map)
    }

    #[test]
    fn a_nul_anywhere_in_a_row_is_its_error() {
        for value in [
            json!("a\u{0}b"),
            json!(["x", "\u{0}"]),
            json!({"k\u{0}": 1}),
            json!({"k": {"n": "\u{0}"}}),
        ] {
            let f = one("note", value.clone());
            assert_eq!(
                f.errors,
                ["\"note\" holds a NUL character, which no text may hold"],
                "{value}"
            );
        }
        assert!(one("note", json!("fine")).errors.is_empty());
        let f = one("n\u{0}te", json!(1));
        assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    }

    #[test]
    fn amounts_name_the_field_and_the_problem() {
        let cases = [
            (Value::from("-5"), "amount-minor -5 is negative"),
            (Value::from(-5), "amount-minor -5 is negative"),
            (Value::from("99999999999999999999"), "is too large"),
            (Value::from(u64::MAX), "is too large"),
            (Value::from(1_000_000_000_000_001_i64), "is too large"),
            (Value::from("12.50"), "not a whole number of minor units"),
            (Value::from(12.5), "not a whole number of minor units"),
            (Value::Bool(true), "must be a whole number"),
        ];
        for (value, expected) in cases {
            let mut f = one("amount-minor", value.clone());
            assert_eq!(f.amount("amount-minor"), None, "{value}");
            assert!(f.errors[0].contains(expected), "{value}: {:?}", f.errors);
        }
        let mut f = one("amount-minor", Value::from(" 12950 "));
        assert_eq!(f.amount("amount-minor"), Some(12950));
        assert!(f.errors.is_empty());
    }

    #[test]
    fn dates_are_iso_and_in_range() {
        let mut f = one("due-on", Value::from("2026-02-30"));
        assert_eq!(f.date("due-on"), None);
        assert!(f.errors[0].contains("is not a date"));
        let mut f = one("due-on", Value::from("0999-01-01"));
        assert_eq!(f.date("due-on"), None);
        assert!(f.errors[0].contains("outside the years"));
        let mut f = one("due-on", Value::from("2026-02-28"));
        assert!(f.date("due-on").is_some());
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd() {
        for text in [
            "2026-1-1",
            "2026-01-1",
            "+2026-01-01",
            "26-01-01",
            "2026/01/01",
        ] {
            let mut f = one("due-on", Value::from(text));
            assert_eq!(f.date("due-on"), None, "{text}");
            assert!(f.errors[0].contains("expected YYYY-MM-DD"), "{text}");
        }
    }

    #[test]
    fn integers_are_digits_without_a_plus_sign() {
        for text in ["+1000", "1_000", "1 000", "0x10", ""] {
            let mut f = one("amount-minor", Value::from(text));
            assert_eq!(f.amount("amount-minor"), None, "{text}");
            assert!(
                f.errors[0].contains("not a whole number"),
                "{text}: {:?}",
                f.errors
            );
        }
        let mut f = one("failed-attempts", Value::from("+2"));
        assert_eq!(f.count("failed-attempts"), None);
        assert!(f.errors[0].contains("is not a count"));
        let mut f = one("failed-attempts", Value::from(2));
        assert_eq!(f.count("failed-attempts"), Some(2));
    }

    #[test]
    fn lists_split_on_semicolons_or_come_as_arrays() {
        let mut f = one("tags", Value::from("smb; new;"));
        assert_eq!(
            f.list("tags"),
            Some(vec!["smb".to_owned(), "new".to_owned()])
        );
        let mut f = one("tags", serde_json::json!(["a", "b"]));
        assert_eq!(f.list("tags"), Some(vec!["a".to_owned(), "b".to_owned()]));
    }
}
