"""The SDK's helpers, held to the Rust SDK's answers and texts."""

import json
from pathlib import Path

import pytest

from dunlin_policy import (
    Action,
    ActionKind,
    ActionOutcome,
    Channel,
    Context,
    Date,
    DateError,
    Decision,
    EscalationKind,
    Money,
    PaymentMethod,
    PolicyError,
    Tone,
    UnknownName,
    decision,
    export,
    notice,
)
from dunlin_policy.testing import (
    CasesFileError,
    check_cases,
    context,
    context_to_json,
    merge_patch,
    notified,
    retried,
    run_cases,
    subset_mismatches,
)


def d(text: str) -> Date:
    return Date.parse(text)


def test_dates_parse_print_and_count_like_the_rust_sdk() -> None:
    assert d("2026-2-1") == Date(2026, 2, 1)
    assert str(d("0900-12-31")) == "0900-12-31"
    for bad in ["", "2026-02", "2026-02-30", "2025-02-29", "2026-13-01", " 2026-02-10",
                "2026/02/10", "26-02-10", "2026-02-10T00:00", "2026-02-1x"]:
        with pytest.raises(DateError, match="YYYY-MM-DD"):
            Date.parse(bad)
    assert d("2024-02-28").add_days(1) == d("2024-02-29")
    assert d("2025-12-31").add_days(1) == d("2026-01-01")
    assert d("2026-03-01").add_days(-1) == d("2026-02-28")
    assert d("2000-03-01").days_since_epoch() == 11_017
    assert d("1969-12-31").days_since_epoch() == -1
    assert d("2026-01-31").days_until(d("2026-02-10")) == 10
    assert d("2026-02-10").days_since(d("2026-01-31")) == 10
    assert d("2025-12-31") < d("2026-01-01")
    assert Date.new(2026, 4, 31) is None


def test_every_day_round_trips_through_the_day_count() -> None:
    date = d("1899-12-25")
    for n in range(date.days_since_epoch(), d("2101-01-05").days_since_epoch()):
        assert Date.from_days_since_epoch(n) == date
        assert date.is_valid()
        date = date.add_days(1)


def test_money_is_exact_and_compares_within_one_currency() -> None:
    assert str(Money(12_000, "EUR")) == "120.00 EUR"
    assert str(Money(-1205, "USD")) == "-12.05 USD"
    assert str(Money(-(2**63), "EUR")) == "-92233720368547758.08 EUR"
    assert Money(100, "EUR") < Money(200, "EUR")
    usd = Money(100, "USD")
    assert not Money(100, "EUR") < usd and not Money(100, "EUR") >= usd
    assert Money(150, "EUR").checked_add(Money(50, "EUR")) == Money(200, "EUR")
    assert Money(1, "EUR").checked_add(usd) is None
    assert Money(2**63 - 1, "EUR").checked_add(Money(1, "EUR")) is None


def test_enums_use_kebab_case_names() -> None:
    assert Channel.parse("In-App") is Channel.IN_APP
    assert str(PaymentMethod.BANK_TRANSFER) == "bank-transfer"
    assert PaymentMethod.CARD.is_automatic() and not PaymentMethod.OTHER.is_automatic()
    with pytest.raises(UnknownName) as err:
        Channel.parse("fax")
    assert str(err.value) == (
        '"fax" is not a channel; expected one of email, sms, letter, phone, in-app'
    )


def refusal(ctx: Context, call: str) -> str:
    with pytest.raises(PolicyError) as err:
        eval(call, {"ctx": ctx, "Channel": Channel})
    assert err.value.code == "bad-param"
    return err.value.detail


def test_params_parse_with_defaults_and_the_rust_error_texts() -> None:
    ctx = (
        context()
        .param("grace-days", " 14 ")
        .param("bad", "two weeks")
        .param("blank", "")
        .param("channel", "letter")
        .param("huge", "99999999999999999999")
        .param("flag", "yes")
        .build()
    )
    assert ctx.param("grace-days") == " 14 "
    assert ctx.param_or("grace-days", 7) == 14
    assert ctx.param_or("missing", 7) == 7
    assert ctx.param_or("blank", 7) == 7
    assert ctx.param_or("channel", Channel.EMAIL) is Channel.LETTER
    assert refusal(ctx, 'ctx.param_or("bad", 7)') == (
        'bad: "two weeks" is not a valid i64 (invalid digit found in string)'
    )
    assert refusal(ctx, 'ctx.param_or("huge", 7)') == (
        'huge: "99999999999999999999" is not a valid i64 (number too large to fit in target type)'
    )
    assert refusal(ctx, 'ctx.param_or("flag", False)') == (
        'flag: "yes" is not a valid bool (provided string was not `true` or `false`)'
    )
    assert refusal(ctx, 'ctx.param_or("bad", Channel.EMAIL)') == (
        'bad: "two weeks" is not a valid Channel ("two weeks" is not a channel; '
        "expected one of email, sms, letter, phone, in-app)"
    )
    assert refusal(ctx, 'ctx.param_within("grace-days", 7, 0, 10)') == (
        "grace-days: 14 is outside the allowed range 0 to 10"
    )
    assert ctx.param_within("missing", 7, 0, 10) == 7
    assert refusal(ctx, 'ctx.require_param("missing", int)') == (
        "missing: is required but not set"
    )


def test_history_questions_ignore_blocked_and_failed_actions() -> None:
    ctx = context().history([
        notified("2026-02-01", 1, ActionOutcome.OPENED),
        retried("2026-02-03"),
        notified("2026-02-05", 2, ActionOutcome.BLOCKED),
        notified("2026-02-06", 3, ActionOutcome.FAILED),
    ]).build()
    assert ctx.highest_level() == 1
    assert ctx.notices_sent() == 1
    last = ctx.last_notice()
    assert last is not None and last.on == d("2026-02-01")
    assert ctx.notice_at_level(2) is None
    assert ctx.retries_so_far() == 1
    assert ctx.days_overdue() == 10 and ctx.is_overdue()


def test_reachability_and_context_questions() -> None:
    ctx = (
        context()
        .reachable_on(Channel.EMAIL, Channel.SMS)
        .opted_out(Channel.SMS)
        .tag("VIP")
        .other_overdue(2, 5000)
        .build()
    )
    assert ctx.can_reach(Channel.EMAIL) and not ctx.can_reach(Channel.SMS)
    assert ctx.first_reachable([Channel.SMS, Channel.LETTER, Channel.EMAIL]) is Channel.EMAIL
    assert ctx.first_reachable([Channel.SMS]) is None
    assert ctx.has_tag("vip") and not ctx.has_tag("enterprise")
    assert ctx.total_overdue() == Money(17_000, "EUR")
    assert context().disputed().build().on_hold() is not None


def test_builders_set_every_field() -> None:
    n = notice(3).letter().final().template_id("final-notice").var("days", 28).var("days", 29)
    assert (n.level, n.channel, n.tone, n.template) == (3, Channel.LETTER, Tone.FINAL,
                                                        "final-notice")
    assert n.vars == [("days", "29")] and n.get_var("days") == "29"
    assert notice(2).template == "reminder-2"
    assert notice(1).var("flag", True).get_var("flag") == "true"
    d1 = (
        decision("card")
        .act(Action.retry("soft decline"))
        .act(notice(1).in_app())
        .act(None)
        .act(Action.suspend_service("grace period over"))
        .review(d("2026-03-01"))
        .because("why")
    )
    assert [a.kind() for a in d1.actions] == [
        ActionKind.RETRY_PAYMENT, ActionKind.NOTIFY, ActionKind.ESCALATE,
    ]
    esc = d1.escalation()
    assert esc is not None and esc.to is EscalationKind.SUSPEND_SERVICE
    assert d1.has(ActionKind.NOTIFY) and not d1.has(ActionKind.CLOSE)
    assert Decision.end("paid").ends_ladder()
    assert Action.write_off("small").write_off is True
    assert Decision.wait(d("2026-03-01"), "disputed").is_wait()


def toy(ctx: Context) -> Decision:
    """Reminds from the due date on, refuses a bad "level", raises on "explode"."""
    if ctx.param("explode") is not None:
        raise RuntimeError("boom")
    level = ctx.param_or("level", 1)
    out = decision("toy").because("toy")
    if ctx.is_overdue():
        return out.act(notice(level).template_id("reminder")).review(ctx.as_of.add_days(7))
    return out.review(ctx.as_of)


def cases_file(cases: list) -> dict:
    return {"base": context_to_json(context().build()), "cases": cases}


def test_cases_report_what_failed_as_the_host_would() -> None:
    report = check_cases(toy, cases_file([
        {"name": "reminds", "expect": {"actions": [{"kind": "notify", "template": "reminder"}]}},
        {"name": "refuses", "context": {"params": {"level": "high"}},
         "expect-failure": "refused"},
        {"name": "wrong level", "context": {"params": {"level": "2"}},
         "expect": {"actions": [{"level": 1}]}},
        {"name": "raises", "context": {"params": {"explode": "1"}},
         "expect-failure": "refused"},
        {"name": "invalid", "context": {"as-of": "2026-01-15"}, "expect": {}},
        {"name": "bad context", "context": {"invoice": {"payment-method": "cash"}},
         "expect": {}},
    ]))
    assert report.total == 6
    assert [f.name for f in report.failures] == ["wrong level", "raises", "invalid",
                                                  "bad context"]
    text = str(report)
    assert text.startswith("4 of 6 cases failed")
    assert "actions[0].level: expected 1, got 2" in text
    assert 'expected failure "refused", got failure "trap"' in text
    assert 'got failure "invalid-decision"' in text
    assert "review-on 2026-01-15 is not after" in text
    assert "unknown payment method 'cash'" in text


def test_malformed_cases_files_are_rejected() -> None:
    for bad, expected in [
        ([], "must be a JSON object"),
        ({"base": {}}, 'no "cases" array'),
        (cases_file([]), '"cases" is empty'),
        (cases_file([{"expect": {}}]), 'cases[0] has no "name"'),
        (cases_file([{"name": "a"}]), "exactly one of"),
        (cases_file([{"name": "a", "expect": {}, "expect-failure": "trap"}]), "exactly one of"),
        (cases_file([{"name": "a", "expcet": {}}]), 'unknown key "expcet"'),
        (cases_file([{"name": "a", "expect": {}}, {"name": "a", "expect": {}}]), "two cases"),
    ]:
        with pytest.raises(CasesFileError, match=None) as err:
            check_cases(toy, bad)
        assert expected in str(err.value)


def test_run_cases_raises_with_the_report(tmp_path: Path) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases_file([{"name": "x", "expect": {"segment": "other"}}])))
    with pytest.raises(AssertionError, match="1 of 1 cases failed"):
        run_cases(toy, path)


def test_merge_patch_and_subset_follow_the_host() -> None:
    doc = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(doc, {"a": "z", "c": {"f": None, "h": 1}, "l": [3], "n": {"x": 1}}) == {
        "a": "z", "c": {"d": "e", "h": 1}, "l": [3], "n": {"x": 1},
    }
    actual = {"segment": "s", "actions": [{"kind": "notify", "level": 1}], "review-on": None}
    assert subset_mismatches({"actions": [{"level": 1}]}, actual) == []
    assert subset_mismatches({"review-on": None}, actual) == []
    assert subset_mismatches({"actions": [{"level": True}]}, actual) == [
        "actions[0].level: expected true, got 1"
    ]


def test_export_natively_calls_the_function() -> None:
    decider = export(toy)()
    assert decider.decide(context().build()).segment == "toy"
