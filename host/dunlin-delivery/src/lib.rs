//! Delivery of the outbox to people and systems. Today: webhooks signed per the Standard
//! Webhooks specification, the checks that keep tenants' endpoints outside the operator's
//! network, and the events they carry; and tenants' email templates, rendered safely in the
//! customer's language.

pub mod email;
pub mod template;
pub mod unsubscribe;
pub mod webhook;
