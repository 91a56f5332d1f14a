//! The ledger's rows as tests write them: every field set to something plausible, and a
//! setter for each field a test varies.

use std::collections::BTreeMap;

use dunlin_core::{Channel, Currency, Customer, Date, Money, PaymentMethod};

use crate::{CustomerRecord, NewInvoice};

/// `s` as a date (`YYYY-MM-DD`); a test's own literal, so a bad one is the test's bug.
pub fn date(s: &str) -> Date {
    s.parse().expect("a test date is YYYY-MM-DD")
}

/// `minor` cents in euros.
pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

/// A customer since 2023-01-01 with no tags, 1,000.00 EUR paid so far, 4 invoices paid on
/// time and 1 late in the last year, English, in Europe/Helsinki, reachable by email and SMS,
/// opted out of nothing, with no contact details.
pub fn customer(id: &str) -> CustomerRecord {
    CustomerRecord {
        profile: Customer {
            id: id.into(),
            tags: vec![],
            lifetime_value: eur(100_000),
            customer_since: date("2023-01-01"),
            on_time_payments_12m: 4,
            late_payments_12m: 1,
            locale: "en".into(),
            time_zone: "Europe/Helsinki".into(),
            reachable_on: vec![Channel::Email, Channel::Sms],
            opted_out: vec![],
        },
        contact: BTreeMap::new(),
    }
}

/// Setters for what tests vary between customers.
impl CustomerRecord {
    /// With these tags instead.
    pub fn with_tags(mut self, tags: &[&str]) -> Self {
        self.profile.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// With `minor` cents in euros paid so far.
    pub fn with_lifetime_value(mut self, minor: i64) -> Self {
        self.profile.lifetime_value = eur(minor);
        self
    }

    /// A customer since `since`.
    pub fn with_customer_since(mut self, since: Date) -> Self {
        self.profile.customer_since = since;
        self
    }

    /// With `on_time` invoices paid on time and `late` paid late in the last 12 months.
    pub fn with_payments_12m(mut self, on_time: u32, late: u32) -> Self {
        self.profile.on_time_payments_12m = on_time;
        self.profile.late_payments_12m = late;
        self
    }

    /// Speaking `locale` (BCP 47).
    pub fn with_locale(mut self, locale: &str) -> Self {
        self.profile.locale = locale.into();
        self
    }

    /// Living in `time_zone` (IANA).
    pub fn with_time_zone(mut self, time_zone: &str) -> Self {
        self.profile.time_zone = time_zone.into();
        self
    }

    /// Reachable on these channels only.
    pub fn with_reachable_on(mut self, channels: &[Channel]) -> Self {
        self.profile.reachable_on = channels.to_vec();
        self
    }

    /// Opted out of these channels.
    pub fn with_opted_out(mut self, channels: &[Channel]) -> Self {
        self.profile.opted_out = channels.to_vec();
        self
    }

    /// With one more contact detail (`email`, `phone`, …).
    pub fn with_contact(mut self, key: &str, value: &str) -> Self {
        self.contact.insert(key.into(), value.into());
        self
    }
}

/// An open invoice of `customer_id` for `minor` cents in euros, issued on 2026-01-01, due on
/// `due_on`, numbered `N-{id}`, paid by bank transfer, no failed collection, no metadata.
pub fn invoice(id: &str, customer_id: &str, due_on: Date, minor: i64) -> NewInvoice {
    NewInvoice {
        id: id.into(),
        customer_id: customer_id.into(),
        number: format!("N-{id}"),
        issued_on: date("2026-01-01"),
        due_on,
        amount: eur(minor),
        open_balance_minor: None,
        payment_method: PaymentMethod::BankTransfer,
        failed_attempts: 0,
        last_failure: None,
        status: None,
        metadata: BTreeMap::new(),
    }
}

/// Setters for what tests vary between invoices.
impl NewInvoice {
    /// Numbered `number` instead.
    pub fn with_number(mut self, number: &str) -> Self {
        self.number = number.into();
        self
    }

    /// With one more metadata entry.
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}
