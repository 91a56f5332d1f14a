"""The contract's enums, by their kebab-case names (``"in-app"``, ``"bank-transfer"``).

``parse`` lets a tenant parameter name a channel or tone, ignoring ASCII case, with the
same error text as the Rust SDK.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from ._date import rust_debug

E = TypeVar("E", bound="Named")


class UnknownName(ValueError):
    """A name that is not one of an enum's kebab-case names."""


class Named(Enum):
    """An enum whose values are the contract's kebab-case names."""

    __what__ = "value"

    @classmethod
    def parse(cls: type[E], name: str) -> E:
        """The member named ``name``, ignoring ASCII case; raises `UnknownName`."""
        wanted = name.lower() if name.isascii() else name
        for member in cls:
            if member.value == wanted:
                return member
        names = ", ".join(m.value for m in cls)
        raise UnknownName(f"{rust_debug(name)} is not a {cls.__what__}; expected one of {names}")

    def __str__(self) -> str:
        return str(self.value)


class PaymentMethod(Named):
    """How the invoice is meant to be paid."""

    __what__ = "payment method"
    CARD = "card"
    DIRECT_DEBIT = "direct-debit"
    BANK_TRANSFER = "bank-transfer"
    OTHER = "other"

    def is_automatic(self) -> bool:
        """Whether the tenant collects automatically, so a failed collection can be retried."""
        return self in (PaymentMethod.CARD, PaymentMethod.DIRECT_DEBIT)


class DeclineKind(Named):
    """Whether a failed automatic collection may succeed if retried."""

    __what__ = "decline kind"
    SOFT = "soft"
    HARD = "hard"


class Channel(Named):
    """A way of reaching a customer."""

    __what__ = "channel"
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"
    PHONE = "phone"
    IN_APP = "in-app"


class Tone(Named):
    """The tone of a notice."""

    __what__ = "tone"
    FRIENDLY = "friendly"
    NEUTRAL = "neutral"
    FIRM = "firm"
    FINAL = "final"


class ActionOutcome(Named):
    """What became of a past action."""

    __what__ = "action outcome"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    OPENED = "opened"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    BLOCKED = "blocked"


class ActionKind(Named):
    """The kind of an action."""

    __what__ = "action kind"
    NOTIFY = "notify"
    RETRY_PAYMENT = "retry-payment"
    PAUSE = "pause"
    ESCALATE = "escalate"
    CLOSE = "close"


class EscalationKind(Named):
    """Where an escalation goes."""

    __what__ = "escalation kind"
    ACCOUNT_MANAGER = "account-manager"
    SUSPEND_SERVICE = "suspend-service"
    COLLECTIONS = "collections"
    LEGAL = "legal"
