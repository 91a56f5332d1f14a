//! [`Clock`] implementations: the real clock, and two for tests and `--as-of` play-forward.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use dunlin_core::Clock;

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always reads the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock that moves only when told to; shareable across threads.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Sets the clock to `instant` (it may go backwards: tests decide).
    pub fn set(&self, instant: DateTime<Utc>) {
        *self.lock() = instant;
    }

    /// Moves the clock forward by `by` and returns the new reading.
    pub fn advance(&self, by: TimeDelta) -> DateTime<Utc> {
        let mut now = self.lock();
        *now += by;
        *now
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A panic while holding the lock cannot leave a half-written instant behind.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = Arc::new(ManualClock::new(at("2026-03-29T00:00:00Z")));
        let shared: Arc<dyn Clock> = clock.clone();
        assert_eq!(shared.now(), at("2026-03-29T00:00:00Z"));
        assert_eq!(
            clock.advance(TimeDelta::hours(36)),
            at("2026-03-30T12:00:00Z")
        );
        assert_eq!(shared.now(), at("2026-03-30T12:00:00Z"));
        clock.set(at("2026-01-01T00:00:00Z"));
        assert_eq!(shared.now(), at("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn fixed_clock_reads_its_instant_and_system_clock_moves_on() {
        let fixed = FixedClock(at("2026-10-25T01:30:00Z"));
        assert_eq!(fixed.now(), fixed.now());
        assert_eq!(fixed.now(), at("2026-10-25T01:30:00Z"));
        let before = SystemClock.now();
        assert!(SystemClock.now() >= before);
        assert!(before > at("2020-01-01T00:00:00Z"));
    }
}
