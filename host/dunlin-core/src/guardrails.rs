//! Guardrails: rules the host enforces on every decision, whatever the policy says.
//!
//! [`apply`] takes a validated [`Decision`] and removes (or, for opted-out channels, reroutes)
//! the actions the host must not carry out, recording one [`Intervention`] per change for the
//! decision log. It is a pure function: the caller supplies what the host knows about the
//! invoice ([`InvoiceFacts`]) and the contacts already made ([`ContactCounts`]).
//!
//! The rules, in the order they are checked for each action:
//!
//! 1. **Invoice state** ([`Rule::InvoiceNotOpen`], [`Rule::InvoiceDisputed`],
//!    [`Rule::PaymentPlan`]): no notice, payment retry or escalation on a paid, void,
//!    written-off or disputed invoice, nor while a payment plan or promise to pay is in good
//!    standing. Pauses and closures are not dunning and pass. Paid, void and written-off have
//!    no setting: nothing is owed, so nothing may be asked. The dispute and plan rules are on
//!    by default; a tenant may turn one off (`hold-while-disputed`,
//!    `hold-during-payment-plan`) only where the operator allows it
//!    ([`OperatorLimits::may_release_disputed`], off by default, since collecting a disputed
//!    debt is what consumer-credit rules forbid; [`OperatorLimits::may_release_payment_plan`],
//!    on by default, e.g. for a courtesy reminder before a promised date). If these rules
//!    block *every* action of the decision, the decision becomes a wait: no actions, the policy's review date kept, or the
//!    day after as-of if the policy gave none (ending the ladder of an invoice that may come
//!    back, e.g. a dispute resolved in the tenant's favour, would lose it).
//! 2. **Opted-out channels** ([`Rule::OptedOutChannel`]): a notice on a channel the customer
//!    opted out of is dropped, or with [`OptOutMode::FallBack`] moved to the first channel in
//!    the customer's `reachable-on` list that is not opted out (dropped if there is none).
//! 3. **Levels** ([`Rule::LevelBackwards`]): a notice below the highest level already sent on
//!    this invoice (history entries neither blocked nor failed, plus notices kept earlier in
//!    the same decision) is dropped unless `level-may-decrease` is set.
//! 4. **Frequency caps** ([`Rule::InvoiceDailyCap`], [`Rule::CustomerWeeklyCap`]): a contact
//!    is a notice. At most `max-contacts-per-invoice-per-day` for this invoice on the as-of
//!    date and at most `max-contacts-per-customer-7-days` for the customer over the seven days
//!    ending on the as-of date, counting the contacts already made ([`ContactCounts`]) and the
//!    notices kept earlier in the same decision.
//! 5. **Minimum age for collections** ([`Rule::EscalationTooEarly`]): an escalation to
//!    collections or legal needs at least `min-days-overdue-for-collections` days overdue.
//!
//! **A guardrail never ends a ladder.** When an action is dropped and the policy gave no
//! review date, the decision is reviewed again ([`Effect::Rescheduled`]) on the first date
//! the dropped action could be allowed (for the collections minimum, the day the invoice
//! reaches it; otherwise the next day). Only the policy's own close, or its own decision
//! with no review date and nothing dropped, ends a ladder.
//!
//! **Contact window.** Decisions are made per as-of *date*, so the time of day is not known
//! here. The guardrail only validates the tenant's window (within the operator's) and hands it
//! on, with the customer's time zone, as [`Guarded::delivery_window`]; delivery must not send a
//! notice outside it (the window is half-open: `08:00`–`21:00` allows 08:00 up to 20:59:59).
//!
//! [`GuardrailSettings`] are per tenant and are checked against the operator's
//! [`OperatorLimits`] with [`GuardrailSettings::validate`] when they are set; [`apply`] trusts
//! them.

use chrono::{Days, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::json_shape;
use crate::text::{quoted, truncate, Escaped};
use crate::{Action, Context, Date, Decision, EscalationKind, Notice};

/// A tenant's guardrail settings. The defaults are the documented product defaults and lie
/// within [`OperatorLimits::default`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct GuardrailSettings {
    /// Notices per invoice per as-of date (default 1).
    pub max_contacts_per_invoice_per_day: u32,
    /// Notices per customer over the seven days ending on the as-of date (default 7).
    #[serde(rename = "max-contacts-per-customer-7-days")]
    pub max_contacts_per_customer_7_days: u32,
    /// What to do with a notice on an opted-out channel (default: drop it).
    pub opted_out_channel: OptOutMode,
    /// Days overdue an invoice must be before a collections or legal escalation (default 30).
    pub min_days_overdue_for_collections: u32,
    /// Allow notices below the highest level already sent (default false).
    pub level_may_decrease: bool,
    /// When notices may be delivered, in the customer's time zone (default 08:00–21:00).
    pub contact_window: ContactWindow,
    /// Hold all dunning of a disputed invoice (default true).
    pub hold_while_disputed: bool,
    /// Hold all dunning while a payment plan or promise to pay is in good standing
    /// (default true).
    pub hold_during_payment_plan: bool,
}

impl Default for GuardrailSettings {
    fn default() -> Self {
        GuardrailSettings {
            max_contacts_per_invoice_per_day: 1,
            max_contacts_per_customer_7_days: 7,
            opted_out_channel: OptOutMode::Drop,
            min_days_overdue_for_collections: 30,
            level_may_decrease: false,
            contact_window: ContactWindow::default(),
            hold_while_disputed: true,
            hold_during_payment_plan: true,
        }
    }
}

/// What to do with a notice on a channel the customer opted out of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptOutMode {
    /// Drop the notice.
    #[default]
    Drop,
    /// Send it on the first reachable channel that is not opted out; drop it if none is left.
    FallBack,
}

/// A daily delivery window, local time, half-open: `start` inclusive, `end` exclusive.
/// Windows across midnight are not supported. JSON form: `{"start": "08:00", "end": "21:00"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ContactWindow {
    /// First moment of the day a notice may go out.
    #[serde(with = "hh_mm")]
    pub start: NaiveTime,
    /// The moment from which no notice may go out that day.
    #[serde(with = "hh_mm")]
    pub end: NaiveTime,
}

impl ContactWindow {
    /// The window from `start` to `end` hours, e.g. `ContactWindow::hours(8, 21)`.
    ///
    /// # Panics
    /// If an hour is above 23.
    pub fn hours(start: u32, end: u32) -> Self {
        let at = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("hour is below 24");
        ContactWindow {
            start: at(start),
            end: at(end),
        }
    }

    /// Whether `other` lies entirely within this window.
    pub fn contains(&self, other: &ContactWindow) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

impl Default for ContactWindow {
    fn default() -> Self {
        ContactWindow::hours(8, 21)
    }
}

/// The bounds the platform operator sets on every tenant's [`GuardrailSettings`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct OperatorLimits {
    /// Highest `max-contacts-per-invoice-per-day` a tenant may set (default 1).
    pub max_contacts_per_invoice_per_day: u32,
    /// Highest `max-contacts-per-customer-7-days` a tenant may set (default 7).
    #[serde(rename = "max-contacts-per-customer-7-days")]
    pub max_contacts_per_customer_7_days: u32,
    /// Lowest `min-days-overdue-for-collections` a tenant may set (default 30).
    pub min_days_overdue_for_collections: u32,
    /// Whether a tenant may set `level-may-decrease` (default true).
    pub level_may_decrease: bool,
    /// The widest `contact-window` a tenant may set (default 08:00–21:00).
    pub contact_window: ContactWindow,
    /// Whether a tenant may turn `hold-while-disputed` off (default false).
    pub may_release_disputed: bool,
    /// Whether a tenant may turn `hold-during-payment-plan` off (default true).
    pub may_release_payment_plan: bool,
    /// Highest fuel per decision a tenant may set in its sandbox settings (default 100 M:
    /// an interpreted guest's decision on a rich context takes up to about 15 M).
    pub max_fuel_per_decision: u64,
    /// Highest memory per instance, in MiB, a tenant may set (default 64). It is also the
    /// size of every slot of the instance pool.
    pub max_memory_mib: u32,
    /// Longest deadline per decision, in milliseconds, a tenant may set (default 2,000).
    pub max_deadline_ms: u32,
}

impl OperatorLimits {
    /// The loosest limits an operator can set: settings these refuse are wrong under every
    /// operator (a cap of 0, an empty contact window), which is what the store checks.
    pub fn widest() -> Self {
        OperatorLimits {
            max_contacts_per_invoice_per_day: u32::MAX,
            max_contacts_per_customer_7_days: u32::MAX,
            min_days_overdue_for_collections: 0,
            level_may_decrease: true,
            contact_window: ContactWindow {
                start: NaiveTime::MIN,
                end: NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)
                    .expect("the last nanosecond of a day is a time"),
            },
            may_release_disputed: true,
            may_release_payment_plan: true,
            max_fuel_per_decision: u64::MAX,
            max_memory_mib: u32::MAX,
            max_deadline_ms: u32::MAX,
        }
    }
}

impl Default for OperatorLimits {
    fn default() -> Self {
        OperatorLimits {
            max_contacts_per_invoice_per_day: 1,
            max_contacts_per_customer_7_days: 7,
            min_days_overdue_for_collections: 30,
            level_may_decrease: true,
            contact_window: ContactWindow::default(),
            may_release_disputed: false,
            may_release_payment_plan: true,
            max_fuel_per_decision: 100_000_000,
            max_memory_mib: 64,
            max_deadline_ms: 2_000,
        }
    }
}

/// Guardrail settings that the operator's limits do not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuardrailError {
    /// The settings are not valid JSON of the expected shape (unknown key, wrong type).
    #[error("{0}")]
    Malformed(String),
    /// A number outside the range the operator allows.
    #[error("{setting} is {value}; the operator allows {min} to {max}")]
    OutOfRange {
        /// The setting, as spelled in JSON.
        setting: &'static str,
        /// The value given.
        value: u32,
        /// The lowest allowed.
        min: u32,
        /// The highest allowed.
        max: u32,
    },
    /// A switch the operator does not let tenants turn on.
    #[error("{setting} is not allowed by the operator")]
    NotAllowed {
        /// The setting, as spelled in JSON.
        setting: &'static str,
    },
    /// A contact window that is empty or runs across midnight.
    #[error("contact-window {start}–{end} is empty: start must be before end, within one day")]
    EmptyWindow {
        /// The start given.
        start: NaiveTime,
        /// The end given.
        end: NaiveTime,
    },
    /// A contact window wider than the operator's.
    #[error("contact-window {start}–{end} is outside the operator's {limit_start}–{limit_end}")]
    WindowOutsideLimits {
        /// The start given.
        start: NaiveTime,
        /// The end given.
        end: NaiveTime,
        /// The operator's earliest start.
        limit_start: NaiveTime,
        /// The operator's latest end.
        limit_end: NaiveTime,
    },
}

impl GuardrailSettings {
    /// Reads a tenant's stored settings (a JSON object; absent keys take their defaults) and
    /// checks them against the operator's limits: what a sweep uses and what `tenant
    /// create/set` accepts.
    pub fn from_json(
        value: &serde_json::Value,
        limits: &OperatorLimits,
    ) -> Result<Self, GuardrailError> {
        let settings = GuardrailSettings::parse_json(value)?;
        settings.validate(limits)?;
        Ok(settings)
    }

    /// Reads settings given as JSON without checking them against any limits: a JSON object
    /// (serde would also take an array, by position) of known keys, each of its type; absent
    /// keys take their defaults. Messages name the key and quote the value, bounded.
    pub fn parse_json(value: &serde_json::Value) -> Result<Self, GuardrailError> {
        use serde_json::Value;
        let Value::Object(given) = value else {
            return Err(GuardrailError::Malformed(format!(
                "guardrail settings must be a JSON object such as \
                 {{\"max-contacts-per-customer-7-days\": 5}}, not {} ({})",
                json_shape::kind(value),
                shown_json(value)
            )));
        };
        let Value::Object(known) =
            serde_json::to_value(GuardrailSettings::default()).expect("plain data serialises")
        else {
            unreachable!("a struct serialises to a JSON object")
        };
        if let Some(path) = json_shape::unknown_key(given, &known) {
            return Err(GuardrailError::Malformed(json_shape::unknown_key_message(
                &path, &known,
            )));
        }
        GuardrailSettings::deserialize(value).map_err(|whole| {
            // serde names neither the key nor the value: try the keys one at a time.
            let culprit = given.iter().find_map(|(key, v)| {
                let alone = Value::Object([(key.clone(), v.clone())].into_iter().collect());
                GuardrailSettings::deserialize(&alone)
                    .err()
                    .map(|e| (key, v, e))
            });
            GuardrailError::Malformed(match culprit {
                Some((key, v, e)) => format!(
                    "{key} is {}: {}",
                    shown_json(v),
                    Escaped(&truncate(&e.to_string(), 2 * json_shape::SHOWN_BYTES))
                ),
                None => {
                    Escaped(&truncate(&whole.to_string(), 2 * json_shape::SHOWN_BYTES)).to_string()
                }
            })
        })
    }

    /// Checks the settings against the operator's limits; call it whenever a tenant sets them.
    pub fn validate(&self, limits: &OperatorLimits) -> Result<(), GuardrailError> {
        in_range(
            "max-contacts-per-invoice-per-day",
            self.max_contacts_per_invoice_per_day,
            1,
            limits.max_contacts_per_invoice_per_day,
        )?;
        in_range(
            "max-contacts-per-customer-7-days",
            self.max_contacts_per_customer_7_days,
            1,
            limits.max_contacts_per_customer_7_days,
        )?;
        in_range(
            "min-days-overdue-for-collections",
            self.min_days_overdue_for_collections,
            limits.min_days_overdue_for_collections,
            u32::MAX,
        )?;
        if self.level_may_decrease && !limits.level_may_decrease {
            return Err(GuardrailError::NotAllowed {
                setting: "level-may-decrease",
            });
        }
        if !self.hold_while_disputed && !limits.may_release_disputed {
            return Err(GuardrailError::NotAllowed {
                setting: "hold-while-disputed: false",
            });
        }
        if !self.hold_during_payment_plan && !limits.may_release_payment_plan {
            return Err(GuardrailError::NotAllowed {
                setting: "hold-during-payment-plan: false",
            });
        }
        let w = self.contact_window;
        if w.start >= w.end {
            return Err(GuardrailError::EmptyWindow {
                start: w.start,
                end: w.end,
            });
        }
        if !limits.contact_window.contains(&w) {
            return Err(GuardrailError::WindowOutsideLimits {
                start: w.start,
                end: w.end,
                limit_start: limits.contact_window.start,
                limit_end: limits.contact_window.end,
            });
        }
        Ok(())
    }
}

/// A JSON value as a message shows it: a string quoted, anything else as JSON text; bounded
/// and escaped either way.
fn shown_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => quoted(s, json_shape::SHOWN_BYTES),
        other => Escaped(&truncate(&other.to_string(), json_shape::SHOWN_BYTES)).to_string(),
    }
}

fn in_range(setting: &'static str, value: u32, min: u32, max: u32) -> Result<(), GuardrailError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(GuardrailError::OutOfRange {
            setting,
            value,
            min,
            max,
        })
    }
}

/// Where an invoice stands, as the host's records say (payments, disputes, plans).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InvoiceFacts {
    /// The invoice's status.
    pub status: InvoiceStatus,
    /// An open dispute.
    #[serde(default)]
    pub disputed: bool,
    /// The last day of a payment plan or promise to pay in good standing, if any; the plan
    /// protects the invoice while this date is on or after the as-of date.
    #[serde(default)]
    pub plan_in_good_standing_until: Option<Date>,
}

impl InvoiceFacts {
    /// An open invoice with no dispute and no plan.
    pub fn open() -> Self {
        InvoiceFacts {
            status: InvoiceStatus::Open,
            disputed: false,
            plan_in_good_standing_until: None,
        }
    }
}

/// The status of an invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvoiceStatus {
    /// Something is still owed.
    Open,
    /// Paid in full.
    Paid,
    /// Cancelled by the tenant.
    Void,
    /// Given up on.
    WrittenOff,
}

impl InvoiceStatus {
    /// The kebab-case name, as stored and as in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::WrittenOff => "written-off",
        }
    }
}

/// Contacts (notices) already made before this decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ContactCounts {
    /// Notices for this invoice with the same as-of date.
    pub invoice_today: u32,
    /// Notices to this customer, any invoice, with an as-of date in the seven days ending on
    /// this as-of date (as-of − 6 days ..= as-of).
    #[serde(rename = "customer-last-7-days")]
    pub customer_last_7_days: u32,
}

/// A guardrail, by its stable code in the decision log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The invoice is paid, void or written off.
    InvoiceNotOpen,
    /// The invoice is disputed.
    InvoiceDisputed,
    /// A payment plan or promise to pay is in good standing.
    PaymentPlan,
    /// The customer opted out of the notice's channel.
    OptedOutChannel,
    /// A notice below the highest level already sent.
    LevelBackwards,
    /// Too many notices for this invoice on this day.
    InvoiceDailyCap,
    /// Too many notices for this customer in seven days.
    #[serde(rename = "customer-7-day-cap")]
    CustomerWeeklyCap,
    /// A collections or legal escalation before the minimum days overdue.
    EscalationTooEarly,
}

impl Rule {
    /// The stable code, as written in the decision log.
    pub fn code(self) -> &'static str {
        match self {
            Rule::InvoiceNotOpen => "invoice-not-open",
            Rule::InvoiceDisputed => "invoice-disputed",
            Rule::PaymentPlan => "payment-plan",
            Rule::OptedOutChannel => "opted-out-channel",
            Rule::LevelBackwards => "level-backwards",
            Rule::InvoiceDailyCap => "invoice-daily-cap",
            Rule::CustomerWeeklyCap => "customer-7-day-cap",
            Rule::EscalationTooEarly => "escalation-too-early",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What a guardrail did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// The action was removed.
    Dropped,
    /// The notice was moved to another channel.
    Rerouted,
    /// Every action was blocked; the decision became a wait (review date possibly moved).
    Waiting,
    /// The policy gave no review date but an action was dropped: the host set one, so the
    /// ladder is not ended by a guardrail.
    Rescheduled,
}

/// One change a guardrail made to a decision, for the decision log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Intervention {
    /// Which guardrail.
    pub rule: Rule,
    /// What it did.
    pub effect: Effect,
    /// The action's index in the policy's decision; `None` for the decision as a whole.
    pub action_index: Option<usize>,
    /// A human-readable account.
    pub detail: String,
}

/// Where and when the notices of a guarded decision may be delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeliveryWindow {
    /// The customer's IANA time zone, as given in the context (not checked here).
    pub time_zone: String,
    /// The daily window in that zone.
    pub window: ContactWindow,
}

/// A decision after the guardrails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Guarded {
    /// The decision with blocked actions removed and rerouted notices changed.
    pub decision: Decision,
    /// What the guardrails changed, in action order.
    pub interventions: Vec<Intervention>,
    /// Present when the decision still carries a notice: delivery must respect it.
    pub delivery_window: Option<DeliveryWindow>,
    /// The actions the guardrails dropped, as the policy asked for them (a notice moved to
    /// another channel before it was dropped is given back on its own channel), in action
    /// order: one per intervention whose effect is [`Effect::Dropped`].
    pub dropped: Vec<Action>,
}

/// Applies the guardrails to `decision`, a decision about `ctx` that passed
/// [`Decision::validate`]. `settings` must have passed [`GuardrailSettings::validate`].
///
/// The invoice flags in `ctx` (`disputed`, `on-payment-plan`) are honoured as well as `facts`,
/// so a context and facts that disagree err on the side of not dunning.
pub fn apply(
    settings: &GuardrailSettings,
    ctx: &Context,
    facts: &InvoiceFacts,
    counts: &ContactCounts,
    decision: Decision,
) -> Guarded {
    let Decision {
        segment,
        actions,
        review_on,
        reason,
    } = decision;
    let had_actions = !actions.is_empty();
    let mut guard = Guard {
        settings,
        ctx,
        stop: must_not_dun(settings, ctx, facts),
        highest_level: highest_level_sent(ctx),
        invoice_contacts: counts.invoice_today,
        customer_contacts: counts.customer_last_7_days,
        interventions: Vec::new(),
    };
    let mut dropped = Vec::new();
    let kept: Vec<Action> = actions
        .into_iter()
        .enumerate()
        .filter_map(|(i, action)| match guard.check(i, action) {
            Ok(action) => Some(action),
            Err(Blocked(rule, detail, action)) => {
                guard.note(rule, Effect::Dropped, Some(i), detail);
                dropped.push(action);
                None
            }
        })
        .collect();

    let mut review_on = review_on;
    if let (true, true, Some((rule, why))) = (had_actions, kept.is_empty(), guard.stop.clone()) {
        let detail = match review_on {
            Some(d) => format!("every action was blocked ({why}); waiting until {d}"),
            None => {
                review_on = ctx.as_of.checked_add_days(Days::new(1));
                format!(
                    "every action was blocked ({why}); waiting a day instead of ending the ladder"
                )
            }
        };
        guard.note(rule, Effect::Waiting, None, detail);
    }
    let closes = kept.iter().any(|a| matches!(a, Action::Close(_)));
    if let (None, false) = (review_on, closes) {
        if let Some((rule, on, detail)) = guard.keep_ladder_alive(&dropped) {
            review_on = Some(on);
            guard.note(rule, Effect::Rescheduled, None, detail);
        }
    }

    let delivery_window = kept
        .iter()
        .any(|a| matches!(a, Action::Notify(_)))
        .then(|| DeliveryWindow {
            time_zone: ctx.customer.time_zone.clone(),
            window: settings.contact_window,
        });

    Guarded {
        decision: Decision {
            segment,
            actions: kept,
            review_on,
            reason,
        },
        interventions: guard.interventions,
        delivery_window,
        dropped,
    }
}

/// An action a rule blocks: the rule, why, and the action as the policy asked for it.
struct Blocked<A>(Rule, String, A);

/// The state of one [`apply`] run: what is known and what has been let through so far.
struct Guard<'a> {
    settings: &'a GuardrailSettings,
    ctx: &'a Context,
    /// Set when the invoice must not be dunned at all.
    stop: Option<(Rule, String)>,
    /// Highest notice level sent, including notices kept earlier in this decision.
    highest_level: Option<u8>,
    /// Contacts for this invoice today, including notices kept earlier in this decision.
    invoice_contacts: u32,
    /// Contacts with this customer in 7 days, including notices kept earlier in this decision.
    customer_contacts: u32,
    interventions: Vec<Intervention>,
}

impl Guard<'_> {
    fn note(&mut self, rule: Rule, effect: Effect, action_index: Option<usize>, detail: String) {
        self.interventions.push(Intervention {
            rule,
            effect,
            action_index,
            detail,
        });
    }

    /// When a decision without a review date lost actions to the guardrails, the date to
    /// review the invoice again (the first on which a dropped action could be allowed: for
    /// the collections minimum, the day the invoice reaches it; for every other rule, the
    /// next day), the rule that sets it and a detail saying so. A guardrail must not end a
    /// ladder: the policy meant to act, and what it asked for may be allowed later.
    fn keep_ladder_alive(&self, dropped: &[Action]) -> Option<(Rule, Date, String)> {
        let as_of = self.ctx.as_of;
        // The dropping interventions name the rule of each dropped action, in the same order.
        let rules = self
            .interventions
            .iter()
            .filter(|i| i.effect == Effect::Dropped);
        let (rule, on, action) = rules
            .map(|i| i.rule)
            .zip(dropped)
            .filter_map(|(rule, action)| {
                let allowed = match rule {
                    Rule::EscalationTooEarly => self.ctx.invoice.due_on.checked_add_days(
                        Days::new(self.settings.min_days_overdue_for_collections.into()),
                    ),
                    _ => None,
                };
                let on = allowed
                    .filter(|&on| on > as_of)
                    .or_else(|| as_of.checked_add_days(Days::new(1)))?;
                Some((rule, on, action))
            })
            .min_by_key(|&(_, on, _)| on)?;
        let when = match rule {
            Rule::EscalationTooEarly => format!(
                "when it is {} days overdue",
                self.settings.min_days_overdue_for_collections
            ),
            _ => "the next day".into(),
        };
        let detail = format!(
            "the policy gave no review date, but the {} was not carried out with {} open; \
             reviewing again on {on} ({when}) instead of ending the ladder",
            describe(action),
            self.ctx.invoice.open_balance,
        );
        Some((rule, on, detail))
    }

    /// The action to carry out (possibly changed), or the rule that blocks it and why.
    fn check(&mut self, i: usize, action: Action) -> Result<Action, Blocked<Action>> {
        let dunning = matches!(
            action,
            Action::Notify(_) | Action::RetryPayment(_) | Action::Escalate(_)
        );
        if let (true, Some((rule, why))) = (dunning, &self.stop) {
            let detail = format!("{} not carried out: {why}", describe(&action));
            return Err(Blocked(*rule, detail, action));
        }
        match action {
            Action::Notify(notice) => self
                .check_notice(i, notice)
                .map(Action::Notify)
                .map_err(|Blocked(rule, detail, n)| Blocked(rule, detail, Action::Notify(n))),
            Action::Escalate(e)
                if matches!(e.kind, EscalationKind::Collections | EscalationKind::Legal) =>
            {
                let days = self.ctx.days_overdue();
                let min = self.settings.min_days_overdue_for_collections;
                if days < i64::from(min) {
                    let action = Action::Escalate(e);
                    let detail = format!(
                        "{} not carried out: the invoice is {days} day(s) overdue; at least \
                         {min} needed",
                        describe(&action)
                    );
                    return Err(Blocked(Rule::EscalationTooEarly, detail, action));
                }
                Ok(Action::Escalate(e))
            }
            other => Ok(other),
        }
    }

    fn check_notice(&mut self, i: usize, mut notice: Notice) -> Result<Notice, Blocked<Notice>> {
        let customer = &self.ctx.customer;
        let level = notice.level;
        let asked = notice.channel;
        // A notice blocked after it was moved to another channel goes back on its own.
        let block = |mut notice: Notice, rule, detail| {
            notice.channel = asked;
            Err(Blocked(rule, detail, notice))
        };
        if customer.opted_out.contains(&notice.channel) {
            let from = notice.channel.as_str();
            let fallback = match self.settings.opted_out_channel {
                OptOutMode::Drop => None,
                OptOutMode::FallBack => customer
                    .reachable_on
                    .iter()
                    .copied()
                    .find(|c| !customer.opted_out.contains(c)),
            };
            let Some(to) = fallback else {
                let detail =
                    format!("level {level} notice dropped: the customer opted out of {from}");
                return block(notice, Rule::OptedOutChannel, detail);
            };
            notice.channel = to;
            self.note(
                Rule::OptedOutChannel,
                Effect::Rerouted,
                Some(i),
                format!(
                    "level {level} notice moved from {from} (opted out) to {}",
                    to.as_str()
                ),
            );
        }
        if let Some(highest) = self.highest_level {
            if level < highest && !self.settings.level_may_decrease {
                let detail =
                    format!("level {level} notice dropped: level {highest} was already sent");
                return block(notice, Rule::LevelBackwards, detail);
            }
        }
        let per_invoice = self.settings.max_contacts_per_invoice_per_day;
        if self.invoice_contacts >= per_invoice {
            let detail = format!(
                "level {level} notice dropped: {} contact(s) for this invoice on {} already; \
                 at most {per_invoice} a day",
                self.invoice_contacts, self.ctx.as_of
            );
            return block(notice, Rule::InvoiceDailyCap, detail);
        }
        let per_customer = self.settings.max_contacts_per_customer_7_days;
        if self.customer_contacts >= per_customer {
            let detail = format!(
                "level {level} notice dropped: {} contact(s) with this customer in the 7 days \
                 to {} already; at most {per_customer}",
                self.customer_contacts, self.ctx.as_of
            );
            return block(notice, Rule::CustomerWeeklyCap, detail);
        }
        self.invoice_contacts += 1;
        self.customer_contacts += 1;
        self.highest_level = Some(self.highest_level.map_or(level, |h| h.max(level)));
        Ok(notice)
    }
}

/// Whether the invoice must not be dunned at all, and why.
fn must_not_dun(
    settings: &GuardrailSettings,
    ctx: &Context,
    facts: &InvoiceFacts,
) -> Option<(Rule, String)> {
    let status = match facts.status {
        InvoiceStatus::Open => None,
        InvoiceStatus::Paid => Some("paid"),
        InvoiceStatus::Void => Some("void"),
        InvoiceStatus::WrittenOff => Some("written off"),
    };
    if let Some(status) = status {
        return Some((Rule::InvoiceNotOpen, format!("the invoice is {status}")));
    }
    if settings.hold_while_disputed && (facts.disputed || ctx.invoice.disputed) {
        return Some((Rule::InvoiceDisputed, "the invoice is disputed".into()));
    }
    if !settings.hold_during_payment_plan {
        return None;
    }
    match facts.plan_in_good_standing_until {
        Some(until) if until >= ctx.as_of => Some((
            Rule::PaymentPlan,
            format!("a payment plan is in good standing until {until}"),
        )),
        _ if ctx.invoice.on_payment_plan => Some((
            Rule::PaymentPlan,
            "a payment plan is in good standing".into(),
        )),
        _ => None,
    }
}

/// The highest notice level the customer was sent, or will be, for this invoice.
fn highest_level_sent(ctx: &Context) -> Option<u8> {
    use crate::{ActionKind, ActionOutcome};
    ctx.history
        .iter()
        .filter(|a| a.kind == ActionKind::Notify)
        .filter(|a| !matches!(a.outcome, ActionOutcome::Blocked | ActionOutcome::Failed))
        .filter_map(|a| a.level)
        .max()
}

fn describe(action: &Action) -> String {
    match action {
        Action::Notify(n) => format!("level {} notice by {}", n.level, n.channel.as_str()),
        Action::RetryPayment(_) => "payment retry".into(),
        Action::Pause(_) => "pause".into(),
        Action::Escalate(e) => format!(
            "escalation to {}",
            match e.kind {
                EscalationKind::AccountManager => "the account manager",
                EscalationKind::SuspendService => "service suspension",
                EscalationKind::Collections => "collections",
                EscalationKind::Legal => "legal",
            }
        ),
        Action::Close(_) => "closure".into(),
    }
}

/// `HH:MM` (seconds accepted on input) for [`ContactWindow`] times.
mod hh_mm {
    use chrono::NaiveTime;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M:%S"))
            .map_err(|_| D::Error::custom(format!("{s:?} is not a time of day like \"08:00\"")))
    }
}

#[cfg(test)]
mod tests;
