"""Reading tenant parameters as typed values, with the Rust SDK's error texts, so a refusal
reads the same whichever language the policy is written in."""

from __future__ import annotations

import re
from typing import Any, Callable, TypeVar

from ._date import Date, DateError, rust_debug
from ._enums import Named, UnknownName
from ._error import PolicyError
from ._money import I64_MAX, I64_MIN

T = TypeVar("T")

_INTEGER = re.compile(r"[+-]?[0-9]+")


class _ParseError(ValueError):
    """A value that does not parse as the wanted type: ``name`` is the type as Rust names it."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(why)
        self.name = name
        self.why = why


def _int(text: str) -> int:
    # Rust's i64::from_str: an optional sign and ASCII digits, nothing else (no spaces,
    # underscores or other scripts' digits, which Python's int() would take).
    if _INTEGER.fullmatch(text) is None:
        raise _ParseError("i64", "invalid digit found in string")
    value = int(text)
    if value > I64_MAX:
        raise _ParseError("i64", "number too large to fit in target type")
    if value < I64_MIN:
        raise _ParseError("i64", "number too small to fit in target type")
    return value


def _bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise _ParseError("bool", "provided string was not `true` or `false`")


def _date(text: str) -> Date:
    try:
        return Date.parse(text)
    except DateError as err:
        raise _ParseError("Date", str(err)) from None


def parser_for(kind: type[T]) -> Callable[[str], T]:
    """How to read a parameter of type ``kind``: int (64-bit), bool, str, `Date` or one of
    the contract's enums."""
    parser: Callable[[str], Any]
    if kind is bool:
        parser = _bool
    elif kind is int:
        parser = _int
    elif kind is str:
        parser = str
    elif kind is Date:
        parser = _date
    elif isinstance(kind, type) and issubclass(kind, Named):
        enum: type[Named] = kind

        def parser(text: str) -> Named:
            try:
                return enum.parse(text)
            except UnknownName as err:
                raise _ParseError(enum.__name__, str(err)) from None

    else:
        raise TypeError(f"parameters can be int, bool, str, Date or a contract enum, not {kind}")
    return parser


def parse_param(key: str, value: str, kind: type[T]) -> T:
    """``value`` (already trimmed) read as ``kind``, or a `PolicyError` naming the key."""
    try:
        return parser_for(kind)(value)
    except _ParseError as err:
        raise PolicyError.bad_param(
            key, f"{rust_debug(value)} is not a valid {err.name} ({err.why})"
        ) from None


def display(value: object) -> str:
    """A parameter value as Rust's ``Display`` prints it (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
