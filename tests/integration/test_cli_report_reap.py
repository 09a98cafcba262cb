"""`photon-harness report` renders allure results offline; `reap` refuses bad input in one line."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cli(*args, timeout=300):
    return subprocess.run(["photon-harness", *args], capture_output=True, text=True, timeout=timeout)


def test_report_without_results_is_one_line(tmp_path):
    r = cli("report", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "holds no allure results" in r.stderr


@pytest.mark.skipif(shutil.which("allure") is None,
                    reason="no allure command line on PATH (npm install -g allure-commandline; needs Java)")
def test_report_renders_allure_results_as_one_offline_page(tmp_path):
    results = tmp_path / "allure"
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/unit/test_known_differences.py", "-n", "0",
                          "-q", "--alluredir", str(results)], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    r = cli("report", str(results), "-o", str(tmp_path / "html"))
    assert r.returncode == 0, r.stderr
    page = tmp_path / "html" / "index.html"
    assert f"allure report: {page}" in r.stdout
    assert page.stat().st_size > 10_000


def test_reap_rejects_a_bad_age():
    r = cli("reap", "--older-than", "soon", "--dry-run", timeout=60)
    assert r.returncode == 2 and "age 'soon' is not like 90s, 30m, 1h, 2d" in r.stderr
