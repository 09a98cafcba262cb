"""Build target images from the recipes in images/, cached by a hash of their inputs.

Two bases per flavour recipe (images/<flavour>/Dockerfile.<base>):
- photon:  FROM the user's Photon image (default photon:5.0), packages via tdnf.
- standin: FROM a Debian bookworm root file system made offline by mmdebstrap
           from images/standin/ and imported with the Docker SDK.
An image is tagged photon-harness/<base>-<flavour>:<key>, where the key hashes
every input; an existing tag is reused, a changed input gives a new tag.

Also the shared builders every artefact uses: mmdebstrap, reading a recipe's
packages.txt, and an image from files in memory.
"""
from __future__ import annotations

import io
import logging
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from harness.core.cache import cached_build, hash_tree
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.labels import CACHE_LABEL
from harness.core.paths import CACHE_DIR, RECIPES, REPO_ROOT
from harness.model.config import BASES, FLAVORS

log = logging.getLogger(__name__)

STANDIN = RECIPES / "standin"
SOURCES = STANDIN / "sources.list"   # the Debian mirrors every mmdebstrap build uses


def image_exists(client, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


@dataclass
class BuildResult:
    tag: str
    cached: bool
    seconds: float


def read_packages(recipe: Path) -> list[str]:
    """A recipe's packages.txt: one Debian package a line, # comments."""
    return [l.strip() for l in (recipe / "packages.txt").read_text().splitlines()
            if l.strip() and not l.startswith("#")]


def read_sources(path: Path = SOURCES) -> list[str]:
    return [l.strip() for l in path.read_text().splitlines() if l.strip()]


def mmdebstrap(out: Path, packages: list[str], hooks: list[str], what: str, fmt: str = "tar",
               sources: list[str] | None = None, timeout: float = 1800) -> None:
    """A Debian bookworm minbase root file system (directory or tar) at `out`, at low priority."""
    argv = ["nice", "-n", "10", "mmdebstrap", "--mode=root", "--variant=minbase", f"--format={fmt}",
            "--include=" + ",".join(packages), *hooks, "bookworm", str(out), *(sources or read_sources())]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"mmdebstrap for {what} ran past {timeout:.0f}s") from None
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-8:])
        raise InfrastructureError(f"mmdebstrap for {what} failed (exit {r.returncode}):\n{tail}")


def rootfs_image(client, tag: str, packages: list[str], hooks: list[str], label: str,
                 sources: list[str] | None = None) -> None:
    """mmdebstrap a root file system and import it as image `tag` (the tar is removed either way)."""
    out = CACHE_DIR / "rootfs" / (tag.replace("/", "_").replace(":", "_") + ".tar")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        mmdebstrap(out, packages, hooks, tag, sources=sources)
        repo, version = tag.rsplit(":", 1)
        with open(out, "rb") as f:
            client.api.import_image_from_data(f, repository=repo, tag=version, changes=[f"LABEL {CACHE_LABEL}={label}"])
    finally:
        out.unlink(missing_ok=True)


def image_from_files(client, tag: str, files: dict[str, bytes | Path | None], label: str,
                     buildargs: dict | None = None, timeout: float = 1800, labels: dict | None = None) -> None:
    """`docker build` of a context given as files (a Dockerfile and what it copies); large files stream
    from disk; None makes a world-writable directory (a scratch image's /tmp). The image is labelled a
    cached product (`label`), or with `labels` instead (a session's own image)."""
    with tempfile.TemporaryFile() as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, content in files.items():
                if content is None:
                    info = tarfile.TarInfo(name)
                    info.type, info.mode = tarfile.DIRTYPE, 0o1777
                    tar.addfile(info)
                elif isinstance(content, Path):
                    tar.add(content, arcname=name)
                else:
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(content), 0o644
                    tar.addfile(info, io.BytesIO(content))
        context.seek(0)
        try:
            client.images.build(fileobj=context, custom_context=True, tag=tag, pull=False, rm=True, forcerm=True,
                                buildargs=buildargs or {}, labels=labels or {CACHE_LABEL: label},
                                timeout=timeout)
        except docker.errors.BuildError as e:
            log = "".join(x.get("stream", "") for x in e.build_log)[-2000:]
            raise InfrastructureError(f"building {tag} failed: {e.msg}\n{log}") from None


def cached_image(client, tag: str, build) -> BuildResult:
    """`build()` makes image `tag` unless it exists (one lock per tag across processes)."""
    b = cached_build(tag, lambda: image_exists(client, tag), build)
    return BuildResult(tag, b.cached, b.seconds)


def standin_rootfs(client) -> BuildResult:
    """The stand-in root file system image, built with mmdebstrap when its inputs change."""
    tag = f"photon-harness/standin-rootfs:{hash_tree([STANDIN])}"

    def build():
        packages = read_packages(STANDIN)
        log.info(f"building stand-in root file system {tag} with mmdebstrap ({len(packages)} packages)")
        rootfs_image(client, tag, packages, [f"--customize-hook=copy-in {STANDIN / 'overlay'}/. /",
                                             f"--customize-hook={STANDIN / 'customize.sh'} \"$1\""],
                     "standin-rootfs", sources=read_sources(STANDIN / "sources.list"))
    return cached_image(client, tag, build)


def flavor_image(client, base: str, flavor: str, photon_image: str = "photon:5.0") -> BuildResult:
    """The bootable target image for (base, flavour), from images/<flavour>/Dockerfile.<base>."""
    if base not in BASES:
        raise HarnessError(f"unknown base {base!r}; choose one of {', '.join(BASES)}")
    if flavor not in FLAVORS:
        raise HarnessError(f"unknown flavour {flavor!r}; choose one of {', '.join(FLAVORS)}")
    start = time.monotonic()
    if base == "standin":
        parent = standin_rootfs(client).tag
    else:
        parent = photon_image
        if not image_exists(client, parent):
            raise HarnessError(f"Photon image {parent!r} is not present locally and cannot be pulled here")
    dockerfile = RECIPES / flavor / f"Dockerfile.{base}"
    tag = f"photon-harness/{base}-{flavor}:{hash_tree([dockerfile], extra=client.images.get(parent).id)}"

    def build():
        log.info(f"building target image {tag} from {dockerfile.relative_to(REPO_ROOT)}")
        image_from_files(client, tag, {"Dockerfile": dockerfile}, f"{base}-{flavor}", buildargs={"BASE": parent})
    r = cached_image(client, tag, build)
    return BuildResult(tag, r.cached, time.monotonic() - start)


def recipe_image(client, recipe: Path, name: str) -> BuildResult:
    """A small Debian bookworm image from a recipe directory, built with mmdebstrap.

    The recipe holds packages.txt and optionally customize.sh (called with the root
    and the recipe directory). Tagged photon-harness/<name>:<hash of the recipe>.
    """
    tag = f"photon-harness/{name}:{hash_tree([recipe, SOURCES])}"

    def build():
        packages = read_packages(recipe)
        log.info(f"building {tag} with mmdebstrap ({len(packages)} packages)")
        hooks = ([f"--customize-hook={recipe / 'customize.sh'} \"$1\" {recipe}"]
                 if (recipe / "customize.sh").exists() else [])
        rootfs_image(client, tag, packages, hooks, name)
    return cached_image(client, tag, build)
