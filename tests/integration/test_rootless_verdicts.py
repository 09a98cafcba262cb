"""The rootless suite can fail: a target where a documented limitation or step does not hold
fails the right claim, by name (the suite runs in a subprocess, as a user would run it)."""
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
