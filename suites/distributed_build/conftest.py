"""The distributed-build suite (section 4, B1-B7).

Two kinds of evidence, kept apart in the conformance report (its "target" column):
- the rehearsal (test_rehearsal.py): Photon's topology, our scheduler and workers, synthetic
  packages, on the run's kind cluster with the NFS server on its network. It shows that the
  cluster, the NFS export and the topology do what section 4 needs: B1, B4, B5, B6 "rehearsed".
- Photon's own `make distributed-build` (test_photon_build.py), only with --photon-src:
  B2, B3, B7, and B4-B6 "verified on Photon".
"""
from __future__ import annotations

import pytest

from fixtures.skips import not_judged
from harness.rehearsal.distributed_build import Rehearsal

# The report's column of each kind of evidence: (target id, flavor, base, backend, what it is); its
# header reads "flavor / base / backend".
REHEARSAL = ("distributed-build rehearsal", "rehearsed", "synthetic packages", "kind",
             "Photon's distributed-build topology with the harness's scheduler and synthetic packages")
PHOTON = ("photon make distributed-build", "verified on Photon", "photon", "kind",
          "Photon's own make distributed-build (--photon-src)")


NEEDS_PHOTON = ("needs --photon-src PATH (a vmware/photon checkout) to run Photon's own `make distributed-build`; "
                "the rehearsal (test_rehearsal.py) covers B1, B4, B5, B6 without it")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture (a skip in one still lands in the right column)."""
    photon = item.path.name == "test_photon_build.py"
    target, flavor, base, backend, what = PHOTON if photon else REHEARSAL
    item.user_properties += [("target", target), ("flavor", flavor), ("base", base), ("backend", backend),
                             ("os", what)]
    if photon and not item.config.getoption("photon_src"):
        not_judged("photon-src", NEEDS_PHOTON)  # here, not in a fixture: session fixtures (the cluster) would come first


@pytest.fixture(scope="session")
def rehearsal_pods(pytestconfig) -> int:
    return pytestconfig.getoption("rehearsal_pods")


def run_rehearsal(k8s_api, image, cluster_nfs, namespace, pods, **kw):
    print()
    return Rehearsal(k8s_api, image, cluster_nfs.host, cluster_nfs.path, pods=pods, namespace=namespace,
                     **kw).run()


@pytest.fixture(scope="module")
def rehearsal(k8s_api, rehearsal_image, cluster_nfs, rehearsal_namespace, rehearsal_pods):
    """One complete rehearsal: every package builds."""
    return run_rehearsal(k8s_api, rehearsal_image, cluster_nfs, rehearsal_namespace, rehearsal_pods)


@pytest.fixture(scope="module")
def failing_rehearsal(k8s_api, rehearsal_image, cluster_nfs, rehearsal_namespace, rehearsal_pods):
    """A rehearsal in which one package's build fails (the worker reports status -1)."""
    return run_rehearsal(k8s_api, rehearsal_image, cluster_nfs, rehearsal_namespace, rehearsal_pods,
                         outcomes={"openssl": "fail"})


def ran(r, claim: str) -> None:
    """A rehearsal that ended early is no verdict on the claim: say why, naming the claim."""
    if r.cause:
        pytest.fail(f"[{claim}] the rehearsal ended early ({r.cause}): {r.failure}\n\n{r.report()}", pytrace=False)


def check(r, name: str):
    found = [c for c in r.checks if c.name == name]
    assert found, f"the rehearsal made no check {name!r}:\n{r.report()}"
    return found[0]
