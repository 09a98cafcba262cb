"""`photon-harness history DIR`: one offline HTML page over many runs' results.

Rows are claim x target (targets matched across runs by who they are: base, version, flavour,
backend), columns are runs, newest first. Per row: how often it was flaky, and for a claim failing
in the newest run, the first run of its current failing streak. Per run: date, base, image and
digest, harness and documentation versions, and links to its report and allure report. The page sorts and filters itself (inline script).
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import HarnessError
from harness.report import allure
from harness.report.matrix import CSS, STATES, css_class
from harness.report.results import FILE, Results, load

FAILING = ("failed", "error")
UNCHECKED = ("", "not covered")   # not in that run at all, or not checked on that target


@dataclass
class Row:
    claim: str
    target: str                                        # TargetInfo.label() of the matched targets
    states: list[str] = field(default_factory=list)    # per run, newest first ("" = not in that run)
    flaky: list[bool] = field(default_factory=list)

    def checked(self, runs: list[Results]) -> list[tuple[Results, str]]:
        """The runs that checked this claim on this target, newest first, with its state there."""
        return [(run, s) for run, s in zip(runs, self.states) if s not in UNCHECKED]

    def latest(self, runs: list[Results]) -> str:
        checked = self.checked(runs)
        return checked[0][1] if checked else ""

    def failing_since(self, runs: list[Results]) -> str:
        """If the newest run that checked it failed: the first run of that failing streak."""
        first = ""
        for run, state in self.checked(runs):
            if state not in FAILING:
                break
            first = run.run.get("started", "")
        return first


def find_runs(directory: Path) -> tuple[list[Results], list[str]]:
    """Every readable results.json under `directory`, newest first; and why the others were left out."""
    if not directory.is_dir():
        raise HarnessError(f"{directory}: not a directory (give the directory that holds the report directories)")
    runs, skipped = [], []
    for path in sorted(directory.rglob(FILE)):
        try:
            runs.append(load(path))
        except HarnessError as e:
            skipped.append(str(e))
    if not runs:
        raise HarnessError(f"{directory}: no readable {FILE} under it" + (f" ({skipped[0]})" if skipped else ""))
    runs.sort(key=lambda r: (r.run.get("started", ""), r.run.get("session", "")), reverse=True)
    return runs, skipped


def rows(runs: list[Results]) -> list[Row]:
    out: dict[tuple[str, tuple], Row] = {}
    labels: dict[tuple, str] = {}
    for i, run in enumerate(runs):
        for t in run.targets:
            labels.setdefault(t.key(), t.label())
        flaky = {(c, r.target) for r in run.records if r.flaky for c in r.claims}
        for claim, cells in run.matrix.items():
            for target_id, state in cells.items():
                t = run.target(target_id)
                key = (claim, t.key())
                row = out.setdefault(key, Row(claim, labels.get(t.key(), t.label()),
                                              [""] * len(runs), [False] * len(runs)))
                row.states[i] = state
                row.flaky[i] = (claim, target_id) in flaky
    return sorted((r for r in out.values() if any(s not in ("", "not covered") for s in r.states)),
                  key=lambda r: (r.claim, r.target))


def _docs(run) -> str:
    """The docs version(s) that judged a run: forced, else each target's own."""
    forced = run.run.get("docs_version", "")
    versions = sorted({t.docs_version for t in run.targets if t.docs_version})
    return f"v{forced}" if forced else ", ".join(f"v{v}" for v in versions) or "?"


def _bases(run: Results) -> str:
    """What the run's booted targets were, in a word each (the banner in short)."""
    bases = sorted({t.base for t in run.targets if t.source and t.base})
    return {("standin",): "stand-in (not Photon)", ("photon",): "Photon OS"}.get(tuple(bases), "mixed: " + ", ".join(bases) if bases else "nothing booted")


def _run_links(run: Results, page_dir: Path | None) -> str:
    """Links to the run's own pages beside its results.json: the conformance report and, when it was
    rendered, its allure report."""
    links = []
    for name, label in (("report.html", "report"), (f"{allure.REPORT_DIR}/index.html", "allure")):
        target = run.path.parent / name
        if target.exists():
            href = os.path.relpath(target, page_dir) if page_dir else target.as_uri()
            links.append(f"<a href='{html.escape(Path(href).as_posix())}'>{label}</a>")
    return " | ".join(links)


def _run_header(run: Results, page_dir: Path | None = None) -> str:
    e = html.escape
    info = run.run
    targets = "<br>".join(f"{e(t.label())}: <code>{e(t.image or '?')}</code>"
                          + (f" <span class='small'>{e(t.digest[:19])}</span>" if t.digest else "")
                          for t in run.targets if t.base)
    return (f"<th class='run'><div>{e(info.get('started', '?'))}</div>"
            f"<div class='small'>{e(info.get('session', ''))}</div>"
            f"<div class='small'><b>{e(_bases(run))}</b></div>"
            f"<div class='small'>harness {e(info.get('harness_version', '?'))}, docs {e(_docs(run))}</div>"
            f"<div class='small'>{targets}</div>"
            f"<div class='small'>{_run_links(run, page_dir)}</div></th>")


SCRIPT = """
function applyFilters(){
  var c=document.getElementById('fclaim').value.toLowerCase(), t=document.getElementById('ftarget').value,
      s=document.getElementById('fstate').value;
  document.querySelectorAll('#history tbody tr').forEach(function(tr){
    var ok=(!c||tr.dataset.claim.toLowerCase().indexOf(c)>=0)&&(!t||tr.dataset.target===t)&&
           (!s||tr.dataset.states.split('|').indexOf(s)>=0);
    tr.style.display=ok?'':'none';});
}
function sortBy(col){
  var tb=document.querySelector('#history tbody'), rows=Array.from(tb.rows), key='s'+col;
  var dir=tb.dataset.sorted===key?-1:1; tb.dataset.sorted=dir===1?key:'';
  rows.sort(function(a,b){var x=a.dataset[key]||'',y=b.dataset[key]||'';
    return (x<y?-1:x>y?1:0)*dir;});
  rows.forEach(function(r){tb.appendChild(r);});
}
"""


def render(runs: list[Results], skipped: list[str], source: str, page_dir: Path | None = None) -> str:
    e = html.escape
    table = rows(runs)
    targets = sorted({r.target for r in table})
    rank = {s: str(i) for i, s in enumerate(STATES)}
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>photon-harness history: {len(runs)} runs</title><style>{CSS}",
           "th.run{min-width:150px;font-weight:normal;font-size:12px} th.sort{cursor:pointer;text-decoration:underline}",
           "td.state{min-width:70px} td.target{white-space:nowrap} .flaky{outline:2px dashed #c62828;outline-offset:-3px}</style>",
           f"<script>{SCRIPT}</script></head><body>",
           f"<h1>photon-harness history: {len(runs)} runs</h1>",
           f"<p class='small'>From <code>{e(source)}</code>, newest run first. A row is one claim on one kind of "
           "target (base, version, flavour, backend), matched across runs whatever the image digest. A dashed "
           "cell was flaky: it failed, then passed on a rerun, and stays failed.</p>"]
    if skipped:
        out.append("<p class='small'>Left out (unreadable): " + "; ".join(e(s) for s in skipped) + "</p>")
    out.append("<p>Claim <input id='fclaim' oninput='applyFilters()' placeholder='e.g. R7'> Target <select "
               "id='ftarget' onchange='applyFilters()'><option value=''>all</option>"
               + "".join(f"<option>{e(t)}</option>" for t in targets)
               + "</select> State in any run <select id='fstate' onchange='applyFilters()'><option value=''>any"
               "</option>" + "".join(f"<option>{e(s)}</option>" for s in STATES) + "</select></p>")
    out.append("<table id='history'><thead><tr><th class='sort' onclick='sortBy(\"claim\")'>Claim</th>"
               "<th class='sort' onclick='sortBy(\"target\")'>Target</th>"
               "<th class='sort' onclick='sortBy(\"latest\")'>Newest checked state</th>"
               "<th class='sort' onclick='sortBy(\"flaky\")'>Flaky</th>"
               "<th class='sort' onclick='sortBy(\"since\")'>Failing since</th>"
               + "".join(_run_header(r, page_dir) for r in runs) + "</tr></thead><tbody>")
    for row in table:
        latest = row.latest(runs)
        since = row.failing_since(runs)
        flaky = sum(row.flaky)
        out.append(f"<tr data-claim='{e(row.claim)}' data-target='{e(row.target)}' "
                   f"data-states='{e('|'.join(sorted(set(s for s in row.states if s))))}' "
                   f"data-sclaim='{e(row.claim)}' data-starget='{e(row.target)}' "
                   f"data-slatest='{rank.get(latest, '9')}' data-sflaky='{flaky:03d}' data-ssince='{e(since or '~')}'>"
                   f"<td><b>{e(row.claim)}</b></td><td class='target'>{e(row.target)}</td>"
                   f"<td class='state {css_class(latest)}'>{e(latest or '-')}</td><td>{flaky or ''}</td>"
                   f"<td class='small'>{e(since)}</td>")
        for state, was_flaky in zip(row.states, row.flaky):
            out.append(f"<td class='state {css_class(state) if state else ''}{' flaky' if was_flaky else ''}'>"
                       f"{e(state or '-')}{' (flaky)' if was_flaky else ''}</td>")
        out.append("</tr>")
    out.append("</tbody></table></body></html>\n")
    return "\n".join(out)


def write(directory: str | Path, output: str | Path | None = None) -> Path:
    runs, skipped = find_runs(Path(directory))
    page = Path(output) if output else Path(directory) / "history.html"
    page.write_text(render(runs, skipped, str(directory), page.resolve().parent))
    return page

