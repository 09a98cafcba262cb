"""The distributed-build rehearsal without a cluster: the graph, the specs, and the scheduler and
worker programs run as local processes (loopback instead of the service, a temp directory
instead of the NFS volumes)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from harness.core.errors import HarnessError
from harness.rehearsal.packages import (
    GRAPH, PROGRAMS, REHEARSAL_LABEL, VOLUMES, dependants, new_build_id, source_tree, spec_text
)
from harness.rehearsal.topology import Topology


def test_build_id_is_four_hex_digits():
    ids = {new_build_id() for _ in range(20)}
    assert all(len(i) == 4 and int(i, 16) >= 0 for i in ids) and len(ids) > 1


TOPO = Topology("ab12", "photon-harness/distributed-build:x", "10.0.0.5", "/export", 3)


def test_photons_eight_volumes_and_the_workers_six_mounts():
    assert set(VOLUMES) == {"builder", "logs", "specs", "rpms", "publishrpms", "publishxrpms", "photon", "nfspod"}
    mounts = TOPO.worker_mounts()
    assert set(mounts) == set(VOLUMES) - {"photon", "nfspod"}
    for base, mount in mounts.items():  # each claim mounts where its PV's path lies in the tree
        assert mount == "/root" + VOLUMES[base][0]


def test_the_volumes_are_photons_suffixed_with_the_build_id():
    pairs = TOPO.volumes()
    assert [pv["metadata"]["name"] for pv, _ in pairs] == [f"{b}-ab12" for b in VOLUMES]
    pv, pvc = pairs[2]   # specs: read-only, under the build's directory
    assert pv["spec"]["nfs"] == {"server": "10.0.0.5", "path": "/export/build-ab12/photon/SPECS"}
    assert pv["spec"]["accessModes"] == pvc["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert pvc["spec"]["selector"]["matchLabels"] == {"storage-tier": "specs-ab12"} == \
        {"storage-tier": pv["metadata"]["labels"]["storage-tier"]}
    assert pv["spec"]["storageClassName"] == pvc["spec"]["storageClassName"] == ""
    assert pairs[0][0]["spec"]["nfs"]["path"] == "/export"   # nfspod: the export itself
    assert all(o["metadata"]["labels"][REHEARSAL_LABEL] == "ab12" for pair in pairs for o in pair)


def test_a_photon_shaped_claim_has_no_storage_class_at_all():
    pv, pvc = TOPO.photon_shaped_claim("probe-ab12")
    assert "storageClassName" not in pv["spec"] and "storageClassName" not in pvc["spec"]
    assert pvc["spec"]["selector"]["matchLabels"] == {"storage-tier": "probe-ab12"}


def test_pods_mount_the_builds_claims_and_carry_its_label():
    worker, master, nfspod = TOPO.worker(), TOPO.master(), TOPO.nfspod()
    assert worker["spec"]["replicas"] == 3 and worker["spec"]["selector"]["matchLabels"] == {"app": "worker-ab12"}
    pod = worker["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "worker-ab12", REHEARSAL_LABEL: "ab12"}
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {f"{b}-ab12" for b in TOPO.worker_mounts()}
    c = pod["spec"]["containers"][0]
    assert {"name": "BUILDID", "value": "AB12"} in c["env"] and c["image"] == TOPO.image
    assert c["workingDir"] == "/root/photon/support/package-builder" and c["securityContext"] == {"privileged": True}
    assert master["spec"]["backoffLimit"] == 0
    assert master["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "photon-ab12"
    assert {"name": "REHEARSAL_PODS", "value": "3"} in master["spec"]["template"]["spec"]["containers"][0]["env"]
    assert nfspod["metadata"]["labels"] == {"app": "nfspod", REHEARSAL_LABEL: "ab12"}
    assert TOPO.master_service()["spec"]["selector"] == {"app": "master-ab12"}


def test_graph_is_acyclic_wide_and_closed():
    assert all(r in GRAPH for reqs in GRAPH.values() for r in reqs)
    assert len([p for p, r in GRAPH.items() if not r]) >= 3   # every one of 3 workers can start at once
    assert dependants(GRAPH, "openssl") == {"curl", "python3", "git", "rpm", "tdnf", "photon-release"}
    assert all(p not in dependants(GRAPH, p) for p in GRAPH)


def test_spec_text_and_source_tree():
    text = spec_text("curl", ["openssl", "zlib"], 2, "fail")
    assert "Name: curl\n" in text and "BuildRequires: openssl zlib\n" in text
    assert "%global rehearsal_outcome fail\n" in text
    files = source_tree(GRAPH, {"curl": "fail"}, 1)
    assert set(files) == {f"SPECS/{p}.spec" for p in GRAPH} | {"support/package-builder/scheduler.py",
                                                                 "support/package-builder/worker.py"}
    with pytest.raises(HarnessError, match="no package nope"):
        source_tree(GRAPH, {"nope": "fail"}, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _local_build(tmp_path, outcomes: dict[str, str], workers: int = 3, graph=GRAPH):
    root = tmp_path / "photon"
    for sub in ("SPECS", "stage/RPMS", "stage/LOGS", "support/package-builder"):
        (root / sub).mkdir(parents=True)
    for name, data in source_tree(graph, outcomes, 0.3).items():
        (root / name).write_bytes(data)
    port = _free_port()
    env = dict(os.environ, REHEARSAL_ROOT=str(root), REHEARSAL_PORT=str(port), REHEARSAL_PODS=str(workers),
               REHEARSAL_LINGER_SECONDS="1", REHEARSAL_POLL_SECONDS="0.2", BUILDID="AB12",
               MASTER_SERVICE_AB12_SERVICE_HOST="127.0.0.1", MASTER_SERVICE_AB12_SERVICE_PORT=str(port))
    master = subprocess.Popen([sys.executable, str(PROGRAMS / "scheduler.py")], env=env, stdout=subprocess.PIPE,
                              text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if _call(port, "GET", "/mappackagetocycle/")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    # The documented answers to bad notifications, before any worker arrives.
    rest = [_call(port, "POST", "/notifybuild/", {"status": 0})[0],
            _call(port, "POST", "/notifybuild/", {"package": "zlib", "status": 7})[0],
            _call(port, "GET", "/package/")[0]]   # no worker yet: nothing handed out
    procs = [subprocess.Popen([sys.executable, str(PROGRAMS / "worker.py")], stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.STDOUT, env=dict(env, HOSTNAME=f"w{i}", NODE_NAME=f"n{i % 2}"))
             for i in range(workers)]
    try:
        out, _ = master.communicate(timeout=120)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    summary = json.loads(next(l for l in out.splitlines() if l.startswith("SUMMARY "))[8:])
    return master.returncode, summary, rest, root


def test_scheduler_and_workers_build_the_graph_in_order(tmp_path):
    code, s, rest, root = _local_build(tmp_path, {})
    assert rest == [400, 406, 204]
    assert code == 0 and s["result"] == "built"
    pk = s["packages"]
    assert all(v["state"] == "built" and v["handed_out"] == 1 for v in pk.values())
    for p, v in pk.items():
        assert all(pk[r]["finished"] <= v["scheduled"] for r in v["requires"]), p
    assert {v["worker"] for v in pk.values()} == {"w0", "w1", "w2"}
    assert len(list((root / "stage/RPMS").glob("*.rpm"))) == len(GRAPH)
    art = json.loads(next((root / "stage/RPMS").glob("git-1.0-1.ph5.*.rpm")).read_text())
    assert set(art["requirements_seen"]) == {"curl", "perl", "python3"}
    assert s["requests"]["GET /package/ 204"] > 0 and s["requests"]["GET /package/ 200"] == len(GRAPH)
    assert s["anomalies"] == []


def test_a_failed_package_blocks_its_dependants(tmp_path):
    code, s, _, root = _local_build(tmp_path, {"openssl": "fail"}, workers=2)
    pk = s["packages"]
    assert code == 1 and s["result"] == "failed"
    assert pk["openssl"]["state"] == "failed"
    assert {p for p, v in pk.items() if v["state"] == "blocked"} == dependants(GRAPH, "openssl")
    assert {p for p, v in pk.items() if v["state"] == "built"} == set(GRAPH) - {"openssl"} - dependants(GRAPH, "openssl")
    assert "FAILED" in (root / "stage/LOGS/openssl.log").read_text()


def test_worker_without_the_service_variables_says_which(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTER_SERVICE_")}
    r = subprocess.run([sys.executable, str(PROGRAMS / "worker.py")], env=dict(env, BUILDID="CD34"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3
    assert "MASTER_SERVICE_CD34_SERVICE_HOST/MASTER_SERVICE_CD34_SERVICE_PORT are not set" in r.stdout
    assert "master-service-cd34" in r.stdout


def test_objects_are_deleted_in_photons_order_volumes_last():
    order = TOPO.deletion_order()
    assert order[:4] == [("Job", "master-ab12"), ("Pod", "nfspod-ab12"), ("Service", "master-service-ab12"),
                         ("Deployment", "worker-ab12")]
    assert [k for k, _ in order[4:]] == ["PersistentVolumeClaim"] * 8 + ["PersistentVolume"] * 8


def test_scheduler_summary_and_state_counts():
    from harness.rehearsal.scheduler_client import endpoint_checks, state_counts, summary_from_log
    log = 'starting\nSUMMARY {"result": "failed"}\nSUMMARY {"result": "built"}\nbye\n'
    assert summary_from_log(log) == {"result": "built"} and summary_from_log("no summary") is None
    state = {"packages": {"zlib": {"state": "built"}, "curl": {"state": "building"}, "xz": {"state": "built"}}}
    assert state_counts(state) == "building: curl; built: xz, zlib"
    assert state_counts(None) == "unknown (the scheduler does not answer)"
    assert [c[0] for c in endpoint_checks("zlib")][-1] == "POST /notifybuild/ with status 7"


def test_progress_says_each_change_once():
    from harness.rehearsal.scheduler_client import progress_lines
    seen: dict[str, str] = {}
    state = {"packages": {"zlib": {"state": "building", "worker": "w-1", "scheduled": 1.0},
                          "curl": {"state": "blocked", "worker": None, "scheduled": None}}}
    assert progress_lines(state, seen, {"w-1": "node-a"}) == ["curl blocked (a build requirement failed)",
                                                              "zlib -> w-1 (node-a)"]
    assert progress_lines(state, seen, {}) == []
    state["packages"]["zlib"]["state"] = "failed"
    assert progress_lines(state, seen, {}) == ["zlib FAILED by w-1"]


def test_files_move_through_the_nfspod_by_a_shell_script():
    from harness.rehearsal.packages import artefacts_from, copy_script, listed_files
    script = copy_script({"SPECS/zlib/zlib.spec": b"Name: zlib\n"}, "/root/build-ab12/photon")
    assert script.startswith("set -e; mkdir -p /root/build-ab12/photon /root/build-ab12/photon/SPECS /root/build-ab12")
    assert script.endswith("cd /root/build-ab12/photon && find . -type f | sort")
    assert listed_files("./a/b\n./c\nnoise\n") == ["a/b", "c"]
    assert artefacts_from('{"package": "zlib", "built_by": "w-1"}\nnot json\n') == {"zlib": {"package": "zlib",
                                                                                          "built_by": "w-1"}}
