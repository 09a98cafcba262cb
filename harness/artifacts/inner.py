"""Images the documentation runs inside a target (`ubuntu:14.04`, `photon`).

No registry is reachable, so they come from the host: the user names one with
`--inner-image NAME=REF`, or, for stand-in self-tests, the harness builds a
small, clearly labelled substitute offline (the host's bash and busybox).
Every substitution is recorded so the report can show it.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from harness.artifacts.build import cached_image, image_exists
from harness.artifacts.probe import busybox_path
from harness.core.cache import key, tree
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.labels import CACHE_LABEL, session_labels

BUSYBOX_APPLETS = ("sh", "cat", "ls", "echo", "id", "uname", "sleep", "ps", "hostname", "httpd", "wget")


@dataclass(frozen=True)
class InnerImage:
    name: str            # as the docs write it: ubuntu:14.04, photon
    source: str          # the host image it is loaded from
    substitute: bool     # True when source is not the image the docs name
    os_release: str      # /etc/os-release of the source image

    def describe(self) -> str:
        how = "harness-built stand-in substitute" if self.substitute else "user-supplied"
        return f"{self.name} <- {self.source} ({how})"


def _shared_libs(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return sorted(set(re.findall(r"(/\S+\.so[^\s]*)", out)))


def standin_os_release(name: str) -> str:
    return (f'NAME="photon-harness stand-in for {name}"\n'
            "ID=photon-harness-standin\n"
            f'VERSION_ID="{name.replace(":", "-")}"\n'
            f'PRETTY_NAME="photon-harness substitute for {name} (Debian bash + busybox), NOT {name}"\n')


def standin_inner_image(client, name: str) -> str:
    """Build (once per input) a small offline image standing in for `name`."""
    bash = shutil.which("bash") or "/bin/bash"
    files = [bash, *_shared_libs(bash), str(busybox_path())]
    safe = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    tag = f"photon-harness/inner-{safe}:{key('inner', name, tree([Path(f) for f in files]))}"

    def build():
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            def add(path: str, data: bytes, mode: int = 0o644):
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
            for f in files:
                add(f if f != bash else "/bin/bash", Path(f).read_bytes(), 0o755)
            add("/bin/busybox", busybox_path().read_bytes(), 0o755)
            for applet in BUSYBOX_APPLETS:
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
            add("/etc/os-release", standin_os_release(name).encode())
            add("/etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n")
            add("/etc/group", b"root:x:0:\n")
            for d in ("tmp", "root", "var/www"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
        repo, version = tag.split(":")
        client.api.import_image_from_data(
            buf.getvalue(), repository=repo, tag=version,
            changes=[f"LABEL {CACHE_LABEL}=inner-standin", "ENV PATH=/bin", 'CMD ["/bin/bash"]'])
    cached_image(client, tag, build)
    return tag


def read_os_release(client, ref: str, session: str) -> str:
    """/etc/os-release of a host image, read without running it."""
    # Labelled with the run's session, so the run's own final reap (or `reap --session`) removes it
    # if the run dies before the remove below.
    container = client.containers.create(ref, command=["/bin/true"], labels=session_labels(session))
    try:
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            try:
                stream, _ = container.get_archive(path)
            except docker.errors.NotFound:
                continue
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                if member.issym():  # /etc/os-release -> ../usr/lib/os-release
                    continue
                return tar.extractfile(member).read().decode()
        raise HarnessError(f"image {ref} has no /etc/os-release")
    finally:
        container.remove(force=True)


def resolve_inner_image(client, name: str, user_ref: str | None, standin: bool, session: str) -> InnerImage:
    if user_ref:
        return InnerImage(name, user_ref, user_ref != name, read_os_release(client, user_ref, session))
    if image_exists(client, name):
        return InnerImage(name, name, False, read_os_release(client, name, session))
    if not standin:
        raise HarnessError(f"inner image {name!r} is not on this host; load it, or pass --inner-image {name}=REF")
    ref = standin_inner_image(client, name)
    return InnerImage(name, ref, True, read_os_release(client, ref, session))


def load_into_target(client, target, image: InnerImage) -> None:
    """Copy `image` from the host engine into the target's engine, tagged as the docs name it."""
    data = b"".join(client.images.get(image.source).save(named=True))
    # Infrastructure retry (never an assertion retry): one more try if the inner engine was not ready.
    for attempt in (1, 2):
        target.put_file("/var/tmp/photon-harness-inner.tar", data)
        r = target.run("docker load -i /var/tmp/photon-harness-inner.tar && rm -f /var/tmp/photon-harness-inner.tar "
                       f"&& docker tag {image.source} {image.name}", timeout=300)
        if r.ok:
            return
        if attempt == 1:
            import logging
            logging.getLogger("photon-harness").warning("loading %s failed, retrying once: %s",
                                                        image.describe(), r.stderr.strip()[-300:])
            time.sleep(2)
    raise InfrastructureError(f"loading {image.describe()} into {target.spec.id} failed twice: "
                              f"{r.stderr.strip()[-300:]}")
