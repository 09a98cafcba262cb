"""One shard of a matrix run, inside its pod: its own Docker daemon, the target images the runner
image carries, then the harness's pytest on this shard's targets, everything written under
RESULTS/shard-K/ on the run's shared (NFS) volume, where the controller reads it.

The pod's exit status says whether pytest ran to its end (0, also when tests failed: the verdicts
are in the records), not whether the claims held; anything else is an infrastructure failure.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.artifacts.matrix_runner import IMAGES_TAR
from harness.core.errors import HarnessError
from harness.ops.doctor import install_runc_wrapper_if_needed, start_dockerd
from harness.report.merge import ALLURE_DIR, EXIT_FILE, JUNIT_FILE, REPORT_DIR, TIMINGS_FILE


def say(text: str) -> None:
    print(f"[matrix shard] {text}", flush=True)


def termination_message(text: str) -> None:
    """Kubernetes shows this file's text as the container's termination message (the pod's reason)."""
    try:
        Path("/dev/termination-log").write_text(text[-1000:])
    except OSError:   # not in a pod
        pass


def run_shard(shards: int, results: Path, pytest_args: list[str]) -> int:
    index = int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
    out = results / f"shard-{index}"
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}   # where the shard's time went, for the controller's last lines
    t = time.monotonic()
    try:
        say(f"shard {index} of {shards}: starting dockerd")
        install_runc_wrapper_if_needed()   # where the bounding set lacks a capability --privileged asks for
        start_dockerd()
        seconds["dockerd"] = time.monotonic() - t
        t = time.monotonic()
        if Path(IMAGES_TAR).exists():
            say(f"loading the target images from {IMAGES_TAR}")
            r = subprocess.run(["docker", "load", "-q", "-i", IMAGES_TAR], capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                raise HarnessError(f"docker load -i {IMAGES_TAR} failed: {r.stderr.strip()[-500:]}")
            say(r.stdout.strip().replace("\n", "; "))
        seconds["image load"] = time.monotonic() - t
    except (HarnessError, subprocess.TimeoutExpired) as e:
        say(f"cannot start: {e}")
        (out / EXIT_FILE).write_text("3\n")
        termination_message(f"the shard could not start: {e}")
        return 3
    argv = [sys.executable, "-m", "pytest", *pytest_args, "--shard", f"{index}/{shards}",
            "--report-dir", str(out / REPORT_DIR), f"--junitxml={out / JUNIT_FILE}",
            f"--alluredir={out / ALLURE_DIR}", "-p", "no:cacheprovider"]
    say(" ".join(argv))
    t = time.monotonic()
    code = subprocess.call(argv)
    seconds["pytest"] = time.monotonic() - t
    (out / TIMINGS_FILE).write_text(json.dumps(seconds) + "\n")
    (out / EXIT_FILE).write_text(f"{code}\n")
    say(f"pytest exited {code}")
    return 0 if code in (0, 1) else code
