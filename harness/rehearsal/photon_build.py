"""Photon's own distributed build (`make distributed-build` in a vmware/photon checkout), watched
through the Kubernetes API. Used by suites/distributed_build/test_photon_build.py (--photon-src).

What it needs that a harness machine here does not have (so it has never run here):
- a vmware/photon checkout whose `make distributed-build` works on this host: Photon's build
  prerequisites (python3 with the kubernetes, PyYAML and docker modules; what `make check-tools`
  asks for), run as root;
- `photon:latest` on every node (or pullable), and network access from the pods: the master and
  workers install their tools with tdnf and pip at start-up; nfspod's image
  (satyarajesh/k8sphoton:v3 in Photon's yaml/nfspod.yaml) pullable too;
- an NFS export every node can mount, given as nfs-server-ip / nfs-server-path;
- a cluster whose claims bind to class-less PVs (no default StorageClass; the rehearsal warns);
- hours: a full package build is about six.
No pytest here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.wait import WaitTimeout, wait_for
from harness.infra.kube import Kube

OPTIONS = Path("common/data/distributed_build_options.json")
# What stage/ holds when cloud images were built (B7): OVA, GCE tarball, AMI raw, Azure VHD.
CLOUD_IMAGE_PATTERNS = ("*.ova", "*gce*.tar.gz", "*ami*.raw", "*ami*.tar.gz", "*azure*.vhd*")


def read_options(src: Path) -> dict:
    path = Path(src) / OPTIONS
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise HarnessError(f"cannot read {path}: {e}") from None


def configure(src: Path, nfs_ip: str, nfs_path: str, pods: int) -> str:
    """Fill in the file as section 4 says (keeping its command); returns the original text."""
    path = Path(src) / OPTIONS
    original = path.read_text()
    opts = json.loads(original)
    opts.update({"nfs-server-ip": nfs_ip, "nfs-server-path": nfs_path, "pods": pods})
    path.write_text(json.dumps(opts, indent=4) + "\n")
    return original


@dataclass
class Observed:
    build_ids: set[str] = field(default_factory=set)
    master_pods: set[str] = field(default_factory=set)
    worker_pods: set[str] = field(default_factory=set)
    max_workers_running: int = 0
    rest_lines: list[str] = field(default_factory=list)    # the master log's scheduling/notify lines
    errors: list[str] = field(default_factory=list)


class Watch(threading.Thread):
    """Polls namespace `default` (Photon's) while the build runs: which objects exist, how many pods."""

    def __init__(self, api, every: float = 10):
        super().__init__(daemon=True)
        from kubernetes import client as k
        self.core = k.CoreV1Api(api)
        self.every, self.seen, self.stop = every, Observed(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                for s in self.core.list_namespaced_service("default", _request_timeout=30).items:
                    m = re.fullmatch(r"master-service-([0-9a-f]{4})", s.metadata.name)
                    if m:
                        self.seen.build_ids.add(m.group(1))
                pods = self.core.list_namespaced_pod("default", _request_timeout=30).items
                for bid in self.seen.build_ids:
                    masters = [p for p in pods if (p.metadata.labels or {}).get("app") == f"master-{bid}"]
                    workers = [p for p in pods if p.metadata.name.startswith(f"worker-{bid}-")]
                    self.seen.master_pods |= {p.metadata.name for p in masters}
                    self.seen.worker_pods |= {p.metadata.name for p in workers}
                    self.seen.max_workers_running = max(self.seen.max_workers_running,
                                                        sum(p.status.phase == "Running" for p in workers))
                    for p in masters:
                        if p.status.phase in ("Running", "Succeeded", "Failed"):
                            log = self.core.read_namespaced_pod_log(p.metadata.name, "default", _request_timeout=60)
                            self.seen.rest_lines = [l for l in log.splitlines()
                                                    if re.search(r"Scheduling package|Build (Success|Failed)", l)]
            except Exception as e:  # noqa: BLE001 - keep watching; the test reports what was seen
                self.seen.errors.append(f"{type(e).__name__}: {str(e)[:200]}")
            self.stop.wait(self.every)


def leftovers(api, build_id: str) -> list[str]:
    """Objects of build `build_id` that still exist (Photon's names, namespace default)."""
    suffix = f"-{build_id}"
    ours = lambda o: o.metadata.name.endswith(suffix) or f"{suffix}-" in o.metadata.name  # noqa: E731
    return Kube(api).leftovers("default", keep=ours, volumes=lambda o: o.metadata.name.endswith(suffix))


def run_make(src: Path, kubeconfig: Path, timeout: float, log: Path) -> int:
    """`make distributed-build` with the kubeconfig where section 4 says it is read from: the
    home directory (~/.kube/config of a temporary HOME). Output goes to `log`."""
    if shutil.which("make") is None:
        raise HarnessError("make is not installed")
    with tempfile.TemporaryDirectory(prefix="photon-home-") as home:
        (Path(home) / ".kube").mkdir()
        shutil.copy(kubeconfig, Path(home) / ".kube" / "config")
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = home
        with open(log, "w") as out:
            try:
                return subprocess.run(["make", "distributed-build"], cwd=src, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                out.write(f"\nphoton-harness: make distributed-build ran past {timeout:.0f}s\n")
                return 124


def cloud_images(src: Path) -> list[str]:
    stage = Path(src) / "stage"
    return sorted({str(p.relative_to(stage)) for pat in CLOUD_IMAGE_PATTERNS for p in stage.rglob(pat)})


def wait_gone(api, build_id: str, timeout: float = 300) -> list[str]:
    try:
        return wait_for(f"build {build_id}'s objects to be deleted", lambda: leftovers(api, build_id),
                        lambda left: not left, timeout=timeout, interval=5)
    except WaitTimeout as e:
        return e.last
