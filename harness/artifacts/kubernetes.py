"""The Kubernetes layer of the full flavour: images/kubernetes/Dockerfile.<base> on top of
the full flavour image, cached by a hash of its inputs like the flavour images.

- photon:  `tdnf install -y kubernetes etcd` (Photon's own packages, nothing configured).
- standin: three Debian packages assembled here with `dpkg-deb` from images/kubernetes/standin/
           (units and /etc files written for the harness after Photon's spec) and the binaries
           of the offline Kubernetes build in ~/.cache/photon-harness/kind/bin (harness/kind.py):
           kubernetes (kube-* and kubectl), etcd, cri-tools (crictl). They are installed with
           dpkg, so `dpkg -S FILE` names the owning package as `rpm -qf FILE` does on Photon.

Tagged photon-harness/<base>-full-kubernetes:<key>; the key hashes the recipe files, the
parent image ID and, on the stand-in, the offline build's input stamps of every binary.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness.artifacts import kind_node as kind
from harness.artifacts.build import BuildResult, cached_image, image_from_files
from harness.artifacts.go_toolchain import KIND_CACHE
from harness.artifacts.kind_binaries import KUBERNETES_VERSION
from harness.core.cache import hash_tree
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.paths import RECIPES

log = logging.getLogger(__name__)

RECIPE = RECIPES / "kubernetes"
# Which binaries go into which stand-in package (Photon: kubeadm is the kubernetes-kubeadm
# subpackage and is not installed; cloud-controller-manager is not part of the offline build).
PACKAGE_BINARIES = {
    "kubernetes": ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
                   "kubectl"),
    "etcd": ("etcd",),
    "cri-tools": ("crictl",),
}
BUILD_HINT = "photon-harness kind build-node-image"


class KubernetesBinariesMissing(HarnessError):
    """The stand-in layer needs the offline Kubernetes build, which is not cached yet."""


def standin_binaries() -> dict[str, Path]:
    found, missing = kind.cached_binaries()
    needed = {b for bins in PACKAGE_BINARIES.values() for b in bins}
    absent = sorted(needed & set(missing))
    if absent:
        raise KubernetesBinariesMissing(
            f"the stand-in's kubernetes package needs the offline Kubernetes {KUBERNETES_VERSION} build "
            f"(missing in {KIND_CACHE / 'bin'}: {', '.join(absent)}); build it with `{BUILD_HINT}`")
    return {b: found[b] for b in needed}


def _version_of(binary: Path) -> str:
    """kubernetes-v1.34.4/kubelet -> 1.34.4 (the cache directory names the version)."""
    return binary.parent.name.rsplit("-v", 1)[-1]


def _stamps(bins: dict[str, Path]) -> str:
    """The offline build's own input keys (.inputs) and sizes: cheap, and change with the binaries."""
    return "\n".join(f"{n} {p.parent.name} {(p.parent / '.inputs').read_text().strip()} {p.stat().st_size}"
                     for n, p in sorted(bins.items()))


def build_debs(bins: dict[str, Path], out: Path) -> list[Path]:
    """dpkg-deb --build of each stand-in package into `out`; returns the .deb paths."""
    if shutil.which("dpkg-deb") is None:
        raise HarnessError("dpkg-deb (Debian package dpkg) is needed to assemble the stand-in's kubernetes package")
    debs = []
    for package, names in PACKAGE_BINARIES.items():
        version = _version_of(bins[names[0]]) + "-0photonharness1"
        with tempfile.TemporaryDirectory(prefix=f"ph-deb-{package}-") as tmp:
            root = Path(tmp) / package
            shutil.copytree(RECIPE / "standin" / package, root, symlinks=True)
            control = root / "DEBIAN" / "control"
            control.write_text(control.read_text().replace("@VERSION@", version))
            (root / "usr" / "bin").mkdir(parents=True, exist_ok=True)
            for n in names:
                shutil.copy(bins[n], root / "usr" / "bin" / n)
            for p in [root, *root.rglob("*")]:
                if p.is_symlink():
                    continue
                executable = p.is_dir() or p.parent.name == "bin" or p.name in ("postinst", "prerm", "postrm")
                p.chmod(0o755 if executable else 0o644)
            deb = out / f"{package}_{version}_amd64.deb"
            log.info(f"assembling stand-in package {deb.name}")
            r = subprocess.run(["nice", "-n", "10", "dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build",
                                str(root), str(deb)], capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                raise InfrastructureError(f"dpkg-deb --build {package} failed: {r.stderr.strip()[-800:]}")
            debs.append(deb)
    return debs


def kubernetes_image(client, base: str, parent: str) -> BuildResult:
    """The full flavour image `parent` plus Kubernetes, from images/kubernetes/Dockerfile.<base>."""
    start = time.monotonic()
    parent_id = client.images.get(parent).id
    dockerfile = RECIPE / f"Dockerfile.{base}"
    if not dockerfile.is_file():
        raise HarnessError(f"no Kubernetes recipe for base {base!r} ({dockerfile})")
    bins = standin_binaries() if base == "standin" else {}
    inputs = [dockerfile] + ([RECIPE / "standin"] if base == "standin" else [])
    key = hash_tree(inputs, extra=f"{parent_id}\n{_stamps(bins)}")
    tag = f"photon-harness/{base}-full-kubernetes:{key}"

    def build():
        log.info(f"building Kubernetes layer {tag} from images/kubernetes/{dockerfile.name} on {parent}")
        with tempfile.TemporaryDirectory(prefix="ph-k8s-layer-") as tmp:
            debs = build_debs(bins, Path(tmp)) if base == "standin" else []
            image_from_files(client, tag, {"Dockerfile": dockerfile, **{f"debs/{d.name}": d for d in debs}},
                             f"{base}-full-kubernetes", buildargs={"BASE": parent})
    r = cached_image(client, tag, build)
    return BuildResult(tag, r.cached, time.monotonic() - start)

