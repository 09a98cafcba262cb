"""kind clusters never outlive their run: a failed creation and a killed run leave nothing.

The kind binary is the faked boundary (a script that logs its arguments); the record, the
labelled Docker network and the reaper are real.
"""
import json
import time

import pytest

from harness.core.errors import InfrastructureError
from harness.core.labels import CREATED_LABEL, SESSION_LABEL, new_session_id, session_labels
from harness.infra import kind_cluster
from harness.ops.reap import reap


@pytest.fixture
def fake_kind(tmp_path):
    log = tmp_path / "kind.log"
    script = tmp_path / "kind"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {log}
case "$1" in create) echo "ERROR: failed to create cluster: node did not start" >&2; exit 1;; esac
exit 0
""")
    script.chmod(0o755)
    return script, log


def _network_exists(docker_client, name):
    return any(n.name == name for n in docker_client.networks.list(names=[name]))


def test_failed_creation_deletes_the_cluster_and_its_network(docker_client, fake_kind):
    kind, log = fake_kind
    session = "selftest-" + new_session_id()
    name = kind_cluster.cluster_name(session)
    with pytest.raises(InfrastructureError) as e:
        kind_cluster.create_cluster(docker_client, name, "photon-harness/kind-node:v0", kind, 1, session, wait=60)
    assert "node did not start" in str(e.value) and "node logs:" in str(e.value)
    calls = log.read_text().splitlines()
    assert calls[0].startswith(f"create cluster --name {name} ") and f"delete cluster --name {name}" in calls
    assert kind_cluster.leftovers(name) == []


def test_reap_deletes_a_cluster_a_killed_run_left(docker_client, fake_kind):
    kind, log = fake_kind
    session = "selftest-" + new_session_id()
    name = kind_cluster.cluster_name(session)
    # What a run killed right after `kind create cluster` leaves: the record and the network.
    kind_cluster.CLUSTERS_DIR.mkdir(parents=True, exist_ok=True)
    labels = session_labels(session)
    (kind_cluster.CLUSTERS_DIR / f"{name}.json").write_text(json.dumps(
        {"name": name, "kind": str(kind), "network": name, **labels}))
    docker_client.networks.create(name, labels=labels)
    other = kind_cluster.cluster_name("selftest-" + new_session_id())
    (kind_cluster.CLUSTERS_DIR / f"{other}.json").write_text(json.dumps(
        {"name": other, "kind": str(kind), "network": None, SESSION_LABEL: "someone-else",
         CREATED_LABEL: str(int(time.time()))}))
    try:
        assert kind_cluster.reap_clusters(session, dry_run=True) == [name]
        assert reap(docker_client, session_id=session).clusters == [name]
        assert f"delete cluster --name {name}" in log.read_text()
        assert kind_cluster.leftovers(name) == []
        assert (kind_cluster.CLUSTERS_DIR / f"{other}.json").exists(), "another session's cluster was reaped"
    finally:
        (kind_cluster.CLUSTERS_DIR / f"{other}.json").unlink(missing_ok=True)
        if _network_exists(docker_client, name):
            docker_client.networks.get(name).remove()
