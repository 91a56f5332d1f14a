//! Delivering one event to one endpoint: signed, posted as JSON through the policy-checked
//! client, and the receiver's answer classified as an [`Outcome`].
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx | sent; the reply is `HTTP 200` and the start of the body, bounded and escaped |
//! | 408, 429, 5xx | temporary (429 and 503 may carry `Retry-After`) |
//! | other 4xx, 3xx | permanent (redirects are not followed: the answer is the 3xx) |
//! | timeout, connection refused or reset | temporary |
//! | an address the operator's policy refuses | permanent, the refusal as the reason |

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use dunlin_core::text::{truncate, Escaped};

use super::client::{client, read_capped, ClientError};
use super::endpoint::{Endpoint, EndpointError, EndpointPolicy};
use super::event::WebhookEvent;
use super::sign::SigningKeys;
use crate::{outcome, Outcome};

/// The most of a receiver's body read and kept in a reply or a reason, in bytes.
pub const EXCERPT_BYTES: usize = 200;
/// The longest `Retry-After` honoured: a receiver may ask for a pause, not hold a delivery
/// for ever.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Delivers webhooks under one endpoint policy; cheap to share between concurrent sends
/// (the HTTP client pools connections).
#[derive(Clone, Debug)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: EndpointPolicy,
    timeout: Duration,
}

/// What became of one delivery: the outcome, and for a temporary one the wait the receiver
/// asked for, if it did (`Retry-After` on 429 or 503, at most [`MAX_RETRY_AFTER`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Sent, worth another attempt, or not.
    pub outcome: Outcome,
    /// The receiver's `Retry-After`, for the retry's timing.
    pub retry_after: Option<Duration>,
}

impl Attempt {
    fn of(outcome: Outcome) -> Attempt {
        Attempt {
            outcome,
            retry_after: None,
        }
    }
}

impl WebhookSender {
    /// A sender whose every request is checked against `policy` and given up after
    /// `timeout` (connecting included).
    pub fn new(policy: EndpointPolicy, timeout: Duration) -> Result<WebhookSender, ClientError> {
        Ok(WebhookSender {
            client: client(policy, timeout)?,
            policy,
            timeout,
        })
    }

    /// Signs `event` with `keys` under the message id `id` (the action's idempotency key, the
    /// same on every attempt), stamped now, and posts it to `endpoint`.
    pub async fn send(
        &self,
        endpoint: &Endpoint,
        keys: &SigningKeys,
        event: &WebhookEvent,
        id: &str,
    ) -> Attempt {
        self.send_at(endpoint, keys, event, id, system_now()).await
    }

    /// [`send`](Self::send), stamped `now`.
    pub async fn send_at(
        &self,
        endpoint: &Endpoint,
        keys: &SigningKeys,
        event: &WebhookEvent,
        id: &str,
        now: DateTime<Utc>,
    ) -> Attempt {
        // The endpoint passed the policy when it was registered; the operator's policy may
        // have changed since, and the client's resolver never sees a literal address.
        let endpoint = match Endpoint::parse(endpoint.url().as_str(), &self.policy) {
            Ok(endpoint) => endpoint,
            Err(refused) => {
                return Attempt::of(Outcome::Permanent {
                    reason: refused.to_string(),
                })
            }
        };
        let body = event.to_body();
        let mut request = self
            .client
            .post(endpoint.url().clone())
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in keys.sign(id, now.timestamp(), &body).pairs() {
            request = request.header(name, value);
        }
        let started = Instant::now();
        match request.body(body).send().await {
            Ok(response) => answer(response, started).await,
            Err(err) => Attempt::of(self.failure(&err)),
        }
    }

    /// The outcome of a request that got no answer.
    fn failure(&self, err: &reqwest::Error) -> Outcome {
        if let Some(refused) = refusal(err) {
            return Outcome::Permanent {
                reason: refused.to_string(),
            };
        }
        let reason = if err.is_timeout() {
            format!("no answer within {} ms", self.timeout.as_millis())
        } else {
            chain(err)
        };
        Outcome::Temporary { reason }
    }
}

/// The system clock (chrono here is built without its own clock).
fn system_now() -> DateTime<Utc> {
    DateTime::from(SystemTime::now())
}

/// Classifies the receiver's answer; see the module's table.
async fn answer(response: reqwest::Response, started: Instant) -> Attempt {
    let status = response.status();
    let retry_after = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            retry_after(response.headers(), system_now())
        }
        _ => None,
    };
    let body = match read_capped(response, EXCERPT_BYTES).await {
        Ok(body) => excerpt(&body.bytes, body.truncated),
        Err(err) => format!("(the body could not be read: {})", chain(&err)),
    };
    let latency = started.elapsed();
    let text = if body.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {body}", status.as_u16())
    };
    let outcome = if status.is_success() {
        Outcome::Sent {
            reply: text,
            latency,
        }
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Outcome::Temporary { reason: text }
    } else {
        Outcome::Permanent { reason: text }
    };
    Attempt {
        outcome,
        retry_after,
    }
}

/// The start of a receiver's body as one inert line: escaped, bounded, marked when cut.
fn excerpt(bytes: &[u8], truncated: bool) -> String {
    // The read's bound may split the last character: its start is dropped, not shown as
    // a replacement character.
    let whole = match std::str::from_utf8(bytes) {
        Err(err) if err.error_len().is_none() => &bytes[..err.valid_up_to()],
        _ => bytes,
    };
    let escaped = Escaped(String::from_utf8_lossy(whole).trim()).to_string();
    // Escaping can make a byte six characters: bound what is shown, not only what is read.
    let shown = truncate(&escaped, 2 * EXCERPT_BYTES);
    let more = truncated && shown.len() == escaped.len();
    format!("{shown}{}", if more { "…" } else { "" })
}

/// `Retry-After` as a wait from `now`: delay-seconds or an HTTP date (RFC 9110), at most
/// [`MAX_RETRY_AFTER`]; `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is an RFC 2822 date.
        let at = DateTime::parse_from_rfc2822(value).ok()?;
        (at.to_utc() - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The endpoint refusal in `err`'s sources: the resolver's, at connect time.
fn refusal(err: &reqwest::Error) -> Option<&EndpointError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<EndpointError>() {
            return Some(refused);
        }
        source = e.source();
    }
    None
}

/// An error and its sources as one line, bounded and escaped (a source may quote what the
/// receiver sent).
fn chain(err: &dyn std::error::Error) -> String {
    Escaped(&truncate(&outcome::chain(err), 2 * EXCERPT_BYTES)).to_string()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(value).expect("a header value"),
        );
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_within_a_bound() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
            .expect("a time")
            .to_utc();
        let cases = [
            ("120", Some(Duration::from_secs(120))),
            (" 0 ", Some(Duration::ZERO)),
            (
                "Mon, 02 Mar 2026 09:05:00 GMT",
                Some(Duration::from_secs(300)),
            ),
            // A date in the past asks for no wait.
            ("Mon, 02 Mar 2026 08:00:00 GMT", Some(Duration::ZERO)),
            ("99999999999999999999999", Some(MAX_RETRY_AFTER)),
            ("Fri, 02 Mar 2046 09:00:00 GMT", Some(MAX_RETRY_AFTER)),
            ("-5", None),
            ("soon", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(retry_after(&headers(value), now), expected, "{value:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn an_excerpt_is_one_bounded_inert_line() {
        assert_eq!(excerpt(b"  {\"ok\":true}\n", false), "{\"ok\":true}");
        let hostile = format!("\x1b[31mred\r\nline{}", "\x1b".repeat(EXCERPT_BYTES));
        let shown = excerpt(&hostile.as_bytes()[..EXCERPT_BYTES], true);
        assert!(shown.starts_with(r"\u{1b}[31mred\r\nline"), "{shown}");
        assert!(!shown.contains('\n') && !shown.contains('\x1b'), "{shown}");
        assert!(shown.len() < 2 * EXCERPT_BYTES + 40, "{}", shown.len());
        assert!(shown.contains("more bytes]"), "{shown}");
        // A read cut inside a character drops its start; a body that was cut says so.
        let euro = "€".as_bytes();
        assert_eq!(excerpt(&[b'a', euro[0], euro[1]], true), "a…");
        assert_eq!(excerpt(&[0xff, b'a'], false), "\u{fffd}a");
    }
}
