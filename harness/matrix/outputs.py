"""Where a matrix run's merged results go: the pytest options that name outputs are the
controller's (the shards write their own, into the run's results volume); every other argument
goes to every shard unchanged."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.core.paths import REPO_ROOT

# option -> attribute; each also accepted as --option=VALUE
OUTPUT_OPTIONS = {"--junitxml": "junitxml", "--junit-xml": "junitxml", "--alluredir": "alluredir",
                  "--report-dir": "report_dir"}
# Options a shard sets for itself.
SHARD_OWN = ("--shard", "--matrix-plan")


@dataclass
class Outputs:
    shard_args: list[str]
    report_dir: Path
    junitxml: Path
    alluredir: Path


def split(args: list[str], session: str) -> Outputs:
    given: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if name in OUTPUT_OPTIONS or name in SHARD_OWN:
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
                i += 1
            if name in OUTPUT_OPTIONS:
                given[OUTPUT_OPTIONS[name]] = value
        else:
            rest.append(a)
        i += 1
    report = Path(given.get("report_dir") or REPO_ROOT / "out" / "report" / session)
    return Outputs(rest, report, Path(given.get("junitxml") or report / "junit.xml"),
                   Path(given.get("alluredir") or report / "allure-results"))
