"""The claim registry is enforced at collection: a suite test without a claim, or with an unknown one, stops the run.

Runs pytest on a copy of the harness (conftest, fixtures, harness) with a
throw-away suite, so the real suites/ is never touched while others run it.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__")
    for d in ("harness", "fixtures"):
        shutil.copytree(REPO / d, tmp_path / d, ignore=ignore)
    for f in ("conftest.py", "pytest.ini"):
        shutil.copy(REPO / f, tmp_path / f)
    (tmp_path / "suites" / "probe").mkdir(parents=True)
    for d in ("suites", "suites/probe"):
        (tmp_path / d / "__init__.py").write_text("")
    return tmp_path


def collect(root: Path, test_source: str):
    (root / "suites" / "probe" / "test_probe.py").write_text("import pytest\n\n" + test_source)
    return subprocess.run([sys.executable, "-m", "pytest", "suites", "--base", "standin", "--collect-only", "-q",
                           "--report-dir", str(root / "report")],
                          cwd=root, capture_output=True, text=True, timeout=120)


def test_a_suite_test_citing_a_known_claim_collects(sandbox):
    r = collect(sandbox, "@pytest.mark.claim('D1')\ndef test_x():\n    pass\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "suites/probe/test_probe.py::test_x" in r.stdout


def test_a_suite_test_citing_no_claim_fails_collection(sandbox):
    r = collect(sandbox, "def test_x():\n    pass\n")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "suites/probe/test_probe.py::test_x cites no claim" in r.stderr


def test_an_unknown_claim_id_fails_collection(sandbox):
    r = collect(sandbox, "@pytest.mark.claim('D1', 'Z9')\ndef test_x():\n    pass\n")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "cites unknown claim ID(s) Z9" in r.stderr
