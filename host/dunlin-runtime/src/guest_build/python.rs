//! Building a Python policy into a component with componentize-py.
//!
//! A Python policy is a directory with an `app.py` whose `Decider` is the SDK's
//! `export(decide)`. The build writes the Python SDK (`guest-sdk/python/dunlin_policy`) and
//! the contract's WIT, both embedded in this binary, beside the output, so a policy needs no
//! copy of either and always builds against the SDK of the host that builds it.
//!
//! componentize-py is pinned ([`COMPONENTIZE_PY`]): `DUNLIN_COMPONENTIZE_PY` names the
//! program, else a toolchain directory made by [`install_toolchain`] (its `bin/`), else
//! `componentize-py` on `PATH`. Another version is refused rather than trusted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{BuildError, Output};

/// The pinned toolchain, as pip takes it.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The test runner of the SDK's native cases runner, pinned beside the build toolchain.
pub const PYTEST: &str = "pytest==9.2.0";

/// What `componentize-py --version` prints for [`COMPONENTIZE_PY`].
const VERSION_LINE: &str = "componentize-py 0.25.1";

/// The module componentize-py wraps; it must define `Decider`.
pub const APP_MODULE: &str = "app";

/// The world the component targets (a module must not share its name).
const WORLD: &str = "policy";

/// The contract version the embedded SDK and WIT implement.
const WIT_FOLDER: &str = "policy@0.1.0";

const WIT: &str = include_str!("../../../../wit/policy@0.1.0/policy.wit");

/// The SDK's modules, by path inside the package. The component keeps only what `app`
/// imports, so shipping the test helpers costs nothing at run time and lets the policy's
/// own tests import them from the same copy.
const SDK: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/__init__.py"),
    ),
    (
        "_component.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_component.py"),
    ),
    (
        "_context.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_context.py"),
    ),
    (
        "_date.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_date.py"),
    ),
    (
        "_decision.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_decision.py"),
    ),
    (
        "_enums.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_enums.py"),
    ),
    (
        "_error.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_error.py"),
    ),
    (
        "_money.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_money.py"),
    ),
    (
        "_params.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/_params.py"),
    ),
    ("py.typed", ""),
    (
        "testing/__init__.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/testing/__init__.py"),
    ),
    (
        "testing/_builder.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/testing/_builder.py"),
    ),
    (
        "testing/_cases.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/testing/_cases.py"),
    ),
    (
        "testing/_contract.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/testing/_contract.py"),
    ),
    (
        "testing/_json.py",
        include_str!("../../../../guest-sdk/python/dunlin_policy/testing/_json.py"),
    ),
];

/// Whether `dir` holds a Python policy: an `app.py` (the module componentize-py wraps).
pub fn is_python_policy(dir: &Path) -> bool {
    dir.join(format!("{APP_MODULE}.py")).is_file()
}

/// Makes a virtual environment at `dir` with [`COMPONENTIZE_PY`] and [`PYTEST`] installed
/// (once: a finished install leaves a marker naming the pins) and returns its
/// componentize-py. Its `bin/python3` runs a policy's native tests.
pub fn install_toolchain(dir: &Path) -> Result<PathBuf, BuildError> {
    let program = dir.join("bin").join("componentize-py");
    let marker = dir.join(".installed");
    let pins = format!("{COMPONENTIZE_PY} {PYTEST}");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(pins.as_str()) {
        return Ok(program);
    }
    // A folder left by an interrupted install, or holding another pin, is made anew.
    let _ = std::fs::remove_dir_all(dir);
    let python = dir.join("bin").join("python3");
    run_setup(
        Command::new("python3").args(["-m", "venv"]).arg(dir),
        "python3 -m venv (Debian: apt-get install python3-venv)",
    )?;
    run_setup(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", COMPONENTIZE_PY, PYTEST]),
        &format!("pip install {pins}"),
    )?;
    std::fs::write(&marker, &pins).map_err(|source| BuildError::Spawn {
        program: format!("writing {}", marker.display()),
        source,
    })?;
    Ok(program)
}

fn run_setup(command: &mut Command, what: &str) -> Result<(), BuildError> {
    let out = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: what.to_owned(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BuildError::Toolchain(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The componentize-py to run: `DUNLIN_COMPONENTIZE_PY`, else `toolchain`'s, else the one on
/// `PATH`; refused unless it is the pinned version.
fn componentize_py(toolchain: Option<&Path>) -> Result<PathBuf, BuildError> {
    let program = std::env::var_os("DUNLIN_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .or_else(|| toolchain.map(|dir| dir.join("bin").join("componentize-py")))
        .unwrap_or_else(|| PathBuf::from("componentize-py"));
    let missing = || {
        BuildError::Toolchain(format!(
            "{} is not installed (looked for {}); install it with \
             `python3 -m venv ~/.dunlin/python && ~/.dunlin/python/bin/pip install {COMPONENTIZE_PY}` \
             and set DUNLIN_COMPONENTIZE_PY=~/.dunlin/python/bin/componentize-py",
            COMPONENTIZE_PY,
            program.display()
        ))
    };
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|_| missing())?;
    let version = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(missing());
    }
    if version.trim() != VERSION_LINE {
        return Err(BuildError::Toolchain(format!(
            "{} is {}, but Dunlin builds with {COMPONENTIZE_PY}: install that version",
            program.display(),
            version.trim()
        )));
    }
    Ok(program)
}

/// Builds the Python policy at `dir` into `<out_dir>/<name>.wasm` (`name` is the directory's,
/// with `-` as `_`) and returns its path. `toolchain` is a directory made by
/// [`install_toolchain`].
pub fn build(
    dir: &Path,
    out_dir: &Path,
    toolchain: Option<&Path>,
    output: Output,
) -> Result<PathBuf, BuildError> {
    if !is_python_policy(dir) {
        return Err(BuildError::NoManifest(dir.to_owned()));
    }
    let dir = dir
        .canonicalize()
        .map_err(|_| BuildError::NoManifest(dir.to_owned()))?;
    let program = componentize_py(toolchain)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().replace('-', "_"))
        .unwrap_or_else(|| "policy".into());
    let support = out_dir.join(format!("{name}.support"));
    write_support(&support).map_err(|source| BuildError::Spawn {
        program: format!("writing the SDK into {}", support.display()),
        source,
    })?;
    let wasm = out_dir.join(format!("{name}.wasm"));
    let mut cmd = Command::new(&program);
    cmd.current_dir(&dir)
        .arg("-d")
        .arg(support.join("wit"))
        .args(["-w", WORLD, "componentize"])
        // The policy's own modules first, then the SDK.
        .arg("-p")
        .arg(&dir)
        .arg("-p")
        .arg(support.join("sdk"))
        .arg("-o")
        .arg(&wasm)
        .arg(APP_MODULE)
        // Another virtual environment's packages must not leak into the component.
        .env_remove("VIRTUAL_ENV")
        // Bytecode caches would land in the policy's source directory.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if output == Output::Capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let out = cmd.output().map_err(|source| BuildError::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    if !out.status.success() {
        let mut printed = String::from_utf8_lossy(&out.stderr).into_owned();
        printed.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(BuildError::Python {
            dir,
            output: printed,
        });
    }
    if wasm.is_file() {
        Ok(wasm)
    } else {
        Err(BuildError::NoArtifact(dir))
    }
}

/// Writes the embedded Python SDK as the package `dir/dunlin_policy/`, so that `dir` on
/// Python's path makes `import dunlin_policy` work (a new policy's native tests use it).
pub fn write_sdk(dir: &Path) -> std::io::Result<()> {
    let package = dir.join("dunlin_policy");
    for (path, text) in SDK {
        let file = package.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    Ok(())
}

/// Writes the embedded SDK (`sdk/dunlin_policy/`) and WIT (`wit/`) under `root`.
fn write_support(root: &Path) -> std::io::Result<()> {
    write_sdk(&root.join("sdk"))?;
    let wit = root.join("wit");
    std::fs::create_dir_all(&wit)?;
    std::fs::write(wit.join(format!("{WIT_FOLDER}.wit")), WIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_module_is_embedded() {
        let package =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk/python/dunlin_policy");
        let mut on_disk = Vec::new();
        for sub in ["", "testing"] {
            for entry in std::fs::read_dir(package.join(sub)).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if name.ends_with(".py") || name == "py.typed" {
                    on_disk.push(if sub.is_empty() {
                        name
                    } else {
                        format!("{sub}/{name}")
                    });
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = SDK.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn a_directory_without_app_py_is_not_a_python_policy() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_python_policy(dir.path()));
        std::fs::write(dir.path().join("app.py"), "").unwrap();
        assert!(is_python_policy(dir.path()));
        let err = build(Path::new("/nonexistent"), dir.path(), None, Output::Capture).unwrap_err();
        assert!(matches!(err, BuildError::NoManifest(_)), "{err}");
    }
}
