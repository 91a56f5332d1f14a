// The glue between a policy's rules and the component's export. The toolchain's binding
// conventions (camelCase records, options as null, variants as { tag, val }, a refusal as a
// thrown `policy-error`) stay here; policy code sees Context, Decision and PolicyError.

import { Context } from './context.js';
import { actionKind } from './decision.js';
import { ActionKind } from './enums.js';
import { PolicyError } from './error.js';

function day(d) {
  return { year: d.year, month: d.month, day: d.day };
}

function action(a) {
  switch (actionKind(a)) {
    case ActionKind.Notify:
      return { tag: 'notify', val: { level: a.level, channel: a.channel, tone: a.tone, template: a.template, vars: a.vars.map((p) => [p[0], p[1]]) } };
    case ActionKind.RetryPayment:
      return { tag: 'retry-payment', val: { reason: a.reason } };
    case ActionKind.Pause:
      return { tag: 'pause', val: { until: day(a.until), reason: a.reason } };
    case ActionKind.Escalate:
      return { tag: 'escalate', val: { kind: a.to, reason: a.reason } };
    case ActionKind.Close:
      return { tag: 'close', val: { writeOff: a.writeOff, reason: a.reason } };
    default:
      throw new TypeError(`${JSON.stringify(a)} is not an action; use notice(..) or Action.*`);
  }
}

/** A Decision in the bindings' shape. */
export function decisionToBinding(d) {
  return {
    segment: d.segment,
    actions: d.actions.map(action),
    reviewOn: d.reviewOn === null ? null : day(d.reviewOn),
    reason: d.reason,
  };
}

/**
 * Makes the `decider` export from `rules(ctx: Context) => Decision`:
 *
 *     export const decider = policy((ctx) => decision('all').because('nothing to do'));
 *
 * A thrown PolicyError becomes the contract's refusal; anything else thrown traps, which
 * the host records as a policy failure. `decider.rules` is the plain function, for tests.
 */
export function policy(rules) {
  return Object.freeze({
    decide(raw) {
      let decided;
      try {
        decided = rules(new Context(raw));
      } catch (err) {
        if (err instanceof PolicyError) throw { tag: err.code, val: err.detail };
        throw err;
      }
      return decisionToBinding(decided);
    },
    rules,
  });
}

