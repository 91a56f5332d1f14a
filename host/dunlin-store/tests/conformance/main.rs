//! The storage conformance suite: every test runs on SQLite and on PostgreSQL
//! (`cargo test -p dunlin-store --test conformance`; `dunlin_store::testing` says where the
//! PostgreSQL leg finds its server). One file per concern; tests of one backend alone are in
//! `sqlite_only.rs` and `postgres_only.rs`.

mod data;
mod delivery_config;
mod due;
mod idempotency;
mod isolation;
mod ledger;
mod lists;
mod outbox;
mod policy_deletion;
mod postgres_only;
mod recording;
mod replay_reads;
mod replicas;
mod sandbox_limits;
mod sqlite_only;
mod sweep_runs;
mod tenants;
mod trials;
