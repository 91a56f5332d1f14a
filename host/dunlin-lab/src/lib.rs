//! Changing a policy safely: what a policy version would decide over a tenant's recorded
//! contexts, compared with what was decided, before the version goes live.
#![deny(missing_docs)]

pub mod backtest;
pub mod candidate;
pub mod compare;
pub mod diff;
pub mod forward;
pub mod replay;
pub mod shadow;
