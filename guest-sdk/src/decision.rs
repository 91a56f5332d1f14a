//! Builders for a policy's answer: a [`Decision`] holding [`Action`]s.
//!
//! ```
//! use dunlin_guest_sdk::{decision, notice, Action, Date, Decision};
//!
//! let review: Date = "2026-02-24".parse().unwrap();
//! let d: Decision = decision("standard")
//!     .act(notice(2).email().firm().template("reminder-firm").var("days-overdue", 14))
//!     .act(Action::retry("card soft-declined four days ago"))
//!     .review_on(review)
//!     .because("14 days overdue: firm reminder, and one more charge attempt");
//! assert_eq!(d.actions.len(), 2);
//! assert_eq!(d.first_notice().map(|n| n.template.as_str()), Some("reminder-firm"));
//! ```

use std::fmt::Display;

use crate::{
    Action, ActionKind, Channel, Closure, Date, Decision, Escalation, EscalationKind, Notice,
    Pause, Retry, Tone,
};

/// Starts a decision for a customer in `segment` (a short label for reporting): no actions,
/// no review date and no reason yet.
///
/// Add actions with [`Decision::act`], a review date with [`Decision::review_on`] and the
/// reason with [`Decision::because`]. Without a review date the ladder ends: the host will
/// not ask about this invoice again.
pub fn decision(segment: impl Into<String>) -> Decision {
    Decision {
        segment: segment.into(),
        actions: Vec::new(),
        review_on: None,
        reason: String::new(),
    }
}

/// Starts a notice of `level` (1 = first reminder, up to 9): by e-mail, friendly, with the
/// template `reminder-<level>` until [`Notice::template`] names another.
pub fn notice(level: u8) -> Notice {
    Notice {
        level,
        channel: Channel::Email,
        tone: Tone::Friendly,
        template: format!("reminder-{level}"),
        vars: Vec::new(),
    }
}

impl Decision {
    /// Wait without acting and look again on `until`.
    pub fn wait(until: Date, reason: impl Into<String>) -> Decision {
        decision("").review_on(until).because(reason)
    }

    /// End the ladder without acting: no review date.
    pub fn end(reason: impl Into<String>) -> Decision {
        decision("").because(reason)
    }

    /// Sets the segment label.
    pub fn in_segment(mut self, segment: impl Into<String>) -> Decision {
        self.segment = segment.into();
        self
    }

    /// Appends an action; the host carries them out in order.
    pub fn act(mut self, action: impl Into<Action>) -> Decision {
        self.actions.push(action.into());
        self
    }

    /// Appends an action if there is one.
    pub fn act_if(self, action: Option<impl Into<Action>>) -> Decision {
        match action {
            Some(action) => self.act(action),
            None => self,
        }
    }

    /// Look at the invoice again on `date`; must be after the context's `as_of`.
    pub fn review_on(mut self, date: Date) -> Decision {
        self.review_on = Some(date);
        self
    }

    /// Sets the reason: one sentence for the decision log.
    pub fn because(mut self, reason: impl Into<String>) -> Decision {
        self.reason = reason.into();
        self
    }

    /// Whether the decision does nothing now.
    pub fn is_wait(&self) -> bool {
        self.actions.is_empty()
    }

    /// Whether the decision ends the ladder (no review date).
    pub fn ends_ladder(&self) -> bool {
        self.review_on.is_none()
    }

    /// The notices among the actions, in order.
    pub fn notices(&self) -> impl Iterator<Item = &Notice> + '_ {
        self.actions.iter().filter_map(Action::as_notice)
    }

    /// The first notice among the actions.
    pub fn first_notice(&self) -> Option<&Notice> {
        self.notices().next()
    }

    /// Whether any action is of `kind`.
    pub fn has(&self, kind: ActionKind) -> bool {
        self.actions.iter().any(|a| a.kind() == kind)
    }

    /// The escalation among the actions, if any.
    pub fn escalation(&self) -> Option<&Escalation> {
        self.actions.iter().find_map(|a| match a {
            Action::Escalate(e) => Some(e),
            _ => None,
        })
    }
}

impl Notice {
    /// Sends it on `channel`.
    pub fn via(mut self, channel: Channel) -> Notice {
        self.channel = channel;
        self
    }

    /// Sends it by e-mail.
    pub fn email(self) -> Notice {
        self.via(Channel::Email)
    }

    /// Sends it as a text message.
    pub fn sms(self) -> Notice {
        self.via(Channel::Sms)
    }

    /// Sends it as a paper letter.
    pub fn letter(self) -> Notice {
        self.via(Channel::Letter)
    }

    /// Has a person call.
    pub fn phone(self) -> Notice {
        self.via(Channel::Phone)
    }

    /// Shows it inside the tenant's product.
    pub fn in_app(self) -> Notice {
        self.via(Channel::InApp)
    }

    /// Uses `tone`.
    pub fn tone(mut self, tone: Tone) -> Notice {
        self.tone = tone;
        self
    }

    /// A gentle nudge.
    pub fn friendly(self) -> Notice {
        self.tone(Tone::Friendly)
    }

    /// Matter-of-fact.
    pub fn neutral(self) -> Notice {
        self.tone(Tone::Neutral)
    }

    /// Clear about consequences.
    pub fn firm(self) -> Notice {
        self.tone(Tone::Firm)
    }

    /// The last notice before escalation (`final` is a Rust keyword, hence the underscore).
    pub fn final_(self) -> Notice {
        self.tone(Tone::Final)
    }

    /// Renders the tenant's template `id` (lower-case letters, digits, `.`, `_`, `-`).
    pub fn template(mut self, id: impl Into<String>) -> Notice {
        self.template = id.into();
        self
    }

    /// Sets the template variable `name` (same alphabet as template ids), replacing an
    /// earlier value of the same name.
    pub fn var(mut self, name: impl Into<String>, value: impl Display) -> Notice {
        let name = name.into();
        let value = value.to_string();
        match self.vars.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
        self
    }

    /// The value of the template variable `name`, if set.
    pub fn get_var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Action {
    /// Retry the automatic collection of the open balance.
    pub fn retry(reason: impl Into<String>) -> Action {
        Action::RetryPayment(Retry {
            reason: reason.into(),
        })
    }

    /// Pause dunning; `until` is the first day it may resume and must be after `as_of`.
    pub fn pause(until: Date, reason: impl Into<String>) -> Action {
        Action::Pause(Pause {
            until,
            reason: reason.into(),
        })
    }

    /// Hand the invoice over to `kind`.
    pub fn escalate(kind: EscalationKind, reason: impl Into<String>) -> Action {
        Action::Escalate(Escalation {
            kind,
            reason: reason.into(),
        })
    }

    /// A personal task for the account manager.
    pub fn account_manager(reason: impl Into<String>) -> Action {
        Action::escalate(EscalationKind::AccountManager, reason)
    }

    /// Suspend the customer's service until paid.
    pub fn suspend_service(reason: impl Into<String>) -> Action {
        Action::escalate(EscalationKind::SuspendService, reason)
    }

    /// Hand the invoice to a collections agency.
    pub fn collections(reason: impl Into<String>) -> Action {
        Action::escalate(EscalationKind::Collections, reason)
    }

    /// Close the ladder, keeping the balance on the books.
    pub fn close(reason: impl Into<String>) -> Action {
        Action::Close(Closure {
            write_off: false,
            reason: reason.into(),
        })
    }

    /// Close the ladder and write the open balance off as uncollectable.
    pub fn write_off(reason: impl Into<String>) -> Action {
        Action::Close(Closure {
            write_off: true,
            reason: reason.into(),
        })
    }

    /// What kind of action this is (as recorded in history).
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Notify(_) => ActionKind::Notify,
            Action::RetryPayment(_) => ActionKind::RetryPayment,
            Action::Pause(_) => ActionKind::Pause,
            Action::Escalate(_) => ActionKind::Escalate,
            Action::Close(_) => ActionKind::Close,
        }
    }

    /// The notice, if this is one.
    pub fn as_notice(&self) -> Option<&Notice> {
        match self {
            Action::Notify(notice) => Some(notice),
            _ => None,
        }
    }
}

impl From<Notice> for Action {
    fn from(notice: Notice) -> Action {
        Action::Notify(notice)
    }
}

impl From<Retry> for Action {
    fn from(retry: Retry) -> Action {
        Action::RetryPayment(retry)
    }
}

impl From<Pause> for Action {
    fn from(pause: Pause) -> Action {
        Action::Pause(pause)
    }
}

impl From<Escalation> for Action {
    fn from(escalation: Escalation) -> Action {
        Action::Escalate(escalation)
    }
}

impl From<Closure> for Action {
    fn from(closure: Closure) -> Action {
        Action::Close(closure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn notice_builder_sets_every_field() {
        let n = notice(3)
            .letter()
            .final_()
            .template("final-notice")
            .var("days", 28)
            .var("days", 29);
        assert_eq!(n.level, 3);
        assert_eq!(n.channel, Channel::Letter);
        assert_eq!(n.tone, Tone::Final);
        assert_eq!(n.template, "final-notice");
        assert_eq!(n.vars, vec![("days".to_owned(), "29".to_owned())]);
        assert_eq!(n.get_var("days"), Some("29"));
        assert_eq!(notice(2).template, "reminder-2");
    }

    #[test]
    fn decision_builder_collects_actions_in_order() {
        let d1 = decision("card")
            .act(Action::retry("soft decline"))
            .act(notice(1).in_app())
            .act_if(None::<Action>)
            .act_if(Some(Action::suspend_service("grace period over")))
            .review_on(d("2026-03-01"))
            .because("why");
        let kinds: Vec<_> = d1.actions.iter().map(Action::kind).collect();
        assert_eq!(
            kinds,
            [
                ActionKind::RetryPayment,
                ActionKind::Notify,
                ActionKind::Escalate
            ]
        );
        assert_eq!(d1.segment, "card");
        assert!(d1.has(ActionKind::Notify) && !d1.has(ActionKind::Close));
        assert_eq!(
            d1.escalation().map(|e| e.kind),
            Some(EscalationKind::SuspendService)
        );
        assert!(!d1.is_wait() && !d1.ends_ladder());
    }

    #[test]
    fn wait_and_end_have_no_actions() {
        let w = Decision::wait(d("2026-03-01"), "disputed").in_segment("x");
        assert!(w.is_wait());
        assert_eq!(w.review_on, Some(d("2026-03-01")));
        assert_eq!((w.segment.as_str(), w.reason.as_str()), ("x", "disputed"));
        assert!(Decision::end("paid").ends_ladder());
        let close = Action::write_off("small balance");
        assert!(matches!(
            close,
            Action::Close(Closure {
                write_off: true,
                ..
            })
        ));
    }
}
