//! Dunlin's domain: what a policy is given ([`Context`]), what it answers ([`Decision`]),
//! how a policy call can fail ([`PolicyFailure`]) and the [`Policy`] trait the rest of the
//! host programs against.
//!
//! This crate does no I/O and never reads the clock: every date arrives as a value.

pub mod cases;
pub mod clock;
pub mod context;
pub mod decision;
pub mod failure;
pub mod guardrails;
pub mod iso_date;
pub mod json_shape;
pub mod money;
pub mod sandbox_limits;
pub mod simulate;
pub mod text;

pub use chrono::NaiveDate as Date;
pub use clock::Clock;
pub use context::{
    ActionKind, ActionOutcome, Channel, CollectionFailure, Context, Customer, DeclineKind, Invoice,
    OtherOverdue, PastAction, PaymentMethod, Tone,
};
pub use decision::{
    Action, Closure, Decision, Escalation, EscalationKind, InvalidDecision, Notice, Pause, Retry,
    MAX_LEVEL,
};
pub use failure::{PolicyFailure, Refusal};
pub use money::{Currency, CurrencyError, Money};

/// Anything that can decide about one invoice: a sandboxed WebAssembly component, or a native
/// function in tests.
pub trait Policy {
    /// Decide what to do about the invoice in `ctx`.
    ///
    /// A returned [`Decision`] has passed [`Decision::validate`]; an explicit refusal by the
    /// policy is [`PolicyFailure::Refused`].
    fn decide(&mut self, ctx: &Context) -> Result<Decision, PolicyFailure>;
}
