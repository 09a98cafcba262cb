"""The suites can fail: a broken target makes the right claims fail, by name; bad input is one line."""
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from harness.cleanup import count_labelled, new_session_id, session_labels
from harness.images.build import flavor_image

REPO = Path(__file__).resolve().parents[2]


def run_pytest(*args, session=None, timeout=900):
    env = dict(os.environ)
    if session:
        env["PHOTON_HARNESS_SESSION"] = session
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def docker_disabled_full_image(docker_client):
    """The full flavour with docker.service disabled: a session-labelled image, removed afterwards."""
    session = "selftest-" + new_session_id()
    base = flavor_image(docker_client, "standin", "full").tag
    dockerfile = f"FROM {base}\nRUN systemctl disable docker.service docker.socket\n".encode()
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    ctx.seek(0)
    tag = f"photon-harness/selftest-docker-disabled:{session}"
    docker_client.images.build(fileobj=ctx, custom_context=True, tag=tag, pull=False, rm=True,
                               labels=session_labels(session))
    yield tag
    docker_client.images.remove(tag, force=True)


def test_disabled_docker_unit_fails_d1_and_d2_naming_the_claims(docker_disabled_full_image, docker_client):
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/containers", "--base", "standin", "--flavor", "full",
                   "--target-image", f"full={docker_disabled_full_image}",
                   "-k", "enabled_by_default or status_docker_at_boot", session=session)
    assert r.returncode == 1, r.stdout[-3000:]
    assert "2 failed" in r.stdout, r.stdout[-3000:]
    assert "[D1] documented" in r.stdout and "[D2] documented" in r.stdout, r.stdout[-3000:]
    assert count_labelled(docker_client, session).total() == 0


def test_suite_run_leaves_nothing_labelled(docker_client):
    session = "selftest-" + new_session_id()
    r = run_pytest("suites/containers", "--base", "standin", "-k", "engine_is_included", session=session)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "2 passed" in r.stdout
    assert count_labelled(docker_client, session).total() == 0


@pytest.mark.parametrize("args, message", [
    (["--flavor", "full,tiny"], "unknown --flavor 'tiny'; choose from full, minimal"),
    (["--backend", "kvm"], "unknown --backend 'kvm'"),
    (["--base", "standin", "--image", "photon:0.0-absent"], "image 'photon:0.0-absent' not present locally"),
    (["--inner-image", "photon"], "must look like NAME=REF"),
])
def test_bad_options_fail_at_start_with_one_line(args, message):
    r = run_pytest("suites/containers", *args, timeout=120)
    assert r.returncode == 4
    errors = [l for l in r.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
