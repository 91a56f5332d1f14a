//! Idempotency keys for the API's POSTs: the first response to a key is kept, so that a
//! client retrying after a lost answer gets that answer instead of a second run of the work.
//!
//! A key is the tenant's, per route: [`crate::Db::claim_idempotency_key`] either takes it
//! (the caller does the work, then [`crate::Db::finish_idempotency_key`] keeps the response,
//! or [`crate::Db::release_idempotency_key`] frees the key when the work failed and may be
//! retried) or says what the key holds. Taking a key is one insert that only one of several
//! concurrent requests wins.

use chrono::{DateTime, Duration, Utc};

/// The most bytes of an idempotency key.
pub const MAX_KEY_BYTES: usize = 255;

/// A request under an idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdempotentRequest<'a> {
    /// The route, e.g. `POST /v1/invoices:batch`.
    pub route: &'a str,
    /// The client's key (at most [`MAX_KEY_BYTES`]).
    pub key: &'a str,
    /// Hex sha256 of what the request carries (its body), so that a key reused for another
    /// request is told apart from a repeat.
    pub request_sha256: &'a str,
    /// Now, by the caller's clock.
    pub now: DateTime<Utc>,
    /// How long the key is kept from now.
    pub ttl: Duration,
}

/// What [`crate::Db::claim_idempotency_key`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key was free (or expired) and is now this request's: do the work.
    Claimed,
    /// Another request holds the key and has not finished.
    InProgress {
        /// Whether that request carried the same body.
        same_request: bool,
    },
    /// A request with the key finished: its response.
    Done {
        /// Whether that request carried the same body.
        same_request: bool,
        /// Its HTTP status.
        status: u16,
        /// Its body.
        body: String,
    },
}
