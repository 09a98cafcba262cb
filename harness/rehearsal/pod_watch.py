"""The rehearsal's pods as the API shows them: counted into the result, waited for until Running,
and checked on every poll for what will not heal (diagnosis.py says what; this module reads the
objects it needs and raises RehearsalFailed). No pytest here."""
from __future__ import annotations

from harness.core.wait import WaitTimeout, wait_for
from harness.rehearsal import diagnosis
from harness.rehearsal.verdict import RehearsalFailed

# What the kubelet sends in place of a log it cannot find (the container's log file is not there).
UNRETRIEVABLE = "unable to retrieve container logs"


class PodWatch:
    def __init__(self, kube, namespace: str, topo, result, scheduler, start_timeout: float):
        self.kube, self.ns, self.topo, self.r = kube, namespace, topo, result
        self.scheduler, self.start_timeout = scheduler, start_timeout

    def pods(self, selector: str):
        return self.kube.pods(self.ns, selector)

    def count(self, pods) -> None:
        masters = [p for p in pods if p.metadata.labels.get("app") == self.topo.name("master")]
        workers = [p for p in pods if p.metadata.labels.get("app") == self.topo.name("worker")]
        self.r.master_pods |= {p.metadata.name for p in masters}
        self.r.max_masters_running = max(self.r.max_masters_running,
                                         sum(p.status.phase == "Running" for p in masters))
        running = [p for p in workers if p.status.phase == "Running"]
        self.r.max_workers_running = max(self.r.max_workers_running, len(running))
        for p in running:
            self.r.worker_pods.setdefault(p.metadata.name, p.spec.node_name)

    def wait_running(self, name: str | None, role: str, selector: str | None = None) -> str:
        def pods():
            found = ([self.kube.core.read_namespaced_pod(name, self.ns, _request_timeout=30)] if name
                     else self.pods(selector))
            for p in found:
                self.check(p, role)
            return found
        try:
            found = wait_for(f"the {role} pod Running", pods,
                             lambda found: any(p.status.phase == "Running" for p in found),
                             timeout=self.start_timeout, interval=2)
        except WaitTimeout as e:
            raise RehearsalFailed("start", f"the {role} pod is not Running after {self.start_timeout:.0f}s: "
                                  f"{diagnosis.pod_states(e.last) or 'no pod was created'}") from None
        p = next(p for p in found if p.status.phase == "Running")
        if role == "master":
            self.r.master_pods.add(p.metadata.name)
        return p.spec.node_name

    def check(self, pod, role: str, state: dict | None = None) -> None:
        """Raise RehearsalFailed for what will not heal: an image not on the node, a volume that does
        not mount, a pod that cannot be scheduled, a worker or master that exited."""
        d = diagnosis.image_problem(pod, role, self.topo.image)
        if d is None and role == "worker":
            for cs in diagnosis.worker_endings(pod):
                name = pod.metadata.name
                holding = diagnosis.held_by(state or self.scheduler.state(), name)
                log = self.crashed_container_log(name) if cs is not None or holding else ""
                d = diagnosis.worker_death(pod, cs, holding, log, self.topo.name("master-service"))
                if d:
                    break
        if d is None and role == "master" and (t := diagnosis.master_exit(pod)) is not None:
            d = diagnosis.Diagnosis("master", f"the master pod {pod.metadata.name} on {pod.spec.node_name} exited "
                                              f"with code {t.exit_code} ({t.reason}); its log ends:\n{self.master_log(10)}")
        if d is None and pod.status.phase == "Pending":
            events = self.kube.core.list_namespaced_event(self.ns, field_selector=f"involvedObject.name={pod.metadata.name}",
                                                     _request_timeout=30).items
            d = diagnosis.pending_problem(pod, role, events, f"{self.topo.nfs_host}:{self.topo.nfs_path}")
        if d:
            raise d.failed()

    def crashed_container_log(self, pod: str, timeout: float = 20) -> str:
        """The last lines of the container that ended: the previous one once the kubelet has restarted
        it (which can happen between the pod listing and this read), else the current one. Right after
        a restart the kubelet can answer with its own "unable to retrieve container logs for ..." line
        instead of the log (seen in a .ci/run): that is no log, so the read is tried again for a while."""
        def read() -> str | None:
            for previous in (True, False):
                try:
                    text = self.kube.core.read_namespaced_pod_log(pod, self.ns, previous=previous, tail_lines=8,
                                                                  _request_timeout=30)
                except Exception:  # noqa: BLE001  (400: no previous container yet)
                    continue
                if not text.startswith(UNRETRIEVABLE):
                    return text
            return None
        try:
            return wait_for(f"a readable log of the ended container of pod {pod}", read, lambda t: t is not None,
                            timeout=timeout, interval=2)
        except WaitTimeout:
            return f"(no log: the kubelet could not retrieve it within {timeout:.0f}s)"

    def check_lost_workers(self, state: dict, pods) -> None:
        d = diagnosis.lost_worker(state, {p.metadata.name for p in pods}, self.r.worker_pods)
        if d:
            raise d.failed()

    def check_master(self) -> None:
        for p in self.pods(f"app={self.topo.name('master')}"):
            self.check(p, "master")

    def replica_problem(self, app: str) -> None:
        d = diagnosis.replica_failure(self.kube.apps.list_namespaced_replica_set(
            self.ns, label_selector=f"app={app}", _request_timeout=30).items)
        if d:
            raise d.failed()

    def master_pod(self) -> str | None:
        pods = self.pods(f"app={self.topo.name('master')}")
        return pods[0].metadata.name if pods else None

    def master_log(self, tail: int | None = None) -> str:
        pod = self.master_pod()
        if not pod:
            return "(no master pod)"
        try:
            return self.kube.core.read_namespaced_pod_log(pod, self.ns, tail_lines=tail, _request_timeout=30)
        except Exception as e:  # noqa: BLE001
            return f"(no log: {e})"
