//! How values are laid out in columns: enums as their kebab-case names, lists and maps as
//! JSON text, contexts as zstd-compressed JSON.

use dunlin_core::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::StoreError;

/// zstd level for contexts: fast, and JSON compresses well already at low levels.
const CONTEXT_LEVEL: i32 = 3;

/// The kebab-case name of a core enum value (`bank-transfer`, `email`).
pub(crate) fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        // Only unit enum variants pass through here; they always serialise as strings.
        other => unreachable!("not a unit enum value: {other:?}"),
    }
}

/// Parses a stored enum name back.
pub(crate) fn parse_name<T: DeserializeOwned>(
    what: &'static str,
    s: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| {
        StoreError::Corrupt {
            what,
            detail: format!("{s:?}: {e}"),
        }
    })
}

/// JSON text of a value whose serialisation cannot fail (maps of strings, lists of enums).
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data always serialises")
}

/// Parses stored JSON text.
pub(crate) fn from_json<T: DeserializeOwned>(what: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// The context as zstd-compressed JSON: the exact bytes a replay will decode.
pub fn compress_context(ctx: &Context) -> Result<Vec<u8>, StoreError> {
    thread_local! {
        // A zstd compression context is large to set up; reusing one per thread makes
        // compressing a context a matter of microseconds.
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let encode = |detail: String| StoreError::Encode {
        what: "decision context",
        detail,
    };
    let json = serde_json::to_vec(ctx).map_err(|e| encode(e.to_string()))?;
    COMPRESSOR
        .with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = zstd::bulk::Compressor::new(CONTEXT_LEVEL).ok();
            }
            match slot.as_mut() {
                Some(c) => c.compress(&json),
                None => zstd::bulk::compress(&json, CONTEXT_LEVEL),
            }
        })
        .map_err(|e| encode(e.to_string()))
}

/// Decodes a context written by [`compress_context`].
pub fn decompress_context(bytes: &[u8]) -> Result<Context, StoreError> {
    let json = zstd::stream::decode_all(bytes).map_err(|e| StoreError::Corrupt {
        what: "decision context",
        detail: e.to_string(),
    })?;
    from_json(
        "decision context",
        std::str::from_utf8(&json).map_err(|e| StoreError::Corrupt {
            what: "decision context",
            detail: e.to_string(),
        })?,
    )
}

/// Converts a stored integer to the narrower type the domain uses.
pub(crate) fn narrow<T: TryFrom<i64>>(what: &'static str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::Corrupt {
        what,
        detail: format!("{v} is out of range"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dunlin_core::{Channel, PaymentMethod};

    #[test]
    fn enum_names_are_kebab_case_and_round_trip() {
        assert_eq!(name(&PaymentMethod::BankTransfer), "bank-transfer");
        assert_eq!(
            parse_name::<Channel>("channel", "in-app").unwrap(),
            Channel::InApp
        );
        assert!(parse_name::<Channel>("channel", "pigeon").is_err());
    }
}
