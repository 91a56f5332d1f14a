//! How values are laid out in columns: enums as their kebab-case names, lists and maps as
//! JSON text, contexts as zstd-compressed JSON.

use dunlin_core::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::StoreError;

/// zstd level for contexts: fast, and JSON compresses well already at low levels.
const CONTEXT_LEVEL: i32 = 3;

/// The dictionary contexts are compressed against: typical contexts' JSON, used by zstd as
/// raw content. A context shares most of its text (every key, the enum names, the dates'
/// shape) with it, so its frame is about a quarter of a plain frame (about 120 bytes
/// instead of 460 for a 1.1 KB context) and compressing it costs less.
///
/// Frozen: stored contexts depend on these exact bytes. A better dictionary is a new file
/// with a new tag, and [`decompress_context`] keeps reading both.
const DICTIONARY_V1: &[u8] = include_bytes!("context-dictionary-v1.json");

/// The first byte of a context compressed against [`DICTIONARY_V1`], before its zstd frame.
const TAG_DICTIONARY_V1: u8 = 0x01;

/// The first bytes of a plain zstd frame: contexts written before the dictionary.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The kebab-case name of a core enum value (`bank-transfer`, `email`).
pub(crate) fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        // Only unit enum variants pass through here; they always serialise as strings.
        other => unreachable!("not a unit enum value: {other:?}"),
    }
}

/// Parses a stored enum name (or currency code) back, straight from the text: a page reads
/// several per invoice.
pub(crate) fn parse_name<T: DeserializeOwned>(
    what: &'static str,
    s: &str,
) -> Result<T, StoreError> {
    use serde::de::IntoDeserializer;
    let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        s.into_deserializer();
    T::deserialize(text).map_err(|e| StoreError::Corrupt {
        what,
        detail: format!("{s:?}: {e}"),
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

/// The context as zstd-compressed JSON: the exact bytes a replay will decode. The frame is
/// compressed against the store's frozen context dictionary (`context-dictionary-v1.json`)
/// and follows a one-byte tag naming that dictionary.
pub fn compress_context(ctx: &Context) -> Result<Vec<u8>, StoreError> {
    /// A thread's compressor with the dictionary loaded (large to set up: reusing one makes
    /// compressing a context a matter of microseconds), and buffers for the JSON and the
    /// frame, kept so that they are not grown from empty for every context.
    #[derive(Default)]
    struct Scratch {
        compressor: Option<zstd::bulk::Compressor<'static>>,
        json: Vec<u8>,
        frame: Vec<u8>,
    }
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
    }
    let encode = |detail: String| StoreError::Encode {
        what: "decision context",
        detail,
    };
    SCRATCH.with(|cell| {
        let Scratch {
            compressor,
            json,
            frame,
        } = &mut *cell.borrow_mut();
        json.clear();
        serde_json::to_writer(&mut *json, ctx).map_err(|e| encode(e.to_string()))?;
        let compressor = match compressor {
            Some(c) => c,
            None => compressor.insert(
                zstd::bulk::Compressor::with_dictionary(CONTEXT_LEVEL, DICTIONARY_V1)
                    .map_err(|e| encode(e.to_string()))?,
            ),
        };
        frame.clear();
        frame.reserve(zstd::zstd_safe::compress_bound(json.len()));
        compressor
            .compress_to_buffer(json.as_slice(), frame)
            .map_err(|e| encode(e.to_string()))?;
        let mut bytes = Vec::with_capacity(1 + frame.len());
        bytes.push(TAG_DICTIONARY_V1);
        bytes.extend_from_slice(frame);
        Ok(bytes)
    })
}

/// Decodes a context written by [`compress_context`], or by the versions before the
/// dictionary (a plain zstd frame).
pub fn decompress_context(bytes: &[u8]) -> Result<Context, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        what: "decision context",
        detail,
    };
    let json = match bytes {
        [TAG_DICTIONARY_V1, frame @ ..] => {
            let mut decoder = zstd::stream::read::Decoder::with_dictionary(frame, DICTIONARY_V1)
                .map_err(|e| corrupt(e.to_string()))?;
            let mut json = Vec::new();
            std::io::Read::read_to_end(&mut decoder, &mut json)
                .map_err(|e| corrupt(e.to_string()))?;
            json
        }
        [a, b, c, d, ..] if [*a, *b, *c, *d] == ZSTD_MAGIC => {
            zstd::stream::decode_all(bytes).map_err(|e| corrupt(e.to_string()))?
        }
        _ => {
            return Err(corrupt(format!(
                "unknown format (first byte {:#04x})",
                bytes.first().copied().unwrap_or(0)
            )))
        }
    };
    from_json(
        "decision context",
        std::str::from_utf8(&json).map_err(|e| corrupt(e.to_string()))?,
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

    fn dictionary_contexts() -> Vec<Context> {
        serde_json::from_slice(DICTIONARY_V1).expect("the dictionary is a JSON list of contexts")
    }

    #[test]
    fn the_dictionary_is_contexts_as_the_store_writes_them() {
        // Each line is one context exactly as serde writes it, so the keys and their order
        // match what gets compressed; a change to the context's shape shows up here.
        let text = std::str::from_utf8(DICTIONARY_V1).expect("utf-8");
        let contexts = dictionary_contexts();
        assert_eq!(contexts.len(), 2);
        for (line, ctx) in text.lines().zip(&contexts) {
            let line = line.trim_start_matches('[').trim_end_matches([',', ']']);
            assert_eq!(serde_json::to_string(ctx).expect("serialises"), line);
        }
    }

    #[test]
    fn contexts_round_trip_and_the_dictionary_makes_them_small() {
        for mut ctx in dictionary_contexts() {
            ctx.invoice.id = "inv-77 ✓".into();
            ctx.params.insert("brand".into(), "Fjord & Co".into());
            let bytes = compress_context(&ctx).expect("compresses");
            assert_eq!(bytes[0], TAG_DICTIONARY_V1);
            assert_eq!(decompress_context(&bytes).expect("decodes"), ctx);
            let plain =
                zstd::bulk::compress(&serde_json::to_vec(&ctx).unwrap(), CONTEXT_LEVEL).unwrap();
            assert!(
                bytes.len() * 2 < plain.len(),
                "{} bytes with the dictionary, {} without",
                bytes.len(),
                plain.len()
            );
        }
    }

    #[test]
    fn contexts_written_before_the_dictionary_still_decode() {
        let ctx = dictionary_contexts().remove(1);
        let legacy = zstd::bulk::compress(&serde_json::to_vec(&ctx).unwrap(), 3).unwrap();
        assert_eq!(legacy[..4], ZSTD_MAGIC);
        assert_eq!(decompress_context(&legacy).expect("decodes"), ctx);
    }

    #[test]
    fn damaged_contexts_are_errors() {
        let bytes = compress_context(&dictionary_contexts().remove(0)).expect("compresses");
        for damaged in [
            &[][..],
            &[0x7f, 1, 2, 3][..],
            &bytes[..bytes.len() / 2],
            &ZSTD_MAGIC[..],
        ] {
            assert!(
                matches!(decompress_context(damaged), Err(StoreError::Corrupt { .. })),
                "{damaged:?}"
            );
        }
    }
}
