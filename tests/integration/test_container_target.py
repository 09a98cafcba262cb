"""The container target on the real dockerd: boot, run, timeouts, files, terminal, testinfra, cleanup."""
import subprocess
import time

import pytest

from harness.artifacts.build import flavor_image
from harness.core.errors import CommandTimeout
from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled
from harness.targets.base import TargetSpec
from harness.targets.container import ContainerTarget


@pytest.fixture(scope="module")
def booted(docker_client):
    image = flavor_image(docker_client, "standin", "minimal").tag
    session = "selftest-" + new_session_id()
    t = ContainerTarget(docker_client, TargetSpec("standin", "minimal", "container", image), session).boot()
    yield t
    t.close()
    assert count_labelled(docker_client, session).total() == 0, "the target left labelled resources behind"


def test_systemd_is_pid_1_and_booted(booted):
    assert booted.run("cat /proc/1/comm").stdout.strip() == "systemd"
    assert booted.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")
    assert booted.boot_seconds < booted.boot_timeout


def test_run_reports_exit_stdout_stderr_duration_and_user(booted):
    r = booted.run("echo out; echo err >&2; id -un; exit 7")
    assert (r.exit_status, r.stdout, r.stderr) == (7, "out\nroot\n", "err\n")
    assert 0 < r.duration < 10
    # Another user's commands run in that user's login shell (`su -`), as on the SSH backends.
    assert booted.run("id -u phuser || useradd -m -s /bin/bash phuser").ok
    r = booted.run("id -un; echo $HOME", user="phuser")
    assert r.stdout.split() == ["phuser", "/home/phuser"] and r.user == "phuser", r


def test_run_times_out_and_kills_the_command(booted):
    start = time.monotonic()
    with pytest.raises(CommandTimeout, match="ran past its 2s timeout"):
        booted.run("sleep 60", timeout=2)
    assert time.monotonic() - start < 15
    assert "sleep 60" not in booted.run("ps -eo args").stdout


def test_files_round_trip(booted):
    booted.put_file("/root/probe.bin", bytes(range(256)) * 4, mode=0o600)
    assert booted.get_file("/root/probe.bin") == bytes(range(256)) * 4
    assert booted.run("stat -c %a /root/probe.bin").stdout.strip() == "600"
    with pytest.raises(FileNotFoundError):
        booted.get_file("/root/absent")


def test_interactive_session_on_a_terminal(booted):
    s = booted.interactive("bash")
    s.send("tty; echo V$((20+22))V\r")
    assert s.expect(r"/dev/pts/\d+")
    assert s.expect(r"V42V")
    s.send("exit 3\r")
    assert s.close(timeout=10) == 3


def test_testinfra_host_is_the_same_container(booted):
    booted.put_file("/root/marker", b"same")
    assert booted.host.file("/root/marker").content_string == "same"
    assert booted.host.service("docker").is_enabled is False  # minimal flavour


def test_run_overhead_is_close_to_raw_docker_exec(booted):
    n = 10
    start = time.monotonic()
    for _ in range(n):
        booted.run("true")
    ours = (time.monotonic() - start) / n
    start = time.monotonic()
    for _ in range(n):
        subprocess.run(["docker", "exec", booted.container.id, "true"], check=True)
    raw = (time.monotonic() - start) / n
    print(f"target.run: {ours * 1000:.0f} ms, docker exec: {raw * 1000:.0f} ms")
    assert ours < raw * 3 + 0.1
