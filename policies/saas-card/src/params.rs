//! The tenant parameters of the SaaS card policy, with their defaults and checks.

use dunlin_guest_sdk::{Context, PaymentMethod, PolicyError};

/// The most retries of one invoice on a card. Card networks penalise excessive reattempts
/// (Visa: more than 15 in 30 days); staying well below keeps the merchant safe.
pub const CARD_RETRY_CAP: u32 = 8;
/// The most re-presentments of one direct debit (NACHA allows two for ACH).
pub const DEBIT_RETRY_CAP: u32 = 2;

/// The policy as one tenant configured it. Day counts are relative to the due date unless
/// they say otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `max-card-retries` (4, at most [`CARD_RETRY_CAP`]): retries after a soft card decline.
    pub max_card_retries: u32,
    /// `card-retry-days` (3, 1 to 30): days between card attempts.
    pub card_retry_days: i64,
    /// `max-debit-retries` (2, at most [`DEBIT_RETRY_CAP`]): re-presentments of a returned
    /// direct debit.
    pub max_debit_retries: u32,
    /// `debit-retry-days` (5, 3 to 30): days between debit attempts; debits take days to
    /// settle or bounce.
    pub debit_retry_days: i64,
    /// `update-reminder-days` (3): days between the request for a new payment method and its
    /// reminder.
    pub update_reminder_days: i64,
    /// `suspend-days` (21): suspend the service this many days after the due date.
    pub suspend_days: i64,
    /// `close-days` (60): end the ladder this many days after the due date.
    pub close_days: i64,
    /// `write-off-below-minor` (5000): at the end, write off open balances below this many
    /// minor units; larger ones go to collections.
    pub write_off_below_minor: i64,
    /// `hold-review-days` (7): how often to look again at a disputed or planned invoice.
    pub hold_review_days: i64,
}

impl Params {
    /// Reads the parameters from the context; malformed or inconsistent values are refused.
    pub fn read(ctx: &Context) -> Result<Params, PolicyError> {
        let p = Params {
            max_card_retries: ctx.param_within("max-card-retries", 4, 0..=CARD_RETRY_CAP)?,
            card_retry_days: ctx.param_within("card-retry-days", 3, 1..=30)?,
            max_debit_retries: ctx.param_within("max-debit-retries", 2, 0..=DEBIT_RETRY_CAP)?,
            debit_retry_days: ctx.param_within("debit-retry-days", 5, 3..=30)?,
            update_reminder_days: ctx.param_within("update-reminder-days", 3, 1..=60)?,
            suspend_days: ctx.param_within("suspend-days", 21, 1..=365)?,
            close_days: ctx.param_within("close-days", 60, 2..=730)?,
            write_off_below_minor: ctx.param_within("write-off-below-minor", 5000, 0..=i64::MAX)?,
            hold_review_days: ctx.param_within("hold-review-days", 7, 1..=90)?,
        };
        if p.close_days <= p.suspend_days {
            return Err(PolicyError::bad_param(
                "close-days",
                format_args!(
                    "{} must be greater than suspend-days ({})",
                    p.close_days, p.suspend_days
                ),
            ));
        }
        Ok(p)
    }

    /// How many retries `method` allows and how many days apart; `None` for methods the
    /// tenant does not collect automatically.
    pub fn retries(&self, method: PaymentMethod) -> Option<(u32, i64)> {
        match method {
            PaymentMethod::Card => Some((self.max_card_retries, self.card_retry_days)),
            PaymentMethod::DirectDebit => Some((self.max_debit_retries, self.debit_retry_days)),
            PaymentMethod::BankTransfer | PaymentMethod::Other => None,
        }
    }
}
