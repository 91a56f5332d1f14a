//! The comparison of two decision streams over the same contexts: what a baseline (what was
//! decided, or version A) and a candidate (version B) did with each invoice, both after the
//! same guardrails. Backtest, `dunlin policy diff`, and the shadow and canary reports all
//! build their report here, so they measure the same things the same way.
//!
//! Definitions the report relies on:
//! - Two outcomes **agree** when both decided the same guarded actions (in order, every
//!   field) with the same review date, or both failed with the same failure code. The
//!   segment label and the reason are the policy's words, not a treatment, and are not
//!   compared.
//! - An invoice's **segment** is its customer's tags, sorted and joined with `+`
//!   (`(untagged)` without tags): the tenant's own grouping, the same for both versions
//!   (a policy's segment label would differ between them).
//! - The **direction** of a disagreement: the candidate escalates (to collections, legal, an
//!   account manager or a suspension) where the baseline does not: `earlier-escalation`;
//!   the other way round: `later-escalation`; otherwise more or fewer notices:
//!   `more-contacts` / `fewer-contacts`; otherwise `other` (a different level, tone,
//!   channel, retry, pause, closure or review date, or a failure on one side).
//! - **Money**: an invoice that gets a different treatment counts once, with its open
//!   balance and the direction of its first disagreement (by as-of day), summed per currency
//!   and never converted.

use std::collections::{BTreeMap, HashMap};

use dunlin_core::guardrails::Intervention;
use dunlin_core::text::truncate;
use dunlin_core::{Action, Context, Date, Decision, EscalationKind};
use serde::{Deserialize, Serialize};

/// The most disagreeing invoices a report lists (the counts cover them all).
pub const DEFAULT_LISTED: usize = 100;
/// The most bytes of a reason kept in a report; reasons are the policy's text.
pub const REASON_BYTES: usize = 240;
/// The most bytes of a segment name (customer tags are the tenant's text).
const SEGMENT_BYTES: usize = 64;
/// The most segments reported one by one; the rest are counted under [`OTHER_SEGMENTS`].
pub const MAX_SEGMENTS: usize = 200;
/// Where segments beyond [`MAX_SEGMENTS`] are counted.
pub const OTHER_SEGMENTS: &str = "(other segments)";
/// The segment of a customer without tags.
pub const UNTAGGED: &str = "(untagged)";

/// What one side made of one context: a decision after the guardrails, a policy failure, or
/// both (a failure the tenant's failure mode answered with the host's safe default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The decision after the guardrails; `None` when nothing was decided.
    pub decision: Option<Decision>,
    /// What the guardrails changed.
    pub interventions: Vec<Intervention>,
    /// The policy failure's stable code, if the policy failed.
    pub failure: Option<String>,
    /// The actions the guardrails dropped, as the policy asked for them (what the log shows
    /// as blocked). Not compared: the interventions say what the guardrails did.
    pub dropped: Vec<Action>,
}

impl Outcome {
    /// A guarded decision.
    pub fn decided(decision: Decision, interventions: Vec<Intervention>) -> Self {
        Outcome {
            decision: Some(decision),
            interventions,
            failure: None,
            dropped: Vec::new(),
        }
    }

    /// A policy failure, nothing decided.
    pub fn failed(code: impl Into<String>) -> Self {
        Outcome {
            decision: None,
            interventions: Vec::new(),
            failure: Some(code.into()),
            dropped: Vec::new(),
        }
    }

    fn actions(&self) -> &[Action] {
        self.decision.as_ref().map_or(&[], |d| &d.actions)
    }

    fn agrees_with(&self, other: &Outcome) -> bool {
        match (&self.decision, &other.decision) {
            (Some(a), Some(b)) => a.actions == b.actions && a.review_on == b.review_on,
            (None, None) => self.failure == other.failure,
            _ => false,
        }
    }

    fn notices(&self) -> u32 {
        self.actions()
            .iter()
            .filter(|a| matches!(a, Action::Notify(_)))
            .count() as u32
    }

    fn escalates(&self) -> bool {
        self.actions()
            .iter()
            .any(|a| matches!(a, Action::Escalate(_)))
    }

    /// One line naming the treatment, in host words only (no template or reason).
    fn summary(&self) -> String {
        let mut parts: Vec<String> = self.actions().iter().map(ToString::to_string).collect();
        match &self.decision {
            Some(d) => {
                if parts.is_empty() {
                    parts.push("wait".into());
                }
                match d.review_on {
                    Some(day) => parts.push(format!("review {day}")),
                    None => parts.push("ladder ends".into()),
                }
            }
            None => parts.push("nothing decided".into()),
        }
        if let Some(code) = &self.failure {
            // Failure codes are the host's own stable names.
            parts.push(format!("failed: {code}"));
        }
        parts.join("; ")
    }
}

/// Which way a disagreement goes, from the baseline to the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The candidate escalates where the baseline does not.
    EarlierEscalation,
    /// The baseline escalates where the candidate does not.
    LaterEscalation,
    /// The candidate sends more notices.
    MoreContacts,
    /// The candidate sends fewer notices.
    FewerContacts,
    /// Another difference: level, tone, channel, retry, pause, closure, review date, failure.
    Other,
}

impl Direction {
    fn of(baseline: &Outcome, candidate: &Outcome) -> Self {
        match (baseline.escalates(), candidate.escalates()) {
            (false, true) => return Direction::EarlierEscalation,
            (true, false) => return Direction::LaterEscalation,
            _ => {}
        }
        match candidate.notices().cmp(&baseline.notices()) {
            std::cmp::Ordering::Greater => Direction::MoreContacts,
            std::cmp::Ordering::Less => Direction::FewerContacts,
            std::cmp::Ordering::Equal => Direction::Other,
        }
    }

    /// The report's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::EarlierEscalation => "earlier-escalation",
            Direction::LaterEscalation => "later-escalation",
            Direction::MoreContacts => "more-contacts",
            Direction::FewerContacts => "fewer-contacts",
            Direction::Other => "other",
        }
    }
}

/// Counts of what one side did, over every context compared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Side {
    /// Actions by kind (`notify`, `retry-payment`, `pause`, `escalate`, `close`).
    pub actions: BTreeMap<String, u64>,
    /// Notices by level.
    pub levels: BTreeMap<u8, u64>,
    /// Notices by channel.
    pub channels: BTreeMap<String, u64>,
    /// Notices by tone.
    pub tones: BTreeMap<String, u64>,
    /// Escalations other than a suspension (collections, legal, account manager).
    pub escalations: u64,
    /// Suspensions of service.
    pub suspensions: u64,
    /// Closures that write the invoice off.
    pub write_offs: u64,
    /// Guardrail interventions by rule code.
    pub interventions: BTreeMap<String, u64>,
    /// Policy failures by code.
    pub failures: BTreeMap<String, u64>,
    /// How many customers received how many notices: notices → customers (customers of
    /// every compared context, those with none under 0).
    pub notices_per_customer: BTreeMap<u32, u64>,
}

impl Side {
    pub(crate) fn add(&mut self, o: &Outcome) {
        for a in o.actions() {
            *self.actions.entry(kind(a).to_owned()).or_default() += 1;
            match a {
                Action::Notify(n) => {
                    *self.levels.entry(n.level).or_default() += 1;
                    *self
                        .channels
                        .entry(n.channel.as_str().to_owned())
                        .or_default() += 1;
                    *self.tones.entry(n.tone.as_str().to_owned()).or_default() += 1;
                }
                Action::Escalate(e) if e.kind == EscalationKind::SuspendService => {
                    self.suspensions += 1
                }
                Action::Escalate(_) => self.escalations += 1,
                Action::Close(c) if c.write_off => self.write_offs += 1,
                Action::RetryPayment(_) | Action::Pause(_) | Action::Close(_) => {}
            }
        }
        for i in &o.interventions {
            *self
                .interventions
                .entry(i.rule.code().to_owned())
                .or_default() += 1;
        }
        if let Some(code) = &o.failure {
            *self
                .failures
                .entry(bounded(code, SEGMENT_BYTES))
                .or_default() += 1;
        }
    }
}

fn kind(a: &Action) -> &'static str {
    match a {
        Action::Notify(_) => "notify",
        Action::RetryPayment(_) => "retry-payment",
        Action::Pause(_) => "pause",
        Action::Escalate(_) => "escalate",
        Action::Close(_) => "close",
    }
}

fn bounded(s: &str, bytes: usize) -> String {
    truncate(s, bytes).into_owned()
}

/// Agreement within a group (a segment).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Agreement {
    /// Contexts compared.
    pub total: u64,
    /// Of which both sides agreed.
    pub agreed: u64,
}

/// Open balance that gets a different treatment, one way, in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MoneyLine {
    /// Which way.
    pub direction: Direction,
    /// ISO 4217 code.
    pub currency: String,
    /// Invoices.
    pub invoices: u64,
    /// Their open balance, in minor units of `currency`.
    pub open_balance_minor: i64,
}

/// One disagreeing decision, both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Disagreement {
    /// The recorded decision's id, when the contexts came from the decision log.
    pub decision_id: Option<i64>,
    /// The invoice (tenant text, bounded).
    pub invoice_id: String,
    /// The customer (tenant text, bounded).
    pub customer_id: String,
    /// The as-of day.
    pub as_of: Date,
    /// The invoice's segment.
    pub segment: String,
    /// Which way.
    pub direction: Direction,
    /// The baseline's treatment, in host words.
    pub baseline: String,
    /// The candidate's treatment, in host words.
    pub candidate: String,
    /// The baseline's reason (policy text, bounded to [`REASON_BYTES`]; escape it to print).
    pub baseline_reason: String,
    /// The candidate's reason (policy text, bounded; escape it to print).
    pub candidate_reason: String,
}

/// The comparison's result. Serialised as the API's and `--json`'s report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    /// Contexts compared.
    pub total: u64,
    /// Of which both sides agreed.
    pub agreed: u64,
    /// Of which they did not.
    pub disagreed: u64,
    /// Distinct invoices compared.
    pub invoices: u64,
    /// Distinct invoices with at least one disagreement.
    pub invoices_differing: u64,
    /// Agreement per segment (customer tags).
    pub segments: BTreeMap<String, Agreement>,
    /// Disagreements by direction.
    pub directions: BTreeMap<Direction, u64>,
    /// What the baseline did.
    pub baseline: Side,
    /// What the candidate did.
    pub candidate: Side,
    /// Open balance that gets a different treatment, by direction and currency.
    pub money: Vec<MoneyLine>,
    /// The first disagreements (at most the comparison's limit), in the order compared.
    pub disagreements: Vec<Disagreement>,
    /// Disagreements not listed.
    pub disagreements_not_listed: u64,
}

impl Report {
    /// Agreed contexts per compared context, 1.0 when nothing was compared.
    pub fn agreement_rate(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.agreed as f64 / self.total as f64
        }
    }
}

/// What the comparison keeps per invoice until it finishes.
struct InvoiceSeen {
    /// The first disagreement: as-of, direction, open balance.
    first: Option<(Date, Direction, dunlin_core::Money)>,
}

/// A comparison in progress: [`Comparison::add`] each context with both outcomes, then
/// [`Comparison::finish`].
pub struct Comparison {
    report: Report,
    listed: usize,
    invoices: HashMap<String, InvoiceSeen>,
    /// Notices per customer, baseline and candidate.
    customers: HashMap<String, (u32, u32)>,
}

impl Default for Comparison {
    fn default() -> Self {
        Comparison::new()
    }
}

impl Comparison {
    /// A comparison listing up to [`DEFAULT_LISTED`] disagreements.
    pub fn new() -> Self {
        Comparison::listing(DEFAULT_LISTED)
    }

    /// A comparison listing up to `listed` disagreements.
    pub fn listing(listed: usize) -> Self {
        Comparison {
            report: Report::default(),
            listed,
            invoices: HashMap::new(),
            customers: HashMap::new(),
        }
    }

    /// Adds one context: what the baseline and the candidate made of it. `decision_id` names
    /// the recorded decision, when there is one.
    pub fn add(
        &mut self,
        decision_id: Option<i64>,
        ctx: &Context,
        baseline: &Outcome,
        candidate: &Outcome,
    ) {
        let r = &mut self.report;
        r.total += 1;
        r.baseline.add(baseline);
        r.candidate.add(candidate);
        let agreed = baseline.agrees_with(candidate);
        let segment = segment(ctx);
        let group = if r.segments.len() < MAX_SEGMENTS || r.segments.contains_key(&segment) {
            r.segments.entry(segment.clone()).or_default()
        } else {
            r.segments.entry(OTHER_SEGMENTS.to_owned()).or_default()
        };
        group.total += 1;
        let seen = self
            .invoices
            .entry(ctx.invoice.id.clone())
            .or_insert(InvoiceSeen { first: None });
        let notices = self.customers.entry(ctx.customer.id.clone()).or_default();
        notices.0 += baseline.notices();
        notices.1 += candidate.notices();
        if agreed {
            group.agreed += 1;
            r.agreed += 1;
            return;
        }
        r.disagreed += 1;
        let direction = Direction::of(baseline, candidate);
        *r.directions.entry(direction).or_default() += 1;
        if seen.first.is_none_or(|(day, _, _)| ctx.as_of < day) {
            seen.first = Some((ctx.as_of, direction, ctx.invoice.open_balance));
        }
        if r.disagreements.len() < self.listed {
            let reason = |o: &Outcome| {
                o.decision
                    .as_ref()
                    .map_or_else(String::new, |d| bounded(&d.reason, REASON_BYTES))
            };
            r.disagreements.push(Disagreement {
                decision_id,
                invoice_id: bounded(&ctx.invoice.id, SEGMENT_BYTES),
                customer_id: bounded(&ctx.customer.id, SEGMENT_BYTES),
                as_of: ctx.as_of,
                segment,
                direction,
                baseline: baseline.summary(),
                candidate: candidate.summary(),
                baseline_reason: reason(baseline),
                candidate_reason: reason(candidate),
            });
        } else {
            r.disagreements_not_listed += 1;
        }
    }

    /// The report.
    pub fn finish(self) -> Report {
        let mut r = self.report;
        r.invoices = self.invoices.len() as u64;
        let mut money: BTreeMap<(Direction, dunlin_core::Currency), (u64, i64)> = BTreeMap::new();
        for (_, direction, open) in self.invoices.values().filter_map(|s| s.first) {
            let line = money.entry((direction, open.currency)).or_default();
            line.0 += 1;
            line.1 = line.1.saturating_add(open.minor);
        }
        r.invoices_differing = money.values().map(|l| l.0).sum();
        r.money = money_lines(money);
        for (baseline, candidate) in self.customers.into_values() {
            *r.baseline.notices_per_customer.entry(baseline).or_default() += 1;
            *r.candidate
                .notices_per_customer
                .entry(candidate)
                .or_default() += 1;
        }
        r
    }
}

/// Invoices and open balance per (direction, currency) as the report's lines.
pub(crate) fn money_lines(
    money: BTreeMap<(Direction, dunlin_core::Currency), (u64, i64)>,
) -> Vec<MoneyLine> {
    money
        .into_iter()
        .map(|((direction, currency), (invoices, minor))| MoneyLine {
            direction,
            currency: currency.as_str().to_owned(),
            invoices,
            open_balance_minor: minor,
        })
        .collect()
}

/// The invoice's segment: its customer's tags, sorted, joined with `+`, bounded.
pub fn segment(ctx: &Context) -> String {
    if ctx.customer.tags.is_empty() {
        return UNTAGGED.to_owned();
    }
    let mut tags: Vec<&str> = ctx.customer.tags.iter().map(String::as_str).collect();
    tags.sort_unstable();
    tags.dedup();
    bounded(&tags.join("+"), SEGMENT_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dunlin_core::guardrails::{Effect, Rule};
    use dunlin_core::{Channel, Closure, Escalation, Notice, Tone};

    fn ctx(
        invoice: &str,
        customer: &str,
        tags: &[&str],
        day: u32,
        minor: i64,
        cur: &str,
    ) -> Context {
        let mut c: Context = serde_json::from_value(serde_json::json!({
            "as-of": format!("2026-03-{day:02}"),
            "invoice": {"id": invoice, "number": "N", "issued-on": "2026-01-01",
                        "due-on": "2026-02-01", "amount": {"minor": minor, "currency": cur},
                        "open-balance": {"minor": minor, "currency": cur},
                        "payment-method": "bank-transfer"},
            "customer": {"id": customer, "lifetime-value": {"minor": 0, "currency": cur},
                         "customer-since": "2025-01-01"}
        }))
        .expect("a valid context");
        c.customer.tags = tags.iter().map(|t| t.to_string()).collect();
        c
    }

    fn notice(level: u8, tone: Tone) -> Action {
        Action::Notify(Notice {
            level,
            channel: Channel::Email,
            tone,
            template: "t".into(),
            vars: Default::default(),
        })
    }

    fn escalate(kind: EscalationKind) -> Action {
        Action::Escalate(Escalation {
            kind,
            reason: "r".into(),
        })
    }

    fn decided(actions: Vec<Action>, review: Option<u32>, reason: &str) -> Outcome {
        Outcome::decided(
            Decision {
                segment: "s".into(),
                actions,
                review_on: review.map(|d| Date::from_ymd_opt(2026, 4, d).expect("a day")),
                reason: reason.into(),
            },
            vec![],
        )
    }

    #[test]
    fn identical_streams_agree_everywhere() {
        let mut c = Comparison::new();
        let a = decided(vec![notice(1, Tone::Friendly)], Some(1), "same");
        c.add(Some(1), &ctx("i1", "c1", &["smb"], 1, 500, "EUR"), &a, &a);
        c.add(Some(2), &ctx("i2", "c1", &[], 1, 700, "EUR"), &a, &a);
        let r = c.finish();
        assert_eq!((r.total, r.agreed, r.disagreed), (2, 2, 0));
        assert_eq!((r.invoices, r.invoices_differing), (2, 0));
        assert!(r.money.is_empty() && r.disagreements.is_empty());
        assert_eq!(r.baseline, r.candidate);
        assert_eq!(r.baseline.notices_per_customer, BTreeMap::from([(2, 1)]));
        assert_eq!(
            r.segments["smb"],
            Agreement {
                total: 1,
                agreed: 1
            }
        );
        assert_eq!(
            r.segments[UNTAGGED],
            Agreement {
                total: 1,
                agreed: 1
            }
        );
        assert_eq!(r.agreement_rate(), 1.0);
    }

    /// A hand-computed stream: i1 (smb, EUR 100.00) is escalated two days earlier by the
    /// candidate; i2 (smb, USD 50.00) gets a firm notice instead of a friendly one; i3
    /// (untagged, EUR 20.00) gets no notice where the baseline sent one; a failure on i4.
    #[test]
    fn report_counts_each_difference_and_its_money_once_per_invoice() {
        let mut c = Comparison::listing(3);
        let wait = decided(vec![], Some(2), "wait");
        let esc = decided(
            vec![escalate(EscalationKind::Collections)],
            None,
            "to collections",
        );
        let i1 = |day| ctx("i1", "c1", &["smb"], day, 10_000, "EUR");
        // Day 1: both wait. Days 2 and 3: candidate escalates, baseline waits. Day 4 both escalate.
        c.add(Some(1), &i1(1), &wait, &wait);
        c.add(Some(2), &i1(3), &wait, &esc); // out of day order: the first is still day 2
        c.add(Some(3), &i1(2), &wait, &esc);
        c.add(Some(4), &i1(4), &esc, &esc);
        let i2 = ctx("i2", "c2", &["smb", "b2b", "smb"], 1, 5_000, "USD");
        c.add(
            Some(5),
            &i2,
            &decided(vec![notice(1, Tone::Friendly)], Some(8), "friendly"),
            &decided(vec![notice(1, Tone::Firm)], Some(8), "firm\nline"),
        );
        let i3 = ctx("i3", "c1", &[], 1, 2_000, "EUR");
        let mut blocked = decided(vec![], Some(2), "after guardrails");
        blocked.interventions.push(Intervention {
            rule: Rule::CustomerWeeklyCap,
            effect: Effect::Dropped,
            action_index: Some(0),
            detail: "cap".into(),
        });
        c.add(
            Some(6),
            &i3,
            &decided(vec![notice(2, Tone::Neutral)], Some(2), "n"),
            &blocked,
        );
        let i4 = ctx("i4", "c3", &[], 1, 1, "EUR");
        let mut written_off = decided(
            vec![Action::Close(Closure {
                write_off: true,
                reason: "w".into(),
            })],
            None,
            "",
        );
        written_off.failure = Some("trap".into());
        c.add(None, &i4, &Outcome::failed("out-of-fuel"), &written_off);
        let r = c.finish();

        assert_eq!((r.total, r.agreed, r.disagreed), (7, 2, 5));
        assert_eq!((r.invoices, r.invoices_differing), (4, 4));
        assert_eq!(
            r.directions,
            BTreeMap::from([
                (Direction::EarlierEscalation, 2),
                (Direction::FewerContacts, 1),
                (Direction::Other, 2),
            ])
        );
        assert_eq!(
            r.segments["smb"],
            Agreement {
                total: 4,
                agreed: 2
            }
        );
        assert_eq!(
            r.segments["b2b+smb"],
            Agreement {
                total: 1,
                agreed: 0
            }
        );
        assert_eq!(
            r.segments[UNTAGGED],
            Agreement {
                total: 2,
                agreed: 0
            }
        );
        assert_eq!((r.baseline.escalations, r.candidate.escalations), (1, 3));
        assert_eq!((r.baseline.write_offs, r.candidate.write_offs), (0, 1));
        assert_eq!(
            r.baseline.failures,
            BTreeMap::from([("out-of-fuel".into(), 1)])
        );
        assert_eq!(r.candidate.failures, BTreeMap::from([("trap".into(), 1)]));
        assert_eq!(
            r.candidate.interventions,
            BTreeMap::from([("customer-7-day-cap".into(), 1)])
        );
        assert!(r.baseline.interventions.is_empty());
        assert_eq!(r.baseline.levels, BTreeMap::from([(1, 1), (2, 1)]));
        assert_eq!(r.candidate.levels, BTreeMap::from([(1, 1)]));
        assert_eq!(r.candidate.tones, BTreeMap::from([("firm".into(), 1)]));
        assert_eq!(r.baseline.actions["notify"], 2);
        assert_eq!(r.candidate.actions["escalate"], 3);
        // c1 got i1's and i3's notices (baseline 1, candidate 0), c2 one each, c3 none.
        assert_eq!(
            r.baseline.notices_per_customer,
            BTreeMap::from([(0, 1), (1, 2)])
        );
        assert_eq!(
            r.candidate.notices_per_customer,
            BTreeMap::from([(0, 2), (1, 1)])
        );
        let line = |d, cur: &str| {
            r.money
                .iter()
                .find(|l| l.direction == d && l.currency == cur)
                .map(|l| (l.invoices, l.open_balance_minor))
        };
        assert_eq!(line(Direction::EarlierEscalation, "EUR"), Some((1, 10_000)));
        assert_eq!(line(Direction::Other, "USD"), Some((1, 5_000)));
        assert_eq!(line(Direction::FewerContacts, "EUR"), Some((1, 2_000)));
        assert_eq!(line(Direction::Other, "EUR"), Some((1, 1)));
        assert_eq!(r.money.len(), 4);
        // Listed: the first three, in the order added; the rest counted.
        assert_eq!(r.disagreements.len(), 3);
        assert_eq!(r.disagreements_not_listed, 2);
        let d = &r.disagreements[2];
        assert_eq!((d.decision_id, d.invoice_id.as_str()), (Some(5), "i2"));
        assert_eq!(d.baseline, "notify L1 friendly email; review 2026-04-08");
        assert_eq!(d.candidate, "notify L1 firm email; review 2026-04-08");
        assert_eq!(
            d.candidate_reason, "firm\nline",
            "kept as data; escaped when printed"
        );
        assert_eq!(
            r.disagreements[0].candidate,
            "escalate collections; ladder ends"
        );
    }

    #[test]
    fn reasons_and_segments_are_bounded() {
        let mut c = Comparison::new();
        let long = "x".repeat(10 * REASON_BYTES);
        let tag = "t".repeat(1000);
        let x = ctx("i", "c", &[tag.as_str()], 1, 1, "EUR");
        c.add(
            None,
            &x,
            &decided(vec![], Some(1), &long),
            &decided(vec![], Some(2), &long),
        );
        let r = c.finish();
        let d = &r.disagreements[0];
        assert!(
            d.baseline_reason.len() <= REASON_BYTES + 32,
            "{}",
            d.baseline_reason.len()
        );
        assert!(d.segment.len() <= SEGMENT_BYTES + 32);
        assert_eq!(r.segments.len(), 1);
    }

    #[test]
    fn segments_beyond_the_bound_are_counted_together() {
        let mut c = Comparison::new();
        let a = decided(vec![], Some(1), "");
        for i in 0..MAX_SEGMENTS + 5 {
            let tag = format!("s{i}");
            c.add(
                None,
                &ctx(&format!("i{i}"), "c", &[tag.as_str()], 1, 1, "EUR"),
                &a,
                &a,
            );
        }
        let r = c.finish();
        assert_eq!(r.segments.len(), MAX_SEGMENTS + 1);
        assert_eq!(r.segments[OTHER_SEGMENTS].total, 5);
    }
}
