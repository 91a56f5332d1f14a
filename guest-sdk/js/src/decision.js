// Builders for a policy's answer. Every builder method returns a new value, so a notice can
// be reused as the start of another (`n.letter()` leaves `n` as it was). The contract's field
// names hold the data (`notice.template`, `decision.reviewOn`), so the builders that set them
// are `withTemplate`, `withTone` and `review`.

import { date } from './date.js';
import { ActionKind, Channel, EscalationKind, Tone } from './enums.js';

/** A notice to the customer. Start one with `notice(level)`. */
export class Notice {
  constructor({ level, channel = Channel.Email, tone = Tone.Friendly, template = `reminder-${level}`, vars = [] }) {
    this.level = level;
    this.channel = channel;
    this.tone = tone;
    this.template = template;
    this.vars = vars;
    Object.freeze(this);
  }

  with(changes) { return new Notice({ ...this, ...changes }); }

  via(channel) { return this.with({ channel }); }
  email() { return this.via(Channel.Email); }
  sms() { return this.via(Channel.Sms); }
  letter() { return this.via(Channel.Letter); }
  phone() { return this.via(Channel.Phone); }
  inApp() { return this.via(Channel.InApp); }

  withTone(tone) { return this.with({ tone }); }
  friendly() { return this.with({ tone: Tone.Friendly }); }
  neutral() { return this.with({ tone: Tone.Neutral }); }
  firm() { return this.with({ tone: Tone.Firm }); }
  final() { return this.with({ tone: Tone.Final }); }

  /** Renders the tenant's template `id`. */
  withTemplate(id) { return this.with({ template: String(id) }); }

  /**
   * Sets the template variable `name`, replacing an earlier value in its place; dates and
   * money print as the host prints them.
   */
  var(name, value) {
    const key = String(name);
    const pair = [key, String(value)];
    const vars = this.vars.some((p) => p[0] === key)
      ? this.vars.map((old) => (old[0] === key ? pair : old))
      : this.vars.concat([pair]);
    return this.with({ vars });
  }

  /** The value of the template variable `name`, or null. */
  getVar(name) {
    return this.vars.find((p) => p[0] === name)?.[1] ?? null;
  }
}

/** Starts a notice of `level` (1 to 9): by e-mail, friendly, template `reminder-<level>`. */
export function notice(level) {
  return new Notice({ level });
}

/** One thing the host should do: `{ kind, ...fields }` in the host's JSON shape. */
export const Action = Object.freeze({
  /** Retry the automatic collection of the open balance. */
  retry: (reason) => Object.freeze({ kind: ActionKind.RetryPayment, reason: String(reason) }),
  /** Stop dunning until `until`. */
  pause: (until, reason) => Object.freeze({ kind: ActionKind.Pause, until: date(until), reason: String(reason) }),
  /** Hand the invoice to `to` (an EscalationKind). */
  escalate: (to, reason) => Object.freeze({ kind: ActionKind.Escalate, to, reason: String(reason) }),
  accountManager: (reason) => Action.escalate(EscalationKind.AccountManager, reason),
  suspendService: (reason) => Action.escalate(EscalationKind.SuspendService, reason),
  collections: (reason) => Action.escalate(EscalationKind.Collections, reason),
  legal: (reason) => Action.escalate(EscalationKind.Legal, reason),
  /** End the ladder. */
  close: (reason) => Object.freeze({ kind: ActionKind.Close, writeOff: false, reason: String(reason) }),
  /** End the ladder and write the open balance off. */
  writeOff: (reason) => Object.freeze({ kind: ActionKind.Close, writeOff: true, reason: String(reason) }),
});

/** A policy's answer. Start one with `decision(segment)`, `Decision.wait` or `Decision.end`. */
export class Decision {
  constructor({ segment = '', actions = [], reviewOn = null, reason = '' } = {}) {
    this.segment = segment;
    this.actions = actions;
    this.reviewOn = reviewOn;
    this.reason = reason;
    Object.freeze(this);
  }

  /** Wait without acting and look again on `until`. */
  static wait(until, reason) {
    return decision('').review(until).because(reason);
  }

  /** End the ladder without acting: no review date. */
  static end(reason) {
    return decision('').because(reason);
  }

  with(changes) { return new Decision({ ...this, ...changes }); }

  /** Sets the segment label. */
  inSegment(segment) { return this.with({ segment: String(segment) }); }

  /** Appends an action (a Notice or an `Action.*`); the host carries them out in order. */
  act(action) { return this.with({ actions: this.actions.concat([action]) }); }

  /** Appends the action if it is not null or undefined. */
  actIf(action) { return action === null || action === undefined ? this : this.act(action); }

  /** Look at the invoice again on `day` (after `asOf`); null ends the ladder. */
  review(day) { return this.with({ reviewOn: day === null ? null : date(day) }); }

  /** The reason: one sentence for the decision log. */
  because(reason) { return this.with({ reason: String(reason) }); }

  /** Whether the decision does nothing now. */
  isWait() { return this.actions.length === 0; }

  /** Whether the decision ends the ladder (no review date). */
  endsLadder() { return this.reviewOn === null; }

  /** The notices among the actions, in order. */
  notices() { return this.actions.filter((a) => a instanceof Notice); }

  /** The first notice, or null. */
  firstNotice() { return this.notices()[0] ?? null; }

  /** Whether any action is of `kind`. */
  has(kind) { return this.actions.some((a) => actionKind(a) === kind); }

  /** The escalation among the actions, or null. */
  escalation() { return this.actions.find((a) => actionKind(a) === ActionKind.Escalate) ?? null; }
}

/** Starts a decision for a customer in `segment`: no actions, no review date, no reason. */
export function decision(segment) {
  return new Decision({ segment: String(segment) });
}

/** The ActionKind of a Notice or an `Action.*` value. */
export function actionKind(action) {
  return action instanceof Notice ? ActionKind.Notify : action.kind;
}
