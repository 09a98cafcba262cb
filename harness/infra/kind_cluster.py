"""kind clusters for the suites: create one from a node image, load local images, delete it.

kind labels its node containers itself and has no option for ours, so a cluster made here is
recorded in CACHE/kind/clusters/<name>.json (session, created, network) *before* it is
created: `reap` finds half-made clusters too. Each cluster gets its own labelled Docker
network (kind's shared `kind` network is never deleted by kind).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.artifacts.go_toolchain import KIND_CACHE
from harness.artifacts.kind_node import COLD_BUILD_TIME
from harness.core.checks import Check
from harness.core.engine import docker_client
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.labels import CREATED_LABEL, selected, session_labels
from harness.core.wait import WaitTimeout, wait_for

log = logging.getLogger(__name__)

CLUSTERS_DIR = KIND_CACHE / "clusters"

CLUSTER_CONFIG = """kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
{workers}"""



def cluster_name(session: str) -> str:
    # kind names become container and host names: lower case, short.
    return "ph-" + session.lower()


@dataclass
class Cluster:
    name: str
    kubeconfig: Path
    kind: Path | None = None      # None: an existing cluster (--kubeconfig), not ours to delete
    network: str | None = None
    image: str = ""
    seconds: float = 0.0

    @property
    def owned(self) -> bool:
        return self.kind is not None

    def api_client(self):
        from kubernetes import config
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def node_containers(self) -> list[str]:
        if not self.owned:
            return []
        r = subprocess.run([str(self.kind), "get", "nodes", "--name", self.name], capture_output=True,
                           text=True, timeout=60)
        return [line for line in r.stdout.split() if line]

    def load_image(self, ref: str, timeout: float = 600) -> None:
        """Copy a local Docker image into every node's containerd (nodes never pull here)."""
        if not self.owned:
            raise HarnessError(f"cannot load {ref} into cluster {self.name}: it was given with --kubeconfig, "
                               "so it is not a kind cluster this run made; load the image there yourself")
        r = subprocess.run([str(self.kind), "load", "docker-image", ref, "--name", self.name],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise InfrastructureError(f"kind load docker-image {ref} failed: {r.stderr.strip()[-1500:]}")

    def export_logs(self, where: Path) -> Path | None:
        if not self.owned:
            return None
        subprocess.run([str(self.kind), "export", "logs", str(where), "--name", self.name],
                       capture_output=True, timeout=300)
        return where

    def delete(self) -> None:
        if not self.owned:
            return
        _delete(self.name, self.kind, self.network)


def _record_path(name: str) -> Path:
    return CLUSTERS_DIR / f"{name}.json"


def _delete(name: str, kind: Path, network: str | None) -> None:
    subprocess.run([str(kind), "delete", "cluster", "--name", name], capture_output=True, timeout=300)
    if network:
        import docker.errors
        try:
            docker_client().networks.get(network).remove()
        except docker.errors.NotFound:
            pass
    (CLUSTERS_DIR / f"{name}.kubeconfig").unlink(missing_ok=True)
    (CLUSTERS_DIR / f"{name}.yaml").unlink(missing_ok=True)
    _record_path(name).unlink(missing_ok=True)


def wait_nodes_ready(cluster: Cluster, count: int, timeout: float) -> list[str]:
    """Until `count` nodes report Ready; the error names the nodes that are not."""
    from kubernetes import client as k8s
    core = k8s.CoreV1Api(cluster.api_client())
    def ready_states() -> dict[str, str]:
        try:
            nodes = core.list_node(_request_timeout=30).items
        except Exception as e:  # the API server may still be settling
            return {"<api>": f"{type(e).__name__}: {e}"[:200]}
        return {n.metadata.name: next((c.status for c in n.status.conditions or [] if c.type == "Ready"), "Unknown")
                for n in nodes}
    try:
        return sorted(wait_for(f"cluster {cluster.name}: {count} nodes Ready", ready_states,
                               lambda s: len(s) >= count and all(v == "True" for v in s.values()),
                               timeout=timeout, interval=3))
    except WaitTimeout as e:
        raise InfrastructureError(f"cluster {cluster.name}: {count} nodes not Ready within {timeout:.0f}s: "
                                  f"{e.last}") from None


def create_cluster(docker, name: str, image: str, kind: Path, workers: int, session: str,
                   wait: float = 600, keep: bool = False) -> Cluster:
    """`kind create cluster` from a local node image; returns once every node is Ready.

    keep: the cluster outlives the run, so its record and network carry no session label
    (the run's final reap leaves them; `reap` by age still finds the record)."""
    if "@" in image or image.endswith(":latest") or ":" not in image:
        raise HarnessError(f"node image {image!r}: use an explicit local tag (a digest or :latest makes kind pull)")
    if workers < 0:
        raise HarnessError(f"--kind-workers must be 0 or more, not {workers}")
    CLUSTERS_DIR.mkdir(parents=True, exist_ok=True)
    network = name
    labels = session_labels(session)
    if keep:
        labels = {CREATED_LABEL: labels[CREATED_LABEL], "io.photon-harness.kept-cluster": name}
    _record_path(name).write_text(json.dumps({"name": name, "kind": str(kind), "network": network,
                                              **labels}) + "\n")
    docker.networks.create(network, driver="bridge", labels=labels,
                           options={"com.docker.network.bridge.enable_ip_masquerade": "true"})
    cfg = CLUSTERS_DIR / f"{name}.yaml"
    cfg.write_text(CLUSTER_CONFIG.format(workers="".join("- role: worker\n" for _ in range(workers))))
    cluster = Cluster(name, CLUSTERS_DIR / f"{name}.kubeconfig", kind, network, image)
    start = time.monotonic()
    log.info(f"[kind] creating cluster {name} ({1 + workers} nodes) from {image}")
    argv = [str(kind), "create", "cluster", "--name", name, "--image", image, "--config", str(cfg),
            "--kubeconfig", str(cluster.kubeconfig), f"--wait={int(wait)}s", "--retain"]
    env = dict(os.environ, KIND_EXPERIMENTAL_DOCKER_NETWORK=network)
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=wait + 600, env=env)
        if r.returncode != 0:
            tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
            raise InfrastructureError(f"kind create cluster {name} failed (exit {r.returncode}):\n{tail}")
        wait_nodes_ready(cluster, 1 + workers, max(60.0, wait - (time.monotonic() - start)))
    except BaseException as e:
        logs = KIND_CACHE / "logs" / name
        if not isinstance(e, KeyboardInterrupt):
            cluster.export_logs(logs)
        cluster.delete()
        if isinstance(e, InfrastructureError):
            raise InfrastructureError(f"{e}\n(node logs: {logs})") from None
        raise
    cluster.seconds = time.monotonic() - start
    log.info(f"[kind] cluster {name} ready in {cluster.seconds:.0f}s")
    return cluster


def reap_clusters(session_id: str | None = None, older_than: float | None = None,
                  dry_run: bool = False) -> list[str]:
    """Delete clusters a run left behind, found by their records."""
    gone = []
    for record in sorted(CLUSTERS_DIR.glob("*.json")) if CLUSTERS_DIR.is_dir() else []:
        try:
            info = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if not selected(info, session_id, older_than):
            continue
        gone.append(info["name"])
        if not dry_run:
            _delete(info["name"], Path(info["kind"]), info.get("network"))
    return gone


def leftovers(name: str) -> list[str]:
    """What of cluster `name` still exists: node containers, its network, its record."""
    docker = docker_client()
    left = [f"container {c.name}" for c in
            docker.containers.list(all=True, filters={"label": f"io.x-k8s.kind.cluster={name}"},
                                   ignore_removed=True)]
    left += [f"network {n.name}" for n in docker.networks.list(names=[name]) if n.name == name]
    left += [f"file {p}" for p in (_record_path(name), CLUSTERS_DIR / f"{name}.kubeconfig") if p.exists()]
    return left


# -- what `photon-harness doctor` checks for kind clusters

INOTIFY_MINIMUMS = {"fs.inotify.max_user_watches": 524288, "fs.inotify.max_user_instances": 512}


def sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def doctor_checks() -> list[Check]:
    """What kind clusters need from this kernel, and whether the offline node build is cached."""
    out = []
    for name, minimum in INOTIFY_MINIMUMS.items():
        current = int(sysctl_path(name).read_text())
        out.append(Check(f"kind: {name}", current >= minimum, f"{current} (kind needs >= {minimum})",
                         "photon-harness doctor --fix"))
    # kube-proxy (iptables mode) and pod networking: conntrack and bridge netfilter must exist.
    # Without module support (/proc/modules absent) they can only be built in.
    modules = "loadable modules" if Path("/proc/modules").exists() else "no module support: built-in only"
    for what, probe in (("conntrack", "/proc/sys/net/netfilter/nf_conntrack_max"),
                        ("br_netfilter", "/proc/sys/net/bridge/bridge-nf-call-iptables")):
        present = Path(probe).exists()
        out.append(Check(f"kind: kernel {what}", present, f"{'present' if present else 'missing'} ({modules})",
                         f"modprobe {what.replace('conntrack', 'nf_conntrack')}"))
    built = sorted(p.parent.name for p in (KIND_CACHE / "bin").glob("*/.inputs"))
    out.append(Check("kind: offline Kubernetes build", True,
                     ("cached: " + ", ".join(built)) if built else
                     f"not built: the test runs that need it build it first; `photon-harness kind build-node-image` ({COLD_BUILD_TIME})"))
    return out
