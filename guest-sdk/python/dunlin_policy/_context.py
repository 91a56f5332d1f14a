"""The records a policy is given (`Context` and its parts) and the questions a policy asks
about them: how late is the invoice, what has been done already, what did the tenant
configure, how can the customer be reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, TypeVar

from ._date import Date
from ._enums import ActionKind, ActionOutcome, Channel, DeclineKind, PaymentMethod, Tone
from ._error import PolicyError
from ._money import I64_MAX, I64_MIN, Money
from ._params import display, parse_param

T = TypeVar("T")


@dataclass
class CollectionFailure:
    """The last failed automatic collection attempt of an invoice."""

    on: Date
    code: str
    kind: DeclineKind


@dataclass
class Invoice:
    """The invoice under review."""

    id: str
    number: str
    issued_on: Date
    due_on: Date
    amount: Money
    open_balance: Money
    payment_method: PaymentMethod
    failed_attempts: int = 0
    last_failure: Optional[CollectionFailure] = None
    disputed: bool = False
    on_payment_plan: bool = False
    metadata: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Customer:
    """The customer who owes the invoice, with figures the host computed."""

    id: str
    lifetime_value: Money
    customer_since: Date
    tags: list[str] = field(default_factory=list)
    on_time_payments_12m: int = 0
    late_payments_12m: int = 0
    locale: str = "en"
    time_zone: str = "UTC"
    reachable_on: list[Channel] = field(default_factory=lambda: [Channel.EMAIL])
    opted_out: list[Channel] = field(default_factory=list)


@dataclass
class PastAction:
    """One action already taken on this invoice; ``level``, ``channel`` and ``tone`` are set
    for notices."""

    on: Date
    kind: ActionKind
    outcome: ActionOutcome
    level: Optional[int] = None
    channel: Optional[Channel] = None
    tone: Optional[Tone] = None

    def went_out(self) -> bool:
        """Whether it actually happened: everything except actions the host's guardrails
        blocked and deliveries that failed for good. A declined retry did happen."""
        return self.outcome is not ActionOutcome.BLOCKED and self.outcome is not ActionOutcome.FAILED

    def days_before(self, as_of: Date) -> int:
        """Days from this action to ``as_of`` (0 if it happened that day)."""
        return self.on.days_until(as_of)


@dataclass
class OtherOverdue:
    """The customer's other open overdue invoices: how many, and their balance in this
    invoice's currency."""

    count: int
    total: Money


@dataclass
class Context:
    """Everything a policy may use to decide, and questions about it."""

    as_of: Date
    invoice: Invoice
    customer: Customer
    history: list[PastAction]
    other_overdue: OtherOverdue
    params: list[tuple[str, str]]

    def days_overdue(self) -> int:
        """Days from the due date to ``as_of``: 0 on the due date, negative before it."""
        return self.invoice.due_on.days_until(self.as_of)

    def is_overdue(self) -> bool:
        """Whether the due date has passed."""
        return self.days_overdue() > 0

    def on_hold(self) -> Optional[str]:
        """Why dunning must wait whatever the ladder says, if it must: the invoice is
        disputed or covered by a payment plan."""
        if self.invoice.disputed:
            return "the invoice is disputed; dunning waits until the dispute is resolved"
        if self.invoice.on_payment_plan:
            return "the invoice is covered by a payment plan in good standing"
        return None

    def param(self, key: str) -> Optional[str]:
        """The tenant parameter ``key``, as given (untrimmed), if set."""
        return _lookup(self.params, key)

    def param_or(self, key: str, default: T) -> T:
        """The parameter ``key`` read as the type of ``default`` (int, bool, str, `Date` or a
        contract enum), or ``default`` when it is unset or blank.

        A value that does not parse raises a ``bad-param`` `PolicyError` naming the key, the
        value and the type, e.g. ``grace-days: "two weeks" is not a valid i64 (invalid digit
        found in string)``.
        """
        value = self.param(key)
        value = None if value is None else value.strip()
        if not value:
            return default
        return parse_param(key, value, type(default))

    def param_within(self, key: str, default: T, low: T, high: T) -> T:
        """Like `param_or`, and the value (given or default) must lie in ``low..=high``;
        outside it raises a ``bad-param`` `PolicyError` stating the allowed range."""
        value = self.param_or(key, default)
        if not low <= value <= high:  # type: ignore[operator]
            raise PolicyError.bad_param(
                key,
                f"{display(value)} is outside the allowed range {display(low)} to {display(high)}",
            )
        return value

    def require_param(self, key: str, kind: type[T]) -> T:
        """The parameter ``key`` read as ``kind``; unset or blank raises a ``bad-param``
        `PolicyError` saying it is required."""
        value = self.param(key)
        value = None if value is None else value.strip()
        if not value:
            raise PolicyError.bad_param(key, "is required but not set")
        return parse_param(key, value, kind)

    def metadata(self, key: str) -> Optional[str]:
        """The invoice's metadata value for ``key``, if the tenant set one."""
        return _lookup(self.invoice.metadata, key)

    def has_tag(self, tag: str) -> bool:
        """Whether the customer carries ``tag``, ignoring ASCII case."""
        wanted = _ascii_lower(tag)
        return any(_ascii_lower(t) == wanted for t in self.customer.tags)

    def can_reach(self, channel: Channel) -> bool:
        """Whether the customer is reachable on ``channel`` and has not opted out of it."""
        return channel in self.customer.reachable_on and channel not in self.customer.opted_out

    def first_reachable(self, preferred: Sequence[Channel]) -> Optional[Channel]:
        """The first channel of ``preferred`` that `can_reach` the customer."""
        for channel in preferred:
            if self.can_reach(channel):
                return channel
        return None

    def tenure_days(self) -> int:
        """Days the customer has been a customer on ``as_of``."""
        return self.customer.customer_since.days_until(self.as_of)

    def total_overdue(self) -> Money:
        """This invoice's open balance plus the customer's other overdue invoices; saturates
        at the 64-bit range rather than leaving it."""
        total = self.invoice.open_balance.minor + self.other_overdue.total.minor
        return Money(max(I64_MIN, min(I64_MAX, total)), self.invoice.open_balance.currency)

    def done(self, kind: ActionKind) -> list[PastAction]:
        """Past actions of ``kind`` that went out, oldest first."""
        return [a for a in self.history if a.kind is kind and a.went_out()]

    def last_done(self, kind: ActionKind) -> Optional[PastAction]:
        """The most recent action of ``kind`` that went out."""
        for action in reversed(self.history):
            if action.kind is kind and action.went_out():
                return action
        return None

    def notices(self) -> list[PastAction]:
        """Past notices that went out, oldest first."""
        return self.done(ActionKind.NOTIFY)

    def notices_sent(self) -> int:
        """How many notices went out for this invoice."""
        return len(self.notices())

    def last_notice(self) -> Optional[PastAction]:
        """The most recent notice that went out."""
        return self.last_done(ActionKind.NOTIFY)

    def notice_at_level(self, level: int) -> Optional[PastAction]:
        """The most recent notice of ``level`` that went out."""
        for notice in reversed(self.notices()):
            if notice.level == level:
                return notice
        return None

    def highest_level(self) -> int:
        """The highest level of any notice that went out; 0 when none did."""
        return max((n.level for n in self.notices() if n.level is not None), default=0)

    def retries_so_far(self) -> int:
        """How many payment retries this ladder asked for, not counting blocked ones."""
        return len(self.done(ActionKind.RETRY_PAYMENT))

    def last_retry(self) -> Optional[PastAction]:
        """The most recent payment retry that went out."""
        return self.last_done(ActionKind.RETRY_PAYMENT)


def _lookup(pairs: list[tuple[str, str]], key: str) -> Optional[str]:
    for k, v in pairs:
        if k == key:
            return v
    return None


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


__all__ = [
    "CollectionFailure",
    "Context",
    "Customer",
    "Invoice",
    "OtherOverdue",
    "PastAction",
]
