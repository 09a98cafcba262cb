"""The cluster a matrix run is given, as the controller needs it: reachable at all, its nodes,
whether they are containers on this machine (a kind cluster: the runner image can be loaded onto
them and the harness's NFS server put on their network), and whether they can get an image.
Every check raises one HarnessError line before anything is created in the cluster."""
from __future__ import annotations

import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.artifacts.nfs_helper import mount_helper
from harness.core.engine import docker_client
from harness.core.errors import HarnessError, InfrastructureError
from harness.infra.nfs_volumes import prepare_nodes

SEE_README = "(README: Running the matrix on a cluster)"


def qualified(ref: str) -> str:
    """An image reference as containerd lists it (docker.io/library/... for a bare name)."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


@dataclass
class ClusterNodes:
    api: object
    names: list[str]                                       # the nodes shards can be scheduled on
    addresses: dict[str, str]                              # node -> InternalIP
    containers: dict[str, object] = field(default_factory=dict)   # node -> its container here (kind)
    network: str = ""                                      # the Docker network the node containers share
    images: dict[str, set[str]] = field(default_factory=dict)     # node -> images it has

    @classmethod
    def connect(cls, kubeconfig: str) -> "ClusterNodes":
        from kubernetes import client as k, config
        if not Path(kubeconfig).is_file():
            raise HarnessError(f"--kubeconfig {kubeconfig}: no such file")
        try:
            api = config.new_client_from_config(config_file=kubeconfig)
        except Exception as e:
            raise HarnessError(f"--kubeconfig {kubeconfig}: not a usable kubeconfig ({str(e)[:200]})") from None
        try:
            nodes = k.CoreV1Api(api).list_node(_request_timeout=15).items
        except Exception as e:
            why = getattr(e, "reason", None) or e   # urllib3's retries wrap the connection error
            raise HarnessError(f"no cluster answers at {api.configuration.host} (from {kubeconfig}): "
                               f"{str(why)[:200]}") from None
        if not nodes:
            raise HarnessError(f"the cluster at {api.configuration.host} has no nodes")
        # Only nodes a shard can be scheduled on (kind's control plane is tainted NoSchedule).
        nodes = [n for n in nodes if not n.spec.unschedulable
                 and not any(t.effect in ("NoSchedule", "NoExecute") for t in n.spec.taints or [])]
        if not nodes:
            raise HarnessError(f"the cluster at {api.configuration.host} has no node a pod can be scheduled on")
        me = cls(api, [n.metadata.name for n in nodes],
                 {n.metadata.name: next((a.address for a in n.status.addresses or [] if a.type == "InternalIP"), "")
                  for n in nodes},
                 images={n.metadata.name: {name for i in n.status.images or [] for name in i.names or []}
                         for n in nodes})
        try:
            client = docker_client()
            me.containers = {c.name: c for c in client.containers.list() if c.name in me.names}
        except HarnessError:   # no engine here: a remote cluster
            pass
        return me

    def check_reachable_from_here(self, need_network: bool, need_load: bool) -> None:
        remote = [n for n in self.names if n not in self.containers]
        if need_load and remote:
            raise HarnessError(f"node(s) {', '.join(remote)} are not containers on this machine, so no runner image "
                               f"can be loaded onto them: push one to a registry they pull from and give "
                               f"--runner-image {SEE_README}")
        if need_network:
            if remote:
                raise HarnessError(f"node(s) {', '.join(remote)} are not containers on this machine, so the "
                                   f"harness's NFS server cannot join their network: give --nfs-server HOST:/path "
                                   f"that every node mounts {SEE_README}")
            first = self.containers[self.names[0]]
            nets = first.attrs["NetworkSettings"]["Networks"]
            self.network = next((n for n, v in nets.items() if v.get("IPAddress") == self.addresses[self.names[0]]),
                                next(iter(nets), ""))

    def check_image(self, ref: str) -> None:
        """The nodes have `ref`, or it names a registry that has it (the nodes will pull it there)."""
        want = qualified(ref)
        missing = [n for n in self.names if want not in self.images.get(n, set()) and ref not in self.images.get(n, set())]
        if not missing:
            return
        try:
            docker_client().images.get_registry_data(ref)
        except Exception as e:
            raise HarnessError(f"--runner-image {ref}: node(s) {', '.join(missing)} do not have it and its registry "
                               f"does not answer for it ({e.__class__.__name__}: {str(e)[:160]}); load it onto the "
                               f"nodes or push it {SEE_README}") from None

    def load(self, client, ref: str, timeout: float = 900) -> None:
        """Copy a local image into the containerd of every node that lacks it (as `kind load` does)."""
        todo = [n for n in self.names if not self._node_has(n, ref)]
        if not todo:
            return
        with tempfile.NamedTemporaryFile(prefix="matrix-runner-", suffix=".tar") as tar:
            r = subprocess.run(["docker", "save", "-o", tar.name, ref], capture_output=True, text=True, timeout=timeout)
            if r.returncode != 0:
                raise InfrastructureError(f"docker save {ref} failed: {r.stderr.strip()[-500:]}")

            def import_into(node: str) -> None:
                with open(tar.name, "rb") as f:
                    r = subprocess.run(["docker", "exec", "-i", node, "ctr", "--namespace=k8s.io", "images", "import",
                                        "--all-platforms", "--digests", "-"], stdin=f, capture_output=True, text=True,
                                       timeout=timeout)
                if r.returncode != 0:
                    raise InfrastructureError(f"importing {ref} into node {node} failed: {r.stderr.strip()[-500:]}")
            # All nodes at once: each import mostly waits on its node's disk writes.
            with ThreadPoolExecutor(max_workers=len(todo)) as pool:
                for node, _ in zip(todo, pool.map(import_into, todo)):
                    self.images.setdefault(node, set()).add(qualified(ref))

    def _node_has(self, node: str, ref: str) -> bool:
        """Asked of the node's containerd: the API's image list lags behind a load by up to a minute."""
        r = subprocess.run(["docker", "exec", node, "ctr", "--namespace=k8s.io", "images", "ls", "-q",
                            f"name=={qualified(ref)}"], capture_output=True, text=True, timeout=60)
        return r.returncode == 0 and bool(r.stdout.strip())

    def prepare_nfs(self, client, session: str) -> None:
        """Every node can `mount -t nfs` (the offline kind node has the userspace helper; others get it)."""
        modes = prepare_nodes(client, self.names)
        if any(m.startswith("none") for m in modes.values()):
            modes = prepare_nodes(client, self.names, mount_helper(client, session))
        bad = [f"{n}: {m}" for n, m in modes.items() if m.startswith("none")]
        if bad:
            raise InfrastructureError(f"nodes cannot mount the results export: {'; '.join(bad)}")
