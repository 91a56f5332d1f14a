//! Replay: the recorded contexts of a tenant's decisions run again through the exact
//! component that decided each (found by its sha256 among the tenant's stored versions), and
//! what the host would write for the new answer compared byte for byte with what it wrote.
//!
//! The log holds the decision *after* the guardrails, and the guardrails' inputs (the
//! tenant's settings at the time, the contacts counted in that sweep) are not stored. What is
//! stored is their whole effect: one intervention per change, naming the action's index in
//! the policy's answer, and the blocked actions as the policy asked for them. So the replayed
//! answer is put through that recorded effect ([`as_written`]): the actions dropped then are
//! dropped again (and must equal the blocked ones), a notice moved off an opted-out channel
//! is moved to the customer's first reachable channel again, and a review date the host set
//! is set again when the policy gives none. Everything the policy chose (segment, reason,
//! every action and its fields, the review date it gave) is compared; how the guardrails
//! would judge it today is not (that is a backtest's question).
//!
//! A policy failure recorded must come back as a failure with the same stable code. When the
//! host's safe default stood in for a failure, the code is what is compared; when the
//! previous version stood in, the log names that version, and its decision is compared.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::Days;
use dunlin_core::guardrails::{Effect, Intervention};
use dunlin_core::{Action, Context, Date, Decision, PolicyFailure};
use dunlin_runtime::{CallLimits, LoadedPolicy, Mode, Runtime, WasmPolicy};
use dunlin_store::codec::json;
use dunlin_store::{Db, RecordedDecision, RecordedQuery, StoreError, TenantId};
use serde::Serialize;
use tracing::Instrument;

/// Which recorded decisions to replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One decision, by its id in the tenant's log.
    Decision(i64),
    /// Every decision whose as-of day is in the window (both ends included; either open).
    Window {
        /// First as-of day.
        from: Option<Date>,
        /// Last as-of day.
        to: Option<Date>,
        /// Only decisions with a larger id: a cut report's `last_id`, to go on from there.
        after_id: Option<i64>,
    },
}

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Threads deciding in parallel.
    pub workers: usize,
    /// Decisions read from the log at a time.
    pub page_size: u32,
    /// Stop after this many decisions (the report says it was cut); `None`: no bound.
    pub max_decisions: Option<usize>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            page_size: 2000,
            max_decisions: None,
        }
    }
}

/// Most bytes of each side of a mismatch kept in the report.
pub const EXCERPT_BYTES: usize = 600;

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReplayReport {
    /// Decisions run again.
    pub replayed: usize,
    /// Of those, decisions whose replay wrote exactly what was recorded.
    pub identical: usize,
    /// Decisions whose replay differs, oldest first.
    pub mismatches: Vec<Mismatch>,
    /// Decisions not replayed because their component is gone or no longer loads.
    pub missing: Vec<MissingComponent>,
    /// Decisions recorded without a policy (the tenant had none active): nothing to replay.
    pub without_policy: usize,
    /// The replay stopped at [`ReplayOptions::max_decisions`]; the decisions after
    /// `last_id` were not read.
    pub truncated: bool,
    /// The id of the last decision read, if any.
    pub last_id: Option<i64>,
}

impl ReplayReport {
    /// Whether every decision replayed identically and none was left out for a missing
    /// component.
    pub fn all_identical(&self) -> bool {
        self.mismatches.is_empty() && self.missing.is_empty()
    }
}

/// A decision whose replay differs from the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Mismatch {
    /// The decision's id.
    pub decision_id: i64,
    /// The invoice.
    pub invoice_id: String,
    /// The day decided for.
    pub as_of: Date,
    /// The version that decided.
    pub policy_version: u32,
    /// Byte offset of the first difference between the two sides.
    pub at: usize,
    /// What the log holds, from shortly before the first difference, at most
    /// [`EXCERPT_BYTES`].
    pub recorded: String,
    /// What the host would write for the replayed answer, cut the same way.
    pub replayed: String,
}

/// A decision whose component could not be run again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MissingComponent {
    /// The decision's id.
    pub decision_id: i64,
    /// The invoice.
    pub invoice_id: String,
    /// The day decided for.
    pub as_of: Date,
    /// The version the log names.
    pub policy_version: u32,
    /// The sha256 the log names.
    pub policy_sha256: String,
    /// Why it could not be run.
    pub why: String,
}

/// Why a replay could not run. What a replay finds (mismatches, missing components) is in
/// the report, not an error.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tenant has no such decision.
    #[error("no decision {0} in the tenant's log")]
    UnknownDecision(i64),
    /// A worker thread died (a bug, not a policy failure).
    #[error("a replay worker failed: {0}")]
    Worker(String),
}

/// Replays the tenant's recorded decisions in `scope`, calling `progress` with the count
/// replayed so far after every page.
pub async fn replay(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    scope: Scope,
    opts: &ReplayOptions,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<ReplayReport, ReplayError> {
    let span = tracing::info_span!("replay", tenant_id = tenant.as_str());
    run(db, runtime, tenant, scope, opts, progress)
        .instrument(span)
        .await
}

async fn run(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    scope: Scope,
    opts: &ReplayOptions,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<ReplayReport, ReplayError> {
    let mut query = match scope {
        Scope::Decision(id) => RecordedQuery::decision(id),
        Scope::Window { from, to, after_id } => RecordedQuery {
            after_id,
            ..RecordedQuery::window(from, to)
        },
    };
    let mut components = Components::default();
    let mut handles: Vec<Handles> = Vec::new();
    let mut report = ReplayReport::default();
    let mut read = 0usize;
    // The page read while the one before was decided.
    let mut read_ahead: Option<Vec<RecordedDecision>> = None;
    loop {
        let room = opts.max_decisions.map_or(usize::MAX, |m| m - read.min(m));
        if room == 0 {
            report.truncated = true;
            break;
        }
        query.limit = page_limit(room, opts);
        let page = match read_ahead.take() {
            Some(page) => page,
            None => db.recorded_decisions(tenant, &query).await?,
        };
        let Some(last) = page.last() else { break };
        let last_id = last.id;
        read += page.len();
        report.last_id = Some(last_id);
        let mut runnable = Vec::with_capacity(page.len());
        for record in page {
            let Some(policy) = &record.policy else {
                report.without_policy += 1;
                continue;
            };
            match components.get(db, runtime, tenant, &policy.sha256).await? {
                Ok(loaded) => runnable.push((record, loaded)),
                Err(why) => report.missing.push(MissingComponent {
                    decision_id: record.id,
                    invoice_id: record.invoice_id.clone(),
                    as_of: record.as_of,
                    policy_version: policy.version,
                    policy_sha256: policy.sha256.clone(),
                    why,
                }),
            }
        }
        let workers = opts.workers.max(1);
        handles.resize_with(workers, Handles::new);
        let parent = tracing::Span::current();
        let deciding = tokio::task::spawn_blocking(move || {
            let _enter = parent.enter();
            let verdicts = decide_in_parallel(&mut handles, &runnable);
            (handles, verdicts)
        });
        query = query.after(last_id);
        let room = opts.max_decisions.map_or(usize::MAX, |m| m - read.min(m));
        if !matches!(scope, Scope::Decision(_)) && room > 0 {
            // The next page is read while this one is decided, as the backtest does.
            query.limit = page_limit(room, opts);
            read_ahead = Some(db.recorded_decisions(tenant, &query).await?);
        }
        let (back, verdicts) = deciding
            .await
            .map_err(|e| ReplayError::Worker(e.to_string()))?;
        handles = back;
        for verdict in verdicts? {
            report.replayed += 1;
            match verdict {
                None => report.identical += 1,
                Some(m) => report.mismatches.push(m),
            }
        }
        progress(report.replayed + report.missing.len() + report.without_policy);
        if matches!(scope, Scope::Decision(_)) {
            break;
        }
    }
    if let (Scope::Decision(id), None) = (scope, report.last_id) {
        return Err(ReplayError::UnknownDecision(id));
    }
    tracing::info!(
        replayed = report.replayed,
        identical = report.identical,
        mismatches = report.mismatches.len(),
        missing = report.missing.len(),
        "replay finished"
    );
    Ok(report)
}

/// The size of the next page, with `room` decisions left under the cap.
fn page_limit(room: usize, opts: &ReplayOptions) -> u32 {
    u32::try_from(room)
        .unwrap_or(u32::MAX)
        .min(opts.page_size.max(1))
}

/// The tenant's components by sha256, each loaded once; a component that is gone or does not
/// load is remembered with why.
#[derive(Default)]
struct Components {
    versions: Option<HashMap<String, u32>>,
    /// The tenant's sandbox limits, which its decisions ran under.
    limits: Option<CallLimits>,
    loaded: HashMap<String, Result<Arc<LoadedPolicy>, String>>,
}

impl Components {
    async fn get(
        &mut self,
        db: &dyn Db,
        runtime: &Runtime,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Result<Arc<LoadedPolicy>, String>, StoreError> {
        if let Some(known) = self.loaded.get(sha256) {
            return Ok(known.clone());
        }
        let limits = match self.limits {
            Some(limits) => limits,
            None => {
                let sandbox = db.tenant(tenant).await?.map(|t| t.settings.sandbox);
                let limits = runtime.limits().for_tenant(&sandbox.unwrap_or_default());
                *self.limits.insert(limits)
            }
        };
        if self.versions.is_none() {
            let listed = db.policy_versions(tenant).await?;
            self.versions = Some(listed.into_iter().map(|v| (v.sha256, v.version)).collect());
        }
        let version = self.versions.as_ref().and_then(|v| v.get(sha256)).copied();
        let found = match version {
            None => Err("no stored version of the tenant has this component".to_owned()),
            Some(version) => match db.policy_blob(tenant, version).await? {
                None => Err(format!("version {version} is gone")),
                Some(blob) if blob.version.sha256 != sha256 => {
                    Err(format!("version {version} holds another component now"))
                }
                Some(blob) => runtime
                    .load_with(&blob.bytes, limits)
                    .map(Arc::new)
                    .map_err(|e| format!("version {version} does not load: {e}")),
            },
        };
        self.loaded.insert(sha256.to_owned(), found.clone());
        Ok(found)
    }
}

/// A worker's instances, by component sha256, kept from page to page (batch mode, as a
/// sweep decides: one tenant only).
type Handles = HashMap<String, WasmPolicy>;

/// Decides `records` on one thread per entry of `handles`, each with its own instances, and
/// returns the verdicts in order: `None` for identical.
fn decide_in_parallel(
    handles: &mut [Handles],
    records: &[(RecordedDecision, Arc<LoadedPolicy>)],
) -> Result<Vec<Option<Mismatch>>, ReplayError> {
    let chunk = records.len().div_ceil(handles.len().max(1)).max(1);
    std::thread::scope(|s| {
        let threads: Vec<_> = handles
            .iter_mut()
            .zip(records.chunks(chunk))
            .map(|(worker, part)| {
                s.spawn(move || {
                    part.iter()
                        .map(|(record, loaded)| {
                            // Parsed here, on the worker, not on the task reading the pages.
                            let ctx = record.context.parse()?;
                            let handle = worker
                                .entry(loaded.info().sha256.clone())
                                .or_insert_with(|| loaded.handle(Mode::Batch));
                            let answer = handle.decide_with_report(&ctx).outcome;
                            Ok(compare(record, &ctx, answer))
                        })
                        .collect::<Result<Vec<_>, StoreError>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(records.len());
        for t in threads {
            out.extend(
                t.join()
                    .map_err(|_| ReplayError::Worker("panicked".into()))??,
            );
        }
        Ok(out)
    })
}

/// `None` when the replayed `answer` writes what `record` holds; otherwise the mismatch.
/// `ctx` is the record's context, parsed.
pub fn compare(
    record: &RecordedDecision,
    ctx: &Context,
    answer: Result<Decision, PolicyFailure>,
) -> Option<Mismatch> {
    let (recorded, replayed) = sides(record, ctx, answer);
    if recorded == replayed {
        return None;
    }
    let at = recorded
        .bytes()
        .zip(replayed.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    Some(Mismatch {
        decision_id: record.id,
        invoice_id: record.invoice_id.clone(),
        as_of: record.as_of,
        policy_version: record.policy.as_ref().map_or(0, |p| p.version),
        at,
        recorded: excerpt(&recorded, at),
        replayed: excerpt(&replayed, at),
    })
}

/// The two texts compared: what the log holds and what the host would write for `answer`.
/// A decision is its JSON, then one line per blocked action; a failure is `failure: CODE`.
fn sides(
    record: &RecordedDecision,
    ctx: &Context,
    answer: Result<Decision, PolicyFailure>,
) -> (String, String) {
    let written = |decision: &str, blocked: &mut dyn Iterator<Item = String>| {
        let mut text = decision.to_owned();
        for action in blocked {
            text.push_str("\nblocked: ");
            text.push_str(&action);
        }
        text
    };
    let failure = |code: &str| format!("failure: {code}");
    let recorded_decision = record
        .decision
        .as_deref()
        .map(|d| (d, serde_json::from_str::<Decision>(d).ok()));
    // The host's safe default is the host's answer to a failure, not the policy's: the
    // failure is what the policy gave.
    let host_default = recorded_decision
        .as_ref()
        .and_then(|(_, parsed)| parsed.as_ref())
        .is_some_and(|d| {
            d.reason == dunlin_sweep::safe_default(ctx, 1).reason && record.failure_code.is_some()
        });
    let recorded = match (&record.failure_code, &recorded_decision) {
        (Some(code), None) => failure(code),
        (Some(code), Some(_)) if host_default => failure(code),
        (_, Some((text, _))) => written(text, &mut record.blocked.iter().cloned()),
        (None, None) => "no decision".to_owned(),
    };
    let replayed = match answer {
        Err(f) => failure(f.code()),
        Ok(decision) => {
            let review_on = recorded_decision
                .and_then(|(_, parsed)| parsed)
                .and_then(|d| d.review_on);
            let (decision, dropped) = as_written(decision, &record.interventions, ctx, review_on);
            written(&json(&decision), &mut dropped.iter().map(json))
        }
    };
    (recorded, replayed)
}

/// `decision` as the host would have written it under the guardrails' recorded effect
/// `interventions`, with the actions they dropped (in the policy's order). `review_on` is
/// the review date written, which the host set itself where it rescheduled.
pub fn as_written(
    decision: Decision,
    interventions: &[Intervention],
    ctx: &Context,
    review_on: Option<Date>,
) -> (Decision, Vec<Action>) {
    let at = |effect: Effect| -> BTreeSet<usize> {
        interventions
            .iter()
            .filter(|i| i.effect == effect)
            .filter_map(|i| i.action_index)
            .collect()
    };
    let (dropped_at, moved_at) = (at(Effect::Dropped), at(Effect::Rerouted));
    let whole = |effect: Effect| {
        interventions
            .iter()
            .any(|i| i.effect == effect && i.action_index.is_none())
    };
    // The guardrail moves a notice to the first channel the customer is reachable on and has
    // not opted out of: the context decides it, not the policy.
    let customer = &ctx.customer;
    let to = customer
        .reachable_on
        .iter()
        .copied()
        .find(|c| !customer.opted_out.contains(c));
    let mut kept = Vec::with_capacity(decision.actions.len());
    let mut dropped = Vec::new();
    for (i, action) in decision.actions.into_iter().enumerate() {
        if dropped_at.contains(&i) {
            dropped.push(action);
            continue;
        }
        kept.push(match (action, to) {
            (Action::Notify(mut n), Some(to))
                if moved_at.contains(&i) && customer.opted_out.contains(&n.channel) =>
            {
                n.channel = to;
                Action::Notify(n)
            }
            (other, _) => other,
        });
    }
    let mut review = decision.review_on;
    if review.is_none() && whole(Effect::Waiting) {
        review = ctx.as_of.checked_add_days(Days::new(1));
    }
    if review.is_none() && whole(Effect::Rescheduled) {
        review = review_on;
    }
    (
        Decision {
            segment: decision.segment,
            actions: kept,
            review_on: review,
            reason: decision.reason,
        },
        dropped,
    )
}

/// `text` from shortly before byte `at`, at most [`EXCERPT_BYTES`], with markers where cut.
fn excerpt(text: &str, at: usize) -> String {
    let mut start = at.saturating_sub(80).min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let lead = if start > 0 { "…" } else { "" };
    format!(
        "{lead}{}",
        dunlin_core::text::truncate(&text[start..], EXCERPT_BYTES)
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use dunlin_core::context::{Customer, Invoice, OtherOverdue, PaymentMethod};
    use dunlin_core::guardrails::{
        apply, ContactCounts, GuardrailSettings, InvoiceFacts, OptOutMode,
    };
    use dunlin_core::{
        Channel, Currency, Escalation, EscalationKind, Money, Notice, PolicyFailure, Tone,
    };
    use dunlin_store::{PolicyRef, RecordedContext};

    use super::*;

    fn d(s: &str) -> Date {
        s.parse().expect("test date")
    }

    fn ctx(days_overdue: u64, opted_out: Vec<Channel>, disputed: bool) -> Context {
        let eur = |m| Money::new(m, Currency::EUR);
        let as_of = d("2026-03-15");
        Context {
            as_of,
            invoice: Invoice {
                id: "inv-1".into(),
                number: "A-1".into(),
                issued_on: d("2026-01-01"),
                due_on: as_of.checked_sub_days(Days::new(days_overdue)).unwrap(),
                amount: eur(10_000),
                open_balance: eur(10_000),
                payment_method: PaymentMethod::BankTransfer,
                failed_attempts: 0,
                last_failure: None,
                disputed,
                on_payment_plan: false,
                metadata: Default::default(),
            },
            customer: Customer {
                id: "cus-1".into(),
                tags: vec![],
                lifetime_value: eur(0),
                customer_since: d("2020-01-01"),
                on_time_payments_12m: 0,
                late_payments_12m: 0,
                locale: "fi".into(),
                time_zone: "Europe/Helsinki".into(),
                reachable_on: vec![Channel::Email, Channel::Sms, Channel::Letter],
                opted_out,
            },
            history: vec![],
            other_overdue: OtherOverdue::default(),
            params: Default::default(),
        }
    }

    fn notice(level: u8, channel: Channel) -> Action {
        Action::Notify(Notice {
            level,
            channel,
            tone: Tone::Firm,
            template: "reminder".into(),
            vars: BTreeMap::new(),
        })
    }

    fn decision(actions: Vec<Action>, review_on: Option<Date>) -> Decision {
        Decision {
            segment: "smb".into(),
            actions,
            review_on,
            reason: "because".into(),
        }
    }

    #[test]
    fn the_recorded_effect_rebuilds_what_the_guardrails_wrote() {
        let collections = Action::Escalate(Escalation {
            kind: EscalationKind::Collections,
            reason: "long overdue".into(),
        });
        let fall_back = GuardrailSettings {
            opted_out_channel: OptOutMode::FallBack,
            ..GuardrailSettings::default()
        };
        let week = Some(d("2026-03-22"));
        // (settings, context, contacts so far, the policy's answer)
        let cases = [
            (
                GuardrailSettings::default(),
                ctx(40, vec![], false),
                ContactCounts::default(),
                decision(vec![notice(1, Channel::Email)], week),
            ),
            (
                GuardrailSettings::default(),
                ctx(40, vec![], false),
                ContactCounts::default(),
                decision(
                    vec![notice(1, Channel::Email), notice(2, Channel::Sms)],
                    week,
                ),
            ),
            (
                GuardrailSettings::default(),
                ctx(10, vec![Channel::Email], false),
                ContactCounts::default(),
                decision(vec![notice(1, Channel::Email), collections.clone()], None),
            ),
            (
                fall_back.clone(),
                ctx(40, vec![Channel::Email], false),
                ContactCounts::default(),
                decision(vec![notice(2, Channel::Email), collections.clone()], week),
            ),
            (
                fall_back,
                ctx(40, vec![Channel::Email, Channel::Sms], false),
                ContactCounts {
                    invoice_today: 0,
                    customer_last_7_days: 7,
                },
                decision(vec![notice(2, Channel::Email)], None),
            ),
            (
                GuardrailSettings::default(),
                ctx(40, vec![], true),
                ContactCounts::default(),
                decision(vec![notice(1, Channel::Sms), collections], None),
            ),
        ];
        for (n, (settings, ctx, counts, answer)) in cases.into_iter().enumerate() {
            let guarded = apply(
                &settings,
                &ctx,
                &InvoiceFacts::open(),
                &counts,
                answer.clone(),
            );
            let rebuilt = as_written(
                answer,
                &guarded.interventions,
                &ctx,
                guarded.decision.review_on,
            );
            assert_eq!(rebuilt, (guarded.decision, guarded.dropped), "case {n}");
        }
    }

    /// [`compare`] with the record's own context.
    fn check(
        record: &RecordedDecision,
        answer: Result<Decision, PolicyFailure>,
    ) -> Option<Mismatch> {
        compare(record, &record.context.parse().unwrap(), answer)
    }

    fn record(decision: Option<&Decision>, failure: Option<&str>) -> RecordedDecision {
        RecordedDecision {
            id: 7,
            invoice_id: "inv-1".into(),
            as_of: d("2026-03-15"),
            policy: Some(PolicyRef {
                version: 2,
                sha256: "ab".repeat(32),
            }),
            context: RecordedContext::of(&ctx(40, vec![], false)),
            decision: decision.map(json),
            interventions: vec![],
            blocked: vec![],
            failure_code: failure.map(str::to_owned),
        }
    }

    #[test]
    fn a_failure_must_fail_again_with_the_same_code() {
        let fuel = || PolicyFailure::OutOfFuel { budget: 10 };
        let answer = decision(vec![], week());
        let failed = record(None, Some("out-of-fuel"));
        assert_eq!(check(&failed, Err(fuel())), None);
        let m = check(&failed, Ok(answer.clone())).expect("a decision is not a failure");
        assert_eq!(m.recorded, "failure: out-of-fuel");
        assert!(m.replayed.starts_with('{'), "{m:?}");
        let refused = PolicyFailure::Refused(dunlin_core::Refusal::BadParam("no".into()));
        assert!(check(&failed, Err(refused)).is_some());

        // The host's safe default stood in: the failure is what is compared.
        let default = dunlin_sweep::safe_default(&failed.context.parse().unwrap(), 1);
        let defaulted = record(Some(&default), Some("out-of-fuel"));
        assert_eq!(check(&defaulted, Err(fuel())), None);
        assert!(check(&defaulted, Ok(default)).is_some());

        // The previous version stood in: its decision is what is compared.
        let fell_back = record(Some(&answer), Some("out-of-fuel"));
        assert_eq!(check(&fell_back, Ok(answer.clone())), None);
        assert!(check(&fell_back, Err(fuel())).is_some());
    }

    fn week() -> Option<Date> {
        Some(d("2026-03-22"))
    }

    #[test]
    fn a_mismatch_shows_both_sides_from_the_first_difference_bounded() {
        let long = "x".repeat(5000);
        let mut recorded = decision(vec![], week());
        recorded.reason = format!("{long}a");
        let mut replayed = recorded.clone();
        replayed.reason = format!("{long}b\u{1b}[2J{long}");
        let m = check(&record(Some(&recorded), None), Ok(replayed)).expect("differs");
        let at = json(&recorded).find(&long).unwrap() + long.len();
        assert_eq!(m.at, at);
        assert!(m.recorded.starts_with('…') && m.recorded.contains("xa\""));
        assert!(m.replayed.contains(r"xb\u001b[2J") && m.replayed.contains("more bytes]"));
        assert!(
            m.replayed.len() <= EXCERPT_BYTES + 40,
            "{}",
            m.replayed.len()
        );
        assert_eq!((m.decision_id, m.policy_version), (7, 2));
    }
}
