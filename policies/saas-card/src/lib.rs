//! A reference policy for subscription businesses that collect by card or direct debit.
//!
//! Failed collections come first:
//!
//! - After a **soft** decline the payment is retried, `card-retry-days` apart and at most
//!   `max-card-retries` times for cards (capped at [`CARD_RETRY_CAP`]), or
//!   `debit-retry-days` apart and at most `max-debit-retries` times for direct debits
//!   (capped at [`DEBIT_RETRY_CAP`]). The first retry comes with a friendly in-app or e-mail
//!   note (`payment-failed`, level 1). An invoice past due with no attempt on record is
//!   charged once.
//! - After a **hard** decline, or when the retries are used up, the customer is asked for a
//!   new payment method (`update-card` or `update-payment-method`, level 2, neutral) and
//!   reminded once `update-reminder-days` later (`…-reminder`, level 3, firm).
//! - Invoices paid by bank transfer get a plain reminder (`payment-reminder`, level 1) and a
//!   firm one (`payment-reminder-firm`, level 2) instead.
//!
//! Then, whatever the method: `suspend-days` after the due date the service is suspended
//! (escalation `suspend-service`, with a `service-suspended` notice, level 4, final tone), and
//! `close-days` after it the ladder ends: balances below `write-off-below-minor` are written
//! off, larger ones go to collections. Disputed invoices and invoices on a payment plan wait.
//!
//! The history does not say where an escalation went; this policy reads an escalation
//! before `close-days` as the suspension and one on or after it as the hand-over to
//! collections. See [`Params`] for every parameter and its default.

mod params;
#[cfg(test)]
mod tests;

use dunlin_guest_sdk::{
    decision, notice, Action, ActionKind, ActionOutcome, Channel, Context, Date, Decision,
    DeclineKind, Notice, PaymentMethod, Policy, PolicyError,
};

pub use params::{Params, CARD_RETRY_CAP, DEBIT_RETRY_CAP};

/// The SaaS card policy. See the crate documentation.
pub struct SaasCard;

dunlin_guest_sdk::export_policy!(SaasCard);

impl Policy for SaasCard {
    fn decide(ctx: &Context) -> Result<Decision, PolicyError> {
        let p = Params::read(ctx)?;
        let segment = match ctx.invoice.payment_method {
            PaymentMethod::Card => "card",
            PaymentMethod::DirectDebit => "direct-debit",
            PaymentMethod::BankTransfer | PaymentMethod::Other => "manual",
        };
        let close_on = ctx.invoice.due_on.add_days(p.close_days);
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
        } else if let Some(handed) = ctx.done(ActionKind::Escalate).find(|e| e.on >= close_on) {
            Decision::end(format!(
                "the invoice went to collections on {}; dunning has nothing more to do",
                handed.on
            ))
        } else if ctx.as_of >= close_on {
            close(ctx, &p)
        } else if !ctx.is_overdue() {
            let first_day = ctx.invoice.due_on.add_days(1);
            Decision::wait(
                first_day,
                format!(
                    "not overdue until {first_day}; collection on the due date is the billing system's job"
                ),
            )
        } else {
            Ladder::new(ctx, &p).run()
        };
        Ok(decided.in_segment(segment))
    }
}

/// One decision on an overdue invoice before the ladder closes: collects actions, reasons
/// and candidate review dates as each concern (suspension, retries, notices) has its say.
struct Ladder<'a> {
    ctx: &'a Context,
    p: &'a Params,
    actions: Vec<Action>,
    reasons: Vec<String>,
    reviews: Vec<Date>,
    notified: bool,
}

impl<'a> Ladder<'a> {
    fn new(ctx: &'a Context, p: &'a Params) -> Ladder<'a> {
        Ladder {
            ctx,
            p,
            actions: Vec::new(),
            reasons: Vec::new(),
            reviews: vec![ctx.invoice.due_on.add_days(p.close_days)],
            notified: false,
        }
    }

    fn run(mut self) -> Decision {
        self.suspension();
        let asks = match self.p.retries(self.ctx.invoice.payment_method) {
            Some((max, spacing)) => self.retries(max, spacing),
            None => true,
        };
        if asks {
            self.ask_for_payment();
        }
        let as_of = self.ctx.as_of;
        let review = self.reviews.iter().copied().filter(|d| *d > as_of).min();
        let overdue = self.ctx.days_overdue();
        let reason = if self.reasons.is_empty() {
            let next = review
                .map(|d| format!("; next step on {d}"))
                .unwrap_or_default();
            format!("{overdue} days overdue; nothing to do today{next}")
        } else {
            format!("{overdue} days overdue: {}", self.reasons.join("; "))
        };
        let mut d = decision("").because(reason);
        d.actions = self.actions;
        d.review_on = review;
        d
    }

    fn act(&mut self, action: impl Into<Action>, reason: String) {
        self.actions.push(action.into());
        self.reasons.push(reason);
    }

    fn notify(&mut self, preferred: &[Channel], notice: Notice, what: &str) {
        if self.notified {
            return;
        }
        self.notified = true;
        match self.ctx.first_reachable(preferred) {
            Some(channel) => self.act(notice.via(channel), format!("{what} by {channel}")),
            None => self
                .reasons
                .push(format!("{what} skipped: no reachable channel")),
        }
    }

    /// Suspends the service once, `suspend-days` after the due date.
    fn suspension(&mut self) {
        let suspend_on = self.ctx.invoice.due_on.add_days(self.p.suspend_days);
        if self.ctx.last_done(ActionKind::Escalate).is_some() {
            return;
        }
        if self.ctx.as_of < suspend_on {
            self.reviews.push(suspend_on);
            return;
        }
        let balance = &self.ctx.invoice.open_balance;
        self.act(
            Action::suspend_service(format!(
                "{balance} unpaid {} days after the due date",
                self.ctx.days_overdue()
            )),
            "suspending the service".into(),
        );
        let close_on = self.ctx.invoice.due_on.add_days(self.p.close_days);
        self.notify(
            &[Channel::Email, Channel::InApp, Channel::Letter],
            notice(4)
                .final_()
                .template("service-suspended")
                .var("close-on", close_on),
            "service-suspended notice",
        );
    }

    /// Retries after soft declines; returns whether the customer must be asked for a new
    /// payment method instead (hard decline, or retries used up).
    fn retries(&mut self, max: u32, spacing: i64) -> bool {
        let ctx = self.ctx;
        let failure = ctx.invoice.last_failure.as_ref();
        if failure.is_some_and(|f| f.kind == DeclineKind::Hard) {
            return true;
        }
        let last_retry = ctx.last_retry();
        if last_retry.is_some_and(|r| r.outcome == ActionOutcome::Pending) {
            self.reviews.push(ctx.as_of.add_days(1));
            self.reasons
                .push("waiting for the result of the last retry".into());
            return false;
        }
        let done = ctx.retries_so_far();
        if done >= max {
            return true;
        }
        let last_attempt = [failure.map(|f| f.on), last_retry.map(|r| r.on)]
            .into_iter()
            .flatten()
            .max();
        let next = last_attempt.map_or(ctx.as_of, |on| on.add_days(spacing));
        if ctx.as_of < next {
            self.reviews.push(next);
            return false;
        }
        let why = match failure {
            Some(f) => format!(
                "retry {} of {max} after a soft decline ({}) on {}",
                done + 1,
                f.code,
                f.on
            ),
            None => "no collection attempt on record: charging the payment method".into(),
        };
        self.act(Action::retry(why.clone()), why);
        // Look again once the retry has had time to settle; after the last one, that is
        // when the customer is asked for a new payment method.
        self.reviews.push(ctx.as_of.add_days(spacing));
        if let Some(f) = failure {
            if ctx.highest_level() == 0 {
                self.notify(
                    &[Channel::InApp, Channel::Email, Channel::Sms],
                    notice(1)
                        .friendly()
                        .template("payment-failed")
                        .var("decline-code", &f.code),
                    "payment-failed note",
                );
            }
        }
        false
    }

    /// Asks for a new payment method (automatic collection) or for payment (manual), then
    /// reminds once.
    fn ask_for_payment(&mut self) {
        let ctx = self.ctx;
        let automatic = ctx.invoice.payment_method.is_automatic();
        let (first_level, first, reminder, noun) = match ctx.invoice.payment_method {
            PaymentMethod::Card => (2, "update-card", "update-card-reminder", "a new card"),
            PaymentMethod::DirectDebit => (
                2,
                "update-payment-method",
                "update-payment-method-reminder",
                "a new payment method",
            ),
            PaymentMethod::BankTransfer | PaymentMethod::Other => {
                (1, "payment-reminder", "payment-reminder-firm", "payment")
            }
        };
        let asked = ctx.notices().find(|n| n.level >= Some(first_level));
        let preferred = [Channel::Email, Channel::InApp, Channel::Sms];
        let Some(asked) = asked else {
            let mut n = notice(first_level).neutral().template(first);
            if !automatic {
                n = n.friendly();
            }
            if let Some(f) = &ctx.invoice.last_failure {
                n = n.var("decline-code", &f.code);
            }
            self.notify(&preferred, n, &format!("asking for {noun}"));
            self.reviews
                .push(ctx.as_of.add_days(self.p.update_reminder_days));
            return;
        };
        let reminded = ctx.notices().any(|n| n.level > Some(first_level));
        if reminded {
            return;
        }
        let remind_on = asked.on.add_days(self.p.update_reminder_days);
        if ctx.as_of < remind_on {
            self.reviews.push(remind_on);
            return;
        }
        let suspend_on = ctx.invoice.due_on.add_days(self.p.suspend_days);
        self.notify(
            &preferred,
            notice(first_level + 1)
                .firm()
                .template(reminder)
                .var("suspend-on", suspend_on),
            &format!("reminding the customer that {noun} is needed"),
        );
    }
}

/// The end of the ladder: write off a small balance, hand a large one to collections.
fn close(ctx: &Context, p: &Params) -> Decision {
    let balance = &ctx.invoice.open_balance;
    let overdue = ctx.days_overdue();
    if balance.minor < p.write_off_below_minor {
        decision("")
            .act(Action::write_off(format!(
                "{balance} unpaid after {overdue} days; below the collections threshold"
            )))
            .because(format!(
                "{overdue} days overdue: writing off {balance}, too small for collections"
            ))
    } else {
        decision("")
            .act(Action::collections(format!(
                "{balance} unpaid {overdue} days after the due date; service suspended, \
                 payment method not updated"
            )))
            .because(format!(
                "{overdue} days overdue: handing {balance} to collections"
            ))
    }
}
