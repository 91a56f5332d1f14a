"""The template ``dunlin policy new --lang python`` writes passes its own tests."""

import sys
from pathlib import Path

from dunlin_policy.testing import context, notified, run_cases

TEMPLATE = Path(__file__).resolve().parent.parent / "template"
sys.path.insert(0, str(TEMPLATE))

from rules import decide  # noqa: E402  (the template is not a package)


def test_template_cases_pass() -> None:
    assert run_cases(decide, TEMPLATE / "cases.json").total == 6


def test_template_escalates_after_two_notices() -> None:
    ctx = context().as_of("2026-03-01").history(
        [notified("2026-02-03", 1), notified("2026-02-14", 2)]
    ).build()
    d = decide(ctx)
    assert d.escalation() is not None and d.ends_ladder()
