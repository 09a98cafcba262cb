"""`photon-harness bench`: how fast targets get ready and answer, measured on this machine now.

A benchmark, not a test: it prints what it measured and the goals beside them (VM restore to
ready <= 15 s and >= 6x faster than a cold boot; target.run within 1.1x of the SDK's exec_run).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import time

from harness.artifacts.build import flavor_image
from harness.artifacts.vm import standin_vm_image
from harness.core.labels import new_session_id
from harness.targets.base import TargetSpec
from harness.targets.container import ContainerTarget
from harness.targets.vm import VmTarget


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run_path(client, target: ContainerTarget, n: int) -> dict[str, float]:
    """Median ms of `true` three ways on the same container, interleaved so load hits all alike."""
    times: dict[str, list[float]] = {"target.run": [], "SDK exec_run": [], "docker exec": []}
    ways = {"target.run": lambda: target.run("true", timeout=30),
            "SDK exec_run": lambda: target.container.exec_run(["true"]),
            "docker exec": lambda: subprocess.run(["docker", "exec", target.name, "true"], check=True,
                                                  capture_output=True, timeout=30)}
    for _ in range(n):
        for name, call in ways.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: _median_ms(t) for name, t in times.items()}


def bench(client, runs: int = 30, vm: bool = True, say=print) -> None:
    session = "bench-" + new_session_id()
    say(f"photon-harness bench (session {session}); at start: {_load()}")
    image = flavor_image(client, "standin", "full").tag
    target = ContainerTarget(client, TargetSpec("standin", "full", "container", image), session).boot()
    try:
        say(f"container target boot-to-ready (systemd running): {target.boot_seconds:.1f} s")
        ms = run_path(client, target, runs)
        base = ms["SDK exec_run"]
        say(f"`true` on the container target, median of {runs}: " + ", ".join(
            f"{name} {v:.0f} ms ({v / base:.2f}x exec_run)" for name, v in ms.items()))
        say(f"  goal target.run <= 1.1x exec_run: {'met' if ms['target.run'] <= 1.1 * base else 'NOT met'}")
    finally:
        target.close()
    if not vm:
        say(f"VMs skipped (--no-vm); at end: {_load()}")
        return
    img = standin_vm_image("full")

    def vm_target(snapshots: bool) -> VmTarget:
        return VmTarget(TargetSpec("standin", "full", "vm", str(img.disk)), session, img.disk, img.kernel,
                        img.initrd, "systemd.unified_cgroup_hierarchy=1", boot_timeout=900,
                        snapshots=snapshots).boot()

    first = vm_target(True)   # builds the template if this recipe has none yet
    first.close()
    built_now = "template built now" in first.boot_kind
    if built_now:
        cold = float(first.template.meta()["boot-seconds"])
        say(f"VM cold boot-to-ready: {cold:.0f} s (the template's own boot, just now; {first.boot_kind})")
    else:
        t = vm_target(False)
        cold = t.boot_seconds
        t.close()
        say(f"VM cold boot-to-ready: {cold:.0f} s")
    t = vm_target(True)
    restore = t.boot_seconds
    t.close()
    say(f"VM restore-to-ready: {restore:.1f} s ({t.boot_kind}); cold/restore = {cold / restore:.1f}x")
    say(f"  goal restore <= 15 s and >= 6x faster: {'met' if restore <= 15 and cold / restore >= 6 else 'NOT met'}")
    say(f"at end: {_load()}")
