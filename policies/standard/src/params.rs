//! The tenant parameters of the standard ladder, with their defaults and checks.

use dunlin_guest_sdk::{Channel, Context, PolicyError};

/// The standard ladder as one tenant configured it. Day counts are relative to the due date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `pre-due-days` (3): send a friendly nudge this many days before the due date; 0 turns
    /// it off.
    pub pre_due_days: i64,
    /// `reminder-days` (3): the friendly reminder (level 1), days after the due date.
    pub reminder_days: i64,
    /// `firm-days` (14): the firm reminder (level 2).
    pub firm_days: i64,
    /// `final-days` (28): the final notice (level 3).
    pub final_days: i64,
    /// `collections-days` (42): hand over to collections.
    pub collections_days: i64,
    /// `min-gap-days` (7): at least this many days between two steps after the due date, so
    /// a late-starting ladder does not fire every level at once.
    pub min_gap_days: i64,
    /// `hold-review-days` (7): how often to look again at a disputed or planned invoice.
    pub hold_review_days: i64,
    /// `write-off-below-minor` (0 = never): at the end of the ladder, write off open balances
    /// below this many minor units instead of paying a collections agency for them.
    pub write_off_below_minor: i64,
    /// `channel` (email): the preferred channel for notices.
    pub channel: Channel,
    /// `final-by-letter` (false): also send the final notice as a letter when possible.
    pub final_by_letter: bool,
}

impl Params {
    /// Reads the parameters from the context; malformed or inconsistent values are refused.
    pub fn read(ctx: &Context) -> Result<Params, PolicyError> {
        let params = Params {
            pre_due_days: ctx.param_within("pre-due-days", 3, 0..=60)?,
            reminder_days: ctx.param_within("reminder-days", 3, 1..=365)?,
            firm_days: ctx.param_within("firm-days", 14, 1..=365)?,
            final_days: ctx.param_within("final-days", 28, 1..=365)?,
            collections_days: ctx.param_within("collections-days", 42, 1..=730)?,
            min_gap_days: ctx.param_within("min-gap-days", 7, 1..=90)?,
            hold_review_days: ctx.param_within("hold-review-days", 7, 1..=90)?,
            write_off_below_minor: ctx.param_within("write-off-below-minor", 0, 0..=i64::MAX)?,
            channel: ctx.param_or("channel", Channel::Email)?,
            final_by_letter: ctx.param_or("final-by-letter", false)?,
        };
        let steps = [
            ("reminder-days", params.reminder_days),
            ("firm-days", params.firm_days),
            ("final-days", params.final_days),
            ("collections-days", params.collections_days),
        ];
        for pair in steps.windows(2) {
            let [(early, early_days), (late, late_days)] = pair else {
                continue;
            };
            if late_days <= early_days {
                return Err(PolicyError::bad_param(
                    late,
                    format_args!("{late_days} must be greater than {early} ({early_days})"),
                ));
            }
        }
        Ok(params)
    }
}
