"""Interrupted runs leave nothing behind, on the real engine.

A suite run starts in a subprocess with its own session id; once a labelled
container exists it gets SIGINT, SIGTERM or SIGKILL. After SIGINT/SIGTERM the
run itself must have removed everything; after SIGKILL `photon-harness reap
--session ID` must. Signals go to the controller only (`kill PID`), the harder
case than Ctrl-C, which reaches the whole process group.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled, reap

from .interrupts import sigint_as_in_a_terminal

REPO = Path(__file__).resolve().parents[2]
WAIT_FOR_TARGET = 600   # may include building the stand-in images
WAIT_FOR_EXIT = 180


def start_run(session: str, tmp_path: Path, workers: int) -> subprocess.Popen:
    """A suite run in its own directory (log, report) under tmp_path/<session>."""
    d = tmp_path / session
    d.mkdir()
    args = [sys.executable, "-m", "pytest", "suites/containers", "--base", "standin",
            "--report-dir", str(d / "report"), "-n", str(workers)]
    env = dict(os.environ, PHOTON_HARNESS_SESSION=session)
    log = open(d / "run.log", "w")
    # Own process group: the test can always kill the whole run in its cleanup.
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=sigint_as_in_a_terminal)


def wait_for_labelled_container(client, session: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_FOR_TARGET
    while time.monotonic() < deadline:
        if count_labelled(client, session).containers:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before any target existed:\n"
                        f"{log.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"no container labelled with session {session} within {WAIT_FOR_TARGET}s")


@pytest.fixture
def interrupted_run(docker_client, tmp_path):
    """Yields start(workers) -> (proc, session, log); kills and reaps whatever is left at the end."""
    started = []

    def start(workers: int):
        session = "selftest-sig-" + new_session_id()
        proc = start_run(session, tmp_path, workers)
        started.append((proc, session))
        log = tmp_path / session / "run.log"
        wait_for_labelled_container(docker_client, session, proc, log)
        return proc, session, log

    yield start
    for proc, session in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        reap(docker_client, session_id=session)


def wait_exit(proc: subprocess.Popen, log: Path) -> int:
    try:
        return proc.wait(timeout=WAIT_FOR_EXIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not exit within {WAIT_FOR_EXIT}s of the signal:\n{log.read_text()[-3000:]}")


def no_process_left(session_pgid: int) -> bool:
    """No process of the run's group (xdist workers included) is still alive."""
    try:
        os.killpg(session_pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist2"])
def test_interrupted_run_removes_everything(interrupted_run, docker_client, sig, workers):
    proc, session, log = interrupted_run(workers)
    proc.send_signal(sig)
    code = wait_exit(proc, log)
    assert code != 0, f"an interrupted run must not exit 0:\n{log.read_text()[-2000:]}"
    left = count_labelled(docker_client, session)
    assert left.total() == 0, f"{left.summary()} left behind after {sig.name}:\n{log.read_text()[-3000:]}"
    deadline = time.monotonic() + 30
    while not no_process_left(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert no_process_left(proc.pid), f"processes of the run (xdist workers?) outlived {sig.name}"


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist2"])
def test_sigkilled_run_is_reaped_by_the_cli(interrupted_run, docker_client, workers):
    proc, session, log = interrupted_run(workers)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers: nothing gets to clean up
    wait_exit(proc, log)
    time.sleep(1)  # a container the engine was still creating when the client died
    assert count_labelled(docker_client, session).containers, "SIGKILL should leave the target behind"
    dry = subprocess.run(["photon-harness", "reap", "--session", session, "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0 and "would remove" in dry.stdout, dry.stdout + dry.stderr
    assert count_labelled(docker_client, session).containers, "--dry-run removed something"
    r = subprocess.run(["photon-harness", "reap", "--session", session],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert count_labelled(docker_client, session).total() == 0, r.stdout


def test_bare_reap_takes_a_killed_run_and_leaves_a_live_one(interrupted_run, docker_client):
    """Two runs side by side; one is SIGKILLed. `photon-harness reap` with no session and no age
    removes everything of the dead run and nothing of the live one."""
    live, live_session, live_log = interrupted_run(0)
    dead, dead_session, dead_log = interrupted_run(0)
    os.killpg(dead.pid, signal.SIGKILL)
    wait_exit(dead, dead_log)
    time.sleep(1)  # a container the engine was still creating when the client died
    assert count_labelled(docker_client, dead_session).containers, "SIGKILL should leave the target behind"
    r = subprocess.run(["photon-harness", "reap"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert count_labelled(docker_client, dead_session).total() == 0, r.stdout
    # reap lists all it removes. (The live run's own containers may be gone by now: it moves on to its
    # next target on its own, more so on a busy machine.)
    assert live_session not in r.stdout, f"the live run's resources were reaped:\n{r.stdout}"
    assert live.poll() in (None, 0), f"the live run died:\n{live_log.read_text()[-2000:]}"
