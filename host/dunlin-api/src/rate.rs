//! Per-key rate limits: a token bucket (GCRA, `governor`) per tenant API key, and one for
//! the operator key. Over the limit a request answers 429 `rate-limited` with `Retry-After`.
//!
//! A bucket is keyed by the sha256 of a key that the store has just vouched for, so an
//! unknown key never takes memory; buckets that have refilled are dropped now and then
//! (`retain_recent`), since a full bucket is the same as none, so keys that come and go
//! leave nothing behind.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, NotUntil, Quota};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{ApiConfig, ApiError};

/// Checks between two sweeps of refilled buckets.
const SWEEP_EVERY: u64 = 1024;

/// A limit: `requests` per `per`, in bursts of up to `requests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RateLimit {
    /// Requests per period, and the largest burst.
    #[schema(value_type = u32)]
    pub requests: NonZeroU32,
    /// The period, over which a drained bucket fills again.
    #[serde(rename = "per-ms", serialize_with = "millis")]
    #[schema(value_type = u64)]
    pub per: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RateLimit {
    /// `requests` per second.
    pub fn per_second(requests: NonZeroU32) -> Self {
        RateLimit {
            requests,
            per: Duration::from_secs(1),
        }
    }

    fn quota(&self) -> Quota {
        // One token back every `per / requests`, never a zero interval.
        let interval = (self.per / self.requests.get()).max(Duration::from_nanos(1));
        Quota::with_period(interval)
            .expect("the interval is not zero")
            .allow_burst(self.requests)
    }
}

/// The buckets of every key, built from [`ApiConfig`]; shared by the handlers through the
/// state, so that every request of a key meets the same bucket.
#[derive(Debug)]
pub struct Limiters {
    keys: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    operator: Option<DefaultDirectRateLimiter>,
    checks: AtomicU64,
}

impl Limiters {
    /// The buckets for `config`'s limits (none where a limit is `None`).
    pub fn new(config: &ApiConfig) -> Self {
        Limiters {
            keys: config
                .key_rate
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
            operator: config
                .operator_rate
                .map(|r| DefaultDirectRateLimiter::direct(r.quota())),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes a token from the bucket of the tenant key `key` (one the store vouched for).
    pub(crate) fn check_key(&self, key: &str) -> Result<(), ApiError> {
        let Some(keys) = &self.keys else {
            return Ok(());
        };
        let id: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let checked = keys.check_key(&id);
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            keys.retain_recent();
            keys.shrink_to_fit();
        }
        checked.map_err(|until| rate_limited(&until, keys.clock().now()))
    }

    /// Takes a token from the operator's bucket.
    pub(crate) fn check_operator(&self) -> Result<(), ApiError> {
        match &self.operator {
            Some(limiter) => limiter
                .check()
                .map_err(|until| rate_limited(&until, limiter.clock().now())),
            None => Ok(()),
        }
    }

    /// How many keys have a bucket now.
    pub fn tracked_keys(&self) -> usize {
        self.keys.as_ref().map_or(0, |k| {
            k.retain_recent();
            k.len()
        })
    }
}

type Instant = <DefaultClock as governor::clock::Clock>::Instant;

/// The refusal, with the wait from `now` (the limiter's clock) in whole seconds, rounded up
/// (at least 1).
fn rate_limited(until: &NotUntil<Instant>, now: Instant) -> ApiError {
    let wait = until.wait_time_from(now);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited {
        retry_after: seconds.max(1),
    }
}
