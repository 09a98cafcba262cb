"""The matrix runner image: the harness at the caller's tree, its dependencies at the versions
installed here, and a Docker daemon, for `photon-harness matrix run` to start as pods.

Offline (no registry) the image also carries the target images the run boots (`docker save`d,
loaded into the pod's own daemon at start), because a pod's daemon cannot pull or build them:
the stand-in's root file system comes from mmdebstrap on this machine. The inner images and the
probe are small and build from busybox in the pod itself. The tag hashes every input.
"""
from __future__ import annotations

import importlib.metadata
import logging
import re
import subprocess
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

from harness.artifacts.build import BuildResult, cached_image, image_from_files, recipe_image
from harness.core.cache import file_digest, key
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.paths import CACHE_DIR, RECIPES, REPO_ROOT

log = logging.getLogger(__name__)

RECIPE = RECIPES / "matrix-runner"
# The recipe's base is Debian bookworm: wheels are fetched for its Python and C library (glibc 2.36;
# pip takes the platforms literally, so every older manylinux tag is listed too).
PYTHON_VERSION = "3.11"
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(36, 16, -1)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
IMAGES_TAR = "/opt/photon-harness-images.tar"
SOURCE_DIR = "/opt/photon-harness"

DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY wheels/ /opt/wheels/
RUN python3 -m pip install -q --no-index --no-deps --break-system-packages --disable-pip-version-check \
    /opt/wheels/*.whl && rm -rf /opt/wheels
COPY images.tar %(images)s
COPY src/ %(source)s/
ENV PHOTON_HARNESS_VERSION="%(version)s" PHOTON_HARNESS_CACHE=/var/cache/photon-harness
WORKDIR %(source)s
ENTRYPOINT ["python3", "-m", "harness", "matrix", "shard"]
"""


def dependency_pins(dist: str = "photon-harness") -> list[str]:
    """name==version of every distribution `dist` needs (transitively), as installed here."""
    pins, todo, seen = {}, [dist], set()
    while todo:
        name = todo.pop()
        norm = re.sub(r"[-_.]+", "-", name).lower()
        if norm in seen:
            continue
        seen.add(norm)
        try:
            d = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise HarnessError(f"{name} is not installed here; run scripts/setup first") from None
        if norm != dist:
            pins[norm] = f"{norm}=={d.version}"
        for text in d.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(pins.values())


def wheelhouse(pins: list[str]) -> Path:
    """Wheels of exactly these versions for the image's Python, downloaded once and cached."""
    where = CACHE_DIR / "matrix-runner" / f"wheels-{key(pins, PYTHON_VERSION, PLATFORMS)}"
    if (where / ".complete").exists():
        return where
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["python3", "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                        "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
                        *(a for p in PLATFORMS for a in ("--platform", p)), "-d", str(where), *pins],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise InfrastructureError(f"pip download of the runner's wheels failed: {r.stderr.strip()[-1500:]}")
    (where / ".complete").write_text("\n".join(pins) + "\n")
    return where


def source_files() -> list[str]:
    """The harness's tree as the caller has it: tracked and new files, not ignored ones."""
    r = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise HarnessError(f"{REPO_ROOT} is not a git checkout: the runner image is built from one")
    return sorted(f for f in r.stdout.split("\0") if f and (REPO_ROOT / f).is_file())


def source_version() -> str:
    """The commit the runner's tree is at, and whether it has changes not committed."""
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head + ("+changes" if dirty else "")


def runner_image(client, preload: list[str]) -> BuildResult:
    """The runner image with these local images inside, built unless its tag exists."""
    base = recipe_image(client, RECIPE, "matrix-runner-base").tag
    pins = dependency_pins()
    files = source_files()
    version = source_version()
    image_ids = [client.images.get(ref).id for ref in preload]
    tag = "photon-harness/matrix-runner:" + key(
        base, pins, [(f, file_digest(REPO_ROOT / f)) for f in files], sorted(zip(preload, image_ids)), version)

    def build():
        wheels = wheelhouse(pins)
        with tempfile.TemporaryDirectory(prefix="matrix-runner-") as tmp:
            images = Path(tmp) / "images.tar"
            log.info(f"building {tag}: the harness at {version}, {len(pins)} wheels, {len(preload)} target images")
            r = subprocess.run(["docker", "save", "-o", str(images), *preload], capture_output=True, text=True,
                               timeout=900)
            if r.returncode != 0:
                raise InfrastructureError(f"docker save of {' '.join(preload)} failed: {r.stderr.strip()}")
            context: dict[str, bytes | Path | None] = {
                "Dockerfile": (DOCKERFILE % {"images": IMAGES_TAR, "source": SOURCE_DIR, "version": version}).encode(),
                "wheels": wheels, "images.tar": images}
            context.update({f"src/{f}": REPO_ROOT / f for f in files})
            image_from_files(client, tag, context, "matrix-runner", buildargs={"BASE": base})
    return cached_image(client, tag, build)
