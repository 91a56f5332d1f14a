import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { contextFromJson, decideNatively, mergePatch, runCases } from '@dunlin/policy/testing';

import { decider, standard } from '../policy.js';

const CASES = new URL('../../standard/cases.json', import.meta.url);
const BASE = JSON.parse(readFileSync(CASES, 'utf8')).base;

test('the standard cases pass natively', () => {
  assert.equal(runCases(decider, CASES).length, 12);
});

test('thresholds out of order are refused with the Rust policy\'s words', () => {
  const ctx = contextFromJson(mergePatch(BASE, { params: { 'final-days': '10' } }));
  assert.deepEqual(decideNatively(standard, ctx).failure, {
    code: 'refused',
    detail: 'bad-param: final-days: 10 must be greater than firm-days (14)',
  });
});

test('a channel parameter that is no channel names the choices', () => {
  const ctx = contextFromJson(mergePatch(BASE, { params: { channel: 'fax' } }));
  assert.equal(
    decideNatively(standard, ctx).failure.detail,
    'bad-param: channel: "fax" is not a valid Channel ("fax" is not a channel; expected one of email, sms, letter, phone, in-app)',
  );
});

test('a write-off threshold up to the s64 maximum is read exactly', () => {
  const ctx = contextFromJson(mergePatch(BASE, {
    'as-of': '2026-03-14',
    invoice: { 'open-balance': { minor: 9007199254740993, currency: 'EUR' } },
    params: { 'write-off-below-minor': '9223372036854775807' },
    history: [{ on: '2026-02-28', kind: 'notify', level: 3, outcome: 'delivered' }],
  }));
  assert.equal(decideNatively(standard, ctx).decision.actions[0]['write-off'], true);
});
