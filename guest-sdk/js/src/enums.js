// The contract's enums by their kebab-case names, the form both the bindings and the host's
// JSON use. Each enum object maps a camelCase key to its name (`Channel.InApp === "in-app"`)
// and knows how to parse a tenant parameter naming one of its values.

function names(typeName, what, entries) {
  const values = Object.values(entries);
  return Object.freeze({
    ...entries,
    /** Every value, in the contract's order. */
    ALL: Object.freeze(values),
    /** The type's name in parameter errors, as the Rust SDK spells it. */
    typeName,
    /** What a value is, in words, as the host's JSON errors say it. */
    what,
    /** Parses a name ignoring ASCII case; throws an Error saying what was expected. */
    parse(text) {
      const lower = String(text).replace(/[A-Z]/g, (c) => c.toLowerCase());
      const found = values.find((v) => v === lower);
      if (found === undefined) {
        throw new Error(`${JSON.stringify(String(text))} is not a ${what}; expected one of ${values.join(', ')}`);
      }
      return found;
    },
    /** Whether `value` is one of the names exactly. */
    has(value) {
      return values.includes(value);
    },
  });
}

export const PaymentMethod = names('PaymentMethod', 'payment method', {
  Card: 'card', DirectDebit: 'direct-debit', BankTransfer: 'bank-transfer', Other: 'other',
});
export const DeclineKind = names('DeclineKind', 'decline kind', { Soft: 'soft', Hard: 'hard' });
export const Channel = names('Channel', 'channel', {
  Email: 'email', Sms: 'sms', Letter: 'letter', Phone: 'phone', InApp: 'in-app',
});
export const Tone = names('Tone', 'tone', {
  Friendly: 'friendly', Neutral: 'neutral', Firm: 'firm', Final: 'final',
});
export const ActionOutcome = names('ActionOutcome', 'action outcome', {
  Pending: 'pending', Delivered: 'delivered', Failed: 'failed', Opened: 'opened',
  Succeeded: 'succeeded', Declined: 'declined', Blocked: 'blocked',
});
export const ActionKind = names('ActionKind', 'action kind', {
  Notify: 'notify', RetryPayment: 'retry-payment', Pause: 'pause', Escalate: 'escalate', Close: 'close',
});
export const EscalationKind = names('EscalationKind', 'escalation kind', {
  AccountManager: 'account-manager', SuspendService: 'suspend-service', Collections: 'collections', Legal: 'legal',
});
