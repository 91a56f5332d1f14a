//! The contract versions this host supports, and how a component's version is read.
//!
//! A component names its contract version in its export (`dunlin:policy/decider@0.1.0`),
//! so no custom section is needed. Each supported version has its own bindings module that
//! converts to and from the core types; once a version has shipped, it stays supported.

pub(crate) mod v0_1;

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::LoadError;

/// The export every policy must have, without its version.
const EXPORT: &str = "dunlin:policy/decider";

/// A contract version this host can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WitVersion {
    /// `dunlin:policy@0.1.0`.
    V0_1_0,
}

impl WitVersion {
    /// Every supported version, oldest first.
    pub const SUPPORTED: &'static [WitVersion] = &[WitVersion::V0_1_0];

    /// The semver text, e.g. `"0.1.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1_0 => "0.1.0",
        }
    }

    fn parse(version: &str) -> Option<WitVersion> {
        WitVersion::SUPPORTED
            .iter()
            .copied()
            .find(|v| v.as_str() == version)
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads the contract version from the component's exports.
pub(crate) fn detect(engine: &Engine, component: &Component) -> Result<WitVersion, LoadError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let Some(found) = exports
        .iter()
        .find_map(|name| name.strip_prefix(EXPORT)?.strip_prefix('@'))
    else {
        return Err(LoadError::WrongWorld {
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    };
    WitVersion::parse(found).ok_or_else(|| LoadError::Incompatible {
        found: found.to_owned(),
        supported: WitVersion::SUPPORTED
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The interfaces a policy may import: the WASI 0.2 interfaces that language toolchains
/// pull in, all of which the sandbox provides locked down.
const ALLOWED_IMPORTS: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// Every import of the component, checked against [`ALLOWED_IMPORTS`].
pub(crate) fn check_imports(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    for (name, _) in component.component_type().imports(engine) {
        let allowed = ALLOWED_IMPORTS
            .iter()
            .any(|prefix| name.starts_with(prefix) && name.contains("@0.2."));
        if !allowed {
            return Err(LoadError::ImportNotAllowed {
                import: name.to_owned(),
                allowed: "WASI 0.2 cli, io, clocks, random, filesystem, sockets (all locked down)"
                    .into(),
            });
        }
    }
    Ok(())
}
