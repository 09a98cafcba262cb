"""A run's report directory: report.html, report.md and results.json (and the baseline view)."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

from harness.report import claim_summary
from harness.report import compare as cmp
from harness.report import matrix as rpt
from harness.report import results

RERUN_FILE = "failed-tests.txt"
REPO = Path(__file__).resolve().parents[2]


def harness_version() -> str:
    """The installed version and the checkout's commit; in a matrix runner image, the commit it was
    built from (PHOTON_HARNESS_VERSION: it has no .git)."""
    if os.environ.get("PHOTON_HARNESS_VERSION"):
        return f"(git {os.environ['PHOTON_HARNESS_VERSION']}, matrix runner image)"
    try:
        version = importlib.metadata.version("photon-harness")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"{version} (git {r.stdout.strip()})" if r.returncode == 0 else version


def write_report(directory: Path, m: rpt.Matrix, run: rpt.RunInfo,
                 baseline: results.Results | None = None) -> tuple[Path, cmp.Comparison | None]:
    """Write the three files; return the HTML page's path and, with a baseline, what changed since."""
    directory.mkdir(parents=True, exist_ok=True)
    run.directory = str(directory)
    run.baseline = str(baseline.path) if baseline is not None else ""
    doc = results.document(m, run)
    since = None
    if baseline is not None:
        this_run = results.Results(directory / results.FILE, doc["run"], list(m.targets), list(m.results),
                                   doc["matrix"])
        since = cmp.compare(baseline, this_run)
        doc["since_baseline"] = since.to_dict()
    summary = claim_summary.summarize(m)
    (directory / "report.md").write_text(rpt.render_markdown(m, run, cmp.render_markdown(since) if since else "",
                                                             summary))
    (directory / results.FILE).write_text(json.dumps(doc, indent=1) + "\n")
    page = directory / "report.html"
    page.write_text(rpt.render_html(m, run, cmp.render_html(since) if since else "", summary))
    failed = [r.nodeid for r in m.results if r.outcome in ("failed", "error")]
    rerun = directory / RERUN_FILE
    if failed:   # `python3 -m pytest @FILE ...` runs just these again (pytest reads arguments from it)
        rerun.write_text("\n".join(dict.fromkeys(failed)) + "\n")
    elif rerun.exists():
        rerun.unlink()
    return page, since
