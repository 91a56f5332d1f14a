//! The host's JSON format for contexts and decisions, as `dunlin policy run` and cases files
//! use it.
//!
//! The guest side shares only the WIT contract with the host, so this module mirrors the
//! host's serde attributes (kebab-case fields, `YYYY-MM-DD` dates, kebab-case enum names,
//! unknown fields rejected, the same defaults) with private types of its own. Keep the two in
//! step when the format changes.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Action, ActionKind, ActionOutcome, Channel, Closure, CollectionFailure, Context, Customer,
    Date, Decision, DeclineKind, Escalation, EscalationKind, Invoice, Money, Notice, OtherOverdue,
    PastAction, Pause, PaymentMethod, PolicyError, Retry, Tone,
};

/// Reads a context in the host's JSON format, with the host's defaults for omitted fields.
///
/// The error names the offending field or value, as serde reports it.
pub fn context_from_json(value: &Value) -> Result<Context, String> {
    ContextJson::deserialize(value)
        .map(Context::from)
        .map_err(|err| err.to_string())
}

/// Writes a context in the host's JSON format (every field present).
pub fn context_to_json(ctx: &Context) -> Value {
    serde_json::to_value(ContextJson::from(ctx)).expect("string-keyed plain data always serializes")
}

/// A context's JSON text with its fields in the host's order, to compare with what the host
/// writes byte for byte (a [`Value`] keeps no order).
#[cfg(test)]
pub(super) fn context_to_text(ctx: &Context) -> String {
    serde_json::to_string(&ContextJson::from(ctx)).expect("plain data serializes")
}

/// A decision's JSON text with its fields in the host's order ([`context_to_text`]).
#[cfg(test)]
pub(super) fn decision_to_text(decision: &Decision) -> String {
    serde_json::to_string(&DecisionJson::from(decision)).expect("plain data serializes")
}

/// Writes a decision in the host's JSON format: `review-on` is `null` when the ladder ends,
/// actions carry a `kind` tag, template variables are an object.
pub fn decision_to_json(decision: &Decision) -> Value {
    serde_json::to_value(DecisionJson::from(decision))
        .expect("string-keyed plain data always serializes")
}

/// Reads a decision in the host's JSON format, with the host's defaults for omitted fields
/// (no actions, no template variables, no write-off, no `review-on`).
///
/// The error names the offending field or value, as serde reports it.
pub fn decision_from_json(value: &Value) -> Result<Decision, String> {
    DecisionJson::deserialize(value)
        .map(Decision::from)
        .map_err(|err| err.to_string())
}

/// Writes a refusal as the host does: `{"kind": "bad-param", "detail": "..."}`.
pub fn policy_error_to_json(error: &PolicyError) -> Value {
    serde_json::json!({ "kind": error.code(), "detail": error.detail() })
}

/// A value written and read by its contract name: dates as `YYYY-MM-DD`, enums in kebab-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct J<T>(T);

trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    const WHAT: &'static str;
    fn name(&self) -> &'static str;
}

macro_rules! named {
    ($($ty:ty => $what:literal),+ $(,)?) => {$(
        impl Named for $ty {
            const ALL: &'static [$ty] = <$ty>::ALL;
            const WHAT: &'static str = $what;
            fn name(&self) -> &'static str {
                self.as_str()
            }
        }
    )+};
}

named!(
    PaymentMethod => "payment method",
    DeclineKind => "decline kind",
    Channel => "channel",
    Tone => "tone",
    ActionOutcome => "action outcome",
    ActionKind => "action kind",
    EscalationKind => "escalation kind",
);

impl<T: Named> Serialize for J<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de, T: Named> Deserialize<'de> for J<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        // Exact names, like the host's serde enums: no case folding here.
        T::ALL
            .iter()
            .find(|v| v.name() == name)
            .map(|v| J(*v))
            .ok_or_else(|| {
                let expected: Vec<_> = T::ALL.iter().map(Named::name).collect();
                de::Error::custom(format_args!(
                    "unknown {} {name:?}, expected one of {}",
                    T::WHAT,
                    expected.join(", ")
                ))
            })
    }
}

impl Serialize for J<Date> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for J<Date> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).map(J).map_err(de::Error::custom)
    }
}

/// An ISO 4217 code: three upper-case ASCII letters, as the host insists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct Currency(String);

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(code))
        } else {
            Err(de::Error::custom(CurrencyError(code)))
        }
    }
}

struct CurrencyError(String);

impl fmt::Display for CurrencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "currency code {:?} is not three upper-case letters (ISO 4217, e.g. \"EUR\")",
            self.0
        )
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyJson {
    minor: i64,
    currency: Currency,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ContextJson {
    as_of: J<Date>,
    invoice: InvoiceJson,
    customer: CustomerJson,
    #[serde(default)]
    history: Vec<PastActionJson>,
    #[serde(default)]
    other_overdue: OtherOverdueJson,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CollectionFailureJson {
    on: J<Date>,
    code: String,
    kind: J<DeclineKind>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct InvoiceJson {
    id: String,
    number: String,
    issued_on: J<Date>,
    due_on: J<Date>,
    amount: MoneyJson,
    open_balance: MoneyJson,
    payment_method: J<PaymentMethod>,
    #[serde(default)]
    failed_attempts: u32,
    #[serde(default)]
    last_failure: Option<CollectionFailureJson>,
    #[serde(default)]
    disputed: bool,
    #[serde(default)]
    on_payment_plan: bool,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CustomerJson {
    id: String,
    #[serde(default)]
    tags: Vec<String>,
    lifetime_value: MoneyJson,
    customer_since: J<Date>,
    #[serde(default, rename = "on-time-payments-12m")]
    on_time_payments_12m: u32,
    #[serde(default, rename = "late-payments-12m")]
    late_payments_12m: u32,
    #[serde(default = "default_locale")]
    locale: String,
    #[serde(default = "default_time_zone")]
    time_zone: String,
    #[serde(default = "default_channels")]
    reachable_on: Vec<J<Channel>>,
    #[serde(default)]
    opted_out: Vec<J<Channel>>,
}

fn default_locale() -> String {
    "en".to_owned()
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

fn default_channels() -> Vec<J<Channel>> {
    vec![J(Channel::Email)]
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct PastActionJson {
    on: J<Date>,
    kind: J<ActionKind>,
    #[serde(default)]
    level: Option<u8>,
    #[serde(default)]
    channel: Option<J<Channel>>,
    #[serde(default)]
    tone: Option<J<Tone>>,
    outcome: J<ActionOutcome>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct OtherOverdueJson {
    count: u32,
    total_minor: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct DecisionJson {
    segment: String,
    #[serde(default)]
    actions: Vec<ActionJson>,
    #[serde(default)]
    review_on: Option<J<Date>>,
    reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
enum ActionJson {
    Notify {
        level: u8,
        channel: J<Channel>,
        tone: J<Tone>,
        template: String,
        #[serde(default)]
        vars: BTreeMap<String, String>,
    },
    RetryPayment {
        reason: String,
    },
    Pause {
        until: J<Date>,
        reason: String,
    },
    Escalate {
        to: J<EscalationKind>,
        reason: String,
    },
    Close {
        #[serde(rename = "write-off", default)]
        write_off: bool,
        reason: String,
    },
}

fn pairs(map: BTreeMap<String, String>) -> Vec<(String, String)> {
    map.into_iter().collect()
}

fn map(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

impl From<ContextJson> for Context {
    fn from(c: ContextJson) -> Context {
        let currency = c.invoice.amount.currency.0.clone();
        Context {
            as_of: c.as_of.0,
            invoice: c.invoice.into(),
            customer: c.customer.into(),
            history: c.history.into_iter().map(PastAction::from).collect(),
            other_overdue: OtherOverdue {
                count: c.other_overdue.count,
                total: Money::new(c.other_overdue.total_minor, currency),
            },
            params: pairs(c.params),
        }
    }
}

impl From<MoneyJson> for Money {
    fn from(m: MoneyJson) -> Money {
        Money::new(m.minor, m.currency.0)
    }
}

impl From<InvoiceJson> for Invoice {
    fn from(i: InvoiceJson) -> Invoice {
        Invoice {
            id: i.id,
            number: i.number,
            issued_on: i.issued_on.0,
            due_on: i.due_on.0,
            amount: i.amount.into(),
            open_balance: i.open_balance.into(),
            payment_method: i.payment_method.0,
            failed_attempts: i.failed_attempts,
            last_failure: i.last_failure.map(|f| CollectionFailure {
                on: f.on.0,
                code: f.code,
                kind: f.kind.0,
            }),
            disputed: i.disputed,
            on_payment_plan: i.on_payment_plan,
            metadata: pairs(i.metadata),
        }
    }
}

impl From<CustomerJson> for Customer {
    fn from(c: CustomerJson) -> Customer {
        Customer {
            id: c.id,
            tags: c.tags,
            lifetime_value: c.lifetime_value.into(),
            customer_since: c.customer_since.0,
            on_time_payments_12m: c.on_time_payments_12m,
            late_payments_12m: c.late_payments_12m,
            locale: c.locale,
            time_zone: c.time_zone,
            reachable_on: c.reachable_on.into_iter().map(|j| j.0).collect(),
            opted_out: c.opted_out.into_iter().map(|j| j.0).collect(),
        }
    }
}

impl From<PastActionJson> for PastAction {
    fn from(a: PastActionJson) -> PastAction {
        PastAction {
            on: a.on.0,
            kind: a.kind.0,
            level: a.level,
            channel: a.channel.map(|j| j.0),
            tone: a.tone.map(|j| j.0),
            outcome: a.outcome.0,
        }
    }
}

impl From<&Money> for MoneyJson {
    fn from(m: &Money) -> MoneyJson {
        MoneyJson {
            minor: m.minor,
            currency: Currency(m.currency.clone()),
        }
    }
}

impl From<&Context> for ContextJson {
    fn from(c: &Context) -> ContextJson {
        let i = &c.invoice;
        let cu = &c.customer;
        ContextJson {
            as_of: J(c.as_of),
            invoice: InvoiceJson {
                id: i.id.clone(),
                number: i.number.clone(),
                issued_on: J(i.issued_on),
                due_on: J(i.due_on),
                amount: (&i.amount).into(),
                open_balance: (&i.open_balance).into(),
                payment_method: J(i.payment_method),
                failed_attempts: i.failed_attempts,
                last_failure: i.last_failure.as_ref().map(|f| CollectionFailureJson {
                    on: J(f.on),
                    code: f.code.clone(),
                    kind: J(f.kind),
                }),
                disputed: i.disputed,
                on_payment_plan: i.on_payment_plan,
                metadata: map(&i.metadata),
            },
            customer: CustomerJson {
                id: cu.id.clone(),
                tags: cu.tags.clone(),
                lifetime_value: (&cu.lifetime_value).into(),
                customer_since: J(cu.customer_since),
                on_time_payments_12m: cu.on_time_payments_12m,
                late_payments_12m: cu.late_payments_12m,
                locale: cu.locale.clone(),
                time_zone: cu.time_zone.clone(),
                reachable_on: cu.reachable_on.iter().copied().map(J).collect(),
                opted_out: cu.opted_out.iter().copied().map(J).collect(),
            },
            history: c
                .history
                .iter()
                .map(|a| PastActionJson {
                    on: J(a.on),
                    kind: J(a.kind),
                    level: a.level,
                    channel: a.channel.map(J),
                    tone: a.tone.map(J),
                    outcome: J(a.outcome),
                })
                .collect(),
            other_overdue: OtherOverdueJson {
                count: c.other_overdue.count,
                total_minor: c.other_overdue.total.minor,
            },
            params: map(&c.params),
        }
    }
}

impl From<DecisionJson> for Decision {
    fn from(d: DecisionJson) -> Decision {
        Decision {
            segment: d.segment,
            actions: d.actions.into_iter().map(Action::from).collect(),
            review_on: d.review_on.map(|j| j.0),
            reason: d.reason,
        }
    }
}

impl From<ActionJson> for Action {
    fn from(a: ActionJson) -> Action {
        match a {
            ActionJson::Notify {
                level,
                channel,
                tone,
                template,
                vars,
            } => Action::Notify(Notice {
                level,
                channel: channel.0,
                tone: tone.0,
                template,
                vars: pairs(vars),
            }),
            ActionJson::RetryPayment { reason } => Action::RetryPayment(Retry { reason }),
            ActionJson::Pause { until, reason } => Action::Pause(Pause {
                until: until.0,
                reason,
            }),
            ActionJson::Escalate { to, reason } => {
                Action::Escalate(Escalation { kind: to.0, reason })
            }
            ActionJson::Close { write_off, reason } => Action::Close(Closure { write_off, reason }),
        }
    }
}

impl From<&Decision> for DecisionJson {
    fn from(d: &Decision) -> DecisionJson {
        DecisionJson {
            segment: d.segment.clone(),
            actions: d.actions.iter().map(ActionJson::from).collect(),
            review_on: d.review_on.map(J),
            reason: d.reason.clone(),
        }
    }
}

impl From<&Action> for ActionJson {
    fn from(a: &Action) -> ActionJson {
        match a {
            Action::Notify(n) => ActionJson::Notify {
                level: n.level,
                channel: J(n.channel),
                tone: J(n.tone),
                template: n.template.clone(),
                vars: map(&n.vars),
            },
            Action::RetryPayment(r) => ActionJson::RetryPayment {
                reason: r.reason.clone(),
            },
            Action::Pause(p) => ActionJson::Pause {
                until: J(p.until),
                reason: p.reason.clone(),
            },
            Action::Escalate(e) => ActionJson::Escalate {
                to: J(e.kind),
                reason: e.reason.clone(),
            },
            Action::Close(c) => ActionJson::Close {
                write_off: c.write_off,
                reason: c.reason.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{context, notified};
    use crate::{decision, notice};

    fn minimal() -> Value {
        json!({
            "as-of": "2026-02-10",
            "invoice": {"id": "i1", "number": "A-1", "issued-on": "2026-01-01",
                        "due-on": "2026-01-31", "amount": {"minor": 1000, "currency": "EUR"},
                        "open-balance": {"minor": 1000, "currency": "EUR"},
                        "payment-method": "bank-transfer"},
            "customer": {"id": "c1", "lifetime-value": {"minor": 0, "currency": "EUR"},
                         "customer-since": "2025-05-01"}
        })
    }

    #[test]
    fn minimal_context_json_fills_the_host_defaults() {
        let ctx = context_from_json(&minimal()).unwrap();
        assert_eq!(ctx.days_overdue(), 10);
        assert_eq!(ctx.customer.reachable_on, vec![Channel::Email]);
        assert_eq!(
            (
                ctx.customer.locale.as_str(),
                ctx.customer.time_zone.as_str()
            ),
            ("en", "UTC")
        );
        assert_eq!(ctx.other_overdue.total, Money::new(0, "EUR"));
        assert!(ctx.history.is_empty() && ctx.params.is_empty());
        assert_eq!(ctx.invoice.last_failure, None);
    }

    #[test]
    fn bad_json_is_rejected_with_the_reason() {
        let cases = [
            (
                "/invoice/payment-method",
                json!("cheque"),
                "unknown payment method \"cheque\"",
            ),
            (
                "/invoice/due-on",
                json!("2026-02-30"),
                "not a calendar date",
            ),
            (
                "/invoice/amount/currency",
                json!("eur"),
                "three upper-case letters",
            ),
            ("/customer/reachable-on", json!(["fax"]), "unknown channel"),
            ("/invoice/dispute", json!(true), "unknown field `dispute`"),
        ];
        for (pointer, value, expected) in cases {
            let mut json = minimal();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            json.pointer_mut(parent).unwrap()[key] = value;
            let err = context_from_json(&json).unwrap_err();
            assert!(err.contains(expected), "{pointer}: {err}");
        }
    }

    #[test]
    fn contexts_round_trip_through_json() {
        let ctx = context()
            .card()
            .hard_decline("stolen_card")
            .tag("vip")
            .metadata("po", "PO-1")
            .opted_out(Channel::Sms)
            .history([notified("2026-02-03", 1).with_outcome(ActionOutcome::Opened)])
            .other_overdue(2, 30_000)
            .param("firm-days", 10)
            .build();
        let json = context_to_json(&ctx);
        assert_eq!(json["invoice"]["payment-method"], "card");
        assert_eq!(
            json["other-overdue"],
            json!({"count": 2, "total-minor": 30000})
        );
        assert_eq!(json["history"][0]["outcome"], "opened");
        assert_eq!(context_from_json(&json).unwrap(), ctx);
    }

    #[test]
    fn decisions_use_the_host_format() {
        let d = decision("vip")
            .act(
                notice(1)
                    .in_app()
                    .template("payment-failed")
                    .var("code", "x"),
            )
            .act(Action::retry("soft"))
            .act(Action::pause(crate::testing::date("2026-03-01"), "promise"))
            .act(Action::collections("final notice ignored"))
            .act(Action::write_off("small"))
            .because("why");
        assert_eq!(
            decision_to_json(&d),
            json!({
                "segment": "vip",
                "actions": [
                    {"kind": "notify", "level": 1, "channel": "in-app", "tone": "friendly",
                     "template": "payment-failed", "vars": {"code": "x"}},
                    {"kind": "retry-payment", "reason": "soft"},
                    {"kind": "pause", "until": "2026-03-01", "reason": "promise"},
                    {"kind": "escalate", "to": "collections", "reason": "final notice ignored"},
                    {"kind": "close", "write-off": true, "reason": "small"}
                ],
                "review-on": null,
                "reason": "why"
            })
        );
        assert_eq!(
            policy_error_to_json(&PolicyError::bad_param("k", "v")),
            json!({"kind": "bad-param", "detail": "k: v"})
        );
    }
}
