"""The rehearsal's own tests on the real kind cluster: it fails, naming the cause, when the NFS
export is unreachable, when a worker crashes mid-build, when the image is not on the nodes; it
deletes everything after each failure; and the preflight command runs it from the command line."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness.core.labels import new_session_id
from harness.infra.nfs import NfsServer
from harness.rehearsal.distributed_build import Rehearsal

pytestmark = pytest.mark.xdist_group("kind")


def _rehearse(k8s_api, image, host, path, ns, **kw):
    print()
    return Rehearsal(k8s_api, image, host, path, namespace=ns, **kw).run()


def _nothing_left(r):
    assert not r.leftovers, f"left behind after the failure: {r.leftovers}"
    assert sorted(r.deleted) == sorted(r.created), (r.created, r.deleted)


def test_unreachable_nfs_export_is_named(k8s_api, kind_cluster, docker_client, rehearsal_image, k8s_namespace):
    """The NFS server is down (started on the cluster's network, then stopped): kubelet cannot mount."""
    if not kind_cluster.owned:
        pytest.skip("needs a kind cluster of this run (its Docker network)")
    server = NfsServer.start(docker_client, "selftest-" + new_session_id(), networks=[kind_cluster.network])
    dead = server.address(kind_cluster.network)
    server.stop()
    start = time.monotonic()
    r = _rehearse(k8s_api, rehearsal_image, dead, "/export", k8s_namespace, pods=2, start_timeout=180)
    assert r.cause == "nfs-unreachable", r.report()
    assert r.failure.startswith("NFS unreachable from pods: kubelet on node ") and f"{dead}:/export" in r.failure
    assert "nfspod" in r.failure and "mount" in r.failure
    assert not r.ok and "FAILED [nfs-unreachable]" in r.report()
    _nothing_left(r)
    print(f"named in {time.monotonic() - start:.0f}s: {r.failure}")


def test_worker_crash_mid_build_is_named(k8s_api, rehearsal_image, cluster_nfs, k8s_namespace):
    """The worker building python3 exits 137 mid-build (as if killed); the scheduler would wait forever."""
    r = _rehearse(k8s_api, rehearsal_image, cluster_nfs.host, cluster_nfs.path, k8s_namespace, pods=3,
                  outcomes={"python3": "crash"})
    assert r.cause == "worker-crashed", r.report()
    crashed = [p for p in r.worker_pods if f"worker pod {p} on " in r.failure]
    assert crashed, f"the failure names no worker pod: {r.failure}"
    assert "exit code 137" in r.failure and "while building python3" in r.failure
    assert "crashing now" in r.failure, "the worker's last log lines belong in the report"
    _nothing_left(r)


def test_worker_pod_killed_mid_build_is_named(k8s_api, rehearsal_image, cluster_nfs, k8s_namespace):
    """A worker pod is deleted while it builds python3 (a long build here): the report names it."""
    from kubernetes import client as k
    core = k.CoreV1Api(k8s_api)
    killed: list[str] = []

    def kill(rehearsal, state):
        v = state["packages"]["python3"]
        if v["state"] == "building" and not killed:
            core.delete_namespaced_pod(v["worker"], rehearsal.ns, grace_period_seconds=1)
            killed.append(v["worker"])
    r = _rehearse(k8s_api, rehearsal_image, cluster_nfs.host, cluster_nfs.path, k8s_namespace, pods=3,
                  build_seconds={"python3": 120}, during_build=kill)
    assert killed, f"python3 was never seen building:\n{r.report()}"
    assert r.cause == "worker-crashed", r.report()
    assert f"worker pod {killed[0]} " in r.failure and "while building python3" in r.failure
    assert "deleted" in r.failure or "disappeared" in r.failure
    _nothing_left(r)


def test_image_missing_on_the_nodes_is_named(k8s_api, cluster_nfs, k8s_namespace):
    image = "photon-harness/distributed-build:never-loaded"
    r = _rehearse(k8s_api, image, cluster_nfs.host, cluster_nfs.path, k8s_namespace, pods=1)
    assert r.cause == "image", r.report()
    assert r.failure.startswith(f"image {image} is not on node ") and "kind load docker-image" in r.failure
    _nothing_left(r)


def test_preflight_command_runs_the_rehearsal(kind_cluster, rehearsal_image, cluster_nfs, k8s_namespace):
    argv = [sys.executable, "-m", "harness.cli", "preflight", "distributed-build",
            "--kubeconfig", str(kind_cluster.kubeconfig), "--nfs-server", cluster_nfs.spec, "--pods", "2",
            "--namespace", k8s_namespace, "--image", rehearsal_image, "--fail", "perl"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    print(r.stdout[-6000:], r.stderr[-2000:])
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}"
    out = r.stdout
    for expected in ("8 claims Bound", "mounted at /root", "REST ", "perl FAILED",
                     "PASS  a failed package is reported and its dependants are not built",
                     "PASS  every worker got work", "PASS  everything deleted afterwards", " PASSED in "):
        assert expected in out, f"{expected!r} not in the report:\n{out}"


def test_preflight_bad_input_is_one_line(tmp_path):
    cases = [(["--nfs-server", "nohost"], "is not HOST:/path"),
             (["--nfs-server", "h:/x", "--kubeconfig", str(tmp_path / "none")], "no kubeconfig at"),
             ([], "no NFS export")]
    for args, message in cases:
        r = subprocess.run([sys.executable, "-m", "harness.cli", "preflight", "distributed-build", *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr, (args, r.returncode, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
