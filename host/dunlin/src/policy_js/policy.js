// A dunning policy in JavaScript: a friendly reminder after the grace period, a firm one two
// weeks later, then the account manager. Test it with `npm install && npm test`, build it
// with `dunlin policy build .`, try it with `dunlin policy test <component> cases.json`.

import { Action, Decision, decision, notice, policy } from '@dunlin/policy';

export function rules(ctx) {
  const graceDays = ctx.paramWithin('grace-days', 3, [0, 60]);
  const firmDays = ctx.paramWithin('firm-days', 14, [1, 365]);
  const hold = ctx.onHold();
  if (hold !== null) return Decision.wait(ctx.asOf.addDays(7), hold).inSegment('all');
  const due = ctx.invoice.dueOn;
  const level = ctx.highestLevel();
  const next = (days) => due.addDays(days).max(ctx.asOf.addDays(1));
  const d = decision('all');
  if (level === 0 && ctx.daysOverdue() >= graceDays && ctx.isOverdue()) {
    return d.act(notice(1).friendly().withTemplate('reminder-friendly'))
      .review(next(graceDays + firmDays))
      .because(`${ctx.daysOverdue()} days overdue: friendly reminder`);
  }
  if (level === 1 && ctx.daysOverdue() >= graceDays + firmDays) {
    return d.act(notice(2).firm().withTemplate('reminder-firm').var('days-overdue', ctx.daysOverdue()))
      .act(Action.accountManager('firm reminder sent; please follow up'))
      .because('firm reminder and a task for the account manager');
  }
  return d.review(next(level === 0 ? graceDays : graceDays + firmDays)).because('nothing to do yet');
}

export const decider = policy(rules);
