//! Cross-crate tests: the sandbox against hostile components, determinism across modes and
//! the native harness, the compile cache, and the reference policies' cases in the sandbox.

mod cache;
mod determinism;
mod guest_text;
mod javascript;
mod limits;
mod python;
mod reference;
mod sandbox;

use dunlin_core::Context;

/// A plain overdue card invoice, as JSON in the host's format.
pub fn ctx() -> Context {
    serde_json::from_value(serde_json::json!({
        "as-of": "2026-03-10",
        "invoice": {
            "id": "inv-1", "number": "2026-001",
            "issued-on": "2026-01-31", "due-on": "2026-02-28",
            "amount": {"minor": 12000, "currency": "EUR"},
            "open-balance": {"minor": 12000, "currency": "EUR"},
            "payment-method": "card"
        },
        "customer": {
            "id": "cust-1", "lifetime-value": {"minor": 250000, "currency": "EUR"},
            "customer-since": "2022-05-01", "reachable-on": ["email", "sms"]
        }
    }))
    .expect("the sample context is valid")
}
