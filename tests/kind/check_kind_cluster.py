"""End-to-end: the offline kind node image builds (or is cached) and a 2-node cluster comes up.

Slow (a cold build is 30-60 min) and needs the Go proxy and a kind checkout for kindnetd,
so it is not collected by default (the file name does not match test_*.py). Run it with
    PHOTON_HARNESS_KIND_SRC=/path/to/kind python3 -m pytest tests/kind/check_kind_cluster.py -s
"""
import pytest

from harness import kind
from harness.cleanup import new_session_id
from harness.host import docker_client


@pytest.fixture(scope="module")
def node_image():
    return kind.build_node_image(docker_client())


def test_node_image_has_the_kubernetes_version(node_image):
    client = docker_client()
    labels = client.images.get(node_image.tag).labels
    assert "io.photon-harness.cache" in labels
    assert node_image.tag.split(":")[1].startswith(node_image.versions.kubernetes)


def test_two_node_cluster_is_ready(node_image):
    name = "ph-" + new_session_id().split("-")[-1]
    cluster = kind.create_cluster(name, node_image.tag, node_image.bins["kind"], workers=1)
    try:
        nodes = cluster.kubectl("get", "nodes", "--no-headers").splitlines()
        assert len(nodes) == 2 and all(" Ready " in n for n in nodes), nodes
        pods = cluster.kubectl("get", "pods", "-A", "--no-headers")
        assert "coredns" in pods and "kindnet" in pods
    finally:
        cluster.delete()
