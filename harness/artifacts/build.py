"""Build target images from the recipes in images/, cached by a hash of their inputs.

Two bases per flavour recipe (images/<flavour>/Dockerfile.<base>):
- photon:  FROM the user's Photon image (default photon:5.0), packages via tdnf.
- standin: FROM a Debian bookworm root file system made offline by mmdebstrap
           from images/standin/ and imported with the Docker SDK.
An image is tagged photon-harness/<base>-<flavour>:<key>, where the key hashes
every input; an existing tag is reused, a changed input gives a new tag.
"""
from __future__ import annotations

import io
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.core.cache import build_lock, hash_tree
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.labels import CACHE_LABEL
from harness.core.paths import CACHE_DIR, RECIPES, REPO_ROOT
from harness.model.config import BASES, FLAVORS

# Bump when the way images are assembled changes without a recipe file changing.




def image_exists(client, ref: str) -> bool:
    import docker.errors
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


def standin_rootfs(client, say=print) -> BuildResult:
    """The stand-in root file system image, built with mmdebstrap when its inputs change."""
    recipe = RECIPES / "standin"
    key = hash_tree([recipe])
    tag = f"photon-harness/standin-rootfs:{key}"
    start = time.monotonic()
    with build_lock(tag):
        if image_exists(client, tag):
            return BuildResult(tag, True, time.monotonic() - start)
        packages = [l.strip() for l in (recipe / "packages.txt").read_text().splitlines()
                    if l.strip() and not l.startswith("#")]
        sources = [l.strip() for l in (recipe / "sources.list").read_text().splitlines() if l.strip()]
        out = CACHE_DIR / "standin" / f"{key}.tar"
        out.parent.mkdir(parents=True, exist_ok=True)
        say(f"building stand-in root file system {tag} with mmdebstrap ({len(packages)} packages)")
        argv = ["mmdebstrap", "--mode=root", "--variant=minbase", "--format=tar",
                "--include=" + ",".join(packages),
                f"--customize-hook=copy-in {recipe / 'overlay'}/. /",
                f"--customize-hook={recipe / 'customize.sh'} \"$1\"",
                "bookworm", str(out), *sources]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            out.unlink(missing_ok=True)
            tail = "\n".join(r.stderr.strip().splitlines()[-8:])
            raise InfrastructureError(f"mmdebstrap failed (exit {r.returncode}):\n{tail}")
        repo, version = tag.split(":")
        with open(out, "rb") as f:
            client.api.import_image_from_data(f, repository=repo, tag=version,
                                              changes=[f"LABEL {CACHE_LABEL}=standin-rootfs"])
        out.unlink()
        return BuildResult(tag, False, time.monotonic() - start)


def flavor_image(client, base: str, flavor: str, photon_image: str = "photon:5.0", say=print) -> BuildResult:
    """The bootable target image for (base, flavour), from images/<flavour>/Dockerfile.<base>."""
    if base not in BASES:
        raise HarnessError(f"unknown base {base!r}; choose one of {', '.join(BASES)}")
    if flavor not in FLAVORS:
        raise HarnessError(f"unknown flavour {flavor!r}; choose one of {', '.join(FLAVORS)}")
    start = time.monotonic()
    if base == "standin":
        parent = standin_rootfs(client, say).tag
    else:
        parent = photon_image
        if not image_exists(client, parent):
            raise HarnessError(f"Photon image {parent!r} is not present locally and cannot be pulled here")
    parent_id = client.images.get(parent).id
    dockerfile = RECIPES / flavor / f"Dockerfile.{base}"
    key = hash_tree([dockerfile], extra=parent_id)
    tag = f"photon-harness/{base}-{flavor}:{key}"
    with build_lock(tag):
        if image_exists(client, tag):
            return BuildResult(tag, True, time.monotonic() - start)
        say(f"building target image {tag} from {dockerfile.relative_to(REPO_ROOT)}")
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            tar.add(dockerfile, arcname="Dockerfile")
        context.seek(0)
        import docker.errors
        try:
            client.images.build(fileobj=context, custom_context=True, tag=tag, pull=False, rm=True,
                                forcerm=True, buildargs={"BASE": parent},
                                labels={CACHE_LABEL: f"{base}-{flavor}"})
        except docker.errors.BuildError as e:
            log = "".join(x.get("stream", "") for x in e.build_log)[-2000:]
            raise InfrastructureError(f"building {tag} failed: {e.msg}\n{log}") from None
        return BuildResult(tag, False, time.monotonic() - start)


def recipe_image(client, recipe: Path, name: str, say=print) -> BuildResult:
    """A small Debian bookworm image from a recipe directory, built with mmdebstrap.

    The recipe holds packages.txt and optionally customize.sh (called with the root
    and the recipe directory). Tagged photon-harness/<name>:<hash of the recipe>.
    """
    sources_file = RECIPES / "standin" / "sources.list"
    key = hash_tree([recipe, sources_file])
    tag = f"photon-harness/{name}:{key}"
    start = time.monotonic()
    with build_lock(tag):
        if image_exists(client, tag):
            return BuildResult(tag, True, time.monotonic() - start)
        packages = [l.strip() for l in (recipe / "packages.txt").read_text().splitlines()
                    if l.strip() and not l.startswith("#")]
        sources = [l.strip() for l in sources_file.read_text().splitlines() if l.strip()]
        out = CACHE_DIR / "recipes" / f"{name}-{key}.tar"
        out.parent.mkdir(parents=True, exist_ok=True)
        say(f"building {tag} with mmdebstrap ({len(packages)} packages)")
        hooks = ([f"--customize-hook={recipe / 'customize.sh'} \"$1\" {recipe}"]
                 if (recipe / "customize.sh").exists() else [])
        argv = ["nice", "-n", "10", "mmdebstrap", "--mode=root", "--variant=minbase", "--format=tar",
                "--include=" + ",".join(packages), *hooks, "bookworm", str(out), *sources]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
            if r.returncode != 0:
                tail = "\n".join(r.stderr.strip().splitlines()[-8:])
                raise InfrastructureError(f"mmdebstrap for {tag} failed (exit {r.returncode}):\n{tail}")
            repo, version = tag.split(":")
            with open(out, "rb") as f:
                client.api.import_image_from_data(f, repository=repo, tag=version,
                                                  changes=[f"LABEL {CACHE_LABEL}={name}"])
        except subprocess.TimeoutExpired:
            raise InfrastructureError(f"mmdebstrap for {tag} ran past 1800s") from None
        finally:
            out.unlink(missing_ok=True)
        return BuildResult(tag, False, time.monotonic() - start)
