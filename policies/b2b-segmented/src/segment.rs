//! Which segment a customer falls in, what ladder each segment climbs, and the tenant
//! parameters that decide both.

use dunlin_guest_sdk::{Context, PolicyError, Tone};

/// The tenant parameters of the segmented policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `high-value-minor` (5 000 000, i.e. 50 000.00): lifetime value, in minor units of the
    /// invoice's currency, from which a customer is high-value.
    pub high_value_minor: i64,
    /// `high-value-tag` (`key-account`): a customer tag that makes a customer high-value
    /// whatever their lifetime value.
    pub high_value_tag: String,
    /// `chronic-late-count` (3): late payments in the last 12 months from which a customer is
    /// a chronic late payer.
    pub chronic_late_count: u32,
    /// `chronic-other-overdue` (2): other overdue invoices from which a customer is treated
    /// as a chronic late payer too.
    pub chronic_other_overdue: u32,
    /// `new-customer-days` (180): customers younger than this are new.
    pub new_customer_days: i64,
    /// `exposure-minor` (2 000 000, i.e. 20 000.00): when this invoice and the customer's
    /// other overdue invoices together reach it, the account manager gets a task.
    pub exposure_minor: i64,
    /// `collections-min-minor` (10 000, i.e. 100.00): balances below it are written off at the
    /// end of the ladder instead of going to collections.
    pub collections_min_minor: i64,
    /// `hold-review-days` (7): how often to look again at a disputed or planned invoice.
    pub hold_review_days: i64,
}

impl Params {
    /// Reads the parameters from the context; malformed values are refused.
    pub fn read(ctx: &Context) -> Result<Params, PolicyError> {
        Ok(Params {
            high_value_minor: ctx.param_within("high-value-minor", 5_000_000, 0..=i64::MAX)?,
            high_value_tag: ctx.param_or("high-value-tag", "key-account".to_owned())?,
            chronic_late_count: ctx.param_within("chronic-late-count", 3, 1..=365)?,
            chronic_other_overdue: ctx.param_within("chronic-other-overdue", 2, 1..=1000)?,
            new_customer_days: ctx.param_within("new-customer-days", 180, 0..=3650)?,
            exposure_minor: ctx.param_within("exposure-minor", 2_000_000, 1..=i64::MAX)?,
            collections_min_minor: ctx.param_within(
                "collections-min-minor",
                10_000,
                0..=i64::MAX,
            )?,
            hold_review_days: ctx.param_within("hold-review-days", 7, 1..=90)?,
        })
    }
}

/// A group of customers that share a ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Large lifetime value or a key account: gentle, personal, never sent to collections
    /// without a person deciding.
    HighValue,
    /// Often late, or already behind on other invoices: a short, firm ladder.
    ChronicLate,
    /// A young relationship: the standard ladder.
    New,
    /// Everyone else, with a good record: a slightly gentler standard ladder.
    Established,
}

impl Segment {
    /// The segment of the context's customer. High value wins over a poor record: those
    /// accounts are worth a person's attention first.
    pub fn of(ctx: &Context, p: &Params) -> Segment {
        let customer = &ctx.customer;
        if customer.lifetime_value.minor >= p.high_value_minor || ctx.has_tag(&p.high_value_tag) {
            Segment::HighValue
        } else if customer.late_payments_12m >= p.chronic_late_count
            || ctx.other_overdue.count >= p.chronic_other_overdue
        {
            Segment::ChronicLate
        } else if ctx.tenure_days() < p.new_customer_days {
            Segment::New
        } else {
            Segment::Established
        }
    }

    /// The label decisions report.
    pub fn label(self) -> &'static str {
        match self {
            Segment::HighValue => "high-value",
            Segment::ChronicLate => "chronic-late",
            Segment::New => "new",
            Segment::Established => "established",
        }
    }

    /// The least number of days between two steps.
    pub fn gap_days(self) -> i64 {
        match self {
            Segment::HighValue => 10,
            Segment::ChronicLate => 5,
            Segment::New | Segment::Established => 7,
        }
    }

    /// The segment's ladder, in order. `exposed`: the customer's overdue total reached the
    /// exposure threshold, which brings a high-value account's personal task forward.
    pub fn ladder(self, exposed: bool) -> Vec<Step> {
        use StepKind::{AccountManager, Collections, Handover};
        let notify = |level, tone, template| StepKind::Notify {
            level,
            tone,
            template,
        };
        let steps = match self {
            Segment::HighValue => vec![
                (7, notify(1, Tone::Friendly, "courtesy-reminder")),
                (21, notify(2, Tone::Neutral, "statement-reminder")),
                (if exposed { 0 } else { 30 }, AccountManager),
                (45, notify(3, Tone::Firm, "reminder-call")),
                (60, Handover),
            ],
            Segment::ChronicLate => vec![
                (1, notify(2, Tone::Firm, "reminder-firm")),
                (10, notify(3, Tone::Final, "final-notice")),
                (20, Collections),
            ],
            Segment::New => vec![
                (3, notify(1, Tone::Friendly, "reminder-friendly")),
                (14, notify(2, Tone::Firm, "reminder-firm")),
                (28, notify(3, Tone::Final, "final-notice")),
                (42, Collections),
            ],
            Segment::Established => vec![
                (5, notify(1, Tone::Friendly, "reminder-friendly")),
                (15, notify(2, Tone::Neutral, "reminder-neutral")),
                (30, notify(3, Tone::Final, "final-notice")),
                (45, Collections),
            ],
        };
        steps
            .into_iter()
            .map(|(days_after_due, kind)| Step {
                days_after_due,
                kind,
            })
            .collect()
    }
}

/// One rung of a ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The earliest day, counted from the due date.
    pub days_after_due: i64,
    /// What happens.
    pub kind: StepKind,
}

/// What a rung does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A notice.
    Notify {
        /// Its level.
        level: u8,
        /// Its tone.
        tone: Tone,
        /// Its template id.
        template: &'static str,
    },
    /// A personal task for the account manager; the ladder goes on.
    AccountManager,
    /// The account manager takes over for good; the ladder ends.
    Handover,
    /// Collections, or a write-off for a small balance; the ladder ends.
    Collections,
}

impl StepKind {
    /// Whether the ladder ends with this step.
    pub fn ends(self) -> bool {
        matches!(self, StepKind::Handover | StepKind::Collections)
    }
}

#[cfg(test)]
mod tests {
    use dunlin_guest_sdk::testing::context;

    use super::*;

    #[test]
    fn segments_follow_value_then_record_then_tenure() {
        let p = Params::read(&context().build()).unwrap();
        let seg = |ctx: dunlin_guest_sdk::testing::ContextBuilder| Segment::of(&ctx.build(), &p);
        assert_eq!(
            seg(context().lifetime_value(5_000_000).payments_12m(0, 9)),
            Segment::HighValue
        );
        assert_eq!(seg(context().tag("Key-Account")), Segment::HighValue);
        assert_eq!(seg(context().payments_12m(2, 3)), Segment::ChronicLate);
        assert_eq!(seg(context().other_overdue(2, 1_000)), Segment::ChronicLate);
        assert_eq!(seg(context().customer_since("2025-12-01")), Segment::New);
        assert_eq!(
            seg(context().customer_since("2024-12-01").payments_12m(10, 2)),
            Segment::Established
        );
    }

    #[test]
    fn every_ladder_ends_and_climbs() {
        for segment in [
            Segment::HighValue,
            Segment::ChronicLate,
            Segment::New,
            Segment::Established,
        ] {
            let ladder = segment.ladder(false);
            assert!(ladder.last().unwrap().kind.ends(), "{segment:?}");
            assert!(ladder
                .windows(2)
                .all(|w| w[0].days_after_due < w[1].days_after_due));
            assert_eq!(ladder.iter().filter(|s| s.kind.ends()).count(), 1);
        }
    }
}
