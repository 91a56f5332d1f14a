// Type declarations of the Dunlin policy SDK. The contract's raw binding types are generated
// from the WIT into `wit-types/` (`npm run types`); these are the SDK's own, which hide the
// binding conventions (options, variants, s64, errors) behind one shape.

/// <reference path="../wit-types/interfaces/dunlin-policy-decider.d.ts" />
import type * as Wit from 'dunlin:policy/decider@0.1.0';

export type Channel = Wit.Channel;
export type Tone = Wit.Tone;
export type PaymentMethod = Wit.PaymentMethod;
export type DeclineKind = Wit.DeclineKind;
export type ActionOutcome = Wit.ActionOutcome;
export type ActionKind = Wit.ActionKind;
export type EscalationKind = Wit.EscalationKind;

/** A parser of a tenant parameter, with the type name its errors use. */
export interface ParamType<T> {
  readonly typeName: string;
  parse(text: string): T;
}

/** An enum of the contract: camelCase keys to kebab-case names, plus parsing. */
export type Names<N extends string, Keys extends string> = { readonly [K in Keys]: N } & ParamType<N> & {
  readonly ALL: readonly N[];
  readonly what: string;
  has(value: unknown): value is N;
};

export const Channel: Names<Channel, 'Email' | 'Sms' | 'Letter' | 'Phone' | 'InApp'>;
export const Tone: Names<Tone, 'Friendly' | 'Neutral' | 'Firm' | 'Final'>;
export const PaymentMethod: Names<PaymentMethod, 'Card' | 'DirectDebit' | 'BankTransfer' | 'Other'>;
export const DeclineKind: Names<DeclineKind, 'Soft' | 'Hard'>;
export const ActionOutcome: Names<ActionOutcome,
  'Pending' | 'Delivered' | 'Failed' | 'Opened' | 'Succeeded' | 'Declined' | 'Blocked'>;
export const ActionKind: Names<ActionKind, 'Notify' | 'RetryPayment' | 'Pause' | 'Escalate' | 'Close'>;
export const EscalationKind: Names<EscalationKind, 'AccountManager' | 'SuspendService' | 'Collections' | 'Legal'>;

/** Whole numbers (Rust's i64) as a bigint. */
export const I64: ParamType<bigint>;
/** Whole numbers (Rust's i64) as a number, up to 2^53. */
export const Int: ParamType<number>;
/** `true` or `false`. */
export const Bool: ParamType<boolean>;
/** Any text. */
export const Str: ParamType<string>;

export const I64_MAX: bigint;
export const I64_MIN: bigint;

/** A calendar date, proleptic Gregorian, no time or zone. */
export class CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  constructor(year: number, month: number, day: number);
  static isValid(year: number, month: number, day: number): boolean;
  static parse(text: string): CalendarDate;
  static fromDaysSinceEpoch(days: number): CalendarDate;
  daysSinceEpoch(): number;
  addDays(days: number): CalendarDate;
  daysUntil(later: CalendarDate): number;
  daysSince(earlier: CalendarDate): number;
  compare(other: CalendarDate): -1 | 0 | 1;
  equals(other: CalendarDate): boolean;
  before(other: CalendarDate): boolean;
  after(other: CalendarDate): boolean;
  max(other: CalendarDate): CalendarDate;
  min(other: CalendarDate): CalendarDate;
  toString(): string;
  toJSON(): string;
}
export type DateLike = CalendarDate | string;
export function date(value: DateLike): CalendarDate;

/** Exact minor units of a currency. */
export class Money {
  readonly minor: bigint;
  readonly currency: string;
  constructor(minor: bigint | number, currency: string);
  isZero(): boolean;
  isPositive(): boolean;
  isNegative(): boolean;
  sameCurrency(other: Money): boolean;
  compare(other: Money): -1 | 0 | 1 | undefined;
  equals(other: Money): boolean;
  lt(other: Money): boolean;
  gt(other: Money): boolean;
  checkedAdd(other: Money): Money | undefined;
  toString(): string;
}

/** A refusal to decide: thrown from a policy, recorded by the host as `refused`. */
export class PolicyError extends Error {
  readonly code: 'bad-param' | 'unsupported';
  readonly detail: string;
  static badParam(key: string, why: unknown): PolicyError;
  static unsupported(what: unknown): PolicyError;
}

export class PastAction {
  readonly on: CalendarDate;
  readonly kind: ActionKind;
  readonly level: number | null;
  readonly channel: Channel | null;
  readonly tone: Tone | null;
  readonly outcome: ActionOutcome;
  wentOut(): boolean;
  daysBefore(asOf: CalendarDate): number;
}

export interface Invoice {
  readonly id: string;
  readonly number: string;
  readonly issuedOn: CalendarDate;
  readonly dueOn: CalendarDate;
  readonly amount: Money;
  readonly openBalance: Money;
  readonly paymentMethod: PaymentMethod;
  readonly failedAttempts: number;
  readonly lastFailure: { readonly on: CalendarDate; readonly code: string; readonly kind: DeclineKind } | null;
  readonly disputed: boolean;
  readonly onPaymentPlan: boolean;
  readonly metadata: ReadonlyArray<[string, string]>;
}

export interface Customer {
  readonly id: string;
  readonly tags: readonly string[];
  readonly lifetimeValue: Money;
  readonly customerSince: CalendarDate;
  readonly onTimePayments12m: number;
  readonly latePayments12m: number;
  readonly locale: string;
  readonly timeZone: string;
  readonly reachableOn: readonly Channel[];
  readonly optedOut: readonly Channel[];
}

/** Everything a policy may use to decide, and the questions policies ask about it. */
export class Context {
  constructor(raw: Wit.Context | object);
  readonly asOf: CalendarDate;
  readonly invoice: Invoice;
  readonly customer: Customer;
  readonly history: readonly PastAction[];
  readonly otherOverdue: { readonly count: number; readonly total: Money };
  readonly params: ReadonlyArray<[string, string]>;
  daysOverdue(): number;
  isOverdue(): boolean;
  onHold(): string | null;
  param(key: string): string | null;
  paramOr<T>(key: string, fallback: T, type?: ParamType<T>): T;
  paramWithin<T extends number | bigint | string>(key: string, fallback: T, range: [T, T], type?: ParamType<T>): T;
  requireParam<T>(key: string, type: ParamType<T>): T;
  metadata(key: string): string | null;
  hasTag(tag: string): boolean;
  canReach(channel: Channel): boolean;
  firstReachable(preferred: readonly Channel[]): Channel | null;
  tenureDays(): number;
  totalOverdue(): Money;
  done(kind: ActionKind): PastAction[];
  lastDone(kind: ActionKind): PastAction | null;
  notices(): PastAction[];
  noticesSent(): number;
  lastNotice(): PastAction | null;
  noticeAtLevel(level: number): PastAction | null;
  highestLevel(): number;
  retriesSoFar(): number;
  lastRetry(): PastAction | null;
}

export class Notice {
  readonly level: number;
  readonly channel: Channel;
  readonly tone: Tone;
  readonly template: string;
  readonly vars: ReadonlyArray<[string, string]>;
  via(channel: Channel): Notice;
  email(): Notice;
  sms(): Notice;
  letter(): Notice;
  phone(): Notice;
  inApp(): Notice;
  withTone(tone: Tone): Notice;
  friendly(): Notice;
  neutral(): Notice;
  firm(): Notice;
  final(): Notice;
  withTemplate(id: string): Notice;
  var(name: string, value: unknown): Notice;
  getVar(name: string): string | null;
}
export function notice(level: number): Notice;

export type OtherAction =
  | { readonly kind: 'retry-payment'; readonly reason: string }
  | { readonly kind: 'pause'; readonly until: CalendarDate; readonly reason: string }
  | { readonly kind: 'escalate'; readonly to: EscalationKind; readonly reason: string }
  | { readonly kind: 'close'; readonly writeOff: boolean; readonly reason: string };
export type Action = Notice | OtherAction;

export const Action: {
  retry(reason: string): OtherAction;
  pause(until: DateLike, reason: string): OtherAction;
  escalate(to: EscalationKind, reason: string): OtherAction;
  accountManager(reason: string): OtherAction;
  suspendService(reason: string): OtherAction;
  collections(reason: string): OtherAction;
  legal(reason: string): OtherAction;
  close(reason: string): OtherAction;
  writeOff(reason: string): OtherAction;
};
export function actionKind(action: Action): ActionKind;

export class Decision {
  readonly segment: string;
  readonly actions: readonly Action[];
  readonly reviewOn: CalendarDate | null;
  readonly reason: string;
  static wait(until: DateLike, reason: string): Decision;
  static end(reason: string): Decision;
  inSegment(segment: string): Decision;
  act(action: Action): Decision;
  actIf(action: Action | null | undefined): Decision;
  review(day: DateLike | null): Decision;
  because(reason: string): Decision;
  isWait(): boolean;
  endsLadder(): boolean;
  notices(): Notice[];
  firstNotice(): Notice | null;
  has(kind: ActionKind): boolean;
  escalation(): OtherAction | null;
}
export function decision(segment: string): Decision;

/** The rules of a policy: a Context in, a Decision out; throw a PolicyError to refuse. */
export type Rules = (ctx: Context) => Decision;

/** The component's `decider` export, made from the rules. */
export interface Decider {
  decide(ctx: Wit.Context): Wit.Decision;
  readonly rules: Rules;
}
export function policy(rules: Rules): Decider;
