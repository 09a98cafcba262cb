"""reap finds VMs a killed run left by their labelled run directories, and never kills a stranger."""
import json
import subprocess
import sys
import time

from harness.core.labels import CREATED_LABEL, SESSION_LABEL, new_session_id
from harness.targets import vm


def leaked_vm(session: str, name: str, cmdline_has_name: bool, age: int = 0):
    """A process standing in for a leaked QEMU (the boundary), with the run directory a VmTarget writes.

    Returns once the process runs with its final command line, so reap sees what it would see of a QEMU.
    A leak `age` seconds old: only where the test needs it, so that no other test's age-based reap
    running beside it under xdist can take this one.
    """
    d = vm.RUN_DIR / session / name
    d.mkdir(parents=True)
    args = [sys.executable, "-c", "import time; time.sleep(120)", name if cmdline_has_name else "stranger"]
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 60
    while b"stranger" not in _cmdline(proc.pid) and name.encode() not in _cmdline(proc.pid):
        assert time.monotonic() < deadline and proc.poll() is None, "the stand-in process never started"
        time.sleep(0.1)
    (d / "qemu.pid").write_text(str(proc.pid))
    (d / "labels.json").write_text(json.dumps({SESSION_LABEL: session, CREATED_LABEL: str(int(time.time()) - age),
                                               "target": "standin-full-vm"}))
    return d, proc


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def test_reap_kills_the_vm_and_removes_its_directory():
    session = "selftest-" + new_session_id()
    d, proc = leaked_vm(session, f"ph-{session}-standin-full-vm-1", cmdline_has_name=True)
    assert vm.reap_vms(session, dry_run=True) == [d.name] and proc.poll() is None
    assert vm.reap_vms(session) == [d.name]
    assert proc.wait(timeout=60) != 0   # SIGKILL; a loaded machine may take a moment to deliver it
    assert not (vm.RUN_DIR / session).exists()


def test_reap_never_kills_a_reused_pid():
    session = "selftest-" + new_session_id()
    d, proc = leaked_vm(session, f"ph-{session}-standin-full-vm-2", cmdline_has_name=False, age=7200)
    try:
        assert vm.reap_vms(session, older_than=3600) == [d.name]
        time.sleep(0.5)
        assert proc.poll() is None, "a process that is not that VM's QEMU was killed"
        assert not d.exists()
    finally:
        proc.kill()
