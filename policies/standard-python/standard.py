"""The standard dunning ladder in Python: the same policy as ``policies/standard`` (Rust),
decision for decision.

1. A friendly nudge ``pre-due-days`` before the due date (template ``pre-due-reminder``).
2. A friendly reminder, level 1, ``reminder-days`` after it (``reminder-friendly``).
3. A firm reminder, level 2, at ``firm-days`` (``reminder-firm``).
4. A final notice, level 3 in the final tone, at ``final-days`` (``final-notice``),
   optionally also by letter.
5. Collections at ``collections-days``, or a write-off for balances below
   ``write-off-below-minor``; the ladder ends.

Each level goes out once and steps after the due date are at least ``min-gap-days`` apart.
Disputed invoices and invoices on a payment plan wait. Notices use the tenant's ``channel``
if the customer can be reached there, else the first reachable of e-mail, in-app, letter and
text message; a customer reachable on none of them goes to the account manager.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional

from dunlin_policy import (
    Action,
    ActionKind,
    Channel,
    Context,
    Date,
    Decision,
    decision,
    notice,
)

from params import Params

#: The segment every decision of this policy reports.
SEGMENT = "standard"


def decide(ctx: Context) -> Decision:
    """Decides one invoice; raises ``PolicyError`` for malformed parameters."""
    p = Params.read(ctx)
    why = ctx.on_hold()
    if why is not None:
        decided = Decision.wait(
            ctx.as_of.add_days(p.hold_review_days),
            f"{why}; looking again in {p.hold_review_days} days",
        )
    elif not ctx.invoice.open_balance.is_positive():
        decided = (
            decision("")
            .act(Action.close("nothing is owed on the invoice any more"))
            .because("the open balance is zero or a credit: closing the ladder")
        )
    else:
        end = _ended(ctx)
        if end is not None:
            decided = Decision.end(end)
        elif ctx.is_overdue():
            decided = _after_due(ctx, p)
        else:
            decided = _before_due(ctx, p)
    return decided.in_segment(SEGMENT)


class Step(Enum):
    """The steps after the due date, in order."""

    REMINDER = "the friendly reminder"
    FIRM = "the firm reminder"
    FINAL = "the final notice"
    COLLECTIONS = "the hand-over to collections"

    @staticmethod
    def after_level(level: int) -> "Step":
        """The step after notices up to ``level`` went out."""
        return _ORDER[min(level, 3)]

    def next(self) -> Optional["Step"]:
        i = _ORDER.index(self)
        return _ORDER[i + 1] if i + 1 < len(_ORDER) else None

    def days_after_due(self, p: Params) -> int:
        return {
            Step.REMINDER: p.reminder_days,
            Step.FIRM: p.firm_days,
            Step.FINAL: p.final_days,
            Step.COLLECTIONS: p.collections_days,
        }[self]

    def earliest(self, ctx: Context, p: Params, previous: Optional[Date]) -> Date:
        """Its day after the due date, and at least the minimum gap after the previous step."""
        scheduled = ctx.invoice.due_on.add_days(self.days_after_due(p))
        if previous is None:
            return scheduled
        return max(scheduled, previous.add_days(p.min_gap_days))


_ORDER = [Step.REMINDER, Step.FIRM, Step.FINAL, Step.COLLECTIONS]


def _ended(ctx: Context) -> Optional[str]:
    """Why the ladder is already over, if it is: it escalated or closed before."""
    escalation = ctx.last_done(ActionKind.ESCALATE)
    if escalation is not None:
        return f"the invoice was escalated on {escalation.on}; dunning has nothing more to do"
    closed = ctx.last_done(ActionKind.CLOSE)
    return None if closed is None else f"the ladder was closed on {closed.on}"


def _channel(ctx: Context, p: Params) -> Optional[Channel]:
    return ctx.first_reachable(
        [p.channel, Channel.EMAIL, Channel.IN_APP, Channel.LETTER, Channel.SMS]
    )


def _unreachable() -> Decision:
    return (
        decision("")
        .act(
            Action.account_manager(
                "the customer cannot be reached on any channel this policy uses; "
                "please contact them"
            )
        )
        .because(
            "no reachable channel for dunning notices: handing the invoice to the account manager"
        )
    )


def _before_due(ctx: Context, p: Params) -> Decision:
    due = ctx.invoice.due_on
    first_reminder = Step.REMINDER.earliest(ctx, p, None)
    nudged = any(n.on <= due for n in ctx.notices())
    if p.pre_due_days == 0 or nudged:
        why = "the pre-due reminder went out" if nudged else "pre-due reminders are off"
        return Decision.wait(
            first_reminder,
            f"not overdue yet and {why}; the first reminder is due on {first_reminder}",
        )
    nudge_on = due.add_days(-p.pre_due_days)
    if ctx.as_of < nudge_on:
        return Decision.wait(
            nudge_on,
            f"the invoice falls due on {due}; the pre-due reminder goes out on {nudge_on}",
        )
    channel = _channel(ctx, p)
    if channel is None:
        return Decision.wait(
            first_reminder,
            f"no reachable channel for the pre-due reminder; looking again on {first_reminder}",
        )
    return (
        decision("")
        .act(
            notice(1)
            .via(channel)
            .friendly()
            .template_id("pre-due-reminder")
            .var("due-on", due)
        )
        .review(first_reminder)
        .because(f"the invoice falls due on {due}: friendly pre-due reminder by {channel}")
    )


def _after_due(ctx: Context, p: Params) -> Decision:
    due = ctx.invoice.due_on
    overdue = ctx.days_overdue()
    # Notices on or before the due date were the pre-due nudge, not a ladder level.
    ladder = [n for n in ctx.notices() if n.on > due]
    highest = max((n.level for n in ladder if n.level is not None), default=0)
    previous = ladder[-1].on if ladder else None
    step = Step.after_level(highest)
    when = step.earliest(ctx, p, previous)
    if ctx.as_of < when:
        return Decision.wait(when, f"{overdue} days overdue; {step.value} is due on {when}")
    following = step.next()
    next_on = None if following is None else following.earliest(ctx, p, ctx.as_of)
    if step is Step.COLLECTIONS:
        return _collections(ctx, p, previous)
    channel = _channel(ctx, p)
    if channel is None:
        return _unreachable()
    if step is Step.REMINDER:
        level, n = 1, notice(1).friendly().template_id("reminder-friendly")
    elif step is Step.FIRM:
        level, n = 2, notice(2).firm().template_id("reminder-firm")
    else:
        collections_on = ctx.as_of if next_on is None else next_on
        level = 3
        n = notice(3).final().template_id("final-notice").var("collections-on", collections_on)
    n.var("days-overdue", overdue)
    letter_too = (
        step is Step.FINAL
        and p.final_by_letter
        and channel is not Channel.LETTER
        and ctx.can_reach(Channel.LETTER)
    )
    letter = n.copy().letter() if letter_too else None
    by = f"{channel} and letter" if letter_too else str(channel)
    d = (
        decision("")
        .act(n.via(channel))
        .act(letter)
        .because(f"{overdue} days overdue: {step.value} (level {level}) by {by}")
    )
    if next_on is not None:
        d.review(next_on)
    return d


def _collections(ctx: Context, p: Params, final_notice: Optional[Date]) -> Decision:
    balance = ctx.invoice.open_balance
    overdue = ctx.days_overdue()
    since = (
        "" if final_notice is None else f" and the final notice of {final_notice} went unanswered"
    )
    if balance.minor < p.write_off_below_minor:
        return (
            decision("")
            .act(Action.write_off(f"{balance} is below the collections threshold; writing it off"))
            .because(
                f"{overdue} days overdue{since}; {balance} is too small for collections: write-off"
            )
        )
    return (
        decision("")
        .act(Action.collections(f"{balance} unpaid {overdue} days after the due date{since}"))
        .because(f"{overdue} days overdue{since}: handing {balance} to collections")
    )
