"""`ContextBuilder`: a `Context` for a test, stating only what the test is about."""

from __future__ import annotations

from typing import Iterable, Optional, Union

from .._context import CollectionFailure, Context, Customer, Invoice, OtherOverdue, PastAction
from .._date import Date
from .._enums import ActionKind, ActionOutcome, Channel, DeclineKind, PaymentMethod, Tone
from .._money import Money

DateLike = Union[Date, str]


def date(value: DateLike) -> Date:
    """A `Date`, or ``"YYYY-MM-DD"`` text read as one (a bad date raises)."""
    return value if isinstance(value, Date) else Date.parse(value)


def notified(
    on: DateLike,
    level: int,
    outcome: ActionOutcome = ActionOutcome.DELIVERED,
    channel: Channel = Channel.EMAIL,
    tone: Tone = Tone.FRIENDLY,
) -> PastAction:
    """A past notice of ``level`` on ``on``: by e-mail, friendly, delivered by default."""
    return PastAction(date(on), ActionKind.NOTIFY, outcome, level, channel, tone)


def retried(on: DateLike, outcome: ActionOutcome = ActionOutcome.DECLINED) -> PastAction:
    """A past payment retry on ``on``, declined by default."""
    return PastAction(date(on), ActionKind.RETRY_PAYMENT, outcome)


def escalated(on: DateLike) -> PastAction:
    """A past escalation on ``on``, delivered."""
    return PastAction(date(on), ActionKind.ESCALATE, ActionOutcome.DELIVERED)


def paused(on: DateLike) -> PastAction:
    """A past pause on ``on``, delivered."""
    return PastAction(date(on), ActionKind.PAUSE, ActionOutcome.DELIVERED)


def closed(on: DateLike) -> PastAction:
    """A past closure on ``on``, delivered."""
    return PastAction(date(on), ActionKind.CLOSE, ActionOutcome.DELIVERED)


class ContextBuilder:
    """Builds a `Context` for a test; start it with `context()`.

    Defaults, as in the Rust SDK: as of 2026-02-10; invoice ``inv-1`` (``INV-0001``) of
    120.00 EUR, all of it open, issued 30 days before it fell due on 2026-01-31, paid by
    bank transfer, not disputed, no payment plan; customer ``cust-1`` since 2025-01-01,
    reachable by e-mail only; no history, no other overdue invoices, no parameters.
    """

    def __init__(self) -> None:
        self._as_of = date("2026-02-10")
        self._due = date("2026-01-31")
        self._amount = 12_000
        self._open: Optional[int] = None
        self._currency = "EUR"
        self._method = PaymentMethod.BANK_TRANSFER
        self._failure: Optional[CollectionFailure] = None
        self._failed_attempts = 0
        self._disputed = False
        self._plan = False
        self._metadata: list[tuple[str, str]] = []
        self._tags: list[str] = []
        self._reachable = [Channel.EMAIL]
        self._opted_out: list[Channel] = []
        self._history: list[PastAction] = []
        self._other = (0, 0)
        self._params: list[tuple[str, str]] = []

    def as_of(self, on: DateLike) -> "ContextBuilder":
        """The day of the decision."""
        self._as_of = date(on)
        return self

    def due(self, on: DateLike) -> "ContextBuilder":
        """The invoice's due date."""
        self._due = date(on)
        return self

    def amount(self, minor: int, currency: str = "EUR") -> "ContextBuilder":
        """The invoiced total (the open balance follows it unless `open_balance` is set)."""
        self._amount, self._currency = minor, currency
        return self

    def open_balance(self, minor: int) -> "ContextBuilder":
        """What is still owed."""
        self._open = minor
        return self

    def paid_by(self, method: PaymentMethod) -> "ContextBuilder":
        """How the invoice is meant to be paid."""
        self._method = method
        return self

    def declined(self, on: DateLike, code: str, kind: DeclineKind) -> "ContextBuilder":
        """One more failed collection, the last one on ``on``."""
        self._failed_attempts += 1
        self._failure = CollectionFailure(date(on), code, kind)
        return self

    def disputed(self) -> "ContextBuilder":
        """The customer disputes the invoice."""
        self._disputed = True
        return self

    def on_payment_plan(self) -> "ContextBuilder":
        """The invoice is covered by a payment plan."""
        self._plan = True
        return self

    def metadata(self, key: str, value: str) -> "ContextBuilder":
        """One of the tenant's key/value data about the invoice."""
        self._metadata.append((key, value))
        return self

    def tag(self, tag: str) -> "ContextBuilder":
        """A label on the customer."""
        self._tags.append(tag)
        return self

    def reachable_on(self, *channels: Channel) -> "ContextBuilder":
        """The channels the customer can be reached on (replacing e-mail)."""
        self._reachable = list(channels)
        return self

    def opted_out(self, *channels: Channel) -> "ContextBuilder":
        """Channels the customer opted out of."""
        self._opted_out = list(channels)
        return self

    def history(self, actions: Iterable[PastAction]) -> "ContextBuilder":
        """The invoice's past actions, oldest first."""
        self._history = list(actions)
        return self

    def other_overdue(self, count: int, total_minor: int) -> "ContextBuilder":
        """The customer's other overdue invoices."""
        self._other = (count, total_minor)
        return self

    def param(self, key: str, value: str) -> "ContextBuilder":
        """A tenant parameter."""
        self._params = [(k, v) for k, v in self._params if k != key] + [(key, value)]
        return self

    def build(self) -> Context:
        """The context."""
        cur = self._currency
        return Context(
            as_of=self._as_of,
            invoice=Invoice(
                "inv-1",
                "INV-0001",
                self._due.add_days(-30),
                self._due,
                Money(self._amount, cur),
                Money(self._amount if self._open is None else self._open, cur),
                self._method,
                self._failed_attempts,
                self._failure,
                self._disputed,
                self._plan,
                list(self._metadata),
            ),
            customer=Customer(
                "cust-1",
                Money(0, cur),
                date("2025-01-01"),
                list(self._tags),
                reachable_on=list(self._reachable),
                opted_out=list(self._opted_out),
            ),
            history=list(self._history),
            other_overdue=OtherOverdue(self._other[0], Money(self._other[1], cur)),
            params=sorted(self._params),
        )


def context() -> ContextBuilder:
    """A `ContextBuilder` with the defaults described there."""
    return ContextBuilder()
