"""kind clusters with no registry: an offline kind node image, built from Go modules.

`build_node_image()` runs these stages, each printed with the time it took, each cached
by its inputs under CACHE_DIR/kind (binaries) or as labelled images (CACHE_LABEL):

  modules      download the kind and Kubernetes modules (their files are recipe inputs)
  kind         `go install sigs.k8s.io/kind@KIND` into CACHE_DIR/kind/bin/kind-KIND/
  kubernetes   kubeadm, kubelet, kubectl, kube-{apiserver,controller-manager,scheduler,proxy}
               built from a generated wrapper module (staging modules replaced by v0.X.Y)
  etcd, coredns, crictl   the same way, at the versions kubeadm expects
  pause        gcc -static of build/pause/linux/pause.c from the Kubernetes module
  rootfs       a Debian bookworm root file system (mmdebstrap) with kind's base image files
  images       one small image per component, tagged as `kubeadm config images list` says,
               and photon-podnet, the pod network (images/kind-node/podnet/), in place of
               kindnetd: its Go module is not on the proxy
  nfs-fuse     the userspace NFS mount helper (images/nfs-fuse/, harness/nfs_volumes.py)
  node         the root file system + binaries + nfs-fuse + images preloaded into containerd, committed

The recipe lives in images/kind-node/; kind's own base files (entrypoint, units, containerd
config) are read from the kind module in the Go module cache at build time.
No pytest here.
"""
from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.artifacts.build import cached_image, image_from_files, read_packages, read_sources, rootfs_image
from harness.artifacts.go_toolchain import KIND_CACHE, NotCached, run
from harness.artifacts.kind_binaries import (
    CRICTL_VERSION, K8S_COMMANDS, KUBERNETES_VERSION, Stage, Stages, Versions, build_binaries
)
from harness.artifacts.nfs_helper import node_image_files
from harness.core.cache import file_digest, key, tree
from harness.core.errors import InfrastructureError
from harness.core.labels import CACHE_LABEL, new_session_id, session_labels
from harness.core.paths import REPO_ROOT

log = logging.getLogger(__name__)

RECIPE = REPO_ROOT / "images" / "kind-node"

# Images that need iptables/nftables in them (the rest are FROM scratch).
NEEDS_NETFILTER = ("kube-proxy",)
PODNET_REF = "photon-harness.local/podnet:v1"  # only ever inside the node, never pulled
# How long a cold build takes, as measured (README: 9.5 and 15.7 min on idle fresh 2-core machines,
# up to 25 with other work beside it); every message that mentions it says this.
COLD_BUILD_TIME = "10-25 min cold on 2 cores"



# ---------------------------------------------------------------- Go toolchain helpers

# ---------------------------------------------------------------- the image

@dataclass
class NodeImage:
    tag: str
    versions: Versions
    stages: list[Stage] = field(default_factory=list)
    bins: dict[str, Path] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


# ---------------------------------------------------------------- images

def node_rootfs(client, kind_dir: Path):
    """Debian bookworm + the node's packages + kind's base files (from the kind module)."""
    base_files = kind_dir / "images/base/files"
    if not base_files.is_dir():
        raise InfrastructureError(f"kind module has no images/base/files: {kind_dir}")
    # Only the root file system's own inputs: node/ and netfilter-base/ feed later stages.
    own = [(f, file_digest(RECIPE / f)) for f in ("packages.txt", "sources.list", "customize.sh")]
    digest = key("node-rootfs", own, tree([base_files], base_files))
    tag = f"photon-harness/kind-node-rootfs:{digest}"

    def build():
        # The module cache is read-only (0444/0555): copy with the modes kind's Dockerfile gives.
        with tempfile.TemporaryDirectory(prefix="kind-base-files-") as staged:
            staged = Path(staged) / "files"
            shutil.copytree(base_files, staged)
            for p in [staged, *staged.rglob("*")]:
                p.chmod(0o755 if p.is_dir() else 0o644)
            rootfs_image(client, tag, read_packages(RECIPE), [f"--customize-hook=copy-in {staged}/. /",
                                                              f"--customize-hook={RECIPE / 'customize.sh'} \"$1\""],
                         "kind-node-rootfs", sources=read_sources(RECIPE / "sources.list"))
    return tag, cached_image(client, tag, build).cached, ""


def netfilter_base(client):
    """The small base of the images that need iptables (kube-proxy, photon-podnet)."""
    recipe = RECIPE / "netfilter-base"
    digest = key("netfilter-base", tree([recipe], recipe), (RECIPE / "sources.list").read_text())
    tag = f"photon-harness/kind-netfilter-base:{digest}"

    def build():
        rootfs_image(client, tag, read_packages(recipe), [f"--customize-hook=copy-in {recipe / 'iptables-wrapper'} /usr/sbin",
                                                          f"--customize-hook={recipe / 'customize.sh'} \"$1\""],
                     "kind-netfilter-base", sources=read_sources(RECIPE / "sources.list"))
    return tag, cached_image(client, tag, build).cached, ""


def image_refs(v: Versions, kubeadm: Path) -> dict[str, str]:
    """component -> the reference kubeadm (and the CNI manifest) will ask containerd for."""
    out = run([str(kubeadm), "config", "images", "list", "--kubernetes-version", v.kubernetes],
               "kubeadm config images list")
    refs = {}
    for ref in out.split():
        name = ref.rsplit("/", 1)[-1].split(":")[0]
        refs[name] = ref
    refs["podnet"] = PODNET_REF
    expected = {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd",
                "coredns", "pause", "podnet"}
    if set(refs) != expected:
        raise InfrastructureError(f"kubeadm lists unexpected images: {sorted(refs)}")
    return refs


# Where each binary goes in its image and what the image runs (kubeadm's manifests set
# `command` for the control plane and kube-proxy; coredns and pause rely on the entrypoint).
IMAGE_LAYOUT = {
    "kube-apiserver": ("/usr/local/bin/kube-apiserver", None),
    "kube-controller-manager": ("/usr/local/bin/kube-controller-manager", None),
    "kube-scheduler": ("/usr/local/bin/kube-scheduler", None),
    "kube-proxy": ("/usr/local/bin/kube-proxy", None),
    "etcd": ("/usr/local/bin/etcd", None),
    "coredns": ("/coredns", ["/coredns"]),
    "pause": ("/pause", ["/pause"]),
}


def component_image(client, name: str, binary: Path, base: str | None):
    path, entrypoint = IMAGE_LAYOUT[name]
    base_id = client.images.get(base).id if base else "scratch"
    dockerfile = [f"FROM {base or 'scratch'}", f"COPY {name} {path}"]
    if base is None:
        dockerfile.append("COPY tmp/ /tmp/")
    if entrypoint:
        dockerfile.append(f"ENTRYPOINT {json.dumps(entrypoint)}")
    dockerfile = "\n".join(dockerfile) + "\n"
    digest = key("component", name, dockerfile, base_id, file_digest(binary))
    tag = f"photon-harness/kind-image-{name}:{digest}"
    files = {"Dockerfile": dockerfile.encode(), name: binary, "tmp": None}
    return tag, cached_image(client, tag, lambda: image_from_files(client, tag, files, f"kind-image-{name}")).cached, ""


def podnet_image(client, base: str, kubectl: Path):
    """photon-podnet: the netfilter base + kubectl + images/kind-node/podnet/podnet.sh."""
    script = RECIPE / "podnet" / "podnet.sh"
    dockerfile = (f"FROM {base}\nCOPY kubectl /usr/local/bin/kubectl\nCOPY podnet.sh /usr/local/bin/podnet.sh\n"
                  'ENTRYPOINT ["/usr/local/bin/podnet.sh"]\n')
    digest = key("podnet", dockerfile, client.images.get(base).id, file_digest(kubectl), file_digest(script))
    tag = f"photon-harness/kind-image-podnet:{digest}"
    files = {"Dockerfile": dockerfile.encode(), "kubectl": kubectl, "podnet.sh": script}
    return tag, cached_image(client, tag, lambda: image_from_files(client, tag, files, "kind-image-podnet")).cached, ""


def _saved_as(client, tag: str, ref: str) -> bytes:
    """`docker save` of `tag`, with the archive's name rewritten to `ref` (no global tag needed)."""
    raw = b"".join(client.images.get(tag).save(named=True))
    src = tarfile.open(fileobj=io.BytesIO(raw))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name == "manifest.json":
                manifest = json.loads(data)
                for entry in manifest:
                    entry["RepoTags"] = [ref]
                data = json.dumps(manifest).encode()
                m.size = len(data)
            elif m.name == "repositories":
                continue
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def node_image(client, v: Versions, bins: dict[str, Path], rootfs: str, images: dict[str, str],
               refs: dict[str, str], extra: dict[str, Path] | None = None):
    """Start the root file system in a container, add binaries and preload images, commit.
    extra: more files for the node, archive path -> file (the NFS mount helper)."""
    extra = extra or {}
    ids = {n: client.images.get(t).id for n, t in images.items()}
    digest = key("node", client.images.get(rootfs).id, ids, refs, tree([RECIPE / "node"], RECIPE / "node"),
               {n: file_digest(bins[n]) for n in ("kubeadm", "kubelet", "kubectl", "crictl")},
               *([{a: file_digest(f) for a, f in sorted(extra.items())}] if extra else []))
    tag = f"photon-harness/kind-node:{v.kubernetes}-{digest}"
    def build():
        session = new_session_id()
        c = client.containers.run(rootfs, ["sleep", "infinity"], detach=True, privileged=True,
                                  labels=session_labels(session), name=f"photon-harness-kind-build-{session}",
                                  tmpfs={"/run": ""}, network_mode="none",
                                  environment={"container": "docker"})
        ctx = tempfile.TemporaryFile(dir=KIND_CACHE)  # ~1 GB: binaries and image archives
        try:
            with tarfile.open(fileobj=ctx, mode="w") as tar:
                for n in ("kubeadm", "kubelet", "kubectl"):
                    tar.add(bins[n], arcname=f"usr/bin/{n}")
                tar.add(bins["crictl"], arcname="usr/local/bin/crictl")
                for arcname, f in sorted(extra.items()):
                    tar.add(f, arcname=arcname)
                for f in sorted((RECIPE / "node").rglob("*")):
                    tar.add(f, arcname=str(f.relative_to(RECIPE / "node")), recursive=False)
                for text, path in ((v.kubernetes + "\n", "kind/version"),
                                   (default_cni_manifest(refs["podnet"]), "kind/manifests/default-cni.yaml"),
                                   (json.dumps(refs, indent=1) + "\n", "kind/images.json")):
                    data = text.encode()
                    ti = tarfile.TarInfo(path)
                    ti.size, ti.mode = len(data), 0o644
                    tar.addfile(ti, io.BytesIO(data))
                for name, ref in sorted(refs.items()):
                    data = _saved_as(client, images[name], ref)
                    ti = tarfile.TarInfo(f"kind/images/{name}.tar")
                    ti.size, ti.mode = len(data), 0o644
                    tar.addfile(ti, io.BytesIO(data))
            ctx.seek(0)
            c.put_archive("/", ctx)
            ctx.close()
            r = c.exec_run(["/bin/bash", "/kind/bin/photon-preload.sh", refs["pause"]])
            if r.exit_code != 0:
                raise InfrastructureError(f"preloading images failed (exit {r.exit_code}):\n"
                                          + r.output.decode(errors="replace")[-3000:])
            c.stop(timeout=5)
            # Flatten into one layer with `export | import`: a commit would carry the build
            # container's session labels into the image (and kind's nodes), and they cannot be
            # removed later; import refuses STOPSIGNAL, so a one-line build adds it.
            changes = [f"LABEL {CACHE_LABEL}=kind-node", "ENV container=docker",
                       'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]', "CMD []"]
            exp = subprocess.Popen(["docker", "export", c.id], stdout=subprocess.PIPE)
            imp = subprocess.run(["docker", "import", *[a for ch in changes for a in ("--change", ch)], "-"],
                                 stdin=exp.stdout, capture_output=True, text=True, timeout=1800)
            exp.stdout.close()
            if exp.wait(timeout=60) != 0 or imp.returncode != 0:
                raise InfrastructureError(f"docker export | docker import of the node failed: {imp.stderr.strip()}")
            flat = imp.stdout.strip()
            dockerfile = f"FROM {flat}\nSTOPSIGNAL SIGRTMIN+3\n".encode()
            import docker.errors
            try:
                client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, pull=False, rm=True, forcerm=True)
            except docker.errors.BuildError as e:
                raise InfrastructureError(f"building {tag} failed: {e.msg}") from None
        finally:
            ctx.close()
            c.remove(force=True, v=True)
    return tag, cached_image(client, tag, build).cached, ""


def default_cni_manifest(podnet_ref: str) -> str:
    """The manifest kind applies at cluster creation: photon-podnet, with kind's template
    markers left for kind to fill (pod subnet, control-plane endpoint)."""
    return (RECIPE / "podnet" / "podnet.yaml").read_text().replace("PODNET_IMAGE", podnet_ref)


def go_builds_cached(versions: Versions | None = None) -> bool:
    """Every Go build of the offline node image is cached (under a second to check)."""
    try:
        build_binaries(versions or Versions(), Stages(cold_ok=False))
    except NotCached:
        return False
    return True


def build_node_image(client, versions: Versions | None = None,
                     cold_go_builds: bool = True) -> NodeImage:
    """The offline node image. cold_go_builds=False raises NotCached rather than start a Go
    build (the Go builds take 12 min or more on 2 cores); image stages are built either way."""
    v = versions or Versions()
    stages = Stages(cold_go_builds)
    bins = build_binaries(v, stages)
    rootfs = stages.run("rootfs", node_rootfs, client, bins["_kind_dir"])
    base = stages.run("netfilter-base", netfilter_base, client)
    refs = image_refs(v, bins["kubeadm"])
    images = {}
    bin_of = {"kube-apiserver": "kube-apiserver", "kube-controller-manager": "kube-controller-manager",
              "kube-scheduler": "kube-scheduler", "kube-proxy": "kube-proxy", "etcd": "etcd",
              "coredns": "coredns", "pause": "pause"}
    for name in sorted(bin_of):
        images[name] = stages.run(f"image {refs[name]}", component_image, client, name, bins[bin_of[name]],
                                  base if name in NEEDS_NETFILTER else None)
    images["podnet"] = stages.run(f"image {refs['podnet']}", podnet_image, client, base, bins["kubectl"])
    nfs = stages.run("nfs-fuse", node_image_files, client)
    tag = stages.run("node", node_image, client, v, bins, rootfs, images, refs, extra=nfs)
    size = client.images.get(tag).attrs.get("Size", 0) / 2**20
    log.info(f"[kind] node image {tag} ({size:.0f} MiB) in {time.monotonic() - stages.t0:.0f}s")
    return NodeImage(tag, v, stages.done, bins)




# ---------------------------------------------------------------- cached binaries for other recipes

def cached_binaries(kubernetes: str = KUBERNETES_VERSION, crictl: str = CRICTL_VERSION) -> tuple[dict[str, Path], list[str]]:
    """The offline build's binaries already in CACHE/kind/bin, without building or downloading.

    Returns (name -> path, names missing). Names: K8S_COMMANDS, etcd, crictl, pause; etcd and
    pause are the newest cached versions (`build-node-image` caches the ones kubeadm asks for).
    """
    bin_root = KIND_CACHE / "bin"

    def newest(prefix: str) -> Path | None:
        dirs = [d for d in bin_root.glob(f"{prefix}-*") if d.is_dir() and not d.name.endswith(".tmp")
                and (d / ".inputs").is_file()]
        nums = lambda d: [int(x) for x in re.findall(r"\d+", d.name[len(prefix) + 1:])]  # noqa: E731
        return max(dirs, key=nums) if dirs else None

    wanted = {c: bin_root / f"kubernetes-{kubernetes}" / c for c in K8S_COMMANDS}
    wanted["crictl"] = bin_root / f"crictl-{crictl}" / "crictl"
    for name in ("etcd", "pause"):
        d = newest(name)
        wanted[name] = d / name if d else bin_root / f"{name}-(none)" / name
    found = {n: p for n, p in wanted.items() if p.is_file()}
    return found, sorted(set(wanted) - set(found))
