"""The contract's shared cases (``wit/policy@0.1.0/cases/``) against this SDK's copies of the
host's JSON format and contract checks: the host and the Rust SDK run the same files, so a
case the languages answer differently fails here."""

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from dunlin_policy import CONTRACT_VERSION
from dunlin_policy.testing import (
    JsonError,
    context_from_json,
    context_to_json,
    contract_violation,
    decision_from_json,
    decision_to_json,
)

CASES = Path(__file__).resolve().parents[3] / "wit" / f"policy@{CONTRACT_VERSION}" / "cases"


def load(name: str) -> Any:
    return json.loads((CASES / name).read_text(encoding="utf-8"))


def each(file: Any, key: str) -> Iterator[tuple[str, Any]]:
    for case in file[key]:
        yield case["name"], case


def test_shared_contexts_are_read_and_written_as_the_host_does() -> None:
    file = load("contexts.json")
    for name, case in each(file, "valid"):
        ctx = context_from_json(case["context"])
        written = context_to_json(ctx)
        if "written-as" in case:
            assert written == case["written-as"], name
        assert context_from_json(written) == ctx, name
    accepted = []
    for name, case in each(file, "invalid"):
        try:
            context_from_json(case["context"])
        except JsonError:
            continue
        accepted.append(name)
    assert accepted == [], f"invalid contexts accepted: {accepted}"


def test_shared_decisions_are_read_and_checked_as_the_host_does() -> None:
    file = load("decisions.json")
    ctx = context_from_json(file["context"])
    for name, case in each(file, "valid"):
        decision = decision_from_json(case["decision"])
        assert contract_violation(ctx, decision) is None, name
        assert decision_to_json(decision) == case.get("written-as", case["decision"]), name
    for name, case in each(file, "refused"):
        decision = decision_from_json(case["decision"])
        assert contract_violation(ctx, decision) == case["refused"]["message"], name
    read = []
    for name, case in each(file, "unreadable"):
        try:
            decision_from_json(case["decision"])
        except JsonError:
            continue
        read.append(name)
    assert read == [], f"unreadable decisions read: {read}"


@pytest.mark.parametrize("name", ["contexts.written.jsonl"])
def test_written_contexts_read_back(name: str) -> None:
    # Split on newlines only: the lines hold other line separators (U+0085, U+2028) as is.
    for line in filter(None, (CASES / name).read_text(encoding="utf-8").split("\n")):
        value = json.loads(line)
        assert context_to_json(context_from_json(value)) == value
