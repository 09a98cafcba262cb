"""Section 4 rehearsed: Photon's distributed-build topology on the run's kind cluster.

harness/distributed_build.py deploys what Photon's DistributedBuilder deploys (build-id-suffixed
NFS PVs and claims, nfspod, master-service on TCP 80, the master Job, the worker Deployment with
`pods` replicas) with our own scheduler and workers over a synthetic package graph, and deletes
it all afterwards. `photon-harness preflight distributed-build` runs the same against any cluster.
"""
from __future__ import annotations

import pytest

from harness.model.verdicts import expect
from harness.rehearsal.packages import GRAPH, VOLUMES, dependants

from .conftest import check, ran

pytestmark = pytest.mark.xdist_group("kind")  # one worker: one cluster, one NFS server


@pytest.mark.claim("B1")
def test_nfs_server_runs_and_the_cluster_reaches_it(kind_cluster, cluster_nfs, rehearsal):
    """B1's prerequisites: an NFS server is running, the cluster can reach it, a kubeconfig exists."""
    assert kind_cluster.kubeconfig.is_file(), f"[B1] no kubeconfig at {kind_cluster.kubeconfig}"
    ran(rehearsal, "B1")
    listed = [l for l in rehearsal.lines if " nfspod " in l and "mounted at /root" in l]
    assert listed, f"[B1] the nfspod never mounted {cluster_nfs.spec}:\n{rehearsal.report()}"
    print(f"NFS {cluster_nfs.spec}; nodes mount it with {cluster_nfs.nodes}")


@pytest.mark.claim("B1")
def test_artefacts_written_by_workers_are_visible_through_the_nfspod(rehearsal):
    ran(rehearsal, "B1")
    c = check(rehearsal, "artefacts visible through the nfspod")
    assert c.passed, f"[B1] {c.detail}\n\n{rehearsal.report()}"
    assert set(rehearsal.artefacts) == set(GRAPH)
    nodes = {a["node"] for a in rehearsal.artefacts.values()}
    seen = {req for a in rehearsal.artefacts.values() for req in a["requirements_seen"]}
    # Each build found its requirements' artefacts on the shared volume, whoever built them.
    assert seen == {r for reqs in GRAPH.values() for r in reqs}
    print(f"artefacts written from nodes {sorted(nodes)}; listing: {len(rehearsal.listing)} files")


@pytest.mark.claim("B4")
def test_one_master_pod_and_the_configured_number_of_worker_pods(rehearsal, rehearsal_pods):
    ran(rehearsal, "B4")
    c = check(rehearsal, "one master pod and `pods` worker pods")
    assert c.passed, f"[B4] {c.detail}"
    assert len(rehearsal.master_pods) == 1 and rehearsal.max_workers_running == rehearsal_pods
    print(f"master {sorted(rehearsal.master_pods)}; workers {rehearsal.worker_pods}")


@pytest.mark.claim("B5")
def test_master_serves_the_documented_rest_endpoints(rehearsal):
    ran(rehearsal, "B5")
    c = check(rehearsal, "endpoints answer as documented")
    assert c.passed, f"[B5] {c.detail}"
    answers = {x.name: int(x.detail.split()[0]) for x in rehearsal.rest}
    assert answers == {"GET /constants/": 200, "GET /donelist/": 200, "GET /mappackagetocycle/": 200,
                       "POST /notifybuild/ without package": 400, "POST /notifybuild/ with status 7": 406}


@pytest.mark.claim("B4", "B5")
def test_workers_get_packages_and_notify_the_master(rehearsal, rehearsal_pods):
    ran(rehearsal, "B5")
    calls = check(rehearsal, "workers made the REST calls")
    expect(calls.passed, "B5", calls.detail)
    reqs = rehearsal.summary["requests"]
    expect(reqs["GET /package/ 200"] == len(GRAPH) and reqs.get("GET /package/ 204", 0) > 0
           and reqs["POST /notifybuild/ 200"] == len(GRAPH), "B5",
           f"the workers' requests to the master, by answer, are not one package and one notification per "
           f"package of {len(GRAPH)}: {reqs}")
    if rehearsal_pods > 1:
        work = check(rehearsal, "every worker got work")
        expect(work.passed, "B4", work.detail)


@pytest.mark.claim("B5")
def test_every_package_built_once_in_dependency_order(rehearsal):
    ran(rehearsal, "B5")
    once = check(rehearsal, "every package built exactly once")
    order = check(rehearsal, "in dependency order")
    assert once.passed, f"[B5] {once.detail}"
    assert order.passed, f"[B5] {order.detail}"
    assert rehearsal.summary["result"] == "built"


@pytest.mark.claim("B6")
def test_everything_is_deleted_when_the_build_completed(rehearsal):
    ran(rehearsal, "B6")
    assert not rehearsal.leftovers, f"[B6] still there after the build: {rehearsal.leftovers}"
    bid = rehearsal.build_id
    photons = {f"{k}/{b}-{bid}" for k in ("PersistentVolume", "PersistentVolumeClaim") for b in VOLUMES}
    photons |= {f"Pod/nfspod-{bid}", f"Service/master-service-{bid}", f"Job/master-{bid}", f"Deployment/worker-{bid}"}
    assert photons <= set(rehearsal.created), f"[B6] not all of Photon's objects were made: {rehearsal.created}"
    assert sorted(rehearsal.deleted) == sorted(rehearsal.created)
    print(f"rehearsal wall time {rehearsal.seconds:.1f}s: "
          + ", ".join(f"{k} {v:.1f}s" for k, v in rehearsal.phases.items()))


@pytest.mark.claim("B5")
def test_a_failed_package_is_reported_and_its_dependants_are_not_built(failing_rehearsal):
    r = failing_rehearsal
    ran(r, "B5")
    c = check(r, "a failed package is reported and its dependants are not built")
    assert c.passed, f"[B5] {c.detail}"
    pk = r.summary["packages"]
    assert pk["openssl"]["state"] == "failed" and r.summary["result"] == "failed"
    blocked = {p for p, v in pk.items() if v["state"] == "blocked"}
    assert blocked == dependants(GRAPH, "openssl")
    assert not blocked & set(r.artefacts), f"[B5] dependants of openssl were built: {blocked & set(r.artefacts)}"
    assert any("openssl FAILED" in l for l in r.lines), r.report()


@pytest.mark.claim("B6")
def test_everything_is_deleted_when_the_build_failed(failing_rehearsal):
    r = failing_rehearsal
    ran(r, "B6")
    assert not r.leftovers, f"[B6] still there after the failed build: {r.leftovers}"
    assert sorted(r.deleted) == sorted(r.created)
