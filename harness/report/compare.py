"""What changed between two runs, claim by claim and target by target (--baseline, `compare`).

Targets are matched by who they are (base, version, flavour, backend), not by session ids or
image digests: a nightly image has a new digest every night. Each side's image and digest are
shown, so a regression points at what changed.
"""
from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field

from harness.report.matrix import TargetInfo
from harness.report.results import Results

# Kinds of change, in the order a reader wants them.
KINDS = ("regression", "newly blocked", "still failing", "known difference added", "fixed",
         "known difference gone", "newly covered", "no longer covered", "other change")
BAD = ("failed",)
NOT_COVERED = ("not covered", "not documented")


def kind_of(old: str, new: str) -> str | None:
    """The change from one cell state to another, or None if there is nothing to say."""
    if old == new:
        return "still failing" if new in BAD else None
    if new in BAD and old == "passed":
        return "regression"
    if old in BAD and new == "passed":
        return "fixed"
    if new == "blocked":
        return "newly blocked"
    if new == "known difference":
        return "known difference added"
    if old == "known difference":
        return "known difference gone"
    if old in NOT_COVERED and new in NOT_COVERED:
        return "other change"      # not covered <-> not documented: no verdict on either side
    if old in NOT_COVERED:
        return "newly covered"
    if new in NOT_COVERED:
        return "no longer covered"
    return "other change"


@dataclass
class Change:
    kind: str
    claim: str
    target: str          # the new run's target label (or the old one's, if only the old has it)
    old: str
    new: str
    old_image: str = ""
    new_image: str = ""
    old_digest: str = ""
    new_digest: str = ""
    message: str = ""    # the new failure's first line, if any


@dataclass
class Comparison:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    targets_added: list[str] = field(default_factory=list)
    targets_removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def regressions(self) -> list[Change]:
        return self.of("regression")

    def to_dict(self) -> dict:
        return asdict(self)


def _by_key(targets: list[TargetInfo]) -> dict[tuple, TargetInfo]:
    out: dict[tuple, TargetInfo] = {}
    for t in targets:
        out.setdefault(t.key(), t)
    return out


def _first_failure(results: Results, claim: str, target_id: str) -> str:
    for r in results.records:
        if r.target == target_id and r.verdict_on(claim) in ("failed", "blocked", "error"):
            return (r.message.strip().splitlines() or [""])[0][:200]
    return ""


def compare(old: Results, new: Results) -> Comparison:
    out = Comparison(str(old.path), str(new.path))
    old_t, new_t = _by_key(old.targets), _by_key(new.targets)
    out.targets_added = [new_t[k].label() + f" ({new_t[k].id})" for k in new_t if k not in old_t]
    out.targets_removed = [old_t[k].label() + f" ({old_t[k].id})" for k in old_t if k not in new_t]
    claims = list(dict.fromkeys([*new.matrix, *old.matrix]))
    for key in [k for k in new_t if k in old_t]:
        a, b = old_t[key], new_t[key]
        for claim in claims:
            before = old.matrix.get(claim, {}).get(a.id, "not covered")
            after = new.matrix.get(claim, {}).get(b.id, "not covered")
            kind = kind_of(before, after)
            if kind is None:
                out.unchanged += 1
                continue
            out.changes.append(Change(kind, claim, b.label(), before, after, a.image, b.image, a.digest, b.digest,
                                      _first_failure(new, claim, b.id)))
    out.changes.sort(key=lambda c: (KINDS.index(c.kind), c.claim, c.target))
    return out


def _side(image: str, digest: str) -> str:
    return f"{image or '?'}" + (f" [{digest}]" if digest else "")


def render_text(c: Comparison) -> str:
    lines = [f"since baseline {c.old}:"]
    if not c.changes and not c.targets_added and not c.targets_removed:
        lines.append(f"  no change ({c.unchanged} cells the same)")
    for kind in KINDS:
        for ch in c.of(kind):
            lines.append(f"  {kind.upper()}: {ch.claim} on {ch.target}: {ch.old} -> {ch.new}"
                         + (f": {ch.message}" if ch.message and ch.new != "passed" else ""))
            if kind == "regression" or ch.old_digest != ch.new_digest:
                lines.append(f"      was {_side(ch.old_image, ch.old_digest)}, now {_side(ch.new_image, ch.new_digest)}")
    lines += [f"  TARGET ADDED: {t}" for t in c.targets_added] + [f"  TARGET REMOVED: {t}" for t in c.targets_removed]
    lines.append(f"  {len(c.regressions)} regression(s), {len(c.of('fixed'))} fixed, "
                 f"{len(c.of('still failing'))} still failing, {c.unchanged} unchanged")
    return "\n".join(lines) + "\n"


def render_markdown(c: Comparison) -> str:
    lines = ["## Since baseline", "", f"Baseline: `{c.old}`", "",
             f"{len(c.regressions)} regression(s), {len(c.of('fixed'))} fixed, "
             f"{len(c.of('still failing'))} still failing, {c.unchanged} cells unchanged.", ""]
    if c.changes:
        lines += ["| Change | Claim | Target | Baseline | This run | Baseline image | This run's image |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {ch.kind} | {ch.claim} | {ch.target} | {ch.old} | {ch.new} | `{_side(ch.old_image, ch.old_digest)}` "
                  f"| `{_side(ch.new_image, ch.new_digest)}` |" for ch in c.changes]
    lines += [f"- target added: {t}" for t in c.targets_added] + [f"- target removed: {t}" for t in c.targets_removed]
    return "\n".join(lines) + "\n"


def render_json(c: Comparison) -> str:
    return json.dumps(dict(c.to_dict(), regressions=len(c.regressions)), indent=1) + "\n"


def render_html(c: Comparison) -> str:
    """The "since baseline" section of the report page."""
    e = html.escape
    out = ["<h2>Since baseline</h2>", f"<p class='small'>Baseline: <code>{e(c.old)}</code></p>",
           f"<p><b>{len(c.regressions)} regression(s)</b>, {len(c.of('fixed'))} fixed, "
           f"{len(c.of('still failing'))} still failing, {c.unchanged} cells unchanged.</p>"]
    if c.changes:
        out.append("<table><tr><th>Change</th><th>Claim</th><th>Target</th><th>Baseline</th><th>This run</th>"
                   "<th>Baseline image</th><th>This run's image</th></tr>")
        for ch in c.changes:
            css = {"regression": "failed", "fixed": "passed", "still failing": "failed",
                   "newly blocked": "blocked", "known difference added": "known"}.get(ch.kind, "")
            out.append(f"<tr><td class='state {css}'>{e(ch.kind)}</td><td>{e(ch.claim)}</td><td>{e(ch.target)}</td>"
                       f"<td>{e(ch.old)}</td><td>{e(ch.new)}</td><td><code>{e(_side(ch.old_image, ch.old_digest))}"
                       f"</code></td><td><code>{e(_side(ch.new_image, ch.new_digest))}</code></td></tr>")
        out.append("</table>")
    out += [f"<p>Target added: {e(t)}</p>" for t in c.targets_added]
    out += [f"<p>Target removed: {e(t)}</p>" for t in c.targets_removed]
    return "\n".join(out)
