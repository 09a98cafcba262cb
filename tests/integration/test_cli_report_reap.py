"""The allure report renders offline, with what the harness knows; `reap` refuses bad input in one line."""
import base64
import json
import re
import subprocess
import sys
from pathlib import Path

from harness.report import allure

REPO = Path(__file__).resolve().parents[2]


def cli(*args, timeout=300):
    return subprocess.run(["photon-harness", *args], capture_output=True, text=True, timeout=timeout)


def test_report_without_results_is_one_line(tmp_path):
    r = cli("report", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "holds no allure results" in r.stderr


KNOWN_D1 = """\
- claim: D1
  observed: "says 'disabled'"
  target: {base: standin, flavor: full}
  tracker: https://example.invalid/tracker/allure-1
  reason: self-test, docker.service disabled on purpose
  review-by: 2999-12-31
"""


def embedded(page: Path) -> dict:
    """The files allure's single-file report carries (base64, by path)."""
    return {path: base64.b64decode(data)
            for path, data in re.findall(r"d\('([^']+)','([A-Za-z0-9+/=]*)'\)", page.read_text())}


def test_the_allure_report_renders_what_the_harness_knows(docker_disabled_full_image, tmp_path):
    """A real run (a known difference, a failure, a pass, claims not documented in v4) rendered by the
    allure command line that `doctor --fix` installs: categories per verdict state, the targets as
    environment, claims linked to their pages, and history carried on by --baseline."""
    assert allure.command(), f"no allure command line: {allure.INSTALL_HINT}"   # CI installs it: never skipped
    kd = tmp_path / "known.yaml"
    kd.write_text(KNOWN_D1)

    def run(n: int, *extra):
        return subprocess.run(
            [sys.executable, "-m", "pytest", "suites/containers", "suites/rootless/test_rootless_limits.py",
             "--base", "standin", "--flavor", "full", "--target-image", f"full={docker_disabled_full_image}",
             "--known-differences", str(kd), "--docs-version", "4", "-n", "2",
             "-k", "enabled_by_default or status_docker_at_boot or engine_is_included or privileged_port",
             "--alluredir", str(tmp_path / f"allure-{n}"), "--report-dir", str(tmp_path / f"report-{n}"), *extra],
            cwd=REPO, capture_output=True, text=True, timeout=600)
    first = run(1)
    assert first.returncode == 1, first.stdout[-3000:]   # D2 fails on the disabled image
    page = tmp_path / "report-1" / "allure" / "index.html"
    assert f"allure report: {page}" in first.stdout, first.stdout[-2000:]
    files = embedded(page)
    names = {c["name"] for c in json.loads(files["data/categories.json"])["children"]}
    assert {"Known difference (https://example.invalid/tracker/allure-1)",
            "Claim failed: the documented behaviour did not happen",
            "Not documented in the target's docs version"} <= names, names
    environment = {e["name"]: e["values"] for e in json.loads(files["widgets/environment.json"])}
    assert "Target user-full-container" in environment and "Plan" in environment, environment
    assert any("STAND-IN" in v or "stand-in" in v for v in environment["Target user-full-container"]), environment
    links = [link for path, data in files.items() if path.startswith("data/test-cases/")
             for link in json.loads(data).get("links", [])]
    assert any(link["name"].startswith("D1: docs-v4 administration-guide/containers/docker-containers.md")
               and link["url"].startswith("https://github.com/vmware/photon/blob/") for link in links), links
    second = run(2, "--baseline", str(tmp_path / "report-1"))
    assert f"(history carried on from {tmp_path / 'report-1' / 'allure'})" in second.stdout, second.stdout[-2000:]
    trend = json.loads(embedded(tmp_path / "report-2" / "allure" / "index.html")["widgets/history-trend.json"])
    assert len(trend) == 2, trend   # this run and the one before it
    history = subprocess.run(["photon-harness", "history", str(tmp_path)], capture_output=True, text=True)
    assert history.returncode == 0, history.stderr
    assert "href='report-1/allure/index.html'" in (tmp_path / "history.html").read_text()


def test_reap_rejects_a_bad_age():
    r = cli("reap", "--older-than", "soon", "--dry-run", timeout=60)
    assert r.returncode == 2 and "age 'soon' is not like 90s, 30m, 1h, 2d" in r.stderr
