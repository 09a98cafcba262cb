"""A user's disk is booted as given and labelled by what it is (os-release), never by --base.

The bootable stand-in OVA (partitioned disk, GRUB, cloud-init, sshd; `photon-harness standin-ova`)
takes the path a Photon OVA takes: unpacked, its vmdk converted, booted by its own bootloader under
QEMU (TCG here), reached through the cloud-init seed. No Photon container image exists on this machine.
"""
import json

import pytest

from harness.artifacts.vm import standin_ova
from harness.core.labels import new_session_id
from harness.ops.reap import count_labelled
from harness.targets.vm import reap_vms

from .test_suite_verdicts import run_pytest

# Each test boots TCG VMs for minutes: one worker runs them one after the other.
pytestmark = pytest.mark.xdist_group("user-disk-selftest")


@pytest.fixture(scope="module")
def ova():
    return standin_ova("full")


def test_the_standin_ova_given_with_base_auto_is_booted_and_named_for_what_it_is(ova, docker_client, tmp_path):
    # The whole containers suite and R8-R11 run on this OVA in the test command's second half.
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/containers", "--backend", "vm", "--vm-image", f"full={ova}", "--flavor", "full",
                   "-k", "engine_is_included", "--report-dir", str(tmp_path / "report"), session=session,
                   timeout=2400)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "1 passed" in r.stdout, out[-3000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    [target] = data["targets"]
    # The user's disk (its vmdk converted once), not the harness's own stand-in disk.
    assert target["id"] == "user-full-vm" and target["source"] == "user", target
    assert "/vm/converted/" in target["image"], target
    # Recognised by what it is: the stand-in, so the run says so.
    assert target["base"] == "standin" and "not Photon OS" in target["os"], target
    assert data["run"]["banner"].startswith("STAND-IN RUN"), data["run"]
    assert {r["outcome"] for r in data["results"]} == {"passed"}, data["results"]
    assert not reap_vms(session) and count_labelled(docker_client, session).total() == 0


def test_base_photon_boots_the_disk_then_stops_on_what_it_is(ova, docker_client, tmp_path):
    # photon:5.0 is not on this machine: the VM must still be booted (a disk needs no container
    # image), found to be the stand-in, and the run stopped with one line. With xdist, as users run.
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/containers", "--base", "photon", "--backend", "vm", "--vm-image", f"full={ova}",
                   "--flavor", "full", "-n", "2", "-k", "enabled_by_default",
                   "--report-dir", str(tmp_path / "report"), session=session, timeout=1800)
    out = r.stdout + r.stderr
    assert r.returncode == 4, out[-4000:]
    assert "not present locally" not in out, out[-3000:]
    lines = [l for l in out.splitlines() if l.startswith("ERROR: --base photon, but target user-full-vm")]
    assert lines and "is the photon-harness stand-in" in lines[0], out[-3000:]
    assert " passed" not in r.stdout.splitlines()[-1], r.stdout[-1000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [t["base"] for t in data["targets"]] == ["standin"]
    assert {r["outcome"] for r in data["results"]} == {"error"}, data["results"]   # no verdict
    assert not reap_vms(session) and count_labelled(docker_client, session).total() == 0
