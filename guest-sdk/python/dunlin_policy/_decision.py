"""Builders for a policy's answer: a `Decision` holding actions.

>>> d = (decision("standard")
...      .act(notice(2).email().firm().template_id("reminder-firm").var("days-overdue", 14))
...      .act(Action.retry("card soft-declined four days ago"))
...      .review(Date(2026, 2, 24))
...      .because("14 days overdue: firm reminder, and one more charge attempt"))
>>> d.first_notice().template
'reminder-firm'

Builder methods change the object and return it, so calls chain; `Notice.copy` makes a
second notice from a first. Fields keep the contract's names (``review_on``, ``template``,
``tone``), so the steps that set them are named `Decision.review`, `Notice.template_id` and
`Notice.with_tone`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from ._date import Date
from ._enums import ActionKind, Channel, EscalationKind, Tone
from ._params import display


class Action:
    """One thing the host should do: a `Notice`, `Retry`, `Pause`, `Escalation` or
    `Closure`. The static methods build the common ones."""

    KIND: ActionKind

    def kind(self) -> ActionKind:
        """What kind of action this is (as recorded in history)."""
        return self.KIND

    @staticmethod
    def retry(reason: str) -> "Retry":
        """Retry the automatic collection of the open balance."""
        return Retry(reason)

    @staticmethod
    def pause(until: Date, reason: str) -> "Pause":
        """Pause dunning; ``until`` is the first day it may resume, after ``as_of``."""
        return Pause(until, reason)

    @staticmethod
    def escalate(kind: EscalationKind, reason: str) -> "Escalation":
        """Hand the invoice over to ``kind``."""
        return Escalation(kind, reason)

    @staticmethod
    def account_manager(reason: str) -> "Escalation":
        """A personal task for the account manager."""
        return Escalation(EscalationKind.ACCOUNT_MANAGER, reason)

    @staticmethod
    def suspend_service(reason: str) -> "Escalation":
        """Suspend the customer's service until paid."""
        return Escalation(EscalationKind.SUSPEND_SERVICE, reason)

    @staticmethod
    def collections(reason: str) -> "Escalation":
        """Hand the invoice to a collections agency."""
        return Escalation(EscalationKind.COLLECTIONS, reason)

    @staticmethod
    def close(reason: str) -> "Closure":
        """Close the ladder, keeping the balance on the books."""
        return Closure(False, reason)

    @staticmethod
    def write_off(reason: str) -> "Closure":
        """Close the ladder and write the open balance off as uncollectable."""
        return Closure(True, reason)


@dataclass
class Notice(Action):
    """A notice to send to the customer."""

    KIND = ActionKind.NOTIFY

    level: int
    channel: Channel = Channel.EMAIL
    tone: Tone = Tone.FRIENDLY
    template: str = ""
    vars: list[tuple[str, str]] = field(default_factory=list)

    def via(self, channel: Channel) -> "Notice":
        """Sends it on ``channel``."""
        self.channel = channel
        return self

    def email(self) -> "Notice":
        """Sends it by e-mail."""
        return self.via(Channel.EMAIL)

    def sms(self) -> "Notice":
        """Sends it as a text message."""
        return self.via(Channel.SMS)

    def letter(self) -> "Notice":
        """Sends it as a paper letter."""
        return self.via(Channel.LETTER)

    def phone(self) -> "Notice":
        """Has a person call."""
        return self.via(Channel.PHONE)

    def in_app(self) -> "Notice":
        """Shows it inside the tenant's product."""
        return self.via(Channel.IN_APP)

    def with_tone(self, tone: Tone) -> "Notice":
        """Uses ``tone``."""
        self.tone = tone
        return self

    def friendly(self) -> "Notice":
        """A gentle nudge."""
        return self.with_tone(Tone.FRIENDLY)

    def neutral(self) -> "Notice":
        """Matter-of-fact."""
        return self.with_tone(Tone.NEUTRAL)

    def firm(self) -> "Notice":
        """Clear about consequences."""
        return self.with_tone(Tone.FIRM)

    def final(self) -> "Notice":
        """The last notice before escalation."""
        return self.with_tone(Tone.FINAL)

    def template_id(self, template_id: str) -> "Notice":
        """Renders the tenant's template ``template_id`` (a-z, 0-9, ``.``, ``_``, ``-``)."""
        self.template = template_id
        return self

    def var(self, name: str, value: object) -> "Notice":
        """Sets the template variable ``name``, replacing an earlier value of that name.
        ``value`` is written as text (``Date`` as ``YYYY-MM-DD``, ``True`` as ``true``)."""
        text = display(value)
        for i, (key, _) in enumerate(self.vars):
            if key == name:
                self.vars[i] = (name, text)
                return self
        self.vars.append((name, text))
        return self

    def get_var(self, name: str) -> Optional[str]:
        """The value of the template variable ``name``, if set."""
        for key, value in self.vars:
            if key == name:
                return value
        return None

    def copy(self) -> "Notice":
        """Another notice with the same fields, to change without changing this one."""
        return Notice(self.level, self.channel, self.tone, self.template, list(self.vars))


@dataclass
class Retry(Action):
    """Retry the automatic collection of the open balance."""

    KIND = ActionKind.RETRY_PAYMENT
    reason: str


@dataclass
class Pause(Action):
    """Stop dunning this invoice until a date."""

    KIND = ActionKind.PAUSE
    until: Date
    reason: str


@dataclass
class Escalation(Action):
    """Hand the invoice over to people or systems outside dunning."""

    KIND = ActionKind.ESCALATE
    to: EscalationKind
    reason: str


@dataclass
class Closure(Action):
    """End the ladder for this invoice."""

    KIND = ActionKind.CLOSE
    # `field()`: without it the dataclass would take `Action.write_off` as the default.
    write_off: bool = field()
    reason: str


AnyAction = Union[Notice, Retry, Pause, Escalation, Closure]


@dataclass
class Decision:
    """The policy's answer for one invoice."""

    segment: str = ""
    actions: list[AnyAction] = field(default_factory=list)
    review_on: Optional[Date] = None
    reason: str = ""

    @staticmethod
    def wait(until: Date, reason: str) -> "Decision":
        """Wait without acting and look again on ``until``."""
        return Decision("", [], until, reason)

    @staticmethod
    def end(reason: str) -> "Decision":
        """End the ladder without acting: no review date."""
        return Decision("", [], None, reason)

    def in_segment(self, segment: str) -> "Decision":
        """Sets the segment label."""
        self.segment = segment
        return self

    def act(self, action: Optional[AnyAction]) -> "Decision":
        """Appends an action (``None`` adds nothing); the host carries them out in order."""
        if action is not None:
            self.actions.append(action)
        return self

    def review(self, date: Date) -> "Decision":
        """Look at the invoice again on ``date``; must be after the context's ``as_of``."""
        self.review_on = date
        return self

    def because(self, reason: str) -> "Decision":
        """Sets the reason: one sentence for the decision log."""
        self.reason = reason
        return self

    def is_wait(self) -> bool:
        """Whether the decision does nothing now."""
        return not self.actions

    def ends_ladder(self) -> bool:
        """Whether the decision ends the ladder (no review date)."""
        return self.review_on is None

    def notices(self) -> list[Notice]:
        """The notices among the actions, in order."""
        return [a for a in self.actions if isinstance(a, Notice)]

    def first_notice(self) -> Optional[Notice]:
        """The first notice among the actions."""
        found = self.notices()
        return found[0] if found else None

    def has(self, kind: ActionKind) -> bool:
        """Whether any action is of ``kind``."""
        return any(a.KIND is kind for a in self.actions)

    def escalation(self) -> Optional[Escalation]:
        """The escalation among the actions, if any."""
        for action in self.actions:
            if isinstance(action, Escalation):
                return action
        return None


def decision(segment: str) -> Decision:
    """Starts a decision for a customer in ``segment``: no actions, no review date (the
    ladder ends unless `Decision.review` sets one) and no reason yet."""
    return Decision(segment)


def notice(level: int) -> Notice:
    """Starts a notice of ``level`` (1 = first reminder, up to 9): by e-mail, friendly, with
    the template ``reminder-<level>`` until `Notice.template_id` names another."""
    return Notice(level, Channel.EMAIL, Tone.FRIENDLY, f"reminder-{level}", [])
