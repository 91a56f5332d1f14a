//! Test support for every crate whose tests run on a real store: the harness that gives each
//! test a fresh database of each backend ([`on_sqlite`], [`on_postgres`], [`conformance!`],
//! [`scalar`]) and builders of the ledger's rows with sensible defaults ([`customer`],
//! [`invoice`]).
//!
//! A feature of the store (`test-support`) rather than a crate of its own: the harness opens
//! databases with the store's own `connect` and sqlx, and the builders fill in the store's row
//! types, so they change together and compile together. Only `[dev-dependencies]` (the
//! store's own tests, the sweep's, the binary's crash tests) and the benches turn it on; the
//! shipped binary never does, so none of this is in it.
//!
//! [`conformance!`]: crate::conformance

mod harness;
mod records;

pub use harness::{on_postgres, on_sqlite, scalar, Fixture, PG_URL_VAR};
pub use records::{customer, date, eur, invoice};
