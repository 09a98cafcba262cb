"""Namespaces the harness makes in a cluster it was given (`photon-harness matrix run`), recorded
on this machine so a later `photon-harness reap` finds a run whose controller is gone.

A cluster's objects cannot carry the owner label (its value has spaces), so the record does:
the session labels of core/labels.py, the namespace and the kubeconfig that reaches it. `reap`
runs this before it removes engine objects, so the run's NFS server outlives the pods.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.core.labels import selected, session_labels
from harness.core.paths import CACHE_DIR
from harness.infra.kube import Kube

RUNS_DIR = CACHE_DIR / "cluster-runs"


def record(namespace: str, kubeconfig: Path, session: str) -> Path:
    """Write the record before the namespace is created: a run killed at any point is found."""
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    path = RUNS_DIR / f"{namespace}.json"
    path.write_text(json.dumps(dict(session_labels(session), namespace=namespace,
                                    kubeconfig=str(Path(kubeconfig).resolve())), indent=1) + "\n")
    return path


def forget(namespace: str) -> None:
    (RUNS_DIR / f"{namespace}.json").unlink(missing_ok=True)


def delete_namespace(kubeconfig: str, namespace: str, timeout: float = 180) -> bool:
    """Delete the namespace (and so everything in it) and wait until it is gone: its pods mount the
    run's NFS export, which must outlive them (a pod whose server is gone cannot be stopped).
    False when it is still terminating after `timeout`; gone already is done."""
    from kubernetes import config
    from kubernetes.client.rest import ApiException
    try:
        return Kube(config.new_client_from_config(config_file=kubeconfig)).delete_namespace(namespace, timeout)
    except ApiException as e:
        if e.status != 404:
            raise
        return True


def reap_namespaces(session_id: str | None = None, older_than: float | None = None,
                    dry_run: bool = False) -> list[str]:
    """Delete the namespaces of runs that ended without cleaning up, found by their records. A
    cluster that cannot be reached keeps its record (and is listed): the next reap tries again."""
    gone = []
    for path in sorted(RUNS_DIR.glob("*.json")) if RUNS_DIR.is_dir() else []:
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not selected(info, session_id, older_than):
            continue
        gone.append(f"{info['namespace']} (in the cluster of {info['kubeconfig']})")
        if dry_run:
            continue
        try:
            if not delete_namespace(info["kubeconfig"], info["namespace"]):
                gone[-1] += ": still terminating after 180 s (the next reap looks again)"
                continue
        except Exception as e:   # unreachable cluster, kubeconfig gone: keep the record, say why
            gone[-1] += f": not deleted ({e.__class__.__name__}: {str(e)[:200]})"
            continue
        path.unlink(missing_ok=True)
    return gone
