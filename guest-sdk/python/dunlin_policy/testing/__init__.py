"""Testing policies natively (plain ``pytest``, no WebAssembly): a context builder, the
host's JSON format, the host's contract checks and a runner for cases files."""

from ._builder import ContextBuilder, closed, context, date, escalated, notified, paused, retried
from ._cases import (
    CaseFailure,
    CasesFileError,
    CasesReport,
    check_cases,
    decide_natively,
    merge_patch,
    run_cases,
    subset_mismatches,
)
from ._contract import contract_violation
from ._json import (
    JsonError,
    action_to_json,
    context_from_json,
    context_to_json,
    decision_from_json,
    decision_to_json,
    policy_error_to_json,
)

__all__ = [
    "CaseFailure",
    "CasesFileError",
    "CasesReport",
    "ContextBuilder",
    "JsonError",
    "action_to_json",
    "check_cases",
    "closed",
    "context",
    "context_from_json",
    "context_to_json",
    "contract_violation",
    "date",
    "decide_natively",
    "decision_from_json",
    "decision_to_json",
    "escalated",
    "merge_patch",
    "notified",
    "paused",
    "policy_error_to_json",
    "retried",
    "run_cases",
    "subset_mismatches",
]
