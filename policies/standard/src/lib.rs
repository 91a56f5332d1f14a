//! The standard dunning ladder, a reference policy for Dunlin.
//!
//! 1. A friendly nudge `pre-due-days` before the due date (template `pre-due-reminder`).
//! 2. A friendly reminder, level 1, `reminder-days` after it (`reminder-friendly`).
//! 3. A firm reminder, level 2, at `firm-days` (`reminder-firm`).
//! 4. A final notice, level 3 in the final tone, at `final-days` (`final-notice`), optionally
//!    also by letter.
//! 5. Collections at `collections-days`, or a write-off for balances below
//!    `write-off-below-minor`; the ladder ends.
//!
//! Each level goes out once (the history says which went out) and steps after the due date
//! are at least `min-gap-days` apart, so an invoice that enters the ladder late climbs it one
//! step at a time. Disputed invoices and invoices on a payment plan wait. Notices use the
//! tenant's `channel` if the customer can be reached there, else the first reachable of
//! e-mail, in-app, letter and text message; a customer reachable on none of them goes to the
//! account manager. See [`Params`] for every parameter and its default.

mod params;
#[cfg(test)]
mod tests;

use dunlin_guest_sdk::{
    decision, notice, Action, ActionKind, Channel, Context, Date, Decision, Policy, PolicyError,
};

pub use params::Params;

/// The segment every decision of this policy reports.
pub const SEGMENT: &str = "standard";

/// The standard ladder. See the crate documentation.
pub struct Standard;

dunlin_guest_sdk::export_policy!(Standard);

impl Policy for Standard {
    fn decide(ctx: &Context) -> Result<Decision, PolicyError> {
        let p = Params::read(ctx)?;
        let decided = if let Some(why) = ctx.on_hold() {
            Decision::wait(
                ctx.as_of.add_days(p.hold_review_days),
                format!("{why}; looking again in {} days", p.hold_review_days),
            )
        } else if !ctx.invoice.open_balance.is_positive() {
            decision("")
                .act(Action::close("nothing is owed on the invoice any more"))
                .because("the open balance is zero or a credit: closing the ladder")
        } else if let Some(end) = ended(ctx) {
            Decision::end(end)
        } else if ctx.is_overdue() {
            after_due(ctx, &p)
        } else {
            before_due(ctx, &p)
        };
        Ok(decided.in_segment(SEGMENT))
    }
}

/// The steps after the due date, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Reminder,
    Firm,
    Final,
    Collections,
}

impl Step {
    /// The step after notices up to `level` went out.
    fn after_level(level: u8) -> Step {
        match level {
            0 => Step::Reminder,
            1 => Step::Firm,
            2 => Step::Final,
            _ => Step::Collections,
        }
    }

    fn next(self) -> Option<Step> {
        match self {
            Step::Reminder => Some(Step::Firm),
            Step::Firm => Some(Step::Final),
            Step::Final => Some(Step::Collections),
            Step::Collections => None,
        }
    }

    fn days_after_due(self, p: &Params) -> i64 {
        match self {
            Step::Reminder => p.reminder_days,
            Step::Firm => p.firm_days,
            Step::Final => p.final_days,
            Step::Collections => p.collections_days,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Step::Reminder => "the friendly reminder",
            Step::Firm => "the firm reminder",
            Step::Final => "the final notice",
            Step::Collections => "the hand-over to collections",
        }
    }

    /// The first day this step may happen: its day after the due date, and at least the
    /// minimum gap after the previous step.
    fn earliest(self, ctx: &Context, p: &Params, previous: Option<Date>) -> Date {
        let scheduled = ctx.invoice.due_on.add_days(self.days_after_due(p));
        match previous {
            Some(on) => scheduled.max(on.add_days(p.min_gap_days)),
            None => scheduled,
        }
    }
}

/// Why the ladder is already over, if it is: it escalated or closed before.
fn ended(ctx: &Context) -> Option<String> {
    if let Some(escalation) = ctx.last_done(ActionKind::Escalate) {
        return Some(format!(
            "the invoice was escalated on {}; dunning has nothing more to do",
            escalation.on
        ));
    }
    ctx.last_done(ActionKind::Close)
        .map(|closed| format!("the ladder was closed on {}", closed.on))
}

fn channel(ctx: &Context, p: &Params) -> Option<Channel> {
    ctx.first_reachable(&[
        p.channel,
        Channel::Email,
        Channel::InApp,
        Channel::Letter,
        Channel::Sms,
    ])
}

fn unreachable() -> Decision {
    decision("")
        .act(Action::account_manager(
            "the customer cannot be reached on any channel this policy uses; please contact them",
        ))
        .because(
            "no reachable channel for dunning notices: handing the invoice to the account manager",
        )
}

fn before_due(ctx: &Context, p: &Params) -> Decision {
    let due = ctx.invoice.due_on;
    let first_reminder = Step::Reminder.earliest(ctx, p, None);
    let nudged = ctx.notices().any(|n| n.on <= due);
    if p.pre_due_days == 0 || nudged {
        let why = if nudged {
            "the pre-due reminder went out"
        } else {
            "pre-due reminders are off"
        };
        return Decision::wait(
            first_reminder,
            format!("not overdue yet and {why}; the first reminder is due on {first_reminder}"),
        );
    }
    let nudge_on = due.add_days(-p.pre_due_days);
    if ctx.as_of < nudge_on {
        return Decision::wait(
            nudge_on,
            format!("the invoice falls due on {due}; the pre-due reminder goes out on {nudge_on}"),
        );
    }
    let Some(channel) = channel(ctx, p) else {
        return Decision::wait(
            first_reminder,
            format!(
                "no reachable channel for the pre-due reminder; looking again on {first_reminder}"
            ),
        );
    };
    decision("")
        .act(
            notice(1)
                .via(channel)
                .friendly()
                .template("pre-due-reminder")
                .var("due-on", due),
        )
        .review_on(first_reminder)
        .because(format!(
            "the invoice falls due on {due}: friendly pre-due reminder by {channel}"
        ))
}

fn after_due(ctx: &Context, p: &Params) -> Decision {
    let due = ctx.invoice.due_on;
    let overdue = ctx.days_overdue();
    // Notices on or before the due date were the pre-due nudge, not a ladder level.
    let ladder: Vec<_> = ctx.notices().filter(|n| n.on > due).collect();
    let highest = ladder.iter().filter_map(|n| n.level).max().unwrap_or(0);
    let previous = ladder.last().map(|n| n.on);
    let step = Step::after_level(highest);
    let when = step.earliest(ctx, p, previous);
    if ctx.as_of < when {
        return Decision::wait(
            when,
            format!(
                "{overdue} days overdue; {} is due on {when}",
                step.describe()
            ),
        );
    }
    let next = step
        .next()
        .map(|next| next.earliest(ctx, p, Some(ctx.as_of)));
    if step == Step::Collections {
        return collections(ctx, p, previous);
    }
    let Some(channel) = channel(ctx, p) else {
        return unreachable();
    };
    let (level, notice) = match step {
        Step::Reminder => (1, notice(1).friendly().template("reminder-friendly")),
        Step::Firm => (2, notice(2).firm().template("reminder-firm")),
        _ => {
            let collections_on = next.unwrap_or(ctx.as_of);
            (
                3,
                notice(3)
                    .final_()
                    .template("final-notice")
                    .var("collections-on", collections_on),
            )
        }
    };
    let notice = notice.var("days-overdue", overdue);
    let letter_too = step == Step::Final
        && p.final_by_letter
        && channel != Channel::Letter
        && ctx.can_reach(Channel::Letter);
    let letter = letter_too.then(|| notice.clone().letter());
    let by = if letter_too {
        format!("{channel} and letter")
    } else {
        channel.to_string()
    };
    let mut d = decision("")
        .act(notice.via(channel))
        .act_if(letter)
        .because(format!(
            "{overdue} days overdue: {} (level {level}) by {by}",
            step.describe()
        ));
    if let Some(next) = next {
        d = d.review_on(next);
    }
    d
}

fn collections(ctx: &Context, p: &Params, final_notice: Option<Date>) -> Decision {
    let balance = &ctx.invoice.open_balance;
    let overdue = ctx.days_overdue();
    let since = final_notice
        .map(|on| format!(" and the final notice of {on} went unanswered"))
        .unwrap_or_default();
    if balance.minor < p.write_off_below_minor {
        decision("")
            .act(Action::write_off(format!(
                "{balance} is below the collections threshold; writing it off"
            )))
            .because(format!(
                "{overdue} days overdue{since}; {balance} is too small for collections: write-off"
            ))
    } else {
        decision("")
            .act(Action::collections(format!(
                "{balance} unpaid {overdue} days after the due date{since}"
            )))
            .because(format!(
                "{overdue} days overdue{since}: handing {balance} to collections"
            ))
    }
}
