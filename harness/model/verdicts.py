"""Typed outcomes a check can raise besides passing or failing its claims.

`ClaimBlocked`: the claim was never reached, because an earlier documented step failed. It is
not a failure of the blocked claim (the blocking step's own claim fails in its own test); the
report shows the cell as "blocked", naming that step and its claim.
"""
from __future__ import annotations


class ClaimBlocked(Exception):
    def __init__(self, claim: str, step: str, blocking_claims: tuple[str, ...] | list[str], why: str = ""):
        self.claim, self.step, self.blocking_claims, self.why = claim, step, tuple(blocking_claims), why
        by = f" (claim {', '.join(self.blocking_claims)})" if self.blocking_claims else ""
        super().__init__(f"[{claim}] blocked: not reached, because the documented step {step}{by} failed"
                         + (f": {why}" if why else ""))
