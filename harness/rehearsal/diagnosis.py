"""Why a rehearsal's pod is stuck or gone, read from the objects the Kubernetes API returned.

Each function looks at objects already read (pods, events, replica sets, the scheduler's state,
a container's log) and returns a `Diagnosis`, or None when nothing is wrong that will not heal.
Nothing here calls the API, so every rule is unit-tested on recorded objects; the orchestrator
(distributed_build.py) reads the objects and raises `RehearsalFailed` for a diagnosis.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.rehearsal.packages import IMAGE_PROBLEMS
from harness.rehearsal.verdict import RehearsalFailed


@dataclass(frozen=True)
class Diagnosis:
    cause: str     # a short category, as in the report: "nfs-unreachable", "image", ...
    message: str   # what and where, with what to do about it

    def failed(self) -> RehearsalFailed:
        return RehearsalFailed(self.cause, self.message)


def _statuses(pod) -> list:
    return (pod.status.container_statuses or []) + (pod.status.init_container_statuses or [])


def image_problem(pod, role: str, image: str) -> Diagnosis | None:
    """The image is not on the pod's node and cannot be pulled (the clusters here have no registry)."""
    node = pod.spec.node_name or "(not scheduled)"
    for cs in _statuses(pod):
        w = cs.state.waiting if cs.state else None
        if w and w.reason in IMAGE_PROBLEMS:
            return Diagnosis("image", f"image {image} is not on node {node} and cannot be pulled "
                                      f"({w.reason} for {role} pod {pod.metadata.name}: {(w.message or '').strip()[:300]}). "
                                      f"Load it into every node (kind: `kind load docker-image {image} --name "
                                      f"CLUSTER`) or push it to a registry the nodes can pull from.")
    return None


def worker_endings(pod) -> list:
    """What ended of a worker pod: None when the pod is being deleted from outside, then each
    container status that exited or restarted. Empty while it runs."""
    ended = [None] if pod.metadata.deletion_timestamp is not None else []
    return ended + [cs for cs in _statuses(pod) if cs.restart_count or (cs.state and cs.state.terminated)]


def worker_death(pod, cs, holding: list[str], log: str, master_service: str) -> Diagnosis | None:
    """A worker that ended: the worker's own FATAL line when it names its cause (exit 3: the service
    variables missing, exit 4: the master unreachable), else the crash and the packages it held.
    A worker deleted while idle is no failure: the Deployment replaces it and the build goes on."""
    name, node = pod.metadata.name, pod.spec.node_name
    if cs is None and not holding:
        return None
    t = None if cs is None else (cs.last_state.terminated if cs.last_state and cs.last_state.terminated else
                                 cs.state.terminated if cs.state else None)
    code = t.exit_code if t else "?"
    fatal = [l.split("FATAL ", 1)[1] for l in log.splitlines() if "FATAL " in l]
    if code == 3 and fatal:
        return Diagnosis("service-env", f"worker pod {name} on {node}: {fatal[-1]}")
    if code == 4 and fatal:
        return Diagnosis("master-unreachable", f"worker pod {name} on {node}: {fatal[-1]} (service "
                                               f"{master_service}: check kube-proxy and the pod network)")
    them = "it" if len(holding) == 1 else "them"
    doing = (f" while building {', '.join(holding)}; the scheduler still counts {them} as building, so "
             f"Photon's build would wait for {them} forever (its scheduler has no timeout)") if holding else ""
    what = ("was deleted (killed from outside)" if cs is None else
            f"crashed: exit code {code} ({t.reason if t else '?'})")
    return Diagnosis("worker-crashed", f"worker pod {name} on {node} {what}{doing}. Its log ends:\n{log.rstrip()}")


def held_by(state: dict | None, worker: str) -> list[str]:
    """The packages the scheduler counts as being built by `worker`."""
    return sorted(p for p, v in ((state or {}).get("packages") or {}).items()
                  if v["state"] == "building" and v["worker"] == worker)


def master_exit(pod):
    """The master's terminated state when it exited other than with 0 (built) or 1 (a package failed)."""
    for cs in _statuses(pod):
        t = cs.state.terminated if cs.state else None
        if t and t.exit_code not in (0, 1):
            return t
    return None


def is_nfs_mount_failure(message: str) -> bool:
    """A FailedMount event of an NFS mount that ran and failed (`mount failed: exit status 32 ...
    mount.nfs: ...`), or of volumes the kubelet gave up waiting for (`Unable to attach or mount
    volumes: ...: timed out waiting for the condition`, after two minutes). Not the transient ones
    the kubelet retries and heals within seconds: the node authorizer not yet knowing that the pod
    uses the claim (`persistentvolumeclaims "..." is forbidden: User "system:node:..."`, seen in CI),
    or the service-account token volume waiting for its config map (`failed to sync configmap cache`)."""
    m = message or ""
    if "is forbidden" in m or 'volume "kube-api-access-' in m:
        return False
    if "mount failed" in m or "mount.nfs" in m:
        return True
    return m.startswith("Unable to attach or mount volumes") and "timed out waiting for the condition" in m


def pending_problem(pod, role: str, events: list, nfs: str) -> Diagnosis | None:
    """A Pending pod whose events say it will not start: its NFS volume does not mount, or it cannot
    be scheduled (seen three times)."""
    name, node = pod.metadata.name, pod.spec.node_name or "(not scheduled)"
    for ev in sorted(events, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp):
        if ev.reason == "FailedMount" and is_nfs_mount_failure(ev.message):
            return Diagnosis("nfs-unreachable", _mount_failure(name, role, node, ev.message, nfs))
        if ev.reason == "FailedScheduling" and (ev.count or 1) >= 3:
            return Diagnosis("scheduling", f"the {role} pod {name} cannot be scheduled: {ev.message}")
    return None


def _mount_failure(pod: str, role: str, node: str, message: str, nfs: str) -> str:
    out = message.split("Output:", 1)[-1].strip() if "Output:" in message else message.strip()
    vol = message.split('volume "', 1)[-1].split('"', 1)[0] if 'volume "' in message else "?"
    host = nfs.split(":", 1)[0]
    return (f"NFS unreachable from pods: kubelet on node {node} could not mount volume {vol} ({nfs}) for the "
            f"{role} pod {pod}: {out[:400]}. Check that the NFS server runs and that every node reaches {host} "
            f"on TCP 111, 2049 and the MOUNT port, and that the nodes can mount NFS (`mount -t nfs`).")


def lost_worker(state: dict, live_pods: set[str], worker_nodes: dict[str, str]) -> Diagnosis | None:
    """A worker pod that was Running, is gone, and still holds a package in the scheduler's state."""
    for p, v in state.get("packages", {}).items():
        if v["state"] == "building" and v["worker"] not in live_pods and v["worker"] in worker_nodes:
            return Diagnosis("worker-crashed", f"worker pod {v['worker']} (node {worker_nodes[v['worker']]}) "
                                               f"disappeared while building {p}; the scheduler still counts {p} "
                                               f"as building, so Photon's build would wait forever")
    return None


def replica_failure(replica_sets: list) -> Diagnosis | None:
    """The Deployment cannot create its pods (quota, admission, ...): the ReplicaSet's condition."""
    for rs in replica_sets:
        for c in rs.status.conditions or []:
            if c.type == "ReplicaFailure" and c.status == "True":
                return Diagnosis("start", f"the worker pods cannot be created: {c.message}")
    return None


def photon_claim_pairing(name: str, phase: str, storage_class: str | None, bound: str | None) -> str | None:
    """A PV and claim shaped like Photon's (no storageClassName) that did not pair: what the cluster
    did instead and what to change before Photon's build; None when the claim bound to its PV."""
    if phase == "Bound" and bound == name:
        return None
    what = (f"was bound to {bound}, a volume the class's provisioner made, instead of the NFS PV: Photon's "
            f"master and workers would each write to that volume, not to the shared export"
            if bound else "stayed Pending for 20s: `make distributed-build` would wait at its first pod")
    return (f"a PV and claim shaped like Photon's (support/package-builder/yaml/persistentVolume*.yaml: no "
            f"storageClassName) do not pair here: the cluster gave the claim StorageClass "
            f"{storage_class or '(none)'} and it {what}. Before Photon's build, add storageClassName: \"\" to "
            f"both YAML files or remove the default-class annotation; the rehearsal's own objects set \"\".")


def pod_states(pods) -> str:
    """One line: each pod's phase, why its containers wait, and its node."""
    out = []
    for p in pods:
        why = [cs.state.waiting.reason for cs in p.status.container_statuses or [] if cs.state and cs.state.waiting]
        out.append(f"{p.metadata.name} {p.status.phase}{' (' + ', '.join(why) + ')' if why else ''} "
                   f"on {p.spec.node_name or '-'}")
    return "; ".join(out)
