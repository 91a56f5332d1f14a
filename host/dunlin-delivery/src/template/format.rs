//! Amounts and dates in the customer's language, as CLDR writes them (ICU4X): the grouping
//! and decimal separators, where the currency symbol goes and how a date reads are the
//! locale's, not a table of ours.

use chrono::Datelike;
use dunlin_core::{Currency, Date, Money};
use fixed_decimal::Decimal;
use icu_datetime::fieldsets::YMD;
use icu_datetime::DateTimeFormatter;
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use icu_experimental::dimension::currency::CurrencyType;
use icu_experimental::dimension::provider::currency::fractions::CurrencyFractionsV1;
use icu_locale_core::Locale;

use super::TemplateError;

/// Formats amounts and dates for one locale.
pub struct LocaleFormat {
    locale: Locale,
    dates: DateTimeFormatter<YMD>,
}

impl std::fmt::Debug for LocaleFormat {
    /// The locale says which formats these are; the formatters' data is not worth printing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocaleFormat")
            .field("locale", &self.locale.to_string())
            .finish_non_exhaustive()
    }
}

impl LocaleFormat {
    /// The formats of `tag`, a BCP 47 language tag (`fi-FI`, `de`, `nb`).
    pub fn new(tag: &str) -> Result<Self, TemplateError> {
        let bad = || TemplateError::BadLocale {
            tag: tag.to_owned(),
        };
        let locale = Locale::try_from_str(tag).map_err(|_| bad())?;
        let dates = DateTimeFormatter::try_new((&locale).into(), YMD::long()).map_err(|_| bad())?;
        Ok(LocaleFormat { locale, dates })
    }

    /// The locale these formats are for.
    pub fn locale(&self) -> &Locale {
        &self.locale
    }

    /// `money` with the currency's symbol where the locale puts it ("1.234,56 €" in German,
    /// "€1,234.56" in English).
    pub fn money(&self, money: Money) -> Result<String, TemplateError> {
        let currency = currency_type(money.currency)?;
        let unsupported = || TemplateError::Currency {
            code: money.currency,
        };
        let formatter =
            CurrencyFormatter::try_new_symbol((&self.locale).into(), currency, Default::default())
                .map_err(|_| unsupported())?;
        let digits = minor_digits(currency).map_err(|_| unsupported())?;
        let mut value = Decimal::from(money.minor);
        value.multiply_pow10(-i16::from(digits));
        let text = formatter.format_fixed_decimal(&value).to_string();
        Ok(text)
    }

    /// `date` as the locale writes it in a letter ("15. März 2026", "March 15, 2026").
    pub fn date(&self, date: Date) -> Result<String, TemplateError> {
        let month = u8::try_from(date.month()).expect("a month is 1 to 12");
        let day = u8::try_from(date.day()).expect("a day is 1 to 31");
        let iso = icu_datetime::input::Date::try_new_iso(date.year(), month, day)
            .map_err(|_| TemplateError::DateOutOfRange { date })?;
        Ok(self.dates.format(&iso).to_string())
    }
}

fn currency_type(code: Currency) -> Result<CurrencyType, TemplateError> {
    CurrencyType::try_from_str(code.as_str()).map_err(|_| TemplateError::Currency { code })
}

/// How many digits the currency's minor unit has (2 for EUR, 0 for JPY), from the same CLDR
/// data the formatter rounds with, so an amount in minor units is never shown at a scale
/// the formatter then cuts.
fn minor_digits(currency: CurrencyType) -> Result<u8, icu_provider::DataError> {
    use icu_provider::prelude::*;
    let fractions: DataResponse<CurrencyFractionsV1> =
        icu_experimental::provider::Baked.load(Default::default())?;
    Ok(fractions.payload.get().resolve(currency).digits)
}
