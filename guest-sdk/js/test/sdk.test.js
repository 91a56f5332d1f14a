import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Action, ActionKind, Bool, CalendarDate, Channel, Context, Decision, I64, Int, Money, PolicyError,
  date, decision, notice, policy,
} from '../src/index.js';
import {
  checkCases, contextFromJson, contractViolation, decisionToJson, mergePatch, subsetMismatch,
} from '../src/testing.js';

const BASE = {
  'as-of': '2026-02-10',
  invoice: {
    id: 'i', number: '1', 'issued-on': '2026-01-01', 'due-on': '2026-01-31',
    amount: { minor: 10000, currency: 'EUR' }, 'open-balance': { minor: 8000, currency: 'EUR' },
    'payment-method': 'card', metadata: { po: 'PO-7' },
  },
  customer: {
    id: 'c', tags: ['VIP'], 'lifetime-value': { minor: 0, currency: 'EUR' }, 'customer-since': '2025-02-10',
    'reachable-on': ['email', 'sms'], 'opted-out': ['sms'],
  },
  'other-overdue': { count: 2, 'total-minor': 5000 },
  params: { 'grace-days': ' 14 ', bad: 'two weeks', blank: '', channel: 'letter' },
};
const ctx = (patch = {}) => contextFromJson(mergePatch(BASE, patch));

/** The [code, detail] of the PolicyError `f` throws. */
function refusal(f) {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    return [err.code, err.detail];
  }
  return assert.fail('no refusal');
}

test('dates parse, print, add and count days like the Rust SDK', () => {
  const d = CalendarDate.parse('2024-02-28');
  assert.equal(String(d.addDays(1)), '2024-02-29');
  assert.equal(String(d.addDays(2)), '2024-03-01');
  assert.equal(String(date('2026-1-5')), '2026-01-05');
  assert.equal(d.daysUntil(date('2025-02-28')), 366);
  assert.equal(date('1970-01-01').daysSinceEpoch(), 0);
  assert.equal(String(CalendarDate.fromDaysSinceEpoch(-1)), '1969-12-31');
  assert.ok(date('2026-02-10').after(date('2026-02-09')));
  assert.throws(() => date('2026-02-30'), /"2026-02-30" is not a calendar date in the form YYYY-MM-DD/);
});

test('money is exact minor units, compared only within one currency', () => {
  assert.equal(String(new Money(12000, 'EUR')), '120.00 EUR');
  assert.equal(String(new Money(-1205, 'USD')), '-12.05 USD');
  assert.equal(String(new Money(-(1n << 63n), 'EUR')), '-92233720368547758.08 EUR');
  assert.equal(new Money(2n ** 62n + 1n, 'EUR').minor, 4611686018427387905n);
  assert.ok(new Money(100, 'EUR').lt(new Money(200, 'EUR')));
  assert.equal(new Money(100, 'EUR').compare(new Money(100, 'USD')), undefined);
  assert.equal(new Money((1n << 63n) - 1n, 'EUR').checkedAdd(new Money(1, 'EUR')), undefined);
  assert.throws(() => new Money(1.5, 'EUR'), /not a whole number/);
});

test('context questions answer as the Rust SDK does', () => {
  const c = ctx();
  assert.equal(c.daysOverdue(), 10);
  assert.ok(c.isOverdue());
  assert.equal(c.tenureDays(), 365);
  assert.ok(c.hasTag('vip'));
  assert.equal(c.metadata('po'), 'PO-7');
  assert.equal(String(c.totalOverdue()), '130.00 EUR');
  const huge = ctx({ invoice: { 'open-balance': { minor: 2 ** 62, currency: 'EUR' } }, 'other-overdue': { count: 1, 'total-minor': 2 ** 62 } });
  assert.equal(huge.totalOverdue().minor, (1n << 63n) - 1n);
  assert.ok(c.canReach(Channel.Email) && !c.canReach(Channel.Sms));
  assert.equal(c.firstReachable([Channel.Sms, Channel.Letter, Channel.Email]), Channel.Email);
  assert.equal(c.onHold(), null);
  assert.match(ctx({ invoice: { disputed: true } }).onHold(), /disputed/);
});

test('parameters parse with defaults and the Rust SDK\'s error texts', () => {
  const c = ctx();
  assert.equal(c.param('grace-days'), ' 14 ');
  assert.equal(c.paramOr('grace-days', 7), 14);
  assert.equal(c.paramOr('missing', 7), 7);
  assert.equal(c.paramOr('blank', 7), 7);
  assert.equal(c.paramOr('channel', Channel.Email, Channel), Channel.Letter);
  assert.equal(c.paramOr('grace-days', 0n), 14n);
  assert.deepEqual(refusal(() => c.paramOr('bad', 7)),
    ['bad-param', 'bad: "two weeks" is not a valid i64 (invalid digit found in string)']);
  assert.deepEqual(refusal(() => c.paramWithin('grace-days', 7, [0, 10])),
    ['bad-param', 'grace-days: 14 is outside the allowed range 0 to 10']);
  assert.deepEqual(refusal(() => c.requireParam('missing', Int)), ['bad-param', 'missing: is required but not set']);
  assert.deepEqual(refusal(() => c.paramOr('bad', false, Bool)),
    ['bad-param', 'bad: "two weeks" is not a valid bool (provided string was not `true` or `false`)']);
  const big = ctx({ params: { n: '9223372036854775808', m: '-9223372036854775809', ok: '9223372036854775807' } });
  assert.match(refusal(() => big.paramOr('n', 0n))[1], /number too large to fit in target type/);
  assert.match(refusal(() => big.paramOr('m', 0n))[1], /number too small to fit in target type/);
  assert.equal(big.requireParam('ok', I64), 9223372036854775807n);
  assert.equal(PolicyError.unsupported('cheques').code, 'unsupported');
});

test('history questions ignore blocked and failed actions', () => {
  const c = ctx({ history: [
    { on: '2026-02-01', kind: 'notify', level: 1, outcome: 'opened' },
    { on: '2026-02-03', kind: 'retry-payment', outcome: 'declined' },
    { on: '2026-02-05', kind: 'retry-payment', outcome: 'blocked' },
    { on: '2026-02-07', kind: 'notify', level: 2, outcome: 'delivered' },
    { on: '2026-02-08', kind: 'notify', level: 3, outcome: 'failed' },
  ] });
  assert.equal(c.noticesSent(), 2);
  assert.equal(c.highestLevel(), 2);
  assert.equal(String(c.lastNotice().on), '2026-02-07');
  assert.equal(String(c.noticeAtLevel(1).on), '2026-02-01');
  assert.equal(c.noticeAtLevel(3), null);
  assert.equal(c.retriesSoFar(), 1);
  assert.equal(c.lastRetry().daysBefore(c.asOf), 7);
});

test('builders make the host\'s decision and leave their start as it was', () => {
  const n = notice(2).firm().withTemplate('reminder-firm').var('days-overdue', 14);
  const d = decision('standard').act(n).actIf(n.letter()).act(Action.retry('soft decline'))
    .actIf(null).review('2026-02-24').because('firm reminder');
  assert.equal(n.channel, Channel.Email);
  const firm = { kind: 'notify', level: 2, tone: 'firm', template: 'reminder-firm', vars: { 'days-overdue': '14' } };
  assert.deepEqual(decisionToJson(d), {
    segment: 'standard',
    actions: [
      { ...firm, channel: 'email' },
      { ...firm, channel: 'letter' },
      { kind: 'retry-payment', reason: 'soft decline' },
    ],
    'review-on': '2026-02-24',
    reason: 'firm reminder',
  });
  assert.ok(d.has(ActionKind.RetryPayment));
  assert.equal(d.firstNotice().getVar('days-overdue'), '14');
  const replaced = notice(1).var('a', 1).var('b', 2).var('a', 3);
  assert.deepEqual(replaced.vars, [['a', '3'], ['b', '2']]);
  assert.ok(Decision.end('over').endsLadder());
  assert.ok(Decision.wait('2026-03-01', 'later').isWait());
  const closed = decisionToJson(decision('').act(Action.writeOff('small')).because('x'));
  assert.equal(closed.actions[0]['write-off'], true);
});

test('the export speaks the bindings\' conventions: numbers or bigints in, variants out, refusals thrown', () => {
  const exported = policy((c) => {
    if (c.param('refuse')) throw PolicyError.badParam('refuse', 'asked to');
    if (c.param('bug')) throw new TypeError('a bug');
    return decision('s').act(Action.collections(`${c.invoice.openBalance}`)).review(c.asOf.addDays(1)).because('r');
  });
  const day = (year, month, d) => ({ year, month, day: d });
  const raw = {
    asOf: day(2026, 2, 10),
    invoice: {
      id: 'i', number: '1', issuedOn: day(2026, 1, 1), dueOn: day(2026, 1, 31),
      amount: { minor: 100, currency: 'EUR' }, openBalance: { minor: 9007199254740993n, currency: 'EUR' },
      paymentMethod: 'card', failedAttempts: 0, lastFailure: undefined, disputed: false, onPaymentPlan: false,
      metadata: [],
    },
    customer: {
      id: 'c', tags: [], lifetimeValue: { minor: 0, currency: 'EUR' }, customerSince: day(2025, 1, 1),
      onTimePayments12m: 0, latePayments12m: 0, locale: 'en', timeZone: 'UTC', reachableOn: ['email'], optedOut: [],
    },
    history: [{ on: day(2026, 2, 1), kind: 'notify', level: null, channel: null, tone: null, outcome: 'delivered' }],
    otherOverdue: { count: 0, total: { minor: 0, currency: 'EUR' } },
    params: [],
  };
  assert.deepEqual(exported.decide(raw), {
    segment: 's',
    actions: [{ tag: 'escalate', val: { kind: 'collections', reason: '90071992547409.93 EUR' } }],
    reviewOn: day(2026, 2, 11),
    reason: 'r',
  });
  let thrown = null;
  try {
    exported.decide({ ...raw, params: [['refuse', 'y']] });
  } catch (err) {
    thrown = err;
  }
  assert.deepEqual(thrown, { tag: 'bad-param', val: 'refuse: asked to' });
  assert.throws(() => exported.decide({ ...raw, params: [['bug', 'y']] }), TypeError);
  assert.ok(new Context(raw).history[0].wentOut());
});

test('the cases runner follows the host: merge patches, partial expectations, failure codes', () => {
  assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, d: [1, 2] }, { a: { b: null, e: 3 }, d: [9] }),
    { a: { c: 2, e: 3 }, d: [9] });
  const got = { segment: 's', actions: [{ kind: 'notify', level: 2 }] };
  assert.equal(subsetMismatch({ segment: 's' }, got), null);
  assert.equal(subsetMismatch({ actions: [{ level: 1 }] }, got), 'decision.actions[0].level: expected 1, got 2');
  assert.match(subsetMismatch({ actions: [] }, got), /expected 0 items, got 1/);
  assert.match(subsetMismatch({ 'review-on': null }, got), /absent/);
  const rules = (c) => {
    if (c.param('grace-days') === 'x') throw PolicyError.badParam('grace-days', 'x');
    if (c.param('bug')) throw new Error('bug');
    return Decision.wait(c.asOf.addDays(c.param('late') ? -1 : 1), 'waiting');
  };
  const results = checkCases(rules, {
    base: BASE,
    cases: [
      { name: 'waits', expect: { actions: [], 'review-on': '2026-02-11' } },
      { name: 'refuses', context: { params: { 'grace-days': 'x' } }, 'expect-failure': 'refused' },
      { name: 'traps', context: { params: { bug: 'y' } }, 'expect-failure': 'trap' },
      { name: 'invalid', context: { params: { late: 'y' } }, 'expect-failure': 'invalid-decision' },
      { name: 'wrong', expect: { 'review-on': '2026-02-12' } },
      { name: 'bad context', context: { invoice: { 'payment-method': 'cheque' } }, expect: {} },
    ],
  });
  assert.deepEqual(results.map((r) => r.problem === null), [true, true, true, true, false, false]);
  assert.match(results[4].problem, /decision.review-on: expected "2026-02-12", got "2026-02-11"/);
  assert.match(results[5].problem, /unknown payment method "cheque"/);
  assert.throws(() => checkCases(rules, { cases: [{ name: 'x' }] }), /exactly one of "expect" and "expect-failure"/);
  assert.match(contractViolation(ctx(), decision('').act(notice(42)).because('r')), /notice level 42 is outside 1..=9/);
});
