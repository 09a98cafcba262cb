"""Pure parts of the offline kind node image recipe (no Go, no Docker, no cache)."""
import logging
from pathlib import Path

import pytest

from harness.artifacts import go_toolchain, kind_binaries
from harness.artifacts import kind_node as kind
from harness.core.errors import HarnessError, InfrastructureError
from harness.infra import kind_cluster


def test_staging_replaces_read_from_kubernetes_go_mod(tmp_path: Path):
    (tmp_path / "go.mod").write_text(
        "module k8s.io/kubernetes\n\nrequire k8s.io/api v0.0.0\n\nreplace (\n"
        "\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n"
        "\tgithub.com/x/y => github.com/x/y v1.0.0\n)\n")
    assert kind_binaries.staging_replaces(tmp_path, "v0.34.4") == {
        "k8s.io/api": "k8s.io/api v0.34.4", "k8s.io/client-go": "k8s.io/client-go v0.34.4"}


def test_staging_replaces_missing_is_an_error(tmp_path: Path):
    (tmp_path / "go.mod").write_text("module k8s.io/kubernetes\n")
    with pytest.raises(InfrastructureError):
        kind_binaries.staging_replaces(tmp_path, "v0.34.4")


def test_version_ldflags_set_both_version_packages():
    flags = kind_binaries.version_ldflags("v1.34.4", "2026-02-10T12:53:36Z")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.34.4" in flags
        assert f"-X {pkg}.gitMajor=1" in flags and f"-X {pkg}.gitMinor=34" in flags
        assert f"-X {pkg}.buildDate=2026-02-10T12:53:36Z" in flags


def test_versions_resolved_from_kubeadm_sources(tmp_path: Path):
    k8s, kd = tmp_path / "k8s", tmp_path / "kind"
    (k8s / "cmd/kubeadm/app/constants").mkdir(parents=True)
    (k8s / "cmd/kubeadm/app/constants/constants.go").write_text(
        'DefaultEtcdVersion = "3.6.5-0"\nCoreDNSVersion = "v1.12.1"\nPauseVersion = "3.10.1"\n')
    v = kind_binaries.resolve_versions(kind_binaries.Versions(), kd, k8s)
    assert (v.etcd, v.coredns, v.pause) == ("3.6.5-0", "v1.12.1", "3.10.1")
    assert v.staging == "v0.34.4"


def test_cni_manifest_is_podnet_with_kinds_markers():
    manifest = kind.default_cni_manifest(kind.PODNET_REF)
    assert f"image: {kind.PODNET_REF}" in manifest and "PODNET_IMAGE" not in manifest
    # kind fills these only when its markers are present
    assert "{{ .PodSubnet }}" in manifest
    assert "would you kindly template this file" in manifest
    assert "would you kindly patch this file" in manifest
    assert ":latest" not in manifest and "imagePullPolicy: Never" in manifest


def test_cluster_refuses_references_that_make_kind_pull(tmp_path: Path):
    for ref in ("kindest/node:v1.34.0@sha256:" + "0" * 64, "photon-harness/kind-node:latest", "kind-node"):
        with pytest.raises(HarnessError):
            kind_cluster.create_cluster(None, "x", ref, tmp_path / "kind", 1, "session")


def test_a_long_go_build_reports_packages_compiled_as_it_goes(caplog, tmp_path):
    script = "for p in a b c d; do echo example.com/$p; sleep 0.4; done"
    with caplog.at_level(logging.INFO, logger="harness"):
        go_toolchain.run_with_progress(["sh", "-c", script], "go build of x", 10, cwd=tmp_path, env=None,
                                     timeout=60, every=0.5)
    progress = [r.getMessage() for r in caplog.records if "packages compiled" in r.getMessage()]
    assert progress and progress[0].startswith("[kind] go build of x: ") and "of at most 10" in progress[0], progress
    with pytest.raises(InfrastructureError, match=r"go build of y failed \(exit 3\):\nexample.com/z"):
        go_toolchain.run_with_progress(["sh", "-c", "echo example.com/z; exit 3"], "go build of y", 1, cwd=tmp_path,
                                     env=None, timeout=60, every=0.5)
