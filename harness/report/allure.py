"""The allure report: what the harness adds to allure's results, the command line that renders them,
and its installation.

allure-pytest writes one result per test; the harness adds, beside them, the verdict states as allure
categories (categories.json), the run's plan and each target's identity as allure's environment
(environment.properties), and, when a previous allure report is given, its history (so allure's trend
graphs show run after run). The allure 2 command line comes from the npm registry (it needs Java) and is
installed under the harness's cache by `photon-harness doctor --fix`, not on the host's PATH.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.core.checks import Check
from harness.core.errors import HarnessError
from harness.core.paths import CACHE_DIR

VERSION = "2.46.1"          # allure-commandline on the npm registry (allure 2; allure 3 reads results differently)
PREFIX = CACHE_DIR / "tools" / f"allure-{VERSION}"
INSTALL_HINT = ("run `photon-harness doctor --fix` (it installs allure-commandline from the npm registry under "
                f"{PREFIX}; needs npm and Java), or put an `allure` 2.x command on PATH")
REPORT_DIR = "allure"       # a run's rendered allure report, inside its report directory


def command() -> str | None:
    """The allure command line: the harness's own installation, else one on PATH."""
    own = PREFIX / "node_modules" / ".bin" / "allure"
    return str(own) if own.exists() else shutil.which("allure")


def install(timeout: float = 300) -> str:
    """allure-commandline from the npm registry into the harness's cache; returns the command."""
    if command():
        return command()
    if shutil.which("npm") is None or shutil.which("java") is None:
        raise HarnessError("installing allure needs npm and Java (Debian: npm, default-jre-headless)")
    PREFIX.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["npm", "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund",
                            f"allure-commandline@{VERSION}"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"npm install allure-commandline@{VERSION} did not finish within {timeout:.0f}s") from None
    if r.returncode != 0 or command() is None:
        raise HarnessError(f"npm install allure-commandline@{VERSION} failed: {(r.stderr or r.stdout).strip()[-400:]}")
    return command()


# The verdict states that allure shows as "skipped" or "broken", told apart by the message the harness
# writes for each (fixtures/records.py); a known difference gets a category of its own per tracker.
CATEGORIES = [
    {"name": "Blocked: an earlier documented step failed (no verdict on this claim)",
     "matchedStatuses": ["skipped"], "messageRegex": r"(?s).*\] blocked: not reached.*"},
    {"name": "Not documented in the target's docs version", "matchedStatuses": ["skipped"],
     "messageRegex": r"(?s).*not documented in v\d+.*"},
    {"name": "Error: not judged (the harness or the infrastructure failed)", "matchedStatuses": ["broken"]},
    {"name": "Claim failed: the documented behaviour did not happen", "matchedStatuses": ["failed"]},
    {"name": "Not judged: skipped, with its reason", "matchedStatuses": ["skipped"]},
]


def categories(trackers: list[str]) -> list[dict]:
    """allure's categories: one per known difference's tracker, then the verdict states."""
    known = [{"name": f"Known difference ({tracker})", "matchedStatuses": ["skipped"],
              "messageRegex": r"(?s).*known difference.*\Q" + tracker + r"\E.*"} for tracker in trackers]
    known.append({"name": "Known difference (declared in the test, no tracker)", "matchedStatuses": ["skipped"],
                  "messageRegex": r"(?s).*xfail declared in the test.*"})
    return known + CATEGORIES


def write_metadata(results_dir: Path, environment: dict[str, str], trackers: list[str]) -> None:
    """categories.json and environment.properties beside allure-pytest's results."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "categories.json").write_text(json.dumps(categories(trackers), indent=1) + "\n")
    lines = [f"{_property_key(k)}={_property_value(v)}" for k, v in environment.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n")


def _property_key(key: str) -> str:
    """A Java properties key: the separators it may contain escaped (allure shows the key as written)."""
    return re.sub(r"([\\ :=#!])", r"\\\1", key)


def _property_value(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", " ")


def render(results_dir: str | Path, output: str | Path | None = None, history_from: str | Path | None = None,
           timeout: float = 300) -> Path:
    """`allure generate --single-file`: one index.html that opens offline. `history_from`: a previous
    allure report directory (or a run's report directory holding one) whose history this one carries on."""
    src = Path(results_dir)
    if not src.is_dir() or not any(src.glob("*-result.json")):
        raise HarnessError(f"{src} holds no allure results (run pytest with --alluredir {src})")
    exe = command()
    if exe is None:
        raise HarnessError(f"no allure command line; {INSTALL_HINT}")
    if history_from is not None:
        carry_history(Path(history_from), src)
    out = Path(output) if output else src.with_name(src.name + "-html")
    # A single-file report writes no history/, so the next run's trends come from a full render beside it.
    with tempfile.TemporaryDirectory(prefix="allure-full-") as full:
        _generate(exe, src, out, timeout, "--single-file")
        _generate(exe, src, Path(full), timeout)
        if (Path(full) / "history").is_dir():
            shutil.copytree(Path(full) / "history", out / "history", dirs_exist_ok=True)
    return out / "index.html"


def _generate(exe: str, src: Path, out: Path, timeout: float, *flags: str) -> None:
    try:
        r = subprocess.run([exe, "generate", *flags, "--clean", "-o", str(out), str(src)],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"allure generate did not finish within {timeout:.0f}s") from None
    if r.returncode != 0 or not (out / "index.html").exists():
        raise HarnessError(f"allure generate failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-500:]}")


def carry_history(previous: Path, results_dir: Path) -> None:
    """allure's trend graphs: the previous report's history/ goes into this run's results."""
    for candidate in (previous / "history", previous / REPORT_DIR / "history"):
        if candidate.is_dir():
            shutil.copytree(candidate, results_dir / "history", dirs_exist_ok=True)
            return
    raise HarnessError(f"{previous}: no allure history (history/ or {REPORT_DIR}/history/) to carry on")


def doctor_checks() -> list[Check]:
    exe = command()
    return [Check("allure command line", exe is not None, exe or f"missing: {INSTALL_HINT}",
                  "photon-harness doctor --fix")]
