"""What happened to each claim across a run's targets: its overall verdict, and the run's headline.

A claim's overall verdict is its worst cell (matrix.worst: failed, error, blocked, known difference,
passed, skipped, not documented, not covered). It counts as judged when that is failed, a known
difference or passed: "passed" then means it passed on every target that judged it. A claim whose
cells are all skipped, not documented or not covered was not judged, and the headline says why,
grouped by the skip's kind (records' `skip_kind`), never by a message's wording.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harness.model.verdicts import SKIP_KINDS
from harness.report.matrix import Matrix, worst

JUDGED = ("failed", "known difference", "passed")
NOT_JUDGED = ("skipped", "not documented", "not covered")


@dataclass
class ClaimSummary:
    overall: dict[str, str]          # claim id -> its verdict across the run's targets
    why_not: dict[str, str]          # claim id -> why it was not judged (claims not judged only)

    def having(self, *states: str) -> list[str]:
        return [c for c, s in self.overall.items() if s in states]

    def not_judged_groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for claim, why in self.why_not.items():
            groups.setdefault(why, []).append(claim)
        return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))

    def lines(self) -> list[str]:
        """The headline: claims counted by what happened to them."""
        judged = self.having(*JUDGED)
        passed, failed, known = self.having("passed"), self.having("failed"), self.having("known difference")
        out = [f"Claims: {len(judged)} of {len(self.overall)} judged ({len(passed)} passed on every target that "
               f"judged them, {len(failed)} failed somewhere{_ids(failed)}, {len(known)} known "
               f"difference{'s' if len(known) != 1 else ''}{_ids(known)}); "
               f"{len(self.having('blocked'))} blocked{_ids(self.having('blocked'))}; "
               f"{len(self.having('error'))} error{_ids(self.having('error'))}; "
               f"{len(self.why_not)} not judged"]
        out += [f"  not judged: {len(claims)} {why} ({', '.join(claims)})"
                for why, claims in self.not_judged_groups().items()]
        return out


def _ids(claims: list[str], most: int = 8) -> str:
    if not claims:
        return ""
    return " (" + ", ".join(claims[:most]) + (", ..." if len(claims) > most else "") + ")"


def summarize(m: Matrix) -> ClaimSummary:
    overall, why_not = {}, {}
    for claim, cells in m.rows():
        state = worst(cell.state for cell in cells)
        overall[claim.id] = state
        if state in NOT_JUDGED:
            why_not[claim.id] = _why_not_judged(state, [r for cell in cells for r in cell.results])
    return ClaimSummary(overall, why_not)


def _why_not_judged(state: str, records) -> str:
    """The most common reason among the claim's skipped tests, or what its cells say."""
    reasons = Counter(_skip_reason(r) for r in records if r.outcome == "skipped")
    if reasons:
        return reasons.most_common(1)[0][0]
    if state == "not documented":
        return SKIP_KINDS["not-documented"]
    return "have no test in this run"


def _skip_reason(record) -> str:
    if record.skip_kind in SKIP_KINDS:
        return SKIP_KINDS[record.skip_kind]
    first = record.message.strip().splitlines()[:1]
    return f"were skipped: {first[0][:160]}" if first else "were skipped (no reason given)"
