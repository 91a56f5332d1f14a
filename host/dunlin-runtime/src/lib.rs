//! The sandbox that runs tenants' dunning policies: the only crate that names wasmtime types.
//!
//! - [`Runtime`]: one per process. One wasmtime `Engine` with the pooling allocator, fuel and
//!   epoch interruption; a locked-down WASI linker; an on-disk compile cache.
//! - [`Runtime::load`] validates a component (WebAssembly, a component, the policy world,
//!   a supported contract version, only allowed imports, size cap, compiles in time) and
//!   returns a [`LoadedPolicy`].
//! - [`LoadedPolicy::handle`] gives a [`WasmPolicy`] in [`Mode::Strict`] (fresh instance per
//!   decision) or [`Mode::Batch`] (one instance reused, replaced after any failure), which
//!   implements [`dunlin_core::Policy`].
//!
//! Every call runs under [`Limits`]; whatever the guest does, the caller gets a typed
//! [`dunlin_core::PolicyFailure`], never a panic.
#![deny(missing_docs)]

mod cache;
mod compile;
mod engine;
mod error;
mod fit;
pub mod guest_build;
mod inspect;
mod limits;
mod policy;
mod sandbox;
mod wit;

pub use compile::{compile_worker, Compiler};
pub use engine::{ComponentInfo, Runtime, RuntimeConfig};
pub use error::{LoadError, SetupError};
pub use fit::Fit;
pub use limits::{CallLimits, Limits};
pub use policy::{LoadedPolicy, Mode, Report, WasmPolicy};
pub use wit::WitVersion;
