"""The tenant parameters of the standard ladder, with their defaults and checks."""

from __future__ import annotations

from typing import NamedTuple

from dunlin_policy import Channel, Context, PolicyError

I64_MAX = 2**63 - 1


class Params(NamedTuple):
    """The standard ladder as one tenant configured it. Day counts are relative to the due
    date; the defaults are those of the Rust ``standard``. A named tuple: built once per
    decision, it costs the interpreter a fraction of a frozen dataclass."""

    pre_due_days: int
    reminder_days: int
    firm_days: int
    final_days: int
    collections_days: int
    min_gap_days: int
    hold_review_days: int
    write_off_below_minor: int
    channel: Channel
    final_by_letter: bool

    @staticmethod
    def read(ctx: Context) -> "Params":
        """Reads the parameters; malformed or inconsistent values raise ``PolicyError``."""
        params = Params(
            pre_due_days=ctx.param_within("pre-due-days", 3, 0, 60),
            reminder_days=ctx.param_within("reminder-days", 3, 1, 365),
            firm_days=ctx.param_within("firm-days", 14, 1, 365),
            final_days=ctx.param_within("final-days", 28, 1, 365),
            collections_days=ctx.param_within("collections-days", 42, 1, 730),
            min_gap_days=ctx.param_within("min-gap-days", 7, 1, 90),
            hold_review_days=ctx.param_within("hold-review-days", 7, 1, 90),
            write_off_below_minor=ctx.param_within("write-off-below-minor", 0, 0, I64_MAX),
            channel=ctx.param_or("channel", Channel.EMAIL),
            final_by_letter=ctx.param_or("final-by-letter", False),
        )
        steps = [
            ("reminder-days", params.reminder_days),
            ("firm-days", params.firm_days),
            ("final-days", params.final_days),
            ("collections-days", params.collections_days),
        ]
        for (early, early_days), (late, late_days) in zip(steps, steps[1:]):
            if late_days <= early_days:
                raise PolicyError.bad_param(
                    late, f"{late_days} must be greater than {early} ({early_days})"
                )
        return params
