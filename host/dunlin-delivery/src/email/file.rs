//! Email as `.eml` files in a folder: what a host without a mail server uses, so the
//! rendered letters can be opened in any mail reader.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dunlin_core::text::Escaped;

use super::{Email, Outcome, Transport};

/// Writes each email to `<folder>/<idempotency key>.eml` (the full RFC 5322 bytes), through
/// a temporary file renamed into place: a reader never sees half a message, and a repeat of
/// the same email replaces its file instead of adding one.
#[derive(Clone, Debug)]
pub struct FileTransport {
    folder: PathBuf,
}

impl FileTransport {
    /// A transport writing into `folder`, which must exist.
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        Self {
            folder: folder.into(),
        }
    }

    /// Where `email` is (or will be) written. The key's alphabet (letters, digits, `-`,
    /// `_`, single inner dots) already makes it a safe file name.
    pub fn path_of(&self, email: &Email) -> PathBuf {
        self.folder.join(format!("{}.eml", email.key.as_str()))
    }
}

fn write_atomically(folder: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(".dunlin-")
        .suffix(".tmp")
        .tempfile_in(folder)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

impl Transport for FileTransport {
    async fn send(&self, email: &Email) -> Outcome {
        let message = match super::build(email) {
            Ok(message) => message,
            Err(outcome) => return outcome,
        };
        let start = Instant::now();
        let bytes = message.formatted();
        let folder = self.folder.clone();
        let path = self.path_of(email);
        let written = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || write_atomically(&folder, &path, &bytes)).await
        };
        let shown = path.display().to_string();
        match written {
            Ok(Ok(())) => Outcome::Sent {
                reply: format!("written to {}", Escaped(&shown)),
                latency: start.elapsed(),
            },
            // A full disk or a missing folder may be mended by the operator: retry later.
            Ok(Err(err)) => Outcome::Temporary {
                reason: format!("cannot write {}: {err}", Escaped(&shown)),
            },
            Err(join) => Outcome::Temporary {
                reason: format!("the write of {} did not finish: {join}", Escaped(&shown)),
            },
        }
    }
}
