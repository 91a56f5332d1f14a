//! Precompiled components on disk, keyed by the component's sha256 and the engine's
//! compatibility hash, so that a restart loads machine code instead of recompiling.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::LoadError;

/// A directory of precompiled artifacts (`<sha256>-<engine>.cwasm`).
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    pub(crate) fn new(engine: &Engine, dir: PathBuf) -> Self {
        // `DefaultHasher::new()` uses fixed keys, so the key is stable across runs of the
        // same build; a different wasmtime or engine configuration gives a different key.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
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
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached artifact");
                None
            }
        }
    }

    /// Writes the artifact atomically (temporary file, then rename).
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
        Ok(())
    }
}
