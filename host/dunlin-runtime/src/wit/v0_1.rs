//! Bindings for `dunlin:policy@0.1.0` and their conversions to and from the core types.
//!
//! A later contract version gets a sibling module (`v0_2.rs`) with its own bindings and
//! conversions, and a line in `wit.rs`'s list of versions; the rest of the runtime only
//! sees core types.

use dunlin_core as core;
use wasmtime::component::bindgen;

bindgen!({
    path: "../../wit/policy@0.1.0",
    world: "policy",
    ownership: Borrowing { duplicate_if_necessary: false },
});

use exports::dunlin::policy::decider as wit;

/// The bindings of this version, for the dispatch in `wit.rs`.
pub(crate) struct V0_1;

impl super::ContractBindings for V0_1 {
    const VERSION: &'static str = "0.1.0";
    type Pre = PolicyPre<crate::sandbox::Host>;
    type Instance = Policy;

    fn prepare(
        pre: wasmtime::component::InstancePre<crate::sandbox::Host>,
    ) -> wasmtime::Result<Self::Pre> {
        PolicyPre::new(pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut wasmtime::Store<crate::sandbox::Host>,
    ) -> wasmtime::Result<Policy> {
        pre.instantiate(store)
    }

    fn decide(
        instance: &Policy,
        store: &mut wasmtime::Store<crate::sandbox::Host>,
        ctx: &core::Context,
        output_limit: usize,
    ) -> wasmtime::Result<Result<core::Decision, core::PolicyFailure>> {
        let lists = Lists::of(ctx);
        let answer = instance
            .dunlin_policy_decider()
            .call_decide(&mut *store, context(ctx, &lists))?;
        Ok(match answer {
            Ok(decision) => {
                let size = output_size(&decision);
                if size > output_limit {
                    Err(core::PolicyFailure::OutputTooLarge {
                        size,
                        limit: output_limit,
                    })
                } else {
                    core::Decision::try_from(decision).map_err(core::PolicyFailure::from)
                }
            }
            Err(refusal) => Err(refused(refusal, output_limit)),
        })
    }
}

/// A refusal as the host keeps it. Its text is the policy's, so it is bounded like a
/// decision: over the output limit it is refused as too large; otherwise it is cut to
/// [`core::decision::MAX_TEXT`], the bound of a decision's reason, because it is stored with every
/// invoice the policy refuses, again on every retry.
fn refused(refusal: wit::PolicyError, output_limit: usize) -> core::PolicyFailure {
    let mut refusal = core::Refusal::from(refusal);
    let (core::Refusal::BadParam(text) | core::Refusal::Unsupported(text)) = &mut refusal;
    if text.len() > output_limit {
        return core::PolicyFailure::OutputTooLarge {
            size: text.len(),
            limit: output_limit,
        };
    }
    if let std::borrow::Cow::Owned(cut) = core::text::truncate(text, core::decision::MAX_TEXT) {
        *text = cut;
    }
    core::PolicyFailure::Refused(refusal)
}

/// The size of a decision as the output limit counts it: its text plus 16 bytes per action.
fn output_size(d: &wit::Decision) -> usize {
    let actions: usize = d
        .actions
        .iter()
        .map(|a| {
            16 + match a {
                wit::Action::Notify(n) => {
                    n.template.len() + n.vars.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                }
                wit::Action::RetryPayment(r) => r.reason.len(),
                wit::Action::Pause(p) => p.reason.len(),
                wit::Action::Escalate(e) => e.reason.len(),
                wit::Action::Close(c) => c.reason.len(),
            }
        })
        .sum();
    d.segment.len() + d.reason.len() + actions
}

fn date(d: core::Date) -> wit::Date {
    use chrono::Datelike;
    wit::Date {
        year: d.year(),
        // chrono guarantees month 1..=12 and day 1..=31.
        month: d.month() as u8,
        day: d.day() as u8,
    }
}

fn date_back(field: &str, d: wit::Date) -> Result<core::Date, core::InvalidDecision> {
    core::Date::from_ymd_opt(d.year, d.month.into(), d.day.into()).ok_or_else(|| {
        core::InvalidDecision::BadDate {
            field: field.into(),
            value: format!("{}-{}-{}", d.year, d.month, d.day),
        }
    })
}

fn money(m: &core::Money) -> wit::Money<'_> {
    wit::Money {
        minor: m.minor,
        currency: m.currency.as_str(),
    }
}

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(&str, &str)> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn channel(c: core::Channel) -> wit::Channel {
    match c {
        core::Channel::Email => wit::Channel::Email,
        core::Channel::Sms => wit::Channel::Sms,
        core::Channel::Letter => wit::Channel::Letter,
        core::Channel::Phone => wit::Channel::Phone,
        core::Channel::InApp => wit::Channel::InApp,
    }
}

fn channel_back(c: wit::Channel) -> core::Channel {
    match c {
        wit::Channel::Email => core::Channel::Email,
        wit::Channel::Sms => core::Channel::Sms,
        wit::Channel::Letter => core::Channel::Letter,
        wit::Channel::Phone => core::Channel::Phone,
        wit::Channel::InApp => core::Channel::InApp,
    }
}

fn tone(t: core::Tone) -> wit::Tone {
    match t {
        core::Tone::Friendly => wit::Tone::Friendly,
        core::Tone::Neutral => wit::Tone::Neutral,
        core::Tone::Firm => wit::Tone::Firm,
        core::Tone::Final => wit::Tone::Final,
    }
}

fn tone_back(t: wit::Tone) -> core::Tone {
    match t {
        wit::Tone::Friendly => core::Tone::Friendly,
        wit::Tone::Neutral => core::Tone::Neutral,
        wit::Tone::Firm => core::Tone::Firm,
        wit::Tone::Final => core::Tone::Final,
    }
}

/// The lists of a context in this version's types, for [`context`] to borrow. The bindings
/// borrow every string and list of the context rather than own them (`ownership:
/// Borrowing`): the call lowers them into the guest's memory straight from the context,
/// with no copy of each string made first and freed after.
struct Lists<'c> {
    metadata: Vec<(&'c str, &'c str)>,
    tags: Vec<&'c str>,
    reachable_on: Vec<wit::Channel>,
    opted_out: Vec<wit::Channel>,
    history: Vec<wit::PastAction>,
    params: Vec<(&'c str, &'c str)>,
}

impl<'c> Lists<'c> {
    fn of(c: &'c core::Context) -> Self {
        Lists {
            metadata: pairs(&c.invoice.metadata),
            tags: c.customer.tags.iter().map(String::as_str).collect(),
            reachable_on: c
                .customer
                .reachable_on
                .iter()
                .copied()
                .map(channel)
                .collect(),
            opted_out: c.customer.opted_out.iter().copied().map(channel).collect(),
            history: c.history.iter().map(past_action).collect(),
            params: pairs(&c.params),
        }
    }
}

/// The context in this version's types, borrowing from `c` and `lists` (made from `c`).
fn context<'a>(c: &'a core::Context, lists: &'a Lists<'a>) -> wit::Context<'a> {
    let inv = &c.invoice;
    let cust = &c.customer;
    wit::Context {
        as_of: date(c.as_of),
        invoice: wit::Invoice {
            id: &inv.id,
            number: &inv.number,
            issued_on: date(inv.issued_on),
            due_on: date(inv.due_on),
            amount: money(&inv.amount),
            open_balance: money(&inv.open_balance),
            payment_method: match inv.payment_method {
                core::PaymentMethod::Card => wit::PaymentMethod::Card,
                core::PaymentMethod::DirectDebit => wit::PaymentMethod::DirectDebit,
                core::PaymentMethod::BankTransfer => wit::PaymentMethod::BankTransfer,
                core::PaymentMethod::Other => wit::PaymentMethod::Other,
            },
            failed_attempts: inv.failed_attempts,
            last_failure: inv.last_failure.as_ref().map(|f| wit::CollectionFailure {
                on: date(f.on),
                code: &f.code,
                kind: match f.kind {
                    core::DeclineKind::Soft => wit::DeclineKind::Soft,
                    core::DeclineKind::Hard => wit::DeclineKind::Hard,
                },
            }),
            disputed: inv.disputed,
            on_payment_plan: inv.on_payment_plan,
            metadata: &lists.metadata,
        },
        customer: wit::Customer {
            id: &cust.id,
            tags: &lists.tags,
            lifetime_value: money(&cust.lifetime_value),
            customer_since: date(cust.customer_since),
            on_time_payments_12m: cust.on_time_payments_12m,
            late_payments_12m: cust.late_payments_12m,
            locale: &cust.locale,
            time_zone: &cust.time_zone,
            reachable_on: &lists.reachable_on,
            opted_out: &lists.opted_out,
        },
        history: &lists.history,
        other_overdue: wit::OtherOverdue {
            count: c.other_overdue.count,
            total: wit::Money {
                minor: c.other_overdue.total_minor,
                currency: inv.amount.currency.as_str(),
            },
        },
        params: &lists.params,
    }
}

fn past_action(h: &core::PastAction) -> wit::PastAction {
    wit::PastAction {
        on: date(h.on),
        kind: match h.kind {
            core::ActionKind::Notify => wit::ActionKind::Notify,
            core::ActionKind::RetryPayment => wit::ActionKind::RetryPayment,
            core::ActionKind::Pause => wit::ActionKind::Pause,
            core::ActionKind::Escalate => wit::ActionKind::Escalate,
            core::ActionKind::Close => wit::ActionKind::Close,
        },
        level: h.level,
        channel: h.channel.map(channel),
        tone: h.tone.map(tone),
        outcome: match h.outcome {
            core::ActionOutcome::Pending => wit::ActionOutcome::Pending,
            core::ActionOutcome::Delivered => wit::ActionOutcome::Delivered,
            core::ActionOutcome::Failed => wit::ActionOutcome::Failed,
            core::ActionOutcome::Opened => wit::ActionOutcome::Opened,
            core::ActionOutcome::Succeeded => wit::ActionOutcome::Succeeded,
            core::ActionOutcome::Declined => wit::ActionOutcome::Declined,
            core::ActionOutcome::Blocked => wit::ActionOutcome::Blocked,
        },
    }
}

impl From<wit::PolicyError> for core::Refusal {
    fn from(e: wit::PolicyError) -> Self {
        match e {
            wit::PolicyError::BadParam(m) => core::Refusal::BadParam(m),
            wit::PolicyError::Unsupported(m) => core::Refusal::Unsupported(m),
        }
    }
}

impl TryFrom<wit::Decision> for core::Decision {
    type Error = core::InvalidDecision;

    fn try_from(d: wit::Decision) -> Result<Self, Self::Error> {
        let mut actions = Vec::with_capacity(d.actions.len());
        for (i, a) in d.actions.into_iter().enumerate() {
            actions.push(match a {
                wit::Action::Notify(n) => {
                    let count = n.vars.len();
                    let vars: std::collections::BTreeMap<_, _> = n.vars.into_iter().collect();
                    if vars.len() != count {
                        return Err(core::InvalidDecision::Other(format!(
                            "actions[{i}].vars names a variable twice"
                        )));
                    }
                    core::Action::Notify(core::Notice {
                        level: n.level,
                        channel: channel_back(n.channel),
                        tone: tone_back(n.tone),
                        template: n.template,
                        vars,
                    })
                }
                wit::Action::RetryPayment(r) => {
                    core::Action::RetryPayment(core::Retry { reason: r.reason })
                }
                wit::Action::Pause(p) => core::Action::Pause(core::Pause {
                    until: date_back(&format!("actions[{i}].until"), p.until)?,
                    reason: p.reason,
                }),
                wit::Action::Escalate(e) => core::Action::Escalate(core::Escalation {
                    kind: match e.kind {
                        wit::EscalationKind::AccountManager => core::EscalationKind::AccountManager,
                        wit::EscalationKind::SuspendService => core::EscalationKind::SuspendService,
                        wit::EscalationKind::Collections => core::EscalationKind::Collections,
                        wit::EscalationKind::Legal => core::EscalationKind::Legal,
                    },
                    reason: e.reason,
                }),
                wit::Action::Close(c) => core::Action::Close(core::Closure {
                    write_off: c.write_off,
                    reason: c.reason,
                }),
            });
        }
        Ok(core::Decision {
            segment: d.segment,
            actions,
            review_on: d.review_on.map(|r| date_back("review-on", r)).transpose()?,
            reason: d.reason,
        })
    }
}
