//! Checks on incoming rows, run before anything is written, so that a bad row yields a clear
//! error and its batch leaves no trace.

use chrono::Datelike;
use dunlin_core::guardrails::OperatorLimits;
use dunlin_core::{Currency, Date, Money};

use crate::ledger::{NewDispute, NewInvoice, NewPayment, NewPaymentPlan};
use crate::{CustomerRecord, StoreError, TenantSettings};

/// The largest amount accepted, in minor units: 10^15 (ten trillion euros). Far below `i64::MAX`,
/// so that sums over a customer's invoices cannot overflow.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// The longest id, number, code or reason accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Active ISO 4217 codes (plus a few widely used funds codes). A code outside this list is
/// almost always a typo, and a typo in a currency silently splits a customer's balances.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
    "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD",
    "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU",
    "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
    "ZWG",
];

/// Whether `currency` is a known ISO 4217 code.
pub fn is_known_currency(currency: Currency) -> bool {
    ISO_4217.binary_search(&currency.as_str()).is_ok()
}

fn invalid(what: &'static str, id: &str, problem: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        what,
        id: id.to_owned(),
        problem: problem.into(),
    }
}

fn check_id(what: &'static str, id: &str, field: &str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(invalid(what, id, format!("{field} is empty")));
    }
    if value.len() > MAX_ID_LEN {
        return Err(invalid(
            what,
            id,
            format!(
                "{field} is {} bytes long; at most {MAX_ID_LEN}",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn check_date(what: &'static str, id: &str, field: &str, date: Date) -> Result<(), StoreError> {
    if (1900..=9999).contains(&date.year()) {
        Ok(())
    } else {
        Err(invalid(
            what,
            id,
            format!("{field} {date} is outside the years 1900 to 9999"),
        ))
    }
}

fn check_money(
    what: &'static str,
    id: &str,
    field: &str,
    money: Money,
    allow_zero: bool,
) -> Result<(), StoreError> {
    if !is_known_currency(money.currency) {
        return Err(invalid(
            what,
            id,
            format!(
                "{field} has unknown currency {} (not an ISO 4217 code)",
                money.currency
            ),
        ));
    }
    check_minor(what, id, field, money.minor, allow_zero)
}

fn check_minor(
    what: &'static str,
    id: &str,
    field: &str,
    minor: i64,
    allow_zero: bool,
) -> Result<(), StoreError> {
    if minor < 0 || (minor == 0 && !allow_zero) {
        let expected = if allow_zero {
            "zero or more"
        } else {
            "positive"
        };
        return Err(invalid(
            what,
            id,
            format!("{field} is {minor} minor units; it must be {expected}"),
        ));
    }
    if minor > MAX_AMOUNT_MINOR {
        return Err(invalid(
            what,
            id,
            format!("{field} is {minor} minor units; at most {MAX_AMOUNT_MINOR} accepted"),
        ));
    }
    Ok(())
}

pub(crate) fn customer(c: &CustomerRecord) -> Result<(), StoreError> {
    let p = &c.profile;
    let id = p.id.as_str();
    check_id("customer", id, "id", id)?;
    check_money("customer", id, "lifetime value", p.lifetime_value, true)?;
    check_date("customer", id, "customer since", p.customer_since)?;
    check_id("customer", id, "locale", &p.locale)?;
    check_id("customer", id, "time zone", &p.time_zone)
}

pub(crate) fn invoice(i: &NewInvoice) -> Result<(), StoreError> {
    let id = i.id.as_str();
    check_id("invoice", id, "id", id)?;
    check_id("invoice", id, "customer id", &i.customer_id)?;
    check_id("invoice", id, "number", &i.number)?;
    check_date("invoice", id, "issue date", i.issued_on)?;
    check_date("invoice", id, "due date", i.due_on)?;
    if i.due_on < i.issued_on {
        return Err(invalid(
            "invoice",
            id,
            format!(
                "due date {} is before the issue date {}",
                i.due_on, i.issued_on
            ),
        ));
    }
    check_money("invoice", id, "amount", i.amount, true)?;
    if let Some(open) = i.open_balance_minor {
        check_minor("invoice", id, "open balance", open, true)?;
    }
    if let Some(f) = &i.last_failure {
        check_date("invoice", id, "last failure date", f.on)?;
        check_id("invoice", id, "last failure code", &f.code)?;
    }
    Ok(())
}

pub(crate) fn payment(p: &NewPayment) -> Result<(), StoreError> {
    let id = p.id.as_str();
    check_id("payment", id, "id", id)?;
    check_id("payment", id, "invoice id", &p.invoice_id)?;
    check_money("payment", id, "amount", p.amount, false)?;
    check_date("payment", id, "payment date", p.paid_on)
}

pub(crate) fn dispute(d: &NewDispute) -> Result<(), StoreError> {
    let id = d.id.as_str();
    check_id("dispute", id, "id", id)?;
    check_id("dispute", id, "invoice id", &d.invoice_id)?;
    check_date("dispute", id, "opening date", d.opened_on)?;
    if let Some(on) = d.resolved_on {
        check_date("dispute", id, "resolution date", on)?;
    }
    Ok(())
}

pub(crate) fn payment_plan(p: &NewPaymentPlan) -> Result<(), StoreError> {
    let id = p.id.as_str();
    check_id("payment plan", id, "id", id)?;
    check_id("payment plan", id, "invoice id", &p.invoice_id)?;
    check_date("payment plan", id, "agreement date", p.agreed_on)?;
    check_date("payment plan", id, "expiry date", p.expires_on)?;
    if p.expires_on < p.agreed_on {
        return Err(invalid(
            "payment plan",
            id,
            format!(
                "expiry date {} is before the agreement date {}",
                p.expires_on, p.agreed_on
            ),
        ));
    }
    Ok(())
}

/// Settings a tenant is created or updated with: refused if no operator's limits allow them
/// (the operator's own limits are checked where the settings come in, by
/// [`TenantSettings::validate`]), so the daemon never meets a schedule it cannot run.
pub(crate) fn tenant_settings(settings: &TenantSettings) -> Result<(), StoreError> {
    settings.validate(&OperatorLimits::widest())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
        assert!(is_known_currency(Currency::EUR));
        assert!(!is_known_currency(Currency::new("XYZ").unwrap()));
    }

    #[test]
    fn amounts_must_be_in_range() {
        let eur = |m| Money::new(m, Currency::EUR);
        assert!(check_money("invoice", "i", "amount", eur(0), true).is_ok());
        let err = check_money("invoice", "i", "amount", eur(-1), true).unwrap_err();
        assert!(err.to_string().contains("zero or more"), "{err}");
        let err = check_money("invoice", "i", "amount", eur(i64::MAX), true).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
        let err = check_money("payment", "p", "amount", eur(0), false).unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
    }
}
