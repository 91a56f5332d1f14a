"""Calendar dates of the contract: parse, print, add days, count days, compare.

Proleptic Gregorian without time or zone, as in the contract. The arithmetic goes through a
day count since 1970-01-01 (Howard Hinnant's ``days_from_civil``), the same as the Rust SDK,
so both languages agree on every date the contract can carry.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

_ISO = re.compile(r"(-?)([0-9]{4,9})-([0-9]{1,2})-([0-9]{1,2})")


class DateError(ValueError):
    """Text that is not a calendar date in the form ``YYYY-MM-DD``."""

    def __init__(self, text: str) -> None:
        super().__init__(f"{rust_debug(text)} is not a calendar date in the form YYYY-MM-DD")


class Date(NamedTuple):
    """A calendar date; ordered by year, then month, then day. Immutable.

    A named tuple rather than a frozen dataclass: a policy makes dozens of dates per
    decision, and in the sandbox's interpreter a tuple is built in a quarter of the time and
    compares in C."""

    year: int
    month: int
    day: int

    @staticmethod
    def new(year: int, month: int, day: int) -> Optional["Date"]:
        """The date, or ``None`` if it is not a calendar day (e.g. 2026-02-30)."""
        date = Date(year, month, day)
        return date if date.is_valid() else None

    @staticmethod
    def parse(text: str) -> "Date":
        """Reads ``YYYY-MM-DD`` (month and day may have one digit); raises `DateError`."""
        found = _ISO.fullmatch(text)
        if found is None:
            raise DateError(text)
        sign, y, m, d = found.groups()
        date = Date.new(-int(y) if sign else int(y), int(m), int(d))
        if date is None:
            raise DateError(text)
        return date

    def is_valid(self) -> bool:
        """Whether the month is 1-12 and the day exists in that month."""
        return 1 <= self.month <= 12 and 1 <= self.day <= _days_in_month(self.year, self.month)

    def days_since_epoch(self) -> int:
        """Days since 1970-01-01 (negative before it)."""
        return _days_from_civil(self.year, self.month, self.day)

    @staticmethod
    def from_days_since_epoch(days: int) -> "Date":
        """The date ``days`` days after 1970-01-01."""
        return Date(*_civil_from_days(days))

    def add_days(self, days: int) -> "Date":
        """The date ``days`` days later (earlier for negative ``days``)."""
        return Date.from_days_since_epoch(self.days_since_epoch() + days)

    def days_until(self, later: "Date") -> int:
        """How many days from this date to ``later``; negative if ``later`` is earlier."""
        return later.days_since_epoch() - self.days_since_epoch()

    def days_since(self, earlier: "Date") -> int:
        """How many days from ``earlier`` to this date."""
        return self.days_since_epoch() - earlier.days_since_epoch()

    # A tuple's sequence operators make no sense for a date: `+` and `*` stay errors.
    def __add__(self, other: object) -> "Date":  # type: ignore[override]
        return NotImplemented

    def __mul__(self, other: object) -> "Date":  # type: ignore[override]
        return NotImplemented

    __rmul__ = __mul__

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    y = year - 1 if month <= 2 else year
    era = y // 400
    year_of_era = y - era * 400
    month_from_march = month - 3 if month > 2 else month + 9
    day_of_year = (153 * month_from_march + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    z = days + 719_468
    era = z // 146_097
    day_of_era = z - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_from_march = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_from_march + 2) // 5 + 1
    month = month_from_march + 3 if month_from_march < 10 else month_from_march - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


_DEBUG_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def rust_debug(text: str) -> str:
    """``text`` quoted and escaped as Rust's ``{:?}`` prints a string, so that messages read
    the same whichever SDK wrote them."""
    return '"' + "".join(_debug_char(c) for c in text) + '"'


def _debug_char(c: str) -> str:
    escape = _DEBUG_ESCAPES.get(c)
    if escape is not None:
        return escape
    return c if c.isprintable() or c == " " else f"\\u{{{ord(c):x}}}"
