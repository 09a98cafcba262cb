"""The reaper: removes what runs left behind, found by their session labels (core/labels.py).

Engine objects are listed by label here; every other kind of resource by its own reaper
(REAPERS: infra/kind_cluster.py, infra/cluster_runs.py, targets/vm.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import docker.errors

from harness.core.errors import HarnessError
from harness.core.labels import SESSION_LABEL, selected
from harness.infra.cluster_runs import reap_namespaces
from harness.infra.kind_cluster import reap_clusters
from harness.targets.vm import reap_vms


# Each kind of resource that is not an engine object reaps itself: kind clusters (first: their node
# containers are not labelled, but sit on a labelled network), VMs (QEMU processes, found by their
# labelled run directories), namespaces of matrix runs in a given cluster (found by their records).
# Engine objects are listed by label below.
REAPERS = (("clusters", reap_clusters), ("namespaces", reap_namespaces), ("vms", reap_vms))


@dataclass
class Reaped:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    vms: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def total(self) -> int:
        return (len(self.containers) + len(self.networks) + len(self.volumes) + len(self.images) + len(self.vms)
                + len(self.clusters) + len(self.namespaces))

    def summary(self) -> str:
        return (f"{len(self.containers)} containers, {len(self.networks)} networks, "
                f"{len(self.volumes)} volumes, {len(self.images)} images, {len(self.vms)} VMs, "
                f"{len(self.clusters)} kind clusters, {len(self.namespaces)} cluster namespaces")


def reap(client, session_id: str | None = None, older_than: float | None = None,
         dry_run: bool = False) -> Reaped:
    """Remove labelled resources: one session's; every session's older than N seconds; or, with
    neither, every session whose run has ended (see core.labels.selected)."""
    out = Reaped()
    for field_name, reap_kind in REAPERS:
        setattr(out, field_name, reap_kind(session_id, older_than, dry_run=dry_run))
    selector = {"label": SESSION_LABEL if session_id is None else f"{SESSION_LABEL}={session_id}"}
    # Engine objects: (found in, listed, their labels, their name, how to remove one).
    # ignore_removed: a container removed between the listing and its inspection is gone, not an error.
    kinds = (
        (out.containers, lambda: client.containers.list(all=True, filters=selector, ignore_removed=True),
         lambda c: c.labels, lambda c: c.name, lambda c: c.remove(force=True, v=True)),
        (out.networks, lambda: client.networks.list(filters=selector),
         lambda n: n.attrs.get("Labels"), lambda n: n.name, lambda n: n.remove()),
        (out.volumes, lambda: client.volumes.list(filters=selector),
         lambda v: v.attrs.get("Labels"), lambda v: v.name, lambda v: v.remove(force=True)),
        (out.images, lambda: client.images.list(filters=selector),
         lambda i: i.labels, lambda i: i.tags[0] if i.tags else i.short_id,
         lambda i: client.images.remove(i.id, force=True)),
    )
    for found, listed, labels_of, name_of, remove in kinds:
        for obj in listed():
            if not selected(labels_of(obj), session_id, older_than):
                continue
            found.append(name_of(obj))
            if not dry_run:
                try:
                    remove(obj)
                except docker.errors.NotFound:   # gone meanwhile: nothing left to remove
                    pass
                except docker.errors.APIError as e:
                    if e.status_code != 409:   # 409: another reap is removing it right now
                        raise
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
