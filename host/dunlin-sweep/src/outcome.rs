//! From a policy's answer to what is recorded: failure mode, guardrails, new ladder state.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Days;
use dunlin_core::guardrails::{self, ContactCounts, GuardrailSettings, InvoiceFacts};
use dunlin_core::{Action, Context, Decision, Notice, PolicyFailure, Tone};
use dunlin_store::trial::ShadowOutcome;
use dunlin_store::{
    ActionStatus, DunningState, FailureMode, FailureRecord, Outcome, PlannedAction, PolicyRef,
};

use crate::decide::{Attempt, Decided};
use crate::Versions;

/// Notices this sweep has let through so far, per customer. Pages are selected while earlier
/// pages are still being written, so the contacts a page was selected with may or may not
/// include this sweep's own: the tally counts those, and [`counts`] leaves them out of the
/// stored ones, so each is counted once either way.
#[derive(Default)]
pub(crate) struct Tally(HashMap<String, Sent>);

/// One customer's notices in this sweep.
#[derive(Default)]
struct Sent {
    notices: u32,
    invoices: HashSet<String>,
}

pub(crate) struct Built {
    pub(crate) outcome: Outcome,
    /// The stable code of the policy's failure, if it failed (whatever the failure mode then
    /// did).
    pub(crate) failure_code: Option<&'static str>,
    pub(crate) blocked: usize,
    /// The shadow version's answer, guarded as the live one but recorded apart.
    pub(crate) shadow: Option<ShadowOutcome>,
}

/// The decision used when the policy failed and the tenant chose `safe-default`: one neutral
/// reminder at the current level by e-mail if nothing went out in the last seven days,
/// otherwise wait a week. The guardrails still apply to it.
pub fn safe_default(ctx: &Context, level: u8) -> Decision {
    let week = ctx.as_of.checked_add_days(Days::new(7));
    let recent = ctx.history.iter().any(|h| {
        h.kind == dunlin_core::ActionKind::Notify
            && ctx.as_of.signed_duration_since(h.on).num_days() < 7
    });
    let actions = if recent || ctx.days_overdue() <= 0 {
        vec![]
    } else {
        vec![Action::Notify(Notice {
            level: level.clamp(1, dunlin_core::MAX_LEVEL),
            channel: dunlin_core::Channel::Email,
            tone: Tone::Neutral,
            template: "reminder-neutral".into(),
            vars: BTreeMap::new(),
        })]
    };
    Decision {
        segment: "safe-default".into(),
        actions,
        review_on: week,
        reason: "the policy failed; the host's safe default applies".into(),
    }
}

/// What the log records of a policy call, apart from its answer.
#[derive(Clone, Copy)]
struct Call {
    version: u32,
    fuel_used: u64,
    elapsed: std::time::Duration,
}

impl Call {
    fn of(a: &Attempt) -> Self {
        Call {
            version: a.version,
            fuel_used: a.report.fuel_used,
            elapsed: a.report.elapsed,
        }
    }
}

pub(crate) fn build(
    mode: &FailureMode,
    settings: &GuardrailSettings,
    versions: &Versions,
    d: Decided,
    tally: &mut Tally,
) -> Built {
    let Decided {
        due,
        pinned,
        first,
        fallback,
        shadow,
    } = d;
    let ctx = due.context;
    let receipt = due.receipt;
    let prev = due.state.unwrap_or_default();
    // Before the live decision counts its notices: the shadow version is guarded against
    // the same contacts the live one was.
    let shadow = shadow.map(|a| shadow_outcome(settings, &ctx, &due.contacts, tally, a));
    let policy_ref = |version: u32| PolicyRef {
        version,
        sha256: versions.loaded[&version].policy.info().sha256.clone(),
    };
    let (first_call, first_failure) = (
        Call::of(&first),
        first.report.outcome.as_ref().err().cloned(),
    );

    // Which answer counts, by the failure mode. The answers are moved, not copied.
    let (used, decision, note) = match (first.report.outcome, mode) {
        (Ok(decision), _) => (first_call, Some(decision), None),
        (Err(_), FailureMode::PreviousVersion) => match fallback {
            Some(a) => {
                let call = Call::of(&a);
                match a.report.outcome {
                    Ok(decision) => (
                        call,
                        Some(decision),
                        Some(format!(
                            "version {} failed; version {} decided",
                            pinned, a.version
                        )),
                    ),
                    Err(_) => (first_call, None, None),
                }
            }
            None => (first_call, None, None),
        },
        (Err(_), FailureMode::SafeDefault) => (
            first_call,
            Some(safe_default(&ctx, prev.level)),
            Some("the host's safe default decided".to_owned()),
        ),
        (Err(_), FailureMode::RetryNextTick) => (first_call, None, None),
    };

    let mut state = DunningState {
        policy_version: Some(pinned),
        ..prev.clone()
    };
    let failure = first_failure
        .as_ref()
        .map(|f: &PolicyFailure| FailureRecord {
            code: f.code().to_owned(),
            message: failure_message(f, &first.report.log),
        });

    let Some(decision) = decision else {
        // Record the failure; look again at the next tick.
        state.next_review_on = ctx.as_of.succ_opt();
        let reason = format!(
            "policy failed ({}); retrying at the next tick",
            failure.as_ref().map_or("unknown", |f| f.code.as_str())
        );
        return Built {
            outcome: Outcome {
                policy: Some(policy_ref(first_call.version)),
                decision: None,
                reason,
                interventions: vec![],
                actions: vec![],
                fuel_used: Some(first_call.fuel_used),
                duration_us: Some(first_call.elapsed.as_micros() as u64),
                failure,
                state,
                context: ctx,
                receipt,
            },
            failure_code: first_failure.as_ref().map(PolicyFailure::code),
            blocked: 0,
            shadow,
        };
    };

    let counts = counts(&due.contacts, &ctx, tally);
    let mut guarded = guardrails::apply(settings, &ctx, &facts(&ctx), &counts, decision);

    // The outbox: the actions let through, then those blocked, as the policy asked for them.
    let mut actions: Vec<PlannedAction> = guarded
        .decision
        .actions
        .iter()
        .map(|a| PlannedAction {
            action: a.clone(),
            status: ActionStatus::Pending,
        })
        .collect();
    let blocked = guarded.dropped.len();
    actions.extend(
        std::mem::take(&mut guarded.dropped)
            .into_iter()
            .map(|action| PlannedAction {
                action,
                status: ActionStatus::Blocked,
            }),
    );

    let sent: Vec<&Notice> = guarded
        .decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(n) => Some(n),
            _ => None,
        })
        .collect();
    if !sent.is_empty() {
        let mine = tally.0.entry(ctx.customer.id.clone()).or_default();
        mine.notices += sent.len() as u32;
        mine.invoices.insert(ctx.invoice.id.clone());
    }
    state.level = sent.iter().map(|n| n.level).fold(prev.level, u8::max);
    if !guarded.decision.actions.is_empty() {
        state.last_action_on = Some(ctx.as_of);
    }
    state.next_review_on = guarded.decision.review_on;
    state.ended = guarded.decision.review_on.is_none();
    for a in &guarded.decision.actions {
        if let Action::Pause(p) = a {
            state.paused_until = Some(p.until);
            state.paused_why = Some(p.reason.clone());
            state.next_review_on = state.next_review_on.map(|r| r.max(p.until));
        }
    }

    let reason = match note {
        Some(note) => format!("{} ({note})", guarded.decision.reason),
        None => guarded.decision.reason.clone(),
    };
    Built {
        outcome: Outcome {
            // The version whose answer counts; the first one when the host's safe default
            // stood in for it.
            policy: Some(policy_ref(used.version)),
            decision: Some(guarded.decision),
            reason,
            interventions: guarded.interventions,
            actions,
            fuel_used: Some(used.fuel_used),
            duration_us: Some(used.elapsed.as_micros() as u64),
            failure,
            state,
            context: ctx,
            receipt,
        },
        failure_code: first_failure.as_ref().map(PolicyFailure::code),
        blocked,
        shadow,
    }
}

/// What the guardrails know of an invoice under review: it is open (the page selects only
/// open ones), and the context says whether it is disputed or on a plan.
fn facts(ctx: &Context) -> InvoiceFacts {
    InvoiceFacts {
        status: guardrails::InvoiceStatus::Open,
        disputed: ctx.invoice.disputed,
        plan_in_good_standing_until: ctx.invoice.on_payment_plan.then_some(ctx.as_of),
    }
}

/// The shadow version's answer as recorded: guarded like a live decision, its failure kept
/// as it is (no failure mode applies: nothing of it is acted on).
fn shadow_outcome(
    settings: &GuardrailSettings,
    ctx: &Context,
    contacts: &[dunlin_store::Contact],
    tally: &Tally,
    a: Attempt,
) -> ShadowOutcome {
    let mut out = ShadowOutcome {
        invoice_id: ctx.invoice.id.clone(),
        as_of: ctx.as_of,
        version: a.version,
        decision: None,
        reason: String::new(),
        interventions: Vec::new(),
        blocked: Vec::new(),
        fuel_used: Some(a.report.fuel_used),
        duration_us: Some(a.report.elapsed.as_micros() as u64),
        failure: None,
    };
    match a.report.outcome {
        Ok(decision) => {
            let counts = counts(contacts, ctx, tally);
            let guarded = guardrails::apply(settings, ctx, &facts(ctx), &counts, decision);
            out.reason = guarded.decision.reason.clone();
            out.decision = Some(guarded.decision);
            out.interventions = guarded.interventions;
            out.blocked = guarded.dropped;
        }
        Err(f) => {
            out.reason = format!("shadow version failed ({})", f.code());
            out.failure = Some(FailureRecord {
                code: f.code().to_owned(),
                message: failure_message(&f, &a.report.log),
            });
        }
    }
    out
}

/// Most bytes of the policy's own output kept with a failure: the end of it, where a panic
/// message is (the runtime keeps at most `Limits::log_bytes` of it per call).
const LOG_KEPT: usize = 2048;

/// The failure as recorded: what the sandbox saw and, when the policy wrote something
/// (a panic message, its own diagnostics), the end of that.
fn failure_message(failure: &PolicyFailure, log: &str) -> String {
    let log = log.trim_end();
    if log.is_empty() {
        return failure.to_string();
    }
    let mut start = log.len().saturating_sub(LOG_KEPT);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    let cut = if start > 0 { "…" } else { "" };
    format!("{failure}; the policy wrote: {cut}{}", &log[start..])
}

fn counts(contacts: &[dunlin_store::Contact], ctx: &Context, tally: &Tally) -> ContactCounts {
    let invoice_today = contacts
        .iter()
        .filter(|c| c.invoice_id == ctx.invoice.id && c.on == ctx.as_of)
        .count() as u32;
    let mine = tally.0.get(&ctx.customer.id);
    let stored = contacts
        .iter()
        .filter(|c| {
            !(c.on == ctx.as_of && mine.is_some_and(|m| m.invoices.contains(&c.invoice_id)))
        })
        .count() as u32;
    ContactCounts {
        invoice_today,
        customer_last_7_days: stored + mine.map_or(0, |m| m.notices),
    }
}
