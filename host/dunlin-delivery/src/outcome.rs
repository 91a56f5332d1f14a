//! What became of one attempt to deliver, the same for every transport, so that the outbox
//! decides what comes next (record, retry later, give up) from the class alone.

use std::time::Duration;

/// What became of one attempt to send an email or a webhook, classified for the outbox's
/// retry logic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver took the delivery: an SMTP server, the email folder, or a webhook
    /// receiver that answered 2xx.
    Sent {
        /// The receiver's reply (`250 …`, `HTTP 200: …`), or where the file transport wrote
        /// the message; bounded and escaped where the receiver wrote it.
        reply: String,
        /// From the start of the attempt to the reply.
        latency: Duration,
    },
    /// Worth another attempt later: the receiver was unreachable, timed out, or answered
    /// that it could not take the delivery now (SMTP 4xx; HTTP 408, 429, 5xx).
    Temporary {
        /// What went wrong, for the deliveries table.
        reason: String,
    },
    /// Another attempt would fail the same way: an SMTP 5xx, an HTTP 3xx or other 4xx, an
    /// email that cannot be built, or an endpoint the operator's policy refuses.
    Permanent {
        /// What went wrong, for the deliveries table.
        reason: String,
    },
}

/// An error and its sources as one line, each source once (lettre's and hyper's errors
/// already end with their source's message).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.ends_with(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}
