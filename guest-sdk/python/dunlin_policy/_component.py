"""The component's ``decider`` export: componentize-py's generated bindings (``wit_world``)
converted to and from the SDK's types, so policies never see the bindings' conventions
(enum members by number, variant cases as ``Action_Notify`` wrappers, refusals raised as
``componentize_py_types.Err``).

componentize-py keeps only the modules imported while it builds the component, so this
module imports everything a call needs at load time; nothing is imported inside a call.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._context import CollectionFailure, Context, Customer, Invoice, OtherOverdue, PastAction
from ._date import Date
from ._decision import Closure, Decision, Escalation, Notice, Pause, Retry
from ._enums import (
    ActionKind,
    ActionOutcome,
    Channel,
    DeclineKind,
    EscalationKind,
    Named,
    PaymentMethod,
    Tone,
)
from ._error import PolicyError
from ._money import Money

try:
    # Present only while componentize-py builds the component (and inside it).
    from componentize_py_types import Err
    from wit_world.exports import decider as wit

    HAVE_BINDINGS = True
except ImportError:  # A native run: tests call the policy's function directly.
    HAVE_BINDINGS = False

Decide = Callable[[Context], Decision]


def _by_name(generated: Any, ours: type[Named]) -> dict[Any, Any]:
    """The generated enum's members (``IN_APP = 4``) mapped to ours, by member name."""
    return {member: ours[member.name] for member in generated}


def _back(table: dict[Any, Any]) -> dict[Any, Any]:
    return {ours: theirs for theirs, ours in table.items()}


if HAVE_BINDINGS:
    _PAYMENT = _by_name(wit.PaymentMethod, PaymentMethod)
    _DECLINE = _by_name(wit.DeclineKind, DeclineKind)
    _CHANNEL = _by_name(wit.Channel, Channel)
    _TONE = _by_name(wit.Tone, Tone)
    _OUTCOME = _by_name(wit.ActionOutcome, ActionOutcome)
    _KIND = _by_name(wit.ActionKind, ActionKind)
    _CHANNEL_OUT = _back(_CHANNEL)
    _TONE_OUT = _back(_TONE)
    _ESCALATION_OUT = _back(_by_name(wit.EscalationKind, EscalationKind))

    def _date(d: Any) -> Date:
        return Date(d.year, d.month, d.day)

    def _money(m: Any) -> Money:
        return Money(m.minor, m.currency)

    def _context(c: Any) -> Context:
        i = c.invoice
        failure: Optional[CollectionFailure] = None
        if i.last_failure is not None:
            f = i.last_failure
            failure = CollectionFailure(_date(f.on), f.code, _DECLINE[f.kind])
        u = c.customer
        return Context(
            as_of=_date(c.as_of),
            invoice=Invoice(
                i.id,
                i.number,
                _date(i.issued_on),
                _date(i.due_on),
                _money(i.amount),
                _money(i.open_balance),
                _PAYMENT[i.payment_method],
                i.failed_attempts,
                failure,
                i.disputed,
                i.on_payment_plan,
                list(i.metadata),
            ),
            customer=Customer(
                u.id,
                _money(u.lifetime_value),
                _date(u.customer_since),
                list(u.tags),
                u.on_time_payments_12m,
                u.late_payments_12m,
                u.locale,
                u.time_zone,
                [_CHANNEL[ch] for ch in u.reachable_on],
                [_CHANNEL[ch] for ch in u.opted_out],
            ),
            history=[
                PastAction(
                    _date(a.on),
                    _KIND[a.kind],
                    _OUTCOME[a.outcome],
                    a.level,
                    None if a.channel is None else _CHANNEL[a.channel],
                    None if a.tone is None else _TONE[a.tone],
                )
                for a in c.history
            ],
            other_overdue=OtherOverdue(c.other_overdue.count, _money(c.other_overdue.total)),
            params=list(c.params),
        )

    def _wit_date(d: Date) -> Any:
        return wit.Date(d.year, d.month, d.day)

    def _action(a: Any) -> Any:
        if isinstance(a, Notice):
            return wit.Action_Notify(
                wit.Notice(
                    a.level, _CHANNEL_OUT[a.channel], _TONE_OUT[a.tone], a.template, list(a.vars)
                )
            )
        if isinstance(a, Retry):
            return wit.Action_RetryPayment(wit.Retry(a.reason))
        if isinstance(a, Pause):
            return wit.Action_Pause(wit.Pause(_wit_date(a.until), a.reason))
        if isinstance(a, Escalation):
            return wit.Action_Escalate(wit.Escalation(_ESCALATION_OUT[a.to], a.reason))
        if isinstance(a, Closure):
            return wit.Action_Close(wit.Closure(a.write_off, a.reason))
        raise TypeError(f"not an action: {type(a).__name__}")

    def _decision(d: Decision) -> Any:
        return wit.Decision(
            d.segment,
            [_action(a) for a in d.actions],
            None if d.review_on is None else _wit_date(d.review_on),
            d.reason,
        )

    def _refusal(e: PolicyError) -> Any:
        if e.code == "bad-param":
            return Err(wit.PolicyError_BadParam(e.detail))
        return Err(wit.PolicyError_Unsupported(e.detail))


def export(decide: Decide) -> type:
    """The class componentize-py looks for as the module's ``Decider``:
    ``Decider = dunlin_policy.export(decide)`` in the policy's module.

    Natively it is a plain class whose ``decide`` takes and returns the SDK's types, so the
    same module imports in tests.
    """
    if not HAVE_BINDINGS:

        class NativeDecider:
            def decide(self, ctx: Context) -> Decision:
                return decide(ctx)

        return NativeDecider

    class Decider:
        def decide(self, ctx: Any) -> Any:
            try:
                answer = decide(_context(ctx))
            except PolicyError as refusal:
                raise _refusal(refusal) from None
            return _decision(answer)

    return Decider
