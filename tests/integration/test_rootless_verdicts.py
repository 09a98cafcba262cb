"""The rootless suite can fail: a target where a documented limitation or step does not hold
fails the right claim, by name (the suite runs in a subprocess, as a user would run it)."""
import json

from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled

from .test_suite_verdicts import run_pytest


def test_port_start_zero_makes_r8_fail(derived_full_image, docker_client):
    # The image lowers the sysctl in /etc/sysctl.d; documented step e (`sysctl --system`) applies it,
    # so port 80 is available to the rootless daemon and the documented limitation does not hold.
    image = derived_full_image("echo 'net.ipv4.ip_unprivileged_port_start = 0' > /etc/sysctl.d/60-ports.conf")
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/rootless/test_rootless_limits.py", "--base", "standin", "--flavor", "full",
                   "--target-image", f"full={image}", "-k", "privileged_port_refused", session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    assert "1 failed" in r.stdout, r.stdout[-3000:]
    assert "[R8] documented: ports below 1024 are not available" in r.stdout, r.stdout[-3000:]
    assert "net.ipv4.ip_unprivileged_port_start=0" in r.stdout, r.stdout[-3000:]
    assert count_labelled(docker_client, session).total() == 0


def test_useradd_allocated_range_fails_r2_and_r7_naming_the_duplicate(derived_full_image, docker_client):
    # As on Debian: /etc/subuid exists, so `useradd -m test_user` allocates 100000:65536 itself,
    # and the documented `echo "test_user:100000:65536" >> /etc/subuid` duplicates it.
    image = derived_full_image("touch /etc/subuid /etc/subgid")
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/rootless/test_rootless_setup.py", "--base", "standin", "--flavor", "full",
                   "--target-image", f"full={image}", "-k", "subordinate_ids or install_and_docker_run",
                   session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    assert "2 failed" in r.stdout, r.stdout[-3000:]
    assert "[R2] /etc/subuid, /etc/subgid after steps a-b" in r.stdout, r.stdout[-3000:]
    assert ("/etc/subuid: duplicate ranges for the same user: line 1 'test_user:100000:65536' and "
            "line 2 'test_user:100000:65536'") in r.stdout, r.stdout[-3000:]
    assert "[R7]" in r.stdout and "newuidmap refuses" in r.stdout, r.stdout[-3000:]
    assert count_labelled(docker_client, session).total() == 0


def test_a_missing_setuptool_fails_r5_and_blocks_what_comes_after(derived_full_image, docker_client, tmp_path):
    """A drifted target: dockerd-rootless-setuptool.sh is missing. Exactly R5 fails; R2, R6 and R7
    are blocked by R5's step (not failures of their own); R1, R3 and R4 still pass."""
    image = derived_full_image("rm /usr/bin/dockerd-rootless-setuptool.sh")
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/rootless/test_rootless_setup.py", "--base", "standin", "--flavor", "full",
                   "--target-image", f"full={image}", "--report-dir", str(tmp_path / "report"), session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    by_state: dict[str, set] = {}
    for claim, cells in data["matrix"].items():
        by_state.setdefault(cells["user-full-container"], set()).add(claim)
    assert by_state.get("failed") == {"R5"}, by_state
    assert by_state.get("blocked") == {"R2", "R6", "R7"}, by_state
    assert {"R1", "R3", "R4"} <= by_state.get("passed", set()), by_state
    blocked = [x for x in data["results"] if x["outcome"] == "blocked"]
    assert blocked and all("blocked: not reached, because the documented step in 'rootless-help'" in x["message"]
                           and "(claim R5)" in x["message"] for x in blocked), blocked
    assert count_labelled(docker_client, session).total() == 0
