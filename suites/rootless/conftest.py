"""The documented rootless set-up, applied once per test module on its own fresh target.

The fixture never raises on a deviation: it keeps every transcript and the first
stage that went wrong, and each test judges the claim it cites from them, so a
broken step fails its own claims by name instead of erroring every test.
"""
from __future__ import annotations

import re
import secrets
import shlex
import time
from dataclasses import dataclass, field, replace

import pytest

from fixtures.procedures import apply_documented
from harness.checks import rootless as rl
from harness.core.errors import HarnessError
from harness.model.verdicts import ClaimBlocked
from harness.model import procedures as proc

USER = "test_user"
# A VM boots with the kernel's default (1024); Docker sets 0 inside containers (ENVIRONMENT.md).
VM_PORT_START = 1024
# Bound for test_user's rootless daemon to answer after a (re)start on a VM or host. Under TCG on a
# busy 2-core machine it took 44-81 s, and one `ssh test_user@localhost docker info` 20-40 s; the
# wait ends as soon as the daemon answers. `dockerd-rootless-setuptool.sh install` gives it 3 s.
DAEMON_ANSWER_TIMEOUT = 600


@dataclass
class RootlessSetup:
    target: object
    login: rl.LoginTarget            # test_user's SSH login
    shell: rl.LoginTarget            # the same, reading ~/.bashrc (PATH, DOCKER_HOST)
    password: str
    transcripts: dict = field(default_factory=dict)
    failed: tuple[str, str] | None = None  # (stage, why) of the first stage that went wrong
    failed_claims: tuple[str, ...] = ()    # the claims of the step that went wrong there
    harness_changes: list[str] = field(default_factory=list)  # what the harness did that the docs do not
    deviations: list[str] = field(default_factory=list)
    subids_before: dict = field(default_factory=dict)   # after useradd, before steps a-b
    subids_after: dict = field(default_factory=dict)
    uid: str = ""
    setup_seconds: float | None = None
    daemon_ready: bool = False
    inner: object = None
    install_stage: str = "rootless-install"   # the documented install as run (plain or --skip-iptables)
    install_rerun: str | None = None          # why `install` was run a second time (see install_race)
    install_rerun_stage: str | None = None    # the transcript of that second run
    daemon_timeout: float = 90                # bound for the rootless daemon to answer after a (re)start

    def reached(self, stage: str) -> bool:
        return stage in self.transcripts

    def require(self, stage: str, claim: str):
        """The transcript of `stage`; if the set-up never got there, `claim` is blocked by the step that failed."""
        if stage not in self.transcripts:
            if not self.failed:
                pytest.fail(f"[{claim}] the documented set-up never reached {stage!r} and recorded no failure",
                            pytrace=False)
            raise ClaimBlocked(claim, f"in {self.failed[0]!r} (before {stage!r})", self.failed_claims,
                               self.failed[1][:600])
        return self.transcripts[stage]

    def wait_for_daemon(self) -> tuple[bool, str]:
        return rl.wait_for_user_daemon(self.shell, USER, self.daemon_timeout)

    def record(self, record_property) -> None:
        record_property("rootless-harness-changes", " | ".join(self.harness_changes))
        if self.deviations:
            record_property("rootless-deviations", " | ".join(self.deviations))
        if self.setup_seconds is not None:
            record_property("rootless-setup-seconds", f"{self.setup_seconds:.1f}")


def _stage(setup: RootlessSetup, procedures, name: str, target, procedure: proc.Procedure | None = None) -> bool:
    t = apply_documented(procedure or procedures[name], target, stop_on_failure=False)
    setup.transcripts[name] = t
    if not t.ok:
        bad = next(o for o in t.outcomes if not o.ok)
        setup.failed = (name, f"`{bad.step.run}`: {'; '.join(bad.problems)}; "
                              f"output: {(bad.result.stdout + bad.result.stderr).strip()[-600:]!r}")
        setup.failed_claims = bad.step.claims
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
    if t.spec.backend != "container":
        setup.daemon_timeout = DAEMON_ANSWER_TIMEOUT

    if t.spec.backend == "container":
        # Make the container look like a VM where the docs differ only because it is a container.
        r = t.run(f"sysctl -n net.ipv4.ip_unprivileged_port_start; sysctl -w net.ipv4.ip_unprivileged_port_start={VM_PORT_START}"
                  " >/dev/null; chmod 666 /dev/net/tun /dev/fuse")
        setup.harness_changes.append(
            f"net.ipv4.ip_unprivileged_port_start {r.stdout.strip().splitlines()[0] if r.stdout.strip() else '?'}"
            f" -> {VM_PORT_START} (a VM's default; Docker sets 0 in containers)")
        setup.harness_changes.append("chmod 666 /dev/net/tun /dev/fuse (udev's mode on a VM; a container gets 600)")
    else:
        # A VM or a real host is taken as booted: record what it has, change nothing.
        r = t.run("echo ip_unprivileged_port_start=$(sysctl -n net.ipv4.ip_unprivileged_port_start) "
                  "$(stat -c '%n=%a' /dev/net/tun /dev/fuse 2>&1)")
        setup.harness_changes.append(f"none to the {t.spec.backend} as booted ({' '.join(r.stdout.split())})")

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
            setup.failed_claims = ("R4",)
    if ok:
        sshd = t.run("systemctl is-active ssh.service sshd.service | grep -qx active || systemctl start sshd.service")
        key = rl.authorize_root_key(t, USER)
        setup.harness_changes.append(f"root's SSH key authorized for {USER} (the harness logs in with it)")
        if not key.ok or not sshd.ok:
            setup.failed, ok = ("ssh", f"sshd or the harness key: {sshd.stderr.strip()} {key.stderr.strip()}"), False
            setup.failed_claims = ("R4",)
    ok = ok and _stage(setup, procs, "rootless-help", login)
    ok = ok and _stage(setup, procs, "rootless-subids", login)
    if ok:
        setup.subids_after = read_subids(t)
    install = "rootless-install"
    if ok and not _stage(setup, procs, "rootless-check", login):
        why, probe = iptables_probe_deviation(t, setup.transcripts["rootless-check"])
        if why and _stage(setup, procs, "rootless-check-skip-iptables", login):
            setup.deviations.append(why)
            setup.failed, install = None, "rootless-install-skip-iptables"
        else:
            ok = False
            if probe and setup.failed:
                setup.failed = (setup.failed[0], f"{setup.failed[1]}; harness probe: {probe}")
    setup.install_stage = install
    if ok and not _stage(setup, procs, install, login):
        if install_race(setup.transcripts[install]):
            rerun = install_when_daemon_answers(procs[install])
            if _stage(setup, procs, rerun.name, login, rerun):
                answered = re.search(r"answered (\d+)s after", setup.transcripts[rerun.name].outcomes[0].result.stdout)
                setup.install_rerun = (
                    f"`dockerd-rootless-setuptool.sh install` starts docker.service, sleeps 3 s and runs `docker version`; "
                    f"here the daemon was not answering yet, so install exited 1 before enabling the unit or printing "
                    f"'Installed docker.service successfully' (docker/docker-install#102). The rootless daemon answered "
                    f"{answered.group(1) + ' s' if answered else 'later than 3 s'} after docker.service became active; "
                    f"the harness waited for that (at most {DAEMON_ANSWER_TIMEOUT} s) and ran the same install again "
                    f"in one login, which succeeded")
                setup.deviations.append(setup.install_rerun)
                setup.install_rerun_stage = rerun.name
                setup.failed = None
            else:
                ok = False
        else:
            ok = False
    ok = ok and _stage(setup, procs, "rootless-after-install", login)
    if ok:
        setup.daemon_ready, info = setup.wait_for_daemon()
        if not setup.daemon_ready:
            setup.failed = ("daemon", f"{USER}'s rootless daemon did not answer `docker info` in "
                                      f"{setup.daemon_timeout:.0f}s: {info[-400:]!r}")
            setup.failed_claims = ("R7",)
        else:
            setup.setup_seconds = time.monotonic() - start
            load_inner_for_user(docker_client, setup, inner_image_source("photon"))
    yield setup


def iptables_probe_deviation(target, transcript) -> tuple[str | None, str | None]:
    """If `check` failed only on its ip_tables module probe while iptables works, say exactly that.

    Returns (the deviation or None, what the harness's own probe found, if it ran).
    """
    out = "".join(o.result.stdout + o.result.stderr for o in transcript.outcomes)
    if "modprobe ip_tables" not in out or "--skip-iptables" not in out:
        return None, None
    # -w: the target's own dockerd may hold the xtables lock while it sets up its chains (a slow boot);
    # without it `iptables -L` fails at once and a working iptables would read as broken.
    r = target.run("test -e /proc/modules && echo present || echo absent; "
                   "test -e /lib/modules/$(uname -r)/modules.builtin && echo present || echo absent; "
                   "iptables -w 60 -L -n >/dev/null 2>/tmp/photon-harness-iptables.err && echo works "
                   "|| { echo fails; cat /tmp/photon-harness-iptables.err; }; rm -f /tmp/photon-harness-iptables.err",
                   timeout=120)
    probe = r.stdout.split(None, 3)
    found = ("/proc/modules {}, modules.builtin {}, `iptables -L` {}".format(*probe[:3])
             + (f": {probe[3].strip()[-300:]}" if len(probe) > 3 else "")) if len(probe) >= 3 else r.stdout + r.stderr
    if probe[:3] != ["absent", "absent", "works"]:
        return None, found
    return ("`dockerd-rootless-setuptool.sh check` did not print '[INFO] Requirements are satisfied': it asks "
            "for `modprobe ip_tables` because ip_tables is listed in neither /proc/modules (absent: this "
            "kernel has no loadable modules) nor /lib/modules/$(uname -r)/modules.builtin (absent in the "
            "target), although `iptables -L` works; `check` and `install` were run with --skip-iptables"), found


def install_race(transcript) -> bool:
    """`install` failed only because its `docker version`, 3 s after starting docker.service, found no daemon."""
    out = "".join(o.result.stdout + o.result.stderr for o in transcript.outcomes)
    return ("+ sleep 3" in out and "Active: active (running)" in out
            and "Cannot connect to the Docker daemon" in out and "Installed docker.service" not in out)


def install_when_daemon_answers(install: proc.Procedure) -> proc.Procedure:
    """The same documented `install`, run in one login once test_user's daemon answers `docker version`.

    One SSH login for both, so test_user's systemd instance (no linger yet) keeps docker.service up.
    Prints how long after docker.service became active the daemon answered.
    """
    step = install.steps[0]
    wait = ("systemctl --user start docker.service || exit 1; "
            f"end=$(( $(date +%s) + {DAEMON_ANSWER_TIMEOUT} )); "
            "until DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock docker version >/dev/null 2>&1; do "
            "[ $(date +%s) -lt $end ] || { echo 'photon-harness: the rootless daemon never answered' >&2; exit 1; }; "
            "sleep 1; done; "
            "up=$(date -d \"$(systemctl --user show -p ActiveEnterTimestamp --value docker.service)\" +%s); "
            "echo \"photon-harness: the daemon answered $(( $(date +%s) - up ))s after docker.service became active\"; ")
    return replace(install, name=install.name + "-when-daemon-answers",
                   source="harness: wait for the rootless daemon to answer, then run the documented install again",
                   steps=(replace(step, run=wait + step.run, timeout=step.timeout + DAEMON_ANSWER_TIMEOUT,
                                  name=f"wait for the daemon, then: {step.run}"),))
