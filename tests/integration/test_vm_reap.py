"""reap finds VMs a killed run left by their labelled run directories, and never kills a stranger."""
import json
import subprocess
import sys
import time

from harness.cleanup import new_session_id
from harness.targets import vm


def leaked_vm(session: str, name: str, cmdline_has_name: bool):
    """A process standing in for a leaked QEMU (the boundary), with the run directory a VmTarget writes."""
    d = vm.RUN_DIR / session / name
    d.mkdir(parents=True)
    args = [sys.executable, "-c", "import time; time.sleep(120)"] + ([name] if cmdline_has_name else [])
    proc = subprocess.Popen(args)
    (d / "qemu.pid").write_text(str(proc.pid))
    (d / "labels.json").write_text(json.dumps({"session": session, "created": int(time.time()) - 7200,
                                               "target": "standin-full-vm"}))
    return d, proc


def test_reap_kills_the_vm_and_removes_its_directory():
    session = "selftest-" + new_session_id()
    d, proc = leaked_vm(session, f"ph-{session}-standin-full-vm-1", cmdline_has_name=True)
    assert vm.reap_vms(session, dry_run=True) == [d.name] and proc.poll() is None
    assert vm.reap_vms(session) == [d.name]
    assert proc.wait(timeout=10) != 0
    assert not (vm.RUN_DIR / session).exists()


def test_reap_never_kills_a_reused_pid():
    session = "selftest-" + new_session_id()
    d, proc = leaked_vm(session, f"ph-{session}-standin-full-vm-2", cmdline_has_name=False)
    try:
        assert vm.reap_vms(session, older_than=3600) == [d.name]
        time.sleep(0.5)
        assert proc.poll() is None, "a process that is not that VM's QEMU was killed"
        assert not d.exists()
    finally:
        proc.kill()
