"""`PolicyError`: a policy's explicit refusal to decide, raised from ``decide``."""

from __future__ import annotations


class PolicyError(Exception):
    """A refusal: ``code`` is ``"bad-param"`` or ``"unsupported"``, ``detail`` says why.

    Raise it from ``decide``; the host records it as a ``refused`` failure for the invoice.
    A business answer such as "wait, the invoice is disputed" is a `Decision`, not this.
    """

    def __init__(self, code: str, detail: str) -> None:
        if code not in ("bad-param", "unsupported"):
            raise ValueError(f"a refusal is bad-param or unsupported, not {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @staticmethod
    def bad_param(key: str, why: object) -> "PolicyError":
        """A tenant parameter is missing or malformed: ``"<key>: <why>"``."""
        return PolicyError("bad-param", f"{key}: {why}")

    @staticmethod
    def unsupported(what: str) -> "PolicyError":
        """The policy does not handle this case; ``what`` says which."""
        return PolicyError("unsupported", what)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PolicyError)
            and (self.code, self.detail) == (other.code, other.detail)
        )

    def __hash__(self) -> int:
        return hash((self.code, self.detail))
