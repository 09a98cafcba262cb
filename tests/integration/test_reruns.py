"""--rerun-failures: a check that fails once and then passes is reported failed and flaky, and its
rerun ran on a fresh target (a copy of the suites with one deliberately flaky test, run in a subprocess)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled

REPO = Path(__file__).resolve().parents[2]

FLAKY_TEST = '''
import os
from pathlib import Path

import pytest


@pytest.mark.claim("I1")
def test_fails_once_then_passes(target, record_property):
    record_property("target-container", target.name)
    marker = Path(os.environ["PHOTON_HARNESS_FLAKY_MARKER"])
    if not marker.exists():
        marker.write_text("failed once")
        assert False, "[I1] fails on its first attempt, on purpose"
'''


def test_a_check_that_fails_once_is_failed_and_flaky_with_both_attempts(docker_client, tmp_path):
    tree = tmp_path / "tree"
    for d in ("harness", "fixtures", "suites"):
        shutil.copytree(REPO / d, tree / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("conftest.py", "pytest.ini", "known-differences.yaml"):
        shutil.copy(REPO / f, tree / f)
    (tree / "images").symlink_to(REPO / "images")   # the recipes: the same cached images
    (tree / "suites" / "containers" / "test_flaky_selftest.py").write_text(FLAKY_TEST)
    session = "selftest-" + new_session_id()
    env = dict(__import__("os").environ, PHOTON_HARNESS_SESSION=session,
               PHOTON_HARNESS_FLAKY_MARKER=str(tmp_path / "marker"))
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "suites/containers/test_flaky_selftest.py",
                        "--base", "standin", "--flavor", "full", "--rerun-failures", "2", "-n", "2",
                        "--report-dir", str(tmp_path / "report")],
                       cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "1 failed" in r.stdout, r.stdout[-3000:]   # --fail-on failures: flaky fails
    assert "FLAKY: failed 1 time(s), then passed on rerun 1" in r.stdout, r.stdout[-3000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    [rec] = data["results"]
    assert rec["outcome"] == "failed" and rec["flaky"] and rec["claims"] == {"I1": "failed"}, rec
    [first] = rec["attempts"]
    assert first["outcome"] == "failed" and "fails on its first attempt, on purpose" in first["message"], first
    # Each attempt on its own target: two different containers.
    assert len(rec["evidence"]["target-container"]) == 2, rec["evidence"]
    assert data["matrix"]["I1"]["standin-full-container"] == "failed"
    assert "failed (flaky)" in (tmp_path / "report" / "report.html").read_text()
    assert count_labelled(docker_client, session).total() == 0
