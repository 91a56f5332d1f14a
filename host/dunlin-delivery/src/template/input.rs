//! What a template is rendered with: [`RenderInput`], plain fields the caller fills from the
//! store's rows and the notice, so the renderer depends on neither; and the variables a
//! template sees, each value both formatted for the locale and raw.

use std::collections::BTreeMap;

use dunlin_core::{Currency, Date, Money};
use serde::Serialize;

use super::format::LocaleFormat;
use super::TemplateError;

/// Everything one email is rendered from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderInput {
    /// The customer's BCP 47 language tag; it picks the template and the formats.
    pub locale: String,
    /// The day the notice goes out; days overdue are counted to it.
    pub as_of: Date,
    /// The tenant's name as its customers know it (the letter's sender).
    pub sender: String,
    /// Who the notice is for.
    pub customer: CustomerInput,
    /// The invoice the notice is about.
    pub invoice: InvoiceInput,
    /// The customer's other open invoices.
    pub other_invoices: Vec<InvoiceInput>,
    /// The notice's own variables (`dunlin_core::Notice::vars`).
    pub vars: BTreeMap<String, String>,
    /// Where the customer pays.
    pub payment_link: String,
    /// Where the customer stops these messages.
    pub unsubscribe_link: String,
}

/// The customer, as the template sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomerInput {
    /// The tenant's own id.
    pub id: String,
    /// The name to address the customer by.
    pub name: String,
    /// The address the email goes to.
    pub email: String,
}

/// An invoice, as the template sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceInput {
    /// The printed invoice number.
    pub number: String,
    /// The invoiced total.
    pub amount: Money,
    /// What is still owed.
    pub open_balance: Money,
    /// Date of issue.
    pub issued_on: Date,
    /// Due date.
    pub due_on: Date,
}

impl From<&dunlin_store::InvoiceRecord> for InvoiceInput {
    fn from(invoice: &dunlin_store::InvoiceRecord) -> InvoiceInput {
        InvoiceInput {
            number: invoice.number.clone(),
            amount: invoice.amount,
            open_balance: invoice.open_balance,
            issued_on: invoice.issued_on,
            due_on: invoice.due_on,
        }
    }
}

impl RenderInput {
    /// A plausible notice in `locale`, for checking a template before it is stored: every
    /// variable a real notice has is set, the policies' usual `vars` included.
    pub fn sample(locale: &str) -> RenderInput {
        let eur = Currency::EUR;
        let date = |y, m, d| Date::from_ymd_opt(y, m, d).expect("a valid calendar date");
        let vars = [
            ("days-overdue", "14"),
            ("due-on", "2026-03-01"),
            ("collections-on", "2026-04-14"),
            ("suspend-on", "2026-03-31"),
            ("close-on", "2026-04-30"),
            ("decline-code", "insufficient_funds"),
            ("other-overdue-count", "1"),
            ("total-overdue", "1733.90 EUR"),
        ];
        RenderInput {
            locale: locale.to_owned(),
            as_of: date(2026, 3, 15),
            sender: "Example Oy".to_owned(),
            customer: CustomerInput {
                id: "cust-1001".to_owned(),
                name: "Alex Example".to_owned(),
                email: "alex@example.com".to_owned(),
            },
            invoice: InvoiceInput {
                number: "INV-2026-0042".to_owned(),
                amount: Money::new(123_456, eur),
                open_balance: Money::new(98_765, eur),
                issued_on: date(2026, 2, 1),
                due_on: date(2026, 3, 1),
            },
            other_invoices: vec![InvoiceInput {
                number: "INV-2026-0031".to_owned(),
                amount: Money::new(39_000, eur),
                open_balance: Money::new(39_000, eur),
                issued_on: date(2026, 1, 15),
                due_on: date(2026, 2, 14),
            }],
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            payment_link: "https://pay.example.com/i/INV-2026-0042".to_owned(),
            unsubscribe_link: "https://example.com/unsubscribe/cust-1001".to_owned(),
        }
    }

    /// The variables a template sees, amounts and dates formatted with `format`.
    pub(crate) fn vars(&self, format: &LocaleFormat) -> Result<Vars<'_>, TemplateError> {
        let invoice = InvoiceVars::new(&self.invoice, self.as_of, format)?;
        Ok(Vars {
            locale: format.locale().to_string(),
            sender: &self.sender,
            customer: &self.customer,
            days_overdue: invoice.days_overdue,
            invoice,
            other_invoices: self
                .other_invoices
                .iter()
                .map(|i| InvoiceVars::new(i, self.as_of, format))
                .collect::<Result<_, _>>()?,
            today: format.date(self.as_of)?,
            today_iso: self.as_of.to_string(),
            vars: &self.vars,
            payment_link: &self.payment_link,
            unsubscribe_link: &self.unsubscribe_link,
        })
    }
}

/// The template's variables (`docs/templates.md` lists them).
#[derive(Serialize)]
pub(crate) struct Vars<'a> {
    /// The locale the values are formatted for (the `date` filter's too).
    locale: String,
    sender: &'a str,
    customer: &'a CustomerInput,
    invoice: InvoiceVars<'a>,
    days_overdue: i64,
    other_invoices: Vec<InvoiceVars<'a>>,
    today: String,
    today_iso: String,
    vars: &'a BTreeMap<String, String>,
    payment_link: &'a str,
    unsubscribe_link: &'a str,
}

/// An invoice's variables: formatted (`amount`, `due_on`) and raw (`amount_minor`,
/// `due_on_iso`).
#[derive(Serialize)]
struct InvoiceVars<'a> {
    number: &'a str,
    currency: &'a str,
    amount: String,
    amount_minor: i64,
    open_balance: String,
    open_balance_minor: i64,
    issued_on: String,
    issued_on_iso: String,
    due_on: String,
    due_on_iso: String,
    days_overdue: i64,
}

impl<'a> InvoiceVars<'a> {
    fn new(
        invoice: &'a InvoiceInput,
        as_of: Date,
        format: &LocaleFormat,
    ) -> Result<Self, TemplateError> {
        Ok(InvoiceVars {
            number: &invoice.number,
            currency: invoice.amount.currency.as_str(),
            amount: format.money(invoice.amount)?,
            amount_minor: invoice.amount.minor,
            open_balance: format.money(invoice.open_balance)?,
            open_balance_minor: invoice.open_balance.minor,
            issued_on: format.date(invoice.issued_on)?,
            issued_on_iso: invoice.issued_on.to_string(),
            due_on: format.date(invoice.due_on)?,
            due_on_iso: invoice.due_on.to_string(),
            days_overdue: (as_of - invoice.due_on).num_days(),
        })
    }
}
