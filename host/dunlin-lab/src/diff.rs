//! The offline diff of two components, without a database: the same comparison as a
//! backtest, over contexts from a file (exported decision contexts as JSON Lines, a cases
//! file, or a book played through the old component), both answers guarded alike.

use dunlin_core::cases::CasesFile;
use dunlin_core::simulate::{simulate, Book, BookError};
use dunlin_core::{Context, Decision, Policy, PolicyFailure};
use dunlin_runtime::{LoadedPolicy, Mode};
use serde::Deserialize;

use crate::candidate::{answer, Rules, Workers};
use crate::compare::{Comparison, Report};

/// One context to compare on, with the recorded decision's id when it came from a log.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The recorded decision's id, if any.
    pub decision_id: Option<i64>,
    /// The context.
    pub context: Context,
}

/// Contexts that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A line of a JSON Lines file is neither an exported decision nor a context.
    #[error("line {line}: {source}")]
    Line {
        /// 1-based.
        line: usize,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A case's context cannot be built.
    #[error("case {name:?}: {message}")]
    Case {
        /// The case.
        name: String,
        /// Why.
        message: String,
    },
    /// The book does not hang together.
    #[error(transparent)]
    Book(#[from] BookError),
}

/// An exported decision, as `dunlin decisions --export` writes one per line.
#[derive(Deserialize)]
struct Exported {
    #[serde(default)]
    decision_id: Option<i64>,
    context: Context,
}

/// Reads contexts as JSON Lines: an exported decision
/// (`{"decision_id":…,"invoice_id":…,"as_of":…,"context":{…}}`) or a bare context object per
/// line; blank lines are skipped.
pub fn read_jsonl(text: &str) -> Result<Vec<Item>, DiffError> {
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let failed = |source| DiffError::Line {
            line: n + 1,
            source,
        };
        let value: serde_json::Value = serde_json::from_str(line).map_err(failed)?;
        let item = if value.get("context").is_some_and(|c| c.is_object()) {
            let e: Exported = serde_json::from_value(value).map_err(failed)?;
            Item {
                decision_id: e.decision_id,
                context: e.context,
            }
        } else {
            Item {
                decision_id: None,
                context: serde_json::from_value(value).map_err(failed)?,
            }
        };
        items.push(item);
    }
    Ok(items)
}

/// The context of every case of a cases file (the base with the case's patch).
pub fn from_cases(file: &CasesFile) -> Result<Vec<Item>, DiffError> {
    file.cases
        .iter()
        .map(|case| {
            file.context(case)
                .map(|context| Item {
                    decision_id: None,
                    context,
                })
                .map_err(|message| DiffError::Case {
                    name: case.name.clone(),
                    message,
                })
        })
        .collect()
}

/// The contexts a book produces over `days` when `old` decides (the book's behaviour
/// scripts react to its notices): the ladders as they stand with the old component, on
/// which the new one is then asked too.
pub fn from_book(book: &Book, days: u32, old: &LoadedPolicy) -> Result<Vec<Item>, DiffError> {
    struct Recording {
        policy: dunlin_runtime::WasmPolicy,
        seen: Vec<Item>,
    }
    impl Policy for Recording {
        fn decide(&mut self, ctx: &Context) -> Result<Decision, PolicyFailure> {
            self.seen.push(Item {
                decision_id: None,
                context: ctx.clone(),
            });
            self.policy.decide(ctx)
        }
    }
    let mut recording = Recording {
        policy: old.handle(Mode::Batch),
        seen: Vec::new(),
    };
    simulate(book, &mut recording, days)?;
    Ok(recording.seen)
}

/// Compares `old` (baseline) and `new` (candidate) on `items`, both guarded by `rules`, on
/// `workers` threads. Blocks while the components run: call it off async tasks.
pub fn diff(
    old: &LoadedPolicy,
    new: &LoadedPolicy,
    items: &[Item],
    rules: &Rules,
    workers: usize,
    listed: usize,
) -> Report {
    let both = |workers: &mut Workers| {
        workers.map(items, |policy, item| answer(policy, &item.context, rules))
    };
    let baseline = both(&mut Workers::new(old, workers));
    let candidate = both(&mut Workers::new(new, workers));
    let mut comparison = Comparison::listing(listed);
    for ((item, b), c) in items.iter().zip(&baseline).zip(&candidate) {
        comparison.add(item.decision_id, &item.context, b, c);
    }
    comparison.finish()
}

#[cfg(test)]
mod tests {
    use super::{read_jsonl, DiffError};

    const CONTEXT: &str = r#"{"as-of":"2026-03-01","invoice":{"id":"i1","number":"N","issued-on":"2026-01-01","due-on":"2026-02-01","amount":{"minor":5,"currency":"EUR"},"open-balance":{"minor":5,"currency":"EUR"},"payment-method":"card"},"customer":{"id":"c1","lifetime-value":{"minor":0,"currency":"EUR"},"customer-since":"2025-01-01"}}"#;

    #[test]
    fn json_lines_take_exported_decisions_and_bare_contexts() {
        let text = format!(
            "{{\"decision_id\":7,\"invoice_id\":\"i1\",\"as_of\":\"2026-03-01\",\"context\":{CONTEXT}}}\n\n{CONTEXT}\n"
        );
        let items = read_jsonl(&text).expect("two items");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].decision_id, Some(7));
        assert_eq!(items[1].decision_id, None);
        assert_eq!(items[0].context, items[1].context);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let text = format!("{CONTEXT}\n{{\"as-of\":\"2026-03-01\"}}\n");
        match read_jsonl(&text) {
            Err(DiffError::Line { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }
}
