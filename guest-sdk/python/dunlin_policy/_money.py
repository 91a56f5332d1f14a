"""Money of the contract: integer minor units and a currency code, never floating point."""

from __future__ import annotations

from typing import NamedTuple, Optional

# The contract's `s64`: sums leaving this range are refused rather than wrapped.
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


class Money(NamedTuple):
    """``minor`` units (cents for EUR) of ``currency``, an ISO 4217 code such as ``"EUR"``.
    Immutable (a named tuple, which the sandbox's interpreter builds far faster than a frozen
    dataclass).

    Amounts of the same currency compare with ``<``, ``<=``, ``>``, ``>=``; comparing two
    currencies is false both ways, as in the Rust SDK.
    """

    minor: int
    currency: str

    def is_zero(self) -> bool:
        """Whether the amount is exactly zero."""
        return self.minor == 0

    def is_positive(self) -> bool:
        """Whether something is owed."""
        return self.minor > 0

    def is_negative(self) -> bool:
        """Whether the amount is a credit."""
        return self.minor < 0

    def same_currency(self, other: "Money") -> bool:
        """Whether both amounts can be compared or added."""
        return self.currency == other.currency

    def checked_add(self, other: "Money") -> Optional["Money"]:
        """The sum, or ``None`` if the currencies differ or the sum leaves the 64-bit range."""
        if not self.same_currency(other):
            return None
        total = self.minor + other.minor
        if not I64_MIN <= total <= I64_MAX:
            return None
        return Money(total, self.currency)

    def __lt__(self, other: "Money") -> bool:
        return self.same_currency(other) and self.minor < other.minor

    def __le__(self, other: "Money") -> bool:
        return self.same_currency(other) and self.minor <= other.minor

    def __gt__(self, other: "Money") -> bool:
        return self.same_currency(other) and self.minor > other.minor

    def __ge__(self, other: "Money") -> bool:
        return self.same_currency(other) and self.minor >= other.minor

    # A tuple's sequence operators make no sense for a money: `+` and `*` stay errors.
    def __add__(self, other: object) -> "Money":  # type: ignore[override]
        return NotImplemented

    def __mul__(self, other: object) -> "Money":  # type: ignore[override]
        return NotImplemented

    __rmul__ = __mul__

    def __str__(self) -> str:
        """Two decimals and the code, e.g. ``1234.50 EUR``, as the host prints money."""
        sign = "-" if self.minor < 0 else ""
        whole, cents = divmod(abs(self.minor), 100)
        return f"{sign}{whole}.{cents:02d} {self.currency}"
