"""The kind cluster fixture on a real cluster: nodes, scheduling, services, jobs, logs.

Runs on the run's shared cluster (offline node image, or --kind-image / --kubeconfig).
Skips, saying why, when the offline Kubernetes build is not cached on this machine.
"""
from __future__ import annotations

import time

import pytest

from harness.artifacts.probe import probe_image

pytestmark = pytest.mark.xdist_group("kind")

WEB_PORT = 8080
# Every pod serves its own name, so a client can tell which pod (and node) answered.
WEB_SCRIPT = ("mkdir -p /www && /bin/busybox hostname > /www/index.html && "
              f"exec /bin/busybox httpd -f -p {WEB_PORT} -h /www")


def _wait(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:.0f}s", pytrace=False)


@pytest.fixture(scope="module")
def local_image(docker_client, kind_cluster):
    """A locally built image (static busybox), loaded into every node: nodes never pull."""
    tag = probe_image(docker_client)
    kind_cluster.load_image(tag)
    return tag


def _core(api):
    from kubernetes import client
    return client.CoreV1Api(api)


def _pod(name: str, image: str, script: str, node: str | None = None, labels: dict | None = None):
    from kubernetes import client as k
    return k.V1Pod(
        metadata=k.V1ObjectMeta(name=name, labels=labels or {}),
        spec=k.V1PodSpec(restart_policy="Never", node_name=node,
                         tolerations=[k.V1Toleration(operator="Exists")],
                         containers=[k.V1Container(name="main", image=image, image_pull_policy="Never",
                                                   command=["/bin/busybox", "sh", "-c", script])]))


def test_nodes_ready(k8s_api, kind_cluster, request):
    nodes = _core(k8s_api).list_node().items
    roles = {n.metadata.name: ("control-plane" if "node-role.kubernetes.io/control-plane" in n.metadata.labels
                               else "worker") for n in nodes}
    ready = {n.metadata.name: next(c.status for c in n.status.conditions if c.type == "Ready") for n in nodes}
    assert "control-plane" in roles.values(), f"no control-plane node: {roles}"
    assert "worker" in roles.values(), f"no worker node: {roles}"
    assert set(ready.values()) == {"True"}, f"nodes not Ready: {ready}"
    if kind_cluster.owned:
        assert len(nodes) == 1 + request.config.getoption("kind_workers")
        versions = {n.status.node_info.kubelet_version for n in nodes}
        print(f"nodes: {roles}, kubelet {versions}, cluster ready in {kind_cluster.seconds:.0f}s")


def test_deployment_spreads_over_every_node(k8s_api, k8s_namespace, local_image):
    """A Deployment of a local image, one replica per node (required anti-affinity)."""
    from kubernetes import client as k
    nodes = sorted(n.metadata.name for n in _core(k8s_api).list_node().items)
    labels = {"app": "web"}
    template = _pod("web", local_image, WEB_SCRIPT, labels=labels)
    template.spec.restart_policy = "Always"
    template.spec.affinity = k.V1Affinity(pod_anti_affinity=k.V1PodAntiAffinity(
        required_during_scheduling_ignored_during_execution=[k.V1PodAffinityTerm(
            label_selector=k.V1LabelSelector(match_labels=labels), topology_key="kubernetes.io/hostname")]))
    k.AppsV1Api(k8s_api).create_namespaced_deployment(k8s_namespace, k.V1Deployment(
        metadata=k.V1ObjectMeta(name="web"),
        spec=k.V1DeploymentSpec(replicas=len(nodes), selector=k.V1LabelSelector(match_labels=labels),
                                template=k.V1PodTemplateSpec(metadata=template.metadata, spec=template.spec))))

    def running_everywhere():
        pods = _core(k8s_api).list_namespaced_pod(k8s_namespace, label_selector="app=web").items
        running = {p.spec.node_name for p in pods if p.status.phase == "Running"}
        return running if running == set(nodes) else None
    placed = _wait(f"web pods Running on every node {nodes}", running_everywhere, 300)
    assert placed == set(nodes)


def test_service_reached_from_a_pod_on_another_node(k8s_api, k8s_namespace, local_image):
    """A ClusterIP Service in front of a pod on one node answers a client on another node,
    by IP and by its DNS name (CoreDNS)."""
    from kubernetes import client as k
    core = _core(k8s_api)
    nodes = sorted(n.metadata.name for n in core.list_node().items)
    server_node, client_node = nodes[0], nodes[-1]
    core.create_namespaced_pod(k8s_namespace, _pod("server", local_image, WEB_SCRIPT, server_node,
                                                   {"app": "server"}))
    svc = core.create_namespaced_service(k8s_namespace, k.V1Service(
        metadata=k.V1ObjectMeta(name="server"),
        spec=k.V1ServiceSpec(selector={"app": "server"},
                             ports=[k.V1ServicePort(port=80, target_port=WEB_PORT)])))
    _wait("server pod Running", lambda: core.read_namespaced_pod("server", k8s_namespace).status.phase == "Running",
          180)
    dns = f"server.{k8s_namespace}.svc.cluster.local"
    ip = svc.spec.cluster_ip
    # busybox's wget segfaults in a static build without NSS; nc and nslookup do not use NSS.
    # Retries: kube-proxy programs the service rules asynchronously.
    script = f"""bb=/bin/busybox
fetch() {{ printf 'GET / HTTP/1.0\\r\\n\\r\\n' | $bb nc -w 5 "$1" 80 | $bb tail -n 1; }}
answer() {{ for i in $($bb seq 30); do out=$(fetch "$1"); [ -n "$out" ] && echo "$out" && return 0; $bb sleep 2; done; return 1; }}
echo "by-ip: $(answer {ip})"
addr=$($bb nslookup {dns} | $bb awk '/^Address: /{{a=$2}} END{{print a}}')
echo "dns: {dns} -> $addr"
[ "$addr" = "{ip}" ] || exit 1
echo "by-dns: $(answer "$addr")"
"""
    core.create_namespaced_pod(k8s_namespace, _pod("client", local_image, script, client_node))
    phase = _wait("client pod finished",
                  lambda: core.read_namespaced_pod("client", k8s_namespace).status.phase in ("Succeeded", "Failed")
                  and core.read_namespaced_pod("client", k8s_namespace).status.phase, 240)
    log = core.read_namespaced_pod_log("client", k8s_namespace)
    assert server_node != client_node, "needs two nodes"
    assert phase == "Succeeded", f"client on {client_node} could not reach the service on {server_node}:\n{log}"
    assert "by-ip: server\n" in log and "by-dns: server\n" in log, f"the server pod did not answer:\n{log}"


def test_job_completes_and_its_logs_are_read(k8s_api, k8s_namespace, local_image):
    from kubernetes import client as k
    batch = k.BatchV1Api(k8s_api)
    pod = _pod("job", local_image, "echo photon-harness job ran on $(/bin/busybox hostname); exit 0")
    batch.create_namespaced_job(k8s_namespace, k.V1Job(
        metadata=k.V1ObjectMeta(name="once"),
        spec=k.V1JobSpec(backoff_limit=0, template=k.V1PodTemplateSpec(spec=pod.spec))))

    def finished():
        s = batch.read_namespaced_job("once", k8s_namespace).status
        return ("succeeded" if s.succeeded else "failed" if s.failed else None)
    assert _wait("job finished", finished, 240) == "succeeded"
    pods = _core(k8s_api).list_namespaced_pod(k8s_namespace, label_selector="job-name=once").items
    log = _core(k8s_api).read_namespaced_pod_log(pods[0].metadata.name, k8s_namespace)
    assert "photon-harness job ran on once-" in log, log
