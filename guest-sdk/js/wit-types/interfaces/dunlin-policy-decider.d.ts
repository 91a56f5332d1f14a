declare module 'dunlin:policy/decider@0.1.0' {
  /**
   * Decide what to do about one invoice.
   */
  export function decide(ctx: Context): Decision;
  /**
   * A calendar date (proleptic Gregorian), without time or zone.
   */
  export interface Date {
    /**
     * The year, e.g. 2026.
     */
    year: number,
    /**
     * The month, 1 to 12.
     */
    month: number,
    /**
     * The day of the month, 1 to 31.
     */
    day: number,
  }
  /**
   * An amount of money in the minor units of its currency (cents for EUR).
   */
  export interface Money {
    /**
     * The amount in minor units; negative for credits.
     */
    minor: bigint,
    /**
     * The ISO 4217 currency code, upper case, e.g. "EUR".
     */
    currency: string,
  }
  /**
   * How the invoice is meant to be paid.
   * # Variants
   * 
   * ## `"card"`
   * 
   * A card on file, charged automatically.
   * ## `"direct-debit"`
   * 
   * A direct debit mandate (SEPA, ACH), collected automatically.
   * ## `"bank-transfer"`
   * 
   * The customer pays by bank transfer.
   * ## `"other"`
   * 
   * Anything else (cheque, cash, marketplace payout).
   */
  export type PaymentMethod = 'card' | 'direct-debit' | 'bank-transfer' | 'other';
  /**
   * Whether a failed automatic collection may succeed if retried.
   * # Variants
   * 
   * ## `"soft"`
   * 
   * Temporary (insufficient funds, issuer unavailable): a retry may succeed.
   * ## `"hard"`
   * 
   * Permanent (card stolen, account closed): a retry will fail; ask for a new method.
   */
  export type DeclineKind = 'soft' | 'hard';
  /**
   * The last failed automatic collection attempt of an invoice.
   */
  export interface CollectionFailure {
    /**
     * When the attempt failed.
     */
    on: Date,
    /**
     * The processor's decline code, e.g. "insufficient_funds".
     */
    code: string,
    /**
     * Whether retrying may help.
     */
    kind: DeclineKind,
  }
  /**
   * The invoice under review.
   */
  export interface Invoice {
    /**
     * The tenant's own id of the invoice.
     */
    id: string,
    /**
     * The invoice number printed on it.
     */
    number: string,
    /**
     * The date of issue.
     */
    issuedOn: Date,
    /**
     * The due date.
     */
    dueOn: Date,
    /**
     * The invoiced total.
     */
    amount: Money,
    /**
     * What is still owed; never more than `amount`.
     */
    openBalance: Money,
    /**
     * How it is meant to be paid.
     */
    paymentMethod: PaymentMethod,
    /**
     * How many automatic collection attempts have failed so far.
     */
    failedAttempts: number,
    /**
     * The last failed automatic collection attempt, if any.
     */
    lastFailure?: CollectionFailure,
    /**
     * The customer disputes the invoice.
     */
    disputed: boolean,
    /**
     * The invoice is covered by a payment plan or a promise to pay in good standing.
     */
    onPaymentPlan: boolean,
    /**
     * The tenant's own key/value data about the invoice.
     */
    metadata: Array<[string, string]>,
  }
  /**
   * A way of reaching a customer.
   * # Variants
   * 
   * ## `"email"`
   * 
   * E-mail.
   * ## `"sms"`
   * 
   * Text message.
   * ## `"letter"`
   * 
   * Paper letter.
   * ## `"phone"`
   * 
   * A phone call by a person.
   * ## `"in-app"`
   * 
   * A message inside the tenant's product.
   */
  export type Channel = 'email' | 'sms' | 'letter' | 'phone' | 'in-app';
  /**
   * The tone of a notice.
   * # Variants
   * 
   * ## `"friendly"`
   * 
   * A gentle nudge; assumes an oversight.
   * ## `"neutral"`
   * 
   * Matter-of-fact.
   * ## `"firm"`
   * 
   * Clear about consequences.
   * ## `"final"`
   * 
   * The last notice before escalation.
   */
  export type Tone = 'friendly' | 'neutral' | 'firm' | 'final';
  /**
   * The customer who owes the invoice, with figures the host computed.
   */
  export interface Customer {
    /**
     * The tenant's own id of the customer.
     */
    id: string,
    /**
     * Free-form labels the tenant attached, e.g. "enterprise", "vip", "public-sector".
     */
    tags: Array<string>,
    /**
     * Everything the customer has paid the tenant so far.
     */
    lifetimeValue: Money,
    /**
     * The date the customer relationship began.
     */
    customerSince: Date,
    /**
     * Invoices paid on or before their due date in the last 12 months.
     */
    onTimePayments12m: number,
    /**
     * Invoices paid after their due date in the last 12 months.
     */
    latePayments12m: number,
    /**
     * A BCP 47 language tag, e.g. "fi-FI".
     */
    locale: string,
    /**
     * An IANA time zone, e.g. "Europe/Helsinki".
     */
    timeZone: string,
    /**
     * Channels the customer can be reached on.
     */
    reachableOn: Array<Channel>,
    /**
     * Channels the customer opted out of; the host never uses them.
     */
    optedOut: Array<Channel>,
  }
  /**
   * What became of a past action.
   * # Variants
   * 
   * ## `"pending"`
   * 
   * Not delivered yet.
   * ## `"delivered"`
   * 
   * Delivered (sent, charged, handed over).
   * ## `"failed"`
   * 
   * Delivery failed for good.
   * ## `"opened"`
   * 
   * The customer opened or read it.
   * ## `"succeeded"`
   * 
   * A payment retry that collected the money.
   * ## `"declined"`
   * 
   * A payment retry that was declined.
   * ## `"blocked"`
   * 
   * The host's guardrails stopped the action.
   */
  export type ActionOutcome = 'pending' | 'delivered' | 'failed' | 'opened' | 'succeeded' | 'declined' | 'blocked';
  /**
   * The kind of a past action, without its details.
   * # Variants
   * 
   * ## `"notify"`
   * 
   * A notice to the customer.
   * ## `"retry-payment"`
   * 
   * An automatic collection retry.
   * ## `"pause"`
   * 
   * A pause of the ladder.
   * ## `"escalate"`
   * 
   * A hand-over to people or systems outside dunning.
   * ## `"close"`
   * 
   * The ladder was closed.
   */
  export type ActionKind = 'notify' | 'retry-payment' | 'pause' | 'escalate' | 'close';
  /**
   * One action already taken on this invoice.
   */
  export interface PastAction {
    /**
     * The as-of date of the decision that produced it.
     */
    on: Date,
    /**
     * What kind of action it was.
     */
    kind: ActionKind,
    /**
     * The notice level, for notices.
     */
    level?: number,
    /**
     * The channel, for notices.
     */
    channel?: Channel,
    /**
     * The tone, for notices.
     */
    tone?: Tone,
    /**
     * What became of it.
     */
    outcome: ActionOutcome,
  }
  /**
   * The customer's other open, overdue invoices (not counting this one).
   */
  export interface OtherOverdue {
    /**
     * How many.
     */
    count: number,
    /**
     * Their open balance, in this invoice's currency.
     */
    total: Money,
  }
  /**
   * Everything a policy may use to decide.
   */
  export interface Context {
    /**
     * The day the decision is made for, in the tenant's time zone.
     */
    asOf: Date,
    /**
     * The invoice under review.
     */
    invoice: Invoice,
    /**
     * The customer who owes it.
     */
    customer: Customer,
    /**
     * This invoice's past dunning actions, oldest first.
     */
    history: Array<PastAction>,
    /**
     * The customer's other open overdue invoices.
     */
    otherOverdue: OtherOverdue,
    /**
     * The tenant's policy parameters, e.g. ("grace-days", "14").
     */
    params: Array<[string, string]>,
  }
  /**
   * A notice to send to the customer.
   */
  export interface Notice {
    /**
     * The dunning level, 1 (first reminder) to 9.
     */
    level: number,
    /**
     * The channel to send it on.
     */
    channel: Channel,
    /**
     * The tone to use.
     */
    tone: Tone,
    /**
     * The id of the tenant's template to render, e.g. "reminder-friendly".
     */
    template: string,
    /**
     * Extra variables for the template; the host adds the invoice and customer fields.
     */
    vars: Array<[string, string]>,
  }
  /**
   * Retry the automatic collection of the open balance.
   */
  export interface Retry {
    /**
     * Why now, for the decision log.
     */
    reason: string,
  }
  /**
   * Stop dunning this invoice until a date.
   */
  export interface Pause {
    /**
     * The first date on which dunning may resume.
     */
    until: Date,
    /**
     * Why, for the decision log.
     */
    reason: string,
  }
  /**
   * Where an escalation goes.
   * # Variants
   * 
   * ## `"account-manager"`
   * 
   * A personal task for the account manager.
   * ## `"suspend-service"`
   * 
   * Suspend the customer's service until paid.
   * ## `"collections"`
   * 
   * Hand the invoice to a collections agency.
   * ## `"legal"`
   * 
   * Start legal proceedings.
   */
  export type EscalationKind = 'account-manager' | 'suspend-service' | 'collections' | 'legal';
  /**
   * Hand the invoice over to people or systems outside dunning.
   */
  export interface Escalation {
    /**
     * Where it goes.
     */
    kind: EscalationKind,
    /**
     * Why, for the decision log and the receiver.
     */
    reason: string,
  }
  /**
   * End the ladder for this invoice.
   */
  export interface Closure {
    /**
     * Write the open balance off as uncollectable.
     */
    writeOff: boolean,
    /**
     * Why, for the decision log.
     */
    reason: string,
  }
  /**
   * One thing the host should do.
   */
  export type Action = ActionNotify | ActionRetryPayment | ActionPause | ActionEscalate | ActionClose;
  /**
   * Send a notice.
   */
  export interface ActionNotify {
    tag: 'notify',
    val: Notice,
  }
  /**
   * Retry the automatic collection.
   */
  export interface ActionRetryPayment {
    tag: 'retry-payment',
    val: Retry,
  }
  /**
   * Pause dunning.
   */
  export interface ActionPause {
    tag: 'pause',
    val: Pause,
  }
  /**
   * Escalate.
   */
  export interface ActionEscalate {
    tag: 'escalate',
    val: Escalation,
  }
  /**
   * Close the ladder.
   */
  export interface ActionClose {
    tag: 'close',
    val: Closure,
  }
  /**
   * The policy's answer for one invoice.
   */
  export interface Decision {
    /**
     * The segment the policy placed the customer in, e.g. "high-value"; for reporting.
     */
    segment: string,
    /**
     * What to do now, in order; empty means wait.
     */
    actions: Array<Action>,
    /**
     * When to look at this invoice again; none means never (the ladder is over).
     */
    reviewOn?: Date,
    /**
     * Why, in a sentence a person can read; goes to the decision log.
     */
    reason: string,
  }
  /**
   * An explicit refusal to decide.
   */
  export type PolicyError = PolicyErrorBadParam | PolicyErrorUnsupported;
  /**
   * A tenant parameter is missing or malformed; the payload names it and says why.
   */
  export interface PolicyErrorBadParam {
    tag: 'bad-param',
    val: string,
  }
  /**
   * The policy does not handle this case; the payload says which.
   */
  export interface PolicyErrorUnsupported {
    tag: 'unsupported',
    val: string,
  }
}
