//! Changing a policy safely: what a policy version would decide over a tenant's recorded
//! contexts, compared with what was decided, before the version goes live.
#![deny(missing_docs)]

pub mod backtest;
pub mod canary;
pub mod candidate;
pub mod compare;
pub mod diff;
pub mod forward;
pub mod replay;
pub mod shadow;

use dunlin_core::Date;

/// Which days a shadow or canary report covers; an open end is unbounded, except that a
/// report's start defaults to the day its trial started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    /// The first as-of day.
    pub from: Option<Date>,
    /// The last as-of day.
    pub to: Option<Date>,
}
