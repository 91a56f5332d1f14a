// The Dunlin policy SDK for JavaScript: write a dunning policy as a function from a Context
// to a Decision, test it natively with `node --test`, build it into a component with
// `dunlin policy build`.

export { CalendarDate, date } from './date.js';
export { Money, I64_MAX, I64_MIN } from './money.js';
export {
  ActionKind, ActionOutcome, Channel, DeclineKind, EscalationKind, PaymentMethod, Tone,
} from './enums.js';
export { PolicyError } from './error.js';
export { Bool, I64, Int, Str } from './params.js';
export { Context, PastAction } from './context.js';
export { Action, Decision, Notice, actionKind, decision, notice } from './decision.js';
export { policy } from './policy.js';
