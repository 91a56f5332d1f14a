// Native testing of a policy, without WebAssembly: the host's JSON format for contexts and
// decisions, and a cases-file runner with the host's semantics (`dunlin policy test`): each
// case is a JSON merge patch (RFC 7386) on the base context and expects a partial decision
// (every key given must match, arrays element by element) or a failure code.

import { readFileSync } from 'node:fs';

import { CalendarDate } from './date.js';
import { Context } from './context.js';
import { Notice, actionKind } from './decision.js';
import {
  ActionKind, ActionOutcome, Channel, DeclineKind, EscalationKind, PaymentMethod, Tone,
} from './enums.js';
import { Money } from './money.js';
import { PolicyError } from './error.js';

class JsonError extends Error {}

function fail(path, why) {
  throw new JsonError(`${path}: ${why}`);
}

function object(value, path, fields) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(path, 'expected an object');
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) fail(path, `unknown field "${key}", expected one of ${fields.join(', ')}`);
  }
  return value;
}

function required(obj, key, path) {
  if (!(key in obj)) fail(path, `missing field "${key}"`);
  return obj[key];
}

function str(value, path) {
  if (typeof value !== 'string') fail(path, 'expected a string');
  return value;
}

function uint(value, path, max) {
  if (!Number.isInteger(value) || value < 0 || value > max) fail(path, `expected a whole number from 0 to ${max}`);
  return value;
}

function bool(value, path) {
  if (typeof value !== 'boolean') fail(path, 'expected true or false');
  return value;
}

function day(value, path) {
  try {
    return CalendarDate.parse(str(value, path));
  } catch (err) {
    return fail(path, err.message);
  }
}

function named(type, value, path) {
  if (!type.has(value)) fail(path, `unknown ${type.what} ${JSON.stringify(value)}, expected one of ${type.ALL.join(', ')}`);
  return value;
}

function money(value, path, currency) {
  const m = object(value, path, currency ? ['minor'] : ['minor', 'currency']);
  const minor = required(m, 'minor', path);
  if (!Number.isInteger(minor)) fail(`${path}.minor`, 'expected a whole number');
  const code = currency ?? str(required(m, 'currency', path), `${path}.currency`);
  if (!/^[A-Z]{3}$/.test(code)) fail(`${path}.currency`, `currency code ${JSON.stringify(code)} is not three upper-case letters (ISO 4217, e.g. "EUR")`);
  return new Money(minor, code);
}

function stringMap(value, path) {
  if (value === undefined) return [];
  const obj = object(value, path, Object.keys(value ?? {}));
  return Object.keys(obj).sort().map((k) => [k, str(obj[k], `${path}.${k}`)]);
}

/**
 * A Context from the host's JSON format (kebab-case fields, `YYYY-MM-DD` dates), with the
 * host's defaults for omitted fields. Throws an Error naming the offending field.
 */
export function contextFromJson(json) {
  const c = object(json, 'context', ['as-of', 'invoice', 'customer', 'history', 'other-overdue', 'params']);
  const i = object(required(c, 'invoice', 'context'), 'invoice', [
    'id', 'number', 'issued-on', 'due-on', 'amount', 'open-balance', 'payment-method', 'failed-attempts',
    'last-failure', 'disputed', 'on-payment-plan', 'metadata']);
  const u = object(required(c, 'customer', 'context'), 'customer', [
    'id', 'tags', 'lifetime-value', 'customer-since', 'on-time-payments-12m', 'late-payments-12m', 'locale',
    'time-zone', 'reachable-on', 'opted-out']);
  const amount = money(required(i, 'amount', 'invoice'), 'invoice.amount');
  const lastFailure = i['last-failure'] ?? null;
  const other = object(c['other-overdue'] ?? { count: 0, 'total-minor': 0 }, 'other-overdue', ['count', 'total-minor']);
  const channels = (list, path) => {
    if (!Array.isArray(list)) fail(path, 'expected a list');
    return list.map((ch, n) => named(Channel, ch, `${path}[${n}]`));
  };
  const history = c.history ?? [];
  if (!Array.isArray(history)) fail('history', 'expected a list');
  return new Context({
    asOf: day(required(c, 'as-of', 'context'), 'as-of'),
    invoice: {
      id: str(required(i, 'id', 'invoice'), 'invoice.id'),
      number: str(required(i, 'number', 'invoice'), 'invoice.number'),
      issuedOn: day(required(i, 'issued-on', 'invoice'), 'invoice.issued-on'),
      dueOn: day(required(i, 'due-on', 'invoice'), 'invoice.due-on'),
      amount,
      openBalance: money(required(i, 'open-balance', 'invoice'), 'invoice.open-balance'),
      paymentMethod: named(PaymentMethod, required(i, 'payment-method', 'invoice'), 'invoice.payment-method'),
      failedAttempts: uint(i['failed-attempts'] ?? 0, 'invoice.failed-attempts', 0xffffffff),
      lastFailure: lastFailure === null ? null : (() => {
        const f = object(lastFailure, 'invoice.last-failure', ['on', 'code', 'kind']);
        return {
          on: day(required(f, 'on', 'invoice.last-failure'), 'invoice.last-failure.on'),
          code: str(required(f, 'code', 'invoice.last-failure'), 'invoice.last-failure.code'),
          kind: named(DeclineKind, required(f, 'kind', 'invoice.last-failure'), 'invoice.last-failure.kind'),
        };
      })(),
      disputed: bool(i.disputed ?? false, 'invoice.disputed'),
      onPaymentPlan: bool(i['on-payment-plan'] ?? false, 'invoice.on-payment-plan'),
      metadata: stringMap(i.metadata, 'invoice.metadata'),
    },
    customer: {
      id: str(required(u, 'id', 'customer'), 'customer.id'),
      tags: (u.tags ?? []).map((t, n) => str(t, `customer.tags[${n}]`)),
      lifetimeValue: money(required(u, 'lifetime-value', 'customer'), 'customer.lifetime-value'),
      customerSince: day(required(u, 'customer-since', 'customer'), 'customer.customer-since'),
      onTimePayments12m: uint(u['on-time-payments-12m'] ?? 0, 'customer.on-time-payments-12m', 0xffffffff),
      latePayments12m: uint(u['late-payments-12m'] ?? 0, 'customer.late-payments-12m', 0xffffffff),
      locale: str(u.locale ?? 'en', 'customer.locale'),
      timeZone: str(u['time-zone'] ?? 'UTC', 'customer.time-zone'),
      reachableOn: channels(u['reachable-on'] ?? [Channel.Email], 'customer.reachable-on'),
      optedOut: channels(u['opted-out'] ?? [], 'customer.opted-out'),
    },
    history: history.map((raw, n) => {
      const path = `history[${n}]`;
      const a = object(raw, path, ['on', 'kind', 'level', 'channel', 'tone', 'outcome']);
      const opt = (key, check) => (a[key] === undefined || a[key] === null ? null : check(a[key], `${path}.${key}`));
      return {
        on: day(required(a, 'on', path), `${path}.on`),
        kind: named(ActionKind, required(a, 'kind', path), `${path}.kind`),
        level: opt('level', (v, p) => uint(v, p, 255)),
        channel: opt('channel', (v, p) => named(Channel, v, p)),
        tone: opt('tone', (v, p) => named(Tone, v, p)),
        outcome: named(ActionOutcome, required(a, 'outcome', path), `${path}.outcome`),
      };
    }),
    otherOverdue: {
      count: uint(required(other, 'count', 'other-overdue'), 'other-overdue.count', 0xffffffff),
      total: money({ minor: required(other, 'total-minor', 'other-overdue') }, 'other-overdue.total-minor', amount.currency),
    },
    params: stringMap(c.params, 'params'),
  });
}

function actionToJson(a) {
  switch (actionKind(a)) {
    case ActionKind.Notify:
      return {
        kind: 'notify', level: a.level, channel: a.channel, tone: a.tone, template: a.template,
        vars: Object.fromEntries([...a.vars].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))),
      };
    case ActionKind.RetryPayment: return { kind: 'retry-payment', reason: a.reason };
    case ActionKind.Pause: return { kind: 'pause', until: String(a.until), reason: a.reason };
    case ActionKind.Escalate: return { kind: 'escalate', to: named(EscalationKind, a.to, 'escalate.to'), reason: a.reason };
    case ActionKind.Close: return { kind: 'close', 'write-off': a.writeOff, reason: a.reason };
    default: throw new TypeError(`${JSON.stringify(a)} is not an action`);
  }
}

/** A Decision in the host's JSON format: `review-on` null when the ladder ends, actions tagged by `kind`. */
export function decisionToJson(d) {
  return {
    segment: d.segment,
    actions: d.actions.map(actionToJson),
    'review-on': d.reviewOn === null ? null : String(d.reviewOn),
    reason: d.reason,
  };
}

const MAX_LEVEL = 9;
const MAX_ACTIONS = 16;
const MAX_LABEL = 64;
const MAX_TEXT = 2048;
const MAX_VARS = 32;
const bytes = (s) => new TextEncoder().encode(s).length;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROLS_BUT_NEWLINE_TAB = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/**
 * Why `d` breaks the contract for `ctx` (the host would record it as `invalid-decision`), or
 * null. A copy of the host's checks: the host's answer counts when the two disagree.
 */
export function contractViolation(ctx, d) {
  const bounded = (field, value, max, controls) => {
    if (bytes(value) > max) return `${field} is ${bytes(value)} bytes long; at most ${max} allowed`;
    if (controls.test(value)) return `${field} holds a control character`;
    return null;
  };
  const label = (field, value, mayBeEmpty) => (!mayBeEmpty && value === '' ? `${field} is empty` : bounded(field, value, MAX_LABEL, CONTROLS));
  const text = (field, value) => (value.trim() === '' ? `${field} is empty` : bounded(field, value, MAX_TEXT, CONTROLS_BUT_NEWLINE_TAB));
  const identifier = (field, value) => (/^[a-z0-9._-]*$/.test(value) ? null : `${field} ${JSON.stringify(value)} may use only a-z, 0-9, '.', '_' and '-'`);
  const after = (field, value) => (value.after(ctx.asOf) ? null : `${field} ${value} is not after as-of ${ctx.asOf}`);
  const first = (...checks) => checks.find((c) => c !== null) ?? null;
  let problem = first(label('segment', d.segment, true), text('reason', d.reason), d.reviewOn ? after('review-on', d.reviewOn) : null);
  if (problem) return problem;
  if (d.actions.length > MAX_ACTIONS) return `actions: ${d.actions.length} given, at most ${MAX_ACTIONS} allowed`;
  for (const [i, a] of d.actions.entries()) {
    if (a instanceof Notice) {
      if (!(a.level >= 1 && a.level <= MAX_LEVEL)) return `notice level ${a.level} is outside 1..=${MAX_LEVEL}`;
      problem = first(label(`actions[${i}].template`, a.template, false), identifier(`actions[${i}].template`, a.template));
      if (problem) return problem;
      if (a.vars.length > MAX_VARS) return `actions[${i}].vars: ${a.vars.length} given, at most ${MAX_VARS} allowed`;
      for (const [name, value] of a.vars) {
        problem = first(label(`actions[${i}].vars name`, name, false), identifier(`actions[${i}].vars name`, name),
          bounded(`actions[${i}].vars[${name}]`, value, MAX_TEXT, CONTROLS_BUT_NEWLINE_TAB));
        if (problem) return problem;
      }
    } else {
      problem = first(text(`actions[${i}].reason`, a.reason), a.kind === ActionKind.Pause ? after(`actions[${i}].until`, a.until) : null);
      if (problem) return problem;
    }
  }
  return null;
}

/** Applies an RFC 7386 JSON merge patch to a copy of `target`. */
export function mergePatch(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b) || (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null
    && !Array.isArray(a) && !Array.isArray(b) && Object.keys(a).length === Object.keys(b).length
    && Object.keys(a).every((k) => k in b && deepEqual(a[k], b[k])));
}

/** Where `got` fails to contain `expected`, or null: objects need every expected key, arrays the same length. */
export function subsetMismatch(expected, got, path = 'decision') {
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(expected) && isObject(got)) {
    for (const [k, ev] of Object.entries(expected)) {
      if (!(k in got)) return `${path}.${k}: expected ${JSON.stringify(ev)}, but it is absent`;
      const diff = subsetMismatch(ev, got[k], `${path}.${k}`);
      if (diff) return diff;
    }
    return null;
  }
  if (Array.isArray(expected) && Array.isArray(got)) {
    if (expected.length !== got.length) return `${path}: expected ${expected.length} items, got ${got.length}: ${JSON.stringify(got)}`;
    for (const [i, ev] of expected.entries()) {
      const diff = subsetMismatch(ev, got[i], `${path}[${i}]`);
      if (diff) return diff;
    }
    return null;
  }
  return deepEqual(expected, got) ? null : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`;
}

function parseCases(file) {
  const f = object(file, 'cases file', ['base', 'cases']);
  if (!Array.isArray(f.cases)) fail('cases', 'expected a list');
  return f.cases.map((raw, i) => {
    const c = object(raw, `cases[${i}]`, ['name', 'context', 'expect', 'expect-failure']);
    const name = str(required(c, 'name', `cases[${i}]`), `cases[${i}].name`);
    const hasExpect = c.expect !== undefined && c.expect !== null;
    const hasFailure = c['expect-failure'] !== undefined && c['expect-failure'] !== null;
    if (hasExpect === hasFailure) throw new JsonError(`case ${JSON.stringify(name)} must have exactly one of "expect" and "expect-failure"`);
    return { name, context: c.context ?? null, expect: hasExpect ? c.expect : null, failure: hasFailure ? c['expect-failure'] : null };
  });
}

/** Runs `rules` on one context as the host would: a decision, or a failure `{ code, detail }`. */
export function decideNatively(rules, ctx) {
  let d;
  try {
    d = rules(ctx);
  } catch (err) {
    if (err instanceof PolicyError) return { failure: { code: 'refused', detail: `${err.code}: ${err.detail}` } };
    return { failure: { code: 'trap', detail: String(err?.stack ?? err) } };
  }
  const violation = contractViolation(ctx, d);
  if (violation) return { failure: { code: 'invalid-decision', detail: violation } };
  return { decision: decisionToJson(d) };
}

/**
 * Runs every case of a cases file (a path, a URL or the parsed JSON) through `policy` (the
 * `decider` export of `policy(rules)`, or the rules function). Returns `[{ name, problem }]`
 * with `problem` null for a passing case.
 */
export function checkCases(policy, file) {
  const json = typeof file === 'string' || file instanceof URL ? JSON.parse(readFileSync(file, 'utf8')) : file;
  const rules = typeof policy === 'function' ? policy : policy.rules;
  return parseCases(json).map((c) => {
    let ctx;
    try {
      ctx = contextFromJson(c.context === null ? json.base : mergePatch(json.base ?? {}, c.context));
    } catch (err) {
      return { name: c.name, problem: `the case's context is not valid: ${err.message}` };
    }
    const out = decideNatively(rules, ctx);
    let problem = null;
    if (out.decision && c.expect !== null) {
      const diff = subsetMismatch(c.expect, out.decision);
      problem = diff && `${diff}\n    decision: ${JSON.stringify(out.decision)}`;
    } else if (out.decision) {
      problem = `expected failure ${JSON.stringify(c.failure)}, got a decision: ${JSON.stringify(out.decision)}`;
    } else if (out.failure.code !== c.failure) {
      problem = `failed: ${out.failure.detail} [${out.failure.code}]`;
    }
    return { name: c.name, problem };
  });
}

/** Like `checkCases`, and throws one Error listing every failing case (for `node --test`). */
export function runCases(policy, file) {
  const results = checkCases(policy, file);
  const failed = results.filter((r) => r.problem !== null);
  if (failed.length > 0) {
    throw new Error(`${failed.length} of ${results.length} cases failed:\n${failed.map((r) => `- ${r.name}: ${r.problem}`).join('\n')}`);
  }
  return results;
}
