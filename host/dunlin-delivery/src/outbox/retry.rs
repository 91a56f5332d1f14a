//! When a delivery that failed for a temporary reason is tried again.
//!
//! Exponential backoff: after the `n`th attempt the backoff is [`BASE`] × 2^(n−1) (30 s, 1 min,
//! 2 min, …), at most [`CAP`] (6 h). The wait is the backoff with *equal jitter*: half of it
//! fixed, the other half drawn uniformly, so a receiver that came back is not hit by every
//! held delivery at the same instant, and no retry comes sooner than half its backoff (full
//! jitter would let some retry at once, which a receiver that is down does not need). A
//! receiver's `Retry-After` is a floor: the next attempt is never earlier than it asked.
//!
//! An action is dead (it goes to the dead-letter state and is not tried again) once it has had
//! its maximum number of attempts ([`is_dead`]).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, RngExt};

/// The backoff after the first attempt.
pub const BASE: Duration = Duration::from_secs(30);
/// The longest backoff: a receiver down for a day still gets several attempts that day.
pub const CAP: Duration = Duration::from_secs(6 * 60 * 60);

/// The backoff after the `attempt`th attempt (counted from 1; 0 reads as 1), before jitter:
/// `BASE × 2^(attempt−1)`, at most `CAP`.
pub fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1);
    let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
    BASE.saturating_mul(factor).min(CAP)
}

/// When to try again after the `attempt`th attempt failed at `now`: the backoff with equal
/// jitter, and not before `retry_after` from `now` if the receiver sent one.
pub fn next_attempt(
    attempt: u32,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> DateTime<Utc> {
    let backoff = backoff(attempt);
    let half = backoff / 2;
    let jitter_ms = u64::try_from((backoff - half).as_millis()).expect("a backoff is hours");
    let wait = half + Duration::from_millis(rng.random_range(0..=jitter_ms));
    let wait = retry_after.map_or(wait, |floor| wait.max(floor));
    // A floor beyond chrono's range (a receiver's whim) waits as long as chrono can count.
    let wait = TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(wait)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether an action that has had `attempts` attempts has had its last one.
pub fn is_dead(attempts: u32, max_attempts: u32) -> bool {
    attempts >= max_attempts
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("a time")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_six_hours() {
        let expected = [
            (0, 30),
            (1, 30),
            (2, 60),
            (3, 120),
            (4, 240),
            (10, 30 * 512),
            (11, 6 * 3600),
            (12, 6 * 3600),
            (33, 6 * 3600),
            (u32::MAX, 6 * 3600),
        ];
        for (attempt, seconds) in expected {
            assert_eq!(backoff(attempt), secs(seconds), "attempt {attempt}");
        }
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_backoff_and_spreads() {
        let mut rng = SmallRng::seed_from_u64(18);
        for attempt in 1..=14 {
            let full = backoff(attempt);
            let waits: Vec<Duration> = (0..200)
                .map(|_| {
                    (next_attempt(attempt, now(), None, &mut rng) - now())
                        .to_std()
                        .expect("a wait forward")
                })
                .collect();
            for wait in &waits {
                assert!(full / 2 <= *wait && *wait <= full, "{attempt}: {wait:?}");
            }
            // Equal jitter spreads over the upper half: both quarters of it are hit.
            let three_quarters = full / 4 * 3;
            assert!(waits.iter().any(|w| *w < three_quarters), "{attempt}");
            assert!(waits.iter().any(|w| *w > three_quarters), "{attempt}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let schedule = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (1..=8)
                .map(|attempt| next_attempt(attempt, now(), None, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(schedule(7), schedule(7));
        assert_ne!(schedule(7), schedule(8));
    }

    #[test]
    fn retry_after_is_a_floor_never_a_ceiling() {
        let mut rng = SmallRng::seed_from_u64(1);
        // Longer than any jittered backoff of the first attempt: it wins.
        let asked = secs(600);
        assert_eq!(
            next_attempt(1, now(), Some(asked), &mut rng),
            now() + TimeDelta::seconds(600)
        );
        // Shorter than the backoff: the backoff stands.
        for _ in 0..50 {
            let at = next_attempt(5, now(), Some(secs(1)), &mut rng);
            assert!(at >= now() + TimeDelta::seconds(240), "{at}");
        }
        // Beyond what a date can hold: the latest date, no panic.
        assert_eq!(
            next_attempt(1, now(), Some(Duration::MAX), &mut rng),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn an_action_is_dead_after_its_last_attempt() {
        assert!(!is_dead(0, 3));
        assert!(!is_dead(2, 3));
        assert!(is_dead(3, 3));
        assert!(is_dead(4, 3));
        assert!(is_dead(0, 0));
    }
}
