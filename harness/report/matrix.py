"""The conformance matrix: every documented claim x every target of a run.

The pytest glue (fixtures/reporting.py) hands over one TestRecord per test; this
module aggregates their verdicts per (claim, target) and renders a self-contained
HTML page (inline CSS, no external assets) and Markdown.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from harness.model import documentation
from harness.model.claims import Claim
from harness.model.verdicts import NO_TARGET, TestRecord

# Cell states, worst first: a cell takes the worst state of the tests in it.
STATES = ("failed", "error", "blocked", "known difference", "passed", "skipped", "not documented", "not covered")
STATE_HELP = {
    "failed": "the documented behaviour did not happen (observed output beside the claim)",
    "error": "the check could not run (infrastructure: boot, image, engine); no verdict on the claim",
    "blocked": "not reached: an earlier documented step failed (named, with its claim); no verdict on this claim",
    "known difference": "failed, and listed in the known differences file (tracker, review date)",
    "(flaky)": "failed, then passed on a rerun (--rerun-failures): still a failure; every attempt is in the record",
    "passed": "behaved as documented",
    "skipped": "not checked on this target (reason given)",
    "not documented": "no page of the Photon docs version that judges this target states the claim "
                      "(the rootless page exists only from docs-v5): nothing to check",
    "not covered": "no test in this run checks this claim on this target",
}


@dataclass(frozen=True)
class TargetInfo:
    id: str
    base: str = ""       # what the target is, read from it after boot: photon | standin | other; "" = not booted
    flavor: str = ""
    backend: str = ""
    image: str = ""
    source: str = ""     # where it came from: the harness's photon or standin recipe, or the user's (user)
    os: str = ""         # what it is, in words (version, build, PRETTY_NAME)
    version: str = ""    # os-release VERSION_ID as read ("5.0" on Photon)
    digest: str = ""     # what exactly was booted: the image id, or the disk file's size and time
    docs_version: str = ""   # the Photon docs version its claims are judged by (--docs-version, or its VERSION_ID)

    def key(self) -> tuple[str, str, str, str]:
        """Who this target is across runs (a nightly image has a new digest every night)."""
        return (self.base, self.version, self.flavor, self.backend)

    def label(self) -> str:
        return f"{self.flavor or '?'} / {self.base or 'not booted'} {self.version}".rstrip() + f" / {self.backend or '?'}"


@dataclass
class Cell:
    state: str
    results: list[TestRecord]

    @property
    def flaky(self) -> bool:
        """A failure here passed on a rerun (--rerun-failures): still failed, and marked so."""
        return any(r.flaky for r in self.results)


@dataclass
class RunInfo:
    session: str
    plan: str                       # the run's first line: recipes and the targets as given
    started: str = ""
    finished: str = ""
    command: str = ""
    known_differences_file: str = ""
    outcome: str = ""               # how the run ended: completed, interrupted, ...
    directory: str = ""             # where the report is written (attachments link relative to it)
    harness_version: str = ""
    docs_version: str = ""          # --docs-version, or "" when each target's own version chose it
    docs_source: str = ""           # the documentation the claims were recorded from (repository, commit)
    baseline: str = ""              # the results this run was compared with (--baseline)


def identity_banner(targets: list[TargetInfo]) -> tuple[str, str]:
    """The banner, from what each target turned out to be: (text, 'standin' for red | 'photon')."""
    # Only booted targets (they have a source) were read; columns of another kind (the
    # distributed-build rehearsal, Photon's own build) carry their own label.
    read = [t for t in targets if t.source and t.base in ("photon", "standin", "other")]
    if not read:
        return ("No target was booted and identified in this run: its verdicts are not evidence about a "
                "Photon OS image.", "standin")
    by = {b: [t.id for t in read if t.base == b] for b in ("photon", "standin", "other")}
    if len(by["standin"]) == len(read):
        return ("STAND-IN RUN: every target is the photon-harness stand-in (Debian bookworm), a self-test "
                "of the suites, NOT evidence about Photon OS.", "standin")
    if len(by["photon"]) == len(read):
        return "Photon OS targets: " + "; ".join(f"{t.id} = {t.os}" for t in read) + ".", "photon"
    not_photon = [f"{t.id} ({t.os})" for t in read if t.base != "photon"]
    text = ("NOT Photon OS: " + "; ".join(not_photon) + ". Results on these targets are NOT evidence about "
            "Photon OS.")
    if by["photon"]:
        text = "MIXED RUN. " + text + " Photon OS: " + "; ".join(
            f"{t.id} ({t.os})" for t in read if t.base == "photon") + "."
    return text, "standin"


def worst(outcomes) -> str:
    present = set(outcomes)
    for s in STATES:
        if s in present:
            return s
    return "not covered"


@dataclass
class Matrix:
    claims: list[Claim]
    targets: list[TargetInfo]
    results: list[TestRecord]

    def cell(self, claim_id: str, target: TargetInfo) -> Cell:
        rs = [r for r in self.results if claim_id in r.claims and r.target == target.id]
        if target.docs_version and not documentation.recorded().documented(claim_id, target.docs_version):
            return Cell("not documented", rs)
        return Cell(worst(r.verdict_on(claim_id) for r in rs if r.judges(claim_id)), rs)

    def rows(self):
        for c in self.claims:
            yield c, [self.cell(c.id, t) for t in self.targets]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATES}
        for _, cells in self.rows():
            for cell in cells:
                out[cell.state] += 1
        return out

    def inner_images(self) -> list[str]:
        return sorted({i for r in self.results for i in r.substitutions})

    def notes(self) -> list[tuple[TestRecord, str]]:
        return [(r, n) for r in self.results for n in r.notes]


def build(claims: list[Claim], planned: list[TargetInfo], results: list[TestRecord],
          observed: list[TargetInfo] = ()) -> Matrix:
    """Columns: the run's planned targets, then any others seen; observed details (the image) win."""
    targets: dict[str, TargetInfo] = {t.id: t for t in planned}
    targets.update({t.id: t for t in observed})
    for r in results:
        targets.setdefault(r.target, TargetInfo(r.target))
    return Matrix(list(claims), list(targets.values()), sorted(results, key=lambda r: r.nodeid))


# -- rendering -------------------------------------------------------------------

def _target_label(t: TargetInfo) -> str:
    if t.id == NO_TARGET:
        return t.id
    label = f"{t.flavor or '?'} / {t.base or 'not booted'} / {t.backend or '?'}"
    return label + " (NOT Photon)" if t.source and t.base not in ("photon", "") else label


def _source_label(source: str) -> str:
    return {"user": "as given by the user", "": ""}.get(source, f"harness {source} recipe")


def _cell_detail(result: TestRecord) -> str:
    observed = result.observed.strip()
    return result.message.strip() + (f"\n\nobserved:\n{observed}" if observed and observed not in result.message else "")


def _record_notes(r: TestRecord) -> list[str]:
    return (r.notes + [f"deviation: {d}" for d in r.deviations]
            + [f"inner image: {i}" for i in r.substitutions]
            + [f"attempt {n} of {len(r.attempts) + 1}: {a['outcome']} ({a.get('duration', 0):.1f}s): "
               f"{a['message'][:600]}" for n, a in enumerate(r.attempts, 1)])


def _outcome_on(r: TestRecord, claim_id: str) -> str:
    if r.judges(claim_id):
        return r.outcome
    return f"{r.outcome} on {', '.join(r.failing())} (no verdict on {claim_id})"


def _href(path: str, directory: str) -> str:
    """Attachments inside the report directory are linked relatively, so the folder can move."""
    p = Path(path)
    try:
        return p.relative_to(directory).as_posix() if directory else p.as_uri()
    except ValueError:
        return p.as_uri() if p.is_absolute() else path


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f;max-width:1600px}
h1{font-size:24px;margin:0 0 8px} h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}
.banner{padding:14px 18px;border-radius:6px;font-weight:600;font-size:16px;margin:12px 0}
.banner.standin{background:#fde2e1;border:3px solid #c62828;color:#7f1010;font-size:18px}
.banner.photon{background:#e3f0ff;border:1px solid #5b8def}
table{border-collapse:collapse;margin:8px 0} th,td{border:1px solid #ccc;padding:5px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f5} td.claimtext{max-width:520px;font-size:13px}
.state{font-weight:600;font-size:13px;white-space:nowrap;text-align:center}
.failed{background:#f8c9c6} .error{background:#f6dfb0} .known{background:#e4d3f5}
.blocked{background:#fbe9c8;color:#6b4b00} .passed{background:#cdeccf} .skipped{background:#e8e8e8} .notcovered{background:#fff;color:#888;font-style:italic}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f9;border:1px solid #e1e1e8;padding:8px;font-size:12px;margin:4px 0;max-height:420px;overflow:auto}
.side{display:grid;grid-template-columns:1fr 1fr;gap:12px} .side h4{margin:2px 0;font-size:13px}
.notphoton{background:#fde2e1;font-weight:600} .meta td:first-child{font-weight:600} a{color:#1a56c7} .small{font-size:12px;color:#555}
"""


def _state_label(state: str, t: TargetInfo) -> str:
    return f"not documented in v{t.docs_version}" if state == "not documented" else state


def docs_line(run: RunInfo, targets: list[TargetInfo]) -> str:
    """Which documentation judged the run: the version(s) and the commit the claims were recorded from."""
    versions = sorted({t.docs_version for t in targets if t.docs_version})
    which = (f"v{run.docs_version} (--docs-version)" if run.docs_version else
             "v" + ", v".join(versions) + " (from each target's version)" if versions else "not recorded")
    return f"Photon docs {which}; claims recorded from {run.docs_source or '(unknown)'}"


def css_class(state: str) -> str:
    return {"known difference": "known", "not covered": "notcovered", "not documented": "notcovered"}.get(state, state)


def _anchor(claim_id: str, target_id: str) -> str:
    return "d-" + re.sub(r"[^A-Za-z0-9]+", "-", f"{claim_id}-{target_id}")


def render_html(m: Matrix, run: RunInfo, extra: str = "", summary=None) -> str:
    """The page; `extra` (HTML) goes after the run's header, before the targets; `summary` (a
    claim_summary.ClaimSummary) gives the headline and each claim's overall verdict."""
    e = html.escape
    counts = m.counts()
    overall = summary.overall if summary is not None else {}
    banner, kind = identity_banner(m.targets)
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>Photon OS conformance report {e(run.session)}</title><style>{CSS}</style></head><body>",
           "<h1>Photon OS conformance report</h1>",
           f"<div class='banner {kind}'>{e(banner)}</div>",
           f"<p class='small'>{e(run.plan)}</p>",
           "<table class='meta'>",
           f"<tr><td>Session</td><td>{e(run.session)}</td></tr>",
           f"<tr><td>Started / finished</td><td>{e(run.started)} / {e(run.finished)} ({e(run.outcome)})</td></tr>",
           f"<tr><td>Command</td><td><code>{e(run.command)}</code></td></tr>",
           f"<tr><td>Known differences file</td><td>{e(run.known_differences_file or '(none)')}</td></tr>",
           f"<tr><td>Documentation</td><td>{e(docs_line(run, m.targets))}</td></tr>",
           "<tr><td>Claims</td><td>" + "<br>".join(e(line.strip()) for line in (summary.lines() if summary else []))
           + "</td></tr>",
           "<tr><td>Cells</td><td>" + ", ".join(f"{e(s)}: {counts[s]}" for s in STATES) + "</td></tr>",
           "</table>", extra]
    out.append("<h2>Targets</h2><table><tr><th>Target</th><th>What it is (read from it)</th><th>Flavour</th>"
               "<th>Backend</th><th>Source</th><th>Docs</th><th>Image</th></tr>")
    for t in m.targets:
        what = t.os or "(not booted in this run: not identified)"
        out.append(f"<tr><td>{e(t.id)}</td><td class='{'' if t.base in ('photon', '') else 'notphoton'}'>{e(what)}"
                   f"</td><td>{e(t.flavor)}</td><td>{e(t.backend)}</td><td>{e(_source_label(t.source))}</td>"
                   f"<td>{e('v' + t.docs_version if t.docs_version else '')}</td>"
                   f"<td><code>{e(t.image or '(not booted in this run)')}</code></td></tr>")
    out.append("</table>")
    inner = m.inner_images()
    out.append("<h2>Inner-image substitutions</h2>")
    out.append("<ul>" + "".join(f"<li><code>{e(i)}</code></li>" for i in inner) + "</ul>" if inner
               else "<p class='small'>None recorded in this run.</p>")

    out.append("<h2>Matrix: claims x targets</h2><table><tr><th>Claim</th><th>Documented</th><th>Overall</th>")
    out += [f"<th>{e(_target_label(t))}<div class='small'>{e(t.image)}</div></th>" for t in m.targets]
    out.append("</tr>")
    section = None
    for claim, cells in m.rows():
        if claim.section != section:
            section = claim.section
            out.append(f"<tr><th colspan='{3 + len(m.targets)}'>{e(section)}</th></tr>")
        verdict = overall.get(claim.id, "")
        out.append(f"<tr><td><b>{e(claim.id)}</b></td><td class='claimtext'>{e(claim.text)}</td>"
                   f"<td class='state {css_class(verdict)}'>{e(verdict)}</td>")
        for t, cell in zip(m.targets, cells):
            label = e(_state_label(cell.state, t)) + (" (flaky)" if cell.flaky else "")
            if cell.results:
                label = f"<a href='#{_anchor(claim.id, t.id)}'>{label}</a> <span class='small'>({len(cell.results)})</span>"
            out.append(f"<td class='state {css_class(cell.state)}'>{label}</td>")
        out.append("</tr>")
    out.append("</table><p class='small'>" + "<br>".join(
        f"<b>{e(s)}</b>: {e(h)}" for s, h in STATE_HELP.items()) + "</p>")

    notes = m.notes()
    if notes:
        out.append("<h2>Known differences to review</h2><ul>")
        out += [f"<li><code>{e(r.nodeid)}</code>: {e(n)}</li>" for r, n in notes]
        out.append("</ul>")

    out.append("<h2>Details</h2>")
    for claim, cells in m.rows():
        for t, cell in zip(m.targets, cells):
            if not cell.results:
                continue
            out.append(f"<h3 id='{_anchor(claim.id, t.id)}'>{e(claim.id)} on {e(t.id)}: "
                       f"<span class='{css_class(cell.state)}'>&nbsp;{e(cell.state)}&nbsp;</span></h3>")
            for r in cell.results:
                out.append(f"<div class='small'><code>{e(r.nodeid)}</code> - <b>{e(_outcome_on(r, claim.id))}</b> "
                           f"({r.duration:.1f}s)</div>")
                observed = _cell_detail(r)
                if not r.judges(claim.id):
                    continue  # shown in full under the claims it names
                if r.outcome in ("failed", "error", "blocked", "known difference"):
                    out.append("<div class='side'><div><h4>Documented</h4>"
                               f"<pre>{e(claim.id)}: {e(claim.text)}</pre></div><div><h4>Observed</h4>"
                               f"<pre>{e(observed)}</pre></div></div>")
                elif observed:
                    out.append(f"<pre>{e(observed)}</pre>")
                for n in _record_notes(r):
                    out.append(f"<div class='small'>{e(n)}</div>")
                for a in r.attachments:
                    out.append(f"<div class='small'>attachment: <a href='{e(_href(a, run.directory))}'>"
                               f"{e(Path(a).name)}</a></div>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(m: Matrix, run: RunInfo, extra: str = "", summary=None) -> str:
    counts = m.counts()
    overall = summary.overall if summary is not None else {}
    lines = ["# Photon OS conformance report", "",
             f"> **{identity_banner(m.targets)[0]}**", "", run.plan, "",
             f"- Session: `{run.session}`",
             f"- Started / finished: {run.started} / {run.finished} ({run.outcome})",
             f"- Command: `{run.command}`",
             f"- Known differences file: {run.known_differences_file or '(none)'}",
             f"- Documentation: {docs_line(run, m.targets)}",
             *(f"- {line.strip()}" for line in (summary.lines() if summary else [])),
             "- Cells: " + ", ".join(f"{s}: {counts[s]}" for s in STATES), "", *([extra] if extra else []),
             "## Targets", "", "| Target | What it is (read from it) | Flavour | Backend | Source | Docs | Image |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {t.id} | {t.os or '(not booted in this run: not identified)'} | {t.flavor} | {t.backend} | "
              f"{_source_label(t.source)} | {'v' + t.docs_version if t.docs_version else ''} | "
              f"`{t.image or '(not booted in this run)'}` |" for t in m.targets]
    lines += ["", "## Inner-image substitutions", ""]
    lines += [f"- `{i}`" for i in m.inner_images()] or ["None recorded in this run."]
    lines += ["", "## Matrix", "",
              "| Claim | Documented | Overall | " + " | ".join(_target_label(t) for t in m.targets) + " |",
              "|---|---|---|" + "---|" * len(m.targets)]
    for claim, cells in m.rows():
        lines.append(f"| {claim.id} | {_md_escape(claim.text)} | {overall.get(claim.id, '')} | " +
                     " | ".join(_state_label(c.state, t) + (" (flaky)" if c.flaky else "")
                                for t, c in zip(m.targets, cells)) + " |")
    notes = m.notes()
    if notes:
        lines += ["", "## Known differences to review", ""] + [f"- `{r.nodeid}`: {n}" for r, n in notes]
    lines += ["", "## Details", ""]
    for claim, cells in m.rows():
        for t, cell in zip(m.targets, cells):
            if not cell.results:
                continue
            lines += [f"### {claim.id} on {t.id}: {cell.state}", "", f"Documented: {claim.text}", ""]
            for r in cell.results:
                lines.append(f"- `{r.nodeid}`: **{_outcome_on(r, claim.id)}**")
                if not r.judges(claim.id):
                    continue
                if _cell_detail(r):
                    lines += ["", "  ```", *("  " + ln for ln in _cell_detail(r).splitlines()), "  ```"]
                lines += [f"  - {n}" for n in _record_notes(r)]
                lines += [f"  - attachment: [{Path(a).name}]({_href(a, run.directory)})" for a in r.attachments]
            lines.append("")
    return "\n".join(lines) + "\n"
