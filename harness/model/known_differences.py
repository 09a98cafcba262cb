"""Known differences between the documentation and a Photon OS release, as data.

A failing test whose failing claims all have a matching, unexpired entry whose
`observed` pattern is found in the failure (its message and observed output) is
reported as a "known difference" (shown, never hidden; the run does not fail
for it). An entry past its review-by date no longer excuses anything, and an
entry whose test passes is reported as fixed so the entry can go.

File format (YAML list), every key required except `target` and `test`:

    - claim: D1
      observed: "docker.service (disabled|inactive)"   # a regular expression: the symptom it excuses
      target: {base: photon, version: "5.0", flavor: full}   # fnmatch patterns; absent = any
                   # base and version as read from the target (os-release): photon|standin|other, VERSION_ID
      tracker: https://github.com/vmware/photon/issues/NNNN
      reason: Photon 5.0 presets disable docker.service
      review-by: 2027-03-31
      test: test_documented_*   # optional: fnmatch pattern on the test function's name

Without `test`, an entry excuses failing tests of its claim on its targets; with it,
only the named tests (a claim checked by several tests can then be excused for one).
Either way only a failure showing its `observed` symptom: the same claim failing some
other way fails, and the report says the entry did not match.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from harness.core.errors import HarnessError

SELECTOR_KEYS = ("base", "version", "flavor", "backend")
REQUIRED = ("claim", "observed", "tracker", "reason", "review-by")


@dataclass(frozen=True)
class KnownDifference:
    claim: str
    tracker: str
    reason: str
    review_by: dt.date
    target: dict = field(default_factory=dict)
    test: str = ""    # fnmatch pattern on the test function's name; "" = any test
    observed: str = ""   # regular expression: the symptom this entry excuses

    def shows(self, failure: str) -> bool:
        """Whether a failure's message and observed output show this entry's symptom."""
        return re.search(self.observed, failure or "", re.M) is not None

    def matches(self, claim: str, target: dict, test: str = "") -> bool:
        return claim == self.claim and (not self.test or fnmatchcase(test, self.test)) and all(
            fnmatchcase(str(target.get(k, "")), str(pattern)) for k, pattern in self.target.items())

    def expired(self, today: dt.date) -> bool:
        return today > self.review_by

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.target.items()) or "any target"
        where += f", test {self.test}" if self.test else ""
        return f"{self.claim} on {where}: {self.reason} ({self.tracker}; review by {self.review_by})"


@dataclass
class Verdict:
    """What the known differences say about one test's result."""
    known: list[KnownDifference] = field(default_factory=list)    # excuse the failure
    unmatched: list[KnownDifference] = field(default_factory=list)  # right claim and target, another symptom
    expired: list[KnownDifference] = field(default_factory=list)  # would have, but are past review
    fixed: list[KnownDifference] = field(default_factory=list)    # the test passed: entry can go

    @property
    def is_known(self) -> bool:
        return bool(self.known)


def load(path: Path, known_claims=None) -> list[KnownDifference]:
    """Parse and validate the file; any mistake is one HarnessError naming the entry."""
    import yaml
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise HarnessError(f"known differences file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise HarnessError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise HarnessError(f"{path}: expected a list of entries")
    out = []
    for n, raw in enumerate(data, 1):
        where = f"{path}: entry {n}"
        if not isinstance(raw, dict):
            raise HarnessError(f"{where}: expected a mapping")
        missing = [k for k in REQUIRED if not raw.get(k)]
        unknown = sorted(set(raw) - set(REQUIRED) - {"target", "test"})
        if missing or unknown:
            raise HarnessError(f"{where}: " + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else []) +
                ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])))
        target = raw.get("target") or {}
        if not isinstance(target, dict) or set(target) - set(SELECTOR_KEYS):
            raise HarnessError(f"{where}: target must be a mapping with keys from {', '.join(SELECTOR_KEYS)}")
        review = raw["review-by"]
        if isinstance(review, str):
            try:
                review = dt.date.fromisoformat(review)
            except ValueError:
                raise HarnessError(f"{where}: review-by {review!r} is not a date (YYYY-MM-DD)") from None
        if not isinstance(review, dt.date):
            raise HarnessError(f"{where}: review-by must be a date (YYYY-MM-DD)")
        if known_claims is not None and raw["claim"] not in known_claims:
            raise HarnessError(f"{where}: unknown claim ID {raw['claim']!r}")
        try:
            re.compile(str(raw["observed"]))
        except re.error as e:
            raise HarnessError(f"{where}: observed {raw['observed']!r} is not a regular expression: {e}") from None
        out.append(KnownDifference(str(raw["claim"]), str(raw["tracker"]), str(raw["reason"]), review,
                                   {k: str(v) for k, v in target.items()}, str(raw.get("test") or ""),
                                   str(raw["observed"])))
    return out


def judge(entries: list[KnownDifference], failing: list[str], target: dict, passed: bool,
          failure: str = "", today: dt.date | None = None, test: str = "") -> Verdict:
    """`failing`: the claims the test's failure is about (on a pass, every claim it cites);
    `failure`: its message and observed output, where an entry's symptom is looked for."""
    today = today or dt.date.today()
    v = Verdict()
    if passed:
        v.fixed = [e for e in entries if any(e.matches(c, target, test) for c in failing)]
        return v
    per_claim = {c: [e for e in entries if e.matches(c, target, test)] for c in failing}
    v.expired = [e for es in per_claim.values() for e in es if e.expired(today)]
    live = {c: [e for e in es if not e.expired(today)] for c, es in per_claim.items()}
    v.unmatched = [e for es in live.values() for e in es if not e.shows(failure)]
    excused = {c: [e for e in es if e.shows(failure)] for c, es in live.items()}
    # Known only if every failing claim is excused by its own symptom; otherwise the failure stands.
    if excused and all(excused.values()):
        v.known = [e for es in excused.values() for e in es]
    return v
