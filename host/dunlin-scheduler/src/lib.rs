//! When each tenant's sweep runs.
//!
//! [`Schedule`] evaluates a tenant's cron expression in the tenant's own time zone: the next
//! tick, the tick that is due after downtime (once, never once per missed tick), the as-of date
//! a tick stands for, and the earliest next tick across tenants ([`next_wakeup`]). Time comes
//! in as values or through a [`Clock`]: nothing here sleeps, and nothing but [`SystemClock`]
//! reads the real clock.

#![deny(missing_docs)]

pub mod clock;
pub mod schedule;

pub use clock::{FixedClock, ManualClock, SystemClock};
pub use dunlin_core::Clock;
pub use schedule::{next_wakeup, Schedule, ScheduleError};
