"""The verdict model: what a check raises, and the one record each test leaves.

A check says which claim failed by raising `ClaimFailure` (claims, message, observed output);
`ClaimBlocked` says a claim was never reached because an earlier documented step failed (not a
failure of the blocked claim: the blocking step's own claim fails in its own test). Each test
then yields one `TestRecord`: a verdict per cited claim, the target as read from it, the
evidence. JUnit carries it as one JSON property and results.json holds the same objects; the
report and the known differences read records, never the wording of a message.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

# A test's outcome, and the verdict it gives each claim it cites.
OUTCOMES = ("failed", "error", "blocked", "known difference", "passed", "skipped")
NO_VERDICT = "no verdict"   # a cited claim the failure does not name: this test says nothing about it
NO_TARGET = "(no target)"
RECORD_VERSION = 1
# Why a test did not judge its claims, as data (a record's `skip_kind`): the report groups claims
# that were not judged by these, never by a skip message's wording. A plain skip has no kind.
SKIP_KINDS = {
    "kubernetes-build": "need the offline Kubernetes build (`photon-harness kind build-node-image`)",
    "no-cluster": "were left out by --no-cluster",
    "photon-src": "need --photon-src (a vmware/photon checkout)",
    "not-documented": "are not documented in the target's docs version",
    "flavour": "do not apply to this flavour",
    "backend": "are not run on this backend",
    "condition": "need a condition this target does not meet",
}


def _ids(claims) -> tuple[str, ...]:
    return (claims,) if isinstance(claims, str) else tuple(claims)


class ClaimFailure(AssertionError):
    """A documented behaviour did not happen: the claims it breaks, what was expected, what was seen."""

    def __init__(self, claims, message: str, observed: str = ""):
        self.claims, self.message, self.observed = _ids(claims), message, observed
        super().__init__(f"[{', '.join(self.claims)}] {message}" + (f"\n{observed}" if observed else ""))


def expect(condition, claims, message: str, observed: str = "") -> None:
    """Raise ClaimFailure(claims, ...) unless `condition`: for tests that judge several claims."""
    if not condition:
        raise ClaimFailure(claims, message, observed)


class ClaimBlocked(Exception):
    def __init__(self, claim: str, step: str, blocking_claims: tuple[str, ...] | list[str], why: str = ""):
        self.claim, self.step, self.blocking_claims, self.why = claim, step, tuple(blocking_claims), why
        by = f" (claim {', '.join(self.blocking_claims)})" if self.blocking_claims else ""
        super().__init__(f"[{claim}] blocked: not reached, because the documented step {step}{by} failed"
                         + (f": {why}" if why else ""))


@dataclass
class TestRecord:
    """One test's result: its verdict on each claim it cites, on which target, and the evidence."""
    __test__ = False   # not a pytest test class

    nodeid: str
    claims: dict[str, str]            # claim -> an OUTCOME, or NO_VERDICT
    outcome: str                      # one of OUTCOMES
    target: str = NO_TARGET           # the target's id in this run
    identity: dict[str, str] = field(default_factory=dict)   # base, os, version, flavor, backend, source, image
    message: str = ""                 # the failure, skip reason, blocking step or known-difference reason
    observed: str = ""                # what the check saw, when it said so apart from the message
    blocked_by: dict | None = None    # {"step", "claims", "why"}: the documented step that failed first
    known_differences: list[str] = field(default_factory=list)   # the entries that excused this failure
    notes: list[str] = field(default_factory=list)       # known differences fixed, expired or unmatched
    deviations: list[str] = field(default_factory=list)  # where the harness departed from the page, and why
    substitutions: list[str] = field(default_factory=list)   # inner images standing in for pulled ones
    attachments: list[str] = field(default_factory=list)     # diagnostics files (journal, daemon log)
    evidence: dict[str, list[str]] = field(default_factory=dict)   # what the test recorded (record_property)
    duration: float = 0.0
    version: int = RECORD_VERSION
    # --rerun-failures: every earlier attempt (outcome, message, observed, duration), oldest first.
    # A failure that passed on a rerun stays failed and is marked flaky.
    attempts: list[dict] = field(default_factory=list)
    flaky: bool = False
    skip_kind: str = ""               # a skipped test: why, as a SKIP_KINDS key ("" for a plain skip)

    def verdict_on(self, claim: str) -> str:
        return self.claims.get(claim, NO_VERDICT)

    def judges(self, claim: str) -> bool:
        return self.verdict_on(claim) != NO_VERDICT

    def failing(self) -> list[str]:
        return [c for c, v in self.claims.items() if v in ("failed", "known difference")]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TestRecord":
        if data.get("version") != RECORD_VERSION:
            raise ValueError(f"test record version {data.get('version')!r}; this harness reads {RECORD_VERSION}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def claim_verdicts(cited: list[str], outcome: str, failing: tuple[str, ...] = ()) -> dict[str, str]:
    """Each cited claim's verdict: a failure (or its excuse) counts against the claims it names only."""
    if outcome in ("failed", "known difference"):
        named = [c for c in failing if c in cited] or list(cited)
        return {c: outcome if c in named else NO_VERDICT for c in cited}
    return {c: outcome for c in cited}
