//! `dunlin policy new --lang python NAME`: a working Python policy from the SDK's template
//! (`guest-sdk/python/template/`, embedded), with the SDK itself copied into `.dunlin-sdk/`
//! so that its native tests run with plain pytest, before any build.

use std::path::Path;

use anyhow::{bail, Context as _};
use dunlin_runtime::guest_build::python;

/// The template's files: the rules, the component's entry module, a cases file and a test.
const FILES: &[(&str, &str)] = &[
    (
        "app.py",
        include_str!("../../../guest-sdk/python/template/app.py"),
    ),
    (
        "rules.py",
        include_str!("../../../guest-sdk/python/template/rules.py"),
    ),
    (
        "cases.json",
        include_str!("../../../guest-sdk/python/template/cases.json"),
    ),
    (
        "test_rules.py",
        include_str!("../../../guest-sdk/python/template/test_rules.py"),
    ),
    (
        "conftest.py",
        include_str!("../../../guest-sdk/python/template/conftest.py"),
    ),
    (".gitignore", "__pycache__/\n.pytest_cache/\n/target/\n"),
];

/// Writes a new Python policy into `dir`, which must not exist yet (nothing is overwritten).
pub fn create(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        bail!("{} already exists; give a new directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::policy_new_rust::write_files(dir, FILES.iter().copied())?;
    python::write_sdk(&dir.join(".dunlin-sdk"))
        .with_context(|| format!("writing the Python SDK into {}", dir.display()))?;
    outln!("created the Python policy {}", dir.display());
    outln!("  rules:       {}", dir.join("rules.py").display());
    outln!("  test it:     cd {} && python3 -m pytest", dir.display());
    outln!("  build it:    dunlin policy build {}", dir.display());
    outln!(
        "  (building needs {}; see guest-sdk/python/README.md)",
        python::COMPONENTIZE_PY
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_python_policy_has_its_rules_cases_test_and_sdk() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("my-policy");
        create(&dir).unwrap();
        for name in [
            "app.py",
            "rules.py",
            "cases.json",
            "test_rules.py",
            "conftest.py",
        ] {
            assert!(dir.join(name).is_file(), "{name}");
        }
        assert!(python::is_python_policy(&dir));
        assert!(dir.join(".dunlin-sdk/dunlin_policy/__init__.py").is_file());
        let cases = std::fs::read_to_string(dir.join("cases.json")).unwrap();
        let cases = dunlin_core::cases::CasesFile::parse(&cases).unwrap();
        assert!(cases.cases.iter().all(|c| cases.context(c).is_ok()));
        let err = create(&dir).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}
