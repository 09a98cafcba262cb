"""`photon-harness matrix run`: the suites as an Indexed Job of N shards, one report for all.

In order: check everything that can be checked before the cluster is touched (the kubeconfig
reaches a cluster, pytest accepts the arguments and plans the run, the shard count fits the
targets, the runner image is there or can be built and loaded); then, in a namespace of its own
(recorded for `reap` first): the collector pod, the Job, progress per shard while it runs, the
results fetched through the collector, and one report, JUnit and allure result set written by the
same code as a local run's. Ctrl-C, a timeout or an error deletes the namespace all the same.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.artifacts.matrix_runner import runner_image as build_runner_image
from harness.core.engine import docker_client
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.labels import claim_ownership, new_session_id
from harness.core.paths import REPO_ROOT
from harness.core.wait import WaitTimeout, wait_for
from harness.infra import cluster_runs
from harness.infra.kube import Kube, api_error
from harness.infra.nfs import NfsServer
from harness.matrix import images, job, outputs
from harness.matrix.collect import fetch, write_report
from harness.matrix.nodes import ClusterNodes
from harness.model import shards as sharding
from harness.report.merge import ShardEnd

log = logging.getLogger(__name__)

POLL = 5             # seconds between looks at the pods and the results
REPORT_EVERY = 30    # a progress line at least this often, also when nothing changed
# Waiting reasons a pod does not recover from by itself: its shard ends with that reason.
STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError",
         "CreateContainerError", "RunContainerError"}
STUCK_FOR = 60

# Runs in the collector pod: per shard, tests planned, recorded, failed so far.
PROGRESS = r"""
import json, pathlib, sys
out = {}
for d in sorted(pathlib.Path(sys.argv[1]).glob("shard-*")):
    plan, done, bad = d / "report" / "plan.json", 0, 0
    for f in (d / "report" / "records").glob("*.json"):
        try:
            outcome = json.loads(f.read_text())["outcome"]
        except Exception:
            continue
        done += 1
        bad += outcome in ("failed", "error")
    try:
        planned = len(json.loads(plan.read_text())["tests"])
    except Exception:
        planned = None
    out[d.name] = [planned, done, bad]
print(json.dumps(out))
"""


@dataclass
class Shard:
    index: int
    targets: list[str]
    tests: list[dict]
    pod: str = ""
    state: str = "not scheduled yet"
    progress: tuple = (None, 0, 0)     # tests planned (None: not yet), recorded, failed or errored
    stuck_since: float | None = None
    end: str | None = None       # None while it runs; "" when pytest ran to its end; else why not

    def line(self) -> str:
        planned, done, bad = self.progress
        of = planned if planned is not None else len(self.tests)
        return (f"shard {self.index} ({', '.join(self.targets) or 'no target'}): {done}/{of} tests done, "
                f"{bad} failed so far; {self.state}")


def say(text: str) -> None:
    print(f"[matrix] {text}", flush=True)


def matrix_run(kubeconfig: str, shards: int, pytest_args: list[str], runner_image: str = "",
               nfs_server: str = "", timeout: float = 3600) -> int:
    """Exit status: 0 every test passed, 1 some failed or errored, 3 the run itself failed, 4 bad input
    (one line, nothing created in the cluster), 130 interrupted."""
    session = os.environ.get("PHOTON_HARNESS_SESSION") or new_session_id()
    claim_ownership()
    started = time.monotonic()
    out = outputs.split(pytest_args, session)
    try:
        if shards < 1:
            raise HarnessError(f"--shards {shards}: a matrix needs at least one shard")
        plan = local_plan(out.shard_args, session)
        targets = [t["id"] for t in plan["targets"]]
        unsupported = [t["id"] for t in plan["targets"] if t["backend"] == "vm"]
        if unsupported:
            raise HarnessError(f"{', '.join(unsupported)}: VM targets do not run in a matrix shard (a pod has no "
                               "QEMU or disk); run them locally")
        if shards > max(len(targets), 1):
            raise HarnessError(f"--shards {shards} but the run has {len(targets)} target(s) "
                               f"({', '.join(targets) or 'none'}): shards split the run by target")
        nodes = ClusterNodes.connect(kubeconfig)
        nfs_host_needed = not nfs_server
        nodes.check_reachable_from_here(need_network=nfs_host_needed, need_load=not runner_image)
        client = docker_client() if (not runner_image or nfs_host_needed) else None
        if runner_image:
            nodes.check_image(runner_image)
    except HarnessError as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
        return 4
    assignment = sharding.assign(targets, shards)
    work = [Shard(k, ids, [t for t in plan["tests"] if sharding.shard_of(t["target"], assignment) == k])
            for k, ids in enumerate(assignment)]
    say(f"session {session}: {len(plan['tests'])} tests on {len(targets)} target(s) in {shards} shard(s): "
        + "; ".join(f"shard {s.index}: {', '.join(s.targets) or 'no target'} ({len(s.tests)} tests)" for s in work))
    timings: dict[str, float] = {}
    try:
        if not runner_image:
            t = time.monotonic()
            preload = images.for_plan(client, plan)
            runner_image = build_runner_image(client, preload).tag
            timings["runner image"] = time.monotonic() - t
            say(f"runner image {runner_image} ({len(preload)} target images inside), {timings['runner image']:.0f} s")
            t = time.monotonic()
            nodes.load(client, runner_image)
            timings["image load"] = time.monotonic() - t
            say(f"loaded onto {len(nodes.names)} node(s) in {timings['image load']:.0f} s")
    except (HarnessError, InfrastructureError) as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
        return 3
    run = f"matrix-{session.lower()}"
    cluster_runs.record(run, Path(kubeconfig), session)
    kube = Kube(nodes.api)
    served = None
    code = 3
    try:
        served, nfs = serve_results(client, nodes, nfs_server, session)
        kube.create_namespace(run, session, labels=job.PRIVILEGED)
        code = drive(kube, run, session, runner_image, work, out, nfs, plan, timeout, timings, started)
    except KeyboardInterrupt:
        say("interrupted: deleting the Job and the namespace")
        code = 130
    except (HarnessError, InfrastructureError) as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
    except Exception as e:
        from kubernetes.client.rest import ApiException
        if not isinstance(e, ApiException):
            raise
        print(f"photon-harness: error: the cluster refused: {api_error(e)}", file=sys.stderr)
    finally:
        cleanup(kube, run, served)
    return code


def build_runner(pytest_args: list[str]) -> int:
    """`matrix build-runner`: the runner image for these arguments (with their target images), to push."""
    out = outputs.split(pytest_args, new_session_id())
    try:
        plan = local_plan(out.shard_args, "build-runner")
        client = docker_client()
    except HarnessError as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
        return 4
    try:
        tag = build_runner_image(client, images.for_plan(client, plan)).tag
    except (HarnessError, InfrastructureError) as e:
        print(f"photon-harness: error: {e}", file=sys.stderr)
        return 3
    print(tag)
    return 0


def local_plan(shard_args: list[str], session: str) -> dict:
    """pytest's own check of the arguments, and the run's tests, targets and claims, before the cluster is touched."""
    with tempfile.TemporaryDirectory(prefix="matrix-plan-") as tmp:
        plan_file = Path(tmp) / "plan.json"
        r = subprocess.run([sys.executable, "-m", "pytest", *shard_args, "--collect-only", "-q", "-n", "0",
                            "-p", "no:cacheprovider", "--matrix-plan", str(plan_file)],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, PHOTON_HARNESS_SESSION=session))
        if r.returncode != 0 or not plan_file.exists():
            lines = [l for l in (r.stderr + r.stdout).splitlines() if l.startswith(("ERROR", "E "))]
            why = lines[0] if lines else f"pytest exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
            raise HarnessError(f"pytest does not accept the run's arguments: {why}")
        plan = json.loads(plan_file.read_text())
    if not plan["tests"]:
        raise HarnessError("the arguments select no test")
    return plan


def serve_results(client, nodes: "ClusterNodes", nfs_server: str, session: str):
    """(our server to stop, or None; the (host, path) the pods mount)."""
    if nfs_server:
        given = NfsServer.external(nfs_server)
        return None, (given.host, given.path)
    server = NfsServer.start(client, session, networks=[nodes.network])
    nodes.prepare_nfs(client, session)
    return server, (server.address(nodes.network), server.path)


def drive(kube: Kube, run: str, session: str, image: str, work: list[Shard], out, nfs, plan: dict,
          timeout: float, timings: dict, started: float) -> int:
    t = time.monotonic()
    kube.core.create_namespaced_pod(run, job.collector_pod(run, session, image, *nfs))
    collector = f"{run}-collector"
    wait_running(kube, run, collector, 180)
    code, text = kube.exec(run, collector, ["mkdir", "-p", f"{job.RESULTS}/{run}"], timeout=60)
    if code != 0:
        raise InfrastructureError(f"cannot write to the results export {nfs[0]}:{nfs[1]}: {text.strip()[-300:]}")
    kube.batch.create_namespaced_job(run, job.shard_job(run, session, image, len(work), out.shard_args,
                                                        *nfs, deadline=int(timeout)))
    timings["collector ready"] = time.monotonic() - t
    watch(kube, run, collector, work, timeout, timings)
    t = time.monotonic()
    results = fetch(kube, run, collector)
    timings["collect"] = time.monotonic() - t
    ends = [ShardEnd(s.index, s.pod, s.end or "") for s in work]
    summary, failed = write_report(results, run, ends, work, plan, out, session,
                                   time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - (time.monotonic() - started))))
    timings["total"] = time.monotonic() - started
    say(summary)
    say("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    return 1 if failed else 0


def wait_running(kube: Kube, namespace: str, pod: str, timeout: float) -> None:
    def running() -> bool:
        p = kube.core.read_namespaced_pod(pod, namespace, _request_timeout=30)
        reason = waiting_reason(p)
        if reason in STUCK:
            raise InfrastructureError(f"pod {pod} cannot start: {reason}")
        return p.status.phase == "Running"
    try:
        wait_for(f"pod {pod} to run", running, timeout=timeout, interval=1)
    except WaitTimeout:
        raise InfrastructureError(f"pod {pod} was not running within {timeout:.0f} s") from None


def waiting_reason(pod) -> str:
    for c in (pod.status.container_statuses or []):
        if c.state and c.state.waiting and c.state.waiting.reason:
            return c.state.waiting.reason
    return ""


def pod_end(pod) -> tuple[str, str]:
    """(state in words, why it did not run to its end: "" if it did; None while it runs)."""
    s = pod.status
    if s.phase == "Succeeded":
        return "finished", ""
    if s.reason:   # Evicted, DeadlineExceeded, ...: the pod's own reason
        return f"{s.reason}", f"{s.reason}: {(s.message or '').strip()}".rstrip(": ")
    for c in (s.container_statuses or []):
        term = c.state.terminated if c.state else None
        if term is not None and s.phase == "Failed":
            why = f"{term.reason or 'terminated'} (exit code {term.exit_code}"
            why += ", killed by SIGKILL)" if term.exit_code == 137 else ")"
            why += f": {term.message.strip()}" if getattr(term, "message", None) else ""
            return why, why
        waiting = c.state.waiting if c.state else None
        if waiting is not None and waiting.reason:
            return f"waiting: {waiting.reason}", None
    if s.phase == "Failed":
        return "failed", "Failed (no container status)"
    return s.phase.lower() if s.phase else "pending", None


def watch(kube: Kube, run: str, collector: str, work: list[Shard], timeout: float, timings: dict) -> None:
    """Until every shard has ended (or the timeout): a progress line per shard when it changes."""
    shown = {"lines": [], "at": 0.0}
    began = time.monotonic()

    def all_ended() -> bool:
        now = time.monotonic()
        look(kube, run, collector, work, now, timings, began)
        lines = [s.line() for s in work]
        if lines != shown["lines"] or now - shown["at"] >= REPORT_EVERY:
            for line in lines:
                say(line)
            shown.update(lines=lines, at=now)
        return all(s.end is not None for s in work)
    try:
        wait_for(f"the {len(work)} shard(s) of {run} to end", all_ended, timeout=timeout, interval=POLL)
        timings["shards"] = time.monotonic() - began
    except WaitTimeout:
        for s in work:
            if s.end is None:
                s.end = f"did not end within the matrix run's --timeout ({timeout:.0f} s)"


def look(kube: Kube, run: str, collector: str, work: list[Shard], now: float, timings: dict, began: float) -> None:
    """Each shard's pod state, end and progress (records written so far), as of now."""
    pods = {int(p.metadata.annotations.get("batch.kubernetes.io/job-completion-index", -1)): p
            for p in kube.pods(run, f"{job.ROLE_LABEL}=shard")}
    for s in work:
        pod = pods.get(s.index)
        if pod is None or s.end is not None:
            continue
        s.pod = pod.metadata.name
        s.state, why = pod_end(pod)
        if s.state == "running" and "pods running" not in timings:
            timings["pods running"] = now - began
        reason = waiting_reason(pod)
        if reason in STUCK:
            s.stuck_since = s.stuck_since or now
            if now - s.stuck_since > STUCK_FOR:
                why = f"{reason}: " + next((c.state.waiting.message or "" for c in pod.status.container_statuses
                                             if c.state and c.state.waiting), "")
        if why is not None:
            s.end = why
            s.state = "ended: " + (why or "ran to its end")
    code, text = kube.exec(run, collector, ["python3", "-c", PROGRESS, f"{job.RESULTS}/{run}"], timeout=60)
    if code == 0:
        try:
            progress = json.loads(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            progress = {}
        for s in work:
            s.progress = tuple(progress.get(f"shard-{s.index}", s.progress))


def cleanup(kube: Kube, run: str, served) -> None:
    """Delete the namespace (the Job, its pods, the collector) and stop our NFS server."""
    from kubernetes.client.rest import ApiException
    try:
        if not kube.delete_namespace(run, timeout=180):
            say(f"namespace {run} is still terminating; `photon-harness reap` removes it later")
            return
    except ApiException as e:
        if e.status != 404:
            say(f"namespace {run} not deleted: {api_error(e)}; `photon-harness reap` removes it later")
            return
    except Exception as e:   # the cluster went away: keep the record for reap
        say(f"namespace {run} not deleted ({e.__class__.__name__}); `photon-harness reap` removes it later")
        return
    finally:
        if served is not None:
            served.stop()
    cluster_runs.forget(run)
