"""Host preparation: what `photon-harness doctor [--fix]` checks and repairs.

Each check yields one line. `--fix` installs missing Debian packages, starts
dockerd when nothing runs it, and, where the capability bounding set lacks
capabilities that `docker run --privileged` asks for, registers a runc wrapper
as dockerd's default runtime that drops those capabilities from the OCI spec.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.artifacts.probe import probe_image
from harness.core.engine import docker_client
from harness.core.checks import Check
from harness.core.errors import HarnessError
from harness.core.labels import new_session_id, session_labels
from harness.core.paths import CACHE_DIR, DOCKERD_LOG
from harness.core.wait import WaitTimeout, wait_for
from harness.infra import kind_cluster, nfs
from harness.infra.kind_cluster import INOTIFY_MINIMUMS, sysctl_path
from harness.report import allure

log = logging.getLogger(__name__)
# Each kind of resource the harness makes says what it needs from this host.
RESOURCE_CHECKS = (kind_cluster.doctor_checks, nfs.doctor_checks, allure.doctor_checks)

DAEMON_JSON = Path("/etc/docker/daemon.json")
WRAPPER_PATH = Path("/usr/local/libexec/photon-harness/runc-dropcaps")
WRAPPER_RUNTIME = "photon-harness-runc"

# command -> Debian package that provides it
HOST_PACKAGES = {
    "dockerd": "docker.io",
    "mmdebstrap": "mmdebstrap",
    "busybox": "busybox-static",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "genisoimage": "genisoimage",
    "ssh-keygen": "openssh-client",
    "grub-mkimage": "grub-pc-bin",   # the bootable stand-in disk (its OVA): GRUB's BIOS boot and core images
    "npm": "npm",                    # installs the allure command line (photon-harness report)
    "java": "default-jre-headless",  # runs it
}

# Capability names by number (linux/capability.h), as runc spells them.
CAP_NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

# The wrapper is tiny on purpose: it is on the path of every container start.
WRAPPER_SOURCE = '''#!{python} -IS
# Installed by `photon-harness doctor --fix`. This host's capability bounding
# set lacks {missing}, which `docker run --privileged` asks for, so runc fails
# with "unable to apply caps". Drop them from the OCI spec, then run runc.
import json, os, sys
DROP = set({missing!r})

def strip(caps):
    for k, v in caps.items():
        caps[k] = [c for c in v if c not in DROP]

def edit(path, process_of):
    with open(path) as f:
        doc = json.load(f)
    strip(process_of(doc).get("capabilities", {{}}))
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)

args = sys.argv[1:]
for i, a in enumerate(args):
    value = args[i + 1] if i + 1 < len(args) else None
    if a in ("--bundle", "-b") and value:       # create/run: the bundle's config.json
        edit(os.path.join(value, "config.json"), lambda d: d.get("process", {{}}))
    elif a.startswith("--bundle="):
        edit(os.path.join(a.split("=", 1)[1], "config.json"), lambda d: d.get("process", {{}}))
    elif a in ("--process", "-p") and value:    # exec: a process.json
        edit(value, lambda d: d)
    elif a.startswith("--process="):
        edit(a.split("=", 1)[1], lambda d: d)
os.execv({runc!r}, [{runc!r}] + args)
'''


def bounding_set() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise HarnessError("cannot read CapBnd from /proc/self/status")


def missing_capabilities() -> list[str]:
    """Capabilities the kernel knows that this process may never hold."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    bnd = bounding_set()
    return [CAP_NAMES[i] if i < len(CAP_NAMES) else f"CAP_{i}"
            for i in range(last + 1) if not bnd & (1 << i)]




def engine_checks(client) -> list[Check]:
    info = client.info()
    version = client.version()
    cgroup = f"v{info.get('CgroupVersion', '1')}"
    return [
        Check("docker engine", True, f"reachable, server {version.get('Version')}, API {version.get('ApiVersion')}"),
        Check("cgroups", True, f"{cgroup}, driver {info.get('CgroupDriver')}"),
        Check("storage driver", True, str(info.get("Driver"))),
        Check("default runtime", True, str(info.get("DefaultRuntime"))),
    ]


def privileged_check(client) -> Check:
    import docker.errors
    try:
        image = probe_image(client)
    except HarnessError as e:
        return Check("privileged containers", False, str(e), "photon-harness doctor --fix")
    try:
        client.containers.run(image, ["busybox", "true"], privileged=True, remove=True,
                              labels=session_labels("doctor-" + new_session_id()))
        return Check("privileged containers", True, "a --privileged container starts")
    except docker.errors.APIError as e:
        msg = str(e.explanation or e).strip().splitlines()[-1][:160]
        missing = missing_capabilities()
        hint = f"; the bounding set lacks {', '.join(missing)}" if missing else ""
        return Check("privileged containers", False, f"cannot start: {msg}{hint}",
                     "photon-harness doctor --fix (installs a runc wrapper)")


def tool_checks() -> list[Check]:
    out = []
    for cmd, pkg in HOST_PACKAGES.items():
        path = shutil.which(cmd)
        out.append(Check(cmd, bool(path), path or f"missing (Debian package {pkg})", "photon-harness doctor --fix"))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(CACHE_DIR).free / 2**30
    out.append(Check("free disk", free >= 10, f"{free:.0f} GiB free at {CACHE_DIR}", "free at least 10 GiB"))
    return out


# kind's documented minimums: below them kubelet and kube-proxy fail with "too many open files".
def raise_inotify_limits() -> None:
    for name, minimum in INOTIFY_MINIMUMS.items():
        current = int(sysctl_path(name).read_text())
        if current < minimum:
            log.info(f"fix: {name} {current} -> {minimum} (kind clusters need it)")
            sysctl_path(name).write_text(str(minimum))


def doctor(fix: bool = False) -> bool:
    """Run every check (repairing first with fix=True); True when all pass."""
    if fix:
        if os.geteuid() != 0:
            raise HarnessError("doctor --fix must run as root")
        install_missing_packages()
        start_dockerd()
        install_runc_wrapper_if_needed()
        raise_inotify_limits()
        if allure.command() is None:
            log.info(f"fix: npm install allure-commandline@{allure.VERSION} under {allure.PREFIX} "
                     "(renders the allure report; nothing outside the harness's cache)")
            allure.install()
    checks = tool_checks()
    try:
        client = docker_client()
        checks += engine_checks(client)
        checks.append(privileged_check(client))
    except HarnessError as e:
        checks.append(Check("docker engine", False, str(e), "photon-harness doctor --fix"))
    missing = missing_capabilities()
    checks.append(Check("capability bounding set", True,
                        "complete" if not missing else f"lacks {', '.join(missing)}"
                        + (f"; runc wrapper {WRAPPER_PATH} in use" if WRAPPER_PATH.exists() else "")))
    for resource_checks in RESOURCE_CHECKS:
        checks += resource_checks()
    for c in checks:
        print(c.line())
    return all(c.ok for c in checks)


def install_missing_packages() -> None:
    wanted = sorted({pkg for cmd, pkg in HOST_PACKAGES.items() if not shutil.which(cmd)})
    if not wanted:
        return
    log.info(f"fix: apt-get install {' '.join(wanted)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *wanted]):
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise HarnessError(f"{' '.join(argv)} failed: {r.stderr.strip().splitlines()[-1:]}")


def _dockerd_answers() -> bool:
    return subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                          capture_output=True, timeout=30).returncode == 0


def _under_systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def start_dockerd(timeout: float = 60) -> None:
    if _dockerd_answers():
        return
    if _under_systemd():
        log.info("fix: systemctl start docker")
        subprocess.run(["systemctl", "start", "docker"], check=False)
    else:
        log.info(f"fix: starting dockerd (no systemd on this host; log {DOCKERD_LOG})")
        # Through a shell that exits at once, so dockerd is not our child and
        # outlives this process (CI starts it once, the tests use it later).
        subprocess.run(["sh", "-c", f"setsid dockerd >>{DOCKERD_LOG} 2>&1 </dev/null &"], check=True)
    try:
        wait_for("dockerd to answer", _dockerd_answers, timeout=timeout)
    except WaitTimeout:
        tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-5:] if DOCKERD_LOG.exists() else []
        raise HarnessError(f"dockerd did not answer within {timeout:.0f}s; last log lines: {tail}") from None


def stop_dockerd(timeout: float = 60) -> None:
    if _under_systemd():
        subprocess.run(["systemctl", "stop", "docker"], check=False)
        return
    pidfile = Path("/var/run/docker.pid")
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip())
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    try:
        wait_for(f"dockerd (pid {pid}) to stop", lambda: not _alive(pid), timeout=timeout, interval=0.5)
    except WaitTimeout:
        raise HarnessError(f"dockerd (pid {pid}) did not stop within {timeout:.0f}s") from None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def install_runc_wrapper_if_needed() -> None:
    missing = missing_capabilities()
    if not missing:
        return
    runc = shutil.which("runc") or "/usr/sbin/runc"
    runc = os.path.realpath(runc)
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    source = WRAPPER_SOURCE.format(missing=missing, runc=runc, python=python)
    config = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.exists() else {}
    already = (WRAPPER_PATH.exists() and WRAPPER_PATH.read_text() == source
               and config.get("default-runtime") == WRAPPER_RUNTIME)
    if already:
        return
    log.info("fix: " + "!" * 8 + f" this host's capability bounding set lacks {', '.join(missing)}; "
        f"`docker run --privileged` cannot start. Installing {WRAPPER_PATH} as dockerd's default "
        f"runtime ({WRAPPER_RUNTIME}): it removes those capabilities from every container's OCI "
        f"spec, then runs {runc}. Edits {DAEMON_JSON} and restarts dockerd.")
    WRAPPER_PATH.parent.mkdir(parents=True, exist_ok=True)
    WRAPPER_PATH.write_text(source)
    WRAPPER_PATH.chmod(0o755)
    config.setdefault("runtimes", {})[WRAPPER_RUNTIME] = {"path": str(WRAPPER_PATH)}
    config["default-runtime"] = WRAPPER_RUNTIME
    DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(json.dumps(config, indent=2) + "\n")
    stop_dockerd()
    start_dockerd()
