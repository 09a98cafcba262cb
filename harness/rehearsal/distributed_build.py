"""The distributed-build rehearsal: Photon's distributed-builder topology on a real cluster.

Photon's `make distributed-build` (support/package-builder/DistributedBuilder.py, namespace
`default`, every object suffixed with a 4-hex build id) creates, in this order:

  PersistentVolumes (nfs)  builder, logs, specs, rpms, publishrpms, publishxrpms, photon
                           under <nfs-server-path>/build-<id>/photon/..., and nfspod at the path
  PersistentVolumeClaims   the same eight, bound by the label storage-tier=<name>-<id>
  Pod nfspod-<id>          mounts the export root; the source tree is copied in through it
  Service master-service-<id>   TCP 80 -> the master
  Job master-<id>          runs the scheduler server (SchedulerServer.py) over the package graph
  Deployment worker-<id>   `pods` replicas of BuilderClient.py, which find the master through
                           MASTER_SERVICE_<ID>_SERVICE_HOST/_PORT and make REST calls to it

then follows the master's log, waits for the Job, copies stage/ back and deletes everything.

`Rehearsal.run()` deploys the same objects with our own small programs
(images/distributed-build/: scheduler.py serves the same REST endpoints over a synthetic package
graph, worker.py does what BuilderClient does and "builds" by writing artefacts onto the shared
NFS volumes), watches it through the Kubernetes API, checks the outcome, and deletes everything,
after success or failure alike. Each failure names its cause: NFS not mountable on a node, an
image missing on the nodes, a worker that crashed, the service variables missing, ...

The objects come from templates mirroring Photon's YAML (topology.py, topology/*.yaml), which
note each deliberate difference: our image instead of photon:latest (which installs its tools with
tdnf and pip at start-up, so needs the internet); `storageClassName: ""` on the PVs and claims
(Photon's name none: on a cluster with a default StorageClass its claims get that class and never
bind; the report warns when that is the case); the worker Deployment's selector carries the build
id; the master Job has backoffLimit 0. The scheduler waits for every worker before it hands out
the first package. Why a pod is stuck is diagnosed in diagnosis.py, the verdict in verdict.py.
No pytest here.
"""
from __future__ import annotations

import json
import logging
import time

from harness.artifacts.build import BuildResult, recipe_image
from harness.core.errors import HarnessError
from harness.core.wait import WaitTimeout, wait_for
from harness.infra.kube import Kube, api_error
from harness.rehearsal.packages import (
    GRAPH, IMAGE_RECIPE, REHEARSAL_LABEL, artefacts_from, copy_script, listed_files, new_build_id, source_tree
)
from harness.rehearsal import diagnosis
from harness.rehearsal.pod_watch import PodWatch
from harness.rehearsal.scheduler_client import (
    SchedulerClient, endpoint_checks, progress_lines, state_counts, summary_from_log
)
from harness.rehearsal.topology import Topology
from harness.rehearsal.verdict import Check, RehearsalFailed, RehearsalResult, judge

log = logging.getLogger(__name__)

def rehearsal_image(client) -> BuildResult:
    """Debian minbase + python3, built locally with mmdebstrap (images/distributed-build/image/)."""
    return recipe_image(client, IMAGE_RECIPE, "distributed-build")


class Rehearsal:
    """One rehearsal on a cluster: `Rehearsal(api, ...).run()` -> RehearsalResult (never raises
    for a failure of the rehearsed build; raises only for bad arguments)."""

    def __init__(self, api, image: str, nfs_host: str, nfs_path: str, *, pods: int = 3,
                 namespace: str = "default", graph: dict[str, list[str]] | None = None,
                 outcomes: dict[str, str] | None = None, build_seconds: float | dict[str, float] = 2.0,
                 pull_policy: str = "IfNotPresent", start_timeout: float = 240, build_timeout: float = 600,
                 cleanup_timeout: float = 240, keep_artefacts: bool = False, build_id: str | None = None,
                 during_build=None):
        if pods < 1:
            raise HarnessError(f"pods must be 1 or more, not {pods}")
        if not nfs_path.startswith("/"):
            raise HarnessError(f"NFS path {nfs_path!r} must be absolute")
        self.api, self.kube = api, Kube(api)
        self.core, self.batch, self.apps = self.kube.core, self.kube.batch, self.kube.apps
        self.image, self.pods, self.ns = image, pods, namespace
        self.nfs_host, self.nfs_path = nfs_host, nfs_path.rstrip("/") or "/"
        self.graph = graph or GRAPH
        self.outcomes = outcomes or {}
        self.files = source_tree(self.graph, self.outcomes, build_seconds)
        self.start_timeout, self.build_timeout, self.cleanup_timeout = start_timeout, build_timeout, cleanup_timeout
        self.keep_artefacts = keep_artefacts
        self.during_build = during_build  # called (rehearsal, scheduler state) on each poll; the self-tests' chaos
        self.id = build_id or new_build_id()
        self.topo = Topology(self.id, image, nfs_host, self.nfs_path, pods, pull_policy)
        self.scheduler = SchedulerClient(api, namespace, self.topo.name("master-service"))
        self.t0 = 0.0
        self.r = RehearsalResult(self.id, namespace, pods, f"{nfs_host}:{self.nfs_path}",
                                 sorted(p for p, o in self.outcomes.items() if o == "fail"))
        self.watch = PodWatch(self.kube, namespace, self.topo, self.r, self.scheduler, start_timeout)
        self._seen_state: dict[str, str] = {}
        self.extra_pvs: list[str] = []    # volumes a provisioner made for our claims

    # ------------------------------------------------------------------ names and reporting

    def name(self, base: str) -> str:
        return self.topo.name(base)

    @property
    def build_dir(self) -> str:
        return f"/root/build-{self.id}/photon"    # in the nfspod, which mounts the export at /root

    def line(self, what: str, text: str) -> None:
        stamp = f"[{time.monotonic() - self.t0:6.1f}s]" if self.t0 else " " * 9
        out = f"  {stamp} {what:9} {text}"
        self.r.lines.append(out)
        log.info(out)

    def warn(self, text: str) -> None:
        self.r.warnings.append(text)
        self.line("WARNING", text)

    # ------------------------------------------------------------------ the run

    def run(self) -> RehearsalResult:
        r = self.r
        head = (f"distributed-build rehearsal {self.id}: namespace {self.ns}, pods={self.pods}, "
                f"NFS {r.nfs}, image {self.image}, {len(self.graph)} packages")
        r.lines.append(head)
        log.info(head)
        self.t0 = time.monotonic()
        try:
            self._phase("cluster", self.check_cluster)
            self._phase("volumes", self.create_volumes)
            self._phase("nfspod", self.start_nfspod)
            self._phase("copy", self.copy_sources)
            self._phase("master", self.start_master)
            self._phase("workers", self.start_workers)
            self._phase("build", self.watch_build)
            self._phase("collect", self.collect)
        except RehearsalFailed as e:
            r.cause, r.failure = e.cause, str(e)
            self.line("FAILED", f"[{e.cause}] {e}")
            self._diagnose()
        except Exception as e:  # an API error the steps did not expect: still clean up, still report
            r.cause, r.failure = "error", f"{type(e).__name__}: {str(e)[:1500]}"
            self.line("FAILED", f"[error] {r.failure}")
        finally:
            self._phase("cleanup", self.cleanup)
            r.seconds = time.monotonic() - self.t0
        self.judge()
        return r

    def _phase(self, name: str, fn) -> None:
        start = time.monotonic()
        try:
            fn()
        finally:
            self.r.phases[name] = time.monotonic() - start

    # ------------------------------------------------------------------ steps

    def check_cluster(self) -> None:
        from kubernetes.client.rest import ApiException
        try:
            nodes = self.core.list_node(_request_timeout=30).items
        except ApiException as e:
            raise RehearsalFailed("cluster", f"the API server refused to list nodes: {e.status} {e.reason}") from None
        except Exception as e:
            raise RehearsalFailed("cluster", f"the API server does not answer: {type(e).__name__}: {e}") from None
        ready = [n.metadata.name for n in nodes
                 if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
        self.line("cluster", f"{len(ready)}/{len(nodes)} nodes Ready: {', '.join(sorted(ready))}")
        if not ready:
            raise RehearsalFailed("cluster", "no node is Ready")
        try:
            self.core.read_namespace(self.ns, _request_timeout=30)
        except ApiException as e:
            raise RehearsalFailed("cluster", f"namespace {self.ns}: {e.status} {e.reason}") from None
        self.check_photon_claims()

    def check_photon_claims(self) -> None:
        """Photon's PVs and claims name no storageClassName. Where the cluster has a default
        StorageClass, admission gives the claims that class: they then wait, or (a provisioner that
        ignores selectors, as kind's host-path one) get a fresh volume instead of the NFS export.
        One PV and claim shaped exactly like Photon's show which; the rehearsal's own set "" on both."""
        from kubernetes.client.rest import ApiException
        name = self.name("photon-claim-probe")
        pv, pvc = self.topo.photon_shaped_claim(name)
        self._create("PersistentVolume", lambda: self.core.create_persistent_volume(pv))
        self._create("PersistentVolumeClaim", lambda: self.core.create_namespaced_persistent_volume_claim(self.ns, pvc))
        read = lambda: self.core.read_namespaced_persistent_volume_claim(name, self.ns, _request_timeout=30)  # noqa: E731
        try:
            got = wait_for(f"claim {name} Bound", read, lambda c: c.status.phase == "Bound", timeout=20)
        except WaitTimeout as e:
            got = e.last   # still Pending: what that means is reported below
        cls, bound = got.spec.storage_class_name, got.spec.volume_name
        for kind in ("PersistentVolumeClaim", "PersistentVolume"):
            try:
                self.kube.delete(kind, name, self.ns)
                self.r.deleted.append(f"{kind}/{name}")
            except ApiException as e:
                self.warn(f"deleting {kind}/{name}: {e.status} {e.reason}")
        if bound and bound != name:
            self.extra_pvs.append(bound)  # provisioned for the claim; its reclaim policy deletes it
        problem = diagnosis.photon_claim_pairing(name, got.status.phase, cls, bound)
        if problem:
            self.warn(problem)
        else:
            self.line("storage", "a claim shaped like Photon's (no storageClassName) binds to its NFS PV")

    def create_volumes(self) -> None:
        volumes = self.topo.volumes()
        for pv, _ in volumes:
            self._create("PersistentVolume", lambda b=pv: self.core.create_persistent_volume(b))
        for _, pvc in volumes:
            self._create("PersistentVolumeClaim",
                         lambda b=pvc: self.core.create_namespaced_persistent_volume_claim(self.ns, b))
        self.line("volumes", f"8 nfs PVs on {self.nfs_host}:{self.nfs_path} (nfspod; the others under "
                             f"build-{self.id}/photon/...) and 8 claims")
        def pending() -> list[str]:
            pvcs = self.core.list_namespaced_persistent_volume_claim(
                self.ns, label_selector=f"{REHEARSAL_LABEL}={self.id}", _request_timeout=30).items
            return sorted(c.metadata.name for c in pvcs if c.status.phase != "Bound") + \
                ["(claims missing)"] * (len(volumes) - len(pvcs))
        try:
            wait_for("the 8 claims Bound", pending, lambda names: not names, timeout=60)
        except WaitTimeout as e:
            raise RehearsalFailed("volumes", f"claims not Bound after 60s: {', '.join(e.last)}") from None
        self.line("volumes", "8 claims Bound")

    def start_nfspod(self) -> None:
        name = self.name("nfspod")
        pod = self.topo.nfspod()
        self._create("Pod", lambda: self.core.create_namespaced_pod(self.ns, pod))
        node = self.watch.wait_running(name, "nfspod")
        self.line("nfspod", f"{name} Running on {node}: {self.nfs_host}:{self.nfs_path} mounted at /root")

    def copy_sources(self) -> None:
        code, out = self._exec(self.name("nfspod"), ["sh", "-c", copy_script(self.files, self.build_dir)], 120)
        if code != 0 or not set(self.files) <= set(listed_files(out)):
            raise RehearsalFailed("nfs-write", f"copying the sources onto the export through {self.name('nfspod')} "
                                  f"failed (exit {code}): {out.strip()[-600:]}")
        self.line("copy", f"{len(self.files)} files (scheduler.py, worker.py, {len(self.graph)} specs) onto "
                          f"build-{self.id}/photon through {self.name('nfspod')}")

    def start_master(self) -> None:
        app = self.name("master")
        svc, job = self.topo.master_service(), self.topo.master()
        self._create("Service", lambda: self.core.create_namespaced_service(self.ns, svc))
        self._create("Job", lambda: self.batch.create_namespaced_job(self.ns, job))
        self.line("master", f"Service {self.name('master-service')} (TCP 80) and Job {app} (the scheduler)")

    def start_workers(self) -> None:
        app = self.name("worker")
        dep = self.topo.worker()
        self._create("Deployment", lambda: self.apps.create_namespaced_deployment(self.ns, dep))
        self.line("workers", f"Deployment {app}: {self.pods} replicas, env BUILDID={self.id.upper()} -> "
                             f"MASTER_SERVICE_{self.id.upper()}_SERVICE_HOST/_PORT")
        master = self.watch.wait_running(None, "master", selector=f"app={self.name('master')}")
        self.line("master", f"scheduler pod Running on {master}")
        def workers() -> tuple[list, dict[str, str]]:
            """The worker pods and, of them, pod -> node for those Running; raises on what will not heal."""
            pods = self.watch.pods(f"app={app}")
            self.watch.count(pods)
            for p in pods:
                self.watch.check(p, "worker")
            self.watch.check_master()
            return pods, {p.metadata.name: p.spec.node_name for p in pods if p.status.phase == "Running"}
        try:
            _, running = wait_for(f"{self.pods} worker pods Running", workers, lambda w: len(w[1]) >= self.pods,
                                  timeout=self.start_timeout, interval=2)
        except WaitTimeout as e:
            pods, running = e.last
            self.watch.replica_problem(app)
            raise RehearsalFailed("start", f"only {len(running)}/{self.pods} worker pods Running after "
                                  f"{self.start_timeout:.0f}s: {diagnosis.pod_states(pods)}") from None
        self.r.worker_pods.update(running)
        nodes = sorted(set(running.values()))
        self.line("workers", f"{len(running)} worker pods Running on {len(nodes)} node(s): "
                             + ", ".join(f"{p} ({n})" for p, n in sorted(running.items())))
        self.check_rest()

    def check_rest(self) -> None:
        """The documented endpoints, called through the API server's service proxy (so from outside
        the cluster); GET /package/ is left to the workers (it hands out a package)."""
        checks = endpoint_checks(sorted(self.graph)[0])
        try:   # the service answers once its endpoint (the master pod) is ready in kube-proxy
            code, body = wait_for("the master service to answer GET /constants/",
                                  lambda: self.scheduler.call("GET", "/constants/"), lambda r: r[0] == 200,
                                  timeout=60, interval=2)
        except WaitTimeout as e:
            code, body = e.last
        if code != 200:
            raise RehearsalFailed("service", f"service {self.name('master-service')} does not answer through "
                                  f"the API server's proxy (GET /constants/: {code} {str(body)[:200]})")
        for what, method, path, data, want, valid in checks:
            code, body = self.scheduler.call(method, path, data)
            ok = code == want and (valid is None or valid(body))
            self.r.rest.append(Check(what, ok, f"{code} {json.dumps(body)[:120] if body is not None else ''}"))
        bad = [c for c in self.r.rest if not c.passed]
        self.line("REST", "via the API server: " + "; ".join(f"{c.name} -> {c.detail.split()[0]}" for c in self.r.rest)
                  + (f" (NOT as documented: {', '.join(c.name for c in bad)})" if bad else ""))

    def watch_build(self) -> None:
        job = self.name("master")
        state: dict = {}

        def job_status():
            nonlocal state
            st = self.batch.read_namespaced_job_status(job, self.ns, _request_timeout=30).status
            pods = self.watch.pods(f"{REHEARSAL_LABEL}={self.id}")
            self.watch.count(pods)
            state = self.scheduler.state()
            for p in pods:
                role = "worker" if p.metadata.labels.get("app") == self.name("worker") else (
                    "master" if p.metadata.labels.get("app") == job else "nfspod")
                self.watch.check(p, role, state)
            if state:
                self._progress(state)
                self.watch.check_lost_workers(state, pods)
                if self.during_build is not None:
                    self.during_build(self, state)
            return st
        try:
            st = wait_for(f"the master Job {job} to end", job_status, lambda st: bool(st.succeeded or st.failed),
                          timeout=self.build_timeout, interval=2)
        except WaitTimeout:
            raise RehearsalFailed("timeout", f"the build did not end within {self.build_timeout:.0f}s; "
                                  f"package states: {state_counts(state)}") from None
        self.r.summary = summary_from_log(self.watch.master_log())
        if self.r.summary is None:
            raise RehearsalFailed("master", f"the master Job {'failed' if st.failed else 'ended'} without a "
                                  f"summary; its log ends:\n{self.watch.master_log(15)}")
        if st.failed and self.r.summary.get("result") == "built":
            raise RehearsalFailed("master", "the master Job failed although every package was built")
        counts = {}
        for p in self.r.summary["packages"].values():
            counts[p["state"]] = counts.get(p["state"], 0) + 1
        self.line("build", f"over: master Job {'succeeded' if st.succeeded else 'failed'}; "
                  + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))

    def collect(self) -> None:
        """Read the artefacts back through the nfspod, as Photon copies stage/ back."""
        d = self.build_dir
        code, out = self._exec(self.name("nfspod"), ["sh", "-c", f"cd {d}/stage && find . -type f | sort"], 60)
        if code != 0:
            raise RehearsalFailed("nfs-read", f"listing build-{self.id}/photon/stage through the nfspod failed: {out[-300:]}")
        self.r.listing = listed_files(out)
        code, out = self._exec(self.name("nfspod"), ["sh", "-c", f"cat {d}/stage/RPMS/*.rpm 2>/dev/null; true"], 60)
        self.r.artefacts.update(artefacts_from(out))
        self.line("collect", f"{len(self.r.listing)} files under build-{self.id}/photon/stage, "
                             f"{len(self.r.artefacts)} package artefacts, read through {self.name('nfspod')}")
        for pod in self.r.worker_pods:
            try:
                self.r.worker_logs[pod] = self.core.read_namespaced_pod_log(pod, self.ns, _request_timeout=30)
            except Exception:  # noqa: BLE001 - a log is a nicety here
                continue
            if "WARNING DNS" in self.r.worker_logs[pod]:
                self.warn(f"worker {pod} could not resolve {self.name('master-service')} by DNS (Photon's worker "
                          f"needs only the service variables, so the build itself is not affected)")

    def cleanup(self) -> None:
        """Photon's clean(): the build directory (through the nfspod), master Job, nfspod, service,
        worker Deployment, claims, volumes; then wait until none of them exists any more."""
        from kubernetes.client.rest import ApiException
        if not self.r.created:
            return
        nfspod = self.name("nfspod")
        if not self.keep_artefacts and f"Pod/{nfspod}" in self.r.created:
            try:
                if self.core.read_namespaced_pod(nfspod, self.ns, _request_timeout=30).status.phase == "Running":
                    self._exec(nfspod, ["rm", "-rf", f"/root/build-{self.id}"], 120)
            except Exception:  # noqa: BLE001 - the export stays dirty; the objects still go
                self.warn(f"could not remove build-{self.id} from the export")
        for kind, name in self.topo.deletion_order():
            if f"{kind}/{name}" not in self.r.created:
                continue
            try:
                self.kube.delete(kind, name, self.ns)
                self.r.deleted.append(f"{kind}/{name}")
            except ApiException as e:
                if e.status != 404:
                    self.warn(f"deleting {kind}/{name}: {e.status} {e.reason}")
        try:
            left = wait_for(f"build {self.id}'s objects to be gone", self.remaining, lambda left: not left,
                            timeout=self.cleanup_timeout, interval=2)
        except WaitTimeout as e:
            left = e.last
        self.r.leftovers = left
        self.line("cleanup", f"deleted {len(self.r.deleted)} objects; "
                  + ("nothing of the build is left" if not left else f"STILL THERE after {self.cleanup_timeout:.0f}s: "
                     + ", ".join(left)))

    def remaining(self) -> list[str]:
        return self.kube.leftovers(self.ns, f"{REHEARSAL_LABEL}={self.id}", volumes=lambda o: (
            (o.metadata.labels or {}).get(REHEARSAL_LABEL) == self.id or o.metadata.name in self.extra_pvs))

    # ------------------------------------------------------------------ the verdict

    def judge(self) -> None:
        r = self.r
        r.checks += judge(r, self.graph, self.pods)
        r.lines.append("  checks:")
        for c in r.checks:
            r.lines.append(f"    {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
        verdict = ("PASSED" if r.ok else f"FAILED [{r.cause}]: {r.failure.splitlines()[0]}" if r.cause
                   else "FAILED: " + "; ".join(c.name for c in r.checks if not c.passed))
        r.lines.append(f"  rehearsal {self.id} {verdict} in {r.seconds:.1f}s "
                       f"({', '.join(f'{k} {v:.1f}s' for k, v in r.phases.items())})")
        for line in r.lines[-len(r.checks) - 2:]:
            log.info(line)

    def _diagnose(self) -> None:
        """After a failure: the last events of the rehearsal's pods, for the report."""
        try:
            pods = self.watch.pods(f"{REHEARSAL_LABEL}={self.id}")
        except Exception:  # noqa: BLE001
            return
        if pods:
            self.line("pods", diagnosis.pod_states(pods))

    # ------------------------------------------------------------------ the scheduler's view

    def _progress(self, state: dict) -> None:
        for text in progress_lines(state, self._seen_state, self.r.worker_pods):
            self.line("build", text)

    # ------------------------------------------------------------------ API plumbing

    def _create(self, kind: str, create) -> None:
        from kubernetes.client.rest import ApiException
        try:
            obj = create()
        except ApiException as e:
            msg = api_error(e)
            cause = "pod-security" if "PodSecurity" in msg else "api"
            raise RehearsalFailed(cause, f"creating the {kind} was refused: {e.status} {msg[:500]}") from None
        name = obj.metadata.name if hasattr(obj, "metadata") else obj["metadata"]["name"]
        self.r.created.append(f"{kind}/{name}")

    def _exec(self, pod: str, argv: list[str], timeout: float) -> tuple[int, str]:
        return self.kube.exec(self.ns, pod, argv, timeout)
