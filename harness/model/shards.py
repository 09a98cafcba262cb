"""A run split by target across machines (`photon-harness matrix run`): which shard runs what.

Shards split a run by target, never by test, so each target boots once, in one shard. The
assignment is a pure function of the run's target ids, so the controller (planning) and each
shard (running) compute the same split without talking to each other.
"""
from __future__ import annotations

import re

from harness.core.errors import HarnessError
from harness.model.verdicts import NO_TARGET


def parse(text: str) -> tuple[int, int]:
    """"K/N" (shard K of N, counted from 0) -> (K, N); one error line for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise HarnessError(f"--shard {text!r} is not K/N with 0 <= K < N (e.g. 0/2)")
    return int(m[1]), int(m[2])


def assign(target_ids, shards: int) -> list[list[str]]:
    """The targets of each shard: sorted ids dealt round-robin (shard k gets ids k, k+N, ...)."""
    if shards < 1:
        raise HarnessError(f"{shards} shards: a matrix needs at least one")
    ids = sorted(set(target_ids) - {NO_TARGET})
    return [ids[k::shards] for k in range(shards)]


def shard_of(target: str, assignment: list[list[str]]) -> int:
    """The shard that runs a test on `target`; tests on no target run in shard 0."""
    return next((k for k, ids in enumerate(assignment) if target in ids), 0)
