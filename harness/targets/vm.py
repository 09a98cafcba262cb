"""VM targets: QEMU with a cloud-init NoCloud seed, reached over SSH (paramiko).

The per-VM SSH key reaches root two ways, since the harness cannot tell before boot
whether an image runs cloud-init: the NoCloud seed (Photon's OVA, GCE and AMI images),
and a systemd credential `ssh.authorized_keys.root` in an SMBIOS type 11 string, which
systemd >= 252 imports and systemd-tmpfiles writes to /root/.ssh/authorized_keys when
that file does not exist (images without cloud-init, e.g. installed from the ISO;
systemd.system-credentials(7)). Both carry the same key.

KVM is used when a bounded probe shows hardware virtualisation really works
(here /dev/kvm exists but a guest hangs), else TCG. The base disk is never
written: each VM boots a qcow2 overlay. Each VM's PID file, overlay and console
live in a run directory named after the session label, so `reap` finds them.

With snapshots on (the default), a VM does not boot: it is restored from its recipe's template
(vm_template.py), a machine booted once to systemd running and saved; when no template can be
made or restored, it boots cold and says why in `boot_kind`.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness.core.errors import InfrastructureError
from harness.core.labels import selected, session_labels
from harness.core.paths import CACHE_DIR
from harness.core.wait import WaitTimeout, wait_for
from harness.targets.base import TargetSpec
from harness.model.machine import OVMF_VARS, VIRTIO, Machine, firmware_available, qemu_args
from harness.targets.qmp import Qmp
from harness.targets.ssh_commands import SshCommands
from harness.targets.vm_template import TemplateBootFailed, template_for

RUN_DIR = CACHE_DIR / "run"
USER = "root"
RESTORE_TIMEOUT = 180   # a restore answers in seconds; past this, boot cold instead
PROGRESS_EVERY = 30     # seconds between progress lines while a VM boots
log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_credential(public_key: str) -> list[str]:
    """QEMU arguments passing `public_key` as root's authorized key through systemd's credentials."""
    value = base64.b64encode(public_key.strip().encode() + b"\n").decode()
    return ["-smbios", f"type=11,value=io.systemd.credential.binary:ssh.authorized_keys.root={value}"]


def seed_iso(path: Path, hostname: str, public_key: str) -> None:
    """A NoCloud seed (volume id cidata), made offline with genisoimage."""
    d = path.parent / "seed"
    d.mkdir(exist_ok=True)
    (d / "meta-data").write_text(f"instance-id: {hostname}\nlocal-hostname: {hostname}\n")
    # locale: false because the minbase image has no locales package. No ssh_pwauth: cloud-init
    # then leaves sshd's PasswordAuthentication as the image ships it (`ssh_pwauth: false` would
    # write "no", and the documented `ssh test_user@localhost` password login, R4, could not work).
    # Root's password stays locked; the forwarded port listens on 127.0.0.1 only.
    (d / "user-data").write_text(
        "#cloud-config\n"
        f"hostname: {hostname}\n"
        "locale: false\n"
        "disable_root: false\n"
        f"users:\n  - name: root\n    lock_passwd: true\n    ssh_authorized_keys:\n      - {public_key}\n")
    r = subprocess.run(["genisoimage", "-quiet", "-output", str(path), "-volid", "cidata", "-joliet", "-rock",
                        str(d / "user-data"), str(d / "meta-data")], capture_output=True, text=True)
    if r.returncode != 0:
        raise InfrastructureError(f"genisoimage failed: {r.stderr.strip()}")


@functools.lru_cache(maxsize=None)   # once per process: where KVM hangs, the probe costs its whole timeout
def kvm_works(kernel: Path, timeout: float = 20) -> bool:
    """Hardware virtualisation really runs a guest: the kernel prints its banner in time."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        r = subprocess.run(["qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-nographic", "-no-reboot",
                            "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1"],
                           capture_output=True, text=True, timeout=timeout)
        out = r.stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return "Linux version" in out


def qmp_socket_for(vm_name: str) -> Path:
    """The VM's QMP socket: outside its run directory, as a unix socket's path must stay under 108 bytes."""
    return Path(tempfile.gettempdir()) / f"ph-qmp-{hashlib.sha256(vm_name.encode()).hexdigest()[:16]}.sock"


def choose_accel(kernel: Path | None) -> str:
    return "kvm" if (kernel and kvm_works(kernel)) else "tcg,tb-size=256"


def ssh_banner(port: int, timeout: float = 5) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            data = sock.recv(64)
    except OSError:
        return ""
    return data.decode(errors="replace").strip() if data.startswith(b"SSH-") else ""


class VmTarget(SshCommands):
    """Boots a disk image in QEMU (direct kernel boot for the stand-in) and reaches it over SSH."""

    def __init__(self, spec: TargetSpec, session_id: str, disk: Path, kernel: Path | None = None,
                 initrd: Path | None = None, kernel_args: str = "", machine: Machine = VIRTIO,
                 boot_timeout: float = 300, snapshots: bool = True):
        self.spec, self.session_id = spec, session_id
        self.disk, self.kernel, self.initrd, self.kernel_args = disk, kernel, initrd, kernel_args
        self.machine, self.boot_timeout = machine, boot_timeout
        self.snapshots = snapshots
        self.name = f"ph-{session_id}-{spec.id}-{int(time.time() * 1000) % 100000}"
        self.dir = RUN_DIR / session_id / self.name
        self.console = self.dir / "console.log"
        self.port = 0
        self.pid: int | None = None
        self.ssh = None
        self.boot_kind = ""   # cold, or restored from a template (and how long the template took)
        self.template = None  # the VmTemplate it was restored from
        self.accel = ""

    @property
    def key_file(self) -> Path:
        """Root's private key for this VM (the template's, when restored from one)."""
        return (self.template.dir if self.template else self.dir) / "id"

    @property
    def public_key(self) -> str:
        """Root's authorized key on this VM (the template's, when restored from one)."""
        return ((self.template.dir if self.template else self.dir) / "id.pub").read_text().strip()

    def _qemu_argv(self, key_dir: Path) -> list[str]:
        """The machine; a restore must describe the same devices as the boot it restores."""
        # The serial port is kept for the harness's logs only: readiness is SSH and systemd, never the console.
        argv = ["qemu-system-x86_64", "-name", self.name, "-cpu", "max", "-accel", self.accel, "-display", "none",
                "-daemonize", "-pidfile", str(self.dir / "qemu.pid"), "-serial", f"file:{self.console}",
                "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
                *qemu_args(self.machine, self.dir / "overlay.qcow2", key_dir / "seed.iso", "n0",
                           self.dir / "efi-vars.fd"),
                "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                *key_credential((key_dir / "id.pub").read_text())]
        if self.kernel:
            argv += ["-kernel", str(self.kernel), "-append",
                     f"root=/dev/vda rw console=ttyS0 {self.kernel_args}".strip()]
            if self.initrd:
                argv += ["-initrd", str(self.initrd)]
        return argv

    @property
    def qmp_socket(self) -> Path:
        return qmp_socket_for(self.name)

    def _prepare(self, backing: Path, efi_vars: Path = OVMF_VARS) -> None:
        """The VM's run directory: its labels, its overlay over `backing` and, on EFI, its own variable store
        (a fresh one, or the template's: EFI variables are guest state)."""
        missing = firmware_available(self.machine)
        if missing:
            raise InfrastructureError(f"VM {self.spec.id}: {missing}")
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.machine.firmware == "efi":
            if not efi_vars.exists():
                raise InfrastructureError(f"VM {self.spec.id}: no EFI variable store at {efi_vars}")
            shutil.copyfile(efi_vars, self.dir / "efi-vars.fd")
        (self.dir / "labels.json").write_text(json.dumps(dict(session_labels(self.session_id), target=self.spec.id)))
        r = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(backing),
                            str(self.dir / "overlay.qcow2")], capture_output=True, text=True)
        if r.returncode != 0:
            raise InfrastructureError(f"qemu-img overlay failed: {r.stderr.strip()}")
        self.port = free_port()

    def _start(self, argv: list[str]) -> None:
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise InfrastructureError(f"qemu did not start: {r.stderr.strip()}")
        try:
            self.pid = int((self.dir / "qemu.pid").read_text())
        except FileNotFoundError:   # it daemonised, then exited (and removed its PID file)
            raise InfrastructureError(f"qemu exited right after starting; last console lines:\n"
                                      f"{self.console_tail()}") from None

    def boot(self) -> "VmTarget":
        start = time.monotonic()
        self.accel = choose_accel(self.kernel)
        if self.snapshots:
            try:
                return self._restore(start)
            except TemplateBootFailed:
                raise   # the recipe itself does not boot: a cold boot would fail the same way
            except InfrastructureError as e:
                why = str(e).splitlines()[0][:300]
                log.warning("VM %s: no snapshot, booting cold: %s", self.spec.id, why)
                self._discard()
                self.boot_kind = f"cold boot (snapshot unavailable: {why})"
        return self._cold_boot(time.monotonic())

    def _cold_boot(self, start: float) -> "VmTarget":
        import paramiko
        self._prepare(self.disk)
        # A key per VM, made here: nothing of the user's is injected.
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", str(self.dir / "id")],
                       check=True)
        self._key = paramiko.Ed25519Key.from_private_key_file(str(self.dir / "id"))
        seed_iso(self.dir / "seed.iso", self.spec.flavor, (self.dir / "id.pub").read_text().strip())
        try:
            self._start(self._qemu_argv(self.dir))
            self._wait_for_ssh(start, self.boot_timeout)
            self.wait_until_booted(max(180.0, start + self.boot_timeout - time.monotonic()), interval=1)
        except BaseException:
            self.close()
            raise
        self.boot_seconds = time.monotonic() - start
        self.boot_kind = self.boot_kind or "cold boot"
        return self

    def _restore(self, start: float) -> "VmTarget":
        """Start from the recipe's template: its saved state on a new overlay over its frozen disk."""
        import paramiko
        template, built = template_for(self, lambda: VmTarget(self.spec, self.session_id, self.disk, self.kernel,
                                                               self.initrd, self.kernel_args, self.machine,
                                                               self.boot_timeout, snapshots=False))
        restore_start = time.monotonic()
        self.template = template
        self._key = paramiko.Ed25519Key.from_private_key_file(str(template.key_file))
        self._prepare(template.disk, template.dir / "efi-vars.fd")
        self._start(self._qemu_argv(template.dir) + ["-incoming", f"exec:cat {template.state}"])
        qmp = Qmp(self.qmp_socket)
        try:
            qmp.wait_status(("paused", "postmigrate"), timeout=RESTORE_TIMEOUT)   # the state is loaded
            qmp.execute("cont")
        finally:
            qmp.close()
        self._wait_for_ssh(restore_start, RESTORE_TIMEOUT)
        # The guest's clock is the template's (minutes or days behind): set it from the host.
        self.run(f"date -u -s @{int(time.time())} >/dev/null", timeout=30)
        self.wait_until_booted(60, interval=1)
        self.boot_seconds = time.monotonic() - start
        meta = template.meta()
        self.boot_kind = (f"restored from template {template.dir.name} in {time.monotonic() - restore_start:.0f} s "
                          + (f"(template built now: cold boot {meta['boot-seconds']} s, save {meta['save-seconds']} s)"
                             if built else f"(its cold boot took {meta['boot-seconds']} s)"))
        return self

    def save_to(self, directory: Path) -> float:
        """Stop this VM, write its state, and move what a restore needs into `directory`; seconds it took."""
        qmp = Qmp(self.qmp_socket)
        try:
            seconds = qmp.save(directory / "state")
            qmp.execute("quit")
        finally:
            qmp.close()
        stop_qemu(self.pid, timeout=30)
        self.pid = None
        names = [("overlay.qcow2", "disk.qcow2"), ("id", "id"), ("id.pub", "id.pub"), ("seed.iso", "seed.iso")]
        if self.machine.firmware == "efi":
            names.append(("efi-vars.fd", "efi-vars.fd"))
        for name, to in names:
            shutil.move(str(self.dir / name), str(directory / to))
        (directory / "disk.qcow2").chmod(0o444)   # frozen: every restore writes to its own overlay
        return seconds

    def _discard(self) -> None:
        """Undo a failed restore: QEMU and the run directory go, the template stays."""
        self.template = None
        if self.pid:
            stop_qemu(self.pid, timeout=0)
            self.pid = None
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.qmp_socket.unlink(missing_ok=True)

    def console_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no console output)"

    def _wait_for_ssh(self, start: float, timeout: float) -> None:
        import paramiko
        said = [time.monotonic()]

        def connect() -> paramiko.SSHClient | str:
            """A connected client, or what stands in the way (a string)."""
            if time.monotonic() - said[0] >= PROGRESS_EVERY:   # a boot under TCG takes minutes: show it moving
                said[0] = time.monotonic()
                last = [line for line in self.console_tail(5).splitlines() if line.strip()][-1:] or ["(nothing yet)"]
                log.info("VM %s: booting, %.0f s; console: %s", self.spec.id, said[0] - start, last[0].strip()[-160:],
                         extra={"progress": (None, None)})
            if not Path(f"/proc/{self.pid}").exists():
                raise InfrastructureError(f"VM {self.spec.id} (qemu pid {self.pid}) exited while booting; "
                                          f"last console lines:\n{self.console_tail()}")
            # QEMU's port forward accepts before the guest listens: wait for sshd's banner
            # on a plain socket, so paramiko only ever talks to a real sshd.
            if not ssh_banner(self.port):
                return "no SSH banner yet"
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect("127.0.0.1", port=self.port, username=USER, pkey=self._key, timeout=5,
                               banner_timeout=5, auth_timeout=5, allow_agent=False, look_for_keys=False)
                return client
            except (paramiko.SSHException, OSError) as e:
                client.close()
                return f"{e.__class__.__name__}: {e}"
        try:
            self.ssh = wait_for(f"VM {self.spec.id}: SSH as root", connect, lambda c: not isinstance(c, str),
                                timeout=max(0.0, start + timeout - time.monotonic()), interval=1)
        except WaitTimeout as e:
            raise InfrastructureError(f"VM {self.spec.id}: no SSH within {timeout:.0f}s ({e.last}); "
                                      f"last console lines:\n{self.console_tail()}") from None

    def _check_still_booting(self) -> None:
        if self.pid and not Path(f"/proc/{self.pid}").exists():
            raise InfrastructureError(f"VM {self.spec.id} (qemu pid {self.pid}) exited while booting; "
                                      f"last console lines:\n{self.console_tail()}")

    def _boot_log(self) -> str:
        return f"last console lines:\n{self.console_tail()}"

    def boot_evidence(self) -> str:
        text = super().boot_evidence() + f", accel {self.accel.split(',')[0]}, machine: {self.machine.describe()}"
        try:
            return text + f", QEMU RSS {self.memory_rss_mb():.0f} MiB"
        except OSError:   # QEMU already gone: no memory figure
            return text

    def memory_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self, timeout: float = 30) -> None:
        if self.ssh is not None:
            try:
                self.ssh.exec_command("systemctl poweroff", timeout=5)
            except Exception:  # the VM may already be gone; the kill below decides
                pass
            self.ssh.close()
            self.ssh = None
        if self.pid:
            stop_qemu(self.pid, timeout)
            self.pid = None
        if self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        self.qmp_socket.unlink(missing_ok=True)
        try:
            self.dir.parent.rmdir()  # the session's directory, once its last VM is gone
        except OSError:
            pass


def stop_qemu(pid: int, timeout: float = 30) -> None:
    """Wait for a clean shutdown, then kill by PID."""
    try:
        wait_for(f"qemu pid {pid} to exit", lambda: not Path(f"/proc/{pid}").exists(), timeout=timeout, interval=0.5)
    except WaitTimeout:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def reap_vms(session_id: str | None = None, older_than: float | None = None, dry_run: bool = False) -> list[str]:
    """Kill and remove VMs a run left: found by their run directories, named by session."""
    gone = []
    if not RUN_DIR.exists():
        return gone
    for labels in RUN_DIR.glob("*/*/labels.json"):
        try:
            info = json.loads(labels.read_text())
        except (OSError, ValueError):   # a VM being set up or removed right now
            continue
        if not selected(info, session_id, older_than):
            continue
        gone.append(labels.parent.name)
        if dry_run:
            continue
        pidfile = labels.parent / "qemu.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text())
            try:  # only if that PID is still this VM's QEMU, never a reused PID
                is_ours = labels.parent.name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                is_ours = False
            if is_ours:
                stop_qemu(pid, timeout=0)
        shutil.rmtree(labels.parent, ignore_errors=True)
        qmp_socket_for(labels.parent.name).unlink(missing_ok=True)
    for session_dir in ([] if dry_run else RUN_DIR.iterdir()):
        try:
            session_dir.rmdir()
        except OSError:
            pass
    return gone
