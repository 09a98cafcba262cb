"""The VM target on real QEMU (TCG here): boot with a cloud-init seed, SSH, the Target protocol, failures."""
import json
import shutil
import subprocess
import time

import pytest

from harness.artifacts.vm import standin_vm_image
from harness.core.errors import InfrastructureError
from harness.core.labels import new_session_id
from harness.targets.base import TargetSpec
from harness.core.cache import file_digest
from harness.targets.vm import RUN_DIR, VmTarget, choose_accel, reap_vms, seed_iso
from harness.targets.vm_template import TEMPLATES, VmTemplate, template_key

from .test_suite_verdicts import run_pytest

# The tests sharing the `vm` fixture stay on one xdist worker, so it boots once (a TCG boot is minutes).
one_vm = pytest.mark.xdist_group("vm-target-selftest")


@pytest.fixture(scope="module")
def vm():
    image = standin_vm_image("minimal")
    session = "selftest-" + new_session_id()
    t = VmTarget(TargetSpec("standin", "minimal", "vm", str(image.disk)), session, image.disk, image.kernel,
                 image.initrd, boot_timeout=600).boot()
    print(f"VM boot to SSH+systemd: {t.boot_seconds:.0f}s with accel {t.accel}, QEMU RSS {t.memory_rss_mb():.0f} MiB")
    yield t
    t.close()
    assert not (RUN_DIR / session).exists() or not any((RUN_DIR / session).iterdir()), "the VM left files behind"


@one_vm
def test_vm_runs_systemd_with_the_seeded_key_and_hostname(vm):
    assert vm.run("cat /proc/1/comm").stdout.strip() == "systemd"
    assert vm.run("hostname").stdout.strip() == "minimal"
    r = vm.run("echo out; echo err >&2; exit 4")
    assert (r.exit_status, r.stdout, r.stderr) == (4, "out\n", "err\n")


@one_vm
def test_vm_seed_leaves_sshd_password_authentication_as_shipped(vm):
    # The rootless page logs in with `ssh test_user@localhost` and a password (R4): the seed must not
    # turn password authentication off (cloud-init's `ssh_pwauth: false` would); root stays key-only.
    effective = vm.run("sshd -T | grep -iE '^(passwordauthentication|permitrootlogin) '").stdout.lower().split("\n")
    assert "passwordauthentication yes" in effective, effective
    assert vm.run("passwd -S root").stdout.split()[1] == "L", "root's password must stay locked"


@one_vm
def test_vm_base_disk_is_never_written(vm):
    info = vm.run("findmnt -no SOURCE /").stdout.strip()
    assert info == "/dev/vda"
    assert (vm.dir / "overlay.qcow2").exists()


@one_vm
def test_vm_interactive_files_and_testinfra(vm):
    s = vm.interactive("bash")
    s.send("tty; echo V$((20+22))V\n")
    assert s.expect(r"/dev/pts/\d+") and s.expect(r"V42V")
    s.send("exit 3\n")
    assert s.close(timeout=30) == 3
    vm.put_file("/root/probe", b"\x00\x01vm", mode=0o600)
    assert vm.get_file("/root/probe") == b"\x00\x01vm"
    assert vm.host.file("/root/probe").mode == 0o600
    assert vm.host.service("docker").is_enabled is False  # minimal flavour


@one_vm
def test_restored_targets_are_isolated_and_the_template_stays_frozen(vm):
    # The module's VM was restored from the minimal stand-in's template (built now if it was missing).
    assert vm.template is not None and vm.boot_kind.startswith("restored from template"), vm.boot_kind
    frozen = vm.template.disk
    before = file_digest(frozen)
    assert abs(int(vm.run("date +%s").stdout) - time.time()) < 60, "the guest clock was not set from the host"
    image = standin_vm_image("minimal")
    other = VmTarget(TargetSpec("standin", "minimal", "vm", str(image.disk)), vm.session_id, image.disk,
                     image.kernel, image.initrd, boot_timeout=600).boot()
    try:
        print(f"restore to SSH+systemd: {other.boot_seconds:.0f}s ({other.boot_kind})")
        assert other.template == vm.template and other.dir != vm.dir and other.port != vm.port
        assert other.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")
        vm.run("echo mine > /root/isolation")
        assert not other.run("test -e /root/isolation").ok, "a restored target saw another one's write"
        assert other.boot_seconds < vm.template.meta()["boot-seconds"], (other.boot_seconds, vm.template.meta())
    finally:
        other.close()
        vm.run("rm -f /root/isolation")
    assert file_digest(frozen) == before, "the template's disk was written"


def test_an_unusable_template_falls_back_to_a_cold_boot_and_says_why(tmp_path):
    # A template whose saved state is garbage, under the key of a recipe of its own (an extra
    # kernel argument): the restore fails, the VM boots cold, and its boot_kind says why.
    image = standin_vm_image("minimal")
    session = "selftest-" + new_session_id()
    t = VmTarget(TargetSpec("standin", "minimal", "vm", str(image.disk)), session, image.disk, image.kernel,
                 image.initrd, kernel_args="photon-harness.selftest=broken-template", boot_timeout=600)
    t.accel = choose_accel(image.kernel)   # as boot() will: the template key includes it
    broken = VmTemplate(TEMPLATES / template_key(t))
    broken.dir.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk),
                        str(broken.disk)], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(broken.key_file)], check=True)
        seed_iso(broken.seed, "minimal", (broken.dir / "id.pub").read_text().strip())
        broken.state.write_bytes(b"not a migration stream")
        (broken.dir / "meta.json").write_text(json.dumps({"boot-seconds": 0, "save-seconds": 0}))
        t.boot()
        try:
            assert t.template is None and t.boot_kind.startswith("cold boot (snapshot unavailable: "), t.boot_kind
            assert t.run("cat /proc/1/comm").stdout.strip() == "systemd"
        finally:
            t.close()
    finally:
        shutil.rmtree(broken.dir, ignore_errors=True)
    assert not reap_vms(session)


def test_broken_image_fails_within_the_timeout_with_the_console_tail():
    image = standin_vm_image("minimal")
    session = "selftest-" + new_session_id()
    # The last root= wins: the kernel is told to mount a disk that does not exist.
    t = VmTarget(TargetSpec("standin", "minimal", "vm", "broken"), session, image.disk, image.kernel, image.initrd,
                 kernel_args="root=/dev/vdz rootdelay=5", boot_timeout=90)
    start = time.monotonic()
    with pytest.raises(InfrastructureError) as e:
        t.boot()
    assert time.monotonic() - start < 90 + 60
    assert "last console lines" in str(e.value) and "vdz" in str(e.value), str(e.value)
    assert not reap_vms(session), "a failed boot must clean up after itself"


def test_vm_without_cloud_init_gets_the_key_from_a_systemd_credential():
    # `cloud-init=disabled` makes the stand-in boot as an image without cloud-init (one installed
    # from Photon's ISO, say): root's key must then come from the SMBIOS credential.
    image = standin_vm_image("minimal")
    session = "selftest-" + new_session_id()
    t = VmTarget(TargetSpec("standin", "minimal", "vm", str(image.disk)), session, image.disk, image.kernel,
                 image.initrd, kernel_args="cloud-init=disabled", boot_timeout=600).boot()
    try:
        assert "disabled" in t.run("cloud-init status").stdout
        assert t.run("hostname").stdout.strip() != "minimal", "the seed's hostname was applied: cloud-init ran"
        credential = t.run("cat /run/credentials/@system/ssh.authorized_keys.root").stdout.strip()
        assert credential == t.public_key
        assert t.run("cat /root/.ssh/authorized_keys").stdout.strip() == credential
    finally:
        t.close()
    assert not reap_vms(session)


def _ssh_run(vm, tmp_path, *extra):
    """D1 through --backend ssh against this VM, as a user points the harness at a host they have."""
    report = tmp_path / f"report{len(list(tmp_path.iterdir()))}"
    r = run_pytest("suites/containers", "--backend", "ssh", "--host", f"ssh://root@127.0.0.1:{vm.port}",
                   "--ssh-key", str(vm.key_file), "--flavor", "minimal", "-k", "enabled_by_default",
                   "--report-dir", str(report), *extra, timeout=600)
    data = json.loads((report / "results.json").read_text()) if (report / "results.json").exists() else {}
    return r, data


@one_vm
def test_an_ssh_target_is_labelled_by_its_os_release(vm, tmp_path):
    r, data = _ssh_run(vm, tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    [target] = data["targets"]
    assert (target["id"], target["base"]) == ("user-minimal-ssh", "standin"), target
    assert data["run"]["banner"].startswith("STAND-IN RUN")
    # Without the stand-in's marker it is just another Debian host: not Photon, and said so.
    assert vm.run("mv /etc/photon-harness/standin /etc/photon-harness/standin.off").ok
    try:
        r, data = _ssh_run(vm, tmp_path)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        [target] = data["targets"]
        assert target["base"] == "other" and target["os"] == "not Photon OS: Debian GNU/Linux 12 (bookworm)"
        assert data["run"]["banner"].startswith("NOT Photon OS: user-minimal-ssh"), data["run"]
        assert "STAND-IN RUN" not in data["run"]["banner"]
        # Declared as the stand-in, it is not: the run stops with one line.
        r, _ = _ssh_run(vm, tmp_path, "--base", "standin")
        assert r.returncode == 4, (r.stdout + r.stderr)[-3000:]
        assert "ERROR: --base standin, but target user-minimal-ssh" in r.stdout, r.stdout[-2000:]
    finally:
        vm.run("mv /etc/photon-harness/standin.off /etc/photon-harness/standin")
