//! The send-time checks: the sweep decided an action hours or days ago, and before the outbox
//! sends it, [`check`] asks whether it may go now. A pure function of plain data the worker
//! reads from the store ([`SendCheck`]); it never reads the clock.
//!
//! The rules, by the action's kind (`docs/delivery.md` says the same for tenants):
//!
//! - **Invoice state**, for every dunning action (notice, payment retry, escalation including
//!   service suspension): the guardrails' invoice rules again, with what is known now. An
//!   invoice that is paid, void or written off, has nothing left to collect, is disputed
//!   (while `hold-while-disputed` is on) or has a payment plan or promise to pay in good
//!   standing (while `hold-during-payment-plan` is on) cancels the action ([`Verdict::Cancel`]).
//!   The sweep decides again at the invoice's next review, so a dispute resolved in the
//!   tenant's favour resumes the ladder there.
//! - **Notices** (every channel) also keep to the customer's contact rules, checked after the
//!   invoice state:
//!   - a channel the customer opted out of blocks the notice ([`Verdict::Block`]): waiting
//!     would not make it allowed;
//!   - the customer's cap of contacts over a rolling 7 × 24 hours
//!     (`max-contacts-per-customer-7-days`, counting the notices delivered to the customer)
//!     makes it wait until enough of the counted contacts have left that span, and then for
//!     the contact window ([`Verdict::Wait`]);
//!   - the contact window, in the customer's time zone: outside it, or on a quiet weekday, the
//!     notice waits until the window next opens on a day that is not quiet. Windows are
//!     half-open (`08:00`–`21:00` allows 08:00 up to 20:59:59): a day's window opens at the
//!     first instant its start is reached and stays open while the wall clock is before its
//!     end. A start that falls in a spring-forward gap opens at the first instant after the
//!     gap (the moment the clocks jump); a start the autumn change makes ambiguous opens at
//!     the earlier of its two instants. A day whose whole window lies in a gap is skipped.
//!     A window that never opens (every weekday quiet, or start not before end) blocks.
//! - **Payment retries and escalations** are not contacts: no window, cap or opt-out.
//! - **Pauses and closures** always go: they tell the tenant's systems about the ladder itself,
//!   which matters most when the invoice has just been paid or disputed.
//!
//! Which time zone is the customer's (and the fallback to the tenant's zone or UTC when the
//! customer's is unknown) is the worker's choice; `check` takes a parsed [`Tz`].

use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use dunlin_core::guardrails::{ContactWindow, InvoiceStatus};
use dunlin_core::{Action, Channel};

/// The span of the customer's contact cap.
pub const CAP_SPAN: TimeDelta = TimeDelta::days(7);

/// How many days ahead the next window opening is looked for: a week, and a week more for
/// days that DST or a zone's change of date line leaves without a window.
const SEARCH_DAYS: usize = 14;

/// The longest gap a zone's wall clock has jumped over (Samoa skipped a whole day in 2011),
/// with room to spare, in minutes.
const GAP_MINUTES: u32 = 48 * 60;

/// What the worker knows at send time about one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendCheck {
    /// The moment of the check.
    pub now: DateTime<Utc>,
    /// The action about to be sent.
    pub action: Action,
    /// The customer's time zone (or the fallback the worker chose).
    pub time_zone: Tz,
    /// The tenant's contact window, local time, half-open.
    pub window: ContactWindow,
    /// Weekdays on which no notice goes out, in the customer's time zone.
    pub quiet_days: Vec<Weekday>,
    /// Channels the customer opted out of.
    pub opted_out: Vec<Channel>,
    /// The invoice's status now.
    pub status: InvoiceStatus,
    /// What is left to collect, in the invoice currency's minor units.
    pub open_balance_minor: i64,
    /// Whether a dispute is open.
    pub disputed: bool,
    /// Whether a payment plan or promise to pay is in good standing.
    pub payment_plan: bool,
    /// The tenant's `hold-while-disputed`.
    pub hold_while_disputed: bool,
    /// The tenant's `hold-during-payment-plan`.
    pub hold_during_payment_plan: bool,
    /// When the customer's notices of the last [`CAP_SPAN`] were delivered (older ones are
    /// ignored), in any order.
    pub recent_contacts: Vec<DateTime<Utc>>,
    /// The tenant's `max-contacts-per-customer-7-days`.
    pub max_contacts_per_customer_7_days: u32,
}

/// Whether an action may go now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it now.
    Send,
    /// Not now: check again at `until`.
    Wait {
        /// The first moment it may go, as far as is known now.
        until: DateTime<Utc>,
        /// Why not now, for the deliveries table.
        reason: String,
    },
    /// Never: what the action was for no longer holds.
    Cancel {
        /// Why, for the deliveries table.
        reason: String,
    },
    /// Never, as things stand: the customer's or the tenant's settings forbid it.
    Block {
        /// Why, for the deliveries table.
        reason: String,
    },
}

/// Whether `input.action` may go at `input.now`; the module's documentation gives the rules.
pub fn check(input: &SendCheck) -> Verdict {
    match &input.action {
        Action::Pause(_) | Action::Close(_) => Verdict::Send,
        Action::RetryPayment(_) | Action::Escalate(_) => match cancel_reason(input) {
            Some(reason) => Verdict::Cancel { reason },
            None => Verdict::Send,
        },
        Action::Notify(notice) => {
            if let Some(reason) = cancel_reason(input) {
                return Verdict::Cancel { reason };
            }
            if input.opted_out.contains(&notice.channel) {
                return Verdict::Block {
                    reason: format!(
                        "the customer opted out of {} notices",
                        notice.channel.as_str()
                    ),
                };
            }
            contact_time(input)
        }
    }
}

/// Why the invoice's state rules out dunning now, if it does.
fn cancel_reason(input: &SendCheck) -> Option<String> {
    let reason = match input.status {
        InvoiceStatus::Paid => "the invoice was paid after the decision",
        InvoiceStatus::Void => "the invoice was voided after the decision",
        InvoiceStatus::WrittenOff => "the invoice was written off after the decision",
        InvoiceStatus::Open if input.open_balance_minor <= 0 => {
            "nothing is left to collect on the invoice"
        }
        InvoiceStatus::Open if input.disputed && input.hold_while_disputed => {
            "the invoice is disputed"
        }
        InvoiceStatus::Open if input.payment_plan && input.hold_during_payment_plan => {
            "a payment plan or promise to pay is in good standing"
        }
        InvoiceStatus::Open => return None,
    };
    Some(reason.to_owned())
}

/// When a notice may reach the customer: now, later (the cap, then the window), or never.
fn contact_time(input: &SendCheck) -> Verdict {
    let cap = input.max_contacts_per_customer_7_days;
    let Some(cap_frees) = cap_frees(input.now, &input.recent_contacts, cap) else {
        return Verdict::Block {
            reason: "the tenant's contact cap is 0 contacts in 7 days".to_owned(),
        };
    };
    let earliest = cap_frees.unwrap_or(input.now);
    let window = input.window;
    let Some(opens) = next_opening(earliest, input.time_zone, window, &input.quiet_days) else {
        return Verdict::Block {
            reason: format!(
                "the contact window {}–{} never opens on a day that is not quiet",
                window.start.format("%H:%M"),
                window.end.format("%H:%M")
            ),
        };
    };
    if opens == input.now {
        return Verdict::Send;
    }
    let reason = if cap_frees.is_some() {
        format!("the customer has had {cap} contacts in the last 7 days, the tenant's cap")
    } else {
        let local = input.now.with_timezone(&input.time_zone);
        if input.quiet_days.contains(&local.weekday()) {
            format!(
                "{} is a quiet day in {}",
                local.format("%A"),
                input.time_zone.name()
            )
        } else {
            format!(
                "outside the contact window {}–{} in {}",
                window.start.format("%H:%M"),
                window.end.format("%H:%M"),
                input.time_zone.name()
            )
        }
    };
    Verdict::Wait {
        until: opens,
        reason,
    }
}

/// When the customer's contact cap next allows a notice: `Some(None)` now, `Some(Some(t))`
/// from `t` (when enough of the counted contacts have left the span), `None` never (a cap
/// of 0).
fn cap_frees(
    now: DateTime<Utc>,
    contacts: &[DateTime<Utc>],
    cap: u32,
) -> Option<Option<DateTime<Utc>>> {
    let since = now - CAP_SPAN;
    let mut counted: Vec<DateTime<Utc>> = contacts.iter().copied().filter(|c| *c > since).collect();
    let cap = usize::try_from(cap).expect("a u32 fits in usize");
    if counted.len() < cap {
        return Some(None);
    }
    if cap == 0 {
        return None;
    }
    counted.sort_unstable();
    // Once this one has left the span, cap − 1 contacts remain: room for one more.
    let leaving = counted[counted.len() - cap];
    Some(Some(leaving + CAP_SPAN))
}

/// The first instant at or after `from` inside `window` on a day that is not quiet, in `tz`;
/// `None` when no such instant comes within two weeks.
pub fn next_opening(
    from: DateTime<Utc>,
    tz: Tz,
    window: ContactWindow,
    quiet_days: &[Weekday],
) -> Option<DateTime<Utc>> {
    if window.start >= window.end {
        return None;
    }
    let today = from.with_timezone(&tz).date_naive();
    today
        .iter_days()
        .take(SEARCH_DAYS)
        .filter(|day| !quiet_days.contains(&day.weekday()))
        .find_map(|day| {
            let opens = first_instant_from(tz, day.and_time(window.start))?.max(from);
            let local = opens.with_timezone(&tz);
            // A start moved past a gap, or `from` late in the day, may leave no window that
            // day.
            (local.date_naive() == day && local.time() < window.end).then_some(opens)
        })
}

/// The first instant whose wall-clock time in `tz` is `wall` or later: `wall` itself when it
/// exists, the earlier instant when it exists twice (autumn), and when the clocks jump over
/// it (spring) the moment they jump.
fn first_instant_from(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(at) = tz.from_local_datetime(&wall).earliest() {
        return Some(at.to_utc());
    }
    // Find the first whole minute after the gap, then the second the jump happened: it lies
    // in the minute before that minute's instant, where zones' historical offsets with
    // seconds can put it.
    let mut probe = wall;
    for _ in 0..GAP_MINUTES {
        probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
        if let Some(after) = tz.from_local_datetime(&probe).earliest() {
            let (mut before, mut after) = (after.timestamp() - 60, after.timestamp());
            while after - before > 1 {
                let mid = before + (after - before) / 2;
                let reached = DateTime::from_timestamp(mid, 0)
                    .is_some_and(|at| at.with_timezone(&tz).naive_local() >= wall);
                if reached {
                    after = mid;
                } else {
                    before = mid;
                }
            }
            return DateTime::from_timestamp(after, 0);
        }
    }
    None
}

#[cfg(test)]
mod tests;
