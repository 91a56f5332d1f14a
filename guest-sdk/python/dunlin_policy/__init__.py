"""Write Dunlin dunning policies in Python.

A policy is a pure function from a `Context` (one invoice, its customer, its dunning history
and the tenant's parameters) to a `Decision` (what to do now and when to look again); it
raises `PolicyError` to refuse. Export it from the policy's module for componentize-py::

    from dunlin_policy import Context, Decision, decision, export, notice

    def decide(ctx: Context) -> Decision:
        if ctx.is_overdue():
            return (decision("gentle")
                    .act(notice(1).template_id("reminder-friendly"))
                    .because("overdue: one friendly reminder"))
        return decision("gentle").review(ctx.invoice.due_on.add_days(1)).because("not due yet")

    Decider = export(decide)

The types are the ``dunlin:policy@0.1.0`` contract's, with helpers: dates (`Date`), money
(`Money`, integer minor units), the contract's enums, questions about the context
(`Context.days_overdue`, `Context.param_or`, `Context.can_reach`, ...) and builders for the
answer (`decision`, `notice`, `Action.retry`, ...). ``dunlin_policy.testing`` runs a cases
file natively under pytest.
"""

# Every module a call needs is imported here, at load: componentize-py keeps only the
# modules imported while it builds the component.
from ._component import export
from ._context import CollectionFailure, Context, Customer, Invoice, OtherOverdue, PastAction
from ._date import Date, DateError
from ._decision import (
    Action,
    AnyAction,
    Closure,
    Decision,
    Escalation,
    Notice,
    Pause,
    Retry,
    decision,
    notice,
)
from ._enums import (
    ActionKind,
    ActionOutcome,
    Channel,
    DeclineKind,
    EscalationKind,
    PaymentMethod,
    Tone,
    UnknownName,
)
from ._error import PolicyError
from ._money import Money

#: The version of the ``dunlin:policy`` contract this SDK implements.
CONTRACT_VERSION = "0.1.0"

__all__ = [
    "CONTRACT_VERSION",
    "Action",
    "ActionKind",
    "ActionOutcome",
    "AnyAction",
    "Channel",
    "Closure",
    "CollectionFailure",
    "Context",
    "Customer",
    "Date",
    "DateError",
    "Decision",
    "DeclineKind",
    "Escalation",
    "EscalationKind",
    "Invoice",
    "Money",
    "Notice",
    "OtherOverdue",
    "PastAction",
    "Pause",
    "PaymentMethod",
    "PolicyError",
    "Retry",
    "Tone",
    "UnknownName",
    "decision",
    "export",
    "notice",
]
