//! Webhooks per the Standard Webhooks specification: signing (`sign.rs`), endpoint checks
//! against server-side request forgery (`endpoint.rs`), the HTTP client that enforces them
//! at connect time (`client.rs`), the JSON events (`event.rs`), a tenant's new endpoint as
//! every caller makes one (`register.rs`), and the sender that delivers
//! one event to one endpoint and classifies the answer (`send.rs`).

pub mod client;
pub mod endpoint;
pub mod event;
pub mod register;
pub mod send;
pub mod sign;

pub use client::{client, read_capped, CappedBody, ClientError, PolicyResolver};
pub use endpoint::{
    address_range, check_addr, AddressRange, Endpoint, EndpointError, EndpointPolicy, Refusal,
};
pub use event::{EventData, EventType, UnknownEventType, WebhookEvent};
pub use register::{new_endpoint, RegisterError};
pub use send::{Attempt, WebhookSender};
pub use sign::{
    random_endpoint_id, verify, SignError, SignedHeaders, SigningKeys, VerifyError, WebhookSecret,
};
