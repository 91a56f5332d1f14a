//! What a tenant configures for delivery: its [`DeliverySettings`] (a field of
//! [`TenantSettings`](crate::TenantSettings), stored as JSON in `tenants.delivery`), its email
//! templates ([`TemplateRow`]) and its webhook endpoints ([`NewEndpoint`], [`EndpointRow`]).
//!
//! The store checks what it can without the delivery protocols: bounded text, no control
//! characters, handles for ids. Whether a template renders, an endpoint URL is allowed and
//! an event name exists is `dunlin-delivery`'s to say, before anything reaches the store.

use std::fmt;

use chrono::{DateTime, Utc};
use dunlin_core::json_shape;
use dunlin_core::text::{quoted, Escaped};
use icu_locale_core::Locale;
use serde::{Deserialize, Serialize};

use crate::tenant::{invalid, is_handle, text_setting, SettingsError, MAX_NAME_LEN};
use crate::StoreError;

/// The longest email address accepted (RFC 5321's path limit), in bytes.
pub const MAX_ADDRESS_LEN: usize = 254;
/// The longest payment link template accepted, in bytes.
pub const MAX_LINK_LEN: usize = 2048;
/// The most attempts a tenant may allow before an action is `dead`.
pub const MAX_ATTEMPTS: u32 = 50;

/// How a tenant's notices go out. Every key is optional in JSON; a missing one takes its
/// default, so settings stored before delivery existed still read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// The name emails come from; empty: the tenant's name.
    pub sender_name: String,
    /// The address emails come from; empty: the operator's default sender.
    pub sender_address: String,
    /// Where replies go, if not to the sender.
    pub reply_to: Option<String>,
    /// The locale a notice falls back to when no template is in the customer's language
    /// (a BCP 47 tag).
    pub default_locale: String,
    /// The customer's payment page, with `{invoice}` and `{customer}` replaced by their ids;
    /// empty: no link.
    pub payment_link: String,
    /// Whether email notices for one customer on one day go out as one message.
    pub consolidate: bool,
    /// Attempts at an action before it is `dead`.
    pub max_attempts: u32,
    /// Weekdays on which no notice goes out, in the customer's time zone.
    pub quiet_days: Vec<Weekday>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            sender_name: String::new(),
            sender_address: String::new(),
            reply_to: None,
            default_locale: "en".to_owned(),
            payment_link: String::new(),
            consolidate: true,
            max_attempts: 8,
            quiet_days: Vec::new(),
        }
    }
}

/// A day of the week, as `quiet-days` names it (`mon` … `sun`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl From<Weekday> for chrono::Weekday {
    fn from(day: Weekday) -> chrono::Weekday {
        match day {
            Weekday::Mon => chrono::Weekday::Mon,
            Weekday::Tue => chrono::Weekday::Tue,
            Weekday::Wed => chrono::Weekday::Wed,
            Weekday::Thu => chrono::Weekday::Thu,
            Weekday::Fri => chrono::Weekday::Fri,
            Weekday::Sat => chrono::Weekday::Sat,
            Weekday::Sun => chrono::Weekday::Sun,
        }
    }
}

impl DeliverySettings {
    /// Checks every key; an error names it as `delivery.<key>` and quotes the value.
    pub fn validate(&self) -> Result<(), SettingsError> {
        text_setting("delivery.sender-name", &self.sender_name, MAX_NAME_LEN)?;
        if !self.sender_address.is_empty() {
            address("delivery.sender-address", &self.sender_address)?;
        }
        if let Some(reply_to) = &self.reply_to {
            address("delivery.reply-to", reply_to)?;
        }
        text_setting("delivery.default-locale", &self.default_locale, 64)?;
        if Locale::try_from_str(&self.default_locale).is_err() {
            return Err(invalid(
                "delivery.default-locale",
                quoted(&self.default_locale, json_shape::SHOWN_BYTES),
                "is not a BCP 47 language tag, e.g. \"en\" or \"fi-FI\"".into(),
            ));
        }
        if !self.payment_link.is_empty() {
            payment_link(&self.payment_link)?;
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(invalid(
                "delivery.max-attempts",
                self.max_attempts.to_string(),
                format!("is out of range: 1 to {MAX_ATTEMPTS}"),
            ));
        }
        let mut days = self.quiet_days.clone();
        days.sort();
        days.dedup();
        let problem = if days.len() < self.quiet_days.len() {
            Some("names a day twice")
        } else if days.len() == 7 {
            Some("leaves no day for a notice to go out")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(invalid(
                "delivery.quiet-days",
                serde_json::to_string(&self.quiet_days).expect("weekday names serialise"),
                problem.into(),
            ));
        }
        Ok(())
    }
}

/// An email address as a tenant sets one: bounded, one `@` with text on each side, no
/// spaces or angle brackets (the display name is `sender-name`). The full syntax is
/// checked when a message is built.
fn address(key: &str, value: &str) -> Result<(), SettingsError> {
    text_setting(key, value, MAX_ADDRESS_LEN)?;
    let well_formed = value
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !value
            .chars()
            .any(|c| c.is_whitespace() || "<>,;\"".contains(c));
    if well_formed {
        Ok(())
    } else {
        Err(invalid(
            key,
            quoted(value, json_shape::SHOWN_BYTES),
            "is not an email address like billing@example.com".into(),
        ))
    }
}

/// A payment link: `{invoice}` and `{customer}` its only placeholders, an absolute https
/// URL once they are filled in (http only for localhost, for trying it out).
fn payment_link(link: &str) -> Result<(), SettingsError> {
    const KEY: &str = "delivery.payment-link";
    text_setting(KEY, link, MAX_LINK_LEN)?;
    let refuse = |problem: &str| {
        invalid(
            KEY,
            quoted(link, json_shape::SHOWN_BYTES),
            problem.to_owned(),
        )
    };
    let filled = link.replace("{invoice}", "i").replace("{customer}", "c");
    if filled.contains(['{', '}']) {
        return Err(refuse(
            "has a placeholder other than {invoice} and {customer}",
        ));
    }
    let url = url::Url::parse(&filled).map_err(|_| refuse("is not an absolute URL"))?;
    let local = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || url.host().is_some_and(|h| match h {
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
            url::Host::Domain(_) => false,
        });
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if local => Ok(()),
        _ => Err(refuse("must be an https URL (http only for localhost)")),
    }
}

/// The longest template id or locale the store accepts, in bytes.
pub const MAX_TEMPLATE_KEY_LEN: usize = 64;
/// The longest part of a template the store accepts, in bytes; the renderer's own limit is
/// lower and is checked before a template is stored.
pub const MAX_TEMPLATE_PART_LEN: usize = 1024 * 1024;

/// One email template of a tenant: three parts for one id and locale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TemplateRow {
    /// The template id a notice names.
    pub id: String,
    /// The BCP 47 locale, in canonical form.
    pub locale: String,
    /// The subject line's source.
    pub subject: String,
    /// The plain-text body's source.
    pub text: String,
    /// The HTML body's source.
    pub html: String,
    /// When it was stored: set by the store on every row it reads; a row given to
    /// `put_template` may leave it `None`, the store stamps the time.
    pub updated_at: Option<DateTime<Utc>>,
}

impl TemplateRow {
    /// The store's own bounds: non-empty bounded keys, bounded parts.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let refuse = |problem: String| StoreError::Invalid {
            what: "template",
            id: format!("{} ({})", Escaped(&self.id), Escaped(&self.locale)),
            problem,
        };
        for (name, key) in [("id", &self.id), ("locale", &self.locale)] {
            if key.is_empty() || key.len() > MAX_TEMPLATE_KEY_LEN {
                return Err(refuse(format!(
                    "the {name} must be 1 to {MAX_TEMPLATE_KEY_LEN} bytes"
                )));
            }
            if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(refuse(format!(
                    "the {name} holds a space or control character"
                )));
            }
        }
        for (name, part) in [
            ("subject", &self.subject),
            ("text", &self.text),
            ("html", &self.html),
        ] {
            if part.len() > MAX_TEMPLATE_PART_LEN {
                return Err(refuse(format!(
                    "the {name} is {} bytes: at most {MAX_TEMPLATE_PART_LEN}",
                    part.len()
                )));
            }
        }
        Ok(())
    }
}

/// The longest endpoint URL the store accepts, in bytes.
pub const MAX_ENDPOINT_URL_LEN: usize = 2048;
/// The most event names one endpoint may filter on.
pub const MAX_ENDPOINT_EVENTS: usize = 32;
/// The longest stored secret, in bytes (`whsec_` and the base64 of a 64-byte key).
pub const MAX_SECRET_LEN: usize = 128;

/// A webhook endpoint to add to a tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    /// The tenant's handle for it (the alphabet of a tenant id).
    pub id: String,
    /// Where events are posted, checked by the delivery crate's `Endpoint::parse`.
    pub url: String,
    /// The event types it receives (their names, e.g. `invoice.escalated`); empty: every
    /// event.
    pub events: Vec<String>,
    /// Its signing secret, `whsec_…`.
    pub secret: String,
}

/// A stored webhook endpoint. Its `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointRow {
    /// The tenant's handle for it.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives; empty: every event.
    pub events: Vec<String>,
    /// The current signing secret, `whsec_…`.
    pub secret: String,
    /// The secret before the last rotation, which also signs until `previous_until`.
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing.
    pub previous_until: Option<DateTime<Utc>>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

const REDACTED: &str = "whsec_[redacted]";

impl fmt::Debug for NewEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEndpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for EndpointRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointRow")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &REDACTED)
            .field(
                "previous_secret",
                &self.previous_secret.as_ref().map(|_| REDACTED),
            )
            .field("previous_until", &self.previous_until)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// The store's checks of an endpoint's id, URL, event names and secret.
pub(crate) fn check_endpoint(endpoint: &NewEndpoint) -> Result<(), StoreError> {
    check_endpoint_id(&endpoint.id)?;
    let refuse = |problem: String| StoreError::Invalid {
        what: "webhook endpoint",
        id: endpoint.id.clone(),
        problem,
    };
    if endpoint.url.len() > MAX_ENDPOINT_URL_LEN
        || endpoint
            .url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(refuse(format!(
            "the URL must be one word of at most {MAX_ENDPOINT_URL_LEN} bytes"
        )));
    }
    if endpoint.events.len() > MAX_ENDPOINT_EVENTS {
        return Err(refuse(format!(
            "it names {} events: at most {MAX_ENDPOINT_EVENTS}",
            endpoint.events.len()
        )));
    }
    if let Some(bad) = endpoint.events.iter().find(|e| {
        e.is_empty()
            || e.len() > 64
            || !e
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
    }) {
        return Err(refuse(format!(
            "event {} is not an event name",
            quoted(bad, 64)
        )));
    }
    check_secret(&endpoint.id, &endpoint.secret)
}

/// An endpoint id: a handle, like a tenant id.
pub(crate) fn check_endpoint_id(id: &str) -> Result<(), StoreError> {
    if is_handle(id) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "webhook endpoint",
            id: Escaped(&dunlin_core::text::truncate(id, 80)).to_string(),
            problem: "the id must be 1 to 64 characters of a-z, 0-9, '-' and '_', starting \
                      with a letter or digit"
                .into(),
        })
    }
}

/// A secret in its written form; never quoted in the error.
pub(crate) fn check_secret(id: &str, secret: &str) -> Result<(), StoreError> {
    if secret.starts_with("whsec_")
        && secret.len() <= MAX_SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "webhook endpoint",
            id: id.to_owned(),
            problem: "the secret must be whsec_ and base64".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(edit: impl Fn(&mut DeliverySettings)) -> String {
        let mut s = DeliverySettings::default();
        edit(&mut s);
        s.validate().expect_err("refused").to_string()
    }

    #[test]
    fn the_defaults_are_valid_and_an_empty_object_reads_as_them() {
        assert!(DeliverySettings::default().validate().is_ok());
        let read: DeliverySettings = serde_json::from_str("{}").unwrap();
        assert_eq!(read, DeliverySettings::default());
        let set: DeliverySettings = serde_json::from_value(serde_json::json!({
            "sender-name": "Acme Oy",
            "sender-address": "billing@acme.example",
            "reply-to": "ar@acme.example",
            "default-locale": "fi-FI",
            "payment-link": "https://pay.acme.example/{customer}/{invoice}",
            "consolidate": false,
            "max-attempts": 50,
            "quiet-days": ["sat", "sun"],
        }))
        .unwrap();
        assert!(set.validate().is_ok(), "{:?}", set.validate());
        assert_eq!(set.quiet_days, [Weekday::Sat, Weekday::Sun]);
        assert_eq!(chrono::Weekday::from(Weekday::Sun), chrono::Weekday::Sun);
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_key() {
        let cases: Vec<(&str, String)> = vec![
            (
                r#"delivery.sender-name "Acme\u{1b}[2J" holds a control character"#,
                refusal(|s| s.sender_name = "Acme\u{1b}[2J".into()),
            ),
            (
                r#"delivery.sender-address "billing" is not an email address"#,
                refusal(|s| s.sender_address = "billing".into()),
            ),
            (
                r#"delivery.reply-to "a b@c.d" is not an email address"#,
                refusal(|s| s.reply_to = Some("a b@c.d".into())),
            ),
            (
                r#"delivery.default-locale "english!" is not a BCP 47 language tag"#,
                refusal(|s| s.default_locale = "english!".into()),
            ),
            (
                "delivery.payment-link \"http://pay.example/{invoice}\" must be an https URL",
                refusal(|s| s.payment_link = "http://pay.example/{invoice}".into()),
            ),
            (
                "has a placeholder other than {invoice} and {customer}",
                refusal(|s| s.payment_link = "https://pay.example/{amount}".into()),
            ),
            (
                "delivery.payment-link \"/pay/{invoice}\" is not an absolute URL",
                refusal(|s| s.payment_link = "/pay/{invoice}".into()),
            ),
            (
                "delivery.max-attempts 0 is out of range: 1 to 50",
                refusal(|s| s.max_attempts = 0),
            ),
            (
                "delivery.max-attempts 51 is out of range",
                refusal(|s| s.max_attempts = 51),
            ),
            (
                r#"delivery.quiet-days ["sun","sun"] names a day twice"#,
                refusal(|s| s.quiet_days = vec![Weekday::Sun, Weekday::Sun]),
            ),
            (
                "leaves no day for a notice to go out",
                refusal(|s| {
                    use Weekday::*;
                    s.quiet_days = vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun];
                }),
            ),
        ];
        for (expected, message) in cases {
            assert!(message.contains(expected), "{expected:?} in {message:?}");
            assert!(message.len() < 400, "bounded: {message:?}");
        }
        let local = DeliverySettings {
            payment_link: "http://localhost:8080/pay/{invoice}".into(),
            ..DeliverySettings::default()
        };
        assert!(local.validate().is_ok());
    }

    #[test]
    fn an_unknown_key_or_weekday_does_not_read() {
        for bad in [
            serde_json::json!({"sender": "x"}),
            serde_json::json!({"quiet-days": ["sunday"]}),
            serde_json::json!({"max-attempts": -1}),
        ] {
            assert!(
                serde_json::from_value::<DeliverySettings>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn endpoint_rows_never_show_their_secrets() {
        let row = EndpointRow {
            id: "erp".into(),
            url: "https://erp.example/hooks".into(),
            events: vec![],
            secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into(),
            previous_secret: Some("whsec_b2xkb2xkb2xkb2xkb2xkb2xkb2xk".into()),
            previous_until: None,
            created_at: Utc::now(),
        };
        let shown = format!("{row:?}");
        assert!(
            !shown.contains("c2Vj") && !shown.contains("b2xk"),
            "{shown}"
        );
    }
}
