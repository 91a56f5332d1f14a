//! JavaScript policies at the command line: `dunlin policy build` of a package with a
//! `package.json`, and the files `dunlin policy new --lang js NAME` writes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use dunlin_runtime::guest_build::{self, Output};

/// The scaffold's files: a policy with a ladder of two reminders, its cases and a test.
const TEMPLATE: [(&str, &str); 4] = [
    ("policy.js", include_str!("policy_js/policy.js")),
    ("cases.json", include_str!("policy_js/cases.json")),
    (
        "test/policy.test.js",
        include_str!("policy_js/policy.test.js"),
    ),
    (".gitignore", "node_modules/\ndist/\n"),
];

/// Builds the JavaScript policy package at `dir` with the pinned QuickJS toolchain
/// (installed on first use into `$DUNLIN_JS_TOOLCHAIN` or the user's cache directory), into
/// `target_dir` when the package sits in this repository and `dir/dist` otherwise.
pub fn build(dir: &Path, target_dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let Some(toolchain) = guest_build::default_toolchain_dir() else {
        bail!("set DUNLIN_JS_TOOLCHAIN to a directory for the JavaScript toolchain (no HOME)");
    };
    let out = target_dir.unwrap_or_else(|| dir.join("dist"));
    eprintln!(
        "building {} with QuickJS (componentize-qjs 0.4.5; toolchain in {})",
        dir.display(),
        toolchain.display()
    );
    Ok(guest_build::build_js(dir, &toolchain, &out, Output::Show)?)
}

/// Writes a new JavaScript policy package named after `dir`'s last component. `sdk` is
/// what its `@dunlin/policy` dependency points at: this repository's SDK when there is one.
pub fn scaffold(dir: &Path, sdk: Option<&Path>) -> anyhow::Result<()> {
    if dir.exists() {
        bail!("{} already exists; give a new directory", dir.display());
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        })
        .with_context(|| {
            format!(
                "{}: a policy's name uses only a-z, 0-9, '-', '_' and '.'",
                dir.display()
            )
        })?;
    let sdk = match sdk {
        Some(path) => format!("file:{}", path.display()),
        None => "^0.1.0".to_owned(),
    };
    let manifest = serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "private": true,
        "type": "module",
        "main": "policy.js",
        "scripts": { "test": "node --test test/" },
        "dependencies": { "@dunlin/policy": sdk },
    });
    let manifest = serde_json::to_string_pretty(&manifest).context("writing package.json")? + "\n";
    crate::policy_new_rust::write_files(
        dir,
        TEMPLATE
            .iter()
            .copied()
            .chain([("package.json", manifest.as_str())]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffold_writes_a_package_that_names_the_sdk() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("my-ladder");
        scaffold(&dir, Some(Path::new("/opt/dunlin/guest-sdk/js"))).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["name"], "my-ladder");
        assert_eq!(
            manifest["dependencies"]["@dunlin/policy"],
            "file:/opt/dunlin/guest-sdk/js"
        );
        for (file, _) in TEMPLATE {
            assert!(dir.join(file).is_file(), "{file}");
        }
        let again = scaffold(&dir, None).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        let bad = scaffold(&root.path().join("My Ladder"), None).unwrap_err();
        assert!(bad.to_string().contains("a-z, 0-9"), "{bad}");
    }
}
