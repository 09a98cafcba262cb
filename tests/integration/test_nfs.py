"""NFS on the real engine: the ganesha server, the libnfs probe, the FUSE mount helper.

The host kernel has no NFS client, so the two "nodes" here are privileged containers with
/dev/fuse that run `mount -t nfs SERVER:/export /mnt` through our /sbin/mount.nfs wrapper.
"""
import re
import time
from pathlib import Path

import pytest

from harness.artifacts.nfs_helper import mount_helper
from harness.core.labels import new_session_id, session_labels
from harness.infra.nfs import KIND_NETWORK, NfsProbeError, NfsServer, install_mount_helper, network_exists, probe
from harness.ops.reap import count_labelled

# The tests below share one server and two mounted containers, in order: keep them on one worker.
pytestmark = pytest.mark.xdist_group("nfs")

MB = 1 << 20


@pytest.fixture(scope="module")
def session():
    return "selftest-" + new_session_id()


@pytest.fixture(scope="module")
def helper(docker_client, session):
    return mount_helper(docker_client, session)


@pytest.fixture(scope="module")
def server(docker_client, session, helper):
    s = NfsServer.start(docker_client, session)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def nodes(docker_client, session, helper, server):
    """Two privileged containers with the mount helper installed (as kind nodes would have)."""
    made = []
    try:
        for _ in range(2):
            # init: an init as PID 1 reaps the daemonised helper when it exits, as systemd does.
            c = docker_client.containers.run(helper.image, ["sleep", "infinity"], detach=True, privileged=True,
                                             init=True, labels=session_labels(session),
                                             devices=["/dev/fuse:/dev/fuse"])
            made.append(c)
            install_mount_helper(c, helper)
        yield made
    finally:
        for c in made:
            c.remove(force=True)


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind(docker_client, session):
    yield
    left = count_labelled(docker_client, session)
    assert left.total() == 0, f"labelled resources left behind: {left.summary()}"


def sh(container, script: str, timeout: int = 120) -> str:
    code, out = container.exec_run(["timeout", str(timeout), "sh", "-c", script])
    text = out.decode(errors="replace")
    assert code == 0, f"`{script}` failed (exit {code}):\n{text}"
    return text


def test_server_exports_v3_and_v4_over_tcp(server):
    assert server.path == "/export" and server.url() == f"nfs://{server.host}/export"
    assert server.addresses["bridge"] == server.host
    rpc = server.container.exec_run(["rpcinfo", "-p"]).output.decode()
    registered = {(line.split()[0], line.split()[1], line.split()[2], line.split()[3])
                  for line in rpc.splitlines()[1:] if line.strip()}
    for program, version, port in (("100003", "3", "2049"), ("100003", "4", "2049"), ("100005", "3", "20048")):
        assert (program, version, "tcp", port) in registered, rpc


def test_probe_writes_reads_lists_and_removes(docker_client, session, server, helper):
    result = probe(docker_client, session, server, helper)
    assert result.server == server.spec and result.seconds < 60


def test_probe_from_the_kind_network(docker_client, session, server, helper):
    if not network_exists(docker_client, KIND_NETWORK):
        pytest.skip("no docker network 'kind' on this engine")
    assert server.address(KIND_NETWORK) != server.host
    assert probe(docker_client, session, server, helper, network=KIND_NETWORK).server.startswith(
        server.address(KIND_NETWORK))


def test_probe_of_an_unreachable_server_fails_fast_in_one_line(docker_client, session, helper):
    start = time.monotonic()
    # TEST-NET-1 (RFC 5737): routed nowhere, no real host answers.
    with pytest.raises(NfsProbeError, match=r"^NFS probe of 192\.0\.2\.1:/export: server unreachable") as e:
        probe(docker_client, session, NfsServer.external("192.0.2.1:/export"), helper, timeout=5)
    assert time.monotonic() - start < 30
    assert "\n" not in str(e.value)


def test_probe_names_a_missing_export(docker_client, session, server, helper):
    with pytest.raises(NfsProbeError, match=r"export not found \(the server exports /export\)$"):
        probe(docker_client, session, NfsServer.external(f"{server.host}:/nope"), helper)


def test_probe_names_permission_denied(docker_client, session, server, helper):
    # The export root is root's, mode 755: uid 1000 may not create files there.
    with pytest.raises(NfsProbeError, match=r"permission denied \(writing "):
        probe(docker_client, session, server, helper, uid=1000)


def test_two_containers_mount_the_export_and_share_files(server, nodes):
    a, b = nodes
    for c in nodes:
        sh(c, f"mkdir -p /mnt/nfs && mount -t nfs {server.spec} /mnt/nfs -o nfsvers=3,hard,nolock")
        assert f"{server.spec} /mnt/nfs fuse.nfs " in sh(c, "cat /proc/mounts")
    sh(a, "echo written-by-a > /mnt/nfs/shared.txt && mkdir -m 777 /mnt/nfs/pub")
    assert sh(b, "cat /mnt/nfs/shared.txt") == "written-by-a\n"
    # Root writes stay root's (no_root_squash); another uid writes as itself.
    sh(b, "setpriv --reuid 1000 --regid 1000 --clear-groups sh -c 'echo u > /mnt/nfs/pub/u.txt'")
    owners = sh(server.container, "stat -c '%u:%g %n' /export/shared.txt /export/pub/u.txt")
    assert owners.splitlines() == ["0:0 /export/shared.txt", "1000:1000 /export/pub/u.txt"]
    # Renames, symlinks, chmod, times, truncate, removal: what builds do.
    sh(a, "cd /mnt/nfs && mv shared.txt pub/moved.txt && ln -s moved.txt pub/link && chmod 600 pub/moved.txt"
          " && truncate -s 3 pub/moved.txt && touch -d '2020-01-02 03:04:05' pub/moved.txt")
    assert sh(b, "stat -c '%a %s %Y' /mnt/nfs/pub/moved.txt && readlink /mnt/nfs/pub/link").split() == [
        "600", "3", str(1577934245), "moved.txt"]
    sh(b, "rm -r /mnt/nfs/pub")
    assert sh(a, "ls -A /mnt/nfs") == ""


def dd_seconds(container, args: str) -> float:
    """Run dd in the container; its own timing (no docker exec overhead): '... copied, 0.53 s, ...'."""
    out = sh(container, f"dd {args} 2>&1 | tail -1", timeout=600)
    match = re.search(r"copied, ([0-9.]+) s", out)
    assert match, out
    return float(match.group(1))


def test_100_mb_write_and_read_through_fuse(server, nodes, record_property, capsys):
    a, b = nodes
    sh(a, "head -c 100M /dev/urandom > /tmp/src && md5sum < /tmp/src > /tmp/src.md5")
    write = 100 / dd_seconds(a, "if=/tmp/src of=/mnt/nfs/big bs=1M conv=fsync")
    # Read on the other container: nothing of the file is in its page cache.
    read = 100 / dd_seconds(b, "if=/mnt/nfs/big of=/dev/null bs=1M")
    assert sh(b, "stat -c %s /mnt/nfs/big").strip() == str(100 * MB)
    assert sh(b, "md5sum < /mnt/nfs/big") == sh(a, "cat /tmp/src.md5")
    sh(a, "rm /mnt/nfs/big")
    record_property("nfs_fuse_write_MiBps", f"{write:.0f}")
    record_property("nfs_fuse_read_MiBps", f"{read:.0f}")
    with capsys.disabled():
        print(f"\nNFS through the FUSE helper, 100 MiB: write {write:.0f} MiB/s (with fsync), "
              f"read {read:.0f} MiB/s (dd's timing, load {Path('/proc/loadavg').read_text().split()[0]})")


def test_unmount_ends_the_helper(nodes):
    a, b = nodes
    sh(a, "umount /mnt/nfs")
    sh(b, "fusermount3 -u /mnt/nfs")
    for c in nodes:
        assert "fuse.nfs" not in sh(c, "cat /proc/mounts")
        # The daemon notices the unmount and exits, logging it.
        sh(c, "for i in $(seq 50); do grep -qs unmounting /var/log/nfs-fuse/_mnt_nfs.log && "
              "! grep -l nfs-fuse /proc/[0-9]*/comm >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1")


def test_stopped_server_leaves_nothing(docker_client):
    session = "selftest-" + new_session_id()
    s = NfsServer.start(docker_client, session)
    assert count_labelled(docker_client, session).total() == 2  # the container and its volume
    s.stop()
    s.stop()  # idempotent
    assert count_labelled(docker_client, session).total() == 0


def test_the_nfs_server_fixture_is_probed_and_mountable(nfs_server, pytestconfig):
    """fixtures/nfs.py: our server (or --nfs-server HOST:/path), already probed by libnfs."""
    external = pytestconfig.getoption("nfs_server")
    assert nfs_server.spec == (external or f"{nfs_server.host}:/export")
    assert (nfs_server.container is None) == bool(external)
