"""NFS PersistentVolumes in the real kind cluster: kubelet mounts them on every node.

The kernel has no NFS client: kubelet's `mount -t nfs SERVER:/export DIR` runs the node image's
/sbin/mount.nfs wrapper and the FUSE helper nfs-fuse, which must outlive the mount command (and
a kubelet restart). One ReadWriteMany PV of type
nfs, bound by a claim, mounted by pods on two different nodes.
"""
from __future__ import annotations

import re
import secrets
import time

import pytest

from harness.artifacts.probe import probe_image
from harness.infra.nfs_volumes import nfs_pv, nfs_pvc

pytestmark = pytest.mark.xdist_group("kind")
MB = 1 << 20


def _wait(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:.0f}s", pytrace=False)


@pytest.fixture(scope="module")
def core(k8s_api):
    from kubernetes import client
    return client.CoreV1Api(k8s_api)


@pytest.fixture(scope="module")
def busybox(docker_client, kind_cluster):
    tag = probe_image(docker_client)
    if kind_cluster.owned:
        kind_cluster.load_image(tag)
    return tag


@pytest.fixture(scope="module")
def worker_nodes(core):
    nodes = sorted(n.metadata.name for n in core.list_node().items
                   if "node-role.kubernetes.io/control-plane" not in (n.metadata.labels or {}))
    if len(nodes) < 2:
        pytest.skip(f"needs two worker nodes (--kind-workers 2), the cluster has {nodes}")
    return nodes[:2]


@pytest.fixture(scope="module")
def shared_claim(core, cluster_nfs):
    """A PV of type nfs (the export's root, ReadWriteMany) and a claim bound to it by label,
    in a namespace of this module's own."""
    from kubernetes import client as k
    tag = secrets.token_hex(3)
    ns, pv_name = f"ph-nfs-{tag}", f"ph-nfs-{tag}"
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))
    core.create_persistent_volume(nfs_pv(pv_name, cluster_nfs.host, cluster_nfs.path, {"ph-nfs": tag}))
    try:
        _wait("default service account", lambda: any(
            s.metadata.name == "default" for s in core.list_namespaced_service_account(ns).items), 60, 1)
        core.create_namespaced_persistent_volume_claim(ns, nfs_pvc("shared", {"ph-nfs": tag}))
        _wait("claim Bound", lambda: core.read_namespaced_persistent_volume_claim("shared", ns).status.phase
              == "Bound", 60, 1)
        yield ns, pv_name
    finally:
        core.delete_namespace(ns)
        _wait(f"namespace {ns} deleted", lambda: ns not in {n.metadata.name for n in core.list_namespace().items},
              180)
        core.delete_persistent_volume(pv_name)
        _wait(f"PV {pv_name} deleted", lambda: pv_name not in {p.metadata.name for p in
                                                                core.list_persistent_volume().items}, 60, 1)


def _pod(name: str, image: str, node: str, script: str):
    from kubernetes import client as k
    return k.V1Pod(
        metadata=k.V1ObjectMeta(name=name),
        spec=k.V1PodSpec(
            restart_policy="Never", node_selector={"kubernetes.io/hostname": node},
            termination_grace_period_seconds=1,
            containers=[k.V1Container(name="main", image=image, image_pull_policy="Never",
                                      command=["/bin/busybox", "sh", "-c", script],
                                      volume_mounts=[k.V1VolumeMount(name="shared", mount_path="/data")])],
            volumes=[k.V1Volume(name="shared", persistent_volume_claim=k.V1PersistentVolumeClaimVolumeSource(
                claim_name="shared"))]))


def _finish(core, ns: str, names: list[str], timeout: float) -> dict[str, tuple[str, str]]:
    """Wait until the pods end; name -> (phase, log). A pod stuck Pending says why (its events)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phases = {n: core.read_namespaced_pod(n, ns).status.phase for n in names}
        if all(p in ("Succeeded", "Failed") for p in phases.values()):
            return {n: (phases[n], core.read_namespaced_pod_log(n, ns)) for n in names}
        time.sleep(2)
    events = [f"{e.involved_object.name}: {e.reason}: {e.message}" for e in core.list_namespaced_event(ns).items
              if e.type == "Warning"]
    pytest.fail(f"pods not finished within {timeout:.0f}s: {phases}; warnings: {events[-5:]}", pytrace=False)


def test_every_node_mounts_nfs(cluster_nfs, kind_cluster, pytestconfig):
    """The node image carries the FUSE helper (used only where the kernel has no NFS client)."""
    if not kind_cluster.owned:
        pytest.skip("an existing cluster (--kubeconfig): its nodes are not ours to inspect")
    assert cluster_nfs.nodes and set(cluster_nfs.nodes) == set(kind_cluster.node_containers())
    print(f"how the nodes mount NFS: {cluster_nfs.nodes}; server {cluster_nfs.spec} on {kind_cluster.network}")
    if not pytestconfig.getoption("kind_image"):
        assert set(cluster_nfs.nodes.values()) <= {"nfs-fuse", "kernel"}, (
            f"the offline node image should carry the helper, not need it installed: {cluster_nfs.nodes}")


def test_pods_on_two_nodes_share_one_rwx_volume(core, shared_claim, busybox, worker_nodes, docker_client,
                                                kind_cluster):
    ns, pv = shared_claim
    script = """bb=/bin/busybox
me=$($bb hostname); echo "$me wrote this on $NODE" > /data/$me.txt
for i in $($bb seq 90); do [ -s /data/$OTHER.txt ] && break; $bb sleep 1; done
echo "$me reads: $($bb cat /data/$OTHER.txt)"
$bb grep -q "^$OTHER wrote this" /data/$OTHER.txt"""
    names = ["share-a", "share-b"]
    for me, other, node in zip(names, reversed(names), worker_nodes):
        core.create_namespaced_pod(ns, _pod(me, busybox, node, f"NODE={node} OTHER={other}\n" + script))
    if kind_cluster.owned:  # while they run: kubelet's mounts on the nodes are FUSE (nfs-fuse)
        def mounted():
            found = {}
            for node in worker_nodes:
                out = docker_client.containers.get(node).exec_run(["grep", pv, "/proc/mounts"]).output.decode()
                found[node] = out.split()[2] if out.strip() else ""
            return found if all(found.values()) else None
        types = _wait("kubelet's NFS mounts on both nodes", mounted, 120, 1)
    results = _finish(core, ns, names, 240)
    for name, (phase, log) in results.items():
        assert phase == "Succeeded", f"{name}: {phase}\n{log}"
    assert "share-a reads: share-b wrote this on " + worker_nodes[1] in results["share-a"][1]
    assert "share-b reads: share-a wrote this on " + worker_nodes[0] in results["share-b"][1]
    if kind_cluster.owned:
        print(f"mount types on the nodes: {types}")
        assert all(t in ("fuse.nfs", "nfs", "nfs4") for t in types.values()), types


def test_100_mb_written_on_one_node_read_on_another(core, shared_claim, busybox, worker_nodes, capsys,
                                                    record_property):
    ns, _ = shared_claim
    writer = """bb=/bin/busybox
$bb mkdir -p /tmp  # the probe image holds /bin/busybox only
$bb dd if=/dev/urandom of=/tmp/src bs=1048576 count=100 2>/dev/null
echo "md5 $($bb md5sum /tmp/src | $bb cut -d' ' -f1)"
t0=$($bb cut -d' ' -f1 /proc/uptime)
$bb dd if=/tmp/src of=/data/big.tmp bs=1048576 conv=fsync 2>/dev/null
echo "seconds $t0 $($bb cut -d' ' -f1 /proc/uptime)"
$bb mv /data/big.tmp /data/big"""
    reader = """bb=/bin/busybox
for i in $($bb seq 240); do [ -e /data/big ] && break; $bb sleep 1; done
t0=$($bb cut -d' ' -f1 /proc/uptime)
$bb dd if=/data/big of=/dev/null bs=1048576 2>/dev/null
echo "seconds $t0 $($bb cut -d' ' -f1 /proc/uptime)"
echo "md5 $($bb md5sum /data/big | $bb cut -d' ' -f1)"
echo "size $($bb stat -c %s /data/big)"
$bb rm /data/big"""
    core.create_namespaced_pod(ns, _pod("big-writer", busybox, worker_nodes[0], writer))
    core.create_namespaced_pod(ns, _pod("big-reader", busybox, worker_nodes[1], reader))
    results = _finish(core, ns, ["big-writer", "big-reader"], 600)
    (wp, wlog), (rp, rlog) = results["big-writer"], results["big-reader"]
    assert wp == "Succeeded" and rp == "Succeeded", f"writer {wp}:\n{wlog}\nreader {rp}:\n{rlog}"
    # busybox's dd prints no timing: the pods read /proc/uptime around it (10 ms resolution)
    secs = [float(b) - float(a) for a, b in re.findall(r"seconds ([0-9.]+) ([0-9.]+)", wlog + rlog)]
    assert len(secs) == 2, f"no dd timings:\n{wlog}\n{rlog}"
    assert f"size {100 * MB}" in rlog
    assert re.search(r"md5 (\w+)", wlog).group(1) == re.search(r"md5 (\w+)", rlog).group(1), "data differs"
    write, read = 100 / secs[0], 100 / secs[1]
    record_property("nfs_pod_write_MiBps", f"{write:.1f}")
    record_property("nfs_pod_read_MiBps", f"{read:.1f}")
    with capsys.disabled():
        print(f"\nNFS volume seen by pods (100 MiB, FUSE helper in the node): write {write:.1f} MiB/s "
              f"(conv=fsync, on {worker_nodes[0]}), read {read:.1f} MiB/s (on {worker_nodes[1]}, cold cache)")


def test_fuse_daemon_survives_a_kubelet_restart(core, shared_claim, busybox, worker_nodes, docker_client,
                                                kind_cluster, cluster_nfs):
    """kubelet runs `mount` (here without systemd-run: the daemon stays in kubelet.service's cgroup,
    which kind's unit stops with KillMode=process). Restarting kubelet must not end the mounts."""
    if not kind_cluster.owned or cluster_nfs.server is None or cluster_nfs.server.container is None:
        pytest.skip("needs this run's kind nodes and NFS server")
    ns, pv = shared_claim
    node = docker_client.containers.get(worker_nodes[0])
    script = """bb=/bin/busybox
for i in $($bb seq 300); do [ -s /data/after-restart ] && break; $bb sleep 1; done
echo "read: $($bb cat /data/after-restart)" """
    core.create_namespaced_pod(ns, _pod("survivor", busybox, worker_nodes[0], script))

    def daemons():
        out = node.exec_run(["sh", "-c", f"grep -q {pv} /proc/mounts && pgrep -x nfs-fuse"]).output.decode().split()
        return out or None
    before = _wait("the survivor pod's NFS mount", daemons, 120, 1)
    cgroup = node.exec_run(["sh", "-c", f"grep name=systemd /proc/{before[0]}/cgroup"]).output.decode().strip()
    r = node.exec_run(["systemctl", "restart", "kubelet"])
    assert r.exit_code == 0, r.output.decode()
    _wait("kubelet active again", lambda: node.exec_run(["systemctl", "is-active", "kubelet"]).exit_code == 0, 60, 1)
    alive = node.exec_run(["sh", "-c", "kill -0 " + " ".join(before)]).exit_code == 0
    assert alive, f"nfs-fuse daemons {before} ended with kubelet's restart (cgroup {cgroup})"
    cluster_nfs.server.container.exec_run(["sh", "-c", "echo written-after-restart > /export/after-restart"])
    (phase, log), = _finish(core, ns, ["survivor"], 240).values()
    assert phase == "Succeeded" and "read: written-after-restart" in log, f"{phase}\n{log}"
    cluster_nfs.server.container.exec_run(["rm", "-f", "/export/after-restart"])
    print(f"nfs-fuse daemons {before} survived `systemctl restart kubelet` ({cgroup})")
