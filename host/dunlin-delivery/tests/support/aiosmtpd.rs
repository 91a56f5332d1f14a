//! A real SMTP server for tests and the bench: aiosmtpd with the handler in
//! `tests/smtp_recorder.py`, on a free loopback port, killed when dropped. aiosmtpd is
//! Debian's python3-aiosmtpd where it is installed (`.ci/run` installs it, pinned); on a
//! machine without it, the harness installs the pinned version from PyPI into a virtual
//! environment under the build's temporary folder, once, so the README's test command needs
//! no other set-up than Python 3. Its includer also includes `support/python.rs` as `python`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::python::python_with;

/// A running aiosmtpd; dropping it kills the process.
pub struct Aiosmtpd {
    child: Child,
    pub port: u16,
    pub folder: Option<PathBuf>,
}

/// The aiosmtpd version installed from PyPI when no interpreter has one: Debian 12's is 1.4.3,
/// which PyPI no longer serves for this Python; 1.4.6 is the same series.
const PYPI_AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// An interpreter that can `import aiosmtpd` (see [`python_with`]).
fn python_with_aiosmtpd() -> String {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            python_with(
                "aiosmtpd",
                PYPI_AIOSMTPD,
                "aiosmtpd-venv",
                "or python3-aiosmtpd (apt-get install python3-aiosmtpd)",
            )
        })
        .clone()
}

/// A loopback port nothing listens on at the moment of the call.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

impl Aiosmtpd {
    /// Starts the server, saving messages into `folder` (or dropping them), and waits until
    /// it accepts connections. Panics with what to install when it cannot start: a test that
    /// needs a real server fails without one, it never passes silently.
    pub fn start(folder: Option<&Path>) -> Self {
        Self::start_on(free_port(), folder)
    }

    /// [`start`](Self::start) on `port`: a test that first let connections to the port be
    /// refused starts the server there later.
    pub fn start_on(port: u16, folder: Option<&Path>) -> Self {
        let python = python_with_aiosmtpd();
        // Through the crate's folder by name, so the binary's crash test (which includes
        // this file from its own crate) finds the handler too.
        let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dunlin-delivery/tests");
        let mut command = Command::new(&python);
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "smtp_recorder.Recorder"])
            .env("PYTHONPATH", &tests)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(folder) = folder {
            command.arg(folder);
        }
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!("cannot run {python} for the SMTP test server ({err}); install python3-aiosmtpd (apt-get install python3-aiosmtpd)")
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().expect("poll aiosmtpd") {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
                }
                panic!(
                    "the SMTP test server exited ({status}); install python3-aiosmtpd \
                     (apt-get install python3-aiosmtpd) or set DUNLIN_TEST_PYTHON to a python3 \
                     that has it:\n{stderr}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP test server did not listen on port {port} within 20 s; is python3-aiosmtpd installed?"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            folder: folder.map(Path::to_path_buf),
        }
    }

    /// The server's process id, for its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The messages received so far, as raw bytes, waiting up to 10 s for `count` of them.
    pub fn received(&self, count: usize) -> Vec<Vec<u8>> {
        let folder = self.folder.as_ref().expect("a recording server");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
                .expect("read the server's folder")
                .map(|e| e.expect("a folder entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect();
            if files.len() >= count || Instant::now() > deadline {
                files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
                return files
                    .iter()
                    .map(|p| std::fs::read(p).expect("read a received message"))
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
