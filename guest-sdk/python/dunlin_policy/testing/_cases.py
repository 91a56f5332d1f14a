"""Cases files, run natively: the same file ``dunlin policy test`` runs against the
component, with the host's semantics.

A cases file holds a full ``base`` context in the host's JSON format and ``cases`` that
patch it (JSON merge patch, RFC 7386) and state what they expect: ``expect``, a partial
decision (every key given must match, arrays element by element), or ``expect-failure``,
a failure code. Natively a `PolicyError` is ``refused``, any other exception is ``trap``
and a decision that breaks the contract is ``invalid-decision``, as the sandbox reports
them.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from .._context import Context
from .._decision import Decision
from .._error import PolicyError
from ._contract import contract_violation
from ._json import JsonError, context_from_json, decision_to_json, policy_error_to_json

Decide = Callable[[Context], Decision]


class CasesFileError(ValueError):
    """A cases file that cannot be run: not JSON, unknown keys, duplicate names, no
    expectation."""


@dataclass
class CaseFailure:
    """One failed case: what did not match, and what the policy answered."""

    name: str
    problems: list[str]
    got: str


@dataclass
class CasesReport:
    """How many cases ran and the ones that failed, in file order."""

    total: int
    failures: list[CaseFailure] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.failures)} of {self.total} cases failed"]
        for failure in self.failures:
            lines.append(f"\ncase {json.dumps(failure.name)}:")
            lines.extend(f"    {problem}" for problem in failure.problems)
            lines.append(f"    got: {failure.got}")
        return "\n".join(lines)


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with the JSON merge patch ``patch`` (RFC 7386) applied: objects merge key
    by key, ``null`` removes a key, anything else replaces. ``target`` is not changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def subset_mismatches(expected: Any, actual: Any) -> list[str]:
    """Where ``actual`` fails to contain ``expected``, one line per difference."""
    problems: list[str] = []
    _compare(expected, actual, "", problems)
    return problems


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, as in serde_json.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _compare(expected: Any, actual: Any, path: str, problems: list[str]) -> None:
    at = path or "decision"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, want in expected.items():
            sub = f"{path}.{key}" if path else key
            if key in actual:
                _compare(want, actual[key], sub, problems)
            else:
                problems.append(f"{sub}: expected {_text(want)}, but it is missing")
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            problems.append(
                f"{at}: expected {len(expected)} element(s), got {len(actual)}: {_text(actual)}"
            )
            return
        for i, (want, got) in enumerate(zip(expected, actual)):
            _compare(want, got, f"{path}[{i}]", problems)
    elif isinstance(expected, (dict, list)) or isinstance(actual, (dict, list)):
        if expected != actual:
            problems.append(f"{at}: expected {_text(expected)}, got {_text(actual)}")
    elif not _same(expected, actual):
        problems.append(f"{at}: expected {_text(expected)}, got {_text(actual)}")


_CASE_KEYS = ("name", "context", "expect", "expect-failure")


def check_cases(decide: Decide, file: Any) -> CasesReport:
    """Runs the cases in the parsed cases ``file`` against ``decide``; raises
    `CasesFileError` if the file itself is malformed."""
    if not isinstance(file, dict):
        raise CasesFileError("the cases file must be a JSON object")
    for key in file:
        if key not in ("base", "cases"):
            raise CasesFileError(
                f"the cases file has an unknown key {json.dumps(key)}; allowed: base, cases"
            )
    if "base" not in file:
        raise CasesFileError('the cases file has no "base" context')
    cases = file.get("cases")
    if not isinstance(cases, list):
        raise CasesFileError('the cases file has no "cases" array')
    if not cases:
        raise CasesFileError('"cases" is empty')
    report = CasesReport(total=len(cases))
    names: set[str] = set()
    for i, case in enumerate(cases):
        name, patch, expect = _parse_case(case, i)
        if name in names:
            raise CasesFileError(f"two cases are named {json.dumps(name)}")
        names.add(name)
        failure = _run_case(decide, file["base"], name, patch, expect)
        if failure is not None:
            report.failures.append(failure)
    return report


def _parse_case(case: Any, i: int) -> tuple[str, Any, tuple[str, Any]]:
    what = f"cases[{i}]"
    if not isinstance(case, dict):
        raise CasesFileError(f"{what} must be a JSON object")
    for key in case:
        if key not in _CASE_KEYS:
            raise CasesFileError(
                f"{what} has an unknown key {json.dumps(key)}; allowed: {', '.join(_CASE_KEYS)}"
            )
    name = case.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CasesFileError(f'{what} has no "name"')
    patch = case.get("context")
    if patch is not None and not isinstance(patch, dict):
        raise CasesFileError(f'case {json.dumps(name)}: "context" must be an object (a merge patch)')
    has_expect, has_failure = "expect" in case, "expect-failure" in case
    if has_expect == has_failure:
        raise CasesFileError(
            f'case {json.dumps(name)} needs exactly one of "expect" and "expect-failure"'
        )
    if has_failure:
        code = case["expect-failure"]
        if not isinstance(code, str):
            raise CasesFileError(
                f'case {json.dumps(name)}: "expect-failure" must be a failure code such as "refused"'
            )
        return name, patch, ("failure", code)
    return name, patch, ("decision", case["expect"])




def decide_natively(decide: Decide, ctx: Context) -> tuple[str, Any, str]:
    """What one call comes to natively: ``("decided", decision_json, "")`` or
    ``("failed", code, detail)``."""
    try:
        answer = decide(ctx)
    except PolicyError as refusal:
        return "failed", "refused", json.dumps(policy_error_to_json(refusal))
    except Exception as err:  # Any other exception is what traps in the sandbox.
        return "failed", "trap", f"{type(err).__name__}: {err}"
    if not isinstance(answer, Decision):
        return "failed", "trap", f"decide returned {type(answer).__name__}, not a Decision"
    violation = contract_violation(ctx, answer)
    if violation is not None:
        return "failed", "invalid-decision", f"{violation}; decision: {_text(decision_to_json(answer))}"
    return "decided", decision_to_json(answer), ""


def _run_case(
    decide: Decide, base: Any, name: str, patch: Any, expect: tuple[str, Any]
) -> CaseFailure | None:
    doc = merge_patch(base, patch) if patch is not None else base
    try:
        ctx = context_from_json(doc)
    except JsonError as err:
        return CaseFailure(
            name,
            [f"the patched context is not a valid context: {err}"],
            "nothing: the policy was not called",
        )
    state, value, detail = decide_natively(decide, ctx)
    got = _text(value) if state == "decided" else f"failure {json.dumps(value)}: {detail}"
    kind, want = expect
    if kind == "decision" and state == "decided":
        problems = subset_mismatches(want, value)
    elif kind == "decision":
        problems = [f"expected a decision, got failure {json.dumps(value)}"]
    elif state == "decided":
        problems = [f"expected failure {json.dumps(want)}, got a decision"]
    elif want != value:
        problems = [f"expected failure {json.dumps(want)}, got failure {json.dumps(value)}"]
    else:
        problems = []
    return CaseFailure(name, problems, got) if problems else None


def run_cases(decide: Decide, path: Union[str, "os.PathLike[str]"]) -> CasesReport:
    """Runs the cases file at ``path`` against ``decide`` and raises ``AssertionError`` with
    a per-case report if any case fails (pytest shows it); `CasesFileError` if the file is
    malformed. Returns the report when every case passed."""
    with open(path, encoding="utf-8") as f:
        try:
            file = json.load(f)
        except json.JSONDecodeError as err:
            raise CasesFileError(f"{os.fspath(path)} is not JSON: {err}") from None
    try:
        report = check_cases(decide, file)
    except CasesFileError as err:
        raise CasesFileError(f"{os.fspath(path)}: {err}") from None
    if report.failures:
        raise AssertionError(f"{os.fspath(path)}: {report}")
    return report
