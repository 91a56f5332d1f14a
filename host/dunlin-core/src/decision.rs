//! What a policy answers: the [`Decision`] for one invoice, and the contract checks every
//! decision must pass before the host acts on it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::{is_bidi_control, is_control, Escaped};
use crate::{Channel, Context, Date, Tone};

mod read;

/// The highest notice level a policy may use.
pub const MAX_LEVEL: u8 = 9;
/// The most actions one decision may carry.
pub const MAX_ACTIONS: usize = 16;
/// The longest segment label, template id or variable name, in bytes.
pub const MAX_LABEL: usize = 64;
/// The longest reason or template variable value, in bytes.
pub const MAX_TEXT: usize = 2048;
/// The most template variables of one notice.
pub const MAX_VARS: usize = 32;

/// The policy's answer for one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Decision {
    /// The segment the policy placed the customer in.
    pub segment: String,
    /// What to do now, in order; empty means wait.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// When to look again; `None` ends the ladder.
    #[serde(
        default,
        serialize_with = "crate::iso_date::option",
        deserialize_with = "crate::iso_date::deserialize_option"
    )]
    pub review_on: Option<Date>,
    /// Why, for the decision log.
    pub reason: String,
}

/// One thing the host should do. Written with `kind` first, then the variant's fields;
/// read back (`decision/read.rs`) with the fields in any order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Action {
    /// Send a notice.
    Notify(Notice),
    /// Retry the automatic collection.
    RetryPayment(Retry),
    /// Pause dunning.
    Pause(Pause),
    /// Escalate.
    Escalate(Escalation),
    /// Close the ladder.
    Close(Closure),
}

/// A short label for ledgers and logs: `notify L2 firm email`, `retry-payment`,
/// `pause until 2026-03-01`, `escalate collections`, `close (write off)`.
impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Notify(n) => write!(
                f,
                "notify L{} {} {}",
                n.level,
                n.tone.as_str(),
                n.channel.as_str()
            ),
            Action::RetryPayment(_) => f.write_str("retry-payment"),
            Action::Pause(p) => write!(f, "pause until {}", p.until),
            Action::Escalate(e) => write!(f, "escalate {}", e.kind.as_str()),
            Action::Close(c) if c.write_off => f.write_str("close (write off)"),
            Action::Close(_) => f.write_str("close"),
        }
    }
}

/// A notice to the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Notice {
    /// Dunning level, 1 to [`MAX_LEVEL`].
    pub level: u8,
    /// Channel to send on.
    pub channel: Channel,
    /// Tone to use.
    pub tone: Tone,
    /// The tenant's template id.
    pub template: String,
    /// Extra template variables.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// Retry the automatic collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Retry {
    /// Why now.
    pub reason: String,
}

/// Stop dunning until a date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Pause {
    /// First date dunning may resume.
    #[serde(
        serialize_with = "crate::iso_date::serialize",
        deserialize_with = "crate::iso_date::deserialize"
    )]
    pub until: Date,
    /// Why.
    pub reason: String,
}

/// Where an escalation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EscalationKind {
    /// A personal task for the account manager.
    AccountManager,
    /// Suspend the customer's service.
    SuspendService,
    /// A collections agency.
    Collections,
    /// Legal proceedings.
    Legal,
}

impl EscalationKind {
    /// The contract's name, e.g. `suspend-service`.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationKind::AccountManager => "account-manager",
            EscalationKind::SuspendService => "suspend-service",
            EscalationKind::Collections => "collections",
            EscalationKind::Legal => "legal",
        }
    }
}

/// Hand the invoice over outside dunning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Escalation {
    /// Where to.
    #[serde(rename = "to")]
    pub kind: EscalationKind,
    /// Why.
    pub reason: String,
}

/// End the ladder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Closure {
    /// Write the open balance off.
    #[serde(default)]
    pub write_off: bool,
    /// Why.
    pub reason: String,
}

/// A decision that breaks the contract; the host records it as a policy failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDecision {
    /// A text field is empty where the contract requires text.
    #[error("{field} is empty")]
    Empty {
        /// Which field.
        field: String,
    },
    /// A text field is longer than the contract allows.
    #[error("{field} is {len} bytes long; at most {max} allowed")]
    TooLong {
        /// Which field.
        field: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A template id or variable name has characters outside `[a-z0-9._-]`.
    #[error(
        "{field} \"{}\" may use only a-z, 0-9, '.', '_' and '-'",
        Escaped(value)
    )]
    BadIdentifier {
        /// Which field.
        field: String,
        /// The offending value.
        value: String,
    },
    /// A character the field may not hold: labels hold no control character at all; free
    /// text may hold newlines and tabs but no other control character (C0, DEL, C1) and no
    /// bidirectional embedding, override or isolate, which would forge or reorder what the
    /// host prints.
    #[error("{field} contains the control character U+{:04X} at byte {position}", u32::from(*character))]
    ControlCharacter {
        /// Which field.
        field: String,
        /// The character.
        character: char,
        /// Its byte offset in the field.
        position: usize,
    },
    /// A notice level outside 1..=MAX_LEVEL.
    #[error("notice level {level} is outside 1..={MAX_LEVEL}")]
    Level {
        /// The level given.
        level: u8,
    },
    /// Too many actions or template variables.
    #[error("{what}: {count} given, at most {max} allowed")]
    TooMany {
        /// What there are too many of.
        what: String,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The same template variable twice.
    #[error("template variable \"{}\" is given twice", Escaped(name))]
    DuplicateVar {
        /// The variable.
        name: String,
    },
    /// A date that must lie after `as_of` does not.
    #[error("{field} {date} is not after the as-of date {as_of}")]
    NotInFuture {
        /// Which field.
        field: String,
        /// The date given.
        date: Date,
        /// The context's as-of date.
        as_of: Date,
    },
    /// A date field that is not a calendar date.
    #[error("{field} is not a calendar date: {value}")]
    BadDate {
        /// Which field.
        field: String,
        /// What was given, as year-month-day.
        value: String,
    },
    /// A value outside the enums this contract version knows.
    #[error("{0}")]
    Other(String),
}

impl Decision {
    /// Checks the decision against the contract for the context it answers.
    pub fn validate(&self, ctx: &Context) -> Result<(), InvalidDecision> {
        label(&"segment", &self.segment, true)?;
        text(&"reason", &self.reason)?;
        if let Some(review_on) = self.review_on {
            after(&"review-on", review_on, ctx.as_of)?;
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(InvalidDecision::TooMany {
                what: "actions".into(),
                count: self.actions.len(),
                max: MAX_ACTIONS,
            });
        }
        for (i, action) in self.actions.iter().enumerate() {
            match action {
                Action::Notify(n) => {
                    if n.level == 0 || n.level > MAX_LEVEL {
                        return Err(InvalidDecision::Level { level: n.level });
                    }
                    label(&format_args!("actions[{i}].template"), &n.template, false)?;
                    identifier(&format_args!("actions[{i}].template"), &n.template)?;
                    if n.vars.len() > MAX_VARS {
                        return Err(InvalidDecision::TooMany {
                            what: format!("actions[{i}].vars"),
                            count: n.vars.len(),
                            max: MAX_VARS,
                        });
                    }
                    for (k, v) in &n.vars {
                        label(&format_args!("actions[{i}].vars name"), k, false)?;
                        identifier(&format_args!("actions[{i}].vars name"), k)?;
                        let field = format_args!("actions[{i}].vars[{k}]");
                        bounded(&field, v, MAX_TEXT)?;
                        controls(&field, v, Allow::NewlineAndTab)?;
                    }
                }
                Action::RetryPayment(r) => text(&format_args!("actions[{i}].reason"), &r.reason)?,
                Action::Pause(p) => {
                    text(&format_args!("actions[{i}].reason"), &p.reason)?;
                    after(&format_args!("actions[{i}].until"), p.until, ctx.as_of)?;
                }
                Action::Escalate(e) => text(&format_args!("actions[{i}].reason"), &e.reason)?,
                Action::Close(c) => text(&format_args!("actions[{i}].reason"), &c.reason)?,
            }
        }
        Ok(())
    }
}

fn bounded(field: &dyn fmt::Display, value: &str, max: usize) -> Result<(), InvalidDecision> {
    if value.len() > max {
        return Err(InvalidDecision::TooLong {
            field: field.to_string(),
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn label(field: &dyn fmt::Display, value: &str, may_be_empty: bool) -> Result<(), InvalidDecision> {
    if !may_be_empty && value.is_empty() {
        return Err(InvalidDecision::Empty {
            field: field.to_string(),
        });
    }
    bounded(field, value, MAX_LABEL)?;
    controls(field, value, Allow::Nothing)
}

fn text(field: &dyn fmt::Display, value: &str) -> Result<(), InvalidDecision> {
    if value.trim().is_empty() {
        return Err(InvalidDecision::Empty {
            field: field.to_string(),
        });
    }
    bounded(field, value, MAX_TEXT)?;
    controls(field, value, Allow::NewlineAndTab)
}

/// Which control characters a field may hold.
#[derive(Clone, Copy)]
enum Allow {
    /// None: labels and identifiers are one short line.
    Nothing,
    /// `\n` and `\t`: free text may have lines and columns, which the host escapes on display.
    NewlineAndTab,
}

fn controls(field: &dyn fmt::Display, value: &str, allow: Allow) -> Result<(), InvalidDecision> {
    let bad = |c: char| match (c, allow) {
        ('\n' | '\t', Allow::NewlineAndTab) => false,
        _ => is_control(c) || is_bidi_control(c),
    };
    match value.char_indices().find(|&(_, c)| bad(c)) {
        None => Ok(()),
        Some((position, character)) => Err(InvalidDecision::ControlCharacter {
            field: field.to_string(),
            character,
            position,
        }),
    }
}

fn identifier(field: &dyn fmt::Display, value: &str) -> Result<(), InvalidDecision> {
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InvalidDecision::BadIdentifier {
            field: field.to_string(),
            value: value.into(),
        })
    }
}

fn after(field: &dyn fmt::Display, date: Date, as_of: Date) -> Result<(), InvalidDecision> {
    if date > as_of {
        Ok(())
    } else {
        Err(InvalidDecision::NotInFuture {
            field: field.to_string(),
            date,
            as_of,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Customer, Invoice, OtherOverdue, PaymentMethod};
    use crate::{Currency, Money};

    fn ctx() -> Context {
        let d = |s: &str| s.parse::<Date>().unwrap();
        let eur = |m| Money::new(m, Currency::EUR);
        Context {
            as_of: d("2026-03-01"),
            invoice: Invoice {
                id: "i".into(),
                number: "1".into(),
                issued_on: d("2026-01-01"),
                due_on: d("2026-02-01"),
                amount: eur(100),
                open_balance: eur(100),
                payment_method: PaymentMethod::Card,
                failed_attempts: 0,
                last_failure: None,
                disputed: false,
                on_payment_plan: false,
                metadata: Default::default(),
            },
            customer: Customer {
                id: "c".into(),
                tags: vec![],
                lifetime_value: eur(0),
                customer_since: d("2020-01-01"),
                on_time_payments_12m: 0,
                late_payments_12m: 0,
                locale: "en".into(),
                time_zone: "UTC".into(),
                reachable_on: vec![Channel::Email],
                opted_out: vec![],
            },
            history: vec![],
            other_overdue: OtherOverdue::default(),
            params: Default::default(),
        }
    }

    fn notice(level: u8, template: &str) -> Decision {
        Decision {
            segment: "s".into(),
            actions: vec![Action::Notify(Notice {
                level,
                channel: Channel::Email,
                tone: Tone::Firm,
                template: template.into(),
                vars: Default::default(),
            })],
            review_on: Some("2026-03-05".parse().unwrap()),
            reason: "because".into(),
        }
    }

    #[test]
    fn contract_checks_catch_each_kind_of_bad_decision() {
        let ctx = ctx();
        assert_eq!(notice(2, "firm-reminder").validate(&ctx), Ok(()));
        let cases: Vec<(Decision, &str)> = vec![
            (notice(0, "t"), "level 0"),
            (notice(10, "t"), "level 10"),
            (notice(1, ""), "empty"),
            (notice(1, "Has Spaces"), "may use only"),
            (notice(1, &"x".repeat(65)), "65 bytes"),
            (
                Decision {
                    review_on: Some(ctx.as_of),
                    ..notice(1, "t")
                },
                "not after",
            ),
            (
                Decision {
                    reason: "  ".into(),
                    ..notice(1, "t")
                },
                "reason is empty",
            ),
            (
                Decision {
                    actions: vec![notice(1, "t").actions[0].clone(); 17],
                    ..notice(1, "t")
                },
                "17 given",
            ),
            (
                Decision {
                    actions: vec![Action::Pause(Pause {
                        until: "2026-02-01".parse().unwrap(),
                        reason: "promise".into(),
                    })],
                    ..notice(1, "t")
                },
                "actions[0].until",
            ),
        ];
        for (decision, expected) in cases {
            let err = decision.validate(&ctx).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    /// A decision with `text` in one field, the rest as in `notice(1, "t")`.
    fn with_text(field: &str, text: &str) -> Decision {
        let mut d = notice(1, "t");
        let t = text.to_owned();
        match field {
            "segment" => d.segment = t,
            "reason" => d.reason = t,
            "template" => {
                if let Action::Notify(n) = &mut d.actions[0] {
                    n.template = t;
                }
            }
            "var" => {
                if let Action::Notify(n) = &mut d.actions[0] {
                    n.vars.insert("name".into(), t);
                }
            }
            "action reason" => d.actions.push(Action::Escalate(Escalation {
                kind: EscalationKind::Collections,
                reason: t,
            })),
            _ => unreachable!("no field {field}"),
        }
        d
    }

    #[test]
    fn control_characters_are_refused_except_newlines_and_tabs_in_free_text() {
        let ctx = ctx();
        // The error's field, character and position; `None` if the text is allowed.
        type Refused = Option<(&'static str, char, usize)>;
        let cases: &[(&str, &str, Refused)] = &[
            ("segment", "vip customers", None),
            ("segment", "ünïcode ✓", None),
            ("segment", "a\nb", Some(("segment", '\n', 1))),
            ("segment", "a\tb", Some(("segment", '\t', 1))),
            ("segment", "\x1b[2J", Some(("segment", '\x1b', 0))),
            ("segment", "x\u{202e}y", Some(("segment", '\u{202e}', 1))),
            (
                "template",
                "t\x7f",
                Some(("actions[0].template", '\x7f', 1)),
            ),
            ("reason", "line one\nline two\tcolumn", None),
            ("reason", "ok\r\nforged", Some(("reason", '\r', 2))),
            ("reason", "red \x1b[31m", Some(("reason", '\x1b', 4))),
            ("reason", "nul\0", Some(("reason", '\0', 3))),
            ("reason", "bell\x07", Some(("reason", '\x07', 4))),
            ("reason", "del\x7f", Some(("reason", '\x7f', 3))),
            ("reason", "é\u{85}", Some(("reason", '\u{85}', 2))),
            ("reason", "c1 \u{9b}2J", Some(("reason", '\u{9b}', 3))),
            ("reason", "\u{202a}x", Some(("reason", '\u{202a}', 0))),
            (
                "reason",
                "\u{2066}x\u{2069}",
                Some(("reason", '\u{2066}', 0)),
            ),
            ("reason", "\u{2069}", Some(("reason", '\u{2069}', 0))),
            ("var", "Dear\ncustomer", None),
            (
                "var",
                "\x1b]8;;evil",
                Some(("actions[0].vars[name]", '\x1b', 0)),
            ),
            ("action reason", "two\nlines", None),
            (
                "action reason",
                "x\u{202d}",
                Some(("actions[1].reason", '\u{202d}', 1)),
            ),
        ];
        for &(field, text, expected) in cases {
            let got = with_text(field, text).validate(&ctx);
            let expected =
                expected.map(
                    |(field, character, position)| InvalidDecision::ControlCharacter {
                        field: field.into(),
                        character,
                        position,
                    },
                );
            assert_eq!(got.err(), expected, "{field} = {text:?}");
        }
    }

    #[test]
    fn a_control_character_is_named_by_its_code_point() {
        let err = with_text("reason", "red \x1b[31m")
            .validate(&ctx())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "reason contains the control character U+001B at byte 4"
        );
        let err = with_text("segment", "\u{202e}")
            .validate(&ctx())
            .unwrap_err()
            .to_string();
        assert!(err.contains("U+202E"), "{err}");
    }

    #[test]
    fn bad_identifiers_are_shown_escaped() {
        let err = with_text("template", "x\x1b[2J")
            .validate(&ctx())
            .unwrap_err();
        // Which check catches it first does not matter; the message must be inert.
        assert!(!err.to_string().contains('\x1b'), "{err}");
        let err = InvalidDecision::BadIdentifier {
            field: "template".into(),
            value: "a\nb".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"template "a\nb" may use only a-z, 0-9, '.', '_' and '-'"#
        );
    }

    #[test]
    fn actions_have_short_labels() {
        let on = |s: &str| s.parse::<Date>().unwrap();
        let reason = || "r".to_owned();
        let cases = [
            (notice(2, "t").actions[0].clone(), "notify L2 firm email"),
            (
                Action::RetryPayment(Retry { reason: reason() }),
                "retry-payment",
            ),
            (
                Action::Pause(Pause {
                    until: on("2026-03-01"),
                    reason: reason(),
                }),
                "pause until 2026-03-01",
            ),
            (
                Action::Escalate(Escalation {
                    kind: EscalationKind::AccountManager,
                    reason: reason(),
                }),
                "escalate account-manager",
            ),
            (
                Action::Close(Closure {
                    write_off: true,
                    reason: reason(),
                }),
                "close (write off)",
            ),
            (
                Action::Close(Closure {
                    write_off: false,
                    reason: reason(),
                }),
                "close",
            ),
        ];
        for (action, label) in cases {
            assert_eq!(action.to_string(), label);
        }
    }

    #[test]
    fn actions_serialize_with_a_kind_tag() {
        let json = serde_json::to_value(&notice(1, "t").actions[0]).unwrap();
        assert_eq!(json["kind"], "notify");
        assert_eq!(json["channel"], "email");
    }
}
