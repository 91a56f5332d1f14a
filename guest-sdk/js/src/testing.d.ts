// Type declarations of the SDK's native testing helpers (Node.js only).

import type { Context, Decider, Decision, Rules } from './index.js';

/** A decision in the host's JSON format. */
export type DecisionJson = {
  segment: string;
  actions: Array<Record<string, unknown>>;
  'review-on': string | null;
  reason: string;
};

export function contextFromJson(json: unknown): Context;
export function decisionToJson(decision: Decision): DecisionJson;
export function contractViolation(ctx: Context, decision: Decision): string | null;
export function mergePatch(target: unknown, patch: unknown): unknown;
export function subsetMismatch(expected: unknown, got: unknown, path?: string): string | null;
export function decideNatively(rules: Rules, ctx: Context):
  { decision: DecisionJson; failure?: undefined } | { decision?: undefined; failure: { code: string; detail: string } };

export interface CaseResult {
  name: string;
  problem: string | null;
}
export function checkCases(policy: Decider | Rules, file: string | URL | object): CaseResult[];
export function runCases(policy: Decider | Rules, file: string | URL | object): CaseResult[];
