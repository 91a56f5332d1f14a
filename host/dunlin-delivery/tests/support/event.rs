//! The webhook event the webhook tests and bench send: an SMS notice of invoice `INV-{n}`.

use std::collections::BTreeMap;

use chrono::DateTime;
use dunlin_core::{Action, Channel, Notice, Tone};
use dunlin_delivery::webhook::{EventData, WebhookEvent};

/// The action key, and so the `webhook-id`, of [`sms_notice`]`(n)`.
pub fn action_key(n: u32) -> String {
    format!("act_acme_INV-{n}_2026-03-02_0")
}

/// A second-level SMS notice of invoice `INV-{n}`, with its rendered text.
pub fn sms_notice(n: u32) -> WebhookEvent {
    let created = DateTime::parse_from_rfc3339("2026-03-02T09:00:05Z")
        .expect("a time")
        .to_utc();
    WebhookEvent::new(
        created,
        EventData {
            tenant_id: "acme".into(),
            invoice_id: format!("INV-{n}"),
            customer_id: format!("C-{n}"),
            action_key: action_key(n),
            action: Action::Notify(Notice {
                level: 2,
                channel: Channel::Sms,
                tone: Tone::Firm,
                template: "reminder-2".into(),
                vars: BTreeMap::new(),
            }),
            reason: "second reminder, card customer".into(),
            policy_version: "standard@3".into(),
            text: Some(format!("Lasku INV-{n} on 14 päivää myöhässä: 1 234,56 €.")),
        },
    )
    .expect("an SMS notice is a webhook")
}
