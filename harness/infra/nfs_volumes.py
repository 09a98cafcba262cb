"""NFS volumes in a Kubernetes cluster: the nodes' `mount -t nfs`, the server on the cluster's
network, and NFS PersistentVolumes / claims.

kubelet mounts an `nfs` volume by running `mount -t nfs SERVER:/path DIR` on the node. Our kernels have no NFS client, so the offline kind
node image carries the userspace helper of images/nfs-fuse/ (nfs-fuse, and the /sbin/mount.nfs
wrapper that prefers a kernel client with a real mount.nfs when there is one): `node_image_files`
is the node stage's input. `prepare_nodes` checks every node of a cluster this run made and,
on a node that has neither a kernel client nor our helper (a published node image given with
--kind-image, say), installs the helper at fixture time.
No pytest here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.errors import InfrastructureError
from harness.infra.nfs import install_mount_helper

# Runs on a node: how would `mount -t nfs` work there?
_DETECT = r"""kernel=no; grep -qw nfs /proc/filesystems 2>/dev/null && kernel=yes
ours=no; grep -qs photon-harness /sbin/mount.nfs && [ -x /usr/local/sbin/nfs-fuse ] && ours=yes
real=no; if [ "$ours" = yes ]; then [ -x /sbin/mount.nfs.kernel ] && real=yes; else [ -x /sbin/mount.nfs ] && real=yes; fi
fuse=no; [ -c /dev/fuse ] && fuse=yes
echo "kernel=$kernel ours=$ours real=$real fuse=$fuse"
"""


def node_mount_mode(state: str) -> str:
    """From _DETECT's line: 'kernel' (the kernel's NFS client), 'nfs-fuse' (ours), or 'none'."""
    s = dict(kv.split("=", 1) for kv in state.split())
    if s.get("kernel") == "yes" and s.get("real") == "yes":
        return "kernel"
    if s.get("ours") == "yes":
        return "nfs-fuse" if s.get("fuse") == "yes" else "none (no /dev/fuse)"
    return "none"


def prepare_nodes(docker, node_names: list[str], helper=None) -> dict[str, str]:
    """node -> how it mounts NFS. Where a node can mount none and `helper` is given, install it."""
    modes: dict[str, str] = {}
    for name in node_names:
        node = docker.containers.get(name)
        code, out = node.exec_run(["sh", "-c", _DETECT])
        if code != 0:
            raise InfrastructureError(f"cannot inspect node {name}: {out.decode(errors='replace').strip()}")
        mode = node_mount_mode(out.decode().strip())
        if mode == "none" and helper is not None:
            install_mount_helper(node, helper)
            code, out = node.exec_run(["sh", "-c", _DETECT])
            mode = node_mount_mode(out.decode().strip())
            if mode == "nfs-fuse":
                mode = "nfs-fuse (installed at fixture time)"
        modes[name] = mode
    return modes


@dataclass
class ClusterNfs:
    """An NFS export as the pods of one cluster reach it."""
    host: str                   # the address the nodes use (the server's address on the cluster network)
    path: str
    nodes: dict[str, str] = field(default_factory=dict)    # node -> mount mode ("kernel", "nfs-fuse", ...)
    server: object = field(default=None, repr=False)        # harness.nfs.NfsServer

    @property
    def spec(self) -> str:
        return f"{self.host}:{self.path}"


# ------------------------------------------------------------------------- objects

def nfs_pv(name: str, host: str, path: str, labels: dict[str, str] | None = None,
           access: str = "ReadWriteMany", capacity: str = "1Gi"):
    """A PersistentVolume of type nfs. No storage class (""): claims bind to it by selector,
    never a default StorageClass's provisioner."""
    from kubernetes import client as k
    return k.V1PersistentVolume(
        metadata=k.V1ObjectMeta(name=name, labels=labels or {}),
        spec=k.V1PersistentVolumeSpec(
            capacity={"storage": capacity}, access_modes=[access], storage_class_name="",
            persistent_volume_reclaim_policy="Retain", nfs=k.V1NFSVolumeSource(server=host, path=path)))


def nfs_pvc(name: str, match_labels: dict[str, str], access: str = "ReadWriteMany", request: str = "1Gi",
            storage_class: str | None = ""):
    """A claim for an nfs_pv by label. storage_class=None leaves it unset, as Photon's YAML does:
    a cluster with a default StorageClass then fills it in, and the claim binds to no class-less PV."""
    from kubernetes import client as k
    return k.V1PersistentVolumeClaim(
        metadata=k.V1ObjectMeta(name=name),
        spec=k.V1PersistentVolumeClaimSpec(
            access_modes=[access], storage_class_name=storage_class,
            resources=k.V1VolumeResourceRequirements(requests={"storage": request}),
            selector=k.V1LabelSelector(match_labels=match_labels)))
