//! The [`Clock`] trait: where the host's notion of "now" comes from.
//!
//! Core never calls it — every date in core arrives as a value. The scheduler and the daemon
//! take a `Clock` so that tests and `dunlin sweep --as-of` can play time forward without
//! sleeping; the implementations (`SystemClock`, `FixedClock`, `ManualClock`) live in
//! `dunlin-scheduler`, because reading the real clock is I/O.

use chrono::{DateTime, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
