//! Email transports: an [`Email`] (a tenant's rendered letter with its addresses, its
//! idempotency key and its unsubscribe links) becomes RFC 5322 bytes built by lettre and
//! leaves through a [`Transport`]: [`SmtpTransport`] to a relay, or [`FileTransport`] to a
//! folder of `.eml` files for a host without a mail server.
//!
//! A send never returns an error: it returns an [`Outcome`], because what the outbox does
//! next (record, retry later, give up) depends only on its class, and a bad address is as
//! much an outcome of that email as a server's 550.

mod file;
mod message;
mod smtp;

use std::future::Future;
use std::time::Duration;

pub use file::FileTransport;
pub use message::{Contact, Email, EmailError, IdempotencyKey};
pub use smtp::{
    Password, Security, SmtpConfig, SmtpConfigError, SmtpTransport, SmtpTransportError,
};

/// What became of one attempt to send an email, classified for the outbox's retry logic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server (or the folder) took the message.
    Sent {
        /// The server's reply (`250 …`), or where the file transport wrote the message.
        reply: String,
        /// From the start of the attempt to the reply.
        latency: Duration,
    },
    /// Worth another attempt later: the server was unreachable, timed out or answered 4xx.
    Temporary {
        /// What went wrong, for the deliveries table.
        reason: String,
    },
    /// Another attempt would fail the same way: a 5xx reply or an email that cannot be built
    /// (an address that does not parse).
    Permanent {
        /// What went wrong, for the deliveries table.
        reason: String,
    },
}

/// Sends emails. Implementations are shared by the outbox's concurrent sends.
pub trait Transport: Send + Sync {
    /// Sends `email` once and says what became of it.
    fn send(&self, email: &Email) -> impl Future<Output = Outcome> + Send;
}

/// An error and its sources as one line, each source once (lettre's errors already show
/// their source in their own message).
fn chain(err: &dyn std::error::Error) -> String {
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

/// The message for `email`, or the permanent outcome of an email that cannot be built.
fn build(email: &Email) -> Result<lettre::Message, Outcome> {
    email.to_message().map_err(|err| Outcome::Permanent {
        reason: chain(&err),
    })
}
