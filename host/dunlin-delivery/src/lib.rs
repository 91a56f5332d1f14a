//! Delivery of the outbox to people and systems: the only crate that knows the delivery
//! protocols. `webhook`: events signed per the Standard Webhooks specification, and the checks
//! that keep tenants' endpoints outside the operator's network. `template`: tenants' email
//! templates, rendered within limits in the customer's language. `email`: the message built
//! from a rendered template and the transports that send it (SMTP, or `.eml` files).
//! `unsubscribe`: RFC 8058 one-click links, signed and expiring. The outbox worker that drives
//! them is not part of the crate yet.

pub mod email;
pub mod template;
pub mod unsubscribe;
pub mod webhook;
