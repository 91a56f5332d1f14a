//! The forward look: the invoices open today played forward day by day, once through the
//! tenant's active version and once through a candidate, and the two ladders compared.
//!
//! Nothing is written. The play starts from what the store holds today: each invoice's
//! context (its history, customer, other overdue invoices, the tenant's params) and its
//! ladder state (next review, pause, ended), read as the sweep reads them. Each side then
//! keeps its own copy of that state in memory and, for every day of the window, asks its
//! version about the invoices due that day (by the sweep's rule), guards the answers as the
//! sweep does ([`crate::candidate::answer`]) and plays them out:
//! - nobody pays: a notice and any other action counts as delivered, a payment retry is
//!   declined (one more failed attempt);
//! - a closure takes the invoice out of play (and out of its customer's other overdue
//!   invoices); a decision without a review date ends the ladder; a pause holds the
//!   invoice until its day; a failure is asked again the next day;
//! - actions the guardrails drop are not played, and enter the history as blocked, as the
//!   log shows them.
//!
//! Both sides ask their version about every invoice of the window, whatever version the
//! store has pinned its ladder to, so the comparison is between the two versions alone.
//!
//! Two ladders **agree** when they took the same actions on the same days. A differing
//! ladder's **direction**: the candidate escalates first (or alone): `earlier-escalation`;
//! the baseline does: `later-escalation`; otherwise more or fewer notices over the window;
//! otherwise `other`. **Money**: each differing invoice's open balance today, by direction
//! and currency.

use std::collections::{BTreeMap, HashMap};

use chrono::Days;
use dunlin_core::guardrails::OperatorLimits;
use dunlin_core::text::truncate;
use dunlin_core::{
    Action, ActionKind, ActionOutcome, CollectionFailure, Context, Date, DeclineKind, Money,
    OtherOverdue, PastAction,
};
use dunlin_runtime::{CallLimits, LoadedPolicy, Runtime};
use dunlin_store::{Db, DueQuery, DunningState, TenantId};
use serde::{Deserialize, Serialize};

use crate::backtest::{tenant_rules, BacktestError};
use crate::candidate::{answer, Workers};
use crate::compare::{money_lines, segment, Direction, MoneyLine, Outcome, Side, REASON_BYTES};

/// The longest window a forward look plays.
pub const MAX_DAYS: u32 = 366;
/// The most invoices a forward look plays: both sides hold their state in memory.
pub const MAX_INVOICES: usize = 200_000;
/// The most steps of one ladder a report lists per side.
const MAX_STEPS: usize = 40;
/// Invoices read per page from the store.
const PAGE: u32 = 2000;

/// What to play forward.
#[derive(Clone, Debug)]
pub struct ForwardOptions {
    /// The candidate: one of the tenant's stored policy versions.
    pub version: u32,
    /// The first day played (normally today).
    pub start: Date,
    /// Days played, `start` included (1..=[`MAX_DAYS`]).
    pub days: u32,
    /// Threads deciding in parallel, per side.
    pub workers: usize,
    /// The operator's bounds, against which the tenant's guardrails are checked.
    pub limits: OperatorLimits,
    /// Differing ladders listed in the report (all are counted).
    pub listed: usize,
}

impl ForwardOptions {
    /// `days` days from `start`, one worker per core, the default limits.
    pub fn new(version: u32, start: Date, days: u32) -> Self {
        ForwardOptions {
            version,
            start,
            days,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: OperatorLimits::default(),
            listed: crate::compare::DEFAULT_LISTED,
        }
    }
}

/// A forward look's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ForwardReport {
    /// The tenant.
    pub tenant: String,
    /// The baseline: the tenant's active version.
    pub baseline_version: u32,
    /// Its component's sha256.
    pub baseline_sha256: String,
    /// The candidate version.
    pub version: u32,
    /// Its component's sha256.
    pub sha256: String,
    /// The first day played.
    pub start: Date,
    /// Days played.
    pub days: u32,
    /// Invoices in play (open, due for review within the window).
    pub invoices: u64,
    /// Invoices whose two ladders differ.
    pub invoices_differing: u64,
    /// Decisions each side made over the window: baseline, candidate.
    pub decisions: (u64, u64),
    /// Differing ladders by direction.
    pub directions: BTreeMap<Direction, u64>,
    /// Open balance (today's) of the differing ladders, by direction and currency.
    pub money: Vec<MoneyLine>,
    /// What the baseline did over the window.
    pub baseline: Side,
    /// What the candidate did over the window.
    pub candidate: Side,
    /// Differing ladders, side by side (up to the listing's size).
    pub ladders: Vec<LadderDiff>,
    /// Differing ladders counted but not listed.
    pub ladders_not_listed: u64,
}

/// One invoice whose ladders differ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LadderDiff {
    /// The invoice.
    pub invoice_id: String,
    /// Its customer.
    pub customer_id: String,
    /// The customer's segment (tags).
    pub segment: String,
    /// The open balance today.
    pub open_balance: Money,
    /// Which way the candidate's ladder differs.
    pub direction: Direction,
    /// The baseline's steps (days with actions or failures), oldest first.
    pub baseline: Vec<Step>,
    /// The candidate's steps.
    pub candidate: Vec<Step>,
    /// Where the baseline's ladder stands at the end of the window.
    pub baseline_end: String,
    /// Where the candidate's ladder stands at the end of the window.
    pub candidate_end: String,
}

/// A day on which a ladder did something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Step {
    /// The day.
    pub on: Date,
    /// The actions taken, in host words, or the failure.
    pub what: String,
    /// The policy's reason (bounded).
    pub reason: String,
}

/// One invoice as one side plays it (ladder `i` plays invoice `i` of the [`Play`]).
#[derive(Clone)]
struct Ladder {
    /// The first day it is due for review, if it is still in play.
    next_review: Option<Date>,
    paused_until: Option<Date>,
    closed: bool,
    history: Vec<PastAction>,
    failed_attempts: u32,
    last_failure: Option<CollectionFailure>,
    steps: Vec<Step>,
    notices: u32,
    first_escalation: Option<Date>,
}

/// What both sides share: the invoices as the store gave them.
struct Play {
    invoices: Vec<Context>,
    /// Each invoice's customer's other overdue invoices that are not in play (their next
    /// review lies beyond the window), per invoice: they count toward `other-overdue` on
    /// every day.
    outside: Vec<OtherOverdue>,
    /// The invoices in play per customer.
    by_customer: HashMap<String, Vec<usize>>,
}

impl Play {
    /// `other-overdue` of invoice `i` on `day`, as `ladders` stand.
    fn other_overdue(&self, ladders: &[Ladder], i: usize, day: Date) -> OtherOverdue {
        let me = &self.invoices[i];
        let mut other = self.outside[i];
        for &j in &self.by_customer[&me.customer.id] {
            let them = &self.invoices[j];
            if j != i
                && !ladders[j].closed
                && them.invoice.due_on < day
                && them.invoice.amount.currency == me.invoice.amount.currency
            {
                other.count += 1;
                other.total_minor = other
                    .total_minor
                    .saturating_add(them.invoice.open_balance.minor);
            }
        }
        other
    }
}

/// Plays the tenant's open invoices forward `opts.days` days through its active version and
/// through `opts.version`, and compares the ladders. `progress` is called after each day with
/// the days done.
pub async fn forward(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    opts: &ForwardOptions,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<ForwardReport, BacktestError> {
    if !(1..=MAX_DAYS).contains(&opts.days) {
        return Err(BacktestError::Days {
            days: opts.days,
            max: MAX_DAYS,
        });
    }
    let (t, rules) = tenant_rules(db, tenant, &opts.limits).await?;
    let active = db
        .active_policy(tenant)
        .await?
        .ok_or_else(|| BacktestError::NoActiveVersion(tenant.as_str().to_owned()))?;
    let baseline_version = active.version.version;
    // Under the tenant's own sandbox limits, as the sweep runs its versions.
    let limits = runtime.limits().for_tenant(&t.settings.sandbox);
    let baseline = load(runtime, baseline_version, &active.bytes, limits)?;
    let blob = db.policy_blob(tenant, opts.version).await?.ok_or_else(|| {
        BacktestError::UnknownVersion {
            tenant: tenant.as_str().to_owned(),
            version: opts.version,
        }
    })?;
    let candidate = load(runtime, opts.version, &blob.bytes, limits)?;

    let last = add_days(opts.start, opts.days - 1);
    let (play, ladders) = read_open(db, tenant, last, t.settings.lead_days).await?;
    let (baseline_sha256, sha256) = (
        baseline.info().sha256.clone(),
        candidate.info().sha256.clone(),
    );
    // The play is all computation: one blocking task, reporting each day done.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (start, days, workers) = (opts.start, opts.days, opts.workers);
    let task = tokio::task::spawn_blocking(move || {
        let mut sides = [
            (
                Workers::new(&baseline, workers),
                ladders.clone(),
                Side::default(),
                0u64,
            ),
            (
                Workers::new(&candidate, workers),
                ladders,
                Side::default(),
                0u64,
            ),
        ];
        let mut day = start;
        for done in 1..=u64::from(days) {
            for (workers, ladders, tally, decisions) in &mut sides {
                let due = due_on(ladders, day);
                let contexts: Vec<Context> = due
                    .iter()
                    .map(|&i| context(&play, ladders, i, day))
                    .collect();
                let answers = workers.map(&contexts, |policy, ctx| answer(policy, ctx, &rules));
                for (&i, o) in due.iter().zip(&answers) {
                    tally.add(o);
                    play_out(&mut ladders[i], o, day);
                }
                *decisions += answers.len() as u64;
            }
            // The receiver is gone only when the caller stopped waiting.
            let _ = tx.send(done);
            day = add_days(day, 1);
        }
        (
            play,
            sides.map(|(_, ladders, tally, decisions)| (ladders, tally, decisions)),
        )
    });
    while let Some(done) = rx.recv().await {
        progress(done);
    }
    let (play, [(base, baseline_side, b_decisions), (cand, candidate_side, c_decisions)]) = task
        .await
        .map_err(|e| BacktestError::Worker(e.to_string()))?;
    let mut report = ForwardReport {
        tenant: tenant.as_str().to_owned(),
        baseline_version,
        baseline_sha256,
        version: opts.version,
        sha256,
        start: opts.start,
        days: opts.days,
        invoices: play.invoices.len() as u64,
        invoices_differing: 0,
        decisions: (b_decisions, c_decisions),
        directions: BTreeMap::new(),
        money: Vec::new(),
        baseline: baseline_side,
        candidate: candidate_side,
        ladders: Vec::new(),
        ladders_not_listed: 0,
    };
    compare(&play, &base, &cand, last, opts.listed, &mut report);
    Ok(report)
}

fn load(
    runtime: &Runtime,
    version: u32,
    bytes: &[u8],
    limits: CallLimits,
) -> Result<LoadedPolicy, BacktestError> {
    runtime
        .load_with(bytes, limits)
        .map_err(|source| BacktestError::Policy { version, source })
}

fn add_days(day: Date, n: u32) -> Date {
    day.checked_add_days(Days::new(n.into())).unwrap_or(day)
}

/// Every open invoice of the tenant due for review by `last` (the window's last day), with
/// its context and its ladder's starting state.
async fn read_open(
    db: &dyn Db,
    tenant: &TenantId,
    last: Date,
    lead_days: u32,
) -> Result<(Play, Vec<Ladder>), BacktestError> {
    let mut query = DueQuery {
        limit: PAGE,
        ..DueQuery::new(last)
    };
    let mut invoices = Vec::new();
    let mut ladders = Vec::new();
    loop {
        let page = db.due_for_review(tenant, &query).await?;
        for due in page.invoices {
            if invoices.len() == MAX_INVOICES {
                return Err(BacktestError::TooManyInvoices(MAX_INVOICES));
            }
            ladders.push(Ladder::starting(
                &due.context,
                due.state.as_ref(),
                lead_days,
            ));
            invoices.push(*due.context);
        }
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    let mut by_customer: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, ctx) in invoices.iter().enumerate() {
        by_customer
            .entry(ctx.customer.id.clone())
            .or_default()
            .push(i);
    }
    // The store counted every open invoice overdue on `last`, the ones in play included:
    // those are counted day by day instead.
    let outside = invoices
        .iter()
        .enumerate()
        .map(|(i, me)| {
            let mut other = me.other_overdue;
            for &j in &by_customer[&me.customer.id] {
                let them = &invoices[j].invoice;
                if j != i
                    && them.due_on < last
                    && them.amount.currency == me.invoice.amount.currency
                {
                    other.count = other.count.saturating_sub(1);
                    other.total_minor = (other.total_minor - them.open_balance.minor).max(0);
                }
            }
            other
        })
        .collect();
    let play = Play {
        invoices,
        outside,
        by_customer,
    };
    Ok((play, ladders))
}

impl Ladder {
    fn starting(ctx: &Context, state: Option<&DunningState>, lead_days: u32) -> Self {
        let (next_review, paused_until) = match state {
            // Never reviewed: due from `lead_days` before its due date.
            None => (
                ctx.invoice
                    .due_on
                    .checked_sub_days(Days::new(lead_days.into())),
                None,
            ),
            Some(s) if s.ended => (None, None),
            Some(s) => (s.next_review_on, s.paused_until),
        };
        Ladder {
            next_review,
            paused_until,
            closed: false,
            history: ctx.history.clone(),
            failed_attempts: ctx.invoice.failed_attempts,
            last_failure: ctx.invoice.last_failure.clone(),
            steps: Vec::new(),
            notices: 0,
            first_escalation: None,
        }
    }

    /// Due for review on `day`, by the sweep's rule.
    fn is_due(&self, day: Date) -> bool {
        !self.closed
            && self.next_review.is_some_and(|r| r <= day)
            && self.paused_until.is_none_or(|p| p <= day)
    }

    /// Where the ladder stands at the end of the window.
    fn end(&self, last: Date) -> String {
        match (self.closed, self.next_review) {
            (true, _) => "closed".to_owned(),
            (false, None) => "ladder ended".to_owned(),
            (false, Some(r)) if r > last => format!("open, next review {r}"),
            (false, Some(_)) => "open".to_owned(),
        }
    }
}

fn due_on(ladders: &[Ladder], day: Date) -> Vec<usize> {
    (0..ladders.len())
        .filter(|&i| ladders[i].is_due(day))
        .collect()
}

/// Invoice `i`'s context on `day`, as this side's play has left it.
fn context(play: &Play, ladders: &[Ladder], i: usize, day: Date) -> Context {
    let l = &ladders[i];
    let mut ctx = play.invoices[i].clone();
    ctx.as_of = day;
    ctx.history = l.history.clone();
    ctx.invoice.failed_attempts = l.failed_attempts;
    ctx.invoice.last_failure = l.last_failure.clone();
    ctx.other_overdue = play.other_overdue(ladders, i, day);
    ctx
}

/// Plays one guarded answer out on the ladder.
fn play_out(l: &mut Ladder, o: &Outcome, day: Date) {
    let Some(decision) = &o.decision else {
        l.next_review = day.succ_opt();
        l.steps.push(Step {
            on: day,
            what: format!("failed: {}", o.failure.as_deref().unwrap_or("unknown")),
            reason: String::new(),
        });
        return;
    };
    l.next_review = decision.review_on;
    for action in &decision.actions {
        let mut past = past(action, day, ActionOutcome::Delivered);
        match action {
            Action::Notify(_) => l.notices += 1,
            Action::RetryPayment(_) => {
                past.outcome = ActionOutcome::Declined;
                l.failed_attempts += 1;
                let (code, kind) = l
                    .last_failure
                    .as_ref()
                    .map_or(("declined".to_owned(), DeclineKind::Soft), |f| {
                        (f.code.clone(), f.kind)
                    });
                l.last_failure = Some(CollectionFailure {
                    on: day,
                    code,
                    kind,
                });
            }
            Action::Pause(p) => {
                l.paused_until = Some(p.until);
                l.next_review = l.next_review.map(|r| r.max(p.until));
            }
            Action::Escalate(_) => {
                l.first_escalation.get_or_insert(day);
            }
            Action::Close(_) => l.closed = true,
        }
        l.history.push(past);
    }
    // As the log shows them: blocked, at the end of the day's actions.
    for action in &o.dropped {
        l.history.push(past(action, day, ActionOutcome::Blocked));
    }
    if !decision.actions.is_empty() {
        let what: Vec<String> = decision.actions.iter().map(ToString::to_string).collect();
        l.steps.push(Step {
            on: day,
            what: what.join(", "),
            reason: truncate(&decision.reason, REASON_BYTES).into_owned(),
        });
    }
}

/// An action taken (or blocked) on `day`, as the next day's history shows it.
fn past(action: &Action, day: Date, outcome: ActionOutcome) -> PastAction {
    let (kind, notice) = match action {
        Action::Notify(n) => (ActionKind::Notify, Some(n)),
        Action::RetryPayment(_) => (ActionKind::RetryPayment, None),
        Action::Pause(_) => (ActionKind::Pause, None),
        Action::Escalate(_) => (ActionKind::Escalate, None),
        Action::Close(_) => (ActionKind::Close, None),
    };
    PastAction {
        on: day,
        kind,
        level: notice.map(|n| n.level),
        channel: notice.map(|n| n.channel),
        tone: notice.map(|n| n.tone),
        outcome,
    }
}

/// Which way the candidate's ladder differs from the baseline's.
fn direction(b: &Ladder, c: &Ladder) -> Direction {
    match (b.first_escalation, c.first_escalation) {
        (None, Some(_)) => return Direction::EarlierEscalation,
        (Some(_), None) => return Direction::LaterEscalation,
        (Some(x), Some(y)) if y < x => return Direction::EarlierEscalation,
        (Some(x), Some(y)) if y > x => return Direction::LaterEscalation,
        _ => {}
    }
    match c.notices.cmp(&b.notices) {
        std::cmp::Ordering::Greater => Direction::MoreContacts,
        std::cmp::Ordering::Less => Direction::FewerContacts,
        std::cmp::Ordering::Equal => Direction::Other,
    }
}

fn compare(
    play: &Play,
    base: &[Ladder],
    cand: &[Ladder],
    last: Date,
    listed: usize,
    r: &mut ForwardReport,
) {
    let mut money: BTreeMap<(Direction, dunlin_core::Currency), (u64, i64)> = BTreeMap::new();
    let mut customers: HashMap<&str, (u32, u32)> = HashMap::new();
    for ((b, c), ctx) in base.iter().zip(cand).zip(&play.invoices) {
        let notices = customers.entry(ctx.customer.id.as_str()).or_default();
        notices.0 += b.notices;
        notices.1 += c.notices;
        let same = b.steps.len() == c.steps.len()
            && b.steps
                .iter()
                .zip(&c.steps)
                .all(|(x, y)| (x.on, &x.what) == (y.on, &y.what));
        if same && b.closed == c.closed && b.next_review == c.next_review {
            continue;
        }
        let direction = direction(b, c);
        r.invoices_differing += 1;
        *r.directions.entry(direction).or_default() += 1;
        let line = money
            .entry((direction, ctx.invoice.open_balance.currency))
            .or_default();
        line.0 += 1;
        line.1 = line.1.saturating_add(ctx.invoice.open_balance.minor);
        if r.ladders.len() < listed {
            let steps = |l: &Ladder| l.steps.iter().take(MAX_STEPS).cloned().collect();
            r.ladders.push(LadderDiff {
                invoice_id: truncate(&ctx.invoice.id, 64).into_owned(),
                customer_id: truncate(&ctx.customer.id, 64).into_owned(),
                segment: segment(ctx),
                open_balance: ctx.invoice.open_balance,
                direction,
                baseline: steps(b),
                candidate: steps(c),
                baseline_end: b.end(last),
                candidate_end: c.end(last),
            });
        } else {
            r.ladders_not_listed += 1;
        }
    }
    r.money = money_lines(money);
    for (b, c) in customers.into_values() {
        *r.baseline.notices_per_customer.entry(b).or_default() += 1;
        *r.candidate.notices_per_customer.entry(c).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dunlin_core::{Channel, Decision, Notice, Tone};

    fn ladder() -> Ladder {
        Ladder {
            next_review: None,
            paused_until: None,
            closed: false,
            history: Vec::new(),
            failed_attempts: 1,
            last_failure: None,
            steps: Vec::new(),
            notices: 0,
            first_escalation: None,
        }
    }

    fn notice(level: u8) -> Action {
        Action::Notify(Notice {
            level,
            channel: Channel::Sms,
            tone: Tone::Firm,
            template: "t".into(),
            vars: BTreeMap::new(),
        })
    }

    #[test]
    fn a_played_answer_enters_the_history_as_the_log_would_show_it() {
        let day = Date::from_ymd_opt(2026, 3, 1).expect("a day");
        let mut l = ladder();
        let decided = Outcome {
            dropped: vec![notice(3)],
            ..Outcome::decided(
                Decision {
                    segment: "s".into(),
                    actions: vec![
                        notice(2),
                        Action::RetryPayment(dunlin_core::Retry { reason: "r".into() }),
                    ],
                    review_on: day.succ_opt(),
                    reason: "because".into(),
                },
                Vec::new(),
            )
        };
        play_out(&mut l, &decided, day);
        let seen: Vec<(ActionKind, Option<u8>, ActionOutcome)> = l
            .history
            .iter()
            .map(|h| (h.kind, h.level, h.outcome))
            .collect();
        assert_eq!(
            seen,
            [
                (ActionKind::Notify, Some(2), ActionOutcome::Delivered),
                (ActionKind::RetryPayment, None, ActionOutcome::Declined),
                (ActionKind::Notify, Some(3), ActionOutcome::Blocked),
            ]
        );
        assert_eq!(l.history[2].channel, Some(Channel::Sms));
        // Nobody pays: the retry is one more failed attempt, the notice counted as sent.
        assert_eq!((l.failed_attempts, l.notices), (2, 1));
        assert_eq!(l.next_review, day.succ_opt());
        assert_eq!(l.steps.len(), 1);

        // A failure is asked again the next day; a closure ends the play.
        play_out(&mut l, &Outcome::failed("out-of-fuel"), day);
        assert_eq!(l.steps[1].what, "failed: out-of-fuel");
        assert!(l.is_due(day.succ_opt().expect("a day")));
        let close = Outcome::decided(
            Decision {
                segment: "s".into(),
                actions: vec![Action::Close(dunlin_core::Closure {
                    write_off: true,
                    reason: "r".into(),
                })],
                review_on: None,
                reason: "done".into(),
            },
            Vec::new(),
        );
        play_out(&mut l, &close, day);
        assert!(l.closed && !l.is_due(day.succ_opt().expect("a day")));
        assert_eq!(l.end(day), "closed");
    }
}
