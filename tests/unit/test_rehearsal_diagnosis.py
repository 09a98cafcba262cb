"""The rehearsal's pod diagnosis on recorded objects, without a cluster."""
from datetime import datetime, timezone
from types import SimpleNamespace as NS

from harness.rehearsal import diagnosis

NFS = "172.26.0.5:/export"
# kubelet's event when the node authorizer did not yet know that the pod uses the claim (seen in CI,
# stop 20: the preflight failed at 4.4 s on it although the kubelet retries and mounts)
FORBIDDEN = ('Unable to attach or mount volumes: unmounted volumes=[kube-api-access-t8h7p nfspod], unattached '
             'volumes=[], failed to process volumes=[nfspod]: error processing PVC ph-bda801c1/nfspod-63bc: failed '
             'to fetch PVC from API server: persistentvolumeclaims "nfspod-63bc" is forbidden: User '
             '"system:node:ph-1-worker" cannot get resource "persistentvolumeclaims" in API group "" in the '
             'namespace "ph-bda801c1": no relationship found between node \'ph-1-worker\' and this object')
# kubelet's event when mount.nfs ran and failed (the server is down)
MOUNT_FAILED = ('MountVolume.SetUp failed for volume "nfspod-63bc" : mount failed: exit status 32\n'
                'Mounting command: mount\nMounting arguments: -t nfs 172.26.0.5:/export /var/lib/kubelet/pods/x/'
                'volumes/kubernetes.io~nfs/nfspod-63bc\nOutput: mount.nfs: Connection timed out')
# the service-account token volume before its config map is in the kubelet's cache (seen here: the
# crash test failed at 6.8 s on it while the pods were ContainerCreating)
CONFIGMAP = ('MountVolume.SetUp failed for volume "kube-api-access-wgjng" : failed to sync configmap cache: '
             'timed out waiting for the condition')
GAVE_UP = ('Unable to attach or mount volumes: unmounted volumes=[nfspod], unattached volumes=[kube-api-access-x '
           'nfspod]: timed out waiting for the condition')


def event(reason, message, second=0, count=1):
    return NS(reason=reason, message=message, count=count, event_time=None, metadata=NS(creation_timestamp=None),
              last_timestamp=datetime(2026, 12, 3, 12, 0, second, tzinfo=timezone.utc))


def pod(name="nfspod-63bc", phase="Pending", statuses=(), deleting=False, node="ph-1-worker"):
    return NS(metadata=NS(name=name, deletion_timestamp="now" if deleting else None),
              spec=NS(node_name=node), status=NS(phase=phase, container_statuses=list(statuses),
                                                 init_container_statuses=None))


def container(waiting=None, terminated=None, last=None, restarts=0):
    return NS(state=NS(waiting=waiting, terminated=terminated), last_state=NS(terminated=last), restart_count=restarts)


def test_a_forbidden_claim_lookup_is_not_an_nfs_failure():
    assert not diagnosis.is_nfs_mount_failure(FORBIDDEN)
    assert diagnosis.pending_problem(pod(), "nfspod", [event("FailedMount", FORBIDDEN)], NFS) is None


def test_the_token_volume_waiting_for_its_config_map_is_not_an_nfs_failure():
    assert not diagnosis.is_nfs_mount_failure(CONFIGMAP)
    assert diagnosis.pending_problem(pod(), "master", [event("FailedMount", CONFIGMAP)], NFS) is None


def test_a_failed_mount_names_the_server_node_and_mount_output():
    d = diagnosis.pending_problem(pod(), "nfspod", [event("FailedMount", FORBIDDEN, 1),
                                                    event("FailedMount", MOUNT_FAILED, 9)], NFS)
    assert d.cause == "nfs-unreachable"
    assert d.message.startswith("NFS unreachable from pods: kubelet on node ph-1-worker could not mount volume "
                                "nfspod-63bc (172.26.0.5:/export) for the nfspod pod nfspod-63bc: mount.nfs: "
                                "Connection timed out.")
    assert "reaches 172.26.0.5 on TCP 111, 2049" in d.message


def test_a_mount_the_kubelet_gave_up_on_is_an_nfs_failure():
    assert diagnosis.pending_problem(pod(), "master", [event("FailedMount", GAVE_UP)], NFS).cause == "nfs-unreachable"


def test_scheduling_fails_only_once_seen_three_times():
    ev = event("FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
    assert diagnosis.pending_problem(pod(node=None), "worker", [ev], NFS) is None
    ev.count = 3
    d = diagnosis.pending_problem(pod(node=None), "worker", [ev], NFS)
    assert (d.cause, d.message) == ("scheduling", "the worker pod nfspod-63bc cannot be scheduled: "
                                                  "0/3 nodes are available: 3 Insufficient cpu.")


def test_an_image_missing_on_the_node_says_how_to_load_it():
    p = pod("worker-1", statuses=[container(waiting=NS(reason="ErrImageNeverPull", message="never pull"))])
    d = diagnosis.image_problem(p, "worker", "photon-harness/db:1")
    assert d.cause == "image" and "not on node ph-1-worker" in d.message and "kind load docker-image" in d.message
    assert diagnosis.image_problem(pod("worker-1", statuses=[container(waiting=NS(reason="ContainerCreating",
                                                                                   message=""))]), "worker", "i") is None


def test_a_worker_exiting_4_with_a_fatal_line_is_the_master_unreachable():
    cs = container(terminated=NS(exit_code=4, reason="Error"))
    p = pod("worker-1", "Running", [cs])
    assert diagnosis.worker_endings(p) == [cs]
    d = diagnosis.worker_death(p, cs, [], "connecting\nFATAL master at 10.0.0.1:80 does not answer\n", "master-svc")
    assert d.cause == "master-unreachable" and "FATAL" not in d.message and "master-svc" in d.message


def test_a_crashed_worker_names_the_packages_it_held():
    cs = container(last=NS(exit_code=137, reason="Error"), restarts=1)
    state = {"packages": {"python3": {"state": "building", "worker": "worker-1"},
                          "glibc": {"state": "built", "worker": "worker-1"}}}
    held = diagnosis.held_by(state, "worker-1")
    assert held == ["python3"]
    d = diagnosis.worker_death(pod("worker-1", "Running", [cs]), cs, held, "building python3\n", "m")
    assert d.cause == "worker-crashed"
    assert "crashed: exit code 137 (Error) while building python3; the scheduler still counts it" in d.message
    assert d.message.endswith("Its log ends:\nbuilding python3")


def test_an_idle_worker_deleted_from_outside_is_no_failure():
    p = pod("worker-1", "Running", deleting=True)
    assert diagnosis.worker_endings(p) == [None]
    assert diagnosis.worker_death(p, None, [], "", "m") is None
    assert "was deleted (killed from outside) while building zlib" in diagnosis.worker_death(p, None, ["zlib"], "", "m").message


def test_a_worker_gone_while_building_is_lost():
    state = {"packages": {"zlib": {"state": "building", "worker": "worker-2"}}}
    assert diagnosis.lost_worker(state, {"worker-2"}, {"worker-2": "n2"}) is None
    d = diagnosis.lost_worker(state, set(), {"worker-2": "n2"})
    assert d.cause == "worker-crashed" and d.message.startswith("worker pod worker-2 (node n2) disappeared while building zlib")


def test_the_master_exiting_with_0_or_1_is_its_verdict_not_a_crash():
    for code, crashed in ((0, False), (1, False), (2, True)):
        p = pod("master-1", "Failed", [container(terminated=NS(exit_code=code, reason="Error"))])
        assert (diagnosis.master_exit(p) is not None) is crashed


def test_replica_failure_and_pod_states():
    rs = NS(status=NS(conditions=[NS(type="ReplicaFailure", status="True", message="exceeded quota")]))
    assert diagnosis.replica_failure([NS(status=NS(conditions=None)), rs]).message.endswith("exceeded quota")
    p = pod("worker-1", statuses=[container(waiting=NS(reason="ContainerCreating", message=""))])
    assert diagnosis.pod_states([p, pod("w-2", "Running", node=None)]) == (
        "worker-1 Pending (ContainerCreating) on ph-1-worker; w-2 Running on -")


def test_a_photon_shaped_claim_taken_by_a_provisioner_says_what_to_change():
    assert diagnosis.photon_claim_pairing("probe", "Bound", None, "probe") is None
    text = diagnosis.photon_claim_pairing("probe", "Bound", "standard", "pvc-1234")
    assert "StorageClass standard and it was bound to pvc-1234, a volume the class's provisioner made" in text
    assert 'add storageClassName: "" to both YAML files' in text
    assert "stayed Pending for 20s" in diagnosis.photon_claim_pairing("probe", "Pending", "fast", None)
