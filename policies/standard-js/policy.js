// The standard dunning ladder, the JavaScript port of `policies/standard` (its Rust source
// documents the ladder). It passes the same `../standard/cases.json` with the same decisions.

import {
  Action, ActionKind, Channel, Decision, I64, I64_MAX, PolicyError, decision, notice, policy,
} from '@dunlin/policy';

/** The segment every decision of this policy reports. */
export const SEGMENT = 'standard';

/** The tenant parameters, with their defaults and checks (see the Rust `Params`). */
export function readParams(ctx) {
  const p = {
    preDueDays: ctx.paramWithin('pre-due-days', 3, [0, 60]),
    reminderDays: ctx.paramWithin('reminder-days', 3, [1, 365]),
    firmDays: ctx.paramWithin('firm-days', 14, [1, 365]),
    finalDays: ctx.paramWithin('final-days', 28, [1, 365]),
    collectionsDays: ctx.paramWithin('collections-days', 42, [1, 730]),
    minGapDays: ctx.paramWithin('min-gap-days', 7, [1, 90]),
    holdReviewDays: ctx.paramWithin('hold-review-days', 7, [1, 90]),
    writeOffBelowMinor: ctx.paramWithin('write-off-below-minor', 0n, [0n, I64_MAX], I64),
    channel: ctx.paramOr('channel', Channel.Email, Channel),
    finalByLetter: ctx.paramOr('final-by-letter', false),
  };
  const steps = [
    ['reminder-days', p.reminderDays],
    ['firm-days', p.firmDays],
    ['final-days', p.finalDays],
    ['collections-days', p.collectionsDays],
  ];
  for (let i = 1; i < steps.length; i += 1) {
    const [early, earlyDays] = steps[i - 1];
    const [late, lateDays] = steps[i];
    if (lateDays <= earlyDays) {
      throw PolicyError.badParam(late, `${lateDays} must be greater than ${early} (${earlyDays})`);
    }
  }
  return p;
}

// The steps after the due date, in order: [days-after-due parameter, description].
const STEPS = [
  ['reminderDays', 'the friendly reminder'],
  ['firmDays', 'the firm reminder'],
  ['finalDays', 'the final notice'],
  ['collectionsDays', 'the hand-over to collections'],
];
const REMINDER = 0;
const FIRM = 1;
const FINAL = 2;
const COLLECTIONS = 3;

/** The first day `step` may happen: its day after due, at least the minimum gap after `previous`. */
function earliest(step, ctx, p, previous) {
  const scheduled = ctx.invoice.dueOn.addDays(p[STEPS[step][0]]);
  return previous ? scheduled.max(previous.addDays(p.minGapDays)) : scheduled;
}

/** Why the ladder is already over, if it is: it escalated or closed before. */
function ended(ctx) {
  const escalation = ctx.lastDone(ActionKind.Escalate);
  if (escalation) return `the invoice was escalated on ${escalation.on}; dunning has nothing more to do`;
  const closed = ctx.lastDone(ActionKind.Close);
  return closed ? `the ladder was closed on ${closed.on}` : null;
}

function channel(ctx, p) {
  return ctx.firstReachable([p.channel, Channel.Email, Channel.InApp, Channel.Letter, Channel.Sms]);
}

function unreachable() {
  return decision('')
    .act(Action.accountManager('the customer cannot be reached on any channel this policy uses; please contact them'))
    .because('no reachable channel for dunning notices: handing the invoice to the account manager');
}

function beforeDue(ctx, p) {
  const due = ctx.invoice.dueOn;
  const firstReminder = earliest(REMINDER, ctx, p, null);
  const nudged = ctx.notices().some((n) => !n.on.after(due));
  if (p.preDueDays === 0 || nudged) {
    const why = nudged ? 'the pre-due reminder went out' : 'pre-due reminders are off';
    return Decision.wait(firstReminder, `not overdue yet and ${why}; the first reminder is due on ${firstReminder}`);
  }
  const nudgeOn = due.addDays(-p.preDueDays);
  if (ctx.asOf.before(nudgeOn)) {
    return Decision.wait(nudgeOn, `the invoice falls due on ${due}; the pre-due reminder goes out on ${nudgeOn}`);
  }
  const via = channel(ctx, p);
  if (via === null) {
    return Decision.wait(firstReminder, `no reachable channel for the pre-due reminder; looking again on ${firstReminder}`);
  }
  return decision('')
    .act(notice(1).via(via).friendly().withTemplate('pre-due-reminder').var('due-on', due))
    .review(firstReminder)
    .because(`the invoice falls due on ${due}: friendly pre-due reminder by ${via}`);
}

function afterDue(ctx, p) {
  const due = ctx.invoice.dueOn;
  const overdue = ctx.daysOverdue();
  // Notices on or before the due date were the pre-due nudge, not a ladder level.
  const ladder = ctx.notices().filter((n) => n.on.after(due));
  const highest = ladder.reduce((max, n) => Math.max(max, n.level ?? 0), 0);
  const previous = ladder.at(-1)?.on ?? null;
  const step = Math.min(highest, COLLECTIONS);
  const when = earliest(step, ctx, p, previous);
  if (ctx.asOf.before(when)) {
    return Decision.wait(when, `${overdue} days overdue; ${STEPS[step][1]} is due on ${when}`);
  }
  if (step === COLLECTIONS) return collections(ctx, p, previous);
  const next = earliest(step + 1, ctx, p, ctx.asOf);
  const via = channel(ctx, p);
  if (via === null) return unreachable();
  let level;
  let n;
  if (step === REMINDER) {
    [level, n] = [1, notice(1).friendly().withTemplate('reminder-friendly')];
  } else if (step === FIRM) {
    [level, n] = [2, notice(2).firm().withTemplate('reminder-firm')];
  } else {
    [level, n] = [3, notice(3).final().withTemplate('final-notice').var('collections-on', next)];
  }
  n = n.var('days-overdue', overdue);
  const letterToo = step === FINAL && p.finalByLetter && via !== Channel.Letter && ctx.canReach(Channel.Letter);
  const by = letterToo ? `${via} and letter` : via;
  return decision('')
    .act(n.via(via))
    .actIf(letterToo ? n.letter() : null)
    .because(`${overdue} days overdue: ${STEPS[step][1]} (level ${level}) by ${by}`)
    .review(next);
}

function collections(ctx, p, finalNotice) {
  const balance = ctx.invoice.openBalance;
  const overdue = ctx.daysOverdue();
  const since = finalNotice ? ` and the final notice of ${finalNotice} went unanswered` : '';
  if (balance.minor < p.writeOffBelowMinor) {
    return decision('')
      .act(Action.writeOff(`${balance} is below the collections threshold; writing it off`))
      .because(`${overdue} days overdue${since}; ${balance} is too small for collections: write-off`);
  }
  return decision('')
    .act(Action.collections(`${balance} unpaid ${overdue} days after the due date${since}`))
    .because(`${overdue} days overdue${since}: handing ${balance} to collections`);
}

/** The ladder's rules: the function the component's export calls. */
export function standard(ctx) {
  const p = readParams(ctx);
  let decided;
  const hold = ctx.onHold();
  if (hold !== null) {
    decided = Decision.wait(ctx.asOf.addDays(p.holdReviewDays), `${hold}; looking again in ${p.holdReviewDays} days`);
  } else if (!ctx.invoice.openBalance.isPositive()) {
    decided = decision('')
      .act(Action.close('nothing is owed on the invoice any more'))
      .because('the open balance is zero or a credit: closing the ladder');
  } else if (ended(ctx) !== null) {
    decided = Decision.end(ended(ctx));
  } else if (ctx.isOverdue()) {
    decided = afterDue(ctx, p);
  } else {
    decided = beforeDue(ctx, p);
  }
  return decided.inSegment(SEGMENT);
}

export const decider = policy(standard);
