//! A native test harness for policies (feature `testing`, non-wasm targets only).
//!
//! - [`context`] starts a [`ContextBuilder`] with sensible defaults, so a test states only
//!   what matters to it:
//!
//!   ```
//!   use dunlin_guest_sdk::testing::{context, notified};
//!   let ctx = context()
//!       .as_of("2026-02-10")
//!       .due("2026-01-31")
//!       .amount(12_000, "EUR")
//!       .card()
//!       .soft_decline("insufficient_funds")
//!       .tag("vip")
//!       .history([notified("2026-02-03", 1)])
//!       .param("firm-days", 14)
//!       .build();
//!   assert_eq!(ctx.days_overdue(), 10);
//!   ```
//! - [`context_from_json`], [`context_to_json`], [`decision_from_json`] and
//!   [`decision_to_json`] speak the host's JSON format (the one of `dunlin policy run
//!   --context` and cases files).
//! - [`run_cases`] runs a cases file against a policy natively, with the same semantics as
//!   `dunlin policy test` runs it against the built component.
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! dunlin-guest-sdk = { path = "...", features = ["testing"] }
//! ```

mod builder;
mod cases;
mod contract;
#[cfg(test)]
mod contract_cases;
mod json;

pub use builder::{closed, date, escalated, notified, paused, retried, ContextBuilder, IntoDate};
pub use cases::{check_cases, merge_patch, run_cases, subset_mismatches, CaseFailure, CasesReport};
pub use contract::contract_violation;
pub use json::{
    context_from_json, context_to_json, decision_from_json, decision_to_json, policy_error_to_json,
};

/// Starts a [`ContextBuilder`] with the defaults it documents.
pub fn context() -> ContextBuilder {
    ContextBuilder::default()
}
