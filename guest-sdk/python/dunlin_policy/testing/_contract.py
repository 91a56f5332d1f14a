"""The contract checks the host applies to every decision, repeated so that native tests
catch an invalid decision before the component runs. The host (``Decision::validate``)
is the authority; the messages are the Rust SDK's."""

from __future__ import annotations

import re
from typing import Optional

from .._context import Context
from .._date import Date
from .._decision import Closure, Decision, Escalation, Notice, Pause, Retry

MAX_LEVEL = 9
MAX_ACTIONS = 16
MAX_LABEL = 64
MAX_TEXT = 2048
MAX_VARS = 32

_IDENTIFIER = re.compile(r"[a-z0-9._-]*")


class _Violation(Exception):
    pass


def contract_violation(ctx: Context, decision: Decision) -> Optional[str]:
    """Why ``decision`` breaks the contract for ``ctx``, or ``None`` if it keeps it."""
    try:
        _check(ctx, decision)
    except _Violation as err:
        return str(err)
    return None


def _check(ctx: Context, d: Decision) -> None:
    _label("segment", d.segment, may_be_empty=True)
    _text("reason", d.reason)
    if d.review_on is not None:
        _after("review-on", d.review_on, ctx.as_of)
    if len(d.actions) > MAX_ACTIONS:
        raise _Violation(f"actions: {len(d.actions)} given, at most {MAX_ACTIONS} allowed")
    for i, action in enumerate(d.actions):
        if isinstance(action, Notice):
            if not 1 <= action.level <= MAX_LEVEL:
                raise _Violation(f"notice level {action.level} is outside 1..={MAX_LEVEL}")
            field = f"actions[{i}].template"
            _label(field, action.template, may_be_empty=False)
            _identifier(field, action.template)
            if len(action.vars) > MAX_VARS:
                raise _Violation(
                    f"actions[{i}].vars: {len(action.vars)} given, at most {MAX_VARS} allowed"
                )
            seen: set[str] = set()
            for name, value in action.vars:
                field = f"actions[{i}].vars name"
                _label(field, name, may_be_empty=False)
                _identifier(field, name)
                field = f"actions[{i}].vars[{name}]"
                _bounded(field, value, MAX_TEXT)
                _controls(field, value, newline_and_tab=True)
                if name in seen:
                    raise _Violation(f'template variable "{escaped(name)}" is given twice')
                seen.add(name)
        elif isinstance(action, Pause):
            _text(f"actions[{i}].reason", action.reason)
            _after(f"actions[{i}].until", action.until, ctx.as_of)
        elif isinstance(action, (Retry, Escalation, Closure)):
            _text(f"actions[{i}].reason", action.reason)
        else:
            raise _Violation(f"actions[{i}] is not an action: {type(action).__name__}")


def _bounded(field: str, value: str, most: int) -> None:
    size = len(value.encode("utf-8"))
    if size > most:
        raise _Violation(f"{field} is {size} bytes long; at most {most} allowed")


def _label(field: str, value: str, may_be_empty: bool) -> None:
    if not may_be_empty and not value:
        raise _Violation(f"{field} is empty")
    _bounded(field, value, MAX_LABEL)
    _controls(field, value, newline_and_tab=False)


def _text(field: str, value: str) -> None:
    if not value.strip():
        raise _Violation(f"{field} is empty")
    _bounded(field, value, MAX_TEXT)
    _controls(field, value, newline_and_tab=True)


def is_control(c: str) -> bool:
    """A control character (C0, DEL, C1) or a bidirectional embedding, override or isolate."""
    n = ord(c)
    return n < 0x20 or 0x7F <= n <= 0x9F or 0x202A <= n <= 0x202E or 0x2066 <= n <= 0x2069


def _controls(field: str, value: str, newline_and_tab: bool) -> None:
    position = 0
    for c in value:
        if is_control(c) and not (newline_and_tab and c in "\n\t"):
            raise _Violation(
                f"{field} contains the control character U+{ord(c):04X} at byte {position}"
            )
        position += len(c.encode("utf-8"))


def _identifier(field: str, value: str) -> None:
    if _IDENTIFIER.fullmatch(value) is None:
        raise _Violation(f"{field} \"{escaped(value)}\" may use only a-z, 0-9, '.', '_' and '-'")


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}


def escaped(value: str) -> str:
    """The policy's text as the host shows it in a message: one inert line."""
    return "".join(_escape_char(c) for c in value)


def _escape_char(c: str) -> str:
    escape = _ESCAPES.get(c)
    if escape is not None:
        return escape
    return f"\\u{{{ord(c):x}}}" if is_control(c) else c


def _after(field: str, date: Date, as_of: Date) -> None:
    if not date.is_valid():
        raise _Violation(f"{field} is not a calendar date: {date}")
    if not date > as_of:
        raise _Violation(f"{field} {date} is not after the as-of date {as_of}")
