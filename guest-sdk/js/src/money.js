// Money of the contract: integer minor units (a bigint, so no amount loses precision) and an
// ISO 4217 code. Never floating point.

/** An amount in minor units (cents for EUR) of a currency. Immutable. */
export class Money {
  /** `minor` as a bigint, or an integer number (converted exactly). */
  constructor(minor, currency) {
    this.minor = toMinor(minor);
    this.currency = String(currency);
    Object.freeze(this);
  }

  isZero() { return this.minor === 0n; }
  isPositive() { return this.minor > 0n; }
  isNegative() { return this.minor < 0n; }

  /** Whether both amounts are in the same currency, so they can be compared or added. */
  sameCurrency(other) { return this.currency === other.currency; }

  /** -1, 0 or 1 within one currency; `undefined` across currencies (they are unordered). */
  compare(other) {
    if (!this.sameCurrency(other)) return undefined;
    return this.minor < other.minor ? -1 : this.minor > other.minor ? 1 : 0;
  }

  equals(other) { return this.compare(other) === 0; }
  lt(other) { return this.compare(other) === -1; }
  gt(other) { return this.compare(other) === 1; }

  /** The sum, or `undefined` if the currencies differ or the sum leaves the s64 range. */
  checkedAdd(other) {
    if (!this.sameCurrency(other)) return undefined;
    const sum = this.minor + other.minor;
    return sum > I64_MAX || sum < I64_MIN ? undefined : new Money(sum, this.currency);
  }

  /** Two decimals and the code, e.g. `1234.50 EUR`, as the host prints money. */
  toString() {
    const abs = this.minor < 0n ? -this.minor : this.minor;
    const cents = String(abs % 100n).padStart(2, '0');
    return `${this.minor < 0n ? '-' : ''}${abs / 100n}.${cents} ${this.currency}`;
  }
}

/** The bounds of the contract's s64. */
export const I64_MAX = (1n << 63n) - 1n;
export const I64_MIN = -(1n << 63n);

/** Minor units as a bigint: the engines give s64 as a bigint (StarlingMonkey) or a number (QuickJS). */
export function toMinor(value) {
  if (typeof value === 'bigint') return value;
  if (Number.isInteger(value)) return BigInt(value);
  throw new TypeError(`${value} is not a whole number of minor units`);
}
