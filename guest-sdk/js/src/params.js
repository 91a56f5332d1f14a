// Parsers for tenant parameters. Their error texts are the Rust SDK's, word for word, so the
// same bad value gets the same refusal whatever language the policy is written in.

import { I64_MAX, I64_MIN } from './money.js';

const INTEGER = /^[+-]?\d+$/;

function parseI64(text) {
  if (!INTEGER.test(text)) {
    throw new Error('invalid digit found in string');
  }
  const value = BigInt(text);
  if (value > I64_MAX) throw new Error('number too large to fit in target type');
  if (value < I64_MIN) throw new Error('number too small to fit in target type');
  return value;
}

/** A whole number (Rust's i64) as a bigint. */
export const I64 = Object.freeze({ typeName: 'i64', parse: parseI64 });

/** A whole number (Rust's i64) as a number; beyond 2^53 it asks for `I64` instead. */
export const Int = Object.freeze({
  typeName: 'i64',
  parse(text) {
    const value = parseI64(text);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new Error('beyond 2^53, read it with the I64 type as a bigint');
    }
    return Number(value);
  },
});

/** `true` or `false`, exactly. */
export const Bool = Object.freeze({
  typeName: 'bool',
  parse(text) {
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw new Error('provided string was not `true` or `false`');
  },
});

/** Any text, trimmed. */
export const Str = Object.freeze({ typeName: 'String', parse: (text) => text });

/** The parser a default value implies: number, bigint, boolean or string. */
export function typeOf(value) {
  switch (typeof value) {
    case 'number': return Int;
    case 'bigint': return I64;
    case 'boolean': return Bool;
    case 'string': return Str;
    default: throw new TypeError('give the parameter type (I64, Int, Bool, Str or an enum such as Channel)');
  }
}
