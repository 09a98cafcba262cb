"""harness/nfs.py without an engine: addresses, --nfs-server parsing, probe error causes, cache keys."""
import pytest

from harness.artifacts.nfs_helper import CLIENT_RECIPE, HELPER_SOURCES, SERVER_RECIPE
from harness.core.cache import hash_tree
from harness.core.errors import HarnessError
from harness.infra.nfs import NfsServer, _classify


def test_external_server_spec_url_and_address():
    s = NfsServer.external("nfs.example:/srv/builds/")
    assert (s.host, s.path, s.spec) == ("nfs.example", "/srv/builds", "nfs.example:/srv/builds")
    assert s.url() == "nfs://nfs.example/srv/builds" and s.url("a/b") == "nfs://nfs.example/srv/builds/a/b"
    assert s.address("kind") == "nfs.example"  # an external host is the same from every network
    s.stop()  # nothing to stop


@pytest.mark.parametrize("bad", ["nfs.example", "nfs.example:srv", ":/srv", ""])
def test_bad_external_spec_is_one_clear_line(bad):
    with pytest.raises(HarnessError, match=r"is not HOST:/path$"):
        NfsServer.external(bad)


def test_address_on_a_network_the_server_is_not_on():
    s = NfsServer(host="172.17.0.2", path="/export", addresses={"bridge": "172.17.0.2"}, container=object())
    assert s.address() == "172.17.0.2"
    with pytest.raises(HarnessError, match=r"not on docker network 'kind'.*connect\('kind'\)"):
        s.address("kind")


@pytest.mark.parametrize("output, cause", [
    ('Failed to open nfs://h/export/x: open call failed with "NFS: CREATE of /x failed with NFS3ERR_ACCES(-13)"',
     "permission denied"),
    ("Failed to mount nfs share : mount_cb: RPC error: Mount failed with error MNT3ERR_ACCES(13)", "permission denied"),
    ("NFS3ERR_ROFS", "permission denied"),
    ("mount/mnt call failed with MNT3ERR_NOENT(2)", "export not found"),
    ("Failed to mount nfs share : nfs_service failed", ""),
])
def test_probe_failure_causes(output, cause):
    assert _classify(output) == cause


def test_cache_keys_cover_the_recipes():
    # Server, client image and helper each have their own inputs: the C source is not an image input.
    assert all(p.exists() for p in [SERVER_RECIPE / "ganesha.conf", CLIENT_RECIPE / "packages.txt", *HELPER_SOURCES])
    assert not any(p.is_relative_to(CLIENT_RECIPE) for p in HELPER_SOURCES)
    assert hash_tree(HELPER_SOURCES) == hash_tree(HELPER_SOURCES)
    assert hash_tree(HELPER_SOURCES, extra="image-a") != hash_tree(HELPER_SOURCES, extra="image-b")
