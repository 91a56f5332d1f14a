//! Building a JavaScript (or TypeScript) policy into a component with QuickJS.
//!
//! The pinned toolchain (`guest-sdk/js/toolchain/`: componentize-qjs 0.4.5 and rolldown, the
//! QuickJS backend of jco 1.35) is installed with `npm ci` into a directory of its own, once;
//! a build bundles the policy's entry module with its imports and embeds it in QuickJS's
//! non-async runtime, which imports only the locked-down WASI the host provides.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::{BuildError, Output};

/// The toolchain's manifest, lock file and build script, as the repository pins them.
const TOOLCHAIN_FILES: [(&str, &str); 3] = [
    (
        "package.json",
        include_str!("../../../../guest-sdk/js/toolchain/package.json"),
    ),
    (
        "package-lock.json",
        include_str!("../../../../guest-sdk/js/toolchain/package-lock.json"),
    ),
    (
        "componentize.mjs",
        include_str!("../../../../guest-sdk/js/toolchain/componentize.mjs"),
    ),
];

/// The contract builds target: the newest version the host supports.
const WIT: (&str, &str) = (
    "policy@0.1.0",
    include_str!("../../../../wit/policy@0.1.0/policy.wit"),
);

/// Marks a complete install with the digest of the files it was installed from.
const STAMP: &str = ".dunlin-toolchain";

/// The entry module when `package.json` names no `main`.
const DEFAULT_ENTRY: &str = "policy.js";

/// Where the toolchain lives unless told otherwise: `$DUNLIN_JS_TOOLCHAIN`, else
/// `$XDG_CACHE_HOME/dunlin/toolchains/js` (`~/.cache/...` without it).
pub fn default_toolchain_dir() -> Option<PathBuf> {
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("DUNLIN_JS_TOOLCHAIN") {
        return Some(dir.into());
    }
    let cache = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(cache.join("dunlin").join("toolchains").join("js"))
}

fn digest() -> String {
    let mut hash = Sha256::new();
    for (name, text) in TOOLCHAIN_FILES.iter().chain([&WIT]) {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
    }
    hex::encode(hash.finalize())
}

fn io(what: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Toolchain(format!("{}: {source}", what.display()))
}

/// Installs the pinned toolchain into `dir` (`npm ci`) unless it is there already, from the
/// same files. The install happens in a sibling directory that is renamed into place, so an
/// interrupted or concurrent install never leaves a half-made toolchain behind.
pub fn ensure_toolchain(dir: &Path, output: Output) -> Result<(), BuildError> {
    let want = digest();
    let installed = |dir: &Path| std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s == want);
    if installed(dir) {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = parent.join(format!(
        ".{}.installing-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("js"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    for (name, text) in TOOLCHAIN_FILES.iter().chain([&WIT]) {
        let path = if *name == WIT.0 {
            staging.join("wit").join(name).join("policy.wit")
        } else {
            staging.join(name)
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    if output == Output::Show {
        eprintln!("installing the JavaScript toolchain into {}", dir.display());
    }
    let installed_ok = npm(&staging, &["ci"], output)?;
    if let Err(printed) = installed_ok {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(BuildError::Toolchain(format!(
            "`npm ci` of the pinned JavaScript toolchain failed:\n{printed}"
        )));
    }
    std::fs::write(staging.join(STAMP), &want).map_err(io(&staging))?;
    let _ = std::fs::remove_dir_all(dir);
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        // Another process installed the same toolchain meanwhile: use theirs.
        Err(_) if installed(dir) => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(source) => Err(io(dir)(source)),
    }
}

fn no_package(dir: &Path) -> BuildError {
    BuildError::Toolchain(format!(
        "{} has no package.json; give the directory of a JavaScript policy package",
        dir.display()
    ))
}

/// The entry module of the policy package at `dir`: its `package.json`'s `main`, else
/// `policy.js`.
fn entry(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = dir.join("package.json");
    let text = std::fs::read_to_string(&manifest).map_err(|_| no_package(dir))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        BuildError::Toolchain(format!("{} is not valid JSON: {e}", manifest.display()))
    })?;
    let main = json["main"].as_str().unwrap_or(DEFAULT_ENTRY);
    let path = dir.join(main);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BuildError::Toolchain(format!(
            "{} names the entry module {main:?}, which does not exist",
            manifest.display()
        )))
    }
}

/// Installs the package's own dependencies (the SDK, for one) when it has some and they are
/// not installed yet, as `npm install` would before any build.
fn install_dependencies(dir: &Path, output: Output) -> Result<(), BuildError> {
    let manifest = std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let wants = manifest
        .as_ref()
        .and_then(|m| m["dependencies"].as_object())
        .is_some_and(|deps| !deps.is_empty());
    if !wants || dir.join("node_modules").is_dir() {
        return Ok(());
    }
    let installed = npm(dir, &["install", "--omit=dev"], output)?;
    installed.map_err(|printed| BuildError::Js {
        dir: dir.to_owned(),
        output: format!("`npm install` of the policy's dependencies failed:\n{printed}"),
    })
}

/// The name the component is written under: the package's name, made a file name.
fn component_name(dir: &Path) -> String {
    let name = std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|j| j["name"].as_str().map(str::to_owned))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "policy".into());
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Builds the JavaScript policy package at `dir` with the toolchain in `toolchain` (installed
/// first if needed) and returns the path of its component, written into `out_dir`.
pub fn build_js(
    dir: &Path,
    toolchain: &Path,
    out_dir: &Path,
    output: Output,
) -> Result<PathBuf, BuildError> {
    let dir = &dir.canonicalize().map_err(|_| no_package(dir))?;
    let entry = entry(dir)?;
    ensure_toolchain(toolchain, output)?;
    install_dependencies(dir, output)?;
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let out = out_dir.join(format!("{}.wasm", component_name(dir)));
    let built = run(
        Command::new("node")
            .current_dir(dir)
            .arg(toolchain.join("componentize.mjs"))
            .arg(&entry)
            .arg(toolchain.join("wit").join(WIT.0))
            .arg("policy")
            .arg(&out),
        "node",
        output,
    )?;
    built.map_err(|printed| BuildError::Js {
        dir: dir.clone(),
        output: printed,
    })?;
    Ok(out)
}

/// Runs npm quietly in `dir` with `args` (see [`run`]).
fn npm(dir: &Path, args: &[&str], output: Output) -> Result<Result<(), String>, BuildError> {
    let quiet = ["--no-audit", "--no-fund", "--loglevel=error"];
    run(
        Command::new("npm").current_dir(dir).args(args).args(quiet),
        "npm",
        output,
    )
}

/// Runs `cmd`, capturing its error output when asked to: `Err` if it could not be run,
/// `Ok(Err(printed))` if it failed.
fn run(cmd: &mut Command, program: &str, output: Output) -> Result<Result<(), String>, BuildError> {
    cmd.stdout(Stdio::null());
    if output == Output::Capture {
        cmd.stderr(Stdio::piped());
    }
    let out = cmd.output().map_err(|source| match source.kind() {
        ErrorKind::NotFound => BuildError::Toolchain(format!(
            "{program} is not installed; JavaScript policies need Node.js 20 or later and npm"
        )),
        _ => BuildError::Spawn {
            program: program.into(),
            source,
        },
    })?;
    Ok(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::super::Language;
    use super::*;

    /// A package directory whose `package.json` is `manifest`.
    fn package(manifest: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), manifest).unwrap();
        dir
    }

    #[test]
    fn the_entry_is_the_manifests_main_or_policy_js() {
        let dir = package(r#"{"name": "ladder"}"#);
        let err = entry(dir.path()).unwrap_err().to_string();
        assert!(err.contains("\"policy.js\", which does not exist"), "{err}");
        std::fs::write(dir.path().join("policy.js"), "").unwrap();
        assert_eq!(entry(dir.path()).unwrap(), dir.path().join("policy.js"));
        let dir = package(r#"{"main": "src/rules.ts"}"#);
        let err = entry(dir.path()).unwrap_err().to_string();
        assert!(err.contains("src/rules.ts"), "{err}");
    }

    #[test]
    fn a_package_without_a_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = entry(dir.path()).unwrap_err().to_string();
        assert!(err.contains("has no package.json"), "{err}");
        assert_eq!(Language::detect(dir.path()), None);
    }

    #[test]
    fn a_package_json_makes_a_javascript_policy_with_a_file_name() {
        let dir = package(r#"{"name": "@acme/ladder"}"#);
        assert_eq!(Language::detect(dir.path()), Some(Language::JavaScript));
        assert_eq!(component_name(dir.path()), "_acme_ladder");
    }
}
