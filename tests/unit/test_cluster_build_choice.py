"""Which runs build the offline Kubernetes first: those whose paths reach the cluster tests, unless
--no-cluster or an existing cluster (with Photon recipes, which install Kubernetes with tdnf)."""
from types import SimpleNamespace

import pytest

from fixtures.kubernetes import needs_offline_build
from fixtures.options import CONFIG_KEY
from harness.core.paths import REPO_ROOT


class Config:
    def __init__(self, args, standin=True, **options):
        self.args = [str(REPO_ROOT / a) for a in args]
        self.options = {"no_cluster": False, "kubeconfig": "", **options}
        self.stash = {CONFIG_KEY: SimpleNamespace(is_standin=standin)}

    def getoption(self, name):
        return self.options[name]


@pytest.mark.parametrize("args, expected", [
    (["suites"], True),                                   # the main job
    (["tests", "suites"], True),                          # the test command's first half
    (["suites/kubernetes/test_kubernetes_node.py::test_x"], True),
    (["suites/containers"], False),
    (["suites/containers", "suites/rootless/test_rootless_limits.py"], False),   # the VM half
    (["tests/unit"], False),
])
def test_paths_that_reach_the_cluster_tests_build_first(args, expected):
    assert needs_offline_build(Config(args)) is expected


def test_no_cluster_and_an_existing_cluster_build_nothing():
    assert not needs_offline_build(Config(["suites"], no_cluster=True))
    assert not needs_offline_build(Config(["suites"], standin=False, kubeconfig="/k"))
    # the stand-in's kubernetes package still needs the build's binaries
    assert needs_offline_build(Config(["suites"], standin=True, kubeconfig="/k"))
