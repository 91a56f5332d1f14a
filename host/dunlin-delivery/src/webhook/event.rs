//! The JSON events a webhook carries (`docs/webhooks.md` shows one). Plain fields, so the
//! wire form stays put while the outbox's storage changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use dunlin_core::{Action, Channel, EscalationKind};

/// What happened, as the event's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A notice to send on a channel the tenant's systems handle (SMS, letter, phone, in-app).
    #[serde(rename = "notice.requested")]
    NoticeRequested,
    /// Retry the automatic collection.
    #[serde(rename = "payment.retry_requested")]
    PaymentRetryRequested,
    /// Hand the invoice to an account manager, collections or legal.
    #[serde(rename = "invoice.escalated")]
    InvoiceEscalated,
    /// Suspend the customer's service.
    #[serde(rename = "service.suspend_requested")]
    ServiceSuspendRequested,
    /// Dunning paused until a date.
    #[serde(rename = "invoice.paused")]
    InvoicePaused,
    /// The ladder ended (with or without a write-off).
    #[serde(rename = "invoice.closed")]
    InvoiceClosed,
}

impl EventType {
    /// Every event type, in the order the docs list them.
    pub const ALL: [EventType; 6] = [
        EventType::NoticeRequested,
        EventType::PaymentRetryRequested,
        EventType::InvoiceEscalated,
        EventType::ServiceSuspendRequested,
        EventType::InvoicePaused,
        EventType::InvoiceClosed,
    ];

    /// The event's name, as in `type` and in endpoints' event filters.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::NoticeRequested => "notice.requested",
            EventType::PaymentRetryRequested => "payment.retry_requested",
            EventType::InvoiceEscalated => "invoice.escalated",
            EventType::ServiceSuspendRequested => "service.suspend_requested",
            EventType::InvoicePaused => "invoice.paused",
            EventType::InvoiceClosed => "invoice.closed",
        }
    }

    /// The event announcing `action`, or `None` for an email notice, which goes out by SMTP.
    pub fn for_action(action: &Action) -> Option<EventType> {
        Some(match action {
            Action::Notify(notice) if notice.channel == Channel::Email => return None,
            Action::Notify(_) => EventType::NoticeRequested,
            Action::RetryPayment(_) => EventType::PaymentRetryRequested,
            Action::Escalate(e) if e.kind == EscalationKind::SuspendService => {
                EventType::ServiceSuspendRequested
            }
            Action::Escalate(_) => EventType::InvoiceEscalated,
            Action::Pause(_) => EventType::InvoicePaused,
            Action::Close(_) => EventType::InvoiceClosed,
        })
    }
}

impl std::str::FromStr for EventType {
    type Err = UnknownEventType;

    /// An event type by its name, as endpoints' event filters name them.
    fn from_str(name: &str) -> Result<EventType, UnknownEventType> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| UnknownEventType {
                name: dunlin_core::text::quoted(name, 64),
            })
    }
}

/// A name that is no [`EventType`]'s.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {name}: the event types are {}", EventType::ALL.map(EventType::as_str).join(", "))]
pub struct UnknownEventType {
    /// The name, quoted, bounded and escaped.
    pub name: String,
}

/// One webhook event: the body a delivery signs and sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the event was created (RFC 3339, UTC); the same on every attempt.
    pub timestamp: DateTime<Utc>,
    /// The ids, the action and why.
    pub data: EventData,
}

/// An event's `data`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    /// The tenant's id.
    pub tenant_id: String,
    /// The invoice's id, as the tenant imported it.
    pub invoice_id: String,
    /// The customer's id, as the tenant imported it.
    pub customer_id: String,
    /// The action's idempotency key, also the delivery's `webhook-id`.
    pub action_key: String,
    /// The action as the policy's contract writes it (`kind` and its fields).
    pub action: Action,
    /// The decision's reason, as the decision log has it.
    pub reason: String,
    /// The policy version that decided.
    pub policy_version: String,
    /// A notice's rendered text, for channels the tenant's systems send (SMS, letter, phone
    /// script, in-app); absent for other events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl WebhookEvent {
    /// The event for `data.action`, or `None` for an email notice.
    pub fn new(timestamp: DateTime<Utc>, data: EventData) -> Option<WebhookEvent> {
        let kind = EventType::for_action(&data.action)?;
        Some(WebhookEvent {
            kind,
            timestamp,
            data,
        })
    }

    /// The JSON body, exactly the bytes that are signed and sent.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event has string keys and no non-finite numbers")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use dunlin_core::{Closure, Escalation, Notice, Pause, Retry, Tone};

    use super::*;

    fn data(action: Action) -> EventData {
        EventData {
            tenant_id: "acme".into(),
            invoice_id: "INV-1001".into(),
            customer_id: "C-42".into(),
            action_key: "act_acme_INV-1001_2026-03-02_0".into(),
            action,
            reason: "second reminder, card customer".into(),
            policy_version: "standard@3".into(),
            text: None,
        }
    }

    fn notice(channel: Channel) -> Action {
        Action::Notify(Notice {
            level: 2,
            channel,
            tone: Tone::Firm,
            template: "reminder-2".into(),
            vars: BTreeMap::new(),
        })
    }

    fn escalation(kind: EscalationKind) -> Action {
        Action::Escalate(Escalation {
            kind,
            reason: "90 days".into(),
        })
    }

    #[test]
    fn each_action_maps_to_its_event() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 4, 1).expect("a date");
        let cases = [
            (notice(Channel::Email), None),
            (notice(Channel::Sms), Some("notice.requested")),
            (notice(Channel::Letter), Some("notice.requested")),
            (notice(Channel::Phone), Some("notice.requested")),
            (notice(Channel::InApp), Some("notice.requested")),
            (
                Action::RetryPayment(Retry {
                    reason: "payday".into(),
                }),
                Some("payment.retry_requested"),
            ),
            (
                escalation(EscalationKind::Collections),
                Some("invoice.escalated"),
            ),
            (escalation(EscalationKind::Legal), Some("invoice.escalated")),
            (
                escalation(EscalationKind::AccountManager),
                Some("invoice.escalated"),
            ),
            (
                escalation(EscalationKind::SuspendService),
                Some("service.suspend_requested"),
            ),
            (
                Action::Pause(Pause {
                    until: date,
                    reason: "promise to pay".into(),
                }),
                Some("invoice.paused"),
            ),
            (
                Action::Close(Closure {
                    write_off: true,
                    reason: "uncollectable".into(),
                }),
                Some("invoice.closed"),
            ),
        ];
        for (action, expected) in cases {
            assert_eq!(
                EventType::for_action(&action).map(EventType::as_str),
                expected,
                "{action}"
            );
        }
        for kind in EventType::ALL {
            let json = serde_json::to_value(kind).expect("serialises");
            assert_eq!(json, kind.as_str());
        }
    }

    #[test]
    fn event_json_has_the_documented_shape() {
        let timestamp = Utc
            .with_ymd_and_hms(2026, 3, 2, 9, 0, 5)
            .single()
            .expect("a time");
        let mut fields = data(notice(Channel::Sms));
        fields.text = Some("Invoice INV-1001 is 14 days overdue.".into());
        let event = WebhookEvent::new(timestamp, fields).expect("an SMS notice is a webhook");
        let body = event.to_body();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(
            json,
            serde_json::json!({
                "type": "notice.requested",
                "timestamp": "2026-03-02T09:00:05Z",
                "data": {
                    "tenant_id": "acme",
                    "invoice_id": "INV-1001",
                    "customer_id": "C-42",
                    "action_key": "act_acme_INV-1001_2026-03-02_0",
                    "action": {
                        "kind": "notify",
                        "level": 2,
                        "channel": "sms",
                        "tone": "firm",
                        "template": "reminder-2",
                        "vars": {}
                    },
                    "reason": "second reminder, card customer",
                    "policy_version": "standard@3",
                    "text": "Invoice INV-1001 is 14 days overdue."
                }
            })
        );
        let back: WebhookEvent = serde_json::from_slice(&body).expect("reads back");
        assert_eq!(back, event);

        let closed = WebhookEvent::new(
            timestamp,
            data(Action::Close(Closure {
                write_off: false,
                reason: "paid elsewhere".into(),
            })),
        )
        .expect("a closure is a webhook");
        let json: serde_json::Value =
            serde_json::from_slice(&closed.to_body()).expect("valid JSON");
        assert_eq!(json["type"], "invoice.closed");
        assert!(json["data"].get("text").is_none());
        assert!(WebhookEvent::new(timestamp, data(notice(Channel::Email))).is_none());
    }

    #[test]
    fn event_types_are_read_by_name_and_an_unknown_name_lists_the_known_ones() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        }
        let err = "invoice.paid\u{1b}[2J"
            .parse::<EventType>()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(r#"unknown event type "invoice.paid\u{1b}[2J": the event types are notice.requested, "#),
            "{err}"
        );
        assert!(err.ends_with("invoice.closed"), "{err}");
    }
}
