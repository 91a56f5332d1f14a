//! Playing a book of invoices through a policy day by day, with scripted customer behaviour,
//! to see the ladders a policy produces before it goes near real customers.
//!
//! The simulation has no guardrails and no delivery: it shows what the policy asks for. A
//! notice counts as delivered; payments happen as each customer's behaviour script says.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Action, ActionKind, ActionOutcome, CollectionFailure, Context, Customer, Date, DeclineKind,
    EscalationKind, Invoice, Money, OtherOverdue, PastAction, PaymentMethod, Policy,
};

/// A book of customers and invoices with behaviour scripts (`examples/book.json`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Book {
    /// What the book is.
    #[serde(default)]
    pub name: String,
    /// The first simulated day.
    pub start: Date,
    /// Tenant parameters given to the policy.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The customers.
    pub customers: Vec<BookCustomer>,
    /// Their invoices.
    pub invoices: Vec<BookInvoice>,
}

/// A customer and how they behave.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BookCustomer {
    /// A display name for timelines.
    pub name: String,
    /// The customer as a policy sees them.
    pub profile: Customer,
    /// How they react to dunning.
    #[serde(default)]
    pub behaviour: Behaviour,
}

/// How a customer reacts. With nothing set, they never pay.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Behaviour {
    /// Pays `delay-days` after receiving this many notices about an invoice.
    #[serde(default)]
    pub pays_after_notices: Option<u32>,
    /// Days between the deciding notice and the payment.
    #[serde(default = "two")]
    pub delay_days: u32,
    /// The n-th payment retry succeeds (soft declines only).
    #[serde(default)]
    pub retry_succeeds_on: Option<u32>,
    /// Opens a dispute on this date.
    #[serde(default)]
    pub disputes_on: Option<Date>,
}

fn two() -> u32 {
    2
}

/// An invoice in the book.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BookInvoice {
    /// The tenant's id.
    pub id: String,
    /// The printed number.
    pub number: String,
    /// The customer's id.
    pub customer: String,
    /// Date of issue.
    pub issued_on: Date,
    /// Due date.
    pub due_on: Date,
    /// The amount.
    pub amount: Money,
    /// How it is meant to be paid.
    pub payment_method: PaymentMethod,
    /// The automatic collection on the due date failed like this.
    #[serde(default)]
    pub failure: Option<BookFailure>,
}

/// A failed automatic collection in the book.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BookFailure {
    /// The decline code.
    pub code: String,
    /// Soft or hard.
    pub kind: DeclineKind,
}

/// A book that does not hang together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BookError {
    /// An invoice names a customer the book does not have.
    #[error("invoice {invoice} names unknown customer {customer}")]
    UnknownCustomer {
        /// The invoice.
        invoice: String,
        /// The customer id it names.
        customer: String,
    },
    /// Two invoices share an id.
    #[error("invoice id {0} appears twice")]
    DuplicateInvoice(String),
}

/// Where an invoice ended up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Still being dunned.
    Open,
    /// Paid on this date.
    Paid(Date),
    /// Handed to collections or legal.
    Escalated(Date),
    /// Closed by the policy (written off or not).
    Closed(Date),
    /// The policy set no further review date.
    LadderEnded(Date),
}

/// One line of a timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// When.
    pub on: Date,
    /// What happened, in words.
    pub what: String,
}

/// One invoice's story.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// The invoice id.
    pub invoice: String,
    /// The customer's display name.
    pub customer: String,
    /// Where it ended.
    pub status: Status,
    /// What happened, in order.
    pub events: Vec<Event>,
}

/// The result of a simulation.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    /// Per invoice, in book order.
    pub timelines: Vec<Timeline>,
    /// Counts of actions by a short label (`notify L2 firm email`, `retry-payment`, ...).
    pub action_counts: BTreeMap<String, u32>,
    /// Decisions made.
    pub decisions: u32,
    /// Policy failures (each retried the next day).
    pub failures: u32,
}

struct State<'b> {
    book: &'b BookInvoice,
    customer: &'b BookCustomer,
    open: bool,
    next_review: Date,
    history: Vec<PastAction>,
    notices: u32,
    retries: u32,
    failed_attempts: u32,
    last_failure: Option<CollectionFailure>,
    pays_on: Option<Date>,
    timeline: Timeline,
}

/// Plays `days` days of the book through `policy`, starting at the book's start date.
pub fn simulate(book: &Book, policy: &mut dyn Policy, days: u32) -> Result<Outcome, BookError> {
    let customers: BTreeMap<&str, &BookCustomer> = book
        .customers
        .iter()
        .map(|c| (c.profile.id.as_str(), c))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut states = Vec::with_capacity(book.invoices.len());
    for inv in &book.invoices {
        if !seen.insert(inv.id.as_str()) {
            return Err(BookError::DuplicateInvoice(inv.id.clone()));
        }
        let customer =
            customers
                .get(inv.customer.as_str())
                .ok_or_else(|| BookError::UnknownCustomer {
                    invoice: inv.id.clone(),
                    customer: inv.customer.clone(),
                })?;
        states.push(State {
            book: inv,
            customer,
            open: true,
            next_review: inv.issued_on.max(book.start),
            history: Vec::new(),
            notices: 0,
            retries: 0,
            failed_attempts: 0,
            last_failure: None,
            pays_on: None,
            timeline: Timeline {
                invoice: inv.id.clone(),
                customer: customer.name.clone(),
                status: Status::Open,
                events: Vec::new(),
            },
        });
    }

    let mut outcome = Outcome::default();
    for day in book.start.iter_days().take(days as usize) {
        for i in 0..states.len() {
            step(book, &mut states, i, day, policy, &mut outcome);
        }
    }
    outcome.timelines = states.into_iter().map(|s| s.timeline).collect();
    Ok(outcome)
}

fn step(
    book: &Book,
    states: &mut [State<'_>],
    i: usize,
    day: Date,
    policy: &mut dyn Policy,
    outcome: &mut Outcome,
) {
    let other_overdue = other_overdue(states, i, day);
    let s = &mut states[i];
    if !s.open {
        return;
    }
    let event = |s: &mut State<'_>, what: String| s.timeline.events.push(Event { on: day, what });
    if s.pays_on.is_some_and(|d| d <= day) {
        settle(s, Status::Paid(day));
        event(s, format!("customer paid {}", s.book.amount));
        return;
    }
    if let Some(failure) = &s.book.failure {
        if day >= s.book.due_on && s.failed_attempts == 0 {
            s.failed_attempts = 1;
            s.last_failure = Some(CollectionFailure {
                on: day,
                code: failure.code.clone(),
                kind: failure.kind,
            });
            event(s, format!("automatic collection failed: {}", failure.code));
        }
    }
    if s.next_review > day {
        return;
    }
    let ctx = context(book, s, day, other_overdue);
    match policy.decide(&ctx) {
        Err(failure) => {
            outcome.failures += 1;
            s.next_review = day.succ_opt().unwrap_or(day);
            event(s, format!("policy failed ({failure}); retrying tomorrow"));
        }
        Ok(decision) => {
            outcome.decisions += 1;
            s.next_review = decision.review_on.unwrap_or(Date::MAX);
            let mut done = decision
                .review_on
                .is_none()
                .then_some(Status::LadderEnded(day));
            let mut said = Vec::new();
            for action in &decision.actions {
                let past = apply(s, action, day, &mut done);
                *outcome.action_counts.entry(action.to_string()).or_default() += 1;
                said.push(match action {
                    Action::Notify(n) => format!("{action} ({})", n.template),
                    _ => action.to_string(),
                });
                s.history.push(past);
            }
            let actions = if said.is_empty() {
                "wait".to_owned()
            } else {
                said.join(", ")
            };
            event(
                s,
                format!("[{}] {actions}: {}", decision.segment, decision.reason),
            );
            if let Some(status) = done {
                settle(s, status);
            }
        }
    }
}

/// Applies one action to the simulated world; returns its history entry.
fn apply(s: &mut State<'_>, action: &Action, day: Date, done: &mut Option<Status>) -> PastAction {
    let mut past = PastAction {
        on: day,
        kind: ActionKind::Notify,
        level: None,
        channel: None,
        tone: None,
        outcome: ActionOutcome::Delivered,
    };
    match action {
        Action::Notify(n) => {
            s.notices += 1;
            past.level = Some(n.level);
            past.channel = Some(n.channel);
            past.tone = Some(n.tone);
            let behaviour = &s.customer.behaviour;
            if behaviour.pays_after_notices == Some(s.notices) && s.pays_on.is_none() {
                s.pays_on = day.checked_add_days(chrono::Days::new(behaviour.delay_days.into()));
            }
        }
        Action::RetryPayment(_) => {
            s.retries += 1;
            past.kind = ActionKind::RetryPayment;
            let soft = s
                .last_failure
                .as_ref()
                .is_none_or(|f| f.kind == DeclineKind::Soft);
            if soft && s.customer.behaviour.retry_succeeds_on == Some(s.retries) {
                past.outcome = ActionOutcome::Succeeded;
                s.pays_on = Some(day);
                *done = Some(Status::Paid(day));
            } else {
                past.outcome = ActionOutcome::Declined;
                s.failed_attempts += 1;
                if let Some(f) = &mut s.last_failure {
                    f.on = day;
                }
            }
        }
        Action::Pause(p) => {
            past.kind = ActionKind::Pause;
            s.next_review = p.until;
        }
        Action::Escalate(e) => {
            past.kind = ActionKind::Escalate;
            if matches!(e.kind, EscalationKind::Collections | EscalationKind::Legal) {
                *done = Some(Status::Escalated(day));
            }
        }
        Action::Close(_) => {
            past.kind = ActionKind::Close;
            *done = Some(Status::Closed(day));
        }
    }
    past
}

fn settle(s: &mut State<'_>, status: Status) {
    s.open = false;
    s.timeline.status = status;
}

fn other_overdue(states: &[State<'_>], i: usize, day: Date) -> OtherOverdue {
    let me = &states[i];
    let others = states.iter().enumerate().filter(|(j, s)| {
        *j != i
            && s.open
            && s.book.customer == me.book.customer
            && s.book.due_on < day
            && s.book.amount.currency == me.book.amount.currency
    });
    others.fold(OtherOverdue::default(), |acc, (_, s)| OtherOverdue {
        count: acc.count + 1,
        total_minor: acc.total_minor.saturating_add(s.book.amount.minor),
    })
}

fn context(book: &Book, s: &State<'_>, day: Date, other_overdue: OtherOverdue) -> Context {
    let inv = s.book;
    let disputed = s.customer.behaviour.disputes_on.is_some_and(|d| d <= day);
    Context {
        as_of: day,
        invoice: Invoice {
            id: inv.id.clone(),
            number: inv.number.clone(),
            issued_on: inv.issued_on,
            due_on: inv.due_on,
            amount: inv.amount,
            open_balance: inv.amount,
            payment_method: inv.payment_method,
            failed_attempts: s.failed_attempts,
            last_failure: s.last_failure.clone(),
            disputed,
            on_payment_plan: false,
            metadata: BTreeMap::new(),
        },
        customer: s.customer.profile.clone(),
        history: s.history.clone(),
        other_overdue,
        params: book.params.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channel, Decision, Notice, PolicyFailure, Tone};

    /// Sends a level-n notice every 7 days from the due date, escalates after level 3.
    struct Ladder;

    impl Policy for Ladder {
        fn decide(&mut self, ctx: &Context) -> Result<Decision, PolicyFailure> {
            let sent = ctx.history.len() as u8;
            let due = ctx.days_overdue() >= 7 * i64::from(sent + 1);
            let next = ctx.as_of.succ_opt();
            let actions = match (due, sent) {
                (false, _) => vec![],
                (true, 3) => vec![Action::Escalate(crate::Escalation {
                    kind: EscalationKind::Collections,
                    reason: "three notices unanswered".into(),
                })],
                (true, n) => vec![Action::Notify(Notice {
                    level: n + 1,
                    channel: Channel::Email,
                    tone: Tone::Firm,
                    template: "t".into(),
                    vars: BTreeMap::new(),
                })],
            };
            Ok(Decision {
                segment: "all".into(),
                actions,
                review_on: next,
                reason: "test ladder".into(),
            })
        }
    }

    fn book(behaviour: &str) -> Book {
        serde_json::from_str(&format!(
            r#"{{"start": "2026-01-01",
                "customers": [{{"name": "A", "behaviour": {behaviour},
                  "profile": {{"id": "c1", "lifetime-value": {{"minor": 0, "currency": "EUR"}},
                               "customer-since": "2020-01-01"}}}}],
                "invoices": [{{"id": "i1", "number": "1", "customer": "c1",
                  "issued-on": "2025-12-01", "due-on": "2026-01-01",
                  "amount": {{"minor": 5000, "currency": "EUR"}},
                  "payment-method": "bank-transfer"}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_silent_customer_walks_the_whole_ladder() {
        let out = simulate(&book("{}"), &mut Ladder, 60).unwrap();
        let t = &out.timelines[0];
        assert_eq!(t.status, Status::Escalated("2026-01-29".parse().unwrap()));
        assert_eq!(out.action_counts.values().sum::<u32>(), 4);
    }

    #[test]
    fn a_customer_who_pays_after_the_second_notice_stops_the_ladder() {
        let out = simulate(
            &book(r#"{"pays-after-notices": 2, "delay-days": 3}"#),
            &mut Ladder,
            60,
        )
        .unwrap();
        assert_eq!(
            out.timelines[0].status,
            Status::Paid("2026-01-18".parse().unwrap())
        );
    }

    #[test]
    fn an_invoice_of_an_unknown_customer_is_refused() {
        let mut b = book("{}");
        b.invoices[0].customer = "nobody".into();
        assert_eq!(
            simulate(&b, &mut Ladder, 1).unwrap_err(),
            BookError::UnknownCustomer {
                invoice: "i1".into(),
                customer: "nobody".into()
            }
        );
    }
}
