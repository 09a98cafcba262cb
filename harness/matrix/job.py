"""The objects of a matrix run in its namespace: the Indexed Job of shards and the collector pod.

Each shard is one index of the Job: a privileged pod (its own Docker daemon for the container
targets, on an emptyDir: a daemon's overlay2 cannot sit on the pod's overlay root) that writes
under RESULTS/shard-K/ on the run's NFS export. backoffLimitPerIndex 0: a shard that dies is not
run again (it is reported, with the pod's reason) and does not stop the others. The collector pod
mounts the same export so the controller can read progress and results through the API, on any
cluster the nodes of which reach the NFS server.
"""
from __future__ import annotations

from harness.core.labels import SESSION_LABEL

RESULTS = "/results"
# Shards are privileged pods: the run's namespace asks Pod Security admission for that (a cluster that
# forbids it by other policy still refuses them, and the pods' events say so).
PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}
RUN_LABEL = "io.photon-harness.matrix-run"
ROLE_LABEL = "io.photon-harness.matrix-role"


def labels(session: str, run: str, role: str) -> dict[str, str]:
    return {SESSION_LABEL: session.lower(), RUN_LABEL: run, ROLE_LABEL: role}


def _volumes(nfs_host: str, nfs_path: str):
    from kubernetes import client as k
    return [k.V1Volume(name="results", nfs=k.V1NFSVolumeSource(server=nfs_host, path=nfs_path))]


def shard_job(run: str, session: str, image: str, shards: int, pytest_args: list[str],
              nfs_host: str, nfs_path: str, deadline: int):
    from kubernetes import client as k
    container = k.V1Container(
        name="shard", image=image, image_pull_policy="IfNotPresent",
        args=["--shards", str(shards), "--results", f"{RESULTS}/{run}", "--", *pytest_args],
        env=[k.V1EnvVar(name="PHOTON_HARNESS_SESSION", value=session)],
        security_context=k.V1SecurityContext(privileged=True),
        volume_mounts=[k.V1VolumeMount(name="results", mount_path=RESULTS),
                       k.V1VolumeMount(name="docker", mount_path="/var/lib/docker")])
    pod = k.V1PodSpec(restart_policy="Never", containers=[container], termination_grace_period_seconds=5,
                      volumes=_volumes(nfs_host, nfs_path) + [k.V1Volume(name="docker", empty_dir=k.V1EmptyDirVolumeSource())])
    return k.V1Job(
        metadata=k.V1ObjectMeta(name=f"{run}-shards", labels=labels(session, run, "shards")),
        spec=k.V1JobSpec(completion_mode="Indexed", completions=shards, parallelism=shards,
                         backoff_limit_per_index=0, active_deadline_seconds=deadline,
                         template=k.V1PodTemplateSpec(metadata=k.V1ObjectMeta(labels=labels(session, run, "shard")),
                                                      spec=pod)))


def collector_pod(run: str, session: str, image: str, nfs_host: str, nfs_path: str):
    from kubernetes import client as k
    container = k.V1Container(
        name="collector", image=image, image_pull_policy="IfNotPresent", command=["sleep", "infinity"],
        volume_mounts=[k.V1VolumeMount(name="results", mount_path=RESULTS)])
    return k.V1Pod(metadata=k.V1ObjectMeta(name=f"{run}-collector", labels=labels(session, run, "collector")),
                   spec=k.V1PodSpec(restart_policy="Never", containers=[container],
                                    termination_grace_period_seconds=1, volumes=_volumes(nfs_host, nfs_path)))
