"""Section 4 on Photon itself: `make distributed-build` in a vmware/photon checkout (--photon-src).

The test edits common/data/distributed_build_options.json as documented (B2; the original is
restored afterwards), puts the cluster's kubeconfig at ~/.kube/config of a temporary HOME (B3),
runs `make distributed-build`, and watches namespace `default` through the API while it runs:
one master pod and `pods` worker pods (B4), the scheduler's log lines (B5), nothing left of the
build afterwards (B6), cloud images under stage/ (B7). What it needs is listed in
harness/photon_build.py; without --photon-src every test here skips and says so.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.model.verdicts import expect
from harness.rehearsal import photon_build as pb

pytestmark = pytest.mark.xdist_group("kind")  # one worker: one cluster, one NFS server

BUILD_TIMEOUT = 8 * 3600.0


@pytest.fixture(scope="module")
def photon_src(pytestconfig) -> Path:
    return Path(pytestconfig.getoption("photon_src")).expanduser().resolve()  # conftest skips without it


@pytest.fixture(scope="module")
def photon_build(photon_src, kind_cluster, k8s_api, cluster_nfs, rehearsal_pods, tmp_path_factory):
    """Run `make distributed-build` once, watching the cluster; restore the options file after."""
    original = pb.configure(photon_src, cluster_nfs.host, cluster_nfs.path, rehearsal_pods)
    watch = pb.Watch(k8s_api)
    log = tmp_path_factory.mktemp("photon-build") / "make-distributed-build.log"
    watch.start()
    try:
        code = pb.run_make(photon_src, kind_cluster.kubeconfig, BUILD_TIMEOUT, log)
    finally:
        watch.stop.set()
        watch.join(60)
        (photon_src / pb.OPTIONS).write_text(original)
    left = {bid: pb.wait_gone(k8s_api, bid) for bid in watch.seen.build_ids}
    return code, log, watch.seen, left


@pytest.mark.claim("B2")
def test_options_file_holds_the_documented_keys(photon_src):
    opts = pb.read_options(photon_src)
    missing = {"command", "nfs-server-ip", "nfs-server-path", "pods"} - set(opts)
    assert not missing, f"[B2] {pb.OPTIONS} lacks {sorted(missing)}: {opts}"
    assert "SCHEDULER_SERVER=enable" in opts["command"], f"[B2] command is {opts['command']!r}"
    assert opts["pods"] == 1, f"[B2] the documented default of pods is 1, the file says {opts['pods']}"


@pytest.mark.claim("B3", "B4", "B5")
def test_make_distributed_build_builds_over_the_cluster(photon_build, rehearsal_pods):
    code, log, seen, _ = photon_build
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    expect(code == 0, "B3", f"make distributed-build exited {code}; its output ends:", tail)
    expect(len(seen.build_ids) == 1, "B3", f"build ids seen in namespace default: {seen.build_ids}")
    expect(len(seen.master_pods) == 1, "B4", f"master pods: {seen.master_pods}")
    expect(seen.max_workers_running == rehearsal_pods, "B4",
           f"at most {seen.max_workers_running} worker pods ran at once, pods={rehearsal_pods}")
    expect(any("Scheduling package" in l for l in seen.rest_lines), "B5", "the master log shows no scheduling")
    expect(any("Build Success" in l for l in seen.rest_lines), "B5", "no worker notified a successful build")


@pytest.mark.claim("B6")
def test_everything_is_deleted_after_the_photon_build(photon_build):
    _, _, seen, left = photon_build
    assert seen.build_ids, "[B6] no build was seen on the cluster"
    assert not any(left.values()), f"[B6] still there after the build: {left}"


@pytest.mark.claim("B7")
def test_the_distributed_build_also_builds_cloud_images(photon_build, photon_src):
    code, _, _, _ = photon_build
    assert code == 0, "[B7] the build failed (see the B3 test)"
    images = pb.cloud_images(photon_src)
    assert images, f"[B7] no cloud image under {photon_src / 'stage'} ({', '.join(pb.CLOUD_IMAGE_PATTERNS)})"
