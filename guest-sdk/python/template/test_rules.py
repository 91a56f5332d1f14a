"""Native tests (``python -m pytest``): the cases file, and one question of your own."""

from pathlib import Path

from dunlin_policy.testing import context, run_cases

from rules import decide

HERE = Path(__file__).resolve().parent


def test_cases_file_passes() -> None:
    run_cases(decide, HERE / "cases.json")


def test_a_fresh_invoice_is_not_reminded() -> None:
    ctx = context().due("2026-02-09").as_of("2026-02-10").build()
    assert decide(ctx).is_wait()
