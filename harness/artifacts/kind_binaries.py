"""The binaries of the offline kind node, built from Go modules at the versions kind and kubeadm
expect: kind, the Kubernetes commands, etcd, coredns, crictl and pause, each a stage of
`build_node_image` (kind_node.py), cached under CACHE_DIR/kind/bin. No pytest here."""
from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.artifacts.go_toolchain import (
    GO_PARALLEL, KIND_CACHE, NotCached, finish, go_build, go_env, go_version, module_dir, nice, run, stamped
)
from harness.core.cache import cached_build, key
from harness.core.errors import InfrastructureError

log = logging.getLogger(__name__)

KIND_VERSION = "v0.30.0"
KUBERNETES_VERSION = "v1.34.4"
CRICTL_VERSION = "v1.34.0"
# The Kubernetes commands built into the node (kubeadm/kubelet/kubectl) and its images.
K8S_COMMANDS = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager",
                "kube-scheduler", "kube-proxy")

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


class Stages:
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


def build_binaries(v: Versions, stages: Stages) -> dict[str, Path]:
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
            run([*nice(), "go", "install", "-p", GO_PARALLEL, "-trimpath", f"sigs.k8s.io/kind@{v.kind}"],
                 "go install kind", env=go_env(GOBIN=str(tmp), CGO_ENABLED="0", GOFLAGS="-buildvcs=false"),
                 cwd=Path(tempfile.gettempdir()))
            finish(tmp, out, stamp)
        return out, cached_build(f"kind-go-kind-{v.kind}", lambda: stamped(out, stamp), build).cached, ""
    bins["kind"] = stages.run("kind", kind) / "kind"

    info = json.loads(run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{v.kubernetes}"],
                           "go mod download", env=go_env()))
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
        stamp = key("pause", c_src.read_text(), run(["gcc", "--version"], "gcc").splitlines()[0])

        def build():
            tmp = out.with_name(out.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            run(["gcc", "-Os", "-Wall", "-static", f"-DVERSION=v{v.pause}-photon-harness", "-o",
                  str(tmp / "pause"), str(c_src)], "gcc pause.c")
            run(["strip", str(tmp / "pause")], "strip pause")
            finish(tmp, out, stamp)
        return out, cached_build(f"kind-pause-{v.pause}", lambda: stamped(out, stamp), build).cached, ""
    bins["pause"] = stages.run("pause", pause) / "pause"
    missing = [n for n, p in bins.items() if not p.is_file()]
    if missing:
        raise InfrastructureError(f"built, but missing: {', '.join(missing)}")
    bins["_kind_dir"] = kind_dir
    bins["_k8s_dir"] = k8s_dir
    return bins
