"""A suite's tests sharing a target must stay on one xdist worker (else each worker boots its own copy);
the group is the target and the suite (fixtures/targets.py).

Guards the pytest pin: with pytest 9, xdist 3.8's loadgroup silently splits groups.
"""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_one_target_group_runs_on_one_worker():
    r = subprocess.run([sys.executable, "-m", "pytest", "suites/containers", "--base", "standin", "-n", "2", "-v",
                        "-k", "engine_is_included or enabled_by_default or status_docker_at_boot"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:]
    workers: dict[str, set[str]] = {}
    for worker, group in re.findall(r"^\[(gw\d+)\] .* PASSED \S+@(\S+)", r.stdout, re.M):
        workers.setdefault(group, set()).add(worker)
    assert set(workers) == {"standin-full-container-containers", "standin-minimal-container-containers"}, \
        r.stdout[-2000:]
    assert all(len(w) == 1 for w in workers.values()), f"a target's tests ran on several workers: {workers}"
