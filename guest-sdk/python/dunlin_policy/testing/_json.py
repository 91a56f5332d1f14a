"""The host's JSON format for contexts and decisions, as cases files and
``dunlin policy run`` use it: kebab-case fields, ``YYYY-MM-DD`` dates, kebab-case enum
names, unknown fields refused, the host's defaults for omitted fields."""

from __future__ import annotations

import re
from typing import Any, Callable, Optional, TypeVar

from .._context import CollectionFailure, Context, Customer, Invoice, OtherOverdue, PastAction
from .._date import Date, DateError
from .._decision import AnyAction, Closure, Decision, Escalation, Notice, Pause, Retry
from .._enums import (
    ActionKind,
    ActionOutcome,
    Channel,
    DeclineKind,
    EscalationKind,
    Named,
    PaymentMethod,
    Tone,
)
from .._error import PolicyError
from .._money import I64_MAX, I64_MIN, Money

E = TypeVar("E", bound=Named)
T = TypeVar("T")

_CURRENCY = re.compile(r"[A-Z]{3}")


class JsonError(ValueError):
    """JSON that is not a context or decision in the host's format; says which field."""


def _obj(value: Any, what: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JsonError(f"{what}: expected an object")
    for key in value:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted(required | optional))
            raise JsonError(f"{what}: unknown field {key!r}, expected one of {allowed}")
    for key in sorted(required):
        if key not in value:
            raise JsonError(f"{what}: missing field {key!r}")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise JsonError(f"{what}: expected a string")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise JsonError(f"{what}: expected a boolean")
    return value


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise JsonError(f"{what}: expected an integer from {low} to {high}")
    return value


def _date(value: Any, what: str) -> Date:
    try:
        return Date.parse(_str(value, what))
    except DateError as err:
        raise JsonError(f"{what}: {err}") from None


def _enum(value: Any, kind: type[E], what: str) -> E:
    # Exact names, like the host's serde enums: no case folding.
    text = _str(value, what)
    for member in kind:
        if member.value == text:
            return member
    names = ", ".join(m.value for m in kind)
    raise JsonError(f"{what}: unknown {kind.__what__} {text!r}, expected one of {names}")


def _money(value: Any, what: str) -> Money:
    m = _obj(value, what, {"minor", "currency"}, set())
    code = _str(m["currency"], f"{what}.currency")
    if _CURRENCY.fullmatch(code) is None:
        raise JsonError(
            f"{what}.currency: currency code {code!r} is not three upper-case letters "
            '(ISO 4217, e.g. "EUR")'
        )
    return Money(_int(m["minor"], f"{what}.minor", I64_MIN, I64_MAX), code)


def _pairs(value: Any, what: str) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        raise JsonError(f"{what}: expected an object of strings")
    # The host keeps these in a sorted map: the policy sees them in key order.
    return [(k, _str(value[k], f"{what}.{k}")) for k in sorted(value)]


def _list(value: Any, what: str, item: Callable[[Any, str], T]) -> list[T]:
    if not isinstance(value, list):
        raise JsonError(f"{what}: expected an array")
    return [item(v, f"{what}[{i}]") for i, v in enumerate(value)]


U32 = 2**32 - 1


def context_from_json(value: Any) -> Context:
    """Reads a context in the host's JSON format; raises `JsonError` naming the field."""
    c = _obj(
        value,
        "context",
        {"as-of", "invoice", "customer"},
        {"history", "other-overdue", "params"},
    )
    i = _obj(
        c["invoice"],
        "invoice",
        {"id", "number", "issued-on", "due-on", "amount", "open-balance", "payment-method"},
        {"failed-attempts", "last-failure", "disputed", "on-payment-plan", "metadata"},
    )
    failure: Optional[CollectionFailure] = None
    if i.get("last-failure") is not None:
        f = _obj(i["last-failure"], "invoice.last-failure", {"on", "code", "kind"}, set())
        failure = CollectionFailure(
            _date(f["on"], "last-failure.on"),
            _str(f["code"], "last-failure.code"),
            _enum(f["kind"], DeclineKind, "last-failure.kind"),
        )
    amount = _money(i["amount"], "invoice.amount")
    invoice = Invoice(
        id=_str(i["id"], "invoice.id"),
        number=_str(i["number"], "invoice.number"),
        issued_on=_date(i["issued-on"], "invoice.issued-on"),
        due_on=_date(i["due-on"], "invoice.due-on"),
        amount=amount,
        open_balance=_money(i["open-balance"], "invoice.open-balance"),
        payment_method=_enum(i["payment-method"], PaymentMethod, "invoice.payment-method"),
        failed_attempts=_int(i.get("failed-attempts", 0), "invoice.failed-attempts", 0, U32),
        last_failure=failure,
        disputed=_bool(i.get("disputed", False), "invoice.disputed"),
        on_payment_plan=_bool(i.get("on-payment-plan", False), "invoice.on-payment-plan"),
        metadata=_pairs(i.get("metadata", {}), "invoice.metadata"),
    )
    u = _obj(
        c["customer"],
        "customer",
        {"id", "lifetime-value", "customer-since"},
        {
            "tags",
            "on-time-payments-12m",
            "late-payments-12m",
            "locale",
            "time-zone",
            "reachable-on",
            "opted-out",
        },
    )

    def channel(v: Any, what: str) -> Channel:
        return _enum(v, Channel, what)

    customer = Customer(
        id=_str(u["id"], "customer.id"),
        lifetime_value=_money(u["lifetime-value"], "customer.lifetime-value"),
        customer_since=_date(u["customer-since"], "customer.customer-since"),
        tags=_list(u.get("tags", []), "customer.tags", _str),
        on_time_payments_12m=_int(u.get("on-time-payments-12m", 0), "on-time-payments-12m", 0, U32),
        late_payments_12m=_int(u.get("late-payments-12m", 0), "late-payments-12m", 0, U32),
        locale=_str(u.get("locale", "en"), "customer.locale"),
        time_zone=_str(u.get("time-zone", "UTC"), "customer.time-zone"),
        reachable_on=_list(u.get("reachable-on", ["email"]), "customer.reachable-on", channel),
        opted_out=_list(u.get("opted-out", []), "customer.opted-out", channel),
    )

    def past(v: Any, what: str) -> PastAction:
        a = _obj(v, what, {"on", "kind", "outcome"}, {"level", "channel", "tone"})
        return PastAction(
            on=_date(a["on"], f"{what}.on"),
            kind=_enum(a["kind"], ActionKind, f"{what}.kind"),
            outcome=_enum(a["outcome"], ActionOutcome, f"{what}.outcome"),
            level=None if a.get("level") is None else _int(a["level"], f"{what}.level", 0, 255),
            channel=None if a.get("channel") is None else channel(a["channel"], f"{what}.channel"),
            tone=None if a.get("tone") is None else _enum(a["tone"], Tone, f"{what}.tone"),
        )

    o = _obj(c.get("other-overdue", {"count": 0, "total-minor": 0}), "other-overdue",
             {"count", "total-minor"}, set())
    return Context(
        as_of=_date(c["as-of"], "as-of"),
        invoice=invoice,
        customer=customer,
        history=_list(c.get("history", []), "history", past),
        other_overdue=OtherOverdue(
            _int(o["count"], "other-overdue.count", 0, U32),
            Money(_int(o["total-minor"], "other-overdue.total-minor", I64_MIN, I64_MAX),
                  amount.currency),
        ),
        params=_pairs(c.get("params", {}), "params"),
    )


def _money_json(m: Money) -> dict[str, Any]:
    return {"minor": m.minor, "currency": m.currency}


def context_to_json(ctx: Context) -> dict[str, Any]:
    """Writes a context in the host's JSON format (every field present)."""
    i, u = ctx.invoice, ctx.customer
    failure = i.last_failure
    return {
        "as-of": str(ctx.as_of),
        "invoice": {
            "id": i.id,
            "number": i.number,
            "issued-on": str(i.issued_on),
            "due-on": str(i.due_on),
            "amount": _money_json(i.amount),
            "open-balance": _money_json(i.open_balance),
            "payment-method": i.payment_method.value,
            "failed-attempts": i.failed_attempts,
            "last-failure": None
            if failure is None
            else {"on": str(failure.on), "code": failure.code, "kind": failure.kind.value},
            "disputed": i.disputed,
            "on-payment-plan": i.on_payment_plan,
            "metadata": dict(i.metadata),
        },
        "customer": {
            "id": u.id,
            "tags": list(u.tags),
            "lifetime-value": _money_json(u.lifetime_value),
            "customer-since": str(u.customer_since),
            "on-time-payments-12m": u.on_time_payments_12m,
            "late-payments-12m": u.late_payments_12m,
            "locale": u.locale,
            "time-zone": u.time_zone,
            "reachable-on": [c.value for c in u.reachable_on],
            "opted-out": [c.value for c in u.opted_out],
        },
        "history": [
            {
                "on": str(a.on),
                "kind": a.kind.value,
                "level": a.level,
                "channel": None if a.channel is None else a.channel.value,
                "tone": None if a.tone is None else a.tone.value,
                "outcome": a.outcome.value,
            }
            for a in ctx.history
        ],
        "other-overdue": {
            "count": ctx.other_overdue.count,
            "total-minor": ctx.other_overdue.total.minor,
        },
        "params": dict(ctx.params),
    }


def action_to_json(a: AnyAction) -> dict[str, Any]:
    """One action as the host writes it, with its ``kind`` tag."""
    if isinstance(a, Notice):
        return {
            "kind": "notify",
            "level": a.level,
            "channel": a.channel.value,
            "tone": a.tone.value,
            "template": a.template,
            "vars": dict(sorted(a.vars)),
        }
    if isinstance(a, Retry):
        return {"kind": "retry-payment", "reason": a.reason}
    if isinstance(a, Pause):
        return {"kind": "pause", "until": str(a.until), "reason": a.reason}
    if isinstance(a, Escalation):
        return {"kind": "escalate", "to": a.to.value, "reason": a.reason}
    if isinstance(a, Closure):
        return {"kind": "close", "write-off": a.write_off, "reason": a.reason}
    raise JsonError(f"not an action: {type(a).__name__}")


def decision_to_json(d: Decision) -> dict[str, Any]:
    """Writes a decision in the host's JSON format: ``review-on`` is ``null`` when the
    ladder ends, actions carry a ``kind`` tag, template variables are an object."""
    return {
        "segment": d.segment,
        "actions": [action_to_json(a) for a in d.actions],
        "review-on": None if d.review_on is None else str(d.review_on),
        "reason": d.reason,
    }


def policy_error_to_json(error: PolicyError) -> dict[str, str]:
    """A refusal as the host writes it: ``{"kind": "bad-param", "detail": "..."}``."""
    return {"kind": error.code, "detail": error.detail}




def _action_from_json(value: Any, what: str) -> AnyAction:
    if not isinstance(value, dict) or "kind" not in value:
        raise JsonError(f"{what}: expected an object with a \"kind\"")
    kind = value["kind"]
    fields = {k: v for k, v in value.items() if k != "kind"}
    if kind == "notify":
        n = _obj(fields, what, {"level", "channel", "tone", "template"}, {"vars"})
        return Notice(
            _int(n["level"], f"{what}.level", 0, 255),
            _enum(n["channel"], Channel, f"{what}.channel"),
            _enum(n["tone"], Tone, f"{what}.tone"),
            _str(n["template"], f"{what}.template"),
            _pairs(n.get("vars", {}), f"{what}.vars"),
        )
    if kind == "retry-payment":
        r = _obj(fields, what, {"reason"}, set())
        return Retry(_str(r["reason"], f"{what}.reason"))
    if kind == "pause":
        p = _obj(fields, what, {"until", "reason"}, set())
        return Pause(_date(p["until"], f"{what}.until"), _str(p["reason"], f"{what}.reason"))
    if kind == "escalate":
        e = _obj(fields, what, {"to", "reason"}, set())
        return Escalation(
            _enum(e["to"], EscalationKind, f"{what}.to"), _str(e["reason"], f"{what}.reason")
        )
    if kind == "close":
        c = _obj(fields, what, {"reason"}, {"write-off"})
        return Closure(
            _bool(c.get("write-off", False), f"{what}.write-off"),
            _str(c["reason"], f"{what}.reason"),
        )
    raise JsonError(f"{what}: unknown action kind {kind!r}")


def decision_from_json(value: Any) -> Decision:
    """Reads a decision in the host's JSON format, with the host's defaults for omitted
    fields (no actions, no template variables, no write-off, no ``review-on``)."""
    d = _obj(value, "decision", {"segment", "reason"}, {"actions", "review-on"})
    review = d.get("review-on")
    return Decision(
        _str(d["segment"], "segment"),
        _list(d.get("actions", []), "actions", _action_from_json),
        None if review is None else _date(review, "review-on"),
        _str(d["reason"], "reason"),
    )
