//! Delivery of the outbox to people and systems: the only crate that knows the delivery
//! protocols. `webhook`: events signed per the Standard Webhooks specification, the checks
//! that keep tenants' endpoints outside the operator's network, and the sender that delivers
//! one event. `template`: tenants' email templates, rendered within limits in the customer's
//! language. `email`: the message built from a rendered template and the transports that send
//! it (SMTP, or `.eml` files). `unsubscribe`: RFC 8058 one-click links, signed and expiring.
//! `outbox`: what the outbox worker decides without a database: whether an action may go now
//! (`outbox::checks`) and when a failed one is tried again (`outbox::retry`). Every transport
//! reports an [`Outcome`].

pub mod email;
pub mod outbox;
mod outcome;
pub mod template;
pub mod unsubscribe;
pub mod webhook;

pub use outcome::Outcome;
