//! `dunlin policy new --lang rust NAME`: a working policy crate from the SDK's template
//! (`guest-sdk/template/`, embedded): the rules, the cases file every language's template
//! shares, and native tests that run it.

use std::path::Path;

use anyhow::{bail, Context as _};

/// The template's files; `Cargo.toml` is written from `Cargo.toml.in`.
const FILES: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../../guest-sdk/template/src/lib.rs"),
    ),
    // The same ladder in every language, so the same cases.
    (
        "cases.json",
        include_str!("../../../guest-sdk/python/template/cases.json"),
    ),
    (".gitignore", "/target/\nCargo.lock\n"),
];

const MANIFEST: &str = include_str!("../../../guest-sdk/template/Cargo.toml.in");

/// Writes a new policy crate into `dir`, which must not exist yet (nothing is overwritten),
/// depending on the guest SDK at `sdk`.
pub fn create(dir: &Path, sdk: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        bail!("{} already exists; give a new directory", dir.display());
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            n.starts_with(|c: char| c.is_ascii_lowercase())
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b))
        })
        .with_context(|| {
            format!(
                "{}: a crate's name starts with a-z and uses only a-z, 0-9, '-' and '_'",
                dir.display()
            )
        })?;
    // TOML basic strings: a path's backslashes and quotes escaped.
    let sdk = sdk
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let manifest = MANIFEST.replace("{name}", name).replace("{sdk}", &sdk);
    write_files(
        dir,
        FILES
            .iter()
            .copied()
            .chain([("Cargo.toml", manifest.as_str())]),
    )?;
    outln!("created the Rust policy {}", dir.display());
    outln!("  rules:       {}", dir.join("src/lib.rs").display());
    outln!("  test it:     cd {} && cargo test", dir.display());
    outln!("  build it:    dunlin policy build {}", dir.display());
    Ok(())
}

/// Writes each (relative path, text) under `dir`, making the folders on the way: the one way
/// every `policy new` writes its template.
pub fn write_files<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<()> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_rust_policy_is_a_crate_of_its_own_on_the_sdk() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("my-ladder");
        create(&dir, Path::new("/opt/dunlin/guest-sdk")).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains(r#"name = "my-ladder""#), "{manifest}");
        assert!(
            manifest.contains(r#"dunlin-guest-sdk = { path = "/opt/dunlin/guest-sdk" }"#),
            "{manifest}"
        );
        assert!(!manifest.contains('{') || !manifest.contains("{name}"));
        assert!(
            dunlin_runtime::guest_build::Language::detect(&dir)
                == Some(dunlin_runtime::guest_build::Language::Rust)
        );
        let cases = std::fs::read_to_string(dir.join("cases.json")).unwrap();
        let cases = dunlin_core::cases::CasesFile::parse(&cases).unwrap();
        assert!(cases.cases.iter().all(|c| cases.context(c).is_ok()));
        let again = create(&dir, Path::new("/x")).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        let bad = create(&root.path().join("My Ladder"), Path::new("/x")).unwrap_err();
        assert!(bad.to_string().contains("a crate's name"), "{bad}");
    }
}
