"""The target images a matrix run's shards boot, built (or found) here to travel in the runner image."""
from __future__ import annotations

from harness.artifacts.build import flavor_image, standin_rootfs
from harness.core.errors import HarnessError


def for_plan(client, plan: dict) -> list[str]:
    """Every image a container target of the plan boots, with the parent its tag is keyed on
    (a shard finds the same tags and so builds nothing)."""
    refs: list[str] = []
    for t in plan["targets"]:
        if t["backend"] != "container":
            continue   # ssh targets are reached from the pod; nothing to carry
        if t["source"] == "user":
            ref = plan["target_images"][t["flavor"]]
            if not client.images.list(name=ref):
                raise HarnessError(f"--target-image {t['flavor']}={ref}: no such image here")
            refs.append(ref)
            continue
        parent = standin_rootfs(client).tag if t["source"] == "standin" else plan["photon_image"]
        refs += [parent, flavor_image(client, t["source"], t["flavor"], plan["photon_image"]).tag]
    return list(dict.fromkeys(refs))
