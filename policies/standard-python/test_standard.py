"""Native tests of the standard ladder: the Rust policy's cases file, and a few questions
it does not ask."""

from pathlib import Path

from dunlin_policy import Channel, PolicyError
from dunlin_policy.testing import context, notified, run_cases

from standard import decide

# The Rust policy's cases, read in place: both ports answer the same file.
CASES = Path(__file__).resolve().parent.parent / "standard" / "cases.json"


def test_cases_file_passes() -> None:
    report = run_cases(decide, CASES)
    assert report.total >= 12


def test_firm_reminder_after_two_weeks() -> None:
    ctx = context().due("2026-01-31").as_of("2026-02-14").history(
        [notified("2026-02-03", 1)]
    ).build()
    d = decide(ctx)
    first = d.first_notice()
    assert first is not None and first.template == "reminder-firm"
    assert first.get_var("days-overdue") == "14"


def test_unreachable_customer_goes_to_the_account_manager() -> None:
    ctx = context().reachable_on(Channel.PHONE).build()
    d = decide(ctx)
    assert d.escalation() is not None


def test_malformed_parameter_is_refused_with_the_rust_text() -> None:
    ctx = context().param("firm-days", "two weeks").build()
    try:
        decide(ctx)
    except PolicyError as err:
        assert err.code == "bad-param"
        assert err.detail == (
            'firm-days: "two weeks" is not a valid i64 (invalid digit found in string)'
        )
    else:
        raise AssertionError("a malformed parameter must be refused")
