//! Reading an [`Action`] back from its JSON, as serde's derive for `#[serde(tag = "kind")]`
//! reads it, without buffering the object when `kind` comes first.
//!
//! The derive reads every field of an internally tagged object into serde's `Content`
//! before it knows the variant, then reads the variant from that copy. The host writes
//! `kind` first, so the variant is known after the first key and the rest of the object is
//! read straight into it; the backtest reads every recorded decision back
//! (docs/benchmarks.md#backtest). Any other order is buffered (as JSON values) and read the
//! same way. What is accepted and refused is the derive's, and so is the error, except for
//! a second `kind` in an object that starts with one: it is refused as an unknown field of
//! the variant.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Action, Closure, Escalation, Notice, Pause, Retry};

/// The variant `kind` names.
#[derive(Clone, Copy)]
enum Kind {
    Notify,
    RetryPayment,
    Pause,
    Escalate,
    Close,
}

/// `kind`'s values, as the derive names them in its errors.
const KINDS: &[&str] = &["notify", "retry-payment", "pause", "escalate", "close"];

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl Visitor<'_> for KindVisitor {
            type Value = Kind;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("variant identifier")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
                Ok(match v {
                    "notify" => Kind::Notify,
                    "retry-payment" => Kind::RetryPayment,
                    "pause" => Kind::Pause,
                    "escalate" => Kind::Escalate,
                    "close" => Kind::Close,
                    other => return Err(de::Error::unknown_variant(other, KINDS)),
                })
            }
        }
        d.deserialize_identifier(KindVisitor)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ActionVisitor)
    }
}

struct ActionVisitor;

impl<'de> Visitor<'de> for ActionVisitor {
    type Value = Action;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("internally tagged enum Action")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Action, A::Error> {
        match map.next_key::<Key>()? {
            None => Err(de::Error::missing_field("kind")),
            Some(Key::Kind) => {
                let kind = map.next_value::<Kind>()?;
                variant(kind, MapAccessDeserializer::new(map))
            }
            Some(Key::Other(first)) => {
                // `kind` comes later: the fields are kept until it is found.
                let mut fields = Map::new();
                fields.insert(first, map.next_value::<Value>()?);
                let mut kind = None;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Kind if kind.is_some() => {
                            return Err(de::Error::duplicate_field("kind"))
                        }
                        Key::Kind => kind = Some(map.next_value::<Kind>()?),
                        Key::Other(name) => {
                            let value = map.next_value::<Value>()?;
                            if fields.insert(name.clone(), value).is_some() {
                                return Err(de::Error::custom(format_args!(
                                    "duplicate field `{name}`"
                                )));
                            }
                        }
                    }
                }
                let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
                variant(kind, Value::Object(fields).into_deserializer()).map_err(de::Error::custom)
            }
        }
    }
}

/// The variant `kind` names, read from the object's other fields.
fn variant<'de, D: Deserializer<'de>>(kind: Kind, fields: D) -> Result<Action, D::Error> {
    Ok(match kind {
        Kind::Notify => Action::Notify(Notice::deserialize(fields)?),
        Kind::RetryPayment => Action::RetryPayment(Retry::deserialize(fields)?),
        Kind::Pause => Action::Pause(Pause::deserialize(fields)?),
        Kind::Escalate => Action::Escalate(Escalation::deserialize(fields)?),
        Kind::Close => Action::Close(Closure::deserialize(fields)?),
    })
}

/// An object's key: `kind`, or another, which only the buffered path keeps.
enum Key {
    Kind,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "kind" => Key::Kind,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derive this reader stands in for, under the same name (its errors name it).
    mod derived {
        use crate::decision::{Closure, Escalation, Notice, Pause, Retry};
        use serde::Deserialize;

        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
        pub(super) enum Action {
            Notify(Notice),
            RetryPayment(Retry),
            Pause(Pause),
            Escalate(Escalation),
            Close(Closure),
        }

        impl From<Action> for super::Action {
            fn from(d: Action) -> super::Action {
                match d {
                    Action::Notify(n) => super::Action::Notify(n),
                    Action::RetryPayment(r) => super::Action::RetryPayment(r),
                    Action::Pause(p) => super::Action::Pause(p),
                    Action::Escalate(e) => super::Action::Escalate(e),
                    Action::Close(c) => super::Action::Close(c),
                }
            }
        }
    }

    /// An error's message without its position: the derive reports a field's error where
    /// the object ends, having read it whole first.
    fn message(e: &serde_json::Error) -> String {
        let text = e.to_string();
        match text.rfind(" at line ") {
            Some(at) => text[..at].to_owned(),
            None => text,
        }
    }

    fn both(text: &str) -> (Result<Action, String>, Result<Action, String>) {
        let ours = serde_json::from_str::<Action>(text).map_err(|e| message(&e));
        let derived = serde_json::from_str::<derived::Action>(text)
            .map(Action::from)
            .map_err(|e| message(&e));
        (ours, derived)
    }

    #[test]
    fn every_action_written_reads_back_as_itself() {
        let actions = [
            r#"{"kind":"notify","level":2,"channel":"sms","tone":"firm","template":"t","vars":{"a":"1"}}"#,
            r#"{"kind":"notify","level":1,"channel":"email","tone":"friendly","template":"t"}"#,
            r#"{"kind":"retry-payment","reason":"r"}"#,
            r#"{"kind":"pause","until":"2026-03-01","reason":"r"}"#,
            r#"{"kind":"escalate","to":"collections","reason":"r"}"#,
            r#"{"kind":"close","write-off":true,"reason":"r"}"#,
            r#"{"kind":"close","reason":"r"}"#,
        ];
        for text in actions {
            let (ours, derived) = both(text);
            let action = ours.unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(Ok(&action), derived.as_ref(), "{text}");
            let written = serde_json::to_string(&action).unwrap();
            assert_eq!(serde_json::from_str::<Action>(&written).unwrap(), action);
        }
    }

    #[test]
    fn kind_anywhere_in_the_object_reads_as_the_derive_reads_it() {
        let cases = [
            r#"{"reason":"r","kind":"retry-payment"}"#,
            r#"{"level":3,"channel":"letter","tone":"final","template":"t","kind":"notify"}"#,
            r#"{"until":"2026-03-01","kind":"pause","reason":"r"}"#,
            r#"{"to":"legal","reason":"r","kind":"escalate"}"#,
            r#"{"reason":"r","write-off":false,"kind":"close"}"#,
        ];
        for text in cases {
            let (ours, derived) = both(text);
            assert!(ours.is_ok(), "{text}: {ours:?}");
            assert_eq!(ours, derived, "{text}");
        }
    }

    #[test]
    fn what_the_derive_refuses_is_refused_with_its_message() {
        let cases = [
            // No kind, an unknown kind, a kind of the wrong type.
            r#"{}"#,
            r#"{"reason":"r"}"#,
            r#"{"kind":"fax","reason":"r"}"#,
            r#"{"reason":"r","kind":"fax"}"#,
            r#"{"kind":3,"reason":"r"}"#,
            // Unknown, missing and mistyped fields, kind first and later.
            r#"{"kind":"retry-payment","reason":"r","extra":1}"#,
            r#"{"reason":"r","extra":1,"kind":"retry-payment"}"#,
            r#"{"kind":"notify","level":1,"channel":"email","tone":"friendly"}"#,
            r#"{"level":1,"channel":"email","tone":"friendly","kind":"notify"}"#,
            r#"{"kind":"notify","level":"one","channel":"email","tone":"friendly","template":"t"}"#,
            r#"{"kind":"notify","level":1,"channel":"fax","tone":"friendly","template":"t"}"#,
            r#"{"kind":"pause","until":"26-03-01","reason":"r"}"#,
            r#"{"until":"26-03-01","reason":"r","kind":"pause"}"#,
            // Twice the same field (for `kind` after `kind`, see below).
            r#"{"reason":"r","kind":"close","kind":"close"}"#,
            r#"{"kind":"close","reason":"r","reason":"s"}"#,
            // Not an object.
            r#""notify""#,
            r#"null"#,
        ];
        for text in cases {
            let (ours, derived) = both(text);
            let (Err(ours), Err(derived)) = (&ours, &derived) else {
                panic!("{text}: ours {ours:?}, the derive's {derived:?}");
            };
            assert_eq!(ours, derived, "{text}");
        }
        // A second `kind` in an object that starts with one is read as one of the variant's
        // fields, which has no such field: refused as the derive refuses it, named
        // differently.
        let (ours, derived) = both(r#"{"kind":"close","kind":"close","reason":"r"}"#);
        assert_eq!(
            ours.unwrap_err(),
            "unknown field `kind`, expected `write-off` or `reason`"
        );
        assert_eq!(derived.unwrap_err(), "duplicate field `kind`");
    }
}
