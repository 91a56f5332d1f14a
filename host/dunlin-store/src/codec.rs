//! How values are laid out in columns: enums as their kebab-case names, lists and maps as
//! JSON text, contexts as zstd-compressed JSON.

use chrono::{DateTime, SubsecRound, Utc};
use dunlin_core::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::replay::RecordedContext;
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

/// JSON text of a value whose serialisation cannot fail (maps of strings, lists of enums):
/// what the log writes for a decision and each action, so a replay compares against it.
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
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
/// and follows a one-byte tag naming that dictionary. It is a chunk of one context, as the
/// store's encoder writes chunks of up to 64.
pub fn compress_context(ctx: &Context) -> Result<Vec<u8>, StoreError> {
    compress_contexts(std::iter::once(ctx))
}

/// Contexts compressed together, as a sweep stores them: their JSON one per line (serde_json
/// never writes a raw newline), in one zstd frame against the dictionary, after its tag.
///
/// One frame for a run of contexts instead of one each: zstd sets up its entropy tables once
/// per frame, which is half of compressing a lone 900-byte context, and the later contexts
/// of a run find most of their text in the earlier ones. 64 contexts of a demo book: 260 ns
/// and 22 bytes a context, against 1,950 ns and 138 bytes one by one
/// (docs/benchmarks.md#chunked-contexts).
pub(crate) fn compress_contexts<'c>(
    contexts: impl IntoIterator<Item = &'c Context>,
) -> Result<Vec<u8>, StoreError> {
    /// A thread's compressor with the dictionary loaded (large to set up: reusing one makes
    /// compressing a context a matter of microseconds), and buffers for the JSON and the
    /// frame, kept so that they are not grown from empty for every chunk.
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
        for (i, ctx) in contexts.into_iter().enumerate() {
            if i > 0 {
                json.push(b'\n');
            }
            serde_json::to_writer(&mut *json, ctx).map_err(|e| encode(e.to_string()))?;
        }
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

/// What a decision's `context` column holds when its context is a line of a chunk of
/// contexts: the decision's `context_chunk` names the chunk and `context_line` the line.
pub(crate) const IN_CHUNK: &[u8] = &[TAG_IN_CHUNK];

/// The tag of [`IN_CHUNK`].
const TAG_IN_CHUNK: u8 = 0x02;

/// Decodes decisions' contexts as the decision log stores them: from their own frame, or
/// from a line of a chunk, each chunk decompressed once however many decisions read it.
#[derive(Debug, Default)]
pub(crate) struct ChunkCache {
    /// The chunks' frames as read, by id, until first needed.
    frames: std::collections::HashMap<i64, Vec<u8>>,
    /// The chunks decompressed so far, shared with the [`RecordedContext`]s read from them.
    chunks: std::collections::HashMap<i64, std::sync::Arc<ChunkText>>,
}

impl ChunkCache {
    /// A cache over the chunks read for a page of decisions (the decisions' own tenant's,
    /// by id).
    pub(crate) fn new(frames: std::collections::HashMap<i64, Vec<u8>>) -> Self {
        ChunkCache {
            frames,
            chunks: std::collections::HashMap::new(),
        }
    }

    /// The context of a decision from its columns: `context`, `context_chunk` and
    /// `context_line`.
    pub(crate) fn context(
        &mut self,
        column: &[u8],
        chunk: Option<i64>,
        line: Option<i64>,
    ) -> Result<Context, StoreError> {
        self.recorded(column, chunk, line)?.parse()
    }

    /// [`ChunkCache::context`] decompressed but not parsed: the chunk's text and the
    /// context's line in it, checked to exist.
    pub(crate) fn recorded(
        &mut self,
        column: &[u8],
        chunk: Option<i64>,
        line: Option<i64>,
    ) -> Result<RecordedContext, StoreError> {
        if column != IN_CHUNK {
            let text = ChunkText::decompress(column)?;
            return match text.lines() {
                1 => Ok(RecordedContext::new(std::sync::Arc::new(text), 0)),
                n => Err(corrupt_context(format!(
                    "{n} contexts where one was expected"
                ))),
            };
        }
        let (Some(chunk), Some(line)) = (chunk, line) else {
            return Err(corrupt_context(
                "in a chunk, but the chunk is not named".into(),
            ));
        };
        let text = match self.chunks.entry(chunk) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => {
                let frame = self
                    .frames
                    .remove(&chunk)
                    .ok_or_else(|| corrupt_context(format!("context chunk {chunk} is missing")))?;
                new.insert(std::sync::Arc::new(ChunkText::decompress(&frame)?))
            }
        };
        let index = usize::try_from(line)
            .ok()
            .filter(|&l| l < text.lines())
            .ok_or_else(|| {
                corrupt_context(format!(
                    "line {line} of context chunk {chunk} of {} contexts",
                    text.lines()
                ))
            })?;
        Ok(RecordedContext::new(std::sync::Arc::clone(text), index))
    }
}

/// Decodes a context written by [`compress_context`], or by the versions before the
/// dictionary (a plain zstd frame).
pub fn decompress_context(bytes: &[u8]) -> Result<Context, StoreError> {
    let chunk = ChunkText::decompress(bytes)?;
    match chunk.lines() {
        1 => chunk.context(0),
        n => Err(corrupt_context(format!(
            "{n} contexts where one was expected"
        ))),
    }
}

fn corrupt_context(detail: String) -> StoreError {
    StoreError::Corrupt {
        what: "decision context",
        detail,
    }
}

/// A chunk of contexts ([`compress_contexts`]) decompressed: JSON text, one context a line.
#[derive(Clone, Debug)]
pub(crate) struct ChunkText {
    json: Vec<u8>,
    /// Each line's bytes in `json`, without its newline.
    spans: Vec<std::ops::Range<usize>>,
}

impl ChunkText {
    /// Decompresses a chunk, or a lone context written before chunks (a plain zstd frame
    /// before the dictionary, a tagged one after).
    pub(crate) fn decompress(bytes: &[u8]) -> Result<ChunkText, StoreError> {
        let corrupt = |e: std::io::Error| corrupt_context(e.to_string());
        let json = match bytes {
            [TAG_DICTIONARY_V1, frame @ ..] => {
                decompress_with_dictionary(frame).map_err(corrupt)?
            }
            [a, b, c, d, ..] if [*a, *b, *c, *d] == ZSTD_MAGIC => {
                zstd::stream::decode_all(bytes).map_err(corrupt)?
            }
            [TAG_IN_CHUNK] => {
                return Err(corrupt_context(
                    "a reference to a chunk where the chunk itself was expected".into(),
                ))
            }
            _ => {
                return Err(corrupt_context(format!(
                    "unknown format (first byte {:#04x})",
                    bytes.first().copied().unwrap_or(0)
                )))
            }
        };
        let mut spans = Vec::new();
        let mut start = 0;
        for line in json.split(|b| *b == b'\n') {
            spans.push(start..start + line.len());
            start += line.len() + 1;
        }
        Ok(ChunkText { json, spans })
    }

    /// How many contexts the chunk holds.
    pub(crate) fn lines(&self) -> usize {
        self.spans.len()
    }

    /// A chunk of one context, from its JSON text.
    pub(crate) fn of_one(json: String) -> ChunkText {
        let json = json.into_bytes();
        let whole = 0..json.len();
        ChunkText {
            spans: std::iter::once(whole).collect(),
            json,
        }
    }

    /// The text of line `line` (from 0), if the chunk has it.
    pub(crate) fn line(&self, line: usize) -> Option<&[u8]> {
        self.spans.get(line).map(|span| &self.json[span.clone()])
    }

    /// The context on line `line` (from 0).
    pub(crate) fn context(&self, line: usize) -> Result<Context, StoreError> {
        let Some(span) = self.spans.get(line) else {
            return Err(corrupt_context(format!(
                "line {line} of a chunk of {} contexts",
                self.lines()
            )));
        };
        let text = std::str::from_utf8(&self.json[span.clone()])
            .map_err(|e| corrupt_context(e.to_string()))?;
        from_json("decision context", text)
    }
}

/// The largest chunk, decompressed, that is decoded into a buffer sized from its frame's
/// header; a frame that names no size, or a larger one, is streamed instead.
const SIZED_CHUNK_BYTES: u64 = 16 << 20;

/// A frame compressed against [`DICTIONARY_V1`], decompressed.
///
/// Each thread keeps one decompressor with the dictionary loaded: setting one up (a
/// decompression context and the dictionary's tables) cost as much as decompressing a chunk
/// of 64 contexts, and a backtest or replay decompresses one chunk per 64 decisions
/// (docs/benchmarks.md#backtest).
fn decompress_with_dictionary(frame: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .filter(|size| *size <= SIZED_CHUNK_BYTES);
    let Some(size) = size else {
        let mut decoder = zstd::stream::read::Decoder::with_dictionary(frame, DICTIONARY_V1)?;
        let mut json = Vec::new();
        std::io::Read::read_to_end(&mut decoder, &mut json)?;
        return Ok(json);
    };
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match &mut *cell {
            Some(d) => d,
            None => cell.insert(zstd::bulk::Decompressor::with_dictionary(DICTIONARY_V1)?),
        };
        // The size is the frame's own claim, bounded above; a frame that decodes to more
        // than it claims is refused by zstd.
        let size = usize::try_from(size)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "frame too large"))?;
        decompressor.decompress(frame, size)
    })
}

/// The current time as it is stored: to the microsecond, which is what PostgreSQL keeps, so
/// that a value read back equals the value written on both backends.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A count (fuel, microseconds) as a stored integer, saturating at `i64::MAX`.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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
    fn a_chunk_holds_its_contexts_one_a_line_and_compresses_them_together() {
        let contexts: Vec<Context> = (0..40)
            .map(|i| {
                let mut ctx = dictionary_contexts().remove(i % 2);
                ctx.invoice.id = format!("inv-{i}\nwith a newline");
                ctx
            })
            .collect();
        let chunk = compress_contexts(&contexts).expect("compresses");
        assert_eq!(chunk[0], TAG_DICTIONARY_V1);
        let text = ChunkText::decompress(&chunk).expect("decodes");
        assert_eq!(text.lines(), contexts.len());
        for (line, ctx) in contexts.iter().enumerate() {
            assert_eq!(&text.context(line).expect("a line"), ctx, "line {line}");
        }
        assert!(matches!(
            text.context(contexts.len()),
            Err(StoreError::Corrupt { .. })
        ));
        let one_by_one: usize = contexts
            .iter()
            .map(|c| compress_context(c).expect("compresses").len())
            .sum();
        assert!(
            chunk.len() * 3 < one_by_one,
            "{} bytes in a chunk, {one_by_one} one by one",
            chunk.len()
        );
        // A lone context is a chunk of one, so decisions written before chunks still read.
        let lone = compress_context(&contexts[3]).expect("compresses");
        assert_eq!(lone, compress_contexts([&contexts[3]]).expect("compresses"));
        assert!(
            decompress_context(&chunk).is_err(),
            "40 contexts are not one"
        );
    }

    #[test]
    fn the_cache_reads_own_frames_chunk_lines_and_refuses_broken_references() {
        let contexts = dictionary_contexts();
        let chunk = compress_contexts(&contexts).expect("compresses");
        let own = compress_context(&contexts[0]).expect("compresses");
        let frames = [(7, chunk.clone()), (9, chunk.clone()), (10, chunk.clone())];
        let mut cache = ChunkCache::new(
            frames
                .into_iter()
                .chain([(11, IN_CHUNK.to_vec())])
                .collect(),
        );
        assert_eq!(cache.context(&own, None, None).unwrap(), contexts[0]);
        assert_eq!(
            cache.context(IN_CHUNK, Some(7), Some(1)).unwrap(),
            contexts[1]
        );
        // Chunk 7 is decompressed once; later rows of it come from the cache.
        assert!(!cache.frames.contains_key(&7));
        assert_eq!(
            cache.context(IN_CHUNK, Some(7), Some(0)).unwrap(),
            contexts[0]
        );
        for (chunk_id, line) in [
            (None, Some(0)),
            (Some(8), Some(0)),
            (Some(9), Some(2)),
            (Some(10), Some(-1)),
            (Some(11), Some(0)),
        ] {
            assert!(
                matches!(
                    cache.context(IN_CHUNK, chunk_id, line),
                    Err(StoreError::Corrupt { .. })
                ),
                "chunk {chunk_id:?} line {line:?}"
            );
        }
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
