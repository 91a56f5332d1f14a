//! Turning bytes into raw rows: field name to JSON value, with the line each row starts on.
//!
//! Both formats end up in the same shape, so the schema checks in `schema.rs` are written once.
//! A CSV cell is a JSON string (an empty cell is no value at all); a JSON Lines row keeps its
//! values as they are.

use std::io::{BufRead, BufReader, Read};

use dunlin_core::json_shape::{self, SHOWN_BYTES};
use dunlin_core::text::{is_control, quoted};
use serde_json::{Map, Value};

use crate::schema::Schema;
use crate::{Format, ImportError, Kind, RowError};

/// One row as read, before its fields are checked.
#[derive(Debug)]
pub(crate) struct RawRow {
    pub line: u64,
    pub fields: Map<String, Value>,
}

/// The rows of one input, in order.
pub(crate) enum Rows<R: Read> {
    Csv {
        reader: csv::Reader<R>,
        schema: &'static Schema,
        headers: Vec<String>,
        record: csv::StringRecord,
    },
    JsonLines {
        reader: BufReader<R>,
        schema: &'static Schema,
        line: u64,
        bytes: u64,
        buf: Vec<u8>,
    },
}

impl<R: Read> Rows<R> {
    /// Starts reading; for CSV this reads and checks the header row.
    pub fn new(format: Format, kind: Kind, input: R) -> Result<Self, ImportError> {
        let schema = Schema::of(kind);
        match format {
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .trim(csv::Trim::All)
                    .from_reader(input);
                let headers: Vec<String> = match reader.headers() {
                    Ok(h) => h.iter().map(str::to_owned).collect(),
                    Err(e) => return Err(fatal_csv(e)),
                };
                schema
                    .check_header(&headers)
                    .map_err(|problem| ImportError::Header { problem })?;
                Ok(Rows::Csv {
                    reader,
                    schema,
                    headers,
                    record: csv::StringRecord::new(),
                })
            }
            Format::JsonLines => Ok(Rows::JsonLines {
                reader: BufReader::new(input),
                schema,
                line: 0,
                bytes: 0,
                buf: Vec::new(),
            }),
        }
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        match self {
            Rows::Csv { reader, .. } => reader.position().byte(),
            Rows::JsonLines { bytes, .. } => *bytes,
        }
    }

    /// The next row, a row that cannot even be parsed, or the end of the input.
    pub fn next_row(&mut self) -> Result<Option<Result<RawRow, RowError>>, ImportError> {
        match self {
            Rows::Csv {
                reader,
                schema,
                headers,
                record,
            } => match reader.read_record(record) {
                Ok(false) => Ok(None),
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line());
                    let fields = headers
                        .iter()
                        .zip(record.iter())
                        .filter(|(_, cell)| !cell.is_empty())
                        .map(|(h, cell)| (h.clone(), Value::String(cell.to_owned())))
                        .collect();
                    let row = check_text(schema, line, fields).map_err(|mut e| {
                        e.message.push_str(&runs_on(line, last_line(reader)));
                        e
                    });
                    Ok(Some(row))
                }
                Err(e) => match csv_row_error(&e) {
                    Some(mut row_error) => {
                        row_error
                            .message
                            .push_str(&runs_on(row_error.line, last_line(reader)));
                        Ok(Some(Err(row_error)))
                    }
                    None => Err(fatal_csv(e)),
                },
            },
            Rows::JsonLines {
                reader,
                schema,
                line,
                bytes,
                buf,
            } => loop {
                buf.clear();
                let n = reader.read_until(b'\n', buf).map_err(ImportError::Read)?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                *bytes += n as u64;
                // A byte-order mark is how some tools start a UTF-8 file; it is not JSON.
                let text = match buf.strip_prefix(UTF8_BOM) {
                    Some(rest) if *line == 1 => rest,
                    _ => &buf[..],
                };
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(parse_json_line(schema, *line, text)));
            },
        }
    }
}

fn parse_json_line(schema: &Schema, line: u64, bytes: &[u8]) -> Result<RawRow, RowError> {
    let fail = |message: String| RowError { line, message };
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| fail(format!("malformed JSON: {}", strip_position(&e))))?;
    let Value::Object(fields) = value else {
        return Err(fail(format!(
            "expected a JSON object, found {}",
            json_shape::kind(&value)
        )));
    };
    if let Some(unknown) = fields.keys().find(|k| !schema.accepts(k)) {
        return Err(fail(format!(
            "unknown field {unknown:?}; {} rows have {}",
            schema.kind,
            schema.describe()
        )));
    }
    let fields = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
    check_text(schema, line, fields)
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The row, unless a field name or value holds a control character. NUL, escape and the
/// rest are refused in every field: SQLite would store them (in ids too), PostgreSQL refuses
/// NUL for a whole batch, and terminals act on them. A line break or a tab is text only in the
/// free-text fields ([`Schema::is_free_text`]); anywhere else it is a mistake, often a quote
/// left open that swallowed the lines after it.
fn check_text(schema: &Schema, line: u64, fields: Map<String, Value>) -> Result<RawRow, RowError> {
    let fail = |message: String| RowError { line, message };
    for (key, value) in &fields {
        if let Some(c) = key.chars().find(|&c| is_control(c)) {
            return Err(fail(format!(
                "field name {} holds {}",
                quoted(key, SHOWN_BYTES),
                describe_control(c)
            )));
        }
        let free = schema.is_free_text(key);
        let texts: Vec<&str> = match value {
            Value::String(s) => vec![s],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let allowed = |c: char| free && matches!(c, '\n' | '\r' | '\t');
        for text in texts {
            if let Some(c) = text.chars().find(|&c| is_control(c) && !allowed(c)) {
                return Err(fail(format!("{key} holds {}", describe_control(c))));
            }
        }
    }
    Ok(RawRow { line, fields })
}

fn describe_control(c: char) -> String {
    match c {
        '\n' | '\r' => "a line break".to_owned(),
        '\t' => "a tab".to_owned(),
        c => format!("the control character U+{:04X}", u32::from(c)),
    }
}

/// The last line of the record just read: the reader stands at the start of the next one.
fn last_line<R: Read>(reader: &csv::Reader<R>) -> u64 {
    reader.position().line().saturating_sub(1)
}

/// Said of a CSV row that spans several lines: only a quoted cell can, so a row that should
/// not is a quote left open, and this names the lines it took.
fn runs_on(first: u64, last: u64) -> String {
    if last > first {
        format!(" (the row runs from line {first} to line {last}: is a quote left open?)")
    } else {
        String::new()
    }
}

/// serde_json's message says "at line 1 column 7"; within one line only the column matters.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!("{} (column {})", &text[..at], e.column()),
        None => text,
    }
}

/// A CSV error confined to one record, which reading can step over.
fn csv_row_error(e: &csv::Error) -> Option<RowError> {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => Some(RowError {
            line: pos.as_ref().map_or(0, |p| p.line()),
            message: format!("malformed CSV: {len} fields where the header has {expected_len}"),
        }),
        csv::ErrorKind::Utf8 { pos, err } => Some(RowError {
            line: pos.as_ref().map_or(0, |p| p.line()),
            message: format!("malformed CSV: field {} is not UTF-8", err.field() + 1),
        }),
        _ => None,
    }
}

fn fatal_csv(e: csv::Error) -> ImportError {
    let line = e.position().map(|p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Read(io),
        other => ImportError::Header {
            problem: match line {
                Some(l) if l != 1 => format!("malformed CSV at line {l}: {other:?}"),
                _ => format!("malformed CSV header: {other:?}"),
            },
        },
    }
}
