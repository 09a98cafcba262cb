import pytest

from harness.core.errors import HarnessError
from harness.model.config import parse_pairs, resolve, split_list


def test_flavor_list_is_validated():
    assert split_list("full, minimal,full", ("full", "minimal"), "flavor") == ["full", "minimal"]
    with pytest.raises(HarnessError, match="unknown --flavor 'tiny'"):
        split_list("full,tiny", ("full", "minimal"), "flavor")
    with pytest.raises(HarnessError, match="empty"):
        split_list(" , ", ("full",), "flavor")


def test_pairs_need_name_and_ref():
    assert parse_pairs(["photon=my/photon:5"], "inner-image", ("photon",)) == {"photon": "my/photon:5"}
    for bad in ("photon", "=x", "photon="):
        with pytest.raises(HarnessError, match="NAME=REF"):
            parse_pairs([bad], "inner-image")
    with pytest.raises(HarnessError, match="must be one of"):
        parse_pairs(["debian=x"], "inner-image", ("ubuntu:14.04", "photon"))


def test_standin_needs_no_engine_and_says_so():
    run = resolve(None, "standin", None, "full", "container", [], [])
    assert run.base == "standin" and run.flavors == ["full"]
    assert "STAND-IN" in run.banner() and "NOT evidence about Photon" in run.banner()


def test_unknown_base_and_backend():
    with pytest.raises(HarnessError, match="unknown --base"):
        resolve(None, "ubuntu", None, "full", "container", [], [])
    with pytest.raises(HarnessError, match="unknown --backend"):
        resolve(None, "standin", None, "full", "kvm", [], [])


class FakeImages:
    """Boundary fake: an engine with no images and no registry."""
    def get(self, ref):
        import docker.errors
        raise docker.errors.ImageNotFound(ref)

    def pull(self, ref):
        import docker.errors
        raise docker.errors.APIError("no registry")


class FakeClient:
    images = FakeImages()


def test_auto_falls_back_to_standin_and_explains():
    run = resolve(FakeClient(), "auto", None, "full,minimal", "container", [], [])
    assert run.base == "standin" and "photon:5.0" in run.base_reason


def test_explicit_missing_image_is_an_error_not_a_fallback():
    with pytest.raises(HarnessError, match="'photon:9.9'"):
        resolve(FakeClient(), "auto", "photon:9.9", "full", "container", [], [])
    with pytest.raises(HarnessError, match="--base photon"):
        resolve(FakeClient(), "photon", None, "full", "container", [], [])


def test_a_vm_disk_or_host_never_needs_the_photon_image(tmp_path):
    disk = tmp_path / "photon.qcow2"
    disk.write_bytes(b"")
    run = resolve(FakeClient(), "photon", None, "full", "vm", [], [], vm_images=[f"full={disk}"])
    assert run.expected_base == "photon" and run.source("full", "vm") == "user"
    run = resolve(FakeClient(), "photon", None, "full", "ssh", [], [], host_url="ssh://root@photon-vm")
    assert run.source("full", "ssh") == "user" and "as given" in run.banner()
    # A container target from the recipe does need it.
    with pytest.raises(HarnessError, match="--base photon: image 'photon:5.0'"):
        resolve(FakeClient(), "photon", None, "full", "vm,container", [], [], vm_images=[f"full={disk}"])


def test_auto_uses_the_users_disk_and_the_standin_only_where_none_is_given(tmp_path):
    disk = tmp_path / "disk.ova"
    disk.write_bytes(b"")
    run = resolve(FakeClient(), "auto", None, "full,minimal", "vm", [], [], vm_images=[f"full={disk}"])
    assert run.expected_base == ""   # auto: each target is whatever it turns out to be
    assert run.source("full", "vm") == "user" and run.source("minimal", "vm") == "standin"
    assert str(disk) in run.banner() and "minimal/vm: standin recipe" in run.banner()
