"""`photon-harness matrix run` on the run's real kind cluster: the containers suite over full and
minimal on 2 shards gives the same verdicts as the same run locally; a shard killed mid-run is
reported as error with its pod's reason, never passed or missing; nothing labelled is left in the
cluster or here afterwards; bad input ends in one line before anything is created.

Skips, saying why, when the offline Kubernetes build is not cached (the kind_cluster fixture).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.core.labels import SESSION_LABEL, new_session_id, selected
from harness.infra.cluster_runs import RUNS_DIR
from harness.ops.reap import count_labelled

from .interrupts import sigint_as_in_a_terminal

pytestmark = pytest.mark.xdist_group("matrix")
REPO = Path(__file__).resolve().parents[2]
# Every test runs these same targets, so the runner image (keyed by its target images) is built and
# loaded onto the nodes once for the module.
SUITE = ["suites/containers", "--flavor", "full,minimal"]


@pytest.fixture(scope="module", autouse=True)
def remove_new_runner_images(docker_client):
    """A runner image is keyed by the whole tree (about 1.1 GB): one per commit would pile up here."""
    def tags() -> set[str]:
        return {t for i in docker_client.images.list(name="photon-harness/matrix-runner") for t in i.tags}
    before = tags()
    yield
    for tag in tags() - before:
        docker_client.images.remove(tag, force=True)


def matrix(kubeconfig, *args: str, session: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "matrix", "run", "--kubeconfig", str(kubeconfig), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PHOTON_HARNESS_SESSION=session))


def start_matrix(kubeconfig, *args: str, session: str) -> subprocess.Popen:
    """A matrix run in the background, its output (stdout and stderr) read line by line."""
    return subprocess.Popen([sys.executable, "-m", "harness", "matrix", "run", "--kubeconfig", str(kubeconfig), *args],
                            cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PHOTON_HARNESS_SESSION=session),
                            preexec_fn=sigint_as_in_a_terminal)


def run_until_a_shard_runs(proc, out: list[str], timeout: float = 900) -> None:
    """Read the controller's output until a shard's pod is running."""
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        out.append(line)
        if re.search(r"shard 0 .*; running", line):
            return
        if time.monotonic() > deadline:
            break
    proc.kill()
    pytest.fail(f"no shard was running within {timeout:.0f} s:\n" + "".join(out[-40:]), pytrace=False)


def outcomes(results: dict) -> dict[str, str]:
    """nodeid (without xdist's @group suffix) -> outcome."""
    return {r["nodeid"].split("@")[0]: r["outcome"] for r in results["results"]}


def assert_nothing_left(k8s_api, docker_client, session: str) -> None:
    from kubernetes import client as k
    namespaces = [n.metadata.name for n in k.CoreV1Api(k8s_api).list_namespace(
        label_selector=f"{SESSION_LABEL}={session.lower()}").items]
    assert namespaces == [], f"namespaces left in the cluster: {namespaces}"
    assert not (RUNS_DIR / f"matrix-{session.lower()}.json").exists(), "the run's reap record is left"
    left = count_labelled(docker_client, session)
    assert left.total() == 0, f"left here: {left.summary()}"


def test_two_shards_give_the_verdicts_of_a_local_run(kind_cluster, k8s_api, docker_client, tmp_path):
    session = new_session_id()
    r = matrix(kind_cluster.kubeconfig, "--shards", "2", "--", *SUITE, "--report-dir", str(tmp_path / "matrix"),
               f"--junitxml={tmp_path / 'matrix.xml'}", session=session)
    print(r.stdout[-4000:], r.stderr[-2000:])
    assert r.returncode == 0, f"matrix run exit {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}"
    assert re.search(r"shard 0 \(standin-full-container\): 7/7 tests done", r.stdout)
    assert re.search(r"shard 1 \(standin-minimal-container\): 7/7 tests done", r.stdout)
    local = subprocess.run([sys.executable, "-m", "pytest", *SUITE, "-p", "no:cacheprovider",
                            "--report-dir", str(tmp_path / "local")], cwd=REPO, capture_output=True, text=True,
                           timeout=900)
    assert local.returncode == 0, local.stdout[-3000:]
    got = json.loads((tmp_path / "matrix" / "results.json").read_text())
    want = json.loads((tmp_path / "local" / "results.json").read_text())
    assert len(outcomes(got)) == 14
    assert outcomes(got) == outcomes(want)
    assert got["matrix"] == want["matrix"]
    assert {t["id"]: t["base"] for t in got["targets"]} == {t["id"]: t["base"] for t in want["targets"]}
    assert (tmp_path / "matrix" / "report.html").exists() and (tmp_path / "matrix" / "report.md").exists()
    suite = ET.parse(tmp_path / "matrix.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("14", "0", "0")
    allure = list((tmp_path / "matrix" / "allure-results").glob("*-result.json"))
    assert len(allure) == 14
    assert_nothing_left(k8s_api, docker_client, session)


def test_a_shard_killed_mid_run_is_reported_as_error_with_its_reason(kind_cluster, k8s_api, docker_client, tmp_path):
    """shard 1's container is killed (SIGKILL, from its node) once it has recorded a test."""
    from kubernetes import client as k
    core = k.CoreV1Api(k8s_api)
    session = new_session_id()
    namespace = f"matrix-{session.lower()}"
    proc = start_matrix(kind_cluster.kubeconfig, "--shards", "2", "--", *SUITE, "--report-dir", str(tmp_path / "matrix"),
                        session=session)
    deadline, out, killed = time.monotonic() + 1200, [], ""
    for line in proc.stdout:   # the controller prints progress at least every 30 s
        out.append(line)
        done = re.search(r"shard 1 \(standin-minimal-container\): (\d+)/7", line)
        if done and 1 <= int(done[1]) < 7 and not killed:
            pod = next(p for p in core.list_namespaced_pod(namespace, label_selector="io.photon-harness.matrix-role=shard").items
                       if p.metadata.annotations["batch.kubernetes.io/job-completion-index"] == "1")
            kill = (f"cid=$(crictl ps -q --label io.kubernetes.pod.name={pod.metadata.name} --name shard) && "
                    "kill -9 $(crictl inspect --output go-template --template '{{.info.pid}}' $cid) && echo killed")
            killed = subprocess.run(["docker", "exec", pod.spec.node_name, "sh", "-c", kill], capture_output=True,
                                    text=True, timeout=60).stdout
            assert "killed" in killed, f"could not kill shard 1's container on {pod.spec.node_name}"
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the matrix run did not end within 1200 s:\n" + "".join(out[-40:]), pytrace=False)
    code = proc.wait(timeout=60)
    text = "".join(out)
    print(text[-4000:])
    if not killed:
        pytest.fail("shard 1 finished before it could be killed:\n" + text[-3000:], pytrace=False)
    assert code == 1, f"exit {code}:\n{text[-3000:]}"
    got = json.loads((tmp_path / "matrix" / "results.json").read_text())
    by_target = {}
    for rec in got["results"]:
        by_target.setdefault(rec["target"], []).append(rec)
    assert len(got["results"]) == 14, "every planned test has a record"
    assert {r["outcome"] for r in by_target["standin-full-container"]} == {"passed"}
    minimal = by_target["standin-minimal-container"]
    errors = [r for r in minimal if r["outcome"] == "error"]
    assert errors and all(r["outcome"] in ("passed", "error") for r in minimal)
    for r in errors:
        assert "exit code 137" in r["message"] and "shard 1" in r["message"], r["message"]
        assert set(r["claims"].values()) == {"error"}
    assert "shard 1 did not end normally" in got["run"]["outcome"]
    # what the finished tests read of the target still names it
    assert {t["id"]: t["base"] for t in got["targets"]}["standin-minimal-container"] == "standin"
    states = {got["matrix"][c]["standin-minimal-container"] for c in ("D3", "D4", "D5", "D6")}
    assert "error" in states and "failed" not in states
    assert_nothing_left(k8s_api, docker_client, session)


def test_bad_input_ends_in_one_line_and_creates_nothing(kind_cluster, k8s_api, docker_client, tmp_path):
    session = new_session_id()
    bad_kubeconfig = tmp_path / "unreachable"
    bad_kubeconfig.write_text(re.sub(r"server: \S+", "server: https://127.0.0.1:1",
                                     Path(kind_cluster.kubeconfig).read_text()))
    cases = {
        ("--shards", "0"): "at least one shard",
        ("--shards", "3"): "the run has 2 target(s)",
        ("--shards", "1", "--runner-image", "photon-harness/not-there:1"): "do not have it",
        ("--shards", "1", "--", "--flavor", "nope"): "unknown --flavor",
    }
    for args, says in cases.items():
        full = list(args) if "--" in args else [*args, "--", *SUITE]
        r = matrix(kind_cluster.kubeconfig, *full, session=session, timeout=300)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 4 and len(lines) == 1 and says in lines[0], (args, r.returncode, r.stderr)
    r = matrix(bad_kubeconfig, "--shards", "1", "--", *SUITE, session=session, timeout=300)
    assert r.returncode == 4 and "no cluster answers at https://127.0.0.1:1" in r.stderr, r.stderr
    assert_nothing_left(k8s_api, docker_client, session)


def test_reap_finds_a_matrix_run_whose_controller_is_gone(kind_cluster, k8s_api, docker_client, tmp_path):
    from kubernetes import client as k
    core = k.CoreV1Api(k8s_api)
    session = new_session_id()
    namespace = f"matrix-{session.lower()}"
    proc = start_matrix(kind_cluster.kubeconfig, "--shards", "1", "--", *SUITE,
                        "--report-dir", str(tmp_path / "matrix"), session=session)
    out: list[str] = []
    run_until_a_shard_runs(proc, out)
    proc.kill()   # SIGKILL: the controller cannot clean up
    proc.wait(timeout=60)
    left = core.list_namespace(label_selector=f"{SESSION_LABEL}={session.lower()}").items
    assert [n.metadata.name for n in left] == [namespace], "the killed run's namespace should still be there"
    assert left[0].metadata.labels.get("pod-security.kubernetes.io/enforce") == "privileged"
    # A bare `reap` takes it: its record names an owner that is gone. The reap itself is held to this
    # session: another test's bare reap may run at the same time and take it first.
    record = json.loads((RUNS_DIR / f"{namespace}.json").read_text())
    assert selected(record), f"a bare reap would not take the dead run's namespace: {record}"
    r = subprocess.run([sys.executable, "-m", "harness", "reap", "--session", session], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and f"namespace {namespace}" in r.stdout, r.stdout + r.stderr
    wait_gone = time.monotonic() + 300
    while any(n.metadata.name == namespace for n in core.list_namespace().items):
        assert time.monotonic() < wait_gone, f"namespace {namespace} still there 300 s after reap"
        time.sleep(3)
    assert_nothing_left(k8s_api, docker_client, session)


def test_ctrl_c_deletes_the_job_and_the_namespace(kind_cluster, k8s_api, docker_client, tmp_path):
    session = new_session_id()
    proc = start_matrix(kind_cluster.kubeconfig, "--shards", "1", "--", *SUITE,
                        "--report-dir", str(tmp_path / "matrix"), session=session)
    out: list[str] = []
    run_until_a_shard_runs(proc, out)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=300)
    text = "".join(out) + proc.stdout.read()
    assert code == 130 and "interrupted: deleting the Job and the namespace" in text, text[-3000:]
    assert_nothing_left(k8s_api, docker_client, session)
