//! What a component says about itself, read from its bytes before anything is compiled:
//! the names of its imports and exports (so a component of the wrong world, version or
//! imports is refused in milliseconds, whatever its size) and the size of its functions
//! (compile time and memory grow with a function's size, so one giant function is refused
//! before the compiler sees it).

use wasmparser::{Parser, Payload};

use crate::{Limits, LoadError};

/// The outer component's import and export names.
pub(crate) struct Shape<'a> {
    pub(crate) imports: Vec<&'a str>,
    pub(crate) exports: Vec<&'a str>,
}

/// Reads the shape of `bytes` and checks every function body of every nested core module
/// against [`Limits::function_bytes`].
pub(crate) fn inspect<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Shape<'a>, LoadError> {
    let malformed = |e: wasmparser::BinaryReaderError| LoadError::Malformed(e.to_string());
    let mut shape = Shape {
        imports: Vec::new(),
        exports: Vec::new(),
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
}
