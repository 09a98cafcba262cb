"""The documented rootless set-up, applied once per test module on its own fresh target.

The fixture never raises on a deviation: it keeps every transcript and the first
stage that went wrong, and each test judges the claim it cites from them, so a
broken step fails its own claims by name instead of erroring every test.
"""
from __future__ import annotations

import secrets
import shlex
import time
from dataclasses import dataclass, field

import pytest

from fixtures.procedures import apply_documented
from harness import rootless as rl
from harness.errors import HarnessError

USER = "test_user"
# A VM boots with the kernel's default (1024); Docker sets 0 inside containers (ENVIRONMENT.md).
VM_PORT_START = 1024


@dataclass
class RootlessSetup:
    target: object
    login: rl.LoginTarget            # test_user's SSH login
    shell: rl.LoginTarget            # the same, reading ~/.bashrc (PATH, DOCKER_HOST)
    password: str
    transcripts: dict = field(default_factory=dict)
    failed: tuple[str, str] | None = None  # (stage, why) of the first stage that went wrong
    harness_changes: list[str] = field(default_factory=list)  # what the harness did that the docs do not
    deviations: list[str] = field(default_factory=list)
    subids_before: dict = field(default_factory=dict)   # after useradd, before steps a-b
    subids_after: dict = field(default_factory=dict)
    uid: str = ""
    setup_seconds: float | None = None
    daemon_ready: bool = False
    inner: object = None

    def reached(self, stage: str) -> bool:
        return stage in self.transcripts

    def require(self, stage: str, claim: str):
        """The transcript of `stage`, or fail `claim` naming where the set-up stopped."""
        if stage not in self.transcripts:
            where = f"{self.failed[0]}: {self.failed[1]}" if self.failed else "not run"
            pytest.fail(f"[{claim}] the documented set-up never reached {stage!r}; it stopped at {where}",
                        pytrace=False)
        return self.transcripts[stage]

    def record(self, record_property) -> None:
        record_property("rootless-harness-changes", " | ".join(self.harness_changes))
        if self.deviations:
            record_property("rootless-deviations", " | ".join(self.deviations))
        if self.setup_seconds is not None:
            record_property("rootless-setup-seconds", f"{self.setup_seconds:.1f}")


def _stage(setup: RootlessSetup, procedures, name: str, target) -> bool:
    t = apply_documented(procedures[name], target, stop_on_failure=False)
    setup.transcripts[name] = t
    if not t.ok:
        bad = next(o for o in t.outcomes if not o.ok)
        setup.failed = (name, f"`{bad.step.run}`: {'; '.join(bad.problems)}; "
                              f"output: {(bad.result.stdout + bad.result.stderr).strip()[-600:]!r}")
    return t.ok


def set_password(target, user: str, password: str) -> tuple[int, str]:
    """`passwd USER` as documented, typed on a terminal (it reads the password from the tty)."""
    s = target.interactive(f"passwd {user}")
    try:
        s.expect(r"(?i)new password: ?", timeout=30)
        s.send(password + "\r")
        s.expect(r"(?i)retype new password: ?", timeout=30)
        s.send(password + "\r")
        status = s.close(timeout=30)
    finally:
        if not s.closed:
            s.abort()
    return status, s.output


def read_subids(target) -> dict:
    out = {}
    for path in ("/etc/subuid", "/etc/subgid"):
        r = target.run(f"cat {path}")
        out[path] = r.stdout if r.ok else None   # None: the file does not exist
    return out


def load_inner_for_user(docker_client, setup: RootlessSetup, image) -> None:
    """Put the inner image into test_user's rootless engine (the root engine's copy is not visible there)."""
    path = "/var/tmp/photon-harness-inner-rootless.tar"
    setup.target.put_file(path, b"".join(docker_client.images.get(image.source).save(named=True)), mode=0o644)
    r = setup.shell.run(f"docker load -i {path} && docker tag {shlex.quote(image.source)} {image.name}",
                        user=USER, timeout=300)
    setup.target.run(f"rm -f {path}")
    if not r.ok:
        raise HarnessError(f"loading {image.describe()} into {USER}'s rootless engine failed: "
                           f"{(r.stdout + r.stderr).strip()[-400:]}")
    setup.inner = image


@pytest.fixture(scope="module")
def rootless(fresh_target, documented_procedures, docker_client, inner_image_source):
    t = fresh_target
    login = rl.LoginTarget(t, USER)
    setup = RootlessSetup(t, login, login.with_rc(), password="Ph-" + secrets.token_urlsafe(12))

    # Make the container look like a VM where the docs differ only because it is a container.
    r = t.run(f"sysctl -n net.ipv4.ip_unprivileged_port_start; sysctl -w net.ipv4.ip_unprivileged_port_start={VM_PORT_START}"
              " >/dev/null; chmod 666 /dev/net/tun /dev/fuse")
    setup.harness_changes.append(
        f"net.ipv4.ip_unprivileged_port_start {r.stdout.strip().splitlines()[0] if r.stdout.strip() else '?'}"
        f" -> {VM_PORT_START} (a VM's default; Docker sets 0 in containers)")
    setup.harness_changes.append("chmod 666 /dev/net/tun /dev/fuse (udev's mode on a VM; a container gets 600)")

    procs = documented_procedures
    start = time.monotonic()
    ok = _stage(setup, procs, "rootless-prerequisites", login)
    if ok:
        setup.uid = t.run(f"id -u {USER}").stdout.strip()
        setup.subids_before = read_subids(t)
        status, out = set_password(t, USER, setup.password)
        setup.transcripts["passwd"] = (status, out)
        if status != 0:
            setup.failed, ok = ("passwd", f"`passwd {USER}` exited {status}: {out[-300:]!r}"), False
    if ok:
        sshd = t.run("systemctl is-active ssh.service sshd.service | grep -qx active || systemctl start sshd.service")
        key = rl.authorize_root_key(t, USER)
        setup.harness_changes.append(f"root's SSH key authorized for {USER} (the harness logs in with it)")
        if not key.ok or not sshd.ok:
            setup.failed, ok = ("ssh", f"sshd or the harness key: {sshd.stderr.strip()} {key.stderr.strip()}"), False
    ok = ok and _stage(setup, procs, "rootless-help", login)
    ok = ok and _stage(setup, procs, "rootless-subids", login)
    if ok:
        setup.subids_after = read_subids(t)
    install = "rootless-install"
    if ok and not _stage(setup, procs, "rootless-check", login):
        why = iptables_probe_deviation(t, setup.transcripts["rootless-check"])
        if why and _stage(setup, procs, "rootless-check-skip-iptables", login):
            setup.deviations.append(why)
            setup.failed, install = None, "rootless-install-skip-iptables"
        else:
            ok = False
    ok = ok and _stage(setup, procs, install, login)
    ok = ok and _stage(setup, procs, "rootless-after-install", login)
    if ok:
        setup.daemon_ready, info = rl.wait_for_user_daemon(setup.shell, USER)
        if not setup.daemon_ready:
            setup.failed = ("daemon", f"{USER}'s rootless daemon did not answer `docker info` in 90s: {info[-400:]!r}")
        else:
            setup.setup_seconds = time.monotonic() - start
            load_inner_for_user(docker_client, setup, inner_image_source("photon"))
    yield setup


def iptables_probe_deviation(target, transcript) -> str | None:
    """If `check` failed only on its ip_tables module probe while iptables works, say exactly that."""
    out = "".join(o.result.stdout + o.result.stderr for o in transcript.outcomes)
    if "modprobe ip_tables" not in out or "--skip-iptables" not in out:
        return None
    probe = target.run("test -e /proc/modules && echo present || echo absent; "
                       "test -e /lib/modules/$(uname -r)/modules.builtin && echo present || echo absent; "
                       "iptables -L -n >/dev/null 2>&1 && echo works || echo fails").stdout.split()
    if probe != ["absent", "absent", "works"]:
        return None
    return ("`dockerd-rootless-setuptool.sh check` did not print '[INFO] Requirements are satisfied': it asks "
            "for `modprobe ip_tables` because ip_tables is listed in neither /proc/modules (absent: this "
            "kernel has no loadable modules) nor /lib/modules/$(uname -r)/modules.builtin (absent in the "
            "target), although `iptables -L` works; `check` and `install` were run with --skip-iptables")
