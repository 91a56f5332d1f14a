// A policy's explicit refusal to decide. Throw one from a policy: the SDK hands it to the
// host as the contract's `policy-error`, which the host records as a `refused` decision.

/** A refusal: `bad-param` (a tenant parameter is missing or malformed) or `unsupported`. */
export class PolicyError extends Error {
  constructor(code, detail) {
    super(detail);
    this.name = 'PolicyError';
    /** `"bad-param"` or `"unsupported"`, the contract's case name. */
    this.code = code;
    /** The human explanation carried by the refusal. */
    this.detail = detail;
  }

  /** A tenant parameter is missing or malformed: `"<key>: <why>"`. */
  static badParam(key, why) {
    return new PolicyError('bad-param', `${key}: ${why}`);
  }

  /** The policy does not handle this case; `what` says which. */
  static unsupported(what) {
    return new PolicyError('unsupported', String(what));
  }
}
