//! Helpers on the contract's [`Money`] record: integer minor units and a currency code, never
//! floating point.

use std::cmp::Ordering;
use std::fmt;

use crate::Money;

impl Money {
    /// `minor` units (cents for EUR) of `currency`, an ISO 4217 code such as `"EUR"`.
    pub fn new(minor: i64, currency: impl Into<String>) -> Money {
        Money {
            minor,
            currency: currency.into(),
        }
    }

    /// Whether the amount is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Whether the amount is more than zero (something is owed).
    pub fn is_positive(&self) -> bool {
        self.minor > 0
    }

    /// Whether the amount is less than zero (a credit).
    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// Whether both amounts are in the same currency, so they can be compared or added.
    pub fn same_currency(&self, other: &Money) -> bool {
        self.currency == other.currency
    }

    /// The sum, or `None` if the currencies differ or the sum overflows.
    pub fn checked_add(&self, other: &Money) -> Option<Money> {
        if !self.same_currency(other) {
            return None;
        }
        Some(Money::new(
            self.minor.checked_add(other.minor)?,
            self.currency.clone(),
        ))
    }
}

impl PartialOrd for Money {
    /// Compares amounts of the same currency; amounts in different currencies are unordered
    /// (`None`, so `<`, `>`, `<=` and `>=` are all false).
    fn partial_cmp(&self, other: &Money) -> Option<Ordering> {
        self.same_currency(other)
            .then(|| self.minor.cmp(&other.minor))
    }
}

impl fmt::Display for Money {
    /// Two decimals and the code, e.g. `1234.50 EUR`, as the host prints money. Right for most
    /// currencies, only cosmetic for the rest (JPY has no minor unit).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_two_decimals_and_the_code() {
        assert_eq!(Money::new(12_000, "EUR").to_string(), "120.00 EUR");
        assert_eq!(Money::new(-1205, "USD").to_string(), "-12.05 USD");
        assert_eq!(Money::new(7, "EUR").to_string(), "0.07 EUR");
        assert_eq!(
            Money::new(i64::MIN, "EUR").to_string(),
            "-92233720368547758.08 EUR"
        );
    }

    #[test]
    fn compares_only_within_one_currency() {
        let eur = |m| Money::new(m, "EUR");
        assert!(eur(100) < eur(200));
        assert!(eur(200) >= eur(200));
        let usd = Money::new(100, "USD");
        assert_eq!(eur(100).partial_cmp(&usd), None);
        assert!(!eur(100).lt(&usd) && !eur(100).ge(&usd));
        assert_ne!(eur(100), usd);
    }

    #[test]
    fn answers_sign_questions_and_adds() {
        assert!(Money::new(0, "EUR").is_zero());
        assert!(Money::new(1, "EUR").is_positive());
        assert!(Money::new(-1, "EUR").is_negative());
        let sum = Money::new(150, "EUR").checked_add(&Money::new(50, "EUR"));
        assert_eq!(sum, Some(Money::new(200, "EUR")));
        assert_eq!(
            Money::new(1, "EUR").checked_add(&Money::new(1, "USD")),
            None
        );
        assert_eq!(
            Money::new(i64::MAX, "EUR").checked_add(&Money::new(1, "EUR")),
            None
        );
    }
}
