"""A small Kubernetes helper shared by the rehearsal, Photon's own build and the fixtures: the API
groups, a command in a pod, what is left of a set of objects, a session's namespaces. No pytest here."""
from __future__ import annotations

import json
from typing import Callable

from harness.core.errors import InfrastructureError
from harness.core.labels import SESSION_LABEL
from harness.core.wait import WaitTimeout, wait_for


def api_error(e) -> str:
    """The API server's own message from an ApiException (its JSON body), else its status line."""
    body = e.body.decode(errors="replace") if isinstance(e.body, bytes) else str(e.body or "")
    try:
        return json.loads(body).get("message", body)
    except ValueError:
        return body or f"{e.status} {e.reason}"


class Kube:
    """The API groups of one client, and what the harness does with them."""

    def __init__(self, api):
        from kubernetes import client as k
        self.api = api
        self.core, self.batch, self.apps = k.CoreV1Api(api), k.BatchV1Api(api), k.AppsV1Api(api)
        self.storage = k.StorageV1Api(api)

    def pods(self, namespace: str, selector: str):
        return self.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=30).items

    def leftovers(self, namespace: str, selector: str = "", keep: Callable[[object], bool] = lambda o: True,
                  volumes: Callable[[object], bool] | None = None) -> list[str]:
        """Kind/name of the objects still there: PersistentVolumes (cluster-wide) for which `volumes`
        says so, and in `namespace` claims, pods, services, jobs, deployments and replica sets that
        match `selector` and `keep`."""
        left = [f"PersistentVolume/{o.metadata.name}" for o in self.core.list_persistent_volume(_request_timeout=30).items
                if volumes is not None and volumes(o)]
        for kind, lister in (("PersistentVolumeClaim", self.core.list_namespaced_persistent_volume_claim),
                             ("Pod", self.core.list_namespaced_pod), ("Service", self.core.list_namespaced_service),
                             ("Job", self.batch.list_namespaced_job), ("Deployment", self.apps.list_namespaced_deployment),
                             ("ReplicaSet", self.apps.list_namespaced_replica_set)):
            left += [f"{kind}/{o.metadata.name}" for o in lister(namespace, label_selector=selector,
                                                                 _request_timeout=30).items if keep(o)]
        return left

    def delete(self, kind: str, name: str, namespace: str) -> None:
        """Delete one object (raises the ApiException); a Job's or Deployment's pods go with it."""
        quick = {"grace_period_seconds": 2}
        with_pods = {"propagation_policy": "Foreground", **quick}
        delete = {"Job": lambda: self.batch.delete_namespaced_job(name, namespace, **with_pods),
                  "Deployment": lambda: self.apps.delete_namespaced_deployment(name, namespace, **with_pods),
                  "Pod": lambda: self.core.delete_namespaced_pod(name, namespace, **quick),
                  "Service": lambda: self.core.delete_namespaced_service(name, namespace),
                  "PersistentVolumeClaim": lambda: self.core.delete_namespaced_persistent_volume_claim(name, namespace),
                  "PersistentVolume": lambda: self.core.delete_persistent_volume(name)}[kind]
        delete()

    def exec(self, namespace: str, pod: str, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run argv in the pod's (first) container: (exit code, stdout and stderr together)."""
        from kubernetes.stream import stream
        resp = stream(self.core.connect_get_namespaced_pod_exec, pod, namespace, command=argv, stderr=True,
                      stdin=False, stdout=True, tty=False, _preload_content=False)
        out: list[str] = []

        def closed() -> bool:
            resp.update(timeout=1)
            out.extend([resp.read_stdout(timeout=0) or "", resp.read_stderr(timeout=0) or ""])
            return not resp.is_open()
        what = f"`{' '.join(argv)[:80]}` in pod {pod}"
        try:
            wait_for(f"{what} to end", closed, timeout=timeout, interval=0)
            timed_out = False
        except WaitTimeout:
            timed_out = True
        out += [resp.read_stdout(timeout=0) or "", resp.read_stderr(timeout=0) or ""]
        resp.close()
        if timed_out:
            raise InfrastructureError(f"{what} ran past {timeout:.0f}s")
        code = resp.returncode
        return (code if code is not None else 0), "".join(out)

    def create_namespace(self, name: str, session: str, timeout: float = 60, labels: dict | None = None) -> None:
        """A namespace labelled with the session (and `labels`), ready for pods: they are refused until its
        default service account exists, which the controller makes asynchronously."""
        from kubernetes import client as k
        self.core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(
            name=name, labels={SESSION_LABEL: session.lower(), **(labels or {})})))
        wait_for(f"the default service account of namespace {name}",
                 lambda: any(sa.metadata.name == "default"
                             for sa in self.core.list_namespaced_service_account(name).items), timeout=timeout)

    def delete_namespace(self, name: str, timeout: float = 180) -> bool:
        """Delete it and wait until it is gone; False when it is still terminating after `timeout`."""
        self.core.delete_namespace(name, _request_timeout=60)
        try:
            wait_for(f"namespace {name} to be deleted",
                     lambda: name not in {n.metadata.name for n in self.core.list_namespace().items},
                     timeout=timeout, interval=2)
        except WaitTimeout:
            return False
        return True
