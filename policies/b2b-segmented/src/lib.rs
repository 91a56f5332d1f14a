//! A reference policy for business customers: the ladder depends on who the customer is.
//!
//! | segment | who | ladder (days after the due date) |
//! |---|---|---|
//! | `high-value` | lifetime value ≥ `high-value-minor`, or tagged `high-value-tag` | courtesy reminder (7), statement reminder (21), account-manager task (30), a call or firm reminder (45), hand-over to the account manager (60) |
//! | `chronic-late` | ≥ `chronic-late-count` late payments in 12 months, or ≥ `chronic-other-overdue` other overdue invoices | firm reminder (1), final notice by e-mail and letter (10), collections (20) |
//! | `new` | customer for less than `new-customer-days` | friendly (3), firm (14), final (28), collections (42) |
//! | `established` | everyone else | friendly (5), neutral (15), final (30), collections (45) |
//!
//! Steps are at least 10 (high-value), 5 (chronic) or 7 days apart, so a late start climbs
//! one rung at a time, and each rung happens once: the history says which did. When this
//! invoice and the customer's other overdue invoices together reach `exposure-minor`, the
//! account manager gets a task (once; for high-value accounts their task comes forward).
//! Collections get only balances of at least `collections-min-minor`; smaller ones are
//! written off. High-value accounts never go to collections without a person deciding.
//! Disputed invoices and invoices on a payment plan wait. See [`Params`] for defaults.
//!
//! The history does not say where an escalation went. The policy reads the first escalation
//! as the account-manager task and an escalation on or after the final rung's date as the
//! final rung.

mod segment;
#[cfg(test)]
mod tests;

use dunlin_guest_sdk::{
    decision, notice, Action, ActionKind, Channel, Context, Date, Decision, Policy, PolicyError,
    Tone,
};

pub use segment::{Params, Segment, Step, StepKind};

/// The segmented B2B policy. See the crate documentation.
pub struct B2bSegmented;

dunlin_guest_sdk::export_policy!(B2bSegmented);

impl Policy for B2bSegmented {
    fn decide(ctx: &Context) -> Result<Decision, PolicyError> {
        let p = Params::read(ctx)?;
        let segment = Segment::of(ctx, &p);
        let decided = if let Some(why) = ctx.on_hold() {
            Decision::wait(
                ctx.as_of.add_days(p.hold_review_days),
                format!("{why}; looking again in {} days", p.hold_review_days),
            )
        } else if !ctx.invoice.open_balance.is_positive() {
            decision("")
                .act(Action::close("nothing is owed on the invoice any more"))
                .because("the open balance is zero or a credit: closing the ladder")
        } else if let Some(closed) = ctx.last_done(ActionKind::Close) {
            Decision::end(format!("the ladder was closed on {}", closed.on))
        } else {
            climb(ctx, &p, segment)
        };
        Ok(decided.in_segment(segment.label()))
    }
}

/// The first day `step` may happen, given the day the previous step happened.
fn earliest(ctx: &Context, step: &Step, previous: Option<Date>, gap: i64) -> Date {
    let scheduled = ctx.invoice.due_on.add_days(step.days_after_due);
    previous.map_or(scheduled, |on| scheduled.max(on.add_days(gap)))
}

/// The rung to climb next and its earliest day, or `None` when the ladder is complete.
fn next_rung(ctx: &Context, ladder: &[Step], gap: i64) -> Option<(usize, Date)> {
    let escalations: Vec<Date> = ctx.done(ActionKind::Escalate).map(|e| e.on).collect();
    let mut previous = None;
    for (i, step) in ladder.iter().enumerate() {
        let when = earliest(ctx, step, previous, gap);
        let done = match step.kind {
            StepKind::Notify { level, .. } => ctx
                .notices()
                .find(|n| n.level.is_some_and(|l| l >= level))
                .map(|n| n.on),
            StepKind::AccountManager => escalations.first().copied(),
            StepKind::Handover | StepKind::Collections => {
                escalations.iter().copied().find(|on| *on >= when)
            }
        };
        match done {
            Some(on) => previous = Some(on),
            None => return Some((i, when)),
        }
    }
    None
}

fn climb(ctx: &Context, p: &Params, segment: Segment) -> Decision {
    let exposure = ctx.total_overdue();
    let exposed = exposure.minor >= p.exposure_minor;
    let ladder = segment.ladder(exposed);
    let gap = segment.gap_days();
    let overdue = ctx.days_overdue();
    let who = format!("{} customer", segment.label());
    let Some((i, when)) = next_rung(ctx, &ladder, gap) else {
        return Decision::end(format!(
            "{who}: the ladder is complete; dunning has nothing more to do"
        ));
    };
    let step = ladder[i];
    let mut d = decision("");
    let mut reasons = Vec::new();

    // A large total overdue deserves a person's attention once, whatever the ladder says;
    // a high-value ladder has that task as a rung of its own.
    let rung_due = ctx.as_of >= when;
    let first_escalation = ctx.last_done(ActionKind::Escalate).is_none();
    if exposed
        && first_escalation
        && segment != Segment::HighValue
        && !(rung_due && step.kind.ends())
    {
        d = d.act(Action::account_manager(format!(
            "the customer owes {exposure} across {} overdue invoices",
            ctx.other_overdue.count + 1
        )));
        reasons.push(format!(
            "{exposure} overdue in total: task for the account manager"
        ));
    }

    if !rung_due {
        let next = describe(&step.kind);
        let lead = if reasons.is_empty() {
            format!("{who}, {overdue} days overdue")
        } else {
            format!("{who}, {overdue} days overdue: {}", reasons.join("; "))
        };
        return d
            .review_on(when)
            .because(format!("{lead}; {next} is due on {when}"));
    }

    match step.kind {
        StepKind::Notify {
            level,
            tone,
            template,
        } => {
            let preferred: &[Channel] = match (segment, level) {
                (Segment::HighValue, 3) => &[Channel::Phone, Channel::Email, Channel::Letter],
                _ => &[
                    Channel::Email,
                    Channel::Letter,
                    Channel::InApp,
                    Channel::Sms,
                ],
            };
            let Some(channel) = ctx.first_reachable(preferred) else {
                return unreachable(ctx, &who, overdue);
            };
            let mut n = notice(level)
                .via(channel)
                .tone(tone)
                .template(template)
                .var("days-overdue", overdue);
            if ctx.other_overdue.count > 0 {
                n = n
                    .var("other-overdue-count", ctx.other_overdue.count)
                    .var("total-overdue", &exposure);
            }
            let letter_too = segment == Segment::ChronicLate
                && tone == Tone::Final
                && channel != Channel::Letter
                && ctx.can_reach(Channel::Letter);
            let letter = letter_too.then(|| n.clone().letter());
            let by = if letter_too {
                format!("{channel} and letter")
            } else {
                channel.to_string()
            };
            d = d.act(n).act_if(letter);
            reasons.push(format!("{} (level {level}) by {by}", describe(&step.kind)));
        }
        StepKind::AccountManager => {
            let balance = &ctx.invoice.open_balance;
            d = d.act(Action::account_manager(format!(
                "valued account: {balance} is {overdue} days overdue ({exposure} in total); \
                 please reach out personally"
            )));
            reasons.push("personal outreach by the account manager".into());
        }
        StepKind::Handover => {
            let balance = &ctx.invoice.open_balance;
            d = d.act(Action::account_manager(format!(
                "valued account: {balance} still unpaid after {overdue} days despite reminders \
                 and outreach; decide whether to go to collections"
            )));
            reasons.push("handing the account to its manager to decide on collections".into());
        }
        StepKind::Collections => {
            let balance = &ctx.invoice.open_balance;
            if balance.minor < p.collections_min_minor {
                d = d.act(Action::write_off(format!(
                    "{balance} is below the collections minimum"
                )));
                reasons.push(format!("writing off {balance}, too small for collections"));
            } else {
                d = d.act(Action::collections(format!(
                    "{balance} unpaid {overdue} days after the due date; final notice ignored"
                )));
                reasons.push(format!("handing {balance} to collections"));
            }
        }
    }
    if let Some(next) = ladder.get(i + 1).filter(|_| !step.kind.ends()) {
        d = d.review_on(earliest(ctx, next, Some(ctx.as_of), gap));
    }
    d.because(format!(
        "{who}, {overdue} days overdue: {}",
        reasons.join("; ")
    ))
}

fn describe(kind: &StepKind) -> String {
    match kind {
        StepKind::Notify { template, .. } => match *template {
            "courtesy-reminder" => "the courtesy reminder",
            "statement-reminder" => "the statement reminder",
            "reminder-call" => "the reminder call",
            "reminder-friendly" => "the friendly reminder",
            "reminder-neutral" => "the second reminder",
            "reminder-firm" => "the firm reminder",
            "final-notice" => "the final notice",
            _ => "a reminder",
        }
        .into(),
        StepKind::AccountManager => "the account manager's outreach".into(),
        StepKind::Handover => "the hand-over to the account manager".into(),
        StepKind::Collections => "the hand-over to collections".into(),
    }
}

fn unreachable(ctx: &Context, who: &str, overdue: i64) -> Decision {
    let balance = &ctx.invoice.open_balance;
    decision("")
        .act(Action::account_manager(format!(
            "{balance} is {overdue} days overdue and the customer cannot be reached on any \
             channel this policy uses; please contact them"
        )))
        .because(format!(
            "{who}, {overdue} days overdue: no reachable channel, handing over to the account manager"
        ))
}
