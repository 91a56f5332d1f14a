//! A two-step reminder ladder: a friendly e-mail `reminder-days` after the due date, a firm one
//! at `firm-days`, then a task for the account manager. Change it to your own rules.

use dunlin_guest_sdk::{decision, notice, Action, Context, Decision, Policy, PolicyError};

const SEGMENT: &str = "all";

pub struct Ladder;

dunlin_guest_sdk::export_policy!(Ladder);

impl Policy for Ladder {
    fn decide(ctx: &Context) -> Result<Decision, PolicyError> {
        // A malformed parameter is a `bad-param` refusal (`refused` in the cases file).
        let reminder_days: i64 = ctx.param_within("reminder-days", 3, 1..=365)?;
        let firm_days: i64 = ctx.param_within("firm-days", 14, reminder_days + 1..=365)?;
        if let Some(why) = ctx.on_hold() {
            return Ok(Decision::wait(ctx.as_of.add_days(7), why).in_segment(SEGMENT));
        }
        let due = ctx.invoice.due_on;
        let reminder_on = due.add_days(reminder_days);
        let firm_on = due.add_days(firm_days);
        let d = decision(SEGMENT);
        Ok(match ctx.highest_level() {
            0 if ctx.as_of < reminder_on => d
                .review_on(reminder_on)
                .because(format!("the first reminder is due on {reminder_on}")),
            0 => d
                .act(notice(1).email().friendly().template("reminder-friendly"))
                .review_on(firm_on.max(ctx.as_of.add_days(1)))
                .because(format!("{} days overdue: friendly reminder", ctx.days_overdue())),
            1 if ctx.as_of < firm_on => d
                .review_on(firm_on)
                .because(format!("the firm reminder is due on {firm_on}")),
            1 => d
                .act(
                    notice(2)
                        .email()
                        .firm()
                        .template("reminder-firm")
                        .var("days-overdue", ctx.days_overdue()),
                )
                .review_on(ctx.as_of.add_days(14))
                .because(format!("{} days overdue: firm reminder", ctx.days_overdue())),
            _ => d
                .act(Action::account_manager(
                    "two reminders went unanswered; please follow up",
                ))
                .because("both reminders went out: handing over to the account manager"),
        })
    }
}

#[cfg(test)]
mod tests {
    use dunlin_guest_sdk::testing::{context, notified, run_cases};
    use dunlin_guest_sdk::Policy;

    use super::Ladder;

    #[test]
    fn the_firm_reminder_comes_at_fourteen_days() {
        let ctx = context()
            .due("2026-01-31")
            .as_of("2026-02-14")
            .history([notified("2026-02-03", 1)])
            .build();
        let d = Ladder::decide(&ctx).unwrap();
        assert_eq!(d.first_notice().unwrap().template, "reminder-firm");
    }

    #[test]
    fn the_cases_file_passes() {
        run_cases::<Ladder>("cases.json");
    }
}
