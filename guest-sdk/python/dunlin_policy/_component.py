"""The component's ``decider`` export: componentize-py's generated bindings (``wit_world``)
converted to and from the SDK's types, so policies never see the bindings' conventions
(enum members by number, variant cases as ``Action_Notify`` wrappers, refusals raised as
``componentize_py_types.Err``).

componentize-py keeps only the modules imported while it builds the component, so this
module imports everything a call needs at load time; nothing is imported inside a call.
"""

from __future__ import annotations

import gc
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


# The enum tables are keyed by the members' `_value_` (the generated enums' numbers, our
# kebab-case names), not by the members: an Enum member hashes in Python code, a number or a
# string in C, and a context carries a dozen enum values.


def _by_name(generated: Any, ours: type[Named]) -> dict[int, Any]:
    """The generated enum's members (``IN_APP = 4``) mapped to ours, by member name, keyed
    by the generated number."""
    return {member._value_: ours[member.name] for member in generated}


def _back(generated: Any, ours: type[Named]) -> dict[str, Any]:
    """Our members mapped to the generated ones, keyed by our kebab-case name."""
    return {ours[member.name]._value_: member for member in generated}


if HAVE_BINDINGS:
    _PAYMENT = _by_name(wit.PaymentMethod, PaymentMethod)
    _DECLINE = _by_name(wit.DeclineKind, DeclineKind)
    _CHANNEL = _by_name(wit.Channel, Channel)
    _TONE = _by_name(wit.Tone, Tone)
    _OUTCOME = _by_name(wit.ActionOutcome, ActionOutcome)
    _KIND = _by_name(wit.ActionKind, ActionKind)
    _CHANNEL_OUT = _back(wit.Channel, Channel)
    _TONE_OUT = _back(wit.Tone, Tone)
    _ESCALATION_OUT = _back(wit.EscalationKind, EscalationKind)

    def _date(d: Any) -> Date:
        return Date(d.year, d.month, d.day)

    def _money(m: Any) -> Money:
        return Money(m.minor, m.currency)

    def _context(c: Any) -> Context:
        i = c.invoice
        failure: Optional[CollectionFailure] = None
        if i.last_failure is not None:
            f = i.last_failure
            failure = CollectionFailure(_date(f.on), f.code, _DECLINE[f.kind._value_])
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
                _PAYMENT[i.payment_method._value_],
                i.failed_attempts,
                failure,
                i.disputed,
                i.on_payment_plan,
                i.metadata,
            ),
            customer=Customer(
                u.id,
                _money(u.lifetime_value),
                _date(u.customer_since),
                u.tags,
                u.on_time_payments_12m,
                u.late_payments_12m,
                u.locale,
                u.time_zone,
                [_CHANNEL[ch._value_] for ch in u.reachable_on],
                [_CHANNEL[ch._value_] for ch in u.opted_out],
            ),
            history=[
                PastAction(
                    _date(a.on),
                    _KIND[a.kind._value_],
                    _OUTCOME[a.outcome._value_],
                    a.level,
                    None if a.channel is None else _CHANNEL[a.channel._value_],
                    None if a.tone is None else _TONE[a.tone._value_],
                )
                for a in c.history
            ],
            other_overdue=OtherOverdue(c.other_overdue.count, _money(c.other_overdue.total)),
            params=c.params,
        )

    def _wit_date(d: Date) -> Any:
        return wit.Date(d.year, d.month, d.day)

    def _action(a: Any) -> Any:
        if isinstance(a, Notice):
            return wit.Action_Notify(
                wit.Notice(
                    a.level, _CHANNEL_OUT[a.channel._value_], _TONE_OUT[a.tone._value_], a.template, list(a.vars)
                )
            )
        if isinstance(a, Retry):
            return wit.Action_RetryPayment(wit.Retry(a.reason))
        if isinstance(a, Pause):
            return wit.Action_Pause(wit.Pause(_wit_date(a.until), a.reason))
        if isinstance(a, Escalation):
            return wit.Action_Escalate(wit.Escalation(_ESCALATION_OUT[a.to._value_], a.reason))
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

    _warm_up(Decider())
    # The heap the interpreter has built by now (the modules, the SDK, the policy) lives as
    # long as the instance: freezing it keeps the cycle collector from scanning it again
    # during calls.
    gc.collect()
    gc.freeze()
    return Decider


def _warm_up(decider: Any) -> None:
    """Decides a few sample invoices while the component is built. componentize-py
    snapshots the interpreter after import, so what the first calls leave behind (the
    interpreter's specialised bytecode, its method caches) is in every fresh instance
    instead of being redone by each one's first decision. Whatever the policy answers or
    raises is ignored: only its path through the code matters."""
    money = wit.Money(12000, "EUR")
    due = wit.Date(2026, 2, 14)
    for as_of, history in (
        (wit.Date(2026, 2, 12), []),
        (wit.Date(2026, 2, 20), []),
        (
            wit.Date(2026, 3, 10),
            [
                wit.PastAction(
                    on=wit.Date(2026, 2, 17),
                    kind=wit.ActionKind.NOTIFY,
                    level=1,
                    channel=wit.Channel.EMAIL,
                    tone=wit.Tone.FRIENDLY,
                    outcome=wit.ActionOutcome.DELIVERED,
                )
            ],
        ),
    ):
        ctx = wit.Context(
            as_of=as_of,
            invoice=wit.Invoice(
                id="warm-up",
                number="WARM-UP",
                issued_on=wit.Date(2026, 1, 15),
                due_on=due,
                amount=money,
                open_balance=money,
                payment_method=wit.PaymentMethod.BANK_TRANSFER,
                failed_attempts=0,
                last_failure=None,
                disputed=False,
                on_payment_plan=False,
                metadata=[("plan", "pro")],
            ),
            customer=wit.Customer(
                id="warm-up",
                tags=["smb"],
                lifetime_value=money,
                customer_since=wit.Date(2022, 5, 1),
                on_time_payments_12m=9,
                late_payments_12m=2,
                locale="en",
                time_zone="UTC",
                reachable_on=[wit.Channel.EMAIL],
                opted_out=[],
            ),
            history=history,
            other_overdue=wit.OtherOverdue(0, wit.Money(0, "EUR")),
            params=[],
        )
        # Enough calls for the interpreter to specialise the bytecode it ran.
        for _ in range(_WARM_UP_CALLS):
            try:
                decider.decide(ctx)
            except Exception:  # noqa: BLE001 - a refusal or a bug shows on real invoices
                pass


_WARM_UP_CALLS = 16
