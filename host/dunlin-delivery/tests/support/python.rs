//! A Python 3 interpreter that can import a module the tests need (aiosmtpd, the Standard
//! Webhooks reference library): one already on the machine, or else a virtual environment
//! under the build's temporary folder with the pinned version installed from PyPI, made once,
//! so the README's test command needs no other set-up than Python 3 with venv and pip.

use std::path::Path;
use std::process::{Command, Stdio};

/// An interpreter that can `import module`: `DUNLIN_TEST_PYTHON` if set and able to, else the
/// system interpreter (Debian's packages install into its dist-packages, which a python3
/// earlier on PATH, e.g. pyenv's, does not see), else `python3`, else a virtual environment
/// `venv` under `CARGO_TARGET_TMPDIR` with `requirement` (`name==version`) installed. Panics
/// with what is missing when there is no Python 3 with venv and pip: a test that needs the
/// module fails without it, it never passes silently. `hint` says how else to get it.
pub fn python_with(module: &str, requirement: &str, venv: &str, hint: &str) -> String {
    let imports = |python: &str| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let given = std::env::var("DUNLIN_TEST_PYTHON").ok();
    let candidates = given
        .iter()
        .map(String::as_str)
        .chain(["/usr/bin/python3", "python3"]);
    if let Some(found) = candidates.into_iter().find(|p| imports(p)) {
        return found.to_owned();
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(venv);
    let python = venv.join("bin").join("python3");
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(requirement) {
        // A folder left by an interrupted install (or holding another pin) is made again
        // from scratch.
        let _ = std::fs::remove_dir_all(&venv);
        let run = |command: &mut Command, what: &str| {
            let status = command.status().unwrap_or_else(|err| {
                panic!("{what}: {err}; the tests need Python 3 with venv and pip, {hint}")
            });
            assert!(
                status.success(),
                "{what} failed ({status}); the tests need Python 3 with venv and pip, {hint}"
            );
        };
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            &format!("making a virtual environment for {module}"),
        );
        run(
            Command::new(&python).args(["-m", "pip", "install", "--quiet", requirement]),
            &format!("installing {requirement} from PyPI"),
        );
        std::fs::write(&ready, requirement).expect("mark the test environment ready");
    }
    python.to_string_lossy().into_owned()
}
