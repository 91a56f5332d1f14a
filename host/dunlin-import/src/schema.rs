//! The row schema of each kind: which fields a row may have, which it must have, and how a
//! row becomes the store's record. `docs/import.md` describes the same schemas for people.
//!
//! Field names are kebab-case and the same in CSV (column headers) and JSON Lines (keys).
//! Amounts are whole minor units with a separate `currency`; dates are `YYYY-MM-DD`; lists are
//! `;`-separated text (or JSON arrays); free-form key/value data uses one field per key,
//! `meta.<key>` (invoices) or `contact.<key>` (customers).

use dunlin_core::{CollectionFailure, Customer, Money};
use dunlin_store::{
    CustomerRecord, DisputeStatus, NewDispute, NewInvoice, NewPayment, NewPaymentPlan, PlanStatus,
};

use crate::fields::Fields;
use crate::Kind;

/// One field of a row schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name, a CSV column header or a JSON key.
    pub name: &'static str,
    /// Whether every row must have it.
    pub required: bool,
}

const fn req(name: &'static str) -> Field {
    Field {
        name,
        required: true,
    }
}

const fn opt(name: &'static str) -> Field {
    Field {
        name,
        required: false,
    }
}

/// The fields rows of one kind may have.
#[derive(Debug)]
pub struct Schema {
    /// The kind.
    pub kind: Kind,
    /// The named fields, required ones first.
    pub fields: &'static [Field],
    /// A prefix for free-form keys (`meta.` or `contact.`), if the kind takes any.
    pub prefix: Option<&'static str>,
}

const CHANNELS: &str = "email, sms, letter, phone or in-app";
const METHODS: &str = "card, direct-debit, bank-transfer or other";

static CUSTOMERS: Schema = Schema {
    kind: Kind::Customers,
    fields: &[
        req("id"),
        req("currency"),
        req("customer-since"),
        opt("lifetime-value-minor"),
        opt("tags"),
        opt("on-time-payments-12m"),
        opt("late-payments-12m"),
        opt("locale"),
        opt("time-zone"),
        opt("reachable-on"),
        opt("opted-out"),
        opt("name"),
        opt("email"),
        opt("phone"),
    ],
    prefix: Some("contact."),
};

static INVOICES: Schema = Schema {
    kind: Kind::Invoices,
    fields: &[
        req("id"),
        req("customer-id"),
        req("issued-on"),
        req("due-on"),
        req("amount-minor"),
        req("currency"),
        req("payment-method"),
        opt("number"),
        opt("open-balance-minor"),
        opt("status"),
        opt("failed-attempts"),
        opt("last-failure-on"),
        opt("last-failure-code"),
        opt("last-failure-kind"),
    ],
    prefix: Some("meta."),
};

static PAYMENTS: Schema = Schema {
    kind: Kind::Payments,
    fields: &[
        req("id"),
        req("invoice-id"),
        req("amount-minor"),
        req("currency"),
        req("paid-on"),
    ],
    prefix: None,
};

static DISPUTES: Schema = Schema {
    kind: Kind::Disputes,
    fields: &[
        req("id"),
        req("invoice-id"),
        req("opened-on"),
        opt("reason"),
        opt("status"),
        opt("resolved-on"),
    ],
    prefix: None,
};

static PLANS: Schema = Schema {
    kind: Kind::Plans,
    fields: &[
        req("id"),
        req("invoice-id"),
        req("kind"),
        req("agreed-on"),
        req("expires-on"),
        opt("status"),
    ],
    prefix: None,
};

impl Schema {
    /// The schema of `kind`.
    pub fn of(kind: Kind) -> &'static Schema {
        match kind {
            Kind::Customers => &CUSTOMERS,
            Kind::Invoices => &INVOICES,
            Kind::Payments => &PAYMENTS,
            Kind::Disputes => &DISPUTES,
            Kind::Plans => &PLANS,
        }
    }

    /// Whether a row of this kind may have a field called `name`.
    pub fn accepts(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
            || self
                .prefix
                .is_some_and(|p| name.len() > p.len() && name.starts_with(p))
    }

    /// Whether `name` is free text, which may hold line breaks and tabs: a dispute's
    /// `reason` and the free-form `meta.<key>` and `contact.<key>` values (an address).
    /// Ids, codes, dates, amounts and the other fields are one line each.
    pub fn is_free_text(&self, name: &str) -> bool {
        name == "reason" || self.prefix.is_some_and(|p| name.starts_with(p))
    }

    /// The fields in words, for error messages.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
        let mut text = names.join(", ");
        if let Some(p) = self.prefix {
            text.push_str(&format!(" and {p}<key>"));
        }
        text
    }

    /// Checks a CSV header: every column known, none repeated, every required one there.
    pub fn check_header(&self, headers: &[String]) -> Result<(), String> {
        for (i, h) in headers.iter().enumerate() {
            if !self.accepts(h) {
                return Err(format!(
                    "unknown column {h:?}; {} rows have {}",
                    self.kind,
                    self.describe()
                ));
            }
            if headers[..i].contains(h) {
                return Err(format!("column {h:?} appears twice"));
            }
        }
        let missing: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.required && !headers.iter().any(|h| h == f.name))
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} rows need the column{} {}",
                self.kind,
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ));
        }
        Ok(())
    }
}

/// A record the store can take, made from one row.
pub(crate) trait FromFields: Sized {
    /// The record, or `None` with the reasons in `f.errors`.
    fn from_fields(f: &mut Fields) -> Option<Self>;
    /// The tenant's own id of the record, its key in the store.
    fn id(&self) -> &str;
}

impl FromFields for CustomerRecord {
    fn id(&self) -> &str {
        &self.profile.id
    }

    fn from_fields(f: &mut Fields) -> Option<Self> {
        let id = f.id("id");
        let currency = f.currency("currency");
        let customer_since = f.required_date("customer-since");
        let lifetime = f.amount("lifetime-value-minor").unwrap_or(0);
        let tags = f.list("tags").unwrap_or_default();
        let on_time = f.count("on-time-payments-12m");
        let late = f.count("late-payments-12m");
        let locale = f.text("locale").unwrap_or_else(|| "en".to_owned());
        let time_zone = f.text("time-zone").unwrap_or_else(|| "UTC".to_owned());
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            f.errors.push(format!(
                "time-zone {time_zone:?} is not an IANA time zone (e.g. Europe/Paris)"
            ));
        }
        let reachable_on = f.choice_list("reachable-on", CHANNELS);
        let opted_out = f.choice_list("opted-out", CHANNELS).unwrap_or_default();
        let mut contact = f.prefixed("contact.");
        for key in ["name", "email", "phone"] {
            if let Some(value) = f.text(key) {
                contact.insert(key.to_owned(), value);
            }
        }
        let currency = currency?;
        Some(CustomerRecord {
            profile: Customer {
                id: id?,
                tags,
                lifetime_value: Money::new(lifetime, currency),
                customer_since: customer_since?,
                on_time_payments_12m: on_time?,
                late_payments_12m: late?,
                locale,
                time_zone,
                reachable_on: reachable_on.unwrap_or_else(|| vec![dunlin_core::Channel::Email]),
                opted_out,
            },
            contact,
        })
    }
}

impl FromFields for NewInvoice {
    fn id(&self) -> &str {
        &self.id
    }

    fn from_fields(f: &mut Fields) -> Option<Self> {
        let id = f.id("id");
        let customer_id = f.id("customer-id");
        let number = f.text("number");
        let issued_on = f.required_date("issued-on");
        let due_on = f.required_date("due-on");
        let amount = f.required_amount("amount-minor");
        let currency = f.currency("currency");
        let payment_method = f.required_choice("payment-method", METHODS);
        let open_balance_minor = f.amount("open-balance-minor");
        let status = f.choice("status", "open, paid, void or written-off");
        let failed_attempts = f.count("failed-attempts");
        let failure_on = f.date("last-failure-on");
        let failure_code = f.text("last-failure-code");
        let failure_kind = f.choice("last-failure-kind", "soft or hard");
        let last_failure = match (failure_on, failure_code, failure_kind) {
            (None, None, None) => None,
            (Some(on), Some(code), Some(kind)) => Some(CollectionFailure { on, code, kind }),
            _ => {
                f.errors.push(
                    "last-failure-on, last-failure-code and last-failure-kind go together: \
                     give all three or none"
                        .to_owned(),
                );
                None
            }
        };
        let metadata = f.prefixed("meta.");
        let id = id?;
        Some(NewInvoice {
            number: number.unwrap_or_else(|| id.clone()),
            id,
            customer_id: customer_id?,
            issued_on: issued_on?,
            due_on: due_on?,
            amount: Money::new(amount?, currency?),
            open_balance_minor,
            payment_method: payment_method?,
            failed_attempts: failed_attempts?,
            last_failure,
            status,
            metadata,
        })
    }
}

impl FromFields for NewPayment {
    fn id(&self) -> &str {
        &self.id
    }

    fn from_fields(f: &mut Fields) -> Option<Self> {
        let id = f.id("id");
        let invoice_id = f.id("invoice-id");
        let amount = f.required_amount("amount-minor");
        if amount == Some(0) {
            f.errors.push("amount-minor 0 must be positive".to_owned());
        }
        let currency = f.currency("currency");
        let paid_on = f.required_date("paid-on");
        Some(NewPayment {
            id: id?,
            invoice_id: invoice_id?,
            amount: Money::new(amount?, currency?),
            paid_on: paid_on?,
        })
    }
}

impl FromFields for NewDispute {
    fn id(&self) -> &str {
        &self.id
    }

    fn from_fields(f: &mut Fields) -> Option<Self> {
        let id = f.id("id");
        let invoice_id = f.id("invoice-id");
        let opened_on = f.required_date("opened-on");
        let reason = f.text("reason").unwrap_or_default();
        let status = f
            .choice("status", "open or resolved")
            .unwrap_or(DisputeStatus::Open);
        let resolved_on = f.date("resolved-on");
        Some(NewDispute {
            id: id?,
            invoice_id: invoice_id?,
            opened_on: opened_on?,
            reason,
            status,
            resolved_on,
        })
    }
}

impl FromFields for NewPaymentPlan {
    fn id(&self) -> &str {
        &self.id
    }

    fn from_fields(f: &mut Fields) -> Option<Self> {
        let id = f.id("id");
        let invoice_id = f.id("invoice-id");
        let kind = f.required_choice("kind", "plan or promise");
        let agreed_on = f.required_date("agreed-on");
        let expires_on = f.required_date("expires-on");
        let status = f
            .choice("status", "active, kept, broken or cancelled")
            .unwrap_or(PlanStatus::Active);
        Some(NewPaymentPlan {
            id: id?,
            invoice_id: invoice_id?,
            kind: kind?,
            agreed_on: agreed_on?,
            expires_on: expires_on?,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cols: &str) -> Vec<String> {
        cols.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn header_must_fit_the_kind() {
        let s = Schema::of(Kind::Payments);
        assert!(s
            .check_header(&header("id,invoice-id,amount-minor,currency,paid-on"))
            .is_ok());
        let cases = [
            (
                "id,invoice-id,amount,currency,paid-on",
                "unknown column \"amount\"",
            ),
            (
                "id,id,invoice-id,amount-minor,currency,paid-on",
                "appears twice",
            ),
            (
                "id,invoice-id,currency,paid-on",
                "need the column amount-minor",
            ),
        ];
        for (cols, expected) in cases {
            let err = s.check_header(&header(cols)).unwrap_err();
            assert!(err.contains(expected), "{cols}: {err}");
        }
    }

    #[test]
    fn free_form_keys_need_a_key_after_the_prefix() {
        let s = Schema::of(Kind::Invoices);
        assert!(s.accepts("meta.region"));
        assert!(!s.accepts("meta."));
        assert!(!s.accepts("contact.email"));
        assert!(Schema::of(Kind::Customers).accepts("contact.email"));
    }
}
