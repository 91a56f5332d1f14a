//! Write Dunlin dunning policies in Rust.
//!
//! A policy is a pure function from a [`Context`] (one invoice, its customer, its dunning
//! history and the tenant's parameters) to a [`Decision`] (what to do now and when to look
//! again). Implement [`Policy`] for a type, hand it to [`export_policy!`] and build the crate
//! for `wasm32-wasip2`:
//!
//! ```
//! use dunlin_guest_sdk::{decision, notice, Context, Decision, Policy, PolicyError};
//!
//! pub struct Gentle;
//!
//! impl Policy for Gentle {
//!     fn decide(ctx: &Context) -> Result<Decision, PolicyError> {
//!         if let Some(why) = ctx.on_hold() {
//!             return Ok(Decision::wait(ctx.as_of.add_days(7), why).in_segment("gentle"));
//!         }
//!         let after: i64 = ctx.param_or("reminder-days", 5)?;
//!         let first_day = ctx.invoice.due_on.add_days(after);
//!         if ctx.as_of < first_day || ctx.notices_sent() > 0 {
//!             return Ok(decision("gentle")
//!                 .review_on(first_day.max(ctx.as_of.add_days(1)))
//!                 .because("nothing to do yet"));
//!         }
//!         Ok(decision("gentle")
//!             .act(notice(1).email().friendly().template("reminder-friendly"))
//!             .because("the invoice is overdue; one friendly reminder is all this policy sends"))
//!     }
//! }
//!
//! dunlin_guest_sdk::export_policy!(Gentle);
//! ```
//!
//! The types are the ones the `dunlin:policy@0.1.0` contract defines (see [`bindings`]),
//! with helpers added: dates ([`Date`]), money ([`Money`]), questions about the context
//! ([`Context::days_overdue`], [`Context::param_or`], [`Context::can_reach`], …) and builders
//! for the answer ([`decision`], [`notice`], [`Action::retry`], …).
//!
//! With the `testing` feature (native targets only), `testing` offers a context builder, the
//! host's JSON format and a runner for cases files, so policies are unit-tested with plain
//! `cargo test`.

#![deny(missing_docs)]

// The generated glue between the component ABI and Rust needs `unsafe`; nothing else does.
#[allow(unsafe_code)]
pub mod bindings;

mod context;
mod date;
mod decision;
mod enums;
mod error;
mod money;
mod policy;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

pub use bindings::exports::dunlin::policy::decider::{
    Action, ActionKind, ActionOutcome, Channel, Closure, CollectionFailure, Context, Customer,
    Date, Decision, DeclineKind, Escalation, EscalationKind, Invoice, Money, Notice, OtherOverdue,
    PastAction, Pause, PaymentMethod, PolicyError, Retry, Tone,
};
pub use date::DateError;
pub use decision::{decision, notice};
pub use enums::UnknownName;
pub use policy::Policy;

/// The version of the `dunlin:policy` contract these bindings implement.
pub const CONTRACT_VERSION: &str = "0.1.0";
