"""The reaper: removes what runs left behind, found by their session labels (core/labels.py).

Engine objects are listed by label here; VMs and kind clusters by their own reapers
(targets/vm.py, infra/kind_cluster.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.errors import HarnessError
from harness.core.labels import SESSION_LABEL, selected
from harness.infra.kind_cluster import reap_clusters
from harness.targets.vm import reap_vms


@dataclass
class Reaped:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    vms: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)

    def total(self) -> int:
        return (len(self.containers) + len(self.networks) + len(self.volumes) + len(self.images) + len(self.vms)
                + len(self.clusters))

    def summary(self) -> str:
        return (f"{len(self.containers)} containers, {len(self.networks)} networks, "
                f"{len(self.volumes)} volumes, {len(self.images)} images, {len(self.vms)} VMs, "
                f"{len(self.clusters)} kind clusters")


def reap(client, session_id: str | None = None, older_than: float | None = None,
         dry_run: bool = False) -> Reaped:
    """Remove labelled resources: one session's; every session's older than N seconds; or, with
    neither, every session whose run has ended (see core.labels.selected)."""
    import docker.errors

    out = Reaped()
    # kind clusters first: their node containers are not labelled, but sit on a labelled network.
    out.clusters = reap_clusters(session_id, older_than, dry_run=dry_run)
    selector = {"label": SESSION_LABEL if session_id is None else f"{SESSION_LABEL}={session_id}"}
    # ignore_removed: a container removed between the listing and its inspection is gone, not an error.
    for c in client.containers.list(all=True, filters=selector, ignore_removed=True):
        if selected(c.labels, session_id, older_than):
            out.containers.append(c.name)
            if not dry_run:
                try:
                    c.remove(force=True, v=True)
                except docker.errors.NotFound:
                    pass
    for n in client.networks.list(filters=selector):
        if selected(n.attrs.get("Labels"), session_id, older_than):
            out.networks.append(n.name)
            if not dry_run:
                try:
                    n.remove()
                except docker.errors.NotFound:
                    pass
    for v in client.volumes.list(filters=selector):
        if selected(v.attrs.get("Labels"), session_id, older_than):
            out.volumes.append(v.name)
            if not dry_run:
                try:
                    v.remove(force=True)
                except docker.errors.NotFound:
                    pass
    for i in client.images.list(filters=selector):
        if selected(i.labels, session_id, older_than):
            out.images.append(i.tags[0] if i.tags else i.short_id)
            if not dry_run:
                try:
                    client.images.remove(i.id, force=True)
                except docker.errors.NotFound:
                    pass
    # VMs are QEMU processes, not engine objects: found by their labelled run directories.
    out.vms = reap_vms(session_id, older_than, dry_run=dry_run)
    return out


def count_labelled(client, session_id: str) -> Reaped:
    return reap(client, session_id=session_id, dry_run=True)


def parse_age(text: str) -> float:
    """'90s', '30m', '1h', '2d' or plain seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        return float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise HarnessError(f"age {text!r} is not like 90s, 30m, 1h, 2d") from None
