"""A two-step reminder ladder: a friendly e-mail ``reminder-days`` after the due date, a firm
one at ``firm-days``, then a task for the account manager. Change it to your own rules.

Everything the policy needs is imported here, at module load: componentize-py keeps only
the modules imported while it builds the component.
"""

from dunlin_policy import Action, Context, Decision, decision, notice

SEGMENT = "all"


def decide(ctx: Context) -> Decision:
    """Decides one invoice; a malformed parameter raises ``PolicyError`` (``refused``)."""
    reminder_days = ctx.param_within("reminder-days", 3, 1, 365)
    firm_days = ctx.param_within("firm-days", 14, reminder_days + 1, 365)
    hold = ctx.on_hold()
    if hold is not None:
        return Decision.wait(ctx.as_of.add_days(7), hold).in_segment(SEGMENT)
    due = ctx.invoice.due_on
    reminder_on = due.add_days(reminder_days)
    firm_on = due.add_days(firm_days)
    d = decision(SEGMENT)
    level = ctx.highest_level()
    if level == 0:
        if ctx.as_of < reminder_on:
            return d.review(reminder_on).because(f"the first reminder is due on {reminder_on}")
        return (
            d.act(notice(1).email().friendly().template_id("reminder-friendly"))
            .review(max(firm_on, ctx.as_of.add_days(1)))
            .because(f"{ctx.days_overdue()} days overdue: friendly reminder")
        )
    if level == 1:
        if ctx.as_of < firm_on:
            return d.review(firm_on).because(f"the firm reminder is due on {firm_on}")
        return (
            d.act(
                notice(2)
                .email()
                .firm()
                .template_id("reminder-firm")
                .var("days-overdue", ctx.days_overdue())
            )
            .review(ctx.as_of.add_days(14))
            .because(f"{ctx.days_overdue()} days overdue: firm reminder")
        )
    return (
        d.act(Action.account_manager("two reminders went unanswered; please follow up"))
        .because("both reminders went out: handing over to the account manager")
    )
