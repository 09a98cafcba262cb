"""Targets for the Kubernetes suite: the full flavour with Photon's kubernetes package.

- `k8s_image`: the full flavour plus the Kubernetes layer (images/kubernetes/, built and cached
  by harness/images/kubernetes.py); the minimal flavour's image as it is; a user's own image
  (--target-image) or VM disk as it is. The containers and rootless suites keep their targets.
- `k8s_target`: one fresh target of that image per test module (the tests change it).
- `k8s_node`: on its module's k8s_target, etcd and the five services started with the minimum
  working configuration (harness/kubernetes_services.py), the node Ready.
- `guide_target`: a second fresh target for the documented "Running Kubernetes" guide.
"""
from __future__ import annotations

import time

import pytest

from harness.artifacts import kind_node as kind
from harness.artifacts.kubernetes import BUILD_HINT, KubernetesBinariesMissing, kubernetes_image
from fixtures.skips import not_judged
from harness.checks import kubernetes_services as ks

FULL_ONLY = ("the Containers page documents Kubernetes for the full flavour only (I1: 'the full version "
             "includes Kubernetes'); the minimal flavour has no kubernetes package")


@pytest.fixture(scope="session")
def k8s_image(request, run_config, target_spec, target_image):
    spec = target_spec
    if spec.backend == "vm" and spec.source == "standin":
        not_judged("backend", "the stand-in VM disk has no Kubernetes layer (images/kubernetes is built for container "
                    "targets); run the Kubernetes suite with --backend container, or on a Photon VM disk")
    if spec.backend != "container" or spec.flavor != "full" or spec.source == "user":
        return target_image
    client = request.getfixturevalue("docker_client")
    try:
        return kubernetes_image(client, spec.source, target_image).tag
    except KubernetesBinariesMissing as e:
        if request.config.getoption("no_cluster"):
            not_judged("no-cluster", f"--no-cluster: the offline Kubernetes build is not made in this run ({e})")
        not_judged("kubernetes-build", str(e))


def _boot(request, target_factory, target_spec, image):
    start = time.monotonic()
    t = target_factory.boot(target_spec, image)
    t.booted_at = start
    return t


@pytest.fixture(scope="module")
def k8s_target(request, target_factory, target_spec, k8s_image):
    t = _boot(request, target_factory, target_spec, k8s_image)
    yield t
    t.close()


@pytest.fixture
def full_only(target_spec):
    if target_spec.flavor != "full":
        not_judged("flavour", FULL_ONLY)


@pytest.fixture
def changes_target(target_spec):
    """Tests that reconfigure and restart services do not run on an existing host (--backend ssh)."""
    if target_spec.backend == "ssh":
        not_judged("backend", "changes /etc/kubernetes and starts/stops services: not run on an existing host "
                    "(--backend ssh); use a container or VM target")


@pytest.fixture(scope="module")
def guide_target(request, target_factory, target_spec, k8s_image):
    if target_spec.flavor != "full":
        not_judged("flavour", FULL_ONLY)
    if target_spec.backend == "ssh":
        not_judged("backend", "the guide reconfigures the host: not run on an existing host (--backend ssh)")
    t = _boot(request, target_factory, target_spec, k8s_image)
    yield t
    t.close()


@pytest.fixture(scope="session")
def pause_image(request):
    """The pause image (the pod sandbox) built from the offline build's pause binary: (tag, archive)."""
    found, missing = kind.cached_binaries()
    if "pause" in missing:
        not_judged("kubernetes-build", f"no pause binary cached for the pod sandbox image; build it with `{BUILD_HINT}`")
    client = request.getfixturevalue("docker_client")
    tag, _, _ = kind.component_image(client, "pause", found["pause"], None)
    return tag, b"".join(client.images.get(tag).save(named=True))


@pytest.fixture(autouse=True)
def _record_k8s_image(request, record_property):
    """The report names the image a test's target really booted (the Kubernetes layer on full)."""
    if "target_spec" in request.fixturenames:
        record_property("image", str(request.getfixturevalue("k8s_image")))


@pytest.fixture(scope="module")
def node_allowed(target_spec):
    if target_spec.flavor != "full":
        not_judged("flavour", FULL_ONLY)
    if target_spec.backend == "ssh":
        not_judged("backend", "reconfigures /etc/kubernetes: not run on an existing host (--backend ssh)")


@pytest.fixture(scope="module")
def k8s_node(node_allowed, target_spec, k8s_target, pause_image):
    """etcd and the five services up with the minimum working configuration; the node Ready."""
    t = k8s_target
    tag, archive = pause_image
    node = ks.bring_up_node(t, archive, tag, container=target_spec.backend == "container",
                            booted_at=t.booted_at)
    node.boot_seconds = t.boot_seconds
    node.target = t
    return node

