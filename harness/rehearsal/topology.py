"""The objects a rehearsal deploys, rendered from templates that mirror Photon's own
support/package-builder/yaml/ (harness/rehearsal/topology/*.yaml; each says where it differs).

Like Photon's DistributedBuilder.py, every object's name is suffixed with the build id and every
claim a pod mounts is renamed to match; every object also carries the rehearsal's label, so a
build's objects are found (and reaped) by it. Pure: returns dicts the Kubernetes client accepts.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

import yaml

from harness.rehearsal.packages import REHEARSAL_LABEL, VOLUMES

TEMPLATES = Path(__file__).resolve().parent / "topology"


@lru_cache(maxsize=None)
def _template(name: str) -> Template:
    return Template((TEMPLATES / f"{name}.yaml").read_text())


def render(template: str, **values) -> dict:
    """A template with its ${placeholders} filled in (a missing value is an error, not a blank)."""
    return yaml.safe_load(_template(template).substitute({k: str(v) for k, v in values.items()}))


@dataclass(frozen=True)
class Topology:
    build_id: str
    image: str
    nfs_host: str
    nfs_path: str        # the export's path; the build's volumes lie under build-<id>/photon there
    pods: int
    pull_policy: str = "IfNotPresent"

    def name(self, base: str) -> str:
        return f"{base}-{self.build_id}"

    def labels(self, **extra) -> dict[str, str]:
        return {REHEARSAL_LABEL: self.build_id, **extra}

    def _own(self, obj: dict) -> dict:
        """Label the object (and its pod template) as the build's; suffix the claims its pods mount."""
        obj["metadata"].setdefault("labels", {}).update(self.labels())
        pod = obj["spec"]["template"] if "template" in obj.get("spec", {}) else obj
        if pod is not obj:
            pod["metadata"].setdefault("labels", {}).update(self.labels())
        for v in pod.get("spec", {}).get("volumes", []):
            if "persistentVolumeClaim" in v:
                v["persistentVolumeClaim"]["claimName"] = self.name(v["persistentVolumeClaim"]["claimName"])
        return obj

    def volume_path(self, base: str) -> str:
        sub = VOLUMES[base][0]
        return self.nfs_path if base == "nfspod" else f"{self.nfs_path.rstrip('/')}/build-{self.build_id}{sub}"

    def volumes(self) -> list[tuple[dict, dict]]:
        """Photon's eight (PersistentVolume, claim) pairs: nfspod at the export, the others below it."""
        out = []
        for base, (_, access) in VOLUMES.items():
            values = dict(name=self.name(base), access=access, server=self.nfs_host, path=self.volume_path(base))
            out.append((self._own(render("persistent-volume", **values)),
                        self._own(render("persistent-volume-claim", **values))))
        return out

    def photon_shaped_claim(self, name: str) -> tuple[dict, dict]:
        """A PV and claim exactly as Photon's YAML writes them: no storageClassName at all."""
        pv = render("persistent-volume", name=name, access="ReadWriteMany", server=self.nfs_host, path=self.nfs_path)
        pvc = render("persistent-volume-claim", name=name, access="ReadWriteMany")
        for obj in (pv, pvc):
            del obj["spec"]["storageClassName"]
            obj["metadata"].setdefault("labels", {}).update(self.labels())
        return pv, pvc

    def nfspod(self) -> dict:
        return self._own(render("nfspod", name=self.name("nfspod"), image=self.image, pull_policy=self.pull_policy))

    def master_service(self) -> dict:
        return self._own(render("master-service", name=self.name("master-service"), app=self.name("master")))

    def master(self) -> dict:
        return self._own(render("master", name=self.name("master"), image=self.image, pull_policy=self.pull_policy,
                                pods=self.pods))

    def worker(self) -> dict:
        return self._own(render("worker", name=self.name("worker"), image=self.image, pull_policy=self.pull_policy,
                                pods=self.pods, build_id=self.build_id.upper()))

    def deletion_order(self) -> list[tuple[str, str]]:
        """(kind, name) in the order Photon's clean() deletes a build's objects."""
        return ([("Job", self.name("master")), ("Pod", self.name("nfspod")), ("Service", self.name("master-service")),
                 ("Deployment", self.name("worker"))] + [("PersistentVolumeClaim", self.name(b)) for b in VOLUMES]
                + [("PersistentVolume", self.name(b)) for b in VOLUMES])

    def worker_mounts(self) -> dict[str, str]:
        """claim -> where the worker mounts it (as Photon's BuilderClient.py expects)."""
        c = self.worker()["spec"]["template"]["spec"]["containers"][0]
        return {m["name"]: m["mountPath"] for m in c["volumeMounts"] if m["name"] != "sys"}
