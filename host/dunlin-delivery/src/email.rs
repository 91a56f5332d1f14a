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

use crate::outcome::chain;
pub use crate::Outcome;
pub use file::FileTransport;
pub use message::{Contact, Email, EmailError, IdempotencyKey};
pub use smtp::{
    Password, Security, SmtpConfig, SmtpConfigError, SmtpTransport, SmtpTransportError,
};

/// Sends emails. Implementations are shared by the outbox's concurrent sends.
pub trait Transport: Send + Sync {
    /// Sends `email` once and says what became of it.
    fn send(&self, email: &Email) -> impl Future<Output = Outcome> + Send;
}

/// The message for `email`, or the permanent outcome of an email that cannot be built.
fn build(email: &Email) -> Result<lettre::Message, Outcome> {
    email.to_message().map_err(|err| Outcome::Permanent {
        reason: chain(&err),
    })
}
