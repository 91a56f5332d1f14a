//! Building a policy crate into a component with the machine's own cargo.
//!
//! Used by `dunlin policy build`, the README's main command, the test harness and the
//! benchmarks, so that policies are always built from source and never committed as
//! binaries.

mod js;
pub mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use js::{build_js, default_toolchain_dir, ensure_toolchain};

/// The target policies are built for; it emits components directly.
pub const TARGET: &str = "wasm32-wasip2";

/// Building a policy crate failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// There is no Cargo.toml where the crate should be.
    #[error("{0} has no Cargo.toml; give the directory of a policy crate")]
    NoManifest(PathBuf),
    /// cargo or rustup could not be run at all.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The wasm32-wasip2 target is missing and could not be installed.
    #[error("the {TARGET} target is not installed and `rustup target add {TARGET}` failed: {0}")]
    Target(String),
    /// cargo reported a build failure.
    #[error("cargo build failed for {crate_dir}:\n{output}")]
    Cargo {
        /// The crate.
        crate_dir: PathBuf,
        /// What cargo printed (when captured).
        output: String,
    },
    /// A language's toolchain is missing, of another version, or could not be installed or
    /// run.
    #[error("{0}")]
    Toolchain(String),
    /// The JavaScript toolchain reported a build failure.
    #[error("the JavaScript build failed for {dir}:\n{output}")]
    Js {
        /// The policy package.
        dir: PathBuf,
        /// What the toolchain printed (when captured).
        output: String,
    },
    /// The build succeeded but produced no `.wasm` file.
    #[error("cargo built {0} but produced no .wasm file; is its crate-type \"cdylib\"?")]
    NoArtifact(PathBuf),
    /// The directory is a policy in no language Dunlin builds.
    #[error(
        "{0} is not a policy directory: a Rust policy has a Cargo.toml, a Python policy an \
         app.py, a JavaScript policy a package.json"
    )]
    UnknownLanguage(PathBuf),
    /// componentize-py reported a build failure.
    #[error("componentize-py failed for {dir}:\n{output}")]
    Python {
        /// The policy directory.
        dir: PathBuf,
        /// What componentize-py printed (when captured).
        output: String,
    },
}

/// The language a policy directory is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// A crate: `Cargo.toml`.
    Rust,
    /// An `app.py` defining `Decider` (see [`python`]).
    Python,
    /// A JavaScript or TypeScript package: `package.json`.
    JavaScript,
}

impl Language {
    /// The language of the policy in `dir`, if it is one Dunlin recognises.
    pub fn detect(dir: &Path) -> Option<Language> {
        if dir.join("Cargo.toml").is_file() {
            Some(Language::Rust)
        } else if python::is_python_policy(dir) {
            Some(Language::Python)
        } else if dir.join("package.json").is_file() {
            Some(Language::JavaScript)
        } else {
            None
        }
    }
}

/// Builds the policy in `dir`, whatever its language, and returns the component's path.
/// `target_dir` holds build outputs (default: cargo's choice for a crate, `dir/target` for
/// the others); `python_toolchain` is a directory made by [`python::install_toolchain`].
pub fn build_policy(
    dir: &Path,
    target_dir: Option<&Path>,
    python_toolchain: Option<&Path>,
    output: Output,
) -> Result<PathBuf, BuildError> {
    match Language::detect(dir) {
        Some(Language::Rust) => build_crate(dir, target_dir, output),
        Some(Language::Python) => {
            let out_dir = target_dir.map_or_else(|| dir.join("target"), Path::to_path_buf);
            python::build(dir, &out_dir, python_toolchain, output)
        }
        Some(Language::JavaScript) => {
            let out_dir = target_dir.map_or_else(|| dir.join("target"), Path::to_path_buf);
            let toolchain = js::default_toolchain_dir().ok_or_else(|| {
                BuildError::Toolchain(
                    "no place for the JavaScript toolchain: set DUNLIN_JS_TOOLCHAIN or HOME".into(),
                )
            })?;
            build_js(dir, &toolchain, &out_dir, output)
        }
        None => Err(BuildError::UnknownLanguage(dir.to_owned())),
    }
}

/// Where cargo's own output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Shown on the terminal as cargo prints it (progress included).
    Show,
    /// Captured, and returned inside the error if the build fails.
    Capture,
}

/// Builds the crate at `crate_dir` in release mode for [`TARGET`] and returns the path of
/// its component. `target_dir` keeps guest builds apart from the host's (default:
/// cargo's own choice for that crate).
pub fn build_crate(
    crate_dir: &Path,
    target_dir: Option<&Path>,
    output: Output,
) -> Result<PathBuf, BuildError> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::NoManifest(crate_dir.to_owned()));
    }
    // cargo runs inside the crate (so its rust-toolchain.toml applies): paths must be
    // absolute.
    let crate_dir = &crate_dir
        .canonicalize()
        .map_err(|_| BuildError::NoManifest(crate_dir.to_owned()))?;
    let manifest = crate_dir.join("Cargo.toml");
    ensure_target(crate_dir)?;
    let mut cmd = Command::new("cargo");
    cmd.current_dir(crate_dir)
        .args(["build", "--release", "--target", TARGET, "--lib"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    if let Some(dir) = target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    if output == Output::Capture {
        cmd.stderr(Stdio::piped());
    }
    let out = cmd.output().map_err(|source| BuildError::Spawn {
        program: "cargo".into(),
        source,
    })?;
    if !out.status.success() {
        return Err(BuildError::Cargo {
            crate_dir: crate_dir.to_owned(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    artifact(&out.stdout, &manifest).ok_or_else(|| BuildError::NoArtifact(crate_dir.to_owned()))
}

/// The `.wasm` file among cargo's JSON messages for the package at `manifest`.
fn artifact(messages: &[u8], manifest: &Path) -> Option<PathBuf> {
    let manifest = manifest.to_string_lossy();
    messages
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["manifest_path"] == *manifest)
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
}

/// Installs the wasm32-wasip2 standard library with rustup if the toolchain in force for
/// `dir` lacks it (rustup installs a `rust-toolchain.toml`'s toolchain, but not the targets
/// of an already installed one).
fn ensure_target(dir: &Path) -> Result<(), BuildError> {
    let libdir = Command::new("rustc")
        .current_dir(dir)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|source| BuildError::Spawn {
            program: "rustc".into(),
            source,
        })?;
    let path = PathBuf::from(String::from_utf8_lossy(&libdir.stdout).trim());
    let installed = libdir.status.success()
        && std::fs::read_dir(&path).is_ok_and(|mut entries| entries.next().is_some());
    if installed {
        return Ok(());
    }
    let add = Command::new("rustup")
        .current_dir(dir)
        .args(["target", "add", TARGET])
        .output()
        .map_err(|e| BuildError::Target(e.to_string()))?;
    if add.status.success() {
        Ok(())
    } else {
        Err(BuildError::Target(
            String::from_utf8_lossy(&add.stderr).trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_is_found_among_cargo_messages() {
        let msgs = br#"{"reason":"compiler-artifact","manifest_path":"/x/dep/Cargo.toml","filenames":["/t/libdep.rlib"]}
{"reason":"compiler-artifact","manifest_path":"/x/p/Cargo.toml","filenames":["/t/p.wasm","/t/libp.rlib"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            artifact(msgs, Path::new("/x/p/Cargo.toml")),
            Some(PathBuf::from("/t/p.wasm"))
        );
        assert_eq!(artifact(msgs, Path::new("/x/q/Cargo.toml")), None);
    }

    #[test]
    fn missing_manifest_is_a_clear_error() {
        let err = build_crate(Path::new("/nonexistent"), None, Output::Capture).unwrap_err();
        assert!(err.to_string().contains("no Cargo.toml"), "{err}");
    }
}
