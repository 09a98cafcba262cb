"""NFS for the harness: a userspace NFS server, a userspace client probe, a FUSE mount helper.

This kernel (and CI's) has neither nfsd nor an NFS client, so everything is userspace:

- server: NFS-Ganesha (VFS backend) with rpcbind in a privileged, labelled container from a
  cached image (images/nfs-server/), exporting a fresh labelled docker volume at /export,
  read-write, no root squash, NFSv3 and NFSv4 over TCP (2049; MOUNT 20048; rpcbind 111).
  `.host` is its address on the default bridge; it also joins the `kind` network when
  that exists, so kind nodes reach it at `.address("kind")`.
- probe: libnfs-utils (nfs-cp, nfs-cat, nfs-ls) plus our nfs-rm, in a labelled container:
  write, read back, list, remove; a failure is one line naming the cause.
- mount helper: nfs-fuse (C, libnfs + libfuse3, images/nfs-fuse/) behind a /sbin/mount.nfs
  wrapper, so `mount -t nfs SERVER:/path DIR` (kubelet's way) works without kernel NFS.
  Compiled in a labelled build container, cached in CACHE_DIR/nfs-fuse/<key>/.

libnfs 4.0 speaks NFSv3 well and NFSv4 only partly, so our clients use NFSv3.
No pytest here.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.artifacts.nfs_helper import MountHelper, _tar, server_image
from harness.core.checks import Check
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.labels import session_labels
from harness.core.wait import WaitTimeout, wait_for

EXPORT_PATH = "/export"
PORTS = {"nfs": 2049, "mount": 20048, "rpcbind": 111}
KIND_NETWORK = "kind"
READY_LINE = "NFS SERVER INITIALIZED"


# Runs inside the target (a container or a kind node): keeps a real mount.nfs as *.kernel,
# so the wrapper can still use it on kernels that have NFS.
_INSTALL = """set -e
d=/usr/local/lib/photon-harness-nfs
install -m 755 $d/nfs-fuse /usr/local/sbin/nfs-fuse
if [ -e /sbin/mount.nfs ] && ! grep -q photon-harness /sbin/mount.nfs; then
    mv /sbin/mount.nfs /sbin/mount.nfs.kernel
fi
rm -f /sbin/mount.nfs4
install -m 755 $d/mount.nfs /sbin/mount.nfs
install -m 755 $d/mount.nfs /sbin/mount.nfs4
mkdir -p /var/log/nfs-fuse
"""


def install_mount_helper(container, helper: MountHelper) -> None:
    """Make `mount -t nfs` work in a running container (needs /dev/fuse and privileges)."""
    container.put_archive("/", _tar({f"usr/local/lib/photon-harness-nfs/{n}": helper.path(n)
                                     for n in ("nfs-fuse", "mount.nfs")}))
    code, output = container.exec_run(["sh", "-c", _INSTALL])
    if code != 0:
        raise InfrastructureError(f"installing the NFS mount helper in {container.name} failed: "
                                  f"{output.decode(errors='replace').strip()[-300:]}")


# ------------------------------------------------------------------------- the server

def network_exists(client, name: str) -> bool:
    # The engine's name filter matches substrings ("kind" finds "kind-2"): compare exactly.
    return any(n.name == name for n in client.networks.list(names=[name]))


@dataclass
class NfsServer:
    """An NFS export: ours (a ganesha container) or an external HOST:/path."""
    host: str                       # address on the default bridge (or the external host)
    path: str                       # export path
    addresses: dict[str, str] = field(default_factory=dict)   # docker network -> address
    client: object = field(default=None, repr=False)
    container: object = field(default=None, repr=False)   # None for an external server
    volume: object = field(default=None, repr=False)

    @property
    def spec(self) -> str:
        """HOST:/path, as `mount -t nfs` and kubelet's nfs volumes want it."""
        return f"{self.host}:{self.path}"

    def url(self, name: str = "") -> str:
        return f"nfs://{self.host}{self.path}" + (f"/{name.lstrip('/')}" if name else "")

    def address(self, network: str = "bridge") -> str:
        """The server's address as seen from containers on `network`."""
        if self.container is None:
            return self.host
        if network not in self.addresses:
            raise HarnessError(f"the NFS server is not on docker network {network!r} "
                               f"(it is on {', '.join(self.addresses)}); call connect({network!r})")
        return self.addresses[network]

    def connect(self, network: str) -> str:
        """Join docker network `network` (e.g. kind's) and return the address there."""
        if self.container is None or network in self.addresses:
            return self.address(network)
        self.client.networks.get(network).connect(self.container)
        self._read_addresses()
        return self.address(network)

    def _read_addresses(self) -> None:
        self.container.reload()
        nets = self.container.attrs["NetworkSettings"]["Networks"]
        self.addresses = {n: v["IPAddress"] for n, v in nets.items() if v.get("IPAddress")}
        self.host = self.addresses.get("bridge") or next(iter(self.addresses.values()), "")

    def log_tail(self, lines: int = 15) -> str:
        if self.container is None:
            return ""
        try:
            return self.container.logs(tail=lines).decode(errors="replace").rstrip()
        except Exception as e:  # the container may be gone already
            return f"(no log: {e.__class__.__name__})"

    def stop(self) -> None:
        """Remove the container and the export volume (nothing for an external server)."""
        import docker.errors
        if self.container is not None:
            try:
                self.container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            self.container = None
        if self.volume is not None:
            try:
                self.volume.remove(force=True)
            except docker.errors.NotFound:
                pass
            self.volume = None

    @classmethod
    def external(cls, spec: str) -> "NfsServer":
        """An existing server, `HOST:/path` (the --nfs-server option); nothing is started or stopped."""
        host, sep, path = spec.partition(":")
        if not sep or not host or not path.startswith("/"):
            raise HarnessError(f"--nfs-server {spec!r} is not HOST:/path")
        return cls(host=host, path=path.rstrip("/") or "/")

    @classmethod
    def start(cls, client, session: str, networks: list[str] | None = None, timeout: float = 60) -> "NfsServer":
        """Start ganesha exporting a fresh volume; `networks` defaults to ["kind"] if it exists."""
        import docker.errors
        image = server_image(client).tag
        name = f"photon-harness-nfs-{secrets.token_hex(4)}"
        labels = session_labels(session)
        server = cls(host="", path=EXPORT_PATH, client=client)
        try:
            server.volume = client.volumes.create(name=name, labels=labels)
            # Privileged: ganesha's VFS backend opens files by handle (CAP_DAC_READ_SEARCH)
            # and needs a file system with handles, hence a volume, not the overlay root.
            server.container = client.containers.run(
                image, ["/usr/local/sbin/nfs-server-start"], name=name, hostname="nfs-server",
                detach=True, privileged=True, labels=labels,
                volumes={server.volume.name: {"bind": EXPORT_PATH, "mode": "rw"}})
            if networks is None:
                networks = [KIND_NETWORK] if network_exists(client, KIND_NETWORK) else []
            for net in networks:
                client.networks.get(net).connect(server.container)
            server._wait_ready(timeout)
            server._read_addresses()
        except docker.errors.APIError as e:
            server.stop()
            raise InfrastructureError(f"starting the NFS server failed: {e.explanation or e}") from None
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                raise InfrastructureError(f"the NFS server exited (exit code {self.container.attrs['State']['ExitCode']}); "
                                          f"last lines of ganesha's log:\n{self.log_tail()}")
            return READY_LINE in self.container.logs(tail=200).decode(errors="replace")
        try:
            wait_for(f"the NFS server to log {READY_LINE!r}", ready, timeout=timeout, interval=0.5)
        except WaitTimeout:
            raise InfrastructureError(f"the NFS server did not come up within {timeout:.0f}s "
                                      f"(no {READY_LINE!r}); last lines of ganesha's log:\n{self.log_tail()}") from None


# ------------------------------------------------------------------------- the client probe

class NfsProbeError(InfrastructureError):
    """The export cannot be used; the message is one line naming the cause."""


@dataclass
class ProbeResult:
    server: str
    seconds: float
    listing: list[str]


def _classify(output: str) -> str:
    text = output.lower()
    if any(s in text for s in ("acces", "eperm", "permission denied", "rofs", "read-only")):
        return "permission denied"
    if any(s in text for s in ("noent", "no such file")):
        return "export not found"
    return ""


def probe(client, session: str, server: NfsServer, helper: MountHelper, network: str = "bridge",
          timeout: float = 10, uid: int | None = None) -> ProbeResult:
    """Write a file to the export, read it back, list it, remove it: libnfs in userspace.

    Runs in a labelled container on `network`, as root (AUTH_SYS uid 0) or as `uid` (with
    gid = uid): can a pod running as that user write here? Each step is bounded by `timeout`.
    Raises NfsProbeError with one line: server unreachable, export not found, permission
    denied, or the step and libnfs's message.
    """
    start = time.monotonic()
    host = server.address(network)
    spec = f"{host}:{server.path}"
    url = f"nfs://{host}{server.path}"
    creds = f"?uid={uid}&gid={uid}" if uid is not None else ""
    name = f".photon-harness-probe-{secrets.token_hex(4)}"
    payload = f"photon-harness NFS probe {name}\n"
    c = client.containers.run(helper.image, ["sleep", str(int(8 * timeout + 60))], detach=True,
                              labels=session_labels(session), network=network,
                              name=f"photon-harness-nfs-probe-{secrets.token_hex(4)}")
    try:
        c.put_archive("/", _tar({"usr/local/bin/nfs-rm": helper.path("nfs-rm"),
                                 "tmp/probe.txt": payload.encode()}))

        def run(*argv: str) -> tuple[int, str]:
            code, out = c.exec_run(["timeout", str(int(timeout)), *argv])
            return code, out.decode(errors="replace").strip()

        def fail(cause: str, step: str, code: int, out: str) -> NfsProbeError:
            detail = (f"no answer within {timeout:.0f}s" if code == 124
                      else " | ".join(l for l in out.splitlines() if l.strip())[-240:] or f"exit {code}")
            return NfsProbeError(f"NFS probe of {spec}: {cause} ({step}: {detail})")

        # 1. The MOUNT service lists the exports: is the server there, and the export?
        code, out = run("nfs-ls", "-D", f"nfs://{host}")
        if code != 0:
            raise fail("server unreachable", f"listing exports via rpcbind {PORTS['rpcbind']}/tcp and MOUNT",
                       code, out)
        exports = [l.strip()[len(f"nfs://{host}"):] for l in out.splitlines() if l.strip().startswith("nfs://")]
        if server.path not in [e.rstrip("/") or "/" for e in exports]:
            raise NfsProbeError(f"NFS probe of {spec}: export not found "
                                f"(the server exports {', '.join(exports) or 'nothing'})")
        # 2. Write, read back, list, remove.
        steps = [("writing " + name, ["nfs-cp", "/tmp/probe.txt", f"{url}/{name}{creds}"]),
                 ("reading " + name, ["nfs-cat", f"{url}/{name}{creds}"]),
                 ("listing " + server.path, ["nfs-ls", url + creds]),
                 ("removing " + name, ["nfs-rm", f"{url}/{name}{creds}"]),
                 ("listing after removal", ["nfs-ls", url + creds])]
        listing: list[str] = []
        for step, argv in steps:
            code, out = run(*argv)
            if code != 0:
                cause = "server unreachable" if code == 124 else (_classify(out) or "failed")
                raise fail(cause, step, code, out)
            if step.startswith("reading") and out != payload.strip():
                raise fail("read back different data", step, code, out[:80])
            names = [l.split()[-1] for l in out.splitlines() if l.strip()]
            if step.startswith("listing " + server.path):
                if name not in names:
                    raise fail("written file not listed", step, code, out)
                listing = [n for n in names if n != name]
            if step == "listing after removal" and name in names:
                raise fail("file still listed after removal", step, code, out)
        return ProbeResult(spec, time.monotonic() - start, listing)
    finally:
        c.remove(force=True)


def doctor_checks() -> list[Check]:
    """NFS: the kernel's client (none here), else the userspace FUSE helper, which needs /dev/fuse."""
    filesystems = Path("/proc/filesystems").read_text().split()
    kernel = "nfs" in filesystems
    fuse = Path("/dev/fuse").exists()
    return [
        Check("nfs: kernel client", True,
              "present: `mount -t nfs` uses it" if kernel else
              "none (no nfs in /proc/filesystems): `mount -t nfs` in harness containers and kind nodes "
              "will use the userspace helper nfs-fuse (libnfs + FUSE, images/nfs-fuse/)"),
        Check("nfs: /dev/fuse", fuse or kernel,
              f"{'present' if fuse else 'missing'} ({'fuse' if 'fuse' in filesystems else 'no fuse'} "
              "in /proc/filesystems)" + ("" if fuse or kernel else "; the NFS mount helper cannot work"),
              "modprobe fuse"),
    ]
