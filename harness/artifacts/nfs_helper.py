"""NFS artefacts: the server image (NFS-Ganesha, images/nfs-server/), the client image, and the
userspace mount helper (nfs-fuse: C, libnfs + libfuse3, images/nfs-fuse/) behind a /sbin/mount.nfs
wrapper, compiled in a labelled build container and cached in CACHE_DIR/nfs-fuse/<key>/.
The running server, the probe and the helper's installation are infra/nfs.py.
"""
from __future__ import annotations

import io
import logging
import secrets
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from harness.artifacts.build import BuildResult, recipe_image
from harness.core.cache import cached_build, hash_tree
from harness.core.errors import InfrastructureError
from harness.core.labels import new_session_id, session_labels
from harness.core.paths import CACHE_DIR, RECIPES

log = logging.getLogger(__name__)

SERVER_RECIPE = RECIPES / "nfs-server"
CLIENT_RECIPE = RECIPES / "nfs-fuse" / "image"
HELPER_SOURCES = [RECIPES / "nfs-fuse" / n for n in ("nfs-fuse.c", "nfs-rm.c", "mount.nfs", "build.sh")]
HELPER_CACHE = CACHE_DIR / "nfs-fuse"
HELPER_FILES = ("nfs-fuse", "nfs-rm", "mount.nfs")
# Where the node image gets the helper (archive path -> name in the helper's directory).
# /sbin is a link to usr/sbin in the node (merged /usr): name the real directory.
NODE_FILES = {"usr/local/sbin/nfs-fuse": "nfs-fuse", "usr/sbin/mount.nfs": "mount.nfs",
              "usr/sbin/mount.nfs4": "mount.nfs"}


def server_image(client) -> BuildResult:
    return recipe_image(client, SERVER_RECIPE, "nfs-server")


def client_image(client) -> BuildResult:
    """Debian + libnfs-utils + fuse3 + the compilers of the helper: builds and runs the clients."""
    return recipe_image(client, CLIENT_RECIPE, "nfs-client")


# ------------------------------------------------------------------------- the mount helper

@dataclass
class MountHelper:
    """The compiled helpers (nfs-fuse, nfs-rm) and the mount.nfs wrapper, in one directory."""
    dir: Path
    image: str          # the client image they were built in (and run in)
    cached: bool
    seconds: float

    def path(self, name: str) -> Path:
        return self.dir / name


def _tar(files: dict[str, bytes | Path], mode: int = 0o755) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wait_exit(container, timeout: float, what: str) -> int:
    try:
        return container.wait(timeout=timeout)["StatusCode"]
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        raise InfrastructureError(f"{what} ran past {timeout:.0f}s") from None


def mount_helper(client, session: str, timeout: float = 600) -> MountHelper:
    """Build (or reuse) nfs-fuse, nfs-rm and mount.nfs, keyed by their sources and the image."""
    start = time.monotonic()
    image = client_image(client).tag
    key = hash_tree(HELPER_SOURCES, extra=client.images.get(image).id)
    out = HELPER_CACHE / key

    def build():
        log.info(f"compiling the NFS FUSE helper into {out}")
        c = client.containers.create(image, ["sh", "-c", "mkdir -p /out && nice -n 10 sh /src/build.sh"],
                                     labels=session_labels(session),
                                     name=f"photon-harness-nfs-build-{secrets.token_hex(4)}")
        try:
            c.put_archive("/", _tar({f"src/{p.name}": p for p in HELPER_SOURCES}))
            c.start()
            code = _wait_exit(c, timeout, "compiling nfs-fuse")
            if code != 0:
                tail = c.logs().decode(errors="replace").strip().splitlines()[-10:]
                raise InfrastructureError("compiling nfs-fuse failed (exit %d):\n%s" % (code, "\n".join(tail)))
            stream, _ = c.get_archive("/out")
            staged = HELPER_CACHE / f".{key}.tmp-{secrets.token_hex(4)}"
            staged.mkdir(parents=True)
            try:
                with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                    for m in tar.getmembers():
                        if m.isfile() and Path(m.name).name in HELPER_FILES:
                            f = staged / Path(m.name).name
                            f.write_bytes(tar.extractfile(m).read())
                            f.chmod(0o755)
                shutil.rmtree(out, ignore_errors=True)
                staged.rename(out)  # whole or not at all
            finally:
                shutil.rmtree(staged, ignore_errors=True)
        finally:
            c.remove(force=True)
    b = cached_build(f"nfs-fuse-{key}", lambda: all((out / n).is_file() for n in HELPER_FILES), build)
    return MountHelper(out, image, b.cached, time.monotonic() - start)


def node_image_files(client) -> tuple[dict[str, Path], bool, str]:
    """The node stage's extra files: the compiled helper and its wrapper (built once, cached)."""
    helper = mount_helper(client, new_session_id())
    return {arc: helper.path(name) for arc, name in NODE_FILES.items()}, helper.cached, f"({helper.dir.name})"
