//! What a component says about itself, read from its bytes before anything is compiled:
//! the names of its imports and exports (so a component of the wrong world, version or
//! imports is refused in milliseconds, whatever its size) and the size of its functions
//! (compile time and memory grow with a function's size, so one giant function is refused
//! before the compiler sees it), whether it was built for the component model's async ABI
//! (which the sandbox does not run: said plainly instead of a validator's message about a
//! builtin) and how much linear memory it starts with.

use wasmparser::{CanonicalFunction, CanonicalOption, Parser, Payload};

use crate::{Limits, LoadError};

/// The outer component's import and export names.
pub(crate) struct Shape<'a> {
    pub(crate) imports: Vec<&'a str>,
    pub(crate) exports: Vec<&'a str>,
    /// The largest initial size of any linear memory of its core modules, in bytes.
    pub(crate) initial_memory_bytes: u64,
}

/// Reads the shape of `bytes` and checks every function body of every nested core module
/// against [`Limits::function_bytes`].
pub(crate) fn inspect<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Shape<'a>, LoadError> {
    let malformed = |e: wasmparser::BinaryReaderError| LoadError::Malformed(e.to_string());
    let mut shape = Shape {
        imports: Vec::new(),
        exports: Vec::new(),
        initial_memory_bytes: 0,
    };
    // How deep in nested modules and components the parser is; 0 is the outer component.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    shape.imports.push(import.map_err(malformed)?.name.name);
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    shape.exports.push(export.map_err(malformed)?.name.name);
                }
            }
            Payload::ComponentCanonicalSection(reader) => {
                for function in reader {
                    if let Some(builtin) = async_builtin(&function.map_err(malformed)?) {
                        return Err(LoadError::AsyncBuilt {
                            builtin: builtin.to_owned(),
                        });
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(malformed)?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    let bytes = memory.initial.saturating_mul(page);
                    shape.initial_memory_bytes = shape.initial_memory_bytes.max(bytes);
                }
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len();
                if size > limits.function_bytes {
                    return Err(LoadError::FunctionTooLarge {
                        size,
                        limit: limits.function_bytes,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// The name of the async ABI's part that `function` is, if it is one: its builtins, and a
/// lift or lower with the async option or a callback.
fn async_builtin(function: &CanonicalFunction) -> Option<&'static str> {
    use CanonicalFunction as F;
    Some(match function {
        F::Lift { options, .. } | F::Lower { options, .. }
            if options
                .iter()
                .any(|o| matches!(o, CanonicalOption::Async | CanonicalOption::Callback(_))) =>
        {
            "async lift or lower"
        }
        F::BackpressureInc | F::BackpressureDec => "backpressure",
        F::TaskReturn { .. } => "task.return",
        F::TaskCancel => "task.cancel",
        F::ContextGet { .. } | F::ContextSet { .. } => "context",
        F::ThreadYield { .. } => "yield",
        F::SubtaskDrop | F::SubtaskCancel { .. } => "subtask",
        F::StreamNew { .. }
        | F::StreamRead { .. }
        | F::StreamWrite { .. }
        | F::StreamCancelRead { .. }
        | F::StreamCancelWrite { .. }
        | F::StreamDropReadable { .. }
        | F::StreamDropWritable { .. } => "stream",
        F::FutureNew { .. }
        | F::FutureRead { .. }
        | F::FutureWrite { .. }
        | F::FutureCancelRead { .. }
        | F::FutureCancelWrite { .. }
        | F::FutureDropReadable { .. }
        | F::FutureDropWritable { .. } => "future",
        F::ErrorContextNew { .. } | F::ErrorContextDebugMessage { .. } | F::ErrorContextDrop => {
            "error-context"
        }
        F::WaitableSetNew
        | F::WaitableSetWait { .. }
        | F::WaitableSetPoll { .. }
        | F::WaitableSetDrop
        | F::WaitableJoin => "waitable-set",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_outer_component_only() {
        let bytes = wat::parse_str(
            r#"(component
                (import "wasi:cli/stdout@0.2.6" (instance))
                (component $inner
                    (import "inner:only/thing" (instance))
                    (export "inner:only/out" (instance 0)))
                (instance $i (instantiate $inner (with "inner:only/thing" (instance 0))))
                (export "dunlin:policy/decider@0.1.0" (instance $i "inner:only/out")))"#,
        )
        .unwrap();
        let shape = inspect(&bytes, &Limits::default()).unwrap();
        assert_eq!(shape.imports, ["wasi:cli/stdout@0.2.6"]);
        assert_eq!(shape.exports, ["dunlin:policy/decider@0.1.0"]);
    }

    #[test]
    fn a_function_over_the_limit_is_refused_before_compiling() {
        let body = "(drop (i32.const 1))".repeat(1000);
        let bytes = wat::parse_str(format!(
            "(component (core module (func {body})) (core module (func nop)))"
        ))
        .unwrap();
        let limits = Limits {
            function_bytes: 1000,
            ..Limits::default()
        };
        match inspect(&bytes, &limits) {
            Err(LoadError::FunctionTooLarge { size, limit: 1000 }) => assert!(size > 3000),
            other => panic!("expected function-too-large, got {:?}", other.err()),
        }
        assert!(inspect(&bytes, &Limits::default()).is_ok());
    }

    #[test]
    fn truncated_bytes_are_malformed() {
        let bytes = wat::parse_str("(component (core module (func nop)))").unwrap();
        let cut = &bytes[..bytes.len() - 3];
        assert!(matches!(
            inspect(cut, &Limits::default()),
            Err(LoadError::Malformed(_))
        ));
    }

    #[test]
    fn an_async_build_is_named_before_anything_else_is_read() {
        for (builtin, wat) in [
            ("task.cancel", "(core func (canon task.cancel))"),
            ("backpressure", "(core func (canon backpressure.inc))"),
            ("waitable-set", "(core func (canon waitable-set.new))"),
        ] {
            let bytes = wat::parse_str(format!("(component {wat})")).unwrap();
            match inspect(&bytes, &Limits::default()) {
                Err(e @ LoadError::AsyncBuilt { .. }) => {
                    let message = e.to_string();
                    assert!(message.contains(builtin), "{message}");
                    assert!(
                        message.contains("built with async support; rebuild it without"),
                        "{message}"
                    );
                }
                other => panic!("{builtin}: expected async-built, got {:?}", other.err()),
            }
        }
    }

    #[test]
    fn the_largest_initial_memory_is_read_from_the_bytes() {
        let bytes = wat::parse_str(
            "(component (core module (memory 3)) (component (core module (memory 160))))",
        )
        .unwrap();
        let shape = inspect(&bytes, &Limits::default()).unwrap();
        assert_eq!(shape.initial_memory_bytes, 160 << 16);
    }
}
