import assert from 'node:assert/strict';
import { test } from 'node:test';

import { runCases } from '@dunlin/policy/testing';

import { decider } from '../policy.js';

test('every case in cases.json passes', () => {
  assert.ok(runCases(decider, new URL('../cases.json', import.meta.url)).length > 0);
});
