//! Precompiled components on disk, keyed by the component's sha256 and the engine's
//! compatibility hash, so that a restart loads machine code instead of recompiling. Only
//! components that passed every check at load are written, and the directory is kept under
//! a size bound: the least recently used artifacts (by modification time, which a load
//! refreshes) are removed to make room.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::LoadError;

/// The file name ending of an artifact.
const EXTENSION: &str = "cwasm";

/// A directory of precompiled artifacts (`<sha256>-<engine>.cwasm`).
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    max_bytes: u64,
}

impl CompileCache {
    pub(crate) fn new(engine: &Engine, dir: PathBuf, max_bytes: u64) -> Self {
        // `DefaultHasher::new()` uses fixed keys, so the key is stable across runs of the
        // same build; a different wasmtime or engine configuration gives a different key.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            max_bytes,
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}-{}.{EXTENSION}", self.engine_key))
    }

    /// The cached component, if there is a usable artifact for these bytes.
    pub(crate) fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the artifact was written by `store` below from a component this engine
        // compiled, into a directory the operator gave to this host alone; its name binds
        // it to the source's sha256 and to this engine's compatibility hash. wasmtime checks
        // the header and refuses artifacts from an incompatible engine.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                // Recently used: the last to go when the cache is over its bound. A cache
                // on a read-only medium still works, only without the order.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                Some(component)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached artifact");
                None
            }
        }
    }

    /// Writes the artifact atomically (temporary file, then rename), then removes the
    /// least recently used artifacts while the directory is over its bound.
    pub(crate) fn store(&self, sha256: &str, component: &Component) -> Result<(), LoadError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| LoadError::Cache { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let bytes = component
            .serialize()
            .map_err(|e| LoadError::Compile(format!("serializing the compiled artifact: {e}")))?;
        let path = self.path(sha256);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        self.trim(&path).map_err(io(&self.dir))
    }

    /// Removes artifacts, oldest first, until the directory holds at most `max_bytes` of
    /// them; `keep` (the one just written) stays whatever its size.
    fn trim(&self, keep: &Path) -> std::io::Result<()> {
        let mut artifacts = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != EXTENSION) {
                continue;
            }
            let meta = entry.metadata()?;
            artifacts.push((meta.modified()?, meta.len(), path));
        }
        let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
        artifacts.sort();
        for (_, len, path) in artifacts {
            if total <= self.max_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => total -= len,
                // Another process removed it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_artifacts_go_first() {
        let engine = Engine::new(&crate::compile::config()).unwrap();
        let component = Component::new(&engine, wat::parse_str("(component)").unwrap()).unwrap();
        let size = component.serialize().unwrap().len() as u64;
        let dir = tempfile::tempdir().unwrap();
        // Room for two artifacts, not three.
        let cache = CompileCache::new(&engine, dir.path().to_owned(), size * 2 + size / 2);
        let at = |secs| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let age = |sha: &str, when| {
            std::fs::File::options()
                .append(true)
                .open(cache.path(sha))
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        cache.store("a", &component).unwrap();
        age("a", at(1_000));
        cache.store("b", &component).unwrap();
        age("b", at(2_000));
        // Loading `a` makes it the most recently used, so `b` goes when `c` comes.
        assert!(cache.load(&engine, "a").is_some());
        cache.store("c", &component).unwrap();
        assert!(cache.path("a").is_file());
        assert!(!cache.path("b").exists());
        assert!(cache.path("c").is_file());
    }
}
