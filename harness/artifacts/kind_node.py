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
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.artifacts.build import cached_image, image_from_files, read_packages, read_sources, rootfs_image
from harness.artifacts.nfs_helper import node_image_files
from harness.core.cache import cached_build, file_digest, key, tree
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.labels import CACHE_LABEL, new_session_id, session_labels
from harness.core.paths import CACHE_DIR, REPO_ROOT

log = logging.getLogger(__name__)
# Compile with every core the machine has.
GO_PARALLEL = str(os.cpu_count() or 1)

RECIPE = REPO_ROOT / "images" / "kind-node"
KIND_CACHE = CACHE_DIR / "kind"

KIND_VERSION = "v0.30.0"
KUBERNETES_VERSION = "v1.34.4"
CRICTL_VERSION = "v1.34.0"
# The Kubernetes commands built into the node (kubeadm/kubelet/kubectl) and its images.
K8S_COMMANDS = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager",
                "kube-scheduler", "kube-proxy")
# Images that need iptables/nftables in them (the rest are FROM scratch).
NEEDS_NETFILTER = ("kube-proxy",)
PODNET_REF = "photon-harness.local/podnet:v1"  # only ever inside the node, never pulled



# ---------------------------------------------------------------- Go toolchain helpers

def _nice() -> list[str]:
    return ["nice", "-n", "19"] if shutil.which("nice") else []


def _go_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "")
    env["GOFLAGS"] = (env["GOFLAGS"] + " -mod=mod -buildvcs=false").strip()
    env.setdefault("GOTOOLCHAIN", "local")
    env.update(extra)
    return env


def _run(argv: list[str], what: str, cwd: Path | None = None, env: dict | None = None,
         timeout: float = 7200, stdin=None) -> str:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        raise HarnessError(f"{what}: {argv[0]} is not installed")
    try:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=stdin if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"{what}: timed out after {timeout:.0f}s") from None
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
        raise InfrastructureError(f"{what} failed (exit {r.returncode}):\n{tail}")
    return r.stdout


def _run_with_progress(argv: list[str], what: str, total: int, cwd: Path, env: dict, timeout: float,
                       every: float = 30) -> None:
    """`go build -v`: a line every `every` s with the packages compiled so far (of at most `total`)."""
    start = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as p:
        reader = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)  # one line per package
        reader.start()
        while p.poll() is None:
            reader.join(timeout=every)
            elapsed = time.monotonic() - start
            if elapsed > timeout:
                p.kill()
                raise InfrastructureError(f"{what}: timed out after {timeout:.0f}s")
            if p.poll() is None:
                log.info(f"[kind] {what}: {len(lines)} of at most {total} packages compiled, {elapsed / 60:.0f} min",
                         extra={"progress": (len(lines), total)})
        reader.join(timeout=10)
    if p.returncode != 0:
        tail = "\n".join(line.rstrip() for line in lines[-15:])
        raise InfrastructureError(f"{what} failed (exit {p.returncode}):\n{tail}")


def go_version() -> str:
    return _run(["go", "env", "GOVERSION"], "go env").strip()


def go_modcache() -> Path:
    return Path(_run(["go", "env", "GOMODCACHE"], "go env").strip())


def module_dir(path: str, version: str) -> Path:
    """Download a module (if needed) and return its directory in the module cache."""
    out = _run(["go", "mod", "download", "-json", f"{path}@{version}"], f"go mod download {path}@{version}",
               env=_go_env())
    info = json.loads(out)
    if info.get("Error"):
        raise InfrastructureError(f"go mod download {path}@{version}: {info['Error']}")
    return Path(info["Dir"])


def _stamped(out: Path, key: str) -> bool:
    stamp = out / ".inputs"
    return stamp.is_file() and stamp.read_text().strip() == key


def _finish(tmp: Path, out: Path, key: str) -> None:
    (tmp / ".inputs").write_text(key + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


class NotCached(HarnessError):
    """A stage would need a cold build and the caller asked for cached products only."""


def go_build(name: str, version: str, packages: list[str], *, requires: dict[str, str] | None = None,
             replaces: dict[str, str] | None = None, src: Path | None = None, ldflags: str = "-s -w",
             cgo: bool = False, cold_ok: bool = True) -> tuple[Path, bool]:
    """Build Go main packages into CACHE/bin/<name>-<version>/; cached by every input.

    Either a generated wrapper module (requires/replaces) in CACHE/src/<name>-<version>/,
    or an existing main module `src` (copied there). Returns (bin dir, cached?).
    """
    gomod = None
    if src is None:
        lines = ["module photon-harness.local/kind/" + name, "", "go 1.24.0", ""]
        lines += [f"require {m} {v}" for m, v in sorted((requires or {}).items())]
        if replaces:
            lines += ["", "replace ("] + [f"\t{m} => {t}" for m, t in sorted(replaces.items())] + [")"]
        gomod = "\n".join(lines) + "\n"
        src_key = gomod
    else:
        src_key = key(*[(str(p.relative_to(src)), p.read_bytes().hex()) for p in sorted(src.rglob("*"))
                         if p.is_file()])
    stamp = key(name, version, packages, src_key, ldflags, cgo, go_version())
    out = KIND_CACHE / "bin" / f"{name}-{version}"

    def build():
        if not cold_ok:
            raise NotCached(f"{name} {version} is not built yet")
        work = KIND_CACHE / "src" / f"{name}-{version}"
        if src is not None:
            if work.exists():
                shutil.rmtree(work)
            shutil.copytree(src, work)
        else:
            work.mkdir(parents=True, exist_ok=True)
            # go.mod.in is what we generate; go.mod/go.sum are what `go build -mod=mod` completed.
            if not (work / "go.mod.in").is_file() or (work / "go.mod.in").read_text() != gomod:
                (work / "go.mod").write_text(gomod)
                (work / "go.sum").unlink(missing_ok=True)
                (work / "go.mod.in").write_text(gomod)
        tmp = out.with_name(out.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        env = _go_env(CGO_ENABLED="1" if cgo else "0")
        argv = [*_nice(), "go", "build", "-v", "-p", GO_PARALLEL, "-trimpath", "-ldflags", ldflags,
                "-o", str(tmp) + "/", *packages]
        total = len(_run(["go", "list", "-deps", *packages], f"go list -deps of {name}", cwd=work, env=env).split())
        _run_with_progress(argv, f"go build of {name} {version}", total, cwd=work, env=env, timeout=4 * 3600)
        _finish(tmp, out, stamp)
    return out, cached_build(f"kind-go-{name}-{version}", lambda: _stamped(out, stamp), build).cached


# ---------------------------------------------------------------- versions

@dataclass
class Versions:
    kind: str = KIND_VERSION
    kubernetes: str = KUBERNETES_VERSION
    crictl: str = CRICTL_VERSION
    etcd: str = ""        # "3.6.5-0" (the image tag kubeadm uses)
    coredns: str = ""     # "v1.12.1"
    pause: str = ""       # "3.10.1"

    @property
    def staging(self) -> str:
        """k8s.io/kubernetes v1.34.4 -> the staging modules' v0.34.4."""
        return "v0" + self.kubernetes[2:]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _const(text: str, name: str, where: str) -> str:
    m = re.search(rf'\b{name}\s*=\s*"([^"]+)"', text)
    if not m:
        raise InfrastructureError(f"cannot find {name} in {where}")
    return m.group(1)


def resolve_versions(v: Versions, kind_dir: Path, k8s_dir: Path) -> Versions:
    consts = k8s_dir / "cmd/kubeadm/app/constants/constants.go"
    text = consts.read_text()
    v.etcd = v.etcd or _const(text, "DefaultEtcdVersion", str(consts))
    v.coredns = v.coredns or _const(text, "CoreDNSVersion", str(consts))
    v.pause = v.pause or _const(text, "PauseVersion", str(consts))
    return v


def staging_replaces(k8s_dir: Path, staging_version: str) -> dict[str, str]:
    """`k8s.io/X => ./staging/src/k8s.io/X` in kubernetes' go.mod -> `k8s.io/X => k8s.io/X v0.N.M`."""
    mods = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", (k8s_dir / "go.mod").read_text(), re.M)
    if not mods:
        raise InfrastructureError(f"no staging replace directives in {k8s_dir / 'go.mod'}")
    return {m: f"{m} {staging_version}" for m in mods}


def version_ldflags(kubernetes: str, build_date: str) -> str:
    major, minor = kubernetes.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={kubernetes}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean",
                  f"-X {pkg}.buildDate={build_date}"]
    return " ".join(flags)


# ---------------------------------------------------------------- stages

@dataclass
class Stage:
    name: str
    seconds: float
    cached: bool
    detail: str = ""


@dataclass
class NodeImage:
    tag: str
    versions: Versions
    stages: list[Stage] = field(default_factory=list)
    bins: dict[str, Path] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


class _Stages:
    def __init__(self, cold_ok: bool = True):
        self.cold_ok = cold_ok  # False: Go builds must come from the cache
        self.done: list[Stage] = []
        self.t0 = time.monotonic()

    def run(self, name: str, fn, *args, **kw):
        log.info(f"[kind] {name}: ...")
        start = time.monotonic()
        result = fn(*args, **kw)
        cached, detail = (result[1], result[2]) if isinstance(result, tuple) and len(result) == 3 else (None, "")
        secs = time.monotonic() - start
        state = "cached" if cached else "built" if cached is False else "done"
        log.info(f"[kind] {name}: {state} in {secs:.1f}s{(' ' + detail) if detail else ''}"
                 f" (total {time.monotonic() - self.t0:.0f}s)")
        self.done.append(Stage(name, secs, bool(cached), detail))
        return result[0] if isinstance(result, tuple) else result


def build_binaries(v: Versions, stages: _Stages) -> dict[str, Path]:
    """Every binary the node image needs, in CACHE/kind/bin/; returns name -> path."""
    def modules():
        kind_dir = module_dir("sigs.k8s.io/kind", v.kind)
        k8s_dir = module_dir("k8s.io/kubernetes", v.kubernetes)
        resolve_versions(v, kind_dir, k8s_dir)
        return (kind_dir, k8s_dir), None, ""
    kind_dir, k8s_dir = stages.run("modules", modules)
    log.info(f"[kind] versions: {json.dumps(v.as_dict())}")
    bins: dict[str, Path] = {}

    def kind():
        out = KIND_CACHE / "bin" / f"kind-{v.kind}"
        stamp = key("kind", v.kind, go_version())

        def build():
            if not stages.cold_ok:
                raise NotCached(f"kind {v.kind} is not built yet")
            tmp = out.with_name(out.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            _run([*_nice(), "go", "install", "-p", GO_PARALLEL, "-trimpath", f"sigs.k8s.io/kind@{v.kind}"],
                 "go install kind", env=_go_env(GOBIN=str(tmp), CGO_ENABLED="0", GOFLAGS="-buildvcs=false"),
                 cwd=Path(tempfile.gettempdir()))
            _finish(tmp, out, stamp)
        return out, cached_build(f"kind-go-kind-{v.kind}", lambda: _stamped(out, stamp), build).cached, ""
    bins["kind"] = stages.run("kind", kind) / "kind"

    info = json.loads(_run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{v.kubernetes}"],
                           "go mod download", env=_go_env()))
    build_date = json.loads(Path(info["Info"]).read_text())["Time"]  # the release's time, reproducible
    replaces = staging_replaces(k8s_dir, v.staging)

    def kubernetes():
        out, cached = go_build("kubernetes", v.kubernetes, [f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS],
                               requires={"k8s.io/kubernetes": v.kubernetes}, replaces=replaces,
                               ldflags=version_ldflags(v.kubernetes, build_date), cold_ok=stages.cold_ok)
        return out, cached, f"({len(replaces)} staging modules replaced)"
    out = stages.run("kubernetes", kubernetes)
    for c in K8S_COMMANDS:
        bins[c] = out / c

    etcd_v = "v" + v.etcd.split("-")[0]

    def etcd():
        out, cached = go_build("etcd", etcd_v, ["go.etcd.io/etcd/server/v3"],
                               requires={"go.etcd.io/etcd/server/v3": etcd_v}, cold_ok=stages.cold_ok)
        for built_as in ("server", "v3"):  # go names a .../server/v3 main package "server"
            if (out / built_as).is_file() and not (out / "etcd").exists():
                (out / built_as).rename(out / "etcd")
        return out, cached, ""
    bins["etcd"] = stages.run("etcd", etcd) / "etcd"

    def coredns():
        out, cached = go_build("coredns", v.coredns, ["github.com/coredns/coredns"],
                               requires={"github.com/coredns/coredns": v.coredns}, cold_ok=stages.cold_ok)
        return out, cached, ""
    bins["coredns"] = stages.run("coredns", coredns) / "coredns"

    def crictl():
        out, cached = go_build("crictl", v.crictl, ["sigs.k8s.io/cri-tools/cmd/crictl"],
                               requires={"sigs.k8s.io/cri-tools": v.crictl},
                               ldflags=f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={v.crictl}", cold_ok=stages.cold_ok)
        return out, cached, ""
    bins["crictl"] = stages.run("crictl", crictl) / "crictl"

    def pause():
        c_src = k8s_dir / "build/pause/linux/pause.c"
        out = KIND_CACHE / "bin" / f"pause-{v.pause}"
        stamp = key("pause", c_src.read_text(), _run(["gcc", "--version"], "gcc").splitlines()[0])

        def build():
            tmp = out.with_name(out.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            _run(["gcc", "-Os", "-Wall", "-static", f"-DVERSION=v{v.pause}-photon-harness", "-o",
                  str(tmp / "pause"), str(c_src)], "gcc pause.c")
            _run(["strip", str(tmp / "pause")], "strip pause")
            _finish(tmp, out, stamp)
        return out, cached_build(f"kind-pause-{v.pause}", lambda: _stamped(out, stamp), build).cached, ""
    bins["pause"] = stages.run("pause", pause) / "pause"
    missing = [n for n, p in bins.items() if not p.is_file()]
    if missing:
        raise InfrastructureError(f"built, but missing: {', '.join(missing)}")
    bins["_kind_dir"] = kind_dir
    bins["_k8s_dir"] = k8s_dir
    return bins


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
    out = _run([str(kubeadm), "config", "images", "list", "--kubernetes-version", v.kubernetes],
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


def build_node_image(client, versions: Versions | None = None,
                     cold_go_builds: bool = True) -> NodeImage:
    """The offline node image. cold_go_builds=False raises NotCached rather than start a Go
    build (Kubernetes alone takes over an hour on 2 cores); image stages are built either way."""
    v = versions or Versions()
    stages = _Stages(cold_go_builds)
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
