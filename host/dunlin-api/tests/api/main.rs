//! The API over its router, on SQLite and PostgreSQL (set `DUNLIN_TEST_POSTGRES_URL`): every
//! route with success, bad input, no key, a wrong key and another tenant's key. One module per
//! group of routes; `support.rs` holds the harness.

mod support;

mod admin;
mod backtest;
mod contract;
mod delivery;
mod fuzz;
mod idempotency;
mod ledger;
mod lists;
mod ops;
mod outcomes;
mod policies;
mod reads;
mod replays;
mod replicas;
mod shadow;
mod sweeps;
