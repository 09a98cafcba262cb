"""Nightly comparison on real runs: a baseline, then a drifted target (docker.service disabled) shows
exactly the regressions D1 and D2; the reverse shows them fixed; --fail-on regressions goes red only
on regressions."""
import json
import subprocess
import sys

from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled

from .test_suite_verdicts import REPO, run_pytest

SELECTION = ("-k", "enabled_by_default or status_docker_at_boot or engine_is_included")


def compare(old, new):
    return subprocess.run([sys.executable, "-m", "harness.cli", "compare", str(old), str(new)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_a_drifted_target_shows_exactly_its_regressions_and_the_reverse_shows_them_fixed(
        docker_disabled_full_image, docker_client, tmp_path):
    session = "selftest-" + new_session_id()
    good, bad, again = tmp_path / "good", tmp_path / "bad", tmp_path / "again"
    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full", *SELECTION,
                   "--report-dir", str(good), session=session)
    assert r.returncode == 0 and "3 passed" in r.stdout, r.stdout[-3000:]

    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full", *SELECTION,
                   "--target-image", f"full={docker_disabled_full_image}", "--baseline", str(good),
                   "--fail-on", "regressions", "--report-dir", str(bad), session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    tail = r.stdout.strip().splitlines()[-6:]   # the run's last lines name its regressions
    assert any(l.strip().startswith("REGRESSION: D1 on full / standin 12 / container: passed -> failed") for l in tail), tail
    assert any(l.strip().startswith("REGRESSION: D2 on full / standin 12 / container: passed -> failed") for l in tail), tail
    since = json.loads((bad / "results.json").read_text())["since_baseline"]
    assert {(c["kind"], c["claim"]) for c in since["changes"]} == {("regression", "D1"), ("regression", "D2")}, since
    # each side's image and digest, so the regression points at what changed
    d1 = next(c for c in since["changes"] if c["claim"] == "D1")
    assert d1["new_image"] == docker_disabled_full_image and d1["old_image"] != d1["new_image"], d1
    assert d1["old_digest"].startswith("sha256:") and d1["new_digest"].startswith("sha256:"), d1
    assert "Since baseline" in (bad / "report.html").read_text()
    # Only the failed tests again, from the list written next to the report.
    listed = (bad / "failed-tests.txt").read_text().split()
    assert len(listed) == 2 and all("user-full-container" in n for n in listed), listed
    assert f"python3 -m pytest @{bad / 'failed-tests.txt'}" in r.stdout
    r = run_pytest(f"@{bad / 'failed-tests.txt'}", "--base", "standin", "--flavor", "full",
                   "--target-image", f"full={docker_disabled_full_image}", "--report-dir", str(tmp_path / "rerun"),
                   session=session)
    assert r.returncode == 1 and "2 failed" in r.stdout and " passed" not in r.stdout.splitlines()[-1], r.stdout[-3000:]

    # The same failures tomorrow: still failing, no regression, so a nightly job stays green.
    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full", *SELECTION,
                   "--target-image", f"full={docker_disabled_full_image}", "--baseline", str(bad),
                   "--fail-on", "regressions", "--report-dir", str(again), session=session)
    assert r.returncode == 0 and "2 failed" in r.stdout, r.stdout[-3000:]
    assert "0 regression(s)" in r.stdout and "STILL FAILING: D1" in r.stdout, r.stdout[-3000:]

    # The history page over these real runs: D1 fails in the newest run, and has since the drifted one.
    h = subprocess.run([sys.executable, "-m", "harness.cli", "history", str(tmp_path), "-o", str(tmp_path / "h.html")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert h.returncode == 0, h.stdout + h.stderr
    started = json.loads((bad / "results.json").read_text())["run"]["started"]
    page = (tmp_path / "h.html").read_text()
    row = next(line for line in page.splitlines() if line.startswith("<tr data-claim='D1'"))
    assert f"<td class='small'>{started}</td>" in row, row

    c = compare(bad, good)   # the reverse: fixed
    assert c.returncode == 0 and "FIXED: D1" in c.stdout and "FIXED: D2" in c.stdout, c.stdout + c.stderr
    c = compare(good, bad / "results.json")
    assert c.returncode == 1 and "2 regression(s)" in c.stdout, c.stdout + c.stderr
    assert count_labelled(docker_client, session).total() == 0


def test_unreadable_or_other_version_results_are_refused_with_one_line(tmp_path):
    other = tmp_path / "results.json"
    other.write_text(json.dumps({"format": "photon-harness-results", "schema_version": 99}))
    c = compare(other, other)
    assert c.returncode == 4 and c.stderr.strip().count("\n") == 0, c.stderr
    assert "results schema version 99; this harness reads version 1" in c.stderr
    c = compare(tmp_path / "missing", other)
    assert c.returncode == 4 and "no such file" in c.stderr
    r = run_pytest("suites/containers", "--baseline", str(other), timeout=120)
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert r.returncode == 4 and len(errors) == 1 and "schema version 99" in errors[0], r.stderr
    r = run_pytest("suites/containers", "--fail-on", "regressions", timeout=120)
    assert r.returncode == 4 and "--fail-on regressions needs --baseline" in r.stderr, r.stderr
